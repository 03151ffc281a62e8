"""Which features an export can carry: the manifest, filtered by what the data holds.

The manifest (``features.definitions``) lists every feature the settings allow, each
with what it requires of the export. An export seldom has all of it: a funnel export
has no identities, a process log no content types, an e-mail export no page time. A
feature whose source is absent would be a column of nulls or zeros that the model can
only learn noise from, so it is *not built*: the plan lists it, with the reason, and
the build report and the model's record carry that list.

What the data holds is measured once, before the last training cutoff (a source that
first appears after it teaches the model nothing), in one grouped query per table.
Scoring never re-plans: it builds exactly the model's features, and refuses an export
that lacks a column or table one of them was built from (``missing_sources``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

from features.contract import EVENT_KNOWN_AT
from features.definitions import (
    COLUMN_NAME,
    OTHER,
    ROLE_SIGNALS,
    Extra,
    Feature,
    FeatureSpec,
    RoleSpec,
    check_vocabulary,
    manifest,
    signals,
    sql_string,
    sql_timestamp,
)
from features.engine import as_engine
from features.errors import UserError

FIRMOGRAPHICS = ("account_id", "title", "industry", "company_size", "country", "lead_source")


@dataclass(frozen=True)
class FeaturePlan:
    """The features to build, those left out and why, and the typed extra attributes."""

    event_types: tuple[str, ...]
    extras: tuple[Extra, ...]
    features: tuple[Feature, ...]
    left_out: tuple[tuple[str, str], ...] = ()  # (feature, reason)
    empty_roles: tuple[str, ...] = ()  # roles with no events: their rule terms are skipped
    sources: frozenset[str] = field(default_factory=frozenset)  # what the export held (empty: not measured)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    def has(self, source: str) -> bool:
        """Whether the export held ``source`` (always true for a plan that was not measured)."""
        return not self.sources or source in self.sources

    def without(self, names: list[str], reason: str) -> FeaturePlan:
        """The plan with ``names`` moved from the built features to those left out."""
        drop = set(names)
        return FeaturePlan(self.event_types, self.extras, tuple(f for f in self.features if f.name not in drop),
                           self.left_out + tuple((n, reason) for n in names), self.empty_roles, self.sources)

    @property
    def categorical(self) -> list[str]:
        return [f.name for f in self.features if f.kind == "categorical"]

    def to_record(self) -> dict:
        """JSON for the training set's metadata and the model: enough to rebuild the same columns."""
        return {"event_types": list(self.event_types), "extras": [asdict(e) for e in self.extras],
                "features": self.names, "left_out": [{"feature": n, "reason": r} for n, r in self.left_out],
                "empty_roles": list(self.empty_roles), "sources": sorted(self.sources)}

    @classmethod
    def from_record(cls, record: dict, spec: FeatureSpec) -> FeaturePlan:
        """The plan a training file or a model recorded; its names are checked as the settings' are (they reach SQL)."""
        check_vocabulary(tuple(record["event_types"]))
        for extra in record["extras"]:
            if not COLUMN_NAME.fullmatch(extra["name"]):
                raise UserError(f"the recorded extra attribute {extra['name']!r} is not a plain column name")
        extras = tuple(Extra(e["name"], e["kind"], tuple(e["categories"]) if e.get("categories") is not None else None)
                       for e in record["extras"])
        by_name = {f.name: f for f in manifest(spec, tuple(record["event_types"]), extras)}
        unknown = [n for n in record["features"] if n not in by_name]
        if unknown:
            raise UserError(f"the recorded features {unknown} are not defined by these feature settings")
        return cls(tuple(record["event_types"]), extras, tuple(by_name[n] for n in record["features"]),
                   tuple((x["feature"], x["reason"]) for x in record.get("left_out", [])),
                   tuple(record.get("empty_roles", [])), frozenset(record.get("sources", [])))


def unchecked_plan(spec: FeatureSpec, event_types: tuple[str, ...], extras=(), lifecycle: bool = False) -> FeaturePlan:
    """Every feature of the manifest (the lifecycle ones only with ``lifecycle``), without looking at the data.

    For callers that name their features themselves (tests, benchmarks, models registered
    before plans were recorded); training plans from the data with `plan_features`.
    """
    extras = tuple(e if isinstance(e, Extra) else Extra(e) for e in extras)
    feats = tuple(f for f in manifest(spec, tuple(event_types), extras)
                  if lifecycle or "table:lifecycle" not in f.requires)
    return FeaturePlan(tuple(event_types), extras, feats)


def plan_features(con, spec: FeatureSpec, event_types: tuple[str, ...], extras: tuple[str, ...], until: datetime,
                  tables: set[str]) -> FeaturePlan:
    """Measure what the export knew before ``until`` (the last training cutoff) and plan the features.

    ``tables`` names the optional tables present (identities, deals, lifecycle). Extra
    attributes are typed here: numeric when every value reads as a number, else text
    capped at ``spec.max_categories`` values (the most frequent; the rest 'other').
    """
    con = as_engine(con)
    before = sql_timestamp(until)
    sigs = signals(spec, tuple(event_types))
    held: set[str] = set()
    checks = [s.where for s in sigs]
    checks += ["content_id IS NOT NULL", "event_type = 'page_view' AND duration_s IS NOT NULL",
               "anonymous_id IS NOT NULL"]
    # what an event holds counts once the event is known before the cutoff (a late-ingested row is not yet)
    row = _held_in_events(con, checks, f"{EVENT_KNOWN_AT} < {before}")
    held |= {f"signal:{s.name}" for s, ok in zip(sigs, row) if ok}
    if row[-3]:
        held.add("column:events.content_id")
    if row[-2]:
        held.add("column:events.duration_s")
    anonymous_events = bool(row[-1])

    lead_columns = set(con.columns("leads"))
    names = list(FIRMOGRAPHICS) + list(extras)
    counts = con.rows("SELECT " + ", ".join(f'count("{c}")' if c in lead_columns else "0" for c in names)
                      + f" FROM leads WHERE created_at < {before}")[0]
    held |= {f"column:leads.{c}" for c, n in zip(names, counts) if n}
    if "identities" in tables and anonymous_events and con.rows(
            f"SELECT count(*) FROM identities WHERE identified_at < {before}")[0][0]:
        held.add("table:identities")
    if "lifecycle" in tables and con.rows(f"SELECT count(*) FROM lifecycle WHERE changed_at < {before}")[0][0]:
        held.add("table:lifecycle")
    if "deals" in tables and con.rows(
            f"SELECT count(account_id) FROM deals WHERE created_at < {before}")[0][0]:
        held.add("column:deals.account_id")

    # an empty extra keeps the plain type: it is left out below, for want of a value
    typed = tuple(_type_extra(con, name, before, spec.max_categories) if f"column:leads.{name}" in held else Extra(name)
                  for name in extras)
    built, left_out = [], []
    for feature in manifest(spec, tuple(event_types), typed):
        missing = [r for r in feature.requires if r not in held]
        if missing:
            left_out.append((feature.name, _reason(missing[0], until)))
        else:
            built.append(feature)
    empty_roles = tuple(role for role in RoleSpec.model_fields
                        if f"signal:{ROLE_SIGNALS.get(role, role)}" not in held)
    return FeaturePlan(tuple(event_types), typed, tuple(built), tuple(left_out), empty_roles, frozenset(held))


PROBE_ROWS = 1_000_000


def _held_in_events(con, checks: list[str], where: str) -> list[bool]:
    """Whether some event of ``where`` meets each of ``checks`` (SQL conditions on an event's columns).

    A scan of every event evaluating every check cost 5 s of a weekly build at 131M events, for facts that
    the first rows settle: the first ``PROBE_ROWS`` events are read first. A check they leave unmet is then
    looked for with a query that stops at the first event meeting any unmet check (the facts a sorted export
    holds late, such as anonymous events after every lead's: 1.3 s a build at 1M leads as a full scan); what
    that event meets is settled, and the search goes on for the rest. Only checks that no event meets cost
    a full scan, all of them in one. The answer is exact either way."""
    probe = con.rows(f"SELECT {', '.join(f'coalesce(bool_or({c}), FALSE)' for c in checks)} "
                     f"FROM (SELECT * FROM events WHERE {where} LIMIT {PROBE_ROWS}) e")[0]
    held = [bool(ok) for ok in probe]
    unsettled = [i for i, ok in enumerate(held) if not ok]
    while unsettled:
        found = con.rows(f"SELECT {', '.join(f'coalesce({checks[i]}, FALSE)' for i in unsettled)} FROM events "
                         f"WHERE {where} AND ({' OR '.join(f'({checks[i]})' for i in unsettled)}) LIMIT 1")
        if not found:
            break
        for i, ok in zip(unsettled, found[0]):
            held[i] = bool(ok)
        unsettled = [i for i in unsettled if not held[i]]
    return held


def _type_extra(con, name: str, before: str, cap: int) -> Extra:
    column = f'"{name}"'
    text = f"NULLIF(trim(CAST({column} AS VARCHAR)), '')"
    values, numbers = con.rows(f"SELECT count({text}), count(TRY_CAST({text} AS DOUBLE)) FROM leads "
                               f"WHERE created_at < {before}")[0]
    if values and values == numbers:
        return Extra(name, "numeric")
    top = con.rows(f"SELECT {text} AS v, count(*) AS n FROM leads WHERE created_at < {before} AND {text} IS NOT NULL "
                   f"GROUP BY 1 ORDER BY n DESC, v LIMIT {int(cap)}")
    return Extra(name, "categorical", tuple(str(v) for v, _ in top))


def extra_sql(extra: Extra, alias: str = "l") -> str:
    """SQL for an extra attribute's feature value, as the plan typed it."""
    text = f'NULLIF(trim(CAST({alias}."{extra.name}" AS VARCHAR)), \'\')'
    if extra.kind == "numeric":
        number = f"TRY_CAST({text} AS DOUBLE)"
        # finite numbers only, in SQL both engines read (Spark has no isfinite): inf - inf and NaN - NaN are NaN
        return f"CASE WHEN {number} - {number} = 0 THEN {number} END"
    if extra.categories is None:
        return text
    if not extra.categories:
        return f"CASE WHEN {text} IS NOT NULL THEN {sql_string(OTHER)} END"
    kept = ", ".join(sql_string(v) for v in extra.categories)
    return f"CASE WHEN {text} IS NULL THEN NULL WHEN {text} IN ({kept}) THEN {text} ELSE {sql_string(OTHER)} END"


def _reason(source: str, until: datetime) -> str:
    kind, _, name = source.partition(":")
    when = f"before {until:%Y-%m-%d} (the last training cutoff)"
    if kind == "signal":
        return f"no '{name}' event {when}"
    if kind == "column":
        return f"{name} is missing or empty in the export {when}"
    return f"no {name} table in the export, or no rows in it {when}"


def missing_sources(con, plan: FeaturePlan, tables: set[str], content_signals=()) -> dict[str, list[str]]:
    """Features of ``plan`` whose column or table this export lacks entirely: {source: [features]}.

    Scoring checks this: an event type absent this week is a count of zero, but a column
    or table that is gone (or empty) would turn a feature the model relies on into
    nothing. A feature of a signal in ``content_signals`` (content types, and the
    high-intent role when it names one) needs ``events.content_type``. Deal columns are
    reported too; deals are optional to score, so the caller decides what to do.
    """
    con = as_engine(con)
    needed: dict[str, list[str]] = {}
    for feature in plan.features:
        for source in feature.requires:
            if source.startswith(("column:", "table:")):
                needed.setdefault(source, []).append(feature.name)
            elif source.removeprefix("signal:") in content_signals:
                needed.setdefault("column:events.content_type", []).append(feature.name)
    by_table: dict[str, list[str]] = {}
    for source in needed:
        if source.startswith("column:"):
            table, column = source.removeprefix("column:").split(".")
            by_table.setdefault(table, []).append(column)
    held = {f"table:{name}" for name in tables if name in ("identities", "lifecycle", "deals")
            and con.rows(f"SELECT count(*) > 0 FROM {name}")[0][0]}
    for table, names in by_table.items():
        if table not in {"leads", "events"} | tables:
            continue
        present = set(con.columns(table))
        counts = con.rows("SELECT " + ", ".join(f'count("{n}")' if n in present else "0" for n in names)
                          + f" FROM {table}")[0]
        held |= {f"column:{table}.{n}" for n, count in zip(names, counts) if count}
    return {source: feats for source, feats in needed.items() if source not in held}
