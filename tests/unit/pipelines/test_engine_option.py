"""--engine and --spark-master are checked before any data is read, with how to fix them."""

from __future__ import annotations

from typer.testing import CliRunner

from pipelines.cli import app


def test_unknown_engine_is_refused(tmp_path):
    result = CliRunner().invoke(app, ["build-training-set", str(tmp_path), "--engine", "polars"])
    assert result.exit_code == 2
    assert "--engine 'polars' is not known; use --engine duckdb or --engine spark" in result.output


def test_spark_master_needs_the_spark_engine(tmp_path):
    result = CliRunner().invoke(app, ["score", str(tmp_path), "--engine", "duckdb", "--spark-master", "local[2]"])
    assert result.exit_code == 2
    assert "--spark-master is for --engine spark" in result.output


def test_spark_master_alone_means_spark():
    from pipelines.cli import _engine

    assert _engine(None, "local[2]") == "spark"
    assert _engine(None, None) is None
