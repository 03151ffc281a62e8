"""What marketing would use otherwise: a points score, and a plain logistic regression.

Both are evaluated on the same out-of-time rows as the model, so the model's gain is
visible. The points score follows the marketing-automation habit (points per
activity, decaying with age, plus points for seniority); it is calibrated on the
validation block like the model, so that its Brier score is a fair comparison.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from features.errors import UserError


class RuleSpec(BaseModel):
    """Points per activity and seniority, with decay by age (``params.yaml: train.rules``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    points: dict[str, float] = Field(default_factory=lambda: {
        "page_view": 1, "email_open": 0.5, "email_click": 3, "content_download": 5, "webinar_register": 5,
        "webinar_attend": 10, "form_submit": 10, "pricing": 10, "demo_request": 30, "case_study": 5,
    })
    decay: dict[int, float] = Field(default_factory=lambda: {7: 1.0, 30: 0.5, 90: 0.25},
                                    description="weight of an activity by the window it falls in")
    seniority_points: dict[str, float] = Field(default_factory=lambda: {
        "c_level": 15, "vp": 15, "director": 10, "manager": 5})


def rule_terms(columns, spec: RuleSpec, event_types=()) -> tuple[dict[str, float], list[str]]:
    """The points per signal that this training set can score, and the terms skipped (with why).

    Points name signals: event types, content types or the high-intent role. A named
    signal whose counts were not built (the export has no such events) is skipped, and
    every event type without points of its own counts one point, so the points score
    exists for any vocabulary.
    """
    windows = sorted(spec.decay)
    points, skipped = {}, []
    for signal, value in {**{et: 1.0 for et in event_types if et not in spec.points}, **spec.points}.items():
        if all(f"{signal}_count_{w}d" in columns for w in windows):
            points[signal] = value
        elif signal in spec.points:
            skipped.append(f"{signal}: the training set has no {signal}_count features (no such events in the export)")
    return points, skipped


def rule_points(frame: pd.DataFrame, spec: RuleSpec, points: dict[str, float] | None = None) -> np.ndarray:
    """The classic score: sum of points per activity, older activity worth less."""
    windows = sorted(spec.decay)
    score = np.zeros(len(frame))
    for signal, value in (spec.points if points is None else points).items():
        previous = 0.0
        for w in windows:
            column = f"{signal}_count_{w}d"
            if column not in frame:
                raise UserError(f"the rule score needs feature '{column}'; add {w} to features.windows_days "
                                 f"or remove '{signal}' from train.rules.points")
            count = frame[column].to_numpy(float)
            score += value * spec.decay[w] * (count - previous)
            previous = count
    if "title_seniority" in frame:
        score += frame["title_seniority"].map(spec.seniority_points).fillna(0).to_numpy(float)
    return score


class RuleScore:
    """The points score, turned into a probability by isotonic regression on the validation block."""

    def __init__(self, spec: RuleSpec, event_types=()):
        self.spec = spec
        self.event_types = tuple(event_types)

    def fit(self, X_val: pd.DataFrame, y_val, sample_weight=None) -> RuleScore:
        self.points_, self.skipped_ = rule_terms(X_val.columns, self.spec, self.event_types)
        self.isotonic_ = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1)
        self.isotonic_.fit(self.points(X_val), np.asarray(y_val, float), sample_weight=sample_weight)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = self.isotonic_.predict(self.points(X))
        return np.column_stack([1 - p, p])

    def points(self, X: pd.DataFrame) -> np.ndarray:
        return rule_points(X, self.spec, self.points_)


def logistic_regression(numeric: list[str], categorical: list[str], random_state: int = 0) -> Pipeline:
    """Log-scaled counts and one-hot categories into an L2 logistic regression: the honest linear baseline."""
    numeric_steps = make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        FunctionTransformer(_signed_log1p, feature_names_out="one-to-one"),
        StandardScaler(),
    )
    categorical_steps = make_pipeline(
        SimpleImputer(strategy="constant", fill_value="(missing)", keep_empty_features=True),
        OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=20, sparse_output=False),
    )
    columns = ColumnTransformer([("numeric", numeric_steps, numeric), ("categorical", categorical_steps, categorical)])
    return Pipeline([("columns", columns), ("model", LogisticRegression(C=0.5, max_iter=3000, random_state=random_state))])


def _signed_log1p(x):
    return np.sign(x) * np.log1p(np.abs(x))


def as_object(frame: pd.DataFrame, categorical: list[str]) -> pd.DataFrame:
    """Categorical columns as plain strings for scikit-learn (it does not take pandas string dtypes)."""
    frame = frame.copy()
    for column in categorical:
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame
