"""A world's truth file says which label it is the probability of; nothing compares it with another label."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from features import oracle
from features.simulate import SimulationParams
from features.spine import SpineSpec
from pipelines.generate import generate
from pipelines.train import load_truth


@pytest.fixture(scope="module")
def truth_path(tmp_path_factory):
    folder = tmp_path_factory.mktemp("oracle")
    generate(folder, SimulationParams(leads=300, seed=1, weeks=40), SpineSpec(horizon_days=60), progress=False)
    return folder / "truth.parquet"


def test_the_oracle_is_compared_only_with_its_own_label_and_horizon(truth_path):
    assert oracle.mismatch(truth_path, "won_deal_created", 60) is None
    assert "spine.label is won_deal_closed" in oracle.mismatch(truth_path, "won_deal_closed", 60)
    assert "60-day horizon; spine.horizon_days is 90" in oracle.mismatch(truth_path, "won_deal_created", 90)


def test_training_leaves_a_mismatched_oracle_out_and_says_why(truth_path):
    truth, why = load_truth(truth_path, SpineSpec(horizon_days=60))
    assert why is None and len(truth) > 0 and {"lead_id", "cutoff", "p_true"} <= set(truth)
    truth, why = load_truth(truth_path, SpineSpec(horizon_days=60, label="won_deal_closed"))
    assert truth is None and why.startswith("oracle metrics left out: ")


def test_a_truth_file_that_does_not_say_its_label_is_not_used(truth_path, tmp_path):
    table = pq.read_table(truth_path)
    old = tmp_path / "truth.parquet"
    pq.write_table(table.replace_schema_metadata({}), old)
    assert "does not say which label" in oracle.mismatch(old, "won_deal_created", 60)
