"""Training sets and scoring frames: the spine joined to the features, through one code path.

``con`` is a DuckDB connection or an engine of ``features.engine`` (DuckDB or Spark):
the same SQL builds both, so a training set from Spark equals the one from DuckDB.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd

from features.builder import build_features
from features.contract import DEFAULT_EVENT_TYPES
from features.definitions import (
    FeatureSpec,
    StageSpec,
    sql_identifier,
    sql_path,
    sql_timestamp,
)
from features.engine import as_engine
from features.plan import FeaturePlan, plan_features
from features.spine import (
    SpineSpec,
    create_labelled_spine,
    create_population,
    cutoff_grid,
)
from features.store import (
    EXTRA,
    PART,
    STORED_FROM,
    FeatureStore,
    StoreUse,
    decide,
    digest,
    input_digests,
    row_hash,
    runs,
    settings_digests,
)
from features.training_file import (
    TrainingParts,
    file_sha256,
    later_checksums,
    part_name,
    part_record,
    stamped,
    training_metadata,
    training_rows,
    training_source,
)


def build_training_set(con, spine_spec: SpineSpec, feature_spec: FeatureSpec, stage_spec: StageSpec,
                       data_start: datetime, data_end: datetime, event_types, extra_lead_attributes=(),
                       has_identities: bool = True, cutoffs: list[datetime] | None = None,
                       out: str = "training_set", progress: bool = False,
                       parquet: Path | str | None = None, lifecycle: dict[str, str] | None = None,
                       plan: FeaturePlan | None = None, accepted: tuple[str, ...] = (),
                       store: Path | str | None = None, rebuild: bool = False,
                       previous: Path | str | None = None) -> tuple[str, pd.DataFrame]:
    """Table ``out``: one labelled row per (lead, mature cutoff) with its features; plus the counts report.

    The features are planned from what the export holds before the last mature cutoff
    (``features.plan``) unless ``plan`` is given; the plan is ``report.attrs["plan"]``.
    With ``parquet`` (DuckDB), the rows are written into that folder, a part per cutoff in
    lead_id order as each cutoff is built (``features.training_file``), and ``out`` is a
    view over it (``build_features``).

    With ``store`` (DuckDB, with ``parquet``), a folder of ``features.store``: cutoffs whose
    stored rows are still valid are reused, the others built and stored (all of them with
    ``rebuild``), and each part is written from the store joined to this run's labels; what
    was reused and rebuilt, and why, is ``report.attrs["store"]`` (a ``StoreUse``).
    ``previous``, an earlier training set (a folder of parts): a part is taken over as it is
    when it was built from the same stored features and the same labels as this run's.
    """
    engine = as_engine(con)
    cutoffs = cutoffs or cutoff_grid(data_start, data_end, spine_spec)
    stored = store is not None and parquet is not None and engine.name == "duckdb"
    spine, report = create_labelled_spine(con, cutoffs, data_end, spine_spec, lifecycle=lifecycle,
                                          accepted=accepted, censored=CENSORED if stored else None)
    mature = [t.to_pydatetime() for t in report["cutoff"]]
    if plan is None:
        tables = {name for name in ("identities", "deals", "lifecycle") if engine.exists(name)}
        if not has_identities:
            tables.discard("identities")
        plan = plan_features(con, feature_spec, tuple(event_types), tuple(extra_lead_attributes), max(mature), tables)
    report.attrs["plan"] = plan
    if previous is not None and parquet is not None and Path(previous).resolve() == Path(parquet).resolve():
        raise ValueError(f"previous is the training set being written ({parquet}): write a new one beside it")
    if stored:
        report.attrs["store"] = _through_store(engine, FeatureStore(store), spine, mature, spine_spec, feature_spec,
                                               stage_spec, has_identities, lifecycle, plan, Path(parquet), progress,
                                               rebuild, previous)
        engine.con.execute(f"CREATE OR REPLACE VIEW {out} AS SELECT * FROM {training_source(parquet)}")
        return out, report
    build_features(con, spine, feature_spec, stage_spec, has_identities=has_identities, has_deals=True, out=out,
                   cutoffs=mature, progress=progress, parquet=parquet, plan=plan)
    return out, report


CENSORED = "_censored"  # the population's rows left out of the spine for an open deal, which the store keeps
ENTERED = "_entered"  # the spine's rows that were censored when their cutoff was stored (``_extendable``)


def _through_store(engine, store: FeatureStore, spine: str, mature: list[datetime], spine_spec: SpineSpec,
                   feature_spec: FeatureSpec, stage_spec: StageSpec, has_identities: bool,
                   lifecycle: dict[str, str] | None, plan: FeaturePlan, parquet: Path, progress: bool,
                   rebuild: bool, previous: Path | str | None) -> StoreUse:
    """The training set ``parquet``, part by part. A reused cutoff's part is the ``previous`` set's when that was
    built from the same stored rows and labels; else the store's part, when its rows are still in the spine with
    the same labels, with the rows that entered the spine since (censored rows whose deal closed) in a file
    beside it, read from the rest of the stored population (``_extendable``); else its stored rows joined to the
    labelled ``spine`` (the features of a row never depend on its label). A cutoff to build is built for its
    whole population, its spine rows written as its part with their labels, and the store given that part and
    the rest of the population.

    A part records what it was built from: the digest of its stored rows' settings and inputs, and the digest
    of its labels (recomputed from the deals every run: the labels a stored part holds are never read back)."""
    tables = [t for t in STORED_FROM if engine.exists(t) and (t != "identities" or has_identities)]
    population = {"exclude_customers": spine_spec.exclude_customers, "recycle_days": spine_spec.recycle_days,
                  "lifecycle": lifecycle if "lifecycle" in tables else None, "tables": tables}
    settings = settings_digests(plan, feature_spec, stage_spec, population)
    with store.locked():
        inputs = input_digests(engine.con, mature, tables, tuple(e.name for e in plan.extras))
        seen = dict(zip(mature, inputs))
        carried = [c for c in engine.columns(spine) if c not in ("lead_id", "cutoff")]  # the label
        sums = label_sums(engine, spine, carried, mature)
        built_from = {t: {"features": digest({"settings": settings, "inputs": seen[t]}),
                          "labels": sums_digest(*sums.get(t, (0, 0)))} for t in mature}
        # a part of the previous set made from the same stored rows and labels is kept (if it is the store's part,
        # byte for byte: ``decide``); those rows are not read
        earlier = Path(previous) if previous is not None and Path(previous).is_dir() else None
        checksums = later_checksums(earlier) if earlier is not None else {}
        keepable = {t: earlier / part_name(t) for t in mature if earlier is not None
                    and part_record(earlier / part_name(t)) == stamped(t, built_from[t])}
        use, keepable = decide(store, mature, settings, inputs, rebuild, keep=keepable)
        starts, reused = {run[0]: run for run in runs(use.built, mature)}, set(use.reused)
        extendable = _extendable(engine, store, spine, carried, [t for t in use.reused if t not in keepable],
                                 sums, built_from)
        parts = TrainingParts(parquet, training_metadata(plan, feature_spec, stage_spec))

        def keep(t: datetime, rows: str) -> None:
            """A cutoff just built (SQL ``rows``, in lead_id order): in one pass, its labelled rows as its part and
            the rest of its population beside; the store takes that part as it is (linked, not written again)."""
            rest = store.begin(t)
            part = parts.write(t, engine.con.sql(rows), built_from[t], rest=(rest, "_in_spine", carried))
            store.put(t, part, rest, carried, settings, seen[t])

        for t in mature:
            if t in reused:
                if t in keepable:
                    parts.link(t, keepable[t])
                    use.kept.append(t)
                elif t in extendable:  # the store's part as it is, and the rows that entered the spine since
                    parts.link(t, store.folder(t) / PART)
                    use.kept.append(t)
                    if extendable[t][0]:
                        record = {**built_from[t], "labels": sums_digest(*extendable[t]), "later": True}
                        # last week's file of the same rows, whose bytes are the ones it recorded: the same file
                        checksum = checksums.get(part_name(t, later=True))
                        same = earlier / part_name(t, later=True) if checksum is not None else None
                        if same is not None and part_record(same) == stamped(t, record) and \
                                file_sha256(same) == checksum:
                            parts.link(t, same, later=True, checksum=checksum)
                        else:
                            parts.write(t, engine.con.sql(labelled_rows(engine, store.entered(t), ENTERED, t)),
                                        record, later=True)
                        use.later.append(t)
                else:
                    parts.write(t, engine.con.sql(labelled_rows(engine, store.rows(t), spine, t)), built_from[t])
            elif t in starts:  # a run of cutoffs to build, sharing one pass over the events
                run = ", ".join(sql_timestamp(c) for c in starts[t])
                # the whole population is stored (the spine's rows and the censored); the spine's rows (and
                # labels) go on to the file
                engine.create_table("_store_spine", f"""
                    SELECT lead_id, cutoff, {''.join(f'{sql_identifier(c)}, ' for c in carried)}TRUE AS _in_spine
                    FROM {spine} WHERE cutoff IN ({run})
                    UNION ALL
                    SELECT lead_id, cutoff, {''.join('NULL, ' for _ in carried)}FALSE FROM {CENSORED}
                    WHERE cutoff IN ({run})
                    ORDER BY cutoff, lead_id""")
                build_features(engine, "_store_spine", feature_spec, stage_spec, has_identities=has_identities,
                               has_deals=True, cutoffs=starts[t], progress=progress, plan=plan, sink=keep)
                engine.drop("_store_spine")
        parts.close()
    for scratch in (CENSORED, ENTERED):
        engine.drop(scratch)
    written, expected = training_rows(parquet), engine.rows(f"SELECT count(*) FROM {spine}")[0][0]
    if written != expected:  # a stored population missing rows of this run's spine: the digests missed a change
        raise RuntimeError(f"the feature store {store.root} gave {written:,} rows for a spine of {expected:,}: its "
                           "digests missed a change; build with --rebuild, and please report this")
    return use


def label_sums(engine, spine: str, carried: list[str], cutoffs: list[datetime]) -> dict[datetime, tuple[int, int]]:
    """Each cutoff's labelled rows as (rows, the sum of the hashes of lead_id and ``carried``): a part built from
    the same labels is known without keeping the labels, and the sums of two sets of rows add up."""
    hashed = ", ".join(["lead_id", *(sql_identifier(c) for c in carried)])
    wanted = set(cutoffs)
    return {t: (n, h) for t, n, h in engine.rows(
        f"SELECT cutoff, count(*), sum({row_hash(hashed)}) FROM {spine} GROUP BY cutoff") if t in wanted}


def sums_digest(rows: int, hashes: int) -> str:
    """The labels' digest of ``label_sums``: ``"rows:hash sum"``."""
    return f"{rows}:{hashes}" if rows else "0:None"


def _extendable(engine, store: FeatureStore, spine: str, carried: list[str], cutoffs: list[datetime],
                sums: dict[datetime, tuple[int, int]], built_from: dict[datetime, dict]) -> dict[datetime, tuple]:
    """Of the reused ``cutoffs``, those whose stored part can be this run's part as it is, with the spine rows
    that entered since in a file beside it: {cutoff: (rows, hash sum) of those rows}, (0, 0) for none; those rows
    are table ``ENTERED``.

    The store's part holds the spine's rows of the build that stored it, with their labels and a record of them
    (``TrainingParts.write``); the rest of the population is beside it (``extra.parquet``), so the spine rows that
    are not in the part are the spine rows among those. The part is kept when the spine's other rows carry the
    labels it recorded: every row of it is still in the spine (the counts), labelled the same (the hash sums)."""
    stored = {t: part_record(store.folder(t) / PART) for t in cutoffs}
    cutoffs = [t for t in cutoffs if stored[t].get("features") == built_from[t]["features"]]
    if not cutoffs:
        return {}
    files = ", ".join(sql_path(store.folder(t) / EXTRA) for t in cutoffs)
    # the spine's rows among those stored beside the parts: a small table, which each file of later rows reads
    engine.create_table(ENTERED, f"""
        SELECT s.* FROM {spine} s
        SEMI JOIN read_parquet([{files}], hive_partitioning = false) a ON a.lead_id = s.lead_id AND a.cutoff = s.cutoff""")
    entered = label_sums(engine, ENTERED, carried, cutoffs)
    out = {}
    for t in cutoffs:
        (rows, hashes), (new_rows, new_hashes) = sums.get(t, (0, 0)), entered.get(t, (0, 0))
        kept_labels = sums_digest(rows - new_rows, hashes - new_hashes)  # the labels of the part's own rows
        if stored[t] == stamped(t, {**built_from[t], "labels": kept_labels}):
            out[t] = (new_rows, new_hashes)
    return out


def labelled_rows(engine, rows: str, spine: str, t: datetime) -> str:
    """SQL: the stored rows of cutoff ``t`` (SQL ``rows``, ``FeatureStore.rows``) that are in the spine, with its
    columns, in a training file's column order (lead_id, account_id, cutoff, the spine's, journey_stage,
    features) and lead_id order."""
    extra = [c for c in engine.columns(spine) if c not in ("lead_id", "cutoff")]
    return f"""
        SELECT f.lead_id, f.account_id, f.cutoff{''.join(f', s.{sql_identifier(c)}' for c in extra)},
               f.* EXCLUDE (lead_id, account_id, cutoff)
        FROM ({rows}) f
        JOIN {spine} s ON s.lead_id = f.lead_id AND s.cutoff = f.cutoff
        WHERE s.cutoff = {sql_timestamp(t)}
        ORDER BY f.lead_id"""


def build_scoring_frame(con, as_of: datetime, spine_spec: SpineSpec, feature_spec: FeatureSpec, stage_spec: StageSpec,
                        event_types=DEFAULT_EVENT_TYPES, extra_lead_attributes=(), has_identities: bool = True,
                        has_deals: bool = True, out: str = "scoring_set", lifecycle: dict[str, str] | None = None,
                        plan: FeaturePlan | None = None) -> str:
    """Table ``out``: the population at ``as_of`` with features, built exactly as training rows are.

    ``plan`` is the model's (its features, typed extras); without one, every feature of
    the manifest for ``event_types`` and ``extra_lead_attributes``.
    """
    return build_scoring_frames(con, as_of, spine_spec, feature_spec, stage_spec, event_types, extra_lead_attributes,
                                has_identities, has_deals, out, lifecycle, plan)[0]


def build_scoring_frames(con, as_of: datetime, spine_spec: SpineSpec, feature_spec: FeatureSpec,
                         stage_spec: StageSpec, event_types=DEFAULT_EVENT_TYPES, extra_lead_attributes=(),
                         has_identities: bool = True, has_deals: bool = True, out: str = "scoring_set",
                         lifecycle: dict[str, str] | None = None, plan: FeaturePlan | None = None,
                         baseline: list[datetime] = (), baseline_leads: int = 50_000) -> tuple[str, str | None]:
    """Table ``out`` (the population at ``as_of`` with features) and, with ``baseline`` cutoffs, table
    ``out``_baseline: the same features at those earlier Mondays for a sample of each one's population, the
    usual weeks that this week's drift is measured against (``models.drift``).

    One build serves both, so the earlier weeks share the grouping of the events with this
    one. The sample is every m-th lead of each week in lead_id order (m set so that a week
    has at most ``baseline_leads``): deterministic on every engine, and a sampled lead's
    features are those of a full build (no feature of a lead depends on which others are built).
    """
    engine = as_engine(con)
    cutoffs = sorted({*baseline, as_of})
    population = create_population(con, cutoffs, spine_spec, has_deals=has_deals, out="_score_population",
                                   lifecycle=lifecycle)
    now = sql_timestamp(as_of)
    if len(cutoffs) == 1:
        spine = f"SELECT lead_id, cutoff FROM {population} WHERE excluded IS NULL ORDER BY lead_id"
    else:
        largest = max((n for _, n in engine.rows(f"SELECT cutoff, count(*) FROM {population} WHERE excluded IS NULL "
                                                 f"AND cutoff <> {now} GROUP BY cutoff")), default=0)
        every = max(1, -(-largest // max(1, baseline_leads)))
        spine = f"""
            SELECT lead_id, cutoff FROM (
                SELECT lead_id, cutoff, row_number() OVER (PARTITION BY cutoff ORDER BY lead_id) AS position
                FROM {population} WHERE excluded IS NULL) ranked
            WHERE cutoff = {now} OR position % {every} = 0
            ORDER BY cutoff, lead_id"""
    engine.create_table("_score_spine", spine)
    built = build_features(con, "_score_spine", feature_spec, stage_spec, tuple(event_types), extra_lead_attributes,
                           has_identities=has_identities, has_deals=has_deals,
                           out=out if len(cutoffs) == 1 else f"{out}_all", cutoffs=cutoffs, plan=plan)
    earlier = None
    if len(cutoffs) > 1:
        engine.create_table(out, f"SELECT * FROM {built} WHERE cutoff = {now} ORDER BY lead_id", temporary=False)
        earlier = engine.create_table(f"{out}_baseline", f"SELECT * FROM {built} WHERE cutoff <> {now}",
                                      temporary=False)
        engine.drop(built)
    for scratch in (population, "_score_spine"):
        engine.drop(scratch)
    return out, earlier
