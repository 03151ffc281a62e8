"""A settings file is not trusted code: SQL put in any setting never runs.

Every setting that can hold text is found by walking the ``Params`` model, so a setting added
later is covered without editing this file. Each gets SQL that, if it ever ran, would write a
file (DuckDB's ``COPY ... TO``). The settings are loaded and, when they load, an export is
validated and its training set built with them: the run refuses with a user error naming the
setting, or goes through; it never runs the SQL and never fails with a database's parser error.
Values from the data are covered by ``tests/bad_inputs/cases.yaml`` (quotes-and-sql-in-ids) and
the hostile export of ``test_html_injection.py``, stored in SQLite and PostgreSQL.
"""

from __future__ import annotations

import typing
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest
from pydantic import BaseModel

from features.errors import UserError
from features.simulate import SimulationParams
from pipelines.config import ConfigError, Params, load_params
from pipelines.generate import generate
from pipelines.inputs import validate_directory
from pipelines.stages import training_set

pytestmark = pytest.mark.slow

NO_TEXT = (int, float, bool, date, datetime, type(None))


def payloads(marker: Path) -> list[str]:
    """SQL that writes ``marker`` if it runs, for a string spliced into single quotes, double quotes or bare."""
    copy = f"COPY (SELECT 'pwned') TO '{marker}'"
    return [f"1GB'; {copy}; SET memory_limit='1GB", f'x"); {copy}; --', f"x); {copy}; --"]


def _texts(annotation) -> bool:
    """Whether a setting of this type can hold arbitrary text (a str, a Path, or a Literal a check must refuse)."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.Literal:
        return True
    if args:
        return any(_texts(arg) for arg in args)
    return annotation in (str, Path)


def text_settings(model: type[BaseModel] = Params, prefix: str = "") -> list[tuple[str, typing.Any]]:
    """(dotted key, type) of every setting that can hold text, at any depth."""
    found = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found += text_settings(annotation, f"{key}.")
        elif _texts(annotation):
            found.append((key, annotation))
    return found


def hostile_value(key: str, annotation, default, payload: str):
    """The setting's default with the payload where text goes: the value, a list item, a mapping's key or value."""
    origin = typing.get_origin(annotation)
    if origin in (tuple, list):
        return [*(default or ()), payload]
    if origin is dict:  # a new key, with the last entry's value (for lifecycle statuses, one that reaches SQL)
        items = dict(default or {})
        return {**items, payload: list(items.values())[-1] if items else 1.0}
    return payload


def default_of(config: Params, key: str):
    node = config
    for part in key.split("."):
        node = getattr(node, part)
    return node.model_dump(mode="json") if isinstance(node, BaseModel) else node


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sql") / "export"
    generate(folder, SimulationParams(leads=400, seed=3, weeks=60), load_params(None).spine,
             progress=False)
    leads = pd.read_parquet(folder / "leads.parquet", columns=["lead_id", "created_at"]).head(60)
    statuses = ["lead", "mql", "customer", "junk"] * 15  # the optional lifecycle table, so its SQL runs too
    pd.DataFrame({"lead_id": leads["lead_id"], "status": statuses,
                  "changed_at": leads["created_at"] + pd.Timedelta(days=3)}).to_parquet(folder / "lifecycle.parquet")
    return folder


SETTINGS = text_settings()


def test_every_setting_that_holds_text_is_covered():
    keys = {key for key, _ in SETTINGS}
    # the ones that reach SQL today, by name: if one is renamed, this list says the walk lost it
    assert keys >= {"data.event_types", "data.extra_lead_attributes", "data.lifecycle_statuses",
                    "data.duckdb_memory_limit", "features.content_types", "features.roles.high_intent",
                    "spine.label", "mlflow.experiment", "score.db_url"}


@pytest.mark.parametrize(("key", "annotation"), SETTINGS, ids=[key for key, _ in SETTINGS])
def test_sql_in_a_setting_never_runs(export, tmp_path, monkeypatch, key, annotation):
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "pwned.txt"
    defaults = load_params(None)
    for number, payload in enumerate(payloads(marker)):
        value = hostile_value(key, annotation, default_of(defaults, key), payload)
        try:
            config = load_params(None, overrides={key: value})
        except ConfigError as refused:
            assert key in str(refused), refused
            continue
        try:
            validate_directory(export, config)
            training_set(export, tmp_path / f"set-{number}.parquet", config)
        except UserError as refused:  # a clear refusal is fine; any other exception fails the test with its traceback
            assert "Parser Error" not in str(refused) and "syntax error" not in str(refused).lower(), refused
        assert not marker.exists(), f"SQL in {key} ran"
