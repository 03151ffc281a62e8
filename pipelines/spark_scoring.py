"""Apply the registered model on Spark executors: ``mapInPandas`` over the week's feature rows.

Why ``mapInPandas`` and not ``mlflow.pyfunc.spark_udf``: the UDF returns what the
pyfunc's ``predict`` returns, the calibrated probability only, while the weekly list
also needs the booster's raw score (to order leads on calibration plateaus) and the
SHAP contributions (grades and reasons). One pass over each Arrow batch computes all
three from the same prepared features, with the same code as the DuckDB path
(``score_rows.explain_rows``) and the model object the registry loaded (shipped to the
executors with the function, as the UDF would ship it). What comes back to the driver
is a narrow row per lead; ranking, tiers and the database write happen there
(``score_rows.rank_rows``, ``sinks``): at 10M leads that is about 2 GB of pandas.

Executors need the ``leadscore`` package and its model dependencies (LightGBM,
scikit-learn, pandas) importable: the same environment or image as the driver.
"""

from __future__ import annotations

import pandas as pd

from pipelines.score_rows import ROW_COLUMNS, ROW_TYPES, explain_rows

ROW_SCHEMA = ", ".join(f"{name} {kind}" for name, kind in ROW_TYPES.items())
# drift (PSI) is a distribution statistic: a uniform sample this large measures it as well as every row
DRIFT_SAMPLE_ROWS = 500_000


def explained_rows(frame, features: list[str], wrapper):
    """A Spark DataFrame of ``score_rows.ROW_COLUMNS``, one row per row of ``frame`` (the feature table)."""
    columns = list(ROW_COLUMNS)
    wanted = ["lead_id", "account_id", "journey_stage"] + [f for f in features if f not in ("lead_id", "account_id")]

    def batches(iterator):
        for batch in iterator:
            yield explain_rows(batch, features, wrapper)[columns]

    return frame.select(*wanted).mapInPandas(batches, ROW_SCHEMA)


def feature_sample(frame, features: list[str], population: int, limit: int = DRIFT_SAMPLE_ROWS) -> pd.DataFrame:
    """The model's features for drift: every row up to ``limit`` leads, a uniform sample beyond."""
    selected = frame.select(*features)
    if population > limit:
        selected = selected.sample(fraction=limit / population, seed=0)
    return selected.toPandas()
