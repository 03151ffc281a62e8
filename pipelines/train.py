"""``leadscore train``, ``promote`` and ``backtest``: the MLflow-facing stage bodies."""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
from mlflow.data.dataset_source_registry import get_dataset_source_from_json
from mlflow.data.meta_dataset import MetaDataset
from tqdm import tqdm

from features import oracle
from features.definitions import FeatureSpec, StageSpec
from features.errors import NotFound, UserError
from features.plan import FeaturePlan, unchecked_plan
from features.training_file import PLAN_METADATA, read_training_set, training_schema
from models import plots
from models.frame import feature_columns, naive_utc, weight_column, weights
from models.metrics import evaluate, gains_curve
from models.profile import reference_profile
from models.registry import (
    MODEL_NAME,
    LeadPropensityPyfunc,
    alias_version,
    load,
    log_model,
    register,
    set_alias,
    version_run,
)
from models.splits import selection_half
from models.tiers import assign_tiers, rank_within, tier_table
from models.training import share_of_capacity, train
from pipelines.config import Params
from pipelines.files import atomic_path, file_digest
from pipelines.sampling import sample_negatives
from pipelines.tracking import configure_mlflow, registry_model


def load_training_set(path: Path, negative_sample_rate: float = 1.0, seed: int = 0) -> pd.DataFrame:
    """The training set; below a rate of 1, every positive and that share of the negatives, weighted
    (``pipelines/sampling.py``), so that a set larger than memory can train."""
    frame = read_training_set(path) if negative_sample_rate >= 1 else sample_negatives(path, negative_sample_rate, seed)
    frame["cutoff"] = naive_utc(frame["cutoff"])
    return frame


def load_for_training(path: Path, config: Params) -> pd.DataFrame:
    return load_training_set(path, config.train.negative_sample_rate, config.train.seed)


def training_plan(path: Path, config: Params) -> tuple[FeaturePlan, FeatureSpec, StageSpec]:
    """The feature plan and the feature and stage settings the training set was built with (its Parquet metadata).

    The model records these, not today's params.yaml: scoring must rebuild the columns the
    model learned from. A file built before plans were recorded has every feature of the
    settings' manifest.
    """
    metadata = training_schema(path).metadata or {}
    record = metadata.get(PLAN_METADATA.encode())
    if record is None:
        plan = unchecked_plan(config.features, config.data.event_types, config.data.extra_lead_attributes)
        return plan, config.features, config.stage
    record = json.loads(record)
    spec = FeatureSpec.model_validate(record.get("feature_settings", config.features.model_dump(mode="json")))
    stage = StageSpec.model_validate(record.get("stage_settings", config.stage.model_dump(mode="json")))
    return FeaturePlan.from_record(record, spec), spec, stage


def load_truth(path: Path | None, spine) -> tuple[pd.DataFrame | None, str | None]:
    """A simulated world's oracle, when it is the probability of the label the spine gives rows; else (None, why)."""
    if path is None or not Path(path).exists():
        return None, None
    why = oracle.mismatch(Path(path), spine.label, spine.horizon_days)
    if why:
        return None, f"oracle metrics left out: {why}"
    truth = pd.read_parquet(path, columns=["lead_id", "cutoff", "p_true"])
    truth["cutoff"] = naive_utc(truth["cutoff"])
    return truth, None


def run_training(training_set: Path, config: Params, experiment: str | None = None, truth_path: Path | None = None,
                 tune_trials: int = 0, out_dir: Path = Path("training"), progress: bool = False) -> dict:
    from pipelines.validation import validate_training_file

    steps = tqdm(total=4, desc="training", disable=not progress, bar_format="{desc}: {n}/{total} {postfix}")
    steps.set_postfix_str("checking the training set")
    checked = validate_training_file(training_set, config.validation)
    checked.raise_for_errors()  # before MLflow sees a run
    frame = load_for_training(training_set, config)
    plan, feature_spec, stage_spec = training_plan(training_set, config)
    categorical = plan.categorical
    truth, no_oracle = load_truth(truth_path, config.spine)
    store = configure_mlflow(config.mlflow, experiment)
    latest = pd.Timestamp(frame["cutoff"].max())
    # the whole training runs inside the MLflow run, so its duration and a failure are recorded too
    with mlflow.start_run(run_name=f"train {latest:%Y-%m-%d} lr={config.train.booster.learning_rate:g}") as run:
        commit = git_commit()
        mlflow.set_tags({"mlflow.source.git.commit": commit, "training_set": str(training_set)})
        # a local file's source, named directly: resolving the path makes MLflow warn that two sources match it
        source = get_dataset_source_from_json(json.dumps({"uri": Path(training_set).resolve().as_uri()}), "local")
        mlflow.log_input(MetaDataset(source, name=Path(training_set).name, digest=file_digest(training_set)[:16]),
                         context="training")
        steps.update()
        steps.set_postfix_str("booster, calibration, baselines and metrics" + (f", {tune_trials} tuning trials"
                                                                               if tune_trials else ""))
        result = train(frame, categorical, config.spine.horizon_days, config.train,
                       capacity=config.tiers.weekly_capacity, truth=truth, tune_trials=tune_trials,
                       event_types=plan.event_types)
        steps.update()
        steps.set_postfix_str("anchoring, SHAP explanations, logging to MLflow")
        summary = _record_run(run, result, frame, plan, feature_spec, stage_spec, config, training_set, out_dir,
                              checked, no_oracle, store, commit)
    steps.update()
    steps.set_postfix_str("metrics and plots for DVC")
    _write_dvc_outputs(result, out_dir, summary)
    steps.update()
    steps.close()
    return summary


def git_commit() -> str:
    """The commit of the code that trained (with '-dirty' when the tree has changes), or 'unknown' outside git."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def _record_run(run, result, frame, plan, feature_spec, stage_spec, config: Params, training_set: Path,
                out_dir: Path, checked, no_oracle: str | None, store: str, commit: str) -> dict:
    """Everything a training run logs to MLflow, and the summary it returns."""
    feats = plan.features
    categorical = plan.categorical
    features = feature_columns(frame)
    test = frame[frame["cutoff"].isin(result.split.test)]
    calibration = anchor_to_latest(result, frame)
    contributions = result.model.contributions(test[features])
    # The drift reference is the most recent block the model was checked on (the out-of-time test):
    # it is the population closest to the weeks the model will score.
    profile = reference_profile(test[features], categorical, result.model.predict_proba(test[features])[:, 1],
                                weight=weights(test))
    summary = {"training_set": str(training_set), "tracking_uri": store, "split": result.split.describe(),
               "counts": result.counts, "metrics": result.metrics, "gate_failures": result.gate_failures,
               "selection_metrics": result.selection_metrics, "anchored_calibration": calibration,
               "calibration": result.model.calibration_method_, "best_iteration": result.model.best_iteration_,
               "warnings": [str(f) for f in checked.warnings] + ([no_oracle] if no_oracle else []),
               "features": len(feats),
               "features_left_out": [f"{name}: {reason}" for name, reason in plan.left_out],
               "uncertainty": result.uncertainty,
               "rules_skipped": list(result.rules.skipped_)}
    # under the keys of params.yaml (LightGBM's settings sit directly under train there; tuned values when --tune)
    mlflow.log_params(_flat({"spine": config.spine.model_dump(mode="json"), "features": feature_spec.model_dump(mode="json"),
                             "stage": stage_spec.model_dump(mode="json"),
                             "train": {**result.booster.model_dump(), "split": config.train.split.model_dump(),
                                       "seed": config.train.seed,
                                       "negative_sample_rate": config.train.negative_sample_rate},
                             "tiers": {"capacity": list(config.tiers.capacity)}}))
    mlflow.set_tags({"training_set_digest": file_digest(training_set), "calibration": result.model.calibration_method_,
                     "split": result.split.describe(), "gates": "passed" if not result.gate_failures else "failed"})
    mlflow.log_metrics({**result.counts, "best_iteration": result.model.best_iteration_,
                        **{f"{scorer}_{name}": value for scorer, values in result.metrics.items()
                           for name, value in values.items() if pd.notna(value)}})
    mlflow.log_metrics({f"selection_{scorer}_{name}": value for scorer, values in result.selection_metrics.items()
                        for name, value in values.items() if pd.notna(value)})
    mlflow.log_metrics({f"{comparison}_{metric}_{end}": value
                        for comparison, intervals in result.uncertainty.items()
                        for metric, bounds in intervals.items()
                        for end, value in zip(("p05", "p95"), bounds) if pd.notna(value)})
    if result.tuned_validation_pr_auc is not None:
        mlflow.log_metric("tuned_validation_pr_auc", result.tuned_validation_pr_auc)
    plots_dir = out_dir / "plots"
    _write_figures(result, contributions, plots_dir, weights(test))  # rendered once: logged here, read by DVC there
    mlflow.log_artifacts(str(plots_dir), "plots")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        result.deciles.to_csv(tmp / "deciles.csv", index=False)
        result.segments.to_csv(tmp / "segments.csv", index=False)
        test_tiers = _with_tiers(result.test_predictions, config)
        tier_table(test_tiers, weight=weight_column(test_tiers)).to_csv(tmp / "tiers.csv", index=False)
        (tmp / "feature_profile.json").write_text(json.dumps(profile))
        (tmp / "feature_manifest.json").write_text(json.dumps(
            {"features": [asdict(f) for f in feats], "left_out": plan.to_record()["left_out"],
             "extras": plan.to_record()["extras"], "empty_roles": list(plan.empty_roles),
             "points_skipped": list(result.rules.skipped_)}, indent=1))
        mlflow.log_artifacts(str(tmp))
    settings = {"horizon_days": config.spine.horizon_days, "label": config.spine.label,
                "features": feature_spec.model_dump(mode="json"), "stage": stage_spec.model_dump(mode="json"),
                "event_types": list(plan.event_types),
                "extra_lead_attributes": [e.name for e in plan.extras], "plan": plan.to_record(),
                "trained_at": pd.Timestamp.now("UTC").isoformat(), "test_cutoffs": [str(t) for t in result.split.test],
                "calibration": calibration}
    wrapper = LeadPropensityPyfunc(result.model, [asdict(f) for f in feats], settings, profile, result.metrics)
    model_uri = log_model(wrapper, test[features].head(20))
    summary["run_id"] = run.info.run_id
    summary["model_uri"] = model_uri
    if result.gate_failures:
        summary["registered_version"] = None
    else:
        chosen = result.selection_metrics["model"]
        summary["registered_version"] = register(model_uri, "challenger", description=(
            f"Trained by MLflow run {run.info.run_id} ({run.info.run_name}) on {Path(training_set).name}, "
            f"commit {commit[:12]}. Passed every gate of train.gates on the selection half of the test block "
            f"(cutoffs {min(result.split.test):%Y-%m-%d}..{max(result.split.test):%Y-%m-%d}): "
            f"ROC AUC {chosen['roc_auc']:.3f}, "
            f"PR AUC {chosen['pr_auc']:.4f}, precision at capacity {chosen['precision_at_capacity']:.3f}, "
            f"ECE {chosen['ece']:.4f}."))
    mlflow.set_tag("mlflow.note.content", run_description(result, summary["registered_version"]))
    return summary


def run_description(result, version: str | None) -> str:
    """The run page's description (Markdown): what a data scientist opening the run wants first."""
    def line(scorer: str) -> str:
        m = result.metrics.get(scorer)
        if not m:
            return ""
        return (f"| {scorer} | {m['roc_auc']:.3f} | {m['pr_auc']:.4f} | {m['lift_top10']:.2f} | "
                f"{m['precision_at_capacity']:.3f} | {m['ece']:.4f} |\n")

    verdict = (f"Passed the gates: registered as lead-propensity version {version} (@challenger)." if version else
               "Failed the gates, not registered: " + "; ".join(result.gate_failures))
    return (f"{verdict}\n\nSplit: {result.split.describe()}\n\n"
            "Out-of-time estimate (the half of the test block that chose nothing):\n\n"
            "| scorer | ROC AUC | PR AUC | lift@10% | precision at capacity | ECE |\n|---|---|---|---|---|---|\n"
            + "".join(line(s) for s in ("model", "rules", "logistic", "oracle")))


def anchor_to_latest(result, frame: pd.DataFrame) -> dict:
    """Anchor the shipped model's probabilities to the base rate of the latest mature weeks (the test block).

    The metrics were measured before this, on the model anchored to the validation block
    (the latest mature weeks as seen from the test's cutoffs): they measure the procedure
    honestly. The shipped model then takes the same step with the newest labels there are.
    Returns the record the model keeps: expected wins on a list assume this base rate.
    """
    block = frame[frame["cutoff"].isin(result.split.test)]
    validation = frame[frame["cutoff"].isin(result.split.validation)]
    shift = result.model.anchor(block[feature_columns(block)], block["label"], weights(block))
    return {"method": result.model.calibration_method_, "base_rate": result.model.anchor_base_rate_,
            "cutoffs": [f"{min(result.split.test):%Y-%m-%d}", f"{max(result.split.test):%Y-%m-%d}"],
            "log_odds_shift": shift,
            "validation_base_rate": float(np.average(validation["label"], weights=weights(validation)))}


def _with_tiers(predictions: pd.DataFrame, config: Params) -> pd.DataFrame:
    frame = predictions.rename(columns={"model": "probability"})
    frame["rank"] = rank_within(frame, "model_uncalibrated", "cutoff", weight=weight_column(frame))
    frame["tier"] = assign_tiers(frame["probability"].to_numpy(), frame["rank"], config.tiers)
    return frame


def _write_figures(result, contributions, folder: Path, weight) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    figures = {name: make(result.test_predictions) for name, make in plots.ALL.items()}
    figures["feature_importance"] = plots.feature_importance(contributions, weight=weight)
    figures["lift_by_decile"] = plots.lift_by_decile(result.deciles)
    for name, figure in figures.items():
        figure.savefig(folder / f"{name}.png", bbox_inches="tight")
        plt.close(figure)


def _write_dvc_outputs(result, out_dir: Path, summary: dict) -> None:
    """Metrics and plots where DVC looks for them (``dvc metrics show``, ``dvc plots show``)."""
    def compared(metrics: dict) -> dict:
        shown = {k: round(metrics[k], 6) for k in COMPARED if pd.notna(metrics.get(k))}
        if metrics.get("base_rate"):
            shown["expected_over_actual"] = round(metrics["mean_probability"] / metrics["base_rate"], 4)
        return shown

    # the handful of numbers a person compares between runs (dvc metrics show); the full tables are in MLflow
    metrics = {"model": {"registered_version": summary.get("registered_version"), "run_id": summary.get("run_id"),
                         "gates_passed": not result.gate_failures},
               "test": {scorer: compared(values) for scorer, values in result.metrics.items()}}
    with atomic_path(out_dir / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=2))
    predictions = result.test_predictions
    contacted, reached = gains_curve(predictions["label"], predictions["model_uncalibrated"], weights(predictions))
    gains = pd.DataFrame({"contacted_share": contacted, "wins_reached_share": reached})
    with atomic_path(out_dir / "gains.csv") as tmp:
        gains.iloc[:: max(1, len(gains) // 200)].to_csv(tmp, index=False)
    with atomic_path(out_dir / "deciles.csv") as tmp:
        result.deciles.to_csv(tmp, index=False)


COMPARED = ("roc_auc", "pr_auc", "lift_top10", "precision_at_capacity", "ece")


def _flat(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flat(value, name + "."))
        else:
            flat[name] = str(value)[:500]
    return flat


def evaluate_on_recent(model, frame: pd.DataFrame, cutoffs: int, capacity: int) -> dict:
    """Metrics on the selection half of the accounts at the most recent cutoffs: promotion chooses there, so
    the report half of the same cutoffs stays an estimate that chose nothing (``models/splits.py``)."""
    recent = sorted(frame["cutoff"].unique())[-cutoffs:]
    block = frame[frame["cutoff"].isin(recent)]
    selection = block[selection_half(block)]
    metrics = evaluate(selection["label"], model.predict(selection), selection["cutoff"],
                       share_of_capacity(selection, block, capacity), ranking=model.rank_score(selection),
                       weight=weights(selection))
    return metrics | {"cutoffs": [str(t)[:10] for t in recent]}


def record_promotion(config: Params, decision: str, path: Path) -> None:
    """The decision and the versions behind @champion and @challenger, for the record (DVC tracks this file)."""
    configure_mlflow(config.mlflow)
    record = {"decision": decision, "champion": alias_version("champion"), "challenger": alias_version("challenger"),
              "model": MODEL_NAME, "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    with atomic_path(Path(path)) as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")


def promote(config: Params, training_set: Path | None, version: str | None) -> str:
    """Move @champion: to ``version`` (rollback), or to @challenger if it beats the champion on recent cutoffs."""
    configure_mlflow(config.mlflow)
    if version:
        set_alias("champion", version)
        return f"champion -> version {version} (set by hand)"
    challenger = alias_version("challenger")
    if challenger is None:
        raise NotFound(f"no '{MODEL_NAME}@challenger' to promote: run 'leadscore train' first (only models that "
                          "pass the gates are registered)")
    champion = alias_version("champion")
    if champion is None:
        set_alias("champion", challenger)
        return f"champion -> version {challenger} (first model)"
    if champion == challenger:
        return f"champion is already version {champion}"
    if training_set is None:
        raise UserError("comparing challenger with champion needs labelled data: pass the training set (leadscore promote FILE)")
    frame = load_for_training(training_set, config)
    cutoffs = config.train.split.test_cutoffs
    scores = {name: evaluate_on_recent(load(f"models:/{MODEL_NAME}/{v}"), frame, cutoffs,
                                       config.tiers.weekly_capacity)
              for name, v in (("challenger", challenger), ("champion", champion))}
    metric = config.promote.metric
    new, old = scores["challenger"][metric], scores["champion"][metric]
    needed = old * (1 + config.promote.min_improvement)
    verdict = f"{metric} on {', '.join(scores['challenger']['cutoffs'])} (the selection half of the accounts): challenger v{challenger} {new:.4f}, " \
              f"champion v{champion} {old:.4f}"
    if new > needed:
        set_alias("champion", challenger)
        return f"{verdict} -> champion is now version {challenger}"
    return f"{verdict} -> champion stays version {champion} (the challenger must score above {needed:.4f})"


def model_status(config: Params, metrics_path: Path) -> tuple[list[str], bool]:
    """Which model scores, which waits, and whether the metrics DVC shows (``metrics_path``) are the scoring model's.

    Experiments (``dvc exp run``) register challengers and write their metrics; only
    ``leadscore promote`` moves the champion, and ``dvc checkout`` can bring back the metrics
    of another run. So the two can part: this says when they do, and what to run.
    """
    configure_mlflow(config.mlflow)
    lines, aliases = [], {}
    for alias in ("champion", "challenger"):
        version = alias_version(alias)
        aliases[alias] = version
        lines.append(f"{alias}: " + (f"version {version} (MLflow run {version_run(version)})" if version else "none"))
    shown = json.loads(Path(metrics_path).read_text()).get("model", {}) if Path(metrics_path).is_file() else None
    if shown is None:
        lines.append(f"{metrics_path}: not there (train writes it)")
        return lines, True
    described = shown.get("registered_version")
    what = f"version {described}" if described else "a model that failed its gates (not registered)"
    lines.append(f"{metrics_path}: {what} (MLflow run {shown.get('run_id')})")
    agree = described is not None and described == aliases["champion"]
    if agree:
        lines.append("the metrics DVC shows are the scoring model's")
    else:
        lines.append(f"the metrics DVC shows are not the scoring model's (champion: version {aliases['champion']}): "
                     "'leadscore promote' makes the trained challenger score if it wins, 'leadscore promote --version "
                     "N' picks one, 'dvc checkout' or 'dvc repro' brings back the metrics of the code and settings "
                     "checked out")
    return lines, agree


def backtest(config: Params, training_set: Path, model_uri: str) -> pd.DataFrame:
    """The champion on recent matured cutoffs: lift and recall per tier, as sales would have worked the list."""
    configure_mlflow(config.mlflow)
    model = load(registry_model(model_uri))
    frame = load_for_training(training_set, config)
    recent = sorted(frame["cutoff"].unique())[-config.train.split.test_cutoffs:]
    block = frame[frame["cutoff"].isin(recent)].copy()
    weight = weight_column(block)
    block["probability"] = model.predict(block)
    block["rank_score"] = model.rank_score(block)
    block["rank"] = rank_within(block, "rank_score", "cutoff", weight=weight)
    block["tier"] = assign_tiers(block["probability"].to_numpy(), block["rank"], config.tiers)
    table = tier_table(block, weight=weight)
    table.attrs["cutoffs"] = [str(t)[:10] for t in recent]
    table.attrs["model_version"] = model.version
    anchored = (model.wrapper.settings.get("calibration") or {}).get("cutoffs")
    if anchored and anchored[0] <= table.attrs["cutoffs"][-1] and table.attrs["cutoffs"][0] <= anchored[1]:
        table.attrs["anchored_here"] = anchored  # expected wins match actual here by construction
    return table
