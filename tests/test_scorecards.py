"""Department scorecards (issue #13): the score computed from the policy data, the counts
through every stage on the in-memory runner (tests/harness.py, SQLite and PostgreSQL) as the
test's clock moves, `govshare query scorecards` over them, and a rebuild that gives them again.
None starts a service: nothing here is about processes or the broker."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from infra.database import make_engine
from policies.files import POLICY_DIR
from policies.scorecard import FormulaError, formula, jurisdiction_of
from projections import queries
from projections.scorecards import check_period, counted, scorecard_trend, scorecards
from tests.builders import attributes, event, new_id, registered
from tests.conftest import EPOCH

COMMON = formula("common")
W = {a.name: a.weight for a in COMMON.areas}
POINTS = {p.name: p.points for p in COMMON.penalties}


# -- the score, from the policy data ---------------------------------------------------------

@pytest.mark.parametrize("profile", sorted({p.stem for p in POLICY_DIR.glob("*.toml")}
                                           - {"departments", "calendar"}))
def test_every_weight_and_penalty_cites_an_article_and_says_its_number_is_a_deployment_choice(profile):
    scored = formula(profile)
    for item in (*scored.areas, *scored.penalties):
        # The article is a citation (or a platform rule, tests/test_policy_articles.py); that the
        # number is the deployment's is said in the note beside it.
        cites = "Art." in item.article or item.article.startswith("Hebei Measures (") \
            or item.article == "govshare platform rule"
        assert cites and "deployment choice" in item.note, item


def test_all_met_in_time_scores_full_and_nothing_due_scores_nothing():
    assert COMMON.score({"catalog_due": 3, "catalog_in_time": 3, "requests_due": 1, "requests_in_time": 1}) == 100
    assert COMMON.score({}) is None, "nothing counted: no score, rather than a perfect one"
    # A penalty counts even when no weighed duty fell due: from 100, less its points.
    assert COMMON.score({"usage_violations": 2}) == 100 - 2 * POINTS["usage_violations"]


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


# -- through every stage, as the clock moves (tests/harness.py) ---------------------------------

HB = dict(department="hb-civil", policy="hebei-2023")
AUTH = dict(department="hb-authority", role="DATA_AUTHORITY", policy="hebei-2023")
ZONE = ZoneInfo("Asia/Shanghai")


def _labels(at: datetime) -> tuple[str, str]:
    local = at.astimezone(ZONE)
    return f"{local.year}-{local.month:02d}", f"{local.year}-Q{(local.month - 1) // 3 + 1}"


def _cards(system, *args: str) -> list[dict]:
    """`govshare query scorecards --json` for hb-civil, over the harness's projections."""
    return json.loads(system.cli("query", "scorecards", "--json", "--department", "hb-civil", *args).stdout)


def _one_met_one_open(system) -> None:
    """Two Hebei change obligations received on the clock's day (EPOCH); a revision at once
    meets the first's limit, the other's runs on."""
    kept, missed = new_id(), new_id()
    raised = {"obligation_id": "ob", "trigger": "LAW_REVISED", "reference": "条例修订",
              "received_on": EPOCH.astimezone(ZONE).date().isoformat()}
    system.given(
        registered(kept, **HB), event("ChangeObligationRaised", kept, 2, raised, **AUTH),
        registered(missed, **HB), event("ChangeObligationRaised", missed, 2, raised, **AUTH),
        event("RevisionSubmitted", kept, 3, {"revision_id": "r", "obligation_id": "ob",
                                             "attributes": attributes()}, **HB), at=EPOCH)


def _breached(system) -> datetime:
    """The other limit's due instant reached: a breach and a rectification order; its instant."""
    _one_met_one_open(system)
    [open_] = queries.deadline_list(system.engine, party="hb-civil", status="open")
    due = queries.utc(open_["due_at"])
    system.advance(due)
    return due


def _criticised(system) -> tuple[datetime, datetime]:
    """And past the rectification order's own limit: its breach and a circulated criticism."""
    due = _breached(system)
    [order] = queries.supervision(system.engine, party="hb-civil")
    order_due = queries.utc(order["due_at"])
    system.advance(order_due)
    return due, order_due


def test_a_mistyped_period_label_is_refused_by_the_command_in_one_line(system):
    mistyped = system.cli("query", "scorecards", "--period", "quarter", "--since", "2026-11", check=False)
    assert mistyped.returncode == 2
    assert mistyped.stderr.strip() == "govshare: '2026-11' is no quarter label: write it like 2026-Q4"


def test_a_limit_met_in_time_scores_full_in_the_month_it_was_met(system):
    _one_met_one_open(system)
    [met] = [d for d in queries.deadline_list(system.engine, party="hb-civil") if d["status"] == "met"]
    met_month = _labels(queries.utc(met["closed_at"]))[0]
    assert met_month == _labels(EPOCH)[0]
    cards = _cards(system)
    assert [(c["period"], c["catalog_due"], c["catalog_in_time"], c["breaches"], c["score"])
            for c in cards] == [(met_month, 1, 1, 0, 100)]
    assert cards[0]["formula"] == formula("hebei-2023").id


def test_a_breach_and_its_rectification_order_lower_the_score_of_their_quarter(system):
    due = _breached(system)
    by_quarter = {c["period"]: c for c in _cards(system, "--period", "quarter")}
    due_quarter, met_quarter = _labels(due)[1], _labels(EPOCH)[1]
    assert sum(c["catalog_due"] for c in by_quarter.values()) == 2
    assert sum(c["catalog_in_time"] for c in by_quarter.values()) == 1
    assert by_quarter[due_quarter]["breaches"] == 1 and by_quarter[due_quarter]["rectifications"] == 1
    # The score of the breach's period falls: half met (or none, in a period of its own), less
    # the rectification's points.
    share = 0.5 if due_quarter == met_quarter else 0.0
    assert by_quarter[due_quarter]["score"] == max(0, 100 * share - POINTS["rectifications"])
    assert scorecard_trend(system.engine, "hb-civil", "quarter") == scorecards(
        system.engine, period="quarter", department="hb-civil")


def test_past_the_rectification_orders_limit_its_breach_and_the_criticism_count_in_their_year(system):
    due, order_due = _criticised(system)
    years = {c["period"]: c for c in scorecards(system.engine, period="year", department="hb-civil")}
    assert sum(c["breaches"] for c in years.values()) == 2, "the rectification's own breach counts"
    # Each in the year its limit fell due in: the first limit's, and the order's.
    first_year, order_year = _labels(due)[0][:4], _labels(order_due)[0][:4]
    assert years[first_year]["breaches"] >= 1 and years[order_year]["breaches"] >= 1
    assert years[order_year]["criticisms"] == 1
    assert sum(c["criticisms"] for c in years.values()) == 1


def test_a_use_outside_any_grant_counts_against_the_using_department_with_nothing_due(system):
    # A use outside any grant is a usage violation of the using department, which had nothing
    # due: counted, and its points taken from a full score (a penalty always counts).
    _one_met_one_open(system)
    _misuse(system)
    [nb] = scorecards(system.engine, department="nb-market")
    ningbo = formula("ningbo-haishu-2021")
    points = next(p.points for p in ningbo.penalties if p.name == "usage_violations")
    assert (nb["usage_violations"], nb["score"], nb["formula"]) == (1, max(0.0, 100 - points), ningbo.id)
    table = system.cli("query", "scorecards", "--period", "year")
    assert "nb-market" in table.stdout and "hb-civil" in table.stdout


def test_a_rebuild_from_the_start_of_the_log_gives_the_same_scorecards(system, tmp_path):
    _criticised(system)
    _misuse(system)
    rebuilt = system.rebuild(f"sqlite:///{tmp_path / 'rebuilt.db'}")
    for period in ("month", "quarter", "year"):
        live = scorecards(system.engine, period=period)
        assert {c["department"] for c in live} == {"hb-civil", "nb-market"}, period
        assert scorecards(rebuilt, period=period) == live, period


def _misuse(system) -> None:
    from processors.grant_keeper import grant_id
    entry, req = new_id(), new_id("req")
    nb = dict(policy="ningbo-haishu-2021")
    use = {"grant_id": grant_id(req), "entry_id": entry, "items": ["N.1"], "purpose": "营销",
           "recipient": "nb-market", "person": "sys", "method": "INTERFACE", "scenario": "一网通办"}
    system.given(
        registered(entry, codes=["N.1"], department="nb-civil", **nb),
        event("RequestSubmitted", req, 1, {"entry_id": entry, "items": ["N.1"], "purpose": "审批",
              "scenario": "一网通办", "business_process": "b", "method": "INTERFACE",
              "period_end": (EPOCH.date() + timedelta(days=365)).isoformat()},
              department="nb-market", role="USER", **nb),
        event("DataAccessed", new_id("acc"), 1, use, department="nb-market", role="USER", **nb))
    assert len(queries.access_list(system.engine, violations_only=True)) == 1


# -- upgrading a database the previous release made -------------------------------------------

def test_an_upgraded_database_scores_what_its_views_already_held(tmp_path, database_url):
    from migrations.baseline import projections as old
    from infra.migrate import branches_by_database
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
