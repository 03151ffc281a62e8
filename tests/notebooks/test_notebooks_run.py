"""The notebooks run: each is executed top to bottom in a fresh kernel, on the small generated world.

Each notebook runs once per module (two runs for the weekly review: from the database and
from the CSV) with its settings given through the environment, exactly as a user overrides
the demo's paths. A failing cell fails the run (nbclient raises ``CellExecutionError`` with
the cell and its traceback). After the notebook's own cells a probe cell prints the
notebook's key tables as JSON, and the tests compare them, and what the tagged cells
displayed, with facts recomputed here from the files, the database and the training summary.
"""

from __future__ import annotations

import json
import math
import sys
from datetime import timedelta
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell
from sqlalchemy import create_engine

from models.frame import naive_utc

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("notebooks")]  # one worker builds the fixtures once

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
PROBE_MARK = "LEADSCORE-PROBE:"
AMBIENT = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "LEADSCORE_DB_URL", "LEADSCORE_PARAMS", "LEADSCORE_DATA_DIR",
           "LEADSCORE_TRAINING_SET", "LEADSCORE_EXPERIMENT", "LEADSCORE_RUN_ID", "LEADSCORE_SCORES_CSV", "LEADSCORE_AS_OF")


def execute(name: str, env: dict[str, str], probe: str) -> tuple[nbformat.NotebookNode, dict]:
    """Run notebook ``name`` with ``env`` set, then ``probe`` (an expression the kernel turns into JSON)."""
    notebook = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
    notebook.cells.append(new_code_cell(
        f"import json as _json, sys as _sys\nprint({PROBE_MARK!r} + _json.dumps({probe}, default=str))"))
    with pytest.MonkeyPatch.context() as patch:
        for variable in AMBIENT:  # the kernel inherits this process's environment: only what the test gives
            patch.delenv(variable, raising=False)
        for variable, value in env.items():
            patch.setenv(variable, value)
        # "python3" is the kernel of the interpreter running this test (its sys.prefix holds the ipykernel spec)
        client = NotebookClient(notebook, timeout=600, startup_timeout=120, kernel_name="python3",
                                resources={"metadata": {"path": str(NOTEBOOKS_DIR)}})
        client.execute()
    printed = "".join(o.get("text", "") for o in notebook.cells[-1].outputs if o.output_type == "stream")
    return notebook, json.loads(printed.split(PROBE_MARK, 1)[1])


def tagged(notebook, tag: str) -> list:
    cells = [c for c in notebook.cells if tag in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"expected one cell tagged {tag!r}, found {len(cells)}"
    return cells[0].outputs


def shown(notebook, tag: str, mime: str = "text/html") -> str:
    """Everything a tagged cell displayed in ``mime`` (stdout for ``"stream"``), concatenated."""
    outputs = tagged(notebook, tag)
    if mime == "stream":
        return "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    return "".join(o.data.get(mime, "") for o in outputs if o.output_type in ("display_data", "execute_result"))


def images(notebook, tag: str) -> int:
    return sum("image/png" in o.get("data", {}) for o in tagged(notebook, tag))


def assert_kernel_is_this_environment(probe: dict) -> None:
    assert Path(probe["prefix"]).resolve() == Path(sys.prefix).resolve(), (
        f"the notebook ran in {probe['prefix']}, not this virtual environment ({sys.prefix})")


@pytest.fixture(scope="module")
def base_env(world, training_set) -> dict[str, str]:
    return {"LEADSCORE_PARAMS": str(world["params"]), "LEADSCORE_TRAINING_SET": str(training_set)}


@pytest.fixture(scope="module")
def weeks(world, champion, tmp_path_factory) -> dict:
    """Two scored weeks (the latest Monday and the one before) in a database of this module's own."""
    from features.spine import monday_on_or_before
    from pipelines.inputs import open_data
    from pipelines.score import run_scoring

    folder = tmp_path_factory.mktemp("notebook-scores")
    url = f"sqlite:///{folder / 'leadscore.db'}"
    late = monday_on_or_before(open_data(world["data"], world["config"]).data_end())
    with pytest.MonkeyPatch.context() as patch:
        for variable in AMBIENT:
            patch.delenv(variable, raising=False)
        run_scoring(world["data"], world["config"], as_of=f"{late - timedelta(days=7):%Y-%m-%d}", db_url=url,
                    out_dir=folder / "out")
        result = run_scoring(world["data"], world["config"], db_url=url, out_dir=folder / "out")
    assert result.as_of == late
    with create_engine(url).connect() as conn:
        rows = pd.read_sql("SELECT * FROM lead_scores", conn, parse_dates=["as_of"])
    return {"url": url, "csv": result.csv_path, "late": pd.Timestamp(late), "rows": rows}


# -- 01: engagement, funnel, data quality -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def explore(world, base_env):
    env = {**base_env, "LEADSCORE_DATA_DIR": str(world["data"])}
    probe = ('{"prefix": _sys.prefix, "funnel": funnel["people"].to_dict(), "cutoff": latest_cutoff, '
             '"conversion": by_stage["conversion"].to_dict(), "rows": by_stage["rows"].to_dict(), '
             '"window": W, "signals": signal_table["conversion_with"].to_dict()}')
    return execute("01-explore-engagement.ipynb", env, probe)


@pytest.fixture(scope="module")
def training_frame(training_set) -> pd.DataFrame:
    frame = pd.read_parquet(training_set)
    frame["cutoff"] = pd.to_datetime(frame["cutoff"])
    return frame


def test_explore_runs_in_this_environment(explore):
    assert_kernel_is_this_environment(explore[1])


def test_explore_shows_the_contract_check_with_every_table_count(explore, world):
    text = shown(explore[0], "data-summary", "stream")
    assert "contract OK" in text
    for table in ("leads", "events", "identities", "deals"):
        rows = len(pd.read_parquet(world["data"] / f"{table}.parquet"))
        assert f"{table:<12} {rows:>12,} rows" in text


def test_explore_profiles_every_contract_column(explore, world):
    from features.contract import TABLES

    html = shown(explore[0], "column-profile")
    assert "<table" in html
    present = [table for table in TABLES.values() if (world["data"] / f"{table.name}.parquet").exists()]
    assert {t.name for t in present} >= {"leads", "events", "identities", "deals"}
    for table in present:
        for column in table.columns:
            assert f"<td>{column.name}</td>" in html, f"{table.name}.{column.name} missing from the profile"


def test_explore_funnel_counts_match_the_training_set_and_the_events(explore, training_frame, world):
    notebook, probe = explore
    latest = training_frame[training_frame["cutoff"] == training_frame["cutoff"].max()]
    assert pd.Timestamp(probe["cutoff"]) == training_frame["cutoff"].max()
    people = list(probe["funnel"].values())
    stages = latest["journey_stage"]
    assert people[1:] == [len(latest), int(stages.isin(["engaged", "leaning_in"]).sum()),
                          int((stages == "leaning_in").sum()), int(latest["label"].sum())]
    # anonymous visitors active in the stage window before the cutoff and not identified before it
    t, start = latest["cutoff"].iloc[0], latest["cutoff"].iloc[0] - pd.Timedelta(days=probe["window"])
    events = pd.read_parquet(world["data"] / "events.parquet", columns=["lead_id", "anonymous_id", "occurred_at"])
    identities = pd.read_parquet(world["data"] / "identities.parquet")
    when = naive_utc(events["occurred_at"])
    known = set(identities.loc[naive_utc(identities["identified_at"]) < t, "anonymous_id"])
    window = events[events["lead_id"].isna() & (when >= start) & (when < t)]
    assert people[0] == len(set(window["anonymous_id"]) - known) > 0
    html = shown(notebook, "funnel")
    assert "<table" in html and "leaning in" in html and f"<td>{len(latest)}</td>" in html
    assert images(notebook, "funnel-chart") == 1


def test_explore_conversion_by_stage_matches_the_labels(explore, training_frame):
    _, probe = explore
    expected = training_frame.groupby("journey_stage")["label"].agg(["mean", "size"])
    assert set(probe["conversion"]) == set(expected.index) == {"acknowledged", "engaged", "leaning_in"}
    for stage, row in expected.iterrows():
        assert probe["conversion"][stage] == pytest.approx(row["mean"], abs=1e-12)
        assert probe["rows"][stage] == row["size"]


def test_explore_signal_conversion_matches_the_labels(explore, training_frame):
    _, probe = explore
    pricing = training_frame[f"pricing_count_{probe['window']}d"] > 0
    assert probe["signals"]["viewed pricing"] == pytest.approx(training_frame.loc[pricing, "label"].mean(), abs=1e-12)


@pytest.mark.parametrize("tag", ["weekly-events", "training-counts", "stage-mix", "activity-conversion",
                                 "points-deciles"])
def test_explore_draws_its_charts(explore, tag):
    assert images(explore[0], tag) == 1


# -- 02: the model report ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def report(world, champion, base_env):
    env = {**base_env, "MLFLOW_TRACKING_URI": world["config"].mlflow.tracking_uri}
    probe = ('{"prefix": _sys.prefix, "run_id": run_id, "nested": nested, "deciles": deciles.to_dict("list"), '
             '"tiers": tiers.to_dict("list"), "segments": sorted(segments["segment"].unique())}')
    return execute("02-model-report.ipynb", env, probe)


def test_report_runs_in_this_environment(report):
    assert_kernel_is_this_environment(report[1])


def test_report_reads_the_latest_run_and_names_the_champion(report, champion):
    notebook, probe = report
    assert probe["run_id"] == champion["run_id"]
    header = shown(notebook, "run", "text/markdown")
    assert champion["run_id"] in header
    assert f"current champion** v{champion['registered_version']}" in header
    counts = shown(notebook, "run")
    assert f"<td>{champion['counts']['test_rows']}</td>" in counts


def test_report_compares_the_model_with_the_baselines_on_the_logged_metrics(report, champion):
    notebook, probe = report
    scorers = {s for s in champion["metrics"] if s != "model_vs_oracle"}
    assert {"model", "rules", "logistic", "oracle"} <= scorers == set(probe["nested"])
    for scorer in scorers:
        assert set(probe["nested"][scorer]) == set(champion["metrics"][scorer])
        for name, value in probe["nested"][scorer].items():
            logged = champion["metrics"][scorer][name]
            if math.isnan(logged):  # not logged to MLflow; the notebook shows it as missing
                assert value is None or math.isnan(value), (scorer, name)
            else:
                assert value == pytest.approx(logged, rel=1e-9), (scorer, name)
    html = shown(notebook, "baselines")
    for label in ("leadscore (calibrated)", "points score", "logistic regression", "oracle (true probability)"):
        assert label in html
    assert "Gates of the current params.yaml: all passed" in shown(notebook, "gates", "text/markdown")
    assert images(notebook, "baseline-plots") == 2


def test_report_lift_and_calibration_tables_are_the_runs_own(report, world):
    notebook, probe = report
    logged = pd.read_csv(world["folder"] / "training" / "deciles.csv")  # the same table, as written for DVC
    pd.testing.assert_frame_equal(pd.DataFrame(probe["deciles"]), logged, check_dtype=False)
    assert images(notebook, "lift") == 2 and images(notebook, "calibration") == 1
    assert "<table" in shown(notebook, "calibration")


def test_report_tiers_cover_every_reported_test_row(report, champion):
    _, probe = report  # the report half of the test block: the out-of-time estimate
    assert probe["tiers"]["tier"] == ["A", "B", "C", "D"]
    assert sum(probe["tiers"]["leads"]) == champion["counts"]["report_rows"]
    assert sum(probe["tiers"]["wins"]) == champion["counts"]["report_positives"]


def test_report_shows_every_segment(report):
    notebook, probe = report
    assert probe["segments"] == ["industry", "journey_stage", "lead_source"]
    markdown = shown(notebook, "segments", "text/markdown")
    assert all(f"by {segment}" in markdown for segment in probe["segments"])
    assert shown(notebook, "segments").count("<table") == 3
    assert images(notebook, "segment-chart") == 1 and images(notebook, "features") == 1


# -- 03: the weekly list review ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=["database", "csv"])
def review(request, base_env, weeks):
    env = {**base_env, "LEADSCORE_DB_URL": weeks["url"]}
    if request.param == "csv":
        env["LEADSCORE_SCORES_CSV"] = str(weeks["csv"])
    probe = ('{"prefix": _sys.prefix, "as_of": as_of, "rows": len(scores), "tiers": tiers.to_dict("list"), '
             '"moves": moves.to_dict(), "risers": risers["score_delta"].tolist(), '
             '"fallers": fallers["score_delta"].tolist(), "phrases": phrases.to_dict(), '
             '"accounts": accounts.head(5)[["account_id", "p_any"]].to_dict("list")}')
    notebook, probe = execute("03-weekly-list-review.ipynb", env, probe)
    return request.param, notebook, probe


@pytest.fixture(scope="module")
def late_week(weeks) -> pd.DataFrame:
    return weeks["rows"][weeks["rows"]["as_of"] == weeks["late"]]


def test_review_runs_in_this_environment(review):
    assert_kernel_is_this_environment(review[2])


def test_review_shows_the_latest_week(review, weeks, late_week):
    source, notebook, probe = review
    assert pd.Timestamp(probe["as_of"]) == weeks["late"]
    assert probe["rows"] == len(late_week)
    assert f"{weeks['late']:%d %B %Y}" in shown(notebook, "load", "text/markdown")
    runs = shown(notebook, "runs")
    assert ("succeeded" in runs) if source == "database" else (runs == "")


def test_review_tier_table_counts_leads_and_expected_wins(review, late_week, world):
    _, notebook, probe = review
    assert probe["tiers"]["tier"] == ["A", "B", "C", "D"]
    per_tier = late_week.groupby("tier")["probability"].agg(["size", "sum"]).reindex(["A", "B", "C", "D"])
    assert probe["tiers"]["leads"] == per_tier["size"].tolist()
    # the CSV carries probabilities rounded to 6 decimals: a tier's sum may be off by half a unit per lead
    # (ties in calibrated probabilities make the rounding errors add up rather than cancel)
    for got, want, leads in zip(probe["tiers"]["expected_wins"], per_tier["sum"], per_tier["size"]):
        assert got == pytest.approx(want, rel=1e-9, abs=leads * 5e-7)
    assert probe["tiers"]["leads"][0] == world["config"].tiers.capacity[0]
    html = shown(notebook, "tiers")
    assert "<table" in html and "expected_wins" in html
    assert "Leads and expected wins by tier" in shown(notebook, "tiers", "text/markdown")


def test_review_top_of_the_list_leads_with_rank_one_and_its_reasons(review, late_week):
    _, notebook, _ = review
    first = late_week.sort_values("rank").iloc[0]
    html = shown(notebook, "top")
    assert first["lead_id"] in html
    assert first["reasons"].split("; ")[0] in html


def test_review_movers_match_the_week_over_week_changes(review, late_week):
    _, notebook, probe = review
    assert probe["moves"] == late_week["tier_change"].value_counts().reindex(
        ["up", "down", "same", "new"], fill_value=0).to_dict()
    assert probe["moves"]["up"] + probe["moves"]["down"] > 0  # two weeks were scored: somebody moved
    deltas = late_week["score_delta"].dropna().sort_values()
    assert probe["risers"] == pytest.approx(deltas.iloc[::-1].head(10).tolist(), abs=1e-6)
    assert probe["fallers"] == pytest.approx(deltas.head(10).tolist(), abs=1e-6)
    assert "Tier changes" in shown(notebook, "movers", "text/markdown")
    assert shown(notebook, "risers-fallers").count("<table") == 2


def test_review_reasons_are_counted_without_numbers(review, late_week):
    _, notebook, probe = review
    phrases = probe["phrases"]
    assert phrases and not any(ch.isdigit() for phrase in phrases for ch in phrase)
    top_tiers = late_week[late_week["tier"].isin(["A", "B"])]
    assert max(phrases.values()) <= len(top_tiers)
    assert images(notebook, "reasons") == 1


def test_review_account_rollup_ranks_by_the_chance_of_any_conversion(review, late_week):
    _, notebook, probe = review
    known = late_week.dropna(subset=["account_id"])
    p_any = known.groupby("account_id")["probability"].apply(lambda p: 1 - float(np.prod(1 - p.to_numpy())))
    # the CSV source carries each probability to 6 decimals: an account's p_any may differ by half a unit per person
    tolerance = 5e-7 * known.groupby("account_id").size() + 1e-9
    assert probe["accounts"]["p_any"][0] == pytest.approx(p_any.max(), abs=tolerance.max())
    for account, value in zip(probe["accounts"]["account_id"], probe["accounts"]["p_any"]):
        assert value == pytest.approx(p_any[account], abs=tolerance[account])
    assert probe["accounts"]["account_id"][0] in shown(notebook, "accounts")


def test_review_runs_on_the_very_first_week(world, champion, base_env, tmp_path):
    """After a first `make demo` there is one week and no 'previous' column to format: it must still run."""
    from pipelines.score import run_scoring

    url = f"sqlite:///{tmp_path / 'leadscore.db'}"
    with pytest.MonkeyPatch.context() as patch:
        for variable in AMBIENT:
            patch.delenv(variable, raising=False)
        result = run_scoring(world["data"], world["config"], db_url=url, out_dir=tmp_path / "out")
    assert result.scores["score_delta"].isna().all()
    _, probe = execute("03-weekly-list-review.ipynb", {**base_env, "LEADSCORE_DB_URL": url},
                       '{"prefix": _sys.prefix, "rows": len(scores)}')
    assert probe["rows"] == len(result.scores)
