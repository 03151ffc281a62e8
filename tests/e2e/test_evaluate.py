"""``leadscore generate --world`` and ``leadscore evaluate``: the pipeline on worlds it was not built on.

Small sizes (8,000 leads, one seed): the step's machinery and the invariants that hold at
any size (no scorer beats the oracle by more than noise, the model ranks better than
chance, the table names every world). The targets themselves are benchmarks
(``leadscore evaluate`` at 20,000 leads and three seeds: BENCHMARKS.md), not tests.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from tests.e2e.test_cli import run

PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"  # the project's settings; each world's go on top

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("evaluate")]
WORLDS = ("committee", "product_led")


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("evaluate")
    result = run("evaluate", "--worlds", ",".join(WORLDS), "--seeds", "1", "--leads", "8000", "--out", "ev",
                 "--params", str(PARAMS), cwd=folder, timeout=900)
    return folder / "ev", result


def test_evaluate_writes_a_row_per_world_and_seed_and_a_table(evaluated):
    out, result = evaluated
    assert result.returncode == 0, result.stderr[-3000:]
    results = pd.read_csv(out / "results.csv")
    assert list(results["world"]) == list(WORLDS)
    assert "error" not in results or results["error"].isna().all(), results.get("error")
    table = (out / "summary.md").read_text()
    for world in WORLDS:
        assert f"| {world} |" in table and f"| {world} |" in result.stdout
    assert (out / "model_vs_oracle.png").stat().st_size > 10_000
    assert "Targets" in table


def test_no_scorer_beats_the_oracle_and_the_model_ranks_better_than_chance(evaluated):
    results = pd.read_csv(evaluated[0] / "results.csv")
    for _, row in results.iterrows():
        for scorer in ("model", "rules", "logistic"):
            assert row[f"{scorer}_roc_auc"] <= row["oracle_roc_auc"] + 0.02, (row["world"], scorer)
        assert row["model_roc_auc"] > 0.6, row["world"]
        assert row["roc_auc_vs_oracle"] == pytest.approx(row["model_roc_auc"] / row["oracle_roc_auc"])
        assert 0 < row["model_base_rate"] < 0.05


def test_generate_writes_another_world_with_its_own_vocabulary(tmp_path):
    result = run("generate", "--world", "product_led", "--out", "pl", "--leads", "1500", "--seed", "3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "product_led world" in result.stdout and "training cutoffs" in result.stdout
    events = pq.read_schema(tmp_path / "pl" / "events.parquet").names
    assert "content_type" not in events  # this export lacks the optional content columns
    assert (tmp_path / "pl" / "lifecycle.parquet").is_file() and (tmp_path / "pl" / "truth.parquet").is_file()
    assert "data.event_types" in result.stdout  # the settings an analyst needs for it
    unknown = run("generate", "--world", "nope", "--out", "x", cwd=tmp_path)
    assert unknown.returncode == 2 and "committee" in unknown.stderr + unknown.stdout
    assert not (tmp_path / "x").exists()
