"""The report's week-on-week parts, by hand: who dropped out of tier A and where they went."""

from __future__ import annotations

import pandas as pd

from pipelines.report import dropped_from_top


def test_dropped_out_of_tier_a_names_the_new_tier_or_that_the_lead_left_the_list():
    previous = pd.DataFrame({"lead_id": ["L1", "L2", "L3", "L4"], "tier": ["A", "A", "A", "B"],
                             "probability": [0.4, 0.3, 0.2, 0.1]})
    scores = pd.DataFrame({"lead_id": ["L1", "L2", "L4"], "tier": ["A", "C", "A"], "probability": [0.5, 0.05, 0.3]})
    dropped = dropped_from_top(scores, previous)
    assert dropped["lead_id"].tolist() == ["L2", "L3"]  # still listed first, then those who left
    assert dropped["tier"].tolist() == ["C", None]


def test_nothing_dropped_in_the_first_week():
    scores = pd.DataFrame({"lead_id": ["L1"], "tier": ["A"], "probability": [0.5]})
    empty = pd.DataFrame(columns=["lead_id", "probability", "tier", "as_of"])
    assert dropped_from_top(scores, empty).empty
