"""The spine: which (lead, cutoff) rows exist, and their labels.

The spine is the contract between labels and features. Labels decide which rows
exist (population, censoring); the feature builder then fills in what was known
at each row's cutoff. Scoring uses the same spine with one cutoff and no labels.

Time semantics (stated once here, tested on both sides of every boundary):

* a cutoff ``t`` is a Monday 00:00 UTC;
* the population at ``t``: leads with ``created_at < t``, minus leads with a deal
  open at ``t`` (``created_at < t`` and not closed before ``t``), unless configured
  otherwise existing customers (a won deal with ``closed_at < t``, or a lifecycle
  status meaning *customer*), leads whose last lost deal closed less than
  ``recycle_days`` before ``t`` (``t - recycle_days < closed_at < t``: sales just
  had them), and disqualified leads (``disqualified_at < t``, or a lifecycle status
  meaning *disqualified*). The status at ``t`` is the latest change with
  ``changed_at < t``;
* the label at ``t`` (``won_deal_created``, the default): 1 when the lead has a deal
  created in ``[t, t + horizon_days)`` that is won; ``won_deal_closed``: a won deal
  whose ``closed_at`` is in ``[t, t + horizon_days)``; ``sales_accepted``: a feedback
  row meaning *accepted* with ``at`` in ``[t, t + horizon_days)``, for teams whose
  deals take too long to label (set a shorter horizon: how long sales take to work a
  lead). A lead nobody worked is a 0: feedback has no "still open" state to censor;
* censoring: a cutoff whose window (plus ``settle_days`` for deals opened in it to
  close) ends after the data's end is immature and not used for training; a row
  whose window holds a deal still open at the data's end has an unknown outcome and
  is dropped. Neither is ever called a negative.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from features.definitions import sql_list, sql_timestamp
from features.engine import as_engine
from features.errors import UserError

LabelKind = Literal["won_deal_created", "won_deal_closed", "sales_accepted"]
LABEL_WORDS = {  # the label in a sentence, for people (``{days}``: the horizon)
    "won_deal_created": "a deal opened within {days} days of the list's Monday that was won",
    "won_deal_closed": "a deal won (closed) within {days} days of the list's Monday",
    "sales_accepted": "sales accepted the lead (the feedback table) within {days} days of the list's Monday",
}
LABEL_SOURCE = {"won_deal_created": "deals", "won_deal_closed": "deals", "sales_accepted": "feedback"}
Meaning = Literal["open", "disqualified", "customer", "recycled"]

DEFAULT_LIFECYCLE_STATUSES: dict[str, Meaning] = {
    # the lifecycle stages CRMs ship with; an export's own words are mapped in data.lifecycle_statuses
    "subscriber": "open", "lead": "open", "mql": "open", "marketing_qualified": "open", "sql": "open",
    "sales_qualified": "open", "opportunity": "open", "nurture": "recycled", "recycled": "recycled",
    "disqualified": "disqualified", "unqualified": "disqualified", "junk": "disqualified", "customer": "customer",
    "evangelist": "customer",
}
# why a known lead is not in a cutoff's population, in order of precedence
EXCLUSIONS = ("in_deal", "customer", "recently_lost", "disqualified")


class SpineSpec(BaseModel):
    """How cutoffs are laid out and rows labelled (``params.yaml: spine``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    horizon_days: int = Field(90, gt=0, le=730, description="label window length after the cutoff")
    slide_days: int = Field(14, gt=0, le=364, description="days between training cutoffs; a multiple of 7 keeps them on Mondays")
    warmup_days: int = Field(91, ge=0, le=3650, description="history needed before the first training cutoff")
    first_cutoff: date | None = Field(None, description="earliest training cutoff; default: data start + warmup_days")
    last_cutoff: date | None = Field(None, description="latest training cutoff; default: the data's end")
    settle_days: int = Field(
        90, ge=0, le=730,
        description="extra days after the label window before a cutoff counts as mature, so that deals opened in "
                    "the window have had time to close; without them recent cutoffs lose exactly the slow-closing "
                    "wins to censoring and their label rate is biased low")
    label: LabelKind = "won_deal_created"
    exclude_customers: bool = True
    recycle_days: int = Field(
        90, ge=0, le=3650,
        description="after a lost deal closes, its lead leaves the population for this many days (sales just had "
                    "them); 0 keeps them in")

    @model_validator(mode="after")
    def _ordered(self):
        if self.first_cutoff and self.last_cutoff and self.first_cutoff > self.last_cutoff:
            raise ValueError(f"first_cutoff {self.first_cutoff} is after last_cutoff {self.last_cutoff}")
        if self.slide_days % 7:
            raise ValueError(f"slide_days must be a multiple of 7 so every cutoff is a Monday, got {self.slide_days}")
        return self


def monday_on_or_before(moment: datetime | date) -> datetime:
    """The latest Monday 00:00 not after ``moment``: the default score date."""
    day = moment.date() if isinstance(moment, datetime) else moment
    monday = day - timedelta(days=day.weekday())
    return datetime.combine(monday, time())


GRID_ANCHOR = datetime(1970, 1, 5)
"""A Monday: without ``first_cutoff``, a grid's cutoffs are the Mondays a whole number of ``slide_days`` from it."""


def cutoff_grid(data_start: datetime, data_end: datetime, spec: SpineSpec) -> list[datetime]:
    """Training cutoffs: Mondays every ``slide_days`` from a fixed Monday, within the data.

    The fixed Monday is ``first_cutoff`` (the first Monday on or after it) when set, else
    `GRID_ANCHOR`. A fixed anchor keeps the grid in place as the export grows: next week's
    export has this week's cutoffs plus any new one, so the feature store reuses the
    cutoffs it has built (``features.store``); a grid anchored on the data's end moved all of
    them whenever a week was added. Cutoffs run from data start + ``warmup_days`` (or
    ``first_cutoff``) to the latest Monday of the data (or ``last_cutoff``). Immature cutoffs
    are still listed here; censoring decides what to do with them.
    """
    last = monday_on_or_before(spec.last_cutoff or data_end)
    if spec.first_cutoff:
        earliest = anchor = monday_on_or_before(spec.first_cutoff + timedelta(days=6))
    else:
        earliest = datetime.combine(data_start.date(), time()) + timedelta(days=spec.warmup_days)
        anchor = GRID_ANCHOR
    last -= timedelta(days=(last - anchor).days % spec.slide_days)
    cutoffs = []
    t = last
    while t >= earliest:
        cutoffs.append(t)
        t -= timedelta(days=spec.slide_days)
    if not cutoffs:
        raise UserError(
            f"no training cutoff fits between {earliest:%Y-%m-%d} and {last:%Y-%m-%d}: the data spans too little time "
            f"for warmup_days={spec.warmup_days}; lower spine.warmup_days or set spine.first_cutoff"
        )
    return sorted(cutoffs)


def mature_cutoffs(cutoffs: list[datetime], data_end: datetime, horizon_days: int,
                   settle_days: int = 0) -> tuple[list[datetime], list[datetime]]:
    """Split cutoffs into those whose label window (and settling time) has fully happened and those that have not."""
    horizon = timedelta(days=horizon_days + settle_days)
    mature = [t for t in cutoffs if t + horizon <= data_end]
    return mature, [t for t in cutoffs if t + horizon > data_end]


def create_population(con, cutoffs: list[datetime], spec: SpineSpec, has_deals: bool, out: str = "population",
                      lifecycle: dict[str, str] | None = None) -> str:
    """Table ``out``: the population of ``population_sql``."""
    return as_engine(con).create_table(out, population_sql(con, cutoffs, spec, has_deals, lifecycle))


def population_sql(con, cutoffs: list[datetime], spec: SpineSpec, has_deals: bool,
                   lifecycle: dict[str, str] | None = None, leads: str = "leads", labelled: bool = False) -> str:
    """SQL (lead_id, cutoff, excluded): every known lead at every cutoff and why it is left out.

    ``excluded`` is NULL for the population, else one of `EXCLUSIONS`: 'in_deal' (a deal
    open at the cutoff), 'customer' (a won deal closed before it, or a customer status;
    unless ``spec.exclude_customers`` is false), 'recently_lost' (a lost deal closed in
    the ``recycle_days`` before it), 'disqualified' (``disqualified_at`` before it, or a
    disqualified status). ``lifecycle`` maps the statuses of table ``lifecycle`` to their
    meaning; None when the export has no lifecycle table. ``leads``: the relation of leads to give rows for
    (all of table ``leads`` by default). ``labelled`` (a label read from the deals): also the columns
    (positive, censored) of ``label_sql``, from the same grouping of the deals (one pass where two cost a second
    at 1M leads). ``con``: a DuckDB connection or an engine.
    """
    con = as_engine(con)
    at = cutoff_rows(cutoffs)
    in_deal, customer, recently_lost, disqualified = [], [], [], []
    joins, labels = [], ""
    if labelled and LABEL_SOURCE[spec.label] != "deals":
        raise ValueError(f"population_sql(labelled=True) reads the label from the deals, not for {spec.label}")
    if has_deals:
        # the deal rules per (lead, cutoff) where the lead has a deal: a few rows, grouped, then joined to the
        # (lead, cutoff) pairs (grouping every pair cost seconds at a million leads)
        deal_rules = {"in_deal": "d.created_at < c.cutoff AND (d.closed_at IS NULL OR d.closed_at >= c.cutoff)",
                      "won": "d.created_at < c.cutoff AND d.status = 'won' AND d.closed_at < c.cutoff"}
        if spec.recycle_days:
            deal_rules["lost"] = (f"d.created_at < c.cutoff AND d.status = 'lost' AND d.closed_at < c.cutoff AND "
                                  f"d.closed_at > c.cutoff - INTERVAL {int(spec.recycle_days)} DAY")
        reach = "d.created_at < c.cutoff"
        if labelled:
            reach, label_rules = _deal_label(spec)
            deal_rules.update(label_rules)
            labels = ", coalesce(dl.positive, FALSE) AS positive, coalesce(dl.censored, FALSE) AS censored"
        joins.append(f"""LEFT JOIN (
            SELECT d.lead_id, c.cutoff, {', '.join(f'bool_or({rule}) AS {name}' for name, rule in deal_rules.items())}
            FROM deals d JOIN {at} c ON {reach}
            GROUP BY d.lead_id, c.cutoff) dl ON dl.lead_id = l.lead_id AND dl.cutoff = c.cutoff""")
        in_deal.append("dl.in_deal")
        customer.append("dl.won")
        if spec.recycle_days:
            recently_lost.append("dl.lost")
    if lifecycle is not None and con.exists("lifecycle"):
        terms = {"customer": customer, "disqualified": disqualified}
        for meaning, statuses in excluding_statuses(spec, lifecycle).items():
            terms[meaning].append(f"st.status IN ({sql_list(statuses)})")
        joins.append(f"LEFT JOIN ({latest_status(at)}) st ON st.lead_id = l.lead_id AND st.cutoff = c.cutoff")
    if "disqualified_at" in con.columns("leads"):
        disqualified.append("l.disqualified_at < c.cutoff")
    if not spec.exclude_customers:
        customer = []
    rules = dict(zip(EXCLUSIONS, (in_deal, customer, recently_lost, disqualified)))
    cases = [f"WHEN {' OR '.join(f'coalesce({t}, FALSE)' for t in terms)} THEN '{why}'"
             for why, terms in rules.items() if terms]
    status = f"CASE {' '.join(cases)} END" if cases else "CAST(NULL AS VARCHAR)"
    return f"""
        SELECT l.lead_id, c.cutoff, {status} AS excluded{labels}
        FROM {leads} l JOIN {at} c ON l.created_at < c.cutoff
        {' '.join(joins)}"""


def excluding_statuses(spec: SpineSpec, lifecycle: dict[str, str] | None) -> dict[str, list[str]]:
    """The lifecycle statuses that leave a lead out of the population, by meaning: 'disqualified', and
    'customer' unless ``spec.exclude_customers`` is false (``lifecycle``: status -> meaning, or None)."""
    meanings = ("customer", "disqualified") if spec.exclude_customers else ("disqualified",)
    found = {m: [s for s, v in (lifecycle or {}).items() if v == m] for m in meanings}
    return {m: statuses for m, statuses in found.items() if statuses}


def marked_leads_sql(con, spec: SpineSpec, has_deals: bool, lifecycle: dict[str, str] | None = None,
                     accepted: tuple[str, ...] = ()) -> str:
    """SQL (lead_id): the leads a rule of the population or the label can apply to at some cutoff.

    An exclusion needs a deal, a lifecycle status meaning customer or disqualified, or a
    ``disqualified_at``; a positive or censored label needs a deal (or feedback meaning
    accepted). Every other known lead is in the population at every cutoff after it was
    created, labelled 0 (``create_labelled_spine`` gives those rows without testing a rule:
    most leads, at a million of them).
    """
    con = as_engine(con)
    sources = []
    if has_deals:
        sources.append("SELECT lead_id FROM deals")
    if spec.label == "sales_accepted" and accepted:
        sources.append(f"SELECT lead_id FROM feedback WHERE disposition IN ({sql_list(accepted)})")
    marking = [status for statuses in excluding_statuses(spec, lifecycle).values() for status in statuses]
    if marking and con.exists("lifecycle"):
        sources.append(f"SELECT lead_id FROM lifecycle WHERE status IN ({sql_list(marking)})")
    if "disqualified_at" in con.columns("leads"):
        sources.append("SELECT lead_id FROM leads WHERE disqualified_at IS NOT NULL")
    return " UNION ".join(sources) or "SELECT CAST(NULL AS VARCHAR) AS lead_id WHERE FALSE"


def cutoff_rows(cutoffs: list[datetime]) -> str:
    """SQL relation (cutoff): the cutoffs as literal rows, written into each query that needs them (no shared table
    whose name a later call on the same connection could replace)."""
    values = ", ".join(f"({sql_timestamp(t)})" for t in sorted(cutoffs))
    return f"(SELECT * FROM (VALUES {values}) v(cutoff))"


def latest_status(cutoffs: str) -> str:
    """SQL (lead_id, cutoff, status, changed_at): each lead's latest lifecycle change strictly before each cutoff.

    ``cutoffs`` is a relation with a ``cutoff`` column. A change exactly at the cutoff is
    not yet seen; ties at one instant go to the greatest status name, so the answer
    never depends on row order. The population rule and the lifecycle features share it.
    """
    return f"""
        SELECT lead_id, cutoff, status, changed_at FROM (
            SELECT s.lead_id, c.cutoff, s.status, s.changed_at,
                   row_number() OVER (PARTITION BY s.lead_id, c.cutoff ORDER BY s.changed_at DESC, s.status DESC)
                       AS latest
            FROM lifecycle s JOIN {cutoffs} c ON s.changed_at < c.cutoff) AS ranked
        WHERE latest = 1"""


def label_sql(pairs: str, spec: SpineSpec, known_at: datetime | None = None, carry: tuple[str, ...] = (),
              accepted: tuple[str, ...] = (), pairs_cutoffs: str | None = None) -> str:
    """SQL (lead_id, cutoff, *carry, positive, censored): the label rule, for each row of relation ``pairs`` (one
    row per (lead_id, cutoff)).

    The one statement of the label: training's spine and the outcomes of published lists
    (``pipelines/list_outcomes.py``) both use it. ``known_at``: the deals (or feedback) as
    they stood at that moment (a deal closed at or after it was still open, feedback
    recorded at or after it not yet there); None, as the export has them. ``accepted``:
    the feedback dispositions meaning accepted (``sales_accepted`` only). ``pairs_cutoffs``: a relation (cutoff)
    of the cutoffs of ``pairs``, when ``pairs`` is a query better not run twice to find them.
    """
    horizon = f"INTERVAL {spec.horizon_days} DAY"
    kept = "".join(f", p.{c}" for c in carry)
    # the rule is grouped per (lead, cutoff) over the rows that have a deal (or feedback) in reach, a few, and
    # joined to ``pairs`` (one row each: grouping every pair cost seconds at a million leads)
    cutoffs = pairs_cutoffs or f"(SELECT DISTINCT cutoff FROM {pairs})"
    if spec.label == "sales_accepted":
        if not accepted:
            raise UserError("spine.label sales_accepted needs a disposition meaning accepted in "
                            "data.feedback_dispositions")
        seen = "" if known_at is None else f" AND f.\"at\" < {sql_timestamp(known_at)}"
        flags = f"""
            SELECT f.lead_id, c.cutoff, TRUE AS positive, FALSE AS censored
            FROM feedback f JOIN {cutoffs} c ON f.\"at\" >= c.cutoff AND f.\"at\" < c.cutoff + {horizon}
            WHERE f.disposition IN ({sql_list(accepted)}){seen}
            GROUP BY f.lead_id, c.cutoff"""
    else:
        reach, rules = _deal_label(spec, known_at)
        flags = f"""
            SELECT d.lead_id, c.cutoff, {', '.join(f'bool_or({rule}) AS {name}' for name, rule in rules.items())}
            FROM deals d JOIN {cutoffs} c ON {reach}
            GROUP BY d.lead_id, c.cutoff"""
    return f"""
        SELECT p.lead_id, p.cutoff{kept}, coalesce(f.positive, FALSE) AS positive,
               coalesce(f.censored, FALSE) AS censored
        FROM {pairs} p
        LEFT JOIN ({flags}) f ON f.lead_id = p.lead_id AND f.cutoff = p.cutoff"""


def _deal_label(spec: SpineSpec, known_at: datetime | None = None) -> tuple[str, dict[str, str]]:
    """The label read from the deals (``label_sql``) as SQL over a deal ``d`` and a cutoff ``c``: which deals
    can matter (the join condition) and the rules, OR-ed over a lead's deals, for ``positive`` and ``censored``."""
    horizon = f"INTERVAL {spec.horizon_days} DAY"
    if known_at is None:
        won, still_open = "d.status = 'won'", "d.status = 'open'"
    else:
        at = sql_timestamp(known_at)
        won = f"(d.status = 'won' AND d.closed_at < {at})"
        still_open = f"(d.status = 'open' OR d.closed_at >= {at})"
    in_window = "d.created_at" if spec.label == "won_deal_created" else "d.closed_at"
    censored = (f"d.created_at >= c.cutoff AND d.created_at < c.cutoff + {horizon} AND {still_open}"
                if spec.label == "won_deal_created" else "FALSE")
    return (f"d.created_at < c.cutoff + {horizon}",
            {"positive": f"{won} AND {in_window} >= c.cutoff AND {in_window} < c.cutoff + {horizon}",
             "censored": censored})


def create_labelled_spine(con, cutoffs: list[datetime], data_end: datetime, spec: SpineSpec,
                          out: str = "spine", lifecycle: dict[str, str] | None = None,
                          accepted: tuple[str, ...] = (), censored: str | None = None) -> tuple[str, pd.DataFrame]:
    """Table ``out`` (lead_id, cutoff, label) for mature cutoffs, and the per-cutoff counts report.

    Rows whose label window holds a deal still open at the data's end are censored
    (dropped), as are cutoffs whose window ends after the data's end. ``accepted``: the
    feedback dispositions meaning accepted (``spine.label: sales_accepted``). ``censored``:
    also table ``censored`` (lead_id, cutoff), the censored rows of the population (with
    ``out``'s rows, the whole population: what the feature store keeps).
    """
    con = as_engine(con)
    source = LABEL_SOURCE[spec.label]
    if not con.exists(source):
        raise UserError(f"spine.label is {spec.label}, which is read from the {source} table, and the export has "
                        f"none: export the {source} table, or choose another spine.label")
    mature, immature = mature_cutoffs(cutoffs, data_end, spec.horizon_days, spec.settle_days)
    if not mature:
        latest = data_end - timedelta(days=spec.horizon_days + spec.settle_days)
        raise UserError(
            f"no cutoff is old enough for a {spec.horizon_days}-day label plus {spec.settle_days} settling days: "
            f"the data ends {data_end:%Y-%m-%d}, and the latest usable cutoff would be {latest:%Y-%m-%d}; "
            "use a longer export, a shorter spine.horizon_days, fewer spine.settle_days, or an earlier "
            "spine.first_cutoff / lower spine.warmup_days ('leadscore profile DATA_DIR' suggests settings that train)"
        )
    # the rules are tested on the leads they can apply to, labelled as their population is computed; every other
    # lead is a row labelled 0 at each cutoff after its creation (at 1M leads, the rules on every row took 4 s)
    has_deals = con.exists("deals")
    con.create_table("_marked", marked_leads_sql(con, spec, has_deals, lifecycle, accepted))
    at = cutoff_rows(mature)
    marked = "(SELECT l.* FROM leads l JOIN _marked m ON m.lead_id = l.lead_id)"
    if source == "deals":  # the population's deal rules and the label from one grouping of the deals
        con.create_table("_labelled", population_sql(con, mature, spec, has_deals, lifecycle, marked, labelled=True))
    else:
        population = f"({population_sql(con, mature, spec, has_deals, lifecycle, marked)})"
        con.create_table("_labelled", label_sql(population, spec, carry=("excluded",), accepted=accepted,
                                                pairs_cutoffs=at))
    # not sorted (16M rows at 1M leads: 2.7 s): every training set and frame built from it sorts its own rows
    con.create_table(out, f"""
        SELECT l.lead_id, c.cutoff, 0 AS label
        FROM leads l JOIN {at} c ON l.created_at < c.cutoff LEFT JOIN _marked m ON m.lead_id = l.lead_id
        WHERE m.lead_id IS NULL
        UNION ALL
        SELECT lead_id, cutoff, CAST(positive AS INTEGER) FROM _labelled WHERE excluded IS NULL AND NOT censored""")
    if censored is not None:
        con.create_table(censored, "SELECT lead_id, cutoff FROM _labelled WHERE excluded IS NULL AND censored")
    report = con.frame(f"""
        SELECT c.cutoff, coalesce(s.rows, 0) AS rows, coalesce(s.positives, 0) AS positives,
               count(l.lead_id) FILTER (WHERE l.excluded IS NULL AND l.censored) AS censored,
               {', '.join(f"count(l.lead_id) FILTER (WHERE l.excluded = '{e}') AS excluded_{e}" for e in EXCLUSIONS)}
        FROM {at} c
        LEFT JOIN (SELECT cutoff, count(*) AS rows, count(*) FILTER (WHERE label = 1) AS positives
                   FROM {out} GROUP BY cutoff) s
            ON s.cutoff = c.cutoff
        LEFT JOIN _labelled l ON l.cutoff = c.cutoff
        GROUP BY c.cutoff, s.rows, s.positives ORDER BY c.cutoff""")
    for scratch in ("_labelled", "_marked"):
        con.drop(scratch)
    report["label_rate"] = report["positives"] / report["rows"].where(report["rows"] > 0)
    report.attrs["immature_cutoffs"] = [t.isoformat() for t in immature]
    return out, report
