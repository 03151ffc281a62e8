"""The installed ``leadscore`` command, run as a user runs it: a subprocess, its exit code and output.

Every command runs with its working directory in a temporary folder, so nothing
lands in the repository and no ``params.yaml`` is picked up by accident (a missing
settings file means all defaults).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

pytestmark = pytest.mark.slow  # end-to-end: deselect with -m "not slow"

LEADSCORE = Path(sys.executable).with_name("leadscore")
COMMANDS = ("generate", "validate", "build-training-set", "train", "score")
FILES = ("leads", "events", "identities", "deals", "feedback", "truth")


def run(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    assert LEADSCORE.is_file(), f"the leadscore console script is not installed next to {sys.executable}"
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120"}
    return subprocess.run([str(LEADSCORE), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def generated(workdir):
    """``leadscore generate --out data --leads 500 --seed 1``, once for the module."""
    result = run("generate", "--out", "data", "--leads", "500", "--seed", "1", cwd=workdir)
    return workdir / "data", result


def test_help(tmp_path):
    result = run("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for command in COMMANDS:
        assert command in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_command_help(command, tmp_path):
    result = run(command, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout
    assert "--params" in result.stdout


def test_generate_writes_the_six_files_and_prints_counts(generated, workdir):
    out, result = generated
    assert result.returncode == 0, result.stderr
    for name in FILES:
        assert (out / f"{name}.parquet").is_file(), name
    assert "500 leads" in result.stdout
    for name in ("events", "identities", "deals", "feedback"):
        assert f" {name}" in result.stdout, name
    assert "truth.parquet" in result.stdout
    assert "training cutoffs" in result.stdout
    assert sorted(p.name for p in workdir.iterdir()) == ["data"]  # nothing else, no leftover .partial folder


def test_validate_accepts_the_generated_data_and_writes_the_record(generated, tmp_path):
    out, _ = generated
    result = run("validate", str(out), "--out", "report", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "contract OK" in result.stdout and "500 rows" in result.stdout
    assert re.search(r"^0 error\(s\), 0 warning\(s\) \(\d+ expectations\)$", result.stdout, re.M), result.stdout
    record = json.loads((tmp_path / "report" / "validation.json").read_text())
    assert record["success"] is True and record["data_dir"] == str(out)
    assert set(record["great_expectations"]) == {"leads", "events", "identities", "deals", "feedback"}
    assert (tmp_path / "report" / "data_docs" / "index.html").is_file()
    assert f"full results: {Path('report') / 'validation.json'}" in result.stdout


def test_a_normal_run_is_quiet_and_says_which_settings_it_uses(generated, tmp_path):
    out, _ = generated
    result = run("validate", str(out), "--out", "report", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "settings: no params.yaml in this folder; using the built-in defaults" in result.stderr
    assert f"MLflow store: sqlite:///{tmp_path / 'mlflow.db'}" in result.stderr  # which store, said by every command
    assert "Warning" not in result.stderr, result.stderr  # no third-party warning (PySpark, MLflow, setuptools)


def test_a_settings_file_that_is_not_there_is_an_error(generated, tmp_path):
    out, _ = generated
    result = run("validate", str(out), "--params", "nope.yaml", cwd=tmp_path)
    assert result.returncode == 2 and "error: settings file nope.yaml not found" in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()


def test_version(tmp_path):
    from importlib.metadata import version

    result = run("--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == f"leadscore {version('leadscore')}"


def test_check_is_the_old_name_of_validate(generated, tmp_path):
    out, _ = generated
    result = run("check", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "contract OK" in result.stdout
    assert (tmp_path / "out" / "validation" / "validation.json").is_file()  # validation.out_dir by default


def broken_copy(generated, folder: Path) -> Path:
    """The generated export with one deal closed before it was created and one event in the year 2099."""
    out, _ = generated
    folder.mkdir()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for name in ("leads", "identities"):
        shutil.copy(out / f"{name}.parquet", folder / f"{name}.parquet")
    con.execute(f"COPY (SELECT * REPLACE (CASE WHEN row_number() OVER () = 1 THEN TIMESTAMPTZ '2099-01-01 00:00:00+00' "
                f"ELSE occurred_at END AS occurred_at) FROM read_parquet('{out / 'events.parquet'}')) "
                f"TO '{folder / 'events.parquet'}' (FORMAT PARQUET)")
    con.execute(f"COPY (SELECT * REPLACE (CASE WHEN status <> 'open' AND row_number() OVER (PARTITION BY status <> 'open' "
                f"ORDER BY deal_id) = 1 THEN created_at - INTERVAL 1 DAY ELSE closed_at END AS closed_at) "
                f"FROM read_parquet('{out / 'deals.parquet'}')) TO '{folder / 'deals.parquet'}' (FORMAT PARQUET)")
    return folder


def test_validate_reports_what_to_fix_and_exits_2(generated, tmp_path):
    broken = broken_copy(generated, tmp_path / "broken")
    result = run("validate", str(broken), "--out", "report", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2, result.stderr
    assert errors[0].startswith(f"error: {broken / 'events.parquet'}, column 'occurred_at': not after extraction: "
                                "1 of ")
    assert errors[1].startswith(f"error: {broken / 'deals.parquet'}: closed_at not before created_at: 1 of ")
    assert "examples: '2099-01-01 00:00:00'" in result.stderr and "how to fix:" in result.stderr
    assert "2 error(s), 0 warning(s)" in result.stdout and "contract OK" not in result.stdout
    record = json.loads((tmp_path / "report" / "validation.json").read_text())
    assert record["success"] is False and [e["rule"] for e in record["errors"]] == [
        "not after extraction", "closed_at not before created_at"]
    assert (tmp_path / "report" / "data_docs" / "index.html").is_file()
    assert "Traceback" not in result.stderr


def test_writing_commands_validate_first_and_write_nothing(generated, tmp_path):
    broken = broken_copy(generated, tmp_path / "broken")
    before = sorted(p.name for p in tmp_path.iterdir())
    built = run("build-training-set", str(broken), "--out", "training/ts.parquet", cwd=tmp_path)
    scored = run("score", str(broken), "--db", f"sqlite:///{tmp_path / 'db' / 'scores.db'}", "--out", "scores",
                 cwd=tmp_path)
    for result in (built, scored):
        assert result.returncode == 2, result.stdout + result.stderr
        assert "not after extraction" in result.stderr and "closed_at not before created_at" in result.stderr
        assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no training/, no database, no scores/


def test_train_validates_its_training_set_first(tmp_path):
    import pandas as pd

    frame = pd.DataFrame({"lead_id": ["L1", "L1", "L2"], "cutoff": pd.to_datetime(["2025-01-06"] * 3),
                          "label": [1, 1, 0], "pricing_count_30d": [1.0, 1.0, None]})
    frame.to_parquet(tmp_path / "ts.parquet")
    result = run("train", "ts.parquet", "--out", "training", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "ts.parquet: unique (lead_id, cutoff): 2 of 3 row(s)" in result.stderr
    assert "ts.parquet, column 'label': label rate:" in result.stderr
    assert not (tmp_path / "training").exists() and not (tmp_path / "mlflow.db").exists()


def test_check_without_leads_exits_2_naming_the_table(generated, tmp_path):
    out, _ = generated
    partial = tmp_path / "partial"
    partial.mkdir()
    for name in ("events", "identities", "deals"):
        (partial / f"{name}.parquet").write_bytes((out / f"{name}.parquet").read_bytes())
    result = run("validate", str(partial), cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"error: {partial}: missing table: no leads.parquet" in result.stderr
    assert "the files could not be read" in result.stdout
    assert "Traceback" not in result.stderr


def test_invalid_params_file_exits_2_naming_the_setting(generated, tmp_path):
    out, _ = generated
    (tmp_path / "bad.yaml").write_text("spine:\n  horizon_days: -1\n")
    result = run("validate", str(out), "--params", "bad.yaml", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "spine.horizon_days" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bug_shows_its_traceback_and_a_user_error_does_not(monkeypatch, capsys):
    import typer

    from features.errors import NotFound, UserError
    from pipelines.cli import user_errors

    def failing(error):
        @user_errors
        def command():
            raise error
        return command

    for error in (UserError("fix the input"), NotFound("no model yet")):
        with pytest.raises(typer.Exit) as exit_:
            failing(error)()
        assert exit_.value.exit_code == 2 and str(error) in capsys.readouterr().err
    for bug in (KeyError("lead_id"), ValueError("operands could not be broadcast"), TypeError("NoneType")):
        with pytest.raises(type(bug)):  # not turned into "error: 'lead_id'": the traceback is shown
            failing(bug)()


def test_debug_shows_the_traceback_of_a_user_error(tmp_path):
    plain = run("generate", "--world", "nope", "--out", "x", cwd=tmp_path)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr and "unknown world" in plain.stderr
    debug = run("--debug", "generate", "--world", "nope", "--out", "x", cwd=tmp_path)
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "UserError: unknown world" in debug.stderr
