"""Who may look at the dashboard, and signing in to it: a supervisor, that is a data authority
(a department whose directory entry holds DATA_AUTHORITY) with a read token, or an auditor with
an audit token. A browser signs in once with its token (`/dashboard/login`), kept in an
HttpOnly, SameSite=Strict cookie; a script may send `Authorization: Bearer` instead."""
from __future__ import annotations

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from web import i18n
from web.callers import Caller, Refused, caller_of
from web.dashboard import viewer
from web.dashboard.routes import language, render

COOKIE = "govshare_dashboard"
LOGIN = "/dashboard/login"


class SignIn(Exception):
    """The page needs a supervisor's token: answered with the sign-in form."""

    def __init__(self, message: str = ""):
        super().__init__(message)
        self.message = message


def supervisor(request: Request) -> Caller:
    """The signed-in supervisor, scoped as the API scopes the same token (web/callers.py)."""
    given = request.cookies.get(COOKIE) or _bearer(request)
    if not given:
        raise SignIn()
    with i18n.use(language(request)):
        problem = _refusal(request.app, given)
    if problem:
        raise SignIn(problem)
    return caller_of(request.app.state.api_engine, given)


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _refusal(app: FastAPI, token: str) -> str | None:
    try:
        found = caller_of(app.state.api_engine, token)
    except Refused:
        return i18n.gettext("The token is unknown or revoked.")
    if found.auditor or found.authority:
        return None
    return i18n.gettext("%(department)s is no data authority: the dashboard is for supervisors "
                        "(a data authority's token, or an audit token).") % {"department": found.department}


def install(app: FastAPI) -> None:
    app.dependency_overrides[viewer] = supervisor

    @app.exception_handler(SignIn)
    async def _sign_in(request: Request, exc: SignIn):
        return _form(request, exc.message, str(request.url.path), 401)

    @app.get(LOGIN, include_in_schema=False, response_class=HTMLResponse)
    def login_form(request: Request, next: str = "/dashboard/"):
        return _form(request, "", next, 200)

    @app.post("/dashboard/logout", include_in_schema=False)
    def logout(request: Request):
        """Signing out forgets the token in this browser; the sign-in form follows."""
        answer = RedirectResponse(LOGIN, status_code=303)
        answer.delete_cookie(COOKIE, httponly=True, samesite="strict")
        return answer

    @app.post(LOGIN, include_in_schema=False)
    def login(request: Request, token: str = Form(...), next: str = Form("/dashboard/")):
        with i18n.use(language(request)):
            problem = _refusal(request.app, token.strip())
        if problem:
            return _form(request, problem, next, 401)
        # Only a path of this site: never a redirect elsewhere.
        target = next if next.startswith("/dashboard") else "/dashboard/"
        answer = RedirectResponse(target, status_code=303)
        answer.set_cookie(COOKIE, token.strip(), httponly=True, samesite="strict")
        return answer


def _form(request: Request, message: str, next: str, status: int) -> HTMLResponse:
    return render(request, "login.html", {"message": message, "next": next, "action": LOGIN}, status)
