"""The MLflow store: where runs and models are tracked, and the one way a model is named for loading."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import mlflow

from features.errors import UserError
from pipelines.config import MlflowSpec
from pipelines.redaction import redact

_SET_BY_US: set[str] = set()


def tracking_store(spec: MlflowSpec) -> str:
    """The MLflow store a command will use, without credentials: the user's MLFLOW_TRACKING_URI, else the setting."""
    ambient = os.environ.get("MLFLOW_TRACKING_URI")
    uri = ambient if ambient and ambient not in _SET_BY_US else spec.tracking_uri
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):  # relative: to this folder, as MLflow reads it
        uri = f"sqlite:///{Path(uri.removeprefix('sqlite:///')).resolve()}"
    return redact(uri)


def configure_mlflow(spec: MlflowSpec, experiment: str | None = None) -> str:
    """Point MLflow at the configured store (the user's MLFLOW_TRACKING_URI wins); return the URI without credentials.

    MLflow exports the URI it is given into MLFLOW_TRACKING_URI itself, so a value we set
    earlier in this process is not mistaken for the user's override.
    """
    if not os.environ.get("MLFLOW_LOGGING_LEVEL"):  # the user's choice wins; else not MLflow's INFO lines
        logging.getLogger("mlflow").setLevel(logging.WARNING)  # (tables created, schema checked, example validated)
    ambient = os.environ.get("MLFLOW_TRACKING_URI")
    uri = ambient if ambient and ambient not in _SET_BY_US else spec.tracking_uri
    _SET_BY_US.add(uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(os.environ.get("MLFLOW_REGISTRY_URI") or uri)
    name = experiment or spec.experiment
    if mlflow.get_experiment_by_name(name) is None:
        location = spec.artifact_location
        if "://" not in location:
            location = Path(location).resolve().as_uri()
        mlflow.create_experiment(name, artifact_location=location)
    mlflow.set_experiment(name)
    return redact(uri)


def registry_model(uri: str) -> str:
    """``uri`` if it names a model in the MLflow registry; anything else is refused.

    Loading a model runs code from its artifact (a pickled Python object), so models come
    only from the configured registry, where training put them, never from a path or URL.
    """
    if not uri.startswith("models:/"):
        raise UserError(f"--model {uri!r}: models are loaded only from the MLflow registry "
                         "(models:/NAME@ALIAS or models:/NAME/VERSION), because loading a model runs its code")
    return uri
