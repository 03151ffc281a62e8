"""Read the contract tables from an export directory into typed DuckDB views.

Files are never loaded into Python: each table becomes a view over its Parquet or
CSV file(s) with every column cast to its contract type, so the feature SQL reads
100M events straight from disk. Before a view is created the file is checked
against the contract, and the first problem found is raised as a `DataError`
naming the file, column, rule and a few offending rows, with how to fix it.

Accepted layouts for a table ``T`` inside the directory: ``T.parquet``, ``T.csv``
or a folder ``T/`` of Parquet part files. Naive timestamps are taken as UTC.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from features.contract import HISTORY_STARTS, KNOWN_UP_TO, TABLES, Column, Table
from features.definitions import sql_path, sql_string
from features.errors import UserError

SAMPLE_ROWS = 5
MEMORY_SIZE = re.compile(r"[0-9]+(\.[0-9]+)? ?([KMGT]i?B|B)", re.IGNORECASE)  # DuckDB's memory_limit, e.g. 4GB
# A zone after a time of day: 'Z', '+02', '+0200', '+02:00' or a name ('UTC', 'Europe/Berlin'). Requiring the time
# keeps a date such as '2025-01-06' from reading as the offset '-06'.
_OFFSET_PATTERN = r"[0-9]:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)? ?([+-][0-9]{2}(:?[0-9]{2})?|[A-Za-z][A-Za-z_/+-]*)$"
_INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"}
_FLOAT_TYPES = {"FLOAT", "DOUBLE", "REAL"}
_NUMBER_TYPES = _INTEGER_TYPES | _FLOAT_TYPES
_SQL_TYPE = {"string": "VARCHAR", "integer": "BIGINT", "number": "DOUBLE", "timestamp": "TIMESTAMP"}
HOW_TO_FIX = {
    "timestamp": "write ISO 8601 timestamps such as 2024-05-01T09:30:00Z (naive values are read as UTC)",
    "integer": "write whole numbers without separators or units",
    "number": "write plain decimal numbers without separators or units; leave a value empty (not NaN or inf) "
              "when it is unknown",
    "string": "write text",
}


class DataError(UserError):
    """Input that breaks the data contract; the message says where and how to fix it.

    ``others`` holds the problems found in the other tables of the same export, so one
    run reports every unreadable table at once; the message lists them all.
    """

    def __init__(self, file: str, column: str | None, rule: str, detail: str, fix: str, rows: list | None = None,
                 table: str | None = None):
        self.file, self.column, self.rule, self.rows = file, column, rule, rows or []
        self.detail, self.fix, self.table = detail, fix, table
        self.others: list[DataError] = []
        super().__init__(self._text())

    def _text(self) -> str:
        where = f"{self.file}" + (f", column '{self.column}'" if self.column else "")
        lines = [f"{where}: {self.rule}: {self.detail}"]
        if self.rows:
            lines.append("  examples: " + "; ".join(self.rows))
        lines.append(f"  how to fix: {self.fix}")
        return "\n".join(lines)

    def with_others(self, others: list[DataError]) -> DataError:
        self.others = list(others)
        self.args = ("\n".join([self._text(), *(o._text() for o in others)]),)
        return self


@dataclass(kw_only=True)
class ExportTables:
    """An open export: one typed view per table present, read by an engine (``features.engine``).

    What every command asks of an export is the same whichever engine read it; only
    ``engine`` and ``digest`` differ (``DataTables`` here, ``spark_sources.SparkTables``).
    """

    directory: Path | str
    files: dict[str, list]
    extra_lead_columns: tuple[str, ...] = ()
    absent_extras: dict[str, str] = field(default_factory=dict)  # configured extra -> what the file has instead
    duplicate_events_dropped: int = 0
    validation: Any = None  # the content checks' verdict (pipelines.findings.Outcome), once run
    _digest: str | None = field(default=None, repr=False)
    _extent: tuple[datetime, datetime] | None = field(default=None, repr=False)

    def has(self, table: str) -> bool:
        return table in self.files

    def count(self, table: str) -> int:
        return self.engine.rows(f"SELECT count(*) FROM {table}")[0][0] if self.has(table) else 0

    def data_end(self) -> datetime:
        """The latest instant any table speaks of: what the export knows up to."""
        return self.extent()[1]

    def data_start(self) -> datetime:
        """The first engagement event: where usable history begins (CRMs hold far older leads)."""
        return self.extent()[0]

    def extent(self) -> tuple[datetime, datetime]:
        """(``data_start``, ``data_end``), read in one pass the first time either is asked for: an open export's
        views do not change, and a command asks two to four times (each pass cost 1.2 s at 131.8M events)."""
        if self._extent is None:
            self._extent = tuple(self.engine.rows(extent_sql(self.files))[0])
        return self._extent


@dataclass(kw_only=True)
class DataTables(ExportTables):
    """An export read by DuckDB: a connection with one typed view per table present."""

    con: duckdb.DuckDBPyConnection

    @property
    def engine(self):
        """The connection as a feature engine (``features.engine``), as ``SparkTables.engine`` is."""
        from features.engine import DuckDBEngine

        return DuckDBEngine(self.con)

    def digest(self) -> str:
        """SHA-256 over every input file's name and bytes: the identity of this data."""
        if self._digest is None:
            sha = hashlib.sha256()
            for table in sorted(self.files):
                for path in self.files[table]:
                    sha.update(f"{table}/{path.name}\0".encode())
                    with path.open("rb") as handle:
                        for block in iter(lambda: handle.read(1 << 22), b""):
                            sha.update(block)
            self._digest = sha.hexdigest()
        return self._digest


def extent_sql(present) -> str:
    """SQL (any engine): (where history starts, ``HISTORY_STARTS``; the latest timestamp of any of the tables
    ``present``), each table read once."""
    start_table, start = HISTORY_STARTS
    parts = [f'SELECT {f"min({start})" if table == start_table else "NULL"} AS s, '
             f'{max_of(columns)} AS t FROM {table}' for table, columns in KNOWN_UP_TO.items() if table in present]
    return f"SELECT min(s), max(t) FROM ({' UNION ALL '.join(parts)}) AS times"


def max_of(columns: tuple[str, ...]) -> str:
    """SQL: the latest of ``columns`` over a table's rows (NULLs ignored, as max ignores them); ``greatest`` only
    for two or more (Spark's needs two)."""
    maxima = [f'max("{c}")' for c in columns]
    return maxima[0] if len(maxima) == 1 else f"greatest({', '.join(maxima)})"


def first_copy_of_each_event(source: str) -> str:
    """SQL (any engine): ``source`` without repeated event_ids, keeping the copy that became known first.

    A late re-send must not rewrite what an earlier cutoff already saw, or training
    would disagree with what scoring used. Rows without an event_id are passed through
    apart: numbered together they would be one huge window partition (one Spark task).
    """
    columns = ", ".join(c.name for c in TABLES["events"].columns)
    return (f"SELECT {columns} FROM {source} WHERE event_id IS NULL UNION ALL "
            f"SELECT {columns} FROM (SELECT {columns}, row_number() OVER (PARTITION BY event_id ORDER BY "
            "greatest(occurred_at, coalesce(ingested_at, occurred_at)), occurred_at) AS _dup "
            f"FROM {source} WHERE event_id IS NOT NULL) AS numbered WHERE _dup = 1")


def connect(threads: int | None = None, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that reads and writes timestamps in UTC whatever the machine's zone."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    # spill files go to the system's temporary folder, never into the working directory
    spill = Path(tempfile.gettempdir()) / "leadscore-duckdb"
    con.execute(f"SET temp_directory = {sql_string(spill.as_posix())}")
    try:
        con.execute("SET enable_progress_bar = false")
    except duckdb.InvalidInputException:
        pass  # in a Jupyter kernel without ipywidgets DuckDB refuses to touch the setting; the bar is off there anyway
    con.execute("SET preserve_insertion_order = false")  # lets DuckDB stream large copies; we always ORDER BY
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute(f"SET memory_limit = '{_memory_size(memory_limit)}'")
    return con


def _memory_size(value: str) -> str:
    """A memory size for DuckDB's SET (which takes no bound parameters): refused unless it is one."""
    if not MEMORY_SIZE.fullmatch(str(value)):
        raise UserError(f"data.duckdb_memory_limit {value!r} is not a memory size; write e.g. 4GB or 512MiB")
    return str(value)


def release_memory(con: duckdb.DuckDBPyConnection, memory_limit: str | None = None) -> None:
    """Give the memory of dropped tables back to the operating system.

    DuckDB's allocator keeps freed buffers for reuse, so a process that goes on to work
    in pandas (the scorer: the model and SHAP over a million rows) would hold both.
    Lowering the memory limit makes DuckDB return them; then the limit ``connect`` set
    (``memory_limit``, or DuckDB's default when None) is put back.
    """
    con.execute("SET memory_limit = '64MB'")
    con.execute(f"SET memory_limit = '{_memory_size(memory_limit)}'" if memory_limit else "RESET memory_limit")


def find_files(directory: Path, table: str) -> list[Path]:
    """The files of ``table``: ``table.parquet``, ``table.csv``, or a folder of Parquet parts named ``table/``
    or ``table.parquet/`` (as Spark writes them). A link to nothing, or a folder without parts, is named
    as what it is rather than reported as a missing table."""
    found = []
    for path in (directory / f"{table}.parquet", directory / f"{table}.csv", directory / table):
        if path.is_symlink() and not path.exists():
            raise DataError(str(path), None, "broken link",
                            f"{path.name} is a link to {os.readlink(path)}, which does not exist",
                            "point the link at the exported file, or copy the file into the folder")
        if path.is_dir():
            if not any(path.glob("*.parquet")):
                raise DataError(str(path), None, "no parts", f"the folder {path.name}/ holds no .parquet files",
                                f"put the {table} table's Parquet parts in it, or remove the folder")
            found.append(path)
        elif path.is_file() and path.suffix in (".parquet", ".csv"):
            found.append(path)
    if len(found) > 1:
        raise DataError(
            str(directory), None, "ambiguous table",
            f"table '{table}' is given more than once: {', '.join(p.name for p in found)}",
            "keep exactly one file (or folder of Parquet parts) per table",
        )
    if not found:
        return []
    path = found[0]
    return sorted(path.glob("*.parquet")) if path.is_dir() else [path]


def open_tables(
    directory: str | Path,
    *,
    event_types: tuple[str, ...] | None = None,
    extra_lead_columns: tuple[str, ...] = (),
    require_deals: bool = False,
    con: duckdb.DuckDBPyConnection | None = None,
) -> DataTables:
    """Read every table in ``directory`` as a typed view, checking it can be read as the contract says.

    This is the reading gate: files present and readable (UTF-8), not empty, required
    columns present, physical types compatible, every value parsing as its type,
    timestamps either all naive or all with offsets. The content rules (not-null,
    unique, allowed values, cross-column and cross-table rules) are Great Expectations
    suites over these views: `pipelines.validation`. ``event_types`` is kept for
    callers that pass it; the vocabulary is checked there.

    ``extra_lead_columns`` are extra lead attributes that must exist. Raises `DataError`
    naming the first table that cannot be read, with the other tables' problems in
    ``others``.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(str(directory), None, "missing directory", "the data directory does not exist",
                        "pass the folder that holds leads, events, identities and deals files")
    con = con or connect()
    files, absent = read_each_table(
        str(directory), require_deals, lambda name: find_files(directory, name),
        lambda name, table, paths, extras: _create_view(con, table, paths, event_types, extras),
        extra_lead_columns, "{name}.parquet, {name}.csv or {name}/ folder of Parquet parts", "Parquet or CSV")
    tables = DataTables(con=con, directory=directory, files=files, extra_lead_columns=tuple(extra_lead_columns),
                        absent_extras=absent)
    tables.duplicate_events_dropped = _dedupe_events(con, files.get("events", []))
    return tables


def read_each_table(directory: str, require_deals: bool, find, open_view, extra_lead_columns, forms: str,
                    formats: str):
    """Open every table of the contract with ``open_view(name, table, paths, extras) -> absent extras``; return the
    files read and the extra lead attributes the export lacks.

    Every table is tried, so one run names every unreadable table: the first problem is raised with the
    others' in ``others``. A missing optional table is simply absent (deals are required to train). ``forms``
    says which files were looked for (``{name}`` for the table's name), ``formats`` in which formats to export.
    """
    files: dict[str, list] = {}
    problems: list[DataError] = []
    absent: dict[str, str] = {}
    for name, table in TABLES.items():
        try:
            paths = find(name)
            if not paths:
                if table.required or (name == "deals" and require_deals):
                    raise DataError(directory, None, "missing table",
                                    "no " + forms.format(name=name),
                                    f"export the {name} table into this folder as {formats} (see the data contract "
                                    "in the README)")
                continue
            absent |= open_view(name, table, paths, extra_lead_columns if name == "leads" else ())
            files[name] = paths
        except DataError as problem:
            problem.table = name
            problems.append(problem)
    if problems:
        raise problems[0].with_others(problems[1:])
    return files, absent


def _reader(paths: list[Path]) -> str:
    quoted = ", ".join(sql_path(p) for p in paths)
    if paths[0].suffix == ".csv":
        return f"read_csv([{quoted}], all_varchar = true, header = true)"
    return f"read_parquet([{quoted}])"


def _label(paths: list[Path]) -> str:
    return str(paths[0].parent) if len(paths) > 1 else str(paths[0])


def _create_view(con, table: Table, paths: list[Path], event_types, extras: tuple[str, ...]) -> dict[str, str]:
    """Create the table's typed view; return the configured extras the file lacks (read as empty, then left out
    of the features by the plan), each with what the file has instead."""
    label = _label(paths)
    raw = f"raw_{table.name}"
    try:
        con.execute(f"CREATE OR REPLACE VIEW {raw} AS SELECT * FROM {_reader(paths)}")
        schema = {row[0]: row[1] for row in con.execute(f"DESCRIBE {raw}").fetchall()}
        # For CSV read every column: DuckDB checks UTF-8 and line structure only in the columns a query reads,
        # beyond the sniffer's sample, so a bad byte in an unchecked text column would otherwise surface later.
        every_column = " WHERE hash(COLUMNS(*)) IS NOT NULL" if paths[0].suffix == ".csv" else ""
        rows = con.execute(f"SELECT count(*) FROM {raw}{every_column}").fetchall()[0][0] if schema else 0
    except duckdb.Error as error:
        raise _unreadable(label, error) from None
    if not schema or (rows == 0 and table.required):
        raise DataError(label, None, "empty file", "the file has no rows",
                        "check the export finished; a required table cannot be empty")
    selects = []
    for column in table.columns:
        if column.name not in schema:
            if column.present:
                raise missing_column(label, column, schema)
            selects.append(f'CAST(NULL AS {_SQL_TYPE[column.dtype]}) AS "{column.name}"')
            continue
        selects.append(f'{_typed(con, raw, label, column, schema[column.name])} AS "{column.name}"')  # e.g. "at"
    absent = {extra: absent_extra(extra, schema) for extra in extras if extra not in schema}
    selects += [f'CAST(NULL AS VARCHAR) AS "{e}"' if e in absent else f'"{e}"' for e in extras]
    sql = f"CREATE OR REPLACE VIEW {table.name} AS SELECT {', '.join(selects)} FROM {raw}"
    try:
        con.execute(sql)
    except duckdb.Error as error:
        raise _unreadable(label, error) from None
    return absent


def _typed(con, raw: str, label: str, column: Column, physical: str) -> str:
    """A SQL expression casting ``column`` to its contract type, after checking every value casts."""
    name = f'"{column.name}"'
    physical = physical.upper()
    if column.dtype == "string":
        return f"NULLIF(CAST({name} AS VARCHAR), '')" if physical == "VARCHAR" else f"CAST({name} AS VARCHAR)"
    if column.dtype == "timestamp":
        if physical.startswith("TIMESTAMP WITH TIME ZONE"):
            # the instant in UTC; plain arithmetic, where a cast goes through the time-zone library (6x slower)
            return f"make_timestamp(epoch_us({name}))"
        if physical.startswith("TIMESTAMP") or physical == "DATE":
            return f"CAST({name} AS TIMESTAMP)"
        if physical != "VARCHAR":
            raise wrong_type(label, column, physical)
        value = f"NULLIF(trim({name}), '')"
        cast = f"CAST(TRY_CAST({value} AS TIMESTAMPTZ) AS TIMESTAMP)"
        _check_casts(con, raw, label, column, value, cast)  # first, so junk is reported as junk, not as naive
        if _check_mixed_offsets(con, raw, label, column, value):  # values with a zone: a name may be ambiguous
            _check_local_times(con, raw, label, column, value)
        return cast
    sql_type = _SQL_TYPE[column.dtype]
    allowed = _INTEGER_TYPES if column.dtype == "integer" else _NUMBER_TYPES
    if column.dtype == "number" and (physical in _FLOAT_TYPES or physical.startswith("DECIMAL")):
        # NaN and infinity are refused as in CSV: NaN sorts above every number, so no range rule would catch it
        cast = f"CASE WHEN isfinite(CAST({name} AS DOUBLE)) THEN CAST({name} AS DOUBLE) END"
        _check_casts(con, raw, label, column, name, cast)
        return cast
    if physical in allowed:
        return f"CAST({name} AS {sql_type})"
    if physical == "DOUBLE" and column.dtype == "integer":
        # Parquet writers turn integer columns with nulls into floats; accept whole values only.
        value = name
        cast = f"CASE WHEN {name} = round({name}) THEN TRY_CAST({name} AS BIGINT) END"  # inf, 1e30: no error
        _check_casts(con, raw, label, column, value, cast)
        return cast
    if physical != "VARCHAR":
        raise wrong_type(label, column, physical)
    value = f"NULLIF(trim({name}), '')"
    cast = f"TRY_CAST({value} AS {sql_type})"
    if column.dtype == "number":
        cast = f"CASE WHEN isfinite({cast}) THEN {cast} END"
    else:  # a BIGINT cast rounds '1.5' to 2 and reads '0x10' as 16: accept whole decimal numbers only
        cast = f"CASE WHEN TRY_CAST({value} AS DOUBLE) = round(TRY_CAST({value} AS DOUBLE)) THEN {cast} END"
    _check_casts(con, raw, label, column, value, cast)
    return cast


def _check_casts(con, raw, label, column: Column, value: str, cast: str) -> None:
    bad = con.execute(
        f"SELECT count(*) FROM {raw} WHERE {value} IS NOT NULL AND ({cast}) IS NULL"
    ).fetchall()[0][0]
    if bad:
        samples = con.execute(
            f"SELECT n, v FROM (SELECT row_number() OVER () AS n, CAST({value} AS VARCHAR) AS v, ({cast}) AS c "
            f"FROM {raw}) WHERE v IS NOT NULL AND c IS NULL ORDER BY n LIMIT {SAMPLE_ROWS}"
        ).fetchall()
        kind = {"timestamp": "unparsable timestamp"}.get(column.dtype, f"not a valid {column.dtype}")
        raise DataError(
            label, column.name, kind,
            f"{bad} value(s) cannot be read as {column.dtype}",
            HOW_TO_FIX[column.dtype],
            [f"row {n}: {shown(v)}" for n, v in samples],
        )


def _check_mixed_offsets(con, raw, label, column: Column, value: str) -> int:
    """Refuse a column mixing naive values and values with a zone; return how many carry a zone."""
    aware, naive = con.execute(
        f"SELECT count(*) FILTER (WHERE regexp_matches({value}, '{_OFFSET_PATTERN}')), "
        f"count(*) FILTER (WHERE NOT regexp_matches({value}, '{_OFFSET_PATTERN}')) "
        f"FROM {raw} WHERE {value} IS NOT NULL"
    ).fetchall()[0]
    if aware and naive:
        samples = con.execute(
            f"SELECT n, v, regexp_matches(v, '{_OFFSET_PATTERN}') FROM (SELECT row_number() OVER () AS n, "
            f"{value} AS v FROM {raw}) WHERE v IS NOT NULL ORDER BY n LIMIT 200"
        ).fetchall()
        naive_rows = [f"row {n}: {shown(v)} (no offset)" for n, v, has in samples if not has][:3]
        aware_rows = [f"row {n}: {shown(v)} (with offset)" for n, v, has in samples if has][:2]
        raise DataError(
            label, column.name, "mixed naive and offset timestamps",
            f"{aware} value(s) carry a UTC offset and {naive} do not, so their meaning is ambiguous",
            "export every timestamp the same way, preferably in UTC with a 'Z' suffix",
            naive_rows + aware_rows,
        )
    return aware


# a local time followed by a zone name ('2025-03-30 02:30:00 Europe/Berlin'): the time, and the zone
_ZONED = r"^(.*[0-9])\s*([A-Za-z][A-Za-z_/+-]*)$"


def _check_local_times(con, raw, label, column: Column, value: str) -> None:
    """Refuse local times that their zone skips (spring forward) or repeats (fall back).

    DuckDB reads '2025-03-30 02:30 Europe/Berlin', an hour that never happened, as 01:30
    UTC, and picks one of the two instants of an hour that happened twice: a silent shift
    of an hour, across the cutoff for some rows. Only values with a zone name can be
    ambiguous; an offset (+01:00) or 'Z' says the instant exactly.
    """
    zoned = (f"(SELECT row_number() OVER () AS n, v, regexp_extract(v, '{_ZONED}', 2) AS zone, "
             f"TRY_CAST(regexp_extract(v, '{_ZONED}', 1) AS TIMESTAMP) AS local, TRY_CAST(v AS TIMESTAMPTZ) AS instant "
             f"FROM (SELECT {value} AS v FROM {raw}) WHERE v IS NOT NULL AND regexp_matches(v, '{_ZONED}') "
             f"AND upper(regexp_extract(v, '{_ZONED}', 2)) <> 'Z')")
    wrong = (f"SELECT n, v, timezone(zone, instant) <> local AS skipped FROM {zoned} WHERE local IS NOT NULL "
             f"AND (timezone(zone, instant) <> local OR timezone(zone, instant + INTERVAL 1 HOUR) = local "
             f"OR timezone(zone, instant - INTERVAL 1 HOUR) = local)")
    count = con.execute(f"SELECT count(*) FROM ({wrong})").fetchall()[0][0]
    if count:
        samples = con.execute(f"{wrong} ORDER BY n LIMIT {SAMPLE_ROWS}").fetchall()
        raise DataError(
            label, column.name, "local time not in its zone",
            f"{count} value(s) name a local time that their time zone skips (the spring-forward hour) or repeats "
            "(the fall-back hour), so the instant they mean is unknown",
            "export the UTC offset (2025-03-30T03:30:00+02:00) or UTC ('Z') instead of a zone name",
            [f"row {n}: {shown(v)} ({'never happened' if skipped else 'happened twice'})" for n, v, skipped in samples],
        )


def _dedupe_events(con, paths: list[Path]) -> int:
    """Drop repeated event_ids (re-sent webhooks, overlapping exports); return how many.

    The copy that became known first is kept: a late re-send must not rewrite what an
    earlier cutoff already saw, or training would disagree with what scoring used.
    """
    if not paths:
        return 0
    has_ids = con.execute("SELECT count(event_id) FROM events").fetchall()[0][0]
    if not has_ids:
        return 0
    duplicates = con.execute(
        "SELECT count(event_id) - count(DISTINCT event_id) FROM events"
    ).fetchall()[0][0]
    if duplicates:
        con.execute("ALTER VIEW events RENAME TO events_with_duplicates")
        con.execute(f"CREATE VIEW events AS {first_copy_of_each_event('events_with_duplicates')}")
    return duplicates


def missing_column(label, column: Column, schema: dict) -> DataError:
    return DataError(
        label, column.name, "missing column",
        f"the column is required by the data contract but the file has only: {', '.join(schema)}",
        f"add a '{column.name}' column of type {column.dtype}{_did_you_mean(column.name, schema)}",
    )


def absent_extra(name: str, schema: dict) -> str:
    """What to say of an extra lead attribute named in the settings that the leads file lacks."""
    return f"data.extra_lead_attributes names '{name}', which the file lacks{_did_you_mean(name, schema)}"


def _did_you_mean(name: str, schema: dict) -> str:
    close = difflib.get_close_matches(name, list(schema), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'? rename it to '{name}')" if close else ""


def wrong_type(label, column: Column, physical: str) -> DataError:
    return DataError(label, column.name, "wrong type",
                     f"expected {column.dtype}, the file stores {physical}", HOW_TO_FIX[column.dtype])


def _unreadable(label: str, error: Exception) -> DataError:
    text = str(error)
    if "unicode" in text.lower() or "utf-8" in text.lower():
        return DataError(label, None, "not UTF-8", text.splitlines()[0],
                         "re-export the file as UTF-8 (e.g. 'iconv -f latin1 -t utf-8')")
    return DataError(label, None, "unreadable file", text.splitlines()[0],
                     "check the file is a valid CSV with a header row, or a Parquet file")


def shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "...'"
