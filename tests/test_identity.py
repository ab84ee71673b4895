"""Who acts is proven (issue #15): a department's key is registered by the platform administrator,
signs submissions the validator accepts, shows in the trail and in an offline proof, and once
revoked signs nothing more while what it signed before still verifies. An unsigned submission,
one signed with another department's key, and a forged authority decision are refused with their
rules, listed in `query rejections` and in the trail under the department that tried.

The rules, the trail, the proofs and the read commands run on the in-memory harness
(tests/harness.py, over SQLite and PostgreSQL). One test goes through a real `govshare up` and its
broker, because what it checks exists only there: `govshare keygen` and `govshare revoke-key`
submit the administrator's change to the broker and read the department's last sequence from the
running projections, and a submission signed with the key so registered must be accepted by the
service's validator, one signed with another department's key refused, and one signed after the
revocation refused. It runs once, on SQLite (the embedded deployment `govshare up` makes): the
database kinds are the harness tests' concern."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from events.errors import EventError
from events.signing import DepartmentKey, Keystore, public_text
from audit.keys import PLATFORM_ADMIN
from infra.submit import submit_lines
from tests.builders import LAW, approved, lines, new_id, registered, request, reviewed
from tests.conftest import EPOCH, KEYS

NOW = EPOCH
# The first directory registers each department (sequence 1) and its session key (2).
NEXT_DIRECTORY_SEQUENCE = 3


def verdicts(results: list[dict]) -> list[tuple[str, str | None]]:
    return [(r["status"], r.get("rule")) for r in results]


def signed_by(system, *events, keys: Keystore) -> list[dict]:
    """Each event's answer, signed with `keys` (Keystore(): not signed at all)."""
    return system.sim.submit(lines(*events), keys=keys, at=NOW)


def by_the_administrator(event_type: str, department: str, sequence: int, payload: dict) -> dict:
    """The platform administrator's change to a department, as `govshare keygen` and `govshare
    revoke-key` submit it (signed with the administrator's key, the harness's default)."""
    return {"type": event_type, "aggregate_id": department, "sequence": sequence, "payload": payload,
            "actor": {"department": PLATFORM_ADMIN, "person": "cli", "role": "PLATFORM_ADMIN"}}


def rejections(system, department: str) -> list[dict]:
    return json.loads(system.cli("query", "rejections", "--department", department, "--json").stdout)


def test_a_registered_key_signs_until_revoked_and_what_it_signed_still_verifies(system):
    key = DepartmentKey.generate("gd-amr")
    system.given(by_the_administrator("DepartmentKeyRegistered", "gd-amr", NEXT_DIRECTORY_SEQUENCE, {
        "key_id": key.key_id, "public_key": public_text(key.public_raw)}), at=NOW)
    entry = new_id()
    [before] = signed_by(system, registered(entry, department="gd-amr"), keys=Keystore(single=key))
    assert before["status"] == "accepted", before

    # The trail names the key; the proof carries the signer; verify-proof checks it offline.
    proof = system.cli("prove", before["event_id"]).stdout
    assert json.loads(proof)["signer"]["key_id"] == key.key_id
    checked = system.cli("verify-proof", "-", stdin=proof)
    assert f"signed by gd-amr with key {key.key_id}" in checked.stdout
    trail = system.cli("trail", "--aggregate", entry)
    assert f"signed with key {key.key_id}" in trail.stdout

    system.given(by_the_administrator("DepartmentKeyRevoked", "gd-amr", NEXT_DIRECTORY_SEQUENCE + 1, {
        "key_id": key.key_id, "reason": "泄露"}))
    [after] = signed_by(system, registered(new_id(), department="gd-amr"), keys=Keystore(single=key))
    assert (after["status"], after["rule"]) == ("rejected", "signing-key-revoked")

    # Signed before the revocation: still in the trail, still verifying.
    again = system.cli("verify-proof", "-", stdin=proof, check=False)
    assert again.returncode == 0, again.stdout
    # A changed record no longer verifies against the signer's key.
    forged = json.loads(proof)
    forged["signer"]["department"] = "gd-psb"
    refused = system.cli("verify-proof", "-", stdin=json.dumps(forged), check=False)
    assert refused.returncode == 1 and "INVALID" in refused.stdout, refused.stdout + refused.stderr


def test_a_batch_signed_under_one_signature_is_accepted_and_each_event_proves_itself(system):
    """`govshare sign --batch`: one signature over the Merkle root of the lines' signing bases,
    each line carrying its proof. Each event verifies alone, offline; one altered, or given
    another's place in the batch, is the department's key failing to sign it."""
    from events.submission import fixed_line, signed_lines
    key = DepartmentKey.generate("gd-amr")
    system.given(by_the_administrator("DepartmentKeyRegistered", "gd-amr", NEXT_DIRECTORY_SEQUENCE, {
        "key_id": key.key_id, "public_key": public_text(key.public_raw)}), at=NOW)
    entries = [new_id() for _ in range(4)]
    fixed = [fixed_line(line, now=NOW) for line in lines(*(registered(e, department="gd-amr") for e in entries))]
    batch = [json.loads(line) for line in signed_lines(fixed, Keystore(single=key))]
    assert len({b["signature"]["value"] for b in batch}) == 4, "each line carries its own place and path"

    altered = json.loads(json.dumps(batch[1]))
    altered["payload"]["attributes"]["title"] += "（改）"
    moved = json.loads(json.dumps(batch[2])) | {"signature": batch[0]["signature"]}
    answers = system.sim.submit([json.dumps(b, ensure_ascii=False) for b in (batch[0], altered, moved, batch[3])],
                                keys=Keystore(), at=NOW)
    assert verdicts(answers) == [("accepted", None), ("rejected", "signature-invalid"),
                                 ("rejected", "signature-invalid"), ("accepted", None)]

    proof = system.cli("prove", answers[3]["event_id"]).stdout
    checked = system.cli("verify-proof", "-", stdin=proof)
    assert f"signed by gd-amr with key {key.key_id}" in checked.stdout
    # Lines of two departments are not one batch.
    other = fixed_line(lines(registered(new_id(), department="gd-psb"))[0], now=NOW)
    with pytest.raises(EventError, match="one department's key"):
        signed_lines(fixed[:1] + [other], Keystore(single=key))


def test_unsigned_or_wrongly_signed_submissions_are_refused_and_listed_under_who_tried(system):
    psb_key = DepartmentKey.read(KEYS / "gd-psb.pem")
    results = signed_by(system, registered(new_id(), department="gd-amr"), keys=Keystore())
    results += signed_by(system, registered(new_id(), department="gd-amr"), keys=Keystore(single=psb_key))
    assert verdicts(results) == [("rejected", "submission-unsigned"), ("rejected", "signing-key-not-of-department")]
    assert all("GD-2018 Art. 28" in r["article"] for r in results)

    # Unsigned proves no one: it stays with the department named. Signed with gd-psb's key: gd-psb
    # tried, in gd-amr's name.
    [unsigned] = rejections(system, "gd-amr")
    assert (unsigned["rule"], unsigned["attempted_key_id"], unsigned["claimed_department"]) == \
        ("submission-unsigned", None, None)
    [forged] = rejections(system, "gd-psb")
    assert (forged["rule"], forged["attempted_key_id"], forged["claimed_department"]) == \
        ("signing-key-not-of-department", psb_key.key_id, "gd-amr")
    trail = system.cli("trail", "--department", "gd-amr").stdout
    assert "submission-unsigned" in trail and "signing-key-not-of-department" not in trail
    assert "signing-key-not-of-department" in system.cli("trail", "--department", "gd-psb").stdout


def test_a_forged_authority_decision_is_refused_with_its_rule(system):
    """Hebei's data authority, signing with its own valid key, decides a Guangdong request."""
    entry, req = new_id(), new_id("req")
    code = f"I.{entry}"
    system.given(registered(entry, codes=[code], share_type="CONDITIONAL", legal_basis=LAW,
                            share_conditions="仅限审批"), at=NOW)
    system.given(request(req, entry, items=[code]), *reviewed(req))
    forged = approved(req) | {"actor": {"department": "hb-authority", "person": "zhao", "role": "DATA_AUTHORITY"},
                              "policy": "hebei-2023"}
    [result] = system.when(forged)
    assert result["status"] == "rejected" and result["rule"] in ("authority-of-the-entry", "jurisdiction-mismatch")
    shown = rejections(system, "hb-authority")
    assert shown, "the refusal projected"
    assert shown[0]["rule"] == result["rule"] and shown[0]["attempted_by_person"] == "zhao"


def test_only_the_platform_administrator_changes_the_directory(system):
    """A department cannot register a key for itself, nor claim the administrator's role."""
    key = DepartmentKey.generate("gd-amr")
    change = {"type": "DepartmentKeyRegistered", "aggregate_id": "gd-amr", "sequence": NEXT_DIRECTORY_SEQUENCE,
              "payload": {"key_id": key.key_id, "public_key": public_text(key.public_raw)}}
    as_amr = change | {"actor": {"department": "gd-amr", "person": "li", "role": "PROVIDER"}}
    claimed = change | {"actor": {"department": "gd-amr", "person": "li", "role": "PLATFORM_ADMIN"}}
    assert verdicts(system.when(as_amr, claimed, at=NOW)) == [("rejected", "actor-not-permitted"),
                                                                ("rejected", "role-not-held")]


# --- through the real service and its broker


def cli(service, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "infra.cli", *args], env=service.env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_keygen_registers_a_key_the_service_accepts_and_revoke_key_makes_it_refused(service, tmp_path):
    """`govshare keygen` registers gd-amr's new key through the broker; the running validator
    accepts what it signs and refuses what another department's key signs; once `govshare
    revoke-key` revoked it, what it signs is refused."""
    done = cli(service, "keygen", "--department", "gd-amr", "--out", str(tmp_path / "keys"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "accepted DepartmentKeyRegistered gd-amr" in done.stdout
    keyed = DepartmentKey.read(tmp_path / "keys" / "gd-amr.pem")

    def submitted(keys: Keystore) -> dict:
        [result] = submit_lines(lines(registered(new_id(), department="gd-amr")), service.kafka, service.topics,
                                60, keys=keys)
        return result

    assert submitted(Keystore(single=keyed))["status"] == "accepted"
    forged = submitted(Keystore(single=DepartmentKey.read(KEYS / "gd-psb.pem")))
    assert (forged["status"], forged["rule"]) == ("rejected", "signing-key-not-of-department")

    done = cli(service, "revoke-key", "--department", "gd-amr", "--key-id", keyed.key_id, "--reason", "泄露")
    assert done.returncode == 0, done.stdout + done.stderr
    after = submitted(Keystore(single=keyed))
    assert (after["status"], after["rule"]) == ("rejected", "signing-key-revoked")


def test_a_revocation_received_before_a_submission_of_the_same_batch_is_in_force_for_it(system):
    """The revocation came on the directory's inbox, the submission on the catalog's, and the
    consumer handed the submission over first: the directory's events of a batch are judged
    first, so the key is revoked for a submission received after the revocation."""
    from datetime import timedelta
    from events.codec import decode_message
    from events.submission import parse_line, to_inbox
    from runtime.message import Incoming
    from tests.harness import Harness
    key = DepartmentKey.generate("gd-amr")
    system.given(by_the_administrator("DepartmentKeyRegistered", "gd-amr", NEXT_DIRECTORY_SEQUENCE, {
        "key_id": key.key_id, "public_key": public_text(key.public_raw)}), at=NOW)
    revoked = by_the_administrator("DepartmentKeyRevoked", "gd-amr", NEXT_DIRECTORY_SEQUENCE + 1, {
        "key_id": key.key_id, "reason": "泄露"})
    [revocation] = [to_inbox(parse_line(line, now=NOW, keys=Keystore(KEYS)), system.topics) for line in lines(revoked)]
    [submission] = [to_inbox(parse_line(line, now=NOW, keys=Keystore(single=key)), system.topics)
                    for line in lines(registered(new_id(), department="gd-amr"))]
    received = [(submission, NOW + timedelta(seconds=2)), (revocation, NOW + timedelta(seconds=1))]
    batch = [Incoming(out.topic, 0, 10_000 + i, at, out.key, out.value, out.headers)
             for i, (out, at) in enumerate(received)]
    answers = [decode_message(out.headers, out.value) for out in Harness.feed(system.sim.runner.stages["validator"], batch)]
    by_type = {a.envelope.event_type: a for a in answers}
    assert "DepartmentKeyRevoked" in by_type
    assert by_type["EventRejected"].payload.rule == "signing-key-revoked"
