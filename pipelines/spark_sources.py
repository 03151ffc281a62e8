"""Read the contract tables from Parquet into typed Spark views, for ``--engine spark``.

The Spark twin of ``pipelines/sources.py`` for exports too large for one machine: each
table (``T.parquet``, or a folder ``T/`` of Parquet parts, under a local path or any URI
Spark reads, such as ``s3a://bucket/export``) becomes a temporary view with every
column cast to its contract type, under the same rules and with the same `DataError`
messages: required columns present, physical types compatible, every value castable
(checked for all columns of a table in one aggregate pass), duplicate event_ids
dropped as ``sources.first_copy_of_each_event`` says. Timestamps become Spark's
``TIMESTAMP_NTZ`` holding the UTC instant (a zone-aware Parquet column is converted,
a naive one is taken as UTC), the "naive UTC" of the contract.

What the DuckDB reader does and this one does not: CSV files (convert them to Parquet,
or use the DuckDB engine), the mixed-offset check for text timestamps, and the Great
Expectations content suites, which run on DuckDB (``leadscore validate``); see
``pipelines/README.md``.
"""

from __future__ import annotations

import hashlib
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from features.contract import Column, Table
from features.engine import SparkEngine
from features.errors import UserError
from pipelines.sources import (
    HOW_TO_FIX,
    SAMPLE_ROWS,
    DataError,
    ExportTables,
    absent_extra,
    find_files,
    first_copy_of_each_event,
    missing_column,
    read_each_table,
    shown,
    wrong_type,
)

INSTALL_HINT = "install the Spark extra: pip install 'leadscore[spark]' (it needs Java 17 or later on the PATH)"
_SPARK_TYPE = {"string": "STRING", "integer": "BIGINT", "number": "DOUBLE", "timestamp": "TIMESTAMP_NTZ"}
_INTEGRAL = ("tinyint", "smallint", "int", "bigint", "decimal")  # decimal(p, 0) only; checked below
_FRACTIONAL = ("float", "double", "decimal")


def spark_session(master: str | None = None, conf: dict[str, str] | None = None):
    """The SparkSession to run on: ``master`` if given, else the active session, else a local one on every core.

    A session leadscore starts gets ``conf`` (e.g. ``spark.driver.memory``); an active
    session (a notebook's, a cluster job's) is used as it is, except that its SQL time
    zone is set to UTC (``features.engine.SparkEngine``).
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise UserError(f"--engine spark: pyspark is not installed; {INSTALL_HINT}") from None
    # PySpark 4 warns on every conversion under pandas 3; the Spark tests compare every value under pandas 3
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    if master is None:
        active = SparkSession.getActiveSession()
        if active is not None:
            return active
    # the Python workers run the model (mapInPandas): this interpreter, with leadscore and LightGBM installed,
    # unless the cluster's environment says otherwise
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master or "local[*]").appName("leadscore")
    # Spark's WARN lines (a window over a tiny table, a plan too long to print) say nothing a user can act on; errors
    # still show. SPARK_LOG_LEVEL chooses another level.
    level = os.environ.get("SPARK_LOG_LEVEL", "ERROR")
    settings = {"spark.sql.session.timeZone": "UTC", "spark.ui.showConsoleProgress": "false", "spark.log.level": level}
    if (master or "local[*]").startswith("local"):
        # Spark's default of 200 shuffle partitions is for clusters: on one machine each stage would run 200 tiny tasks
        settings["spark.sql.shuffle.partitions"] = str(4 * (os.cpu_count() or 2))
        # in local mode every task runs in the driver's JVM: Spark's default 1g heap dies on the feature grid's wide
        # aggregation even at 3,000 leads (AGGREGATE_OUT_OF_MEMORY, then Java heap space)
        settings["spark.driver.memory"] = f"{local_driver_gib()}g"
    settings.update(conf or {})
    for key, value in settings.items():
        builder = builder.config(key, str(value))
    try:
        session = builder.getOrCreate()
    except Exception as error:  # noqa: BLE001 - the JVM did not start: almost always Java
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"--engine spark: Spark did not start ({first}); check that Java 17 or later is installed "
                         f"and on the PATH (or JAVA_HOME set), and that --spark-master {master or 'local[*]'} is "
                         "reachable") from None
    session.sparkContext.setLogLevel(level)
    return session


LOCAL_MEMORY_SHARE = 0.4  # of the machine's memory, for the driver of a local session: pandas and the model need the rest


def machine_gib() -> float:
    """The memory this process may use, in GiB: the machine's, or the container's limit when lower (cgroup v2)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        total = min(total, int(limit)) if limit.isdigit() else total
    except OSError:
        pass
    return total / 2**30


def local_driver_gib() -> int:
    """The heap of a local session's driver, which runs every task: a share of the machine, 2 GiB at least."""
    return max(2, int(machine_gib() * LOCAL_MEMORY_SHARE))


def describe_session(spark) -> str:
    """What a Spark session runs with, in one line (every command on Spark prints it)."""
    conf = spark.sparkContext.getConf()
    master = spark.sparkContext.master
    if master.startswith("local"):
        memory = conf.get("spark.driver.memory", "1g")
        return (f"Spark {master}: driver memory {memory} (every task runs in the driver; leadscore's default is "
                f"{LOCAL_MEMORY_SHARE:.0%} of this machine's {machine_gib():.0f} GiB; engine.spark_conf "
                "spark.driver.memory overrides)")
    return (f"Spark {master}: executors with {conf.get('spark.executor.memory', '1g')} and "
            f"{conf.get('spark.executor.cores', 'all the worker')} core(s) each, driver {conf.get('spark.driver.memory', '1g')}"
            " (engine.spark_conf sets spark.executor.memory; 2g or more a core)")


@dataclass(kw_only=True)
class SparkTables(ExportTables):
    """An export read by Spark: one typed temporary view per table present, and an engine over them."""

    engine: SparkEngine

    def digest(self) -> str:
        """SHA-256 over every input file's path, size and modification time.

        Not over the bytes, as the DuckDB reader does: reading terabytes on the driver
        to name them would cost more than the run.
        """
        if self._digest is None:
            sha = hashlib.sha256()
            for listing in self._listing():
                sha.update(f"{listing}\0".encode())
            self._digest = sha.hexdigest()
        return self._digest

    def _listing(self) -> list[str]:
        out = []
        for table in sorted(self.files):
            for name in sorted(self.engine.spark.read.parquet(*self.files[table]).inputFiles()):
                local = _local(name)
                if local is not None and Path(local).exists():
                    stat = Path(local).stat()
                    out.append(f"{table}:{Path(local).name}:{stat.st_size}:{stat.st_mtime_ns}")
                else:
                    out.append(f"{table}:{name}")
        return out


def open_spark_tables(spark, directory: str | Path, *, extra_lead_columns: tuple[str, ...] = (),
                      require_deals: bool = False) -> SparkTables:
    """Read every table under ``directory`` as a typed Spark view, checking it reads as the contract says.

    Raises `DataError` naming the first table that cannot be read, with the other
    tables' problems in ``others`` (as ``sources.open_tables``).
    """
    directory = str(directory)
    local = _local(directory)
    if local is not None and not Path(local).is_dir():
        raise DataError(directory, None, "missing directory", "the data directory does not exist",
                        "pass the folder that holds leads, events, identities and deals Parquet files")
    engine = SparkEngine(spark)

    def open_view(name, table, paths, extras):
        frame, missing = _typed_table(spark, table, paths, extras)
        engine.register(name, frame)
        return missing

    files, absent = read_each_table(directory, require_deals, lambda name: _find(spark, directory, name), open_view,
                                    extra_lead_columns, "{name}.parquet or {name}/ folder of Parquet parts", "Parquet")
    tables = SparkTables(engine=engine, directory=directory, files=files,
                         extra_lead_columns=tuple(extra_lead_columns), absent_extras=absent)
    if "event_id" in spark.read.parquet(*files["events"]).columns:  # else there is nothing to deduplicate
        tables.duplicate_events_dropped = _dedupe_events(engine)
    return tables


def _local(path: str) -> str | None:
    """The local file system path of ``path``, or None for a URI Spark resolves (s3a://, abfss://, hdfs://)."""
    if path.startswith("file://"):
        return path[len("file://"):]
    return None if "://" in path else path


def _find(spark, directory: str, table: str) -> list[str]:
    """The Parquet path(s) of ``table``: a file ``T.parquet`` or a folder ``T/`` of part files."""
    local = _local(directory)
    if local is not None:
        paths = find_files(Path(local), table)
        if paths and paths[0].suffix == ".csv":
            raise DataError(str(paths[0]), None, "CSV on Spark",
                            "the Spark engine reads Parquet only",
                            "convert the table to Parquet (e.g. with DuckDB: COPY (FROM 'T.csv') TO 'T.parquet'), "
                            "or run with --engine duckdb")
        return [os.path.abspath(p) for p in paths]
    found = []
    for candidate in (f"{directory.rstrip('/')}/{table}.parquet", f"{directory.rstrip('/')}/{table}"):
        try:
            spark.read.parquet(candidate).schema  # noqa: B018 - reading the footer is the existence check
            found.append(candidate)
        except Exception:  # noqa: BLE001 - missing path (or not Parquet): try the other layout
            continue
    if len(found) > 1:
        raise DataError(directory, None, "ambiguous table", f"table '{table}' is given more than once: {found}",
                        "keep exactly one file (or folder of Parquet parts) per table")
    return found


def _typed_table(spark, table: Table, paths: list[str], extras: tuple[str, ...]):
    """The table as a DataFrame of contract-typed columns, after one pass checking every value casts; and the
    configured extras it lacks (read as empty: the plan leaves their features out)."""
    label = paths[0] if len(paths) == 1 else str(Path(paths[0]).parent)
    try:
        raw = spark.read.parquet(*paths)
    except Exception as error:  # noqa: BLE001
        raise DataError(label, None, "unreadable file", str(error).strip().splitlines()[0],
                        "check the file is a valid Parquet file (or folder of Parquet parts)") from None
    schema = {f.name: f.dataType.simpleString() for f in raw.schema.fields}
    selects, checks = [], []
    for column in table.columns:
        if column.name not in schema:
            if column.present:
                raise missing_column(label, column, schema)
            selects.append(f"CAST(NULL AS {_SPARK_TYPE[column.dtype]}) AS `{column.name}`")
            continue
        value, cast = _typed(label, column, schema[column.name])
        selects.append(f"{cast} AS `{column.name}`")
        if value is not None:
            checks.append((column, value, cast))
    absent = {extra: absent_extra(extra, schema) for extra in extras if extra not in schema}
    selects += [f"CAST(NULL AS STRING) AS `{e}`" if e in absent else f"`{e}`" for e in extras]
    view = f"raw_{table.name}"
    raw.createOrReplaceTempView(view)
    counts = ["count(*) AS `rows`"] + [f"count_if({value} IS NOT NULL AND ({cast}) IS NULL) AS `bad_{column.name}`"
                                         for column, value, cast in checks]
    found = spark.sql(f"SELECT {', '.join(counts)} FROM {view}").collect()[0].asDict()
    if found["rows"] == 0 and table.required:
        raise DataError(label, None, "empty file", "the file has no rows",
                        "check the export finished; a required table cannot be empty")
    for column, value, cast in checks:
        bad = found[f"bad_{column.name}"]
        if bad:
            samples = spark.sql(f"SELECT CAST({value} AS STRING) AS v FROM {view} "
                                f"WHERE {value} IS NOT NULL AND ({cast}) IS NULL LIMIT {SAMPLE_ROWS}").collect()
            kind = {"timestamp": "unparsable timestamp"}.get(column.dtype, f"not a valid {column.dtype}")
            raise DataError(label, column.name, kind, f"{bad} value(s) cannot be read as {column.dtype}",
                            HOW_TO_FIX[column.dtype], [shown(row["v"]) for row in samples])
    return spark.sql(f"SELECT {', '.join(selects)} FROM {view}"), absent


def _typed(label: str, column: Column, physical: str) -> tuple[str | None, str]:
    """(value to check, or None when every value casts; Spark SQL casting it to the contract type)."""
    name = f"`{column.name}`"
    if column.dtype == "string":
        return None, f"NULLIF(CAST({name} AS STRING), '')" if physical == "string" else f"CAST({name} AS STRING)"
    if column.dtype == "timestamp":
        if physical in ("timestamp_ntz", "timestamp", "date"):
            # a zone-aware instant is shown in UTC (the session's zone): the naive UTC value of the contract
            return None, f"CAST({name} AS TIMESTAMP_NTZ)"
        if physical != "string":
            raise wrong_type(label, column, physical)
        value = f"NULLIF(trim({name}), '')"
        return value, f"CAST(try_cast({value} AS TIMESTAMP) AS TIMESTAMP_NTZ)"
    integral = physical.startswith(_INTEGRAL) and not (physical.startswith("decimal") and not physical.endswith(",0)"))
    if column.dtype == "integer":
        if integral:
            return None, f"CAST({name} AS BIGINT)"
        if physical.startswith(_FRACTIONAL):
            # Parquet writers turn integer columns with nulls into floats: whole values only
            return name, (f"CASE WHEN NOT isnan({name}) AND abs({name}) < 9.2e18D AND {name} = round({name}) "
                          f"THEN CAST({name} AS BIGINT) END")
        if physical == "string":
            value = f"NULLIF(trim({name}), '')"
            number = f"try_cast({value} AS DOUBLE)"
            return value, f"CASE WHEN {number} = round({number}) THEN try_cast({value} AS BIGINT) END"
        raise wrong_type(label, column, physical)
    if integral or physical.startswith(_FRACTIONAL):
        # NaN and infinity are refused as by the DuckDB reader: NaN sorts above every number
        number = f"CAST({name} AS DOUBLE)"
        return name, f"CASE WHEN NOT isnan({number}) AND abs({number}) < CAST('Infinity' AS DOUBLE) THEN {number} END"
    if physical == "string":
        value = f"NULLIF(trim({name}), '')"
        number = f"try_cast({value} AS DOUBLE)"
        return value, f"CASE WHEN NOT isnan({number}) AND abs({number}) < CAST('Infinity' AS DOUBLE) THEN {number} END"
    raise wrong_type(label, column, physical)


def _dedupe_events(engine: SparkEngine) -> int:
    """Drop repeated event_ids exactly as the DuckDB reader does; return how many."""
    with_ids, distinct = engine.rows("SELECT count(event_id), count(DISTINCT event_id) FROM events")[0]
    duplicates = int(with_ids - distinct)
    if duplicates:
        engine.register("events_with_duplicates", engine.table("events"))
        engine.register("events", engine.sql(first_copy_of_each_event("events_with_duplicates")))
    return duplicates
