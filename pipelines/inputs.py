"""Opening an export: read it (DuckDB or Spark) and validate it, before any stage computes or writes anything.

Every command that reads an export comes through here, so the reading gate and the
content suites run the same way for ``validate``, ``build-training-set``, ``profile``
and ``score``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pipelines.config import Params
from pipelines.findings import Finding, Outcome
from pipelines.sources import DataError, DataTables, connect, open_tables
from pipelines.validation import absent_extra_findings, validate_export


def open_data(data_dir: str | Path, config: Params, require_deals: bool = False, check: bool = True,
              progress: bool = False) -> DataTables:
    """Read an export and validate it: the reading gate, then the Great Expectations suites.

    Raises `DataError` (or its `ValidationFailed`) before anything is written; warnings
    are on ``tables.validation``. ``check=False`` returns the outcome without raising
    (``leadscore validate`` reports instead).
    """
    tables = open_tables(data_dir, event_types=config.data.event_types,
                         extra_lead_columns=config.data.extra_lead_attributes + config.data.display_extras(),
                         require_deals=require_deals,
                         con=connect(config.data.duckdb_threads, config.data.duckdb_memory_limit))
    tables.validation = validate_export(tables, config.validation, config.data.event_types,
                                        lifecycle_statuses=tuple(config.data.lifecycle_statuses),
                                        dispositions=tuple(config.data.feedback_dispositions),
                                        content_types=tuple(config.features.content_types), progress=progress,
                                        display_columns=config.data.display_columns)
    if check:
        tables.validation.raise_for_errors()
    return tables


def open_spark_data(data_dir: str | Path, config: Params, spark_master: str | None = None,
                    require_deals: bool = False):
    """Read an export with Spark (``--engine spark``): the reading gate, in Spark.

    The Great Expectations export suites run on DuckDB and are not run here: that is
    reported as a warning, with how to run them (``leadscore validate``).
    """
    from pipelines.spark_sources import (
        describe_session,
        open_spark_tables,
        spark_session,
    )

    spark = spark_session(spark_master or config.engine.spark_master, config.engine.spark_conf)
    print(describe_session(spark), file=sys.stderr)
    tables = open_spark_tables(spark, data_dir,
                               extra_lead_columns=config.data.extra_lead_attributes + config.data.display_extras(),
                               require_deals=require_deals)
    tables.validation = Outcome("export", findings=[Finding(
        "warning", "", str(data_dir), None, "content suites not run on Spark",
        "the export was read and type-checked by Spark; its Great Expectations suites (not-null, unique, "
        "vocabularies, cross-table rules) run on DuckDB",
        "run 'leadscore validate DATA_DIR' where DuckDB can read the files, before training on a new export"),
        *absent_extra_findings(tables, config.data.display_columns)])
    return tables


def lifecycle_statuses(tables, config: Params) -> dict[str, str] | None:
    """The status meanings when the export has a lifecycle table (the population rule reads them), else None."""
    return dict(config.data.lifecycle_statuses) if tables.has("lifecycle") else None


def accepted_dispositions(config: Params) -> tuple[str, ...]:
    """The feedback dispositions meaning accepted (the label ``sales_accepted`` reads them)."""
    return tuple(word for word, meaning in config.data.feedback_dispositions.items() if meaning == "accepted")


def validate_directory(data_dir: Path, config, progress: bool = False) -> tuple[Outcome, DataTables | None]:
    """``leadscore validate``: every problem of an export, reading and content, without raising."""
    try:
        tables = open_data(data_dir, config, check=False, progress=progress)
    except DataError as error:
        problems = [error, *error.others]
        return Outcome("export", [Finding.from_data_error(e, e.table) for e in problems]), None
    return tables.validation, tables
