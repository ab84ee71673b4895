"""The govshare command: up, submit, query, rebuild, replay, trail, export, verify, prove,
prove-consistency, trail-key, demo, topics."""
from __future__ import annotations

import argparse
import base64
import json
import logging
import sys
from pathlib import Path
from datetime import datetime, timedelta, timezone
from typing import Any, BinaryIO, TextIO

from events.topics import Topics
from infra import logs, output, progress
from infra.config import Settings, SettingsError
from infra.system import SYSTEM
from projections.views import VIEWS
from infra.environment import SettingError
from infra.database import make_engine, stage_engines
from projections.verification import CLOCK_SKEW


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
    except (SettingError, SettingsError) as exc:
        # A mistyped setting is the operator's to fix: one line naming it, not a traceback.
        print(f"govshare: {output.printable(str(exc))}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format)
    return args.handler(args, settings) or 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("govshare")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="govshare", description=__doc__)
    parser.add_argument("--version", action="version", version=f"govshare {_version()}")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="run the whole service in the foreground")
    up.set_defaults(handler=_up)

    migrate = sub.add_parser("migrate", help="upgrade every database to this release's schema, keeping its "
                             "rows (govshare up does it first)")
    migrate.set_defaults(handler=_migrate)

    run = sub.add_parser("run", help="run one stage, or the HTTP API, alone (govshare up runs them all)")
    run.add_argument("stage", choices=SYSTEM.names + ("api",))
    run.set_defaults(handler=_run)

    token = sub.add_parser("api-token", help="HTTP API tokens: issue, list, revoke")
    tsub = token.add_subparsers(required=True, metavar="ACTION")
    issue = tsub.add_parser("issue", help="print a new token once (only its SHA-256 is kept)")
    issue.add_argument("--department", required=True, help="the department it speaks for")
    issue.add_argument("--scope", required=True, choices=["read", "write", "audit"],
                       help="read: the department's rows; write: also submit its events; audit: "
                            "every row and the trail, read-only")
    issue.set_defaults(handler=_token_issue)
    tlist = tsub.add_parser("list", help="every token issued: id, department, scope, when, revoked")
    tlist.add_argument("--json", action="store_true")
    tlist.set_defaults(handler=_token_list)
    revoke = tsub.add_parser("revoke", help="refuse this token from now on")
    revoke.add_argument("id", type=int, help="its id in `api-token list`")
    revoke.set_defaults(handler=_token_revoke)

    retry = sub.add_parser("retry-parked", help="run parked events again (after the cause is fixed)")
    retry.add_argument("--stage", choices=SYSTEM.names, help="only this stage's (default: every stage's)")
    retry.add_argument("--id", type=int, help="only this parked event (its id in `query parked`)")
    retry.set_defaults(handler=_retry_parked)

    health = sub.add_parser("health", help="each stage: parked events, waiting accesses, consumer lag")
    health.add_argument("--json", action="store_true")
    health.set_defaults(handler=_health)

    submit = sub.add_parser("submit", help="publish events given as JSON lines; print each verdict")
    submit.add_argument("file", help="a file of JSON lines, or - for standard input")
    submit.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for verdicts")
    submit.add_argument("--json", action="store_true", help="one JSON object per line out")
    submit.add_argument("--key", metavar="FILE", help="the department's private key (PEM, from `govshare keygen`) to "
                        "sign each line that carries no signature (default: <department>.pem in "
                        "GOVSHARE_SIGNING_KEYS, if set)")
    submit.set_defaults(handler=_submit)

    simulate = sub.add_parser("simulate", help="what the rules would say of JSON lines received at a given "
                              "time, and as time passes after them: no broker, no service, nothing kept")
    simulate.add_argument("file", help="a file of JSON lines, or - for standard input")
    simulate.add_argument("--as-of", type=_zoned, required=True, metavar="TIME",
                          help="when the lines are received, with its zone: 2026-11-20T10:00+08:00")
    simulate.add_argument("--until", type=_zoned, metavar="TIME",
                          help="then let the clock run to this time: warnings, breaches, orders")
    simulate.add_argument("--json", action="store_true", help="the verdicts and limits as one JSON document")
    simulate.add_argument("--key", metavar="FILE", help="sign with this department key (default: a key the "
                          "simulation makes for each department)")
    simulate.set_defaults(handler=_simulate)

    topology = sub.add_parser("topology", help="the stages, what each reads, acts on and writes")
    topology.set_defaults(handler=_topology)

    sign = sub.add_parser("sign", help="sign JSON lines with a department's key and print them, for "
                          "POST /v1/events (the API signs nothing)")
    sign.add_argument("file", help="a file of JSON lines, or - for standard input")
    sign.add_argument("--key", metavar="FILE", required=True, help="the department's private key (PEM)")
    sign.set_defaults(handler=_sign)

    keygen = sub.add_parser("keygen", help="make a department's signing key pair and register its public key "
                            "(as the platform administrator)")
    keygen.add_argument("--department", required=True, nargs="+", metavar="DEPARTMENT",
                        help="one or more department ids: a key pair each")
    keygen.add_argument("--out", metavar="DIR", help="where to write <department>.pem and .pub "
                        "(default: the deployment's department key directory)")
    keygen.add_argument("--no-register", action="store_true", help="only write the files; register the "
                        "public key later (or let the first directory pick it up on first start)")
    keygen.set_defaults(handler=_keygen)

    revoke = sub.add_parser("revoke-key", help="revoke a department's key (as the platform administrator): "
                            "later submissions signed with it are refused, earlier ones still verify")
    revoke.add_argument("--department", required=True)
    revoke.add_argument("--key-id", required=True)
    revoke.add_argument("--reason", required=True)
    revoke.set_defaults(handler=_revoke_key)

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
        _limit(vp)
        if view.paged:
            vp.add_argument("--after", metavar="CURSOR", help="the page after this cursor (the line a "
                            "truncated list ends with names it)")
        vp.set_defaults(handler=_query, view=view)
    parked = qsub.add_parser("parked", help="events a stage could not apply, set aside (retry-parked)")
    parked.add_argument("--stage", choices=SYSTEM.names)
    parked.add_argument("--all", action="store_true", help="also those applied on a retry")
    parked.add_argument("--json", action="store_true")
    parked.set_defaults(handler=_query_parked)
    deps = qsub.add_parser("departments", help="the department directory: jurisdiction, roles, keys")
    deps.add_argument("--json", action="store_true")
    deps.set_defaults(handler=_query_departments)

    rebuild = sub.add_parser("rebuild", help="rebuild the projections from the start of the log")
    rebuild.add_argument("--into", required=True, metavar="URL",
                         help="an empty database (SQLite or PostgreSQL URL) to build into")
    _progress_every(rebuild)
    rebuild.set_defaults(handler=_rebuild)

    replay = sub.add_parser("replay", help="rebuild the projections as they stood at a past instant")
    replay.add_argument("--as-of", required=True, type=_instant, metavar="TIME",
                        help="ISO 8601 instant; naive means UTC")
    replay.add_argument("--into", required=True, metavar="URL", help="an empty database to build into")
    _progress_every(replay)
    replay.set_defaults(handler=_replay)

    trail = sub.add_parser("trail", help="the audit trail in order: who, what, when, why, state after")
    _trail_filters(trail)
    trail.add_argument("--after", type=int, metavar="POSITION",
                       help="only steps after this trail position (the next page of a long trail)")
    _limit(trail)
    trail.add_argument("--no-state", action="store_true", help="skip replaying the state after each step")
    trail.add_argument("--json", action="store_true")
    trail.set_defaults(handler=_trail)

    export = sub.add_parser("export", help="write the trail as JSON Lines, CSV or OCSF (a SIEM's), with its "
                            "checkpoint")
    _trail_filters(export)
    export.add_argument("--format", choices=["jsonl", "csv", "ocsf"], default="jsonl",
                        help="ocsf: OCSF 1.8.0 API Activity JSON lines, streamed, progress on stderr")
    _progress_every(export)
    export.add_argument("--out", required=True, metavar="FILE",
                        help="the export; FILE.checkpoint.json gets the signed checkpoint covering it")
    export.set_defaults(handler=_export)

    verify = sub.add_parser("verify", help="recompute the trail's hashes and check every signature")
    _pinned_keys(verify)
    verify.add_argument("--grace", type=float, default=60.0, metavar="SECONDS",
                        help="an unsigned record this recent is pending, not inserted (default 60)")
    verify.add_argument("--skew", type=float, default=CLOCK_SKEW.total_seconds(), metavar="SECONDS",
                        help="how far in the future a pending record may be dated (default "
                             f"{CLOCK_SKEW.total_seconds():g})")
    verify.add_argument("--against", metavar="FILE",
                        help="a checkpoint kept outside (govshare checkpoint: a signed note, or its --json, an "
                             "export's cover sheet or a proof): prove today's signed trail extends it")
    verify.add_argument("--offline", action="store_true",
                        help="do not read the trail topic (a database copy checked away from the broker: "
                             "a trail cut back at its end then goes unseen)")
    verify.add_argument("--json", action="store_true")
    _progress_every(verify)
    verify.set_defaults(handler=_verify)

    checkpoint = sub.add_parser("checkpoint", help="print the newest signed checkpoint as a C2SP signed "
                                "note, to keep outside and check later with verify --against")
    checkpoint.add_argument("--json", action="store_true",
                            help="its fields as JSON instead (the note, key id and signature apart, and "
                                 "the signed note)")
    checkpoint.set_defaults(handler=_checkpoint)

    consistency = sub.add_parser("prove-consistency", help="print an RFC 9162 consistency proof between "
                                 "two signed checkpoints")
    consistency.add_argument("old", metavar="OLD", help="a kept checkpoint (file, as govshare checkpoint "
                             "printed it) or the tree size of a checkpoint the trail signed")
    consistency.add_argument("new", metavar="NEW", nargs="?",
                             help="the same, later (default: the newest checkpoint)")
    consistency.set_defaults(handler=_prove_consistency)

    check_consistency = sub.add_parser("verify-consistency", help="check a consistency proof offline: "
                                       "the new checkpoint's tree extends the old one's")
    check_consistency.add_argument("file", help="the proof as `govshare prove-consistency` printed it, "
                                   "or - for standard input")
    _pinned_keys(check_consistency)
    check_consistency.set_defaults(handler=_verify_consistency)

    prove = sub.add_parser("prove", help="print an RFC 9162 inclusion proof of one event")
    prove.add_argument("record_id", metavar="EVENT_ID", help="an event id, or a dead letter's id")
    prove.set_defaults(handler=_prove)

    check = sub.add_parser("verify-proof", help="check an inclusion proof offline")
    check.add_argument("file", help="the proof as `govshare prove` printed it, or - for standard input")
    _pinned_keys(check)
    check.set_defaults(handler=_verify_proof)

    key = sub.add_parser("trail-key", help="print the trail's public key, to pin where trails are checked")
    key.add_argument("--vkey", action="store_true",
                     help="print only the verifier key <name>+<key id>+<base64 key> (C2SP signed-note)")
    key.add_argument("--rotate", action="store_true",
                     help="sign with a new key from now on; the old public key stays in the key ring")
    key.set_defaults(handler=_trail_key)

    contract = sub.add_parser("contract", help="write the integrator's contract: contract/asyncapi.json "
                              "and each payload schema self-contained under contract/schemas/")
    contract.add_argument("--out", metavar="DIR", help="where to write it (default: the source tree's contract/)")
    contract.add_argument("--check", action="store_true",
                          help="write nothing; exit 1 naming each file that is not current")
    contract.set_defaults(handler=_contract)

    demo = sub.add_parser("demo", help="run a catalog scenario on a fresh embedded stack")
    demo.set_defaults(handler=_demo)

    topics = sub.add_parser("topics", help="create govshare's topics on the configured cluster")
    topics.add_argument("action", choices=["create"])
    topics.set_defaults(handler=_topics)
    return parser


def _up(args, settings: Settings) -> int:
    from infra.service import run
    from migrations.upgrade import MigrationFailed
    try:
        run(settings)
    except MigrationFailed as exc:  # before any stage started
        raise _not_migrated(exc) from None
    return 0


def _migrate(args, settings: Settings) -> int:
    from migrations.upgrade import MigrationFailed, migrate
    try:
        for step in migrate(settings):
            print(step)
    except MigrationFailed as exc:
        raise _not_migrated(exc) from None
    return 0


def _not_migrated(exc: Exception) -> SystemExit:
    return SystemExit(f"govshare: cannot migrate {output.printable(str(exc))}")


def _run(args, settings: Settings) -> int:
    if args.stage == "api":
        from web.serve import run as serve
        serve(settings)
        return 0
    from infra.stages import run
    run(args.stage, settings)
    return 0


def _api_engine(settings: Settings):
    from migrations.upgrade import MigrationFailed, migrate
    try:
        migrate(settings, only="api")  # issuing the first token may come before `govshare up`
    except MigrationFailed as exc:
        raise _not_migrated(exc) from None
    return make_engine(settings.api_database_url)


def _token_issue(args, settings: Settings) -> int:
    from processors.profiles import load_all
    from web import tokens
    if args.department not in load_all().departments:
        raise SystemExit(f"govshare: {output.printable(args.department)} is not in the department directory")
    token_id, token = tokens.issue(_api_engine(settings), args.department, args.scope)
    print(f"token {token_id} for {args.department} ({args.scope}); shown once, keep it secret:", file=sys.stderr)
    print(token)
    return 0


def _token_list(args, settings: Settings) -> int:
    from web import tokens
    _print(tokens.listed(_api_engine(settings)), args.json,
           ["id", "department", "scope", "issued_at", "revoked_at"])
    return 0


def _token_revoke(args, settings: Settings) -> int:
    from web import tokens
    if not tokens.revoke(_api_engine(settings), args.id):
        raise SystemExit(f"govshare: no live token {args.id} (see `govshare api-token list`)")
    print(f"token {args.id} revoked")
    return 0


def _bootstrap(settings: Settings) -> str:
    from infra.stages import bootstrap
    return bootstrap(settings)


def _query_parked(args, settings: Settings) -> int:
    from runtime import parking
    rows = []
    for engine in stage_engines(settings, args.stage, read_only=True):
        rows += parking.listed(engine, stage=args.stage, include_done=args.all)
    _print(rows, args.json, ["id", "stage", "status", "event_type", "event_id", "topic", "offset",
                             "attempts", "error"])
    return 0


def _retry_parked(args, settings: Settings) -> int:
    from runtime import parking
    marked = sum(parking.request_retry(engine, args.stage, args.id)
                 for engine in stage_engines(settings, args.stage))
    print(f"{marked} parked event(s) marked for a retry; each stage runs its own within a second "
          f"(see `govshare query parked --all`)")
    return 0 if marked else 1


def _health(args, settings: Settings) -> int:
    from infra.health import report
    found = report(settings)
    if args.json:
        print(json.dumps(found, ensure_ascii=False, indent=2))
    else:
        _print(found["stages"], False, ["stage", "lag", "parked", "waiting", "database"])
    return 0 if found["ok"] else 1


def _submit(args, settings: Settings) -> int:
    from infra.submit import submit_lines

    # Bytes, decoded line by line in submit_lines: one line that is not UTF-8 is invalid alone.
    stream: BinaryIO = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")
    with stream:
        lines = stream.readlines()
    kafka = settings.kafka(_bootstrap(settings)) if any(line.strip() for line in lines) else {}
    results = submit_lines(lines, kafka, Topics(settings.topic_prefix), args.timeout, keys=_keystore(args.key))
    sys.stdout.reconfigure(errors="backslashreplace")  # a verdict quoting a lone surrogate still prints
    for r in results:
        # One printable line per answer, even should a reason span lines or quote a control.
        print(json.dumps(r, ensure_ascii=False) if args.json else output.printable(_verdict_line(r)))
    if any(r["status"] == "no-verdict" for r in results):
        return 2
    return 0 if all(r["status"] == "accepted" for r in results) else 1


def _simulate(args, settings: Settings) -> int:
    from infra.simulation import simulate
    stream: BinaryIO = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")
    with stream:
        lines = stream.readlines()
    if args.until is not None and args.until < args.as_of:
        raise SystemExit("govshare: --until is before --as-of")
    # The stages run in this process: their lines are the simulation's workings, not its answer.
    logs.configure(max(settings.log_level, logging.WARNING), settings.log_format)
    found = simulate(lines, as_of=args.as_of, until=args.until, keys=_keystore(args.key))
    if args.json:
        _print(found, True, [])
    else:
        for r in found["results"]:
            print(output.printable(_verdict_line(r)))
        print(f"\nlegal limits as of {(args.until or args.as_of).isoformat()}:")
        if found["deadlines"]:
            _print(found["deadlines"], False, ["subject_id", "kind", "party", "status", "due_at", "article"])
        else:
            print("  none: nothing submitted starts a legal limit")
        if found["supervision"]:
            print("\nsupervision:")
            _print(found["supervision"], False, ["action", "party", "article", "due_at"])
    return 0 if all(r["status"] == "accepted" for r in found["results"]) else 1


def _topology(args, settings: Settings) -> int:
    print(SYSTEM.describe(Topics(settings.topic_prefix)))
    return 0


def _zoned(text: str) -> datetime:
    """An instant given with its zone; one without is refused, with an example, rather than
    guessed."""
    from events.records import instant
    try:
        found = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is no ISO 8601 instant: {exc}") from None
    if found.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no zone: write it with one, e.g. "
                                         f"{text}+08:00 (Beijing time) or {text}Z (UTC)")
    return instant(found.isoformat())


def _keystore(path: str | None):
    from events.signing import DepartmentKey, Keystore
    if path is None:
        return None
    try:
        return Keystore(single=DepartmentKey.read(Path(path)))
    except ValueError as exc:
        raise SystemExit(f"govshare: --key {output.printable(str(exc))}") from None


def _sign(args, settings: Settings) -> int:
    from events.errors import EventError
    from events.submission import signed_line
    keys, now, failed = _keystore(args.key), datetime.now(timezone.utc), 0
    stream: BinaryIO = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")
    with stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                print(signed_line(line, keys, now=now))
            except EventError as exc:
                failed += 1
                print(output.printable(f"line {number}: INVALID {exc}"), file=sys.stderr)
    return 1 if failed else 0


def _keygen(args, settings: Settings) -> int:
    from infra import identity
    failed = 0
    for department in args.department:
        written = identity.keygen(department, Path(args.out) if args.out else settings.department_key_dir)
        print(f"wrote {written.private} (private: keep it on the department's systems) and {written.public}")
        print(f"key id {written.key_id}")
        if not args.no_register:
            failed += _admin_verdict(identity.register_key(settings, department, written))
    return 1 if failed else 0


def _revoke_key(args, settings: Settings) -> int:
    from infra import identity
    return _admin_verdict(identity.revoke_key(settings, args.department, args.key_id, args.reason))


def _admin_verdict(result: dict[str, Any]) -> int:
    print(output.printable(_verdict_line(result)))
    return 0 if result["status"] == "accepted" else 1


def _verdict_line(r: dict[str, Any]) -> str:
    head = f"line {r['line']}: "
    if r["status"] == "invalid":
        return head + f"INVALID {r['error']}"
    what = f"{r['type']} {r['aggregate_id']} #{r['sequence']}"
    if r["status"] == "accepted":
        return head + f"accepted {what} (event {r['event_id']})"
    if r["status"] == "rejected":
        return head + f"REJECTED {what}: {r['rule']} ({r['article']}): {r['error']}"
    if r["status"] == "dead-lettered":
        return head + f"DEAD-LETTERED {what}: {r['error']}"
    why = f": {r['error']}" if r.get("error") else ""
    return head + f"NO VERDICT {what} within the timeout (event {r['event_id']}){why}"


def _print(rows: Any, as_json: bool, table: list[str]) -> None:
    if as_json:
        print(json.dumps(output.jsonable(rows), ensure_ascii=False, indent=2, default=str))
        return
    for line in output.table(rows if isinstance(rows, list) else [rows], table):
        print(line)


def _query(args, settings: Settings) -> int:
    """`govshare query VIEW`: the view's rows as the command line's operator sees them (every
    row), a table or --json; a list cut at --limit says so on stderr, with the next page."""
    from projections import queries
    view = args.view
    engine = _read_engine(settings)
    if view.name == "catalog" and args.entry_id:
        return _entry(engine, args)
    if view.name == "objections" and args.stats:
        print(json.dumps(queries.objection_stats(engine), ensure_ascii=False, indent=2))
        return 0
    given = {f.name: getattr(args, f.name.replace("-", "_")) for f in view.filters}
    try:
        rows = view.read(engine, limit=args.limit, after=getattr(args, "after", None), **given)
    except ValueError as exc:  # a filter the view cannot take (a period label, say)
        print(f"govshare: {output.printable(str(exc))}", file=sys.stderr)
        return 2
    _print(rows, args.json, list(view.columns))
    following = view.next_cursor(rows, args.limit)
    if args.limit and len(rows) == args.limit:
        more = f"--after {following}" if following else f"--limit {args.limit * 10} (or --limit 0: all)"
        print(f"govshare: {len(rows)} rows shown, the --limit; more with {more}", file=sys.stderr)
    return 0


def _entry(engine, args) -> int:
    from projections import queries
    found = queries.entry(engine, args.entry_id)
    if found is None:
        print(f"govshare: no catalog entry {args.entry_id}", file=sys.stderr)
        return 1
    if args.json:
        _print(found, True, [])
        return 0
    _print(found, False, ["entry_id", "title", "provider", "share_type", "status", "version"])
    print("\nversions:")
    _print(found["versions"], False, ["version", "event_type", "actor_department", "note", "recorded_at"])
    if found["data_versions"]:
        print("\ndata versions (corrections):")
        _print(found["data_versions"], False, ["data_version", "objection_id", "records", "fields", "recorded_at"])
    if found["accesses"]:
        print("\naccesses and the data version each saw:")
        _print(found["accesses"], False, ["access_id", "department", "grant_id", "occurred_at", "data_version",
                                          "objection_id"])
    if found["obligations"]:
        print("\nobligations:")
        _print(found["obligations"], False, ["obligation_id", "trigger", "received_on", "status",
                                             "extensions_granted"])
    return 0


def _read_engine(settings: Settings):
    """The projections, opened read-only: a query never takes the projector's write lock."""
    from sqlalchemy import inspect

    from projections.tables import event_log
    engine = make_engine(settings.projection_url, read_only=True)
    with engine.connect() as conn:
        if not inspect(conn).has_table(event_log.name):
            raise SystemExit(f"govshare: no projections at {settings.projection_url.split('?')[0]} yet: "
                             f"start `govshare up` first")
    return engine


def _query_departments(args, settings: Settings) -> int:
    from projections import queries
    rows = queries.directory(_read_engine(settings))
    if not args.json:
        for r in rows:
            r["keys"] = ", ".join(k["key_id"][:12] + (" (revoked)" if k["revoked_at"] else "") for k in r["keys"])
            r["roles"] = ",".join(r.get("roles", []))
    _print(rows, args.json, ["department", "name", "policy_id", "roles", "keys"])
    return 0


def _rebuild(args, settings: Settings) -> int:
    from infra.topics import cluster_id
    from infra import stages
    from projections.runner import catch_up
    kafka = settings.kafka(_bootstrap(settings))
    projector = stages.projector(args.into, settings, Topics(settings.topic_prefix))
    shown = progress.Progress("applied", args.progress_every)
    applied = catch_up(projector, SYSTEM.inputs("projector", projector.topics), kafka, cluster_id(kafka),
                       progress=shown)
    shown.done(applied)
    print(f"applied {applied} records (events, dead letters, trail checkpoints) into {args.into}")
    return 0


def _instant(text: str) -> datetime:
    from events.records import instant
    # In UTC, as the projections store instants (SQLite keeps no zone). A time that does not
    # parse, or leaves the calendar in UTC, is argparse's one-line error, not a traceback.
    try:
        return instant(text).astimezone(timezone.utc)
    except (ValueError, OverflowError) as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is no ISO 8601 instant: {exc}") from None


def _positive(text: str) -> int:
    number = int(text)
    if number < 1:
        raise ValueError(text)  # argparse's one-line error
    return number


def _progress_every(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--progress-every", type=_positive, default=progress.EVERY, metavar="N",
                        help=f"a progress line on stderr every N records (default {progress.EVERY}) and "
                             f"one at the end; stdout keeps the result")


def _limit(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=lambda text: int(text) or None, default=1000,
                        help="at most this many rows, oldest first (default 1000; 0: all)")


def _trail_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--aggregate", help="one aggregate: entry, request, grant, objection, ... id")
    parser.add_argument("--department", help="events whose actor is this department, and refusals of what it tried")
    parser.add_argument("--actor", help="events whose actor is this person, and refusals of what they tried")
    parser.add_argument("--since", type=_instant, metavar="TIME", help="recorded at or after")
    parser.add_argument("--until", type=_instant, metavar="TIME", help="recorded at or before")


def _filters(args) -> dict[str, Any]:
    return dict(aggregate=args.aggregate, department=args.department, actor=args.actor,
                since=args.since, until=args.until)


def _trail_engine(settings: Settings):
    # The trail's readers never write: the database refuses it for them (and, before the first
    # `govshare up`, they say so rather than fail on a missing table).
    return _read_engine(settings)


def _replay(args, settings: Settings) -> int:
    from infra.topics import cluster_id
    from infra import stages
    from projections.runner import catch_up
    kafka = settings.kafka(_bootstrap(settings))
    projector = stages.projector(args.into, settings, Topics(settings.topic_prefix), as_of=args.as_of)
    shown = progress.Progress("applied", args.progress_every)
    applied = catch_up(projector, SYSTEM.inputs("projector", projector.topics), kafka, cluster_id(kafka),
                       progress=shown)
    shown.done(applied)
    print(f"applied {applied} records made by {args.as_of.isoformat()} into {args.into}")
    return 0


def _trail(args, settings: Settings) -> int:
    from projections.trail import steps
    found = steps(_trail_engine(settings), with_state=not args.no_state, after=args.after,
                  limit=args.limit, **_filters(args))
    if args.limit and len(found) == args.limit and found[-1]["position"] is not None:
        print(f"govshare: {args.limit} steps shown; the next page: --after {found[-1]['position']}",
              file=sys.stderr)
    if args.json:
        _print(found, True, [])
        return 0
    for s in found:
        who, what, why = s["who"], s["what"], s["why"]
        show = output.printable
        print(show(f"#{s['position'] if s['position'] is not None else '-'} {s['when']['recorded_at']} "
                   f"{what['event_type']} {what['aggregate_type']}/{what['aggregate_id']} #{what['sequence']}"))
        signed = f", signed with key {who['signing_key']}" if who.get("signing_key") else ""
        print(show(f"    who: {who['department']}/{who['person']} ({who['role']}){signed}"))
        reason = f"{why['rule']} ({why['article']}): {why['message']}" if "rule" in why else \
            f"caused by {why['causation_id'] or '-'}, process {why['correlation_id']}"
        print(show(f"    why: {reason}"))
        tried = why.get("attempted_by")
        if tried:
            print(show(f"    tried by: {tried['department']}/{tried['person']} ({tried['role']})"))
        state = s.get("state_after")
        if state:
            shown = {k: v for k, v in state.items() if k in ("status", "version", "round", "due_at",
                                                             "share_type", "valid_until")}
            print(show(f"    state after: {json.dumps(shown or state, ensure_ascii=False, default=str)}"))
    return 0


def _export(args, settings: Settings) -> int:
    from projections.verification import latest_checkpoint
    engine = _trail_engine(settings)
    with open(args.out, "w", encoding="utf-8", newline="") as out:
        count = (_export_ocsf(engine, args, out) if args.format == "ocsf" else
                 _export_rows(engine, args, out))
    cover = {"export": args.out, "rows": count, "filters": {k: str(v) for k, v in _filters(args).items() if v},
             "checkpoint": latest_checkpoint(engine, _local_keys(settings))}
    with open(f"{args.out}.checkpoint.json", "w", encoding="utf-8") as out:
        json.dump(cover, out, ensure_ascii=False, indent=2)
    print(f"wrote {count} rows to {args.out}; checkpoint in {args.out}.checkpoint.json")
    return 0


def _export_rows(engine, args, out: TextIO) -> int:
    import csv

    from projections.trail import export_rows
    rows = export_rows(engine, **_filters(args))
    if args.format == "jsonl":
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    else:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["position"])
        writer.writeheader()
        writer.writerows({k: output.csv_cell(v) for k, v in row.items()} for row in rows)
    return len(rows)


def _export_ocsf(engine, args, out: TextIO) -> int:
    """Stream the trail as OCSF JSON lines, one record at a time. A trail can be millions of
    records long: progress goes to stderr, so stdout keeps the one summary line scripts read."""
    from projections.ocsf import events
    shown = progress.Progress("exported", args.progress_every)
    count = 0
    for count, event in enumerate(events(engine, **_filters(args)), start=1):
        out.write(json.dumps(event, ensure_ascii=False) + "\n")
        shown(count)
    shown.done(count)
    return count


def _pinned_keys(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--public-key", action="append", default=[],
                        help="pinned key: base64 of the raw Ed25519 key, or a file of it; repeatable "
                             "(default: this deployment's key ring)")
    parser.add_argument("--vkey", action="append", default=[],
                        help="pinned verifier key <name>+<key id>+<base64 key>, or a file of them, one a "
                             "line; repeatable")


def _keys(args, settings: Settings):
    """The keys a checkpoint may be signed with: those pinned on the command line, or else
    every key of this deployment's ring (a checkpoint matches one by its key id)."""
    from events import trail as tr
    from infra import keys
    pinned = [tr.TrustedKey(keys.public_key_from(text)) for text in args.public_key]
    pinned += [key for text in args.vkey for key in keys.vkeys_from(text)]
    if pinned:
        return tr.Keys(tuple(pinned))
    found = _local_keys(settings)
    if found is None:
        raise SystemExit(f"govshare: no trail key at {settings.trail_key_file}; pin one with "
                         f"--public-key or --vkey")
    return found


def _local_keys(settings: Settings):
    """This deployment's key ring, or None where it has no key (it names old checkpoints)."""
    from events.trail import origin_of
    from infra import keys
    return keys.ring_keys(settings.trail_key_file, origin_of(settings.topic_prefix))


def _verify(args, settings: Settings) -> int:
    from dataclasses import asdict

    from projections.verification import verify
    kept = _checkpoint_file(args.against) if args.against else None
    anchor = None
    if not args.offline:
        from infra.anchor import AnchorUnavailable, signed_checkpoints
        try:
            anchor, foreign = signed_checkpoints(settings.kafka(_bootstrap(settings)),
                                                 Topics(settings.topic_prefix))
        except AnchorUnavailable as exc:
            raise SystemExit(f"govshare: {exc}; run with --offline to check the database alone")
        if foreign:
            print(f"govshare: the trail topic holds {foreign} message(s) that are no checkpoint",
                  file=sys.stderr)
    shown = progress.Progress("checked", args.progress_every)
    report = verify(_trail_engine(settings), _keys(args, settings), timedelta(seconds=args.grace),
                    skew=timedelta(seconds=args.skew), anchor=anchor, kept=kept, progress=shown)
    shown.done(report.records)
    if args.json:
        print(json.dumps({"intact": report.intact, "records": report.records,
                          "checkpoints": report.checkpoints, "tree_size": report.tree_size,
                          "newest_checkpoint": report.newest, "anchored_by": report.anchor,
                          "consistency": report.consistency,
                          "findings": [asdict(f) for f in report.findings],
                          "pending": report.pending}, ensure_ascii=False, indent=2))
        return 0 if report.intact else 1
    print(f"{'INTACT' if report.intact else 'TAMPERED'}: {report.records} trail records, "
          f"{report.checkpoints} signed checkpoints, tree size {report.tree_size}")
    if report.newest:
        print(f"  newest signed checkpoint: {report.newest['tree_size']} records, signed "
              f"{report.newest['signed_at']} ({_age(report.newest['age_seconds'])} ago)")
    print(f"  checked against: {report.anchor}")
    if report.consistency:
        c = report.consistency
        print(f"  consistency proof {c['from']} -> {c['to']} ({len(c['path'])} hashes): "
              f"{'verified' if c['verified'] else 'FAILED'}")
    for f in report.findings:
        where = f"position {f.position}" if f.position is not None else "trail"
        print(output.printable(f"  {f.problem.upper()} at {where}"
                               f"{' record ' + f.record_id if f.record_id else ''}: {f.detail}"))
    if report.pending:
        print(f"  {len(report.pending)} record(s) too recent to be signed or projected yet (--grace)")
    return 0 if report.intact else 1


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if abs(seconds) >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def _text_file(path: str) -> str:
    try:
        with (sys.stdin if path == "-" else open(path, encoding="utf-8")) as stream:
            return stream.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise SystemExit(f"govshare: cannot read {path}: {exc}") from None


def _json_file(path: str) -> Any:
    try:
        return json.loads(_text_file(path))
    except json.JSONDecodeError as exc:
        raise SystemExit(f"govshare: cannot read {path} as JSON: {exc}") from None


def _json_object(path: str) -> dict[str, Any]:
    data = _json_file(path)
    if not isinstance(data, dict):
        raise SystemExit(f"govshare: {path} holds no JSON object")
    return data


def _checkpoint_file(path: str):
    """A kept checkpoint: a signed note, or JSON holding one (see tr.checkpoint_of_text)."""
    from events.trail import checkpoint_of_text
    try:
        return checkpoint_of_text(_text_file(path))
    except ValueError as exc:
        raise SystemExit(f"govshare: {path}: {exc}") from None


def _checkpoint(args, settings: Settings) -> int:
    from projections.verification import latest_checkpoint
    cp = latest_checkpoint(_trail_engine(settings), _local_keys(settings))
    if cp is None:
        raise SystemExit("govshare: the trail has no signed checkpoint yet")
    if args.json:
        print(json.dumps(cp, indent=2))
    elif "signed_note" in cp:
        sys.stdout.write(cp["signed_note"])
    else:
        raise SystemExit(f"govshare: the newest checkpoint was signed before C2SP notes by key "
                         f"{cp['key_id']}, which this deployment's key ring does not hold: use --json")
    return 0


def _prove_consistency(args, settings: Settings) -> int:
    from projections.verification import prove_consistency
    ends = [None if given is None else int(given) if given.isdigit() else _checkpoint_file(given)
            for given in (args.old, args.new)]
    try:
        proof = prove_consistency(_trail_engine(settings), *ends, keys=_local_keys(settings))
    except ValueError as exc:
        raise SystemExit(f"govshare: {exc}") from None
    print(json.dumps(proof, indent=2, ensure_ascii=False))
    return 0


def _verify_consistency(args, settings: Settings) -> int:
    from events.trail import check_consistency
    proof = _json_object(args.file)
    problems = check_consistency(proof, _keys(args, settings))
    if problems:
        print(output.printable("INCONSISTENT: " + "; ".join(problems)))
        return 1
    print(f"CONSISTENT: the signed tree of {proof['new_size']} records extends the signed tree of "
          f"{proof['old_size']} ({len(proof['path'])} hashes)")
    return 0


def _prove(args, settings: Settings) -> int:
    from projections.verification import prove
    proof = prove(_trail_engine(settings), args.record_id, _local_keys(settings))
    if proof is None:
        print(f"govshare: {args.record_id} is in no signed checkpoint (yet)", file=sys.stderr)
        return 1
    print(json.dumps(proof, indent=2))
    return 0


def _verify_proof(args, settings: Settings) -> int:
    from events.trail import check_proof, record_identity
    proof = _json_object(args.file)
    try:
        problems = check_proof(proof, _keys(args, settings))
    except (KeyError, TypeError, ValueError) as exc:
        problems = [f"not an inclusion proof: {exc}"]
    if problems:
        print("INVALID: " + "; ".join(problems))
        return 1
    signer = proof.get("signer")
    signed = f"; signed by {signer['department']} with key {signer['key_id']}" if signer else ""
    # What the proof names was checked against the record's bytes: these are the record's own.
    kind, record_id = record_identity(base64.b64decode(proof["record"]))
    print(output.printable(f"VALID: {record_id} ({kind.value}) is leaf {proof['leaf_index']} of the signed "
                           f"tree of {proof['tree_size']}{signed}"))
    return 0


def _trail_key(args, settings: Settings) -> int:
    from events import note
    from events.trail import origin_of
    from infra import keys
    name, path = origin_of(settings.topic_prefix), settings.trail_key_file
    if args.rotate:
        old, new = keys.rotate(path, name, datetime.now(timezone.utc))
        print(f"trail key rotated: the notary signs with key {note.key_id(name, new.public_key)} "
              f"once restarted (restart `govshare up`, or `govshare run notary`); key "
              f"{note.key_id(name, old.public_key)} is retired and kept in {keys.ring_file(path)}")
        print(note.vkey(name, new.public_key))
        return 0
    signer = keys.load_or_create(path)
    if args.vkey:
        print(note.vkey(name, signer.public_key))
        return 0
    ring = [{**e, "vkey": keys.entry_vkey(e)} for e in keys.read_ring(path)]
    print(json.dumps({"name": name, "key_id": note.key_id(name, signer.public_key),
                      "vkey": note.vkey(name, signer.public_key),
                      "public_key": keys.public_key_text(signer), "algorithm": "Ed25519",
                      "file": str(path), "ring": ring}, indent=2))
    return 0


def _contract(args, settings: Settings) -> int:
    from pathlib import Path

    from events import contract
    directory = Path(args.out) if args.out else contract.CONTRACT_DIR
    if args.check:
        stale = [name for name, text in contract.render().items()
                 if not (directory / name).exists() or (directory / name).read_text(encoding="utf-8") != text]
        for name in stale:
            print(f"not current: {directory / name}", file=sys.stderr)
        print(f"{'stale' if stale else 'current'}: {directory}")
        return 1 if stale else 0
    changed = contract.write(directory)
    print(f"wrote {len(changed)} file(s) under {directory} ({len(contract.render())} in the contract)")
    return 0


def _demo(args, settings: Settings) -> int:
    from infra.demo import run_demo
    return run_demo()


def _topics(args, settings: Settings) -> int:
    from infra.topics import ensure_topics
    ensure_topics(settings.kafka(_bootstrap(settings)), Topics(settings.topic_prefix),
                  settings.partitions, settings.replication_factor)
    return 0


if __name__ == "__main__":
    sys.exit(main())
