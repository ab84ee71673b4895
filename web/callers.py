"""Who is calling, and what they may see: the FastAPI dependencies every route names."""
from __future__ import annotations

from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from infra import tokens
from web import directory


class Refused(Exception):
    """An HTTP refusal with the rule broken: answered as RFC 9457 problem details (web/problems.py),
    `message` its detail; `headers` go with the answer (Retry-After, say), `extensions` are more
    members of the problem."""

    def __init__(self, status: int, rule: str, message: str, *, headers: dict[str, str] | None = None,
                 **extensions):
        super().__init__(message)
        self.status, self.rule, self.message = status, rule, message
        self.headers, self.extensions = headers, extensions


@dataclass(frozen=True)
class Caller:
    token_id: int
    department: str
    scope: str
    # The departments whose rows the caller sees; None: every row (an auditor).
    parties: frozenset[str] | None
    # A data authority supervises its jurisdiction: the departments under its policy.
    authority: bool = False

    @property
    def auditor(self) -> bool:
        return self.scope == "audit"

    @property
    def supervised(self) -> frozenset[str] | None:
        """The providers whose catalog entries the caller is shown: a data authority its own
        jurisdiction's; anyone else (a department looking for data to request, an auditor) the
        whole catalog. None: every provider."""
        return self.parties if self.authority and not self.auditor else None


def took_part(steps: list[dict], parties: frozenset[str] | None) -> bool:
    """Whether a subject's story (projections.trail.steps) is the caller's to read: a
    department among `parties` acted in it or tried to (None: every story, an auditor)."""
    if parties is None:
        return True
    for s in steps:
        tried = (s.get("why") or {}).get("attempted_by") or {}
        if s["who"]["department"] in parties or tried.get("department") in parties:
            return True
    return False


def visible_to(department: str, scope: str) -> frozenset[str] | None:
    """An auditor sees everything; a data authority its jurisdiction (every department under
    the same policy); any other department the rows it is a party to."""
    if scope == "audit":
        return None
    listed = directory.current()
    found = listed.get(department)
    if found is not None and found.authority:
        return frozenset(d.id for d in listed.values() if d.policy_id == found.policy_id)
    return frozenset({department})


_bearer = HTTPBearer(auto_error=False, description="govshare api-token issue --department D --scope S")


def caller_of(engine, token: str) -> Caller:
    """Who holds a token and what they see: the one scoping of the API and the dashboard."""
    found = tokens.holder(engine, token)
    if found is None:
        raise Refused(401, "token-unknown", "the token is unknown or revoked")
    department = directory.current().get(found.department)
    return Caller(found.id, found.department, found.scope, visible_to(found.department, found.scope),
                  authority=bool(department and department.authority))


def caller(request: Request, given: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Caller:
    if given is None or given.scheme.lower() != "bearer":
        raise Refused(401, "token-required", "send Authorization: Bearer <token> "
                      "(govshare api-token issue makes one)")
    who = caller_of(request.app.state.api_engine, given.credentials)
    limits = getattr(request.app.state, "rate_limits", None)
    wait = limits.take(who.token_id) if limits is not None else 0.0
    if wait:
        after = limits.retry_after(wait)
        raise Refused(429, "rate-limited", f"this token made more than its {limits.per_minute} requests a "
                      f"minute (GOVSHARE_API_RATE_PER_MINUTE): try again in {after} s",
                      headers={"Retry-After": after})
    return who


def writer(who: Caller = Depends(caller)) -> Caller:
    if who.scope != "write":
        raise Refused(403, "write-scope-required", f"a {who.scope} token writes nothing: "
                      f"submitting takes a token of scope write")
    return who


def auditor(who: Caller = Depends(caller)) -> Caller:
    if who.scope != "audit":
        raise Refused(403, "audit-scope-required", "the trail is read with a token of scope audit")
    return who
