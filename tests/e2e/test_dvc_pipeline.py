"""The data scientist's workflow end to end: `dvc repro` on a copy of the repository, then an experiment.

The copy holds exactly what git tracks (as a fresh clone would) plus a params.yaml for a
small world; DVC runs every stage through the installed `leadscore` command. Then
`dvc exp run -S train.learning_rate=...` must rerun training and what follows it, and
nothing before it.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import write_params

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dvc")]


def _run(args, cwd, env):
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, f"{' '.join(map(str, args))} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clone")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True)
    for name in filter(None, tracked.stdout.split("\0")):
        source = ROOT / name
        if source.is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, folder / name)
    # the demo's paths, relative, as in the real params.yaml; a small world and lenient gates
    params_path = write_params(folder, **{"generate.leads": 3000, "generate.seed": 5, "generate.weeks": 104})
    params = yaml.safe_load(params_path.read_text())
    params["data"]["dir"] = "data/demo"
    params["mlflow"] = {"tracking_uri": "sqlite:///mlflow.db", "experiment": "dvc-test", "artifact_location": "mlartifacts"}
    params["score"]["db_url"] = "sqlite:///out/leadscore.db"
    params["score"]["out_dir"] = "out"
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    for name in ("MLFLOW_TRACKING_URI", "LEADSCORE_DB_URL"):
        env.pop(name, None)
    _run(["git", "init", "-q"], folder, env)
    _run(["git", "add", "-A"], folder, env)
    _run(["git", "commit", "-q", "-m", "clone"], folder, env)
    log = _run([BIN / "dvc", "repro"], folder, env)
    return {"folder": folder, "env": env, "log": log}


def test_repro_runs_every_stage_and_ends_with_a_scored_list(repo):
    folder = repo["folder"]
    for stage in ("generate", "validate", "build_training_set", "train", "promote", "score"):
        assert f"Running stage '{stage}'" in repo["log"], stage
    assert json.loads((folder / "validation" / "validation.json").read_text())["success"] is True
    promotion = json.loads((folder / "training" / "promotion.json").read_text())
    assert promotion["champion"] is not None
    with sqlite3.connect(folder / "out" / "leadscore.db") as db:
        rows, distinct = db.execute("SELECT count(*), count(DISTINCT lead_id) FROM lead_scores").fetchone()
        status = db.execute("SELECT status FROM score_runs").fetchall()
    assert rows == distinct > 0
    assert status == [("succeeded",)]
    assert list((folder / "out").glob("scores-*.csv")) and list((folder / "out").glob("report-*.html"))


def test_metrics_and_plots_are_declared(repo):
    metrics = _run([BIN / "dvc", "metrics", "show", "--json"], repo["folder"], repo["env"])
    assert "roc_auc" in metrics and "rows" in metrics
    out = repo["folder"] / "dvc_plots"
    _run([BIN / "dvc", "plots", "show", "--out", out], repo["folder"], repo["env"])
    page = (out / "index.html").read_text()
    assert "gains.csv" in page and "deciles.csv" in page


def test_nothing_changed_means_nothing_reruns(repo):
    log = _run([BIN / "dvc", "repro"], repo["folder"], repo["env"])
    assert "Running stage" not in log


def test_an_experiment_reruns_training_and_what_follows_only(repo):
    log = _run([BIN / "dvc", "exp", "run", "-S", "train.learning_rate=0.03"], repo["folder"], repo["env"])
    for stage in ("generate", "validate", "build_training_set"):
        assert f"Running stage '{stage}'" not in log, stage
    assert "Running stage 'train'" in log
    shown = _run([BIN / "dvc", "exp", "show", "--json"], repo["folder"], repo["env"])
    assert "0.03" in shown
