"""Display columns (name, e-mail, company, owner) go to the list people read and never into the model."""

from __future__ import annotations

import pandas as pd
import pytest

from features.simulate import SimulationParams
from features.spine import SpineSpec
from features.training_file import training_schema
from pipelines.config import ConfigError, load_params
from pipelines.generate import generate
from pipelines.stages import training_set

DISPLAY = ["full_name", "email", "company", "owner"]


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    folder = tmp_path_factory.mktemp("display")
    generate(folder, SimulationParams(leads=600, seed=3, weeks=60), SpineSpec(), progress=False)
    return folder


def test_the_training_set_is_the_same_with_or_without_display_columns(export, tmp_path):
    shown = load_params(None, {"data.display_columns": DISPLAY, "spine.warmup_days": 28, "spine.settle_days": 14,
                               "validation.label_rate": [0.0001, 0.5]})
    hidden = load_params(None, {"data.display_columns": [], "spine.warmup_days": 28, "spine.settle_days": 14,
                                "validation.label_rate": [0.0001, 0.5]})
    with_display = training_set(export, tmp_path / "a.parquet", shown)
    without = training_set(export, tmp_path / "b.parquet", hidden)
    a, b = pd.read_parquet(tmp_path / "a.parquet"), pd.read_parquet(tmp_path / "b.parquet")
    assert not set(DISPLAY) & set(a.columns)
    pd.testing.assert_frame_equal(a, b)
    plan = training_schema(tmp_path / "a.parquet").metadata[b"leadscore.plan"].decode()
    assert not any(f'"{name}"' in plan for name in DISPLAY)
    assert with_display["features"] == without["features"]


def test_a_display_column_cannot_also_be_a_feature():
    with pytest.raises(ConfigError, match="display columns are never features"):
        load_params(None, {"data.display_columns": ["budget_range"], "data.extra_lead_attributes": ["budget_range"]})


@pytest.mark.parametrize("name", ["tier", "probability", "display", "full name", "x;DROP TABLE leads"])
def test_a_display_column_must_be_a_plain_name_no_output_column_has(name):
    with pytest.raises(ConfigError):
        load_params(None, {"data.display_columns": [name]})
