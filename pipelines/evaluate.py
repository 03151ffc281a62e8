"""``leadscore evaluate``: the whole pipeline on every simulated world, several seeds each, against each oracle.

Why: a model tuned on one simulator learns that simulator. Decisions about the model
(features, objective, settings) are taken on all worlds together, never on the demo's
alone, and this is the step that measures them. Each run generates a world
(``features/worlds``), builds its training set with the world's own settings (its
vocabulary, as an analyst would write them), trains exactly as ``leadscore train``
does (without MLflow), and records, on the report half of the test block (the half
that chose nothing), every scorer's metrics and the model's share of the oracle's.

The targets (``TARGETS``) are those of the model's issue; they are reported as met or
not, never asserted: they are benchmarks, not tests.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from features.errors import UserError
from features.worlds import settings as world_settings
from models.gates import brier_skill
from models.splits import TooFewCutoffs
from models.training import NotEnoughData, train
from pipelines.config import Params, with_overrides
from pipelines.files import atomic_path, remove
from pipelines.generate import generate_world
from pipelines.stages import training_set
from pipelines.train import load_for_training, load_truth, training_plan

SCORERS = ("model", "rules", "logistic", "oracle")
METRICS = ("roc_auc", "pr_auc", "lift_top10", "precision_at_capacity", "brier", "ece", "base_rate",
           "mean_probability")
# (label, column, comparison, threshold): medians over seeds per world, except where said
TARGETS = (
    ("ROC AUC >= 0.9 x oracle", "roc_auc_vs_oracle", ">=", 0.9),
    ("lift@10% >= 0.7 x oracle", "lift_top10_vs_oracle", ">=", 0.7),
    ("precision at capacity >= points score, every seed", "precision_gain_over_rules_min", ">=", 0.0),
    ("ECE <= 0.1 x base rate", "ece_over_base_rate", "<=", 0.1),
    ("expected / actual wins >= 0.8", "expected_over_actual_min", ">=", 0.8),
    ("expected / actual wins <= 1.25", "expected_over_actual_max", "<=", 1.25),
)


def _oracle(path: Path, config: Params):
    """The world's oracle; without one that matches the spine's label, evaluate has nothing to measure against."""
    truth, why = load_truth(path, config.spine)
    if why:
        raise UserError(why)
    return truth


def run_one(world: str, seed: int, leads: int, weeks: int, base: Params, workdir: Path,
            adjust: Callable | None = None) -> dict:
    """One world and seed, start to finish; a world too small to train is recorded, not raised.

    ``base`` is the settings file, read once for the whole evaluation; the world's own settings
    (its vocabulary) go on top. ``adjust(config) -> config`` changes the settings of an experiment.
    """
    config = with_overrides(base, world_settings(world), source=f"world {world}")
    if adjust is not None:
        config = adjust(config)
    data = workdir / f"{world}-{seed}"
    started = time.perf_counter()
    generate_world(world, data, leads, seed, weeks, config.spine, progress=False)
    training_file = workdir / f"{world}-{seed}.parquet"
    training_set(data, training_file, config)
    frame = load_for_training(training_file, config)
    plan, _, _ = training_plan(training_file, config)
    record = {"world": world, "seed": seed, "leads": leads, "weeks": weeks}
    try:
        result = train(frame, plan.categorical, config.spine.horizon_days, config.train,
                       capacity=config.tiers.weekly_capacity, truth=_oracle(data / "truth.parquet", config),
                       event_types=plan.event_types)
    except (NotEnoughData, TooFewCutoffs) as error:
        return record | {"error": str(error).split(". Use")[0], "seconds": time.perf_counter() - started}
    finally:
        shutil.rmtree(data, ignore_errors=True)
        remove(training_file)  # a folder of parts
        training_file.with_suffix(".report.json").unlink(missing_ok=True)
    for scorer in SCORERS:
        for name in METRICS:
            record[f"{scorer}_{name}"] = result.metrics.get(scorer, {}).get(name, np.nan)
    model = result.metrics["model"]
    record |= {
        **{f"{k}_vs_oracle": v for k, v in result.metrics.get("model_vs_oracle", {}).items()},
        "precision_gain_over_rules": model["precision_at_capacity"] - result.metrics["rules"]["precision_at_capacity"],
        "precision_gain_over_logistic": (model["precision_at_capacity"]
                                         - result.metrics["logistic"]["precision_at_capacity"]),
        "expected_over_actual": model["mean_probability"] / model["base_rate"],
        "ece_over_base_rate": model["ece"] / model["base_rate"],
        # the same for the oracle: calibrated by construction, so these are the sampling noise of this test's size
        **({"oracle_expected_over_actual": result.metrics["oracle"]["mean_probability"] / model["base_rate"],
            "oracle_ece_over_base_rate": result.metrics["oracle"]["ece"] / model["base_rate"]}
           if "oracle" in result.metrics else {}),
        "brier_skill": brier_skill(model),
        "report_positives": result.counts["report_positives"],
        "gates_passed": not result.gate_failures, "gate_failures": " | ".join(result.gate_failures),
        "seconds": time.perf_counter() - started,
    }
    return record


def evaluate(worlds: list[str], seeds: list[int], leads: int, weeks: int, base: Params, out: Path,
             adjust: Callable | None = None, echo: Callable[[str], None] = print) -> pd.DataFrame:
    """Every world x seed; writes ``results.csv``, ``summary.md``, ``summary.json`` and a plot into ``out``."""
    records = []
    with tempfile.TemporaryDirectory(prefix="leadscore-evaluate-") as tmp:
        for world in worlds:
            for seed in seeds:
                record = run_one(world, seed, leads, weeks, base, Path(tmp), adjust)
                records.append(record)
                echo(_progress_line(record))
    results = pd.DataFrame(records)
    summary = summarise(results)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "results.csv") as path:
        results.to_csv(path, index=False)
    with atomic_path(out / "summary.json") as path:
        path.write_text(json.dumps(summary.reset_index().to_dict(orient="records"), indent=1, default=float))
    with atomic_path(out / "summary.md") as path:
        path.write_text(markdown(summary, leads, weeks, seeds))
    if not summary.empty:
        figure = plot(results)
        with atomic_path(out / "model_vs_oracle.png") as path:
            figure.savefig(path, bbox_inches="tight", format="png")
        plt.close(figure)
    return summary


def _progress_line(record: dict) -> str:
    head = f"{record['world']:<12} seed {record['seed']:<3}"
    if "error" in record:
        return f"{head} not trained: {record['error']} ({record['seconds']:.0f} s)"
    return (f"{head} model/oracle ROC AUC {record.get('roc_auc_vs_oracle', np.nan):.2f} "
            f"lift {record.get('lift_top10_vs_oracle', np.nan):.2f}; prec@cap model "
            f"{record['model_precision_at_capacity']:.3f} points {record['rules_precision_at_capacity']:.3f} "
            f"logistic {record['logistic_precision_at_capacity']:.3f}; expected/actual "
            f"{record['expected_over_actual']:.2f}; gates {'passed' if record['gates_passed'] else 'failed'} "
            f"({record['seconds']:.0f} s)")


def _trained(results: pd.DataFrame) -> pd.DataFrame:
    """The runs that trained (a world too small to split or train has an ``error`` instead)."""
    return results[results["error"].isna()] if "error" in results else results


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Per world: medians over the seeds that trained, the worst seed where a target says 'every seed'."""
    trained = _trained(results)
    if trained.empty:
        return pd.DataFrame()
    grouped = trained.groupby("world", sort=False)
    summary = grouped[[c for c in trained.columns if c.endswith("_vs_oracle")]
                      + [f"{s}_{m}" for s in SCORERS for m in ("roc_auc", "pr_auc", "precision_at_capacity")]
                      + [c for c in ("ece_over_base_rate", "expected_over_actual", "brier_skill",
                                     "oracle_ece_over_base_rate") if c in trained]].median()
    summary["seeds"] = grouped.size()
    summary["precision_gain_over_rules_min"] = grouped["precision_gain_over_rules"].min()
    summary["precision_gain_over_logistic_min"] = grouped["precision_gain_over_logistic"].min()
    summary["expected_over_actual_min"] = grouped["expected_over_actual"].min()
    summary["expected_over_actual_max"] = grouped["expected_over_actual"].max()
    if "oracle_expected_over_actual" in trained:
        summary["oracle_expected_over_actual_min"] = grouped["oracle_expected_over_actual"].min()
        summary["oracle_expected_over_actual_max"] = grouped["oracle_expected_over_actual"].max()
    summary["gates_passed"] = grouped["gates_passed"].sum().astype(int).astype(str) + "/" + summary["seeds"].astype(str)
    for label, column, comparison, threshold in TARGETS:
        values = summary[column]
        summary[f"target: {label}"] = values >= threshold if comparison == ">=" else values <= threshold
    return summary


def markdown(summary: pd.DataFrame, leads: int, weeks: int, seeds: list[int]) -> str:
    """The per-world table as it goes into models/README.md and BENCHMARKS.md."""
    if summary.empty:
        return "No world trained: see results.csv for why.\n"
    lines = [f"{leads:,} leads, {weeks} weeks, seeds {', '.join(map(str, seeds))}; medians over seeds; metrics on "
             "the report half of the out-of-time test (it chose nothing).", "",
             "| world | ROC AUC ÷ oracle | PR AUC ÷ oracle | lift@10% ÷ oracle | prec@cap ÷ oracle | "
             "prec@cap model / points / logistic | worst seed: model − points | expected ÷ actual (range; "
             "the oracle's) | ECE ÷ base rate (the oracle's) | gates passed |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for world, row in summary.iterrows():
        lines.append(
            f"| {world} | {row.get('roc_auc_vs_oracle', np.nan):.2f} | {row.get('pr_auc_vs_oracle', np.nan):.2f} | "
            f"{row.get('lift_top10_vs_oracle', np.nan):.2f} | {row.get('precision_at_capacity_vs_oracle', np.nan):.2f} | "
            f"{row['model_precision_at_capacity']:.3f} / {row['rules_precision_at_capacity']:.3f} / "
            f"{row['logistic_precision_at_capacity']:.3f} | {row['precision_gain_over_rules_min']:+.3f} | "
            f"{row['expected_over_actual']:.2f} ({row['expected_over_actual_min']:.2f}–"
            f"{row['expected_over_actual_max']:.2f}; {row.get('oracle_expected_over_actual_min', np.nan):.2f}–"
            f"{row.get('oracle_expected_over_actual_max', np.nan):.2f}) | {row['ece_over_base_rate']:.2f} "
            f"({row.get('oracle_ece_over_base_rate', np.nan):.2f}) | {row['gates_passed']} |")
    met = [f"* {label}: " + ", ".join(f"{world} {'yes' if ok else 'NO'}"
                                      for world, ok in summary[f"target: {label}"].items())
           for label, *_ in TARGETS]
    noise = ("The oracle is calibrated by construction: its ECE and expected ÷ actual wins on the same rows are the "
             "sampling noise of a test this size, the floor under the model's.")
    return "\n".join(lines + ["", noise, "", "Targets (the model issue's; benchmarks, not tests):", *met]) + "\n"


def plot(results: pd.DataFrame):
    """Each scorer's ROC AUC, lift and precision at capacity as a share of the oracle's, per world; dots are seeds."""
    trained = _trained(results)
    worlds = list(dict.fromkeys(trained["world"]))
    measures = (("roc_auc", "ROC AUC"), ("lift_top10", "lift@10%"), ("precision_at_capacity", "precision at capacity"))
    figure, axes = plt.subplots(1, len(measures), figsize=(4.2 * len(measures), 3.6), sharey=True)
    for axis, (metric, title) in zip(np.atleast_1d(axes), measures):
        for offset, scorer in zip((-0.25, 0.0, 0.25), ("model", "rules", "logistic")):
            for position, world in enumerate(worlds):
                rows = trained[trained["world"] == world]
                share = rows[f"{scorer}_{metric}"] / rows[f"oracle_{metric}"]
                axis.bar(position + offset, share.median(), width=0.24, color=COLOURS[scorer],
                         label=scorer if position == 0 else None)
                axis.scatter(np.full(len(share), position + offset), share, s=8, color="black", zorder=3)
        axis.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
        axis.set_xticks(range(len(worlds)), worlds)
        axis.set_title(f"{title} ÷ oracle")
    np.atleast_1d(axes)[0].legend(frameon=False, fontsize=8)
    figure.suptitle("Every world, every seed: the model and the baselines as a share of the oracle", y=1.04)
    return figure


COLOURS = {"model": "#1f5fa8", "rules": "#b3b3b3", "logistic": "#e0a040"}
