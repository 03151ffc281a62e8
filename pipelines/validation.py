"""Great Expectations at the three boundaries: the raw export, the training set, the scored week.

Every suite is derived, never written by hand: the raw suites from the contract in
``features/contract.py`` (not-null, unique, allowed values, minimums, cross-column
rules), plus the settings in ``params.yaml`` (``validation``); the training-set and
score suites from the settings and the model's own vocabulary. They run through
``expectations.py`` (GX on the pipeline's DuckDB connection, one scan a table), say
what they found as ``findings.py``, and are written down by ``validation_record.py``.

Checks that need a column or a cross-table join (a row breaking a cross-column rule,
an event naming an unknown lead) are columns of a per-table check view, so they are
ordinary column expectations and land in the same single scan.

What is not here: reading problems (a missing file or column, bytes that are not
UTF-8, values that do not parse as their type, mixed naive/offset timestamps) stop
the loader (``pipelines/sources.py``) before any view exists, because there is no
typed table to validate yet; ``leadscore validate`` reports them the same way.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

from features.contract import TABLES
from features.definitions import sql_string
from features.training_file import training_source
from pipelines.expectations import Asset, expectation, run
from pipelines.findings import Finding, Outcome
from pipelines.scores_contract import ID_LENGTH, REQUIRED, SCORE_COLUMNS
from pipelines.sinks import FORMULA_PREFIXES
from pipelines.sources import DataError, DataTables

# the lead's ids land in the scores table: as long as its columns, no longer
ID_LENGTHS = {name: ID_LENGTH for name in ("lead_id", "account_id")}

# ---------------------------------------------------------------------------------------------------------------------
# boundary 1: the raw export


def extraction_time(tables: DataTables, extracted_at: datetime | None) -> datetime:
    """When the export was taken: the setting if given, else when its newest file was last written (UTC)."""
    if extracted_at is not None:
        return extracted_at if extracted_at.tzinfo is None else \
            extracted_at.astimezone(timezone.utc).replace(tzinfo=None)
    newest = max(p.stat().st_mtime for paths in tables.files.values() for p in paths)
    return datetime.fromtimestamp(newest, timezone.utc).replace(tzinfo=None)


def export_assets(tables: DataTables, spec, event_types: tuple[str, ...] | None = None,
                  lifecycle_statuses: tuple[str, ...] | None = None,
                  content_types: tuple[str, ...] = (), dispositions: tuple[str, ...] | None = None) -> list[Asset]:
    """The raw suites, derived from the contract: one check view and one suite per table present."""
    latest = extraction_time(tables, spec.extracted_at) + timedelta(minutes=spec.clock_skew_minutes)
    con = tables.con
    assets = []
    for name in tables.files:
        table = TABLES[name]
        paths = tables.files[name]
        label = str(paths[0].parent) if len(paths) > 1 else str(paths[0])
        # dropped duplicate events are still part of the export: a broken one is still reported
        source = "events_with_duplicates" if name == "events" and tables.duplicate_events_dropped else name
        common = {"table": name, "file": label}
        checks, derived = [], []
        checks.append(expectation(
            "ExpectTableColumnsToMatchSet", **common, rule="columns", column_set=list(table.names), exact_match=False,
            detail="the typed table lacks contract columns", fix="export every column of the data contract"))
        keywords = {row[0] for row in con.execute(
            "SELECT keyword_name FROM duckdb_keywords() WHERE keyword_category <> 'unreserved'").fetchall()}
        for column in table.columns:
            col = column.name
            on = dict(common, column=col)
            if col in keywords:  # GX would not quote a column named like a keyword ("at"): it checks a copy
                derived.append(f't."{col}" AS {col}_value')
                on["on"] = f"{col}_value"
            if not column.nullable:
                checks.append(expectation(
                    "ExpectColumnValuesToNotBeNull", **on, rule="not null", detail="values are missing",
                    fix=f"fill in {col} for every row, or drop those rows"))
            if column.unique and not (name == "events" and col == "event_id"):  # repeated event ids are dropped
                checks.append(expectation(
                    "ExpectColumnValuesToBeUnique", **on, rule="unique", detail="values appear more than once",
                    fix=f"{col} must identify one row; remove the duplicate rows"))
            if column.minimum is not None:
                checks.append(expectation(
                    "ExpectColumnValuesToBeBetween", **on, rule=f">= {column.minimum:g}", min_value=column.minimum,
                    detail=f"values are below {column.minimum:g}",
                    fix=f"{col} cannot be negative; fix or blank those values"))
            if name == "leads" and col in ID_LENGTHS:
                checks.append(expectation(
                    "ExpectColumnValueLengthsToBeBetween", **on, rule=f"at most {ID_LENGTHS[col]} characters",
                    max_value=ID_LENGTHS[col], detail="ids are longer than the scores table stores",
                    fix=f"shorten {col} to {ID_LENGTHS[col]} characters (e.g. the CRM's own short id)"))
                # GX's LIKE and regex kinds know no DuckDB dialect: the test is a column of the check view
                starts = ", ".join(sql_string(p) for p in FORMULA_PREFIXES)
                derived.append(f"CASE WHEN left(t.{col}, 1) IN ({starts}) THEN t.{col} END AS formula_{col}")
                checks.append(expectation(
                    "ExpectColumnValuesToBeNull", **on, on=f"formula_{col}", severity="warning",
                    rule="spreadsheet formula",
                    detail="values start like a spreadsheet formula (= + - @ tab or carriage return)",
                    fix="kept as typed everywhere; in the CRM CSV they get a leading apostrophe so a spreadsheet "
                        "shows them as text instead of running them"))
            vocabulary = {("events", "event_type"): ("data.event_types", event_types),
                          ("lifecycle", "status"): ("data.lifecycle_statuses", lifecycle_statuses),
                          ("feedback", "disposition"): ("data.feedback_dispositions", dispositions)}.get((name, col))
            allowed = vocabulary[1] if vocabulary and vocabulary[1] else column.allowed
            if allowed:
                setting = vocabulary[0] if vocabulary else "the data contract"
                checks.append(expectation(
                    "ExpectColumnValuesToBeInSet", **on, rule="allowed values", value_set=list(allowed),
                    detail=f"values are outside the vocabulary ({', '.join(allowed)})",
                    fix=f"map them to the vocabulary, or add them to the configured list ({setting})"))
            if column.dtype == "timestamp":
                checks.append(expectation(
                    "ExpectColumnValuesToBeBetween", **on, rule="not after extraction", max_value=latest,
                    detail=f"values are later than the export itself ({latest:%Y-%m-%d %H:%M} UTC)",
                    fix="check the time zone (naive values are read as UTC) and the year; or set "
                        "validation.extracted_at if the files were written long after the export"))
                checks.append(expectation(
                    "ExpectColumnValuesToBeBetween", **on, rule="not a placeholder date",
                    min_value=spec.earliest_date,
                    detail=f"values are before validation.earliest_date ({spec.earliest_date:%Y-%m-%d}): "
                           "placeholders such as 1970-01-01, not history",
                    fix=f"blank {col} where it is unknown (or drop the rows if it is required), or lower "
                        "validation.earliest_date if the history really is that old"))
            if column.dtype == "string" and col.endswith("_id"):
                derived.append(f"CASE WHEN trim(t.{col}) = '' THEN t.{col} END AS blank_{col}")
                checks.append(expectation(
                    "ExpectColumnValuesToBeNull", **on, on=f"blank_{col}", rule="not blank",
                    detail="ids are blank (only spaces): they would all be one and the same id",
                    fix=f"leave {col} empty (null) where it is unknown, or fill in the real id"))
            if (name, col) == ("events", "content_type") and content_types:
                known = ", ".join(sql_string(c) for c in content_types)
                lowered = ", ".join(sql_string(c.lower()) for c in content_types)
                derived.append(f"CASE WHEN t.content_type NOT IN ({known}) AND lower(trim(t.content_type)) IN "
                               f"({lowered}) THEN t.content_type END AS misspelt_content_type")
                checks.append(expectation(
                    "ExpectColumnValuesToBeNull", **on, on="misspelt_content_type", rule="content type as configured",
                    detail="values differ from a configured content type only in case or spaces (features.content_types):"
                           " they would count as another type, and their signal would be lost",
                    fix="export the content types as features.content_types spells them, or spell them there as the "
                        "export does"))
        for rule, condition, fix in table.row_rules:
            alias = "broken_" + re.sub(r"\W+", "_", rule).strip("_")  # the column Data Docs shows
            derived.append(f"CASE WHEN NOT ({condition}) THEN CAST(t AS VARCHAR) END AS {alias}")
            checks.append(expectation("ExpectColumnValuesToBeNull", **common, on=alias, rule=rule,
                                      detail="rows break the rule", fix=fix))
        join = ""
        if name != "leads" and "lead_id" in table.names and tables.has("leads"):
            derived.append("CASE WHEN t.lead_id IS NOT NULL AND known.known_lead_id IS NULL THEN t.lead_id END "
                           "AS unknown_lead_id")
            # grouped: duplicated lead ids (reported by leads' own suite) must not multiply these rows
            join = ("LEFT JOIN (SELECT lead_id AS known_lead_id, min(created_at) AS known_created_at FROM leads "
                    "WHERE lead_id IS NOT NULL GROUP BY lead_id) known ON t.lead_id = known.known_lead_id")
            tolerance = spec.unknown_lead_tolerance
            on = dict(common, column="lead_id", on="unknown_lead_id", rule="known lead")
            checks.append(expectation(
                "ExpectColumnValuesToBeNull", **on, severity="warning", detail="rows name a lead_id missing from leads",
                fix=f"these rows are ignored (features and labels only use known leads); above "
                    f"{tolerance:.2%} of the rows validation fails"))
            checks.append(expectation(
                "ExpectColumnValuesToBeNull", **on, mostly=1.0 - tolerance,
                detail=f"rows name a lead_id missing from leads, more than validation.unknown_lead_tolerance "
                       f"({tolerance:.2%}) allows",
                fix="export leads and this table at the same moment and from the same system; or raise the "
                    "tolerance if the rows are known orphans"))
        if name == "identities":
            derived.append("CASE WHEN shared.anonymous_id IS NOT NULL THEN t.anonymous_id END AS shared_anonymous_id")
            join += (" LEFT JOIN (SELECT anonymous_id FROM identities GROUP BY anonymous_id "
                     "HAVING count(DISTINCT lead_id) > 1) shared ON t.anonymous_id = shared.anonymous_id")
            checks.append(expectation(
                "ExpectColumnValuesToBeNull", **common, column="anonymous_id", on="shared_anonymous_id",
                severity="warning", rule="one lead per visitor",
                detail="anonymous ids are mapped to more than one lead (a shared computer, or a merge gone wrong)",
                fix="their anonymous history counts for each of those leads from its identified_at; map each "
                    "anonymous id to one lead if that is not what happened"))
        if name == "deals" and tables.has("leads"):
            derived.append("CASE WHEN t.created_at < known.known_created_at THEN t.deal_id END AS deal_before_lead")
            checks.append(expectation(
                "ExpectColumnValuesToBeNull", **common, column="created_at", on="deal_before_lead", severity="warning",
                rule="deal after its lead", detail="deals were created before their lead became known",
                fix="the lead's created_at is probably a later re-import or merge date: export when the person "
                    "first became known, or their history before it is not seen"))
        relation = f"check_{name}"
        con.execute(f"CREATE OR REPLACE TEMP VIEW {relation} AS SELECT t.*{''.join(', ' + d for d in derived)} "
                    f"FROM {source} t {join}")
        assets.append(Asset(name, relation, name, label, checks))
    return assets


def validate_export(tables: DataTables, spec, event_types: tuple[str, ...] | None = None,
                    sample_values: int | None = None, lifecycle_statuses: tuple[str, ...] | None = None,
                    content_types: tuple[str, ...] = (), progress: bool = False,
                    display_columns: tuple[str, ...] = (), dispositions: tuple[str, ...] | None = None) -> Outcome:
    outcome = run(tables.con, export_assets(tables, spec, event_types, lifecycle_statuses, content_types,
                                            dispositions), "export",
                  sample_values or spec.sample_values, progress)
    for name, meaning in EMPTY_OPTIONAL.items():
        if tables.has(name) and tables.count(name) == 0:
            outcome.findings.append(Finding(
                "warning", name, str(tables.files[name][0]), None, "rows", f"the {name} file has no rows", meaning))
    outcome.findings += absent_extra_findings(tables, display_columns)
    if tables.duplicate_events_dropped:
        label = str(tables.files["events"][0])
        outcome.findings.append(Finding(
            "warning", "events", label, "event_id", "unique", f"{tables.duplicate_events_dropped:,} row(s) repeat an "
            "event_id", "the copy that became known first is kept and the others are dropped",
            count=tables.duplicate_events_dropped))
    return outcome


def absent_extra_findings(tables, display: tuple[str, ...] = ()) -> list[Finding]:
    """A warning per extra lead attribute or display column of the settings that the leads file lacks."""
    file = str(tables.files["leads"][0])
    return [Finding("warning", "leads", file, extra, "configured display column", detail,
                    "it is left out of the scores table, the CSV and the report; add the column to the export, or "
                    "remove it from data.display_columns") if extra in display else
            Finding("warning", "leads", file, extra, "configured extra attribute", detail,
                    "its feature is left out; add the column to the export, or remove it from "
                    "data.extra_lead_attributes")
            for extra, detail in tables.absent_extras.items()]


# an optional table that is present but empty is read as "nothing happened", which is rarely what an export meant
EMPTY_OPTIONAL = {
    "identities": "read as: no anonymous visitor was ever identified, so no anonymous history is stitched to a lead; "
                  "if the export lost it, export it again (or remove the file to say the export has none)",
    "lifecycle": "read as: no lead ever changed status; if the export lost it, export it again (or remove the file)",
    "feedback": "read as: sales recorded nothing on any lead; if the export lost it, export it again (or remove the "
                "file)",
}


# ---------------------------------------------------------------------------------------------------------------------
# boundary 2: the training set


def training_set_assets(con, relation: str, label: str, spec) -> list[Asset]:
    """Keys unique per (lead, cutoff), labels 0/1 at a plausible rate, positives in every cutoff, no empty feature."""
    from models.frame import ID_COLUMNS

    columns = [row[0] for row in con.execute(f"DESCRIBE {relation}").fetchall()]
    common = {"table": "training set", "file": label}
    low, high = spec.label_rate
    checks = [
        expectation("ExpectTableColumnsToMatchSet", **common, rule="columns", column_set=["lead_id", "cutoff", "label"],
                    exact_match=False, detail="key or label columns are missing",
                    fix="build the training set with 'leadscore build-training-set'"),
        expectation("ExpectCompoundColumnsToBeUnique", **common, rule="unique (lead_id, cutoff)",
                    column_list=["lead_id", "cutoff"], detail="a lead appears twice at one cutoff",
                    fix="rebuild the training set; check leads.lead_id is unique"),
        expectation("ExpectColumnValuesToNotBeNull", **common, column="label", rule="not null",
                    detail="labels are missing", fix="censored rows must be dropped, not left unlabelled; rebuild"),
        expectation("ExpectColumnValuesToBeInSet", **common, column="label", rule="allowed values", value_set=[0, 1],
                    detail="labels are not 0 or 1", fix="rebuild the training set"),
        expectation("ExpectColumnMeanToBeBetween", **common, column="label", rule="label rate",
                    min_value=low, max_value=high, detail=f"the share of positives is outside [{low:g}, {high:g}] "
                    "(validation.label_rate)",
                    fix="check deals.status and the spine settings (horizon, label); a rate far from your real "
                        "conversion rate means the labels are wrong"),
    ]
    for feature in (c for c in columns if c not in ID_COLUMNS):
        checks.append(expectation(
            "ExpectColumnProportionOfNonNullValuesToBeBetween", **common, column=feature, rule="feature not empty",
            min_value=0.0, strict_min=True, detail="the feature is null in every row",
            fix="rebuild it with 'leadscore build-training-set', which leaves out features without data and "
                "lists them in its report"))
    per_cutoff = f"{relation}_per_cutoff"
    con.execute(f"CREATE OR REPLACE TEMP VIEW {per_cutoff} AS SELECT strftime(cutoff, '%Y-%m-%d') || ': ' || "
                f"sum(label) || ' of ' || count(*) AS cutoff_positives, sum(label) AS positives "
                f"FROM {relation} GROUP BY cutoff")
    cutoffs = [expectation(
        "ExpectColumnValuesToBeBetween", **common, column="positives", rule="positives per cutoff",
        min_value=spec.min_positives_per_cutoff,
        detail=f"cutoffs have fewer than {spec.min_positives_per_cutoff} positive(s) "
               "(validation.min_positives_per_cutoff)",
        fix="use a longer history or more leads, or check that won deals reach the deals file")]
    return [Asset("training set", relation, "training set", label, checks),
            Asset("training set per cutoff", per_cutoff, "training set", label, cutoffs)]


def validate_training_set(con, relation: str, label: str, spec) -> Outcome:
    outcome = run(con, training_set_assets(con, relation, label, spec), "training set", spec.sample_values)
    # per-cutoff samples are positives counts; name the cutoffs instead
    for index, finding in enumerate(outcome.findings):
        if finding.rule == "positives per cutoff":
            low = spec.min_positives_per_cutoff
            rows = con.execute(f"SELECT cutoff_positives FROM {relation}_per_cutoff WHERE positives < {int(low)} "
                               f"ORDER BY cutoff_positives LIMIT {int(spec.sample_values)}").fetchall()
            outcome.findings[index] = Finding(**{**finding.__dict__, "samples": tuple(r[0] for r in rows)})
    return outcome


def validate_training_file(path: Path, spec, con=None) -> Outcome:
    """Validate a training set (``leadscore train``'s input: a folder of Parquet parts, or one file) from disk."""
    from pipelines.sources import connect

    path = Path(path)
    if not path.exists():
        raise DataError(str(path), None, "missing file", "the training set does not exist",
                        "build it with 'leadscore build-training-set DATA_DIR --out FILE'")
    con = con or connect()
    try:
        con.execute(f"CREATE OR REPLACE TEMP VIEW training_set_file AS SELECT * FROM {training_source(path)}")
        con.execute("SELECT count(*) FROM training_set_file").fetchall()
    except Exception as error:  # noqa: BLE001 - any reading failure is the same problem for the user
        raise DataError(str(path), None, "unreadable file", str(error).splitlines()[0],
                        "rebuild it with 'leadscore build-training-set'") from None
    return validate_training_set(con, "training_set_file", str(path), spec)


# ---------------------------------------------------------------------------------------------------------------------
# boundary 3: the scored week


def validate_scores(con, scores, population: int, as_of: datetime, spec) -> Outcome:
    """Before anything is written: probabilities in [0, 1], one row per lead, the whole population, known labels."""
    from features.definitions import JOURNEY_STAGES
    from models.tiers import TIERS

    relation = "scored_week"
    con.register(relation, scores)
    try:
        common = {"table": "scores", "file": f"scores as of {as_of:%Y-%m-%d}"}
        checks = [
            expectation("ExpectTableRowCountToEqual", **common, rule="one row per lead in the population",
                        value=population, detail=f"the row count differs from the population ({population:,} leads)",
                        fix="a bug: leads were lost or duplicated between features and scores; report it"),
            expectation("ExpectColumnValuesToBeUnique", **common, column="lead_id", rule="one row per lead and as_of",
                        detail="leads are scored more than once", fix="check leads.lead_id is unique"),
            expectation("ExpectColumnValuesToBeInSet", **common, column="as_of", rule="one as_of",
                        value_set=[as_of], detail="rows carry another score date", fix="a bug; report it"),
            *(expectation("ExpectColumnToExist", **common, column=name, rule="output column",
                          detail=f"the scored week lacks {name} (pipelines/scores_contract.py)", fix="a bug; report it")
              for name in SCORE_COLUMNS),
            *(expectation("ExpectColumnValuesToNotBeNull", **common, column=name, rule="not null",
                          detail=f"{name} is missing in some rows", fix="the model returned no score, or a bug; check "
                          "the model, or report it") for name in REQUIRED),
            expectation("ExpectColumnValuesToBeBetween", **common, column="probability", rule="probability in [0, 1]",
                        min_value=0.0, max_value=1.0, detail="probabilities are outside [0, 1]",
                        fix="the model's calibration is broken; roll back with 'leadscore promote --version N'"),
            expectation("ExpectColumnValuesToBeUnique", **common, column="rank", rule="unique rank",
                        detail="ranks repeat", fix="a bug; report it"),
            expectation("ExpectColumnValuesToBeInSet", **common, column="tier", rule="allowed values",
                        value_set=list(TIERS), detail=f"tiers outside {', '.join(TIERS)}", fix="check tiers in params.yaml"),
            expectation("ExpectColumnValuesToBeInSet", **common, column="journey_stage", rule="allowed values",
                        value_set=list(JOURNEY_STAGES), detail=f"journey stages outside {', '.join(JOURNEY_STAGES)}",
                        fix="check the stage rules in params.yaml"),
        ]
        return run(con, [Asset("scores", relation, "scores", common["file"], checks)], "scores", spec.sample_values)
    finally:
        con.unregister(relation)
