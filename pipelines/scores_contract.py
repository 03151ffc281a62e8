"""The output contract: the weekly scores' columns, declared once.

The input contract (``features/contract.py``) says what an export must hold; this says what
leadscore writes back. The database table (``sinks.LEAD_SCORES``), the CSV for the CRM
(``CSV_COLUMNS``), the checks on a scored week (``validation.validate_scores``) and the
columns an upgrade adds to an existing table (``sinks.ensure_schema``) are all derived from
``WEEKLY_SCORES``. To add a column: declare it here, compute it in ``pipelines/score.py``;
the table of a database written by an earlier version gains it on the next run.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Boolean, DateTime, Float, Integer, String, Text
from sqlalchemy.types import TypeEngine

ID_LENGTH = 255  # ids longer than this are refused by validation (a CRM's ids are far shorter)


@dataclass(frozen=True)
class OutputColumn:
    name: str
    type: TypeEngine
    meaning: str
    nullable: bool = True
    key: bool = False  # part of the table's primary key
    csv: bool = True  # in the CSV for the CRM
    decimals: int | None = None  # a number's places in the CSV (the database keeps full precision)
    source: str | None = None  # an optional input table it comes from: in the CSV only when the export has it


WEEKLY_SCORES = (
    OutputColumn("as_of", DateTime(), "the Monday (00:00 UTC) the list is for", nullable=False, key=True),
    OutputColumn("lead_id", String(ID_LENGTH), "the lead, as the export names it", nullable=False, key=True),
    OutputColumn("account_id", String(ID_LENGTH), "the lead's account, if any"),
    OutputColumn("probability", Float(), "calibrated chance of a won deal created within the horizon", nullable=False,
                 decimals=6),
    OutputColumn("rank", Integer(), "1 = the lead to call first this week", nullable=False),
    OutputColumn("percentile", Float(), "share of this week's leads ranked at or below this one, in %",
                 nullable=False, decimals=2),
    OutputColumn("tier", String(1), "A (call this week), B, C, D", nullable=False),
    OutputColumn("grade", String(4), "fit A-D (who they are) x engagement 1-4 (what they do), in quarters of this "
                 "week's tier A and B leads: A1 is the best quarter of the leads worth calling on both"),
    OutputColumn("fit_score", Float(), "percentile of the fit features' contribution this week", decimals=1),
    OutputColumn("engagement_score", Float(), "percentile of the engagement features' contribution this week",
                 decimals=1),
    OutputColumn("journey_stage", String(32), "Acknowledged, Engaged or Leaning in, by the stage rules (in the "
                 "database: acknowledged, engaged, leaning_in)"),
    OutputColumn("reasons", Text(), "what raises the score most, in plain words"),
    OutputColumn("main_negative", Text(), "what holds the score back most"),
    OutputColumn("previous_probability", Float(), "the probability on the previous list", csv=False),
    OutputColumn("score_delta", Float(), "probability now minus on the previous list", decimals=6),
    OutputColumn("previous_tier", String(1), "the tier on the previous list"),
    OutputColumn("tier_change", String(8), "up, down, same or new"),
    OutputColumn("new_in_top_tier", Boolean(), "in tier A now and not on the previous list (true or false)"),
    OutputColumn("sales_feedback", String(255), "sales' latest disposition on the lead before this Monday, in the "
                 "export's words (the feedback table); shown, never a feature", source="feedback"),
    OutputColumn("sales_feedback_at", DateTime(), "when sales recorded that disposition (UTC)", source="feedback"),
    OutputColumn("sales_feedback_reason", Text(), "the reason sales gave with it, as typed", source="feedback"),
    OutputColumn("display", Text(), "the lead's display columns (data.display_columns) as a JSON object; in the CSV "
                 "each is a column of its own, after lead_id", csv=False),
    OutputColumn("model_version", String(64), "the registered model version that scored"),
    OutputColumn("model_run_id", String(64), "the MLflow run that trained that model version"),
    OutputColumn("run_id", String(64), "the scoring run (table score_runs)", nullable=False),
)

SCORE_COLUMNS = [c.name for c in WEEKLY_SCORES]
CSV_COLUMNS = [c.name for c in WEEKLY_SCORES if c.csv]
SOURCED = {source: [c.name for c in WEEKLY_SCORES if c.source == source]
           for source in dict.fromkeys(c.source for c in WEEKLY_SCORES if c.source)}  # optional table -> its columns
DISPLAY_MEANING = "from the leads file, shown to act on the list (data.display_columns); never a feature"


def csv_columns(display: tuple[str, ...] = (), sources=()) -> list[str]:
    """The CSV's columns: the contract's, with the display columns of this run right after lead_id, and those
    that come from an optional table only when the export has it (``sources``): never an empty column."""
    kept = [c.name for c in WEEKLY_SCORES if c.csv and (c.source is None or c.source in sources)]
    at = kept.index("lead_id") + 1
    return kept[:at] + list(display) + kept[at:]


CSV_DECIMALS = {c.name: c.decimals for c in WEEKLY_SCORES if c.csv and c.decimals is not None}
REQUIRED = [c.name for c in WEEKLY_SCORES if not c.nullable]
