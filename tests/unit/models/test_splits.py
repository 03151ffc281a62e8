"""time_split: whole cutoffs in time order, purge gaps of at least the label horizon between blocks."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.splits import SplitSpec, time_split

START = datetime(2025, 1, 6)  # a Monday


def grid(count: int, slide_days: int) -> list[datetime]:
    return [START + timedelta(days=slide_days * i) for i in range(count)]


def needed_cutoffs(spec: SplitSpec, horizon_days: int, slide_days: int) -> int:
    """On a regular grid, a gap of ``horizon`` days costs ceil(horizon / slide) - 1 purged cutoffs per boundary."""
    purged_per_gap = max(0, math.ceil(horizon_days / slide_days) - 1)
    return spec.test_cutoffs + spec.validation_cutoffs + spec.min_train_cutoffs + 2 * purged_per_gap


specs = st.builds(SplitSpec, test_cutoffs=st.integers(1, 5), validation_cutoffs=st.integers(1, 5),
                  min_train_cutoffs=st.integers(1, 4))
horizons = st.sampled_from([7, 13, 14, 28, 30, 60, 90, 91, 120])
slides = st.sampled_from([7, 14, 28])


def assert_purged(split, horizon_days: int) -> None:
    gap = timedelta(days=horizon_days)
    for earlier, later in ((split.train, split.validation), (split.validation, split.test), (split.train, split.test)):
        for a in earlier:
            for b in later:
                assert b - a >= gap, f"{b:%Y-%m-%d} is only {(b - a).days} days after {a:%Y-%m-%d} (horizon {horizon_days})"


@settings(max_examples=150, deadline=None)
@given(spec=specs, horizon=horizons, slide=slides, extra=st.integers(0, 20))
def test_blocks_are_separated_by_the_horizon_on_regular_grids(spec, horizon, slide, extra):
    cutoffs = grid(needed_cutoffs(spec, horizon, slide) + extra, slide)
    split = time_split(cutoffs, horizon, spec)
    assert_purged(split, horizon)


@settings(max_examples=150, deadline=None)
@given(spec=specs, horizon=horizons, slide=slides, extra=st.integers(0, 20))
def test_block_sizes_and_purge_count_on_regular_grids(spec, horizon, slide, extra):
    cutoffs = grid(needed_cutoffs(spec, horizon, slide) + extra, slide)
    split = time_split(cutoffs, horizon, spec)
    assert len(split.test) == spec.test_cutoffs
    assert len(split.validation) == spec.validation_cutoffs
    assert len(split.train) == spec.min_train_cutoffs + extra  # every cutoff not needed for a gap is trained on
    assert split.test == cutoffs[-spec.test_cutoffs:]  # the test block is the most recent cutoffs


@settings(max_examples=150, deadline=None)
@given(spec=specs, horizon=horizons, slide=slides, count=st.integers(1, 60))
def test_blocks_never_share_a_cutoff_and_cover_the_grid(spec, horizon, slide, count):
    cutoffs = grid(count, slide)
    try:
        split = time_split(cutoffs, horizon, spec)
    except ValueError:
        return
    blocks = [set(split.train), set(split.validation), set(split.test), set(split.purged)]
    assert sum(len(b) for b in blocks) == len(set().union(*blocks)), "a cutoff is in two blocks"
    assert set().union(*blocks) == set(cutoffs)
    assert max(split.train) < min(split.validation) and max(split.validation) < min(split.test)


@settings(max_examples=150, deadline=None)
@given(spec=specs, horizon=horizons, slide=slides, count=st.integers(1, 60))
def test_raises_exactly_when_the_grid_is_too_short(spec, horizon, slide, count):
    cutoffs = grid(count, slide)
    if count >= needed_cutoffs(spec, horizon, slide):
        time_split(cutoffs, horizon, spec)
    else:
        with pytest.raises(ValueError):
            time_split(cutoffs, horizon, spec)


@settings(max_examples=100, deadline=None)
@given(spec=specs, horizon=horizons,
       offsets=st.lists(st.integers(0, 800), min_size=1, max_size=50, unique=True))
def test_purge_gaps_hold_on_irregular_cutoffs(spec, horizon, offsets):
    cutoffs = [START + timedelta(days=d) for d in offsets]
    try:
        split = time_split(cutoffs, horizon, spec)
    except ValueError:
        return
    assert_purged(split, horizon)
    assert len(split.test) == spec.test_cutoffs and len(split.validation) == spec.validation_cutoffs
    assert len(split.train) >= spec.min_train_cutoffs


def test_input_order_and_type_do_not_matter():
    cutoffs = grid(30, 14)
    spec = SplitSpec(test_cutoffs=3, validation_cutoffs=3, min_train_cutoffs=2)
    a = time_split(cutoffs, 90, spec)
    b = time_split(pd.Series(cutoffs[::-1]).to_numpy(dtype="datetime64[ns]"), 90, spec)
    assert (a.train, a.validation, a.test, a.purged) == (b.train, b.validation, b.test, b.purged)


def test_gap_of_exactly_the_horizon_is_allowed():
    # slide 30 = horizon 30: consecutive cutoffs are exactly one horizon apart, so nothing needs purging
    split = time_split(grid(6, 30), 30, SplitSpec(test_cutoffs=2, validation_cutoffs=2, min_train_cutoffs=2))
    assert split.purged == []
    assert len(split.train) == 2


def test_too_few_cutoffs_names_the_counts():
    spec = SplitSpec(test_cutoffs=4, validation_cutoffs=3, min_train_cutoffs=2)
    # horizon 90 at slide 14 purges 6 cutoffs per gap (21 needed); of 12, only 2 lie 90+ days before the test block
    cutoffs = grid(12, 14)
    with pytest.raises(ValueError) as info:
        time_split(cutoffs, 90, spec)
    message = str(info.value)
    assert message.startswith("12 mature cutoffs")
    for fragment in ("2+ train", "3 validation", "4 test", "90-day", "got 0 train, 2 validation"):
        assert fragment in message, fragment


def test_error_reports_the_train_cutoffs_it_did_find():
    spec = SplitSpec(test_cutoffs=1, validation_cutoffs=1, min_train_cutoffs=5)
    cutoffs = grid(6, 7)  # horizon 7 purges nothing: 1 test, 1 validation, 4 train < 5
    with pytest.raises(ValueError, match=re.escape("got 4 train, 1 validation")):
        time_split(cutoffs, 7, spec)


def test_no_cutoffs_at_all_is_a_value_error():
    # an empty training set must get the same explanation, not an IndexError from test[0]
    with pytest.raises(ValueError, match="too few"):
        time_split(np.array([], dtype="datetime64[ns]"), 90, SplitSpec())


def test_a_grid_too_short_to_split_names_every_setting_that_would_fix_it():
    cutoffs = [datetime(2025, 1, 6) + timedelta(days=28 * i) for i in range(4)]
    with pytest.raises(ValueError) as raised:
        time_split(cutoffs, 90, SplitSpec())
    for setting in ("spine.slide_days", "train.split.test_cutoffs", "train.split.validation_cutoffs",
                    "train.split.min_train_cutoffs", "spine.horizon_days", "spine.warmup_days", "spine.first_cutoff",
                    "leadscore profile"):
        assert setting in str(raised.value), setting


# -- the test block's selection and report halves -----------------------------------------------------------------

def test_the_halves_split_accounts_not_leads_and_do_not_move():
    from models.splits import selection_half

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"lead_id": [f"L{i}" for i in range(4000)],
                          "account_id": [f"A{a}" for a in rng.integers(0, 600, 4000)]})
    half = selection_half(frame)
    assert 0.4 < half.mean() < 0.6
    by_account = pd.Series(half).groupby(frame["account_id"]).nunique()
    assert (by_account == 1).all()  # no account straddles the halves
    shuffled = frame.sample(frac=1, random_state=1)
    assert (selection_half(shuffled) == half[shuffled.index]).all()  # a fixed hash: row order does not matter
    assert (selection_half(frame.head(1000)) == half[:1000]).all()  # nor which other rows are present


def test_leads_without_an_account_and_unhalvable_accounts_are_halved_by_lead():
    from models.splits import selection_half

    frame = pd.DataFrame({"lead_id": [f"L{i}" for i in range(2000)], "account_id": [None] * 1000 + ["A"] * 1000})
    half = selection_half(frame)  # one giant account would put half the rows on one side whatever its hash
    assert 0.4 < half.mean() < 0.6
    assert pd.Series(half[1000:]).nunique() == 2
    no_accounts = frame.drop(columns="account_id")
    assert 0.4 < selection_half(no_accounts).mean() < 0.6
