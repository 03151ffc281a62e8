"""Running Great Expectations on the pipeline's own DuckDB connection: assets, expectations that carry how to
talk about their failure, and a two-pass run.

Great Expectations runs on its SQL engine against the same DuckDB connection that holds
the typed views of the export (SQLAlchemy with the ``duckdb_engine`` dialect). Nothing is
loaded into pandas; DuckDB computes every expectation set-based, straight from the files.
Each asset is validated in two passes: first every expectation at once in
``BOOLEAN_ONLY`` format, which GX bundles into one aggregate query per table (one scan of
the 132M events of a 1M-lead export); then only the expectations that failed again in
``SUMMARY`` format, for their counts and sample values. A clean export is read once per table.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime

from tqdm import tqdm

from pipelines.findings import Finding, Outcome


def _shared_connection_class():
    import duckdb_engine

    class SharedConnection(duckdb_engine.ConnectionWrapper):
        """The pipeline's own DuckDB connection, lent to GX read-only.

        GX's SQL engine returns a result from inside ``with engine.connect()`` and fetches
        it after the connection was handed back; handing back rolls back, and a DuckDB
        rollback discards the unread result. Validation only reads, so the transaction
        calls are no-ops, and closing must not close the pipeline's connection. Sharing the
        connection (not a cursor) also lets GX see temporary tables such as a training set.
        """

        def give_back(self):
            self._ConnectionWrapper__c = None

        def begin(self):
            pass

        def commit(self):
            pass

        def rollback(self):
            pass

        def close(self):
            pass

    return SharedConnection


def _context():
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(analytics_enabled=False, progress_bars=ProgressBarsConfig(globally=False),
                               store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False))
    return gx.get_context(mode="ephemeral", project_config=config)


@dataclass
class Asset:
    """One relation to validate: a DuckDB table or view, what users call it, and its expectations."""

    name: str  # the GX asset and suite name
    relation: str  # the DuckDB relation GX queries
    table: str
    file: str
    expectations: list = field(default_factory=list)


def expectation(kind: str, *, table: str, file: str, rule: str, detail: str, fix: str, column: str | None = None,
                on: str | None = None, severity: str = "critical", **kwargs):
    """A GX expectation carrying, in ``meta``, how to talk about a failure of it.

    ``column`` is the column the user knows; ``on`` the column GX checks when that is a
    derived one (a check view's ``unknown_lead_id``). Table-level kinds take neither.
    """
    import great_expectations.expectations as gxe

    meta = {"table": table, "file": file, "column": column, "rule": rule, "detail": detail, "fix": fix}
    if on or column:
        kwargs["column"] = on or column
    return getattr(gxe, kind)(meta=meta, severity=severity, **kwargs)


def run(con, assets: list[Asset], boundary: str, sample_values: int = 5, progress: bool = False) -> Outcome:
    """Validate every asset with GX over ``con``: a bundled boolean pass, then details of what failed.

    ``progress`` shows a bar on stderr, one step a table (the events' scan is most of the time)."""
    import sqlalchemy as sa

    context = _context()
    shared = _shared_connection_class()
    lent, lender = [], [con]

    def lend():
        lent.append(shared(lender[0]))
        return lent[-1]

    source = context.data_sources.add_sql(name="leadscore", connection_string="duckdb:///:memory:",
                                          kwargs={"creator": lend, "poolclass": sa.pool.StaticPool})
    outcome = Outcome(boundary, context=context)
    try:
        _validate_assets(context, source, assets, sample_values, outcome, progress)
    finally:
        # GX keeps its engines (and their pooled connections) for the life of the process: take the
        # connection back so the export's DuckDB database can be freed when the pipeline is done with it
        lender.clear()
        for connection in lent:
            connection.give_back()
    errors = {(f.file, f.column, f.rule) for f in outcome.errors}
    # a tolerance is a warning and an error on one rule: past the tolerance, say it once
    outcome.findings = [f for f in outcome.findings if f.severity == "error" or (f.file, f.column, f.rule) not in errors]
    outcome.findings.sort(key=lambda f: f.severity != "error")  # errors first, in suite order
    return outcome


def _validate_assets(context, source, assets: list[Asset], sample_values: int, outcome: Outcome,
                     progress: bool) -> None:
    import great_expectations as gx

    bar = tqdm([a for a in assets if a.expectations], desc=f"checking the {outcome.boundary}", unit="table",
               disable=not progress, bar_format="{desc}: {n}/{total} tables {postfix}")
    for asset in bar:
        bar.set_postfix_str(asset.table)
        if not asset.expectations:
            continue
        batch = (source.add_table_asset(name=asset.name, table_name=asset.relation)
                 .add_batch_definition_whole_table("whole table").get_batch())
        for index, check in enumerate(asset.expectations):
            check.meta["check"] = index  # GX reorders results; this ties a result to its expectation
        suite = context.suites.add(gx.ExpectationSuite(name=asset.name,
                                                       expectations=[copy.copy(e) for e in asset.expectations]))
        result = batch.validate(suite, result_format="BOOLEAN_ONLY")
        failed = [r.expectation_config.meta["check"] for r in result.results if not r.success]
        if failed:
            # counts and examples cost a scan each; pay only for what failed
            retry = gx.ExpectationSuite(name=f"{asset.name} (failed)",
                                        expectations=[copy.copy(asset.expectations[i]) for i in failed])
            detail = batch.validate(retry, result_format={"result_format": "SUMMARY",
                                                          "partial_unexpected_count": sample_values})
            by_check = {r.expectation_config.meta["check"]: r for r in detail.results}
            result.results = [by_check.get(r.expectation_config.meta["check"], r) for r in result.results]
        result.results.sort(key=lambda r: r.expectation_config.meta["check"])
        outcome.results[asset.name] = result
        outcome.findings += [_finding(r) for r in result.results if not r.success]


def _finding(result) -> Finding:
    config = result.expectation_config
    meta = config.meta or {}
    severity = "warning" if str(getattr(config.severity, "value", config.severity)) == "warning" else "error"
    info = result.result or {}
    exception = (result.exception_info or {}).get("exception_message")
    count = info.get("unexpected_count")
    if exception:
        detail = f"could not be checked: {exception}"
    elif count is not None:
        total = info.get("element_count")
        share = f" ({count / total:.2%})" if total else ""
        detail = f"{count:,} of {total:,} row(s){share}: {meta.get('detail', config.type)}"
    else:
        observed = info.get("observed_value")
        mismatched = (info.get("details") or {}).get("mismatched")
        detail = meta.get("detail", config.type) + (f" (found {_show(observed)})" if observed is not None else "")
        if mismatched and mismatched.get("missing"):
            detail += f"; missing: {', '.join(mismatched['missing'])}"
    samples = tuple(_show(v) for v in (info.get("partial_unexpected_list") or []))
    return Finding(severity, meta.get("table", ""), meta.get("file", ""), meta.get("column"), meta.get("rule", config.type),
                   detail, meta.get("fix", ""), samples, count)


def _show(value) -> str:
    if isinstance(value, dict):
        value = ", ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, datetime):
        value = value.isoformat(sep=" ")
    if isinstance(value, float):
        return f"{value:g}"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 300 else text[:297] + "..."
