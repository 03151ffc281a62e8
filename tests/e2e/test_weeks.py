"""Ten consecutive Mondays scored as a team would, week after week: no drift alarm on ordinary weeks, a real break
alarmed in words, and the outcomes of the lists measured as the label and the simulator's truth say they should be.

The weeks end half a year before the data does, so every list's horizon and settle days have
passed by the export's end, and ``leadscore outcomes`` can measure them all.
"""

from __future__ import annotations

import math
import shutil
from datetime import timedelta

import duckdb
import pandas as pd
import pytest

from pipelines import sinks
from tests.e2e.test_scoring import latest_monday

pytestmark = pytest.mark.slow

WEEKS = 10


@pytest.fixture(scope="module")
def weekly(world, champion, tmp_path_factory):
    from pipelines.list_outcomes import outcomes_of_export
    from pipelines.score import run_scoring

    config = world["config"]
    folder = tmp_path_factory.mktemp("weeks")
    url = f"sqlite:///{folder / 'scores.db'}"
    last = latest_monday(world["data"]) - timedelta(days=7 * 27)
    mondays = [last - timedelta(days=7 * k) for k in range(WEEKS - 1, -1, -1)]
    opened: dict = {}
    results = [run_scoring(world["data"], config, as_of=f"{m:%Y-%m-%d}", db_url=url, out_dir=folder / "out",
                           opened=opened) for m in mondays]
    measured = outcomes_of_export(world["data"], config, url)
    return {"config": config, "url": url, "mondays": mondays, "results": results, "measured": measured,
            "folder": folder, "engine": sinks.engine_for(url, "")}


def test_no_ordinary_week_raises_a_drift_warning(weekly):
    runs = sinks.read_runs(weekly["engine"])
    assert len(runs) == WEEKS and (runs["status"] == "succeeded").all()
    for result in weekly["results"]:
        assert result.warnings == [], (f"{result.as_of:%Y-%m-%d}", result.warnings)
    assert (runs["drift_warnings"] == 0).all()
    # the comparison really ran: every week was measured against the Mondays before it
    assert all(result.drift["psi"].notna().any() for result in weekly["results"])


def test_every_mature_list_is_measured_and_equals_the_label_from_the_deals(weekly, world):
    measured = weekly["measured"]
    assert measured.why_none is None and sorted(measured.weeks["as_of"].unique()) == weekly["mondays"]
    stored = sinks.read_outcomes(weekly["engine"])
    assert len(stored) == len(measured.weeks)
    horizon = weekly["config"].spine.horizon_days
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    deals = str(world["data"] / "deals.parquet")
    for monday in weekly["mondays"]:
        listed = sinks.read_list(weekly["engine"], monday)
        con.register("listed", listed)
        # the label's definition, independently: a deal created in [monday, monday + horizon) that was won
        wins = con.execute(f"""
            SELECT l.tier, count(DISTINCT l.lead_id) FROM listed l JOIN read_parquet('{deals}') d USING (lead_id)
            WHERE d.status = 'won' AND d.created_at >= TIMESTAMPTZ '{monday:%Y-%m-%d} 00:00:00+00'
              AND d.created_at < TIMESTAMPTZ '{monday:%Y-%m-%d} 00:00:00+00' + INTERVAL {horizon} DAY
            GROUP BY 1""").fetchall()
        con.unregister("listed")
        week = stored[stored["as_of"] == monday].set_index("tier")
        for tier, count in wins:
            assert week.loc[tier, "actual_wins"] == count, (monday, tier)
        assert week["actual_wins"].sum() == sum(count for _, count in wins)
        assert week["leads"].sum() + week["censored"].sum() == len(listed)
        assert week["expected_wins"].sum() <= listed["probability"].sum() + 1e-9


def test_the_wins_that_came_are_what_the_simulators_truth_expected(weekly, world):
    """Where a scored Monday is one of the truth's cutoffs, the true probabilities of the listed leads add up to the
    wins that came, within binomial noise: the measurement counts the wins the world really produced."""
    truth = pd.read_parquet(world["data"] / "truth.parquet", columns=["lead_id", "cutoff", "p_true"])
    truth["cutoff"] = pd.to_datetime(truth["cutoff"]).dt.tz_localize(None)
    stored = sinks.read_outcomes(weekly["engine"])
    expected = variance = actual = 0.0
    covered = 0
    for monday in weekly["mondays"]:
        listed = sinks.read_list(weekly["engine"], monday)
        p = listed.merge(truth[truth["cutoff"] == monday], on="lead_id", how="inner")["p_true"]
        if len(p) < 0.9 * len(listed):
            continue  # not a truth cutoff
        covered += 1
        expected += p.sum()
        variance += (p * (1 - p)).sum()
        actual += stored.loc[stored["as_of"] == monday, "actual_wins"].sum()
    assert covered >= WEEKS // 3
    assert abs(actual - expected) <= 4 * math.sqrt(variance), (actual, expected, variance)


def test_a_broken_tracking_week_raises_an_alert_in_words(weekly, world, tmp_path):
    """The week after the ten, with e-mail opens no longer tracked: the alert names e-mail opens in plain words."""
    from pipelines.score import run_scoring

    data = tmp_path / "data"
    shutil.copytree(world["data"], data)
    after = weekly["mondays"][-1] + timedelta(days=7)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    events = data / "events.parquet"
    con.execute(f"""COPY (SELECT * FROM read_parquet('{world["data"] / "events.parquet"}')
                          WHERE NOT (event_type = 'email_open' AND occurred_at >= TIMESTAMPTZ '{after - timedelta(days=7):%Y-%m-%d} 00:00:00+00'))
                    TO '{events}' (FORMAT PARQUET)""")
    url = f"sqlite:///{tmp_path / 'scores.db'}"
    result = run_scoring(data, weekly["config"], as_of=f"{after:%Y-%m-%d}", db_url=url, out_dir=tmp_path / "out")
    alerts = [w for w in result.warnings if w.startswith("ALERT")]
    assert any("email" in w and "open" in w and "on average this week" in w for w in alerts), result.warnings
    report = (tmp_path / "out" / f"report-{after:%Y-%m-%d}.html").read_text(encoding="utf-8")
    assert "on average this week" in report and "ALERT" in report
