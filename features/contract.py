"""The data contract: the tables leadscore reads, declared once.

Everything that checks input (the loaders, the rule checks, the Great Expectations
suites) is derived from these declarations, so the contract is written exactly
once. Types are logical (``string``, ``timestamp``, ``integer``, ``number``); the
loaders map each to the physical types that may arrive in Parquet or CSV.

Timestamps are UTC. A value carrying an offset is converted to UTC; a naive value
is taken to be UTC already. Internally every timestamp is a naive UTC value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

DEFAULT_EVENT_TYPES: tuple[str, ...] = (
    "page_view",
    "form_submit",
    "email_open",
    "email_click",
    "content_download",
    "webinar_register",
    "webinar_attend",
)

DEAL_STATUSES: tuple[str, ...] = ("open", "won", "lost")

FeedbackMeaning = Literal["accepted", "rejected", "no_answer", "in_contact"]
FEEDBACK_MEANINGS: tuple[str, ...] = FeedbackMeaning.__args__
DEFAULT_FEEDBACK_DISPOSITIONS: dict[str, FeedbackMeaning] = {
    # what sales record when they work a lead, in the words CRMs ship with; an export's own words are mapped in
    # data.feedback_dispositions
    "accepted": "accepted", "sales_accepted": "accepted", "sal": "accepted", "qualified": "accepted",
    "meeting_booked": "accepted",
    "rejected": "rejected", "sales_rejected": "rejected", "not_interested": "rejected", "bad_fit": "rejected",
    "unqualified": "rejected",
    "no_answer": "no_answer", "no_response": "no_answer", "voicemail": "no_answer", "attempted": "no_answer",
    "in_contact": "in_contact", "already_in_contact": "in_contact", "working": "in_contact",
}


@dataclass(frozen=True)
class Column:
    """One column of a contract table.

    ``present`` says whether the column must exist in the file; ``nullable`` whether
    its values may be missing once it exists. ``minimum`` bounds numbers from below.
    """

    name: str
    dtype: str
    nullable: bool = True
    present: bool = True
    unique: bool = False
    minimum: float | None = None
    allowed: tuple[str, ...] | None = None
    description: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    required: bool = True
    description: str = ""
    extra_columns_allowed: bool = False
    row_rules: tuple[tuple[str, str, str], ...] = field(default_factory=tuple)
    """Cross-column rules as (name, SQL condition that a valid row satisfies, how to fix)."""

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"table {self.name!r} has no column {name!r}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


LEADS = Table(
    name="leads",
    description="One row per known person: a lead becomes known at a form fill (created_at). Every column but the "
                "two keys may be absent: the features it feeds are then left out, and the build report says so.",
    extra_columns_allowed=True,
    columns=(
        Column("lead_id", "string", nullable=False, unique=True, description="unique id of the person"),
        Column("created_at", "timestamp", nullable=False, description="when the person became known"),
        Column("account_id", "string", present=False, description="the company the person belongs to"),
        Column("title", "string", present=False, description="job title, free text as typed"),
        Column("industry", "string", present=False, description="the account's vertical"),
        Column("company_size", "integer", present=False, minimum=0, description="employees"),
        Column("country", "string", present=False),
        Column("lead_source", "string", present=False, description="how the lead was acquired"),
        Column("disqualified_at", "timestamp", present=False,
               description="when sales or marketing disqualified the lead; from then on it is never scored"),
    ),
)

EVENTS = Table(
    name="events",
    description="One row per engagement: a page view, an email open, a webinar ...",
    columns=(
        Column("occurred_at", "timestamp", nullable=False),
        Column("lead_id", "string", description="null for anonymous activity"),
        Column("anonymous_id", "string", description="cookie id of an unidentified visitor"),
        Column("event_type", "string", nullable=False, allowed=DEFAULT_EVENT_TYPES),
        Column("content_type", "string", present=False, description="blog, case_study, pricing, demo_request, ..."),
        Column("content_id", "string", present=False),
        Column("duration_s", "number", present=False, minimum=0, description="time on page in seconds"),
        Column("event_id", "string", present=False, unique=True, description="duplicates are dropped and counted"),
        Column("ingested_at", "timestamp", present=False, description="when the row became known"),
    ),
    row_rules=(
        (
            "lead_id or anonymous_id",
            "lead_id IS NOT NULL OR anonymous_id IS NOT NULL",
            "every event needs a lead_id or an anonymous_id; drop rows with neither",
        ),
    ),
)

IDENTITIES = Table(
    name="identities",
    required=False,
    description="Anonymous visitors later identified (e.g. by a form fill).",
    columns=(
        Column("anonymous_id", "string", nullable=False),
        Column("lead_id", "string", nullable=False),
        Column("identified_at", "timestamp", nullable=False),
    ),
)

DEALS = Table(
    name="deals",
    required=False,  # needed to train, not to score
    description="Opportunities and their outcomes; the source of labels.",
    columns=(
        Column("deal_id", "string", nullable=False, unique=True),
        Column("lead_id", "string", nullable=False, description="the lead the opportunity came from"),
        Column("account_id", "string", present=False),
        Column("created_at", "timestamp", nullable=False),
        Column("closed_at", "timestamp", description="null while open"),
        Column("status", "string", nullable=False, allowed=DEAL_STATUSES),
        Column("amount", "number", present=False, minimum=0),
    ),
    row_rules=(
        (
            "closed_at set exactly when closed",
            "(status = 'open') = (closed_at IS NULL)",
            "set closed_at for won and lost deals, and leave it empty for open ones",
        ),
        (
            "closed_at not before created_at",
            "closed_at IS NULL OR closed_at >= created_at",
            "a deal cannot close before it was created; check the two date columns are not swapped",
        ),
    ),
)

LIFECYCLE = Table(
    name="lifecycle",
    required=False,
    description="A lead's lifecycle-stage history, as CRMs export it: one row per change of status. The status at "
                "a cutoff is the latest change before it; its meaning (open, disqualified, customer, recycled) comes "
                "from data.lifecycle_statuses.",
    columns=(
        Column("lead_id", "string", nullable=False),
        Column("status", "string", nullable=False, description="the status in the export's own words"),
        Column("changed_at", "timestamp", nullable=False, description="when the lead entered the status"),
    ),
)

FEEDBACK = Table(
    name="feedback",
    required=False,
    description="What sales recorded when they worked a lead from a list: one row per disposition. Shown in the "
                "scores and the report, and the label spine.label: sales_accepted; never a feature (features/"
                "README.md says why). Its meaning (accepted, rejected, no answer, in contact) comes from "
                "data.feedback_dispositions.",
    columns=(
        Column("lead_id", "string", nullable=False),
        Column("at", "timestamp", nullable=False, description="when sales recorded the disposition"),
        Column("disposition", "string", nullable=False, description="the disposition in the export's own words"),
        Column("reason", "string", present=False, description="why, as sales typed it"),
    ),
)

TABLES: dict[str, Table] = {t.name: t for t in (LEADS, EVENTS, IDENTITIES, DEALS, LIFECYCLE, FEEDBACK)}
# each table's timestamps that say what the export knows up to (data_end): every one but a lead's disqualification
KNOWN_UP_TO: dict[str, tuple[str, ...]] = {"leads": ("created_at",), "events": ("occurred_at",),
                                           "deals": ("created_at", "closed_at"), "identities": ("identified_at",),
                                           "lifecycle": ("changed_at",), "feedback": ("at",)}
# (table, column) whose earliest value is where usable history begins (data_start): the first engagement event
# (CRMs hold far older leads)
HISTORY_STARTS = ("events", "occurred_at")

# SQL: the moment an event becomes known (it happened and, with an ingested_at, was ingested): a cutoff t sees it
# when this is before t (occurred_at < t and ingested_at <= t). The features, the plan and the store's digests read it.
EVENT_KNOWN_AT = "greatest(occurred_at, coalesce(ingested_at - INTERVAL 1 MICROSECOND, occurred_at))"
