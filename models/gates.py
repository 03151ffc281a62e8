"""What a challenger must show on the out-of-time test before it is registered.

Absolute thresholds on Brier score or calibration error cannot fail at the base rates
of lead scoring (at 1 % positives, predicting 1 % for everyone has a Brier score of
0.0099 and no calibration error), and PR AUC alone let a model through that the points
score beat at the weekly capacity. So every gate here is relative: to the test's base
rate (what a ranking or a probability without skill achieves) or to the two baselines
on the same rows (the points score marketing would otherwise use, and a plain logistic
regression). The uncertainty of the comparisons with the baselines is reported beside
them (`models.metrics.bootstrap_gain`); the gates read the point estimates.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

BASELINES = ("rules", "logistic")
BASELINE_NAMES = {"rules": "the points score", "logistic": "the logistic regression"}


class GateSpec(BaseModel):
    """Registration gates (``params.yaml: train.gates``), each relative to the base rate or to the baselines."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_roc_auc: float = Field(0.70, ge=0, le=1)
    min_pr_auc_over_base_rate: float = Field(
        2.0, ge=0, description="PR AUC at least this many times the test's base rate (a random ranking scores 1x)")
    min_pr_auc_gain_over_rules: float = Field(0.25, description="PR AUC must beat the points score by this fraction")
    min_pr_auc_gain_over_logistic: float = Field(
        0.0, description="PR AUC must beat the logistic regression by this fraction (0: at least match it)")
    min_precision_gain_over_baselines: float = Field(
        0.0, description="precision at the weekly capacity must beat both baselines' by this fraction (0: match)")
    min_brier_skill: float = Field(
        0.0, le=1, description="Brier skill score against predicting the base rate for everyone: above this")
    max_ece_over_base_rate: float = Field(0.5, gt=0, description="calibration error at most this share of the base rate")
    expected_over_actual_wins: tuple[float, float] = Field(
        (0.8, 1.25), description="the test's expected wins (sum of probabilities) over its actual wins must lie in this band")

    @model_validator(mode="before")
    @classmethod
    def _absolute_gates_are_gone(cls, data):
        gone = {"min_pr_auc": "min_pr_auc_over_base_rate", "max_brier": "min_brier_skill",
                "max_ece": "max_ece_over_base_rate"}
        if isinstance(data, dict) and gone.keys() & data.keys():
            old = sorted(gone.keys() & data.keys())
            raise ValueError(f"{', '.join(old)}: absolute gates cannot fail at low base rates and were replaced by "
                             f"{', '.join(gone[k] for k in old)} (relative to the test's base rate)")
        return data

    @model_validator(mode="after")
    def _band(self):
        low, high = self.expected_over_actual_wins
        if not 0 < low <= 1 <= high:
            raise ValueError(f"expected_over_actual_wins must be [low, high] with 0 < low <= 1 <= high, got {[low, high]}")
        return self


def brier_skill(metrics: dict) -> float:
    """1 - Brier / Brier of predicting the base rate for every row: 0 is no skill, 1 is perfect."""
    base = metrics["base_rate"]
    reference = base * (1 - base)
    return 1 - metrics["brier"] / reference if reference > 0 else float("nan")


def check_gates(metrics: dict, gates: GateSpec) -> list[str]:
    """Every gate the model fails, in words; an undefined metric (NaN) fails its gate."""
    model = metrics["model"]
    base = model["base_rate"]
    failures = []
    if not model["roc_auc"] >= gates.min_roc_auc:
        failures.append(f"ROC AUC {model['roc_auc']:.3f} < {gates.min_roc_auc}")
    if not model["pr_auc"] >= gates.min_pr_auc_over_base_rate * base:
        failures.append(f"PR AUC {model['pr_auc']:.4f} is not {gates.min_pr_auc_over_base_rate:g}x the base rate "
                        f"{base:.4f} (a random ranking scores 1x)")
    for baseline, gain in (("rules", gates.min_pr_auc_gain_over_rules),
                           ("logistic", gates.min_pr_auc_gain_over_logistic)):
        other = metrics[baseline]["pr_auc"]
        needed = other * (1 + gain)
        if not model["pr_auc"] >= needed:
            failures.append(f"PR AUC {model['pr_auc']:.4f} does not beat {BASELINE_NAMES[baseline]}'s {other:.4f} "
                            f"by {gain:.0%} (needs {needed:.4f})")
    for baseline in BASELINES:
        other = metrics[baseline]["precision_at_capacity"]
        needed = other * (1 + gates.min_precision_gain_over_baselines)
        if not model["precision_at_capacity"] >= needed:
            failures.append(f"precision at capacity {model['precision_at_capacity']:.3f} is below "
                            f"{BASELINE_NAMES[baseline]}'s {other:.3f} (needs {needed:.3f})")
    skill = brier_skill(model)
    if not skill > gates.min_brier_skill:
        failures.append(f"Brier skill score {skill:.4f} is not above {gates.min_brier_skill:g}: the probabilities "
                        "are no better than the base rate for everyone")
    if not model["ece"] <= gates.max_ece_over_base_rate * base:
        failures.append(f"calibration error {model['ece']:.4f} is more than {gates.max_ece_over_base_rate:g}x the "
                        f"base rate {base:.4f}")
    ratio = model["mean_probability"] / base if base > 0 else float("nan")
    low, high = gates.expected_over_actual_wins
    if not low <= ratio <= high:
        failures.append(f"expected wins are {ratio:.2f}x the actual wins of the test (allowed {low:g}-{high:g})")
    return failures
