"""What sales said of published lists: each recent week's tiers against the dispositions recorded while it was live.

A disposition recorded at ``at`` belongs to the list of the Monday ``w`` with
``w <= at < w + 7 days`` (the list sales were working when they recorded it), and only
for a lead on that list; a lead worked twice in one week counts once, by its latest
disposition. Only lists published before the report's Monday are read, and only
dispositions recorded before it: the report never shows what was said after its date.

Feedback is shown, never a feature (``features/README.md``, "Why sales feedback is not
a feature").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from features.contract import FEEDBACK_MEANINGS
from features.definitions import sql_string, sql_timestamp
from features.engine import DuckDBEngine
from pipelines import sinks
from pipelines.config import OutcomesSpec

TIER_COLUMNS = ["tier", "leads", "worked", *FEEDBACK_MEANINGS, "acceptance_rate"]


@dataclass
class Heard:
    """The latest ``feedback_weeks`` lists before ``before``, by tier: how many leads sales worked and what they said."""

    before: datetime
    weeks: list = field(default_factory=list)  # the lists read, oldest first
    tiers: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=TIER_COLUMNS))
    reasons: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["tier", "meaning", "reason",
                                                                                "leads"]))
    unmapped: int = 0  # dispositions in the window that data.feedback_dispositions does not name
    why_none: str | None = None  # why nothing can be shown


def meaning_sql(dispositions: dict[str, str], column: str = "disposition") -> str:
    """SQL: the meaning of each disposition word (data.feedback_dispositions), NULL for a word it does not name."""
    if not dispositions:
        return "CAST(NULL AS VARCHAR)"
    cases = " ".join(f"WHEN {sql_string(word)} THEN {sql_string(meaning)}" for word, meaning in dispositions.items())
    return f"CASE {column} {cases} END"


def worked_sql(lists: str, dispositions: dict[str, str], before: datetime) -> str:
    """SQL (lead_id, as_of, tier, disposition, meaning, reason): every lead of the lists in relation ``lists``, with
    its latest disposition recorded in that list's week and before ``before`` (NULLs when nobody recorded one)."""
    until = sql_timestamp(before)
    return f"""
        SELECT l.lead_id, l.as_of, l.tier, f.disposition, f.meaning, f.reason
        FROM {lists} l
        LEFT JOIN (SELECT lead_id, "at", disposition, {meaning_sql(dispositions)} AS meaning,
                          NULLIF(trim(reason), '') AS reason
                   FROM feedback WHERE "at" < {until}) f
               ON f.lead_id = l.lead_id AND f."at" >= l.as_of AND f."at" < l.as_of + INTERVAL 7 DAY
        QUALIFY row_number() OVER (PARTITION BY l.lead_id, l.as_of
                                   ORDER BY f."at" DESC NULLS LAST, f.disposition DESC) = 1"""


def hear(database, con, dispositions: dict[str, str], spec: OutcomesSpec, before: datetime) -> Heard:
    """What sales said of the latest ``spec.feedback_weeks`` lists published before ``before``.

    ``con``: a DuckDB connection with the export's views (``feedback`` among them, if the
    export has one).
    """
    result = Heard(before)
    if con is None or not DuckDBEngine(con).exists("feedback"):
        result.why_none = ("the export has no feedback table (what sales recorded when they worked a lead: lead_id, "
                           "at, disposition, reason)")
        return result
    result.weeks = [w for w in sinks.published_weeks(database) if w < before][-spec.feedback_weeks:]
    if not result.weeks:
        result.why_none = "no list was published before this one"
        return result
    lists = pd.concat([sinks.read_list(database, w).assign(as_of=w)[["lead_id", "as_of", "tier"]]
                       for w in result.weeks], ignore_index=True)
    con.register("_heard_lists", lists)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _worked AS {worked_sql('_heard_lists', dispositions, before)}")
        counts = ", ".join(f"count(*) FILTER (WHERE meaning = {sql_string(m)}) AS {m}" for m in FEEDBACK_MEANINGS)
        result.tiers = con.sql(f"""
            SELECT tier, count(*) AS leads, count(meaning) AS worked, {counts},
                   count(*) FILTER (WHERE meaning = 'accepted')
                       / nullif(count(*) FILTER (WHERE meaning IN ('accepted', 'rejected')), 0) AS acceptance_rate
            FROM _worked GROUP BY tier ORDER BY tier""").df()
        result.reasons = con.sql(f"""
            SELECT tier, meaning, min(reason) AS reason, count(*) AS leads
            FROM _worked WHERE meaning IN ('accepted', 'rejected') AND reason IS NOT NULL
            GROUP BY tier, meaning, lower(reason)
            QUALIFY row_number() OVER (PARTITION BY tier, meaning ORDER BY count(*) DESC, lower(reason))
                    <= {int(spec.top_reasons)}
            ORDER BY tier, meaning, leads DESC, lower(reason)""").df()
        result.unmapped = con.sql("SELECT count(*) FROM _worked WHERE disposition IS NOT NULL AND meaning IS NULL"
                                  ).fetchall()[0][0]
    finally:
        con.unregister("_heard_lists")
        con.execute("DROP TABLE IF EXISTS _worked")
    return result


def latest_feedback_sql(before: datetime) -> str:
    """SQL (lead_id, sales_feedback, sales_feedback_at, sales_feedback_reason): each lead's latest disposition recorded
    before ``before`` (the score date), in the export's words: shown beside the lead, never a feature."""
    return f"""
        SELECT lead_id, disposition AS sales_feedback, "at" AS sales_feedback_at,
               NULLIF(trim(reason), '') AS sales_feedback_reason
        FROM (SELECT *, row_number() OVER (PARTITION BY lead_id ORDER BY "at" DESC, disposition DESC) AS latest
              FROM feedback WHERE "at" < {sql_timestamp(before)}) AS ordered
        WHERE latest = 1"""


def describe(heard: Heard) -> list[str]:
    """One line a tier: what sales said of the leads of the recent lists."""
    weeks = heard.weeks
    lines = [f"what sales said of the {len(weeks)} list(s) {min(weeks):%Y-%m-%d}..{max(weeks):%Y-%m-%d}:"]
    for row in heard.tiers.itertuples():
        rate = "" if row.acceptance_rate != row.acceptance_rate or row.acceptance_rate is None else \
            f" ({row.acceptance_rate:.0%} of decided)"
        lines.append(f"  tier {row.tier}: {row.worked:,} of {row.leads:,} worked; {row.accepted:,} accepted{rate}, "
                     f"{row.rejected:,} rejected, {row.no_answer:,} no answer, {row.in_contact:,} in contact")
    return lines
