"""Publishing JSON lines as an integrating system would, and collecting each line's verdict:
once per run (`submit_lines`, `govshare submit`: a producer and a watch of its own), or for as
long as a process serves (`Submitter`, the HTTP API: one producer and one watch for every
request)."""
from __future__ import annotations

import threading
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from events.codec import Event
from events.errors import EventError, PublishError
from events.publisher import Outgoing, Publisher
from events.signing import Keystore
from events.submission import parse_line, to_inbox
from events.topics import Topics
from infra.verdicts import Outcome, VerdictStream, VerdictWatch

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
    try:
        refused, unsent = _published(Publisher(kafka), events)
        return watch.wait(_wanted(events, refused), timeout), refused, unsent
    finally:
        watch.close()


def _published(publisher: Publisher, events: Parsed) -> tuple[dict[int, str], str]:
    """Publishes the events' messages: those the broker refused for good (index in `events` ->
    why), and why any may not have been published ("" if all were)."""
    try:
        publisher.publish(message for _, _, message in events)
    except PublishError as exc:
        # What the broker refused for good is that line's fault; the rest may have landed
        # and are waited for (those that did not come out as no-verdict, with why).
        return exc.permanent, str(exc)
    return {}, ""


def _wanted(events: Parsed, refused: dict[int, str]) -> set[str]:
    return {str(e.envelope.event_id) for i, (_, e, _) in enumerate(events) if i not in refused}


class Submitter:
    """One producer and one verdict stream (infra/verdicts.VerdictStream) for a process that
    submits for as long as it runs: the HTTP API makes one when it starts and closes it when it
    stops, rather than a producer and a watch of some thirty partitions per request.

    Lines are read and answered as `submit_lines` reads and answers them (read_lines, submitted).
    Each submission registers its events' ids with the stream before it publishes them. The
    publishing itself is one at a time: Publisher.publish returns once the producer holds
    nothing unacknowledged, so two requests publishing at once would each wait for (and be
    blamed for) the other's messages."""

    def __init__(self, kafka: dict[str, str], topics: Topics):
        self.topics = topics
        self.verdicts = VerdictStream(kafka, topics)
        try:
            self.publisher = Publisher(kafka)
        except BaseException:
            self.verdicts.close()
            raise
        self._publishing = threading.Lock()

    def submit(self, lines: Lines, timeout: float, keys: Keystore | None = None) -> list[dict[str, Any]]:
        """One result per non-blank line, as `submit_lines` gives them."""
        invalid, events = read_lines(lines, self.topics, now=datetime.now(timezone.utc), keys=keys)
        return submitted(invalid, events, lambda: self._publish_and_wait(events, timeout))

    def _publish_and_wait(self, events: Parsed, timeout: float):
        expected = self.verdicts.expect(str(e.envelope.event_id) for _, e, _ in events)
        try:
            with self._publishing:
                refused, unsent = _published(self.publisher, events)
        except BaseException:
            self.verdicts.forget(expected)
            raise
        return self.verdicts.wait(expected, _wanted(events, refused), timeout), refused, unsent

    def close(self) -> None:
        try:
            self.publisher.close()
        finally:
            self.verdicts.close()


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
