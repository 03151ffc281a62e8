"""The grade says something where it is read: at the top of the list."""

from __future__ import annotations

import numpy as np
import pandas as pd


def test_grades_spread_over_the_top_of_the_list():
    """Among the leads worth calling, each fit letter and engagement digit holds about a quarter of them."""
    from models.explain import family_grades

    rng = np.random.default_rng(3)
    sums = pd.DataFrame({"fit_contribution": rng.normal(size=2000), "engagement_contribution": rng.normal(size=2000)})
    top = (sums["fit_contribution"] + sums["engagement_contribution"]).rank(ascending=False).to_numpy() <= 200
    grades = family_grades(sums, top)["grade"]
    top_grades = grades[top]
    for letter in "ABCD":
        assert 40 <= top_grades.str[0].eq(letter).sum() <= 60, letter
    for digit in "1234":
        assert 40 <= top_grades.str[1].eq(digit).sum() <= 60, digit
    whole = family_grades(sums)["grade"]  # cut on the whole population, the top is mostly A1
    assert whole[top].eq("A1").mean() > 2 * top_grades.eq("A1").mean()
