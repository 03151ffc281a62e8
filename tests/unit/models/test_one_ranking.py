"""One ordering rule (``models.tiers.best_first``): the weekly list, the backtest's ranks and the top-N metrics agree.

The frame has ties in the calibrated probability (isotonic plateaus) and in the raw score, so an
ordering by probability, or ties broken by row position instead of lead id, would disagree.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from models.metrics import precision_at_capacity, top_fraction
from models.tiers import TierSpec, best_first, rank_within
from pipelines.score_rows import rank_rows


def week(n: int = 400, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    raw = np.round(rng.random(n), 2)  # many exact ties
    probability = np.floor(raw * 5) / 5  # plateaus: a monotone calibration with ties
    ids = [f"L{i:04d}" for i in rng.permutation(n)]
    return pd.DataFrame({"lead_id": ids, "account_id": None, "journey_stage": "engaged", "probability": probability,
                         "raw_score": raw, "fit_contribution": 0.0, "engagement_contribution": 0.0, "reasons": "",
                         "main_negative": None, "label": rng.random(n) < raw * 0.3})


def test_the_weekly_list_and_the_backtest_rank_alike():
    rows = week()
    listed = rank_rows(rows, TierSpec(), datetime(2026, 1, 5), "run", "1")
    backtest = rows.assign(rank=rank_within(rows.assign(cutoff=0), "raw_score", "cutoff"))
    assert dict(zip(listed["lead_id"], listed["rank"])) == dict(zip(backtest["lead_id"], backtest["rank"]))
    # best first: the raw score never rises down the list, and ties go by lead id
    raw = rows.set_index("lead_id").loc[listed["lead_id"], "raw_score"].to_numpy()
    assert (np.diff(raw) <= 0).all()
    same = raw[1:] == raw[:-1]
    assert same.sum() > 50
    assert (listed["lead_id"].to_numpy()[1:][same] > listed["lead_id"].to_numpy()[:-1][same]).all()


def test_the_metrics_take_the_same_top_rows_as_the_list():
    rows = week().sort_values("lead_id").reset_index(drop=True)  # as training sets are stored: by (cutoff, lead_id)
    order = best_first(rows["raw_score"], rows["lead_id"].to_numpy())
    capacity = 37
    top = rows.iloc[order[:capacity]]
    assert precision_at_capacity(rows["label"], rows["raw_score"], np.zeros(len(rows)), capacity) == top["label"].mean()
    share = capacity / len(rows)
    lift, _ = top_fraction(rows["label"], rows["raw_score"], share)
    assert np.isclose(lift, top["label"].mean() / rows["label"].mean())
    assert list(best_first(rows["raw_score"])) == list(order)  # stored by lead id, position breaks ties by id
