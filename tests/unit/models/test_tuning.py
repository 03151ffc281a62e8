"""--tune: Optuna trials on time-ordered validation halves, never on the test block."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.estimator import BoosterSpec
from models.tuning import tune
from tests.unit.models.test_estimator import make

FAST = BoosterSpec(threads=1, max_rounds=60, early_stopping_rounds=10, min_child_samples=20)


def frame(n: int, seed: int, cutoffs: list[str]) -> pd.DataFrame:
    X, y = make(n, -2.5, seed)
    X["label"] = y
    X["cutoff"] = pd.to_datetime(np.resize(np.array(cutoffs), n))
    return X


def test_tuning_returns_a_spec_within_the_search_space_and_its_score():
    train = frame(3000, 1, ["2025-01-06", "2025-01-20"])
    validation = frame(3000, 2, ["2025-05-05", "2025-05-19", "2025-06-02", "2025-06-16"])
    features = ["x1", "x2", "visits", "colour", "noise"]
    spec, score = tune(train, validation, features, ["colour"], FAST, trials=3, seed=0)
    assert 0.01 <= spec.learning_rate <= 0.2
    assert 4 <= spec.num_leaves <= 63 and 2 <= spec.max_depth <= 6
    assert spec.threads == 1 and spec.max_rounds == FAST.max_rounds  # untouched settings are kept
    assert 0 < score <= 1


def test_tuning_is_deterministic_for_a_seed():
    train = frame(2000, 3, ["2025-01-06", "2025-01-20"])
    validation = frame(2000, 4, ["2025-05-05", "2025-05-19", "2025-06-02", "2025-06-16"])
    features = ["x1", "x2", "visits", "colour", "noise"]
    first = tune(train, validation, features, ["colour"], FAST, trials=2, seed=7)
    second = tune(train, validation, features, ["colour"], FAST, trials=2, seed=7)
    assert first == second


def test_tuning_refuses_a_validation_half_without_positives():
    train = frame(1000, 5, ["2025-01-06"])
    validation = frame(1000, 6, ["2025-05-05", "2025-05-19"])
    validation.loc[validation["cutoff"] == pd.Timestamp("2025-05-19"), "label"] = 0
    with pytest.raises(ValueError, match="no positives"):
        tune(train, validation, ["x1", "x2", "visits", "colour", "noise"], ["colour"], FAST, trials=1, seed=0)
