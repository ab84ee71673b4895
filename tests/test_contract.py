"""The integrator's contract, held to clients nobody on the project wrote: Apache's Python Avro
library, the CloudEvents SDK, and AsyncAPI's own JSON Schema for the generated document.

No test here starts a service. What a foreign client's message becomes is the validator's and
the projector's answer, so those messages are published raw onto the in-memory harness's inboxes
(tests/harness.py, over SQLite and PostgreSQL) and their verdicts read from the output topics by
the same function `govshare submit` reads them with (infra.verdicts.outcomes). That Kafka carries
such a message unchanged is the broker's business, tested where the broker is (test_runtime.py,
test_api.py)."""
from __future__ import annotations

import base64
import gzip
import io
import json
import struct
import subprocess
import sys
import uuid
from dataclasses import replace
from datetime import date
from pathlib import Path

import avro.io
import avro.schema
import fastavro
import jsonschema
import pytest
from cloudevents.core.bindings.kafka import to_binary_event
from cloudevents.core.v1.event import CloudEvent

from events import contract, schemas
from events.codec import MAGIC, encode_payload, event_identity, from_headers, payload_from_json, to_headers
from events.envelope import Actor, Role
from events.publisher import Outgoing
from events.registry import all_kinds, kind_of
from events.submission import parse_line
from events.topics import AGGREGATE_TYPES
from infra.verdicts import outcomes
from projections import queries
from tests.builders import lines, registered, request, signed
from tests.conftest import EPOCH

# AsyncAPI 3.0.0's JSON Schema, from the npm package @asyncapi/specs 6.8.1
# (schemas/3.0.0-without-$id.json), pinned here so the check needs no network.
ASYNCAPI_SCHEMA = Path(__file__).parent / "contract" / "asyncapi-3.0.0.schema.json.gz"
# The instant the events are written and judged at (the harness's clock is set to it).
NOW = EPOCH


def asyncapi_errors(document: dict) -> list[str]:
    schema = json.loads(gzip.decompress(ASYNCAPI_SCHEMA.read_bytes()))
    return [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(document)]


def test_the_committed_contract_is_current():
    done = subprocess.run([sys.executable, "-m", "infra.cli", "contract", "--check"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"run `govshare contract` and commit contract/:\n{done.stderr}"


def test_the_asyncapi_document_validates_against_asyncapis_own_schema():
    document = json.loads((contract.CONTRACT_DIR / contract.ASYNCAPI_FILE).read_text(encoding="utf-8"))
    assert asyncapi_errors(document) == []
    del document["info"]  # the check can fail
    assert asyncapi_errors(document)


def test_the_contract_maps_every_inbox_to_its_messages_and_senders():
    document = contract.asyncapi()
    for aggregate in AGGREGATE_TYPES:
        channel = document["channels"][f"inbox.{aggregate}"]
        assert channel["address"] == "{prefix}.inbox." + aggregate
        sent = {k.event_type for k in all_kinds() if k.aggregate_type == aggregate and k.senders}
        assert set(channel["messages"]) == sent and sent
    approved = document["components"]["messages"]["RequestApproved"]["x-govshare"]
    assert approved["senders"] == ["DATA_AUTHORITY"] and approved["ce_type"] == "govshare.sharing.RequestApproved"
    headers = document["components"]["schemas"]["InboxHeaders"]
    assert "ce_govaggregatetype" not in headers["required"] and "ce_govactorperson" in headers["required"]


@pytest.mark.parametrize("kind", all_kinds(), ids=lambda k: k.event_type)
def test_every_schema_bundle_parses_alone_in_fastavro_and_apaches_library(kind):
    text = (contract.CONTRACT_DIR / contract.schema_file(kind)).read_text(encoding="utf-8")
    theirs = avro.schema.parse(text)
    ours = fastavro.parse_schema(json.loads(text), named_schemas={})
    assert theirs.fullname == ours["name"] == kind.schema_name
    (fp,) = struct.unpack("<Q", theirs.fingerprint("CRC-64-AVRO"))
    assert schemas.writer_schemas()[fp].name == kind.schema_name


def verdicts(harness, messages: list[Outgoing], event_ids: set[str]) -> dict:
    """What became of raw messages published to the inboxes, read from what the stages wrote."""
    start = len(harness.sim.runner.broker.order)
    harness.sim.publish(messages, at=NOW)
    found = outcomes(harness.topics, harness.sim.runner.broker.order[start:], event_ids)
    assert set(found) == event_ids, f"no verdict for {event_ids - set(found)}"
    return found


def an_entry(harness, codes=("I.1", "I.2")) -> str:
    entry_id = f"entry-{uuid.uuid4().hex[:8]}"
    event = parse_line(lines(registered(entry_id, codes=[f"{c}-{entry_id}" for c in codes]))[0], now=NOW)
    msg = Outgoing(harness.topics.inbox("catalog-entry"), entry_id.encode(), encode_payload(event.payload),
                   to_headers(event.envelope))
    assert verdicts(harness, [msg], {str(event.envelope.event_id)})[str(event.envelope.event_id)].status == "accepted"
    return entry_id


def apache_single_object(kind_name: str, datum: dict) -> bytes:
    """What Apache's Python library writes for a payload: its own fingerprint, its own encoder."""
    kind = kind_of(kind_name)
    schema = avro.schema.parse((contract.CONTRACT_DIR / contract.schema_file(kind)).read_text(encoding="utf-8"))
    body = io.BytesIO()
    avro.io.DatumWriter(schema).write(datum, avro.io.BinaryEncoder(body))
    return MAGIC + schema.fingerprint("CRC-64-AVRO") + body.getvalue()


def test_an_event_encoded_by_apaches_python_library_is_accepted(system):
    entry_id = an_entry(system)
    line = request(f"req-{uuid.uuid4().hex[:8]}", entry_id, items=[f"I.1-{entry_id}"])
    event = parse_line(lines(line)[0], now=NOW)
    p = event.payload
    value = apache_single_object("RequestSubmitted", {
        "entry_id": p.entry_id, "items": list(p.items), "purpose": p.purpose, "scenario": p.scenario,
        "business_process": p.business_process, "method": p.method.value, "period_end": date(NOW.year + 1, 12, 31),
        "desensitized": p.desensitized, "legal_basis": None})
    assert value[2:10] != encode_payload(p)[2:10], "Apache's fingerprint differs from the spec's here"
    event_id = str(event.envelope.event_id)
    # Signed over the bytes Apache's library wrote: what the publisher sends is what it signs.
    msg = Outgoing(system.topics.inbox("share-request"), p.entry_id.encode(), value,
                   to_headers(signed(event.envelope, value)))
    assert verdicts(system, [msg], {event_id})[event_id].status == "accepted"
    stored = [r for r in queries.request_list(system.engine) if r["request_id"] == event.envelope.aggregate_id]
    assert stored and stored[0]["purpose"] == p.purpose, "the request projected"


def test_an_sdk_built_event_with_standard_attributes_is_accepted(system):
    """The CloudEvents SDK's Kafka binding: standard attributes, a non-UUID id, and only the
    extensions govshare needs (who acts, and the sequence acted on)."""
    entry_id = f"entry-{uuid.uuid4().hex[:8]}"
    payload = parse_line(lines(registered(entry_id))[0], now=NOW).payload
    attributes = {"id": f"hrss-{entry_id}", "source": "/departments/gd-hrss",
                  "type": "govshare.catalog.EntryRegistered", "subject": entry_id, "time": NOW,
                  "datacontenttype": "application/avro", "govsequence": "1",
                  "govactordepartment": "gd-hrss", "govactorperson": "li.ming", "govactorrole": "PROVIDER"}
    value = encode_payload(payload)
    # The signature (two more extensions) over what the SDK's message says.
    unsigned = to_binary_event(CloudEvent(attributes=attributes, data=value))
    proof = signed(from_headers(list(unsigned.headers.items())), value)
    attributes.update(govsignature=base64.b64encode(proof.signature).decode(), govkeyid=proof.signing_key)
    message = to_binary_event(CloudEvent(attributes=attributes, data=value))  # bytes data travel as they are
    headers = list(message.headers.items())
    assert not any(k.startswith("ce_gov") and k not in {
        "ce_govsequence", "ce_govactordepartment", "ce_govactorperson", "ce_govactorrole",
        "ce_govsignature", "ce_govkeyid"} for k, _ in headers)
    event_id = str(event_identity(f"hrss-{entry_id}", "/departments/gd-hrss")[0])
    out = Outgoing(system.topics.inbox("catalog-entry"), entry_id.encode(), message.value, headers)
    assert verdicts(system, [out], {event_id})[event_id].status == "accepted"
    entry = queries.entry(system.engine, entry_id)
    assert entry is not None, "the entry projected"
    assert entry["policy_id"] == "guangdong-2018", "the department's jurisdiction"


def test_a_message_to_an_unknown_inbox_is_dead_lettered_naming_the_inboxes(system):
    event = parse_line(lines(registered(f"entry-{uuid.uuid4().hex[:8]}"))[0], now=NOW)
    wrong = system.topics.inbox("request")  # a first probe's guess: the aggregate is share-request
    msg = Outgoing(wrong, b"k", encode_payload(event.payload), to_headers(event.envelope))
    event_id = str(event.envelope.event_id)
    found = verdicts(system, [msg], {event_id})[event_id]
    assert found.status == "dead-lettered"
    assert wrong in found.message and system.topics.inbox("share-request") in found.message


def test_an_event_only_govshare_emits_is_refused_with_a_rule(system):
    # `submit` refuses to send it (tests/test_bad_input.py): a forger's own producer does not ask.
    sent = parse_line(lines(request(f"req-{uuid.uuid4().hex[:8]}", "e"))[0], now=NOW).envelope
    grant = kind_of("GrantOpened")
    envelope = replace(sent, event_type=grant.event_type, schema_version=grant.version,
                       aggregate_type=grant.aggregate_type, aggregate_id=f"grant-{uuid.uuid4().hex[:8]}",
                       actor=Actor(department="gd-authority", person="wang.fang", role=Role.DATA_AUTHORITY))
    payload = payload_from_json(grant.event_type, {
        "request_id": "r", "entry_id": "e", "grantee": "gd-amr", "items": ["I.1"], "purpose": "p",
        "scenario": "s", "method": "INTERFACE", "valid_until": f"{NOW.year + 1}-12-31T00:00:00+08:00"})
    # Sent where a forger would: the inbox of the aggregate it pretends to belong to.
    msg = Outgoing(system.topics.inbox("share-request"), b"k", encode_payload(payload), to_headers(envelope))
    event_id = str(envelope.event_id)
    found = verdicts(system, [msg], {event_id})[event_id]
    assert (found.status, found.rule) == ("rejected", "event-type-not-publishable")
    assert found.article


def test_a_submitted_line_may_carry_any_id_and_leave_the_policy_to_its_department(system):
    line = registered(f"entry-{uuid.uuid4().hex[:8]}")
    del line["policy"]
    line["id"] = "hrss/2026/0001"
    [result] = system.results(line, at=NOW)
    assert (result["status"], result["id"]) == ("accepted", "hrss/2026/0001")
    assert result["event_id"] == str(event_identity("hrss/2026/0001", "/departments/gd-hrss")[0])
    [again] = system.results(line, at=NOW)
    assert again["event_id"] == result["event_id"] and again["status"] == "accepted", "a retry, answered again"
