"""Do a peer's features equal leadscore's? Compared in DuckDB, so 10M-row outputs fit in memory.

Either side is a Parquet file or a folder of parts (leadscore's training set).

Rows are matched on (lead_id, cutoff). A value agrees when both are null, or both are
numbers within ``abs_tol + rel_tol * |leadscore's|`` (sums of seconds are added up in a
different order by each tool). Counts of missing rows on either side are reported too.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from features.training_file import training_source

REL_TOL = 1e-9
ABS_TOL = 1e-6


def compare(ours: Path, theirs: Path, columns: list[str]) -> dict:
    """Agreement of ``theirs`` with ``ours`` on ``columns``: rows, mismatching values, worst difference."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")

    def rows(path: Path) -> str:
        # cutoffs as naive UTC instants on both sides, whatever zone the writer attached
        return (f"(SELECT * REPLACE (CAST(timezone('UTC', CAST(cutoff AS TIMESTAMPTZ)) AS TIMESTAMP) AS cutoff) "
                f"FROM {training_source(path)})")

    missing = [c for c in columns if c not in con.sql(f"SELECT * FROM {training_source(theirs)} LIMIT 0").columns]
    if missing:
        return {"equal": False, "error": f"peer output lacks {len(missing)} columns, e.g. {missing[:3]}"}
    pairs = ", ".join(f'o."{c}" AS "o_{c}", t."{c}" AS "t_{c}"' for c in columns)
    con.execute(f"CREATE TEMP TABLE joined AS SELECT {pairs}, o.lead_id IS NULL AS only_theirs, "
                f"t.lead_id IS NULL AS only_ours FROM {rows(ours)} o FULL JOIN {rows(theirs)} t USING (lead_id, cutoff)")
    only_ours, only_theirs, matched = con.execute(
        "SELECT count(*) FILTER (WHERE only_ours), count(*) FILTER (WHERE only_theirs), "
        "count(*) FILTER (WHERE NOT only_ours AND NOT only_theirs) FROM joined").fetchone()

    def bad(c: str) -> str:
        o, t = f'"o_{c}"', f'"t_{c}"'
        return (f"(({o} IS NULL) <> ({t} IS NULL) OR abs(CAST({o} AS DOUBLE) - CAST({t} AS DOUBLE)) "
                f"> {ABS_TOL} + {REL_TOL} * abs(CAST({o} AS DOUBLE)))")

    matched_rows = "NOT only_ours AND NOT only_theirs"
    counts = ", ".join(f"count(*) FILTER (WHERE {bad(c)})" for c in columns)
    differences = ", ".join(f'coalesce(max(abs(CAST("o_{c}" AS DOUBLE) - CAST("t_{c}" AS DOUBLE))), 0)' for c in columns)
    per_column = con.execute(f"SELECT {counts}, greatest({differences}) FROM joined WHERE {matched_rows}").fetchone()
    mismatches = dict(zip(columns, per_column[:-1]))
    worst = {c: n for c, n in mismatches.items() if n}
    return {
        "equal": not worst and not only_ours and not only_theirs,
        "columns": len(columns),
        "rows_compared": matched,
        "rows_only_leadscore": only_ours,
        "rows_only_peer": only_theirs,
        "mismatching_values": sum(worst.values()),
        "mismatching_columns": dict(sorted(worst.items(), key=lambda kv: -kv[1])[:10]),
        "max_abs_difference": per_column[-1],
    }
