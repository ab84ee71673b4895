"""Publishing JSON lines as an integrating system would, and collecting each line's verdict."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable

from events.errors import EventError
from events.publisher import Publisher
from events.submission import parse_line, to_inbox
from events.topics import Topics
from infra.verdicts import VerdictWatch


def submit_lines(lines: Iterable[str], kafka: dict[str, str], topics: Topics,
                 timeout: float = 30.0) -> list[dict[str, Any]]:
    """One result per non-blank line: invalid (never published), accepted, rejected,
    dead-lettered, or no-verdict if none came within the timeout."""
    now = datetime.now(timezone.utc)
    results: list[dict[str, Any]] = []
    events = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            events.append((number, parse_line(line, now=now)))
        except EventError as exc:
            results.append({"line": number, "status": "invalid", "error": str(exc)})
    if events:
        results.extend(_publish_and_wait(events, kafka, topics, timeout))
    return sorted(results, key=lambda r: r["line"])


def _publish_and_wait(events, kafka, topics: Topics, timeout: float) -> list[dict[str, Any]]:
    watch = VerdictWatch(kafka, topics)
    try:
        publisher = Publisher(kafka)
        publisher.publish(to_inbox(e, topics) for _, e in events)
        outcomes = watch.wait({str(e.envelope.event_id) for _, e in events}, timeout)
    finally:
        watch.close()
    results = []
    for number, e in events:
        env = e.envelope
        found = outcomes.get(str(env.event_id))
        result = {"line": number, "event_id": str(env.event_id), "type": env.event_type,
                  "aggregate_id": env.aggregate_id, "sequence": env.sequence,
                  "status": found.status if found else "no-verdict"}
        if found and found.status != "accepted":
            result.update(rule=found.rule, article=found.article, error=found.message)
        results.append(result)
    return results
