"""How good is a ranking of leads, and are its probabilities honest?

Lift and recall at the top k % answer marketing's question ("if sales calls the top
10 %, what share of next quarter's wins do they reach?"); precision at the weekly
capacity answers sales' ("of the N leads we can call each week, how many buy?");
Brier score and expected calibration error check the probabilities themselves.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

TOP_FRACTIONS = (0.05, 0.10, 0.20)


def expected_calibration_error(y, p, bins: int = 10) -> float:
    """Mean |observed rate - mean probability| over equal-count bins, weighted by bin size."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    order = np.argsort(p, kind="stable")
    error = 0.0
    for chunk in np.array_split(order, bins):
        if len(chunk):
            error += len(chunk) * abs(y[chunk].mean() - p[chunk].mean())
    return error / len(y)


def top_fraction(y, score, fraction: float) -> tuple[float, float]:
    """(lift, recall) among the top ``fraction`` of rows by score."""
    y, score = np.asarray(y, float), np.asarray(score, float)
    n = max(1, int(round(len(y) * fraction)))
    top = np.argsort(-score, kind="stable")[:n]
    base = y.mean()
    rate = y[top].mean()
    return (rate / base if base > 0 else float("nan")), (y[top].sum() / y.sum() if y.sum() > 0 else float("nan"))


def precision_at_capacity(y, score, cutoff, capacity: int) -> float:
    """Mean over cutoffs of the win rate among the ``capacity`` best-scored leads of that week."""
    frame = pd.DataFrame({"y": np.asarray(y, float), "s": np.asarray(score, float), "c": np.asarray(cutoff)})
    per_cutoff = frame.sort_values("s", ascending=False, kind="stable").groupby("c").head(capacity).groupby("c")["y"].mean()
    return float(per_cutoff.mean())


def evaluate(y, probability, cutoff, capacity: int, ranking=None) -> dict[str, float]:
    """Ranking metrics on ``ranking`` (default: the probability), probability metrics on ``probability``.

    A monotone calibration (isotonic) makes ties that the list sales works from does not
    have: leads are ordered by the model's own score, so ranking metrics use that order.
    """
    y = np.asarray(y, float)
    p = np.asarray(probability, float)
    r = p if ranking is None else np.asarray(ranking, float)
    out = {
        "roc_auc": float(roc_auc_score(y, r)) if 0 < y.sum() < len(y) else float("nan"),
        "pr_auc": float(average_precision_score(y, r)) if y.sum() > 0 else float("nan"),
        "brier": float(brier_score_loss(y, np.clip(p, 0, 1))),
        "ece": float(expected_calibration_error(y, p)),
        "precision_at_capacity": precision_at_capacity(y, r, cutoff, capacity),
        "base_rate": float(y.mean()),
        "mean_probability": float(p.mean()),
    }
    for fraction in TOP_FRACTIONS:
        lift, recall = top_fraction(y, r, fraction)
        tag = f"top{int(fraction * 100)}"
        out[f"lift_{tag}"], out[f"recall_{tag}"] = float(lift), float(recall)
    return out


def decile_table(y, probability) -> pd.DataFrame:
    """Rows, positives, rate and cumulative recall per score decile (1 = best)."""
    frame = pd.DataFrame({"y": np.asarray(y, float), "p": np.asarray(probability, float)})
    frame["decile"] = 10 - pd.qcut(frame["p"].rank(method="first"), 10, labels=False)
    table = frame.groupby("decile").agg(rows=("y", "size"), positives=("y", "sum"), mean_probability=("p", "mean"))
    table["rate"] = table["positives"] / table["rows"]
    table["cumulative_recall"] = table["positives"].cumsum() / max(1.0, table["positives"].sum())
    table["lift"] = table["rate"] / frame["y"].mean() if frame["y"].mean() > 0 else np.nan
    return table.reset_index()


def by_segment(frame: pd.DataFrame, segment: str, y: str, p: str, min_positives: int = 5) -> pd.DataFrame:
    """ROC AUC, PR AUC, Brier and rates per value of ``segment`` (segments with too few positives are marked)."""
    rows = []
    for value, part in frame.groupby(frame[segment].astype("string").fillna("(missing)"), sort=True):
        positives = int(part[y].sum())
        enough = min_positives <= positives < len(part)
        rows.append({
            "segment": segment, "value": value, "rows": len(part), "positives": positives,
            "rate": part[y].mean(), "mean_probability": part[p].mean(),
            "roc_auc": roc_auc_score(part[y], part[p]) if enough else np.nan,
            "pr_auc": average_precision_score(part[y], part[p]) if enough else np.nan,
            "brier": brier_score_loss(part[y], part[p]),
        })
    return pd.DataFrame(rows)
