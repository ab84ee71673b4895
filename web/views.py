"""GET /v1/...: every view `govshare query` shows, the same rows from the same functions
(projections/queries.py) with the same filters, as {"items": [...], "next_cursor": ...}.
Instants are ISO 8601 with the jurisdiction's offset, serialised as `--json` serialises them
(infra.output.jsonable). Each caller sees the rows it is a party to (web/callers.py)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from infra import output
from projections import queries
from projections import scorecards as scoring
from web.callers import Caller, Refused, auditor, caller

router = APIRouter(prefix="/v1", tags=["read"])

# A page is the CLI's default at most: a larger answer is a slow answer for everyone.
MAX_PAGE = 1000
Limit = Query(100, ge=1, le=MAX_PAGE, description=f"rows on this page (1-{MAX_PAGE})")
Cursor = Query(None, description="next_cursor of the previous page")


def _engine(request: Request):
    return request.app.state.projections()


def _page(view: str, rows: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    return {"items": output.jsonable(rows), "next_cursor": queries.next_cursor(view, rows, limit)}


@router.get("/catalog", summary="catalog entries (govshare query catalog)")
def catalog(request: Request, provider: str | None = None,
            status: Literal["published", "taken_down"] | None = None,
            share_type: Literal["UNCONDITIONAL", "CONDITIONAL", "NON_SHAREABLE"] | None = None,
            policy: str | None = None, limit: int = Limit, cursor: str | None = Cursor,
            who: Caller = Depends(caller)):
    # The catalog is what departments share from: every caller reads all of it, but for a data
    # authority, which supervises its own jurisdiction's (as its dashboard shows it).
    rows = queries.catalog(_engine(request), provider=provider, status=status, share_type=share_type,
                           policy=policy, limit=limit, after=cursor, providers=who.supervised)
    return _page("catalog", rows, limit)


@router.get("/catalog/{entry_id}", summary="one entry with its versions, obligations and accesses")
def entry(request: Request, entry_id: str, who: Caller = Depends(caller)):
    found = queries.entry(_engine(request), entry_id, parties=who.parties)
    if found is None or (who.supervised is not None and found["provider"] not in who.supervised):
        raise Refused(404, "no-such-entry", f"no catalog entry {entry_id}")
    return output.jsonable(found)


@router.get("/rejections", summary="events refused, with rule and article")
def rejections(request: Request, entry: str | None = None, event_id: str | None = None,
               rule: str | None = None, department: str | None = None, actor: str | None = None,
               limit: int = Limit, cursor: str | None = Cursor, who: Caller = Depends(caller)):
    rows = queries.rejected(_engine(request), aggregate_id=entry, event_id=event_id, rule=rule,
                            department=department, person=actor, limit=limit, after=cursor,
                            parties=who.parties)
    return _page("rejections", rows, limit)


@router.get("/deadlines", summary="legal time limits: who must act by when")
def deadlines(request: Request, overdue: bool = False, party: str | None = None,
              status: Literal["open", "met", "breached", "cancelled"] | None = None,
              limit: int = Limit, cursor: str | None = Cursor, who: Caller = Depends(caller)):
    rows = queries.deadline_list(_engine(request), overdue=overdue, party=party, status=status,
                                 limit=limit, after=cursor, parties=who.parties)
    return _page("deadlines", rows, limit)


@router.get("/supervision", summary="rectification orders and circulated criticism")
def supervision(request: Request, party: str | None = None, limit: int = Limit,
                cursor: str | None = Cursor, who: Caller = Depends(caller)):
    rows = queries.supervision(_engine(request), party=party, limit=limit, after=cursor,
                               parties=who.parties)
    return _page("supervision", rows, limit)


@router.get("/objections", summary="problem data: open, overdue, by provider, by outcome")
def objections(request: Request, status: Literal["open", "resolved", "closed"] | None = None,
               overdue: bool = False, provider: str | None = None,
               outcome: Literal["CORRECTED", "CONFIRMED_CORRECT", "RESOLVED_BY_COMMUNICATION"] | None = None,
               limit: int = Limit, cursor: str | None = Cursor, who: Caller = Depends(caller)):
    rows = queries.objection_list(_engine(request), status=status, overdue=overdue, provider=provider,
                                  outcome=outcome, limit=limit, after=cursor, parties=who.parties)
    return _page("objections", rows, limit)


@router.get("/objections/stats", summary="objection counts and mean time to resolve")
def objection_stats(request: Request, who: Caller = Depends(caller)):
    return queries.objection_stats(_engine(request), parties=who.parties)


@router.get("/requests", summary="share requests: state, who acts next, by when")
def requests(request: Request,
             status: Literal["pending", "granted", "rejected", "disputed", "refused", "escalated",
                             "revoked"] | None = None,
             requester: str | None = None, limit: int = Limit, cursor: str | None = Cursor,
             who: Caller = Depends(caller)):
    rows = queries.request_list(_engine(request), status=status, requester=requester, limit=limit,
                                after=cursor, parties=who.parties)
    return _page("requests", rows, limit)


@router.get("/grants", summary="access grants: items, purpose, period, status")
def grants(request: Request, status: Literal["open", "revoked", "expired"] | None = None,
           grantee: str | None = None, limit: int = Limit, cursor: str | None = Cursor,
           who: Caller = Depends(caller)):
    rows = queries.grant_list(_engine(request), status=status, grantee=grantee, limit=limit,
                              after=cursor, parties=who.parties)
    return _page("grants", rows, limit)


@router.get("/problems", summary="the problem list escalated to the leadership group")
def problems(request: Request, limit: int = Limit, cursor: str | None = Cursor,
             who: Caller = Depends(caller)):
    rows = queries.problem_list(_engine(request), limit=limit, after=cursor, parties=who.parties)
    return _page("problems", rows, limit)


@router.get("/accesses", summary="recorded uses of shared data")
def accesses(request: Request, violations: bool = False, limit: int = Limit,
             cursor: str | None = Cursor, who: Caller = Depends(caller)):
    rows = queries.access_list(_engine(request), violations_only=violations, limit=limit, after=cursor,
                               parties=who.parties)
    return _page("accesses", rows, limit)


@router.get("/dead-letters", summary="messages that could not be decoded (auditors)")
def dead_letters(request: Request, limit: int = Limit, cursor: str | None = Cursor,
                 who: Caller = Depends(auditor)):
    # Undecodable bytes name no department: only an auditor reads them.
    rows = queries.dead(_engine(request), limit=limit, after=cursor)
    return _page("dead-letters", rows, limit)


@router.get("/scorecards", summary="department scorecards by period")
def scorecards(request: Request, period: Literal["month", "quarter", "year"] = "month",
               department: str | None = None,
               since: str | None = Query(None, description="the first period shown: 2026-11, 2026-Q4 or 2026"),
               limit: int = Limit, who: Caller = Depends(caller)):
    try:
        scoring.check_period(period, since)
    except ValueError as exc:
        raise Refused(400, "bad-period", str(exc)) from None
    if who.parties is not None and department is not None and department not in who.parties:
        raise Refused(403, "not-a-party", f"{who.department} does not see {department}'s scorecard")
    rows = scoring.scorecards(_engine(request), period=period, department=department, since=since, limit=limit,
                              parties=who.parties)
    return {"items": output.jsonable(rows), "next_cursor": None}


# --- the trail: auditors only ------------------------------------------------------------------

@router.get("/trail", tags=["trail"], summary="the audit trail in order (govshare trail)")
def trail(request: Request, aggregate: str | None = None, department: str | None = None,
          actor: str | None = None, since: datetime | None = None, until: datetime | None = None,
          after: int | None = Query(None, description="only steps after this trail position"),
          state: bool = True, limit: int = Limit, who: Caller = Depends(auditor)):
    from projections.trail import steps
    found = steps(_engine(request), with_state=state, after=after, limit=limit, aggregate=aggregate,
                  department=department, actor=actor, since=_utc(since), until=_utc(until))
    more = len(found) == limit and found[-1]["position"] is not None
    return {"items": output.jsonable(found), "next_after": found[-1]["position"] if more else None}


@router.get("/trail/proofs/{record_id}", tags=["trail"], summary="RFC 9162 inclusion proof of one event")
def proof(request: Request, record_id: str, who: Caller = Depends(auditor)):
    from projections.verification import prove
    found = prove(_engine(request), record_id, request.app.state.trail_keys())
    if found is None:
        raise Refused(404, "not-yet-signed", f"{record_id} is in no signed checkpoint (yet)")
    return found


@router.get("/trail/checkpoint", tags=["trail"], summary="the newest signed checkpoint")
def checkpoint(request: Request, who: Caller = Depends(auditor)):
    from projections.verification import latest_checkpoint
    found = latest_checkpoint(_engine(request), request.app.state.trail_keys())
    if found is None:
        raise Refused(404, "no-checkpoint", "the trail has no signed checkpoint yet")
    return found


def _utc(value: datetime | None) -> datetime | None:
    # As the CLI's --since/--until: naive means UTC; the projections compare in UTC.
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
