"""Who is calling, and what they may see: the FastAPI dependencies every route names."""
from __future__ import annotations

from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from processors.profiles import load_all
from web import tokens


class Refused(Exception):
    """An HTTP refusal with the rule broken: answered as JSON {"error", "rule"}."""

    def __init__(self, status: int, rule: str, message: str):
        super().__init__(message)
        self.status, self.rule, self.message = status, rule, message


@dataclass(frozen=True)
class Caller:
    token_id: int
    department: str
    scope: str
    # The departments whose rows the caller sees; None: every row (an auditor).
    parties: frozenset[str] | None


def visible_to(department: str, scope: str) -> frozenset[str] | None:
    """An auditor sees everything; a data authority its jurisdiction (every department under
    the same policy); any other department the rows it is a party to."""
    if scope == "audit":
        return None
    directory = load_all().departments
    found = directory.get(department)
    if found is not None and found.authority:
        return frozenset(d.id for d in directory.values() if d.policy_id == found.policy_id)
    return frozenset({department})


_bearer = HTTPBearer(auto_error=False, description="govshare api-token issue --department D --scope S")


def caller(request: Request, given: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Caller:
    if given is None or given.scheme.lower() != "bearer":
        raise Refused(401, "token-required", "send Authorization: Bearer <token> "
                      "(govshare api-token issue makes one)")
    found = tokens.holder(request.app.state.api_engine, given.credentials)
    if found is None:
        raise Refused(401, "token-unknown", "the token is unknown or revoked")
    return Caller(found.id, found.department, found.scope, visible_to(found.department, found.scope))


def writer(who: Caller = Depends(caller)) -> Caller:
    if who.scope != "write":
        raise Refused(403, "write-scope-required", f"a {who.scope} token writes nothing: "
                      f"submitting takes a token of scope write")
    return who


def auditor(who: Caller = Depends(caller)) -> Caller:
    if who.scope != "audit":
        raise Refused(403, "audit-scope-required", "the trail is read with a token of scope audit")
    return who
