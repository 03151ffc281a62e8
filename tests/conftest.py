"""Shared, expensive fixtures: one small simulated world, its training set and a registered champion.

Everything lives under a temporary folder: data, MLflow store and artifacts, outputs.
They are session-scoped (per xdist worker) because generating and training take ~30 s.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

SMALL_WORLD = {"leads": 4000, "seed": 21, "weeks": 104}
# gates every honest model passes: the tests of the machinery must not hang on a small world's noise
LENIENT_GATES = {"min_roc_auc": 0.5, "min_pr_auc_over_base_rate": 0.0, "min_pr_auc_gain_over_rules": -1.0,
                 "min_pr_auc_gain_over_logistic": -1.0, "min_precision_gain_over_baselines": -1.0,
                 "min_brier_skill": -1.0, "max_ece_over_base_rate": 100.0, "expected_over_actual_wins": [0.01, 100.0]}


def write_params(folder: Path, **overrides) -> Path:
    """A params.yaml for tests: the project defaults plus a local MLflow store and lenient gates."""
    params = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    params["data"]["dir"] = str(folder / "data")
    params["mlflow"] = {"tracking_uri": f"sqlite:///{folder / 'mlflow.db'}", "experiment": "tests",
                        "artifact_location": str(folder / "mlartifacts")}
    params["score"]["db_url"] = f"sqlite:///{folder / 'out' / 'leadscore.db'}"
    params["score"]["out_dir"] = str(folder / "out")
    params["train"]["threads"] = 1  # xdist runs two workers on two cores
    params["train"]["gates"] = LENIENT_GATES
    for dotted, value in overrides.items():
        node = params
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    """A generated dataset (4000 leads, two years) with its params file."""
    from features.simulate import SimulationParams
    from pipelines.config import load_params
    from pipelines.generate import generate

    folder = tmp_path_factory.mktemp("world")
    params_path = write_params(folder)
    config = load_params(params_path)
    generate(folder / "data", SimulationParams(**SMALL_WORLD), config.spine, progress=False)
    return {"folder": folder, "data": folder / "data", "params": params_path, "config": config}


@pytest.fixture(scope="session")
def training_set(world):
    from pipelines.stages import training_set as build

    path = world["folder"] / "training" / "training_set.parquet"
    build(world["data"], path, world["config"])
    return path


@pytest.fixture(scope="session")
def champion(world, training_set):
    """Train once, register as challenger and promote to champion; returns the training summary."""
    from pipelines.train import promote, run_training

    summary = run_training(training_set, world["config"], truth_path=world["data"] / "truth.parquet",
                           out_dir=world["folder"] / "training")
    assert summary["registered_version"] is not None, summary["gate_failures"]
    promote(world["config"], None, None)
    return summary


@pytest.fixture(scope="session")
def postgres_url():
    """SQLAlchemy URL of a PostgreSQL 15 server started for this session (skips without initdb unless $CI)."""
    from tests.postgres import throwaway_postgres

    with throwaway_postgres() as url:
        yield url


@pytest.fixture(autouse=True)
def _no_ambient_mlflow(monkeypatch):
    """Tests never talk to a tracking server named in the developer's environment."""
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "LEADSCORE_DB_URL"):
        monkeypatch.delenv(name, raising=False)


def pytest_configure(config):
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "LEADSCORE_DB_URL"):
        os.environ.pop(name, None)  # session fixtures too must never reach a developer's real stores
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads must not spin on a shared machine
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
