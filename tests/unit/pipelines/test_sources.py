"""The loader: typed views over CSV/Parquet exports, and a `DataError` for every file that cannot be read.

Good inputs check that CSV and Parquet give the same typed data and that timestamps end
up as naive UTC. Bad inputs check that each reading problem raises `DataError` naming the
file, the column, the rule and an offending value, never a raw DuckDB error.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features.contract import TABLES
from pipelines.sources import DataError, open_tables
from tests.unit.pipelines.conftest import (
    tiny_tables,
    write_csv,
    write_export,
    write_table,
)

ORDER = {"leads": "lead_id", "events": "event_id", "identities": "anonymous_id", "deals": "deal_id"}
OPTIONAL = ("identities", "deals")  # left out where a test is about leads or events: halves the load time
SQL_TYPES = {"string": "VARCHAR", "integer": "BIGINT", "number": "DOUBLE", "timestamp": "TIMESTAMP"}


def load_error(directory, **options) -> DataError:
    with pytest.raises(DataError) as caught:
        open_tables(directory, **options)
    return caught.value


def check_error(error: DataError, file: str, column: str | None, rule: str, *fragments: str) -> None:
    """The error names ``file``, ``column`` and ``rule``, and its message shows every fragment."""
    message = str(error)
    assert error.file.endswith(file), error.file
    assert error.column == column, message
    assert error.rule == rule, message
    assert message.startswith(error.file), message
    assert f": {rule}:" in message and "how to fix:" in message, message
    if column:
        assert f"column '{column}'" in message, message
    for fragment in fragments:
        assert fragment in message, message


def rows(tables, sql: str) -> list[tuple]:
    return tables.con.sql(sql).fetchall()


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """The tiny export loaded once from CSV and once from Parquet, for tests that only read."""
    root = tmp_path_factory.mktemp("tiny")
    return {fmt: open_tables(write_export(root / fmt, fmt=fmt)) for fmt in ("csv", "parquet")}


# ---------------------------------------------------------------- good inputs


@pytest.mark.parametrize("table", list(ORDER))
def test_csv_and_parquet_give_identical_typed_data(loaded, table):
    sql = f"SELECT * FROM {table} ORDER BY {ORDER[table]}"
    csv_frame, parquet_frame = loaded["csv"].con.sql(sql).df(), loaded["parquet"].con.sql(sql).df()
    assert len(csv_frame) == len(next(iter(tiny_tables()[table].values())))
    assert csv_frame.dtypes.to_dict() == parquet_frame.dtypes.to_dict()
    assert csv_frame.equals(parquet_frame)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("table", list(ORDER))
def test_views_carry_the_contract_types(loaded, fmt, table):
    tables = loaded[fmt]
    types = {name: kind for name, kind, *_ in tables.con.execute(f"DESCRIBE {table}").fetchall()}
    assert types == {c.name: SQL_TYPES[c.dtype] for c in TABLES[table].columns}


def test_tiny_values_arrive_intact(loaded):
    tables = loaded["csv"]
    assert rows(tables, "SELECT lead_id, created_at, title, company_size FROM leads ORDER BY lead_id") == [
        ("L1", datetime(2025, 1, 1, 9, 0), "VP Marketing", 250),
        ("L2", datetime(2025, 1, 2, 10, 30), "Data Engineer", 250),
        ("L3", datetime(2025, 1, 3, 11, 0), None, None),  # empty CSV cells are nulls
    ]
    assert {name: tables.count(name) for name in ORDER} == {"leads": 3, "events": 6, "identities": 1, "deals": 2}


@pytest.mark.parametrize(
    "written, utc",
    [
        ("2025-01-06T10:00:00+02:00", datetime(2025, 1, 6, 8, 0)),
        ("2025-01-06 10:00:00-05", datetime(2025, 1, 6, 15, 0)),
        ("2025-01-06T10:00:00Z", datetime(2025, 1, 6, 10, 0)),
        ("2025-01-06T10:00:00", datetime(2025, 1, 6, 10, 0)),  # naive: taken as UTC
        ("2025-01-06", datetime(2025, 1, 6, 0, 0)),
    ],
)
def test_csv_timestamps_become_naive_utc(tmp_path, tiny, written, utc):
    tiny["events"]["occurred_at"] = [written] * 6
    tables = open_tables(write_export(tmp_path, tiny, skip=OPTIONAL))
    assert rows(tables, "SELECT DISTINCT occurred_at FROM events") == [(utc,)]


def test_date_only_values_mix_with_naive_timestamps(tmp_path, tiny):
    tiny["leads"]["created_at"] = ["2025-01-01", "2025-01-02T10:30:00", "2025-01-03 11:00:00"]
    tables = open_tables(write_export(tmp_path, tiny, skip=OPTIONAL))
    assert rows(tables, "SELECT min(created_at), max(created_at) FROM leads") == [
        (datetime(2025, 1, 1), datetime(2025, 1, 3, 11, 0))
    ]


@pytest.mark.parametrize("zone, hours", [("+02:00", 2), ("-05:00", -5)])
def test_parquet_tz_aware_timestamps_convert_to_utc(tmp_path, tiny, zone, hours):
    wall = datetime(2025, 1, 6, 10, 0, tzinfo=timezone(timedelta(hours=hours)))  # 10:00 local
    tiny["events"]["occurred_at"] = pa.array([wall] * 6, type=pa.timestamp("us", tz=zone))
    tables = open_tables(write_export(tmp_path, tiny, fmt="parquet", skip=OPTIONAL))
    assert rows(tables, "SELECT DISTINCT occurred_at FROM events") == [(datetime(2025, 1, 6, 10 - hours, 0),)]


def test_parquet_named_zone_converts_to_utc(tmp_path, tiny):
    berlin = pa.array([datetime(2025, 1, 6, 9, 0)] * 6, type=pa.timestamp("us")).cast(
        pa.timestamp("us", tz="Europe/Berlin")
    )  # arrow stores instants: 09:00 UTC is 10:00 in Berlin
    tiny["events"]["occurred_at"] = berlin
    tables = open_tables(write_export(tmp_path, tiny, fmt="parquet", skip=OPTIONAL))
    assert rows(tables, "SELECT DISTINCT occurred_at FROM events") == [(datetime(2025, 1, 6, 9, 0),)]


def test_folder_of_parquet_parts_reads_as_one_table(tmp_path, tiny):
    write_export(tmp_path / "single", tiny, fmt="parquet")
    parts = write_export(tmp_path / "parts", tiny, fmt="parquet", skip=("events",))
    (parts / "events").mkdir()
    events = pa.table(tiny["events"])
    pq.write_table(events.slice(0, 4), parts / "events" / "part-0000.parquet")
    pq.write_table(events.slice(4), parts / "events" / "part-0001.parquet")
    tables, single = open_tables(parts), open_tables(tmp_path / "single")
    assert [p.name for p in tables.files["events"]] == ["part-0000.parquet", "part-0001.parquet"]
    sql = "SELECT * FROM events ORDER BY event_id"
    assert tables.con.sql(sql).df().equals(single.con.sql(sql).df())


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_an_export_folder_named_like_a_pattern_is_read_as_named(tmp_path, tiny, fmt):
    """DuckDB's readers take a path as a pattern: an export in ``ex?[1]*`` must not also read ``exX1y`` beside it."""
    fewer = {**tiny, "events": {column: values[:-2] for column, values in tiny["events"].items()}}
    decoy = write_export(tmp_path / "exX1y", fewer, fmt=fmt)
    events = len(tiny["events"]["event_id"])
    assert rows(open_tables(decoy), "SELECT count(*) FROM events") == [(events - 2,)]
    tables = open_tables(write_export(tmp_path / "ex?[1]*", tiny, fmt=fmt))
    assert rows(tables, "SELECT count(*) FROM events") == [(events,)]


def test_optional_tables_may_be_absent(tmp_path):
    tables = open_tables(write_export(tmp_path, skip=OPTIONAL))
    assert not tables.has("identities") and not tables.has("deals")
    assert tables.count("identities") == tables.count("deals") == 0
    assert tables.count("events") == 6


def test_event_id_column_is_optional(tmp_path, tiny):
    del tiny["events"]["event_id"]
    tables = open_tables(write_export(tmp_path, tiny, skip=OPTIONAL))
    assert tables.duplicate_events_dropped == 0
    assert rows(tables, "SELECT count(*), count(event_id) FROM events") == [(6, 0)]


def test_duplicate_event_ids_are_dropped_and_counted(tmp_path, tiny):
    # E1 is re-sent twice, and the later copies come first in the file: the earliest occurrence is kept.
    events = tiny["events"]
    events["event_id"] = ["E1", "E1", "E3", "E1", "E5", "E6"]
    events["occurred_at"][0] = datetime(2025, 1, 5, 8, 10)
    tables = open_tables(write_export(tmp_path, tiny, skip=OPTIONAL))
    assert tables.duplicate_events_dropped == 2
    assert tables.count("events") == 4
    assert rows(tables, "SELECT occurred_at, event_type FROM events WHERE event_id = 'E1'") == [
        (datetime(2025, 1, 5, 8, 5), "form_submit")
    ]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_no_duplicates_counts_zero(loaded, fmt):
    assert loaded[fmt].duplicate_events_dropped == 0
    assert loaded[fmt].count("events") == 6


def test_extra_lead_columns_pass_through_when_named(tmp_path):
    tables = open_tables(write_export(tmp_path, skip=OPTIONAL), extra_lead_columns=("plan_tier",))
    assert rows(tables, "SELECT lead_id, plan_tier FROM leads ORDER BY lead_id") == [
        ("L1", "gold"), ("L2", "silver"), ("L3", "gold")
    ]
    assert tables.extra_lead_columns == ("plan_tier",)


def test_unnamed_extra_lead_columns_are_left_out(loaded):
    columns = [row[0] for row in loaded["csv"].con.execute("DESCRIBE leads").fetchall()]
    assert columns == list(TABLES["leads"].names)


def test_configured_event_types_replace_the_default_vocabulary(tmp_path, tiny):
    tiny["events"]["event_type"][2] = "chat_started"
    vocabulary = ("page_view", "form_submit", "email_open", "email_click", "webinar_attend", "chat_started")
    tables = open_tables(write_export(tmp_path, tiny, skip=OPTIONAL), event_types=vocabulary)
    assert rows(tables, "SELECT event_type FROM events WHERE event_id = 'E3'") == [("chat_started",)]


def test_whole_numbers_written_as_floats_are_integers(tmp_path, tiny):
    tiny["leads"]["company_size"] = ["250.0", "1e3", ""]  # what pandas writes for an int column with nulls
    tables = open_tables(write_export(tmp_path, tiny, skip=OPTIONAL))
    assert rows(tables, "SELECT company_size FROM leads ORDER BY lead_id") == [(250,), (1000,), (None,)]


def test_parquet_integers_stored_as_floats_are_accepted_when_whole(tmp_path, tiny):
    tiny["leads"]["company_size"] = [250.0, 12.0, None]
    tables = open_tables(write_export(tmp_path, tiny, fmt="parquet", skip=OPTIONAL))
    assert rows(tables, "SELECT company_size FROM leads ORDER BY lead_id") == [(250,), (12,), (None,)]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_data_end_is_the_latest_instant_of_any_table(loaded, fmt):
    assert loaded[fmt].data_end() == datetime(2025, 2, 1, 17, 0)  # the won deal's closed_at


def test_data_end_without_deals_uses_events_and_identities(tmp_path):
    tables = open_tables(write_export(tmp_path, skip=("deals",)))
    assert tables.data_end() == datetime(2025, 1, 9, 16, 45)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_data_start_is_the_first_event(loaded, fmt):
    assert loaded[fmt].data_start() == datetime(2025, 1, 5, 8, 0)


def test_connection_stays_usable_after_the_loader_and_helpers(tmp_path):
    tables = open_tables(write_export(tmp_path))  # DuckDB refuses con.sql() while an execute() result is unread
    tables.data_end(), tables.data_start(), tables.count("events")
    assert tables.con.sql("SELECT count(*) FROM leads").fetchall() == [(3,)]


def test_digest_is_stable_for_the_same_bytes(loaded):
    first = loaded["csv"].digest()
    assert first == open_tables(loaded["csv"].directory).digest()
    assert len(first) == 64 and int(first, 16) >= 0


def test_digest_changes_when_one_byte_changes(tmp_path):
    before = open_tables(write_export(tmp_path, skip=OPTIONAL)).digest()
    events = tmp_path / "events.csv"
    events.write_bytes(events.read_bytes().replace(b"12.0", b"13.0"))  # one duration, still valid
    assert open_tables(tmp_path).digest() != before


def test_digest_covers_optional_tables(tmp_path):
    with_deals = open_tables(write_export(tmp_path / "a", fmt="parquet", skip=("identities",))).digest()
    without = open_tables(write_export(tmp_path / "b", fmt="parquet", skip=OPTIONAL)).digest()
    assert with_deals != without


# ---------------------------------------------------------------- bad inputs: files and tables


def test_missing_directory(tmp_path):
    error = load_error(tmp_path / "nowhere")
    check_error(error, "nowhere", None, "missing directory")


@pytest.mark.parametrize("table", ["leads", "events"])
def test_missing_required_table(tmp_path, table):
    error = load_error(write_export(tmp_path, skip=(table,)))
    assert error.file == str(tmp_path)
    check_error(error, tmp_path.name, None, "missing table", f"no {table}.parquet, {table}.csv or {table}/ folder")


def test_deals_required_when_asked(tmp_path):
    error = load_error(write_export(tmp_path, skip=("deals",)), require_deals=True)
    check_error(error, tmp_path.name, None, "missing table", "no deals.parquet")


def test_table_given_twice_is_ambiguous(tmp_path):
    write_export(tmp_path)
    write_table(tmp_path, "leads", tiny_tables()["leads"], fmt="parquet")
    error = load_error(tmp_path)
    check_error(error, tmp_path.name, None, "ambiguous table", "leads.parquet", "leads.csv")


def test_file_and_parts_folder_for_one_table_is_ambiguous(tmp_path):
    write_export(tmp_path, fmt="parquet")
    (tmp_path / "events").mkdir()
    write_table(tmp_path / "events", "part-0", tiny_tables()["events"], fmt="parquet")
    check_error(load_error(tmp_path), tmp_path.name, None, "ambiguous table", "events.parquet", "events")


@pytest.mark.parametrize("content", ["lead_id,created_at,account_id\n", ""], ids=["header only", "zero bytes"])
def test_empty_leads_csv(tmp_path, content):
    write_export(tmp_path)
    (tmp_path / "leads.csv").write_text(content)
    check_error(load_error(tmp_path), "leads.csv", None, "empty file", "the file has no rows")


def test_empty_leads_parquet(tmp_path, tiny):
    write_export(tmp_path, tiny, fmt="parquet")
    pq.write_table(pa.table(tiny["leads"]).slice(0, 0), tmp_path / "leads.parquet")
    check_error(load_error(tmp_path), "leads.parquet", None, "empty file", "the file has no rows")


def test_empty_optional_table_is_accepted(tmp_path, tiny):
    write_export(tmp_path, tiny)
    write_csv(tmp_path / "deals.csv", {name: [] for name in tiny["deals"]})
    assert open_tables(tmp_path).count("deals") == 0


def test_latin1_csv_is_not_utf8(tmp_path, tiny):
    tiny["leads"]["title"][1] = "Geschäftsführer"
    write_export(tmp_path, tiny)
    leads = tmp_path / "leads.csv"
    leads.write_bytes(leads.read_text(encoding="utf-8").encode("latin-1"))
    check_error(load_error(tmp_path), "leads.csv", None, "not UTF-8", "Line: 3", "iconv")


def test_latin1_bytes_past_the_csv_sniffer_sample_are_caught(tmp_path, tiny):
    # DuckDB sniffs 20,480 rows and otherwise checks UTF-8 only in the columns a query reads.
    count = 25_000
    leads = {name: [values[i % 3] for i in range(count)] for name, values in tiny["leads"].items()}
    leads["lead_id"] = [f"L{i}" for i in range(count)]
    leads["title"][-1] = "Geschäftsführer"
    write_export(tmp_path, tiny)
    path = write_table(tmp_path, "leads", leads)
    path.write_bytes(path.read_bytes().replace("Geschäftsführer".encode(), "Geschäftsführer".encode("latin-1")))
    check_error(load_error(tmp_path), "leads.csv", None, "not UTF-8", f"Line: {count + 1}")


def test_bad_value_in_parts_folder_names_the_folder(tmp_path, tiny):
    write_export(tmp_path, tiny, fmt="parquet", skip=("events",))
    (tmp_path / "events").mkdir()
    tiny["events"]["duration_s"][5] = float("inf")
    events = pa.table(tiny["events"])
    pq.write_table(events.slice(0, 3), tmp_path / "events" / "part-0.parquet")
    pq.write_table(events.slice(3), tmp_path / "events" / "part-1.parquet")
    check_error(load_error(tmp_path), "events", "duration_s", "not a valid number", "'inf'")


# ---------------------------------------------------------------- bad inputs: columns and types


@pytest.mark.parametrize(
    "fmt, table, column",
    [("csv", "leads", "created_at"), ("csv", "events", "event_type"), ("csv", "deals", "status"),
     ("parquet", "events", "occurred_at")],
)
def test_missing_required_column(tmp_path, tiny, fmt, table, column):
    del tiny[table][column]
    error = load_error(write_export(tmp_path, tiny, fmt=fmt, skip=("identities",)))
    check_error(error, f"{table}.{fmt}", column, "missing column", "required by the data contract",
                f"add a '{column}' column of type {TABLES[table].column(column).dtype}")


def test_misspelled_column_gets_a_did_you_mean_hint(tmp_path, tiny):
    tiny["events"]["occured_at"] = tiny["events"].pop("occurred_at")
    error = load_error(write_export(tmp_path, tiny, skip=OPTIONAL))
    check_error(error, "events.csv", "occurred_at", "missing column",
                "did you mean 'occured_at'? rename it to 'occurred_at'", "the file has only: ")


def test_a_configured_extra_lead_column_the_file_lacks_is_read_as_empty_and_named(tmp_path):
    """Not an error: an export without one of the settings' extra attributes still works; the plan leaves its
    feature out and validation warns (``tests/bad_inputs/cases.yaml``)."""
    tables = open_tables(write_export(tmp_path, skip=OPTIONAL), extra_lead_columns=("budget", "plan_tier"))
    assert tables.con.execute('SELECT count("budget"), count("plan_tier") FROM leads').fetchall() == [(0, 3)]
    assert list(tables.absent_extras) == ["budget"]
    assert "names 'budget', which the file lacks" in tables.absent_extras["budget"]


@pytest.mark.parametrize("value", ["abc", "1.5", "0x10"])
def test_csv_integer_that_is_not_a_whole_number(tmp_path, tiny, value):
    tiny["leads"]["company_size"][1] = value
    error = load_error(write_export(tmp_path, tiny, skip=OPTIONAL))
    check_error(error, "leads.csv", "company_size", "not a valid integer", f"row 2: '{value}'",
                "1 value(s) cannot be read as integer")


def test_parquet_integer_stored_as_text(tmp_path, tiny):
    tiny["leads"]["company_size"] = ["250", "abc", None]
    error = load_error(write_export(tmp_path, tiny, fmt="parquet", skip=OPTIONAL))
    check_error(error, "leads.parquet", "company_size", "not a valid integer", "row 2: 'abc'")


@pytest.mark.parametrize("value", [1.5, float("inf"), float("nan")])
def test_parquet_float_integer_that_is_not_whole(tmp_path, tiny, value):
    tiny["leads"]["company_size"] = [250.0, value, None]
    error = load_error(write_export(tmp_path, tiny, fmt="parquet", skip=OPTIONAL))
    check_error(error, "leads.parquet", "company_size", "not a valid integer", "row 2: ")


@pytest.mark.parametrize(
    "table, column, values, stored",
    [
        ("leads", "company_size", [True, False, None], "BOOLEAN"),
        ("events", "occurred_at", list(range(6)), "BIGINT"),
    ],
)
def test_parquet_wrong_physical_type(tmp_path, tiny, table, column, values, stored):
    tiny[table][column] = values
    error = load_error(write_export(tmp_path, tiny, fmt="parquet", skip=OPTIONAL))
    check_error(error, f"{table}.parquet", column, "wrong type", f"the file stores {stored}")


@pytest.mark.parametrize("value", ["inf", "nan", "12 EUR"])
def test_csv_amount_that_is_not_a_finite_number(tmp_path, tiny, value):
    tiny["deals"]["amount"][0] = value
    error = load_error(write_export(tmp_path, tiny, skip=("identities",)))
    check_error(error, "deals.csv", "amount", "not a valid number", f"row 1: '{value}'")


@pytest.mark.parametrize("value", ["yesterday", "2025-13-45", "06/01/2025 10:00"])
def test_unparsable_naive_timestamp(tmp_path, tiny, value):
    tiny["leads"]["created_at"][2] = value
    error = load_error(write_export(tmp_path, tiny, skip=OPTIONAL))
    check_error(error, "leads.csv", "created_at", "unparsable timestamp", f"row 3: '{value}'", "ISO 8601")


@pytest.mark.parametrize("value", ["yesterday", "2025-13-45T10:00:00Z"])
def test_unparsable_timestamp_among_offset_values(tmp_path, tiny, value):
    tiny["leads"]["created_at"] = ["2025-01-01T09:00:00Z", value, "2025-01-03T11:00:00Z"]
    error = load_error(write_export(tmp_path, tiny, skip=OPTIONAL))
    check_error(error, "leads.csv", "created_at", "unparsable timestamp", f"row 2: '{value}'")


@pytest.mark.parametrize("aware", ["2025-01-06T10:00:00Z", "2025-01-06 10:00:00 UTC"])
def test_mixed_naive_and_offset_timestamps(tmp_path, tiny, aware):
    tiny["events"]["occurred_at"][4] = aware
    error = load_error(write_export(tmp_path, tiny, skip=OPTIONAL))
    check_error(error, "events.csv", "occurred_at", "mixed naive and offset timestamps",
                "1 value(s) carry a UTC offset and 5 do not", f"row 5: '{aware}' (with offset)",
                "row 1: '2025-01-05T08:00:00' (no offset)")


# Content rules (not-null, unique, allowed values, minimums, cross-column and cross-table rules) are Great
# Expectations suites over these views: tests/unit/pipelines/test_validation.py and the corpus in tests/bad_inputs/.


# ---------------------------------------------------------------- loader additions: every table, finite numbers


def test_problems_in_several_tables_are_reported_together(tmp_path, tiny):
    del tiny["events"]["event_type"]
    tiny["deals"]["created_at"][1] = "someday"
    error = load_error(write_export(tmp_path, tiny))
    check_error(error, "events.csv", "event_type", "missing column")
    assert [(e.file.rsplit("/", 1)[-1], e.column, e.rule) for e in error.others] == [
        ("deals.csv", "created_at", "unparsable timestamp")]
    assert [error.table, *(e.table for e in error.others)] == ["events", "deals"]
    assert "deals.csv, column 'created_at': unparsable timestamp" in str(error)
    assert str(error).startswith(error.file)


@pytest.mark.parametrize("table, column, value", [("deals", "amount", float("nan")),
                                                   ("events", "duration_s", float("-inf"))])
def test_parquet_nan_and_infinity_are_not_numbers(tmp_path, tiny, table, column, value):
    tiny[table][column][0] = value
    error = load_error(write_export(tmp_path, tiny, fmt="parquet", skip=("identities",)))
    check_error(error, f"{table}.parquet", column, "not a valid number", "row 1: ", "not NaN or inf")


def test_parquet_decimal_amounts_are_numbers(tmp_path, tiny):
    from decimal import Decimal

    tiny["deals"]["amount"] = pa.array([Decimal("12000.50"), None], type=pa.decimal128(12, 2))
    tables = open_tables(write_export(tmp_path, tiny, fmt="parquet", skip=("identities",)))
    assert rows(tables, "SELECT amount FROM deals ORDER BY deal_id") == [(12000.5,), (None,)]
    assert rows(tables, "SELECT typeof(amount) FROM deals LIMIT 1") == [("DOUBLE",)]


def test_a_spark_style_table_parquet_folder_reads_as_its_parts(tmp_path, tiny):
    parts = write_export(tmp_path / "parts", tiny, fmt="parquet", skip=("events",))
    (parts / "events.parquet").mkdir()  # how Spark writes a table
    events = pa.table(tiny["events"])
    pq.write_table(events.slice(0, 3), parts / "events.parquet" / "part-00000-abc.snappy.parquet")
    pq.write_table(events.slice(3), parts / "events.parquet" / "part-00001-abc.snappy.parquet")
    assert rows(open_tables(parts), "SELECT count(*) FROM events") == [(len(events),)]


def test_a_link_to_nothing_is_named_as_such(tmp_path):
    write_export(tmp_path, skip=("leads",))
    (tmp_path / "leads.csv").symlink_to(tmp_path / "gone" / "leads.csv")
    check_error(load_error(tmp_path), "leads.csv", None, "broken link", "which does not exist")


def test_a_table_folder_without_parts_is_named_as_such(tmp_path):
    write_export(tmp_path, skip=("identities",))
    (tmp_path / "identities").mkdir()
    check_error(load_error(tmp_path), "identities", None, "no parts", "holds no .parquet files")


@pytest.mark.parametrize("value, what", [
    ("2025-03-30 02:30:00 Europe/Berlin", "never happened"),     # the spring-forward gap
    ("2025-10-26 02:30:00 Europe/Berlin", "happened twice"),     # the fall-back hour
    ("2025-03-09 02:15:00 America/New_York", "never happened"),
])
def test_a_local_time_its_zone_skips_or_repeats_is_refused(tmp_path, tiny, value, what):
    tiny["leads"]["created_at"] = ["2025-01-01 09:00:00 Europe/Berlin", value, "2025-01-03 11:00:00 Europe/Berlin"]
    error = load_error(write_export(tmp_path, tiny, skip=OPTIONAL))
    check_error(error, "leads.csv", "created_at", "local time not in its zone", f"row 2: '{value}' ({what})", "UTC")


@pytest.mark.parametrize("value", ["2025-03-30 01:59:59 Europe/Berlin", "2025-03-30 03:00:00 Europe/Berlin",
                                   "2025-10-26 03:00:00 Europe/Berlin", "2025-10-26 01:59:59 Europe/Berlin"])
def test_local_times_just_outside_the_gap_and_the_fold_are_read(tmp_path, tiny, value):
    tiny["leads"]["created_at"] = ["2025-01-01 09:00:00 Europe/Berlin", value, "2025-01-03 11:00:00 Europe/Berlin"]
    tables = open_tables(write_export(tmp_path, tiny, skip=OPTIONAL))
    assert len(rows(tables, "SELECT * FROM leads")) == 3
