"""Configuration, CLI, stage entry points, validation, sources and sinks, the weekly report."""

import warnings

# Great Expectations and MLflow import PySpark whenever it is installed (the spark extra), and PySpark then warns on
# every command, DuckDB runs included, that it does not support pandas 3. leadscore's Spark path is tested on the
# pandas it installs (tests/spark), so this one warning is silenced where every command starts.
warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
