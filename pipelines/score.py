"""``leadscore score``: the weekly run, from an export to a ranked, tiered, explained list.

Order of work: validate inputs, load the model, build features as of the score
date with the model's own feature settings, predict and explain, validate the
scores, write the CSV and the report to temporary files beside their targets, then
the database (one transaction), then rename the files into place. Any failure
before the database commit leaves last week's table and files as they were; the
attempt is recorded as failed in ``score_runs``.

With ``engine="spark"`` the export is read and the features built by Spark (the same
SQL, transpiled), the model runs on the executors (``spark_scoring``), and the narrow
per-lead rows come back to the driver for the same ranking, tiers, checks and writes;
the scored week is also written as ``scores-DATE.parquet`` beside the CSV.
"""

from __future__ import annotations

import json
import re
import uuid
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from features.definitions import (
    ENGAGED,
    LEANING_IN,
    FeatureSpec,
    StageSpec,
    content_signals,
    sql_identifier,
)
from features.errors import UserError
from features.plan import FeaturePlan, missing_sources, unchecked_plan
from features.spine import monday_on_or_before
from features.training_set import build_scoring_frames
from models.drift import flagged, in_words, weekly_drift
from models.profile import drift
from models.registry import load
from models.tiers import TIERS
from pipelines import sinks
from pipelines.config import Params
from pipelines.files import atomic_path
from pipelines.inputs import accepted_dispositions, lifecycle_statuses
from pipelines.list_feedback import Heard, hear, latest_feedback_sql
from pipelines.list_outcomes import Measured, measure
from pipelines.redaction import redact
from pipelines.runners import runner_for
from pipelines.score_rows import rank_rows
from pipelines.scores_contract import SOURCED
from pipelines.sources import DataError
from pipelines.tracking import configure_mlflow, registry_model
from pipelines.validation import validate_scores

DEFAULT_MODEL = "models:/lead-propensity@champion"


@dataclass
class ScoreResult:
    run_id: str
    as_of: datetime
    scores: pd.DataFrame
    accounts: pd.DataFrame
    drift: pd.DataFrame
    previous: pd.DataFrame
    model_version: str | None
    csv_path: Path
    report_path: Path
    warnings: list[str]
    validation_warnings: list = field(default_factory=list)
    parquet_path: Path | None = None  # the scored week as Parquet (the Spark engine writes it)
    database: str = ""  # the database written to, credentials redacted
    calibration: dict = field(default_factory=dict)  # the base rate the model's probabilities were calibrated to
    interrupted: list = field(default_factory=list)  # earlier runs found dead and marked interrupted by this one
    upgraded: list = field(default_factory=list)  # columns this run added to a database of an earlier version
    outcomes: Measured | None = None  # how the lists published before this week did, as known on its Monday
    display_columns: list = field(default_factory=list)  # the display columns the export had (CSV, report)
    sources: tuple = ()  # the optional tables the export had whose columns the CSV carries (feedback)
    feedback: Heard | None = None  # what sales said of the lists published before this week


ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_as_of(value: str | None, data_end: datetime, data_start: datetime | None = None) -> datetime:
    """The Monday to score, from ``--as-of YYYY-MM-DD`` (default: the latest Monday of the data).

    ISO dates only: ``09-11-2026`` reads as September in one country and November in
    another. A Monday only: the model was trained on Monday cutoffs, the weekly lists and
    their week-on-week changes are Mondays, and a Sunday would be a week of its own.
    """
    if value is None:
        return monday_on_or_before(data_end)
    if not ISO_DATE.fullmatch(value.strip()):
        raise UserError(f"--as-of {value!r} is not an ISO date; write YYYY-MM-DD (e.g. 2026-11-09)")
    try:
        moment = datetime.strptime(value.strip(), "%Y-%m-%d")
    except ValueError:
        raise UserError(f"--as-of {value!r} is not a date of the calendar; write YYYY-MM-DD") from None
    if moment.weekday() != 0:
        before = monday_on_or_before(moment)
        raise UserError(f"--as-of {moment:%Y-%m-%d} is a {moment:%A}: lists are made for Mondays 00:00 UTC (the "
                        f"model's cutoffs, and the weeks that scores are compared across); use "
                        f"{before:%Y-%m-%d} or {before + timedelta(days=7):%Y-%m-%d}")
    if moment > data_end:
        raise UserError(f"--as-of {moment:%Y-%m-%d} is after the data's end ({data_end:%Y-%m-%d %H:%M}); "
                        "scores can only use what has happened")
    if data_start is not None and moment <= data_start:
        raise UserError(f"--as-of {moment:%Y-%m-%d} is not after the data's start ({data_start:%Y-%m-%d}): nothing "
                        "was known yet; choose a Monday inside the history")
    return moment


def run_scoring(data_dir: Path, config: Params, as_of: str | None = None, model_uri: str | None = None,
                db_url: str | None = None, out_dir: Path | None = None, progress: bool = False,
                engine: str | None = None,
                spark_master: str | None = None, opened: dict | None = None) -> ScoreResult:
    """Score one Monday. ``opened`` (a dict, empty at first) keeps the export and the model open between the
    calls of one process that scores several weeks (``--weeks``): they are read and checked once."""
    opened = {} if opened is None else opened
    out_dir = Path(out_dir or config.score.out_dir)
    runner = runner_for(engine, config, spark_master)
    steps = tqdm(total=6, desc="scoring", disable=not progress, bar_format="{desc}: {n}/{total} {postfix}")
    run_id = uuid.uuid4().hex
    model_uri = registry_model(model_uri or DEFAULT_MODEL)
    # validated before anything, even the database file, is created
    tables = opened.get("tables") or opened.setdefault("tables", runner.open(data_dir, config))
    when = parse_as_of(as_of, tables.data_end(), tables.data_start())
    database = sinks.engine_for(db_url, config.score.db_url)
    upgraded = sinks.ensure_schema(database)
    interrupted = sinks.mark_interrupted_runs(database, timedelta(hours=config.score.stale_run_hours))
    sinks.start_run(database, {"run_id": run_id, "as_of": when, "model_uri": model_uri,
                             "data_digest": tables.digest()})
    try:
        steps.set_postfix_str("loading model"); steps.update()
        configure_mlflow(config.mlflow)
        model = opened.get(model_uri) or opened.setdefault(model_uri, load(model_uri))
        settings = model.wrapper.settings
        steps.set_postfix_str("building features"); steps.update()
        feature_spec = FeatureSpec.model_validate(settings["features"])
        stage_spec = StageSpec.model_validate(settings["stage"])
        plan = model_plan(settings, feature_spec)
        input_warnings = require_sources(tables, plan, feature_spec)
        usual_weeks = [when - timedelta(days=7 * k) for k in range(config.score.drift_baseline_weeks, 0, -1)
                       if when - timedelta(days=7 * k) > tables.data_start()]
        table, usual_table = build_scoring_frames(
            tables.engine, when, config.spine, feature_spec, stage_spec, plan=plan,
            has_identities=tables.has("identities"), has_deals=tables.has("deals"),
            lifecycle=lifecycle_statuses(tables, config), baseline=usual_weeks,
            baseline_leads=config.score.drift_sample_leads)
        usual = None
        if usual_table is not None:
            usual = tables.engine.frame(f"SELECT * FROM {usual_table}")  # a sample: at most drift_sample_leads a week
            tables.engine.drop(usual_table)
        steps.set_postfix_str("predicting and explaining"); steps.update()
        features = list(model.wrapper.model.feature_names_in_)
        rows, drift_features = runner.explained_rows(tables, table, features, model.wrapper, config)
        if rows is None or rows.empty:
            raise UserError(f"nobody is in the population on {when:%Y-%m-%d}: no lead was created before it "
                             "without an open deal; check --as-of and the leads file")
        scores = rank_rows(rows, config.tiers, when, run_id, model.version)
        scores["model_run_id"] = model.run_id
        shown = [c for c in config.data.display_columns if c not in tables.absent_extras]
        scores = with_display(scores, tables, shown)
        scores = with_feedback(scores, tables, when)
        previous = sinks.previous_scores(database, when)
        scores = _changes(scores, previous)
        checked = validate_scores(runner.duckdb(tables), scores, len(rows), when,
                                  config.validation)
        checked.raise_for_errors()  # nothing reaches the database, the CSV or the report
        sales = runner.sales_in_duckdb(tables)
        outcomes = measure(database, sales, config.spine, config.outcomes, when, accepted=accepted_dispositions(config))
        heard = hear(database, sales, config.data.feedback_dispositions, config.outcomes, when)
        accounts = account_rollup(scores)
        drift_table = drift_report(model.wrapper, usual, drift_features[features], scores["probability"].to_numpy())
        warnings = _drift_warnings(drift_table, config, _descriptions(model.wrapper))
        steps.set_postfix_str("writing CSV, report and database"); steps.update()
        out_dir.mkdir(parents=True, exist_ok=True)
        stamp = f"{when:%Y-%m-%d}"
        csv_path, report_path = out_dir / f"scores-{stamp}.csv", out_dir / f"report-{stamp}.html"
        from pipelines.report import render_report

        result = ScoreResult(run_id, when, scores, accounts, drift_table, previous, model.version, csv_path,
                             report_path, warnings, tables.validation.warnings + checked.warnings + input_warnings,
                             database=redact(sinks.database_url(db_url, config.score.db_url)),
                             calibration=settings.get("calibration", {}))
        result.interrupted = interrupted
        result.outcomes = outcomes
        result.display_columns = shown
        result.sources = tuple(name for name in SOURCED if tables.has(name))
        result.feedback = heard
        result.upgraded = upgraded
        # The files are written first, beside their targets, and renamed only after the database commit:
        # a full or read-only output folder fails before the week's rows change, and a failed write-back
        # leaves last week's files in place.
        result.parquet_path = out_dir / f"scores-{stamp}.parquet" if runner.writes_parquet else None
        with atomic_path(csv_path) as csv_tmp, atomic_path(report_path) as report_tmp, \
                (atomic_path(result.parquet_path) if result.parquet_path else nullcontext()) as parquet_tmp:
            sinks.write_csv(scores, csv_tmp, bom=config.score.csv_bom, display=tuple(shown), sources=result.sources)
            report_tmp.write_text(render_report(result, model, config), encoding="utf-8")
            if parquet_tmp is not None:
                sinks.write_parquet(scores, parquet_tmp)
            written = sinks.replace_week(database, when, scores)
            sinks.write_outcomes(database, outcomes.weeks)
        steps.update()
    except BaseException as error:
        sinks.finish_run(database, run_id, "failed", error=f"{type(error).__name__}: {error}"[:2000])
        raise
    finally:
        steps.close()
    sinks.finish_run(database, run_id, "succeeded", model_version=model.version, model_run_id=model.run_id,
                     population=len(scores),
                     rows_written=written, expected_wins=float(scores["probability"].sum()),
                     drift_warnings=len(warnings))
    return result


def backfill_dates(data_dir, config: Params, as_of: str | None, weeks: int, opened: dict, engine: str | None = None,
                   spark_master: str | None = None) -> list[str]:
    """The ``weeks`` Mondays ending at ``as_of`` (default: the data's latest), oldest first: each week's changes
    are measured against the one before, as they would have been had it run every Monday."""
    tables = opened.get("tables") or opened.setdefault(
        "tables", runner_for(engine, config, spark_master).open(data_dir, config))
    last = parse_as_of(as_of, tables.data_end(), tables.data_start())
    return [f"{last - timedelta(days=7 * back):%Y-%m-%d}" for back in range(weeks - 1, -1, -1)]


def model_plan(settings: dict, spec: FeatureSpec) -> FeaturePlan:
    """The features the model was trained on; a model registered before plans were recorded had the whole manifest."""
    if "plan" in settings:
        return FeaturePlan.from_record(settings["plan"], spec)
    return unchecked_plan(spec, tuple(settings["event_types"]), tuple(settings["extra_lead_attributes"]))


def require_sources(tables, plan: FeaturePlan, spec: FeatureSpec) -> list[str]:
    """Refuse an export that lacks a column or table the model's features were built from; return warnings.

    An event type missing this week is a count of zero and fine; a column that is gone
    would silently turn a feature the model relies on into 'unknown' for every lead.
    Deals are optional to score: without them the account's deal features are 0, said
    as a warning.
    """
    present = {name for name in ("identities", "deals", "lifecycle") if tables.has(name)}
    missing = missing_sources(tables.engine, plan, present, content_signals(spec))
    deals = {source: feats for source, feats in missing.items() if "deals" in source}
    refused = {source: feats for source, feats in missing.items() if source not in deals}
    if refused:
        lines = [f"{source.split(':', 1)[1]} (features {', '.join(feats)})" for source, feats in refused.items()]
        raise DataError(str(tables.directory), None, "missing model input",
                        "the model was trained on features built from data this export lacks or has empty: "
                        + "; ".join(lines),
                        "export those columns or tables again, or retrain on exports of this shape "
                        "('leadscore build-training-set' leaves such features out and says so)")
    return [f"no deals to score with: {', '.join(sorted({f for feats in deals.values() for f in feats}))} are 0 for "
            "every lead; export the deals table (with account_id) to use them"] if deals else []


def _changes(scores: pd.DataFrame, previous: pd.DataFrame) -> pd.DataFrame:
    """Score delta, tier moves and who is new in tier A since the previous run."""
    prev = previous.rename(columns={"probability": "previous_probability", "tier": "previous_tier"})
    scores = scores.merge(prev[["lead_id", "previous_probability", "previous_tier"]], on="lead_id", how="left")
    scores["previous_probability"] = pd.to_numeric(scores["previous_probability"], errors="coerce").astype(float)
    scores["previous_tier"] = scores["previous_tier"].astype(object).where(scores["previous_tier"].notna(), None)
    scores["score_delta"] = scores["probability"] - scores["previous_probability"]
    order = {t: i for i, t in enumerate(TIERS)}
    now_rank = scores["tier"].map(order)
    before = scores["previous_tier"].map(order)
    scores["tier_change"] = np.select([before.isna(), now_rank < before, now_rank > before], ["new", "up", "down"], "same")
    scores["new_in_top_tier"] = (scores["tier"] == TIERS[0]) & (scores["previous_tier"] != TIERS[0])
    return scores


def account_rollup(scores: pd.DataFrame) -> pd.DataFrame:
    """Accounts ranked by the chance that at least one of their people converts (leads taken as independent)."""
    known = scores.dropna(subset=["account_id"])
    with np.errstate(divide="ignore"):
        log_none = np.log1p(-known["probability"].to_numpy(dtype=float))  # log P(this lead does not convert)
    columns = known.assign(log_none=log_none,
                           engaged=known["journey_stage"].isin([ENGAGED, LEANING_IN]).astype(int))
    grouped = columns.groupby("account_id", sort=False)
    best = grouped["probability"].idxmax()
    table = pd.DataFrame({
        "p_any": 1 - np.exp(grouped["log_none"].sum()),
        "people": grouped.size(),
        "engaged_people": grouped["engaged"].sum(),
        "best_lead": known.loc[best.to_numpy(), "lead_id"].set_axis(best.index),
        "expected_wins": grouped["probability"].sum(),
    }).sort_values("p_any", ascending=False, kind="stable")
    return table.rename_axis("account_id").reset_index()


def with_display(scores: pd.DataFrame, tables, shown: list[str]) -> pd.DataFrame:
    """The scores with the leads' display columns (as read, as text) and the same values as one JSON object.

    Read after the model has run, from the leads view, by lead: they never pass through the
    feature builder, so they cannot become an input of the model.
    """
    if not shown:
        return scores.assign(display=None)
    columns = ", ".join(f"CAST({sql_identifier(c)} AS VARCHAR) AS {sql_identifier(c)}" for c in shown)
    values = tables.engine.frame(f"SELECT lead_id, {columns} FROM leads")
    scores = scores.merge(values.drop_duplicates("lead_id"), on="lead_id", how="left")
    records = scores[shown].astype(object).where(scores[shown].notna(), None).to_dict("records")
    scores["display"] = [json.dumps({k: v for k, v in r.items() if v is not None}, ensure_ascii=False)
                         for r in records]
    return scores


def with_feedback(scores: pd.DataFrame, tables, when: datetime) -> pd.DataFrame:
    """The scores with each lead's latest sales disposition before ``when`` (empty without a feedback table).

    Read after the model has run, like the display columns: feedback is shown, never a feature.
    """
    if not tables.has("feedback"):
        return scores.assign(**{c: None for c in SOURCED["feedback"]})
    latest = tables.engine.frame(latest_feedback_sql(when))
    scores = scores.merge(latest, on="lead_id", how="left")
    scores["sales_feedback_at"] = pd.to_datetime(scores["sales_feedback_at"])
    for column in ("sales_feedback", "sales_feedback_reason"):
        scores[column] = scores[column].astype(object).where(scores[column].notna(), None)
    return scores


def drift_report(wrapper, usual: pd.DataFrame | None, now: pd.DataFrame, scores) -> pd.DataFrame:
    """Per feature: PSI against the usual week (the Mondays before this one) with what an ordinary week moves,
    the means, and, for the data team, PSI against the training profile and category values the model never saw."""
    features = list(now.columns)
    against_training = drift(wrapper.profile, now, scores).rename(columns={"psi": "psi_training"})
    if usual is None or usual["cutoff"].nunique() < 2:
        table = against_training.assign(psi=np.nan, usual_psi=np.nan, now_mean=np.nan, usual_mean=np.nan)
    else:
        recent = weekly_drift(usual, now, features, list(wrapper.profile["categorical"]))
        table = recent.merge(against_training, on="feature", how="outer")
    table["unseen"] = table["unseen"].fillna("")
    return table.sort_values(["psi", "psi_training"], ascending=False, ignore_index=True, na_position="last")


def _descriptions(wrapper) -> dict[str, str]:
    return {f["name"]: f["description"] for f in wrapper.manifest}


def _drift_warnings(table: pd.DataFrame, config: Params, descriptions: dict[str, str]) -> list[str]:
    """ALERT / warning lines, in words: what moved against the usual week; and values the model never saw."""
    out = []
    spec = config.score
    for level, threshold in (("ALERT", spec.psi_alert), ("warning", spec.psi_warn)):
        moved = flagged(table.dropna(subset=["psi"]), threshold, spec.drift_noise_factor)
        for row in moved.itertuples():
            if level == "warning" and row.psi >= spec.psi_alert:
                continue  # said once, as an alert
            out.append(f"{level} {in_words(row, descriptions.get(row.feature, row.feature))} "
                       f"[{row.feature}: PSI {row.psi:.2f}; an ordinary week moves up to {row.usual_psi:.2f}]")
    for row in table[table["unseen"] != ""].itertuples():
        out.append(f"warning {row.feature}: values never seen in training ({row.unseen}); the model reads "
                   "them as missing: map them to the values it knows, or retrain on exports that have them")
    return out
