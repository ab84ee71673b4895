"""The commands of an integrating system's people: submit events and read each verdict, sign
lines for the HTTP API, simulate what the rules would say, and write the integrator's contract."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import datetime, timezone
from typing import BinaryIO

from infra import logs, output
from infra.cli.common import bootstrap, instant, keystore, print_rows, shown_instant, utc_option, verdict_line
from infra.config import Settings


def register(sub: argparse._SubParsersAction) -> None:
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
    simulate.add_argument("--as-of", type=instant, required=True, metavar="TIME",
                          help="when the lines are received, with its zone: 2026-11-20T10:00+08:00")
    simulate.add_argument("--until", type=instant, metavar="TIME",
                          help="then let the clock run to this time: warnings, breaches, orders")
    simulate.add_argument("--json", action="store_true", help="the verdicts and limits as one JSON document")
    utc_option(simulate)
    simulate.add_argument("--key", metavar="FILE", help="sign with this department key (default: a key the "
                          "simulation makes for each department)")
    simulate.set_defaults(handler=_simulate)

    sign = sub.add_parser("sign", help="sign JSON lines with a department's key and print them, for "
                          "POST /v1/events (the API signs nothing)")
    sign.add_argument("file", help="a file of JSON lines, or - for standard input")
    sign.add_argument("--key", metavar="FILE", required=True, help="the department's private key (PEM)")
    sign.add_argument("--batch", type=int, default=1, metavar="N",
                      help="sign up to N lines at a time as one batch: one signature over the Merkle root of "
                           "their signing bases, each line carrying its proof (default 1: each line alone)")
    sign.set_defaults(handler=_sign)

    contract = sub.add_parser("contract", help="write the integrator's contract: contract/asyncapi.json "
                              "and each payload schema self-contained under contract/schemas/")
    contract.add_argument("--out", metavar="DIR", help="where to write it (default: the source tree's contract/)")
    contract.add_argument("--check", action="store_true",
                          help="write nothing; exit 1 naming each file that is not current")
    contract.set_defaults(handler=_contract)


def _submit(args, settings: Settings) -> int:
    from events.topics import Topics
    from infra.submit import submit_lines

    # Bytes, decoded line by line in submit_lines: one line that is not UTF-8 is invalid alone.
    stream: BinaryIO = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")
    with stream:
        lines = stream.readlines()
    kafka = settings.kafka(bootstrap(settings)) if any(line.strip() for line in lines) else {}
    results = submit_lines(lines, kafka, Topics(settings.topic_prefix), args.timeout, keys=keystore(args.key))
    sys.stdout.reconfigure(errors="backslashreplace")  # a verdict quoting a lone surrogate still prints
    for r in results:
        # One printable line per answer, even should a reason span lines or quote a control.
        print(json.dumps(r, ensure_ascii=False) if args.json else output.printable(verdict_line(r)))
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
    # The stages run in this process: their lines are the simulation's workings, not its answer,
    # so they go to standard error and standard output stays the answer (one JSON with --json).
    logs.configure(max(settings.log_level, logging.WARNING), settings.log_format, sys.stderr)
    found = simulate(lines, as_of=args.as_of, until=args.until, keys=keystore(args.key))
    if args.json:
        print_rows(found, True, [], utc=args.utc)
    else:
        for r in found["results"]:
            print(output.printable(verdict_line(r)))
        print(f"\nlegal limits as of {shown_instant(args.until or args.as_of, args.utc)}:")
        if found["deadlines"]:
            print_rows(found["deadlines"], False, ["subject_id", "kind", "party", "status", "due_at", "article"],
                       utc=args.utc)
        else:
            print("  none: nothing submitted starts a legal limit")
        if found["supervision"]:
            print("\nsupervision:")
            print_rows(found["supervision"], False, ["action", "party", "article", "due_at"], utc=args.utc)
    return 0 if all(r["status"] == "accepted" for r in found["results"]) else 1


def _sign(args, settings: Settings) -> int:
    from events.errors import EventError
    from events.submission import fixed_line, signed_lines
    if args.batch < 1:
        raise SystemExit("govshare: --batch takes a number of lines, at least 1")
    keys, now, failed = keystore(args.key), datetime.now(timezone.utc), 0
    stream: BinaryIO = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")
    batch: list = []

    def sign(lines: list) -> int:
        try:
            for signed in signed_lines([fixed for _, fixed in lines], keys):
                print(signed)
            return 0
        except EventError as exc:
            first, last = lines[0][0], lines[-1][0]
            where = f"line {first}" if first == last else f"lines {first}-{last}"
            print(output.printable(f"{where}: INVALID {exc}"), file=sys.stderr)
            return len(lines)

    with stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                batch.append((number, fixed_line(line, now=now)))
            except EventError as exc:
                failed += 1
                print(output.printable(f"line {number}: INVALID {exc}"), file=sys.stderr)
            if len(batch) == args.batch:
                failed, batch = failed + sign(batch), []
    if batch:
        failed += sign(batch)
    return 1 if failed else 0


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
