"""Outcomes of published lists: each week's ``lead_scores`` joined to the deals that followed, once they are known.

A week counts only once its horizon and settle days (``spine``) have passed at the moment
of measurement (``known_at``: the score date of the run that reports it, or the export's
end for ``leadscore outcomes``), and its labels are the training label (``features.spine
.label_sql``) with the deals as they stood then: a report for a Monday never uses a deal
that closed after it. Leads whose deal is still open are censored, as in training.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from features.engine import DuckDBEngine
from features.spine import LABEL_SOURCE, SpineSpec, label_sql, mature_cutoffs
from models.outcomes import OUTCOME_COLUMNS, outcome_warnings, pooled, tier_outcomes
from pipelines import sinks
from pipelines.config import OutcomesSpec


@dataclass
class Measured:
    """Every measurable published week at ``known_at``, and what the latest of them say together."""

    known_at: datetime
    weeks: pd.DataFrame  # OUTCOME_COLUMNS + label, horizon_days, measured_at: one row per week and tier
    summary: pd.DataFrame = field(default_factory=pd.DataFrame)  # pooled over the latest window_weeks
    window: list = field(default_factory=list)  # the weeks pooled
    waiting: list = field(default_factory=list)  # published weeks whose outcomes are not known yet
    warnings: list = field(default_factory=list)
    why_none: str | None = None  # why nothing could be measured


def measure(database, con, spine: SpineSpec, spec: OutcomesSpec, known_at: datetime,
            whole_export: bool = False, accepted: tuple[str, ...] = ()) -> Measured:
    """The outcomes of every published week mature at ``known_at``.

    ``con`` is a DuckDB connection with the export's ``deals`` (and ``feedback``) views, those
    it has; without the label's table nothing can be measured, and ``why_none`` says so. They
    are read as they stood just before ``known_at`` (a score date), or, with ``whole_export``
    (``known_at`` is then the export's end), as the export has them. ``accepted``: the
    dispositions meaning accepted (``spine.label: sales_accepted``).
    """
    published = [w for w in sinks.published_weeks(database) if w < known_at]
    mature, waiting = mature_cutoffs(published, known_at, spine.horizon_days, spine.settle_days)
    result = Measured(known_at, pd.DataFrame(columns=OUTCOME_COLUMNS), waiting=waiting)
    source = LABEL_SOURCE[spine.label]
    if con is None or not DuckDBEngine(con).exists(source):
        result.why_none = f"the export has no {source} table, so no list's outcome can be known"
        return result
    if not mature:
        result.why_none = (f"none of the published lists is old enough: a list counts {spine.horizon_days} days "
                           f"(the horizon) plus {spine.settle_days} settle days after its Monday"
                           + (f"; the first, {min(waiting):%Y-%m-%d}, counts from "
                              f"{min(waiting) + pd.Timedelta(days=spine.horizon_days + spine.settle_days):%Y-%m-%d}"
                              if waiting else "; none has been published before this date"))
        return result
    rows = []
    for week in mature:  # one set-based query a week: a week's list is bounded, the history is not
        listed = sinks.read_list(database, week).assign(cutoff=week)
        con.register("_published_list", listed)
        try:
            rows.append(con.sql(label_sql("_published_list", spine, None if whole_export else known_at,
                                          carry=("tier", "probability"), accepted=accepted)).df())
        finally:
            con.unregister("_published_list")
    labelled = pd.concat(rows, ignore_index=True).rename(columns={"cutoff": "as_of"})
    result.weeks = tier_outcomes(labelled).assign(label=spine.label, horizon_days=spine.horizon_days,
                                                  measured_at=known_at)
    result.window = mature[-spec.window_weeks:]
    result.summary = pooled(result.weeks[result.weeks["as_of"].isin(result.window)])
    result.warnings = outcome_warnings(result.summary, result.window, spec.min_top_tier_lift, spec.expected_ratio)
    return result


def outcomes_of_export(data_dir, config, db_url: str | None = None) -> Measured:
    """``leadscore outcomes``: every published list measured at the export's end, written to ``list_outcomes``."""
    from pipelines.inputs import accepted_dispositions, open_data

    tables = open_data(data_dir, config)
    database = sinks.engine_for(db_url, config.score.db_url)
    sinks.ensure_schema(database)
    result = measure(database, tables.con, config.spine, config.outcomes, tables.data_end(), whole_export=True,
                     accepted=accepted_dispositions(config))
    sinks.write_outcomes(database, result.weeks)
    return result


def describe(result: Measured) -> list[str]:
    """The lines a person reads: the pooled tiers of the latest lists, or why there is nothing yet."""
    if result.why_none:
        return [f"no outcomes yet: {result.why_none}"]
    window = result.window
    lines = [f"{len(result.weeks['as_of'].unique())} published list(s) measured with the deals known on "
             f"{result.known_at:%Y-%m-%d}; the latest {len(window)} ({min(window):%Y-%m-%d}..{max(window):%Y-%m-%d}) "
             "together:",
             "  tier    leads  expected   actual  win rate  actual/expected  lift over the rest"]
    for row in result.summary.itertuples():
        lines.append(f"  {row.tier:>4} {row.leads:>8,} {row.expected_wins:>9.1f} {row.actual_wins:>8.0f} "
                     f"{row.win_rate:>9.2%} {row.actual_over_expected:>16.2f} {row.lift_over_rest:>19.1f}x")
    if result.waiting:
        lines.append(f"  {len(result.waiting)} more list(s) wait for their outcomes (horizon plus settle days)")
    return lines
