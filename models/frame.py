"""What a training-set frame holds besides features: its id columns, the row weight, its timestamps' convention.

One place for these names, read by training, tuning, plots and the pipelines alike.
"""

from __future__ import annotations

import pandas as pd

ID_COLUMNS = ("lead_id", "account_id", "cutoff", "label", "journey_stage")
# the rows a row stands for, when the training set's negatives were sampled (pipelines/sampling.py); never a feature
WEIGHT = "sample_weight"


def feature_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in ID_COLUMNS and c != WEIGHT]


def weights(frame: pd.DataFrame):
    """The frame's row weights, or None when its rows were not sampled (every row stands for itself)."""
    return frame[WEIGHT].to_numpy(float) if WEIGHT in frame else None


def weight_column(frame: pd.DataFrame) -> str | None:
    """The name of the frame's weight column, or None: for the functions that take a column name."""
    return WEIGHT if WEIGHT in frame else None


def naive_utc(values: pd.Series) -> pd.Series:
    """Timestamps as naive UTC (the pipeline's convention), whatever zone they arrive in."""
    values = pd.to_datetime(values)
    return values.dt.tz_convert("UTC").dt.tz_localize(None) if values.dt.tz is not None else values
