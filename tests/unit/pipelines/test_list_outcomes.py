"""Outcomes of published lists: labelled as training labels, counted only once mature, never with later knowledge.

The oracle is the label's definition written out per lead in Python (a won deal created in
``[week, week + horizon)``, as the deals stood at the moment of measurement; a deal still open
then, created in the window, leaves the outcome unknown) and summed per tier by hand.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.spine import LABEL_WORDS, LabelKind, SpineSpec
from models.outcomes import pooled, tier_outcomes
from pipelines import sinks
from pipelines.config import OutcomesSpec
from pipelines.list_outcomes import measure
from tests.unit.pipelines.test_sinks import make_scores

FIRST = datetime(2026, 1, 5)  # a Monday
SPINE = SpineSpec(horizon_days=28, settle_days=14)
LEADS = 40


def publish(database, weeks: int, seed: int = 0) -> list[datetime]:
    sinks.ensure_schema(database)
    mondays = [FIRST + timedelta(days=7 * i) for i in range(weeks)]
    for i, monday in enumerate(mondays):
        sinks.replace_week(database, monday, make_scores(monday, n=LEADS, run_id=f"run-{i}", seed=seed + i))
    return mondays


def random_deals(seed: int, mondays: list[datetime]) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 120
    created = [mondays[0] - timedelta(days=20) + timedelta(hours=int(h)) for h in rng.integers(0, 24 * 120, n)]
    status = rng.choice(["won", "lost", "open"], n, p=[0.4, 0.4, 0.2])
    closed = [None if s == "open" else c + timedelta(hours=int(h))
              for s, c, h in zip(status, created, rng.integers(0, 24 * 60, n))]
    return pd.DataFrame({"deal_id": [f"D{i}" for i in range(n)], "lead_id": [f"L{i:05d}" for i in rng.integers(0, LEADS, n)],
                         "account_id": None, "created_at": created, "closed_at": closed, "status": status,
                         "amount": 1.0})


def oracle(database, deals: pd.DataFrame, known_at: datetime, spine: SpineSpec) -> pd.DataFrame:
    """Per (week, tier): leads with a known outcome, censored, expected and actual wins, by the definition."""
    horizon = timedelta(days=spine.horizon_days)
    out = []
    for week in sinks.published_weeks(database):
        if week >= known_at or week + timedelta(days=spine.horizon_days + spine.settle_days) > known_at:
            continue  # not mature when measured
        for lead in sinks.read_list(database, week).itertuples():
            mine = deals[deals["lead_id"] == lead.lead_id]
            moment = mine["created_at"] if spine.label == "won_deal_created" else mine["closed_at"]
            in_window = mine[(moment >= week) & (moment < week + horizon)]
            closed_by_then = in_window["closed_at"].notna() & (in_window["closed_at"] < known_at)
            won = bool(((in_window["status"] == "won") & closed_by_then).any())
            unknown = bool((~closed_by_then).any()) if spine.label == "won_deal_created" else False
            out.append({"as_of": week, "tier": lead.tier, "probability": lead.probability, "won": won,
                        "unknown": unknown})
    rows = pd.DataFrame(out)
    if rows.empty:
        return rows
    known = rows[~rows["unknown"]]
    table = known.groupby(["as_of", "tier"]).agg(leads=("won", "size"), expected=("probability", "sum"),
                                                  actual=("won", "sum"))
    table["censored"] = rows[rows["unknown"]].groupby(["as_of", "tier"]).size()
    return table.fillna({"censored": 0}).reset_index()


def connection(deals: pd.DataFrame):
    con = duckdb.connect()
    con.register("deals_frame", deals)
    con.execute("CREATE TABLE deals AS SELECT deal_id, lead_id, account_id, CAST(created_at AS TIMESTAMP) AS created_at,"
                " CAST(closed_at AS TIMESTAMP) AS closed_at, status, amount FROM deals_frame")
    return con


@pytest.fixture()
def database(tmp_path):
    return sinks.engine_for(f"sqlite:///{tmp_path / 'scores.db'}", "")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), days_after=st.integers(0, 120),
       label=st.sampled_from(["won_deal_created", "won_deal_closed"]))
def test_outcomes_equal_the_label_definition_for_what_was_known_then(tmp_path_factory, seed, days_after, label):
    spine = SPINE.model_copy(update={"label": label})
    database = sinks.engine_for(f"sqlite:///{tmp_path_factory.mktemp('db') / 'scores.db'}", "")
    mondays = publish(database, 10, seed)
    deals = random_deals(seed, mondays)
    known_at = FIRST + timedelta(days=days_after)
    got = measure(database, connection(deals), spine, OutcomesSpec(), known_at)
    expected = oracle(database, deals, known_at, spine)
    if expected.empty:
        assert got.weeks.empty and got.why_none
        return
    merged = expected.merge(got.weeks, on=["as_of", "tier"], how="outer", indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"]
    assert (merged["leads_x"] == merged["leads_y"]).all()
    assert (merged["censored_x"] == merged["censored_y"]).all()
    assert np.allclose(merged["expected"], merged["expected_wins"])
    assert (merged["actual"] == merged["actual_wins"]).all()


def test_a_week_counts_exactly_when_its_horizon_and_settle_days_have_passed(database):
    mondays = publish(database, 3)
    con = connection(random_deals(1, mondays))
    boundary = mondays[1] + timedelta(days=SPINE.horizon_days + SPINE.settle_days)
    before = measure(database, con, SPINE, OutcomesSpec(), boundary - timedelta(microseconds=1))
    at = measure(database, con, SPINE, OutcomesSpec(), boundary)
    assert set(before.weeks["as_of"]) == {mondays[0]}
    assert set(at.weeks["as_of"]) == {mondays[0], mondays[1]}
    assert mondays[2] in at.waiting


def test_a_deal_won_after_the_moment_of_measurement_is_not_yet_a_win(database):
    [monday] = publish(database, 1)
    lead = sinks.read_list(database, monday).sort_values("probability").iloc[-1]
    deals = pd.DataFrame({"deal_id": ["D1"], "lead_id": [lead.lead_id], "account_id": [None],
                          "created_at": [monday + timedelta(days=3)], "closed_at": [monday + timedelta(days=50)],
                          "status": ["won"], "amount": [1.0]})
    mature = monday + timedelta(days=SPINE.horizon_days + SPINE.settle_days)
    early = measure(database, connection(deals), SPINE, OutcomesSpec(), mature)  # day 42: the deal was still open
    late = measure(database, connection(deals), SPINE, OutcomesSpec(), monday + timedelta(days=51))
    tier = lambda m: m.weeks[m.weeks["tier"] == lead.tier].iloc[0]  # noqa: E731
    assert tier(early).actual_wins == 0 and tier(early).censored == 1
    assert tier(late).actual_wins == 1 and tier(late).censored == 0


def test_writing_is_idempotent_and_never_replaces_a_later_measurement(database):
    mondays = publish(database, 8)
    con = connection(random_deals(3, mondays))
    late = measure(database, con, SPINE, OutcomesSpec(), mondays[-1] + timedelta(days=90))
    early = measure(database, con, SPINE, OutcomesSpec(), mondays[-1] + timedelta(days=43))
    assert sinks.write_outcomes(database, late.weeks) == late.weeks["as_of"].nunique()
    first = sinks.read_outcomes(database)
    assert sinks.write_outcomes(database, late.weeks) == late.weeks["as_of"].nunique()
    pd.testing.assert_frame_equal(sinks.read_outcomes(database), first)
    assert sinks.write_outcomes(database, early.weeks) == 0  # it knew less
    pd.testing.assert_frame_equal(sinks.read_outcomes(database), first)


def test_without_deals_nothing_is_measured_and_it_says_why(database):
    publish(database, 2)
    result = measure(database, None, SPINE, OutcomesSpec(), FIRST + timedelta(days=400))
    assert result.weeks.empty and "no deals" in result.why_none


def test_lift_and_ratio_by_hand():
    rows = pd.DataFrame({"as_of": FIRST, "tier": ["A"] * 10 + ["D"] * 90,
                         "probability": [0.3] * 10 + [0.02] * 90,
                         "positive": [True] * 4 + [False] * 6 + [True] * 3 + [False] * 87, "censored": False})
    table = tier_outcomes(rows).set_index("tier")
    assert table.loc["A", "win_rate"] == pytest.approx(0.4)
    assert table.loc["A", "lift_over_rest"] == pytest.approx(0.4 / (3 / 90))
    assert table.loc["A", "actual_over_expected"] == pytest.approx(4 / 3.0)
    both = pooled(pd.concat([tier_outcomes(rows), tier_outcomes(rows.assign(as_of=FIRST + timedelta(days=7)))]))
    assert both.set_index("tier").loc["A", "leads"] == 20 and both.set_index("tier").loc["A", "lift_over_rest"] == \
        pytest.approx(0.4 / (3 / 90))


def test_every_label_kind_has_its_words():
    assert set(LABEL_WORDS) == set(LabelKind.__args__)
