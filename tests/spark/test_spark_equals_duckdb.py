"""The Spark engine gives the DuckDB engine's results: every feature, label and score, on a generated world.

Integer-valued, text and timestamp columns must be equal exactly; floating-point
columns within a relative 1e-9 (sums may be added in another order on Spark; in
practice they come out bit-identical). Probabilities come from the same model on the
same features, so they, the ranks, tiers and reasons must agree too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import write_params

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("spark")]  # one worker, one JVM

FLOAT_TOLERANCE = {"rtol": 1e-9, "atol": 1e-12}
# three mature cutoffs, four weeks apart, of the two simulated years: a multi-cutoff grid that stays quick
FEW_CUTOFFS = {"spine.slide_days": 28, "spine.first_cutoff": "2026-03-02", "spine.last_cutoff": "2026-04-27"}


def assert_same(duck: pd.DataFrame, spark: pd.DataFrame, keys: list[str]) -> None:
    assert list(spark.columns) == list(duck.columns)
    assert len(spark) == len(duck) > 0
    duck = duck.sort_values(keys).reset_index(drop=True)
    spark = spark.sort_values(keys).reset_index(drop=True)
    for column in duck.columns:
        a, b = duck[column], spark[column]
        if a.dtype.kind == "f" or b.dtype.kind == "f":
            assert a.dtype.kind == b.dtype.kind == "f", column
            np.testing.assert_allclose(b.to_numpy(float), a.to_numpy(float), equal_nan=True, err_msg=column,
                                       **FLOAT_TOLERANCE)
        else:
            as_list = lambda s: s.astype(object).where(s.notna(), None).tolist()  # noqa: E731
            assert as_list(b) == as_list(a), f"column {column} differs"


def test_training_set_on_spark_equals_duckdb(spark, world, tmp_path):
    """build-training-set end to end (reading, spine, labels, every feature, the written file) on both engines."""
    from pipelines.config import load_params
    from pipelines.stages import training_set

    config = load_params(write_params(tmp_path, **FEW_CUTOFFS))
    duck = training_set(world["data"], tmp_path / "duck.parquet", config, engine="duckdb")
    on_spark = training_set(world["data"], tmp_path / "spark.parquet", config, engine="spark")
    assert on_spark["cutoffs"] == duck["cutoffs"] == 3
    for key in ("rows", "positives", "censored_rows", "excluded_in_deal", "excluded_customer", "per_cutoff"):
        assert on_spark[key] == duck[key], key
    assert any("content suites not run on Spark" in w for w in on_spark["warnings"])
    a, b = pd.read_parquet(tmp_path / "duck.parquet"), pd.read_parquet(tmp_path / "spark.parquet")
    assert b["cutoff"].nunique() == 3 and b["label"].sum() > 0
    assert_same(a, b, ["cutoff", "lead_id"])
    # the same sorted file: row order too
    assert b[["cutoff", "lead_id"]].equals(a[["cutoff", "lead_id"]])


def test_scoring_frame_on_spark_equals_duckdb(spark, world):
    """One cutoff, the weekly scoring path: population and every feature."""
    from features.spine import monday_on_or_before
    from features.training_set import build_scoring_frame
    from pipelines.sources import open_tables
    from pipelines.spark_sources import open_spark_tables

    config = world["config"]
    args = dict(spine_spec=config.spine, feature_spec=config.features, stage_spec=config.stage,
                event_types=config.data.event_types, extra_lead_attributes=config.data.extra_lead_attributes)
    duck_tables = open_tables(world["data"], extra_lead_columns=config.data.extra_lead_attributes)
    when = monday_on_or_before(duck_tables.data_end())
    duck = duck_tables.con.sql(f"SELECT * FROM {build_scoring_frame(duck_tables.con, when, **args)}").df()
    spark_tables = open_spark_tables(spark, world["data"], extra_lead_columns=config.data.extra_lead_attributes)
    assert spark_tables.data_end() == duck_tables.data_end()
    assert spark_tables.data_start() == duck_tables.data_start()
    table = build_scoring_frame(spark_tables.engine, when, **args)
    assert_same(duck, spark_tables.engine.table(table).toPandas(), ["lead_id"])


def test_scores_on_spark_equal_duckdb(spark, world, champion, tmp_path):
    """leadscore score both ways with the same champion: probabilities, ranks, tiers, grades, reasons, database rows."""
    from pipelines import sinks
    from pipelines.score import run_scoring

    results = {}
    for engine in ("duckdb", "spark"):
        results[engine] = run_scoring(world["data"], world["config"], db_url=f"sqlite:///{tmp_path / engine}.db",
                                      out_dir=tmp_path / engine, engine=engine)
    duck, on_spark = results["duckdb"], results["spark"]
    assert on_spark.as_of == duck.as_of and on_spark.model_version == duck.model_version
    columns = [c for c in duck.scores.columns if c != "run_id"]
    assert_same(duck.scores[columns], on_spark.scores[columns], ["lead_id"])
    assert duck.scores["sales_feedback"].notna().sum() > 0  # the feedback table read by both engines, compared above
    assert on_spark.scores["rank"].tolist() == duck.scores["rank"].tolist()  # both sorted by rank: same order
    assert (on_spark.scores["lead_id"] == duck.scores["lead_id"]).all()
    # through the same sinks: the database table, and the Parquet only the Spark engine writes
    database = sinks.read_week(sinks.engine_for(f"sqlite:///{tmp_path / 'spark'}.db", ""), on_spark.as_of)
    assert len(database) == len(on_spark.scores)
    written = pd.read_parquet(on_spark.parquet_path)
    assert written.columns.tolist() == sinks.SCORE_COLUMNS and len(written) == len(on_spark.scores)
    assert duck.parquet_path is None and not list(Path(tmp_path / "duckdb").glob("*.parquet"))
    # drift against the usual week (the sampled earlier Mondays are the same leads on both engines) and training
    drift_columns = ["feature", "psi", "usual_psi", "psi_training"]
    pd.testing.assert_frame_equal(on_spark.drift[drift_columns].sort_values("feature", ignore_index=True),
                                  duck.drift[drift_columns].sort_values("feature", ignore_index=True),
                                  check_exact=False, rtol=1e-9, atol=1e-12)
    assert duck.drift["psi"].notna().sum() > 10


def test_spark_reader_reports_contract_errors(spark, world, tmp_path):
    """A missing column is named as the DuckDB reader names it; CSV is refused with the fix."""
    from pipelines.sources import DataError
    from pipelines.spark_sources import open_spark_tables

    export = tmp_path / "export"
    export.mkdir()
    for table in ("events", "identities", "deals"):
        (export / f"{table}.parquet").symlink_to(world["data"] / f"{table}.parquet")
    pd.read_parquet(world["data"] / "leads.parquet").rename(columns={"created_at": "create_date"}).to_parquet(
        export / "leads.parquet")
    with pytest.raises(DataError) as caught:
        open_spark_tables(spark, export)
    assert caught.value.column == "created_at" and caught.value.rule == "missing column"
    assert "did you mean 'create_date'" in caught.value.fix
    (export / "leads.parquet").unlink()
    pd.read_parquet(world["data"] / "leads.parquet").to_csv(export / "leads.csv", index=False)
    with pytest.raises(DataError, match="CSV on Spark"):
        open_spark_tables(spark, export)
