"""Helpers that write a tiny, valid export (3 leads, 6 events, 1 identity, 2 deals, 2 lifecycle changes, 2 sales
dispositions) into a folder.

Tables are dicts of lists. Timestamps are written as ISO 8601 text to CSV and as real
Parquet timestamps (naive, i.e. UTC) to Parquet, so the two formats exercise different
read paths and must still agree.
"""

from __future__ import annotations

import copy
import csv
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

TINY: dict[str, dict[str, list]] = {
    "leads": {
        "lead_id": ["L1", "L2", "L3"],
        "created_at": [datetime(2025, 1, 1, 9, 0), datetime(2025, 1, 2, 10, 30), datetime(2025, 1, 3, 11, 0)],
        "account_id": ["A1", "A1", "A2"],
        "title": ["VP Marketing", "Data Engineer", None],
        "industry": ["software", "software", "retail"],
        "company_size": [250, 250, None],
        "country": ["DE", "DE", "US"],
        "lead_source": ["webinar", "organic", "paid"],
        "plan_tier": ["gold", "silver", "gold"],  # an extra attribute, passed through only when named
    },
    "events": {
        "event_id": ["E1", "E2", "E3", "E4", "E5", "E6"],
        "occurred_at": [
            datetime(2025, 1, 5, 8, 0), datetime(2025, 1, 5, 8, 5), datetime(2025, 1, 6, 12, 0),
            datetime(2025, 1, 7, 9, 0), datetime(2025, 1, 8, 14, 30), datetime(2025, 1, 9, 16, 45),
        ],
        "lead_id": ["L1", "L1", "L2", None, "L3", "L2"],
        "anonymous_id": [None, None, None, "anon-1", "anon-1", None],
        "event_type": ["page_view", "form_submit", "email_open", "page_view", "webinar_attend", "email_click"],
        "content_type": ["pricing", "demo_request", None, "blog", None, None],
        "content_id": ["p1", "f1", "m1", "b7", "w2", "m1"],
        "duration_s": [30.5, None, None, 12.0, 1800.0, None],
    },
    "identities": {
        "anonymous_id": ["anon-1"],
        "lead_id": ["L3"],
        "identified_at": [datetime(2025, 1, 8, 14, 0)],
    },
    "deals": {
        "deal_id": ["D1", "D2"],
        "lead_id": ["L1", "L2"],
        "account_id": ["A1", "A1"],
        "created_at": [datetime(2025, 1, 10, 12, 0), datetime(2025, 1, 12, 12, 0)],
        "closed_at": [datetime(2025, 2, 1, 17, 0), None],
        "status": ["won", "open"],
        "amount": [12000.0, None],
    },
    "lifecycle": {
        "lead_id": ["L1", "L2"],
        "status": ["mql", "sql"],
        "changed_at": [datetime(2025, 1, 4, 9, 0), datetime(2025, 1, 6, 9, 0)],
    },
    "feedback": {
        "lead_id": ["L1", "L3"],
        "at": [datetime(2025, 1, 9, 10, 0), datetime(2025, 1, 9, 11, 0)],
        "disposition": ["accepted", "rejected"],
        "reason": ["Demo booked", "No budget"],
    },
}


# the tiny export's own settings: the defaults (params.yaml's) name the demo's extra lead attributes, which it lacks
TINY_SETTINGS = {"data.extra_lead_attributes": [], "data.display_columns": []}


def tiny_tables() -> dict[str, dict[str, list]]:
    """A fresh deep copy of the tiny export, safe to modify in a test."""
    return copy.deepcopy(TINY)


def _csv_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def write_csv(path: Path, columns: dict[str, list]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(list(columns))
        for row in zip(*columns.values()):
            writer.writerow([_csv_text(v) for v in row])
    return path


def write_parquet(path: Path, columns: dict[str, list] | pa.Table) -> Path:
    table = columns if isinstance(columns, pa.Table) else pa.table(columns)
    pq.write_table(table, path)
    return path


def write_table(directory: Path, name: str, columns: dict[str, list] | pa.Table, fmt: str = "csv") -> Path:
    """Write one table as ``name.csv`` or ``name.parquet`` inside ``directory``."""
    path = directory / f"{name}.{fmt}"
    return write_csv(path, columns) if fmt == "csv" else write_parquet(path, columns)


def write_export(
    directory: Path,
    tables: dict[str, dict[str, list]] | None = None,
    fmt: str = "csv",
    skip: tuple[str, ...] = (),
) -> Path:
    """Write every table of ``tables`` (default: the tiny export) except those in ``skip``."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, columns in (tables if tables is not None else tiny_tables()).items():
        if name not in skip:
            write_table(directory, name, columns, fmt)
    return directory


@pytest.fixture
def tiny() -> dict[str, dict[str, list]]:
    return tiny_tables()

