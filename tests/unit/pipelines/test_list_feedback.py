"""What sales said of published lists, and the label sales_accepted: against their definitions, at every boundary.

The oracle is the attribution rule written out per lead in Python: a disposition recorded at
``at`` belongs to the list of Monday ``w`` when ``w <= at < w + 7 days`` and ``at`` is before
the report's Monday; a lead counts once a week, by its latest disposition.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.contract import DEFAULT_FEEDBACK_DISPOSITIONS, FEEDBACK_MEANINGS
from features.errors import UserError
from features.spine import SpineSpec, create_labelled_spine, label_sql
from pipelines import sinks
from pipelines.config import ConfigError, OutcomesSpec, load_params
from pipelines.list_feedback import hear, latest_feedback_sql
from tests.unit.pipelines.test_sinks import make_scores

FIRST = datetime(2026, 1, 5)  # a Monday
LEADS = 30
WORDS = {"SAL": "accepted", "Rejected - fit": "rejected", "rejected": "rejected", "No answer": "no_answer",
         "Working": "in_contact"}
US = timedelta(microseconds=1)


def publish(database, weeks: int, seed: int = 0) -> list[datetime]:
    """``weeks`` Mondays of lists, the leads shuffled between tiers from one week to the next."""
    sinks.ensure_schema(database)
    mondays = [FIRST + timedelta(days=7 * i) for i in range(weeks)]
    rng = np.random.default_rng(seed)
    for i, monday in enumerate(mondays):
        scores = make_scores(monday, n=LEADS, run_id=f"run-{i}", seed=seed + i)
        scores["lead_id"] = rng.permutation(scores["lead_id"].to_numpy())
        sinks.replace_week(database, monday, scores)
    return mondays


def connection(feedback: pd.DataFrame):
    con = duckdb.connect()
    con.register("feedback_frame", feedback)
    con.execute('CREATE TABLE feedback AS SELECT lead_id, CAST("at" AS TIMESTAMP) AS "at", disposition, reason '
                "FROM feedback_frame")
    return con


def random_feedback(seed: int, mondays: list[datetime], n: int = 150) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    words = [*WORDS, "Unmapped word"]
    start = mondays[0] - timedelta(days=3)
    # whole hours, and some rows exactly on a Monday: ties and boundaries happen
    at = [start + timedelta(hours=int(h)) for h in rng.integers(0, 24 * 7 * (len(mondays) + 1), n)]
    at[: n // 10] = [mondays[int(i)] for i in rng.integers(0, len(mondays), n // 10)]
    reasons = np.array([None, "No budget", "no budget ", "Bad timing", "Demo booked", "  "], dtype=object)
    return pd.DataFrame({"lead_id": [f"L{i:05d}" for i in rng.integers(0, LEADS + 5, n)], "at": at,
                         "disposition": rng.choice(words, n), "reason": reasons[rng.integers(0, len(reasons), n)]})


def oracle(database, feedback: pd.DataFrame, before: datetime, weeks: int) -> tuple[pd.DataFrame, int]:
    """Per tier: leads on the lists, worked, and each meaning; and the dispositions with no meaning."""
    lists = [w for w in sinks.published_weeks(database) if w < before][-weeks:]
    rows, unmapped = [], 0
    for week in lists:
        for lead in sinks.read_list(database, week).itertuples():
            mine = feedback[(feedback["lead_id"] == lead.lead_id) & (feedback["at"] >= week)
                            & (feedback["at"] < week + timedelta(days=7)) & (feedback["at"] < before)]
            latest = mine.sort_values(["at", "disposition"]).tail(1)
            word = latest["disposition"].iloc[0] if len(latest) else None
            unmapped += word is not None and word not in WORDS
            rows.append({"tier": lead.tier, "meaning": WORDS.get(word)})
    frame = pd.DataFrame(rows)
    table = frame.groupby("tier").agg(leads=("tier", "size"), worked=("meaning", "count"))
    for meaning in FEEDBACK_MEANINGS:
        table[meaning] = frame.assign(hit=frame["meaning"] == meaning).groupby("tier")["hit"].sum()
    return table.reset_index(), unmapped


@pytest.fixture()
def database(tmp_path):
    return sinks.engine_for(f"sqlite:///{tmp_path / 'scores.db'}", "")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), day=st.integers(1, 80), hour=st.sampled_from([0, 13]),
       weeks=st.integers(1, 6))
def test_what_sales_said_equals_the_attribution_rule(tmp_path_factory, seed, day, hour, weeks):
    database = sinks.engine_for(f"sqlite:///{tmp_path_factory.mktemp('db') / 'scores.db'}", "")
    mondays = publish(database, 8, seed)
    feedback = random_feedback(seed, mondays)
    before = FIRST + timedelta(days=day, hours=hour)
    got = hear(database, connection(feedback), WORDS, OutcomesSpec(feedback_weeks=weeks), before)
    if not [w for w in mondays if w < before]:
        assert got.why_none == "no list was published before this one"
        return
    expected, unmapped = oracle(database, feedback, before, weeks)
    columns = ["tier", "leads", "worked", *FEEDBACK_MEANINGS]
    pd.testing.assert_frame_equal(got.tiers[columns].astype({c: int for c in columns[1:]}),
                                  expected[columns].astype({c: int for c in columns[1:]}))
    assert got.unmapped == unmapped
    assert got.weeks == [w for w in mondays if w < before][-weeks:]


def test_a_disposition_belongs_to_the_week_of_the_list_it_was_recorded_in(database):
    mondays = publish(database, 2)
    lead = sinks.read_list(database, mondays[0]).iloc[0]
    tier_next = sinks.read_list(database, mondays[1]).set_index("lead_id").loc[lead.lead_id, "tier"]
    cases = {  # when it was recorded -> the week it counts for (None: neither)
        mondays[0] - US: None, mondays[0]: mondays[0], mondays[1] - US: mondays[0], mondays[1]: mondays[1],
    }
    for at, week in cases.items():
        feedback = pd.DataFrame({"lead_id": [lead.lead_id], "at": [at], "disposition": ["SAL"], "reason": [None]})
        got = hear(database, connection(feedback), WORDS, OutcomesSpec(), mondays[1] + timedelta(days=7)).tiers
        accepted = got.set_index("tier")["accepted"]
        expected = {lead.tier: int(week == mondays[0])}
        expected[tier_next] = expected.get(tier_next, 0) + int(week == mondays[1])
        assert {t: int(accepted[t]) for t in expected} == expected, at


def test_nothing_recorded_on_or_after_the_report_date_is_shown(database):
    [monday] = publish(database, 1)
    lead = sinks.read_list(database, monday).iloc[0].lead_id
    before = monday + timedelta(days=3)
    feedback = pd.DataFrame({"lead_id": [lead, lead], "at": [before - US, before], "disposition": ["SAL", "rejected"],
                             "reason": ["Demo booked", "No budget"]})
    got = hear(database, connection(feedback), WORDS, OutcomesSpec(), before)
    assert got.tiers["accepted"].sum() == 1 and got.tiers["rejected"].sum() == 0
    latest = connection(feedback).sql(latest_feedback_sql(before)).df()
    assert latest[["sales_feedback", "sales_feedback_reason"]].values.tolist() == [["SAL", "Demo booked"]]


def test_reasons_are_grouped_regardless_of_case_and_spaces_and_capped(database):
    [monday] = publish(database, 1)
    listed = sinks.read_list(database, monday)
    top = listed[listed["tier"] == "C"]["lead_id"].tolist()
    reasons = ["No budget", "no budget ", "NO BUDGET", "Bad timing", "Bad timing", "Competitor", "Student"]
    feedback = pd.DataFrame({"lead_id": top[: len(reasons)], "at": monday + timedelta(hours=9),
                             "disposition": "rejected", "reason": reasons})
    got = hear(database, connection(feedback), WORDS, OutcomesSpec(top_reasons=2), monday + timedelta(days=7))
    assert got.reasons[["meaning", "reason", "leads"]].values.tolist() == [
        ["rejected", "NO BUDGET", 3], ["rejected", "Bad timing", 2]]
    assert got.tiers.set_index("tier").loc["C", "acceptance_rate"] == 0.0


def test_without_a_feedback_table_it_says_why(database):
    publish(database, 2)
    got = hear(database, duckdb.connect(), WORDS, OutcomesSpec(), FIRST + timedelta(days=30))
    assert "no feedback table" in got.why_none and got.tiers.empty


# ---------------------------------------------------------------------------------------------------------------------
# the label sales_accepted

T = datetime(2025, 3, 3)
SPINE = SpineSpec(label="sales_accepted", horizon_days=28, settle_days=0)
H = timedelta(days=28)


def labels(feedback: list[tuple], known_at: datetime | None = None) -> dict[str, bool]:
    con = connection(pd.DataFrame(feedback, columns=["lead_id", "at", "disposition", "reason"]))
    con.execute("CREATE TABLE pairs AS SELECT * FROM (VALUES ('a'), ('b'), ('c'), ('d'), ('e'), ('f')) v(lead_id), "
                f"(SELECT TIMESTAMP '{T:%Y-%m-%d}' AS cutoff)")
    rows = con.sql(label_sql("pairs", SPINE, known_at, accepted=("SAL",))).fetchall()
    assert all(not censored for *_, censored in rows)  # feedback has no "still open" state
    return {lead: positive for lead, _, positive, _ in rows}


def test_sales_accepted_counts_an_acceptance_inside_the_horizon_only():
    got = labels([("a", T, "SAL", None), ("b", T - US, "SAL", None), ("c", T + H - US, "SAL", None),
                  ("d", T + H, "SAL", None), ("e", T + timedelta(days=3), "rejected", None)])
    assert got == {"a": True, "b": False, "c": True, "d": False, "e": False, "f": False}


def test_sales_accepted_sees_only_what_was_recorded_before_the_moment_of_measurement():
    at = T + timedelta(days=10)
    assert labels([("a", at, "SAL", None)], known_at=at)["a"] is False
    assert labels([("a", at, "SAL", None)], known_at=at + US)["a"] is True


def test_a_spine_labelled_by_feedback_needs_the_feedback_table():
    con = duckdb.connect()
    con.execute(f"CREATE TABLE leads AS SELECT 'a' AS lead_id, TIMESTAMP '{T - H:%Y-%m-%d}' AS created_at")
    with pytest.raises(UserError, match="read from the feedback table"):
        create_labelled_spine(con, [T], T + 2 * H, SPINE, accepted=("SAL",))


def test_sales_accepted_needs_a_disposition_meaning_accepted(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("spine: {label: sales_accepted}\ndata: {feedback_dispositions: {Rejected: rejected}}\n")
    with pytest.raises(ConfigError, match="needs a disposition meaning accepted"):
        load_params(path)
    path.write_text("spine: {label: sales_accepted}\n")
    assert "accepted" in load_params(path).data.feedback_dispositions.values()
    assert set(DEFAULT_FEEDBACK_DISPOSITIONS.values()) == set(FEEDBACK_MEANINGS)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from features.simulate import SimulationParams
    from pipelines.generate import generate

    folder = tmp_path_factory.mktemp("feedback-world") / "data"
    generate(folder, SimulationParams(leads=600, seed=5, weeks=60), SpineSpec(), progress=False)
    assert len(pd.read_parquet(folder / "feedback.parquet")) > 0
    return folder


SETTINGS = {"spine.warmup_days": 28, "spine.settle_days": 14, "validation.label_rate": [0.0001, 0.5]}


def test_feedback_never_reaches_the_training_set(world, tmp_path):
    """The same export with and without its feedback table trains on the same rows, features and labels."""
    import shutil

    from pipelines.stages import training_set

    bare = tmp_path / "bare"
    shutil.copytree(world, bare, ignore=shutil.ignore_patterns("feedback.parquet"))
    config = load_params(None, SETTINGS)
    # the feedback ends before the data does, so the data's end (and the cutoffs) are the same with or without it
    with_feedback = training_set(world, tmp_path / "a.parquet", config)
    without = training_set(bare, tmp_path / "b.parquet", config)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a.parquet"), pd.read_parquet(tmp_path / "b.parquet"))
    assert with_feedback["features"] == without["features"]


def test_a_training_set_labelled_by_sales_acceptance_equals_the_definition(world, tmp_path):
    """spine.label sales_accepted through build-training-set: every row's label is whether sales accepted the lead
    in [cutoff, cutoff + horizon), read independently from the feedback file."""
    from pipelines.stages import training_set

    config = load_params(None, {**SETTINGS, "spine.label": "sales_accepted", "spine.horizon_days": 28,
                                "spine.settle_days": 7, "validation.min_positives_per_cutoff": 0})
    training_set(world, tmp_path / "accepted.parquet", config)
    rows = pd.read_parquet(tmp_path / "accepted.parquet", columns=["lead_id", "cutoff", "label"])
    feedback = pd.read_parquet(world / "feedback.parquet")
    accepted = feedback[feedback["disposition"].map(config.data.feedback_dispositions) == "accepted"]
    accepted = accepted.assign(at=pd.to_datetime(accepted["at"]).dt.tz_convert(None))
    pairs = rows.merge(accepted[["lead_id", "at"]], on="lead_id", how="left")
    inside = (pairs["at"] >= pairs["cutoff"]) & (pairs["at"] < pairs["cutoff"] + pd.Timedelta(days=28))
    expected = inside.groupby([pairs["lead_id"], pairs["cutoff"]]).any().astype(int)
    got = rows.set_index(["lead_id", "cutoff"])["label"]
    assert got.sum() > 20 and (got == expected.reindex(got.index)).all()
