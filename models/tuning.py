"""Optional hyper-parameter search with Optuna, on time-ordered blocks only.

Trials train on the train block, stop early on the first half of the validation
cutoffs and are scored (PR AUC) on the second half; the out-of-time test block is
never looked at, so the final test metrics stay honest.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

from features.errors import UserError
from models.estimator import BoosterSpec, LeadPropensityModel
from models.frame import weights


def tune(train: pd.DataFrame, validation: pd.DataFrame, features: list[str], categorical: list[str],
         base: BoosterSpec, trials: int, seed: int) -> tuple[BoosterSpec, float]:
    try:
        import optuna
    except ImportError:
        raise UserError("--tune needs Optuna: pip install 'leadscore[tune]'") from None
    cutoffs = np.sort(validation["cutoff"].unique())
    first = validation["cutoff"].isin(cutoffs[: max(1, len(cutoffs) // 2)])
    stop, score = validation[first], validation[~first]
    if score["label"].sum() == 0:
        raise UserError("the second half of the validation block has no positives; tuning needs more validation cutoffs")

    def objective(trial):
        spec = base.model_copy(update={
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 4, 63, log=True),
            "max_depth": trial.suggest_int("max_depth", 2, 6),
            "min_child_samples": trial.suggest_int("min_child_samples", 20, 500, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.4, 1.0),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 30, log=True),
            "calibration": "sigmoid",
        })
        model = LeadPropensityModel.from_spec(spec, categorical, seed)
        model.fit(train[features], train["label"], stop[features], stop["label"], val_groups=stop["cutoff"],
                  sample_weight=weights(train), val_weight=weights(stop))
        return average_precision_score(score["label"], model.uncalibrated_proba(score[features]),
                                       sample_weight=weights(score))

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=trials, show_progress_bar=False)
    return base.model_copy(update=study.best_params), float(study.best_value)
