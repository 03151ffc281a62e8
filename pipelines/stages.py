"""Stage entry points: read inputs, call the pure builders, write outputs atomically.

Each function here is one CLI command's body. Outputs are written to a temporary
file in the destination folder and renamed into place, so a failed run leaves the
previous output untouched and a re-run is idempotent.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd

from features.definitions import sql_identifier, sql_timestamp
from features.errors import UserError
from features.plan import FeaturePlan
from features.spine import EXCLUSIONS, LABEL_SOURCE
from features.training_file import (
    TrainingParts,
    foreign_entries,
    is_training_file,
    training_metadata,
    training_source,
)
from models.frame import ID_COLUMNS
from pipelines.config import Params
from pipelines.files import atomic_path, remove
from pipelines.runners import runner_for
from pipelines.sources import DataTables


def training_set(data_dir: str | Path, out: str | Path, config: Params, progress: bool = False,
                 engine: str | None = None, spark_master: str | None = None, store: str | Path | None = None,
                 rebuild: bool = False) -> dict:
    """Build the labelled training set of ``data_dir`` into ``out`` (a folder of Parquet parts, one a cutoff;
    ``features.training_file``); return the counts report.

    ``store``: the feature store's folder (default `default_store` of ``out``; ``features.store``):
    DuckDB reuses the cutoffs it holds valid and keeps those it builds; ``rebuild`` builds
    every cutoff again. The parts of the training set already at ``out`` that were built
    from the same features and labels are kept as they are. The report's ``store`` says
    what was reused, rebuilt, kept and why.

    Either engine ends in the same sorted parts, checked by the same suite, so
    ``leadscore train`` reads them on one machine either way (``pipelines.runners.py``).
    The set is written beside ``out`` and moved onto it only once checked: a failed
    build or check leaves the previous training set as it was.
    """
    from pipelines.validation import validate_training_set

    out = Path(out)
    store = Path(store) if store is not None else default_store(out)
    _refuse_to_replace(out, store)
    runner = runner_for(engine, config, spark_master)
    tables = runner.open(data_dir, config, require_deals=LABEL_SOURCE[config.spine.label] == "deals")
    out.parent.mkdir(parents=True, exist_ok=True)
    with (atomic_path(out) as tmp,
          runner.training_rows(tables, config, progress, tmp, store, rebuild, previous=out) as built):
        con, planned = built.con, built.report.attrs["plan"]
        plan = built.report.attrs["plan"] = _without_empty_features(con, built.table, planned)
        if not built.streamed or plan is not planned:  # rare for DuckDB: a feature came out empty
            rewritten = tmp.with_name(tmp.name + ".rewrite")
            try:
                _write_training_parts(con, built.table, rewritten,
                                      [t.to_pydatetime() for t in built.report["cutoff"]], plan, config)
            except BaseException:
                remove(rewritten)
                raise
            if tmp.exists():
                shutil.rmtree(tmp)
            os.replace(rewritten, tmp)
        con.execute(f"CREATE OR REPLACE VIEW training_file AS SELECT * FROM {training_source(tmp)}")
        checked = validate_training_set(con, "training_file", f"training set of {data_dir}", config.validation)
        checked.raise_for_errors()
    summary = summarise_report(built.report, tables)
    used = built.report.attrs.get("store")
    summary["store"] = used.to_record() if used is not None else None
    summary["warnings"] = [str(f) for f in tables.validation.warnings + checked.warnings]
    with atomic_path(out.with_suffix(".report.json")) as tmp:
        tmp.write_text(json.dumps(summary, indent=2, default=str))
    return summary


def _refuse_to_replace(out: Path, store: Path) -> None:
    """A training set replaces ``out`` whole: refuse an ``out`` that holds anything else (a folder of other files,
    a file that is not a training set, such as a table of the export), and a ``store`` that is ``out`` or inside
    it (each build would delete it)."""
    if out.is_dir() and (foreign := foreign_entries(out)):
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise UserError(f"--out {out} is a folder that is not a training set (it holds {shown}), and a training set "
                        f"replaces its folder whole: name a folder of its own, e.g. "
                        f"--out {out / 'training_set.parquet'}")
    if (out.exists() or out.is_symlink()) and not out.is_dir() and not is_training_file(out):
        raise UserError(f"--out {out} is a file that is not a training set, and a training set replaces it whole: "
                        f"name a path of its own, e.g. --out {out.parent / 'training' / 'training_set.parquet'}")
    if out.resolve() == store.resolve() or out.resolve() in store.resolve().parents:
        raise UserError(f"--store {store} is inside --out {out}, which each build replaces whole (the store would "
                        f"go with it): put the store beside it, e.g. --store {default_store(out)}")


def default_store(out: Path) -> Path:
    """Where the feature store of training file ``out`` lives when none is named: ``feature_store`` beside it."""
    return out.parent / "feature_store"


def _without_empty_features(con, table: str, plan: FeaturePlan) -> FeaturePlan:
    """The plan without the features that came out null in every row of ``table``.

    The plan already leaves out every feature whose source the export lacks; a feature can
    still come out empty when its source occurs only for leads outside every cutoff's
    population (a content type only customers read). Only columns that can be null are counted.
    """
    nullable = [f.name for f in plan.features if f.kind == "categorical" or f.name.startswith(NULLABLE_PREFIXES)
                or any(f.name == e.name for e in plan.extras)]
    if not nullable:
        return plan
    counts = con.execute(f"SELECT {', '.join(f'count({sql_identifier(n)})' for n in nullable)} FROM {table}").fetchall()[0]
    empty = [name for name, count in zip(nullable, counts) if count == 0]
    return plan.without(empty, "null in every row of the training set: its source occurs only for leads outside "
                               "the population of every cutoff") if empty else plan


def _write_training_parts(con, table: str, folder: Path, cutoffs: list, plan: FeaturePlan, config: Params) -> None:
    """``table`` as a training set in ``folder``: a part per cutoff in lead_id order, with the plan's features;
    the plan as metadata. The parts record nothing they were built from, so none is kept next time."""
    keep = set(plan.names)
    columns = [c for c in con.execute(f"SELECT * FROM {table} LIMIT 0").fetchdf().columns
               if c in keep or c in ID_COLUMNS]
    parts = TrainingParts(folder, training_metadata(plan, config.features, config.stage))
    for t in cutoffs:
        parts.write(t, con.sql(f"SELECT {', '.join(sql_identifier(c) for c in columns)} FROM {table} "
                               f"WHERE cutoff = {sql_timestamp(t)} ORDER BY lead_id"))
    parts.close()


NULLABLE_PREFIXES = ("days_since_last_", "mean_time_on_page_s_", "email_click_rate_", "company_size",
                     "days_in_lifecycle_status")


def summarise_report(report: pd.DataFrame, tables: DataTables) -> dict:
    rows, positives = int(report["rows"].sum()), int(report["positives"].sum())
    plan: FeaturePlan | None = report.attrs.get("plan")
    return {
        "data_digest": tables.digest(),
        "data_end": tables.data_end().isoformat(),
        "cutoffs": len(report),
        "rows": rows,
        "positives": positives,
        "label_rate": positives / rows if rows else None,
        "censored_rows": int(report["censored"].sum()),
        **{f"excluded_{e}": int(report[f"excluded_{e}"].sum()) for e in EXCLUSIONS},
        "immature_cutoffs": report.attrs.get("immature_cutoffs", []),
        "duplicate_events_dropped": tables.duplicate_events_dropped,
        "features": None if plan is None else {
            "built": len(plan.features), "left_out": [{"feature": n, "reason": r} for n, r in plan.left_out],
            "empty_roles": list(plan.empty_roles),
            "extras": [{"name": e.name, "kind": e.kind, "categories": None if e.categories is None else len(e.categories)}
                       for e in plan.extras]},
        "per_cutoff": [
            {"cutoff": r.cutoff.isoformat(), "rows": int(r.rows), "positives": int(r.positives),
             "label_rate": None if pd.isna(r.label_rate) else round(float(r.label_rate), 6),
             "censored": int(r.censored), **{f"excluded_{e}": int(getattr(r, f"excluded_{e}")) for e in EXCLUSIONS}}
            for r in report.itertuples()
        ],
    }
