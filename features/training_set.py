"""Training sets and scoring frames: the spine joined to the features, through one code path.

``con`` is a DuckDB connection or an engine of ``features.engine`` (DuckDB or Spark):
the same SQL builds both, so a training set from Spark equals the one from DuckDB.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd

from features.builder import build_features
from features.definitions import FeatureSpec, StageSpec
from features.engine import as_engine
from features.spine import SpineSpec, create_labelled_spine, create_population, cutoff_grid


def build_training_set(con, spine_spec: SpineSpec, feature_spec: FeatureSpec, stage_spec: StageSpec,
                       data_start: datetime, data_end: datetime, event_types, extra_lead_attributes=(),
                       has_identities: bool = True, cutoffs: list[datetime] | None = None,
                       out: str = "training_set", progress: bool = False,
                       parquet: Path | None = None) -> tuple[str, pd.DataFrame]:
    """Table ``out``: one labelled row per (lead, mature cutoff) with its features; plus the counts report.

    With ``parquet`` (DuckDB), the rows are streamed into that one file in (cutoff, lead_id)
    order as each cutoff is built, and ``out`` is a view over it (``build_features``).
    """
    cutoffs = cutoffs or cutoff_grid(data_start, data_end, spine_spec)
    spine, report = create_labelled_spine(con, cutoffs, data_end, spine_spec)
    mature = [t.to_pydatetime() for t in report["cutoff"]]
    build_features(con, spine, feature_spec, stage_spec, event_types, extra_lead_attributes,
                   has_identities=has_identities, has_deals=True, out=out, cutoffs=mature, progress=progress,
                   parquet=parquet)
    return out, report


def build_scoring_frame(con, as_of: datetime, spine_spec: SpineSpec, feature_spec: FeatureSpec, stage_spec: StageSpec,
                        event_types, extra_lead_attributes=(), has_identities: bool = True, has_deals: bool = True,
                        out: str = "scoring_set") -> str:
    """Table ``out``: the population at ``as_of`` with features, built exactly as training rows are."""
    population = create_population(con, [as_of], spine_spec, has_deals=has_deals, out="_score_population")
    as_engine(con).create_table("_score_spine", f"SELECT lead_id, cutoff FROM {population} "
                                                "WHERE excluded IS NULL ORDER BY lead_id")
    return build_features(con, "_score_spine", feature_spec, stage_spec, event_types, extra_lead_attributes,
                          has_identities=has_identities, has_deals=has_deals, out=out, cutoffs=[as_of])
