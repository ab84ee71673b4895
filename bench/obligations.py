"""Benchmark: deciding on an entry as its change obligations pile up.

    python -m bench.obligations [--obligations 25000] [--block 5000] [--database sqlite|postgresql]

One Hebei entry receives `obligations` ChangeObligationRaised events, in batches of 500,
through the validator stage as the System builds it, on the runtime (its database, its outbox
publishing to an embedded broker), its clock at the day the events are received. Printed per
block of --block obligations (5,000): the seconds they took. The validator keeps obligations
beside the entry's state and loads only those an event concerns; the peer, measured in the same
run, is the same validator keeping every obligation in the state (as it did before), whose
every decision loads and writes them all. Writes bench/results/obligations-<database>.json.
"""
from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from bench.common import fresh_database, save
from bench.deployment import CLUSTER, deployment, stage
from bench.keys import department_keys
from events.codec import encode_payload, to_headers
from events.publisher import Publisher
from events.submission import parse_line
from events.topics import Topics
from infra.broker import EmbeddedBroker
from infra.topics import ensure_topics
from processors.validator import Validator
from runtime.clock import FixedClock
from runtime.loop import Runner
from runtime.message import Incoming

AT = datetime(2026, 9, 25, 2, 0, tzinfo=timezone.utc)
ENTRY = "hb-civil-bench"
REGISTERED = ('{"type": "EntryRegistered", "aggregate_id": "%s", "sequence": 1, "policy": "hebei-2023", '
              '"actor": {"department": "hb-civil", "person": "li.ming", "role": "PROVIDER"}, "payload": '
              '{"attributes": {"title": "婚姻登记信息", "description": "d", "classification": "民政", '
              '"business_name": "婚姻登记", "information_system": "s", "data_items": [{"code": "HB.1", '
              '"name": "登记号"}], "share_type": "UNCONDITIONAL", "share_methods": ["INTERFACE"], '
              '"storage_format": "table", "update_frequency": "daily", "security_level": "L2", '
              '"usage_scope": "全省"}}}') % ENTRY
RAISED = ('{"type": "ChangeObligationRaised", "aggregate_id": "%s", "sequence": %d, "policy": "hebei-2023", '
          '"actor": {"department": "hb-authority", "person": "wang.fang", "role": "DATA_AUTHORITY"}, '
          '"payload": {"obligation_id": "ob-%d", "trigger": "DUTIES_CHANGED", "reference": "机构改革", '
          '"received_on": "2026-09-25"}}')


class StateHeld(Validator):
    """The peer: every obligation stays in the entry's state."""

    def _with_obligations(self, tx, state, event):
        return state

    def _set_obligations_aside(self, tx, state):
        return state


def run(kind: type[Validator], database: str, obligations: int, block: int, kafka: dict, topics: Topics) -> list[float]:
    """The seconds each block of `block` obligations took the validator (`kind`: the peer's)."""
    home = Path(tempfile.mkdtemp(prefix="govshare-bench-obligations-"))
    settings = deployment(home, topics, kafka["bootstrap.servers"], fresh_database(database, home, "validator.db"))
    validator = stage(Validator.name, settings, Publisher(kafka), clock=FixedClock(AT))
    # The peer is that same validator, with the two steps that keep obligations apart undone.
    validator.__class__ = kind
    validator.start()  # the first directory: the departments' keys the events are signed with
    runner, signing, offset = Runner(validator, CLUSTER), department_keys(), 0

    def feed(texts: list[str]) -> None:
        nonlocal offset
        batch = []
        for text in texts:
            e = parse_line(text, now=AT, keys=signing)
            batch.append(Incoming(topics.inbox("catalog-entry"), 0, offset, AT, ENTRY.encode(),
                                  encode_payload(e.payload), to_headers(e.envelope)))
            offset += 1
        refused = [o for _, o in runner.process(batch) if o.topic != topics.events("catalog-entry")]
        assert not refused, "every obligation is accepted"

    feed([REGISTERED])
    blocks, sequence, size = [], 2, min(500, block)
    for _ in range(obligations // block):
        started = time.perf_counter()
        for _ in range(block // size):
            feed([RAISED % (ENTRY, s, s) for s in range(sequence, sequence + size)])
            sequence += size
        blocks.append(round(time.perf_counter() - started, 2))
    return blocks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--obligations", type=int, default=25_000)
    parser.add_argument("--block", type=int, default=5000, help="obligations per timed block")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    broker = EmbeddedBroker.start()
    try:
        kafka, topics = {"bootstrap.servers": broker.bootstrap}, Topics(f"o{uuid.uuid4().hex[:8]}")
        ensure_topics(kafka, topics, 1, 1)
        blocks = run(Validator, args.database, args.obligations, args.block, kafka, topics)
        peer = run(StateHeld, args.database, args.obligations, args.block, kafka, topics)
    finally:
        broker.stop()
    print(f"\n{'obligations (' + args.database + ')':24} {'govshare s':>11} {'peer s':>8} {'peer/govshare':>14}")
    for i, (ours, theirs) in enumerate(zip(blocks, peer)):
        print(f"{f'{i * args.block + 1}-{(i + 1) * args.block}':24} {ours:>11} {theirs:>8} {theirs / ours:>13.2f}x")
    save(f"obligations-{args.database}", {"database": args.database, "block": args.block, "per_block_s": blocks,
                                          "peer_per_block_s": peer,
                                          "last_vs_first": round(blocks[-1] / blocks[0], 2),
                                          "peer_last_vs_first": round(peer[-1] / peer[0], 2)})


if __name__ == "__main__":
    main()
