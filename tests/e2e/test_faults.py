"""Faults, with real processes: a scoring run killed mid-transaction, two runs of one week at once, unreadable
inputs, full or read-only output folders, a missing or corrupt model, and credentials that must never show.

A real ``leadscore score`` is held inside its database transaction by ``tests/fault_runner.py``
(the command with a pause installed in ``pipelines.sinks.after_batch``, set by
``LEADSCORE_FAULT_PAUSE="ROWS:PATH"``): after ROWS uncommitted rows it creates PATH and waits
while PATH exists. The test then SIGKILLs it, or starts a competing run, and deletes PATH to
let it go on.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from sqlalchemy import text

from pipelines import sinks
from tests.conftest import write_params
from tests.e2e.test_scoring import contents, latest_monday, population
from tests.fault_runner import FAULT_PAUSE
from tests.postgres import new_database

pytestmark = pytest.mark.slow

LEADSCORE = Path(sys.executable).with_name("leadscore")
ROOT = Path(__file__).resolve().parents[2]
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def command(*args, params: Path) -> list[str]:
    return [str(LEADSCORE), *map(str, args), "--params", str(params)]


def environment(**extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "LEADSCORE_DB_URL", FAULT_PAUSE)}
    return {**env, "NO_COLOR": "1", "COLUMNS": "200", **extra}


def run(argv: list[str], cwd: Path, timeout: float = 600, **env) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, env=environment(**env), capture_output=True, text=True, timeout=timeout)


def start(argv: list[str], cwd: Path, **env) -> subprocess.Popen:
    return subprocess.Popen(argv, cwd=cwd, env=environment(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def paused(argv: list[str], cwd: Path, spec: str) -> subprocess.Popen:
    """``argv`` (a leadscore command) started through the fault runner, held as ``spec`` (ROWS:PATH) says."""
    assert argv[0] == str(LEADSCORE)
    runner = [sys.executable, "-m", "tests.fault_runner", *argv[1:]]
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return start(runner, cwd=cwd, PYTHONPATH=path, **{FAULT_PAUSE: spec})


def wait_for(condition, what: str, process: subprocess.Popen | None = None, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"the run ended before {what}: exit {process.returncode}\n{out}\n{err}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*")) if p.is_file() and not p.name.startswith(".")}


@pytest.fixture
def database(request, tmp_path):
    """A fresh scores database per test: a SQLite file, or a new database on the session's PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'scores.db'}"
        return
    with new_database(request.getfixturevalue("postgres_url"), "faults") as url:
        yield url


@pytest.fixture
def scored(world, champion, database, tmp_path):
    """A database and output folder holding a successful run of the latest week (what a fault must not damage)."""
    from pipelines.score import run_scoring

    out = tmp_path / "out"
    as_of = latest_monday(world["data"])
    result = run_scoring(world["data"], world["config"], as_of=f"{as_of:%Y-%m-%d}", db_url=database, out_dir=out)
    engine = sinks.engine_for(database, "sqlite:///unused.db")
    yield {"url": database, "engine": engine, "out": out, "as_of": as_of, "run_id": result.run_id,
           "rows": contents(engine), "files": files(out)}
    engine.dispose()


def score_command(world, scored, *extra) -> list[str]:
    return command("score", world["data"], "--as-of", f"{scored['as_of']:%Y-%m-%d}", "--db", scored["url"],
                   "--out", scored["out"], *extra, params=world["params"])


def runs(engine):
    return sinks.read_runs(engine).set_index("run_id")


def kill_when_paused(argv: list[str], cwd: Path, at: str, where: str) -> None:
    """Start ``argv`` held by the fault hook at ``at`` (rows written, or "committed"), then SIGKILL it there."""
    marker = cwd / f"paused-{at}"
    victim = paused(argv, cwd, f"{at}:{marker}")
    try:
        wait_for(marker.exists, f"the run to pause {where}", victim)
        assert int(marker.read_text() or victim.pid) == victim.pid
        victim.send_signal(signal.SIGKILL)
        assert victim.wait(timeout=60) == -signal.SIGKILL
    finally:
        if victim.poll() is None:
            victim.kill()


# ---------------------------------------------------------------------------------------------------------------------
# a run killed inside its transaction


@pytest.mark.parametrize("database", BACKENDS, indirect=True)
def test_sigkill_inside_the_transaction_leaves_the_database_as_before_and_the_rerun_succeeds(
        world, scored, tmp_path):
    kill_when_paused(score_command(world, scored), tmp_path, "1", "inside its transaction")
    engine = scored["engine"]
    assert contents(engine) == scored["rows"]  # the killed transaction's rows never became visible
    assert files(scored["out"]) == scored["files"]  # the CSV and report were still temporary files
    attempts = runs(engine)
    killed = attempts.drop(index=scored["run_id"])
    assert list(killed["status"]) == ["running"]  # a killed process cannot record its end: it stays 'running'
    left = [p.name for p in scored["out"].iterdir() if p.name.startswith(".")]
    assert left  # the killed run's temporary files, which nothing got to remove

    rerun = run(score_command(world, scored), cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert not [p.name for p in scored["out"].iterdir() if p.name.startswith(".")]  # the rerun removed them
    stored = sinks.read_week(engine, scored["as_of"])
    expected = population(world["data"], scored["as_of"], world["config"].spine.recycle_days)
    assert len(stored) == len(expected) and set(stored["lead_id"]) == expected
    assert stored["run_id"].nunique() == 1 and stored["run_id"].iloc[0] not in (scored["run_id"], *killed.index)
    assert files(scored["out"]).keys() == scored["files"].keys()


@pytest.mark.parametrize("database", BACKENDS, indirect=True)
def test_sigkill_after_the_commit_is_found_by_the_next_run_which_names_the_week_and_repairs_it(
        world, scored, tmp_path):
    kill_when_paused(score_command(world, scored), tmp_path, "committed", "after its commit")
    engine = scored["engine"]
    killed = runs(engine).drop(index=scored["run_id"])
    [killed_id] = killed.index
    assert set(sinks.read_week(engine, scored["as_of"])["run_id"]) == {killed_id}  # committed: its rows are kept
    assert files(scored["out"]) == scored["files"]  # but the week's files are the earlier run's

    settings = yaml.safe_load(Path(world["params"]).read_text())
    settings["score"]["stale_run_hours"] = 1e-6  # the killed run is "old" at once
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(settings))
    rerun = run(command("score", world["data"], "--as-of", f"{scored['as_of']:%Y-%m-%d}", "--db", scored["url"],
                        "--out", scored["out"], params=params), cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"run {killed_id} of {scored['as_of']:%Y-%m-%d} never finished" in rerun.stdout
    assert f"--as-of {scored['as_of']:%Y-%m-%d}" in rerun.stdout
    after = runs(engine)
    assert after.loc[killed_id, "status"] == "interrupted" and "were committed" in after.loc[killed_id, "error"]
    stored = sinks.read_week(engine, scored["as_of"])
    assert stored["run_id"].nunique() == 1 and stored["run_id"].iloc[0] not in (killed_id, scored["run_id"])
    csv_path = scored["out"] / f"scores-{scored['as_of']:%Y-%m-%d}.csv"
    assert len(pd.read_csv(csv_path)) == len(stored)  # the week's files are this run's, like its rows


# ---------------------------------------------------------------------------------------------------------------------
# two runs of one week at once


def _waiting_for_the_week_lock(url: str) -> bool:
    engine = sinks.engine_for(url, "sqlite:///unused.db")
    try:
        with engine.connect() as conn:
            return bool(conn.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                          "AND NOT granted")).scalar())
    finally:
        engine.dispose()


def _has_open(pid: int, path: str) -> bool:
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}") == path for fd in os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError):
        return False


@pytest.mark.parametrize("database", BACKENDS, indirect=True)
def test_two_runs_of_one_week_at_once_leave_exactly_one_copy(world, scored, tmp_path):
    marker = tmp_path / "paused"
    first = paused(score_command(world, scored), tmp_path, f"1:{marker}")
    second = None
    try:
        wait_for(marker.exists, "the first run to hold the week inside its transaction", first)
        second = start(score_command(world, scored), cwd=tmp_path)
        if scored["url"].startswith("postgresql"):
            wait_for(lambda: _waiting_for_the_week_lock(scored["url"]), "the second run to wait for the week's lock",
                     second)
        else:  # SQLite: once the second run has the file open, its next write waits for the first one's lock
            db_file = scored["url"].removeprefix("sqlite:///")
            wait_for(lambda: _has_open(second.pid, db_file), "the second run to open the database", second)
            time.sleep(1)
        marker.unlink()  # let the first run commit
        outcomes = [p.communicate(timeout=600) for p in (first, second)]
        assert [first.returncode, second.returncode] == [0, 0], outcomes
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
    engine = scored["engine"]
    stored = sinks.read_week(engine, scored["as_of"])
    expected = population(world["data"], scored["as_of"], world["config"].spine.recycle_days)
    assert len(stored) == len(expected) and stored["lead_id"].is_unique and set(stored["lead_id"]) == expected
    attempts = runs(engine).drop(index=scored["run_id"])
    assert list(attempts["status"]) == ["succeeded", "succeeded"]
    last = attempts["finished_at"].idxmax()
    assert set(stored["run_id"]) == {last}  # the run that committed last replaced the other's rows whole


# ---------------------------------------------------------------------------------------------------------------------
# output folders that cannot take the files


def _in_own_mount(mount_options: str, folder: Path, argv: list[str]) -> list[str]:
    """``argv`` run in a private mount namespace where ``folder`` is a fresh tmpfs mounted with ``mount_options``."""
    assert shutil.which("unshare"), "unshare (util-linux) is needed for the output-folder fault tests"
    script = f'mount -t tmpfs -o {mount_options} tmpfs "$1" && shift && exec "$@"'
    return ["unshare", "--map-root-user", "--mount", "sh", "-c", script, "sh", str(folder), *argv]


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@pytest.mark.parametrize("options, says", [("size=16k", "No space left on device"),
                                           ("ro,size=16k", "Read-only file system")], ids=["full", "read-only"])
def test_an_output_folder_that_cannot_take_the_files_fails_clearly_before_the_database_changes(
        world, scored, tmp_path, options, says):
    argv = _in_own_mount(options, scored["out"], score_command(world, scored))
    result = run(argv, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"error: {says}" in result.stderr and "how to fix: check the folder exists, is writable" in result.stderr
    assert "Traceback" not in result.stderr
    assert contents(scored["engine"]) == scored["rows"]
    assert files(scored["out"]) == scored["files"]  # outside the namespace the folder was never touched
    failed = runs(scored["engine"]).drop(index=scored["run_id"])
    assert list(failed["status"]) == ["failed"] and "OSError" in failed["error"].iloc[0]


# ---------------------------------------------------------------------------------------------------------------------
# exports that drifted: refused with the rule, and last week's rows and files stay as they were

DRIFT = {  # table, column, the value one row gets, the rule that refuses it
    "placeholder-date": ("leads", "created_at", pd.Timestamp("1970-01-01", tz="UTC"), "not a placeholder date"),
    "blank-id": ("events", "anonymous_id", "   ", "not blank"),
    "content-type-case": ("events", "content_type", "Pricing", "content type as configured"),
}


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@pytest.mark.parametrize("damage", DRIFT)
def test_a_drifted_export_is_refused_with_its_rule_and_the_last_run_stays_as_it_was(world, scored, tmp_path, damage):
    table, column, value, rule = DRIFT[damage]
    data = tmp_path / "data"
    shutil.copytree(world["data"], data)
    frame = pd.read_parquet(data / f"{table}.parquet")
    if isinstance(frame[column].dtype, pd.CategoricalDtype):
        frame[column] = frame[column].astype(object)
    if isinstance(value, pd.Timestamp) and frame[column].dt.tz is None:
        value = value.tz_localize(None)
    frame.loc[frame.index[len(frame) // 2], column] = value
    frame.to_parquet(data / f"{table}.parquet", index=False)
    argv = command("score", data, "--as-of", f"{scored['as_of']:%Y-%m-%d}", "--db", scored["url"],
                   "--out", scored["out"], params=world["params"])
    result = run(argv, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{table}.parquet, column '{column}': {rule}: " in result.stderr and "Traceback" not in result.stderr
    assert contents(scored["engine"]) == scored["rows"]
    assert files(scored["out"]) == scored["files"]
    assert runs(scored["engine"]).index.tolist() == [scored["run_id"]]


# ---------------------------------------------------------------------------------------------------------------------
# inputs that cannot be read


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_corrupt_input_file_is_named(world, tmp_path, damage):
    data = tmp_path / "data"
    shutil.copytree(world["data"], data)
    leads = data / "leads.parquet"
    leads.write_bytes(b"PAR1 this is not parquet" if damage == "garbage" else leads.read_bytes()[:1000])
    result = run(command("validate", data, "--out", tmp_path / "report", params=world["params"]), cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"error: {leads}: unreadable file:" in result.stderr
    assert "how to fix: check the file is a valid CSV with a header row, or a Parquet file" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_file_without_read_permission_is_named(world, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(world["data"], data)
    deals = data / "deals.parquet"
    argv = command("validate", data, "--out", tmp_path / "report", params=world["params"])
    if os.geteuid() == 0:
        # root reads anything; in a user namespace it may not read a file whose owner is not mapped there
        os.chown(deals, 12345, 12345)
        argv = ["unshare", "--map-root-user", *argv]
    deals.chmod(0)
    result = run(argv, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"error: {deals}: unreadable file:" in result.stderr and "Permission denied" in result.stderr
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------------------------------------------------------------
# models


def test_a_missing_model_is_a_clear_error_and_no_scores_are_written(world, tmp_path):
    params = write_params(tmp_path)  # its own, empty MLflow store: no champion anywhere
    url = f"sqlite:///{tmp_path / 'scores.db'}"
    result = run(command("score", world["data"], "--db", url, "--out", tmp_path / "out", params=params), cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "error: cannot load model 'models:/lead-propensity@champion'" in result.stderr
    assert "leadscore promote" in result.stderr and "Traceback" not in result.stderr
    engine = sinks.engine_for(url, "sqlite:///unused.db")
    assert contents(engine) == []
    assert list(sinks.read_runs(engine)["status"]) == ["failed"]
    assert not (tmp_path / "out").exists() or not files(tmp_path / "out")


def test_a_corrupt_model_is_a_clear_error(world, champion, tmp_path, monkeypatch):
    import mlflow
    from mlflow import MlflowClient

    from pipelines.config import load_params

    params = write_params(tmp_path)  # a store of its own, so the session's champion stays intact
    store = load_params(params).mlflow.tracking_uri
    session_store = world["config"].mlflow.tracking_uri
    monkeypatch.setenv("MLFLOW_TRACKING_URI", session_store)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", session_store)
    copy = Path(mlflow.artifacts.download_artifacts(artifact_uri="models:/lead-propensity@champion",
                                                    dst_path=str(tmp_path / "artifact")))
    pickled = next(copy.rglob("python_model.pkl"))
    pickled.write_bytes(pickled.read_bytes()[: len(pickled.read_bytes()) // 3])  # a half-copied artifact
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    experiment = client.create_experiment("broken", artifact_location=(tmp_path / "mlartifacts").as_uri())
    logged = client.create_run(experiment)
    client.log_artifacts(logged.info.run_id, str(copy), "model")
    client.create_registered_model("broken-propensity")
    version = client.create_model_version("broken-propensity", f"{logged.info.artifact_uri}/model",
                                          run_id=logged.info.run_id).version
    url = f"sqlite:///{tmp_path / 'scores.db'}"
    model = f"models:/broken-propensity/{version}"
    result = run(command("score", world["data"], "--model", model, "--db", url, "--out", tmp_path / "out",
                         params=params), cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"error: cannot load model '{model}': the artifact is unreadable" in result.stderr
    assert "promote --version N" in result.stderr and "Traceback" not in result.stderr
    assert contents(sinks.engine_for(url, "sqlite:///unused.db")) == []


def test_models_come_only_from_the_registry(world, tmp_path):
    result = run(command("score", world["data"], "--model", str(tmp_path / "model"), "--db",
                         f"sqlite:///{tmp_path / 'scores.db'}", params=world["params"]), cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "models are loaded only from the MLflow registry" in result.stderr
    assert not (tmp_path / "scores.db").exists()


# ---------------------------------------------------------------------------------------------------------------------
# credentials


@pytest.mark.parametrize("how", ["option", "environment"])
def test_database_passwords_are_never_printed(world, champion, tmp_path, how):
    url = "postgresql+psycopg2://leadscore:s3cr3t-passw0rd@127.0.0.1:1/scores?connect_timeout=3"
    argv = command("score", world["data"], "--out", tmp_path / "out", params=world["params"])
    env = {}
    if how == "option":
        argv += ["--db", url]
    else:
        env["LEADSCORE_DB_URL"] = url
    result = run(argv, cwd=tmp_path, **env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "error: database: connection to server at \"127.0.0.1\", port 1 failed" in result.stderr
    assert "Traceback" not in result.stderr
    assert "s3cr3t-passw0rd" not in result.stdout + result.stderr
