"""Publishing JSON lines as an integrating system would, and collecting each line's verdict."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from events.codec import Event
from events.errors import EventError, PublishError
from events.publisher import Outgoing, Publisher
from events.signing import Keystore
from events.submission import parse_line, to_inbox
from events.topics import Topics
from infra.verdicts import Outcome, VerdictWatch

Lines = Iterable[str | bytes]
Parsed = list[tuple[int, Event, Outgoing]]  # line number, event, the message it becomes


def submit_lines(lines: Lines, kafka: dict[str, str], topics: Topics,
                 timeout: float = 30.0, keys: Keystore | None = None) -> list[dict[str, Any]]:
    """One result per non-blank line, whatever the line holds: invalid (never published),
    accepted, rejected, dead-lettered, or no-verdict if none came within the timeout. Lines
    given as bytes are decoded one by one, so a line that is not UTF-8 is invalid alone.
    `keys`: what signs a line without a signature (default: GOVSHARE_SIGNING_KEYS's)."""
    invalid, events = read_lines(lines, topics, now=datetime.now(timezone.utc), keys=keys)
    return submitted(invalid, events, lambda: _publish_and_wait(events, kafka, topics, timeout))


def read_lines(lines: Lines, topics: Topics, *, now: datetime,
               keys: Keystore | None = None) -> tuple[list[dict[str, Any]], Parsed]:
    """Each non-blank line read: the answers of those that are invalid, and the others' events
    with the messages they become (encoded once, checked here)."""
    invalid: list[dict[str, Any]] = []
    events: Parsed = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = parse_line(line, now=now, keys=keys)
            events.append((number, event, to_inbox(event, topics)))
        except EventError as exc:
            invalid.append(_invalid(number, str(exc)))
        except Exception as exc:
            # A fault of ours, not the publisher's: named by its type so that it is reported
            # and mended, but it must not cost the other lines their answer.
            invalid.append(_invalid(number, f"the line could not be read ({type(exc).__name__}: {exc})"))
    return invalid, events


def submitted(invalid: list[dict[str, Any]], events: Parsed,
              publish: Callable[[], tuple[dict[str, Outcome], dict[int, str], str]]) -> list[dict[str, Any]]:
    """Every line's answer, in line order: the invalid ones', and what `publish` found became of
    the others (their outcomes by event id, those the broker refused by index, and why any may
    not have been published)."""
    results = list(invalid)
    if events:
        found, refused, unsent = publish()
        results.extend(_answers(events, found, refused, unsent))
    return sorted(results, key=lambda r: r["line"])


def _invalid(number: int, error: str) -> dict[str, Any]:
    return {"line": number, "status": "invalid", "error": error}


def _publish_and_wait(events: Parsed, kafka, topics: Topics, timeout: float):
    watch = VerdictWatch(kafka, topics)
    refused: dict[int, str] = {}  # index in `events` -> why the broker will never take it
    unsent = ""
    try:
        try:
            Publisher(kafka).publish(message for _, _, message in events)
        except PublishError as exc:
            # What the broker refused for good is that line's fault; the rest may have landed
            # and are waited for (those that did not come out as no-verdict, with why).
            refused, unsent = exc.permanent, str(exc)
        wanted = {str(e.envelope.event_id) for i, (_, e, _) in enumerate(events) if i not in refused}
        return watch.wait(wanted, timeout), refused, unsent
    finally:
        watch.close()


def _answers(events: Parsed, outcomes: dict[str, Outcome], refused: dict[int, str],
             unsent: str) -> list[dict[str, Any]]:
    results = []
    for i, (number, e, _) in enumerate(events):
        if i in refused:
            results.append(_invalid(number, f"the broker refused the event: {refused[i]}"))
            continue
        env = e.envelope
        found = outcomes.get(str(env.event_id))
        result = {"line": number, "event_id": str(env.event_id), "type": env.event_type,
                  "aggregate_id": env.aggregate_id, "sequence": env.sequence,
                  "status": found.status if found else "no-verdict"}
        if env.cloudevent_id is not None:
            result["id"] = env.cloudevent_id  # the publisher's own id, as given
        if found and found.status != "accepted":
            result.update(rule=found.rule, article=found.article, error=found.message)
        elif not found and unsent:
            result.update(error=f"perhaps not published: {unsent}")
        results.append(result)
    return results
