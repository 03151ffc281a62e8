"""The engine a command runs on, behind one interface: DuckDB on one machine, or Spark.

The features are the same SQL on either engine (``features/engine.py``). What differs is
around them: how an export is opened, where the built rows land before the training
file is written, and where the model runs over the scoring population. Each of those is
one method here, so ``stages.py`` and ``score.py`` read the same for both engines and
the choice is made once, in `runner_for`. (``features.engine.Engine`` is the narrower seam the
SQL generators run on; a runner holds one.)
"""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol

import pandas as pd

from features.definitions import sql_path
from features.training_set import build_training_set
from pipelines.config import Params
from pipelines.files import temporary_beside
from pipelines.inputs import (
    accepted_dispositions,
    lifecycle_statuses,
    open_data,
    open_spark_data,
)
from pipelines.score_rows import explain_rows
from pipelines.sources import connect, release_memory


@dataclass
class BuiltRows:
    """A training grid built and readable by DuckDB: ``con`` holds it as view ``table``.

    ``streamed`` says the rows are already in the training file, in its order and with
    its metadata (DuckDB streams them there while building); otherwise the stage writes it.
    """

    con: object
    table: str
    report: pd.DataFrame
    streamed: bool


class Runner(Protocol):
    """What a stage needs from the engine it runs on."""

    name: str
    writes_parquet: bool  # the scored week is also written as Parquet, for the engine's downstream readers

    def open(self, data_dir, config: Params, require_deals: bool = False): ...

    def training_rows(self, tables, config: Params, progress: bool, parquet: Path, store: Path | None = None,
                      rebuild: bool = False, previous: Path | None = None) -> Iterator[BuiltRows]: ...

    def explained_rows(self, tables, table: str, features: list[str], wrapper,
                       config: Params) -> tuple[pd.DataFrame, pd.DataFrame]: ...

    def duckdb(self, tables): ...

    def sales_in_duckdb(self, tables): ...


def _build(tables, config: Params, progress: bool, parquet: Path | str | None = None, store: Path | None = None,
           rebuild: bool = False, previous: Path | None = None):
    return build_training_set(
        tables.engine, config.spine, config.features, config.stage, tables.data_start(), tables.data_end(),
        config.data.event_types, config.data.extra_lead_attributes, has_identities=tables.has("identities"),
        progress=progress, parquet=parquet, lifecycle=lifecycle_statuses(tables, config),
        accepted=accepted_dispositions(config), store=store, rebuild=rebuild, previous=previous)


class DuckDBRunner:
    name = "duckdb"
    writes_parquet = False

    def open(self, data_dir, config: Params, require_deals: bool = False):
        return open_data(data_dir, config, require_deals=require_deals)

    @contextmanager
    def training_rows(self, tables, config: Params, progress: bool, parquet: Path, store: Path | None = None,
                      rebuild: bool = False, previous: Path | None = None) -> Iterator[BuiltRows]:
        """Each cutoff's rows written as its part of ``parquet`` as it is built (one pass, no second copy); with
        ``store``, the cutoffs the feature store holds valid are reused, the rest built into it first, and the
        parts of ``previous`` (the training set this one replaces) built from the same features and labels kept."""
        table, report = _build(tables, config, progress, parquet, store, rebuild, previous)
        yield BuiltRows(tables.con, table, report, streamed=True)

    def explained_rows(self, tables, table: str, features: list[str], wrapper, config: Params):
        """Per-lead rows, and the features drift is measured on (here: all of them)."""
        frame = tables.con.sql(f"SELECT * FROM {table} ORDER BY lead_id").df()
        tables.con.execute(f"DROP TABLE {table}")
        release_memory(tables.con, config.data.duckdb_memory_limit)  # SHAP over the frame needs it, DuckDB doesn't
        return (explain_rows(frame, features, wrapper) if len(frame) else None), frame

    def duckdb(self, tables):
        return tables.con

    def sales_in_duckdb(self, tables):
        """A DuckDB connection with the export's ``deals`` and ``feedback`` views, those it has (the outcomes of
        published lists, what sales said of them)."""
        return tables.con


class SparkRunner:
    name = "spark"
    writes_parquet = True

    def __init__(self, master: str | None = None):
        self.master = master

    def open(self, data_dir, config: Params, require_deals: bool = False):
        return open_spark_data(data_dir, config, self.master, require_deals=require_deals)

    @contextmanager
    def training_rows(self, tables, config: Params, progress: bool, parquet: Path, store: Path | None = None,
                      rebuild: bool = False, previous: Path | None = None) -> Iterator[BuiltRows]:
        """The rows as Parquet parts in a scratch folder beside ``parquet`` (storage the executors share), each
        cutoff appended as it is built, then read by DuckDB; the folder goes whatever happens. Every cutoff is
        built: the feature store's digests are DuckDB passes over the export (``features.store``)."""
        parts = temporary_beside(parquet, tag="spark-")
        parts.mkdir()
        try:
            _, report = _build(tables, config, progress, parts.resolve().as_uri())  # each cutoff appended as parts
            con = connect(config.data.duckdb_threads, config.data.duckdb_memory_limit)
            files = ", ".join(sql_path(p) for p in sorted(parts.glob("*.parquet")))
            con.execute(f"CREATE TEMP VIEW spark_rows AS SELECT * FROM read_parquet([{files}])")
            yield BuiltRows(con, "spark_rows", report, streamed=False)
        finally:
            shutil.rmtree(parts, ignore_errors=True)

    def explained_rows(self, tables, table: str, features: list[str], wrapper, config: Params):
        """Per-lead rows computed on the executors, collected; and the features (or a sample) for drift."""
        from pipelines.spark_scoring import explained_rows, feature_sample

        frame = tables.engine.table(table)
        rows = explained_rows(frame, features, wrapper).toPandas()
        return rows, feature_sample(frame, features, len(rows))

    def duckdb(self, tables):
        return connect()

    def sales_in_duckdb(self, tables):
        """The deals and feedback collected from Spark into DuckDB: a row a deal or a disposition, far fewer than
        leads or events."""
        con = connect()
        for name in ("deals", "feedback"):
            if tables.has(name):
                con.register(name, tables.engine.table(name).toPandas())
        return con


def runner_for(name: str | None, config: Params, spark_master: str | None = None) -> Runner:
    """The engine named by ``--engine`` (default ``engine.name``); ``spark_master`` only means something for Spark."""
    return SparkRunner(spark_master) if (name or config.engine.name) == "spark" else DuckDBRunner()
