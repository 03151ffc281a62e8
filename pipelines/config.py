"""``params.yaml`` parsed once, at the CLI boundary, into a frozen and validated object.

Each package owns the spec of its own part (``features.spine.SpineSpec`` ...); this
module only composes them, so a setting is declared exactly once. A bad value fails
with the key's path, the value given and what is allowed.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from features.contract import (
    DEFAULT_EVENT_TYPES,
    DEFAULT_FEEDBACK_DISPOSITIONS,
    TABLES,
    FeedbackMeaning,
)
from features.definitions import (
    COLUMN_NAME,
    FeatureSpec,
    StageSpec,
    check_vocabulary,
    stage_window_problem,
)
from features.errors import UserError
from features.spine import DEFAULT_LIFECYCLE_STATUSES, Meaning, SpineSpec
from models.tiers import TierSpec
from models.training import TrainSpec
from pipelines.sources import MEMORY_SIZE

DEFAULT_PARAMS = Path("params.yaml")


class ConfigError(UserError):
    """A setting in params.yaml is missing, unknown or out of range."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def plain_column_names(names: tuple[str, ...], what: str, reserved, why: str) -> tuple[str, ...]:
    """Column names from the settings that reach SQL as identifiers: plain, each once, none of ``reserved``."""
    for name in names:
        if not COLUMN_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a plain column name (letters, digits and _, not starting with a "
                             "digit); rename the column in the export")
        if name in reserved:
            raise ValueError(f"{name!r} {why}")
    if len(set(names)) != len(names):
        raise ValueError(f"a {what} is listed twice")
    return names


class DataSpec(_Section):
    dir: Path = Field(Path("data/demo"), description="the export directory the pipeline reads")
    event_types: tuple[str, ...] = DEFAULT_EVENT_TYPES
    extra_lead_attributes: tuple[str, ...] = Field(
        ("stated_goal", "budget_range", "purchase_timeline"), description="extra lead columns (known at created_at) to use as features: numeric when every value is a "
        "number, else text (the most frequent features.max_categories values, the rest 'other'); one the export "
        "lacks is left out, with a warning")
    display_columns: tuple[str, ...] = Field(
        ("full_name", "email", "company", "owner"), description="lead columns shown beside each lead in the scores "
        "table, the CSV and the report, so a person can act on the list (name, e-mail, company, owner, CRM link); "
        "never features; one the export lacks is left out, with a warning")
    lifecycle_statuses: dict[str, Meaning] = Field(
        default_factory=lambda: dict(DEFAULT_LIFECYCLE_STATUSES),
        description="the lifecycle table's statuses, in the export's words, and what each means: open, "
        "disqualified (never scored again while in it), customer, recycled (back to marketing)")
    feedback_dispositions: dict[str, FeedbackMeaning] = Field(
        default_factory=lambda: dict(DEFAULT_FEEDBACK_DISPOSITIONS),
        description="the feedback table's dispositions, in the export's words, and what each means: accepted, "
        "rejected, no_answer (tried, no reply), in_contact (sales already talk to them)")
    duckdb_memory_limit: str | None = Field("4GB", description="DuckDB's working memory; beyond it DuckDB spills to disk")
    duckdb_threads: int | None = Field(None, ge=1, description="DuckDB threads (default: all cores)")

    @field_validator("event_types")
    @classmethod
    def _non_empty(cls, value):
        if not value:
            raise ValueError("at least one event type is needed")
        check_vocabulary(value)
        return value

    @field_validator("duckdb_memory_limit")
    @classmethod
    def _memory_size(cls, value):
        """The limit reaches DuckDB's SET statement: a size such as 4GB or 512MiB, nothing else."""
        if value is not None and not MEMORY_SIZE.fullmatch(value):
            raise ValueError(f"{value!r} is not a memory size; write a number and a unit, e.g. 4GB or 512MiB")
        return value

    @field_validator("extra_lead_attributes")
    @classmethod
    def _column_names(cls, value):
        """Extra attributes are column names that reach SQL as identifiers: plain names only."""
        return plain_column_names(value, "extra attribute", TABLES["leads"].names,
                                  "is a contract column of leads, not an extra attribute")

    @field_validator("display_columns")
    @classmethod
    def _display_names(cls, value):
        """Display columns reach SQL as identifiers and the CSV as headers: plain names that no output column has."""
        from pipelines.scores_contract import SCORE_COLUMNS

        return plain_column_names(value, "display column", (*SCORE_COLUMNS, "display"),
                                  "is the name of a column leadscore writes; rename it in the export")

    @model_validator(mode="after")
    def _display_is_not_a_feature(self):
        both = sorted(set(self.display_columns) & set(self.extra_lead_attributes))
        if both:
            raise ValueError(f"{', '.join(both)} cannot be both a display column and an extra attribute: display "
                             "columns are never features; remove it from one of data.display_columns and "
                             "data.extra_lead_attributes")
        return self

    def display_extras(self) -> tuple[str, ...]:
        """Display columns the typed leads view must carry beyond the contract's own columns."""
        return tuple(c for c in self.display_columns if c not in TABLES["leads"].names)


class EngineSpec(_Section):
    """Where build-training-set and score run (README: Running on Spark); --engine and --spark-master override."""

    name: Literal["duckdb", "spark"] = Field("duckdb", description="duckdb (one machine) or spark (pip install "
                                             "'leadscore[spark]'): the same feature SQL, transpiled for Spark")
    spark_master: str | None = Field(None, description="e.g. local[4], spark://host:7077, yarn; default: the active "
                                                       "SparkSession if there is one, else local[*]")
    spark_conf: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="settings for a SparkSession leadscore starts, e.g. spark.driver.memory")


class GenerateSpec(_Section):
    leads: int = Field(20_000, ge=1, le=50_000_000)
    seed: int = Field(7, ge=0)
    start: date = date(2024, 11, 18)
    weeks: int = Field(104, ge=30, le=520)
    as_of: date | None = Field(
        None, description="write the export as it stood at this day's 00:00 UTC: only what was known by then "
                          "(deals still open, events not yet ingested left out); move it a week to add a week")
    world: dict[str, float | int | list[float]] = Field(
        default_factory=dict,
        description="overrides of the simulated world's knobs (features.simulate.SimulationParams), e.g. win_rate")

    @field_validator("world")
    @classmethod
    def _known_knobs(cls, value: dict):
        from dataclasses import fields

        from features.simulate import SimulationParams

        known = {f.name for f in fields(SimulationParams)} - {"leads", "seed", "start", "weeks"}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown simulator knob(s) {unknown}; known: {sorted(known)}")
        return value

    @field_validator("start")
    @classmethod
    def _monday(cls, value: date):
        if value.weekday() != 0:
            raise ValueError(f"must be a Monday ({value} is a {value:%A})")
        return value


class MlflowSpec(_Section):
    tracking_uri: str = Field("sqlite:///mlflow.db", description="MLFLOW_TRACKING_URI overrides it")
    experiment: str = "leadscore"
    artifact_location: str = Field("mlartifacts", description="where a new experiment stores artifacts (path or URI)")


class PromoteSpec(_Section):
    metric: Literal["pr_auc", "roc_auc", "precision_at_capacity", "lift_top5", "lift_top10", "lift_top20",
                    "recall_top5", "recall_top10", "recall_top20"] = Field(
        "pr_auc", description="the metric the challenger must win on (higher is better; models/metrics.evaluate)")
    min_improvement: float = Field(0.0, ge=0, description="relative margin the challenger must win by")


class ScoreSpec(_Section):
    db_url: str = Field("sqlite:///out/leadscore.db", description="LEADSCORE_DB_URL or --db override it")
    out_dir: Path = Path("out")
    top_leads_in_report: int = Field(250, ge=1, description="rows of the report's list, best first; filterable by "
                                     "tier, journey stage and report_filter_column")
    report_filter_column: str | None = Field("owner", description="a display column whose values filter the report's "
                                             "list (who owns the lead); none to leave that filter out")
    psi_warn: float = Field(0.10, gt=0, description="PSI above this is a drift warning")
    psi_alert: float = Field(0.25, gt=0, description="PSI above this is a drift alert")
    stale_run_hours: float = Field(
        6, gt=0, description="a run still marked running after this long died; the next run marks it interrupted")
    csv_bom: bool = Field(False, description="start the CSV with a UTF-8 byte-order mark, so that spreadsheet tools "
                          "(Excel) read accented names as UTF-8; CRM importers read it either way")
    drift_baseline_weeks: int = Field(
        4, ge=0, le=26, description="this week's features are compared with the same features at this many Mondays "
        "before it (0: no drift check); several, so that a rhythm (a fortnightly newsletter) is part of the usual")
    drift_sample_leads: int = Field(50_000, ge=1000, description="leads sampled per earlier Monday for the comparison")
    drift_noise_factor: float = Field(
        2.0, ge=1, description="a feature is flagged only when its PSI is also this many times the largest PSI of "
        "one usual week against the others")


class OutcomesSpec(_Section):
    """How published lists are judged once their outcomes are known (``leadscore outcomes``, the report)."""

    window_weeks: int = Field(8, ge=1, le=104, description="the latest measured lists pooled for the warnings and "
                              "the report's summary (one week of tier A is too few leads to judge)")
    min_top_tier_lift: float = Field(2.0, ge=0, description="tier A's realised win rate over the rest of the list "
                                     "below this is a warning")
    expected_ratio: tuple[float, float] = Field((0.67, 1.5), description="actual / expected wins outside this band is "
                                                "a warning: the probabilities no longer match how often leads win")
    feedback_weeks: int = Field(4, ge=1, le=52, description="what sales said: the latest published lists whose "
                                "feedback the report shows, by tier")
    top_reasons: int = Field(5, ge=1, le=50, description="reasons shown per tier and disposition, most frequent first")

    @field_validator("expected_ratio")
    @classmethod
    def _ratio_bounds(cls, value):
        low, high = value
        if not 0 <= low < 1 < high:
            raise ValueError(f"must be [low, high] with 0 <= low < 1 < high, got {list(value)}")
        return value


class ValidationSpec(_Section):
    out_dir: Path = Field(Path("out/validation"), description="where 'leadscore validate' writes its JSON and Data Docs")
    extracted_at: datetime | None = Field(
        None, description="when the export was taken (naive = UTC); default: when its newest file was written")
    clock_skew_minutes: int = Field(15, ge=0, description="how far past the extraction time a timestamp may be")
    earliest_date: datetime = Field(
        datetime(2000, 1, 1), description="timestamps before this are placeholders (1970-01-01, 1900-01-01), not "
        "history: an error naming them, since one would stretch the training grid back to it")
    unknown_lead_tolerance: float = Field(
        0.01, ge=0, le=1, description="share of a table's rows that may name a lead missing from leads "
        "(any such row is a warning; above this share, an error)")
    label_rate: tuple[float, float] = Field((0.0005, 0.5), description="plausible share of positives in a training set")
    min_positives_per_cutoff: int = Field(1, ge=0, description="positives every training cutoff must have")
    sample_values: int = Field(5, ge=1, le=100, description="offending values shown per broken rule")

    @field_validator("label_rate")
    @classmethod
    def _rate_bounds(cls, value):
        low, high = value
        if not 0 <= low < high <= 1:
            raise ValueError(f"must be [low, high] with 0 <= low < high <= 1, got {list(value)}")
        return value


class Params(_Section):
    data: DataSpec = DataSpec()
    engine: EngineSpec = EngineSpec()
    generate: GenerateSpec = GenerateSpec()
    spine: SpineSpec = SpineSpec()
    features: FeatureSpec = FeatureSpec()
    stage: StageSpec = StageSpec()
    train: TrainSpec = TrainSpec()
    promote: PromoteSpec = PromoteSpec()
    tiers: TierSpec = TierSpec()
    mlflow: MlflowSpec = MlflowSpec()
    score: ScoreSpec = ScoreSpec()
    outcomes: OutcomesSpec = OutcomesSpec()
    validation: ValidationSpec = ValidationSpec()

    @model_validator(mode="after")
    def _stage_window(self):
        problem = stage_window_problem(self.stage, self.features)
        if problem:
            raise ValueError(problem)
        if self.spine.label == "sales_accepted" and "accepted" not in self.data.feedback_dispositions.values():
            raise ValueError("spine.label sales_accepted needs a disposition meaning accepted in "
                             "data.feedback_dispositions; map the word your CRM records, e.g. {SAL: accepted}")
        decay = sorted(set(self.train.rules.decay) - set(self.features.windows_days))
        if decay:
            raise ValueError(f"train.rules.decay windows {decay} must also be in features.windows_days "
                             f"{list(self.features.windows_days)}")
        return self


def load_params(path: str | Path | None = DEFAULT_PARAMS, overrides: dict[str, Any] | None = None) -> Params:
    """Read and validate the settings file ``path`` (None: the defaults, which are params.yaml's).

    A file that is not there is an error, never a silent run on defaults: a mistyped
    ``--params`` or a command run from another folder would otherwise train or score with
    settings nobody chose.
    """
    raw: dict = {}
    if path is None:
        return _validated(Path("defaults"), _overridden(raw, overrides))
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"settings file {path} not found (in {Path.cwd()}): run leadscore from the project folder, "
                          "or pass --params PATH")
    if path.exists():
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML: {error}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections")
    return anchored(_validated(path, _overridden(raw, overrides)), path.resolve().parent)


def anchored(config: Params, folder: Path) -> Params:
    """``config`` with its relative paths (data, outputs, the MLflow store, the scores database) made absolute
    against ``folder``, the settings file's: a command run from another folder still reads and writes the
    project's files, instead of creating an empty MLflow store and ``out/`` where it happens to run."""
    def path(value: Path) -> Path:
        return value if value.is_absolute() else folder / value

    def url(value: str) -> str:
        if "://" not in value:
            return str(path(Path(value)))
        head, sep, rest = value.partition(":///")
        file, q, query = rest.partition("?")
        if head.startswith("sqlite") and sep and file and file != ":memory:" and not file.startswith("/"):
            return f"{head}:///{folder / file}{q}{query}"
        return value

    return config.model_copy(update={
        "data": config.data.model_copy(update={"dir": path(config.data.dir)}),
        "mlflow": config.mlflow.model_copy(update={"tracking_uri": url(config.mlflow.tracking_uri),
                                                   "artifact_location": url(config.mlflow.artifact_location)}),
        "score": config.score.model_copy(update={"db_url": url(config.score.db_url),
                                                 "out_dir": path(config.score.out_dir)}),
        "validation": config.validation.model_copy(update={"out_dir": path(config.validation.out_dir)}),
    })


def with_overrides(config: Params, overrides: dict[str, Any], source: str = "overrides") -> Params:
    """``config`` with dotted-key ``overrides`` applied and everything validated again."""
    return _validated(Path(source), _overridden(config.model_dump(mode="json", by_alias=True), overrides))


def _overridden(raw: dict, overrides: dict[str, Any] | None) -> dict:
    for dotted, value in (overrides or {}).items():
        node = raw
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return raw


def _validated(path: Path, raw: dict) -> Params:
    try:
        return Params.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_explain(path, error, raw)) from None


RETIRED = {"train.capacity_per_week": "the weekly capacity is the first number of tiers.capacity (tier A); "
                                     "remove this key and set that one"}


def _explain(path: Path, error: ValidationError, raw: dict) -> str:
    lines = [f"{path}: {error.error_count()} invalid setting(s)"]
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        if key.startswith("train.booster.") and "booster" not in raw.get("train", {}):
            key = key.replace("train.booster.", "train.", 1)  # LightGBM's keys are written directly under train
        given = item.get("input")
        if item["type"] == "extra_forbidden" and key in RETIRED:
            lines.append(f"  {key}: no longer a setting: {RETIRED[key]}")
        elif item["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown setting (check the spelling; see params.yaml for the known keys)")
        elif isinstance(given, dict):  # a rule over several keys of a section: its message names them
            lines.append(f"  {key}: {item['msg']}")
        else:
            lines.append(f"  {key} = {given!r}: {item['msg']}")
    return "\n".join(lines)
