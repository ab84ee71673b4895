"""Rotating the trail key on a running deployment: the notary signs with the new key once
restarted, and every checkpoint signed before keeps verifying through the key ring."""
from __future__ import annotations

import json
import uuid

from sqlalchemy import select

from audit import note
from audit.trail import origin_of
from audit import keys
from infra.submit import submit_lines
from projections.tables import trail_checkpoints, trail_entries
from tests.builders import lines, new_id, registered
from tests.conftest import start_service, wait_for
from tests.test_trail import cli


def signed_by(service) -> tuple[set[str], str]:
    """Submit one registration; once a checkpoint covers it, the key ids that signed the trail
    and the registration's event id."""
    [verdict] = submit_lines(lines(registered(new_id())), service.kafka, service.topics, 60)
    assert verdict["status"] == "accepted"
    engine = service.engine()

    def read(query):
        with engine.connect() as conn:  # a new snapshot at each poll
            return list(conn.scalars(query))

    wait_for(lambda: read(select(trail_entries.c.position).where(
        trail_entries.c.record_id == verdict["event_id"])), 60, "a checkpoint covering the registration")
    return set(read(select(trail_checkpoints.c.key_id))), verdict["event_id"]


def test_after_a_rotation_old_checkpoints_verify_and_new_ones_carry_the_new_key(broker, tmp_path):
    prefix = f"t{uuid.uuid4().hex[:10]}"
    env = {"GOVSHARE_BOOTSTRAP_SERVERS": broker.bootstrap, "GOVSHARE_TOPIC_PREFIX": prefix}
    key_file = tmp_path / "home" / "trail-key.pem"
    origin = origin_of(prefix)
    service = start_service(tmp_path, env)
    try:
        signed, first = signed_by(service)  # the notary made its key on start
        old_id = note.key_id(origin, keys.load(key_file).public_key)
        assert signed == {old_id}
        old_vkey = cli(service, "trail-key", "--vkey").stdout.strip()
        (tmp_path / "old-proof.json").write_text(cli(service, "prove", first).stdout)
        (tmp_path / "old.note").write_text(cli(service, "checkpoint").stdout)
        rotated = cli(service, "trail-key", "--rotate").stdout
        assert "restart" in rotated and old_id in rotated
    finally:
        service.stop()
    new_vkey = rotated.splitlines()[-1]
    new_key_id = note.key_id(*note.parse_vkey(new_vkey))
    assert new_key_id != old_id and new_key_id == note.key_id(origin, keys.load(key_file).public_key)
    ring = json.loads(keys.ring_file(key_file).read_text())["keys"]
    assert [(e["key_id"], e["retired_at"] is None) for e in ring] == [(old_id, False), (new_key_id, True)]

    service = start_service(tmp_path, env)  # the same home: the notary loads the new key
    try:
        assert signed_by(service)[0] == {old_id, new_key_id}
        # The ring verifies both; a pinned set must hold both keys.
        assert cli(service, "verify").stdout.startswith("INTACT")
        assert cli(service, "verify-proof", str(tmp_path / "old-proof.json")).stdout.startswith("VALID")
        assert cli(service, "verify", "--vkey", old_vkey, "--vkey", new_vkey).returncode == 0
        only_new = cli(service, "verify", "--vkey", new_vkey, check=False)
        assert only_new.returncode == 1 and "BAD-SIGNATURE" in only_new.stdout
        proof = tmp_path / "proof.json"
        proof.write_text(cli(service, "prove-consistency", str(tmp_path / "old.note")).stdout)
        new = note.parse(json.loads(proof.read_text())["new_checkpoint"])
        assert [s.key_id for s in new.signatures] == [new_key_id]
        assert cli(service, "verify-consistency", str(proof)).stdout.startswith("CONSISTENT")
        both = cli(service, "verify-consistency", str(proof), "--vkey", old_vkey, "--vkey", new_vkey)
        assert both.returncode == 0
        done = cli(service, "verify-consistency", str(proof), "--vkey", new_vkey, check=False)
        assert done.returncode == 1 and "the old checkpoint: signed with key" in done.stdout
    finally:
        service.stop()
