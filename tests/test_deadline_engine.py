"""The deadline engine on a real broker and database, with time driven by an injected clock."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from events.codec import decode_message
from projections import queries
from processors.deadline_engine import Scheduler
from processors.rules.working_days import WorkingCalendar
from runtime.message import Incoming
from processors.rules.working_days import end_of_day
from tests.builders import event, new_id, registered
from tests.harness import T0

HB = dict(department="hb-civil", policy="hebei-2023")
AUTH = dict(department="hb-authority", role="DATA_AUTHORITY", policy="hebei-2023")


def obligation(entry):
    return event("ChangeObligationRaised", entry, 2, {"obligation_id": "ob", "trigger": "DUTIES_CHANGED",
                 "reference": "机构改革", "received_on": "2026-09-25"}, **AUTH)


def test_an_obligation_received_before_national_day_falls_due_by_the_official_schedule(harness):
    entry = new_id()
    harness.submit(registered(entry, **HB), obligation(entry))
    [scheduled] = harness.deadline_events()
    p = scheduled.payload
    assert p.due_at == end_of_day(date(2026, 10, 15), "Asia/Shanghai")  # 调休 Sat 10 Oct counted
    assert (p.limit_days, p.party, p.article) == (10, "hb-civil", "Hebei Measures (目录更新: 10个工作日内)")
    assert p.warn_at == end_of_day(date(2026, 10, 13), "Asia/Shanghai")


def test_an_approved_extension_moves_it_by_ten_working_days_and_only_once(harness):
    entry = new_id()
    harness.submit(registered(entry, **HB), obligation(entry),
                   event("ExtensionRequested", entry, 3, {"obligation_id": "ob", "reason": "r"}, **HB),
                   event("ExtensionGranted", entry, 4, {"obligation_id": "ob"}, **AUTH))
    outputs = harness.submit(event("ExtensionRequested", entry, 5, {"obligation_id": "ob", "reason": "r"}, **HB))
    assert decode_message(outputs[0].headers, outputs[0].value).payload.rule == "extension-limit"
    extended = harness.deadline_events()[-1].payload
    assert extended.due_at == end_of_day(date(2026, 10, 29), "Asia/Shanghai")
    assert extended.extensions_granted == 1


def test_warning_breach_rectification_and_criticism_follow_the_clock(harness):
    entry = new_id()
    harness.submit(registered(entry, **HB), obligation(entry))
    due = end_of_day(date(2026, 10, 15), "Asia/Shanghai")
    assert harness.scheduler.tick(due - timedelta(days=3)) == 0
    assert harness.scheduler.tick(due - timedelta(hours=30)) == 1  # the warning
    assert harness.scheduler.tick(due) == 3  # breach, rectification order, its deadline
    assert harness.types() == ["DeadlineScheduled", "DeadlineWarningIssued", "DeadlineBreached",
                               "RectificationOrdered", "DeadlineScheduled"]
    order = harness.deadline_events()[-1].payload
    assert order.kind == "rectification" and order.party == "hb-civil"
    assert harness.scheduler.tick(order.due_at) == 2  # its breach and the circulated criticism
    assert harness.types()[-2:] == ["DeadlineBreached", "CriticismCirculated"]
    # A Hebei department is supervised under the Hebei measures (issue #12), not GD-2008.
    assert harness.deadline_events()[-1].payload.article.startswith("Hebei Measures")


def test_fulfilment_in_time_is_met_and_nothing_fires_later(harness):
    entry = new_id()
    harness.submit(registered(entry, **HB), obligation(entry))
    from tests.builders import attributes
    harness.submit(event("RevisionSubmitted", entry, 3, {"revision_id": "r", "obligation_id": "ob",
                                                         "attributes": attributes()}, **HB),
                   at=datetime(2026, 10, 9, 3, 0, tzinfo=timezone.utc))
    assert harness.types() == ["DeadlineScheduled", "DeadlineMet"]
    assert harness.scheduler.tick(datetime(2027, 1, 1, tzinfo=timezone.utc)) == 0


def test_a_breach_fires_once_across_a_restart_around_the_due_instant(harness):
    entry = new_id()
    harness.submit(registered(entry, **HB), obligation(entry))
    due = end_of_day(date(2026, 10, 15), "Asia/Shanghai")
    harness.scheduler.tick(due - timedelta(seconds=1))
    harness.restart()
    harness.scheduler.tick(due)
    harness.restart()
    harness.scheduler.tick(due + timedelta(seconds=1))
    assert harness.types().count("DeadlineBreached") == 1
    ids = [str(e.envelope.event_id) for e in harness.deadline_events()]
    assert len(ids) == len(set(ids))


def test_a_redelivered_event_schedules_nothing_twice(harness):
    entry = new_id()
    outputs = harness.submit(registered(entry, **HB), obligation(entry))
    raised = outputs[1]
    # The same accepted event read again (a rehydrated log, a rebalance): no second deadline.
    harness.restart()
    harness.feed(harness.scheduler, [Incoming(raised.topic, 7, 0, T0, raised.key, raised.value,
                                              raised.headers)])
    assert harness.types() == ["DeadlineScheduled"]


def test_a_worker_holding_a_stale_deadline_cannot_fire_it_again(harness):
    """Two workers tick the same instant: the one whose read is stale loses, whatever the
    database's locking does."""

    from sqlalchemy import select

    from processors import store
    from processors.deadline_engine import Scheduler, StaleDeadline
    entry = new_id()
    harness.submit(registered(entry, **HB), obligation(entry))
    due = end_of_day(date(2026, 10, 15), "Asia/Shanghai")
    with harness.engine.connect() as conn:
        stale = Scheduler._load(conn.execute(select(store.deadlines.c.state)).scalar_one())
    assert harness.scheduler.tick(due) == 3  # breach, rectification order, its deadline
    other = harness.another("deadlines")
    with pytest.raises(StaleDeadline):
        with harness.engine.begin() as tx:
            other._fire(tx, stale, due)
    assert harness.types().count("DeadlineBreached") == 1


def test_an_entry_keeps_only_its_open_obligations_and_a_closed_id_stays_taken(harness):
    """Growth: an entry's state holds what a decision needs, not every obligation it ever had."""
    from sqlalchemy import select

    from processors import store
    from tests.builders import attributes

    entry = new_id()

    def raised(n: int, sequence: int):
        return event("ChangeObligationRaised", entry, sequence, {
            "obligation_id": f"ob-{n}", "trigger": "DUTIES_CHANGED", "reference": "机构改革",
            "received_on": "2026-09-25"}, **AUTH)

    def cycle(n: int, sequence: int) -> list:
        return [raised(n, sequence),
                event("RevisionSubmitted", entry, sequence + 1, {
                    "revision_id": f"r-{n}", "obligation_id": f"ob-{n}", "attributes": attributes(codes=[f"X.{n}"])},
                      department="hb-civil", policy="hebei-2023"),
                event("RevisionApproved", entry, sequence + 2, {"revision_id": f"r-{n}"}, **AUTH)]

    def state_size() -> int:
        with harness.engine.connect() as conn:
            return len(conn.scalar(select(store.aggregates.c.state).where(
                store.aggregates.c.aggregate_id == entry)))

    harness.submit(registered(entry, **HB), *cycle(0, 2))
    after_one = state_size()
    for n in range(1, 100):
        outputs = harness.submit(*cycle(n, 2 + 3 * n))
        assert all(o.topic != harness.topics.rejections for o in outputs), n
    sequence = 2 + 3 * 100
    outputs = harness.submit(*(raised(n, sequence + i) for i, n in enumerate(range(100, 200))))
    assert all(o.topic != harness.topics.rejections for o in outputs)
    assert state_size() <= after_one + 20, "a hundred fulfilled and a hundred open obligations stay beside it"
    sequence += 100
    for taken in ("ob-0", "ob-150"):  # a fulfilled id and an open one: both stay taken
        [out] = harness.submit(raised(int(taken[3:]), sequence))
        assert out.topic == harness.topics.rejections
        assert decode_message(out.headers, out.value).payload.rule == "obligation-already-raised"
    # An open one is still there to be fulfilled, and a takedown ends every open one.
    outputs = harness.submit(*cycle(150, sequence - 1)[1:],
                             event("EntryTakenDown", entry, sequence + 2, {"reason": "撤销"},
                                   department="hb-civil", policy="hebei-2023"))
    assert all(o.topic != harness.topics.rejections for o in outputs)
    with harness.engine.connect() as conn:
        assert conn.scalar(select(store.obligations.c.obligation_id).where(
            store.obligations.c.entry_id == entry, store.obligations.c.open.is_(True))) is None


def test_a_deadline_beyond_the_official_schedule_is_provisional_and_moves_when_the_schedule_comes(harness, tmp_path):
    """2027's schedule is not published: a limit counted into it is provisional (shown as
    such), and recomputed, with an event that says so, once a schedule for 2027 arrives."""
    entry = new_id()
    received = datetime(2026, 12, 24, 2, 0, tzinfo=timezone.utc)
    harness.submit(registered(entry, **HB), event("ChangeObligationRaised", entry, 2, {
        "obligation_id": "ob", "trigger": "DUTIES_CHANGED", "reference": "机构改革",
        "received_on": "2026-12-24"}, **AUTH), at=received)
    [scheduled] = harness.deadline_events()
    assert scheduled.payload.provisional
    assert scheduled.payload.due_at == end_of_day(date(2027, 1, 8), "Asia/Shanghai")  # 1 Jan skipped
    assert harness.scheduler.tick(received) == 0, "nothing moves while the calendar is the same"
    [shown] = queries.deadline_list(harness.project())
    assert shown["provisional"] is True and queries.utc(shown["due_at"]) == scheduled.payload.due_at

    # The schedule arrives (here as an override naming 4 January a holiday too), and the
    # engine restarts with it.
    published = WorkingCalendar(holidays=frozenset({date(2027, 1, 1), date(2027, 1, 4)}),
                                scheduled_years=frozenset({2027}))
    harness.restart("deadlines", lambda w: Scheduler(w.engine, w.policies, w.topics, w.publisher,
                                                     calendars=lambda jurisdiction: published, keys=w.keys))
    assert harness.scheduler.tick(received) == 1
    moved = harness.deadline_events()[-1]
    assert moved.envelope.event_type == "DeadlineRescheduled" and not moved.payload.provisional
    assert moved.payload.previous_due_at == scheduled.payload.due_at
    assert moved.payload.due_at == end_of_day(date(2027, 1, 11), "Asia/Shanghai")
    harness.restart()
    assert harness.scheduler.tick(received) == 0, "no longer provisional: computed once"
    [shown] = queries.deadline_list(harness.project())
    assert shown["provisional"] is False and queries.utc(shown["due_at"]) == moved.payload.due_at

def _misuse(harness, *, user, provider, policy, at):
    """An entry, its automatic grant to `user`, and one access for another purpose."""
    entry, req, acc = new_id(), new_id("req"), new_id("acc")
    harness.submit(registered(entry, codes=["U.1"], department=provider, policy=policy), at=at)
    harness.submit(event("RequestSubmitted", req, 1, {
        "entry_id": entry, "items": ["U.1"], "purpose": "审批", "scenario": "一网通办", "business_process": "b",
        "method": "INTERFACE", "period_end": "2026-12-31"}, department=user, role="USER", policy=policy), at=at)
    from processors.grant_keeper import grant_id
    harness.submit(event("DataAccessed", acc, 1, {
        "grant_id": grant_id(req), "entry_id": entry, "items": ["U.1"], "purpose": "营销", "recipient": user,
        "person": "sys", "method": "INTERFACE", "scenario": "一网通办"}, department=user, role="USER",
        policy=policy), at=at)
    return acc


def test_misuse_is_itself_the_order_to_correct_and_its_lapse_is_criticised_under_the_users_measures(harness):
    """GD-2008 Art. 40: misuse is ordered corrected within a limit (责令其限期改正) and criticised
    when the limit lapses (逾期不改正的…通报批评); a Ningbo department is ordered under Ningbo
    Art. 20 and 34, not Guangdong's. No limit runs before the order."""
    at = datetime(2026, 11, 2, 2, 0, tzinfo=timezone.utc)
    acc = _misuse(harness, user="nb-market", provider="nb-civil", policy="ningbo-haishu-2021", at=at)
    # When the misuse is flagged, then the order is issued at once, with its limit
    assert harness.types() == ["DeadlineScheduled", "RectificationOrdered"]
    [scheduled, ordered] = harness.deadline_events()
    p, order = scheduled.payload, ordered.payload
    assert (p.kind, p.party, p.subject_id, p.limit_days) == ("rectification", "nb-market", acc, 5)
    assert (order.party, order.due_at, order.rectification_deadline_id) == ("nb-market", p.due_at,
                                                                             scheduled.envelope.aggregate_id)
    assert order.article.startswith("Ningbo Art. 20, 34") and p.article == order.article
    # and the supervision list shows the violation, then the order with its limit
    listed = {a["action"]: a for a in queries.supervision(harness.project(), party="nb-market")}
    assert listed.keys() == {"usage-violation", "rectification-ordered"} and listed["usage-violation"]["deadline_id"] == acc
    assert queries.utc(listed["rectification-ordered"]["due_at"]) == p.due_at
    # When its limit lapses uncorrected, then criticism is circulated, and nothing else is ordered
    harness.scheduler.tick(p.due_at)
    assert harness.types()[2:] == ["DeadlineBreached", "CriticismCirculated"]
    criticism = harness.deadline_events()[-1].payload
    assert criticism.party == "nb-market" and criticism.article.startswith("Ningbo Art. 34")


def test_misuse_corrected_in_time_meets_its_deadline_and_only_the_user_corrects_it(harness):
    at = datetime(2026, 11, 2, 2, 0, tzinfo=timezone.utc)
    acc = _misuse(harness, user="gd-amr", provider="gd-hrss", policy="guangdong-2018", at=at)
    [scheduled, ordered] = harness.deadline_events()
    assert scheduled.payload.article.startswith("GD-2018 Art. 29") and ordered.payload.party == "gd-amr"
    measures = {"measures": "停止营销用途，删除副本"}
    outputs = harness.submit(event("UsageCorrected", acc, 2, measures, department="gd-health", role="USER",
                                   policy="guangdong-2018"),
                             event("UsageCorrected", acc, 2, measures, department="gd-amr", role="USER",
                                   policy="guangdong-2018"), at=at + timedelta(days=1))
    rules = [getattr(decode_message(o.headers, o.value).payload, "rule", "accepted") for o in outputs]
    assert rules == ["actor-not-permitted", "accepted"]
    assert harness.types()[-1] == "DeadlineMet"
    assert harness.scheduler.tick(scheduled.payload.due_at + timedelta(days=30)) == 0
