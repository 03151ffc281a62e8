"""The readiness-to-talk estimator: LightGBM on point-in-time features, calibrated on a later slice.

Why this shape: gradient-boosted trees handle the mix of sparse counts, recencies
and categories without scaling, with native categorical splits. Class weights or
resampling would distort probabilities, so the booster sees the true base rate and
its scores are then calibrated on the validation block -- a later time slice than
training -- with isotonic or sigmoid, whichever predicts that block better
(chosen by cross-fitting over its cutoffs). The booster trained on the train block
is kept as it is (not refitted on train + validation), so the calibrator describes
exactly the model that is shipped.

The base rate moves (a real export's halved within a year), and a calibrator
fitted on the validation block carries that block's base rate. Before the model is
shipped, ``anchor`` shifts the calibrated log-odds so that the mean probability
equals the base rate of the latest mature weeks: the correction for a change of
prior, which leaves the ranking and the calibration's shape as they were.

The one exception to "no weights": a training set whose negatives were sampled
(``train.negative_sample_rate``) weights each kept negative by the rows it stands for.
Weighted, the booster, the early stopping and the calibrator see the population's base
rate again, so the probabilities stay honest.
"""

from __future__ import annotations

import warnings
from typing import Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from scipy.optimize import brentq
from scipy.special import expit, logit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import brier_score_loss

from features.errors import UserError

EPSILON = 1e-9  # probabilities are kept this far from 0 and 1 before taking log-odds


class BoosterSpec(BaseModel):
    """LightGBM settings (``params.yaml: train``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    learning_rate: float = Field(0.1, gt=0, le=1)
    num_leaves: int = Field(4, ge=2, le=4096)
    max_depth: int = Field(2, ge=-1, le=64, description="-1: unlimited. Depth 2 and half the features per tree "
                           "did best on every simulated world (models/README.md); TreeSHAP costs leaves x depth^2")
    min_child_samples: int = Field(100, ge=1)
    feature_fraction: float = Field(0.5, gt=0, le=1)
    bagging_fraction: float = Field(0.8, gt=0, le=1)
    lambda_l2: float = Field(1.0, ge=0)
    max_rounds: int = Field(2000, ge=1)
    early_stopping_rounds: int = Field(100, ge=1)
    calibration: Literal["auto", "isotonic", "sigmoid"] = "auto"
    threads: int = Field(2, ge=1, le=256, description="LightGBM threads; more than the free cores slows it badly")


class LeadPropensityModel(ClassifierMixin, BaseEstimator):
    """LightGBM + calibrator. ``fit`` needs the validation block too (early stopping, calibration)."""

    def __init__(self, categorical=(), learning_rate=0.1, num_leaves=4, max_depth=2, min_child_samples=100, feature_fraction=0.5,
                 bagging_fraction=0.8, lambda_l2=1.0, max_rounds=2000, early_stopping_rounds=100,
                 calibration="auto", threads=2, random_state=0):
        self.categorical = categorical
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.min_child_samples = min_child_samples
        self.feature_fraction = feature_fraction
        self.bagging_fraction = bagging_fraction
        self.lambda_l2 = lambda_l2
        self.max_rounds = max_rounds
        self.early_stopping_rounds = early_stopping_rounds
        self.calibration = calibration
        self.threads = threads
        self.random_state = random_state

    @classmethod
    def from_spec(cls, spec: BoosterSpec, categorical, random_state: int) -> LeadPropensityModel:
        return cls(categorical=tuple(categorical), random_state=random_state, **spec.model_dump())

    def prepare(self, X: pd.DataFrame) -> pd.DataFrame:
        """Columns in training order; categories fixed to the training levels (unseen -> missing)."""
        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            raise UserError(f"the input lacks {len(missing)} feature(s) the model was trained on: {missing[:5]}")
        X = X.loc[:, list(self.feature_names_in_)].copy()
        for column in self.feature_names_in_:
            if column in self.categories_:
                X[column] = pd.Categorical(X[column].astype("string").astype(object).where(lambda v: v.isin(self.categories_[column])), categories=self.categories_[column])
            else:
                X[column] = pd.to_numeric(X[column], errors="coerce").astype("float64")
        return X

    def fit(self, X: pd.DataFrame, y, X_val: pd.DataFrame, y_val, val_groups=None, sample_weight=None, val_weight=None):
        self.feature_names_in_ = np.array(list(X.columns), dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        self.categories_ = {
            c: sorted(X[c].dropna().astype(str).unique().tolist()) for c in self.categorical if c in X.columns
        }
        self.classes_ = np.array([0, 1])
        Xt, Xv = self.prepare(X), self.prepare(X_val)
        self.booster_ = lgb.LGBMClassifier(
            objective="binary", learning_rate=self.learning_rate, num_leaves=self.num_leaves, max_depth=self.max_depth,
            min_child_samples=self.min_child_samples, colsample_bytree=self.feature_fraction,
            subsample=self.bagging_fraction, subsample_freq=1, reg_lambda=self.lambda_l2,
            n_estimators=self.max_rounds, random_state=self.random_state, deterministic=True,
            force_row_wise=True, n_jobs=self.threads, verbose=-1,
        )
        val_weight = None if val_weight is None else np.asarray(val_weight, float)
        self.booster_.fit(Xt, np.asarray(y), sample_weight=None if sample_weight is None else np.asarray(sample_weight, float),
                          eval_X=(Xv,), eval_y=(np.asarray(y_val),), eval_sample_weight=None if val_weight is None else [val_weight],
                          eval_metric="binary_logloss",
                          callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)])
        self.best_iteration_ = int(self.booster_.best_iteration_ or self.max_rounds)
        self.calibration_brier_ = self._calibration_scores(Xv, np.asarray(y_val), val_groups, val_weight)
        self.calibration_method_ = (self.calibration if self.calibration != "auto"
                                    else min(self.calibration_brier_, key=self.calibration_brier_.get))
        self.calibrator_ = _calibrate(self.booster_, self.calibration_method_, Xv, np.asarray(y_val), val_weight)
        self.intercept_shift_, self.anchor_base_rate_ = 0.0, None  # the validation block's base rate until anchored
        return self

    def _calibration_scores(self, Xv, y_val, groups, weight) -> dict[str, float]:
        """Brier of each calibration method on the validation block, fitted on one half, scored on the other."""
        weight = np.ones(len(y_val)) if weight is None else weight
        groups = np.asarray(groups) if groups is not None else np.arange(len(y_val)) % 2
        halves = np.isin(groups, np.unique(groups)[: max(1, len(np.unique(groups)) // 2)])
        scores = {}
        for method in ("isotonic", "sigmoid"):
            losses = []
            for fit_mask in (halves, ~halves):
                if y_val[fit_mask].sum() == 0 or y_val[~fit_mask].sum() == 0:
                    continue
                calibrator = _calibrate(self.booster_, method, Xv[fit_mask], y_val[fit_mask], weight[fit_mask])
                losses.append(brier_score_loss(y_val[~fit_mask], calibrator.predict_proba(Xv[~fit_mask])[:, 1],
                                               sample_weight=weight[~fit_mask]))
            scores[method] = float(np.mean(losses)) if losses else float("inf")
        return scores

    def anchor(self, X: pd.DataFrame, y, weight=None) -> float:
        """Shift the calibrated log-odds so that the mean probability on ``X`` is the base rate of ``y``.

        Called on the latest mature weeks before the model ships; returns the shift.
        """
        probability = self._calibrated(self.prepare(X), shift=0.0)
        target = float(np.average(np.asarray(y, float), weights=weight))
        if not 0 < target < 1:
            raise ValueError(f"cannot anchor the calibration to a base rate of {target}: the rows need both labels")
        odds = logit(np.clip(probability, EPSILON, 1 - EPSILON))
        self.intercept_shift_ = float(brentq(
            lambda shift: np.average(expit(odds + shift), weights=weight) - target, -30.0, 30.0))
        self.anchor_base_rate_ = target
        return self.intercept_shift_

    def _calibrated(self, prepared: pd.DataFrame, shift: float | None = None) -> np.ndarray:
        probability = self.calibrator_.predict_proba(prepared)[:, 1]
        shift = getattr(self, "intercept_shift_", 0.0) if shift is None else shift
        if shift:
            probability = expit(logit(np.clip(probability, EPSILON, 1 - EPSILON)) + shift)
        return probability

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        probability = self._calibrated(self.prepare(X))
        return np.column_stack([1 - probability, probability])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def uncalibrated_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.booster_.predict_proba(self.prepare(X))[:, 1]

    def score_and_explain(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
        """Calibrated probability, raw booster probability and SHAP contributions, preparing ``X`` once
        (the weekly scorer needs all three for a million rows; each preparation copies the frame)."""
        prepared = self.prepare(X)
        values = self.booster_.predict(prepared, pred_contrib=True)
        return (self._calibrated(prepared), self.booster_.predict_proba(prepared)[:, 1],
                pd.DataFrame(values, columns=[*self.feature_names_in_, "_bias"], index=X.index))

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """SHAP values (log-odds) per feature and row, from LightGBM's TreeSHAP; the last column is the bias."""
        values = self.booster_.predict(self.prepare(X), pred_contrib=True)
        return pd.DataFrame(values, columns=[*self.feature_names_in_, "_bias"], index=X.index)


def _calibrate(booster, method: str, X, y, weight) -> CalibratedClassifierCV:
    """The calibrator of a frozen booster on (X, y), with row weights when the rows were sampled."""
    calibrator = CalibratedClassifierCV(FrozenEstimator(booster), method=method)
    with warnings.catch_warnings():
        # scikit-learn warns that a FrozenEstimator ignores the weights: it is frozen on purpose, and
        # the weights reach the calibration itself, which is what they are for
        warnings.filterwarnings("ignore", message="Since FrozenEstimator does not appear to accept sample_weight")
        return calibrator.fit(X, y, sample_weight=weight)
