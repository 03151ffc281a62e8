"""Tiers: how a ranked list becomes a plan for the week.

By capacity (the default): tier A is as many leads as sales can call this week,
then B and C the next bands; everything else is D. By thresholds: fixed
probability floors. Expected wins per tier is the sum of calibrated probabilities.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

TIERS = ("A", "B", "C", "D")


class TierSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    by: Literal["capacity", "probability"] = "capacity"
    capacity: tuple[int, int, int] = Field((50, 250, 1000), description="cumulative ranks closing tiers A, B, C; "
                                           "A's is the weekly capacity (the leads sales can call in a week)")
    probability: tuple[float, float, float] = Field((0.10, 0.04, 0.015), description="probability floors of A, B, C")

    @model_validator(mode="after")
    def _ordered(self):
        if list(self.capacity) != sorted(self.capacity) or self.capacity[0] < 1:
            raise ValueError(f"capacity must be increasing positive ranks, got {list(self.capacity)}")
        if list(self.probability) != sorted(self.probability, reverse=True):
            raise ValueError(f"probability floors must decrease from A to C, got {list(self.probability)}")
        return self

    @property
    def weekly_capacity(self) -> int:
        """The leads sales can call in a week: tier A by capacity, and the depth precision is measured at."""
        return self.capacity[0]


def assign_tiers(probability: np.ndarray, rank: np.ndarray, spec: TierSpec) -> np.ndarray:
    """Tier per row; ``rank`` is 1 for the best lead of the week."""
    if spec.by == "capacity":
        a, b, c = spec.capacity
        return np.select([rank <= a, rank <= b, rank <= c], ["A", "B", "C"], "D")
    a, b, c = spec.probability
    return np.select([probability >= a, probability >= b, probability >= c], ["A", "B", "C"], "D")


def best_first(score, ids=None) -> np.ndarray:
    """Row positions in the order sales works the list: the model's ranking score from the highest, ties by id
    (without ids, by position). The one ordering rule: ranks, tiers, top-N metrics and gains curves all use it."""
    score = np.asarray(score, float)
    tiebreak = np.arange(len(score)) if ids is None else np.asarray(ids)
    return np.lexsort((tiebreak, -score))


def rank_within(frame: pd.DataFrame, score: str, group: str | None = None, weight: str | None = None) -> np.ndarray:
    """1-based rank of each row within its group (or the whole frame), in ``best_first`` order.

    With ``weight`` (a column of a sampled set), a row's rank counts the rows that the rows
    above it stand for, so capacity tiers cut where they would in the whole population.
    """
    ordered = frame.iloc[best_first(frame[score], frame["lead_id"].to_numpy())]
    keys = ordered[group] if group is not None else pd.Series(0, index=ordered.index)
    if weight is None:  # a group's running count and sum follow the rows' order within it
        ranks = ordered.groupby(keys, sort=False).cumcount() + 1
    else:
        ranks = ordered.groupby(keys, sort=False)[weight].cumsum() - ordered[weight] + 1
    return ranks.reindex(frame.index).to_numpy()


def tier_table(frame: pd.DataFrame, tier: str = "tier", label: str | None = "label", probability: str = "probability",
               weight: str | None = None):
    """Rows, expected wins and (when labels are known) observed wins, lift and recall per tier.

    With ``weight`` (a column of a sampled set), leads and wins are the rows they stand for.
    """
    w = frame[weight].astype(float) if weight else pd.Series(1.0, index=frame.index)
    grouped = frame.assign(_w=w, _pw=w * frame[probability]).groupby(tier)
    table = pd.DataFrame({"leads": grouped["_w"].sum(), "expected_wins": grouped["_pw"].sum()}).reindex(TIERS).fillna(0)
    if weight is None:
        table["leads"] = table["leads"].astype(int)
    if label is not None and label in frame:
        labels = frame[label].astype(float)
        wins = (labels * w).groupby(frame[tier]).sum().reindex(TIERS).fillna(0)
        table["wins"] = wins
        table["win_rate"] = wins / table["leads"].where(table["leads"] > 0)
        base = (labels * w).sum() / w.sum()
        table["lift"] = table["win_rate"] / base if base > 0 else np.nan
        table["cumulative_recall"] = wins.cumsum() / max(1.0, (labels * w).sum())
    return table.reset_index().rename(columns={"index": "tier"})
