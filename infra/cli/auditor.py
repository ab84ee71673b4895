"""The commands of an auditor: read and export the audit trail, check it and its signed
checkpoints, prove one record's inclusion or one checkpoint's extension of another and check such
proofs offline, show or rotate the trail key, and replay the projections as they stood."""
from __future__ import annotations

import argparse
import base64
import json
import sys
from datetime import datetime, timedelta, timezone
from typing import Any, TextIO

from infra import output, progress
from infra.cli.common import (
    bootstrap,
    first,
    instant,
    json_object,
    limit,
    print_rows,
    progress_every,
    project_log,
    read_engine,
    read_one_more,
    say_more,
    shown_instant,
    text_file,
    utc_option,
)
from infra.config import Settings


def register(sub: argparse._SubParsersAction) -> None:
    from projections.verification import CLOCK_SKEW

    replay = sub.add_parser("replay", help="rebuild the projections as they stood at a past instant")
    replay.add_argument("--as-of", required=True, type=instant, metavar="TIME",
                        help="ISO 8601 with its zone: 2026-12-15T00:00+08:00")
    replay.add_argument("--into", required=True, metavar="URL", help="an empty database to build into")
    utc_option(replay)
    progress_every(replay)
    replay.set_defaults(handler=_replay)

    trail = sub.add_parser("trail", help="the audit trail in order: who, what, when, why, state after")
    _trail_filters(trail)
    trail.add_argument("--after", type=int, metavar="POSITION",
                       help="only steps after this trail position (the next page of a long trail)")
    limit(trail)
    trail.add_argument("--no-state", action="store_true", help="skip replaying the state after each step")
    trail.add_argument("--json", action="store_true")
    utc_option(trail)
    trail.set_defaults(handler=_trail)

    export = sub.add_parser("export", help="write the trail as JSON Lines, CSV or OCSF (a SIEM's), with its "
                            "checkpoint")
    _trail_filters(export)
    export.add_argument("--format", choices=["jsonl", "csv", "ocsf"], default="jsonl",
                        help="ocsf: OCSF 1.8.0 API Activity JSON lines, streamed, progress on stderr")
    utc_option(export)
    progress_every(export)
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
    utc_option(verify)
    progress_every(verify)
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


def _trail_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--aggregate", help="one aggregate: entry, request, grant, objection, ... id")
    parser.add_argument("--department", help="events whose actor is this department, and refusals of what it tried")
    parser.add_argument("--actor", help="events whose actor is this person, and refusals of what they tried")
    parser.add_argument("--since", type=instant, metavar="TIME", help="recorded at or after (with its zone: "
                        "2026-12-15T00:00+08:00)")
    parser.add_argument("--until", type=instant, metavar="TIME", help="recorded at or before (with its zone)")


def _filters(args) -> dict[str, Any]:
    return dict(aggregate=args.aggregate, department=args.department, actor=args.actor,
                since=args.since, until=args.until)


def _pinned_keys(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--public-key", action="append", default=[],
                        help="pinned key: base64 of the raw Ed25519 key, or a file of it; repeatable "
                             "(default: this deployment's key ring)")
    parser.add_argument("--vkey", action="append", default=[],
                        help="pinned verifier key <name>+<key id>+<base64 key>, or a file of them, one a "
                             "line; repeatable")


def _trail_engine(settings: Settings):
    # The trail's readers never write: the database refuses it for them (and, before the first
    # `govshare up`, they say so rather than fail on a missing table).
    return read_engine(settings)


def _replay(args, settings: Settings) -> int:
    applied = project_log(args, settings, as_of=args.as_of)
    print(f"applied {applied} records made by {shown_instant(args.as_of, args.utc)} into {args.into}")
    return 0


def _trail(args, settings: Settings) -> int:
    from projections.trail import steps
    found, more = first(steps(_trail_engine(settings), with_state=not args.no_state, after=args.after,
                              limit=read_one_more(args.limit), **_filters(args)), args.limit)
    if more:
        # Steps not yet in a signed checkpoint have no position, and come last: no page after them.
        say_more(args.limit, "steps", found[-1]["position"])
    found = [output.trail_step(s) for s in found]
    if args.json:
        print_rows(found, True, [], utc=args.utc)
        return 0
    for s in found:
        who, what, why = s["who"], s["what"], s["why"]
        show, zone = output.printable, output.zone_of(s, utc=args.utc)
        recorded = s["when"]["recorded_at"]
        print(show(f"#{s['position'] if s['position'] is not None else '-'} "
                   f"{output.instant(recorded, zone, seconds=True) if recorded else '-'} "
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
            after = output.jsonable(shown or state, utc=args.utc, zone=zone)
            print(show(f"    state after: {json.dumps(after, ensure_ascii=False)}"))
    return 0


def _export(args, settings: Settings) -> int:
    from projections.verification import latest_checkpoint
    engine = _trail_engine(settings)
    with open(args.out, "w", encoding="utf-8", newline="") as out:
        count = (_export_ocsf(engine, args, out) if args.format == "ocsf" else
                 _export_rows(engine, args, out))
    cover = {"export": args.out, "rows": count,
             "filters": output.jsonable({k: v for k, v in _filters(args).items() if v}, utc=args.utc),
             "checkpoint": latest_checkpoint(engine, _local_keys(settings))}
    with open(f"{args.out}.checkpoint.json", "w", encoding="utf-8") as out:
        json.dump(cover, out, ensure_ascii=False, indent=2)
    print(f"wrote {count} rows to {args.out}; checkpoint in {args.out}.checkpoint.json")
    return 0


def _export_rows(engine, args, out: TextIO) -> int:
    import csv

    from projections.trail import export_rows
    # Each row's instants in its jurisdiction's zone, or UTC (--utc), as `trail` shows them.
    rows = output.jsonable([output.instants_in(row, ("occurred_at", "recorded_at"))
                            for row in export_rows(engine, **_filters(args))], utc=args.utc)
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


def _keys(args, settings: Settings):
    """The keys a checkpoint may be signed with: those pinned on the command line, or else
    every key of this deployment's ring (a checkpoint matches one by its key id)."""
    from audit import trail as tr
    from audit import keys
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
    from audit.trail import origin_of
    from audit import keys
    return keys.ring_keys(settings.trail_key_file, origin_of(settings.topic_prefix))


def _verify(args, settings: Settings) -> int:
    from dataclasses import asdict

    from events.topics import Topics
    from projections.verification import verify
    kept = _checkpoint_file(args.against) if args.against else None
    engine = _trail_engine(settings)  # first: before any service ran, it says so
    keys = _keys(args, settings)
    anchor, unsigned = None, []
    if not args.offline:
        from infra.anchor import AnchorUnavailable, signed_checkpoints
        from projections.queries import dismissals
        topics = Topics(settings.topic_prefix)
        dismissed = [(d["partition"], d["offset"], d["sha256"]) for d in dismissals(engine)
                     if d["topic"] == topics.trail]
        try:
            found = signed_checkpoints(settings.kafka(bootstrap(settings)), topics, dismissed=dismissed)
        except AnchorUnavailable as exc:
            raise SystemExit(f"govshare: {exc}; run with --offline to check the database alone")
        anchor, unsigned = found.checkpoints, found.unsigned(keys)
        if found.foreign:
            print(f"govshare: the trail topic holds {found.foreign} message(s) that are no checkpoint",
                  file=sys.stderr)
        if found.dismissed:
            print(f"govshare: {found.dismissed} message(s) of the trail topic left out, dismissed by the "
                  f"platform administrator (govshare query dismissals)", file=sys.stderr)
    shown = progress.Progress("checked", args.progress_every)
    report = verify(engine, keys, timedelta(seconds=args.grace),
                    skew=timedelta(seconds=args.skew), anchor=anchor, kept=kept, progress=shown)
    shown.done(report.records)
    if args.json:
        print(json.dumps({"intact": report.intact, "records": report.records,
                          "checkpoints": report.checkpoints, "tree_size": report.tree_size,
                          "newest_checkpoint": report.newest, "anchored_by": report.anchor,
                          "consistency": report.consistency,
                          "findings": [asdict(f) for f in report.findings],
                          "pending": report.pending, "unsigned_trail_offsets": unsigned},
                         ensure_ascii=False, indent=2))
        return 0 if report.intact else 1
    print(f"{'INTACT' if report.intact else 'TAMPERED'}: {report.records} trail records, "
          f"{report.checkpoints} signed checkpoints, tree size {report.tree_size}")
    if report.newest:
        print(f"  newest signed checkpoint: {report.newest['tree_size']} records, signed "
              f"{shown_instant(report.newest['signed_at'], args.utc)} ({_age(report.newest['age_seconds'])} ago)")
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
    if unsigned:
        # A checkpoint no pinned key signed is anyone's write to the trail topic: once examined,
        # the administrator dismisses it (on the trail itself) and later runs leave it out.
        print(f"  the trail topic's message(s) at offset {', '.join(map(str, unsigned))} no pinned key signed; "
              f"once examined: govshare dismiss --trail-offset N --reason '...'")
    return 0 if report.intact else 1


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if abs(seconds) >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def _checkpoint_file(path: str):
    """A kept checkpoint: a signed note, or JSON holding one (see tr.checkpoint_of_text)."""
    from audit.trail import checkpoint_of_text
    try:
        return checkpoint_of_text(text_file(path))
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
    from audit.trail import check_consistency
    proof = json_object(args.file)
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
    from audit.trail import check_proof, record_identity
    proof = json_object(args.file)
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
    from audit import note
    from audit.trail import origin_of
    from audit import keys
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
