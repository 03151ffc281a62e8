"""params.yaml is parsed once into a frozen, validated object; bad values name their key."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.config import ConfigError, load_params

PROJECT_PARAMS = Path(__file__).resolve().parents[3] / "params.yaml"


def test_the_project_params_file_is_valid():
    config = load_params(PROJECT_PARAMS)
    assert config.spine.horizon_days == 90
    assert config.stage.window_days in config.features.account_windows_days


def test_a_missing_settings_file_is_an_error_and_none_means_the_defaults(tmp_path):
    with pytest.raises(ConfigError, match=r"settings file .*absent.yaml not found .*pass --params PATH"):
        load_params(tmp_path / "absent.yaml")
    assert load_params(None).spine.horizon_days == 90


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("spine.horizon_days", -3, "spine.horizon_days = -3"),
    ("spine.slide_days", 10, "multiple of 7"),
    ("features.windows_days", [30, 7], "increasing order"),
    ("generate.start", "2024-11-19", "must be a Monday"),
    ("generate.world", {"bogus_knob": 1}, "unknown simulator knob"),
    ("train.learning_rate", 0, "train.learning_rate = 0"),
    ("stage.window_days", 7, "account_windows_days"),
    ("tiers.capacity", [100, 50, 1000], "increasing"),
    # values that reach SQL: only what can be validated as a size or a plain name gets there
    ("data.duckdb_memory_limit", "1GB'; COPY (SELECT 'pwned') TO 'pwned.txt'; SET memory_limit='1GB",
     "is not a memory size"),
    ("data.event_types", ["page_view", "it's"], "not a plain name"),
    ("features.content_types", ["pricing page"], "not a plain name"),
    ("data.event_types", ["page_view", "Page_View"], "listed twice (ignoring case)"),
    ("data.extra_lead_attributes", ['goal" FROM leads; --'], "not a plain column name"),
    ("data.extra_lead_attributes", ["industry"], "contract column of leads"),
    ("data.lifecycle_statuses", {"junk": "deleted"}, "data.lifecycle_statuses.junk"),
    ("train.rules.decay", {7: 1.0, 14: 0.5}, "must also be in features.windows_days"),
    ("train.gates.max_brier", 0.05, "min_brier_skill"),
])
def test_bad_values_name_the_key_and_the_rule(tmp_path, key, value, expected):
    with pytest.raises(ConfigError) as error:
        load_params(PROJECT_PARAMS, overrides={key: value})
    assert expected in str(error.value)


def test_unknown_keys_are_refused_with_their_path():
    with pytest.raises(ConfigError, match="spine.horizon: unknown setting"):
        load_params(PROJECT_PARAMS, overrides={"spine.horizon": 30})


def test_invalid_yaml_names_the_file(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("spine: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(path)


def test_config_is_frozen():
    config = load_params(PROJECT_PARAMS)
    with pytest.raises(Exception):
        config.spine.horizon_days = 30


def test_world_overrides_reach_the_simulator_knobs():
    config = load_params(PROJECT_PARAMS, overrides={"generate.world": {"win_rate": 0.3}})
    assert config.generate.world == {"win_rate": 0.3}


def test_params_yaml_holds_only_values_dvc_can_read():
    """DVC reads params.yaml too and refuses YAML dates and timestamps ('Unsupported value of type date'):
    every date there is a quoted string, which the settings parse."""
    import datetime as dt
    from pathlib import Path

    import yaml

    def walk(node, key=""):
        if isinstance(node, dict):
            for k, v in node.items():
                yield from walk(v, f"{key}.{k}" if key else str(k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                yield from walk(v, f"{key}[{i}]")
        else:
            yield key, node

    raw = yaml.safe_load((Path(__file__).resolve().parents[3] / "params.yaml").read_text())
    dates = [k for k, v in walk(raw) if isinstance(v, (dt.date, dt.datetime))]
    assert not dates, f"quote these dates in params.yaml: {dates}"


def test_every_promotion_metric_is_one_evaluate_computes_and_higher_is_better():
    import typing

    import numpy as np

    from models.metrics import evaluate
    from pipelines.config import PromoteSpec

    choices = typing.get_args(PromoteSpec.model_fields["metric"].annotation)
    y = np.array([0, 1, 0, 1, 0, 0, 1, 0])
    computed = evaluate(y, np.linspace(0.1, 0.9, 8), np.zeros(8), capacity=3)
    assert set(choices) <= set(computed)
    assert not {"brier", "ece", "base_rate", "mean_probability"} & set(choices)  # lower-is-better or not a quality
    with pytest.raises(ConfigError, match="promote.metric"):
        load_params(PROJECT_PARAMS, overrides={"promote.metric": "brier"})


def test_a_retired_key_says_where_its_fact_lives_now():
    with pytest.raises(ConfigError, match="train.capacity_per_week: no longer a setting: the weekly capacity is the "
                                          "first number of tiers.capacity"):
        load_params(PROJECT_PARAMS, overrides={"train.capacity_per_week": 40})
    assert load_params(PROJECT_PARAMS, overrides={"tiers.capacity": [40, 200, 900]}).tiers.weekly_capacity == 40


def test_the_code_defaults_are_the_params_file():
    """One set of defaults: a key left out of params.yaml means what params.yaml says."""
    from pipelines.config import Params, anchored

    defaults = anchored(Params(), PROJECT_PARAMS.resolve().parent)  # the file's relative paths are the project's
    assert defaults.model_dump(mode="json") == load_params(PROJECT_PARAMS).model_dump(mode="json")


def test_the_journey_stages_are_named_once():
    """The builder's SQL, the report and the score suite take the stage names from features.definitions."""
    import features.builder
    import pipelines.report
    import pipelines.score
    from features.definitions import JOURNEY_STAGES

    for module in (features.builder, pipelines.report, pipelines.score):
        source = Path(module.__file__).read_text()
        # "engaged" is also an everyday column name; the other two are only ever stage names
        assert not any(f"'{name}'" in source or f'"{name}"' in source for name in (JOURNEY_STAGES[0], JOURNEY_STAGES[2]))


def test_relative_paths_belong_to_the_settings_file_s_folder(tmp_path, monkeypatch):
    """Run from anywhere, a command reads and writes the project's files, not new ones where it runs."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "params.yaml").write_text(PROJECT_PARAMS.read_text())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_params(project / "params.yaml", overrides={"score.db_url": "sqlite:///out/scores.db?timeout=5",
                                                           "mlflow.artifact_location": "s3://bucket/artifacts"})
    root = project.resolve()
    assert config.data.dir == root / "data" / "demo"
    assert config.mlflow.tracking_uri == f"sqlite:///{root / 'mlflow.db'}"
    assert config.score.db_url == f"sqlite:///{root / 'out' / 'scores.db'}?timeout=5"
    assert config.mlflow.artifact_location == "s3://bucket/artifacts"  # a URL stays as it is
    assert config.score.out_dir == root / "out" and config.validation.out_dir == root / "out" / "validation"
    absolute = load_params(project / "params.yaml", overrides={"score.db_url": "sqlite:////srv/scores.db"})
    assert absolute.score.db_url == "sqlite:////srv/scores.db"
