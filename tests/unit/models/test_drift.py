"""Drift against the usual week: a rhythm the earlier Mondays share is not drift; a break beyond it is."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.drift import flagged, in_words, weekly_drift

RNG = np.random.default_rng(7)
N = 4000


def week(cutoff: int, opens_rate: float, size_mean: float = 50.0) -> pd.DataFrame:
    return pd.DataFrame({"cutoff": cutoff, "opens_7d": RNG.poisson(opens_rate, N).astype(float),
                         "company_size": RNG.normal(size_mean, 10, N), "industry": RNG.choice(["a", "b", "c"], N)})


def usual() -> pd.DataFrame:
    # a fortnightly newsletter: opens swing between two shapes from one Monday to the next
    return pd.concat([week(k, 2.0 if k % 2 else 0.1) for k in range(4)], ignore_index=True)


def test_a_week_in_the_usual_rhythm_is_not_flagged():
    table = weekly_drift(usual(), week(5, 2.0), ["opens_7d", "company_size", "industry"], ["industry"])
    assert table.set_index("feature").loc["opens_7d", "psi"] > 0.25  # against the pooled weeks it looks large ...
    assert flagged(table, 0.25, 2.0).empty  # ... but no larger than an ordinary week moves


def test_a_break_beyond_the_rhythm_is_flagged_and_said_in_words():
    table = weekly_drift(usual(), week(5, 2.0, size_mean=90.0), ["opens_7d", "company_size", "industry"], ["industry"])
    moved = flagged(table, 0.25, 2.0)
    assert list(moved["feature"]) == ["company_size"]
    words = in_words(moved.iloc[0], "employees at the company")
    assert words.startswith("employees at the company: 90") and "1.8x the usual" in words


def test_a_category_mix_that_changed_is_flagged():
    now = week(5, 2.0).assign(industry=RNG.choice(["a", "d"], N))
    moved = flagged(weekly_drift(usual(), now, ["industry"], ["industry"]), 0.25, 2.0)
    assert list(moved["feature"]) == ["industry"]
    assert "mix of values" in in_words(moved.iloc[0], "industry")

