"""The integrator's contract, generated from the code's own registry: an AsyncAPI 3 document
(channels = topics, messages = event types with their Avro schemas, the CloudEvents headers,
which role may send each) and each payload schema self-contained.

`govshare contract` writes them to contract/; a test keeps the committed files current, so the
contract cannot drift from what the validator accepts. Nothing here is hand-kept beside the
code: topic names come from events/topics.py, headers from events/codec.py, senders and
aggregate types from the registry, schemas from schemas/.
"""
from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from events import codec, deadletter, schemas
from events.registry import EventKind, all_kinds, ce_types
from events.topics import AGGREGATE_TYPES, INTERNAL_AGGREGATE_TYPES, Topics

CONTRACT_DIR = Path(__file__).resolve().parent.parent / "contract"
ASYNCAPI_FILE = "asyncapi.json"
AVRO_FORMAT = "application/vnd.apache.avro+json;version=1.9.0"
KAFKA_BINDING = "0.5.0"

# What each header means; which are required and their defaults are codec's (one place).
HEADER_MEANINGS = {
    "ce_specversion": "CloudEvents spec version.",
    "ce_id": "Event id: any string (CloudEvents); a UUID is kept as the event id, any other string "
             "maps to uuid5(" + str(codec.EVENT_ID_NAMESPACE) + ", '<ce_source> <ce_id>'). A retry reuses it.",
    "ce_type": "The payload schema's full name, e.g. govshare.catalog.EntryRegistered "
               "(the first releases' govshare.<EventType> is still read).",
    "ce_source": "URI of the publishing system, e.g. /departments/gd-hrss.",
    "ce_subject": "Aggregate id (catalog entry, request, objection or access id); also the Kafka key.",
    "ce_time": "When it happened in the domain (RFC 3339).",
    "ce_dataschema": "urn:govshare:schema:<schema full name>:v<version>: names contract/schemas/<schema full name>.avsc.",
    "content-type": "application/avro: the value is Avro single-object encoding (C3 01, CRC-64-AVRO "
                    "fingerprint little-endian, body).",
    "ce_govschemaversion": "Version of the payload schema.",
    "ce_govaggregatetype": "Kind of aggregate: " + ", ".join(AGGREGATE_TYPES + INTERNAL_AGGREGATE_TYPES) + ".",
    "ce_govsequence": "Position of the event in its aggregate's history, from 1: the history the "
                      "publisher acted on (optimistic concurrency).",
    "ce_govactordepartment": "The acting department's id (policies/departments.toml).",
    "ce_govactorperson": "The acting person; never blank.",
    "ce_govactorrole": "The role the department acts in, one it holds in the directory: PROVIDER, USER, "
                       "DATA_AUTHORITY or PLATFORM_ADMIN.",
    "ce_govpolicy": "Policy profile (jurisdiction) whose rules apply, e.g. guangdong-2018.",
    "ce_correlationid": "UUID shared by every event of one business process.",
    "ce_causationid": "UUID of the event that caused this one.",
    "ce_govrecordedat": "When govshare accepted it (RFC 3339).",
    "ce_govprovider": ("The department responsible for the subject, established on acceptance; on an "
                       "EventRejected, the department whose registered key signed the refused event."),
    "ce_govroute": "A share request's path, established on acceptance: auto, conditional or desensitized.",
    "ce_govsignature": "Base64 of the acting department's Ed25519 signature over the submission's signing "
                       "base (docs/security-and-identity.md 'Signed submissions'): the JSON array [\"govshare.submission.v1\", ce_type, "
                       "ce_source, ce_id, ce_subject, ce_govsequence, ce_time, department, person, role, "
                       "hex SHA-256 of the value].",
    "ce_govkeyid": "The id of the department key that signed: the first 16 bytes of the SHA-256 of its raw "
                   "public key, hex.",
}
_EMITTED_ONLY = ("ce_govrecordedat", "ce_govprovider", "ce_govroute")


def package_version() -> str:
    try:
        return version("govshare")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


def schema_file(kind: EventKind) -> str:
    return f"schemas/{kind.schema_name}.avsc"


def bundles() -> dict[str, str]:
    """Each payload schema with every named type it uses inlined: it parses alone, in any
    Avro library, with no loading order."""
    return {schema_file(k): json.dumps(self_contained(k), ensure_ascii=False, indent=1) + "\n"
            for k in all_kinds()}


def self_contained(kind: EventKind) -> Any:
    return _with_namespaces(json.loads(schemas.resolved(kind.schema_name)))


def _with_namespaces(schema: Any) -> Any:
    """Full names split into name and namespace, the form the Avro spec writes and AsyncAPI's
    Avro schema accepts; the same schema, the same fingerprints."""
    if isinstance(schema, list):
        return [_with_namespaces(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _with_namespaces(v) for k, v in schema.items() if k != "fields"}
    if "fields" in schema:
        out["fields"] = [{k: _with_namespaces(v) if k == "type" else v for k, v in f.items()}
                         for f in schema["fields"]]
    if schema.get("type") in ("record", "enum", "fixed") and "." in schema.get("name", ""):
        out["namespace"], out["name"] = schema["name"].rsplit(".", 1)
    return out


def asyncapi(topics: Topics = Topics()) -> dict[str, Any]:
    kinds = all_kinds()
    channels, operations, messages = {}, {}, {}
    for kind in kinds:
        messages[kind.event_type] = _message(kind)
    for aggregate in AGGREGATE_TYPES:
        sent = [k for k in kinds if k.aggregate_type == aggregate and k.senders]
        _channel(channels, operations, topics, f"inbox.{aggregate}", topics.inbox(aggregate), "send", sent,
                 f"What departments publish about {aggregate} aggregates, to be checked against the rules.")
    for aggregate in AGGREGATE_TYPES + INTERNAL_AGGREGATE_TYPES:
        accepted = [k for k in kinds if k.aggregate_type == aggregate]
        _channel(channels, operations, topics, f"events.{aggregate}", topics.events(aggregate), "receive", accepted,
                 f"Accepted {aggregate} events: the system of record, keyed by aggregate id.")
    rejected = [k for k in kinds if k.aggregate_type == "rejection"]
    _channel(channels, operations, topics, "events.rejection", topics.rejections, "receive", rejected,
             "Refusals: each names the refused event, the rule and its article.")
    checkpoints = [k for k in kinds if k.aggregate_type == "trail"]
    _channel(channels, operations, topics, "trail", topics.trail, "receive", checkpoints,
             "The notary's signed checkpoints of the audit trail, in order (one partition).")
    messages["DeadLetter"] = _dead_letter_message()
    channels["deadletter"] = {
        "address": _address(topics.dead_letters, topics),
        "description": "Messages that could not be decoded, or were sent to a topic that is no inbox: "
                       "the original bytes and headers, with why.",
        "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
        **_parameters(topics)}
    operations["receive.deadletter"] = {"action": "receive", "channel": {"$ref": "#/channels/deadletter"},
                                        "messages": [{"$ref": "#/channels/deadletter/messages/DeadLetter"}]}
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "govshare",
            "version": package_version(),
            "description": "Government data sharing as events. Publish a department's events to its "
                           "inbox in CloudEvents binary mode over Kafka; read verdicts on the events, "
                           "rejection and dead-letter channels. Generated by `govshare contract`; do "
                           "not edit.",
        },
        "defaultContentType": codec.CONTENT_TYPE,
        "servers": {"embedded": {"host": "127.0.0.1:9092", "protocol": "kafka",
                                 "description": "`govshare up` on its embedded broker prints its "
                                                "address; a deployment names its own cluster."}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages,
                       "schemas": {"InboxHeaders": _headers(inbox=True),
                                   "EmittedHeaders": _headers(inbox=False)}},
    }


def _address(topic: str, topics: Topics) -> str:
    return "{prefix}" + topic[len(topics.prefix):]


def _parameters(topics: Topics) -> dict[str, Any]:
    return {"parameters": {"prefix": {"default": topics.prefix,
                                      "description": "GOVSHARE_TOPIC_PREFIX of the deployment."}}}


def _channel(channels: dict, operations: dict, topics: Topics, name: str, topic: str, action: str,
             kinds: list[EventKind], description: str) -> None:
    channels[name] = {
        "address": _address(topic, topics),
        "description": description,
        "messages": {k.event_type: {"$ref": f"#/components/messages/{k.event_type}"} for k in kinds},
        **_parameters(topics),
    }
    operations[f"{action}.{name}"] = {
        "action": action, "channel": {"$ref": f"#/channels/{name}"},
        "messages": [{"$ref": f"#/channels/{name}/messages/{k.event_type}"} for k in kinds]}


def _message(kind: EventKind) -> dict[str, Any]:
    current, legacy = ce_types(kind)
    doc = (kind.cls.__doc__ or "").strip()
    message = {
        "name": kind.event_type,
        "title": kind.event_type,
        "summary": " ".join(doc.split()) or kind.event_type,
        "contentType": codec.CONTENT_TYPE,
        "headers": {"$ref": "#/components/schemas/InboxHeaders" if kind.senders
                    else "#/components/schemas/EmittedHeaders"},
        "payload": {"schemaFormat": AVRO_FORMAT, "schema": self_contained(kind)},
        "bindings": {"kafka": {"key": {"type": "string", "description": "The aggregate id (ce_subject)."},
                               "bindingVersion": KAFKA_BINDING}},
        "x-govshare": {
            "ce_type": current, "legacy_ce_type": legacy, "aggregate_type": kind.aggregate_type,
            "version": kind.version, "dataschema": codec.dataschema(kind), "schema_file": schema_file(kind),
            "senders": [r.value for r in kind.senders],
            "fingerprints": _fingerprints(kind),
        },
    }
    return message


def _fingerprints(kind: EventKind) -> list[str]:
    """Every writer fingerprint accepted for this event's schemas, as 16 hex digits of the
    little-endian bytes on the wire: the spec's and the Apache Python / goavro form."""
    return sorted(fp.to_bytes(8, "little").hex() for fp, w in schemas.writer_schemas().items()
                  if w.name == kind.schema_name)


def _headers(*, inbox: bool) -> dict[str, Any]:
    names = [h for h in HEADER_MEANINGS if not (inbox and h in _EMITTED_ONLY)]
    properties = {}
    for name in names:
        prop: dict[str, Any] = {"type": "string", "description": HEADER_MEANINGS[name]}
        if inbox and name in codec.OPTIONAL_HEADERS:
            prop["description"] += f" Optional; default: {codec.OPTIONAL_HEADERS[name]}."
        if inbox and name == "ce_govactorrole":
            prop["enum"] = sorted({r.value for k in all_kinds() for r in k.senders})
        properties[name] = prop
    required = list(codec.REQUIRED_HEADERS) if inbox else [h for h in names if h not in (
        "ce_causationid", "ce_govpolicy", "ce_govsignature", "ce_govkeyid", *_EMITTED_ONLY)]
    return {"type": "object", "required": required, "properties": properties}


def _dead_letter_message() -> dict[str, Any]:
    return {
        "name": "DeadLetter", "title": "DeadLetter",
        "summary": "The original message, unchanged, with why it could not be decoded.",
        "contentType": "application/octet-stream",
        "headers": {"type": "object", "required": [deadletter.REASON, deadletter.SOURCE, deadletter.ID],
                    "properties": {
                        deadletter.REASON: {"type": "string", "description": "Why it could not be decoded."},
                        deadletter.SOURCE: {"type": "string", "description": "topic/partition/offset of the original."},
                        deadletter.ID: {"type": "string", "description": "Its id, the same on a re-send."}}},
        "payload": {"description": "The original bytes."},
    }


def render() -> dict[str, str]:
    """Every file of the contract, by path under contract/."""
    return {ASYNCAPI_FILE: json.dumps(asyncapi(), ensure_ascii=False, indent=1) + "\n", **bundles()}


def write(directory: Path = CONTRACT_DIR) -> list[Path]:
    """Write the contract; returns the files that changed."""
    changed = []
    for name, text in render().items():
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed
