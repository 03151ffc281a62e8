"""Time-ordered train / validation / test blocks with purge gaps.

Rows of one lead appear at many cutoffs, and a row's label looks ``horizon_days``
ahead. So blocks are made of whole cutoffs, in time order, and a block starts only
once every label window of the block before it has closed: no label of an earlier
block can describe the same weeks as a later block's features.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field


class SplitSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    test_cutoffs: int = Field(3, ge=1, description="most recent mature cutoffs held out as the out-of-time test")
    validation_cutoffs: int = Field(3, ge=1, description="cutoffs before the test block for early stopping and calibration")
    min_train_cutoffs: int = Field(2, ge=1)


@dataclass(frozen=True)
class TimeSplit:
    train: list
    validation: list
    test: list
    purged: list

    def describe(self) -> str:
        def span(block):
            return f"{len(block)} cutoffs {block[0]:%Y-%m-%d}..{block[-1]:%Y-%m-%d}" if block else "none"
        return (f"train {span(self.train)}; validation {span(self.validation)}; test {span(self.test)}; "
                f"{len(self.purged)} cutoffs purged between blocks")


def time_split(cutoffs, horizon_days: int, spec: SplitSpec) -> TimeSplit:
    """Split sorted cutoffs into blocks separated by at least ``horizon_days``."""
    cutoffs = sorted(pd.to_datetime(pd.Series(cutoffs)).dt.to_pydatetime().tolist())
    gap = timedelta(days=horizon_days)
    test = cutoffs[-spec.test_cutoffs:]
    before_test = [t for t in cutoffs if t + gap <= test[0]]
    validation = before_test[-spec.validation_cutoffs:]
    before_validation = [t for t in before_test if validation and t + gap <= validation[0]]
    train = before_validation
    if len(train) < spec.min_train_cutoffs or len(validation) < spec.validation_cutoffs:
        raise ValueError(
            f"{len(cutoffs)} mature cutoffs are too few for {spec.min_train_cutoffs}+ train, "
            f"{spec.validation_cutoffs} validation and {spec.test_cutoffs} test cutoffs with {horizon_days}-day purge "
            f"gaps (spine.horizon_days; got {len(train)} train, {len(validation)} validation); use a longer history, "
            "a smaller spine.slide_days, fewer train.split.test_cutoffs or train.split.validation_cutoffs, a lower "
            "train.split.min_train_cutoffs, a shorter spine.horizon_days, or a lower spine.warmup_days or earlier "
            "spine.first_cutoff ('leadscore profile DATA_DIR' suggests settings that train)"
        )
    used = set(train) | set(validation) | set(test)
    return TimeSplit(train, validation, test, [t for t in cutoffs if t not in used])
