"""What a decision on one of the smaller aggregates (an entrustment, a request outside the
catalog, a conflict of values, a system project, an open-data application) may consult beside
its own state: the acting department and its profile, the day the event was received, the
directory and the catalog, as the validator holds them for the batch. One shape, so the
validator judges all of them alike (processors/validator.py, `_judge_with`)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Callable

from processors.profiles import Department, Policy

if TYPE_CHECKING:
    from processors.rules.catalog import EntryState


@dataclass(frozen=True, slots=True)
class Consult:
    policy: Policy  # the acting department's profile, which the event is judged under
    department: Department  # the acting department
    received_on: date  # the day the event was received, in the profile's zone
    department_of: Callable[[str], Department | None]  # the directory when the event was received
    entry: Callable[[str], EntryState | None]  # a catalog entry's state
