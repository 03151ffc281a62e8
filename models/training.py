"""Fit the model and its baselines on time-ordered blocks and evaluate all of them on the same test rows."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from features.errors import UserError
from models.baselines import RuleScore, RuleSpec, as_object, logistic_regression
from models.estimator import BoosterSpec, LeadPropensityModel
from models.frame import WEIGHT, feature_columns, weight_column, weights
from models.gates import BASELINES, GateSpec, check_gates
from models.metrics import bootstrap_gain, by_segment, decile_table, evaluate
from models.splits import SplitSpec, TimeSplit, selection_half, time_split

SEGMENTS = ("industry", "lead_source", "journey_stage")


class TrainSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = 42
    booster: BoosterSpec = BoosterSpec()
    split: SplitSpec = SplitSpec()
    rules: RuleSpec = RuleSpec()
    gates: GateSpec = GateSpec()
    min_positives_train: int = Field(30, ge=1)
    min_positives_test: int = Field(10, ge=1)
    negative_sample_rate: float = Field(
        1.0, gt=0, le=1, description="share of negative rows kept for training and evaluation (all positives are "
        "kept; kept negatives are weighted by the rows they stand for). 1: no sampling. Below 1 lets a training "
        "set larger than memory train: 0.1 at 1M leads keeps ~1.8M of 16.7M rows")

    @model_validator(mode="before")
    @classmethod
    def _booster_settings_at_train_level(cls, data):
        """LightGBM's settings sit directly under ``train`` in params.yaml, so that an experiment reads
        ``dvc exp run -S train.learning_rate=0.05``; an explicit ``booster:`` mapping is merged underneath."""
        if isinstance(data, dict):
            lifted = {key: data[key] for key in BoosterSpec.model_fields if key in data}
            if lifted:
                data = {key: value for key, value in data.items() if key not in lifted}
                data["booster"] = {**dict(data.get("booster") or {}), **lifted}
        return data


class NotEnoughData(UserError):
    pass


@dataclass
class TrainingResult:
    model: LeadPropensityModel
    rules: RuleScore
    logistic: object
    split: TimeSplit
    metrics: dict[str, dict[str, float]]
    test_predictions: pd.DataFrame
    segments: pd.DataFrame
    deciles: pd.DataFrame
    counts: dict[str, int]
    booster: BoosterSpec | None = None
    tuned_validation_pr_auc: float | None = None
    gate_failures: list[str] = field(default_factory=list)
    uncertainty: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    selection_metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # what the gates read


def train(frame: pd.DataFrame, categorical: list[str], horizon_days: int, spec: TrainSpec, *, capacity: int,
          truth: pd.DataFrame | None = None, tune_trials: int = 0, event_types=()) -> TrainingResult:
    """Fit on the train block, stop early and calibrate on validation; gates read the test block's selection half,
    and the metrics returned are the other half's (``models/splits.py``). ``capacity``: the leads sales can call
    in a week (``tiers.weekly_capacity``), where precision is measured."""
    frame = frame.sort_values(["cutoff", "lead_id"], kind="stable").reset_index(drop=True)
    split = time_split(frame["cutoff"].unique(), horizon_days, spec.split)
    blocks = {name: frame[frame["cutoff"].isin(getattr(split, name))] for name in ("train", "validation", "test")}
    counts = {f"{name}_{what}": int(v) for name, block in blocks.items()
              for what, v in (("rows", len(block)), ("positives", block["label"].sum()))}
    selecting = selection_half(blocks["test"])
    halves = {"selection": blocks["test"][selecting], "report": blocks["test"][~selecting]}
    counts |= {f"{name}_{what}": int(v) for name, block in halves.items()
               for what, v in (("rows", len(block)), ("positives", block["label"].sum()))}
    if WEIGHT in frame:  # a sampled set: also the rows it stands for
        counts |= {f"{name}_rows_represented": int(round(block[WEIGHT].sum())) for name, block in blocks.items()}
    _require_positives(counts, spec)
    features = feature_columns(frame)
    categorical = [c for c in categorical if c in features]
    numeric = [c for c in features if c not in categorical]
    train_, val, test = blocks["train"], blocks["validation"], blocks["test"]

    booster, tuned_score = spec.booster, None
    if tune_trials:
        from models.tuning import tune

        booster, tuned_score = tune(train_, val, features, categorical, spec.booster, tune_trials, spec.seed)
    model = LeadPropensityModel.from_spec(booster, categorical, spec.seed)
    model.fit(train_[features], train_["label"], val[features], val["label"], val_groups=val["cutoff"],
              sample_weight=weights(train_), val_weight=weights(val))
    rules = RuleScore(spec.rules, event_types).fit(val, val["label"], sample_weight=weights(val))
    logistic = logistic_regression(numeric, categorical, spec.seed)
    logistic.fit(as_object(train_[features], categorical), train_["label"], model__sample_weight=weights(train_))

    kept = ["lead_id", "cutoff", "label", *SEGMENTS, WEIGHT]
    predictions = test[[c for c in kept if c in test]].copy()
    predictions["model"] = model.predict_proba(test[features])[:, 1]
    predictions["model_uncalibrated"] = model.uncalibrated_proba(test[features])
    predictions["rules"] = rules.predict_proba(test)[:, 1]
    predictions["rules_points"] = rules.points(test)
    predictions["logistic"] = logistic.predict_proba(as_object(test[features], categorical))[:, 1]
    scorers = ["model", "model_uncalibrated", "rules", "logistic"]
    if truth is not None:
        predictions = predictions.merge(truth[["lead_id", "cutoff", "p_true"]], on=["lead_id", "cutoff"], how="left")
        if predictions["p_true"].notna().all():
            predictions = predictions.rename(columns={"p_true": "oracle"})
            scorers.append("oracle")
        else:
            predictions = predictions.drop(columns="p_true")
    selection, predictions = predictions[selecting], predictions[~selecting].reset_index(drop=True)
    selection_metrics = score_block(selection, scorers, share_of_capacity(selection, test, capacity))
    report_capacity = share_of_capacity(predictions, test, capacity)
    metrics = score_block(predictions, scorers, report_capacity)
    # how sure the comparison with each baseline is: 90 % intervals of the model's gain, leads resampled per cutoff
    uncertainty = {f"model_minus_{b}": bootstrap_gain(predictions["label"], predictions["model_uncalibrated"],
                                                      predictions[RANKING.get(b, b)], predictions["cutoff"],
                                                      report_capacity, weights(predictions), seed=spec.seed)
                   for b in BASELINES}
    segments = pd.concat([by_segment(predictions, s, "label", "model", weight=weight_column(predictions))
                          for s in SEGMENTS if s in predictions], ignore_index=True)
    result = TrainingResult(model, rules, logistic, split, metrics, predictions, segments,
                            decile_table(predictions["label"], predictions["model"], weights(predictions)), counts,
                            booster=booster,
                            tuned_validation_pr_auc=tuned_score)
    result.selection_metrics = selection_metrics
    result.gate_failures = check_gates(selection_metrics, spec.gates)
    result.uncertainty = uncertainty
    return result


# the order each scorer's list is worked in: the model's raw score (calibration makes ties), the points themselves
RANKING = {"model": "model_uncalibrated", "rules": "rules_points"}
ORACLE_RATIOS = ("roc_auc", "pr_auc", "lift_top10", "precision_at_capacity")  # the model's share of the oracle's


def score_block(predictions: pd.DataFrame, scorers: list[str], capacity: int) -> dict[str, dict[str, float]]:
    """Every scorer's metrics on one block's rows, and the model's share of the oracle's when there is one."""
    metrics = {name: evaluate(predictions["label"], predictions[name], predictions["cutoff"], capacity,
                              ranking=predictions[RANKING.get(name, name)], weight=weights(predictions))
               for name in scorers}
    if "oracle" in metrics:
        metrics["model_vs_oracle"] = {
            k: metrics["model"][k] / metrics["oracle"][k]
            for k in ORACLE_RATIOS if metrics["oracle"][k]
        }
    return metrics


def share_of_capacity(part: pd.DataFrame, whole: pd.DataFrame, capacity: int) -> int:
    """The weekly capacity scaled to a part of the rows: sales call ``capacity`` leads of the whole population,
    so on half of its accounts the same list reaches about half as deep."""
    size = (lambda f: f[WEIGHT].sum() if WEIGHT in f else len(f))
    return max(1, round(capacity * size(part) / max(size(whole), 1)))


def _require_positives(counts: dict[str, int], spec: TrainSpec) -> None:
    problems = []
    if counts["train_positives"] < spec.min_positives_train:
        problems.append(f"{counts['train_positives']} positives in the train block (need {spec.min_positives_train})")
    if counts["test_positives"] < spec.min_positives_test:
        problems.append(f"{counts['test_positives']} positives in the test block (need {spec.min_positives_test})")
    for half in ("selection", "report"):
        if counts[f"{half}_positives"] < 1:
            problems.append(f"no positives in the test block's {half} half of the accounts")
    if counts["validation_positives"] < 2:
        problems.append(f"{counts['validation_positives']} positives in the validation block (need 2)")
    if problems:
        raise NotEnoughData(
            "too little signal to train and test honestly: " + "; ".join(problems) +
            ". Use a longer history or more leads, a longer spine.horizon_days, a smaller spine.slide_days, a lower "
            "spine.warmup_days or an earlier spine.first_cutoff, more train.split.test_cutoffs or "
            "train.split.validation_cutoffs, or lower train.min_positives_train / train.min_positives_test if you "
            "accept noisier estimates ('leadscore profile DATA_DIR' suggests settings that train)."
        )
