"""The point-in-time feature builder: declarations in, one DuckDB query plan out.

Training and scoring call the same `build_features`; scoring simply passes one
cutoff. Work is shared across cutoffs instead of repeating a query per cutoff:

1. ``_attributed``: events tied to a lead (directly, or through an identity) with
   the day they happened and ``lo``, the first cutoff at which they are *known*
   (``occurred_at < t``, ``ingested_at <= t``, ``identified_at < t``).
2. ``_grains``: those events counted per lead, kind, first-known cutoff and the
   cutoffs at which each window stops reaching them (events alike in all of these
   are interchangeable for every windowed sum).
3. Each windowed feature is a sum of contributions that switch on at cutoff
   ``lo`` and off at the first cutoff whose window no longer reaches the day.
   Contributions become +/- deltas per (lead, cutoff index); a running sum over
   the cutoff index gives every cutoff's value. The cost grows with the number of
   events, not with events x cutoffs.

Cutoffs are whole UTC days on a regular grid (or a single day); day numbers are
integers, so all window arithmetic is integer arithmetic on precomputed bounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

import duckdb

from features.contract import DEFAULT_EVENT_TYPES
from features.definitions import FeatureSpec, Signal, StageSpec, manifest, signals
from features.titles import title_sql

US_PER_DAY = 86_400_000_000


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

    def index_of(self, day_expr: str) -> str:
        """SQL: the index k of the cutoff on day ``day_expr``."""
        return f"((({day_expr}) - {self.first_day}) // {self.step_days})"

    def day_of(self, k_expr: str) -> str:
        return f"({self.first_day} + ({k_expr}) * {self.step_days})"

    def timestamp_of(self, k_expr: str) -> str:
        return f"make_timestamp(CAST({self.day_of(k_expr)} AS BIGINT) * {US_PER_DAY})"


def _exists(con, name: str) -> bool:
    return bool(con.execute("SELECT (SELECT count(*) FROM duckdb_views() WHERE view_name = ?) + "
                            "(SELECT count(*) FROM duckdb_tables() WHERE table_name = ?)", [name, name]).fetchone()[0])


def _day(ts: str) -> str:
    return f"CAST(epoch_us({ts}) // {US_PER_DAY} AS INTEGER)"


def build_features(
    con: duckdb.DuckDBPyConnection,
    spine: str,
    spec: FeatureSpec,
    stage: StageSpec,
    event_types: tuple[str, ...] = DEFAULT_EVENT_TYPES,
    extra_lead_attributes: tuple[str, ...] = (),
    has_identities: bool = True,
    has_deals: bool = True,
    out: str = "features",
    cutoffs: list[datetime] | None = None,
) -> str:
    """Create table ``out``: the rows of table ``spine`` (lead_id, cutoff, ...) plus journey stage and features.

    Reads the views ``leads``, ``events`` and, when present, ``identities`` and ``deals``.
    Every feature of a row uses only what was known strictly before its cutoff.
    """
    if cutoffs is None:
        cutoffs = [row[0] for row in con.execute(f"SELECT DISTINCT cutoff FROM {spine} ORDER BY 1").fetchall()]
    grid = Grid.of(cutoffs)
    if stage.window_days not in spec.account_windows_days:
        raise ValueError(f"stage.window_days={stage.window_days} must be one of features.account_windows_days "
                         f"{spec.account_windows_days} (the stage rules read the account features of that window)")
    sigs = signals(spec, event_types)
    k_of = grid.index_of(_day("s.cutoff"))
    con.execute(f"CREATE OR REPLACE TEMP TABLE _points AS SELECT DISTINCT s.lead_id, l.account_id, {k_of} AS k "
                f"FROM {spine} s JOIN leads l USING (lead_id)")
    _attribute_events(con, grid, spec, sigs, has_identities and _exists(con, "identities"))
    lead_parts = [_windowed_counts(con, grid, spec, sigs), _active_days(con, grid, spec, sigs),
                  _distinct_content(con, grid, spec), _recency(con, grid, spec, sigs)]
    account_parts = [_account_activity(con, grid, spec, sigs), _account_deals(con, grid, has_deals)]
    joins = [f"LEFT JOIN {t} ON {t}.lead_id = s.lead_id AND {t}.k = {k_of}" for t in lead_parts]
    joins += [f"LEFT JOIN {t} ON {t}.account_id = l.account_id AND {t}.k = {k_of}" for t in account_parts]
    feats = manifest(spec, event_types, extra_lead_attributes)
    spine_columns = [c for c in con.sql(f"SELECT * FROM {spine} LIMIT 0").columns if c not in ("lead_id", "cutoff")]
    con.execute(f"""
        CREATE OR REPLACE TABLE {out} AS
        WITH assembled AS (
            SELECT s.*, l.account_id, {_feature_columns(grid, spec, extra_lead_attributes, feats, k_of)}
            FROM {spine} s
            JOIN leads l ON l.lead_id = s.lead_id
            {chr(10).join(joins)}
        )
        SELECT lead_id, account_id, cutoff{''.join(', "' + c + '"' for c in spine_columns)},
               {_journey_stage(stage)} AS journey_stage, {', '.join('"' + f.name + '"' for f in feats)}
        FROM assembled""")
    return out


def _attribute_events(con, grid: Grid, spec: FeatureSpec, sigs: tuple[Signal, ...], has_identities: bool) -> None:
    """Events tied to a lead, with the first cutoff index at which each is known."""
    lower = grid.first_day - spec.lookback_days
    upper = grid.day_of(grid.count - 1)
    day = _day("occurred_at")
    known = "greatest(occurred_at, coalesce(ingested_at - INTERVAL 1 MICROSECOND, occurred_at))"
    direct = f"""
        SELECT lead_id, event_type, content_type, content_id, duration_s, FALSE AS stitched,
               {day} AS day, {_day(known)} AS known_day
        FROM events WHERE lead_id IS NOT NULL AND {day} >= {lower} AND {day} < {upper}"""
    stitched = ""
    if has_identities:
        # An anonymous event counts for a lead only once the identity is known (identified_at < t);
        # events that carry a lead_id already are never counted twice through a cookie.
        stitched = f"""
        UNION ALL
        SELECT i.lead_id, e.event_type, e.content_type, e.content_id, e.duration_s, TRUE,
               {_day('e.occurred_at')}, {_day('greatest(' + known.replace('occurred_at', 'e.occurred_at').replace('ingested_at', 'e.ingested_at') + ', i.identified_at)')}
        FROM events e
        JOIN (SELECT anonymous_id, lead_id, min(identified_at) AS identified_at FROM identities GROUP BY 1, 2) i
          ON e.anonymous_id = i.anonymous_id
        WHERE e.lead_id IS NULL AND {_day('e.occurred_at')} >= {lower} AND {_day('e.occurred_at')} < {upper}"""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _attributed AS
        SELECT * EXCLUDE (known_day), {grid.first_after('known_day')} AS lo
        FROM ({direct}{stitched}) WHERE {grid.first_after('known_day')} < {grid.count}""")
    ends = ", ".join(f"{grid.first_after(f'day + {w}')} AS end_{w}" for w in spec.windows_days)
    end_names = ", ".join(f"end_{w}" for w in spec.windows_days)
    # Signal membership and window gating as small integers, computed once per grain row, so that the
    # wide aggregations below are multiplications rather than string comparisons.
    flags = ", ".join(f"CAST({s.where} AS UTINYINT) AS f_{s.name}" for s in sigs)
    gated = ", ".join(f"CASE WHEN lo < end_{w} THEN n ELSE 0 END AS n_{w}, "
                      f"CASE WHEN lo < end_{w} THEN coalesce(dwell_ms, 0) ELSE 0 END AS ms_{w}"
                      for w in spec.windows_days)
    # The grain: events that switch on and off at the same cutoffs are interchangeable for every
    # windowed sum, so they are counted together (the day itself is kept only as the latest day).
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _grains AS
        SELECT *, {flags}, {gated} FROM (
            SELECT lead_id, lo, {end_names}, event_type, content_type, stitched, count(*) AS n,
                   -- whole milliseconds, so that +/- window deltas cancel exactly
                   sum(CASE WHEN event_type = 'page_view' THEN CAST(round(duration_s * 1000) AS BIGINT) END) AS dwell_ms,
                   max(day) AS last_day
            FROM (SELECT *, {ends} FROM _attributed) GROUP BY ALL)""")


def _interval_sums(con, name: str, grid: Grid, source: str, key: str, columns: list[tuple[str, str, str]],
                   points: str) -> str:
    """Sum values over the cutoffs each source row is live for: [lo, end) in cutoff indices.

    ``source`` has columns ``key``, ``lo`` and whatever the value/end expressions use;
    ``columns`` are (output name, value expression, end expression). A value must already
    be zero on rows whose interval is empty (``lo >= end``). Returns a table with one row
    per point (key, k).
    """
    starts = ", ".join(f"sum({value}) AS {out}" for out, value, end in columns)
    ends = []
    for end in dict.fromkeys(end for _, _, end in columns):
        cols = ", ".join(f"-sum({value}) AS {out}" for out, value, e in columns if e == end)
        ends.append(f"SELECT {key}, {end} AS k, {cols} FROM src WHERE {end} < {grid.count} GROUP BY ALL")
    names = [out for out, _, _ in columns]
    table = f"_part_{name}"
    if grid.count == 1:
        # one cutoff (scoring): every live contribution starts at k = 0 and nothing ends before it
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {table} AS
            SELECT p.{key}, p.k, {', '.join(f'coalesce(s.{n}, 0) AS {n}' for n in names)}
            FROM (SELECT DISTINCT {key}, k FROM {points}) p
            LEFT JOIN (SELECT {key}, {starts} FROM ({source}) src WHERE lo = 0 GROUP BY {key}) s
              ON s.{key} IS NOT DISTINCT FROM p.{key}""")
        return table
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {table} AS
        WITH src AS ({source}),
        deltas AS (
            SELECT {key}, lo AS k, {starts} FROM src GROUP BY ALL
            {''.join(' UNION ALL BY NAME ' + e for e in ends)}
            UNION ALL BY NAME SELECT DISTINCT {key}, k FROM {points}
        ),
        summed AS (SELECT {key}, k, {', '.join(f'sum(coalesce({n}, 0)) AS {n}' for n in names)} FROM deltas GROUP BY ALL),
        running AS (
            SELECT {key}, k, {', '.join(f'sum({n}) OVER w AS {n}' for n in names)}
            FROM summed WINDOW w AS (PARTITION BY {key} ORDER BY k ROWS UNBOUNDED PRECEDING)
        )
        SELECT r.* FROM running r SEMI JOIN (SELECT DISTINCT {key}, k FROM {points}) p
          ON r.{key} IS NOT DISTINCT FROM p.{key} AND r.k = p.k""")
    return table


def _windowed_counts(con, grid: Grid, spec: FeatureSpec, sigs: tuple[Signal, ...]) -> str:
    ends = {w: f"end_{w}" for w in spec.windows_days}
    columns = [(f"{s.name}_count_{w}d", f"n_{w} * f_{s.name}", ends[w]) for s in sigs for w in spec.windows_days]
    columns += [(f"time_on_page_ms_{w}d", f"ms_{w}", ends[w]) for w in spec.windows_days]
    columns += [(f"stitched_events_{w}d", f"n_{w} * CAST(stitched AS UTINYINT)", ends[w]) for w in spec.windows_days]
    return _interval_sums(con, "counts", grid, "SELECT * FROM _grains", "lead_id", columns, "_points")


def _active_days(con, grid: Grid, spec: FeatureSpec, sigs: tuple[Signal, ...]) -> str:
    """A day is active at a cutoff once any of its events is known there: the minimum ``lo`` of the day."""
    engaged = next(s for s in sigs if s.name == "events").where
    intent = next(s for s in sigs if s.name == "high_intent").where
    ends = ", ".join(f"{grid.first_after(f'day + {w}')} AS end_{w}" for w in spec.windows_days)
    source = f"""
        SELECT *, {ends} FROM (
            SELECT lead_id, day, 'any' AS kind, lo_any AS lo FROM _days WHERE lo_any IS NOT NULL
            UNION ALL
            SELECT lead_id, day, 'intent', lo_intent FROM _days WHERE lo_intent IS NOT NULL)"""
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _days AS
        SELECT lead_id, day, min(lo) FILTER (WHERE {engaged}) AS lo_any, min(lo) FILTER (WHERE {intent}) AS lo_intent
        FROM _attributed GROUP BY lead_id, day""")
    columns = []
    for w in spec.windows_days:
        end = f"end_{w}"
        columns += [(f"active_days_{w}d", f"CASE WHEN kind = 'any' AND lo < {end} THEN 1 ELSE 0 END", end),
                    (f"high_intent_days_{w}d", f"CASE WHEN kind = 'intent' AND lo < {end} THEN 1 ELSE 0 END", end)]
    return _interval_sums(con, "days", grid, source, "lead_id", columns, "_points")


def _distinct_source(grid: Grid, spec_windows, grouped: str, key: str, item: str) -> str:
    """Distinct items in a window: an item counts at k while its latest known day is within the window.

    Per (key, item), ``lo`` values are sorted; between one ``lo`` and the next, the
    latest known day ``L`` is fixed, so the item counts on [lo, min(next lo, first
    cutoff past L + w)). These intervals are disjoint, so their sums are exact.
    """
    ends = ", ".join(f"least(next_lo, {grid.first_after(f'latest + {w}')}) AS end_{w}" for w in spec_windows)
    return f"""
        SELECT {key}, lo, {ends} FROM (
            SELECT {key}, {item}, lo,
                   max(last_day) OVER (PARTITION BY {key}, {item} ORDER BY lo ROWS UNBOUNDED PRECEDING) AS latest,
                   lead(lo, 1, {grid.count}) OVER (PARTITION BY {key}, {item} ORDER BY lo) AS next_lo
            FROM ({grouped}))"""


def _distinct_content(con, grid: Grid, spec: FeatureSpec) -> str:
    grouped = "SELECT lead_id, content_id, lo, max(day) AS last_day FROM _attributed WHERE content_id IS NOT NULL GROUP BY ALL"
    source = _distinct_source(grid, spec.windows_days, grouped, "lead_id", "content_id")
    columns = [(f"distinct_content_{w}d", f"CAST(lo < end_{w} AS INTEGER)", f"end_{w}") for w in spec.windows_days]
    return _interval_sums(con, "content", grid, source, "lead_id", columns, "_points")


def _recency(con, grid: Grid, spec: FeatureSpec, sigs: tuple[Signal, ...]) -> str:
    """Days since the latest known event of each signal; empty when none within the lookback."""
    lasts = ", ".join(f"max(CASE WHEN f_{s.name} = 1 THEN last_day END) AS last_{s.name}" for s in sigs)
    running = ", ".join(f"max(last_{s.name}) OVER w AS last_{s.name}" for s in sigs)
    days_since = ", ".join(
        f"CASE WHEN {grid.day_of('k')} - last_{s.name} <= {spec.lookback_days} "
        f"THEN {grid.day_of('k')} - last_{s.name} END AS days_since_last_{s.name}" for s in sigs)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _part_recency AS
        WITH marks AS (
            SELECT lead_id, k, {', '.join(f'max(last_{s.name}) AS last_{s.name}' for s in sigs)} FROM (
                SELECT lead_id, lo AS k, {lasts} FROM _grains GROUP BY ALL
                UNION ALL BY NAME SELECT DISTINCT lead_id, k FROM _points
            ) GROUP BY lead_id, k
        ),
        running AS (SELECT lead_id, k, {running} FROM marks
                    WINDOW w AS (PARTITION BY lead_id ORDER BY k ROWS UNBOUNDED PRECEDING))
        SELECT r.lead_id, r.k, {days_since} FROM running r
        SEMI JOIN (SELECT DISTINCT lead_id, k FROM _points) p ON r.lead_id = p.lead_id AND r.k = p.k""")
    return "_part_recency"


def _account_activity(con, grid: Grid, spec: FeatureSpec, sigs: tuple[Signal, ...]) -> str:
    """The buying committee: engagement of everyone at the lead's account, the lead included."""
    con.execute("""CREATE OR REPLACE TEMP TABLE _account_points AS
                   SELECT DISTINCT account_id, k FROM _points WHERE account_id IS NOT NULL""")
    by_account = f"SELECT l.account_id, d.* FROM _grains d JOIN leads l USING (lead_id) WHERE l.account_id IS NOT NULL"
    events_columns = []
    for w in spec.account_windows_days:
        end = f"end_{w}"
        events_columns += [(f"account_events_{w}d", f"n_{w} * f_events", end),
                           (f"account_high_intent_{w}d", f"n_{w} * f_high_intent", end)]
    events_part = _interval_sums(con, "account_events", grid, by_account, "account_id", events_columns, "_account_points")
    grouped = f"SELECT account_id, lead_id, lo, max(last_day) AS last_day FROM ({by_account}) WHERE f_events = 1 GROUP BY ALL"
    leads_source = _distinct_source(grid, spec.account_windows_days, grouped, "account_id", "lead_id")
    leads_columns = [(f"account_engaged_leads_{w}d", f"CAST(lo < end_{w} AS INTEGER)", f"end_{w}")
                     for w in spec.account_windows_days]
    leads_part = _interval_sums(con, "account_leads", grid, leads_source, "account_id", leads_columns, "_account_points")
    known = _interval_sums(
        con, "account_known", grid,
        f"SELECT account_id, {grid.first_after(_day('created_at'))} AS lo "
        f"FROM leads WHERE account_id IS NOT NULL",
        "account_id", [("account_known_leads", f"CAST(lo < {grid.count} AS INTEGER)", str(grid.count))], "_account_points")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _part_account AS
        SELECT * FROM {events_part} JOIN {leads_part} USING (account_id, k) JOIN {known} USING (account_id, k)""")
    return "_part_account"


def _account_deals(con, grid: Grid, has_deals: bool) -> str:
    """Deal history of the account as known at the cutoff (only closes and opens before t)."""
    if not has_deals:
        con.execute("""CREATE OR REPLACE TEMP TABLE _part_deals AS SELECT account_id, k,
                       0 AS account_lost_deals, 0 AS account_won_deals, 0 AS account_open_deals FROM _account_points""")
        return "_part_deals"
    t = grid.timestamp_of("p.k")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _part_deals AS
        SELECT p.account_id, p.k,
               count(d.deal_id) FILTER (WHERE d.status = 'lost' AND d.closed_at < {t}) AS account_lost_deals,
               count(d.deal_id) FILTER (WHERE d.status = 'won' AND d.closed_at < {t}) AS account_won_deals,
               count(d.deal_id) FILTER (WHERE d.created_at < {t} AND (d.closed_at IS NULL OR d.closed_at >= {t}))
                   AS account_open_deals
        FROM _account_points p LEFT JOIN deals d ON d.account_id = p.account_id AND d.created_at < {t}
        GROUP BY ALL""")
    return "_part_deals"


def _feature_columns(grid: Grid, spec: FeatureSpec, extra_lead_attributes, feats, k_of: str) -> str:
    """SQL for every feature of the manifest, in manifest order, from the joined parts."""
    seniority, function = title_sql("l.title")
    bands = spec.company_size_bands
    band_cases = " ".join(
        f"WHEN l.company_size < {hi} THEN '{lo}-{hi - 1}'" for lo, hi in zip((0,) + bands[:-1], bands))
    short, long_ = spec.windows_days[0], spec.windows_days[min(2, len(spec.windows_days) - 1)]
    special = {
        "company_size_band": f"CASE WHEN l.company_size IS NULL THEN NULL {band_cases} ELSE '{bands[-1]}+' END",
        "industry": "l.industry", "company_size": "CAST(l.company_size AS DOUBLE)", "country": "l.country",
        "lead_source": "l.lead_source", "title_seniority": seniority, "title_function": function,
        "lead_age_days": f"({grid.day_of(k_of)} * {US_PER_DAY} - epoch_us(l.created_at)) / {US_PER_DAY}.0",
        f"engagement_trend_{short}d_vs_{long_}d":
            f"(coalesce(events_count_{short}d, 0) / {short}.0) / ((coalesce(events_count_{long_}d, 0) + 1) / {long_}.0)",
    }
    for w in spec.windows_days:
        special[f"time_on_page_s_{w}d"] = f"coalesce(time_on_page_ms_{w}d, 0) / 1000.0"
        special[f"mean_time_on_page_s_{w}d"] = f"time_on_page_ms_{w}d / 1000.0 / nullif(page_view_count_{w}d, 0)"
        special[f"email_click_rate_{w}d"] = f"email_click_count_{w}d / nullif(email_open_count_{w}d, 0)"
    for a in extra_lead_attributes:
        special[a] = f'CAST(l."{a}" AS VARCHAR)'
    out = []
    for f in feats:
        if f.name in special:
            out.append(f'{special[f.name]} AS "{f.name}"')
        elif f.name.startswith("days_since_last_"):
            out.append(f'CAST("{f.name}" AS DOUBLE) AS "{f.name}"')
        else:
            out.append(f'CAST(coalesce("{f.name}", 0) AS DOUBLE) AS "{f.name}"')
    return ", ".join(out)


def _journey_stage(stage: StageSpec) -> str:
    """Acknowledged -> Engaged -> Leaning-in, by the thresholds in params.yaml (DESIGN section 6)."""
    w = stage.window_days
    engaged = (f"(active_days_{w}d >= {stage.engaged_min_active_days} "
               f"OR time_on_page_s_{w}d >= {stage.engaged_min_time_on_page_s} "
               f"OR content_download_count_{w}d + webinar_attend_count_{w}d >= {stage.engaged_min_downloads_or_webinars})")
    leaning = (f"(high_intent_days_{w}d >= {stage.leaning_in_min_high_intent_days} "
               f"OR demo_request_count_{w}d >= {stage.leaning_in_min_demo_requests} "
               f"OR ({engaged} AND account_engaged_leads_{w}d >= {stage.leaning_in_min_account_engaged_leads}))")
    return f"CASE WHEN {leaning} THEN 'leaning_in' WHEN {engaged} THEN 'engaged' ELSE 'acknowledged' END"
