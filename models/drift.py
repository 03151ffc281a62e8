"""Drift that means something: this week's leads against the usual week, not against one phase of the training grid.

Many engagement features have a rhythm: a newsletter every other Monday makes "e-mail opens
in the last 7 days" swing between two shapes from one week to the next. Compared with a
profile taken at training cutoffs 14 days apart (always the same phase), every other week
looked like an alert. Here the reference is the same features at the Mondays just before
the score date (built in the same run, ``features.training_set.build_scoring_frames``), and
a feature is flagged only when this week moved further than those ordinary weeks moved
from each other: its PSI against the pooled weeks must pass the configured threshold *and*
exceed ``noise_factor`` times the largest PSI of one ordinary week against the others.

The model's own training profile is still read for what the model cannot handle: category
values it never saw, which it reads as missing (``models.profile.drift``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.profile import bin_shares, psi

MISSING = "(missing)"


def weekly_drift(baseline: pd.DataFrame, now: pd.DataFrame, features: list[str], categorical: list[str]) -> pd.DataFrame:
    """Per feature: PSI of this week against the pooled earlier weeks, the largest PSI of one earlier week against
    the others (``usual_psi``), and the mean this week and usually (numeric features)."""
    weeks = [frame for _, frame in baseline.groupby("cutoff", sort=True)]
    rows = []
    for column in features:
        if column not in now or column not in baseline:
            continue
        if column in categorical:
            counts, current = _level_counts(weeks, now, column)
            now_mean = usual_mean = np.nan
        else:
            present = baseline[column].to_numpy(float)
            present = present[~np.isnan(present)]
            edges = np.unique(np.quantile(present, np.linspace(0.1, 0.9, 9))) if len(present) else np.array([])
            counts = np.array([bin_shares(w[column].to_numpy(float), edges) for w in weeks])
            current = bin_shares(now[column].to_numpy(float), edges)
            now_mean, usual_mean = float(np.nanmean(now[column].to_numpy(float))) if len(now) else np.nan, \
                float(np.nanmean([np.nanmean(w[column].to_numpy(float)) for w in weeks]))
        pooled = counts.mean(axis=0)
        usual = max((psi(np.delete(counts, k, axis=0).mean(axis=0), counts[k]) for k in range(len(counts))),
                    default=0.0) if len(counts) > 1 else 0.0
        rows.append({"feature": column, "psi": psi(pooled, current), "usual_psi": usual,
                     "now_mean": now_mean, "usual_mean": usual_mean})
    table = pd.DataFrame(rows, columns=["feature", "psi", "usual_psi", "now_mean", "usual_mean"])
    return table.sort_values("psi", ascending=False, ignore_index=True)


def _level_counts(weeks: list[pd.DataFrame], now: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    def shares(frame):
        return frame[column].astype("string").fillna(MISSING).value_counts(normalize=True)

    per_week, current = [shares(w) for w in weeks], shares(now)
    levels = sorted(set().union(*(s.index for s in per_week), current.index))
    return (np.array([[float(s.get(k, 0.0)) for k in levels] for s in per_week]),
            np.array([float(current.get(k, 0.0)) for k in levels]))


def flagged(table: pd.DataFrame, threshold: float, noise_factor: float) -> pd.DataFrame:
    """The features that moved past ``threshold`` and further than an ordinary week moves."""
    return table[(table["psi"] >= threshold) & (table["psi"] > noise_factor * table["usual_psi"])]


def in_words(row, description: str) -> str:
    """What moved, for people: "number of email open events ...: 0.42 on average this week against 0.13 usually
    (3.2x the usual)"."""
    if pd.notna(row.now_mean) and pd.notna(row.usual_mean) and row.usual_mean > 0:
        ratio = row.now_mean / row.usual_mean
        how = f"{ratio:.1f}x the usual" if ratio >= 1 else f"{1 / ratio:.1f}x below the usual"
        return f"{description}: {row.now_mean:.3g} on average this week against {row.usual_mean:.3g} usually ({how})"
    if pd.notna(row.now_mean) and pd.notna(row.usual_mean):
        return f"{description}: {row.now_mean:.3g} on average this week against {row.usual_mean:.3g} usually"
    return f"{description}: its mix of values this week is unlike the usual week's"
