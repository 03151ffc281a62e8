"""How good is a ranking of leads, and are its probabilities honest?

Lift and recall at the top k % answer marketing's question ("if sales calls the top
10 %, what share of next quarter's wins do they reach?"); precision at the weekly
capacity answers sales' ("of the N leads we can call each week, how many buy?");
Brier score and expected calibration error check the probabilities themselves.

Every metric takes optional row weights. A training set whose negatives were sampled
(``train.negative_sample_rate``) weights each kept negative by how many it stands for,
so a weighted metric estimates the metric on the whole population: a weight of k is
the same as k copies of the row (the tests hold every function to that).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from models.tiers import best_first

TOP_FRACTIONS = (0.05, 0.10, 0.20)


def row_weights(w, n: int) -> np.ndarray:
    """``w`` as an array, or ones for ``n`` rows that were not sampled."""
    return np.ones(n) if w is None else np.asarray(w, float)


def equal_weight_bins(order: np.ndarray, weight=None, bins: int = 10) -> list[np.ndarray]:
    """``order`` cut into ``bins`` consecutive groups of (nearly) equal total weight.

    Unweighted, these are equal-count bins (``np.array_split``); a row of weight k counts
    as k rows, so a sampled set and the population it stands for get the same bins.
    """
    if weight is None:
        return np.array_split(order, bins)
    cumulative = np.cumsum(np.asarray(weight, float)[order])
    total = cumulative[-1] if len(cumulative) else 0.0
    # a row goes to the bin its weight's midpoint falls in
    position = np.minimum(((cumulative - np.asarray(weight, float)[order] / 2) / max(total, 1e-300) * bins).astype(int),
                          bins - 1)
    return [order[position == b] for b in range(bins)]


def expected_calibration_error(y, p, bins: int = 10, weight=None) -> float:
    """Mean |observed rate - mean probability| over equal-count bins, weighted by bin size."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    w = row_weights(weight, len(y))
    order = np.argsort(p, kind="stable")
    error = 0.0
    for chunk in equal_weight_bins(order, weight, bins):
        if len(chunk) and w[chunk].sum() > 0:
            error += w[chunk].sum() * abs(np.average(y[chunk], weights=w[chunk]) - np.average(p[chunk], weights=w[chunk]))
    return error / w.sum()


def top_fraction(y, score, fraction: float, weight=None) -> tuple[float, float]:
    """(lift, recall) among the top ``fraction`` of rows (of the total weight) by score."""
    y, score = np.asarray(y, float), np.asarray(score, float)
    w = row_weights(weight, len(y))
    order = best_first(score)
    before = np.cumsum(w[order]) - w[order]  # the weight ranked above each row
    top = order[before < max(1, round(w.sum() * fraction)) - 1e-9]
    base = np.average(y, weights=w)
    rate = np.average(y[top], weights=w[top])
    wins = (w * y).sum()
    return (rate / base if base > 0 else float("nan")), ((w[top] * y[top]).sum() / wins if wins > 0 else float("nan"))


def gains_curve(y, score, weight=None) -> tuple[np.ndarray, np.ndarray]:
    """(share of leads contacted, share of wins reached) after each row, working down the list by score."""
    w = row_weights(weight, len(np.asarray(y)))
    order = best_first(score)
    wins = np.asarray(y, float)[order] * w[order]
    return np.cumsum(w[order]) / w.sum(), np.cumsum(wins) / max(1, wins.sum())


def precision_at_capacity(y, score, cutoff, capacity: int, weight=None) -> float:
    """Mean over cutoffs of the win rate among the ``capacity`` best-scored leads of that week."""
    frame = pd.DataFrame({"y": np.asarray(y, float), "s": np.asarray(score, float), "c": np.asarray(cutoff),
                          "w": row_weights(weight, len(np.asarray(y)))})
    frame = frame.iloc[best_first(frame["s"])]
    before = frame.groupby("c", sort=False)["w"].cumsum() - frame["w"]
    top = frame[before < capacity - 1e-9]
    top = top.assign(yw=top["y"] * top["w"]).groupby("c")[["yw", "w"]].sum()
    return float((top["yw"] / top["w"]).mean())


def evaluate(y, probability, cutoff, capacity: int, ranking=None, weight=None) -> dict[str, float]:
    """Ranking metrics on ``ranking`` (default: the probability), probability metrics on ``probability``.

    A monotone calibration (isotonic) makes ties that the list sales works from does not
    have: leads are ordered by the model's own score, so ranking metrics use that order.
    """
    y = np.asarray(y, float)
    p = np.asarray(probability, float)
    r = p if ranking is None else np.asarray(ranking, float)
    w = None if weight is None else np.asarray(weight, float)
    out = {
        "roc_auc": float(roc_auc_score(y, r, sample_weight=w)) if 0 < y.sum() < len(y) else float("nan"),
        "pr_auc": float(average_precision_score(y, r, sample_weight=w)) if y.sum() > 0 else float("nan"),
        "brier": float(brier_score_loss(y, np.clip(p, 0, 1), sample_weight=w)),
        "ece": float(expected_calibration_error(y, p, weight=w)),
        "precision_at_capacity": precision_at_capacity(y, r, cutoff, capacity, weight=w),
        "base_rate": float(np.average(y, weights=w)),
        "mean_probability": float(np.average(p, weights=w)),
    }
    for fraction in TOP_FRACTIONS:
        lift, recall = top_fraction(y, r, fraction, weight=w)
        tag = f"top{int(fraction * 100)}"
        out[f"lift_{tag}"], out[f"recall_{tag}"] = float(lift), float(recall)
    return out


def bootstrap_gain(y, model, baseline, cutoff, capacity: int, weight=None, rounds: int = 100,
                   seed: int = 0) -> dict[str, list[float]]:
    """90 % intervals of (model - baseline) for PR AUC and precision at capacity: {metric: [low, high]}.

    Leads are resampled with replacement within each cutoff, so every resample keeps the
    weeks and their sizes (precision at capacity is a per-week quantity). With a few dozen
    test positives the intervals are wide; they say how much a gate's verdict can be trusted.
    """
    y, model, baseline = np.asarray(y, float), np.asarray(model, float), np.asarray(baseline, float)
    cutoff = np.asarray(cutoff)
    w = row_weights(weight, len(y))
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(cutoff == c) for c in np.unique(cutoff)]
    gains = {"pr_auc": [], "precision_at_capacity": []}
    for _ in range(rounds):
        rows = np.concatenate([rng.choice(g, len(g)) for g in groups])
        if not 0 < y[rows].sum() < len(rows):
            continue
        gains["pr_auc"].append(average_precision_score(y[rows], model[rows], sample_weight=w[rows])
                               - average_precision_score(y[rows], baseline[rows], sample_weight=w[rows]))
        gains["precision_at_capacity"].append(
            precision_at_capacity(y[rows], model[rows], cutoff[rows], capacity, w[rows])
            - precision_at_capacity(y[rows], baseline[rows], cutoff[rows], capacity, w[rows]))
    return {name: [float(np.quantile(v, 0.05)), float(np.quantile(v, 0.95))] if v else [float("nan")] * 2
            for name, v in gains.items()}


def decile_table(y, probability, weight=None) -> pd.DataFrame:
    """Rows, positives, rate and cumulative recall per score decile (1 = best).

    With weights, deciles hold equal weight and rows and positives are the rows they stand for.
    """
    y, p = np.asarray(y, float), np.asarray(probability, float)
    w = row_weights(weight, len(y))
    decile = np.empty(len(y), int)
    for number, rows in enumerate(equal_weight_bins(best_first(p), weight, 10), start=1):
        decile[rows] = number
    frame = pd.DataFrame({"decile": decile, "w": w, "yw": y * w, "pw": p * w})
    table = frame.groupby("decile").sum()
    table = pd.DataFrame({"rows": table["w"], "positives": table["yw"], "mean_probability": table["pw"] / table["w"]})
    table["rate"] = table["positives"] / table["rows"]
    table["cumulative_recall"] = table["positives"].cumsum() / max(1.0, table["positives"].sum())
    base = (y * w).sum() / w.sum()
    table["lift"] = table["rate"] / base if base > 0 else np.nan
    if weight is None:
        table[["rows", "positives"]] = table[["rows", "positives"]].astype(int)
    return table.reset_index()


def by_segment(frame: pd.DataFrame, segment: str, y: str, p: str, min_positives: int = 5,
               weight: str | None = None) -> pd.DataFrame:
    """ROC AUC, PR AUC, Brier and rates per value of ``segment`` (segments with too few positives are marked).

    ``weight`` names a column of row weights (a sampled set); rows and positives are then the rows they stand for.
    """
    rows = []
    for value, part in frame.groupby(frame[segment].astype("string").fillna("(missing)"), sort=True):
        w = part[weight].to_numpy(float) if weight else np.ones(len(part))
        labels = part[y].to_numpy(float)
        positives = int(labels.sum())
        enough = min_positives <= positives < len(part)
        rows.append({
            "segment": segment, "value": value, "rows": round(w.sum()), "positives": round((w * labels).sum()),
            "rate": np.average(labels, weights=w), "mean_probability": np.average(part[p], weights=w),
            "roc_auc": roc_auc_score(labels, part[p], sample_weight=w) if enough else np.nan,
            "pr_auc": average_precision_score(labels, part[p], sample_weight=w) if enough else np.nan,
            "brier": brier_score_loss(labels, part[p], sample_weight=w),
        })
    return pd.DataFrame(rows)
