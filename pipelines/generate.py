"""Write a simulated export directory: the contract tables (leads, events, identities, deals, feedback) plus ``truth.parquet``.

The simulator yields whole accounts in chunks; each chunk is appended to the
Parquet files as row groups, so memory stays flat as the lead count grows. The
ground truth needs the data's extent (to lay out the same cutoff grid the
pipeline will), so it is computed after all events are written, from the compact
hidden state kept per chunk.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm import tqdm

from features.contract import HISTORY_STARTS, KNOWN_UP_TO, TABLES
from features.definitions import sql_path, sql_string, sql_timestamp
from features.errors import UserError
from features.oracle import stamped
from features.simulate import SimulationParams, simulate, truth
from features.spine import SpineSpec, cutoff_grid, monday_on_or_before
from features.store import as_of_sql

TABLE_NAMES = ("leads", "events", "identities", "deals", "feedback")


@dataclass(frozen=True)
class GenerationSummary:
    directory: Path
    rows: dict[str, int]
    data_start: datetime
    data_end: datetime
    cutoffs: list[datetime]
    score_date: datetime


def generate_world(name: str, out: str | Path, leads: int, seed: int, weeks: int, spine: SpineSpec,
                   start=None, overrides: dict | None = None, progress: bool = True,
                   as_of: date | None = None) -> GenerationSummary:
    """Write world ``name`` (features/worlds) into ``out``. ``overrides`` are the demo world's knobs; ``as_of``:
    the export as it stood at that day's 00:00 (`cut_to`), the way a weekly export grows."""
    summary = _generate_world(name, out, leads, seed, weeks, spine, start, overrides, progress)
    return summary if as_of is None else cut_to(summary, datetime.combine(as_of, time()), spine)


def cut_to(summary: GenerationSummary, moment: datetime, spine: SpineSpec) -> GenerationSummary:
    """The export of ``summary`` rewritten as it stood at ``moment``: each table keeps the rows known before it,
    and a row that changed later as it was (``features.store.as_of_sql``). ``truth.parquet`` is kept whole."""
    con = duckdb.connect()
    rows, last_seen = {}, None
    for name in TABLE_NAMES:
        path = summary.directory / f"{name}.parquet"
        if not path.exists():
            continue
        columns = pq.read_schema(path).names
        absent = "".join(f", CAST(NULL AS TIMESTAMP) AS {c.name}" for c in TABLES[name].columns
                         if c.dtype == "timestamp" and c.name not in columns)  # ingested_at: known when it happened
        con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT *{absent} FROM read_parquet({sql_path(path)})")
        tmp = path.with_name(f".{path.name}.cut")
        con.execute(f"COPY ({as_of_sql(name, columns, sql_timestamp(moment))}) TO {sql_string(str(tmp))} "
                    "(FORMAT PARQUET, COMPRESSION ZSTD)")
        os.replace(tmp, path)
        rows[name] = pq.read_metadata(path).num_rows
        for column in EXTENT_COLUMNS.get(name, ()):
            last_seen = _max(last_seen, pq.read_table(path, columns=[column])[column])
    if last_seen is None or last_seen < summary.data_start:
        raise UserError(f"generate.as_of {moment:%Y-%m-%d} is before the simulated history starts "
                        f"({summary.data_start:%Y-%m-%d}): choose a later day")
    return GenerationSummary(summary.directory, rows, summary.data_start, last_seen,
                             cutoff_grid(summary.data_start, last_seen, spine), monday_on_or_before(last_seen))


def _generate_world(name, out, leads, seed, weeks, spine, start, overrides, progress) -> GenerationSummary:
    from features.worlds import DEMO, world

    if name == DEMO:
        knobs = {k: tuple(v) if isinstance(v, list) else v for k, v in (overrides or {}).items()}
        params = SimulationParams(leads=leads, seed=seed, weeks=weeks, **({"start": start} if start else {}), **knobs)
        return generate(out, params, spine, progress=progress)
    if overrides:
        raise UserError(f"generate.world knobs are the demo world's; world {name!r} takes none")
    module = world(name)
    out = Path(out)
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        rows = module.generate(staging, leads=leads, seed=seed, weeks=weeks, horizon_days=spine.horizon_days,
                               **({"start": start} if start else {}))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    first_event, last_seen = None, None
    for name, columns in EXTENT_COLUMNS.items():
        path = staging / f"{name}.parquet"
        if path.exists():
            table = pq.read_table(path, columns=list(columns))
            first_event = _min(first_event, table[HISTORY_STARTS[1]]) if name == HISTORY_STARTS[0] else first_event
            for column in columns:
                last_seen = _max(last_seen, table[column])
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    return GenerationSummary(out, rows, first_event, last_seen, cutoff_grid(first_event, last_seen, spine),
                             monday_on_or_before(last_seen))


# the columns that say how far an export reaches (the pipeline's data end is the latest of them)
EXTENT_COLUMNS = KNOWN_UP_TO


def generate(out: str | Path, params: SimulationParams, spine: SpineSpec, chunk_leads: int = 100_000,
             progress: bool = True) -> GenerationSummary:
    """Simulate ``params`` into ``out``; written to a temporary folder and moved into place at the end."""
    out = Path(out)
    staging = out.with_name(f".{out.name}.partial")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    writers: dict[str, pq.ParquetWriter] = {}
    rows = dict.fromkeys(TABLE_NAMES, 0)
    hidden_chunks = []
    bar = tqdm(total=params.leads, unit="lead", desc="simulating", disable=not progress)
    try:
        return _generate(out, staging, params, spine, chunk_leads, progress, bar, writers, rows, hidden_chunks)
    except BaseException:
        for writer in writers.values():
            writer.close()
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _generate(out, staging, params, spine, chunk_leads, progress, bar, writers, rows, hidden_chunks):
    first_event, last_seen = None, None
    try:
        for chunk in simulate(params, chunk_leads=chunk_leads):
            for name in TABLE_NAMES:
                table: pa.Table = getattr(chunk, name)
                if name not in writers:
                    writers[name] = pq.ParquetWriter(staging / f"{name}.parquet", table.schema, compression="zstd")
                writers[name].write_table(table.cast(writers[name].schema), row_group_size=1_000_000)
                rows[name] += table.num_rows
            first_event = _min(first_event, getattr(chunk, HISTORY_STARTS[0])[HISTORY_STARTS[1]])
            for name, columns in EXTENT_COLUMNS.items():
                for column in columns if name in TABLE_NAMES else ():
                    last_seen = _max(last_seen, getattr(chunk, name)[column])
            hidden_chunks.append(chunk)
            chunk.events = chunk.leads = chunk.identities = chunk.feedback = None  # keep only what truth needs
            bar.update(len(chunk.hidden["leads"].lead_number))
    finally:
        bar.close()
        for writer in writers.values():
            writer.close()
    cutoffs = cutoff_grid(first_event, last_seen, spine)
    score_date = monday_on_or_before(last_seen)
    truth_cutoffs = sorted(set(cutoffs) | {score_date})
    truth_writer = None
    for chunk in tqdm(hidden_chunks, desc="ground truth", unit="chunk", disable=not progress):
        table = stamped(truth(chunk, params, truth_cutoffs, spine.horizon_days, spine.exclude_customers), spine.horizon_days)
        if table is not None:
            truth_writer = truth_writer or pq.ParquetWriter(staging / "truth.parquet", table.schema, compression="zstd")
            truth_writer.write_table(table)
    if truth_writer:
        truth_writer.close()
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    return GenerationSummary(out, rows, first_event, last_seen, cutoffs, score_date)


def _min(current, column: pa.ChunkedArray):
    value = pc.min(column).as_py()
    value = value.replace(tzinfo=None) if value else None
    return value if current is None or (value and value < current) else current


def _max(current, column: pa.ChunkedArray):
    value = pc.max(column).as_py()
    value = value.replace(tzinfo=None) if value else None
    return value if current is None or (value and value > current) else current
