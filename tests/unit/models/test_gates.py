"""Registration gates, and the refusal to train on too little signal."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from models.baselines import RuleSpec
from models.estimator import BoosterSpec
from models.splits import SplitSpec
from models.training import GateSpec, NotEnoughData, TrainSpec, check_gates, train

GATES = GateSpec(min_roc_auc=0.70, min_pr_auc=0.03, max_brier=0.05, max_ece=0.02, min_pr_auc_gain_over_rules=0.25)
GOOD_MODEL = {"roc_auc": 0.80, "pr_auc": 0.10, "brier": 0.010, "ece": 0.005}
RULES = {"roc_auc": 0.75, "pr_auc": 0.05, "brier": 0.011, "ece": 0.004}


def metrics(rules_pr_auc: float = RULES["pr_auc"], **model):
    return {"model": {**GOOD_MODEL, **model}, "rules": {**RULES, "pr_auc": rules_pr_auc}}


def test_a_good_model_passes_every_gate():
    assert check_gates(metrics(), GATES) == []


@pytest.mark.parametrize("bad, rules_pr_auc, expected", [
    ({"roc_auc": 0.65}, 0.05, "ROC AUC 0.650 < 0.7"),
    ({"pr_auc": 0.02}, 0.01, "PR AUC 0.0200 < 0.03"),  # rules weak enough that only the absolute floor fails
    ({"brier": 0.06}, 0.05, "Brier 0.0600 > 0.05"),
    ({"ece": 0.03}, 0.05, "calibration error 0.0300 > 0.02"),
    ({"pr_auc": 0.06}, 0.05, "does not beat the points score's 0.0500 by 25%"),  # needs 0.0625
], ids=["roc_auc", "pr_auc", "brier", "ece", "gain_over_rules"])
def test_each_gate_alone_refuses_a_bad_model(bad, rules_pr_auc, expected):
    failures = check_gates(metrics(rules_pr_auc, **bad), GATES)
    assert len(failures) == 1, failures
    assert expected in failures[0]


def test_all_failures_are_reported_together():
    failures = check_gates(metrics(roc_auc=0.5, pr_auc=0.01, brier=0.2, ece=0.1), GATES)
    assert len(failures) == 5


def test_thresholds_are_inclusive():
    at_limit = metrics(roc_auc=0.70, pr_auc=0.10, brier=0.05, ece=0.02)
    assert check_gates(at_limit, GATES) == []


@pytest.mark.parametrize("metric", ["roc_auc", "pr_auc", "brier", "ece"])
def test_a_nan_metric_fails_its_gate(metric):
    # an undefined metric (e.g. no positives in the test block) must never pass silently
    failures = check_gates(metrics(**{metric: float("nan")}), GATES)
    assert failures


def test_a_negative_gain_lets_a_model_slightly_worse_than_rules_through():
    lenient = GATES.model_copy(update={"min_pr_auc_gain_over_rules": -0.5})
    assert check_gates(metrics(rules_pr_auc=0.12, pr_auc=0.10), lenient) == []


# -- NotEnoughData ------------------------------------------------------------------------------------------------

SPLIT = SplitSpec(test_cutoffs=2, validation_cutoffs=2, min_train_cutoffs=2)
HORIZON = 14  # weekly cutoffs: one purged cutoff between blocks
CUTOFFS = [datetime(2025, 1, 6) + timedelta(weeks=i) for i in range(10)]  # train 4, purged 1, validation 2, ...
RULE_COLUMNS = [f"{signal}_count_{w}d" for signal in RuleSpec().points for w in RuleSpec().decay]


def frame(train_pos: int, validation_pos: int, test_pos: int, leads: int = 40) -> pd.DataFrame:
    """A minimal training set: 10 weekly cutoffs x ``leads`` leads, with positives placed per block."""
    from models.splits import time_split

    split = time_split(CUTOFFS, HORIZON, SPLIT)
    rows = []
    for cutoff in CUTOFFS:
        for i in range(leads):
            rows.append({"lead_id": f"L{i:03d}", "account_id": f"A{i % 7}", "cutoff": pd.Timestamp(cutoff),
                         "label": 0, "journey_stage": "aware", "x": float(i)})
    out = pd.DataFrame(rows)
    out[RULE_COLUMNS] = 0.0
    for block, count in ((split.train, train_pos), (split.validation, validation_pos), (split.test, test_pos)):
        index = out.index[out["cutoff"].isin(block)][:count]
        assert len(index) == count
        out.loc[index, "label"] = 1
        out.loc[index, "page_view_count_7d"] = 3.0  # some signal for the points score
    return out


def spec(**overrides) -> TrainSpec:
    booster = BoosterSpec(threads=1, max_rounds=20, early_stopping_rounds=5, min_child_samples=5)
    return TrainSpec(split=SPLIT, booster=booster, min_positives_train=30, min_positives_test=10, **overrides)


def test_too_few_train_positives_raise_with_the_counts():
    with pytest.raises(NotEnoughData, match=r"5 positives in the train block \(need 30\)"):
        train(frame(5, 20, 20), [], HORIZON, spec())


def test_too_few_test_positives_raise_with_the_counts():
    with pytest.raises(NotEnoughData, match=r"3 positives in the test block \(need 10\)"):
        train(frame(50, 20, 3), [], HORIZON, spec())


def test_too_few_validation_positives_raise_with_the_counts():
    with pytest.raises(NotEnoughData, match=r"1 positives in the validation block \(need 2\)"):
        train(frame(50, 1, 20), [], HORIZON, spec())


def test_every_shortfall_is_named_in_one_message():
    with pytest.raises(NotEnoughData) as info:
        train(frame(0, 0, 0), [], HORIZON, spec())
    message = str(info.value)
    for fragment in ("0 positives in the train block", "0 positives in the test block",
                     "0 positives in the validation block"):
        assert fragment in message


def test_not_enough_data_is_a_value_error_with_advice():
    with pytest.raises(ValueError, match="min_positives"):
        train(frame(5, 20, 20), [], HORIZON, spec())


def test_the_minimums_are_configurable():
    lenient = spec().model_copy(update={"min_positives_train": 5})
    result = train(frame(5, 20, 20), [], HORIZON, lenient)
    assert result.counts == {"train_rows": 160, "train_positives": 5, "validation_rows": 80,
                             "validation_positives": 20, "test_rows": 80, "test_positives": 20}


def test_the_split_is_checked_before_positives():
    short = frame(50, 20, 20)
    short = short[short["cutoff"] >= CUTOFFS[5]]  # too few cutoffs: a split error, not NotEnoughData
    with pytest.raises(ValueError, match="too few") as info:
        train(short, [], HORIZON, spec())
    assert not isinstance(info.value, NotEnoughData)


def test_positive_counts_follow_the_split():
    # sanity of the helper itself: the split really has train, validation and test blocks of the expected sizes
    from models.splits import time_split

    split = time_split(CUTOFFS, HORIZON, SPLIT)
    assert (len(split.train), len(split.validation), len(split.test)) == (4, 2, 2)
    assert np.all(np.diff(CUTOFFS) == timedelta(weeks=1))
