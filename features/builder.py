"""The point-in-time feature builder: declarations in, DuckDB SQL out.

Training and scoring call the same `build_features`; scoring simply passes one
cutoff. The plan, chosen by measurement on 100M-event logs (see BENCHMARKS.md):

1. *Attribution*: events tied to a lead (directly, or through an identity) with the
   day they happened and ``lo``, the first cutoff at which they are *known*
   (``occurred_at < t``, ``ingested_at <= t``, ``identified_at < t``).
2. *Cells*: those events are folded once into cells of (lead, bucket, first known
   cutoff, kind), where buckets are cut at every window edge of every cutoff, so that
   each cutoff's windows are unions of whole buckets. The whole grid shares this one
   grouping of the events.
3. *Per cutoff*, one grouped pass over the cells computes every windowed count, page
   time, recency and active-day bitmap of every lead as sums of 0/1 flags, then the
   buying committee is summed from those per-lead rows.
4. *Distinct content* needs the (lead, item) grain, so the cells carry it too: items
   are numbered densely, and a cell is also keyed by its word of 63 items and keeps a
   bitmap of the items it touched. Per cutoff, OR-ing a lead's bitmaps word by word
   within each window and counting bits gives the distinct items, exactly, without a
   second grouping of the events (at 1M leads that grouping of 41M (lead, item) pairs
   cost as much as the cells themselves).

Cutoffs are whole UTC days on a regular grid (or a single day); day numbers are
integers, so all window arithmetic is integer arithmetic on precomputed bounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from features.contract import DEFAULT_EVENT_TYPES, EVENT_KNOWN_AT
from features.definitions import (
    ROLE_SIGNALS,
    FeatureSpec,
    Signal,
    StageSpec,
    signals,
    sql_timestamp,
    stage_window_problem,
)
from features.engine import Engine, as_engine
from features.errors import UserError
from features.journey import journey_stage_sql
from features.plan import FeaturePlan, extra_sql, unchecked_plan
from features.spine import latest_status
from features.titles import title_sql
from features.training_file import TrainingParts, training_metadata, training_source

US_PER_DAY = 86_400_000_000
# Active days and touched items are bitmaps in signed 64-bit words: Spark has no unsigned integer, and DuckDB
# refuses to shift into a BIGINT's sign bit, so a word holds 63 days (365 days still take 6 words) or 63 items.
WORD_DAYS = 63
WORD_ITEMS = 63
DAY_BITMAPS = (("any", "events"), ("intent", "high_intent"))  # the day bitmaps of _lead_k: (name, signal)
# an event's page time in whole milliseconds, so that sums are exact whatever the row order
DWELL_MS = "CASE WHEN event_type = 'page_view' THEN coalesce(CAST(round(duration_s * 1000) AS BIGINT), 0) ELSE 0 END"


@dataclass(frozen=True)
class Grid:
    """Cutoffs as integer day numbers: T_k = first_day + k * step_days, k < count."""

    first_day: int
    step_days: int
    count: int

    @classmethod
    def of(cls, cutoffs: list[datetime]) -> Grid:
        if not cutoffs:
            raise ValueError("at least one cutoff is needed")
        cutoffs = sorted(cutoffs)
        for t in cutoffs:
            if t.time() != time(0):
                raise ValueError(f"cutoffs must be at 00:00 UTC (whole days), got {t}")
        days = [(t - datetime(1970, 1, 1)).days for t in cutoffs]
        steps = {b - a for a, b in zip(days, days[1:])}
        if len(steps) > 1 or 0 in steps:
            raise ValueError(f"cutoffs must be evenly spaced and distinct, got gaps of {sorted(steps)} days")
        return cls(days[0], steps.pop() if steps else 1, len(days))

    def first_after(self, day_expr: str) -> str:
        """SQL: the index of the first cutoff strictly after day ``day_expr`` (``count`` if none)."""
        return (f"(CASE WHEN ({day_expr}) < {self.first_day} THEN 0 "
                f"ELSE least({self.count}, (({day_expr}) - {self.first_day}) // {self.step_days} + 1) END)")

    def day(self, k: int) -> int:
        """Cutoff ``k`` as a day number."""
        return self.first_day + k * self.step_days

    @property
    def last_day(self) -> int:
        return self.day(self.count - 1)

    def day_of(self, k_expr: str) -> str:
        return f"({self.first_day} + ({k_expr}) * {self.step_days})"

    def timestamp_of(self, k: int) -> str:
        """SQL: cutoff ``k`` as a TIMESTAMP literal (every engine reads the same literal)."""
        return sql_timestamp(datetime(1970, 1, 1) + timedelta(days=self.day(k)))


def _day(ts: str) -> str:
    return f"CAST(epoch_us({ts}) // {US_PER_DAY} AS INTEGER)"


def build_features(
    con: Engine,
    spine: str,
    spec: FeatureSpec,
    stage: StageSpec,
    event_types: tuple[str, ...] = DEFAULT_EVENT_TYPES,
    extra_lead_attributes: tuple[str, ...] = (),
    has_identities: bool = True,
    has_deals: bool = True,
    out: str = "features",
    cutoffs: list[datetime] | None = None,
    progress: bool = False,
    parquet: Path | str | None = None,
    plan: FeaturePlan | None = None,
    sink: Callable[[datetime, str], None] | None = None,
) -> str:
    """Create table ``out``: the rows of table ``spine`` (lead_id, cutoff, ...) plus journey stage and features.

    The features are those of ``plan`` (``features.plan``: what the export can carry, or
    the model's own list when scoring); without one, every feature of the manifest for
    ``event_types`` and ``extra_lead_attributes`` whose optional table is present.

    Reads the views ``leads``, ``events`` and, when present, ``identities`` and ``deals``.
    Every feature of a row uses only what was known strictly before its cutoff. ``con`` is
    a DuckDB connection or an engine of ``features.engine`` (Spark).

    ``parquet``, where the rows go as each cutoff is built, and ``out`` is a view over them.
    DuckDB: a folder of parts (``features.training_file``), each cutoff's rows sorted by
    lead_id and written as its part as soon as it is built. A training set larger than
    memory then never sits in DuckDB's buffers (at 1M leads the growing table slowed every
    later cutoff), and it is written once. Spark: a
    folder (any URI the executors can write) to which each cutoff's rows are appended as
    Parquet parts: nothing of a finished cutoff stays cached, and no plan spans the
    cutoffs (a union of 33 cached cutoffs once took Spark's planner minutes at 3,000 leads).

    ``sink`` (DuckDB), instead of ``out``: called with each cutoff and the SQL of its rows
    in lead_id order, to keep them (the feature store, ``features.store``); no table is made.
    """
    con = as_engine(con)
    if cutoffs is None:
        cutoffs = [row[0] for row in con.rows(f"SELECT DISTINCT cutoff FROM {spine} ORDER BY 1")]
    grid = Grid.of(cutoffs)
    problem = stage_window_problem(stage, spec)
    if problem:
        raise UserError(problem)
    has_lifecycle = con.exists("lifecycle")
    if plan is None:
        plan = unchecked_plan(spec, event_types, extra_lead_attributes, lifecycle=has_lifecycle)
    sigs = signals(spec, plan.event_types)
    attributed = attributed_events(grid, spec, has_identities and con.exists("identities"))
    kinds = _kinds(con, sigs)
    cells = _cells(con, grid, spec, attributed)
    feats = plan.features
    lifecycle = has_lifecycle and any("table:lifecycle" in f.requires for f in feats)
    seniority, function = title_sql("title")
    # the parser is a cascade of regular expressions: it runs once per distinct title (5,845 at 1M leads), not per
    # lead or row (2.4 s per cutoff at 1M when it ran per lead)
    con.create_table("_titles", f"""
        SELECT l.lead_id, p.title_seniority, p.title_function
        FROM leads l SEMI JOIN (SELECT DISTINCT lead_id FROM {spine}) s ON s.lead_id = l.lead_id
        JOIN (SELECT title, {seniority} AS title_seniority, {function} AS title_function
              FROM (SELECT DISTINCT title FROM leads)) p ON p.title IS NOT DISTINCT FROM l.title""")
    con.drop(out)
    spine_columns = [c for c in con.columns(spine) if c not in ("lead_id", "cutoff")]
    stream = TrainingParts(Path(parquet), training_metadata(plan, spec, stage)) \
        if parquet is not None and con.name == "duckdb" else None
    for k in tqdm(range(grid.count), desc="features", unit="cutoff", disable=not progress or grid.count == 1):
        _lead_activity(con, grid, spec, sigs, kinds, cells, k)
        _account_activity(con, grid, spec, k, has_deals)
        _distinct_content(con, grid, spec, cells, k)
        if lifecycle:
            _lifecycle_at(con, grid, k)
        columns = _feature_columns(grid, spec, plan, k)
        rows = f"""
            WITH assembled AS (
                SELECT s.*, l.account_id, {journey_stage_sql(stage, plan, columns)} AS journey_stage,
                       {', '.join(f'{columns[f.name]} AS "{f.name}"' for f in feats)}
                FROM {spine} s
                JOIN leads l ON l.lead_id = s.lead_id
                LEFT JOIN _lead_k a ON a.lead_id = s.lead_id
                LEFT JOIN _content_k c ON c.lead_id = s.lead_id
                LEFT JOIN _account_k ac ON ac.account_id = l.account_id
                LEFT JOIN _titles t ON t.lead_id = s.lead_id
                {'LEFT JOIN _lifecycle_k lc ON lc.lead_id = s.lead_id' if lifecycle else ''}
                WHERE s.cutoff = {grid.timestamp_of(k)}
            )
            SELECT lead_id, account_id, cutoff{''.join(', "' + c + '"' for c in spine_columns)},
                   journey_stage, {', '.join('"' + f.name + '"' for f in feats)}
            FROM assembled"""
        cutoff = datetime(1970, 1, 1) + timedelta(days=grid.day(k))
        if sink is not None:
            sink(cutoff, f"SELECT * FROM ({rows}) ORDER BY lead_id")
        elif stream is not None:
            stream.write(cutoff, con.con.sql(f"SELECT * FROM ({rows}) ORDER BY lead_id"))
        elif parquet is not None:
            con.append_parts(out, rows, str(parquet))
        elif k == 0:
            con.create_table(out, rows, temporary=False)
        else:
            con.append(out, rows)
    if stream is not None:
        stream.close()
    # the scratch tables hold a copy of every lead's activity (gigabytes at a million leads):
    # what comes next (the model, SHAP) needs that memory more than a cache of finished work
    for name in SCRATCH_TABLES:
        con.drop(name)
    if sink is not None:
        return out
    if stream is not None:
        con.con.execute(f"CREATE OR REPLACE VIEW {out} AS SELECT * FROM {training_source(parquet)}")
    elif parquet is not None:
        con.register(out, con.spark.read.parquet(str(parquet)))
    return out


SCRATCH_TABLES = ("_lead_numbers", "_kind_numbers", "_items", "_cells_unsorted", "_cells", "_content_k", "_lead_k",
                  "_account_k", "_titles", "_lifecycle_k")


def attributed_events(grid: Grid, spec: FeatureSpec, has_identities: bool) -> str:
    """SQL: events tied to a lead (directly, or through an identity known in time), with ``day`` and ``lo``.

    ``lo`` is the index of the first cutoff at which the event is known: it happened
    before the cutoff, was ingested by it, and (for an anonymous event) its identity was
    resolved before it. Events no cutoff of the grid can see are left out here.
    """
    lower = grid.first_day - spec.lookback_days
    columns = "event_type, content_type, content_id, duration_s"
    direct = f"""
        SELECT lead_id, {columns}, FALSE AS stitched, {_day('occurred_at')} AS day, {_day(EVENT_KNOWN_AT)} AS known_day
        FROM events WHERE lead_id IS NOT NULL"""
    stitched = ""
    if has_identities:
        # An anonymous event counts for a lead only once the identity is known (identified_at < t);
        # events that carry a lead_id already are never counted twice through a cookie.
        stitched = f"""
        UNION ALL
        SELECT i.lead_id, {columns}, TRUE, {_day('occurred_at')}, {_day(f'greatest({EVENT_KNOWN_AT}, i.identified_at)')}
        FROM events e
        JOIN (SELECT anonymous_id, lead_id, min(identified_at) AS identified_at FROM identities GROUP BY 1, 2) i
          USING (anonymous_id)
        WHERE e.lead_id IS NULL"""
    return f"""
        SELECT lead_id, {columns}, stitched, day, {grid.first_after('known_day')} AS lo
        FROM ({direct}{stitched})
        WHERE day >= {lower} AND known_day < {grid.day_of(grid.count - 1)}"""


def _edges(grid: Grid, spec: FeatureSpec) -> list[str]:
    """SQL terms whose greatest is a day's bucket start: the latest edge on or before ``day``.

    The edges are every window bound of every cutoff (``T_k - w`` and ``T_k``) and every
    word bound of the day bitmaps (``T_last - 63 i``), so a bucket lies wholly inside or
    outside each window of each cutoff, and inside one bitmap word. Each family of edges
    is an arithmetic progression, so its latest edge is integer arithmetic, not a search.
    """
    last = grid.last_day
    terms = [f"{last} - {WORD_DAYS} * (({last} - day + {WORD_DAYS - 1}) // {WORD_DAYS})"]
    for w in (0,) + tuple(spec.windows_days):
        k = f"least({grid.count - 1}, (day + {w} - {grid.first_day}) // {grid.step_days})"
        terms.append(f"CASE WHEN day + {w} >= {grid.first_day} THEN {grid.day_of(k)} - {w} END")
    return terms


def _cells(con: Engine, grid: Grid, spec: FeatureSpec, attributed: str) -> str:
    """Known events folded once into cells of (lead, bucket, first known cutoff, kind, item word).

    Leads and kinds are small integers in the cells (``_lead_numbers``, ``_kind_numbers``):
    a grouping, sort and table of fixed-width keys cost less than of strings (at 1M
    leads the cells took 17.7 s instead of 22.2 s). Events of leads missing from
    ``leads`` drop out here; no row of the spine could show them.

    Buckets are cut at every window edge of every cutoff (see ``_edges``), so each
    cutoff's windows are unions of whole buckets: the grid shares this one grouping of
    the events, and each cutoff then reads a few cells per lead instead of its events.
    A cell keeps its count, page time, latest day, a bitmap of its active days (bits
    are days before the last cutoff, 63 per word; a bucket lies inside one word) and a
    bitmap of the items it touched (items are numbered in ``_items``; the cell's
    ``word`` says which 63 of them its bits stand for, NULL for events without content).
    """
    last = grid.last_day
    number_leads(con)
    number_items(con)
    keys = "lead, b0, lo, kind, stitched, word"
    cells = f"""
        SELECT {keys},
               -- DOUBLE sums of whole numbers are exact and keep the per-lead aggregation state small
               CAST(count(*) AS DOUBLE) AS n,
               CAST(sum({DWELL_MS}) AS DOUBLE) AS dwell_ms,
               max(day) AS last_day,
               bit_or(CAST(1 AS BIGINT) << CAST(({last - 1} - day) % {WORD_DAYS} AS INTEGER)) AS days,
               bit_or(CAST(1 AS BIGINT) << CAST(item % {WORD_ITEMS} AS INTEGER)) AS items
        FROM (SELECT a.*, n.lead, k.kind, i.item, i.item // {WORD_ITEMS} AS word,
                     greatest({', '.join(_edges(grid, spec))}) AS b0
              FROM ({attributed}) a
              JOIN _lead_numbers n ON n.lead_id = a.lead_id
              JOIN _kind_numbers k ON k.event_type IS NOT DISTINCT FROM a.event_type
                                  AND k.content_type IS NOT DISTINCT FROM a.content_type
              LEFT JOIN _items i ON i.content_id = a.content_id)
        GROUP BY {keys}"""
    # A lead's cells side by side: each cutoff's per-lead pass then updates one group at a time
    # (measured at 1M: 12.6 s a pass, 60 s on unsorted cells). Grouped, then sorted, in two statements:
    # at 1M leads and 12 cutoffs DuckDB ran out of its 4 GB sorting in the grouping's statement.
    con.create_table("_cells_unsorted", cells)
    con.create_table("_cells", "SELECT * FROM _cells_unsorted ORDER BY lead")
    con.drop("_cells_unsorted")
    return "_cells"


def number_items(con: Engine) -> str:
    """TEMP TABLE ``_items`` (content_id, item): dense item numbers, in content_id order, so that the items of a
    lead's cells share few words of 63."""
    con.create_table("_items", """
        SELECT content_id, CAST(row_number() OVER (ORDER BY content_id) - 1 AS INTEGER) AS item
        FROM (SELECT DISTINCT content_id FROM events WHERE content_id IS NOT NULL)""")
    return "_items"


def number_leads(con: Engine) -> str:
    """TEMP TABLE ``_lead_numbers`` (lead_id, lead): every lead as a small integer, in lead_id order."""
    con.create_table("_lead_numbers", """
        SELECT lead_id, CAST(row_number() OVER (ORDER BY lead_id) AS INTEGER) AS lead
        FROM (SELECT DISTINCT lead_id FROM leads WHERE lead_id IS NOT NULL)""")
    return "_lead_numbers"


@dataclass(frozen=True)
class Kind:
    """An (event_type, content_type) pair present in the events, and the signals it counts for."""

    event_type: str | None
    content_type: str | None
    signals: frozenset[str]


def kinds_of(kinds: list[Kind], signal: str) -> str:
    """SQL: the numbers of the kinds that count for ``signal``, for ``kind IN (...)`` (NULL: none does)."""
    return ", ".join(str(i) for i, x in enumerate(kinds) if signal in x.signals) or "NULL"


def _kinds(con: Engine, sigs: tuple[Signal, ...]) -> list[Kind]:
    """The kinds of event present (a dozen), numbered in TEMP TABLE ``_kind_numbers``, each with its signals.

    The per-lead pass sums each kind once and adds kinds up into signals afterwards: a
    page view of the pricing page is one kind but four signals (events, page_view,
    pricing, high_intent), so the wide pass carries a third fewer aggregates (77, not 117).
    """
    membership = ", ".join(f"CAST({s.where} AS INTEGER)" for s in sigs)
    con.create_table("_kind_numbers", """
        SELECT event_type, content_type,
               CAST(row_number() OVER (ORDER BY event_type NULLS FIRST, content_type NULLS FIRST) - 1 AS INTEGER) AS kind
        FROM (SELECT DISTINCT event_type, content_type FROM events)""")
    rows = con.rows(f"SELECT event_type, content_type, {membership} FROM _kind_numbers ORDER BY kind")
    return [Kind(row[0], row[1], frozenset(s.name for s, member in zip(sigs, row[2:]) if member)) for row in rows]


def _lead_activity(con: Engine, grid: Grid, spec: FeatureSpec, sigs: tuple[Signal, ...], kinds: list[Kind],
                   cells: str, k: int) -> None:
    """TEMP TABLE ``_lead_k``: every lead's windowed counts, active days and recency at cutoff ``k``.

    One grouped pass over the lead's cells known at ``k`` within the lookback. Kind and
    window membership are 0/1 columns computed once per cell, so the wide aggregation is
    plain arithmetic (DuckDB's per-aggregate FILTER is far slower at this width); its cost
    is cells x aggregates, which is why events are folded into cells and signals are
    added up from kinds afterwards, per lead.

    Distinct active days are the cells' day bitmaps OR-ed per word (popcounts under each
    window's mask come later, in ``_days_in_window``): exact, with no distinct count.
    """
    day = grid.day(k)
    windows = spec.windows_days
    flags = [f"CAST(b0 >= {day - w} AS DOUBLE) AS in_{w}" for w in windows]
    inner = [f"sum(n * CAST(kind = {i} AS DOUBLE) * in_{w}) AS n_{i}_{w}" for i in range(len(kinds)) for w in windows]
    inner += [f"max(CASE WHEN kind = {i} THEN last_day END) AS last_{i}" for i in range(len(kinds))]
    outer = []
    for s in sigs:
        members = [i for i, x in enumerate(kinds) if s.name in x.signals]
        for w in windows:
            outer.append(f"{' + '.join(f'n_{i}_{w}' for i in members) or 'CAST(0 AS DOUBLE)'} AS {s.name}_count_{w}d")
        last = [f"last_{i}" for i in members]
        latest = last[0] if len(last) == 1 else f"greatest({', '.join(last)})" if last else "CAST(NULL AS INTEGER)"
        outer.append(f"{day} - {latest} AS days_since_last_{s.name}")
    for w in windows:
        inner += [f"sum(dwell_ms * in_{w}) AS time_on_page_ms_{w}d",
                  f"sum(n * CAST(stitched AS DOUBLE) * in_{w}) AS stitched_events_{w}d"]
        outer += [f"time_on_page_ms_{w}d", f"stitched_events_{w}d"]
    word = f"({grid.last_day - 1} - b0) // {WORD_DAYS}"
    for bitmap, signal in DAY_BITMAPS:
        for i in _words(grid, k, spec.lookback_days):
            inner.append(f"bit_or(CASE WHEN kind IN ({kinds_of(kinds, signal)}) AND {word} = {i} THEN days END) "
                         f"AS {bitmap}_{i}")
            outer.append(f"{bitmap}_{i}")
    con.create_table("_lead_k", f"""
        SELECT n.lead_id, {', '.join(outer)}
        FROM (SELECT lead, {', '.join(inner)}
              FROM (SELECT *, {', '.join(flags)} FROM {cells}
                    WHERE lo <= {k} AND b0 >= {day - spec.lookback_days} AND b0 < {day})
              GROUP BY lead) JOIN _lead_numbers n USING (lead)""")


def _words(grid: Grid, k: int, days: int) -> range:
    """The bitmap words holding the ``days`` days before cutoff ``k`` (bits count days before the last cutoff)."""
    ago = grid.last_day - grid.day(k)  # bits count days before the last cutoff
    return range(ago // WORD_DAYS, (ago + days - 1) // WORD_DAYS + 1)


def _days_in_window(grid: Grid, k: int, kind: str, w: int) -> str:
    """SQL: set bits of the ``kind`` day bitmap within the last ``w`` days before cutoff ``k``."""
    ago = grid.last_day - grid.day(k)
    terms = []
    for i in _words(grid, k, w):
        lo, hi = max(ago, WORD_DAYS * i) - WORD_DAYS * i, min(ago + w, WORD_DAYS * (i + 1)) - WORD_DAYS * i
        mask = (1 << hi) - (1 << lo)  # bits lo..hi-1; hi <= 63, so the mask fits a signed BIGINT
        terms.append(f"coalesce(CAST(bit_count({kind}_{i} & CAST({mask} AS BIGINT)) AS INTEGER), 0)")
    return " + ".join(terms)


def _distinct_content(con: Engine, grid: Grid, spec: FeatureSpec, cells: str, k: int) -> None:
    """TEMP TABLE ``_content_k`` (lead_id, distinct_content_<w>d): distinct items touched in each window at ``k``.

    A lead's item bitmaps are OR-ed word by word over its cells inside each window, and
    the set bits counted: an item touched in several cells (days, kinds) counts once.
    """
    day = grid.day(k)
    windows = spec.windows_days
    masks = ", ".join(f"bit_or(CASE WHEN b0 >= {day - w} THEN items END) AS m_{w}" for w in windows)
    counts = ", ".join(f"CAST(coalesce(sum(bit_count(m_{w})), 0) AS BIGINT) AS distinct_content_{w}d" for w in windows)
    con.create_table("_content_k", f"""
        SELECT n.lead_id, {', '.join(f'c.distinct_content_{w}d' for w in windows)}
        FROM (SELECT lead, {counts}
              FROM (SELECT lead, word, {masks} FROM {cells}
                    WHERE word IS NOT NULL AND lo <= {k} AND b0 >= {day - spec.lookback_days} AND b0 < {day}
                    GROUP BY lead, word)
              GROUP BY lead) c
        JOIN _lead_numbers n USING (lead)""")


def _account_activity(con: Engine, grid: Grid, spec: FeatureSpec, k: int, has_deals: bool) -> None:
    """TEMP TABLE ``_account_k``: the buying committee at cutoff ``k`` (everyone at the account, the lead included).

    Only leads known at ``k`` (``created_at`` before it) are members: which account a lead
    belongs to is known from its lead row, and a row created later was not there to say so.
    """
    t = grid.timestamp_of(k)
    sums, names = [], []
    for w in spec.account_windows_days:
        sums += [f"sum(a.events_count_{w}d) AS account_events_{w}d",
                 f"sum(a.high_intent_count_{w}d) AS account_high_intent_{w}d",
                 f"count(*) FILTER (WHERE a.events_count_{w}d > 0) AS account_engaged_leads_{w}d"]
        names += [f"active.account_events_{w}d", f"active.account_high_intent_{w}d",
                  f"active.account_engaged_leads_{w}d"]
    deal_counts = "0 AS account_lost_deals, 0 AS account_won_deals, 0 AS account_open_deals"
    deal_join = ""
    if has_deals:
        deal_counts = "d.account_lost_deals, d.account_won_deals, d.account_open_deals"
        deal_join = f"""LEFT JOIN (
            SELECT account_id,
                   count(*) FILTER (WHERE status = 'lost' AND closed_at < {t}) AS account_lost_deals,
                   count(*) FILTER (WHERE status = 'won' AND closed_at < {t}) AS account_won_deals,
                   count(*) FILTER (WHERE closed_at IS NULL OR closed_at >= {t}) AS account_open_deals
            FROM deals WHERE created_at < {t} GROUP BY account_id) d USING (account_id)"""
    con.create_table("_account_k", f"""
        SELECT known.account_id, known.account_known_leads, {', '.join(names)}, {deal_counts}
        FROM (SELECT account_id, count(*) AS account_known_leads FROM leads
              WHERE account_id IS NOT NULL AND created_at < {t} GROUP BY account_id) known
        LEFT JOIN (SELECT l.account_id, {', '.join(sums)} FROM _lead_k a JOIN leads l USING (lead_id)
                   WHERE l.account_id IS NOT NULL AND l.created_at < {t} GROUP BY l.account_id) active
          USING (account_id)
        {deal_join}""")


def _lifecycle_at(con: Engine, grid: Grid, k: int) -> None:
    """TEMP TABLE ``_lifecycle_k`` (lead_id, cutoff, status, changed_at): each lead's status at cutoff ``k``."""
    con.create_table("_lifecycle_k", latest_status(f"(SELECT {grid.timestamp_of(k)} AS cutoff)"))


def _feature_columns(grid: Grid, spec: FeatureSpec, plan: FeaturePlan, k: int) -> dict[str, str]:
    """SQL for every feature of the manifest (and the stage rules' inputs), by name, from the joined parts."""
    bands = spec.company_size_bands
    band_cases = " ".join(
        f"WHEN l.company_size < {hi} THEN '{lo}-{hi - 1}'" for lo, hi in zip((0,) + bands[:-1], bands))
    short, long_ = spec.windows_days[0], spec.windows_days[min(2, len(spec.windows_days) - 1)]
    cutoff_us = f"{grid.day_of(str(k))} * {US_PER_DAY}"
    columns = {
        "company_size_band": f"CASE WHEN l.company_size IS NULL THEN NULL {band_cases} ELSE '{bands[-1]}+' END",
        "industry": "l.industry", "company_size": "CAST(l.company_size AS DOUBLE)", "country": "l.country",
        "lead_source": "l.lead_source", "title_seniority": "t.title_seniority", "title_function": "t.title_function",
        "lead_age_days": f"({cutoff_us} - epoch_us(l.created_at)) / {US_PER_DAY}.0",
        f"engagement_trend_{short}d_vs_{long_}d":
            f"(coalesce(events_count_{short}d, 0) / {short}.0) / ((coalesce(events_count_{long_}d, 0) + 1) / {long_}.0)",
        "lifecycle_status": "lc.status",
        "days_in_lifecycle_status": f"({cutoff_us} - epoch_us(lc.changed_at)) / {US_PER_DAY}.0",
    }
    for w in spec.windows_days:
        columns[f"active_days_{w}d"] = _days_in_window(grid, k, "any", w)
        columns[f"high_intent_days_{w}d"] = _days_in_window(grid, k, "intent", w)
        columns[f"time_on_page_s_{w}d"] = f"coalesce(time_on_page_ms_{w}d, 0) / 1000.0"
        columns[f"mean_time_on_page_s_{w}d"] = f"time_on_page_ms_{w}d / 1000.0 / nullif(page_view_count_{w}d, 0)"
        columns[f"email_click_rate_{w}d"] = f"email_click_count_{w}d / nullif(email_open_count_{w}d, 0)"
        for role in ROLE_SIGNALS.values():
            columns[f"{role}_count_{w}d"] = f"CAST(coalesce({role}_count_{w}d, 0) AS DOUBLE)"
    for extra in plan.extras:
        columns[extra.name] = extra_sql(extra)
    for f in plan.features:
        if f.name in columns:
            continue
        if f.name.startswith("days_since_last_"):
            columns[f.name] = f'CAST("{f.name}" AS DOUBLE)'
        else:  # counts: zero when the lead had none
            columns[f.name] = f'CAST(coalesce("{f.name}", 0) AS DOUBLE)'
    return columns
