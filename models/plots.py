"""The pictures a data scientist checks before trusting a model: ROC, PR, reliability, gains, importance.

Each function takes the test predictions and returns a matplotlib Figure; the caller
decides where it goes (MLflow, a report, a notebook). Predictions of a sampled set carry
row weights (``sample_weight``), and every curve uses them: it shows the population.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import precision_recall_curve, roc_curve  # noqa: E402

from models.frame import weights  # noqa: E402
from models.metrics import equal_weight_bins, gains_curve, row_weights  # noqa: E402

COLOURS = {"model": "#1f5fbf", "logistic": "#7b8794", "rules": "#d9822b", "oracle": "#2e9e5b"}
LABELS = {"model": "leadscore (calibrated)", "logistic": "logistic regression", "rules": "points score",
          "oracle": "oracle (true probability)"}


def _scorers(predictions: pd.DataFrame) -> list[str]:
    return [s for s in ("model", "logistic", "rules", "oracle") if s in predictions]


def _figure(title: str):
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=110)
    ax.set_title(title, fontsize=11)
    ax.grid(alpha=0.3)
    return fig, ax


def roc(predictions: pd.DataFrame):
    fig, ax = _figure("ROC on the out-of-time test")
    for s in _scorers(predictions):
        fpr, tpr, _ = roc_curve(predictions["label"], predictions[s], sample_weight=weights(predictions))
        ax.plot(fpr, tpr, color=COLOURS[s], label=LABELS[s])
    ax.plot([0, 1], [0, 1], ls=":", color="black", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def precision_recall(predictions: pd.DataFrame):
    fig, ax = _figure("Precision-recall on the out-of-time test")
    for s in _scorers(predictions):
        precision, recall, _ = precision_recall_curve(predictions["label"], predictions[s],
                                                      sample_weight=weights(predictions))
        ax.plot(recall, precision, color=COLOURS[s], label=LABELS[s])
    ax.axhline(np.average(predictions["label"], weights=weights(predictions)), ls=":", color="black", lw=0.8,
               label="base rate")
    ax.set(xlabel="recall", ylabel="precision")
    ax.legend(loc="upper right", fontsize=8)
    return fig


def reliability(predictions: pd.DataFrame, bins: int = 10):
    """Mean predicted probability against the observed rate, in equal-count bins."""
    fig, ax = _figure("Calibration: predicted vs observed")
    top = 0.0
    w = weights(predictions)
    w_all = row_weights(w, len(predictions))
    for s in ("model", "model_uncalibrated", "oracle"):
        if s not in predictions:
            continue
        order = np.argsort(predictions[s].to_numpy(), kind="stable")
        groups = [g for g in equal_weight_bins(order, w, bins) if len(g)]
        x = [np.average(predictions[s].to_numpy()[g], weights=w_all[g]) for g in groups]
        y = [np.average(predictions["label"].to_numpy()[g], weights=w_all[g]) for g in groups]
        top = max(top, *x, *y)
        ax.plot(x, y, marker="o", color=COLOURS.get(s, "#9aa5b1"), label=LABELS.get(s, "leadscore before calibration"))
    ax.plot([0, top], [0, top], ls=":", color="black", lw=0.8, label="perfect calibration")
    ax.set(xlabel="mean predicted probability", ylabel="observed win rate")
    ax.legend(loc="upper left", fontsize=8)
    return fig


def cumulative_gains(predictions: pd.DataFrame):
    """Share of all wins reached when sales works down the ranked list."""
    fig, ax = _figure("Cumulative gains: wins reached by calling the top x%")
    for s in _scorers(predictions):
        contacted, reached = gains_curve(predictions["label"], predictions[s], weights(predictions))
        ax.plot(np.append(0, contacted) * 100, np.append(0, reached) * 100, color=COLOURS[s], label=LABELS[s])
    ax.plot([0, 100], [0, 100], ls=":", color="black", lw=0.8, label="random")
    ax.set(xlabel="% of leads contacted (best first)", ylabel="% of wins reached")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def feature_importance(contributions: pd.DataFrame, top: int = 20, weight=None):
    """Mean |SHAP| per feature: what moves the score, on the test rows (``weight``: a sampled set's row weights)."""
    magnitude = contributions.drop(columns="_bias").abs()
    mean = magnitude.mean() if weight is None else magnitude.mul(np.asarray(weight, float), axis=0).sum() / np.sum(weight)
    importance = mean.sort_values(ascending=True).tail(top)
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(importance) + 1.2), dpi=110)
    ax.barh(importance.index, importance.values, color=COLOURS["model"])
    ax.set_title("Feature importance (mean |SHAP|, log-odds)", fontsize=11)
    ax.tick_params(axis="y", labelsize=8)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


def lift_by_decile(deciles: pd.DataFrame):
    fig, ax = _figure("Win rate by score decile (1 = best)")
    ax.bar(deciles["decile"], deciles["rate"] * 100, color=COLOURS["model"])
    ax.axhline(deciles["positives"].sum() / deciles["rows"].sum() * 100, ls=":", color="black", label="average")
    ax.set(xlabel="decile", ylabel="win rate (%)", xticks=range(1, 11))
    ax.legend(fontsize=8)
    return fig


ALL = {"roc": roc, "precision_recall": precision_recall, "reliability": reliability, "cumulative_gains": cumulative_gains}
