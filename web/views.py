"""GET /v1/...: every view `govshare query` shows, made from the same declarations
(projections/views.py): the same rows with the same filters, as {"items": [...], "next_cursor": ...}.
Instants are ISO 8601 with the jurisdiction's offset, serialised as `--json` serialises them
(infra.output.jsonable). Each caller sees the rows it is a party to (web/callers.py)."""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any, Literal

import inspect
from typing import Callable

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, create_model

from infra import output
from projections import queries
from projections.views import VIEWS, View
from web.callers import Caller, Refused, auditor, caller

router = APIRouter(prefix="/v1", tags=["read"])

# A page is the CLI's default at most: a larger answer is a slow answer for everyone.
MAX_PAGE = 1000
Limit = Query(100, ge=1, le=MAX_PAGE, description=f"rows on this page (1-{MAX_PAGE})")
Cursor = Query(None, description="next_cursor of the previous page")


def _engine(request: Request):
    return request.app.state.projections()


def page(view: View, engine, who: Caller, *, limit: int, cursor: str | None, **given: Any) -> dict[str, Any]:
    """One page of a view as `who` sees it: {"items", "next_cursor"}; the dashboard pages by
    the same function."""
    try:
        rows = view.read(engine, parties=who.parties, auditor=who.auditor, authority=who.authority,
                         limit=limit, after=cursor, **given)
    except PermissionError as exc:
        raise Refused(403, "audit-scope-required", str(exc)) from None
    except ValueError as exc:  # a filter's value the view cannot take (a period label, say)
        raise Refused(400, f"bad-{view.name}-filter", str(exc)) from None
    return {"items": output.jsonable(rows), "next_cursor": view.next_cursor(rows, limit)}


def _route(view: View) -> Callable:
    """GET /v1/<view>, with the view's filters as query parameters (OpenAPI from them)."""
    def read(request: Request, who: Caller, limit: int, cursor: str | None, **given: Any):
        found = {f.name: given.get(f.name.replace("-", "_")) for f in view.filters}
        return page(view, _engine(request), who, limit=limit, cursor=cursor, **found)

    params = [inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request)]
    for f in view.filters:
        if f.flag:
            kind, default = bool, Query(False, description=f.help)
        else:
            kind = (Literal[f.choices] if f.choices else str) | None  # type: ignore[valid-type]
            default = Query(f.default, description=f.help)
        params.append(inspect.Parameter(f.name.replace("-", "_"), inspect.Parameter.KEYWORD_ONLY,
                                        annotation=kind, default=default))
    params += [inspect.Parameter("limit", inspect.Parameter.KEYWORD_ONLY, annotation=int, default=Limit),
               inspect.Parameter("cursor", inspect.Parameter.KEYWORD_ONLY, annotation=str | None, default=Cursor),
               inspect.Parameter("who", inspect.Parameter.KEYWORD_ONLY, annotation=Caller,
                                 default=Depends(caller))]
    read.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    read.__name__ = view.name.replace("-", "_")
    return read


def _page_model(view: View) -> type[BaseModel]:
    """The schema of a page of `view` (/openapi.json): its rows' fields, from the view's own
    declaration, instants in ISO 8601 with the jurisdiction's offset."""
    def typed(kind: type) -> Any:
        return (str if kind in (datetime, date) else kind if kind in (str, int, float, bool) else Any) | None
    row = create_model(f"{view.name.title().replace('-', '')}Row",
                       **{name: (typed(kind), None) for name, kind in view.fields().items()})
    return create_model(f"{view.name.title().replace('-', '')}Page", items=(list[row], ...),
                        next_cursor=(str | None, None))


for _view in VIEWS.values():
    router.add_api_route(f"/{_view.name}", _route(_view), methods=["GET"], summary=_view.summary,
                         name=_view.name, responses={200: {"model": _page_model(_view)}})


@router.get("/catalog/{entry_id}", summary="one entry with its versions, obligations and accesses")
def entry(request: Request, entry_id: str, who: Caller = Depends(caller)):
    found = queries.entry(_engine(request), entry_id, parties=who.parties)
    if found is None or (who.supervised is not None and found["provider"] not in who.supervised):
        raise Refused(404, "no-such-entry", f"no catalog entry {entry_id}")
    return output.jsonable(found)


@router.get("/objections/stats", summary="objection counts and mean time to resolve")
def objection_stats(request: Request, who: Caller = Depends(caller)):
    return queries.objection_stats(_engine(request), parties=who.parties)


# --- the trail: auditors only ------------------------------------------------------------------

@router.get("/trail", tags=["trail"], summary="the audit trail in order (govshare trail)")
def trail(request: Request, aggregate: str | None = None, department: str | None = None,
          actor: str | None = None, since: datetime | None = None, until: datetime | None = None,
          after: int | None = Query(None, description="only steps after this trail position"),
          state: bool = True, limit: int = Limit, who: Caller = Depends(auditor)):
    from projections.trail import steps
    # One step more than the page: whether there is a next page is known, not guessed.
    found = steps(_engine(request), with_state=state, after=after, limit=limit + 1, aggregate=aggregate,
                  department=department, actor=actor, since=_utc("since", since), until=_utc("until", until))
    page, more = found[:limit], len(found) > limit
    return {"items": output.jsonable([output.trail_step(s) for s in page]),
            "next_after": page[-1]["position"] if more and page[-1]["position"] is not None else None}


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


def _utc(name: str, value: datetime | None) -> datetime | None:
    # As the CLI's --since/--until: a time without its zone is refused, never guessed.
    if value is None:
        return None
    if value.tzinfo is None:
        raise Refused(422, "time-without-zone", f"{name}={value.isoformat()} has no zone, and govshare does not "
                      f"guess one: write it with its offset, e.g. 2026-12-15T00:00+08:00 or 2026-12-15T00:00Z")
    return value.astimezone(timezone.utc)
