"""The MLflow side: the model as a self-describing pyfunc, registration behind gates, aliases.

Scoring only ever loads ``models:/lead-propensity@champion`` (or a URI the operator
names) from the configured registry: model artifacts are pickles and can execute
code, so they must come from a store you control.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from features.errors import NotFound

MODEL_NAME = "lead-propensity"


class _Without(logging.Filter):
    """Drops one message MLflow logs on every ``log_model`` of a Python object: leadscore knows and says why
    (the module docstring) and loads models from its own registry only (``pipelines.tracking.registry_model``)."""

    def __init__(self, start: str):
        super().__init__()
        self.start = start

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.start)


logging.getLogger("mlflow.pyfunc").addFilter(_Without("Passing a Python object as `python_model`"))


@contextmanager
def _unprinted():
    """Without the lines MLflow prints on registering ("Successfully registered model ..."): the command says
    itself what it registered, and under which alias."""
    from mlflow.utils.logging_utils import disable_logging, enable_logging

    disable_logging()
    try:
        yield
    finally:
        enable_logging()


class LeadPropensityPyfunc(mlflow.pyfunc.PythonModel):
    """The calibrated model plus everything needed to use it: feature definitions, profile, label meaning."""

    def __init__(self, model, manifest: list[dict], settings: dict, profile: dict, metrics: dict):
        self.model = model
        self.manifest = manifest
        self.settings = settings
        self.profile = profile
        self.metrics = metrics

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return pd.DataFrame({"probability": self.model.predict_proba(model_input)[:, 1]}, index=model_input.index)


def log_model(wrapper: LeadPropensityPyfunc, example: pd.DataFrame) -> str:
    """Log the pyfunc into the active run; return its model URI.

    Whole-number features are declared as doubles in the signature: a count can be missing
    at scoring time, and an integer column cannot hold a missing value (MLflow's own advice).
    """
    example = example.astype({c: "float64" for c in example.select_dtypes("integer").columns})
    output = wrapper.predict(None, example)
    info = mlflow.pyfunc.log_model(
        name="model", python_model=wrapper, signature=infer_signature(example, output),
        input_example=example.head(3), pip_requirements=_requirements(),
    )
    return info.model_uri


def _requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{p}=={version(p)}" for p in ("lightgbm", "scikit-learn", "pandas", "numpy", "mlflow")]


def register(model_uri: str, alias: str = "challenger", description: str | None = None) -> str:
    """Register the model, point ``alias`` at it and describe the version (what trained it, the gates it passed)."""
    with _unprinted():
        version = mlflow.register_model(model_uri, MODEL_NAME).version
    client = MlflowClient()
    client.set_registered_model_alias(MODEL_NAME, alias, version)
    if description:
        client.update_model_version(MODEL_NAME, version, description=description)
    return str(version)


@dataclass
class LoadedModel:
    uri: str
    version: str | None
    run_id: str | None
    wrapper: LeadPropensityPyfunc

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.wrapper.model.predict_proba(frame)[:, 1]

    def rank_score(self, frame: pd.DataFrame) -> np.ndarray:
        """The order leads are worked in: the booster's score (calibration is monotone but makes ties)."""
        return self.wrapper.model.uncalibrated_proba(frame)


def load(uri: str) -> LoadedModel:
    """Load a registered model; explain what to do when there is none."""
    try:
        pyfunc = mlflow.pyfunc.load_model(uri)
    except mlflow.exceptions.MlflowException as error:
        raise NotFound(
            f"cannot load model {uri!r}: {str(error).splitlines()[0]}. Train one with 'leadscore train' "
            f"(it registers '{MODEL_NAME}' with alias 'challenger') and 'leadscore promote' to make it champion, "
            "or pass --model with a URI from your registry."
        ) from None
    except Exception as error:  # a corrupt artifact fails while unpickling
        raise NotFound(f"cannot load model {uri!r}: the artifact is unreadable ({type(error).__name__}: {error}); "
                          "re-register a good version or roll back with 'leadscore promote --version N'") from None
    version, run_id = None, pyfunc.metadata.run_id
    if uri.startswith("models:/"):
        version = _resolve_version(uri)
    return LoadedModel(uri, version, run_id, pyfunc.unwrap_python_model())


def _resolve_version(uri: str) -> str | None:
    client = MlflowClient()
    ref = uri.removeprefix("models:/")
    name, _, rest = ref.partition("@") if "@" in ref else (ref.partition("/")[0], "", "")
    if "@" in ref:
        return str(client.get_model_version_by_alias(name, rest).version)
    _, _, number = ref.partition("/")
    return number or None


def alias_version(alias: str) -> str | None:
    try:
        return str(MlflowClient().get_model_version_by_alias(MODEL_NAME, alias).version)
    except mlflow.exceptions.MlflowException:
        return None


def version_run(version: str) -> str | None:
    """The MLflow run that trained a registered version."""
    try:
        return MlflowClient().get_model_version(MODEL_NAME, version).run_id
    except mlflow.exceptions.MlflowException:
        return None


def set_alias(alias: str, version: str) -> None:
    client = MlflowClient()
    try:
        client.get_model_version(MODEL_NAME, version)
    except mlflow.exceptions.MlflowException:
        known = sorted(int(v.version) for v in client.search_model_versions(f"name = '{MODEL_NAME}'"))
        raise NotFound(f"'{MODEL_NAME}' has no version {version}; registered versions: {known or 'none'}") from None
    client.set_registered_model_alias(MODEL_NAME, alias, version)
