"""The scorer's arithmetic, split where the population matters.

``explain_rows`` is per lead: probability, the booster's raw score, the summed SHAP
contribution of each feature family and the reason sentences. A lead's row depends on
its own features only, so it runs on any batch of rows: the whole frame on DuckDB, or
Arrow batches on Spark executors (``pipelines/spark_scoring.py``).

``rank_rows`` needs the whole week: rank, percentile, tier, and the fit and engagement
scores (percentiles within this population). It runs once, on the narrow per-lead
rows, wherever they were computed, so both engines rank, tier and explain identically.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from models.explain import family_contributions, family_grades, reasons
from models.tiers import TIERS, assign_tiers, rank_within

# the per-lead rows explain_rows makes, with their types (Spark's executors return them in this schema)
ROW_TYPES = {"lead_id": "string", "account_id": "string", "journey_stage": "string", "probability": "double",
             "raw_score": "double", "fit_contribution": "double", "engagement_contribution": "double",
             "reasons": "string", "main_negative": "string"}
ROW_COLUMNS = tuple(ROW_TYPES)


def explain_rows(frame: pd.DataFrame, features: list[str], wrapper) -> pd.DataFrame:
    """Per lead (``ROW_COLUMNS``): the registered model's probability, raw score, family sums and reasons."""
    # isotonic calibration makes plateaus; the booster's raw score orders leads within them (rank_rows)
    probability, raw, contributions = wrapper.model.score_and_explain(frame[features])
    rows = frame[["lead_id", "account_id", "journey_stage"]].copy()
    rows["probability"] = probability
    rows["raw_score"] = raw
    rows = rows.join(family_contributions(contributions, wrapper.manifest))
    return rows.join(reasons(contributions, frame[features], wrapper.manifest))


def rank_rows(rows: pd.DataFrame, tiers, when: datetime, run_id: str, model_version: str | None) -> pd.DataFrame:
    """The week's scores, best first (``models.tiers.best_first`` on the raw score), percentile, tier, grades."""
    probability = rows["probability"].to_numpy()
    scores = rows[["lead_id", "account_id", "journey_stage"]].copy()
    scores["as_of"] = when
    scores["probability"] = probability
    rank = rank_within(rows, "raw_score")  # the booster's score: calibration is monotone but makes ties
    scores["rank"] = rank
    scores["percentile"] = np.round(100.0 * (1 - (rank - 1) / len(scores)), 2)
    scores["tier"] = assign_tiers(probability, rank, tiers)
    top = scores["tier"].isin(TIERS[:2]).to_numpy()  # the grade is read where sales works: tiers A and B
    scores = scores.join(family_grades(rows[["fit_contribution", "engagement_contribution"]], top))
    scores = scores.join(rows[["reasons", "main_negative"]])
    scores["model_version"] = model_version
    scores["run_id"] = run_id
    return scores.sort_values("rank", kind="stable").reset_index(drop=True)
