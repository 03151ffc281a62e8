"""Great Expectations suites: derived from the contract, run as SQL on the pipeline's DuckDB views, reported clearly.

The bad-input corpus (tests/bad_inputs/) checks each broken rule's message; these tests
check the machinery: which expectations the contract yields, the two passes, both
sides of every threshold (reference tolerance, extraction time), the training-set and
score suites, and the record written for people (JSON and Data Docs).
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest

from features.contract import TABLES
from pipelines.config import ConfigError, load_params
from pipelines.findings import Finding, ValidationFailed
from pipelines.inputs import open_data, validate_directory
from pipelines.scores_contract import REQUIRED, SCORE_COLUMNS
from pipelines.sources import DataError, connect, open_tables
from pipelines.validation import (
    ID_LENGTHS,
    export_assets,
    validate_export,
    validate_scores,
    validate_training_file,
    validate_training_set,
)
from pipelines.validation_record import write_results
from tests.unit.pipelines.conftest import TINY_SETTINGS, tiny_tables, write_export
from tests.unit.pipelines.test_sinks import make_scores

LATEST_FACT = datetime(2025, 2, 1, 17, 0)  # the tiny export's latest instant: D1's closed_at


def config(tmp_path, **overrides):
    return load_params(None, overrides={**TINY_SETTINGS, **overrides})


def outcome_of(tmp_path, tables=None, **overrides):
    folder = write_export(tmp_path / "export", tables)
    outcome, _ = validate_directory(folder, config(tmp_path, **overrides))
    return outcome


def rules(findings) -> set[tuple]:
    return {(f.severity, f.table, f.column, f.rule) for f in findings}


# ---------------------------------------------------------------------------------------------------------------------
# suites derived from the contract


def test_raw_suites_are_derived_from_the_contract(tmp_path):
    tables = open_tables(write_export(tmp_path))
    assets = {a.table: a for a in export_assets(tables, config(tmp_path).validation)}
    assert set(assets) == set(TABLES)
    for name, table in TABLES.items():
        checks = {(e.meta["column"], e.meta["rule"], e.severity.value) for e in assets[name].expectations}
        for column in table.columns:
            col = column.name
            assert ((col, "not null", "critical") in checks) == (not column.nullable), (name, col)
            assert ((col, "unique", "critical") in checks) == (column.unique and col != "event_id"), (name, col)
            minimum = [(c, r) for c, r, _ in checks if c == col and r.startswith(">= ")]
            assert minimum == ([(col, f">= {column.minimum:g}")] if column.minimum is not None else []), (name, col)
            assert ((col, "allowed values", "critical") in checks) == bool(column.allowed), (name, col)
            assert ((col, "not after extraction", "critical") in checks) == (column.dtype == "timestamp"), (name, col)
        for rule, _, _ in table.row_rules:
            assert (None, rule, "critical") in checks
        references = {(c, r, s) for c, r, s in checks if r == "known lead"}
        expected = {("lead_id", "known lead", "warning"), ("lead_id", "known lead", "critical")}
        assert references == (expected if name != "leads" else set())
    assert {(c, r) for c, r, _ in ((e.meta["column"], e.meta["rule"], 0) for e in assets["leads"].expectations)
            if r.startswith("at most")} == {(c, f"at most {n} characters") for c, n in ID_LENGTHS.items()}


def test_configured_event_types_replace_the_vocabulary(tmp_path):
    tables = open_tables(write_export(tmp_path))
    vocabulary = ("page_view", "chat_started")
    events = next(a for a in export_assets(tables, config(tmp_path).validation, vocabulary) if a.table == "events")
    in_set = [e for e in events.expectations if e.meta["rule"] == "allowed values"]
    assert [list(e.value_set) for e in in_set] == [list(vocabulary)]


def test_clean_export_passes_with_every_expectation_recorded(tmp_path):
    outcome = outcome_of(tmp_path)
    assert outcome.success and outcome.findings == []
    assert set(outcome.results) == set(TABLES)
    assert outcome.expectations() == sum(len(r.results) for r in outcome.results.values()) > 30
    # the bundled boolean pass: a passing expectation carries no counts (nothing was scanned for them)
    assert all(r.success and not r.result for result in outcome.results.values() for r in result.results)


def test_failed_expectations_alone_get_counts_and_examples(tmp_path):
    tiny = tiny_tables()
    tiny["events"]["duration_s"][0] = -1.0
    outcome = outcome_of(tmp_path, tiny)
    results = [r for r in outcome.results["events"].results]
    failed = [r for r in results if not r.success]
    assert [r.expectation_config.meta["column"] for r in failed] == ["duration_s"]
    assert failed[0].result["unexpected_count"] == 1 and failed[0].result["partial_unexpected_list"] == [-1.0]
    assert all(not r.result for r in results if r.success)
    assert [(f.count, f.samples) for f in outcome.errors] == [(1, ("-1",))]


def test_every_broken_rule_is_reported_at_once(tmp_path):
    tiny = tiny_tables()
    tiny["leads"]["created_at"][0] = None
    tiny["events"]["event_type"][1] = "tweet"
    tiny["deals"]["status"][0] = "closed"  # with its closed_at, so only the vocabulary is broken
    outcome = outcome_of(tmp_path, tiny)
    assert rules(outcome.errors) == {("error", "leads", "created_at", "not null"),
                                     ("error", "events", "event_type", "allowed values"),
                                     ("error", "deals", "status", "allowed values")}


def test_validation_failed_is_a_data_error_naming_the_first_and_listing_all(tmp_path):
    tiny = tiny_tables()
    tiny["events"]["duration_s"][0] = -1.0
    tiny["deals"]["amount"][0] = -2.0
    with pytest.raises(ValidationFailed) as caught:
        open_data(write_export(tmp_path / "export", tiny), config(tmp_path))
    error = caught.value
    assert isinstance(error, DataError)
    assert error.file.endswith("events.csv") and error.column == "duration_s" and error.rule == ">= 0"
    message = str(error)
    assert message.startswith(error.file)
    assert "events.csv, column 'duration_s': >= 0: 1 of 6 row(s)" in message
    assert "deals.csv, column 'amount': >= 0: 1 of 2 row(s)" in message
    assert message.count("how to fix:") == 2


def test_validation_leaves_the_pipeline_connection_usable(tmp_path):
    con = connect()
    con.execute("CREATE TEMP TABLE mine AS SELECT 42 AS answer")
    tables = open_tables(write_export(tmp_path), con=con)
    for _ in range(2):  # GX hands connections back and disposes its engine: neither may close or roll back ours
        assert validate_export(tables, config(tmp_path).validation).success
    assert con.execute("SELECT answer FROM mine").fetchall() == [(42,)]
    assert con.sql("SELECT count(*) FROM leads").fetchall() == [(3,)]


# ---------------------------------------------------------------------------------------------------------------------
# both sides of the thresholds


@pytest.mark.parametrize("tolerance, severity", [(0.17, "warning"), (0.16, "error"), (0.0, "error")])
def test_unknown_lead_tolerance_warns_below_and_fails_above(tmp_path, tolerance, severity):
    tiny = tiny_tables()
    tiny["events"]["lead_id"][2] = "L404"  # 1 of 6 events = 16.7 %
    outcome = outcome_of(tmp_path, tiny, **{"validation.unknown_lead_tolerance": tolerance})
    assert rules(outcome.findings) == {(severity, "events", "lead_id", "known lead")}
    (finding,) = outcome.findings
    assert finding.count == 1 and finding.samples == ("'L404'",)


def test_references_count_only_rows_naming_a_lead(tmp_path):
    tiny = tiny_tables()
    tiny["events"]["anonymous_id"][0] = "anon-9"
    tiny["events"]["lead_id"][0] = None  # anonymous activity is not an unknown lead
    assert outcome_of(tmp_path, tiny).success


def test_duplicate_lead_ids_do_not_multiply_reference_rows(tmp_path):
    tiny = tiny_tables()
    tiny["leads"]["lead_id"][2] = "L1"  # L1 twice, L3 gone: events E5 and the identity point at L3
    outcome = outcome_of(tmp_path, tiny, **{"validation.unknown_lead_tolerance": 0.5})
    by_rule = {(f.table, f.rule): f for f in outcome.findings}
    assert by_rule[("leads", "unique")].count == 2
    assert by_rule[("events", "known lead")].detail.startswith("1 of 6 row(s)")


@pytest.mark.parametrize("minutes_past, ok", [(0, True), (-1e-6 / 60, False)])
def test_extraction_time_boundary(tmp_path, minutes_past, ok):
    # the latest fact may be exactly at extracted_at + skew, not a microsecond later
    extracted = LATEST_FACT - timedelta(minutes=15) + timedelta(minutes=minutes_past)
    outcome = outcome_of(tmp_path, **{"validation.extracted_at": extracted.isoformat(),
                                      "validation.clock_skew_minutes": 15})
    assert outcome.success is ok
    if not ok:
        assert rules(outcome.errors) == {("error", "deals", "closed_at", "not after extraction")}


def test_extraction_time_defaults_to_the_newest_file(tmp_path):
    folder = write_export(tmp_path / "export")
    written = datetime(2025, 1, 20, 12, 0).timestamp() - datetime(2025, 1, 20, 12, 0).astimezone().utcoffset().total_seconds()
    for path in folder.iterdir():  # files last written 2025-01-20 12:00 UTC: the deals closing on 1 February are news
        os.utime(path, (written, written))
    outcome, _ = validate_directory(folder, config(tmp_path))
    assert rules(outcome.errors) == {("error", "deals", "closed_at", "not after extraction")}
    assert "(2025-01-20 12:15 UTC)" in outcome.errors[0].detail


def test_offset_extraction_time_is_converted_to_utc(tmp_path):
    aware = (LATEST_FACT - timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%S") + "+00:00"
    assert outcome_of(tmp_path, **{"validation.extracted_at": aware}).success
    shifted = (LATEST_FACT + timedelta(hours=1) - timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%S") + "+02:00"
    assert not outcome_of(tmp_path / "b", **{"validation.extracted_at": shifted}).success  # = 16:00 UTC


# ---------------------------------------------------------------------------------------------------------------------
# the training set


def training_frame(cutoffs: int = 3, leads: int = 40, positives: int = 2) -> pd.DataFrame:
    rows = []
    for c in range(cutoffs):
        for i in range(leads):
            rows.append({"lead_id": f"L{i}", "cutoff": datetime(2025, 1, 6) + timedelta(days=14 * c),
                         "label": int(i < positives), "account_id": f"A{i % 5}", "journey_stage": "engaged",
                         "pricing_count_30d": float(i % 3), "days_since_last_demo_request": None if i else 4.0})
    return pd.DataFrame(rows)


def check_training(frame: pd.DataFrame, tmp_path, **overrides):
    con = duckdb.connect()
    con.register("frame", frame)
    con.execute("CREATE TEMP TABLE training AS SELECT * FROM frame")  # a temporary table, like the builder's
    return validate_training_set(con, "training", "training set", config(tmp_path, **overrides).validation)


def test_good_training_set_passes(tmp_path):
    outcome = check_training(training_frame(), tmp_path)
    assert outcome.success and not outcome.findings
    assert {e.expectation_config.meta["column"] for e in outcome.results["training set"].results} >= {
        "pricing_count_30d", "days_since_last_demo_request", "label"}


def test_training_set_problems_are_each_reported(tmp_path):
    frame = training_frame()
    frame.loc[frame["cutoff"] == frame["cutoff"].max(), "label"] = 0  # a cutoff without positives
    frame = pd.concat([frame, frame.iloc[[0]]], ignore_index=True)  # (L0, first cutoff) twice
    frame["days_since_last_demo_request"] = None
    outcome = check_training(frame, tmp_path)
    assert rules(outcome.errors) == {
        ("error", "training set", None, "unique (lead_id, cutoff)"),
        ("error", "training set", "days_since_last_demo_request", "feature not empty"),
        ("error", "training set", "positives", "positives per cutoff"),
    }
    per_cutoff = next(f for f in outcome.errors if f.rule == "positives per cutoff")
    assert per_cutoff.samples == ("2025-02-03: 0 of 40",)


@pytest.mark.parametrize("positives, ok", [(2, True), (1, False)])
def test_label_rate_bounds_both_sides(tmp_path, positives, ok):
    # 2 of 40 = 5 %: exactly the lower bound passes; 1 of 40 is below it
    outcome = check_training(training_frame(positives=positives), tmp_path, **{"validation.label_rate": [0.05, 0.5]})
    assert outcome.success is ok
    if not ok:
        assert rules(outcome.errors) == {("error", "training set", "label", "label rate")}
        assert "found 0.025" in outcome.errors[0].detail


def test_training_file_is_validated_from_disk(tmp_path):
    path = tmp_path / "training_set.parquet"
    frame = training_frame()
    frame.loc[3, "label"] = 2
    frame.to_parquet(path)
    outcome = validate_training_file(path, config(tmp_path).validation)
    assert rules(outcome.errors) == {("error", "training set", "label", "allowed values")}
    assert outcome.errors[0].file == str(path)
    with pytest.raises(DataError, match="missing file"):
        validate_training_file(tmp_path / "nope.parquet", config(tmp_path).validation)
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="unreadable file"):
        validate_training_file(tmp_path / "junk.parquet", config(tmp_path).validation)


# ---------------------------------------------------------------------------------------------------------------------
# the scored week


WEEK = datetime(2025, 3, 3)


def scores_frame(n: int = 50) -> pd.DataFrame:
    frame = make_scores(WEEK, n=n)
    frame["journey_stage"] = np.array(["acknowledged", "engaged", "leaning_in"])[np.arange(n) % 3]
    return frame


def test_good_scores_pass(tmp_path):
    outcome = validate_scores(duckdb.connect(), scores_frame(), 50, WEEK, config(tmp_path).validation)
    # the fixed rules, and one per column of the output contract (present) and per required column (filled)
    assert outcome.success and not outcome.findings
    assert outcome.expectations() == 7 + len(SCORE_COLUMNS) + len(REQUIRED)


def test_the_scored_week_must_hold_every_column_of_the_output_contract(tmp_path):
    frame = scores_frame().drop(columns=["grade"])
    frame.loc[5, "rank"] = None
    outcome = validate_scores(duckdb.connect(), frame, 50, WEEK, config(tmp_path).validation)
    assert rules(outcome.errors) == {("error", "scores", "grade", "output column"), ("error", "scores", "rank", "not null")}


def test_score_problems_are_each_reported(tmp_path):
    frame = scores_frame()
    frame.loc[0, "probability"] = 1.5
    frame.loc[1, "lead_id"] = frame.loc[2, "lead_id"]
    frame.loc[3, "tier"] = "Z"
    frame.loc[4, "journey_stage"] = "dormant"
    outcome = validate_scores(duckdb.connect(), frame, 49, WEEK, config(tmp_path).validation)
    assert rules(outcome.errors) == {
        ("error", "scores", None, "one row per lead in the population"),
        ("error", "scores", "lead_id", "one row per lead and as_of"),
        ("error", "scores", "probability", "probability in [0, 1]"),
        ("error", "scores", "tier", "allowed values"),
        ("error", "scores", "journey_stage", "allowed values"),
    }
    assert next(f for f in outcome.errors if f.column == "probability").samples == ("1.5",)


def test_scores_of_another_week_are_refused(tmp_path):
    outcome = validate_scores(duckdb.connect(), scores_frame(), 50, WEEK + timedelta(days=7),
                              config(tmp_path).validation)
    assert rules(outcome.errors) == {("error", "scores", "as_of", "one as_of")}


# ---------------------------------------------------------------------------------------------------------------------
# the record for people


def test_results_are_written_as_json_and_data_docs(tmp_path):
    tiny = tiny_tables()
    tiny["events"]["duration_s"][0] = -1.0
    outcome = outcome_of(tmp_path, tiny)
    paths = write_results(outcome, tmp_path / "report", {"data_dir": "somewhere"})
    record = json.loads(paths["json"].read_text())
    assert record["data_dir"] == "somewhere" and record["success"] is False
    assert [(e["file"].rsplit("/", 1)[-1], e["column"], e["rule"], e["count"]) for e in record["errors"]] == [
        ("events.csv", "duration_s", ">= 0", 1)]
    gx = record["great_expectations"]
    assert set(gx) == set(TABLES)
    assert len(gx["events"]["results"]) == len(outcome.results["events"].results)
    failed = [r for r in gx["events"]["results"] if not r["success"]]
    assert [r["expectation_config"]["type"] for r in failed] == ["expect_column_values_to_be_between"]
    assert failed[0]["result"]["unexpected_count"] == 1
    index = paths["docs"]
    assert index == tmp_path / "report" / "data_docs" / "index.html" and index.is_file()
    pages = list((index.parent / "validations").rglob("*.html"))
    assert len(pages) == len(TABLES)
    events_page = next(p for p in pages if "events" in str(p)).read_text()
    assert "duration_s" in events_page and "Failed" in events_page and "broken_lead_id_or_anonymous_id" in events_page
    assert not list((tmp_path / "report").glob(".data_docs.*"))  # the staging folder is gone


def test_reading_problems_are_findings_of_validate(tmp_path):
    tiny = tiny_tables()
    del tiny["events"]["event_type"]
    tiny["deals"]["created_at"][0] = "someday"
    outcome, tables = validate_directory(write_export(tmp_path / "export", tiny), config(tmp_path))
    assert tables is None and not outcome.results
    assert rules(outcome.errors) == {("error", "events", "event_type", "missing column"),
                                     ("error", "deals", "created_at", "unparsable timestamp")}
    paths = write_results(outcome, tmp_path / "report")
    assert "docs" not in paths and json.loads(paths["json"].read_text())["errors"][1]["rule"] == "unparsable timestamp"


def test_finding_text_names_file_column_rule_count_examples_and_fix():
    finding = Finding("error", "events", "/x/events.csv", "duration_s", ">= 0", "2 of 9 row(s): values are below 0",
                      "fix them", ("-1", "-2"), 2)
    assert str(finding) == ("/x/events.csv, column 'duration_s': >= 0: 2 of 9 row(s): values are below 0\n"
                            "  examples: -1; -2\n  how to fix: fix them")
    warning = Finding("warning", "events", "/x/events.csv", None, "known lead", "d", "ignored")
    assert str(warning).endswith("  handling: ignored")


@pytest.mark.parametrize("key, value, says", [
    ("validation.unknown_lead_tolerance", 1.5, "less than or equal to 1"),
    ("validation.label_rate", [0.5, 0.1], "low < high"),
    ("validation.clock_skew_minutes", -1, "greater than or equal to 0"),
    ("validation.extracted_at", "last week", "datetime"),
])
def test_bad_validation_settings_name_the_key(tmp_path, key, value, says):
    with pytest.raises(ConfigError) as caught:
        config(tmp_path, **{key: value})
    assert key in str(caught.value) and says in str(caught.value)


# ---------------------------------------------------------------------------------------------------------------------
# the Data Docs are HTML: no value of the export reaches them unescaped

HOSTILE = ("<script>alert('xss-et')</script>", "<img src=x onerror=alert('xss-id')>", '"><svg onload=alert(1)>')


def test_hostile_values_reach_the_data_docs_escaped_and_the_json_as_they_were(tmp_path):
    tiny = tiny_tables()
    tiny["events"]["event_type"][0] = HOSTILE[0]
    tiny["events"]["lead_id"][1] = HOSTILE[1]
    tiny["leads"]["lead_id"][0] = HOSTILE[2]
    tiny["events"]["duration_s"][2] = -1.0
    outcome = outcome_of(tmp_path, tiny)
    paths = write_results(outcome, tmp_path / "report")
    pages = [p.read_text(encoding="utf-8") for p in paths["docs"].parent.rglob("*.html")]
    assert pages
    for page in pages:
        for value in HOSTILE:
            assert value not in page
        for fragment in ("<script>alert", "<img src=x", "<svg onload"):  # as markup; as text they are harmless
            assert fragment not in page
    events_page = next(page for page in pages if "event_type" in page and "Failed" in page)
    assert "&lt;script&gt;alert" in events_page  # shown, as text
    recorded = json.loads(paths["json"].read_text())["errors"]
    assert any(HOSTILE[0] in sample for error in recorded for sample in error["samples"])  # JSON: as it was
    # the results kept in memory (the run's findings, validation.json) are not altered by the escaping
    samples = [s for f in outcome.errors for s in f.samples]
    assert any(HOSTILE[0] in s for s in samples)


# ---------------------------------------------------------------------------------------------------------------------
# export drift that would change scores silently: each case is named, with its rows, on both sides of the rule

def findings_of(tmp_path, tiny, **overrides) -> dict[tuple, object]:
    return {(f.severity, f.table, f.column, f.rule): f for f in outcome_of(tmp_path, tiny, **overrides).findings}


def test_placeholder_dates_are_errors_and_the_earliest_real_date_is_not(tmp_path):
    tiny = tiny_tables()
    tiny["leads"]["created_at"][2] = datetime(1970, 1, 1)
    tiny["events"]["occurred_at"][0] = datetime(1999, 12, 31, 23, 59, 59)
    tiny["events"]["occurred_at"][1] = datetime(2000, 1, 1)  # exactly the earliest date: fine
    found = findings_of(tmp_path, tiny)
    assert found[("error", "leads", "created_at", "not a placeholder date")].count == 1
    events = found[("error", "events", "occurred_at", "not a placeholder date")]
    assert events.count == 1 and "1999-12-31" in " ".join(events.samples)
    assert "validation.earliest_date" in events.fix or "earliest_date" in events.detail
    older = findings_of(tmp_path / "older", tiny, **{"validation.earliest_date": "1960-01-01"})
    assert not [k for k in older if k[3] == "not a placeholder date"]


def test_blank_ids_are_errors(tmp_path):
    tiny = tiny_tables()
    tiny["events"]["anonymous_id"][3] = "   "
    tiny["leads"]["account_id"][2] = " "
    found = findings_of(tmp_path, tiny)
    assert found[("error", "events", "anonymous_id", "not blank")].count == 1
    assert found[("error", "leads", "account_id", "not blank")].count == 1
    assert not [k for k in findings_of(tmp_path / "clean", tiny_tables()) if k[3] == "not blank"]


def test_a_content_type_spelt_otherwise_than_configured_is_an_error(tmp_path):
    tiny = tiny_tables()
    tiny["events"]["content_type"][0] = "Pricing"
    tiny["events"]["content_type"][3] = " blog"
    tiny["events"]["content_type"][1] = "webinar_replay"  # another type altogether: not this rule's business
    found = findings_of(tmp_path, tiny)
    finding = found[("error", "events", "content_type", "content type as configured")]
    assert finding.count == 2 and "Pricing" in " ".join(finding.samples)
    assert "features.content_types" in finding.detail


def test_an_anonymous_id_of_two_leads_and_a_deal_before_its_lead_are_warnings(tmp_path):
    tiny = tiny_tables()
    tiny["identities"] = {"anonymous_id": ["anon-1", "anon-1", "anon-2"], "lead_id": ["L3", "L2", "L1"],
                          "identified_at": [datetime(2025, 1, 8, 14, 0)] * 3}
    tiny["deals"]["created_at"][0] = datetime(2024, 12, 31, 12, 0)  # L1 became known on 2025-01-01
    found = findings_of(tmp_path, tiny)
    assert found[("warning", "identities", "anonymous_id", "one lead per visitor")].count == 2
    assert found[("warning", "deals", "created_at", "deal after its lead")].count == 1
    assert not any(f[0] == "error" for f in found)


def test_an_empty_optional_table_is_a_warning_saying_how_it_is_read(tmp_path):
    tiny = tiny_tables()
    tiny["identities"] = {"anonymous_id": [], "lead_id": [], "identified_at": []}
    found = findings_of(tmp_path, tiny)
    finding = found[("warning", "identities", None, "rows")]
    assert "no anonymous visitor was ever identified" in finding.fix
    assert ("warning", "identities", None, "rows") not in findings_of(tmp_path / "full", tiny_tables())


def test_the_findings_are_one_self_contained_page(tmp_path):
    tiny = tiny_tables()
    tiny["events"]["duration_s"][2] = -1.0
    paths = write_results(outcome_of(tmp_path, tiny), tmp_path / "report", {"data_dir": "the-export"})
    page = paths["page"].read_text(encoding="utf-8")
    assert "1 rule(s) broken: nothing was written." in page and "the-export" in page
    assert "duration_s" in page and "&gt;= 0" in page and "cannot be negative" in page
    assert "<script" not in page and "http" not in page.split("</style>")[0]  # nothing loaded from the network
