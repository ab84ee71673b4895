"""Probe: is tampering with a stored trail found, and is the changed record named?

    python -m bench.tamper [--records 1119] [--trials 200]

A trail of `records` events is loaded as bench.trail loads it (real codec, real Ed25519
checkpoints of 100 records each), then each kind of change below is made `trials` times to a
fresh copy, at a random record, as an intruder with the database owner's rights would. Each
copy is verified twice: with the database alone (`verify --offline`), and anchored by the
trail topic's signed checkpoints (what `verify` does by default). A change is *found* when
verify says TAMPERED, and *located* when a finding names the changed record or its position.
Prints a table and writes bench/results/tamper.json.
"""
from __future__ import annotations

import argparse
import random
import sqlite3
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, text

from bench.common import save
from bench.trail import load
from events.codec import decode_record
from infra.database import make_engine
from audit.trail import Signer
from projections.tables import APPEND_ONLY, event_log, trail_entries
from projections.verification import verify
from tests.tampering import cut_newest_checkpoint, flip_a_byte, forge_like, rehash_from

CHECKPOINT = 100  # records per signed checkpoint


def _entry(tx, position: int):
    return tx.execute(select(trail_entries).where(trail_entries.c.position == position)).one()


# Each kind changes the copy at a random position and returns what a finding must name.

def changed_byte(tx, size, rnd):
    e = _entry(tx, rnd.randrange(size))
    flip_a_byte(tx, e.record_id, rnd.randrange(30, 200))
    return e.record_id, e.position


def deleted_record(tx, size, rnd):
    e = _entry(tx, rnd.randrange(size))
    tx.execute(event_log.delete().where(event_log.c.event_id == e.record_id))
    tx.execute(trail_entries.delete().where(trail_entries.c.position == e.position))
    return e.record_id, e.position


def backdated_insert(tx, size, rnd):
    e = _entry(tx, rnd.randrange(size))
    at = tx.scalar(select(event_log.c.recorded_at).where(event_log.c.event_id == e.record_id))
    return forge_like(tx, e.record_id, at - timedelta(days=1)), None


def swapped_records(tx, size, rnd):
    a, b = sorted(rnd.sample(range(size), 2))
    eb = _entry(tx, b)
    move = trail_entries.update()
    tx.execute(move.where(trail_entries.c.position == a).values(position=-1))
    tx.execute(move.where(trail_entries.c.position == b).values(position=a))
    tx.execute(move.where(trail_entries.c.position == -1).values(position=b))
    return eb.record_id, a


def future_dated_insert(tx, size, rnd):
    e = _entry(tx, rnd.randrange(size))
    return forge_like(tx, e.record_id, datetime.now(timezone.utc) + timedelta(days=rnd.randrange(1, 400))), None


def rewritten_actor(tx, size, rnd):
    e = _entry(tx, rnd.randrange(size))
    tx.execute(event_log.update().where(event_log.c.event_id == e.record_id).values(
        actor_department="gd-authority", actor_person="forged.person", actor_role="DATA_AUTHORITY"))
    return e.record_id, e.position


def cut_newest(tx, size, rnd):
    newest, cut = cut_newest_checkpoint(tx)
    return cut[0], newest.previous_size


def consistent_rewrite(tx, size, rnd):
    e = _entry(tx, rnd.randrange(size))
    record = tx.scalar(select(event_log.c.record).where(event_log.c.event_id == e.record_id))
    _, payload = decode_record(record)
    changed = flip_a_byte(tx, e.record_id, record.index(payload) + rnd.randrange(len(payload)))
    rehash_from(tx, e.position, changed)
    return e.record_id, e.position


KINDS = [changed_byte, deleted_record, backdated_insert, swapped_records,
         future_dated_insert, rewritten_actor, cut_newest, consistent_rewrite]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1119)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="govshare-bench-tamper-"))
    base = home / "base.db"
    signer, signed = Signer(Ed25519PrivateKey.generate()), []
    load(make_engine(f"sqlite:///{base}"), args.records, CHECKPOINT, signer, signed)
    with make_engine(f"sqlite:///{base}").begin() as tx:
        for table in APPEND_ONLY:
            tx.execute(text(f"DROP TRIGGER {table.name}_no_update"))
            tx.execute(text(f"DROP TRIGGER {table.name}_no_delete"))
    # The bench trail is dated in the past; the verifier's clock is now.
    assert verify(make_engine(f"sqlite:///{base}"), signer.public_key, anchor=signed).intact
    rnd = random.Random(args.seed)
    results, started = {}, time.perf_counter()
    for kind in KINDS:
        tally = {"offline": [0, 0], "anchored": [0, 0]}
        for trial in range(args.trials):
            copy = home / f"copy-{trial % 2}.db"
            with sqlite3.connect(base) as source, sqlite3.connect(copy) as target:
                source.backup(target)  # the WAL included, which a file copy would miss
            engine = make_engine(f"sqlite:///{copy}")
            with engine.begin() as tx:
                record_id, position = kind(tx, args.records, rnd)
            for mode, anchor in (("offline", None), ("anchored", signed)):
                report = verify(engine, signer.public_key, anchor=anchor)
                tally[mode][0] += not report.intact
                tally[mode][1] += any(f.record_id == record_id or (position is not None and f.position == position)
                                      for f in report.findings)
            engine.dispose()
        results[kind.__name__] = {mode: {"found": f, "located": loc} for mode, (f, loc) in tally.items()}
    seconds = round(time.perf_counter() - started, 1)

    print(f"\n{'change (' + str(args.trials) + ' trials each)':28} {'offline found':>14} {'located':>8} "
          f"{'anchored found':>15} {'located':>8}")
    for name, r in results.items():
        print(f"{name:28} {r['offline']['found']:>14} {r['offline']['located']:>8} "
              f"{r['anchored']['found']:>15} {r['anchored']['located']:>8}")
    save("tamper", {"records": args.records, "records_per_checkpoint": CHECKPOINT, "trials": args.trials,
                    "seconds": seconds, "kinds": results})


if __name__ == "__main__":
    main()
