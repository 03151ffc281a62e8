"""One benchmark step per process, so wall time and peak memory belong to that step alone.

Usage: ``python -m benchmarks.steps STEP DATA_DIR [OUT]``; ``benchmarks/run.py`` runs it and
records the process's wall time and peak resident memory. Steps:

* ``floor`` -- one DuckDB pass over the event columns the features read: the speed limit;
* ``bounds`` -- the floor, then two lower bounds of the one-cutoff build, timed in the same process:
  attributing the events, i.e. deciding which are known at the cutoff and whose they are
  (``scan``), and grouping those known events by lead with one count (``by-lead``), then the
  floor again. Each prints
  ``BOUND name=... rows=... seconds=...``;
* ``cells-reuse`` -- whether last week's cells could build the newest mature cutoff for less than from scratch
  (what the weekly feature store would keep to build less): the newest cutoff's cells and per-lead passes from
  scratch; then the cells of the whole mature grid (cut at every cutoff's window edges, as cells a later cutoff
  can reuse must be) known before that cutoff and inside its lookback, written sorted by lead and read back,
  the cells of the events first known at it added without sorting again, and the same passes over both.
  Each prints ``CELLS name=... rows=... seconds=...``; the passes' results are checked to be the same;
* ``advance`` -- whether the newest mature cutoff's per-lead activity is cheaper moved on from the cutoff before
  it (``benchmarks.advance``: last week's state, the events that entered and left each window) than built from
  scratch: both cutoffs' cells and per-lead passes, the state written and read back, then the move. Each prints
  ``ADVANCE name=... rows=... seconds=...``; the two ways' tables are checked to be the same;
* ``features-1`` -- every feature for the population at the latest Monday (the scoring path),
  written to ``OUT`` (Parquet);
* ``features-12`` -- a 12-cutoff labelled training set (spine, labels, features) written to ``OUT``;
* ``store-week`` -- weekly retraining with the feature store (``features.store``), on the spine of
  ``params.yaml``: the export as it stood ``spine.slide_days`` earlier is written to ``OUT/last-week``
  (untimed) and its training set built through a store; then, on this export, the digest pass, the
  floor, adding to last week's store and training set (the ``RESULT``), the added cutoff built alone, the full build
  without a store (the path before the store existed) and through an empty store. Each prints
  ``STORE name=... rows=... seconds=... cpu_seconds=...``;
* ``spines`` -- the (lead_id, cutoff) rows of those two builds, written into the folder ``OUT``
  as ``spine-1.parquet`` and ``spine-12.parquet``, for the peers to compute the same rows;
* ``spark-features-1``, ``spark-features-12`` -- the two builds above on Spark (``--engine spark``:
  the same SQL, transpiled), written as Parquet parts by Spark. The master is
  ``$BENCH_SPARK_MASTER`` (default ``local[*]``), the driver memory ``$BENCH_SPARK_MEMORY``
  (default 4g), each executor's ``$BENCH_SPARK_EXECUTOR_MEMORY`` on a cluster (default 2g), the
  shuffle partitions ``$BENCH_SPARK_PARTITIONS`` (default 8); the seconds exclude starting the
  JVM and Spark's contract checks, as above.

Each prints ``RESULT step=... rows=... seconds=...``; the seconds exclude starting Python and
the loader's contract checks, and include reading the events and writing the output. The
Great Expectations suites are not run here: they are the ``validate`` step's measurement.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from features.builder import (
    Grid,
    _cells,
    _distinct_content,
    _kinds,
    _lead_activity,
    attributed_events,
    number_leads,
)
from features.definitions import FeatureSpec, StageSpec, signals, sql_path
from features.engine import as_engine
from features.spine import (
    SpineSpec,
    create_labelled_spine,
    create_population,
    cutoff_grid,
    mature_cutoffs,
    monday_on_or_before,
)
from features.training_set import build_scoring_frame, build_training_set
from pipelines.config import load_params
from pipelines.sources import connect, open_tables

TRAINING_CUTOFFS = 12
# every fourth Monday, no settling margin: twelve mature cutoffs fit in the simulated two years
TRAINING_SPINE = SpineSpec(slide_days=28, settle_days=0, warmup_days=0)


def score_date(tables) -> datetime:
    return monday_on_or_before(tables.data_end())


def training_cutoffs(tables) -> list[datetime]:
    """The latest twelve cutoffs whose label window has passed."""
    end = tables.data_end()
    cutoffs = cutoff_grid(tables.data_start(), end, TRAINING_SPINE)
    return [t for t in cutoffs if (end - t).days >= TRAINING_SPINE.horizon_days][-TRAINING_CUTOFFS:]


def main(step: str, data_dir: str, out: str | None = None) -> None:
    config = load_params(Path(__file__).resolve().parents[1] / "params.yaml")
    if step.startswith("spark-"):
        return spark_main(step, data_dir, out, config)
    # the loader's contract checks only: the Great Expectations suites are the validate step's own measurement
    tables = open_tables(data_dir, event_types=config.data.event_types,
                         extra_lead_columns=config.data.extra_lead_attributes,
                         con=connect(config.data.duckdb_threads, config.data.duckdb_memory_limit))
    con = tables.con
    started = time.perf_counter()
    if step == "floor":
        rows = con.execute(FLOOR).fetchall()[0][0]
    elif step == "bounds":
        rows = bounds(con, score_date(tables), tables.has("identities"))
    elif step == "features-1":
        table = build_scoring_frame(con, score_date(tables), config.spine, FeatureSpec(), StageSpec(),
                                    config.data.event_types, config.data.extra_lead_attributes,
                                    has_identities=tables.has("identities"))
        rows = _write(con, table, out)
    elif step == "features-12":
        # as `leadscore build-training-set` does: each cutoff's rows written as its part of the folder
        with tempfile.TemporaryDirectory() as tmp:
            _, report = build_training_set(con, TRAINING_SPINE, FeatureSpec(), StageSpec(), tables.data_start(),
                                           tables.data_end(), config.data.event_types,
                                           config.data.extra_lead_attributes, has_identities=tables.has("identities"),
                                           cutoffs=training_cutoffs(tables), parquet=Path(out or f"{tmp}/features.parquet"))
        rows = int(report["rows"].sum())
    elif step == "cells-reuse":
        rows = cells_reuse(tables, config)
    elif step == "advance":
        rows = advance_step(tables, config)
    elif step == "store-week":  # its RESULT is the week added to last week's store, printed by itself
        return store_week(tables, config, Path(out))
    elif step == "spines":
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        # the same population and labelled spine the two builds above start from
        population = create_population(con, [score_date(tables)], config.spine, has_deals=tables.has("deals"))
        con.execute(f"COPY (SELECT lead_id, cutoff FROM {population} WHERE excluded IS NULL ORDER BY lead_id) "
                    f"TO '{folder / 'spine-1.parquet'}' (FORMAT PARQUET)")
        spine, _ = create_labelled_spine(con, training_cutoffs(tables), tables.data_end(), TRAINING_SPINE)
        con.execute(f"COPY (SELECT lead_id, cutoff FROM {spine} ORDER BY cutoff, lead_id) "
                    f"TO '{folder / 'spine-12.parquet'}' (FORMAT PARQUET)")
        rows = con.execute(f"SELECT count(*) FROM {spine}").fetchall()[0][0]
    else:
        raise SystemExit(f"unknown step {step}")
    print(f"RESULT step={step} rows={rows} seconds={time.perf_counter() - started:.2f}")


FLOOR = ("SELECT count(*) FROM (SELECT lead_id, count(*), sum(duration_s), max(occurred_at) "
         "FROM events GROUP BY lead_id)")


def bounds(con, as_of: datetime, has_identities: bool) -> int:
    """Time the floor and two passes no one-cutoff build can skip; return the leads with known events.

    They use the builder's own SQL: ``scan`` is the attribution (occurred_at, ingested_at,
    lead_id and anonymous_id read, anonymous events joined to their identities, the
    cutoff's knowledge rules applied); ``by-lead`` also ties each event to its lead number
    and groups by lead. Any build of these features does at least that, and reads more
    columns besides, so ``by-lead`` / ``floor`` bounds how close to the floor the one-cutoff
    build can get.
    """
    attributed = attributed_events(Grid.of([as_of]), FeatureSpec(), has_identities)
    numbers = number_leads(as_engine(con))
    passes = {"floor": FLOOR,
              "scan": f"SELECT count(*), sum(day), sum(lo) FROM ({attributed})",
              "by-lead": f"SELECT count(*) FROM (SELECT n.lead, count(*) FROM ({attributed}) a "
                         f"JOIN {numbers} n ON n.lead_id = a.lead_id GROUP BY n.lead)"}
    # the floor again at the end: the first pass also warms the file cache, and the spread is worth seeing
    counts = {}
    for name, sql in [*passes.items(), ("floor-again", FLOOR)]:
        started = time.perf_counter()
        counts[name] = con.execute(sql).fetchall()[0][0]
        print(f"BOUND name={name} rows={counts[name]} seconds={time.perf_counter() - started:.2f}", flush=True)
    return counts["by-lead"]


def mature_grid(tables, spine: SpineSpec) -> list[datetime]:
    """The cutoffs of ``spine``'s grid over the export whose labels have matured: what a training set holds."""
    end = tables.data_end()
    mature, _ = mature_cutoffs(cutoff_grid(tables.data_start(), end, spine), end, spine.horizon_days,
                               spine.settle_days)
    return mature


class Passes:
    """What the cells-reuse and advance steps share: the builder's passes over one export, every feature of the
    manifest, each pass timed and printed as ``LABEL name=... rows=... seconds=...``."""

    def __init__(self, tables, config, label: str):
        from features.plan import unchecked_plan

        self.engine, self.spec, self.label = tables.engine, FeatureSpec(), label
        self.mature = mature_grid(tables, config.spine)
        plan = unchecked_plan(self.spec, tuple(config.data.event_types), tuple(config.data.extra_lead_attributes),
                              lifecycle=self.engine.exists("lifecycle"))
        self.sigs = signals(self.spec, plan.event_types)
        self.kinds = _kinds(self.engine, self.sigs)
        self.has_identities = tables.has("identities")

    def timed(self, name: str, work, table: str | None = None) -> None:
        started = time.perf_counter()
        work()
        rows = self.engine.rows(f"SELECT count(*) FROM {table}")[0][0] if table else ""
        print(f"{self.label} name={name} rows={rows} seconds={time.perf_counter() - started:.2f}", flush=True)

    def passes(self, grid: Grid, cells: str, prefix: str) -> None:
        """The two per-lead passes over ``cells`` at the grid's last cutoff: ``_lead_k`` and ``_content_k``."""
        engine, spec, k = self.engine, self.spec, grid.count - 1
        self.timed(f"{prefix}-lead-pass", lambda: _lead_activity(engine, grid, spec, self.sigs, self.kinds, cells, k),
                   "_lead_k")
        self.timed(f"{prefix}-content-pass", lambda: _distinct_content(engine, grid, spec, cells, k), "_content_k")

    def from_scratch(self, t: datetime, prefix: str) -> None:
        """Cutoff ``t`` built alone: its cells (``_cells``), then the passes."""
        one = Grid.of([t])
        self.timed(f"{prefix}-cells", lambda: _cells(self.engine, one, self.spec, attributed_events(
            one, self.spec, self.has_identities)), "_cells")
        self.passes(one, "_cells", prefix)


def cells_reuse(tables, config) -> int:
    """The cells-reuse measurements (module docstring); the rows of the newest cutoff's per-lead pass."""
    run = Passes(tables, config, "CELLS")
    engine, spec, mature, has_identities, timed = run.engine, run.spec, run.mature, run.has_identities, run.timed
    run.from_scratch(mature[-1], "scratch")
    for table in ("_lead_k", "_content_k"):
        engine.create_table(f"_scratch{table}", f"SELECT * FROM {table}")
    grid = Grid.of(mature)
    k, lookback = grid.count - 1, grid.day(grid.count - 1) - spec.lookback_days
    timed("grid-cells", lambda: _cells(engine, grid, spec, attributed_events(grid, spec, has_identities)), "_cells")
    with tempfile.TemporaryDirectory() as tmp:
        stored = sql_path(Path(tmp) / "cells.parquet")
        timed("store-cells", lambda: engine.con.execute(
            f"COPY (SELECT * FROM _cells WHERE lo < {k} AND b0 >= {lookback} ORDER BY lead) TO {stored} "
            "(FORMAT PARQUET, COMPRESSION ZSTD)"))
        engine.drop("_cells")
        timed("read-stored-cells", lambda: engine.create_table("_stored", f"SELECT * FROM read_parquet({stored})"),
              "_stored")
    newest = f"SELECT * FROM ({attributed_events(grid, spec, has_identities)}) WHERE lo = {k}"
    timed("newest-cells", lambda: _cells(engine, grid, spec, newest), "_cells")
    timed("stored-and-newest", lambda: engine.create_table(
        "_reused", "SELECT * FROM _stored UNION ALL SELECT * FROM _cells"), "_reused")
    run.passes(grid, "_reused", "reused")
    for table in ("_lead_k", "_content_k"):
        differ(engine, f"_scratch{table}", table)
    return engine.rows("SELECT count(*) FROM _lead_k")[0][0]


def advance_step(tables, config, prev: datetime | None = None, t: datetime | None = None) -> int:
    """The advance measurements (module docstring), from the next-to-newest mature cutoff to the newest (or from
    ``prev`` to ``t``); the rows of ``t``'s _lead_k."""
    from benchmarks.advance import LAST_EVENT_DAY, advance, state_columns

    run = Passes(tables, config, "ADVANCE")
    engine, spec, timed = run.engine, run.spec, run.timed
    prev, t = prev or run.mature[-2], t or run.mature[-1]
    run.from_scratch(prev, "previous")
    with tempfile.TemporaryDirectory() as tmp:
        state = sql_path(Path(tmp) / "state.parquet")
        timed("write-state", lambda: engine.con.execute(f"COPY ({state_columns(engine, spec, prev)}) TO {state} "
                                                        "(FORMAT PARQUET, COMPRESSION ZSTD)"))
        for table in ("_cells", "_lead_k", "_content_k"):
            engine.drop(table)
        timed("read-state", lambda: engine.create_table("_state", f"SELECT * FROM read_parquet({state})"), "_state")
    # the move first, then the build from scratch: the second of two builds in a process runs 5-7 s slower at 1M
    # leads (BENCHMARKS.md), so this order favours the move
    timed("advance", lambda: advance(engine, spec, run.sigs, run.kinds, "_state", prev, t, run.has_identities),
          "_lead_k")
    engine.create_table("_advanced_lead_k", f"SELECT * EXCLUDE ({LAST_EVENT_DAY}) FROM _lead_k")
    engine.create_table("_advanced_content_k", "SELECT * FROM _content_k")
    engine.drop("_state")
    run.from_scratch(t, "scratch")
    differ(engine, "_lead_k", "_advanced_lead_k")
    differ(engine, "_content_k", "_advanced_content_k")
    return engine.rows("SELECT count(*) FROM _lead_k")[0][0]


def differ(engine, one: str, other: str) -> None:
    """Refuse to report a measurement whose two ways gave different tables ``one`` and ``other``."""
    rows = engine.rows(f"SELECT count(*) FROM (SELECT * FROM {one} EXCEPT ALL SELECT * FROM {other} "
                       f"UNION ALL (SELECT * FROM {other} EXCEPT ALL SELECT * FROM {one}))")[0][0]
    if rows:
        raise RuntimeError(f"{one} and {other}: {rows} rows differ between the two ways: the measurement is void")


def store_week(tables, config, out: Path) -> None:
    """The store-week measurements (module docstring)."""
    import shutil

    from features.store import STORED_FROM, input_digests
    from pipelines.generate import GenerationSummary, cut_to

    spine = config.spine
    shutil.rmtree(out, ignore_errors=True)
    last_week = out / "last-week"
    shutil.copytree(tables.directory, last_week, ignore=shutil.ignore_patterns("truth.parquet"))
    moment = score_date(tables) - timedelta(days=spine.slide_days)
    cut_to(GenerationSummary(last_week, {}, tables.data_start(), tables.data_end(), [], moment), moment, spine)

    def build(con_tables, target: Path, store: Path | None = None, rebuild: bool = False, cutoffs=None,
              previous: Path | None = None):
        _, report = build_training_set(con_tables.con, spine, FeatureSpec(), StageSpec(), con_tables.data_start(),
                                       con_tables.data_end(), config.data.event_types,
                                       config.data.extra_lead_attributes, has_identities=con_tables.has("identities"),
                                       parquet=target, store=store, rebuild=rebuild, cutoffs=cutoffs,
                                       previous=previous)
        return report

    def timed(name: str, work) -> object:
        """Run ``work`` and print its wall seconds, and its CPU seconds (every thread's: on a shared machine
        they move less than the wall time when a neighbour takes a core)."""
        started, cpu = time.perf_counter(), time.process_time()
        result = work()
        rows = int(result["rows"].sum()) if hasattr(result, "attrs") else result
        print(f"STORE name={name} rows={rows} seconds={time.perf_counter() - started:.2f} "
              f"cpu_seconds={time.process_time() - cpu:.2f}", flush=True)
        return result

    previous = open_tables(last_week, event_types=config.data.event_types,
                           extra_lead_columns=config.data.extra_lead_attributes,
                           con=connect(config.data.duckdb_threads, config.data.duckdb_memory_limit))
    timed("last-week-full-through-store", lambda: build(previous, out / "last.parquet", out / "store"))
    previous.con.close()
    con = tables.con
    mature = mature_grid(tables, spine)
    present = [t for t in STORED_FROM if tables.has(t)]
    timed("digests", lambda: len(input_digests(con, mature, present)))
    timed("floor", lambda: con.execute(FLOOR).fetchall()[0][0])
    started = time.perf_counter()
    report = timed("add-a-week", lambda: build(tables, out / "week.parquet", out / "store", previous=out / "last.parquet"))
    print(f"RESULT step=store-week rows={int(report['rows'].sum())} seconds={time.perf_counter() - started:.2f}",
          flush=True)
    used = report.attrs["store"]
    print(f"STORE-USE reused={len(used.reused)} rebuilt={len(used.rebuilt)} added={len(used.added)} "
          f"parts_kept={len(used.kept)} parts_given_later_rows={len(used.later)} "
          f"reasons={used.to_record()['reasons']}", flush=True)
    if used.added:
        timed("one-cutoff", lambda: build(tables, out / "one.parquet", cutoffs=[max(used.added)]))
    timed("full-without-store", lambda: build(tables, out / "full.parquet"))
    timed("full-through-empty-store", lambda: build(tables, out / "full-store.parquet", out / "store-new"))


def spark_main(step: str, data_dir: str, out: str | None, config) -> None:
    import os

    from pipelines.spark_sources import open_spark_tables, spark_session

    spark = spark_session(os.environ.get("BENCH_SPARK_MASTER", "local[*]"),
                          {"spark.driver.memory": os.environ.get("BENCH_SPARK_MEMORY", "4g"), "spark.ui.enabled": "false",
                           "spark.executor.memory": os.environ.get("BENCH_SPARK_EXECUTOR_MEMORY", "2g"),
                           "spark.sql.shuffle.partitions": os.environ.get("BENCH_SPARK_PARTITIONS", "8")})
    tables = open_spark_tables(spark, data_dir, extra_lead_columns=config.data.extra_lead_attributes)
    engine = tables.engine
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        target = out or f"{tmp}/features"
        if step == "spark-features-1":
            table = build_scoring_frame(engine, score_date(tables), config.spine, FeatureSpec(), StageSpec(),
                                        config.data.event_types, config.data.extra_lead_attributes,
                                        has_identities=tables.has("identities"))
            engine.table(table).write.mode("overwrite").parquet(target)
        elif step == "spark-features-12":  # each cutoff appended as Parquet parts, as build-training-set does
            build_training_set(engine, TRAINING_SPINE, FeatureSpec(), StageSpec(), tables.data_start(),
                               tables.data_end(), config.data.event_types, config.data.extra_lead_attributes,
                               has_identities=tables.has("identities"), cutoffs=training_cutoffs(tables),
                               parquet=target)
        else:
            raise SystemExit(f"unknown step {step}")
        rows = spark.read.parquet(target).count()
    print(f"RESULT step={step} rows={rows} seconds={time.perf_counter() - started:.2f} "
          f"master={spark.sparkContext.master}")
    spark.stop()


def _write(con, table: str, out: str | None) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        target = out or f"{tmp}/features.parquet"
        con.execute(f"COPY {table} TO '{target}' (FORMAT PARQUET)")
    return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]


if __name__ == "__main__":
    main(*sys.argv[1:4])
