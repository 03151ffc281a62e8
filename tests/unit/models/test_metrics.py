"""Ranking and calibration metrics on small hand-made examples whose answers can be worked out on paper."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.metrics import (
    decile_table,
    evaluate,
    expected_calibration_error,
    gains_curve,
    precision_at_capacity,
    top_fraction,
)

# 10 leads ranked best first; wins at ranks 1, 4 and 10 (base rate 0.3)
Y = np.array([1, 0, 0, 1, 0, 0, 0, 0, 0, 1])
SCORE = np.linspace(0.9, 0.05, 10)


@pytest.mark.parametrize("fraction, lift, recall", [
    (0.10, 1 / 0.3, 1 / 3),     # top 1: one win
    (0.20, 0.5 / 0.3, 1 / 3),   # top 2: one win of two
    (0.40, 0.5 / 0.3, 2 / 3),   # top 4: two wins of four
    (1.00, 1.0, 1.0),           # everyone: lift 1, all wins reached
])
def test_lift_and_recall_at_top_fraction(fraction, lift, recall):
    got_lift, got_recall = top_fraction(Y, SCORE, fraction)
    assert got_lift == pytest.approx(lift)
    assert got_recall == pytest.approx(recall)


def test_top_fraction_ranks_by_score_not_by_row_order():
    order = np.random.default_rng(0).permutation(10)
    assert top_fraction(Y[order], SCORE[order], 0.4) == pytest.approx(top_fraction(Y, SCORE, 0.4))


def test_top_fraction_takes_at_least_one_row():
    lift, recall = top_fraction(Y, SCORE, 0.01)  # 0.1 rows rounds to 0; one row is still taken
    assert (lift, recall) == pytest.approx((1 / 0.3, 1 / 3))


def test_top_fraction_without_wins_is_nan():
    lift, recall = top_fraction(np.zeros(10), SCORE, 0.2)
    assert np.isnan(lift) and np.isnan(recall)


def calibrated_bins():
    """10 bins of 10 rows; bin k has probability k/10 and exactly k wins."""
    p = np.repeat(np.arange(10) / 10, 10)
    y = np.concatenate([[1] * k + [0] * (10 - k) for k in range(10)])
    return y, p


def test_ece_is_zero_when_every_bin_is_calibrated():
    y, p = calibrated_bins()
    assert expected_calibration_error(y, p, bins=10) == pytest.approx(0.0, abs=1e-12)


def test_ece_measures_a_uniform_overestimate():
    y, p = calibrated_bins()
    assert expected_calibration_error(y, p + 0.05, bins=10) == pytest.approx(0.05)


def test_ece_is_positive_when_bins_disagree_even_if_the_mean_agrees():
    y, p = calibrated_bins()
    swapped = p[::-1]  # same mean probability as the win rate, but the order is wrong
    assert swapped.mean() == pytest.approx(y.mean())
    assert expected_calibration_error(y, swapped, bins=10) > 0.3


def test_precision_at_capacity_is_per_cutoff_then_averaged():
    # week 1: one lead (a win) -> 1.0; week 2: top two by score are losses -> 0.0; mean over weeks 0.5
    y = [1, 0, 0, 1, 1]
    score = [0.1, 0.9, 0.8, 0.2, 0.3]
    cutoff = ["w1", "w2", "w2", "w2", "w2"]
    assert precision_at_capacity(y, score, cutoff, capacity=2) == pytest.approx(0.5)


def test_precision_at_capacity_does_not_take_the_global_top():
    # globally the two best scores are both week-1 wins; per week, week 2's best is a loss
    y = [1, 1, 0, 1]
    score = [0.9, 0.8, 0.3, 0.2]
    cutoff = [1, 1, 2, 2]
    assert precision_at_capacity(y, score, cutoff, capacity=1) == pytest.approx(0.5)


def test_precision_at_capacity_uses_the_whole_capacity():
    y = [1, 0, 1, 0, 0, 0]
    score = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    assert precision_at_capacity(y, score, [0] * 6, capacity=3) == pytest.approx(2 / 3)


@pytest.fixture(scope="module")
def noisy():
    rng = np.random.default_rng(3)
    p = rng.beta(1, 20, 1003)  # not a multiple of 10 rows
    y = (rng.random(1003) < p).astype(int)
    return y, p


def test_decile_table_rows_and_positives_add_up(noisy):
    y, p = noisy
    table = decile_table(y, p)
    assert table["decile"].tolist() == list(range(1, 11))
    assert table["rows"].sum() == len(y)
    assert table["rows"].max() - table["rows"].min() <= 1
    assert table["positives"].sum() == y.sum()
    assert table["rate"].to_numpy() == pytest.approx((table["positives"] / table["rows"]).to_numpy())


def test_decile_table_is_best_first_and_recall_accumulates_to_one(noisy):
    y, p = noisy
    table = decile_table(y, p)
    assert table["mean_probability"].is_monotonic_decreasing
    recall = table["cumulative_recall"].to_numpy()
    assert np.all(np.diff(recall) >= 0)
    assert recall[-1] == pytest.approx(1.0)
    # row-weighted mean lift over all deciles is 1 by construction
    assert np.average(table["lift"], weights=table["rows"]) == pytest.approx(1.0)


def test_decile_one_holds_the_top_scores(noisy):
    y, p = noisy
    table = decile_table(y, p)
    top = np.sort(p)[::-1][: table.loc[table["decile"] == 1, "rows"].item()]
    assert table.loc[table["decile"] == 1, "mean_probability"].item() == pytest.approx(top.mean())


def test_decile_table_without_wins_has_zero_recall():
    table = decile_table(np.zeros(50), np.linspace(0, 1, 50))
    assert (table["cumulative_recall"] == 0).all()
    assert table["lift"].isna().all()


def test_evaluate_reports_the_hand_computed_values():
    cutoff = [0] * 10
    out = evaluate(Y, SCORE, cutoff, capacity=2)
    assert out["base_rate"] == pytest.approx(0.3)
    assert out["precision_at_capacity"] == pytest.approx(0.5)
    assert out["lift_top10"] == pytest.approx(1 / 0.3)
    assert out["recall_top20"] == pytest.approx(1 / 3)
    # positives at ranks 1, 4, 10: AUC = pairs ranked right / all pairs = (7 + 5 + 0) / 21
    assert out["roc_auc"] == pytest.approx(12 / 21)
    assert out["pr_auc"] == pytest.approx((1 / 1 + 2 / 4 + 3 / 10) / 3)


def test_evaluate_with_a_single_class_gives_nan_auc_not_an_error():
    out = evaluate(np.zeros(10), SCORE, pd.Series([0] * 10), capacity=2)
    assert np.isnan(out["roc_auc"]) and np.isnan(out["pr_auc"])


# -- row weights (a set whose negatives were sampled): a weight of k is k copies of the row -----------------------

@pytest.fixture(scope="module")
def weighted():
    rng = np.random.default_rng(5)
    p = rng.beta(1, 15, 2000)
    return {"y": (rng.random(2000) < p).astype(int), "p": p, "cutoff": rng.integers(0, 3, 2000),
            "k": rng.integers(1, 4, 2000)}


def copies(case, *names):
    return [np.repeat(case[n], case["k"]) for n in names]


def test_weighted_metrics_equal_the_metrics_of_copied_rows(weighted):
    got = evaluate(weighted["y"], weighted["p"], weighted["cutoff"], capacity=50, weight=weighted["k"])
    want = evaluate(*copies(weighted, "y", "p", "cutoff"), capacity=50)
    unweighted = evaluate(weighted["y"], weighted["p"], weighted["cutoff"], capacity=50)
    for name in ("roc_auc", "pr_auc", "brier", "base_rate", "mean_probability", "recall_top10", "recall_top20"):
        assert got[name] == pytest.approx(want[name], rel=1e-9), name
    # metrics that cut the ranked list may split one row's copies: equal up to that one row
    for name in ("ece", "precision_at_capacity", "lift_top10", "lift_top5"):
        assert got[name] == pytest.approx(want[name], rel=0.05), name
    assert got["roc_auc"] != pytest.approx(unweighted["roc_auc"], rel=1e-3)  # the weights do matter here


def test_weighted_ece_with_whole_bins_is_exact():
    # 10 bins of equal weight: each row weighs 2, and copies never straddle a bin edge
    y, p = calibrated_bins()
    w = np.full(len(y), 2.0)
    assert expected_calibration_error(y, p + 0.05, weight=w) == pytest.approx(0.05)
    assert expected_calibration_error(y, p, weight=w) == pytest.approx(0.0, abs=1e-12)


def test_weighted_deciles_count_the_rows_they_stand_for(weighted):
    table = decile_table(weighted["y"], weighted["p"], weight=weighted["k"])
    assert table["rows"].sum() == pytest.approx(weighted["k"].sum())
    assert table["positives"].sum() == pytest.approx((weighted["y"] * weighted["k"]).sum())
    expanded = decile_table(*copies(weighted, "y", "p"))
    assert table["rows"].to_numpy() == pytest.approx(expanded["rows"].to_numpy(), abs=3)  # up to one row's copies
    assert np.average(table["lift"], weights=table["rows"]) == pytest.approx(1.0)


def test_weighted_precision_at_capacity_counts_weight_not_rows():
    # one week: the best row stands for 2 leads, so a capacity of 2 is that row alone
    assert precision_at_capacity([1, 0, 0], [0.9, 0.8, 0.7], [0, 0, 0], capacity=2, weight=[2, 1, 1]) == 1.0
    assert precision_at_capacity([1, 0, 0], [0.9, 0.8, 0.7], [0, 0, 0], capacity=2) == 0.5


def test_gains_curve_reaches_every_win_and_weights_count_as_copies(weighted):
    contacted, reached = gains_curve(weighted["y"], weighted["p"], weighted["k"])
    assert contacted[-1] == pytest.approx(1.0) and reached[-1] == pytest.approx(1.0)
    assert np.all(np.diff(reached) >= 0)
    copied_contacted, copied_reached = gains_curve(*copies(weighted, "y", "p"))
    # the curve of the copies passes through every point of the weighted curve (the last copy of each row)
    np.testing.assert_allclose(np.interp(contacted, copied_contacted, copied_reached), reached, rtol=1e-9)
