"""The Spark engine on a real cluster: a standalone master and two workers on 127.0.0.1, each executor a JVM of its own.

``leadscore build-training-set`` and ``leadscore score`` run as commands against
``spark://127.0.0.1:PORT`` (shuffles between executor processes, nothing shared with the
driver's memory), and every feature, label and score must equal DuckDB's. Then a worker is
killed with SIGKILL mid-build: the job must finish on the worker left, or fail saying so;
the training file is complete or absent, never partial.
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

from tests.conftest import write_params
from tests.spark.conftest import _missing
from tests.spark.test_spark_equals_duckdb import FEW_CUTOFFS, assert_same

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("spark")]  # with the local tests: one Spark at a time

LEADSCORE = Path(sys.executable).with_name("leadscore")
# each executor gets one core and 2 GiB; the driver only plans and collects
CLUSTER_CONF = {"spark.executor.memory": "2g", "spark.executor.cores": 1, "spark.sql.shuffle.partitions": 4,
                "spark.ui.enabled": False}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    try:
        import pyspark  # noqa: F401
    except ImportError as error:
        _missing(f"the spark extra is not installed ({error.name}): pip install '.[spark]'")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        _missing("Java is not installed (Spark needs Java 17 or later on the PATH, or JAVA_HOME)")
    from benchmarks.spark_cluster import standalone_cluster

    with standalone_cluster(tmp_path_factory.mktemp("spark-cluster"), workers=2, cores=1, memory="3g") as running:
        yield running


def leadscore(*args, timeout: float = 1200) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "160"}
    return subprocess.run([str(LEADSCORE), *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=timeout)


def cluster_params(folder: Path, base: Path | None = None, **overrides) -> Path:
    """A settings file whose Spark session sizes the cluster's executors (``base``: the world's, for its model)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = write_params(folder, **overrides) if base is None else base
    params = yaml.safe_load(path.read_text())
    params["engine"]["spark_conf"] = CLUSTER_CONF
    out = folder / "cluster-params.yaml"
    out.write_text(yaml.safe_dump(params, sort_keys=False))
    return out


def test_build_and_score_on_a_standalone_cluster_equal_duckdb(cluster, world, champion, tmp_path):
    from pipelines.config import load_params
    from pipelines.score import run_scoring
    from pipelines.stages import training_set

    params = cluster_params(tmp_path, **FEW_CUTOFFS)
    built = leadscore("build-training-set", world["data"], "--out", tmp_path / "cluster.parquet", "--engine", "spark",
                      "--spark-master", cluster.url, "-p", params)
    assert built.returncode == 0, built.stderr[-3000:]
    assert f"Spark {cluster.url}: executors with 2g" in built.stderr  # it says what it runs with
    training_set(world["data"], tmp_path / "duck.parquet", load_params(params), engine="duckdb")
    duck, spread = pd.read_parquet(tmp_path / "duck.parquet"), pd.read_parquet(tmp_path / "cluster.parquet")
    assert spread["cutoff"].nunique() == 3 and spread["label"].sum() > 0
    assert_same(duck, spread, ["cutoff", "lead_id"])

    scored = leadscore("score", world["data"], "--engine", "spark", "--spark-master", cluster.url,
                       "--db", f"sqlite:///{tmp_path / 'cluster.db'}", "--out", tmp_path / "cluster-out",
                       "-p", cluster_params(tmp_path / "score", base=world["params"]))
    assert scored.returncode == 0, scored.stderr[-3000:]
    [parquet] = (tmp_path / "cluster-out").glob("scores-*.parquet")
    on_cluster = pd.read_parquet(parquet)
    local = run_scoring(world["data"], world["config"], db_url=f"sqlite:///{tmp_path / 'duck.db'}",
                        out_dir=tmp_path / "duck-out").scores
    columns = [c for c in on_cluster.columns if c not in ("run_id", "display")]
    local = local[columns].astype({c: on_cluster[c].dtype for c in columns if on_cluster[c].dtype.kind == "f"})
    assert_same(local, on_cluster[columns], ["lead_id"])


def test_a_worker_killed_mid_build_leaves_a_complete_file_or_none(cluster, world, tmp_path):
    """SIGKILL one worker once the build has run a while: Spark re-runs its tasks on the other (the job finishes and
    the file equals DuckDB's), or the command fails saying so and writes nothing."""
    from pipelines.config import load_params
    from pipelines.stages import training_set

    params = cluster_params(tmp_path, **FEW_CUTOFFS)
    out = tmp_path / "killed.parquet"
    env = {**os.environ, "NO_COLOR": "1"}
    build = subprocess.Popen([str(LEADSCORE), "build-training-set", str(world["data"]), "--out", str(out), "--engine",
                              "spark", "--spark-master", cluster.url, "-p", str(params)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 300
    while not cluster.running_apps() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert cluster.running_apps(), "the build never reached the cluster"
    time.sleep(20)  # well into the build: the events read, cells and the first cutoffs being built
    assert build.poll() is None, "the build finished before the worker could be killed: make the world larger"
    victim = cluster.workers[0]
    os.kill(victim.pid, signal.SIGKILL)
    stdout, stderr = build.communicate(timeout=1200)
    assert victim.wait(timeout=10) == -signal.SIGKILL
    print(f"worker {victim.pid} killed mid-build; the build exited {build.returncode}")  # shown with -s / -rA
    partial = [p.name for p in tmp_path.iterdir() if p.name.startswith(".killed")]
    assert not partial, f"scratch or partial files left beside the output: {partial}"
    if build.returncode == 0:
        training_set(world["data"], tmp_path / "duck.parquet", load_params(params), engine="duckdb")
        assert_same(pd.read_parquet(tmp_path / "duck.parquet"), pd.read_parquet(out), ["cutoff", "lead_id"])
    else:
        assert not out.exists(), "a failed build left a training file"
        assert "Spark could not build table" in stderr and "Traceback" not in stderr, stderr[-3000:]
