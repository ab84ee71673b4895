"""Topic names. One event topic per aggregate type, keyed by aggregate id, so that one
aggregate's events stay in order; an inbox per aggregate type for what integrators publish."""
from __future__ import annotations

from dataclasses import dataclass

from events import catalog, deadline, directory, objection, rejection, sharing

# Aggregates whose events integrators publish, and so have an inbox the validator checks.
AGGREGATE_TYPES = (catalog.AGGREGATE, objection.AGGREGATE, sharing.REQUEST, sharing.ACCESS, directory.AGGREGATE)
# Aggregates only govshare's processors write.
INTERNAL_AGGREGATE_TYPES = (deadline.AGGREGATE, sharing.GRANT, sharing.SUPERVISION)


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str = "govshare"

    def inbox(self, aggregate_type: str) -> str:
        """What integrating systems publish, not yet checked against the rules."""
        return f"{self.prefix}.inbox.{aggregate_type}"

    def events(self, aggregate_type: str) -> str:
        """Accepted events: the system of record for the aggregate type."""
        return f"{self.prefix}.events.{aggregate_type}"

    @property
    def rejections(self) -> str:
        return f"{self.prefix}.events.{rejection.AGGREGATE}"

    @property
    def dead_letters(self) -> str:
        """Bytes that could not be decoded, with the reason; the DataHub-style 'failed' twin."""
        return f"{self.prefix}.deadletter"

    @property
    def trail(self) -> str:
        """The notary's signed checkpoints; one partition, because the trail has one order."""
        return f"{self.prefix}.trail"

    def inboxes(self) -> list[str]:
        return [self.inbox(a) for a in AGGREGATE_TYPES]

    @property
    def inbox_pattern(self) -> str:
        """Every topic named like an inbox, known or not (a librdkafka regex subscription): a
        broker that creates any topic it is sent to would otherwise keep a message to a
        misspelt inbox unread, and its publisher would never hear of it."""
        return "^" + self.inbox("").replace(".", "\\.") + ".+"

    def subscription(self, stage: str) -> list[str]:
        """What a stage subscribes to: its topics; the validator every inbox-like name, so that
        it answers a message to an unknown inbox with a dead letter naming the known ones."""
        return [self.inbox_pattern] if stage == "validator" else self.consumed_by(stage)

    def outputs(self) -> list[str]:
        """Every topic the validator and processors write: what the trail covers."""
        return [self.events(a) for a in AGGREGATE_TYPES + INTERNAL_AGGREGATE_TYPES] + [
            self.rejections, self.dead_letters]

    def all(self) -> list[str]:
        return self.inboxes() + self.outputs() + [self.trail]

    def consumed_by(self, stage: str) -> list[str]:
        """The topics each stage reads: the topic map of the pipeline."""
        if stage == "validator":
            return self.inboxes()
        if stage == "deadlines":
            # Usage violations too: each opens a supervision deadline for the using department.
            return [self.events(a) for a in (catalog.AGGREGATE, objection.AGGREGATE, sharing.REQUEST,
                                             sharing.ACCESS, sharing.SUPERVISION)]
        if stage == "grants":
            # The catalog too: a takedown or revision changes what a grant still covers.
            return [self.events(a) for a in (catalog.AGGREGATE, sharing.REQUEST, sharing.ACCESS)]
        if stage == "notary":
            return self.outputs()
        if stage == "projector":
            return self.outputs() + [self.trail]
        raise ValueError(f"no stage {stage!r}")
