"""Who acts is proven (issue #15), through a real `govshare up`: a department's key is made and
registered by the platform administrator (`govshare keygen`), signs submissions the validator
accepts, shows in the trail and in an offline proof, and once revoked (`govshare revoke-key`)
signs nothing more while what it signed before still verifies. An unsigned submission, one
signed with another department's key, and a forged authority decision are refused with their
rules, listed in `query rejections` and in the trail under the department that tried."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from events.signing import DepartmentKey, Keystore, public_text
from infra.submit import submit_lines
from tests.builders import LAW, approved, lines, new_id, registered, request, reviewed
from tests.conftest import KEYS, wait_for


def cli(service, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "infra.cli", *args], env=service.env, input=stdin,
                          capture_output=True, text=True, timeout=120)


def submitted(service, *events, keys: Keystore | None = None) -> list[dict]:
    return submit_lines(lines(*events), service.kafka, service.topics, 60, keys=keys)


def verdicts(results: list[dict]) -> list[tuple[str, str | None]]:
    return [(r["status"], r.get("rule")) for r in results]


@pytest.fixture
def keyed(service, tmp_path):
    """A second key of gd-amr's, made and registered with `govshare keygen` (the administrator's
    key is the deployment's; the first directory registered it)."""
    done = cli(service, "keygen", "--department", "gd-amr", "--out", str(tmp_path / "keys"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "accepted DepartmentKeyRegistered gd-amr" in done.stdout
    return DepartmentKey.read(tmp_path / "keys" / "gd-amr.pem")


def test_a_registered_key_signs_until_revoked_and_what_it_signed_still_verifies(service, keyed):
    entry = new_id()
    [before] = submitted(service, registered(entry, department="gd-amr"), keys=Keystore(single=keyed))
    assert before["status"] == "accepted"

    # The trail names the key; the proof carries the signer; verify-proof checks it offline.
    engine = service.engine()
    proof = wait_for(lambda: (p := cli(service, "prove", before["event_id"])).returncode == 0 and p.stdout,
                     60, "the event in a signed checkpoint")
    assert json.loads(proof)["signer"]["key_id"] == keyed.key_id
    checked = cli(service, "verify-proof", "-", stdin=proof)
    assert checked.returncode == 0 and f"signed by gd-amr with key {keyed.key_id}" in checked.stdout
    trail = cli(service, "trail", "--aggregate", entry)
    assert f"signed with key {keyed.key_id}" in trail.stdout

    done = cli(service, "revoke-key", "--department", "gd-amr", "--key-id", keyed.key_id, "--reason", "泄露")
    assert done.returncode == 0, done.stdout + done.stderr
    [after] = submitted(service, registered(new_id(), department="gd-amr"), keys=Keystore(single=keyed))
    assert (after["status"], after["rule"]) == ("rejected", "signing-key-revoked")

    # Signed before the revocation: still in the trail, still verifying.
    again = cli(service, "verify-proof", "-", stdin=proof)
    assert again.returncode == 0, again.stdout
    # A changed record no longer verifies against the signer's key.
    forged = json.loads(proof)
    forged["signer"]["department"] = "gd-psb"
    assert "INVALID" in cli(service, "verify-proof", "-", stdin=json.dumps(forged)).stdout
    engine.dispose()


def test_unsigned_or_wrongly_signed_submissions_are_refused_and_listed_under_who_tried(service):
    psb_key = DepartmentKey.read(KEYS / "gd-psb.pem")
    results = submitted(service, registered(new_id(), department="gd-amr"), keys=Keystore())
    results += submitted(service, registered(new_id(), department="gd-amr"), keys=Keystore(single=psb_key))
    assert verdicts(results) == [("rejected", "submission-unsigned"), ("rejected", "signing-key-not-of-department")]
    assert all("GD-2008 Art. 31" in r["article"] for r in results)

    refused = wait_for(lambda: (q := cli(service, "query", "rejections", "--department", "gd-amr", "--json"))
                       .returncode == 0 and len(json.loads(q.stdout)) == 2 and json.loads(q.stdout), 60,
                       "both refusals projected")
    assert {r["rule"] for r in refused} == {"submission-unsigned", "signing-key-not-of-department"}
    assert {r["attempted_key_id"] for r in refused} == {None, psb_key.key_id}
    trail = cli(service, "trail", "--department", "gd-amr").stdout
    assert "submission-unsigned" in trail and "signing-key-not-of-department" in trail


def test_a_forged_authority_decision_is_refused_with_its_rule(service):
    """Hebei's data authority, signing with its own valid key, decides a Guangdong request."""
    entry, req = new_id(), new_id("req")
    # The entry first: a batch over two inboxes has no order between them.
    code = f"I.{entry}"
    assert verdicts(submitted(service, registered(entry, codes=[code], share_type="CONDITIONAL",
                                                  legal_basis=LAW, share_conditions="仅限审批"))) == [("accepted", None)]
    assert verdicts(submitted(service, request(req, entry, items=[code]), *reviewed(req))) == [("accepted", None)] * 3
    forged = approved(req) | {"actor": {"department": "hb-authority", "person": "zhao", "role": "DATA_AUTHORITY"},
                              "policy": "hebei-2023"}
    [result] = submitted(service, forged)
    assert result["status"] == "rejected" and result["rule"] in ("authority-of-the-entry", "jurisdiction-mismatch")
    shown = wait_for(lambda: json.loads(cli(service, "query", "rejections", "--department", "hb-authority",
                                            "--json").stdout), 60, "the refusal projected")
    assert shown[0]["rule"] == result["rule"] and shown[0]["attempted_by_person"] == "zhao"


def test_only_the_platform_administrator_changes_the_directory(service):
    """A department cannot register a key for itself, nor claim the administrator's role."""
    key = DepartmentKey.generate("gd-amr")
    change = {"type": "DepartmentKeyRegistered", "aggregate_id": "gd-amr", "sequence": 3,
              "payload": {"key_id": key.key_id, "public_key": public_text(key.public_raw)}}
    as_amr = change | {"actor": {"department": "gd-amr", "person": "li", "role": "PROVIDER"}}
    claimed = change | {"actor": {"department": "gd-amr", "person": "li", "role": "PLATFORM_ADMIN"}}
    assert verdicts(submitted(service, as_amr, claimed)) == [("rejected", "actor-not-permitted"),
                                                               ("rejected", "role-not-held")]
