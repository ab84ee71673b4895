"""The command of a supervisor's people: `query`, every read view of the projections as the API
serves it, a catalog entry in full, the objection statistics, the department directory and the
events a stage parked."""
from __future__ import annotations

import argparse
import sys

from infra import output
from infra.cli.common import first, limit, print_rows, read_engine, read_one_more, say_more, utc_option
from infra.config import Settings
from infra.database import stage_engines


def register(sub: argparse._SubParsersAction) -> None:
    from infra.system import SYSTEM
    from projections.views import VIEWS

    query = sub.add_parser("query", help="read the projections")
    qsub = query.add_subparsers(required=True, metavar="VIEW")
    for view in VIEWS.values():  # every read view, as the API serves it (projections/views.py)
        vp = qsub.add_parser(view.name, help=view.summary)
        if view.name == "catalog":
            vp.add_argument("entry_id", nargs="?", help="show this entry with versions and obligations")
        if view.name == "objections":
            vp.add_argument("--stats", action="store_true", help="counts and mean time to resolve")
        for f in view.filters:
            if f.flag:
                vp.add_argument(f"--{f.name}", action="store_true", help=f.help)
            else:
                vp.add_argument(f"--{f.name}", choices=f.choices, default=f.default, help=f.help,
                                metavar=None if f.choices else f.name.upper().replace("-", "_"))
        vp.add_argument("--json", action="store_true")
        utc_option(vp)
        limit(vp)
        if view.paged:
            vp.add_argument("--after", metavar="CURSOR", help="the page after this cursor (the line a "
                            "truncated list ends with names it)")
        vp.set_defaults(handler=_query, view=view)
    parked = qsub.add_parser("parked", help="events a stage could not apply, set aside (retry-parked)")
    parked.add_argument("--stage", choices=SYSTEM.names)
    parked.add_argument("--all", action="store_true", help="also those applied on a retry")
    parked.add_argument("--json", action="store_true")
    utc_option(parked)
    parked.set_defaults(handler=_query_parked)
    dismissed = qsub.add_parser("dismissals", help="messages the platform administrator dismissed "
                                "(govshare dismiss): where each lies, why, by whom, when")
    dismissed.add_argument("--json", action="store_true")
    utc_option(dismissed)
    dismissed.set_defaults(handler=_query_dismissals)
    deps = qsub.add_parser("departments", help="the department directory: jurisdiction, roles, keys")
    deps.add_argument("--json", action="store_true")
    utc_option(deps)
    deps.set_defaults(handler=_query_departments)


def _query(args, settings: Settings) -> int:
    """`govshare query VIEW`: the view's rows as the command line's operator sees them (every
    row), a table or --json; a list cut at --limit, more matching, says so on stderr, with the
    next page."""
    from projections import queries
    view = args.view
    engine = read_engine(settings)
    if view.name == "catalog" and args.entry_id:
        return _entry(engine, args)
    if view.name == "objections" and args.stats:
        print_rows(queries.objection_stats(engine), True, [], utc=args.utc)
        return 0
    given = {f.name: getattr(args, f.name.replace("-", "_")) for f in view.filters}
    try:
        rows = view.read(engine, limit=read_one_more(args.limit), after=getattr(args, "after", None), **given)
    except ValueError as exc:  # a filter the view cannot take (a period label, say)
        print(f"govshare: {output.printable(str(exc))}", file=sys.stderr)
        return 2
    rows, more = first(rows, args.limit)
    print_rows(rows, args.json, list(view.columns), utc=args.utc)
    if more:
        say_more(args.limit, "rows", view.next_cursor(rows, args.limit))
    return 0


def _entry(engine, args) -> int:
    from projections import queries
    found = queries.entry(engine, args.entry_id)
    if found is None:
        print(f"govshare: no catalog entry {args.entry_id}", file=sys.stderr)
        return 1
    if args.json:
        print_rows(found, True, [], utc=args.utc)
        return 0
    # The entry's parts are shown in the entry's jurisdiction's zone, as --json shows them.
    shown = dict(utc=args.utc, zone=output.zone_of(found, utc=args.utc))
    print_rows(found, False, ["entry_id", "title", "provider", "share_type", "status", "version"], **shown)
    print("\nversions:")
    print_rows(found["versions"], False, ["version", "event_type", "actor_department", "note", "recorded_at"],
               **shown)
    if found["data_versions"]:
        print("\ndata versions (corrections):")
        print_rows(found["data_versions"], False, ["data_version", "objection_id", "records", "fields",
                                                   "recorded_at"], **shown)
    if found["accesses"]:
        print("\naccesses and the data version each saw:")
        print_rows(found["accesses"], False, ["access_id", "department", "grant_id", "occurred_at", "data_version",
                                              "objection_id"], **shown)
    if found["obligations"]:
        print("\nobligations:")
        print_rows(found["obligations"], False, ["obligation_id", "trigger", "received_on", "status",
                                                 "extensions_granted"], **shown)
    return 0


def _query_parked(args, settings: Settings) -> int:
    from runtime import parking
    rows = []
    for engine in stage_engines(settings, args.stage, read_only=True):
        rows += parking.listed(engine, stage=args.stage, include_done=args.all)
    print_rows(rows, args.json, ["id", "stage", "status", "event_type", "event_id", "topic", "offset",
                                 "attempts", "error"], utc=args.utc)
    return 0


def _query_dismissals(args, settings: Settings) -> int:
    from projections import queries
    print_rows(queries.dismissals(read_engine(settings)), args.json,
               ["dismissed_at", "topic", "partition", "offset", "stage", "reason", "by", "event_id"], utc=args.utc)
    return 0


def _query_departments(args, settings: Settings) -> int:
    from projections import queries
    rows = queries.directory(read_engine(settings))
    if not args.json:
        for r in rows:
            r["keys"] = ", ".join(k["key_id"][:12] + (" (revoked)" if k["revoked_at"] else "") for k in r["keys"])
            r["roles"] = ",".join(r.get("roles", []))
    print_rows(rows, args.json, ["department", "name", "policy_id", "roles", "keys"], utc=args.utc)
    return 0
