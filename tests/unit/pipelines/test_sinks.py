"""Where scores land: ``replace_week`` (one transaction, per-week lock), the CRM CSV, credentials in URLs.

Every database test runs twice: on a SQLite file in ``tmp_path`` and on a throwaway
PostgreSQL server (``tests/postgres.py``; skipped without ``initdb`` unless $CI is set).
"""

from __future__ import annotations

import csv
import io
import json
import threading
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import IntegrityError

from features.errors import UserError
from pipelines import sinks
from pipelines.scores_contract import CSV_COLUMNS
from tests.fault_runner import fail_after
from tests.postgres import throwaway_postgres

WEEK = datetime(2025, 3, 3)
EARLIER = datetime(2025, 2, 24)


@pytest.fixture(scope="module")
def _postgres_server():
    with throwaway_postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'scores.db'}"
    return request.getfixturevalue("_postgres_server")


@pytest.fixture
def engine(db_url):
    engine = sinks.engine_for(db_url, "sqlite:///unused.db")
    sinks.ensure_schema(engine)
    with engine.begin() as conn:  # the PostgreSQL server is shared by the module's tests: start empty
        conn.execute(sinks.LEAD_SCORES.delete())
        conn.execute(sinks.SCORE_RUNS.delete())
    yield engine
    engine.dispose()


def make_scores(as_of: datetime, n: int = 50, run_id: str = "run-1", seed: int = 0) -> pd.DataFrame:
    """A scored week shaped like ``pipelines.score`` output (every lead_scores column)."""
    rng = np.random.default_rng(seed)
    probability = np.sort(rng.uniform(0.0, 0.5, n))[::-1]
    rank = np.arange(1, n + 1)
    frame = pd.DataFrame({
        "as_of": as_of,
        "lead_id": [f"L{i:05d}" for i in range(n)],
        "account_id": [f"A{i % 7}" if i % 5 else None for i in range(n)],
        "probability": probability,
        "rank": rank,
        "percentile": np.round(100.0 * (1 - (rank - 1) / n), 2),
        "tier": np.select([rank <= 5, rank <= 15, rank <= 30], ["A", "B", "C"], "D"),
        "fit_score": rng.uniform(0, 100, n).round(1),
        "engagement_score": rng.uniform(0, 100, n).round(1),
        "grade": ["B2"] * n,
        "journey_stage": ["engaged"] * n,
        "reasons": ["viewed pricing 3 times in the last 30 days"] * n,
        "main_negative": [""] * n,
        "previous_probability": [np.nan if i % 3 == 0 else 0.1 for i in range(n)],
        "score_delta": [np.nan if i % 3 == 0 else probability[i] - 0.1 for i in range(n)],
        "previous_tier": [None if i % 3 == 0 else "C" for i in range(n)],
        "tier_change": ["new" if i % 3 == 0 else "same" for i in range(n)],
        "new_in_top_tier": [i < 5 for i in range(n)],
        "sales_feedback": ["Rejected" if i % 4 == 0 else None for i in range(n)],
        "sales_feedback_at": [as_of - timedelta(days=2) if i % 4 == 0 else None for i in range(n)],
        "sales_feedback_reason": ["No budget, 'really'" if i % 8 == 0 else None for i in range(n)],
        "display": [json.dumps({"full_name": f"Zoë {i}"}, ensure_ascii=False) for i in range(n)],
        "model_version": "3",
        "model_run_id": "mlflow-run-3",
        "run_id": run_id,
    })
    return frame


def contents(engine) -> list[tuple]:
    """The whole lead_scores table, in a stable order."""
    with engine.connect() as conn:
        rows = conn.execute(select(sinks.LEAD_SCORES).order_by(sinks.LEAD_SCORES.c.as_of, sinks.LEAD_SCORES.c.lead_id))
        return [tuple(r) for r in rows]


def count(engine, as_of: datetime | None = None, where=None) -> int:
    table = sinks.LEAD_SCORES
    query = select(func.count()).select_from(table)
    if as_of is not None:
        query = query.where(table.c.as_of == as_of)
    if where is not None:
        query = query.where(where)
    with engine.connect() as conn:
        return conn.execute(query).scalar()


def test_replace_week_writes_every_row_with_its_values(engine):
    scores = make_scores(WEEK)
    assert sinks.replace_week(engine, WEEK, scores) == len(scores)
    back = sinks.read_week(engine, WEEK)
    assert len(back) == len(scores) == count(engine)
    assert list(back["lead_id"]) == list(scores["lead_id"])
    assert list(back["rank"]) == list(range(1, len(scores) + 1))
    np.testing.assert_allclose(back["probability"].astype(float), scores["probability"])
    assert list(back["tier"]) == list(scores["tier"])
    assert back["previous_probability"].isna().sum() == scores["previous_probability"].isna().sum()
    assert pd.isna(back.loc[0, "account_id"]) and back.loc[1, "account_id"] == "A1"
    assert back["new_in_top_tier"].map(bool).tolist() == scores["new_in_top_tier"].tolist()
    assert pd.Timestamp(back.loc[0, "as_of"]) == pd.Timestamp(WEEK)


def test_missing_values_are_stored_as_sql_null_not_nan(engine):
    scores = make_scores(WEEK, n=30)
    sinks.replace_week(engine, WEEK, scores)
    missing = int(scores["previous_probability"].isna().sum())
    assert missing == 10
    table = sinks.LEAD_SCORES
    assert count(engine, where=table.c.previous_probability.is_(None)) == missing
    assert count(engine, where=table.c.score_delta.is_(None)) == missing
    assert count(engine, where=table.c.previous_tier.is_(None)) == missing
    assert count(engine, where=table.c.account_id.is_(None)) == 6
    # NaN would sort above every number in PostgreSQL and break "biggest movers" queries
    with engine.connect() as conn:
        top = conn.execute(select(table.c.score_delta).where(table.c.score_delta.is_not(None))
                           .order_by(table.c.score_delta.desc()).limit(1)).scalar()
    assert top == pytest.approx(scores["score_delta"].max())


def test_rerun_of_the_same_week_replaces_and_keeps_other_weeks(engine):
    sinks.replace_week(engine, EARLIER, make_scores(EARLIER, n=40, run_id="early"))
    sinks.replace_week(engine, WEEK, make_scores(WEEK, n=50, run_id="first"))
    sinks.replace_week(engine, WEEK, make_scores(WEEK, n=30, run_id="second", seed=1))
    assert count(engine, WEEK) == 30
    assert count(engine, EARLIER) == 40
    assert set(sinks.read_week(engine, WEEK)["run_id"]) == {"second"}
    assert set(sinks.read_week(engine, EARLIER)["run_id"]) == {"early"}


def test_lead_scores_primary_key_is_week_and_lead(engine):
    assert inspect(engine).get_pk_constraint("lead_scores")["constrained_columns"] == ["as_of", "lead_id"]
    duplicated = pd.concat([make_scores(WEEK, n=3), make_scores(WEEK, n=3)], ignore_index=True)
    with pytest.raises(IntegrityError):
        sinks.replace_week(engine, WEEK, duplicated)
    assert count(engine) == 0


def test_injected_failure_mid_write_rolls_back_everything(engine, monkeypatch):
    sinks.replace_week(engine, EARLIER, make_scores(EARLIER, n=40, run_id="early"))
    sinks.replace_week(engine, WEEK, make_scores(WEEK, n=25, run_id="old"))
    before = contents(engine)
    assert len(before) == 65
    monkeypatch.setattr(sinks, "after_batch", fail_after(20))
    with pytest.raises(RuntimeError, match="injected failure after 20 rows"):
        sinks.replace_week(engine, WEEK, make_scores(WEEK, n=50, run_id="new", seed=2), batch=10)
    assert contents(engine) == before
    # the same for a week that had no rows yet
    monkeypatch.setattr(sinks, "after_batch", fail_after(7))
    with pytest.raises(RuntimeError):
        sinks.replace_week(engine, datetime(2025, 3, 10), make_scores(datetime(2025, 3, 10)), batch=7)
    assert contents(engine) == before


def test_two_concurrent_runs_for_one_week_leave_exactly_one_copy(engine):
    sinks.replace_week(engine, WEEK, make_scores(WEEK, n=50, run_id="old"))
    frames = {name: make_scores(WEEK, n=400, run_id=name, seed=i) for i, name in enumerate(("left", "right"))}
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []
    written: dict[str, int] = {}

    def write(name: str) -> None:
        try:
            barrier.wait(timeout=30)
            written[name] = sinks.replace_week(engine, WEEK, frames[name], batch=50)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(name,)) for name in frames]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "replace_week deadlocked"
    assert not errors, errors
    assert written == {"left": 400, "right": 400}
    week = sinks.read_week(engine, WEEK)
    assert len(week) == 400 and week["lead_id"].is_unique
    assert week["run_id"].nunique() == 1 and week["run_id"].iloc[0] in frames


def test_run_log_records_start_and_finish(engine):
    sinks.start_run(engine, {"run_id": "r1", "as_of": WEEK, "model_uri": "models:/x@champion", "data_digest": "abc"})
    sinks.finish_run(engine, "r1", "failed", error="RuntimeError: boom")
    runs = sinks.read_runs(engine)
    assert runs[["run_id", "status", "error"]].values.tolist() == [["r1", "failed", "RuntimeError: boom"]]
    assert runs.loc[0, "finished_at"] >= runs.loc[0, "started_at"]


def test_runs_that_died_are_marked_interrupted_and_a_live_one_is_not(engine):
    from datetime import timedelta

    from sqlalchemy import update

    run = {"as_of": WEEK, "model_uri": "models:/x@champion", "data_digest": "abc"}
    for run_id in ("dead", "alive", "done"):
        sinks.start_run(engine, {"run_id": run_id, **run})
    sinks.finish_run(engine, "done", "succeeded")
    with engine.begin() as conn:  # killed seven hours ago; the other two are older than that too, but finished or live
        conn.execute(update(sinks.SCORE_RUNS).where(sinks.SCORE_RUNS.c.run_id.in_(["dead", "done"]))
                     .values(started_at=sinks.now() - timedelta(hours=7)))
    died = sinks.mark_interrupted_runs(engine, timedelta(hours=6))
    assert [(d["run_id"], d["kept"]) for d in died] == [("dead", False)]
    runs = sinks.read_runs(engine).set_index("run_id")
    assert runs.loc["dead", "status"] == "interrupted" and "none of its scores" in runs.loc["dead", "error"]
    assert runs.loc["alive", "status"] == "running" and runs.loc["done", "status"] == "succeeded"
    assert sinks.mark_interrupted_runs(engine, timedelta(hours=6)) == []  # idempotent


def test_a_run_killed_after_its_commit_is_marked_with_the_week_to_re_run(engine):
    from datetime import timedelta

    from sqlalchemy import update

    sinks.start_run(engine, {"run_id": "run-1", "as_of": WEEK, "model_uri": "models:/x@champion", "data_digest": "a"})
    sinks.replace_week(engine, WEEK, make_scores(WEEK, n=20, run_id="run-1"))  # committed; then the process died
    with engine.begin() as conn:
        conn.execute(update(sinks.SCORE_RUNS).values(started_at=sinks.now() - timedelta(hours=7)))
    [died] = sinks.mark_interrupted_runs(engine, timedelta(hours=6))
    assert died["kept"] and "--as-of 2025-03-03" in died["error"] and "CSV and report" in died["error"]
    assert len(sinks.read_week(engine, WEEK)) == 20  # the committed week is left as it is


@pytest.mark.parametrize("value", ["=1+1", "=HYPERLINK(\"http://x\",\"y\")", "+1", "-1+2", "@SUM(A1)", "\tx", "\rx",
                                   "=cmd|' /C calc'!A0"])
def test_neutralise_prefixes_formula_starts_with_an_apostrophe(value):
    assert sinks.neutralise(value) == "'" + value


@pytest.mark.parametrize("value", ["viewed pricing 3 times", "L00001", "", "a=b", "x-1", "50% of emails", "'quoted"])
def test_neutralise_leaves_ordinary_text_alone(value):
    assert sinks.neutralise(value) == value


@pytest.mark.parametrize("value", [None, 3, -1.5, np.nan])
def test_neutralise_leaves_non_text_alone(value):
    out = sinks.neutralise(value)
    assert out is value


def test_write_csv_neutralises_every_text_column(tmp_path):
    scores = make_scores(WEEK, n=6)
    hostile = ["=cmd|' /C calc'!A0", "+SUM(1)", "-2+3", "@foo", "\tTAB", "=1+1"]
    scores["lead_id"] = hostile
    scores["account_id"] = [f"=A{i}" for i in range(6)]
    scores["reasons"] = ["=HYPERLINK(\"http://evil\",\"x\")"] + ["viewed pricing 3 times in the last 30 days"] * 5
    scores["main_negative"] = ["@bad", "", None, "no demo_request events", "+x", "fine"]
    scores["sales_feedback_reason"] = ["=2+5", None, "-no budget", "fine", "@x", "+1"]  # what sales typed
    path = tmp_path / "scores.csv"
    sinks.write_csv(scores, path, sources=("feedback",))
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == CSV_COLUMNS
    assert [r["lead_id"] for r in rows] == ["'" + v for v in hostile]
    assert [r["account_id"] for r in rows] == [f"'=A{i}" for i in range(6)]
    assert rows[0]["reasons"].startswith("'=HYPERLINK")
    assert rows[1]["reasons"] == "viewed pricing 3 times in the last 30 days"
    assert [r["main_negative"] for r in rows] == ["'@bad", "", "", "no demo_request events", "'+x", "fine"]
    assert [r["sales_feedback_reason"] for r in rows] == ["'=2+5", "", "'-no budget", "fine", "'@x", "'+1"]
    text_columns = [c for c in CSV_COLUMNS if c not in ("probability", "rank", "percentile", "fit_score",
                                                             "engagement_score", "score_delta")]
    for row in rows:
        for column in text_columns:
            assert not row[column].startswith(sinks.FORMULA_PREFIXES), (column, row[column])
    assert rows[0]["as_of"] == "2025-03-03"


def test_redact_hides_the_password():
    from pipelines.redaction import redact

    shown = redact("postgresql://u:secret@h/db")
    assert "secret" not in shown
    assert "h/db" in shown and shown.startswith("postgresql://u")
    assert "secret" not in redact("postgresql+psycopg2://u:secret@h:5432/db?sslmode=require")


def test_engine_for_does_not_echo_the_password():
    engine = sinks.engine_for("postgresql+psycopg2://u:secret@localhost:1/db", "sqlite:///unused.db")
    assert "secret" not in str(engine.url) and "secret" not in repr(engine)
    engine.dispose()


def spreadsheet_rows(raw: str) -> list[str]:
    """Rows as a spreadsheet splits them: any CR, LF or CRLF outside double quotes ends a row."""
    rows, current, quoted, i = [], [], False, 0
    while i < len(raw):
        c = raw[i]
        if c == '"':
            quoted = not quoted
        if c in "\r\n" and not quoted:
            rows.append("".join(current))
            current = []
            i += 2 if raw[i:i + 2] == "\r\n" else 1
            continue
        current.append(c)
        i += 1
    if current:
        rows.append("".join(current))
    return rows


def test_write_csv_keeps_carriage_returns_inside_their_cell(tmp_path):
    scores = make_scores(WEEK, n=3)
    scores["lead_id"] = ["\r=1+1", "L1\r=HYPERLINK(\"http://evil\")", "L2"]
    path = tmp_path / "scores.csv"
    sinks.write_csv(scores, path)
    rows = spreadsheet_rows(path.read_text(encoding="utf-8"))
    assert len(rows) == 4, rows
    assert not any(row.startswith(sinks.FORMULA_PREFIXES) for row in rows), rows
    with path.open(newline="", encoding="utf-8") as handle:
        assert [r[1] for r in list(csv.reader(handle))[1:]] == ["'\r=1+1", "L1\r=HYPERLINK(\"http://evil\")", "L2"]


@pytest.mark.parametrize("url, secret", [
    ("postgresql://u:S3cr3t@h/db", "S3cr3t"),
    ("postgresql+psycopg2://u@127.0.0.1:5432/db?password=S3cr3t", "S3cr3t"),
    ("postgresql+psycopg2://u@127.0.0.1:5432/db?sslmode=require&sslpassword=S3cr3t&application_name=x", "S3cr3t"),
    ("postgresql://u:ss#w0rd-XYZ@127.0.0.1/db", "w0rd-XYZ"),       # an unencoded '#'
    ("postgresql://u:p@ss#w0rd-XYZ@127.0.0.1/db", "w0rd-XYZ"),     # and '@': a parser would take it for the host
    ("postgresql://u:pa%40ss@h:5432/db", "pa%40ss"),               # encoded
    ("postgresql://h/db?user=u&password=S3cr3t&token=T0k", "S3cr3t"),
    ("http://admin:S3cr3t@mlflow.internal:5000", "S3cr3t"),
])
def test_redact_hides_every_password_shape(url, secret):
    from pipelines.redaction import redact

    shown = redact(url)
    assert secret not in shown and "ss#w0rd" not in shown and "T0k" not in shown, shown
    assert shown.split("://")[0] == url.split("://")[0]


def test_score_names_the_database_it_wrote_to_even_when_the_environment_chose_it(monkeypatch):
    monkeypatch.setenv("LEADSCORE_DB_URL", "postgresql://u:S3cr3t@db.internal/leads")
    from pipelines.redaction import redact

    chosen = sinks.database_url(None, "sqlite:///out/leadscore.db")
    assert redact(chosen) == "postgresql://u:***@db.internal/leads"
    assert sinks.database_url("sqlite:///given.db", "sqlite:///out/leadscore.db") == "sqlite:///given.db"


@pytest.mark.parametrize("url, shown_by_the_driver", [
    ("postgresql+psycopg2://u:p@ss#w0rd-XYZ@127.0.0.1:5432/db", 'could not translate host name "ss#w0rd-XYZ@127.0.0.1"'),
    ("postgresql://u:S3cr3t/x:y@h/db", "invalid port 'S3cr3t/x'"),
    ("postgresql://u@h/db?password=Sup3r%Secret&sslmode=require", "password=Sup3r%Secret rejected"),
    ("postgresql://u:Pa:ss:w0rd@h/db", "FATAL: password authentication failed (Pa:ss:w0rd)"),
])
def test_scrub_removes_every_piece_of_a_password_a_driver_echoes(url, shown_by_the_driver):
    from pipelines.redaction import scrub, url_secrets

    cleaned = scrub(f"error: database: {shown_by_the_driver}", [url, None])
    for secret in url_secrets(url):
        for piece in {secret, *secret.replace("#", "@").replace(":", "@").replace("/", "@").split("@")}:
            if len(piece) >= 4:
                assert piece not in cleaned, (piece, cleaned)
    assert cleaned.startswith("error: database: ")


def test_the_cli_scrubs_a_password_fragment_from_a_driver_error(monkeypatch, capsys):
    import sqlalchemy.exc
    import typer

    from pipelines.cli import user_errors

    url = "postgresql+psycopg2://u:p@ss#w0rd-XYZ@127.0.0.1:5432/db"
    monkeypatch.setattr("sys.argv", ["leadscore", "score", "data", "--db", url])

    @user_errors
    def command(**kwargs):
        raise sqlalchemy.exc.OperationalError("connect", {}, Exception(
            'could not translate host name "ss#w0rd-XYZ@127.0.0.1" to address'))

    with pytest.raises(typer.Exit) as exit_:
        command(db=url)
    assert exit_.value.exit_code == 2
    err = capsys.readouterr().err
    assert "w0rd-XYZ" not in err and "could not translate host name" in err


@pytest.mark.parametrize("value, says", [
    ("09-11-2026", "not an ISO date"),          # month or day first? refused, not guessed
    ("2026/11/09", "not an ISO date"),
    ("2026-11-09T00:00", "not an ISO date"),
    ("2026-02-30", "not a date of the calendar"),
    ("2026-11-08", "is a Sunday"),              # the day before a Monday
    ("2026-11-10", "is a Tuesday"),
    ("2026-11-23", "after the data's end"),
    ("2024-01-01", "not after the data's start"),
])
def test_as_of_is_an_iso_monday_inside_the_history(value, says):
    from features.errors import UserError
    from pipelines.score import parse_as_of

    with pytest.raises(UserError, match=says):
        parse_as_of(value, datetime(2026, 11, 20, 13, 0), datetime(2024, 1, 1))


def test_as_of_accepts_a_monday_and_defaults_to_the_latest_one():
    from pipelines.score import parse_as_of

    end, start = datetime(2026, 11, 20, 13, 0), datetime(2024, 1, 1)
    assert parse_as_of("2026-11-16", end, start) == datetime(2026, 11, 16)
    assert parse_as_of(" 2024-01-08 ", end, start) == datetime(2024, 1, 8)
    assert parse_as_of(None, end, start) == datetime(2026, 11, 16)
    with pytest.raises(Exception, match="is a Sunday") as info:
        parse_as_of("2026-11-15", end, start)
    assert "2026-11-09 or 2026-11-16" in str(info.value)  # the Mondays either side


@pytest.mark.parametrize("url, says", [
    ("mysql://u:S3cr3tPw@db.internal/leads", "no driver for it is installed"),
    ("postgresql://u:S3cr3tPw@h:54x2/db", "cannot be used"),
    ("nosuch://u:S3cr3tPw@h/db", "no driver for it is installed"),
    ("not a url S3cr3tPw", "cannot be used"),
])
def test_an_unusable_database_url_is_a_user_error_without_its_password(url, says):
    from features.errors import UserError

    with pytest.raises(UserError, match=says) as info:
        sinks.engine_for(url, "sqlite:///unused.db")
    assert "S3cr3tPw" not in str(info.value) and "--db" in str(info.value)


# ---------------------------------------------------------------------------------------------------------------------
# upgrading a database written by an earlier version


def _earlier_schema(engine, without: set[str]):
    """The tables as an earlier version created them: the contract's columns except ``without``."""
    from sqlalchemy import Column, MetaData, Table

    earlier = MetaData()
    for table in sinks.METADATA.sorted_tables:
        Table(table.name, earlier, *(Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
                                     for c in table.columns if f"{table.name}.{c.name}" not in without))
    with engine.begin() as conn:
        for table in reversed(sinks.METADATA.sorted_tables):
            conn.execute(sqlalchemy.text(f"DROP TABLE IF EXISTS {table.name}"))
    earlier.create_all(engine)
    return earlier


NEW = {"lead_scores.tier_change", "lead_scores.new_in_top_tier", "lead_scores.previous_probability",
       "score_runs.drift_warnings"}


def test_a_database_of_an_earlier_version_gains_the_new_columns_and_keeps_its_rows(engine):
    earlier = _earlier_schema(engine, NEW)
    old_week = make_scores(EARLIER, n=10, run_id="old")
    kept = [c for c in old_week.columns if f"lead_scores.{c}" not in NEW]
    with engine.begin() as conn:
        rows = old_week[kept].astype(object)
        conn.execute(earlier.tables["lead_scores"].insert(), rows.where(rows.notna(), None).to_dict("records"))
    assert set(sinks.ensure_schema(engine)) == NEW
    columns = {c["name"] for c in inspect(engine).get_columns("lead_scores")}
    assert columns == set(sinks.SCORE_COLUMNS)
    assert sinks.replace_week(engine, WEEK, make_scores(WEEK)) == 50
    assert len(sinks.read_week(engine, EARLIER)) == 10  # the earlier rows are kept, their new columns empty
    assert sinks.read_week(engine, EARLIER)["tier_change"].isna().all()
    assert sinks.ensure_schema(engine) == []  # once upgraded, nothing more to add


def test_a_new_column_that_may_not_be_empty_is_refused_with_the_statement_to_run(engine):
    _earlier_schema(engine, {"lead_scores.rank"})
    with pytest.raises(UserError, match=r'predates column .rank., which may not be empty; add it by hand \(ALTER '
                                        r'TABLE lead_scores ADD COLUMN "rank" INTEGER'):
        sinks.ensure_schema(engine)


def spreadsheet_text(path) -> str:
    """How a spreadsheet tool (Excel) opens a CSV: UTF-8 when it starts with a byte-order mark, else the system's
    legacy code page (cp1252 on Western Windows)."""
    raw = path.read_bytes()
    return raw[3:].decode("utf-8") if raw.startswith(b"\xef\xbb\xbf") else raw.decode("cp1252", errors="replace")


def test_the_csv_reads_as_people_write_it(tmp_path):
    scores = make_scores(WEEK, n=4)
    scores["lead_id"] = ["Zoë Müller", "José Núñez", "L3", "L4"]
    scores["journey_stage"] = ["leaning_in", "engaged", "acknowledged", "engaged"]
    scores["score_delta"] = [0.123456789, -0.0000004, np.nan, 0.5]
    scores["fit_score"] = [12.3456, 1.0, 99.99, 50.04]
    path = tmp_path / "scores.csv"
    sinks.write_csv(scores, path, bom=True)
    with io.StringIO(spreadsheet_text(path), newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["lead_id"] for r in rows[:2]] == ["Zoë Müller", "José Núñez"]  # names intact in a spreadsheet
    assert [r["journey_stage"] for r in rows] == ["Leaning in", "Engaged", "Acknowledged", "Engaged"]
    assert {r["new_in_top_tier"] for r in rows} <= {"true", "false"}
    assert [r["score_delta"] for r in rows] == ["0.123457", "0.0", "", "0.5"]
    assert [r["fit_score"] for r in rows] == ["12.3", "1.0", "100.0", "50.0"]
    sinks.write_csv(scores, path)  # the default: no byte-order mark, which CRM importers expect
    assert not path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert "Zoë" not in spreadsheet_text(path)  # why the option exists
