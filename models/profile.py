"""The feature reference profile: what the training population looked like, for drift checks.

Numeric features are cut at the training deciles; categorical features keep their
level shares. At scoring time the same bins are applied to the new population and
the population stability index (PSI) says how far each feature has moved.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

EPSILON = 1e-4


def reference_profile(frame: pd.DataFrame, categorical: list[str], scores: np.ndarray | None = None,
                      weight: np.ndarray | None = None) -> dict:
    """The profile of ``frame``; ``weight`` (a sampled set's row weights) makes it the profile of the rows
    the sample stands for, not of the sample, whose positives are over-represented."""
    w = None if weight is None else np.asarray(weight, float)
    profile: dict = {"numeric": {}, "categorical": {}}
    for column in frame.columns:
        values = frame[column]
        if column in categorical:
            levels = values.astype("string").fillna("(missing)")
            shares = (levels.value_counts(normalize=True) if w is None else
                      pd.Series(w, index=values.index).groupby(levels).sum().sort_values(ascending=False) / w.sum())
            profile["categorical"][column] = {str(k): float(v) for k, v in shares.items()}
        else:
            profile["numeric"][column] = _numeric_profile(values.to_numpy(float), w)
    if scores is not None:
        profile["score"] = _numeric_profile(np.asarray(scores, float), w)
    return profile


def _numeric_profile(values: np.ndarray, weight: np.ndarray | None) -> dict:
    present = ~np.isnan(values)
    deciles = np.linspace(0.1, 0.9, 9)
    if not present.any():
        edges = np.array([])
    elif weight is None:
        edges = np.unique(np.quantile(values[present], deciles))
    else:  # numpy's only weighted quantile: the smallest value whose cumulative weight reaches q
        edges = np.unique(np.quantile(values[present], deciles, weights=weight[present], method="inverted_cdf"))
    return {"edges": edges.tolist(), "shares": bin_shares(values, edges, weight).tolist()}


def bin_shares(values: np.ndarray, edges: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
    """Share of values per bin: (-inf, e0], (e0, e1], ..., (e_last, inf), then missing."""
    w = np.ones(len(values)) if weight is None else weight
    missing = np.isnan(values)
    bins = np.searchsorted(edges, values[~missing], side="left")
    counts = np.bincount(bins, weights=w[~missing], minlength=len(edges) + 1)
    counts = np.append(counts, w[missing].sum())
    return counts / max(1e-300, w.sum()) if len(values) else counts


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    expected = np.clip(np.asarray(expected, float), EPSILON, None)
    actual = np.clip(np.asarray(actual, float), EPSILON, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def drift(profile: dict, frame: pd.DataFrame, scores: np.ndarray | None = None) -> pd.DataFrame:
    """PSI of every profiled feature (and the score) between the reference and ``frame``."""
    rows = []
    for column, ref in profile["numeric"].items():
        if column in frame:
            actual = bin_shares(frame[column].to_numpy(float), np.asarray(ref["edges"]))
            rows.append({"feature": column, "psi": psi(ref["shares"], actual)})
    for column, ref in profile["categorical"].items():
        if column in frame:
            now = frame[column].astype("string").fillna("(missing)").value_counts(normalize=True)
            levels = sorted(set(ref) | set(now.index))
            # a value the reference never had (a renamed industry, a new lead source): the model reads it as
            # missing, whatever its share; named with its share so that a rename is recognised
            unseen = [(str(k), float(v)) for k, v in now.items() if k not in ref]
            rows.append({"feature": column, "psi": psi([ref.get(k, 0) for k in levels],
                                                        [float(now.get(k, 0)) for k in levels]),
                         "unseen": ", ".join(f"{k!r} {v:.1%}" for k, v in unseen[:5])
                                   + (f" and {len(unseen) - 5} more" if len(unseen) > 5 else "")})
    if scores is not None and "score" in profile:
        actual = bin_shares(np.asarray(scores, float), np.asarray(profile["score"]["edges"]))
        rows.append({"feature": "(score)", "psi": psi(profile["score"]["shares"], actual)})
    table = pd.DataFrame(rows, columns=["feature", "psi", "unseen"])
    table["unseen"] = table["unseen"].fillna("")
    return table.sort_values("psi", ascending=False, ignore_index=True)
