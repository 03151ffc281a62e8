"""The feature reference profile: what the training population looked like, for drift checks.

Numeric features are cut at the training deciles; categorical features keep their
level shares. At scoring time the same bins are applied to the new population and
the population stability index (PSI) says how far each feature has moved.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

EPSILON = 1e-4


def reference_profile(frame: pd.DataFrame, categorical: list[str], scores: np.ndarray | None = None) -> dict:
    profile: dict = {"numeric": {}, "categorical": {}}
    for column in frame.columns:
        values = frame[column]
        if column in categorical:
            shares = values.astype("string").fillna("(missing)").value_counts(normalize=True)
            profile["categorical"][column] = {str(k): float(v) for k, v in shares.items()}
        else:
            profile["numeric"][column] = _numeric_profile(values.to_numpy(float))
    if scores is not None:
        profile["score"] = _numeric_profile(np.asarray(scores, float))
    return profile


def _numeric_profile(values: np.ndarray) -> dict:
    finite = values[~np.isnan(values)]
    edges = np.unique(np.quantile(finite, np.linspace(0.1, 0.9, 9))) if len(finite) else np.array([])
    return {"edges": edges.tolist(), "shares": _shares(values, edges).tolist()}


def _shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of values per bin: (-inf, e0], (e0, e1], ..., (e_last, inf), then missing."""
    missing = np.isnan(values)
    bins = np.searchsorted(edges, values[~missing], side="left")
    counts = np.bincount(bins, minlength=len(edges) + 1).astype(float)
    counts = np.append(counts, missing.sum())
    return counts / max(1, len(values))


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    expected = np.clip(np.asarray(expected, float), EPSILON, None)
    actual = np.clip(np.asarray(actual, float), EPSILON, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def drift(profile: dict, frame: pd.DataFrame, scores: np.ndarray | None = None) -> pd.DataFrame:
    """PSI of every profiled feature (and the score) between the reference and ``frame``."""
    rows = []
    for column, ref in profile["numeric"].items():
        if column in frame:
            actual = _shares(frame[column].to_numpy(float), np.asarray(ref["edges"]))
            rows.append({"feature": column, "psi": psi(ref["shares"], actual)})
    for column, ref in profile["categorical"].items():
        if column in frame:
            now = frame[column].astype("string").fillna("(missing)").value_counts(normalize=True)
            levels = sorted(set(ref) | set(now.index))
            rows.append({"feature": column, "psi": psi([ref.get(k, 0) for k in levels],
                                                        [float(now.get(k, 0)) for k in levels])})
    if scores is not None and "score" in profile:
        actual = _shares(np.asarray(scores, float), np.asarray(profile["score"]["edges"]))
        rows.append({"feature": "(score)", "psi": psi(profile["score"]["shares"], actual)})
    return pd.DataFrame(rows, columns=["feature", "psi"]).sort_values("psi", ascending=False, ignore_index=True)
