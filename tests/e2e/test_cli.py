"""The installed ``leadscore`` command, run as a user runs it: a subprocess, its exit code and output.

Every command runs with its working directory in a temporary folder, so nothing
lands in the repository and no ``params.yaml`` is picked up by accident (a missing
settings file means all defaults).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # end-to-end: deselect with -m "not slow"

LEADSCORE = Path(sys.executable).with_name("leadscore")
COMMANDS = ("generate", "check")
FILES = ("leads", "events", "identities", "deals", "truth")


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


def test_generate_writes_the_five_files_and_prints_counts(generated, workdir):
    out, result = generated
    assert result.returncode == 0, result.stderr
    for name in FILES:
        assert (out / f"{name}.parquet").is_file(), name
    assert "500 leads" in result.stdout
    for name in ("events", "identities", "deals"):
        assert f" {name}" in result.stdout, name
    assert "truth.parquet" in result.stdout
    assert "training cutoffs" in result.stdout
    assert sorted(p.name for p in workdir.iterdir()) == ["data"]  # nothing else, no leftover .partial folder


def test_check_accepts_the_generated_data(generated, workdir):
    out, _ = generated
    result = run("check", str(out), cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "contract OK" in result.stdout
    assert "500 rows" in result.stdout


def test_check_without_leads_exits_2_naming_the_table(generated, tmp_path):
    out, _ = generated
    partial = tmp_path / "partial"
    partial.mkdir()
    for name in ("events", "identities", "deals"):
        (partial / f"{name}.parquet").write_bytes((out / f"{name}.parquet").read_bytes())
    result = run("check", str(partial), cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "leads" in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_params_file_exits_2_naming_the_setting(generated, tmp_path):
    out, _ = generated
    (tmp_path / "bad.yaml").write_text("spine:\n  horizon_days: -1\n")
    result = run("check", str(out), "--params", "bad.yaml", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "spine.horizon_days" in result.stderr
    assert "Traceback" not in result.stderr
