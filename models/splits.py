"""Time-ordered train / validation / test blocks with purge gaps.

Rows of one lead appear at many cutoffs, and a row's label looks ``horizon_days``
ahead. So blocks are made of whole cutoffs, in time order, and a block starts only
once every label window of the block before it has closed: no label of an earlier
block can describe the same weeks as a later block's features.

The test block is then halved by account (``selection_half``): the *selection* half
decides (the registration gates, promotion), the *report* half is the out-of-time
estimate and decides nothing. A number read after a choice was made on it is biased
towards the winner; halving by account costs no history (another time block would
cost its length plus a purge gap), and accounts, not leads, because leads of one
account share its deals and its committee features.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from features.errors import UserError


class SplitSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    test_cutoffs: int = Field(4, ge=1, description="most recent mature cutoffs held out as the out-of-time test")
    validation_cutoffs: int = Field(4, ge=1, description="cutoffs before the test block for early stopping and calibration")
    min_train_cutoffs: int = Field(2, ge=1)


class TooFewCutoffs(UserError):
    """The history is too short for the blocks and purge gaps the settings ask for."""


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
        raise TooFewCutoffs(
            f"{len(cutoffs)} mature cutoffs are too few for {spec.min_train_cutoffs}+ train, "
            f"{spec.validation_cutoffs} validation and {spec.test_cutoffs} test cutoffs with {horizon_days}-day purge "
            f"gaps (spine.horizon_days; got {len(train)} train, {len(validation)} validation); use a longer history, "
            "a smaller spine.slide_days, fewer train.split.test_cutoffs or train.split.validation_cutoffs, a lower "
            "train.split.min_train_cutoffs, a shorter spine.horizon_days, or a lower spine.warmup_days or earlier "
            "spine.first_cutoff ('leadscore profile DATA_DIR' suggests settings that train)"
        )
    used = set(train) | set(validation) | set(test)
    return TimeSplit(train, validation, test, [t for t in cutoffs if t not in used])


BLOCK_ROLES = {
    "train": "fits the booster and the logistic regression",
    "validation": "early stopping, calibration (method and fit), the points score's scale, tuning",
    "selection": "the test cutoffs' selection half of the accounts: registration gates and promotion",
    "report": "the test cutoffs' other half: the reported out-of-time estimate, used to choose nothing",
}


def selection_half(frame: pd.DataFrame) -> np.ndarray:
    """True for rows whose account (the lead, when it has none) falls in the selection half.

    A fixed hash of the id, not a random draw: the same accounts select in training and
    in ``promote``, and the halves do not move when rows are added. An export whose
    accounts are too few or too unequal to halve (one giant account, a placeholder id)
    is halved by lead instead.
    """
    leads = frame["lead_id"].astype("string").fillna("")
    if "account_id" in frame:
        half = _hashed_half(frame["account_id"].astype("string").fillna(leads))
        if 0.3 <= half.mean() <= 0.7:
            return half
    return _hashed_half(leads)


def _hashed_half(key: pd.Series) -> np.ndarray:
    return pd.util.hash_array(key.to_numpy(object)) % 2 == 0
