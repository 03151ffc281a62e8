"""Golden tests of the point-in-time rules: tiny hand-written tables, hand-computed features and labels.

Every boundary of DESIGN.md section 4 is tested on both sides, one lead per case, at
two cutoffs a week apart (``T`` = Monday 2025-03-03 00:00 UTC and ``T2`` = T + 7 days),
so a case that is excluded at ``T`` is usually seen included at ``T2``:

* events: exactly at the cutoff (not yet) / one microsecond before (counted); exactly
  at ``t - 7 days`` (inside the 7-day window) / one microsecond before that (outside 7
  days, inside 30);
* identities: resolved exactly at the cutoff (its anonymous events not yet counted) /
  one second before (counted, once; a later duplicate identity row changes nothing; an
  event that carries the lead_id and the same cookie is counted once, not stitched);
* ``ingested_at`` exactly at the cutoff (counted) / one microsecond after (not yet);
* labels: a won deal created exactly at ``t + horizon`` (0) / one microsecond before (1);
  a deal created exactly at ``t`` (in the label window); ``won_deal_closed``: closed
  exactly at ``t + horizon`` (0) / one microsecond before (1);
* population: a lead created exactly at the cutoff (not yet known) / one microsecond
  before; a deal closed exactly at the cutoff (still open at ``t``: lead excluded);
  customers excluded or kept (``exclude_customers``);
* censoring: an open deal created inside the label window drops the row (default
  label), but not under ``won_deal_closed`` (never closed in the window is a known 0);
* journey stages by the rules of ``StageSpec`` (defaults), one lead per rule;
* leads with no account: every ``account_*`` feature is 0 (not null), and two such
  leads are not one account.

Expected values are written out by hand; ``vector(...)`` fills in every numeric
feature not named with its empty value (0, or null for ``days_since_*``, means and
rates), so each check below covers the whole engagement vector of its row.
"""

from __future__ import annotations

import csv
import math
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from features.contract import DEFAULT_EVENT_TYPES
from features.definitions import FeatureSpec, StageSpec
from features.plan import unchecked_plan
from features.spine import SpineSpec, create_population
from features.training_set import build_scoring_frame, build_training_set
from pipelines.sources import open_tables

pytestmark = pytest.mark.xdist_group("builder_golden")  # the builds are cached per module

FEATURES = FeatureSpec()
STAGE = StageSpec()
MANIFEST = unchecked_plan(FEATURES, DEFAULT_EVENT_TYPES).features  # no lifecycle table here
US = timedelta(microseconds=1)
T = datetime(2025, 3, 3)           # a Monday, 00:00 UTC
T2 = T + timedelta(days=7)         # the next cutoff of the grid
H = timedelta(days=90)             # the default horizon
DATA_END = datetime(2025, 12, 31)  # mature for both cutoffs, with room for a settling margin
CREATED = datetime(2025, 1, 1)     # default created_at of a lead


def d(text: str) -> datetime:
    return datetime.fromisoformat(text)


# ----------------------------------------------------------------------------- the tables

# lead_id, account_id, created_at, title, industry, company_size, country, lead_source
LEADS = [
    ("edge", "A_edge", CREATED, "VP Marketing", "software", 250, "DE", "webinar"),
    ("stitch_at", "A_stitch_at", CREATED, None, None, None, None, None),
    ("stitch_before", "A_stitch_before", CREATED, None, None, None, None, None),
    ("ingest_at", "A_ingest_at", CREATED, None, None, None, None, None),
    ("ingest_after", "A_ingest_after", CREATED, None, None, None, None, None),
    ("deal_at_h", "A_deal_at_h", CREATED, "Chief Executive Officer", "retail", 5000, "US", "paid_search"),
    ("deal_before_h", "A_deal_before_h", CREATED, "Sr. Data Analyst", "finance", 4999, "FR", "organic"),
    ("deal_at_t", "A_deal_at_t", CREATED, None, None, None, None, None),
    ("created_at_t", "A_created_at_t", T, "Head of Growth", None, 10, None, None),
    ("created_before_t", "A_created_before_t", T - US, "student", None, 9, None, None),
    ("closed_at_t", "A_closed", CREATED, None, None, None, None, None),
    ("closed_colleague", "A_closed", CREATED, None, None, None, None, None),
    ("censored", "A_censored", CREATED, None, None, None, None, None),
    ("open_at_h", "A_open_at_h", CREATED, None, None, None, None, None),
    ("lost_in_window", "A_lost_in_window", CREATED, None, None, None, None, None),
    ("customer", "A_customer", CREATED, None, None, None, None, None),
    ("closes_at_h", "A_closes_at_h", CREATED, None, None, None, None, None),
    ("closes_before_h", "A_closes_before_h", CREATED, None, None, None, None, None),
    ("stage_ack", "A_stage_ack", CREATED, None, None, None, None, None),
    ("stage_engaged", "A_stage_engaged", CREATED, None, None, None, None, None),
    ("stage_dwell", "A_stage_dwell", CREATED, None, None, None, None, None),
    ("stage_download", "A_stage_download", CREATED, None, None, None, None, None),
    ("stage_intent", "A_stage_intent", CREATED, None, None, None, None, None),
    ("stage_demo", "A_stage_demo", CREATED, None, None, None, None, None),
    ("stage_opens", "A_stage_opens", CREATED, None, None, None, None, None),
    ("team1", "A_team", CREATED, None, None, None, None, None),
    ("team2", "A_team", CREATED, None, None, None, None, None),
    ("team3", "A_team", CREATED, None, None, None, None, None),
    ("no_account", None, CREATED, None, None, None, None, None),
    ("old_events", "A_old_events", d("2024-01-01T00:00:00"), None, None, None, None, None),
    ("no_account_2", None, CREATED, None, None, None, None, None),
]
LEAD_IDS = [row[0] for row in LEADS]

# occurred_at, lead_id, anonymous_id, event_type, content_type, content_id, duration_s, ingested_at
EVENTS = [
    # edge: at T exactly (not at T; at T2 it is exactly T2 - 7 days: inside 7d) and 1 us before T
    # (counted at T; at T2 it is 1 us before T2 - 7 days: outside 7d, inside 30d)
    (T, "edge", None, "page_view", "pricing", "p1", 10.0, None),
    (T - US, "edge", None, "page_view", "blog", "b1", 20.0, None),
    # identities resolved at T exactly / one second before; the same anonymous visit for each
    (d("2025-02-28T12:00:00"), None, "c-at", "page_view", "blog", "b2", 30.0, None),
    (d("2025-02-28T12:00:00"), None, "c-before", "page_view", "blog", "b3", 30.0, None),
    # a known lead's own event carrying its (identified) cookie: counted once, not stitched
    (d("2025-03-01T09:00:00"), "stitch_before", "c-before", "email_click", None, "m1", None, None),
    # ingested exactly at T (known at T) / one microsecond after (not yet known at T)
    (d("2025-03-01T10:00:00"), "ingest_at", None, "page_view", "product", "p2", 40.0, T),
    (d("2025-03-01T10:00:00"), "ingest_after", None, "page_view", "product", "p2", 40.0, T + US),
    # journey stages (30-day window before T: 2025-02-01 .. 2025-03-02)
    (d("2025-02-20T10:00:00"), "stage_engaged", None, "page_view", "blog", "b4", 5.0, None),
    (d("2025-02-21T10:00:00"), "stage_engaged", None, "page_view", "blog", "b4", 5.0, None),
    (d("2025-02-26T10:00:00"), "stage_dwell", None, "page_view", "blog", "b5", 300.0, None),
    (d("2025-02-26T10:00:00"), "stage_download", None, "content_download", "ebook", "e1", None, None),
    (d("2025-02-26T10:00:00"), "stage_intent", None, "page_view", "pricing", "p1", 1.0, None),
    (d("2025-02-27T10:00:00"), "stage_intent", None, "page_view", "pricing", "p1", 1.0, None),
    (d("2025-02-25T10:00:00"), "stage_demo", None, "form_submit", "demo_request", "f1", None, None),
    (d("2025-02-10T07:00:00"), "stage_opens", None, "email_open", None, None, None, None),
    (d("2025-02-11T07:00:00"), "stage_opens", None, "email_open", None, None, None, None),
    (d("2025-02-12T07:00:00"), "stage_opens", None, "email_open", None, None, None, None),
    (d("2025-02-13T07:00:00"), "stage_opens", None, "email_open", None, "news-1", None, None),
    (d("2025-02-14T07:00:00"), "stage_opens", None, "email_open", None, "news-1", None, None),
    (d("2025-02-20T11:00:00"), "team1", None, "page_view", "blog", "b6", 5.0, None),
    (d("2025-02-21T11:00:00"), "team1", None, "page_view", "blog", "b6", 5.0, None),
    (d("2025-02-20T12:00:00"), "team2", None, "page_view", "blog", "b6", 5.0, None),
    (d("2025-02-21T12:00:00"), "team2", None, "page_view", "blog", "b6", 5.0, None),
    (d("2025-02-20T13:00:00"), "team3", None, "page_view", "blog", "b6", 5.0, None),
    (d("2025-02-21T13:00:00"), "team3", None, "page_view", "blog", "b6", 5.0, None),
    # exactly T - 365 days (inside the longest window) / 1 us before (outside every window, 366 days ago)
    (T - timedelta(days=365), "old_events", None, "page_view", "blog", "b8", 60.0, None),
    (T - timedelta(days=365) - US, "old_events", None, "email_click", None, "m2", None, None),
    # leads without an account
    (d("2025-03-02T08:00:00"), "no_account", None, "page_view", "blog", "b7", 50.0, None),
    (d("2025-03-02T09:00:00"), "no_account_2", None, "page_view", "blog", "b7", 50.0, None),
]

# anonymous_id, lead_id, identified_at
IDENTITIES = [
    ("c-at", "stitch_at", T),
    ("c-before", "stitch_before", T - timedelta(seconds=1)),
    ("c-before", "stitch_before", T + timedelta(days=5)),  # a later duplicate: the earliest counts
]

# deal_id, lead_id, account_id, created_at, closed_at, status
DEALS = [
    ("D_at_h", "deal_at_h", "A_deal_at_h", T + H, d("2025-06-20T00:00:00"), "won"),
    ("D_before_h", "deal_before_h", "A_deal_before_h", T + H - US, d("2025-06-20T00:00:00"), "won"),
    ("D_at_t", "deal_at_t", "A_deal_at_t", T, d("2025-04-02T00:00:00"), "won"),
    ("D_closed_at_t", "closed_at_t", "A_closed", T - timedelta(days=30), T, "lost"),
    ("D_censored", "censored", "A_censored", d("2025-03-13T00:00:00"), None, "open"),
    ("D_open_at_h", "open_at_h", "A_open_at_h", T + H, None, "open"),
    ("D_lost", "lost_in_window", "A_lost_in_window", d("2025-03-23T00:00:00"), d("2025-04-12T00:00:00"), "lost"),
    ("D_customer", "customer", "A_customer", d("2025-01-02T00:00:00"), d("2025-02-21T00:00:00"), "won"),
    ("D_closes_at_h", "closes_at_h", "A_closes_at_h", d("2025-03-13T00:00:00"), T + H, "won"),
    ("D_closes_before_h", "closes_before_h", "A_closes_before_h", d("2025-03-13T00:00:00"), T + H - US, "won"),
]


def _text(value) -> str:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _write(path: Path, header: list[str], rows: list[tuple]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows([[_text(v) for v in row] for row in rows])


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    tmp_path = tmp_path_factory.mktemp("golden")
    _write(tmp_path / "leads.csv",
           ["lead_id", "account_id", "created_at", "title", "industry", "company_size", "country", "lead_source"], LEADS)
    _write(tmp_path / "events.csv", ["occurred_at", "lead_id", "anonymous_id", "event_type", "content_type",
                                     "content_id", "duration_s", "ingested_at"], EVENTS)
    _write(tmp_path / "identities.csv", ["anonymous_id", "lead_id", "identified_at"], IDENTITIES)
    _write(tmp_path / "deals.csv", ["deal_id", "lead_id", "account_id", "created_at", "closed_at", "status", "amount"],
           [(*row, 1000.0) for row in DEALS])
    return tmp_path


def _records(con, sql: str) -> list[dict]:
    result = con.sql(sql)
    return [dict(zip(result.columns, row)) for row in result.fetchall()]


_BUILT: dict[tuple, tuple[list[dict], object]] = {}


def build(export: Path, spine: SpineSpec = SpineSpec(), cutoffs=(T, T2), data_end: datetime = DATA_END):
    """The training set as a list of row dicts, and the counts report (built once per setting; do not modify)."""
    key = (str(export), spine.model_dump_json(), tuple(cutoffs), data_end)
    if key not in _BUILT:
        tables = open_tables(export, require_deals=True)
        # every feature of the manifest: the values are under test here, not which the plan keeps (test_plan.py)
        _, report = build_training_set(tables.con, spine, FEATURES, STAGE, data_start=d("2025-01-01T00:00:00"),
                                       data_end=data_end, event_types=DEFAULT_EVENT_TYPES, cutoffs=list(cutoffs),
                                       plan=unchecked_plan(FEATURES, DEFAULT_EVENT_TYPES))
        _BUILT[key] = _records(tables.con, "SELECT * FROM training_set"), report
    return _BUILT[key]


def labels(rows: list[dict]) -> dict[str, tuple]:
    """lead -> (label at T, label at T2), None where the lead has no row."""
    by_key = {(r["lead_id"], r["cutoff"]): r["label"] for r in rows}
    out = {lead: (by_key.get((lead, T)), by_key.get((lead, T2))) for lead in LEAD_IDS}
    return {lead: value for lead, value in out.items() if value != (None, None)}


def row(rows: list[dict], lead: str, t: datetime) -> list[dict]:
    found = [r for r in rows if r["lead_id"] == lead and r["cutoff"] == t]
    assert found, f"no row for {lead} at {t}"
    return found


# ----------------------------------------------------------------------------- expected values


def all_windows(prefix: str, value, windows=(7, 30, 90, 365)) -> dict:
    return {f"{prefix}_{w}d": value for w in windows}


def vector(**given) -> dict:
    """Every numeric feature except company_size and lead_age_days: ``given``, else its empty value."""
    out = {}
    for f in MANIFEST:
        if f.kind != "numeric" or f.name in ("company_size", "lead_age_days"):
            continue
        empty = f.name.startswith(("days_since_last_", "mean_time_on_page_s_", "email_click_rate_"))
        out[f.name] = None if empty else 0.0
    unknown = set(given) - set(out)
    assert not unknown, f"not numeric features of the manifest: {sorted(unknown)}"
    out.update(given)
    return out


def same(got, expected) -> bool:
    if got is None or expected is None:
        return got is None and expected is None
    if isinstance(expected, str) or isinstance(got, str):
        return got == expected
    return math.isclose(got, expected, rel_tol=1e-9)


def assert_row(rows: list[dict], lead: str, t: datetime, expected: dict) -> None:
    for found in row(rows, lead, t):  # every output row of (lead, t): a duplicate must be right too
        wrong = {name: (found[name], value) for name, value in expected.items() if not same(found[name], value)}
        assert not wrong, f"{lead} at {t:%Y-%m-%d}: feature: (builder, expected) {wrong}"


# ----------------------------------------------------------------------------- the spine


def test_one_row_per_lead_and_cutoff(export):
    rows, _ = build(export)
    keys = [(r["lead_id"], r["cutoff"]) for r in rows]
    assert len(keys) == len(set(keys)), sorted({k for k in keys if keys.count(k) > 1})


# lead -> (label at T, label at T2); None: no row (not yet created, excluded or censored)
DEFAULT_LABELS = {
    "edge": (0, 0), "stitch_at": (0, 0), "stitch_before": (0, 0), "ingest_at": (0, 0), "ingest_after": (0, 0),
    "deal_at_h": (0, 1),          # created exactly at T + 90d: outside [T, T + 90d); inside T2's window
    "deal_before_h": (1, 1),      # created 1 us before T + 90d
    "deal_at_t": (1, None),       # created exactly at T: in T's window; open at T2 -> excluded
    "created_at_t": (None, 0),    # created exactly at T: not known at T
    "created_before_t": (0, 0),   # created 1 us before T
    # "closed_at_t": closed exactly at T: still open at T -> excluded; lost 7 days before T2 -> recycling, excluded
    "closed_colleague": (0, 0),
    # "censored": open deal created in both windows -> dropped at both cutoffs
    "open_at_h": (0, None),       # open deal created exactly at T + 90d: outside T's window, inside T2's (censored)
    "lost_in_window": (0, 0),     # a lost deal in the window is a known negative
    # "customer": won deal closed before T -> excluded at both cutoffs
    "closes_at_h": (1, 1), "closes_before_h": (1, 1),
    "stage_ack": (0, 0), "stage_engaged": (0, 0), "stage_dwell": (0, 0), "stage_download": (0, 0),
    "stage_intent": (0, 0), "stage_demo": (0, 0), "stage_opens": (0, 0),
    "team1": (0, 0), "team2": (0, 0), "team3": (0, 0), "no_account": (0, 0), "no_account_2": (0, 0),
    "old_events": (0, 0),
}


def test_population_and_labels_won_deal_created(export):
    rows, _ = build(export)
    assert labels(rows) == DEFAULT_LABELS


def test_counts_report_won_deal_created(export):
    _, report = build(export)
    got = report.set_index("cutoff")[["rows", "positives", "censored", "excluded_in_deal", "excluded_customer",
                                      "excluded_recently_lost", "excluded_disqualified"]]
    assert got.loc[T].to_dict() == {"rows": 27, "positives": 4, "censored": 1, "excluded_in_deal": 1,
                                    "excluded_customer": 1, "excluded_recently_lost": 0, "excluded_disqualified": 0}
    assert got.loc[T2].to_dict() == {"rows": 26, "positives": 4, "censored": 2, "excluded_in_deal": 1,
                                     "excluded_customer": 1, "excluded_recently_lost": 1, "excluded_disqualified": 0}
    assert report.attrs["immature_cutoffs"] == []


def test_population_and_labels_won_deal_closed(export):
    rows, report = build(export, SpineSpec(label="won_deal_closed"))
    expected = {
        **DEFAULT_LABELS,
        "deal_at_h": (0, 0), "deal_before_h": (0, 0),  # created in the window, but closed 2025-06-20: after both
        "deal_at_t": (1, None),                        # closed 2025-04-02, inside T's window
        "censored": (0, 0), "open_at_h": (0, 0),       # never closed by the data's end: a known 0, not censored
        "closes_at_h": (0, 1),                         # closed exactly at T + 90d: outside T's window, inside T2's
        "closes_before_h": (1, 1),                     # closed 1 us before T + 90d
    }
    assert labels(rows) == expected
    assert report["censored"].tolist() == [0, 0]


def test_customers_kept_when_not_excluded(export):
    rows, report = build(export, SpineSpec(exclude_customers=False))
    assert labels(rows) == {**DEFAULT_LABELS, "customer": (0, 0)}
    assert report["excluded_customer"].tolist() == [0, 0]


def test_population_boundaries(export):
    tables = open_tables(export, require_deals=True)
    create_population(tables.con, [T, T2], SpineSpec(), has_deals=True, out="population")
    status = {(lead, t): excluded for lead, t, excluded in
              tables.con.sql("SELECT lead_id, cutoff, excluded FROM population").fetchall()}
    assert ("created_at_t", T) not in status and status[("created_at_t", T2)] is None
    assert status[("created_before_t", T)] is None
    assert status[("closed_at_t", T)] == "in_deal" and status[("closed_at_t", T2)] == "recently_lost"
    assert status[("deal_at_t", T)] is None and status[("deal_at_t", T2)] == "in_deal"
    assert status[("customer", T)] == "customer" and status[("customer", T2)] == "customer"
    assert status[("censored", T)] is None  # the open deal is created after T2: not open at either cutoff
    assert len(status) == 2 * len(LEADS) - 1


@pytest.mark.parametrize(("recycle_days", "expected"), [
    (0, None),               # no recycling: back in the population as soon as the deal is lost
    (7, None),               # lost exactly 7 days before T2: the recycle period is over
    (8, "recently_lost"),    # ... or still running
])
def test_a_lost_deal_recycles_its_lead_for_recycle_days(export, recycle_days, expected):
    tables = open_tables(export, require_deals=True)
    create_population(tables.con, [T2], SpineSpec(recycle_days=recycle_days), has_deals=True, out="population")
    status = dict(tables.con.sql("SELECT lead_id, excluded FROM population").fetchall())
    assert status["closed_at_t"] == expected
    assert status["closed_colleague"] is None  # a colleague at the account is not recycled


def test_a_cutoff_whose_window_has_not_ended_is_not_used(export):
    settle = timedelta(days=getattr(SpineSpec(), "settle_days", 0))
    rows, report = build(export, data_end=T2 + H + settle - US)  # T2's window ends 1 us after the data
    assert {r["cutoff"] for r in rows} == {T}
    assert report.attrs["immature_cutoffs"] == [T2.isoformat()]
    rows, report = build(export, data_end=T2 + H + settle)       # ... or exactly at its end: usable
    assert {r["cutoff"] for r in rows} == {T, T2}


# ----------------------------------------------------------------------------- features: time boundaries


def test_event_at_the_cutoff_and_at_the_window_start(export):
    rows, _ = build(export)
    # At T only the event 1 us before T counts (the one at T is not known yet).
    assert_row(rows, "edge", T, vector(
        **all_windows("events_count", 1), **all_windows("page_view_count", 1), **all_windows("blog_count", 1),
        **all_windows("active_days", 1), **all_windows("distinct_content", 1), **all_windows("time_on_page_s", 20),
        **all_windows("mean_time_on_page_s", 20),
        engagement_trend_7d_vs_90d=(1 / 7) / ((1 + 1) / 90),
        days_since_last_events=1, days_since_last_page_view=1, days_since_last_blog=1,
        account_engaged_leads_30d=1, account_engaged_leads_90d=1, account_events_30d=1, account_events_90d=1,
        account_known_leads=1,
    ))
    # At T2 = T + 7d: the event at T is exactly T2 - 7d (inside 7d); the one 1 us before is outside 7d, inside 30d.
    assert_row(rows, "edge", T2, vector(
        events_count_7d=1, **all_windows("events_count", 2, (30, 90, 365)),
        page_view_count_7d=1, **all_windows("page_view_count", 2, (30, 90, 365)),
        **all_windows("pricing_count", 1), **all_windows("high_intent_count", 1),
        **all_windows("blog_count", 1, (30, 90, 365)),
        active_days_7d=1, **all_windows("active_days", 2, (30, 90, 365)),
        **all_windows("high_intent_days", 1),
        distinct_content_7d=1, **all_windows("distinct_content", 2, (30, 90, 365)),
        time_on_page_s_7d=10, **all_windows("time_on_page_s", 30, (30, 90, 365)),
        mean_time_on_page_s_7d=10, **all_windows("mean_time_on_page_s", 15, (30, 90, 365)),
        engagement_trend_7d_vs_90d=(1 / 7) / ((2 + 1) / 90),
        days_since_last_events=7, days_since_last_page_view=7, days_since_last_pricing=7,
        days_since_last_high_intent=7, days_since_last_blog=8,
        account_engaged_leads_30d=1, account_engaged_leads_90d=1, account_events_30d=2, account_events_90d=2,
        account_high_intent_30d=1, account_high_intent_90d=1, account_known_leads=1,
    ))


def test_identity_resolved_exactly_at_the_cutoff_is_not_known_yet(export):
    rows, _ = build(export)
    assert_row(rows, "stitch_at", T, vector(account_known_leads=1))
    # known at T2; the visit (2025-02-28) is before T2 - 7d
    assert_row(rows, "stitch_at", T2, vector(
        **all_windows("events_count", 1, (30, 90, 365)), **all_windows("page_view_count", 1, (30, 90, 365)),
        **all_windows("blog_count", 1, (30, 90, 365)), **all_windows("active_days", 1, (30, 90, 365)),
        **all_windows("distinct_content", 1, (30, 90, 365)), **all_windows("time_on_page_s", 30, (30, 90, 365)),
        **all_windows("mean_time_on_page_s", 30, (30, 90, 365)), **all_windows("stitched_events", 1, (30, 90, 365)),
        days_since_last_events=10, days_since_last_page_view=10, days_since_last_blog=10,
        account_engaged_leads_30d=1, account_engaged_leads_90d=1, account_events_30d=1, account_events_90d=1,
        account_known_leads=1,
    ))


def test_identity_resolved_a_second_before_the_cutoff_counts_once(export):
    rows, _ = build(export)
    # the anonymous page view (stitched) and the lead's own email click that carries the same cookie (not stitched)
    at_t = vector(
        **all_windows("events_count", 2), **all_windows("page_view_count", 1), **all_windows("blog_count", 1),
        **all_windows("email_click_count", 1), **all_windows("active_days", 2), **all_windows("distinct_content", 2),
        **all_windows("time_on_page_s", 30), **all_windows("mean_time_on_page_s", 30),
        **all_windows("stitched_events", 1),
        engagement_trend_7d_vs_90d=(2 / 7) / ((2 + 1) / 90),
        days_since_last_events=2, days_since_last_email_click=2, days_since_last_page_view=3, days_since_last_blog=3,
        account_engaged_leads_30d=1, account_engaged_leads_90d=1, account_events_30d=2, account_events_90d=2,
        account_known_leads=1,
    )
    assert_row(rows, "stitch_before", T, at_t)
    at_t2 = {**at_t, "events_count_7d": 0.0, "page_view_count_7d": 0.0, "blog_count_7d": 0.0,
             "email_click_count_7d": 0.0, "active_days_7d": 0.0, "distinct_content_7d": 0.0, "time_on_page_s_7d": 0.0,
             "mean_time_on_page_s_7d": None, "stitched_events_7d": 0.0, "engagement_trend_7d_vs_90d": 0.0,
             "days_since_last_events": 9, "days_since_last_email_click": 9, "days_since_last_page_view": 10,
             "days_since_last_blog": 10}
    assert_row(rows, "stitch_before", T2, at_t2)


def test_ingested_exactly_at_the_cutoff_counts_and_a_microsecond_later_does_not(export):
    rows, _ = build(export)
    one_view = dict(
        **all_windows("page_view_count", 1, (30, 90, 365)), **all_windows("events_count", 1, (30, 90, 365)),
        **all_windows("product_count", 1, (30, 90, 365)), **all_windows("active_days", 1, (30, 90, 365)),
        **all_windows("distinct_content", 1, (30, 90, 365)), **all_windows("time_on_page_s", 40, (30, 90, 365)),
        **all_windows("mean_time_on_page_s", 40, (30, 90, 365)),
        account_engaged_leads_30d=1, account_engaged_leads_90d=1, account_events_30d=1, account_events_90d=1,
        account_known_leads=1,
    )
    last_week = dict(page_view_count_7d=1, events_count_7d=1, product_count_7d=1, active_days_7d=1,
                     distinct_content_7d=1, time_on_page_s_7d=40, mean_time_on_page_s_7d=40,
                     engagement_trend_7d_vs_90d=(1 / 7) / ((1 + 1) / 90))
    since = dict.fromkeys(("days_since_last_events", "days_since_last_page_view", "days_since_last_product"), 2)
    assert_row(rows, "ingest_at", T, vector(**one_view, **last_week, **since))
    assert_row(rows, "ingest_after", T, vector(account_known_leads=1))
    since_t2 = dict.fromkeys(since, 9)
    assert_row(rows, "ingest_after", T2, vector(**one_view, **since_t2))
    assert_row(rows, "ingest_at", T2, vector(**one_view, **since_t2))


def test_the_longest_window_and_recency_end_at_365_days(export):
    rows, _ = build(export)
    assert_row(rows, "old_events", T, vector(
        events_count_365d=1, page_view_count_365d=1, blog_count_365d=1, active_days_365d=1, distinct_content_365d=1,
        time_on_page_s_365d=60, mean_time_on_page_s_365d=60,
        days_since_last_events=365, days_since_last_page_view=365, days_since_last_blog=365,
        # the click 366 days ago is in no window and too old for recency
        account_known_leads=1,
    ))
    assert_row(rows, "old_events", T2, vector(account_known_leads=1))  # 372 days: nothing left


def test_email_opens_are_not_engagement(export):
    rows, _ = build(export)
    assert_row(rows, "stage_opens", T, vector(
        **all_windows("email_open_count", 5, (30, 90, 365)),
        **all_windows("distinct_content", 1, (30, 90, 365)),  # content of any event type, nulls not counted
        email_click_rate_90d=0, email_click_rate_365d=0,
        days_since_last_email_open=17, account_known_leads=1,
    ))


# ----------------------------------------------------------------------------- features: fit, account, stage


def test_fit_features(export):
    rows, _ = build(export)
    fit = ("industry", "company_size", "company_size_band", "country", "lead_source", "title_seniority",
           "title_function", "lead_age_days")
    expected = {
        ("edge", T): ("software", 250, "200-999", "DE", "webinar", "vp", "marketing", 61),
        ("edge", T2): ("software", 250, "200-999", "DE", "webinar", "vp", "marketing", 68),
        ("deal_at_h", T): ("retail", 5000, "5000+", "US", "paid_search", "c_level", "executive", 61),
        ("deal_before_h", T): ("finance", 4999, "1000-4999", "FR", "organic", "senior_ic", "data", 61),
        ("created_at_t", T2): (None, 10, "10-49", None, None, "director", "marketing", 7),
        ("created_before_t", T): (None, 9, "0-9", None, None, "student", "unknown", 1 / 86_400_000_000),
        ("closed_colleague", T): (None, None, None, None, None, "unknown", "unknown", 61),
    }
    for (lead, t), values in expected.items():
        assert_row(rows, lead, t, dict(zip(fit, values)))


def test_account_features_count_the_whole_account_and_its_deals(export):
    rows, _ = build(export)
    # closed_at_t's lost deal is open at T (closes exactly at T) and lost before T2
    assert_row(rows, "closed_colleague", T, vector(account_known_leads=2, account_open_deals=1))
    assert_row(rows, "closed_colleague", T2, vector(account_known_leads=2, account_lost_deals=1))
    # closed_at_t itself is recycling at T2 (lost 7 days before); without a recycle period it has a row there
    recycled, _ = build(export, SpineSpec(recycle_days=0))
    assert not [r for r in rows if r["lead_id"] == "closed_at_t" and r["cutoff"] == T2]
    assert_row(recycled, "closed_at_t", T2, vector(account_known_leads=2, account_lost_deals=1))
    # three colleagues, each active on 2025-02-20 and 2025-02-21
    for lead in ("team1", "team2", "team3"):
        assert_row(rows, lead, T, {"account_engaged_leads_30d": 3, "account_events_30d": 6, "account_known_leads": 3,
                                   "active_days_30d": 2, "events_count_30d": 2})


def test_leads_without_an_account_get_zero_account_features(export):
    rows, _ = build(export)
    for lead in ("no_account", "no_account_2"):
        assert_row(rows, lead, T, vector(
            **all_windows("events_count", 1), **all_windows("page_view_count", 1), **all_windows("blog_count", 1),
            **all_windows("active_days", 1), **all_windows("distinct_content", 1),
            **all_windows("time_on_page_s", 50), **all_windows("mean_time_on_page_s", 50),
            engagement_trend_7d_vs_90d=(1 / 7) / ((1 + 1) / 90),
            days_since_last_events=1, days_since_last_page_view=1, days_since_last_blog=1,
            # no account: 0, not null, and not one account with the other account-less lead
            account_engaged_leads_30d=0, account_engaged_leads_90d=0, account_events_30d=0, account_events_90d=0,
            account_known_leads=0,
        ))
        assert row(rows, lead, T)[0]["account_id"] is None


def test_journey_stages(export):
    rows, _ = build(export)
    expected = {
        "stage_ack": "acknowledged",        # nothing at all
        "stage_opens": "acknowledged",      # five email opens are not engagement
        "edge": "acknowledged",             # one active day, 20 s
        "stage_engaged": "engaged",         # 2 active days
        "stage_dwell": "engaged",           # 300 s on pages
        "stage_download": "engaged",        # a content download
        "stage_intent": "leaning_in",       # high-intent pages on 2 days
        "stage_demo": "leaning_in",         # a demo request
        "team1": "leaning_in",              # engaged, and 3 engaged people at the account
    }
    got = {lead: {r["journey_stage"] for r in row(rows, lead, T)} for lead in expected}
    assert got == {lead: {stage} for lead, stage in expected.items()}
    assert {r["journey_stage"] for r in row(rows, "edge", T2)} == {"engaged"}  # 2 active days by T2


def test_scoring_frame_equals_the_training_rows_of_its_cutoff(export):
    """Scoring (a one-cutoff grid) and training (a two-cutoff grid) give every T row the same features."""
    rows, _ = build(export, SpineSpec(exclude_customers=True))
    tables = open_tables(export, require_deals=True)
    build_scoring_frame(tables.con, T, SpineSpec(), FEATURES, STAGE, DEFAULT_EVENT_TYPES, out="scoring_set")
    scored = _records(tables.con, "SELECT * FROM scoring_set")
    assert len(scored) == len({r["lead_id"] for r in scored})
    names = ["journey_stage"] + [f.name for f in MANIFEST]
    training_at_t = {r["lead_id"]: r for r in rows if r["cutoff"] == T}
    assert {r["lead_id"] for r in scored} == set(training_at_t) | {"censored"}  # censoring is for training only
    for r in scored:
        if r["lead_id"] in training_at_t:
            expected = training_at_t[r["lead_id"]]
            wrong = {n: (r[n], expected[n]) for n in names if not same(r[n], expected[n])}
            assert not wrong, (r["lead_id"], wrong)


def test_a_cutoff_without_rows_inside_the_grid(tmp_path):
    """The spine decides which rows exist; a grid cutoff left with no row must not break the builder.

    One lead, one deal open from T + 1d to T + 8d: the lead is in a deal at T + 7d only, so
    the spine of the weekly grid T .. T + 21d has no row at T + 7d.
    """
    _write(tmp_path / "leads.csv",
           ["lead_id", "account_id", "created_at", "title", "industry", "company_size", "country", "lead_source"],
           [("L1", "A1", CREATED, None, None, None, None, None)])
    _write(tmp_path / "events.csv", ["occurred_at", "lead_id", "anonymous_id", "event_type", "content_type",
                                     "content_id", "duration_s"], [(T - timedelta(days=1), "L1", None, "page_view",
                                                                    None, None, None)])
    _write(tmp_path / "deals.csv", ["deal_id", "lead_id", "account_id", "created_at", "closed_at", "status", "amount"],
           [("D1", "L1", "A1", T + timedelta(days=1), T + timedelta(days=8), "lost", None)])
    cutoffs = [T + timedelta(days=7 * i) for i in range(4)]
    rows, _ = build(tmp_path, SpineSpec(recycle_days=0), cutoffs=cutoffs)  # the lead is back as soon as it is lost
    assert {r["cutoff"]: r["days_since_last_page_view"] for r in rows} == {
        cutoffs[0]: 1, cutoffs[2]: 15, cutoffs[3]: 22}
