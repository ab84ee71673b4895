"""Topic names. One event topic per aggregate type, keyed by aggregate id, so that one
aggregate's events stay in order; an inbox per aggregate type for what integrators publish.
Which stage reads or writes which topic is the System's to say (runtime/system.py), not the
contract's."""
from __future__ import annotations

from dataclasses import dataclass

from events import (
    catalog, checkpoint, conflict, deadline, directory, entrustment, incident, objection, opendata, operations,
    project, rejection, sharing, uncatalogued,
)

# Aggregates whose events integrators publish, and so have an inbox the validator checks.
AGGREGATE_TYPES = (catalog.AGGREGATE, objection.AGGREGATE, sharing.REQUEST, sharing.ACCESS, directory.AGGREGATE,
                   operations.AGGREGATE, incident.AGGREGATE, entrustment.AGGREGATE,
                   uncatalogued.AGGREGATE, conflict.AGGREGATE, project.AGGREGATE, opendata.AGGREGATE)
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

    def of_aggregate(self, aggregate_type: str) -> str:
        """Where an aggregate's events are: the trail's checkpoints on the trail topic, every
        other aggregate on its event topic."""
        return self.trail if aggregate_type == checkpoint.AGGREGATE else self.events(aggregate_type)

    @property
    def inbox_pattern(self) -> str:
        """Every topic named like an inbox, known or not (a librdkafka regex subscription): a
        broker that creates any topic it is sent to would otherwise keep a message to a
        misspelt inbox unread, and its publisher would never hear of it."""
        return "^" + self.inbox("").replace(".", "\\.") + ".+"
