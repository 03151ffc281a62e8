"""One local Spark session for the Spark tests: ``local[2]``, few shuffle partitions, no UI.

Without pyspark, sqlglot or Java the tests skip, except under ``CI`` where they fail:
CI must run the Spark path (``make test`` installs the ``spark`` extra).
"""

from __future__ import annotations

import os
import shutil
import warnings

import pytest


def _missing(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the Spark tests (pip install '.[spark]' and Java 17)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def spark():
    try:
        import pyspark  # noqa: F401
        import sqlglot  # noqa: F401
    except ImportError as error:
        _missing(f"the spark extra is not installed ({error.name}): pip install '.[spark]'")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        _missing("Java is not installed (Spark needs Java 17 or later on the PATH, or JAVA_HOME)")
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    from pipelines.spark_sources import spark_session

    session = spark_session("local[2]", {
        "spark.sql.shuffle.partitions": "4", "spark.default.parallelism": "2", "spark.ui.enabled": "false",
        "spark.driver.memory": "2g", "spark.sql.adaptive.enabled": "true"})
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
