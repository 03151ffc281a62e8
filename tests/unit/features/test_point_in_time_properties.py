"""Point-in-time properties of the spine, labels and feature builder, on small random worlds.

Each example is a tiny export (a handful of leads at a few accounts, events,
identities, deals) written as Parquet and read back through ``open_tables``, so
the properties hold for the pipeline exactly as a user runs it. Timestamps are
drawn both at random and from the boundaries that matter (each cutoff and one
microsecond either side, window starts, label-window ends), so both sides of
every ``<`` / ``<=`` get exercised.

The properties (DESIGN section 4):

1. nothing that happens at or after ``t`` (events, late ingestion) changes the features of ``t``,
   including a late re-send that corrects an event's time;
2. nor does an identity made at or after ``t``;
3. nor does a deal created at or after ``t``;
4. the row order of the inputs never matters;
5. a lead created at or after ``t`` is never in ``t``'s population (checked against an oracle), and a
   grid with no known lead gives an empty training set;
6. a cutoff's rows are the same whether built in a grid of cutoffs or alone;
7. the label of ``t`` depends only on won deals created in ``[t, t + horizon)``;
8. the rows do not depend on how many threads DuckDB runs.
"""

from __future__ import annotations

import copy
import random
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, Phase, assume, example, given, settings
from hypothesis import strategies as st

from features.contract import DEFAULT_EVENT_TYPES
from features.definitions import FeatureSpec, StageSpec
from features.plan import unchecked_plan
from features.spine import (
    EXCLUSIONS,
    SpineSpec,
    create_labelled_spine,
    label_sql,
    population_sql,
)
from features.training_set import build_scoring_frame, build_training_set
from pipelines.sources import connect, open_tables

PROPERTY_SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# The regression guards beyond the seven properties each start from an explicit minimal example.
GUARD_SETTINGS = settings(PROPERTY_SETTINGS, max_examples=6)

ONE_US = timedelta(microseconds=1)
US_PER_DAY = 86_400_000_000
BASE = datetime(2024, 1, 1)  # a Monday; the world's events fall in [BASE, BASE + SPAN_DAYS)
SPAN_DAYS = 200
CUTOFFS = [BASE + timedelta(days=d) for d in (56, 84, 112)]  # Mondays 00:00, 28 days apart
HORIZON_DAYS = 90
HORIZON = timedelta(days=HORIZON_DAYS)

SPINE = SpineSpec(horizon_days=HORIZON_DAYS, slide_days=28)
DATA_END = CUTOFFS[-1] + timedelta(days=SPINE.horizon_days + SPINE.settle_days + 1)  # every cutoff is mature
FEATURES = FeatureSpec()
STAGE = StageSpec()
EVENT_TYPES = DEFAULT_EVENT_TYPES

ANONYMOUS_IDS = ("anon-1", "anon-2", "anon-3", "anon-4")
CONTENT_IDS = ("c1", "c2", "c3", "c4", "c5")
TITLES = (None, "VP Marketing", "Data Engineer", "CEO", "student", "Director of Sales Ops")

# Instants where an off-by-one would show: each cutoff and a microsecond either side, the first
# instant of each lookback window (and the one before it), and the end of each label window.
BOUNDARIES = sorted(
    {t + d for t in CUTOFFS for d in (-ONE_US, timedelta(0), ONE_US)}
    | {t - timedelta(days=w) + d for t in CUTOFFS for w in FEATURES.windows_days for d in (-ONE_US, timedelta(0))
       if t - timedelta(days=w) >= BASE - timedelta(days=30)}
    | {t + HORIZON + d for t in CUTOFFS for d in (-ONE_US, timedelta(0))}
)

SCHEMAS = {
    "leads": pa.schema([("lead_id", pa.string()), ("created_at", pa.timestamp("us")), ("account_id", pa.string()),
                        ("title", pa.string()), ("industry", pa.string()), ("company_size", pa.int64()),
                        ("country", pa.string()), ("lead_source", pa.string()),
                        ("disqualified_at", pa.timestamp("us"))]),
    "events": pa.schema([("event_id", pa.string()), ("occurred_at", pa.timestamp("us")), ("lead_id", pa.string()),
                         ("anonymous_id", pa.string()), ("event_type", pa.string()), ("content_type", pa.string()),
                         ("content_id", pa.string()), ("duration_s", pa.float64()),
                         ("ingested_at", pa.timestamp("us"))]),
    "identities": pa.schema([("anonymous_id", pa.string()), ("lead_id", pa.string()),
                             ("identified_at", pa.timestamp("us"))]),
    "deals": pa.schema([("deal_id", pa.string()), ("lead_id", pa.string()), ("account_id", pa.string()),
                        ("created_at", pa.timestamp("us")), ("closed_at", pa.timestamp("us")),
                        ("status", pa.string()), ("amount", pa.float64())]),
    "lifecycle": pa.schema([("lead_id", pa.string()), ("status", pa.string()), ("changed_at", pa.timestamp("us"))]),
    "feedback": pa.schema([("lead_id", pa.string()), ("at", pa.timestamp("us")), ("disposition", pa.string())]),
}
LIFECYCLE = {"mql": "open", "junk": "disqualified"}

World = dict[str, list[dict]]


# --- strategies ---------------------------------------------------------------------------------

def _offset(lo_us: int, hi_us: int):
    return st.integers(lo_us, hi_us).map(lambda us: timedelta(microseconds=us))


def instants(lo_day: int = 0, hi_day: int = SPAN_DAYS):
    """A boundary instant, a midnight or any microsecond of a day in [lo_day, hi_day)."""
    day = st.integers(lo_day, hi_day - 1)
    time_of_day = st.one_of(st.just(0), st.integers(0, US_PER_DAY - 1))
    drawn = st.builds(lambda d, us: BASE + timedelta(days=d, microseconds=us), day, time_of_day)
    low, high = BASE + timedelta(days=lo_day), BASE + timedelta(days=hi_day)
    return st.one_of(st.sampled_from([b for b in BOUNDARIES if low <= b < high]), drawn)


def at_or_after(t: datetime):
    return st.one_of(st.just(t), st.just(t + ONE_US), st.sampled_from([b for b in BOUNDARIES if b >= t]),
                     _offset(0, 150 * US_PER_DAY).map(lambda d: t + d))


def before(t: datetime):
    return st.one_of(st.just(t - ONE_US), st.sampled_from([b for b in BOUNDARIES if b < t]),
                     _offset(1, 120 * US_PER_DAY).map(lambda d: t - d))


@st.composite
def events(draw, lead_ids: list[str], occurred=None, event_id: str | None = None) -> dict:
    occurred_at = draw(occurred if occurred is not None else instants())
    who = draw(st.sampled_from(("lead", "lead", "lead and cookie", "cookie")))
    ingestion = draw(st.sampled_from(("none", "none", "same", "later", "boundary")))
    ingested_at = {
        "none": None,
        "same": occurred_at,
        "later": occurred_at + draw(_offset(1, 20 * US_PER_DAY)),
        "boundary": draw(st.sampled_from(BOUNDARIES)),  # may even precede occurred_at: then occurred_at rules
    }[ingestion]
    return {
        "event_id": event_id or f"E-{uuid.uuid4().hex[:12]}",
        "occurred_at": occurred_at,
        "lead_id": draw(st.sampled_from(lead_ids)) if who != "cookie" else None,
        "anonymous_id": draw(st.sampled_from(ANONYMOUS_IDS)) if who != "lead" else None,
        "event_type": draw(st.sampled_from(EVENT_TYPES)),
        "content_type": draw(st.one_of(st.none(), st.sampled_from(FEATURES.content_types))),
        "content_id": draw(st.one_of(st.none(), st.sampled_from(CONTENT_IDS))),
        "duration_s": draw(st.one_of(st.none(), st.floats(0, 3600, allow_nan=False, allow_infinity=False))),
        "ingested_at": ingested_at,
    }


@st.composite
def identities(draw, lead_ids: list[str], identified=None) -> dict:
    return {"anonymous_id": draw(st.sampled_from(ANONYMOUS_IDS)), "lead_id": draw(st.sampled_from(lead_ids)),
            "identified_at": draw(identified if identified is not None else instants())}


@st.composite
def deals(draw, leads: list[dict], created=None, deal_id: str | None = None, lead_id: str | None = None,
          status: str | None = None) -> dict:
    lead = next(l for l in leads if l["lead_id"] == lead_id) if lead_id else draw(st.sampled_from(leads))
    created_at = draw(created if created is not None else instants())
    status = status or draw(st.sampled_from(("open", "won", "lost")))
    closed_at = None if status == "open" else created_at + draw(
        st.one_of(st.just(timedelta(0)), st.just(ONE_US), _offset(1, 120 * US_PER_DAY)))
    return {
        "deal_id": deal_id or f"D-{uuid.uuid4().hex[:12]}",
        "lead_id": lead["lead_id"],
        "account_id": draw(st.sampled_from((lead["account_id"], lead["account_id"], None))),
        "created_at": created_at,
        "closed_at": closed_at,
        "status": status,
        "amount": draw(st.one_of(st.none(), st.floats(0, 1e6, allow_nan=False, allow_infinity=False))),
    }


@st.composite
def worlds(draw) -> World:
    accounts = [f"A{i}" for i in range(draw(st.integers(2, 4)))]
    leads = [{
        "lead_id": f"L{i:02d}",
        # The first lead is known before the first cutoff, so every cutoff has rows to compare; a grid
        # with no known lead at all has its own test.
        "created_at": draw(instants(lo_day=-30, hi_day=(CUTOFFS[0] - BASE).days if i == 0 else SPAN_DAYS)),
        "account_id": draw(st.sampled_from(accounts + accounts + [None])),
        "title": draw(st.sampled_from(TITLES)),
        "industry": draw(st.sampled_from((None, "software", "retail"))),
        "company_size": draw(st.one_of(st.none(), st.integers(0, 20_000))),
        "country": draw(st.sampled_from((None, "DE", "US"))),
        "lead_source": draw(st.sampled_from((None, "webinar", "organic", "paid"))),
    } for i in range(draw(st.integers(5, 15)))]
    lead_ids = [l["lead_id"] for l in leads]
    # The contract requires a non-empty events table (open_tables refuses an empty one), hence at least one.
    event_rows = [draw(events(lead_ids, event_id=f"E{i:03d}")) for i in range(draw(st.integers(1, 80)))]
    # Re-sent webhooks: the same event (id, time, content) arriving again, no earlier than the first copy.
    for source in draw(st.lists(st.sampled_from(event_rows), max_size=3)):
        resent = dict(source)
        resent["ingested_at"] = (source["ingested_at"] or source["occurred_at"]) + draw(
            st.one_of(st.just(timedelta(0)), _offset(1, 10 * US_PER_DAY)))
        event_rows.append(resent)
    return {
        "leads": leads,
        "events": event_rows,
        "identities": [draw(identities(lead_ids)) for _ in range(draw(st.integers(0, 4)))],
        "deals": [draw(deals(leads, deal_id=f"D{i:02d}")) for i in range(draw(st.integers(0, 5)))],
    }


# --- running the pipeline on a world ------------------------------------------------------------
#
# A build costs far more in fixed query overhead than in data, so where a property compares worlds
# (before/after a mutation), they are written side by side into one export under disjoint id
# prefixes ("w0:", "w1:", ...) and built once. The builder relates rows only through lead, account,
# cookie, event and deal ids, all of which are prefixed, so each world's rows are exactly what a
# build of that world alone gives.
#
# Properties 1-7 build on a single-threaded connection so every build is repeatable and a failure
# replays; property 8 checks that more threads give the same rows.

ID_COLUMNS = ("lead_id", "account_id", "anonymous_id", "event_id", "deal_id")


def side_by_side(*worlds: World) -> World:
    combined: World = {name: [] for name in SCHEMAS}
    for n, world in enumerate(worlds):
        for name, rows in world.items():
            for row in rows:
                combined[name].append({k: f"w{n}:{v}" if k in ID_COLUMNS and v is not None else v
                                       for k, v in row.items()})
    return combined


def rows_of(frame: pd.DataFrame, n: int) -> pd.DataFrame:
    """The rows of world ``n`` of a side-by-side build, with its ids unprefixed."""
    prefix = f"w{n}:"
    part = frame[frame["lead_id"].str.startswith(prefix)].copy()
    for column in ("lead_id", "account_id"):
        part[column] = part[column].str.removeprefix(prefix)
    return part.reset_index(drop=True)


def _write(world: World, root: Path) -> Path:
    directory = root / uuid.uuid4().hex
    directory.mkdir(parents=True)
    for name, rows in world.items():
        if name in ("lifecycle", "feedback") and not rows:
            continue  # the optional tables are absent unless a test writes them
        pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMAS[name]), directory / f"{name}.parquet")
    return directory


def _rows(con, table: str) -> pd.DataFrame:
    frame = con.execute(f"SELECT * FROM {table} ORDER BY cutoff, lead_id").df()
    duplicated = frame[frame.duplicated(["lead_id", "cutoff"], keep=False)]
    assert duplicated.empty, f"{table} has {len(duplicated)} rows sharing a (lead_id, cutoff):\n{duplicated}"
    return frame.reset_index(drop=True)


def _open(world: World, root: Path, threads: int):
    return open_tables(_write(world, root), con=connect(threads=threads))


def scoring_frame(world: World, root: Path, as_of: datetime, spine: SpineSpec = SPINE, threads: int = 1) -> pd.DataFrame:
    tables = _open(world, root, threads)
    try:
        build_scoring_frame(tables.con, as_of, spine, FEATURES, STAGE, EVENT_TYPES,
                            has_identities=tables.has("identities"), has_deals=tables.has("deals"), lifecycle=LIFECYCLE)
        return _rows(tables.con, "scoring_set")
    finally:
        tables.con.close()


def training_set(world: World, root: Path, cutoffs: list[datetime] = CUTOFFS, spine: SpineSpec = SPINE,
                 threads: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    tables = _open(world, root, threads)
    try:
        # every feature of the manifest, as scoring builds without a model: the time rules of each are under test
        _, report = build_training_set(tables.con, spine, FEATURES, STAGE, BASE, DATA_END, EVENT_TYPES,
                                       has_identities=tables.has("identities"), cutoffs=list(cutoffs),
                                       plan=unchecked_plan(FEATURES, EVENT_TYPES))
        return _rows(tables.con, "training_set"), report
    finally:
        tables.con.close()


def assert_same_rows(left: pd.DataFrame, right: pd.DataFrame) -> None:
    """Exact for keys, labels, strings and integers; floats to a relative 1e-12 (sums may be reordered)."""
    assert list(left.columns) == list(right.columns)
    assert len(left) == len(right), f"{len(left)} rows against {len(right)}"
    if left.empty:  # DuckDB hands empty results back with object columns: nothing more to compare
        return
    floats = [c for c in left.columns if pd.api.types.is_float_dtype(left[c])]
    others = [c for c in left.columns if c not in floats]
    left, right = left.reset_index(drop=True), right.reset_index(drop=True)
    pd.testing.assert_frame_equal(_text_as_objects(left[others]), _text_as_objects(right[others]), check_exact=True)
    pd.testing.assert_frame_equal(left[floats], right[floats], check_exact=False, rtol=1e-12, atol=0)


def _text_as_objects(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as plain objects with None for missing: an all-null column comes back from DuckDB as
    object, the same column with a value as a string dtype, and that difference is not a difference in data."""
    frame = frame.copy()
    for column in frame.columns:
        if pd.api.types.is_string_dtype(frame[column]) or frame[column].dtype == object:
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame


def assert_same_features_at(t: datetime, before: World, after: World, root: Path) -> None:
    both = scoring_frame(side_by_side(before, after), root, t)
    assert_same_rows(rows_of(both, 0), rows_of(both, 1))


# --- 1-3. nothing at or after t changes t's features --------------------------------------------

@PROPERTY_SETTINGS
@given(world=worlds(), t=st.sampled_from(CUTOFFS), data=st.data())
def test_events_at_or_after_the_cutoff_and_late_arrivals_do_not_change_its_features(tmp_path, world, t, data):
    lead_ids = [l["lead_id"] for l in world["leads"]]
    changed = copy.deepcopy(world)
    for kind in data.draw(st.lists(st.sampled_from(("add", "remove", "change", "late", "late resend")),
                                   min_size=1, max_size=4), label="mutations"):
        rows = changed["events"]
        after = [i for i, e in enumerate(rows) if e["occurred_at"] >= t]
        happened_before = [i for i, e in enumerate(rows) if e["occurred_at"] < t]
        if kind == "add":
            rows.append(data.draw(events(lead_ids, occurred=at_or_after(t)), label="added"))
        elif kind == "remove" and after and len(rows) > 1:
            rows.pop(data.draw(st.sampled_from(after), label="removed"))
        elif kind == "change" and after:
            i = data.draw(st.sampled_from(after), label="changed")
            rows[i] = data.draw(events(lead_ids, occurred=at_or_after(t), event_id=rows[i]["event_id"]), label="into")
        elif kind == "late":  # happened before t, but only reached the export after t
            event = data.draw(events(lead_ids, occurred=before(t)), label="late")
            event["ingested_at"] = t + data.draw(st.one_of(st.just(ONE_US), _offset(1, 60 * US_PER_DAY)))
            rows.append(event)
        elif kind == "late resend" and happened_before:  # a copy of an earlier event, re-sent after t
            event = dict(rows[data.draw(st.sampled_from(happened_before), label="resent")])
            event["ingested_at"] = t + data.draw(st.one_of(st.just(ONE_US), _offset(1, 60 * US_PER_DAY)))
            rows.append(event)
    assert_same_features_at(t, world, changed, tmp_path)


ONE_LEAD_ONE_VIEW: World = {
    "leads": [{"lead_id": "L1", "created_at": BASE, "account_id": "A1", "title": None, "industry": None,
               "company_size": None, "country": None, "lead_source": None}],
    "events": [{"event_id": "E1", "occurred_at": BASE + timedelta(days=31), "lead_id": "L1", "anonymous_id": None,
                "event_type": "page_view", "content_type": None, "content_id": None, "duration_s": None,
                "ingested_at": None}],
    "identities": [],
    "deals": [],
}


@GUARD_SETTINGS
@example(world=ONE_LEAD_ONE_VIEW, t=CUTOFFS[0], pick=0, earlier_by=timedelta(days=1), arrives_after=timedelta(days=1))
@given(world=worlds(), t=st.sampled_from(CUTOFFS), pick=st.integers(0, 1000),
       earlier_by=_offset(1, 30 * US_PER_DAY), arrives_after=st.one_of(st.just(ONE_US), _offset(1, 60 * US_PER_DAY)))
def test_a_late_row_reusing_the_id_of_a_known_event_does_not_change_earlier_features(
        tmp_path, world, t, pick, earlier_by, arrives_after):
    # A re-send that corrects occurred_at to an earlier time, but reaches the export only after t. At t
    # the export held the original row, so t's features must still count it. (Loading keeps, per event_id,
    # the row with the earliest occurred_at over the whole export, whenever that row arrived.)
    world = copy.deepcopy(world)
    world["events"].append(dict(world["events"][0], event_id="E-known", lead_id=world["leads"][0]["lead_id"],
                                occurred_at=t - timedelta(days=3), ingested_at=None))
    known = [e for e in world["events"] if e["occurred_at"] < t and (e["ingested_at"] or e["occurred_at"]) <= t]
    original = known[pick % len(known)]
    changed = copy.deepcopy(world)
    changed["events"].append(dict(original, occurred_at=original["occurred_at"] - earlier_by,
                                  ingested_at=t + arrives_after))
    assert_same_features_at(t, world, changed, tmp_path)


@PROPERTY_SETTINGS
@given(world=worlds(), t=st.sampled_from(CUTOFFS), data=st.data())
def test_identities_made_at_or_after_the_cutoff_do_not_change_its_features(tmp_path, world, t, data):
    lead_ids = [l["lead_id"] for l in world["leads"]]
    changed = copy.deepcopy(world)
    for kind in data.draw(st.lists(st.sampled_from(("add", "change", "remove")), min_size=1, max_size=3),
                          label="mutations"):
        rows = changed["identities"]
        after = [i for i, row in enumerate(rows) if row["identified_at"] >= t]
        if kind == "add":
            rows.append(data.draw(identities(lead_ids, identified=at_or_after(t)), label="added"))
        elif kind == "change" and after:
            i = data.draw(st.sampled_from(after), label="changed")
            rows[i] = data.draw(identities(lead_ids, identified=at_or_after(t)), label="into")
        elif kind == "remove" and after:
            rows.pop(data.draw(st.sampled_from(after), label="removed"))
    assert_same_features_at(t, world, changed, tmp_path)


@PROPERTY_SETTINGS
@given(world=worlds(), t=st.sampled_from(CUTOFFS), data=st.data())
def test_deals_created_at_or_after_the_cutoff_do_not_change_its_population_or_features(tmp_path, world, t, data):
    changed = copy.deepcopy(world)
    for kind in data.draw(st.lists(st.sampled_from(("add", "change", "remove")), min_size=1, max_size=3),
                          label="mutations"):
        rows = changed["deals"]
        after = [i for i, row in enumerate(rows) if row["created_at"] >= t]
        if kind == "add":
            rows.append(data.draw(deals(world["leads"], created=at_or_after(t)), label="added"))
        elif kind == "change" and after:
            i = data.draw(st.sampled_from(after), label="changed")
            rows[i] = data.draw(deals(world["leads"], created=at_or_after(t), deal_id=rows[i]["deal_id"]), label="into")
        elif kind == "remove" and after:
            rows.pop(data.draw(st.sampled_from(after), label="removed"))
    assert_same_features_at(t, world, changed, tmp_path)


# --- 4. row order ---------------------------------------------------------------------------------

@PROPERTY_SETTINGS
@given(world=worlds(), seed=st.integers(0, 2**32 - 1))
def test_the_row_order_of_the_inputs_does_not_matter(tmp_path, world, seed):
    # The original and a shuffled copy side by side: each table holds the original's rows in order,
    # then the copy's rows in a random order.
    shuffler = random.Random(seed)
    shuffled = {name: shuffler.sample(rows, len(rows)) for name, rows in world.items()}
    rows, report = training_set(side_by_side(world, shuffled), tmp_path)
    assert_same_rows(rows_of(rows, 0), rows_of(rows, 1))
    assert (report["rows"] % 2 == 0).all() and (report["positives"] % 2 == 0).all()


# --- 5. population --------------------------------------------------------------------------------

def expected_population(world: World, t: datetime, exclude_customers: bool = True) -> list[str]:
    """The population at t, straight from DESIGN section 4."""
    out = []
    for lead in world["leads"]:
        if lead["created_at"] >= t:
            continue
        mine = [d for d in world["deals"] if d["lead_id"] == lead["lead_id"] and d["created_at"] < t]
        in_deal = any(d["closed_at"] is None or d["closed_at"] >= t for d in mine)
        customer = any(d["status"] == "won" and d["closed_at"] < t for d in mine)
        recycle = timedelta(days=SPINE.recycle_days)  # every spine of this module keeps the default recycle period
        recently_lost = any(d["status"] == "lost" and t - recycle < d["closed_at"] < t for d in mine)
        if not in_deal and not (customer and exclude_customers) and not recently_lost:
            out.append(lead["lead_id"])
    return sorted(out)


def expected_labels(world: World, t: datetime, exclude_customers: bool = True) -> dict[str, int]:
    """Training rows at t (lead -> label): the population minus rows whose label window holds an open deal."""
    labels = {}
    for lead_id in expected_population(world, t, exclude_customers):
        window = [d for d in world["deals"] if d["lead_id"] == lead_id and t <= d["created_at"] < t + HORIZON]
        if not any(d["status"] == "open" for d in window):
            labels[lead_id] = int(any(d["status"] == "won" for d in window))
    return labels


def labels_at(rows: pd.DataFrame, t: datetime) -> dict[str, int]:
    at_t = rows[rows["cutoff"] == pd.Timestamp(t)]
    return {lead: int(label) for lead, label in zip(at_t["lead_id"], at_t["label"])}


@PROPERTY_SETTINGS
@given(world=worlds(), t=st.sampled_from(CUTOFFS))
def test_leads_created_at_or_after_a_cutoff_are_never_in_its_population(tmp_path, world, t):
    world = copy.deepcopy(world)
    template = dict(world["leads"][0])
    world["leads"] += [dict(template, lead_id="L-at-cutoff", created_at=t),
                       dict(template, lead_id="L-just-before", created_at=t - ONE_US)]
    created = {l["lead_id"]: pd.Timestamp(l["created_at"]) for l in world["leads"]}

    scored = scoring_frame(world, tmp_path, t)
    assert (scored["lead_id"].map(created) < scored["cutoff"]).all()
    assert "L-at-cutoff" not in set(scored["lead_id"])
    assert sorted(scored["lead_id"]) == expected_population(world, t)

    rows, _ = training_set(world, tmp_path)
    assert (rows["lead_id"].map(created) < rows["cutoff"]).all()
    assert "L-at-cutoff" not in set(rows.loc[rows["cutoff"] == pd.Timestamp(t), "lead_id"])
    for cutoff in CUTOFFS:
        assert labels_at(rows, cutoff) == expected_labels(world, cutoff), f"training rows at {cutoff}"


def test_a_grid_before_every_lead_gives_an_empty_training_set(tmp_path):
    # Every lead becomes known after the last cutoff: no training rows, but no crash either.
    world = copy.deepcopy(ONE_LEAD_ONE_VIEW)
    world["leads"][0]["created_at"] = CUTOFFS[-1] + timedelta(days=1)
    rows, _ = training_set(world, tmp_path)
    assert rows.empty


@PROPERTY_SETTINGS
@given(world=worlds(), data=st.data())
def test_the_labelled_spine_equals_every_rule_tested_on_every_row(tmp_path, world, data):
    # create_labelled_spine tests the population's rules and the label only on the leads one of them can apply
    # to, and gives every other lead as rows labelled 0: the same rows, labels, censored rows and counts as
    # population_sql over every lead, labelled by label_sql
    world = copy.deepcopy(world)
    lead_ids = [l["lead_id"] for l in world["leads"]]
    for lead in data.draw(st.lists(st.sampled_from(world["leads"]), max_size=3), label="disqualified"):
        lead["disqualified_at"] = data.draw(instants(), label="disqualified_at")
    statuses = (*LIFECYCLE, "client")
    world["lifecycle"] = [{"lead_id": data.draw(st.sampled_from(lead_ids)),
                           "status": data.draw(st.sampled_from(statuses)), "changed_at": data.draw(instants())}
                          for _ in range(data.draw(st.integers(0, 4)))]
    world["feedback"] = [{"lead_id": data.draw(st.sampled_from(lead_ids)), "at": data.draw(instants()),
                          "disposition": data.draw(st.sampled_from(("accepted", "no_answer")))}
                         for _ in range(data.draw(st.integers(0, 4)))]
    world["feedback"].append({"lead_id": "nobody", "at": BASE, "disposition": "accepted"})  # the table exists
    spec = SpineSpec(horizon_days=HORIZON_DAYS, slide_days=28, settle_days=0,
                     label=data.draw(st.sampled_from(("won_deal_created", "won_deal_closed", "sales_accepted"))),
                     exclude_customers=data.draw(st.booleans()), recycle_days=data.draw(st.sampled_from((0, 90))))
    lifecycle = {**LIFECYCLE, "client": "customer"}
    tables = _open(world, tmp_path, 1)
    con = tables.con
    try:
        spine, report = create_labelled_spine(con, CUTOFFS, DATA_END, spec, lifecycle=lifecycle,
                                              accepted=("accepted",), censored="censored")
        everyone = population_sql(con, CUTOFFS, spec, has_deals=tables.has("deals"), lifecycle=lifecycle)
        expected = con.execute(f"""SELECT * FROM ({label_sql(f'({everyone})', spec, carry=('excluded',),
                                                            accepted=('accepted',))})""").df()
        got = con.execute(f"SELECT lead_id, cutoff, label FROM {spine} ORDER BY cutoff, lead_id").df()
        kept = expected[expected["excluded"].isna() & ~expected["censored"]].sort_values(["cutoff", "lead_id"])
        assert got.to_dict("records") == [
            {"lead_id": r.lead_id, "cutoff": r.cutoff, "label": int(r.positive)} for r in kept.itertuples()]
        censored = con.execute("SELECT lead_id, cutoff FROM censored ORDER BY cutoff, lead_id").df()
        dropped = expected[expected["excluded"].isna() & expected["censored"]].sort_values(["cutoff", "lead_id"])
        assert censored.to_dict("records") == dropped[["lead_id", "cutoff"]].to_dict("records")
        for row in report.itertuples():
            at = expected[expected["cutoff"] == row.cutoff]
            population = at[at["excluded"].isna()]
            assert (row.rows, row.positives, row.censored) == (
                (~population["censored"]).sum(), (population["positive"] & ~population["censored"]).sum(),
                population["censored"].sum())
            for why in EXCLUSIONS:
                assert getattr(row, f"excluded_{why}") == (at["excluded"] == why).sum(), why
        assert len(report) == len(CUTOFFS)
    finally:
        con.close()


# --- 6. a grid of cutoffs agrees with one cutoff --------------------------------------------------

@PROPERTY_SETTINGS
@given(world=worlds(), t=st.sampled_from(CUTOFFS))
def test_a_cutoff_built_in_a_grid_equals_the_cutoff_built_alone(tmp_path, world, t):
    grid, _ = training_set(world, tmp_path)
    in_grid = grid[grid["cutoff"] == pd.Timestamp(t)].reset_index(drop=True)
    # Scoring is the one-cutoff build; it holds the whole population, training only the uncensored rows.
    alone = scoring_frame(world, tmp_path, t)
    assert set(in_grid["lead_id"]) <= set(alone["lead_id"])
    alone = alone[alone["lead_id"].isin(in_grid["lead_id"])].reset_index(drop=True)
    assert_same_rows(in_grid.drop(columns="label"), alone)


# --- 7. labels --------------------------------------------------------------------------------------

@PROPERTY_SETTINGS
@given(world=worlds(), t=st.sampled_from(CUTOFFS), data=st.data())
def test_the_label_depends_only_on_won_deals_created_within_the_horizon(tmp_path, world, t, data):
    # Customers stay in the population here, so a won deal moved before t leaves the row in place.
    spine = SpineSpec(horizon_days=HORIZON_DAYS, slide_days=28, exclude_customers=False)
    lead_id = data.draw(st.sampled_from([l["lead_id"] for l in world["leads"]]), label="lead")
    won = data.draw(deals(world["leads"], lead_id=lead_id, status="won", deal_id="D-moved",
                          created=st.one_of(st.just(t), st.just(t + HORIZON - ONE_US),
                                            _offset(0, HORIZON_DAYS * US_PER_DAY - 1).map(lambda d: t + d))),
                    label="won deal in [t, t + horizon)")
    took = won["closed_at"] - won["created_at"]
    inside = copy.deepcopy(world)
    inside["deals"].append(won)

    later = copy.deepcopy(inside)
    created = data.draw(st.one_of(st.just(t + HORIZON), _offset(0, 60 * US_PER_DAY).map(lambda d: t + HORIZON + d)),
                        label="moved to created_at")
    later["deals"][-1].update(created_at=created, closed_at=created + took)

    earlier = copy.deepcopy(inside)
    closed = data.draw(before(t), label="moved to closed_at")
    earlier["deals"][-1].update(created_at=closed - data.draw(
        st.one_of(st.just(timedelta(0)), _offset(1, 30 * US_PER_DAY)), label="open for"), closed_at=closed)

    rows, _ = training_set(side_by_side(world, inside, later, earlier), tmp_path, spine=spine)
    labels = {name: labels_at(rows_of(rows, n), t)
              for n, name in enumerate(("unchanged", "inside", "later", "earlier"))}
    for name, variant in (("unchanged", world), ("inside", inside), ("later", later), ("earlier", earlier)):
        assert labels[name] == expected_labels(variant, t, exclude_customers=False), name

    # Deals created at or after t never decide who has a row at t, only its label.
    assert set(labels["inside"]) == set(labels["later"]) == set(labels["unchanged"])
    if lead_id in labels["inside"]:
        assert labels["inside"][lead_id] == 1
        others_won = any(d["lead_id"] == lead_id and d["status"] == "won" and t <= d["created_at"] < t + HORIZON
                         for d in world["deals"])
        assert labels["later"][lead_id] == labels["unchanged"][lead_id] == int(others_won)
        if lead_id in labels["earlier"]:
            assert labels["earlier"][lead_id] == int(others_won)


# --- 7b. disqualification and lifecycle status ---------------------------------------------------

@PROPERTY_SETTINGS
@given(world=worlds(), t=st.sampled_from(CUTOFFS), data=st.data())
def test_a_disqualification_is_seen_strictly_after_it_happens(tmp_path, world, t, data):
    """A disqualification (lifecycle status or disqualified_at) at or after t changes nothing at t; one before t
    takes the lead out of t's population."""
    known = [l["lead_id"] for l in world["leads"] if l["created_at"] < t]
    assume(known)
    lead_id = data.draw(st.sampled_from(known), label="lead")
    after = data.draw(st.one_of(st.just(t), _offset(1, 60 * US_PER_DAY).map(lambda d: t + d)), label="at or after t")
    earlier = data.draw(before(t), label="before t")
    how = data.draw(st.sampled_from(["lifecycle", "disqualified_at"]), label="how")

    def disqualified(when: datetime) -> World:
        variant = copy.deepcopy(world)
        variant["lifecycle"] = [{"lead_id": "nobody", "status": "mql", "changed_at": BASE}]  # every variant has one
        if how == "lifecycle":
            variant["lifecycle"].append({"lead_id": lead_id, "status": "junk", "changed_at": when})
        else:
            next(l for l in variant["leads"] if l["lead_id"] == lead_id)["disqualified_at"] = when
        return variant

    unchanged = copy.deepcopy(world)
    unchanged["lifecycle"] = [{"lead_id": "nobody", "status": "mql", "changed_at": BASE}]
    frame = scoring_frame(side_by_side(unchanged, disqualified(after), disqualified(earlier)), tmp_path, t)
    assert_same_rows(rows_of(frame, 0), rows_of(frame, 1))
    assert lead_id not in set(rows_of(frame, 2)["lead_id"])
    assert set(rows_of(frame, 2)["lead_id"]) == set(rows_of(frame, 0)["lead_id"]) - {lead_id}


# --- 8. threads -------------------------------------------------------------------------------------

# A failure here is intermittent by nature, which shrinking handles badly (minutes of rebuilds for little
# gain); the explicit example is already minimal.
@settings(GUARD_SETTINGS, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@example(world=ONE_LEAD_ONE_VIEW)
@given(world=worlds())
def test_many_threads_give_one_row_per_lead_and_cutoff_and_the_same_values(tmp_path, world):
    # DuckDB runs on every core by default; ties in a window's ORDER BY are then broken differently from
    # run to run. Eight threads make that visible on a small machine; the twin copies must still agree.
    rows, _ = training_set(side_by_side(world, world), tmp_path, threads=8)  # _rows: one row per (lead, cutoff)
    assert_same_rows(rows_of(rows, 0), rows_of(rows, 1))
