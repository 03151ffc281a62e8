"""Registration gates, and the refusal to train on too little signal."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from models.baselines import RuleSpec
from models.estimator import BoosterSpec
from models.gates import GateSpec, brier_skill, check_gates
from models.splits import SplitSpec
from models.training import NotEnoughData, TrainSpec, train

GATES = GateSpec()
BASE = 0.01
GOOD_MODEL = {"roc_auc": 0.80, "pr_auc": 0.10, "precision_at_capacity": 0.20, "brier": 0.0095, "ece": 0.001,
              "base_rate": BASE, "mean_probability": 0.0101}
RULES = {"roc_auc": 0.75, "pr_auc": 0.05, "precision_at_capacity": 0.10, "brier": 0.0098, "ece": 0.001,
         "base_rate": BASE, "mean_probability": 0.01}
LOGISTIC = {**RULES, "pr_auc": 0.08, "precision_at_capacity": 0.15}


def metrics(rules=None, logistic=None, **model):
    return {"model": {**GOOD_MODEL, **model}, "rules": {**RULES, **(rules or {})},
            "logistic": {**LOGISTIC, **(logistic or {})}}


def test_a_good_model_passes_every_gate():
    assert check_gates(metrics(), GATES) == []


@pytest.mark.parametrize("case, expected", [
    (metrics(roc_auc=0.65), "ROC AUC 0.650 < 0.7"),
    (metrics(pr_auc=0.019, rules={"pr_auc": 0.01}, logistic={"pr_auc": 0.01}), "is not 2x the base rate"),
    (metrics(rules={"pr_auc": 0.09}), "does not beat the points score's 0.0900 by 25%"),
    (metrics(logistic={"pr_auc": 0.11}), "does not beat the logistic regression's 0.1100"),
    (metrics(rules={"precision_at_capacity": 0.25}), "below the points score's 0.250"),
    (metrics(logistic={"precision_at_capacity": 0.21}), "below the logistic regression's 0.210"),
    (metrics(brier=0.0099), "Brier skill score"),  # exactly the base rate's Brier score: no skill
    (metrics(ece=0.006), "more than 0.5x the base rate"),
    (metrics(mean_probability=0.013), "expected wins are 1.30x the actual wins"),
    (metrics(mean_probability=0.0079), "expected wins are 0.79x the actual wins"),
], ids=["roc_auc", "pr_auc_over_base_rate", "gain_over_rules", "gain_over_logistic", "precision_vs_rules",
        "precision_vs_logistic", "brier_skill", "ece_over_base_rate", "too_many_expected", "too_few_expected"])
def test_each_gate_alone_refuses_a_bad_model(case, expected):
    failures = check_gates(case, GATES)
    assert len(failures) == 1, failures
    assert expected in failures[0]


def test_all_failures_are_reported_together():
    failures = check_gates(metrics(roc_auc=0.5, pr_auc=0.01, precision_at_capacity=0.0, brier=0.02, ece=0.01,
                                   mean_probability=0.05), GATES)
    assert len(failures) == 9


def test_thresholds_are_inclusive():
    at_limit = metrics(roc_auc=0.70, pr_auc=0.0625, rules={"pr_auc": 0.05}, logistic={"pr_auc": 0.0625},
                       precision_at_capacity=0.15, ece=0.005, mean_probability=0.0125)
    assert check_gates(at_limit, GATES) == []


@pytest.mark.parametrize("metric", ["roc_auc", "pr_auc", "precision_at_capacity", "brier", "ece", "mean_probability"])
def test_a_nan_metric_fails_its_gate(metric):
    # an undefined metric (e.g. no positives in the test block) must never pass silently
    failures = check_gates(metrics(**{metric: float("nan")}), GATES)
    assert failures


def test_a_negative_gain_lets_a_model_slightly_worse_than_rules_through():
    lenient = GATES.model_copy(update={"min_pr_auc_gain_over_rules": -0.5})
    assert check_gates(metrics(rules={"pr_auc": 0.12}, logistic={"pr_auc": 0.05}), lenient) == []


def test_brier_skill_is_zero_for_the_base_rate_and_one_for_perfection():
    assert brier_skill({"base_rate": 0.01, "brier": 0.0099}) == pytest.approx(0.0)
    assert brier_skill({"base_rate": 0.01, "brier": 0.0}) == 1.0


def test_the_old_absolute_gates_are_refused_with_their_replacements():
    with pytest.raises(ValueError, match="max_brier.*min_brier_skill"):
        GateSpec.model_validate({"max_brier": 0.05})


def test_a_model_of_shuffled_labels_fails_the_default_gates_at_a_low_base_rate():
    """At 0.8 % positives the absolute gates of old passed a useless model; the relative ones must not."""
    rng = np.random.default_rng(3)
    cutoffs = [datetime(2025, 1, 6) + timedelta(weeks=i) for i in range(24)]
    leads = 2500
    frame = pd.DataFrame({"lead_id": np.tile([f"L{i:05d}" for i in range(leads)], len(cutoffs)),
                          "cutoff": np.repeat(pd.to_datetime(cutoffs), leads)})
    frame["account_id"], frame["journey_stage"] = "A", "acknowledged"
    for w in RuleSpec().decay:
        for signal in RuleSpec().points:
            frame[f"{signal}_count_{w}d"] = rng.poisson(0.3, len(frame)).astype(float)
    frame["x"] = rng.normal(size=len(frame))
    truth = rng.random(len(frame)) < 1 / (1 + np.exp(-(-5.6 + 1.2 * frame["x"] + 0.4 * frame["pricing_count_7d"])))
    frame["label"] = rng.permutation(truth.astype(int))  # shuffled: no feature says anything about the label
    assert 0.006 < frame["label"].mean() < 0.01
    spec = TrainSpec(split=SplitSpec(test_cutoffs=4, validation_cutoffs=4, min_train_cutoffs=2),
                     booster=BoosterSpec(threads=1, max_rounds=200, early_stopping_rounds=20))
    result = train(frame, [], 14, spec, capacity=50)
    failures = " | ".join(result.gate_failures)
    for gate in ("ROC AUC", "is not 2x the base rate", "Brier skill score"):
        assert gate in failures, (gate, result.metrics["model"])
    unshuffled = train(frame.assign(label=truth.astype(int)), [], 14, spec, capacity=50)
    assert not any("ROC AUC" in f or "2x the base rate" in f for f in unshuffled.gate_failures), unshuffled.metrics


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
        train(frame(5, 20, 20), [], HORIZON, spec(), capacity=50)


def test_too_few_test_positives_raise_with_the_counts():
    with pytest.raises(NotEnoughData, match=r"3 positives in the test block \(need 10\)"):
        train(frame(50, 20, 3), [], HORIZON, spec(), capacity=50)


def test_too_few_validation_positives_raise_with_the_counts():
    with pytest.raises(NotEnoughData, match=r"1 positives in the validation block \(need 2\)"):
        train(frame(50, 1, 20), [], HORIZON, spec(), capacity=50)


def test_every_shortfall_is_named_in_one_message():
    with pytest.raises(NotEnoughData) as info:
        train(frame(0, 0, 0), [], HORIZON, spec(), capacity=50)
    message = str(info.value)
    for fragment in ("0 positives in the train block", "0 positives in the test block",
                     "0 positives in the validation block"):
        assert fragment in message


def test_not_enough_data_is_a_value_error_with_advice():
    with pytest.raises(ValueError, match="min_positives"):
        train(frame(5, 20, 20), [], HORIZON, spec(), capacity=50)


def test_the_minimums_are_configurable():
    lenient = spec().model_copy(update={"min_positives_train": 5})
    result = train(frame(5, 20, 20), [], HORIZON, lenient, capacity=50)
    counts = result.counts
    assert {k: counts[k] for k in ("train_rows", "train_positives", "validation_rows", "validation_positives",
                                   "test_rows", "test_positives")} == {
        "train_rows": 160, "train_positives": 5, "validation_rows": 80, "validation_positives": 20,
        "test_rows": 80, "test_positives": 20}
    # the test block's halves partition it
    assert counts["selection_rows"] + counts["report_rows"] == 80
    assert counts["selection_positives"] + counts["report_positives"] == 20
    assert min(counts["selection_rows"], counts["report_rows"]) > 0


def test_the_split_is_checked_before_positives():
    short = frame(50, 20, 20)
    short = short[short["cutoff"] >= CUTOFFS[5]]  # too few cutoffs: a split error, not NotEnoughData
    with pytest.raises(ValueError, match="too few") as info:
        train(short, [], HORIZON, spec(), capacity=50)
    assert not isinstance(info.value, NotEnoughData)


def test_positive_counts_follow_the_split():
    # sanity of the helper itself: the split really has train, validation and test blocks of the expected sizes
    from models.splits import time_split

    split = time_split(CUTOFFS, HORIZON, SPLIT)
    assert (len(split.train), len(split.validation), len(split.test)) == (4, 2, 2)
    assert np.all(np.diff(CUTOFFS) == timedelta(weeks=1))


def test_the_gates_read_the_selection_half_and_the_reported_metrics_come_from_the_other_half():
    from models.gates import check_gates
    from models.splits import selection_half

    data = frame(50, 20, 20)
    result = train(data, [], HORIZON, spec(), capacity=50)
    assert result.gate_failures == check_gates(result.selection_metrics, spec().gates)
    test = data[data["cutoff"].isin(result.split.test)]
    selected = set(test.loc[selection_half(test), "account_id"])
    reported = set(test.loc[test["lead_id"].isin(result.test_predictions["lead_id"]), "account_id"])
    assert selected and reported and not selected & reported
    assert len(result.test_predictions) == result.counts["report_rows"]
    assert result.metrics["model"]["base_rate"] == pytest.approx(
        result.counts["report_positives"] / result.counts["report_rows"])


def test_a_test_half_without_positives_is_not_enough_data():
    from models.splits import selection_half

    data = frame(50, 20, 0)
    test_rows = data.index[data["cutoff"].isin(sorted(CUTOFFS)[-2:]).to_numpy()
                           & selection_half(data)][:20]
    data.loc[test_rows, "label"] = 1  # all twenty in the selection half
    with pytest.raises(NotEnoughData, match="no positives in the test block's report half"):
        train(data, [], HORIZON, spec(), capacity=50)
