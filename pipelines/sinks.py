"""Where weekly scores land: a database table (SQLite or PostgreSQL via SQLAlchemy) and a CRM-ready CSV.

Database write-back is one transaction per run: the run's ``as_of`` is locked, its
old rows deleted and the new ones inserted, so a re-run replaces rather than
duplicates, two runs for the same week serialise, and a failure part-way leaves
the table exactly as it was. Every attempt is recorded in ``score_runs``.

Schema (created if missing; columns the contract gained since are added by ``ensure_schema``):

``lead_scores`` -- primary key (as_of, lead_id): the columns of the output contract,
``pipelines/scores_contract.py``.

``score_runs`` -- primary key run_id: as_of, started_at, finished_at, status
(running / succeeded / failed), model_uri, model_version, data_digest, population,
rows_written, expected_wins, drift_warnings, error.

``list_outcomes`` -- primary key (as_of, tier): how a published list did once its outcomes
were known (``pipelines/list_outcomes.py``); a week's rows are replaced only by a
measurement that knew at least as much (``measured_at`` no earlier).
"""

from __future__ import annotations

import os
import zlib
from datetime import datetime, timedelta, timezone

import pandas as pd
from sqlalchemy import (
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from features.definitions import STAGE_LABELS
from features.errors import UserError
from pipelines.scores_contract import (
    CSV_DECIMALS,
    SCORE_COLUMNS,
    WEEKLY_SCORES,
    csv_columns,
)

METADATA = MetaData()
LEAD_SCORES = Table("lead_scores", METADATA, *(
    Column(c.name, c.type, primary_key=c.key, nullable=c.nullable) for c in WEEKLY_SCORES))
SCORE_RUNS = Table(
    "score_runs", METADATA,
    Column("run_id", String(64), primary_key=True),
    Column("as_of", DateTime, nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
    Column("status", String(16), nullable=False),
    Column("model_uri", Text),
    Column("model_version", String(64)),
    Column("model_run_id", String(64)),  # the MLflow run that trained the model version
    Column("data_digest", String(64)),
    Column("population", Integer),
    Column("rows_written", Integer),
    Column("expected_wins", Float),
    Column("drift_warnings", Integer),
    Column("error", Text),
)

LIST_OUTCOMES = Table(
    "list_outcomes", METADATA,
    Column("as_of", DateTime, primary_key=True),  # the published list's Monday
    Column("tier", String(1), primary_key=True),
    Column("leads", Integer, nullable=False),  # leads whose outcome is known
    Column("censored", Integer, nullable=False),  # leads with a deal still open: outcome not known yet
    Column("expected_wins", Float, nullable=False),  # the sum of the list's probabilities
    Column("actual_wins", Float, nullable=False),
    Column("win_rate", Float),
    Column("actual_over_expected", Float),
    Column("lift_over_rest", Float),  # the tier's win rate over the rest of that week's list
    Column("label", String(32), nullable=False),  # spine.label and horizon the outcome was measured with
    Column("horizon_days", Integer, nullable=False),
    Column("measured_at", DateTime, nullable=False),  # the deals as they stood then
)


def database_url(url: str | None, default: str) -> str:
    """The database a run writes to: ``url`` (--db), else $LEADSCORE_DB_URL, else the configured default."""
    return url or os.environ.get("LEADSCORE_DB_URL") or default


def engine_for(url: str | None, default: str) -> Engine:
    """An engine for ``url`` (or $LEADSCORE_DB_URL, or the default SQLite file); never echoes credentials.

    A URL that cannot be used (not a URL, a port that is not a number, a database whose
    driver is not installed) is the user's to fix, and says so without the URL's secrets.
    """
    url = database_url(url, default)
    try:
        parsed = make_url(url)
        if parsed.drivername.startswith("sqlite") and parsed.database and parsed.database != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(parsed.database)), exist_ok=True)
            return create_engine(url, connect_args={"timeout": 120})
        return create_engine(url, pool_pre_ping=True, hide_parameters=True)
    except (ArgumentError, ImportError, ValueError) as error:
        from pipelines.redaction import redact, scrub

        shown = redact(url) if "://" in url else "(not shown: it is not a URL of the form dialect://...)"
        reason = ("no driver for it is installed (leadscore ships SQLite and PostgreSQL: sqlite:///file.db, "
                  "postgresql://user@host/db; another database needs its SQLAlchemy driver installed)"
                  if isinstance(error, (ImportError, NoSuchModuleError)) else scrub(str(error), [url]))
        raise UserError(f"database URL {shown} cannot be used: {reason}; check score.db_url, $LEADSCORE_DB_URL "
                        "or --db") from None


def ensure_schema(engine: Engine) -> list[str]:
    """Create the tables if missing; add to an existing one the columns the contract has gained since it was made.

    A database written by an earlier version keeps its rows: a new nullable column is added
    empty (earlier weeks have no value for it). A new column that may not be empty cannot be
    added to rows that exist, so the run refuses with the statement to run by hand. Returns the
    columns added, for the run's record.
    """
    METADATA.create_all(engine)
    added = []
    with engine.begin() as conn:
        for table in METADATA.sorted_tables:
            present = {column["name"] for column in inspect(conn).get_columns(table.name)}
            for column in table.columns:
                if column.name in present:
                    continue
                kind = column.type.compile(dialect=conn.dialect)
                statement = f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'
                if not column.nullable:
                    raise UserError(f"the {table.name} table in this database predates column {column.name!r}, which "
                                    f"may not be empty; add it by hand ({statement} ... with a value for the existing "
                                    "rows), or score into a new database")
                conn.execute(text(statement))
                added.append(f"{table.name}.{column.name}")
    return added


def now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def start_run(engine: Engine, run: dict) -> None:
    with engine.begin() as conn:
        conn.execute(insert(SCORE_RUNS).values(**run, status="running", started_at=now()))


def mark_interrupted_runs(engine: Engine, older_than: timedelta) -> list[dict]:
    """Runs still ``running`` after ``older_than`` died (killed, or the machine stopped): mark them; return them.

    A run is far shorter than ``score.stale_run_hours``, so an older ``running`` row is a
    dead run, never a concurrent one. Its scores are one transaction: either none were
    kept, or (killed between the commit and the files' rename) all were, and only its CSV
    and report are missing; each returned run says which (``kept``), so that the week can
    be re-run (idempotent) to write them.
    """
    with engine.begin() as conn:
        stale = conn.execute(select(SCORE_RUNS.c.run_id, SCORE_RUNS.c.as_of).where(
            SCORE_RUNS.c.status == "running", SCORE_RUNS.c.started_at < now() - older_than)).all()
        died = []
        for run_id, as_of in stale:
            kept = conn.execute(select(LEAD_SCORES.c.run_id).where(LEAD_SCORES.c.run_id == run_id).limit(1)).first()
            error = (f"the process ended after its scores were committed, before its CSV and report were in place: "
                     f"re-run the week (leadscore score --as-of {as_of:%Y-%m-%d}) to write them" if kept else
                     "the process ended before the run finished (killed, or the machine stopped); none of its "
                     "scores were kept")
            conn.execute(update(SCORE_RUNS).where(SCORE_RUNS.c.run_id == run_id)
                         .values(status="interrupted", finished_at=now(), error=error))
            died.append({"run_id": run_id, "as_of": as_of, "kept": kept is not None, "error": error})
        return died


def finish_run(engine: Engine, run_id: str, status: str, **fields) -> None:
    with engine.begin() as conn:
        conn.execute(update(SCORE_RUNS).where(SCORE_RUNS.c.run_id == run_id)
                     .values(status=status, finished_at=now(), **fields))


def previous_scores(engine: Engine, as_of: datetime) -> pd.DataFrame:
    """The latest earlier week's scores, for 'what changed since last week'."""
    with engine.connect() as conn:
        last = conn.execute(select(LEAD_SCORES.c.as_of).where(LEAD_SCORES.c.as_of < as_of)
                            .order_by(LEAD_SCORES.c.as_of.desc()).limit(1)).scalar()
        if last is None:
            return pd.DataFrame(columns=["lead_id", "probability", "tier", "as_of"])
        rows = conn.execute(select(LEAD_SCORES.c.lead_id, LEAD_SCORES.c.probability, LEAD_SCORES.c.tier,
                                   LEAD_SCORES.c.as_of).where(LEAD_SCORES.c.as_of == last)).fetchall()
    return pd.DataFrame(rows, columns=["lead_id", "probability", "tier", "as_of"])


def replace_week(engine: Engine, as_of: datetime, scores: pd.DataFrame, batch: int = 20_000) -> int:
    """Replace every row of ``as_of`` with ``scores`` in one transaction; return rows written."""
    columns = _columns(scores)
    with engine.begin() as conn:
        _lock_week(conn, as_of)
        conn.execute(delete(LEAD_SCORES).where(LEAD_SCORES.c.as_of == as_of))
        insert_rows = _bulk_insert(conn)
        written = 0
        for start in range(0, len(scores), batch):
            written += insert_rows([column[start:start + batch] for column in columns])
            after_batch(written)
    after_batch(written, committed=True)
    return written


def _bulk_insert(conn):
    """A function inserting a batch of rows (given as columns of bound values) within ``conn``'s transaction.

    SQLite gets the driver's ``executemany`` with plain tuples (an order of magnitude
    faster than going through the ORM-less Core insert with dicts); other databases
    get SQLAlchemy's batched multi-row inserts.
    """
    names = ", ".join(f'"{c}"' for c in SCORE_COLUMNS)
    if conn.dialect.name == "sqlite":
        sql = f"INSERT INTO lead_scores ({names}) VALUES ({', '.join('?' for _ in SCORE_COLUMNS)})"
        # the dialect's own conversions (e.g. how SQLite stores a DateTime), so rows read back as Core wrote them
        processors = [LEAD_SCORES.c[c].type.dialect_impl(conn.dialect).bind_processor(conn.dialect) for c in SCORE_COLUMNS]

        def insert_rows(columns):
            columns = [column if bind is None else [None if v is None else bind(v) for v in column]
                       for column, bind in zip(columns, processors)]
            rows = list(zip(*columns))
            conn.exec_driver_sql(sql, rows)
            return len(rows)
    else:
        def insert_rows(columns):
            rows = [dict(zip(SCORE_COLUMNS, values)) for values in zip(*columns)]
            conn.execute(insert(LEAD_SCORES), rows)
            return len(rows)
    return insert_rows


def after_batch(written: int, committed: bool = False) -> None:
    """The fault tests' seam: called after each batch of rows is inserted (uncommitted), and once after the commit.

    It does nothing in a real run. The tests replace it to fail a write part-way (the rollback
    test) or to hold a real ``leadscore score`` process at a chosen point so it can be killed
    (``tests/fault_runner.py``); nothing in the package reads an environment variable for it.
    """


def _lock_week(conn, as_of: datetime) -> None:
    """Serialise writers of one week: PostgreSQL advisory lock; SQLite takes its write lock up front."""
    if conn.dialect.name == "postgresql":
        key = zlib.crc32(f"leadscore:{as_of.isoformat()}".encode())
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    elif conn.dialect.name == "sqlite":
        conn.execute(text("DELETE FROM lead_scores WHERE 0"))  # acquires the write lock before reading anything


def _columns(scores: pd.DataFrame) -> list[list]:
    """The score table's columns as Python lists ready to bind: None for missing (never NaN, which
    PostgreSQL would store as NaN), plain int/float/bool/datetime rather than numpy scalars."""
    out = []
    for column in SCORE_COLUMNS:
        series = scores[column]
        missing = series.isna().to_numpy()
        if column == "as_of":
            values = list(pd.to_datetime(series).dt.to_pydatetime())
        elif column == "rank":
            values = series.fillna(0).astype("int64").tolist()
        elif column == "new_in_top_tier":
            values = series.fillna(False).astype(bool).tolist()
        elif isinstance(LEAD_SCORES.c[column].type, Float):
            values = series.astype(float).fillna(0.0).tolist()
        else:
            values = series.astype(object).tolist()
        out.append([None if gone else value for value, gone in zip(values, missing)] if missing.any() else values)
    return out


def read_week(engine: Engine, as_of: datetime) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(select(LEAD_SCORES).where(LEAD_SCORES.c.as_of == as_of).order_by(LEAD_SCORES.c.rank))
        frame = pd.DataFrame(rows.fetchall(), columns=SCORE_COLUMNS)
    # numbers stay numbers even when a column is all NULL (the first week has no score_delta)
    numeric = [c.name for c in LEAD_SCORES.columns if isinstance(c.type, Float)]
    return frame.astype({name: float for name in numeric})


def published_weeks(engine: Engine) -> list[datetime]:
    with engine.connect() as conn:
        return [row[0] for row in conn.execute(select(LEAD_SCORES.c.as_of).distinct().order_by(LEAD_SCORES.c.as_of))]


def read_list(engine: Engine, as_of: datetime) -> pd.DataFrame:
    """What a published week said of each lead: (lead_id, tier, probability)."""
    with engine.connect() as conn:
        rows = conn.execute(select(LEAD_SCORES.c.lead_id, LEAD_SCORES.c.tier, LEAD_SCORES.c.probability)
                            .where(LEAD_SCORES.c.as_of == as_of)).fetchall()
    return pd.DataFrame(rows, columns=["lead_id", "tier", "probability"]).astype({"probability": float})


def read_outcomes(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(select(LIST_OUTCOMES).order_by(LIST_OUTCOMES.c.as_of, LIST_OUTCOMES.c.tier)).fetchall()
    frame = pd.DataFrame(rows, columns=[c.name for c in LIST_OUTCOMES.columns])
    numeric = [c.name for c in LIST_OUTCOMES.columns if isinstance(c.type, Float)]
    return frame.astype({name: float for name in numeric})


def write_outcomes(engine: Engine, outcomes: pd.DataFrame) -> int:
    """Replace the rows of each week in ``outcomes`` unless the stored ones were measured later; return the weeks
    written. One transaction: re-running a measurement changes nothing; an older one never overwrites a newer."""
    if outcomes.empty:
        return 0
    written = 0
    with engine.begin() as conn:
        for as_of, week in outcomes.groupby("as_of", sort=True):
            as_of = pd.Timestamp(as_of).to_pydatetime()
            measured = pd.Timestamp(week["measured_at"].iloc[0]).to_pydatetime()
            stored = conn.execute(select(LIST_OUTCOMES.c.measured_at).where(LIST_OUTCOMES.c.as_of == as_of)).scalar()
            if stored is not None and stored > measured:
                continue
            conn.execute(delete(LIST_OUTCOMES).where(LIST_OUTCOMES.c.as_of == as_of))
            records = week.assign(as_of=as_of, measured_at=measured).astype(object)
            records = records.where(records.notna(), None).to_dict("records")
            conn.execute(insert(LIST_OUTCOMES), [{c.name: r[c.name] for c in LIST_OUTCOMES.columns} for r in records])
            written += 1
    return written


def read_runs(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(select(SCORE_RUNS).order_by(SCORE_RUNS.c.started_at))
        return pd.DataFrame(rows.fetchall(), columns=[c.name for c in SCORE_RUNS.columns])


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

def neutralise(value):
    """Text a spreadsheet would run as a formula gets a leading apostrophe (OWASP CSV injection advice)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def write_parquet(scores: pd.DataFrame, path) -> None:
    """The scored week as Parquet, every column of ``lead_scores``, for a lakehouse to pick up."""
    scores[SCORE_COLUMNS].to_parquet(path, index=False, compression="zstd")


def write_csv(scores: pd.DataFrame, path, bom: bool = False, display: tuple[str, ...] = (), sources=()) -> None:
    """The week for a CRM or a spreadsheet: dates as YYYY-MM-DD, numbers rounded as the contract says, true/false,
    the stage labels the report uses, formula-like text neutralised. ``bom`` (``score.csv_bom``) starts the file
    with a UTF-8 byte-order mark, which spreadsheet tools need to read names with accents as UTF-8. ``display``:
    the display columns of ``scores`` (present in the export), each a column after lead_id; ``sources``: the
    optional tables the export has, whose columns the CSV then carries."""
    frame = scores[csv_columns(display, sources)].copy()
    frame["as_of"] = pd.to_datetime(frame["as_of"]).dt.strftime("%Y-%m-%d")
    if "sales_feedback_at" in frame:
        frame["sales_feedback_at"] = pd.to_datetime(frame["sales_feedback_at"]).dt.strftime("%Y-%m-%d %H:%M")
    frame["journey_stage"] = frame["journey_stage"].map(STAGE_LABELS).fillna(frame["journey_stage"])
    frame["new_in_top_tier"] = frame["new_in_top_tier"].map({True: "true", False: "false"})
    for column in frame.columns:
        if frame[column].dtype == object or pd.api.types.is_string_dtype(frame[column]):
            frame[column] = frame[column].map(neutralise)
    for column, places in CSV_DECIMALS.items():
        frame[column] = pd.to_numeric(frame[column], errors="coerce").round(places) + 0.0  # + 0.0: no "-0.0"
    # CRLF line ends (RFC 4180) make the writer quote any CR inside a value, so no cell can spill into a new row
    frame.to_csv(path, index=False, encoding="utf-8-sig" if bom else "utf-8", lineterminator="\r\n")
