"""The peers compute the same features as leadscore, so the benchmark compares like with like.

The pandas peer runs here (it shares leadscore's environment); the featuretools peer
needs pandas < 3 and runs in ``.venv-bench`` when that exists (every benchmark run
checks it as well: ``agreement`` in ``benchmarks/results.json``). A small simulated world is varied with what the simulator
never writes (late ingestion, re-sent events, missing content and durations), then
leadscore's one-cutoff build (the scoring path) and its 12-cutoff training set are
compared with the peer on the same rows: floats within 1e-9 relative, nulls exactly.
"""

from __future__ import annotations

import os
import subprocess
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.agreement import compare
from benchmarks.peers import pandas_features, shared
from benchmarks.steps import TRAINING_SPINE, score_date, training_cutoffs
from features.contract import DEFAULT_EVENT_TYPES
from features.definitions import FeatureSpec, StageSpec, manifest
from features.simulate import SimulationParams
from features.spine import SpineSpec
from features.training_set import build_scoring_frame, build_training_set
from pipelines.generate import generate
from pipelines.sources import open_tables

pytestmark = pytest.mark.xdist_group("benchmark_peers")
EXTRA = ("stated_goal", "budget_range", "purchase_timeline")


def test_shared_features_are_leadscore_features():
    spec = FeatureSpec()
    assert shared.EVENT_TYPES == DEFAULT_EVENT_TYPES
    assert (shared.CONTENT_TYPES, shared.INTENT_CONTENT_TYPES, shared.WINDOWS_DAYS) == (
        spec.content_types, spec.roles.high_intent, spec.windows_days)
    ours = {f.name: f for f in manifest(spec, DEFAULT_EVENT_TYPES, EXTRA)}
    names = shared.feature_names()
    assert len(names) == len(set(names)) == 105
    assert set(names) <= set(ours)
    assert {ours[n].family for n in names} == {"engagement"}


def _vary(folder: Path) -> None:
    """Late-ingested and re-sent events, missing content ids and durations."""
    rng = np.random.default_rng(3)
    events = pd.read_parquet(folder / "events.parquet")
    events["event_id"] = [f"E{i}" for i in range(len(events))]
    late = rng.random(len(events)) < 0.05
    events["ingested_at"] = events["occurred_at"].where(late) + timedelta(days=3)
    events.loc[rng.random(len(events)) < 0.02, "content_id"] = None
    events.loc[(events["event_type"] == "page_view") & (rng.random(len(events)) < 0.02), "duration_s"] = None
    resent = events.sample(200, random_state=4).assign(
        ingested_at=lambda e: e["occurred_at"] + timedelta(days=10), event_type="page_view", duration_s=999.0)
    pd.concat([events, resent], ignore_index=True).to_parquet(folder / "events.parquet", index=False)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("peers") / "data"
    generate(folder, SimulationParams(leads=400, weeks=60, seed=5), SpineSpec(), progress=False)
    _vary(folder)
    return folder


def _agree(tables, table: str, folder: Path, name: str) -> dict:
    ours = folder / f"{name}-leadscore.parquet"
    tables.con.execute(f"COPY {table} TO '{ours}' (FORMAT PARQUET)")
    spine = shared.read_spine(ours)
    theirs = folder / f"{name}-pandas.parquet"
    pandas_features.build(tables.directory, spine).to_parquet(theirs, index=False)
    return compare(ours, theirs, shared.feature_names())


def test_pandas_peer_equals_leadscore_at_one_cutoff(world, tmp_path):
    tables = open_tables(world, extra_lead_columns=EXTRA, require_deals=True)
    assert tables.duplicate_events_dropped == 200
    table = build_scoring_frame(tables.con, score_date(tables), SpineSpec(), FeatureSpec(), StageSpec(),
                                DEFAULT_EVENT_TYPES, EXTRA)
    check = _agree(tables, table, tmp_path, "one")
    assert check["rows_compared"] > 300
    assert check["equal"], check


def test_pandas_peer_equals_leadscore_over_twelve_cutoffs(world, tmp_path):
    tables = open_tables(world, extra_lead_columns=EXTRA, require_deals=True)
    cutoffs = training_cutoffs(tables)
    assert len(cutoffs) >= 8
    table, _ = build_training_set(tables.con, TRAINING_SPINE, FeatureSpec(), StageSpec(), tables.data_start(),
                                  tables.data_end(), DEFAULT_EVENT_TYPES, EXTRA, cutoffs=cutoffs)
    check = _agree(tables, table, tmp_path, "twelve")
    assert check["equal"], check


BENCH_PYTHON = Path(__file__).resolve().parents[2] / ".venv-bench" / "bin" / "python"


@pytest.mark.slow
@pytest.mark.skipif(not BENCH_PYTHON.exists() and not os.environ.get("CI"),
                    reason="no .venv-bench (make bench-setup makes it; CI always does)")
def test_featuretools_peer_equals_leadscore(world, tmp_path):
    assert BENCH_PYTHON.exists(), "CI must check the featuretools peer: .ci/run runs 'make bench-setup' first"
    tables = open_tables(world, extra_lead_columns=EXTRA, require_deals=True)
    cutoffs = training_cutoffs(tables)[-3:]  # featuretools is slow: three cutoffs show the per-cutoff handling
    table, _ = build_training_set(tables.con, TRAINING_SPINE, FeatureSpec(), StageSpec(), tables.data_start(),
                                  tables.data_end(), DEFAULT_EVENT_TYPES, EXTRA, cutoffs=cutoffs)
    ours = tmp_path / "ours.parquet"
    tables.con.execute(f"COPY {table} TO '{ours}' (FORMAT PARQUET)")
    theirs = tmp_path / "featuretools.parquet"
    subprocess.run([str(BENCH_PYTHON), "-m", "benchmarks.peers.featuretools_features", str(world), str(ours), str(theirs)],
                   check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    check = compare(ours, theirs, shared.feature_names())
    assert check["equal"], check


def test_a_changed_value_is_caught(world, tmp_path):
    tables = open_tables(world, extra_lead_columns=EXTRA, require_deals=True)
    table = build_scoring_frame(tables.con, score_date(tables), SpineSpec(), FeatureSpec(), StageSpec(),
                                DEFAULT_EVENT_TYPES, EXTRA)
    ours = tmp_path / "ours.parquet"
    tables.con.execute(f"COPY {table} TO '{ours}' (FORMAT PARQUET)")
    peer = pandas_features.build(world, shared.read_spine(ours))
    peer.loc[1, "page_view_count_7d"] += 1
    peer.loc[2, "days_since_last_pricing"] = np.nan if pd.notna(peer.loc[2, "days_since_last_pricing"]) else 3.0
    theirs = tmp_path / "theirs.parquet"
    peer.iloc[1:].to_parquet(theirs, index=False)  # and one row missing
    check = compare(ours, theirs, shared.feature_names())
    assert not check["equal"]
    assert (check["rows_only_leadscore"], check["rows_only_peer"]) == (1, 0)
    assert check["mismatching_columns"] == {"days_since_last_pricing": 1, "page_view_count_7d": 1}


@pytest.mark.slow
def test_pandas_peer_equals_leadscore_on_the_10k_benchmark_data(tmp_path):
    """The benchmark's smallest size as `make bench-quick` generates it (10k leads, seed 1, two years)."""
    generate(tmp_path / "data", SimulationParams(leads=10_000, seed=1), SpineSpec(), progress=False)
    tables = open_tables(tmp_path / "data", extra_lead_columns=EXTRA, require_deals=True)
    one = build_scoring_frame(tables.con, score_date(tables), SpineSpec(), FeatureSpec(), StageSpec(),
                              DEFAULT_EVENT_TYPES, EXTRA)
    assert _agree(tables, one, tmp_path, "one")["equal"]
    twelve, _ = build_training_set(tables.con, TRAINING_SPINE, FeatureSpec(), StageSpec(), tables.data_start(),
                                   tables.data_end(), DEFAULT_EVENT_TYPES, EXTRA, cutoffs=training_cutoffs(tables))
    check = _agree(tables, twelve, tmp_path, "twelve")
    assert check["equal"], check
    assert check["rows_compared"] > 50_000
