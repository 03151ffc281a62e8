"""The spine: which (lead, cutoff) rows exist, and their labels.

The spine is the contract between labels and features. Labels decide which rows
exist (population, censoring); the feature builder then fills in what was known
at each row's cutoff. Scoring uses the same spine with one cutoff and no labels.

Time semantics (stated once here, tested on both sides of every boundary):

* a cutoff ``t`` is a Monday 00:00 UTC;
* the population at ``t``: leads with ``created_at < t``, minus leads with a deal
  open at ``t`` (``created_at < t`` and not closed before ``t``) and, unless
  configured otherwise, existing customers (a won deal with ``closed_at < t``);
* the label at ``t`` (``won_deal_created``, the default): 1 when the lead has a deal
  created in ``[t, t + horizon_days)`` that is won; ``won_deal_closed``: a won deal
  whose ``closed_at`` is in ``[t, t + horizon_days)``;
* censoring: a cutoff whose window ends after the data's end is immature and not
  used for training; a row whose window holds a deal still open at the data's end
  has an unknown outcome and is dropped. Neither is ever called a negative.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

LabelKind = Literal["won_deal_created", "won_deal_closed"]


class SpineSpec(BaseModel):
    """How cutoffs are laid out and rows labelled (``params.yaml: spine``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    horizon_days: int = Field(90, gt=0, le=730, description="label window length after the cutoff")
    slide_days: int = Field(28, gt=0, le=364, description="days between training cutoffs; a multiple of 7 keeps them on Mondays")
    warmup_days: int = Field(182, ge=0, le=3650, description="history needed before the first training cutoff")
    first_cutoff: date | None = Field(None, description="earliest training cutoff; default: data start + warmup_days")
    last_cutoff: date | None = Field(None, description="latest training cutoff; default: the data's end")
    label: LabelKind = "won_deal_created"
    exclude_customers: bool = True

    @model_validator(mode="after")
    def _ordered(self):
        if self.first_cutoff and self.last_cutoff and self.first_cutoff > self.last_cutoff:
            raise ValueError(f"first_cutoff {self.first_cutoff} is after last_cutoff {self.last_cutoff}")
        if self.slide_days % 7:
            raise ValueError(f"slide_days must be a multiple of 7 so every cutoff is a Monday, got {self.slide_days}")
        return self


def monday_on_or_before(moment: datetime | date) -> datetime:
    """The latest Monday 00:00 not after ``moment``: the default score date."""
    day = moment.date() if isinstance(moment, datetime) else moment
    monday = day - timedelta(days=day.weekday())
    return datetime.combine(monday, time())


def cutoff_grid(data_start: datetime, data_end: datetime, spec: SpineSpec) -> list[datetime]:
    """Training cutoffs: Mondays every ``slide_days``, anchored on the latest Monday of the data.

    Anchoring at the end puts the most recent cutoff on the score date, so the newest
    training rows are built exactly the way this week's scores are. Immature cutoffs
    are still listed here; censoring decides what to do with them.
    """
    last = monday_on_or_before(spec.last_cutoff or data_end)
    earliest = datetime.combine(spec.first_cutoff, time()) if spec.first_cutoff else (
        datetime.combine(data_start.date(), time()) + timedelta(days=spec.warmup_days)
    )
    cutoffs = []
    t = last
    while t >= earliest:
        cutoffs.append(t)
        t -= timedelta(days=spec.slide_days)
    if not cutoffs:
        raise ValueError(
            f"no training cutoff fits between {earliest:%Y-%m-%d} and {last:%Y-%m-%d}: the data spans too little time "
            f"for warmup_days={spec.warmup_days}; lower spine.warmup_days or set spine.first_cutoff"
        )
    return sorted(cutoffs)


def mature_cutoffs(cutoffs: list[datetime], data_end: datetime, horizon_days: int) -> tuple[list[datetime], list[datetime]]:
    """Split cutoffs into those whose label window has fully happened and those that have not."""
    horizon = timedelta(days=horizon_days)
    mature = [t for t in cutoffs if t + horizon <= data_end]
    return mature, [t for t in cutoffs if t + horizon > data_end]


def cutoffs_frame(cutoffs: list[datetime]) -> pd.DataFrame:
    return pd.DataFrame({"cutoff": pd.to_datetime(pd.Series(cutoffs, dtype="datetime64[us]"))})
