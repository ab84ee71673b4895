"""The commands of the people who run govshare: start it (whole, or a stage or the HTTP API
alone), migrate its databases, issue API tokens, retry parked events, check its health, make,
register and revoke department keys, rebuild the projections, create its topics, describe its stages, and
run the demo."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from infra import output
from infra.cli.common import (bootstrap, home_said, print_rows, progress_every, project_log, utc_option,
                               verdict_line)
from infra.config import Settings
from infra.database import make_engine, stage_engines


def register(sub: argparse._SubParsersAction) -> None:
    from infra.system import SYSTEM

    up = sub.add_parser("up", help="run the whole service in the foreground")
    up.set_defaults(handler=_up)

    migrate = sub.add_parser("migrate", help="upgrade every database to this release's schema, keeping its "
                             "rows (govshare up does it first)")
    migrate.set_defaults(handler=_migrate)

    run = sub.add_parser("run", help="run one process of the deployment (a stage, stages joined by '+' "
                         "as GOVSHARE_PROCESSES places them), or the HTTP API; govshare up runs them all")
    run.add_argument("stage", metavar="PROCESS",
                     help=f"api, one of {', '.join(SYSTEM.names)}, or a process such as "
                          f"{SYSTEM.placement()[-1].name} (`govshare topology` lists them)")
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
    utc_option(tlist)
    tlist.set_defaults(handler=_token_list)
    revoke = tsub.add_parser("revoke", help="refuse this token from now on")
    revoke.add_argument("id", type=int, help="its id in `api-token list`")
    revoke.set_defaults(handler=_token_revoke)

    retry = sub.add_parser("retry-parked", help="run parked events again (after the cause is fixed)")
    retry.add_argument("--stage", choices=SYSTEM.names, help="only this stage's (default: every stage's)")
    retry.add_argument("--id", type=int, help="only this parked event (its id in `query parked`)")
    retry.set_defaults(handler=_retry_parked)

    dismiss = sub.add_parser("dismiss", help="set aside for good, with a reason on the trail, a message no "
                             "stage wrote: one a stage parked, or one on the trail topic that no key signed "
                             "(as the platform administrator)")
    which = dismiss.add_mutually_exclusive_group(required=True)
    which.add_argument("--parked", type=int, metavar="ID", help="its id in `query parked` (with --stage)")
    which.add_argument("--trail-offset", type=int, metavar="N", help="its offset on the trail topic, as "
                       "`govshare verify` names it")
    dismiss.add_argument("--stage", choices=SYSTEM.names, help="the stage that parked it")
    dismiss.add_argument("--reason", required=True, help="why it may be set aside: what you examined")
    dismiss.set_defaults(handler=_dismiss)

    health = sub.add_parser("health", help="each stage: parked events, waiting accesses, consumer lag")
    health.add_argument("--json", action="store_true")
    health.set_defaults(handler=_health)

    topology = sub.add_parser("topology", help="the stages, what each reads, acts on and writes")
    topology.set_defaults(handler=_topology)

    keygen = sub.add_parser("keygen", help="make a department's signing key pair and register its public key "
                            "(as the platform administrator)")
    keygen.add_argument("--department", required=True, nargs="+", metavar="DEPARTMENT",
                        help="one or more department ids: a key pair each")
    keygen.add_argument("--out", metavar="DIR", help="where to write <department>.pem and .pub "
                        "(default: the deployment's department key directory)")
    keygen.add_argument("--no-register", action="store_true", help="only write the files; register the "
                        "public key later (register-key), or let the first `govshare up` register it")
    keygen.set_defaults(handler=_keygen)

    register = sub.add_parser("register-key", help="register a department's public key written earlier "
                              "(keygen before the service ran, or --no-register), as the platform administrator")
    register.add_argument("--department", required=True, nargs="+", metavar="DEPARTMENT")
    register.add_argument("--from", dest="directory", metavar="DIR", help="where <department>.pub is "
                          "(default: the deployment's department key directory)")
    register.set_defaults(handler=_register_key)

    revoke = sub.add_parser("revoke-key", help="revoke a department's key (as the platform administrator): "
                            "later submissions signed with it are refused, earlier ones still verify")
    revoke.add_argument("--department", required=True)
    revoke.add_argument("--key-id", required=True)
    revoke.add_argument("--reason", required=True)
    revoke.set_defaults(handler=_revoke_key)

    rebuild = sub.add_parser("rebuild", help="rebuild the projections from the start of the log")
    rebuild.add_argument("--into", required=True, metavar="URL",
                         help="an empty database (SQLite or PostgreSQL URL) to build into")
    progress_every(rebuild)
    rebuild.set_defaults(handler=_rebuild)

    demo = sub.add_parser("demo", help="run a catalog scenario on a fresh embedded stack")
    demo.set_defaults(handler=_demo)

    topics = sub.add_parser("topics", help="create govshare's topics on the configured cluster")
    topics.add_argument("action", choices=["create"])
    topics.set_defaults(handler=_topics)


def _up(args, settings: Settings) -> int:
    from infra.service import run
    from infra.migrate import MigrationFailed
    try:
        run(settings)
    except MigrationFailed as exc:  # before any stage started
        raise _not_migrated(exc) from None
    return 0


def _migrate(args, settings: Settings) -> int:
    from infra.migrate import MigrationFailed, migrate
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
        # The HTTP API is the web package's, which stands above infra: this process becomes
        # `python -m web.serve` (web/serve.py), with the same environment, rather than import it.
        os.execv(sys.executable, [sys.executable, "-m", "web.serve"])
    from infra.stages import run
    run(args.stage, settings)
    return 0


def _api_engine(settings: Settings):
    from infra.migrate import MigrationFailed, migrate
    try:
        migrate(settings, only="api")  # issuing the first token may come before `govshare up`
    except MigrationFailed as exc:
        raise _not_migrated(exc) from None
    return make_engine(settings.api_database_url)


def _token_issue(args, settings: Settings) -> int:
    from processors.profiles import load_all
    from infra import tokens
    if args.department not in load_all().departments:
        raise SystemExit(f"govshare: {output.printable(args.department)} is not in the department directory")
    token_id, token = tokens.issue(_api_engine(settings), args.department, args.scope)
    print(f"token {token_id} for {args.department} ({args.scope}); shown once, keep it secret:", file=sys.stderr)
    print(token)
    return 0


def _token_list(args, settings: Settings) -> int:
    from infra import tokens
    print_rows(tokens.listed(_api_engine(settings)), args.json,
               ["id", "department", "scope", "issued_at", "revoked_at"], utc=args.utc)
    return 0


def _token_revoke(args, settings: Settings) -> int:
    from infra import tokens
    if not tokens.revoke(_api_engine(settings), args.id):
        raise SystemExit(f"govshare: no live token {args.id} (see `govshare api-token list`)")
    print(f"token {args.id} revoked")
    return 0


def _retry_parked(args, settings: Settings) -> int:
    from runtime import parking
    marked = sum(parking.request_retry(engine, args.stage, args.id)
                 for engine in stage_engines(settings, args.stage))
    print(f"{marked} parked event(s) marked for a retry; each stage runs its own within a second "
          f"(see `govshare query parked --all`)")
    return 0 if marked else 1


def _dismiss(args, settings: Settings) -> int:
    from infra import dismissal
    if not args.reason.strip():
        raise SystemExit("govshare: --reason says why the message may be set aside (dismissal-reason-required)")
    if args.trail_offset is not None:
        return _admin_verdict(dismissal.dismiss_trail_message(settings, args.trail_offset, args.reason))
    if not args.stage:
        raise SystemExit("govshare: --parked needs --stage: each stage numbers its own parked messages")
    [engine] = stage_engines(settings, args.stage) or [None]
    if engine is None:
        raise SystemExit(f"govshare: {args.stage} has parked nothing: its database was never created")
    return _admin_verdict(dismissal.dismiss_parked(settings, engine, args.stage, args.parked, args.reason))


def _health(args, settings: Settings) -> int:
    from infra.health import report
    found = report(settings)
    if args.json:
        print(json.dumps(found, ensure_ascii=False, indent=2))
    else:
        print_rows(found["stages"], False, ["stage", "lag", "parked", "waiting", "database"])
    return 0 if found["ok"] else 1


def _topology(args, settings: Settings) -> int:
    from events.topics import Topics
    from infra.system import SYSTEM
    placement = settings.placement()
    print(SYSTEM.describe(Topics(settings.topic_prefix)))
    print("\nprocesses (GOVSHARE_PROCESSES)")
    for process in placement:
        print(f"  {process.name}" + (f" x{process.instances}" if process.instances > 1 else ""))
    return 0


def _keygen(args, settings: Settings) -> int:
    from infra import identity
    directory = Path(args.out) if args.out else settings.department_key_dir
    failed = 0
    for department in args.department:
        written = identity.keygen(department, directory)
        print(f"wrote {written.private} (private: keep it on the department's systems) and {written.public}")
        print(f"key id {written.key_id}")
        if not args.no_register:
            failed += _register(settings, department, written, directory)
    return 1 if failed else 0


def _register_key(args, settings: Settings) -> int:
    from infra import identity
    directory = Path(args.directory) if args.directory else settings.department_key_dir
    failed = 0
    for department in args.department:
        failed += _register(settings, department, identity.written_in(department, directory), directory)
    return 1 if failed else 0


def _register(settings: Settings, department: str, written, directory: Path) -> int:
    """Register a key written in `directory`, or say what will, or what to do: before the
    first start the validator registers the public keys in the department key directory with
    its first directory; after it, only the administrator's event does, which needs the
    service's broker."""
    from infra import identity
    later = f"`govshare register-key --department {department}" + (
        "`" if _same(directory, settings.department_key_dir) else f" --from {directory}`")
    if not identity.directory_started(settings) and not _under_way(settings):
        if _same(directory, settings.department_key_dir):
            print(f"key {written.key_id} of {department}: the first `govshare up` registers it with the first "
                  f"directory ({home_said(settings)})")
            return 0
        print(f"govshare: key {written.key_id} of {department} is not registered: the first `govshare up` registers "
              f"the public keys in {settings.department_key_dir} only; copy {written.public} there before it "
              f"starts, or once it runs: {later}", file=sys.stderr)
        return 1
    try:
        bootstrap(settings)
    except SystemExit as exc:
        print(f"{exc.code}", file=sys.stderr)
        print(f"govshare: key {written.key_id} of {department} is written but not registered: once `govshare up` "
              f"runs: {later}", file=sys.stderr)
        return 1
    failed = _admin_verdict(identity.register_key(settings, department, written))
    if failed:
        print(f"govshare: key {written.key_id} of {department} is not registered; when the cause is mended: {later}",
              file=sys.stderr)
    return failed


def _under_way(settings: Settings) -> bool:
    """Whether a `govshare up` has begun, its validator perhaps still registering the first
    directory: the embedded broker it started answers, or, on a configured cluster (where no
    broker.json tells), the administrator's key it makes first exists."""
    from infra import identity
    if settings.bootstrap_servers:
        return identity.admin_key_file(settings).exists()
    try:
        bootstrap(settings)
    except SystemExit:
        return False
    return True


def _same(one: Path, other: Path) -> bool:
    return one.resolve() == other.resolve()


def _revoke_key(args, settings: Settings) -> int:
    from infra import identity
    return _admin_verdict(identity.revoke_key(settings, args.department, args.key_id, args.reason))


def _admin_verdict(result: dict[str, Any]) -> int:
    print(output.printable(verdict_line(result)))
    return 0 if result["status"] == "accepted" else 1


def _rebuild(args, settings: Settings) -> int:
    applied = project_log(args, settings)
    print(f"applied {applied} records (events, dead letters, trail checkpoints) into {args.into}")
    return 0


def _demo(args, settings: Settings) -> int:
    from infra.demo import run_demo
    return run_demo()


def _topics(args, settings: Settings) -> int:
    from events.topics import Topics
    from infra.topics import ensure_topics
    ensure_topics(settings.kafka(bootstrap(settings)), Topics(settings.topic_prefix),
                  settings.partitions, settings.replication_factor)
    return 0
