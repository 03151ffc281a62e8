"""The DuckDB -> Spark SQL rewrites of ``features.engine.to_spark`` (no JVM needed; the Spark tests run them)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _sqlglot():
    try:
        import sqlglot  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("sqlglot is not installed; CI must run the Spark tests (pip install '.[spark]')", pytrace=False)
        pytest.skip("the spark extra is not installed (pip install '.[spark]')")


def spark_sql(sql: str, keep_order: bool = True) -> str:
    from features.engine import to_spark

    return " ".join(to_spark(sql, keep_order).split())


def test_decimal_literals_divide_as_doubles():
    # Spark would divide by a DECIMAL and round to six places; DuckDB divides as DOUBLE
    assert spark_sql("SELECT x / 1000.0, y / 7 FROM t") == "SELECT x / CAST(1000.0 AS DOUBLE), y / 7 FROM t"


def test_epoch_us_is_unix_micros_of_the_utc_instant():
    assert spark_sql("SELECT epoch_us(occurred_at) // 86400000000 FROM events") == (
        "SELECT UNIX_MICROS(CAST(occurred_at AS TIMESTAMP_LTZ)) DIV 86400000000 FROM events")


def test_layout_orders_are_dropped_and_result_orders_kept():
    assert spark_sql("SELECT a FROM (SELECT a FROM t ORDER BY a) s ORDER BY a") == (
        "SELECT a FROM (SELECT a FROM t) AS s ORDER BY a NULLS LAST")
    assert spark_sql("SELECT a FROM t ORDER BY a", keep_order=False) == "SELECT a FROM t"
    assert "LIMIT 5" in spark_sql("SELECT a FROM (SELECT a FROM t ORDER BY a LIMIT 5) s", keep_order=False)


def test_ctes_are_inlined_even_when_they_read_each_other():
    out = spark_sql("WITH c AS (SELECT a FROM t), d AS (SELECT a FROM c) SELECT x.a FROM d x JOIN c USING (a)")
    assert "WITH" not in out
    assert out == ("SELECT x.a FROM (SELECT a FROM (SELECT a FROM t) AS c) AS x "
                   "JOIN (SELECT a FROM t) AS c USING (a)")


def test_timestamps_stay_naive_utc_and_filters_transpile():
    out = spark_sql("SELECT count(*) FILTER (WHERE d.created_at < TIMESTAMP '2025-01-06 00:00:00' + INTERVAL 90 DAY) "
                    "FROM deals d")
    assert "CAST('2025-01-06 00:00:00' AS TIMESTAMP_NTZ)" in out and "FILTER(WHERE" in out


def test_duckdb_engine_runs_the_sql_as_written():
    import duckdb

    from features.engine import as_engine

    engine = as_engine(duckdb.connect())
    assert as_engine(engine) is engine
    engine.create_table("t", "SELECT 1 AS a UNION ALL SELECT 2")
    engine.append("t", "SELECT 3")
    assert engine.exists("t") and not engine.exists("missing")
    assert engine.columns("t") == ["a"]
    assert engine.rows("SELECT sum(a) FROM t") == [(6,)]
    engine.drop("t")
    assert not engine.exists("t")


def test_a_spark_job_given_up_on_is_said_plainly_and_a_bug_keeps_its_traceback():
    from features.engine import job_failure
    from features.errors import EngineFailure

    lost = RuntimeError("An error occurred while calling o592.count.\n: org.apache.spark.SparkException: Job aborted "
                        "due to stage failure: Task 3 in stage 12.0 failed 4 times: ExecutorLostFailure (executor 1 "
                        "exited caused by one of the running tasks)\n\tat org.apache.spark.scheduler...")
    said = job_failure("_lead_k", lost)
    assert isinstance(said, EngineFailure)
    assert "Spark could not build table _lead_k: org.apache.spark.SparkException: Job aborted" in str(said)
    assert "nothing was written" in str(said) and "\tat org.apache" not in str(said)
    bug = KeyError("lead_id")
    assert job_failure("_lead_k", bug) is bug
