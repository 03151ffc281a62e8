"""No password given to leadscore appears anywhere it writes: terminal, errors, files, database rows, MLflow.

Passwords as people choose them (``hostile.PASSWORDS``: URL delimiters unencoded, or percent-encoded)
are put in database URLs every way a user can give one (``--db``, ``$LEADSCORE_DB_URL``,
``score.db_url``; in the user part or as a ``password=`` query parameter), against a real
PostgreSQL server (which trusts the socket, so a URL that parses connects whatever the password)
and against a port where nothing listens (the driver's error path). MLflow's tracking store is put
on PostgreSQL behind a password too, for a whole train, promote and score. Then every line printed,
every file written, every text cell of the scores database and of the MLflow store, and every
artifact is searched for the password and for any six characters of it in a row, as typed and
percent-decoded: a driver that splits a password at an unencoded '@' must not leak the rest.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
import yaml
from sqlalchemy import create_engine, inspect, select

from tests.e2e.test_faults import command, run
from tests.postgres import new_database
from tests.security.hostile import PASSWORDS

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def pieces(password: str, width: int = 6) -> set[str]:
    """What counts as a leak: the password, or any ``width`` characters of it in a row, as typed or decoded."""
    found = set()
    for form in {password, unquote(password)}:
        found |= {form} | {form[i:i + width] for i in range(len(form) - width + 1)}
    return found


def leaks(password: str, *texts: str) -> list[str]:
    return sorted({piece for piece in pieces(password) for text in texts if piece in text})


def written_text(*folders: Path) -> str:
    """Every file under ``folders``, as text (binary files too: a secret in a pickle is still a secret)."""
    return "\n".join(path.read_bytes().decode("utf-8", "replace")
                     for folder in folders if folder.exists() for path in sorted(folder.rglob("*")) if path.is_file())


def database_text(url: str) -> str:
    """Every cell of every table of the database at ``url``, as text."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            tables = inspect(conn).get_table_names()
            meta = __import__("sqlalchemy").MetaData()
            meta.reflect(conn, only=tables)
            return "\n".join(repr(row) for table in meta.sorted_tables for row in conn.execute(select(table)))
    finally:
        engine.dispose()


def server_parts(server: str) -> tuple[str, str]:
    """(socket folder, port) of the session's PostgreSQL URL."""
    query = dict(part.split("=", 1) for part in server.split("?", 1)[1].split("&"))
    return query["host"], query["port"]


def with_password(server: str, database: str, password: str, where: str) -> str:
    host, port = server_parts(server)
    if where == "user part":
        return f"postgresql+psycopg2://postgres:{password}@/{database}?host={host}&port={port}"
    return f"postgresql+psycopg2://postgres@/{database}?host={host}&port={port}&password={password}"


WAYS = [(PASSWORDS[0], "user part", "option"), (PASSWORDS[1], "user part", "environment"),
        (PASSWORDS[2], "query parameter", "settings"), (PASSWORDS[3], "query parameter", "option"),
        (PASSWORDS[1], "query parameter", "settings"), (PASSWORDS[3], "user part", "environment")]


def score_with(world, tmp_path: Path, url: str, how: str) -> subprocess.CompletedProcess:
    params = world["params"]
    argv_extra, env = [], {}
    if how == "option":
        argv_extra = ["--db", url]
    elif how == "environment":
        env["LEADSCORE_DB_URL"] = url
    else:
        settings = yaml.safe_load(Path(params).read_text())
        settings["score"]["db_url"] = url
        params = tmp_path / "params.yaml"
        params.write_text(yaml.safe_dump(settings))
    argv = command("score", world["data"], "--out", tmp_path / "out", *argv_extra, params=params)
    return run(argv, cwd=tmp_path, **env)


@pytest.mark.parametrize(("password", "where", "how"), WAYS, ids=[f"{p}-{w}-{h}" for p, w, h in WAYS])
def test_a_scoring_run_never_shows_the_database_password(world, champion, postgres_url, tmp_path, password, where,
                                                         how):
    with new_database(postgres_url, "secrets") as database:
        name = database.split("?")[0].rsplit("/", 1)[1]
        url = with_password(postgres_url, name, password, where)
        result = score_with(world, tmp_path, url, how)
        output = result.stdout + result.stderr
        assert "Traceback" not in output
        assert result.returncode in (0, 2), output
        if result.returncode == 0:  # the URL parsed and connected: the run's every record is searched too
            assert "database: postgresql+psycopg2://postgres" in result.stdout  # the database used, redacted
            stored = database_text(database)
            assert "succeeded" in stored
        else:  # an unencoded delimiter broke the URL: the error says so without the password
            assert "error: " in result.stderr
            stored = ""
        assert not leaks(password, output, written_text(tmp_path / "out"), stored), output


@pytest.mark.parametrize("password", PASSWORDS)
def test_a_failed_connection_never_shows_the_password(world, champion, tmp_path, password):
    url = f"postgresql+psycopg2://leadscore:{password}@127.0.0.1:1/scores?connect_timeout=3"
    result = score_with(world, tmp_path, url, "option")
    output = result.stdout + result.stderr
    assert result.returncode == 2 and "error: database" in result.stderr and "Traceback" not in output, output
    assert not leaks(password, output, written_text(tmp_path / "out"))


def test_an_mlflow_store_behind_a_password_keeps_it_out_of_every_record(world, training_set, postgres_url, tmp_path):
    password = PASSWORDS[3]  # percent-encoded: MLflow must get it right and keep both forms out
    with new_database(postgres_url, "mlflow") as store:
        name = store.split("?")[0].rsplit("/", 1)[1]
        tracking = with_password(postgres_url, name, password, "user part")
        settings = yaml.safe_load(Path(world["params"]).read_text())
        settings["mlflow"] = {"tracking_uri": tracking, "experiment": "secrets",
                              "artifact_location": str(tmp_path / "artifacts")}
        params = tmp_path / "params.yaml"
        params.write_text(yaml.safe_dump(settings))
        outputs = []
        for argv in (command("train", training_set, "--out", tmp_path / "training", params=params),
                     command("promote", training_set, params=params),
                     command("score", world["data"], "--out", tmp_path / "out", "--db",
                             f"sqlite:///{tmp_path / 'scores.db'}", params=params)):
            result = run(argv, cwd=tmp_path)
            outputs.append(result.stdout + result.stderr)
            assert result.returncode == 0, outputs[-1]
        assert "registered" in outputs[0] or "version" in outputs[0]
        mlflow_records = database_text(store)
        assert "secrets" in mlflow_records and "lead-propensity" in mlflow_records  # the runs and the model are there
        found = leaks(password, *outputs, mlflow_records, database_text(f"sqlite:///{tmp_path / 'scores.db'}"),
                      written_text(tmp_path / "artifacts", tmp_path / "training", tmp_path / "out"))
        assert not found, found
    assert quote(unquote(password), safe="") != unquote(password)  # the corpus entry really is encoded
