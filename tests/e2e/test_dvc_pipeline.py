"""The data scientist's workflow end to end: `dvc repro` on a copy of the repository, then experiments.

The copy holds exactly what git tracks (as a fresh clone would) plus a params.yaml for a
small world; DVC runs every stage through the installed `leadscore` command, up to a
registered challenger. Promotion and scoring are explicit acts after it. Then
`dvc exp run -S train.learning_rate=...` must rerun training only, register a challenger
and leave the champion and the production list alone; after any sequence of experiments,
checkouts, reproductions and promotions, `leadscore status` tells whether the metrics DVC
shows are the scoring model's.
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


def test_repro_runs_the_pipeline_to_a_registered_challenger(repo):
    folder = repo["folder"]
    for stage in ("generate", "validate", "build_training_set", "train"):
        assert f"Running stage '{stage}'" in repo["log"], stage
    assert "Running stage 'promote'" not in repo["log"] and "Running stage 'score'" not in repo["log"]
    assert json.loads((folder / "validation" / "validation.json").read_text())["success"] is True
    assert json.loads((folder / "training" / "metrics.json").read_text())["model"]["registered_version"] == "1"
    assert not (folder / "out").exists()  # the production list is not DVC's to write


@pytest.fixture(scope="module")
def production(repo):
    """The explicit acts after the pipeline, as `make demo` runs them: promote, then score the week."""
    folder, env = repo["folder"], repo["env"]
    _run([BIN / "leadscore", "promote", "training/training_set.parquet"], folder, env)
    scored = _run([BIN / "leadscore", "score", "data/demo"], folder, env)
    return {"log": scored, "snapshot": _production_state(folder)}


def _production_state(folder: Path) -> dict:
    with sqlite3.connect(folder / "out" / "leadscore.db") as db:
        rows = db.execute("SELECT * FROM lead_scores ORDER BY as_of, lead_id").fetchall()
        runs = db.execute("SELECT run_id, status, model_version, model_run_id FROM score_runs").fetchall()
    files = {p.name: p.read_bytes() for p in sorted((folder / "out").glob("*.*")) if p.suffix in (".csv", ".html")}
    return {"rows": rows, "runs": runs, "files": files}


def _champion(folder: Path) -> str | None:
    with sqlite3.connect(folder / "mlflow.db") as db:
        found = db.execute("SELECT version FROM registered_model_aliases WHERE alias = 'champion'").fetchone()
    return str(found[0]) if found else None


def _status_tells_the_truth(repo) -> bool:
    """`leadscore status` exits 0 exactly when the metrics DVC shows are the champion's (else 3); returns whether they are."""
    folder = repo["folder"]
    done = subprocess.run([BIN / "leadscore", "status"], cwd=folder, env=repo["env"], capture_output=True, text=True,
                          timeout=300)
    shown = json.loads((folder / "training" / "metrics.json").read_text())["model"]["registered_version"]
    agree = shown is not None and shown == _champion(folder)
    assert done.returncode == (0 if agree else 3), done.stdout + done.stderr
    said = "the metrics DVC shows are the scoring model's" if agree else "are not the scoring model's"
    assert said in done.stdout, done.stdout
    return agree


def test_the_weekly_list_names_the_model_version_and_its_training_run(repo, production):
    metrics = json.loads((repo["folder"] / "training" / "metrics.json").read_text())["model"]
    [(run_id, status, version, trained_in)] = production["snapshot"]["runs"]
    assert (status, version, trained_in) == ("succeeded", "1", metrics["run_id"])
    assert production["snapshot"]["rows"] and {row[-2] for row in production["snapshot"]["rows"]} == {metrics["run_id"]}
    assert f"(trained in MLflow run {metrics['run_id']})" in production["log"]
    assert _status_tells_the_truth(repo)


def test_metrics_and_plots_are_declared(repo):
    metrics = _run([BIN / "dvc", "metrics", "show", "--json"], repo["folder"], repo["env"])
    assert "roc_auc" in metrics and "rows" in metrics
    out = repo["folder"] / "dvc_plots"
    _run([BIN / "dvc", "plots", "show", "--out", out], repo["folder"], repo["env"])
    page = (out / "index.html").read_text()
    for plot in ("cumulative_gains.png", "lift_by_decile.png", "reliability.png"):
        assert plot in page
    assert "<script" not in page  # nothing to fetch: the page renders offline


def test_nothing_changed_means_nothing_reruns(repo):
    log = _run([BIN / "dvc", "repro"], repo["folder"], repo["env"])
    assert "Running stage" not in log


def test_an_experiment_trains_a_challenger_and_never_touches_what_scores(repo, production):
    folder, env = repo["folder"], repo["env"]
    log = _run([BIN / "dvc", "exp", "run", "-S", "train.learning_rate=0.03"], folder, env)
    for stage in ("generate", "validate", "build_training_set"):
        assert f"Running stage '{stage}'" not in log, stage
    assert "Running stage 'train'" in log
    assert "0.03" in _run([BIN / "dvc", "exp", "show", "--json"], folder, env)
    assert _champion(folder) == "1"  # the experiment registered a challenger; the champion did not move
    assert _production_state(folder) == production["snapshot"]  # nor did the list, its files or score_runs
    assert not _status_tells_the_truth(repo)  # the metrics shown are the experiment's: status says so

    # back to the committed settings, a rollback and a roll forward: status tells the truth after each
    _run(["git", "checkout", "params.yaml"], folder, env)
    _run([BIN / "dvc", "repro"], folder, env)
    _status_tells_the_truth(repo)
    _run([BIN / "leadscore", "promote", "--version", "2"], folder, env)
    assert _champion(folder) == "2"
    _status_tells_the_truth(repo)
    _run([BIN / "leadscore", "promote", "--version", "1"], folder, env)
    _status_tells_the_truth(repo)
    assert _production_state(folder) == production["snapshot"]  # nothing above wrote a list


def test_a_week_more_of_history_builds_only_the_cutoff_it_matures(repo):
    """The export as it stood on a Monday (generate.as_of), then moved on by spine.slide_days: the second `dvc repro`
    builds the one cutoff that matured and reuses the rest from the feature store, which DVC keeps between runs,
    as it keeps the training set's parts."""
    folder, env = repo["folder"], repo["env"]
    shutil.rmtree(folder / "training" / "feature_store")  # the store of the full history would hold that cutoff too
    params_path = folder / "params.yaml"
    params = yaml.safe_load(params_path.read_text())
    logs = []
    for day in ("2026-08-31", "2026-09-14"):  # Mondays slide_days (14) apart, inside the simulated two years
        assert params["spine"]["slide_days"] == 14
        params["generate"]["as_of"] = day
        params_path.write_text(yaml.safe_dump(params, sort_keys=False))
        logs.append(_run([BIN / "dvc", "repro"], folder, env))
    assert "0 cutoffs reused, 0 rebuilt" in logs[0]
    reused = int(logs[0].split("0 cutoffs reused, 0 rebuilt, ")[1].split(" added")[0])
    assert f"{reused} cutoffs reused, 0 rebuilt, 1 added" in logs[1], logs[1][-3000:]
    # and the parts of last week's training set whose labels did not change are kept as they were (DVC keeps it)
    kept = int(logs[1].split("training set: ")[1].split(" parts kept")[0])
    assert 0 < kept <= reused and f"parts kept, {reused + 1 - kept} written" in logs[1]
    assert (folder / "training" / "feature_store").is_dir()
