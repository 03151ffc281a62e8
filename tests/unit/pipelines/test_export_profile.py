"""``leadscore profile``: settings that cannot train are named, and a suggested setting really trains."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.spine import SpineSpec
from pipelines.config import Params, ValidationSpec
from pipelines.export_profile import check_spine, profile_export, render
from pipelines.inputs import open_data
from pipelines.stages import training_set
from tests.unit.features.test_plan import export


@pytest.fixture(scope="module")
def short_export(tmp_path_factory) -> Path:
    """40 weeks of history: too short for the default 90-day horizon plus 90 settling days."""
    return export(tmp_path_factory.mktemp("short"), leads=150)


def config(folder: Path, **spine) -> Params:
    return Params.model_validate({
        "data": {"dir": str(folder), "event_types": ["visit", "signup"], "extra_lead_attributes": []},
        "features": {"content_types": ["docs", "price"], "roles": {"high_intent": ["price"]}},
        "spine": {"warmup_days": 91, **spine},
        "train": {"min_positives_train": 10, "min_positives_test": 3},
        "validation": ValidationSpec(label_rate=(0.0, 1.0), min_positives_per_cutoff=0).model_dump()})


def test_settings_that_cannot_train_name_the_settings_that_would_fix_them(short_export):
    settings = config(short_export)
    tables = open_data(short_export, settings)
    check = check_spine(tables.con, tables.data_start(), tables.data_end(), settings.spine, settings.train)
    assert not check.ok
    assert "spine.horizon_days" in check.problems[0] and "spine.settle_days" in check.problems[0]


def test_a_grid_too_short_for_the_split_names_the_split_and_spine_settings(short_export):
    settings = config(short_export, horizon_days=28, settle_days=7, slide_days=28)
    tables = open_data(short_export, settings)
    check = check_spine(tables.con, tables.data_start(), tables.data_end(), settings.spine, settings.train)
    assert not check.ok
    for setting in ("train.split", "spine.slide_days", "spine.horizon_days", "spine.first_cutoff"):
        assert setting in check.problems[0], setting


def test_the_suggested_settings_build_a_training_set_that_splits(short_export, tmp_path):
    settings = config(short_export)
    profile = profile_export(open_data(short_export, settings), settings)
    assert not profile.current.ok and profile.suggestion is not None and profile.suggestion.ok
    text = render(profile)
    assert "suggestion" in text and f"horizon_days: {profile.suggestion.spine.horizon_days}" in text
    suggested = settings.model_copy(update={"spine": profile.suggestion.spine,
                                            "train": settings.train.model_copy(update={"split": profile.suggestion.split})})
    summary = training_set(short_export, tmp_path / "training.parquet", suggested)
    frame = pd.read_parquet(tmp_path / "training.parquet", columns=["cutoff", "label"])
    from models.splits import time_split
    split = time_split(frame["cutoff"].unique(), suggested.spine.horizon_days, suggested.train.split)
    positives = {name: int(frame[frame["cutoff"].isin(getattr(split, name))]["label"].sum())
                 for name in ("train", "validation", "test")}
    assert positives["train"] >= suggested.train.min_positives_train
    assert positives["test"] >= suggested.train.min_positives_test and positives["validation"] >= 2
    assert summary["positives"] == sum(positives.values()) + int(
        frame[~frame["cutoff"].isin([*split.train, *split.validation, *split.test])]["label"].sum())


def test_the_profile_reports_the_history_and_the_plan(short_export):
    settings = config(short_export, horizon_days=28, settle_days=7, slide_days=7, warmup_days=28)
    profile = profile_export(open_data(short_export, settings), settings)
    assert profile.current.ok and profile.suggestion is profile.current
    assert list(profile.weekly.columns) == ["leads", "events", "won", "lost"]
    assert profile.weekly["events"].sum() > 0 and profile.days_to_win["p50"] > 0
    assert profile.plan is not None and "visit_count_7d" in profile.plan.names
    assert isinstance(profile.current.spine, SpineSpec)
    assert "base rate" in render(profile)


def test_a_warm_up_shorter_than_the_searched_ones_is_profiled(short_export):
    settings = config(short_export, warmup_days=14)
    profile = profile_export(open_data(short_export, settings), settings)
    assert profile.suggestion is not None and profile.suggestion.ok


def test_cutoffs_without_enough_positives_are_a_settings_problem(short_export):
    settings = config(short_export, horizon_days=28, settle_days=7, slide_days=7, warmup_days=28)
    strict = settings.model_copy(update={"validation": settings.validation.model_copy(
        update={"min_positives_per_cutoff": 1000})})
    tables = open_data(short_export, strict)
    check = check_spine(tables.con, tables.data_start(), tables.data_end(), strict.spine, strict.train,
                        validation=strict.validation)
    assert not check.ok and "validation.min_positives_per_cutoff=1000" in check.problems[0]


def test_the_training_file_carries_the_settings_its_features_were_built_with(short_export, tmp_path):
    from pipelines.train import training_plan

    built = config(short_export, horizon_days=28, settle_days=7, slide_days=7, warmup_days=28)
    training_set(short_export, tmp_path / "training.parquet", built)
    today = built.model_copy(update={"features": built.features.model_copy(update={"company_size_bands": (5, 500)})})
    plan, spec, stage = training_plan(tmp_path / "training.parquet", today)
    assert spec == built.features and spec != today.features and stage == built.stage
    assert plan.names == [c for c in pd.read_parquet(tmp_path / "training.parquet").columns
                          if c not in ("lead_id", "account_id", "cutoff", "label", "journey_stage")]
