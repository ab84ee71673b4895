"""Department scorecards (issue #13): the score computed from the policy data, the counts
through the running service as an injected clock moves, and a rebuild that gives them again."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from infra.database import make_engine
from infra.submit import submit_lines
from policies.files import POLICY_DIR
from policies.scorecard import FormulaError, formula, jurisdiction_of
from projections import queries
from projections.scorecards import check_period, counted, scorecard_trend, scorecards
from tests.builders import attributes, event, lines, new_id, registered
from tests.conftest import EPOCH, start_service, wait_for

COMMON = formula("common")
W = {a.name: a.weight for a in COMMON.areas}
POINTS = {p.name: p.points for p in COMMON.penalties}


# -- the score, from the policy data ---------------------------------------------------------

@pytest.mark.parametrize("profile", sorted({p.stem for p in POLICY_DIR.glob("*.toml")}
                                           - {"departments", "calendar"}))
def test_every_weight_and_penalty_cites_an_article_and_says_its_number_is_a_deployment_choice(profile):
    scored = formula(profile)
    for item in (*scored.areas, *scored.penalties):
        assert "Art." in item.article and "deployment choice" in item.article, item


def test_all_met_in_time_scores_full_and_nothing_due_scores_nothing():
    assert COMMON.score({"catalog_due": 3, "catalog_in_time": 3, "requests_due": 1, "requests_in_time": 1}) == 100
    assert COMMON.score({}) is None
    # A violation with nothing due: no score, rather than a perfect or a negative one.
    assert COMMON.score({"usage_violations": 2}) is None


def test_areas_are_weighed_by_the_policy_over_the_areas_with_anything_due():
    counts = {"catalog_due": 2, "catalog_in_time": 1, "requests_due": 1, "requests_in_time": 0}
    expected = 100 * (W["catalog"] * 0.5 + W["requests"] * 0) / (W["catalog"] + W["requests"])
    assert COMMON.score(counts) == round(expected, 1)


def test_each_sanction_takes_its_points_and_the_score_stays_within_0_and_100():
    base = {"objections_due": 1, "objections_in_time": 1}
    assert COMMON.score({**base, "rectifications": 1, "criticisms": 1}) == \
        100 - POINTS["rectifications"] - POINTS["criticisms"]
    assert COMMON.score({**base, "usage_violations": 1000}) == 0


def test_a_profile_overrides_one_weight_and_keeps_the_rest(tmp_path):
    common = (POLICY_DIR / "common.toml").read_text(encoding="utf-8")
    (tmp_path / "common.toml").write_text(common, encoding="utf-8")
    (tmp_path / "strict.toml").write_text(
        'id = "strict"\nextends = "common"\ntitle = "t"\n[scorecard]\nid = "strict-1"\n'
        '[scorecard.areas.catalog]\nweight = 0\n', encoding="utf-8")
    strict = formula("strict", tmp_path)
    assert strict.id == "strict-1"
    catalog = next(a for a in strict.areas if a.name == "catalog")
    assert catalog.weight == 0 and catalog.article == next(a for a in COMMON.areas if a.name == "catalog").article
    # With catalog weighed 0, a missed catalog limit no longer counts; the requests one does.
    assert strict.score({"catalog_due": 1, "catalog_in_time": 0, "requests_due": 1, "requests_in_time": 1}) == 100


def test_a_profile_without_a_scorecard_block_is_refused_in_one_line(tmp_path):
    (tmp_path / "bare.toml").write_text('id = "bare"\ntitle = "t"\n', encoding="utf-8")
    with pytest.raises(FormulaError, match="no \\[scorecard\\] block"):
        formula("bare", tmp_path)


def test_settled_deadlines_count_in_the_area_of_their_kind_and_every_breach_counts():
    tally = [("met", "catalog-update", 2), ("breached", "catalog-update", 1), ("met", "provider-answer", 1),
             ("breached", "rectification", 1), ("criticism", None, 1), ("usage-violation", None, 3)]
    assert counted(tally, COMMON) == {"catalog_due": 3, "catalog_in_time": 2, "requests_due": 1,
                                      "requests_in_time": 1, "breaches": 2, "criticisms": 1,
                                      "usage_violations": 3}


def test_a_department_is_scored_under_its_jurisdiction_and_an_unlisted_party_under_the_baseline():
    assert jurisdiction_of("nb-market").policy_id == "ningbo-haishu-2021"
    assert formula(jurisdiction_of("nb-market").policy_id).id != COMMON.id  # Ningbo cites its own articles
    assert jurisdiction_of("data-authority").policy_id == "common"


@pytest.mark.parametrize("period, since, error", [
    ("week", None, "no period 'week'"), ("month", "2026-13", "no month label"),
    ("quarter", "2026-11", "write it like 2026-Q4"), ("year", "26", "no year label")])
def test_a_period_or_label_that_does_not_exist_is_refused(period, since, error):
    with pytest.raises(ValueError, match=error):
        check_period(period, since)


# -- through the running service -------------------------------------------------------------

HB = dict(department="hb-civil", policy="hebei-2023")
AUTH = dict(department="hb-authority", role="DATA_AUTHORITY", policy="hebei-2023")
ZONE = ZoneInfo("Asia/Shanghai")


def _labels(at: datetime) -> tuple[str, str]:
    local = at.astimezone(ZONE)
    return f"{local.year}-{local.month:02d}", f"{local.year}-Q{(local.month - 1) // 3 + 1}"


def _cli(service, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "infra.cli", "query", "scorecards", *args],
                          env=service.env, capture_output=True, text=True, timeout=60)


def _cards(service, *args: str) -> list[dict]:
    done = _cli(service, "--json", "--department", "hb-civil", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def test_a_met_and_a_breached_limit_show_in_the_scorecard_and_a_rebuild_gives_it_again(
        broker, database_url, tmp_path):
    # Every stage on the injected clock, the validator's receipt included: the obligations start
    # on the clock's day; a revision then meets its limit; the other is breached when the clock
    # reaches its due instant.
    today = EPOCH.astimezone(ZONE).date().isoformat()
    clock = tmp_path / "clock"
    clock.write_text(EPOCH.isoformat())
    service = start_service(tmp_path, {
        "GOVSHARE_BOOTSTRAP_SERVERS": broker.bootstrap, "GOVSHARE_DATABASE_URL": database_url,
        "GOVSHARE_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:10]}", "GOVSHARE_CLOCK": f"file:{clock}",
        "GOVSHARE_TICK_SECONDS": "0.2"})
    try:
        kept, missed = new_id(), new_id()
        raised = {"obligation_id": "ob", "trigger": "LAW_REVISED", "reference": "条例修订", "received_on": today}
        results = submit_lines(lines(
            registered(kept, **HB), event("ChangeObligationRaised", kept, 2, raised, **AUTH),
            registered(missed, **HB), event("ChangeObligationRaised", missed, 2, raised, **AUTH),
            event("RevisionSubmitted", kept, 3, {"revision_id": "r", "obligation_id": "ob",
                                                 "attributes": attributes()}, **HB)),
            service.kafka, service.topics, timeout=60)
        assert [r["status"] for r in results] == ["accepted"] * 5, [r.get("error") for r in results]
        engine = service.engine()
        mistyped = _cli(service, "--period", "quarter", "--since", "2026-11")
        assert mistyped.returncode == 2
        assert mistyped.stderr.strip() == "govshare: '2026-11' is no quarter label: write it like 2026-Q4"

        # Given the kept limit met: one due, one in time, a full score.
        wait_for(lambda: scorecards(engine, department="hb-civil"), 30, "the met limit in the scorecard")
        [met] = [d for d in queries.deadline_list(engine, party="hb-civil") if d["status"] == "met"]
        met_month, met_quarter = _labels(_utc(met["closed_at"]))
        assert [(c["period"], c["catalog_due"], c["catalog_in_time"], c["breaches"], c["score"])
                for c in _cards(service)] == [(met_month, 1, 1, 0, 100)]
        assert _cards(service)[0]["formula"] == formula("hebei-2023").id

        # When the clock reaches the other limit's due instant: a breach and a rectification order.
        [open_] = queries.deadline_list(engine, party="hb-civil", status="open")
        due = _utc(open_["due_at"])
        clock.write_text(due.isoformat())
        wait_for(lambda: sum(c["rectifications"] for c in scorecards(engine, period="quarter")), 30,
                 "the breach and its rectification order in the scorecard")
        by_quarter = {c["period"]: c for c in _cards(service, "--period", "quarter")}
        due_quarter = _labels(due)[1]
        assert sum(c["catalog_due"] for c in by_quarter.values()) == 2
        assert sum(c["catalog_in_time"] for c in by_quarter.values()) == 1
        assert by_quarter[due_quarter]["breaches"] == 1 and by_quarter[due_quarter]["rectifications"] == 1
        # Then the score of the breach's period falls: half met (or none, in a period of its
        # own), less the rectification's points.
        share = 0.5 if due_quarter == met_quarter else 0.0
        assert by_quarter[due_quarter]["score"] == max(0, 100 * share - POINTS["rectifications"])
        assert scorecard_trend(engine, "hb-civil", "quarter") == scorecards(engine, period="quarter",
                                                                          department="hb-civil")

        # And past the rectification order's own limit, the criticism counts too.
        [order] = queries.supervision(engine, party="hb-civil")
        clock.write_text(_utc(order["due_at"]).isoformat())
        wait_for(lambda: sum(c["criticisms"] for c in scorecards(engine, period="year")), 30, "the criticism")
        years = {c["period"]: c for c in scorecards(engine, period="year", department="hb-civil")}
        assert sum(c["breaches"] for c in years.values()) == 2, "the rectification's own breach counts"
        # Each in the year its limit fell due in: the first limit's, and the order's.
        first_year, order_year = _labels(due)[0][:4], _labels(_utc(order["due_at"]))[0][:4]
        assert years[first_year]["breaches"] >= 1 and years[order_year]["breaches"] >= 1
        assert years[order_year]["criticisms"] == 1

        # A use outside any grant is a usage violation of the using department, which had
        # nothing due: counted, and no score.
        _misuse(service)
        [nb] = wait_for(lambda: scorecards(engine, department="nb-market"), 30, "the usage violation")
        assert (nb["usage_violations"], nb["score"], nb["formula"]) == (1, None, formula("ningbo-haishu-2021").id)
        table = _cli(service, "--period", "year")
        assert table.returncode == 0 and "nb-market" in table.stdout and "hb-civil" in table.stdout

        # A rebuild from the start of the log gives the same scorecards.
        rebuilt = f"sqlite:///{tmp_path / 'rebuilt.db'}"
        done = subprocess.run([sys.executable, "-m", "infra.cli", "rebuild", "--into", rebuilt],
                              env=service.env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        for period in ("month", "quarter", "year"):
            assert scorecards(make_engine(rebuilt), period=period) == scorecards(engine, period=period), period
    finally:
        service.stop()



def _misuse(service) -> None:
    from processors.grants import grant_id
    entry, req = new_id(), new_id("req")
    nb = dict(policy="ningbo-haishu-2021")
    submit_lines(lines(registered(entry, codes=["N.1"], department="nb-civil", **nb)),
                 service.kafka, service.topics, timeout=60)
    use = {"grant_id": grant_id(req), "entry_id": entry, "items": ["N.1"], "purpose": "营销",
           "recipient": "nb-market", "person": "sys", "method": "INTERFACE", "scenario": "一网通办"}
    results = submit_lines(lines(
        event("RequestSubmitted", req, 1, {"entry_id": entry, "items": ["N.1"], "purpose": "审批",
              "scenario": "一网通办", "business_process": "b", "method": "INTERFACE",
              "period_end": (EPOCH.date() + timedelta(days=365)).isoformat()},
              department="nb-market", role="USER", **nb),
        event("DataAccessed", new_id("acc"), 1, use, department="nb-market", role="USER", **nb)),
        service.kafka, service.topics, timeout=60)
    assert [r["status"] for r in results] == ["accepted"] * 2, [r.get("error") for r in results]


# -- upgrading a database the previous release made -------------------------------------------

def test_an_upgraded_database_scores_what_its_views_already_held(tmp_path, database_url):
    from migrations.baseline import projections as old
    from migrations.upgrade import branches_by_database
    from tests.test_migrations import _row, _settings, given_the_previous_release, govshare_migrate
    settings = _settings(tmp_path, database_url)
    given_the_previous_release(settings)
    [url] = [u for u, branches in branches_by_database(settings).items() if "projections" in branches]
    met_at = datetime(2026, 9, 30, 17, 0, tzinfo=timezone.utc)  # 1 Oct in Shanghai: Q4
    with make_engine(url).begin() as conn:
        conn.execute(old.deadlines.insert(), _row(old.deadlines, deadline_id="d-2", party="hb-civil",
                                                  kind="catalog-update", status="met", closed_at=met_at))
        conn.execute(old.event_log.insert(), _row(old.event_log, event_id=str(uuid.uuid4()), event_type="DeadlineMet",
                                                  aggregate_id="d-2"))
        conn.execute(old.supervision_actions.insert(), _row(old.supervision_actions, event_id=str(uuid.uuid4()),
                                                            action="criticism-circulated", party="hb-civil",
                                                            recorded_at=met_at))

    done = govshare_migrate(settings)

    assert done.returncode == 0, done.stderr
    [card] = scorecards(make_engine(url), period="quarter")
    assert (card["department"], card["period"], card["catalog_due"], card["catalog_in_time"], card["criticisms"],
            card["score"]) == ("hb-civil", "2026-Q4", 1, 1, 1, 100 - POINTS["criticisms"])
