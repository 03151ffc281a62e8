"""Negative sampling: a training set larger than memory, read as a weighted sample that stands for all of it.

Readiness-to-talk is rare (about 1 % of (lead, cutoff) rows are positive), so almost all
of a large training set is negatives that each say little. Keeping every positive and a
share of the negatives, each kept negative weighted by the negatives it stands for, is
the standard remedy (He et al., "Practical lessons from predicting clicks on ads at
Facebook", 2014): the weighted sample has the population's base rate, so the booster,
its calibration and every metric estimate what they would on all the rows.

Which negatives are kept depends only on (lead_id, cutoff, seed), through MD5, never on
row order or the DuckDB version: a re-run keeps the same rows, and a higher rate keeps a
superset. The weight is per cutoff, (negatives of the cutoff) / (negatives kept), so the
weighted rows of each cutoff add up exactly to its rows, and tiers by weekly capacity cut
where they would in the whole population.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from features.definitions import sql_string
from features.errors import UserError
from features.training_file import training_source
from models.frame import WEIGHT

BUCKETS = 1_000_000  # the rate's resolution: one in a million


def kept_negatives_sql(rate: float, seed: int) -> str:
    """A SQL predicate that keeps a share ``rate`` of the negatives, chosen by (lead_id, cutoff, seed)."""
    draw = f"md5_number_lower(lead_id::VARCHAR || '@' || epoch_us(cutoff)::VARCHAR || '@{int(seed)}') % {BUCKETS}"
    return f"({draw} < {round(rate * BUCKETS)})"


def sample_negatives(path: Path, rate: float, seed: int, con=None) -> pd.DataFrame:
    """Every positive row of the training set at ``path`` and a share ``rate`` of its negatives, weighted.

    DuckDB streams the parts, so memory holds the sample only; the sample goes through a
    Parquet file of its own so that its columns get exactly the types ``pd.read_parquet``
    gives the unsampled set.
    """
    from pipelines.sources import connect

    if not 0 < rate <= 1:
        raise UserError(f"train.negative_sample_rate must be in (0, 1], got {rate}")
    con = con or connect()
    source = training_source(path)
    kept = kept_negatives_sql(rate, seed)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _negative_weights AS
        SELECT cutoff, count(*)::DOUBLE / greatest(1, count(*) FILTER (WHERE {kept})) AS weight
        FROM {source} WHERE label = 0 GROUP BY cutoff""")
    with tempfile.TemporaryDirectory() as tmp:
        sample = Path(tmp) / "sample.parquet"
        con.execute(f"""
            COPY (SELECT f.*, CASE WHEN f.label = 1 THEN 1.0 ELSE w.weight END AS {WEIGHT}
                  FROM {source} AS f LEFT JOIN _negative_weights AS w USING (cutoff)
                  WHERE f.label = 1 OR {kept}
                  ORDER BY f.cutoff, f.lead_id)
            TO {sql_string(sample.as_posix())} (FORMAT PARQUET)""")
        con.execute("DROP TABLE _negative_weights")
        return pd.read_parquet(sample)
