"""Official working days (工作日): the State Council schedule with its make-up working weekends
(调休), from the chinese-calendar package, plus a jurisdiction's overrides (policies/calendar.toml).

A limit runs from the day after receipt (DOMAIN.md) and ends at the end of its last day in the
jurisdiction's time zone. A date the schedule does not cover is an explicit error or an explicit,
logged fallback (weekdays, minus the statutory holidays fixed by date), never a silent guess; a
limit that counted such a day is provisional (`provisional_between`), and the deadline engine
computes it again once the schedule is known.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import structlog

from policies.files import POLICY_DIR

log = structlog.get_logger("govshare.calendar")
CALENDAR_FILE = POLICY_DIR / "calendar.toml"


class BeyondSchedule(ValueError):
    """The official schedule for this date is not known."""


@dataclass(frozen=True)
class WorkingCalendar:
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    beyond_schedule: str = "error"  # or "weekends-only"
    # (month, day) of the statutory holidays fixed by date: the fallback keeps them.
    fixed_holidays: frozenset[tuple[int, int]] = frozenset()
    # Years whose whole schedule the overrides state (published before the package has it).
    scheduled_years: frozenset[int] = frozenset()
    _warned: set = field(default_factory=set, compare=False, repr=False)

    def is_working_day(self, day: date) -> bool:
        if day in self.holidays:
            return False
        if day in self.workdays:
            return True
        if day.year in self.scheduled_years:
            return day.weekday() < 5  # the overrides list every exception of that year
        try:
            return _official_working_day(day)
        except NotImplementedError as exc:
            if self.beyond_schedule != "weekends-only":
                raise BeyondSchedule(f"no official schedule for {day}: {exc}") from None
            if day.year not in self._warned:
                self._warned.add(day.year)
                log.warning("calendar.fallback", year=day.year, rule="weekdays minus fixed-date holidays")
            return day.weekday() < 5 and (day.month, day.day) not in self.fixed_holidays

    def is_official(self, day: date) -> bool:
        """Whether the official schedule, or an override, says what `day` is."""
        if day in self.holidays or day in self.workdays or day.year in self.scheduled_years:
            return True
        return _scheduled_year(day.year)

    def provisional_between(self, received: date, last_day: date) -> bool:
        """Whether a limit counted from after `received` to `last_day` counted a day the
        official schedule does not cover yet (so its end may move when the schedule comes)."""
        return not all(self.is_official(y) for y in _year_starts(received + timedelta(days=1), last_day))

    def add_working_days(self, received: date, days: int) -> date:
        """The last day of a limit of `days` working days counted from the day after `received`."""
        day, counted = received, 0
        while counted < days:
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
        return day

    def working_days_before(self, last_day: date, days: int) -> date:
        """The working day `days` working days before `last_day` (for warnings)."""
        day, counted = last_day, 0
        while counted < days:
            day -= timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
        return day


def _year_starts(first: date, last: date) -> list[date]:
    """One day of each year from `first` to `last` (coverage is by year)."""
    return [first] + [date(y, 1, 1) for y in range(first.year + 1, last.year + 1)]


@cache
def _scheduled_year(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
        return True
    except NotImplementedError:
        return False


@cache
def _official_working_day(day: date) -> bool:
    # chinese-calendar checks its whole table's range on every call: remember each answer.
    return chinese_calendar.is_workday(day)


def end_of_day(day: date, timezone: str) -> datetime:
    """The instant a limit ending on `day` falls due: midnight after it, local time."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=ZoneInfo(timezone))


def local_day(instant: datetime, timezone: str) -> date:
    """The day an instant falls on in the jurisdiction's time zone: limits count such days."""
    return instant.astimezone(ZoneInfo(timezone)).date()


def start_of_day(day: date, timezone: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(timezone))


@cache
def calendar_for(jurisdiction: str, path: Path = CALENDAR_FILE) -> WorkingCalendar:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    own = data.get("jurisdictions", {}).get(jurisdiction, {})
    fixed = data.get("fixed_holidays", {})
    return WorkingCalendar(
        holidays=frozenset(date.fromisoformat(str(d)) for d in own.get("holidays", [])),
        workdays=frozenset(date.fromisoformat(str(d)) for d in own.get("workdays", [])),
        beyond_schedule=data.get("beyond_schedule", "error"),
        fixed_holidays=frozenset(tuple(int(n) for n in md.split("-")) for md in fixed.get("days", [])),
        scheduled_years=frozenset(int(y) for y in own.get("scheduled_years", [])))
