"""Where the generated feature SQL runs: DuckDB as written, or Apache Spark after SQLGlot transpiles it.

The spine, the labels and every feature are Python functions that *generate* SQL
strings from the declarations in ``definitions.py``; they never touch data. This
module is the one seam between those strings and an engine, with the few things the
generators need: run a query into a (temporary) table, append to one, read rows back,
list columns. There is one copy of each feature; only the engine differs.

* ``DuckDBEngine`` runs the strings unchanged on a DuckDB connection (one machine).
* ``SparkEngine`` transpiles each string from the DuckDB dialect to Spark SQL with
  SQLGlot, applies the few rewrites listed in ``to_spark`` (all in one place, none
  feature-specific), and runs it with ``spark.sql``. A temporary table becomes a
  temporary view over a persisted DataFrame, materialised when created, because the
  generators read each one several times (``_cells`` once per cutoff).

Why SQLGlot over SQL strings rather than Ibis expressions: the builder is a few
hundred lines of hand-tuned DuckDB SQL whose plan was chosen by measurement
(``BENCHMARKS.md``); rewriting it as Ibis expressions would have meant a second
implementation to re-validate and re-tune, and Ibis compiles to SQL through SQLGlot
anyway. Transpiling keeps the DuckDB path byte-for-byte what it was, and the
portability rules (``features/README.md``) are few and checked by the Spark tests.
"""

from __future__ import annotations

from typing import Any, Protocol

import pandas as pd

from features.errors import EngineFailure


class Engine(Protocol):
    """What the SQL generators need from an engine."""

    name: str

    def rows(self, sql: str) -> list[tuple]: ...

    def frame(self, sql: str) -> pd.DataFrame: ...

    def columns(self, relation: str) -> list[str]: ...

    def exists(self, name: str) -> bool: ...

    def create_table(self, name: str, select: str, temporary: bool = True) -> str: ...

    def append(self, name: str, select: str) -> None: ...

    def drop(self, name: str) -> None: ...


def as_engine(con: Any) -> Engine:
    """An engine for ``con``: an engine is returned as is, a DuckDB connection is wrapped."""
    if hasattr(con, "create_table") and hasattr(con, "rows"):
        return con
    return DuckDBEngine(con)


class DuckDBEngine:
    """The generated SQL on a DuckDB connection, exactly as written."""

    name = "duckdb"

    def __init__(self, con):
        self.con = con

    def rows(self, sql: str) -> list[tuple]:
        return self.con.execute(sql).fetchall()

    def frame(self, sql: str) -> pd.DataFrame:
        return self.con.sql(sql).df()

    def columns(self, relation: str) -> list[str]:
        return list(self.con.sql(f"SELECT * FROM {relation} LIMIT 0").columns)

    def exists(self, name: str) -> bool:
        return bool(self.con.execute(
            "SELECT (SELECT count(*) FROM duckdb_views() WHERE view_name = ?) + "
            "(SELECT count(*) FROM duckdb_tables() WHERE table_name = ?)", [name, name]).fetchall()[0][0])

    def create_table(self, name: str, select: str, temporary: bool = True) -> str:
        self.con.execute(f"CREATE OR REPLACE {'TEMP ' if temporary else ''}TABLE {name} AS {select}")
        return name

    def append(self, name: str, select: str) -> None:
        self.con.execute(f"INSERT INTO {name} {select}")

    def drop(self, name: str) -> None:
        """Drop table or view ``name`` if there is one (a streamed build leaves its output as a view)."""
        views = self.con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = ? AND NOT internal",
                                 [name]).fetchall()[0][0]
        self.con.execute(f"DROP {'VIEW' if views else 'TABLE'} IF EXISTS {name}")


class SparkEngine:
    """The same SQL on a SparkSession: transpiled by SQLGlot, tables as persisted temporary views.

    The session's time zone is set to UTC: every timestamp of the contract is a naive
    UTC value (Spark's ``TIMESTAMP_NTZ``), and the one conversion to an instant
    (``epoch_us``, see ``to_spark``) must not shift it by the driver's zone.
    """

    name = "spark"

    def __init__(self, spark):
        from pyspark import StorageLevel

        self.spark = spark
        self.spark.conf.set("spark.sql.session.timeZone", "UTC")
        self._level = StorageLevel.MEMORY_AND_DISK
        self._parts: dict[str, list] = {}  # table name -> its persisted DataFrames (several after append)

    def to_spark(self, sql: str, keep_order: bool = True) -> str:
        return to_spark(sql, keep_order)

    def sql(self, sql: str, keep_order: bool = True):
        """The DataFrame of a DuckDB-dialect query."""
        return self.spark.sql(self.to_spark(sql, keep_order))

    def rows(self, sql: str) -> list[tuple]:
        return [tuple(row) for row in self.sql(sql).collect()]

    def frame(self, sql: str) -> pd.DataFrame:
        return self.sql(sql).toPandas()

    def columns(self, relation: str) -> list[str]:
        return list(self.spark.table(relation).columns)

    def exists(self, name: str) -> bool:
        return bool(self.spark.catalog.tableExists(name))

    def table(self, name: str):
        return self.spark.table(name)

    def create_table(self, name: str, select: str, temporary: bool = True) -> str:
        # a temporary table's rows have no order: an ORDER BY there is a DuckDB layout hint, a full sort in Spark
        self._replace(name, [self._materialise(name, self.sql(select, keep_order=False))])
        return name

    def register(self, name: str, frame) -> str:
        """Make a DataFrame (e.g. a typed source table) a view the generated SQL can read."""
        frame.createOrReplaceTempView(name)
        return name

    def append_parts(self, name: str, select: str, folder: str) -> None:
        """Append the rows of ``select`` to the Parquet parts under ``folder`` (table ``name`` in the Spark UI)."""
        context = self.spark.sparkContext
        context.setJobDescription(f"leadscore: table {name}")
        try:
            self.sql(select, keep_order=False).write.mode("append").parquet(folder)
        except Exception as error:  # noqa: BLE001 - a job Spark gave up on, after its own retries
            raise job_failure(name, error) from error
        finally:
            context.setJobDescription(None)

    def append(self, name: str, select: str) -> None:
        if name not in self._parts:
            raise KeyError(f"append to {name}: no such table was created on this engine")
        parts = self._parts.pop(name) + [self._materialise(name, self.sql(select, keep_order=False))]
        self._replace(name, parts)

    def drop(self, name: str) -> None:
        for part in self._parts.pop(name, []):
            part.unpersist()
        self.spark.catalog.dropTempView(name)

    def _materialise(self, name: str, frame):
        """Persist and compute now, so that later reads (and a later replacement of its inputs) do not recompute it."""
        frame = frame.persist(self._level)
        context = self.spark.sparkContext
        context.setJobDescription(f"leadscore: table {name}")  # what the Spark UI shows for the job
        try:
            frame.count()
        except Exception as error:  # noqa: BLE001 - a job Spark gave up on, after its own retries
            raise job_failure(name, error) from error
        finally:
            context.setJobDescription(None)
        return frame

    def _replace(self, name: str, parts: list) -> None:
        old = self._parts.pop(name, [])
        view = parts[0]
        for part in parts[1:]:
            view = view.unionByName(part)
        view.createOrReplaceTempView(name)
        self._parts[name] = parts
        for frame in old:
            if not any(frame is kept for kept in parts):
                frame.unpersist()


def job_failure(table: str, error: Exception) -> Exception:
    """A Spark job that failed after Spark's own retries, said plainly; any other exception as it was (a bug)."""
    text = str(error)
    if "SparkException" not in text and "OutOfMemory" not in text and "OUT_OF_MEMORY" not in text:
        return error
    lines = [line.strip().lstrip(": ") for line in text.splitlines() if line.strip().lstrip(": ")]
    reason = next((line for line in lines if "Job aborted" in line or "OUT_OF_MEMORY" in line
                   or "OutOfMemory" in line), lines[0] if lines else type(error).__name__)
    return EngineFailure(
        f"Spark could not build table {table}: {reason[:400]}\n  nothing was written. If executors were lost or ran "
        "out of memory, give them more (engine.spark_conf: spark.executor.memory on a cluster, spark.driver.memory in "
        "local mode) or fewer cores each; if a worker died, run the command again once the cluster is whole")


def to_spark(sql: str, keep_order: bool = True) -> str:
    """DuckDB SQL as Spark SQL: SQLGlot's transpiler plus the rewrites it does not make on its own.

    * ``epoch_us(t)`` -> ``unix_micros(CAST(t AS TIMESTAMP))``: Spark has no epoch of a
      naive timestamp; with the session in UTC the cast is the identity on the instant.
    * decimal literals -> DOUBLE: in DuckDB ``x / 1000.0`` is a DOUBLE division, in
      Spark a DECIMAL one that rounds to six places; the features are DOUBLEs.
    * ``ORDER BY`` without ``LIMIT`` inside a subquery (and, with ``keep_order=False``,
      at the top) is dropped: DuckDB uses it as a layout hint, Spark would sort globally.
    * ``WITH`` queries are inlined as subqueries: Spark does not recognise a persisted
      DataFrame whose plan holds a CTE when a later query reads it, and would recompute
      it from the events every time (measured: the cached per-lead table was rebuilt by
      each query reading it).
    """
    import sqlglot
    from sqlglot import exp

    tree = _inline_ctes(sqlglot.parse_one(sql, read="duckdb"))

    def rewrite(node):
        if isinstance(node, exp.Anonymous) and node.name.lower() == "epoch_us":
            instant = exp.Cast(this=node.expressions[0], to=exp.DataType.build("TIMESTAMPLTZ"))
            return exp.Anonymous(this="UNIX_MICROS", expressions=[instant])
        if isinstance(node, exp.Literal) and node.is_number and any(c in node.name.lower() for c in ".e"):
            return exp.Cast(this=node.copy(), to=exp.DataType.build("DOUBLE"))
        if isinstance(node, exp.Select) and node.args.get("order") and not node.args.get("limit"):
            if node is not tree or not keep_order:
                node.set("order", None)
        return node

    tree = tree.transform(rewrite, copy=False)
    return tree.sql(dialect="spark")


def _inline_ctes(tree):
    """Replace every reference to a common table expression by the expression itself, as a subquery."""
    from sqlglot import exp

    for with_ in list(tree.find_all(exp.With)):
        ctes = [(cte.alias_or_name, cte.this) for cte in with_.expressions]
        scope = with_.parent
        with_.pop()
        for index, (name, body) in enumerate(ctes):
            # a CTE may read the ones before it: substitute into the later bodies too
            for node in [scope] + [later for _, later in ctes[index + 1:]]:
                for table in list(node.find_all(exp.Table)):
                    if table.name == name and not table.args.get("db"):
                        alias = exp.TableAlias(this=exp.to_identifier(table.alias_or_name))
                        table.replace(exp.Subquery(this=body.copy(), alias=alias))
    return tree
