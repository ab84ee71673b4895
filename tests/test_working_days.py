"""Official working days: 调休 weekends count, holidays do not, unknown years are explicit."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from processors.rules.working_days import BeyondSchedule, WorkingCalendar, calendar_for, end_of_day


def test_ten_working_days_from_the_friday_before_national_day_2026():
    # Received Fri 25 Sep 2026 (Mid-autumn). Counted from the next day: 28-30 Sep, 8-9 Oct,
    # Sat 10 Oct (a make-up working day), 12-15 Oct.
    assert WorkingCalendar().add_working_days(date(2026, 9, 25), 10) == date(2026, 10, 15)


def test_a_make_up_saturday_is_a_working_day_and_a_holiday_weekday_is_not():
    cal = WorkingCalendar()
    assert cal.is_working_day(date(2026, 10, 10))  # Saturday, 调休
    assert not cal.is_working_day(date(2026, 10, 5))  # Monday, National Day


def test_the_limit_ends_at_midnight_after_its_last_day_in_the_jurisdictions_zone():
    due = end_of_day(date(2026, 10, 15), "Asia/Shanghai")
    assert due.astimezone(timezone.utc) == datetime(2026, 10, 15, 16, 0, tzinfo=timezone.utc)


def test_a_year_beyond_the_schedule_is_an_explicit_error_or_an_explicit_fallback():
    with pytest.raises(BeyondSchedule):
        WorkingCalendar(beyond_schedule="error").is_working_day(date(2031, 1, 6))
    fallback = WorkingCalendar(beyond_schedule="weekends-only")
    assert fallback.add_working_days(date(2031, 1, 3), 1) == date(2031, 1, 6)  # Fri -> Mon


def test_a_jurisdictions_overrides_win():
    cal = WorkingCalendar(holidays=frozenset({date(2026, 10, 12)}),
                          workdays=frozenset({date(2026, 10, 11)}))
    assert cal.is_working_day(date(2026, 10, 11)) and not cal.is_working_day(date(2026, 10, 12))
    assert cal.working_days_before(date(2026, 10, 15), 2) == date(2026, 10, 13)


def test_the_fallback_keeps_the_fixed_date_holidays_and_marks_what_it_counted_provisional():
    """For a year the State Council has not published, 1 January is still no working day
    (全国年节及纪念日放假办法 Art. 2), and a limit that counted such days is provisional."""
    cal = calendar_for("hebei")
    assert {(1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3)} <= cal.fixed_holidays
    assert not cal.is_working_day(date(2027, 1, 1)) and cal.is_working_day(date(2027, 1, 4))
    # Received Thu 24 Dec 2026: 25, 28-31 Dec, then 4-8 Jan 2027 (1 Jan a holiday).
    assert cal.add_working_days(date(2026, 12, 24), 10) == date(2027, 1, 8)
    assert cal.provisional_between(date(2026, 12, 24), date(2027, 1, 8))
    assert not cal.provisional_between(date(2026, 9, 25), date(2026, 10, 15))


def test_a_years_schedule_given_as_an_override_makes_it_official():
    cal = WorkingCalendar(beyond_schedule="weekends-only", holidays=frozenset({date(2027, 1, 1)}),
                          scheduled_years=frozenset({2027}))
    assert not cal.provisional_between(date(2026, 12, 24), date(2027, 1, 8))
    assert cal.is_working_day(date(2027, 1, 4)) and not cal.is_working_day(date(2027, 1, 2))
