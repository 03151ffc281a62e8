"""Tiers and the drift profile of a sampled set describe the population it stands for (weight k = k copies)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.profile import drift, reference_profile
from models.tiers import TierSpec, assign_tiers, rank_within, tier_table


@pytest.fixture(scope="module")
def week():
    rng = np.random.default_rng(11)
    n = 600
    frame = pd.DataFrame({"lead_id": [f"L{i:04d}" for i in range(n)], "cutoff": rng.integers(0, 2, n),
                          "score": rng.random(n), "label": (rng.random(n) < 0.1).astype(int),
                          "industry": rng.choice(["saas", "retail", "bank"], n, p=[0.6, 0.3, 0.1]),
                          "visits": rng.poisson(3, n).astype(float), "sample_weight": rng.integers(1, 5, n).astype(float)})
    frame.loc[rng.random(n) < 0.1, "visits"] = np.nan
    frame["probability"] = frame["score"] / 5
    return frame


def expand(frame: pd.DataFrame) -> pd.DataFrame:
    copies = frame.loc[frame.index.repeat(frame["sample_weight"].astype(int))].drop(columns="sample_weight")
    return copies.reset_index(drop=True)


def test_weighted_rank_is_the_rank_of_the_first_copy(week):
    ranks = rank_within(week, "score", "cutoff", weight="sample_weight")
    expanded = expand(week)
    expanded_ranks = rank_within(expanded, "score", "cutoff")
    first_copy = expanded.assign(rank=expanded_ranks).groupby("lead_id")["rank"].min()
    assert np.array_equal(ranks, first_copy.reindex(week["lead_id"]).to_numpy())


def test_weighted_tier_table_equals_the_table_of_the_copies():
    # capacity tiers whose edges fall between whole rows (every weight is 2, every edge even)
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"lead_id": [f"L{i}" for i in range(300)], "cutoff": 0, "score": rng.random(300),
                          "label": (rng.random(300) < 0.2).astype(int), "sample_weight": 2.0})
    frame["probability"] = frame["score"] / 3
    spec = TierSpec(capacity=(50, 250, 400))
    frame["tier"] = assign_tiers(frame["probability"].to_numpy(), rank_within(frame, "score", "cutoff", "sample_weight"),
                                 spec)
    expanded = expand(frame.drop(columns="tier"))
    expanded["tier"] = assign_tiers(expanded["probability"].to_numpy(), rank_within(expanded, "score", "cutoff"), spec)
    got = tier_table(frame, weight="sample_weight")
    want = tier_table(expanded)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert got["leads"].tolist() == [50, 200, 150, 200]


def test_weighted_profile_is_the_profile_of_the_copies(week):
    features = week[["industry", "visits"]]
    got = reference_profile(features, ["industry"], week["probability"].to_numpy(), weight=week["sample_weight"])
    expanded = expand(week)
    want = reference_profile(expanded[["industry", "visits"]], ["industry"], expanded["probability"].to_numpy())
    assert got["categorical"]["industry"] == pytest.approx(want["categorical"]["industry"])
    # the copies have not drifted from the weighted profile; they have from the sample's own
    shift = drift(got, expanded[["industry", "visits"]], expanded["probability"].to_numpy()).set_index("feature")["psi"]
    assert (shift < 1e-9).all(), shift
    unweighted = reference_profile(features, ["industry"], week["probability"].to_numpy())
    naive = drift(unweighted, expanded[["industry", "visits"]], expanded["probability"].to_numpy()).set_index("feature")
    assert naive["psi"].max() > 1e-3


def test_values_never_seen_in_training_are_named_with_their_share():
    from pipelines.config import load_params
    from pipelines.score import _drift_warnings

    reference = pd.DataFrame({"industry": ["software"] * 60 + ["retail"] * 40, "visits": np.arange(100.0)})
    profile = reference_profile(reference, ["industry"])
    week = pd.DataFrame({"industry": ["software"] * 50 + ["Software "] * 30 + ["fintech"] * 20,
                         "visits": np.arange(100.0)})
    table = drift(profile, week).set_index("feature")
    assert table.loc["industry", "unseen"] == "'Software ' 30.0%, 'fintech' 20.0%"
    assert table.loc["visits", "unseen"] == ""
    same = drift(profile, reference).set_index("feature")
    assert same.loc["industry", "unseen"] == ""  # nothing new: no warning of this kind
    def as_scored(frame):  # as the scorer's drift report has it: no comparison with earlier weeks here
        return frame.reset_index().rename(columns={"psi": "psi_training"}).assign(psi=np.nan, usual_psi=np.nan)

    warnings = _drift_warnings(as_scored(table), load_params(None), {})
    assert any("industry: values never seen in training ('Software ' 30.0%" in w for w in warnings), warnings
    assert not any("never seen" in w for w in _drift_warnings(as_scored(same), load_params(None), {}))
