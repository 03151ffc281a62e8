"""Measured, not used: a cutoff's per-lead activity from the previous cutoff's, and the events that entered or left
its windows (the ``advance`` benchmark step, BENCHMARKS.md "Weekly retraining").

Each week adds one mature cutoff ``t``, one step after the newest one stored, ``prev``.
Built from scratch, ``t`` folds every event of the lookback into cells (63M events at 1M
leads), although almost all of them were folded a week earlier. Each window of ``t`` is
the window of ``prev`` moved on by one step, so its counts are ``prev``'s, minus the events
of ``prev`` that fell out of it (those of the step at its far edge), plus the events that
entered it: those first known at ``t`` (the step's events, late arrivals, the history of
an identity resolved in the step). Everything a lead's row of the builder's ``_lead_k``
holds moves the same way, exactly:

* counts, page time and stitched events: sums of whole numbers, added and taken away (a
  window no longer than the step is all new);
* recency: ``prev``'s latest day while it is still inside the lookback, else the latest
  entering event (every other event known at ``prev`` is older still);
* active days: ``prev``'s day bitmaps shifted by the step (bits count days before the
  cutoff), the days that left the lookback masked off, the entering days OR-ed in;
* distinct content, per window: only items touched in a leaving step (``a``) or by an
  entering event (``c``) can change, and for those what decides is whether an event of
  ``prev`` touched them in the part of the window both cutoffs share (``b``): the count
  moves by ``[b or c] - [a or b]``. ``b`` is what the events must be read for again: the
  latest day each such (lead, item) was touched before ``prev``.

Leads without a row at ``prev`` are computed from all their events known at ``t``. The
result equals the builder's ``_lead_k`` and ``_content_k`` at ``t`` row for row (the step
checks it; tests/benchmarks/test_bounds.py). It is not cheaper: at 1M leads the events that
move a window are a sixth of the lookback's (the leaving steps are recent, busy weeks),
and finding them, the wide pass over them and the second read of the events for ``b``
cost more than the cells they replace. So the feature store builds a new cutoff from
scratch.
"""

from __future__ import annotations

from datetime import datetime

from features.builder import (
    DAY_BITMAPS,
    DWELL_MS,
    WORD_DAYS,
    Grid,
    Kind,
    _words,
    attributed_events,
    kinds_of,
    number_items,
    number_leads,
)
from features.definitions import FeatureSpec, Signal, sql_timestamp
from features.engine import Engine

SCRATCH = ("_advance_leads", "_advance_events", "_advance_cells", "_advance_delta", "_advance_pairs", "_advance_probe",
           "_advance_content")


LAST_EVENT_DAY = "last_event_day"  # a column of the state: the day of the lead's latest event in the lookback


def state_columns(con: Engine, spec: FeatureSpec, t: datetime) -> str:
    """SQL: the per-lead state cutoff ``t`` leaves for the next one, from the builder's tables of a one-cutoff
    build of ``t`` (``_cells``, ``_lead_k``, ``_content_k``): ``_lead_k``, ``_content_k`` beside it, and the day of
    each lead's latest event (``LAST_EVENT_DAY``: whether it still has a row a step later). Only of leads created
    before ``t``: the export of ``t``'s week may lack the others (they are computed from scratch a step later)."""
    day = Grid.of([t]).day(0)
    content = [c for c in con.columns("_content_k") if c != "lead_id"]
    return f"""
        SELECT a.*, {', '.join(f'c.{c}' for c in content)}, e.{LAST_EVENT_DAY}
        FROM _lead_k a LEFT JOIN _content_k c USING (lead_id)
        JOIN (SELECT n.lead_id, max(last_day) AS {LAST_EVENT_DAY} FROM _cells JOIN _lead_numbers n USING (lead)
              WHERE lo = 0 AND b0 >= {day - spec.lookback_days} AND b0 < {day} GROUP BY n.lead_id) e USING (lead_id)
        SEMI JOIN (SELECT lead_id FROM leads WHERE created_at < {sql_timestamp(t)}) l USING (lead_id)"""


def advance(con: Engine, spec: FeatureSpec, sigs: tuple[Signal, ...], kinds: list[Kind], state: str,
            prev: datetime, t: datetime, has_identities: bool) -> None:
    """TEMP TABLES ``_lead_k`` and ``_content_k`` at cutoff ``t`` (words anchored at ``t``, as the builder's for a
    grid whose last cutoff is ``t``), from ``state`` (``state_columns`` at ``prev``, a cutoff before ``t``: a
    relation of lead_id and its columns) and the events; ``_lead_k`` also has ``LAST_EVENT_DAY``.

    ``state`` must be exactly what the builder gave at ``prev`` for the events, identities and kinds known at
    ``prev`` as they are now (the feature store checks that with its digests); leads it lacks are computed
    from scratch. Needs ``_kind_numbers`` (``features.builder._kinds``)."""
    grid = Grid.of([prev, t])  # lo 0: known at prev; lo 1: first known at t
    old_day, day = grid.day(0), grid.day(1)
    number_leads(con)
    number_items(con)
    con.create_table("_advance_leads", f"""
        SELECT n.lead_id, n.lead, s.lead_id IS NOT NULL AS old
        FROM _lead_numbers n LEFT JOIN (SELECT lead_id FROM {state}) s USING (lead_id)""")

    # a day in a step that left a window of prev: a window no longer than the step holds only events first known
    # at t, a longer one loses prev's events of the step at its far edge
    leaving = " OR ".join(f"(day >= {old_day - w} AND day < {day - w})" for w in spec.windows_days
                          if w > day - old_day) or "FALSE"

    # a lead without a row at prev that could have events known then is one created since (or never): one
    # created before prev is among the leads prev's digest covers, so it has a row if it had events then
    fresh = f"""SELECT l.lead_id FROM leads l ANTI JOIN {state} s USING (lead_id)
                WHERE l.created_at IS NULL OR l.created_at >= {sql_timestamp(prev)}"""
    # the events that move a window: those first known at t, the events of prev in a step that left a window,
    # and every event of a lead without a row at prev (filtered before the joins: 63M events at 1M leads)
    con.create_table("_advance_events", f"""
        SELECT n.lead, n.old, k.kind, i.item, a.stitched, a.day, a.lo = 1 OR NOT n.old AS entering, a.dwell_ms
        FROM (SELECT *, {DWELL_MS} AS dwell_ms FROM ({attributed_events(grid, spec, has_identities)})
              WHERE lo = 1 OR {leaving} OR lead_id IN ({fresh})) a
        JOIN _advance_leads n ON n.lead_id = a.lead_id
        JOIN _kind_numbers k ON k.event_type IS NOT DISTINCT FROM a.event_type
                            AND k.content_type IS NOT DISTINCT FROM a.content_type
        LEFT JOIN _items i ON i.content_id = a.content_id""")
    _lead_activity(con, spec, sigs, kinds, state, old_day, day)
    _distinct_content(con, spec, grid, has_identities, state, old_day, day)
    for name in SCRATCH:
        con.drop(name)


def _lead_activity(con: Engine, spec: FeatureSpec, sigs: tuple[Signal, ...], kinds: list[Kind], state: str,
                   old_day: int, day: int) -> None:
    """TEMP TABLE ``_lead_k`` at ``day``: ``state``'s rows moved on by the events of ``_advance_events``."""
    windows, lookback = spec.windows_days, spec.lookback_days
    words = _words(Grid(day, 1, 1), 0, lookback)  # bits count days before the cutoff, 63 a word
    step = day - old_day

    # the moving events folded into cells first, as the builder folds events: buckets cut at every edge of a
    # window of either cutoff (each window's entering and leaving part is then a union of whole buckets) and, for
    # the day bitmaps, at their words; the wide pass then reads a few cells per lead instead of its events
    edges = sorted({d - w for w in windows for d in (old_day, day)})
    bucket = f"greatest({', '.join(f'CASE WHEN day >= {e} THEN {e} END' for e in edges)})"
    position = f"({day - 1} - day)"
    con.create_table("_advance_cells", f"""
        SELECT lead, kind, stitched, entering, b0, word, CAST(count(*) AS DOUBLE) AS n,
               CAST(sum(dwell_ms) AS DOUBLE) AS dwell_ms, max(day) AS last_day,
               bit_or(CAST(1 AS BIGINT) << CAST({position} % {WORD_DAYS} AS INTEGER)) AS days
        FROM (SELECT *, {bucket} AS b0,
                     CASE WHEN entering AND day >= {day - lookback} THEN {position} // {WORD_DAYS} END AS word
              FROM _advance_events)
        GROUP BY lead, kind, stitched, entering, b0, word""")

    def moved(w: int) -> str:
        """+1 for a cell entering window w, -1 for one of prev leaving it, 0 otherwise; a window no longer than
        the step is all new, and only counts what entered it."""
        leaves = f"WHEN b0 >= {old_day - w} AND b0 < {day - w} THEN -1.0 " if w > step else ""
        return f"(CASE WHEN entering THEN CAST(b0 >= {day - w} AS DOUBLE) {leaves}ELSE 0.0 END) AS m_{w}"

    # as the builder's per-lead pass: each kind summed once with 0/1 (here -1/0/1) columns computed once per cell,
    # plain arithmetic; signals are added up from kinds afterwards
    entered = f"entering AND b0 >= {day - lookback}"
    inner = [f"sum(n * CAST(kind = {i} AS DOUBLE) * m_{w}) AS n_{i}_{w}" for i in range(len(kinds)) for w in windows]
    inner += [f"max(CASE WHEN kind = {i} AND {entered} THEN last_day END) AS last_{i}" for i in range(len(kinds))]
    sums: dict[str, int] = {}  # a summed column: its window
    outer = []
    for s in sigs:
        members = [i for i, x in enumerate(kinds) if s.name in x.signals]
        for w in windows:
            sums[f"{s.name}_count_{w}d"] = w
            outer.append(f"{' + '.join(f'n_{i}_{w}' for i in members) or 'CAST(0 AS DOUBLE)'} AS {s.name}_count_{w}d")
        last = ", ".join(f"last_{i}" for i in members)
        outer.append(f"{f'greatest({last})' if last else 'CAST(NULL AS INTEGER)'} AS latest_{s.name}")
    for w in windows:
        inner += [f"sum(dwell_ms * m_{w}) AS time_on_page_ms_{w}d",
                  f"sum(n * CAST(stitched AS DOUBLE) * m_{w}) AS stitched_events_{w}d"]
        outer += [f"time_on_page_ms_{w}d", f"stitched_events_{w}d"]
        sums |= {f"time_on_page_ms_{w}d": w, f"stitched_events_{w}d": w}
    inner.append(f"max(CASE WHEN {entered} THEN last_day END) AS {LAST_EVENT_DAY}")
    outer.append(LAST_EVENT_DAY)
    for bitmap, signal in DAY_BITMAPS:
        for j in words:
            inner.append(f"bit_or(CASE WHEN {entered} AND kind IN ({kinds_of(kinds, signal)}) AND word = {j} "
                         f"THEN days END) AS {bitmap}_{j}")
            outer.append(f"{bitmap}_{j}")
    con.create_table("_advance_delta", f"""
        SELECT lead, {', '.join(outer)}
        FROM (SELECT lead, {', '.join(inner)}
              FROM (SELECT *, {', '.join(moved(w) for w in windows)} FROM _advance_cells) GROUP BY lead)""")

    def still(latest: str) -> str:
        """SQL: prev's latest day ``latest`` while it is inside t's lookback."""
        return f"CASE WHEN {latest} >= {day - lookback} THEN {latest} END"

    def shifted(bitmap: str, j: int) -> str:
        """SQL: word j at t of prev's bitmap: bit p at t is bit p - step at prev; bits at or past the lookback off."""
        q = WORD_DAYS * j - step
        a, r = q // WORD_DAYS, q % WORD_DAYS
        terms = []
        if a in words:
            terms.append(f"(coalesce(s.{bitmap}_{a}, 0) >> {r})")
        if r and a + 1 in words:
            terms.append(f"((coalesce(s.{bitmap}_{a + 1}, 0) & CAST({(1 << r) - 1} AS BIGINT)) << {WORD_DAYS - r})")
        kept = (1 << max(0, min(WORD_DAYS, lookback - WORD_DAYS * j))) - 1
        shifted_bits = " | ".join(terms) or "CAST(0 AS BIGINT)"
        return f"(({shifted_bits}) & CAST({kept} AS BIGINT))"

    columns = {}
    for name in con.columns(state):
        if name == "lead_id" or name.startswith("distinct_content_"):
            continue
        if name in sums:
            kept = f"coalesce(s.{name}, 0) + " if sums[name] > step else ""
            columns[name] = f"{kept}coalesce(d.{name}, 0)"
        elif name.startswith("days_since_last_"):
            signal = name.removeprefix("days_since_last_")
            columns[name] = f"{day} - greatest({still(f'{old_day} - s.{name}')}, d.latest_{signal})"
        elif name == LAST_EVENT_DAY:
            columns[name] = f"greatest({still(f's.{name}')}, d.{name})"
        else:
            bitmap, j = name.rsplit("_", 1)
            columns[name] = f"nullif({shifted(bitmap, int(j))} | coalesce(d.{name}, 0), 0)"
    con.create_table("_lead_k", f"""
        SELECT n.lead_id, m.* EXCLUDE (lead)
        FROM (SELECT coalesce(s.lead, d.lead) AS lead, {', '.join(f'{sql} AS {name}' for name, sql in columns.items())}
              FROM (SELECT l.lead, s.* EXCLUDE (lead_id) FROM {state} s JOIN _advance_leads l USING (lead_id)) s
              FULL OUTER JOIN _advance_delta d ON d.lead = s.lead) m
        JOIN _lead_numbers n USING (lead)
        WHERE m.{LAST_EVENT_DAY} IS NOT NULL""")


def _distinct_content(con: Engine, spec: FeatureSpec, grid: Grid, has_identities: bool, state: str,
                      old_day: int, day: int) -> None:
    """TEMP TABLE ``_content_k`` at ``day``: ``state``'s distinct items moved by ``[b or c] - [a or b]`` per
    (lead, item) touched by a moving event (module docstring)."""
    windows, lookback, step = spec.windows_days, spec.lookback_days, day - old_day
    longer = [w for w in windows if w > step]  # the windows that keep part of prev's (module docstring)
    flags = [f"bool_or(entering AND day >= {day - w}) AS c_{w}" for w in windows]
    flags += [f"bool_or(NOT entering AND day >= {old_day - w} AND day < {day - w}) AS a_{w}" for w in longer]
    con.create_table("_advance_pairs", f"""
        SELECT lead, item, old, {', '.join(flags)}
        FROM _advance_events WHERE item IS NOT NULL GROUP BY lead, item, old""")
    # b: the latest day an event of prev touched the pair inside t's lookback, for the pairs of leads with a row
    # at prev whose count can move (a and c differ in a window that keeps part of prev's); the events are
    # filtered, then matched on their own lead_id and content_id (63M events at 1M leads)
    changing = " OR ".join(f"a_{w} <> c_{w}" for w in longer) or "FALSE"
    con.create_table("_advance_probe", f"""
        SELECT p.lead, p.item, max(a.day) AS latest
        FROM (SELECT lead_id, content_id, day FROM ({attributed_events(grid, spec, has_identities)})
              WHERE lo = 0 AND day >= {day - lookback} AND content_id IS NOT NULL) a
        JOIN (SELECT p.lead, p.item, n.lead_id, i.content_id
              FROM _advance_pairs p JOIN _lead_numbers n USING (lead) JOIN _items i USING (item)
              WHERE p.old AND ({changing})) p ON p.lead_id = a.lead_id AND p.content_id = a.content_id
        GROUP BY p.lead, p.item""")
    moves = []
    for w in windows:
        b, value = f"coalesce(latest >= {day - w}, FALSE)", f"CAST(c_{w} AS INTEGER)"
        if w > step:  # a lead with a row at prev moves by [b or c] - [a or b]; one without counts what it has
            value = f"CASE WHEN old THEN CAST({b} OR c_{w} AS INTEGER) - CAST(a_{w} OR {b} AS INTEGER) ELSE {value} END"
        moves.append(f"sum({value}) AS distinct_content_{w}d")
    con.create_table("_advance_content", f"""
        SELECT lead, {', '.join(moves)}
        FROM _advance_pairs LEFT JOIN _advance_probe USING (lead, item) GROUP BY lead""")
    counts = ", ".join(f"CAST({f'coalesce(s.distinct_content_{w}d, 0) + ' if w > step else ''}"
                       f"coalesce(d.distinct_content_{w}d, 0) AS BIGINT) AS distinct_content_{w}d" for w in windows)
    con.create_table("_content_k", f"""
        SELECT n.lead_id, m.* EXCLUDE (lead)
        FROM (SELECT coalesce(s.lead, d.lead) AS lead, {counts}
              FROM (SELECT l.lead, s.* FROM {state} s JOIN _advance_leads l USING (lead_id)) s
              FULL OUTER JOIN _advance_content d ON d.lead = s.lead) m
        JOIN _lead_numbers n USING (lead)
        WHERE m.distinct_content_{lookback}d > 0""")
