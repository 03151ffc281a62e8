"""Negative sampling of a training set: every positive kept, negatives chosen by (lead, cutoff, seed), weights exact."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.frame import WEIGHT
from pipelines.train import load_training_set


@pytest.fixture(scope="module")
def training_file(tmp_path_factory):
    rng = np.random.default_rng(4)
    n = 3000
    frame = pd.DataFrame({
        "lead_id": [f"L{i % 1000:04d}" for i in range(n)],
        "account_id": [f"A{i % 97}" for i in range(n)],
        "cutoff": pd.to_datetime(["2025-01-06", "2025-01-20", "2025-02-03"]).repeat(1000),
        "label": (rng.random(n) < 0.05).astype("int32"),
        "journey_stage": "Engaged",
        "page_view_count_30d": rng.poisson(2, n).astype(float),
        "industry": rng.choice(["saas", "retail"], n),
    })
    path = tmp_path_factory.mktemp("sampling") / "training_set.parquet"
    frame.to_parquet(path)
    shuffled = path.with_name("shuffled.parquet")
    frame.sample(frac=1, random_state=1).reset_index(drop=True).to_parquet(shuffled)
    return path, shuffled, frame


def test_every_positive_is_kept_with_weight_one(training_file):
    path, _, full = training_file
    sample = load_training_set(path, 0.2, seed=42)
    positives = sample[sample["label"] == 1]
    assert len(positives) == full["label"].sum()
    assert (positives[WEIGHT] == 1.0).all()


def test_the_weights_of_each_cutoff_add_up_to_its_negatives(training_file):
    path, _, full = training_file
    sample = load_training_set(path, 0.2, seed=42)
    negatives = sample[sample["label"] == 0]
    assert 0.12 < len(negatives) / (full["label"] == 0).sum() < 0.28  # about the rate
    represented = negatives.groupby("cutoff")[WEIGHT].sum()
    actual = full[full["label"] == 0].groupby("cutoff").size()
    np.testing.assert_allclose(represented.to_numpy(), actual.to_numpy(), rtol=1e-12)


def test_the_sample_does_not_depend_on_row_order_and_repeats(training_file):
    path, shuffled, _ = training_file
    first = load_training_set(path, 0.2, seed=42)
    again = load_training_set(path, 0.2, seed=42)
    reordered = load_training_set(shuffled, 0.2, seed=42)
    pd.testing.assert_frame_equal(first, again)
    pd.testing.assert_frame_equal(first, reordered)


def test_a_higher_rate_keeps_a_superset_and_another_seed_another_sample(training_file):
    path, _, _ = training_file
    keys = lambda f: set(zip(f["lead_id"], f["cutoff"]))  # noqa: E731
    small, large = load_training_set(path, 0.1, seed=42), load_training_set(path, 0.3, seed=42)
    assert keys(small) < keys(large)
    assert keys(load_training_set(path, 0.1, seed=7)) != keys(small)


def test_sampled_columns_have_the_types_of_the_whole_file(training_file):
    path, _, _ = training_file
    whole, sample = load_training_set(path), load_training_set(path, 0.5, seed=1)
    assert WEIGHT not in whole  # a rate of 1 reads the file as it is
    assert sample.drop(columns=WEIGHT).dtypes.equals(whole.dtypes)


def test_a_rate_outside_zero_to_one_is_refused(tmp_path):
    from pipelines.sampling import sample_negatives

    with pytest.raises(ValueError, match="negative_sample_rate"):
        sample_negatives(tmp_path / "x.parquet", 0.0, 1)
