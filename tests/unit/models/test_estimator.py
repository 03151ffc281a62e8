"""LeadPropensityModel on synthetic data: calibration, determinism, robust inputs, no class weighting.

The data: a logistic world with two informative numbers, a count, a categorical and a
noise column. The booster is trained on an early slice with a ~4 % base rate, and the
validation and test slices come from a later period where the base rate fell to ~1 %
(as happens when a campaign ends): the booster's raw probabilities are then too
high there, which is exactly what calibrating on a later slice must repair.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score

from models.estimator import BoosterSpec, LeadPropensityModel

FAST = BoosterSpec(learning_rate=0.1, num_leaves=15, min_child_samples=20, max_rounds=300, early_stopping_rounds=30,
                   threads=1)
COLOUR_EFFECT = {"red": 0.0, "green": 0.7, "blue": -0.5}


def make(n: int, intercept: float, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "x1": rng.normal(size=n),
        "x2": rng.normal(size=n),
        "visits": rng.poisson(1.0, n).astype(float),
        "colour": rng.choice(list(COLOUR_EFFECT), n, p=[0.5, 0.3, 0.2]),
        "noise": rng.normal(size=n),
    })
    logit = intercept + 1.2 * X["x1"] + 0.6 * X["x2"] + 0.4 * X["visits"] + X["colour"].map(COLOUR_EFFECT)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


@pytest.fixture(scope="module")
def data():
    train = make(3000, -4.5, 10)
    validation = make(2000, -6.0, 20)
    test = make(4000, -6.0, 30)
    return train, validation, test


def fit(data, seed: int = 0, spec: BoosterSpec = FAST) -> LeadPropensityModel:
    (Xt, yt), (Xv, yv), _ = data
    return LeadPropensityModel.from_spec(spec, ["colour"], seed).fit(Xt, yt, Xv, yv)


@pytest.fixture(scope="module")
def model(data):
    return fit(data)


def test_the_raw_booster_is_miscalibrated_on_the_later_slice(model, data):
    # the premise of the calibration tests: without calibration the later slice is badly overestimated
    X, y = data[2]
    assert model.uncalibrated_proba(X).mean() > 1.5 * y.mean()


@pytest.mark.parametrize("method", ["auto", "isotonic", "sigmoid"])
def test_calibration_improves_brier_on_held_out_data(data, method):
    m = fit(data, spec=FAST.model_copy(update={"calibration": method}))
    X, y = data[2]
    raw = brier_score_loss(y, m.uncalibrated_proba(X))
    calibrated = brier_score_loss(y, m.predict_proba(X)[:, 1])
    assert calibrated < 0.9 * raw


def test_calibrated_probabilities_match_the_calibration_slice_base_rate(model, data):
    X, y = data[1]
    assert model.predict_proba(X)[:, 1].mean() == pytest.approx(y.mean(), rel=0.1)


def test_calibration_moves_the_mean_probability_toward_the_held_out_rate(model, data):
    X, y = data[2]
    raw_error = abs(model.uncalibrated_proba(X).mean() - y.mean())
    calibrated_error = abs(model.predict_proba(X)[:, 1].mean() - y.mean())
    assert calibrated_error < raw_error / 3


def test_calibration_keeps_brier_when_the_booster_is_already_calibrated():
    # no shift between slices (heavily imbalanced, ~4 %): calibrating must not make things worse
    same = (make(3000, -4.5, 10), make(2000, -4.5, 20), make(4000, -4.5, 30))
    m = fit(same)
    X, y = same[2]
    raw = brier_score_loss(y, m.uncalibrated_proba(X))
    calibrated = brier_score_loss(y, m.predict_proba(X)[:, 1])
    assert calibrated <= raw * 1.01


def test_calibration_keeps_the_ranking(model, data):
    X, y = data[2]
    assert roc_auc_score(y, model.predict_proba(X)[:, 1]) >= roc_auc_score(y, model.uncalibrated_proba(X)) - 0.01
    assert roc_auc_score(y, model.predict_proba(X)[:, 1]) > 0.75


def test_calibration_method_is_one_of_the_two_and_was_scored(model):
    assert model.calibration_method_ in ("isotonic", "sigmoid")
    assert set(model.calibration_brier_) == {"isotonic", "sigmoid"}
    assert model.calibration_method_ == min(model.calibration_brier_, key=model.calibration_brier_.get)


def test_same_data_and_seed_give_identical_probabilities(model, data):
    again = fit(data)
    X = data[2][0]
    np.testing.assert_array_equal(model.predict_proba(X), again.predict_proba(X))
    assert model.best_iteration_ == again.best_iteration_


def test_the_seed_is_used(model, data):
    # bagging and feature fraction are random: a different seed must give a different booster
    other = fit(data, seed=1)
    X = data[2][0]
    assert not np.array_equal(model.uncalibrated_proba(X), other.uncalibrated_proba(X))


def test_unseen_category_does_not_crash_and_counts_as_missing(model, data):
    X = data[2][0].head(200).copy()
    unseen, missing = X.copy(), X.copy()
    unseen["colour"] = "purple"
    missing["colour"] = np.nan
    p_unseen = model.predict_proba(unseen)[:, 1]
    assert np.isfinite(p_unseen).all()
    np.testing.assert_array_equal(p_unseen, model.predict_proba(missing)[:, 1])
    np.testing.assert_array_equal(model.uncalibrated_proba(unseen), model.uncalibrated_proba(missing))


def test_unseen_category_raises_no_pandas_deprecation(model, data):
    # pandas deprecates building a Categorical from values outside its categories (it will raise in pandas 4)
    X = data[2][0].head(50).assign(colour="purple")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.prepare(X)


def test_unseen_category_in_a_categorical_dtype_counts_as_missing(model, data):
    X = data[2][0].head(200).copy()
    as_category = X.copy()
    as_category["colour"] = pd.Categorical(["purple"] * len(X), categories=["purple", "red"])
    missing = X.assign(colour=None)
    np.testing.assert_array_equal(model.predict_proba(as_category), model.predict_proba(missing))


def test_known_categories_are_matched_by_value_not_by_code(model, data):
    # a categorical column whose category order differs from training must mean the same levels
    X = data[2][0].head(500).copy()
    recoded = X.copy()
    recoded["colour"] = pd.Categorical(X["colour"], categories=["red", "green", "blue", "yellow"])
    np.testing.assert_array_equal(model.predict_proba(X), model.predict_proba(recoded))


def test_missing_feature_column_is_a_clear_value_error(model, data):
    X = data[2][0].drop(columns=["x2"])
    with pytest.raises(ValueError, match=r"lacks 1 feature.*x2"):
        model.predict_proba(X)


def test_column_order_and_extra_columns_do_not_matter(model, data):
    X = data[2][0].head(300)
    shuffled = X[X.columns[::-1]].assign(lead_id="L1", unrelated=1.0)
    np.testing.assert_array_equal(model.predict_proba(X), model.predict_proba(shuffled))


def test_no_class_weighting_in_the_booster_params(model):
    params = model.booster_.get_params()
    assert params.get("class_weight") is None
    assert not params.get("is_unbalance", False)
    assert params.get("scale_pos_weight", 1.0) == 1.0
    trained = model.booster_.booster_.params  # what LightGBM itself was given
    assert not trained.get("is_unbalance", False)
    assert float(trained.get("scale_pos_weight", 1.0)) == 1.0


def test_raw_booster_sees_the_true_base_rate(model, data):
    # with class weights or resampling the raw mean probability would be far above the training base rate
    X, y = data[0]
    assert model.uncalibrated_proba(X).mean() == pytest.approx(y.mean(), rel=0.25)


def test_predict_is_the_half_threshold_of_the_calibrated_probability(model, data):
    X = data[2][0]
    np.testing.assert_array_equal(model.predict(X), (model.predict_proba(X)[:, 1] >= 0.5).astype(int))
    assert model.predict_proba(X).sum(axis=1) == pytest.approx(np.ones(len(X)))


def test_contributions_sum_to_the_raw_log_odds(model, data):
    X = data[2][0].head(100)
    contributions = model.contributions(X)
    assert list(contributions.columns) == [*X.columns, "_bias"]
    log_odds = np.log(model.uncalibrated_proba(X) / (1 - model.uncalibrated_proba(X)))
    np.testing.assert_allclose(contributions.sum(axis=1).to_numpy(), log_odds, rtol=1e-6, atol=1e-6)


# -- anchoring to the latest base rate ----------------------------------------------------------------------------

def test_anchoring_moves_the_mean_probability_to_a_shifted_base_rate_and_keeps_the_ranking(data):
    """A later block with half the base rate (a prior shift): anchored there, the model predicts that rate on
    fresh rows of the same weeks, where the unanchored model overstates wins."""
    model = fit(data)
    later, fresh = make(40000, -6.8, 40), make(40000, -6.8, 41)
    before = model.predict_proba(fresh[0])[:, 1]
    shift = model.anchor(*later)
    after = model.predict_proba(fresh[0])[:, 1]
    assert shift < 0 and model.anchor_base_rate_ == pytest.approx(later[1].mean())
    assert abs(after.mean() / fresh[1].mean() - 1) < abs(before.mean() / fresh[1].mean() - 1)
    assert abs(after.mean() / fresh[1].mean() - 1) < 0.2
    assert np.average(model.predict_proba(later[0])[:, 1]) == pytest.approx(later[1].mean(), rel=1e-6)
    np.testing.assert_array_equal(np.argsort(before, kind="stable"), np.argsort(after, kind="stable"))
    assert roc_auc_score(fresh[1], after) == pytest.approx(roc_auc_score(fresh[1], before))


def test_anchoring_needs_both_labels(data):
    model = fit(data)
    X, y = make(500, -6.0, 42)
    with pytest.raises(ValueError, match="both labels"):
        model.anchor(X, np.zeros_like(y))


def test_refitting_forgets_an_earlier_anchor(data):
    model = fit(data)
    model.anchor(*make(3000, -7.5, 43))
    (Xt, yt), (Xv, yv), (X, _) = data
    refitted = model.fit(Xt, yt, Xv, yv)
    np.testing.assert_allclose(refitted.predict_proba(X), fit(data).predict_proba(X))
