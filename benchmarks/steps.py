"""One benchmark step per process, so wall time and peak memory belong to that step alone.

Usage: python -m benchmarks.steps STEP DATA_DIR [ARGS]; `benchmarks/run.py` calls it under
`/usr/bin/time -v`. Steps:

* ``floor`` -- one DuckDB pass over the event columns the features read: the speed limit;
* ``features-1`` -- features for the latest cutoff (the scoring path);
* ``features-12`` -- a 12-cutoff training set (spine, labels, features) written to Parquet.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from features.definitions import FeatureSpec, StageSpec
from features.spine import SpineSpec, cutoff_grid, monday_on_or_before
from features.training_set import build_scoring_frame, build_training_set
from pipelines.config import load_params
from pipelines.stages import open_data


def main(step: str, data_dir: str) -> None:
    config = load_params(Path(__file__).resolve().parents[1] / "params.yaml")
    tables = open_data(data_dir, config)
    con = tables.con
    started = time.perf_counter()
    if step == "floor":
        rows = con.execute("SELECT count(*) FROM (SELECT lead_id, count(*), sum(duration_s), max(occurred_at) "
                           "FROM events GROUP BY lead_id)").fetchall()[0][0]
    elif step == "features-1":
        as_of = monday_on_or_before(tables.data_end())
        table = build_scoring_frame(con, as_of, config.spine, FeatureSpec(), StageSpec(), config.data.event_types,
                                    config.data.extra_lead_attributes, has_identities=tables.has("identities"))
        with tempfile.TemporaryDirectory() as tmp:
            con.execute(f"COPY {table} TO '{tmp}/f.parquet' (FORMAT PARQUET)")
        rows = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    elif step == "features-12":
        spec = SpineSpec(slide_days=28, settle_days=0, warmup_days=0)
        cutoffs = cutoff_grid(tables.data_start(), tables.data_end(), spec)
        end = tables.data_end()
        mature = [t for t in cutoffs if (end - t).days >= spec.horizon_days][-12:]
        table, report = build_training_set(con, spec, FeatureSpec(), StageSpec(), tables.data_start(), end,
                                           config.data.event_types, config.data.extra_lead_attributes,
                                           has_identities=tables.has("identities"), cutoffs=mature)
        with tempfile.TemporaryDirectory() as tmp:
            con.execute(f"COPY {table} TO '{tmp}/t.parquet' (FORMAT PARQUET)")
        rows = int(report["rows"].sum())
    else:
        raise SystemExit(f"unknown step {step}")
    print(f"RESULT step={step} rows={rows} seconds={time.perf_counter() - started:.2f}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
