"""The DuckDB feature builder against a slow, obviously-correct Python oracle.

The builder (``features/builder.py``) computes every windowed feature with interval
deltas over a cutoff grid: fast, but far from the definition. The oracle below is
the definition written as plain loops over the rows of the typed views, one
(lead, cutoff) at a time, with ``datetime`` comparisons straight from DESIGN.md
section 4:

* an event counts for lead L at cutoff t iff ``occurred_at < t`` and
  (``ingested_at`` is null or ``ingested_at <= t``); it is in window w iff
  ``occurred_at >= t - w days``;
* an anonymous event (``lead_id`` null) counts for L through an identity
  (anonymous_id, L) only if the pair's earliest ``identified_at < t``; an event that
  carries a ``lead_id`` is never counted again through its ``anonymous_id``.

A ~400-lead simulated world is generated once per module, then varied so the rules
the simulator never exercises are exercised: late-ingested events (5 %, +3 days),
``ingested_at`` exactly at a cutoff and one microsecond after, identities resolved
exactly at a cutoff, duplicate identity rows (the earliest wins), an anonymous id
identified as two leads, direct events that also carry an identified cookie, leads
created exactly at a cutoff, null ``content_id`` and null ``duration_s``.

Every feature column of ``build_training_set`` (all mature cutoffs, every spine row)
and of ``build_scoring_frame`` (one cutoff: the single-day grid) is compared with
the oracle: floats with a relative tolerance of 1e-9, nulls exactly. The spine
(population, labels, censoring, the counts report) and the journey stage are
checked against an oracle of their own.

Leads with a null ``account_id`` (the simulator writes a few): the builder gives
them 0 for every account feature (``account_*``: engaged leads, events, high intent,
known leads, deals), never null, and never counts them as each other's account.
The oracle encodes that behaviour explicitly (see ``Oracle.account_features``).
"""

from __future__ import annotations

import math
import random
import shutil
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features.builder import build_features
from features.contract import DEFAULT_EVENT_TYPES
from features.definitions import FeatureSpec, StageSpec, manifest, signals
from features.simulate import SimulationParams
from features.spine import EXCLUSIONS, SpineSpec
from features.titles import parse_title
from features.training_file import part_files, training_rows, training_schema
from features.training_set import build_scoring_frame, build_training_set
from pipelines.generate import generate
from pipelines.sources import open_tables

pytestmark = pytest.mark.xdist_group("builder_oracle")  # one world per worker is enough

EXTRA = ("stated_goal", "budget_range", "purchase_timeline")
FEATURES = FeatureSpec()
STAGE = StageSpec()
SPINE = SpineSpec(warmup_days=70, slide_days=28, recycle_days=45)
LIFECYCLE = {"mql": "open", "sql": "open", "nurture": "recycled", "junk": "disqualified", "customer": "customer"}
MANIFEST = manifest(FEATURES, DEFAULT_EVENT_TYPES, EXTRA)
FEATURE_NAMES = [f.name for f in MANIFEST]
SETTLE_DAYS = getattr(SPINE, "settle_days", 0)  # extra maturity margin after the label window, when the spec has one
REL_TOL = 1e-9
US = timedelta(microseconds=1)
UTC = timezone.utc


# ----------------------------------------------------------------------------- data


def _decode(table: pa.Table) -> list[dict]:
    """Rows as dicts, dictionary-encoded columns decoded to plain strings."""
    columns = {}
    for name in table.column_names:
        column = table[name]
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        columns[name] = column
    return pa.table(columns).to_pylist()


def _vary(src: Path, dst: Path, cutoffs: list[datetime]) -> dict[str, int]:
    """Copy the export ``src`` to ``dst`` with the edge cases the simulator never writes."""
    rng = random.Random(5)
    dst.mkdir(parents=True)
    utc_cutoffs = [t.replace(tzinfo=UTC) for t in cutoffs]
    made: dict[str, int] = defaultdict(int)

    # ---- leads: a few created exactly at a cutoff (not in the population at that cutoff); some disqualified,
    # exactly at a cutoff (still in its population), a microsecond before one (not), or in between
    leads = _decode(pq.read_table(src / "leads.parquet"))
    lead_schema = pq.read_schema(src / "leads.parquet").append(pa.field("disqualified_at", pa.timestamp("us", tz="UTC")))
    for lead in leads:
        lead["disqualified_at"] = None
    for lead in rng.sample(leads, 40):
        later = [t for t in utc_cutoffs if t > lead["created_at"]]
        if later and made["lead_created_at_cutoff"] < 4:
            lead["created_at"] = later[0]
            made["lead_created_at_cutoff"] += 1
    for i, lead in enumerate(rng.sample(leads, 30)):
        later = [t for t in utc_cutoffs[1:-1] if t > lead["created_at"] + timedelta(days=1)]
        if later:
            t = rng.choice(later)
            lead["disqualified_at"] = [t, t - US, t - timedelta(days=rng.randint(1, 20))][i % 3]
            made[["disqualified_at_cutoff", "disqualified_before_cutoff", "disqualified_between"][i % 3]] += 1
    pq.write_table(pa.Table.from_pylist(leads, schema=lead_schema), dst / "leads.parquet")
    lead_ids = [lead["lead_id"] for lead in leads]

    # ---- lifecycle: status histories for a quarter of the leads, some changes exactly at a cutoff
    changes = []
    for lead in rng.sample(leads, len(leads) // 4):
        moment = lead["created_at"]
        for _ in range(rng.randint(1, 4)):
            moment += timedelta(days=rng.randint(3, 60), seconds=rng.randint(0, 86399))
            near = [t for t in utc_cutoffs if timedelta(0) <= t - moment < timedelta(days=3)]
            if near and rng.random() < 0.5:
                moment = near[0]
                made["status_changed_at_cutoff"] += 1
            changes.append({"lead_id": lead["lead_id"], "status": rng.choice(list(LIFECYCLE)), "changed_at": moment})
    latest_change = max(t for t in utc_cutoffs)
    changes = [c for c in changes if c["changed_at"] <= latest_change]
    made["status_changes"] = len(changes)
    pq.write_table(pa.Table.from_pylist(changes, schema=pa.schema([
        ("lead_id", pa.string()), ("status", pa.string()), ("changed_at", pa.timestamp("us", tz="UTC"))])),
        dst / "lifecycle.parquet")

    # ---- identities: exactly-at-cutoff resolutions, duplicate pairs, one cookie for two leads
    identities = _decode(pq.read_table(src / "identities.parquet"))
    id_schema = pq.read_schema(src / "identities.parquet")
    latest_identity = max(i["identified_at"] for i in identities)
    for identity in identities:
        nearby = [t for t in utc_cutoffs if timedelta(0) < t - identity["identified_at"] <= timedelta(days=14)]
        if nearby and made["identified_at_cutoff"] < 8:
            identity["identified_at"] = nearby[0]
            made["identified_at_cutoff"] += 1
    extra_rows = []
    for identity in rng.sample(identities, 15):  # same pair again, earlier or later: the earliest must win
        shifted = identity["identified_at"] + timedelta(days=rng.randint(-20, 20), seconds=rng.randint(0, 86399))
        extra_rows.append({**identity, "identified_at": min(shifted, latest_identity)})
        made["duplicate_identity_pair"] += 1
    for identity in rng.sample(identities, 10):  # the same cookie identified as a second person
        other = rng.choice([lead for lead in lead_ids if lead != identity["lead_id"]])
        extra_rows.append({**identity, "lead_id": other,
                           "identified_at": min(identity["identified_at"] + timedelta(days=rng.randint(0, 30)),
                                                latest_identity)})
        made["cookie_of_two_leads"] += 1
    identities += extra_rows
    pq.write_table(pa.Table.from_pylist(identities, schema=id_schema), dst / "identities.parquet")
    identified_cookies = sorted({i["anonymous_id"] for i in identities})

    # ---- events: late ingestion, ingestion at the cutoff boundary, nulls, cookies on known leads
    events = _decode(pq.read_table(src / "events.parquet"))
    for event in events:
        event["ingested_at"] = None
    for event in events:
        if rng.random() < 0.05:
            event["ingested_at"] = event["occurred_at"] + timedelta(days=3)
            made["late_ingested"] += 1
    boundary = [e for e in events if e["lead_id"] is not None and e["ingested_at"] is None
                and any(timedelta(0) < t - e["occurred_at"] <= timedelta(days=6) for t in utc_cutoffs)]
    for i, event in enumerate(rng.sample(boundary, min(40, len(boundary)))):
        t = next(t for t in utc_cutoffs if timedelta(0) < t - event["occurred_at"] <= timedelta(days=6))
        event["ingested_at"] = t if i % 2 == 0 else t + US  # at t: known at t; 1 us later: not yet
        made["ingested_at_cutoff" if i % 2 == 0 else "ingested_just_after_cutoff"] += 1
    for event in events:
        if rng.random() < 0.02:
            event["content_id"] = None
            made["null_content_id"] += 1
        if event["event_type"] == "page_view" and rng.random() < 0.02:
            event["duration_s"] = None
            made["null_duration"] += 1
    direct = [e for e in events if e["lead_id"] is not None and e["anonymous_id"] is None]
    for event in rng.sample(direct, 30):  # must still count once, for its own lead only
        event["anonymous_id"] = rng.choice(identified_cookies)
        made["direct_event_with_identified_cookie"] += 1
    event_schema = pa.schema([
        ("occurred_at", pa.timestamp("us", tz="UTC")), ("lead_id", pa.string()), ("anonymous_id", pa.string()),
        ("event_type", pa.string()), ("content_type", pa.string()), ("content_id", pa.string()),
        ("duration_s", pa.float64()), ("ingested_at", pa.timestamp("us", tz="UTC")),
    ])
    pq.write_table(pa.Table.from_pylist([{k: e.get(k) for k in event_schema.names} for e in events],
                                        schema=event_schema), dst / "events.parquet")

    shutil.copy(src / "deals.parquet", dst / "deals.parquet")
    return dict(made)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("oracle")
    summary = generate(root / "simulated", SimulationParams(leads=400, weeks=60, seed=5), SPINE, progress=False)
    made = _vary(root / "simulated", root / "varied", mature_cutoffs(summary.cutoffs, summary.data_end))
    tables = open_tables(root / "varied", extra_lead_columns=EXTRA, require_deals=True)
    return tables, summary, made


def mature_cutoffs(cutoffs: list[datetime], data_end: datetime) -> list[datetime]:
    """Cutoffs whose label window (and settling time) ends by the data's end: the training cutoffs."""
    return [t for t in cutoffs if t + timedelta(days=SPINE.horizon_days + SETTLE_DAYS) <= data_end]


def _rows(con, sql: str) -> list[dict]:
    result = con.sql(sql)
    return [dict(zip(result.columns, row)) for row in result.fetchall()]


@pytest.fixture(scope="module")
def training(world):
    tables, _, _ = world
    # the plan comes from the data, as in the product: this world holds every source, so it keeps every feature
    _, report = build_training_set(tables.con, SPINE, FEATURES, STAGE, tables.data_start(), tables.data_end(),
                                   DEFAULT_EVENT_TYPES, EXTRA, has_identities=True, out="training_set",
                                   lifecycle=LIFECYCLE)
    return _rows(tables.con, "SELECT * FROM training_set"), report, tables.con.sql("SELECT * FROM training_set").columns


@pytest.fixture(scope="module")
def oracle(world):
    tables, _, _ = world
    return Oracle(tables.con)


# ----------------------------------------------------------------------------- the oracle


class Oracle:
    """Every feature and label from its definition: Python loops over plain rows, no SQL aggregation."""

    def __init__(self, con):
        self.leads = {r["lead_id"]: r for r in _rows(con, "SELECT * FROM leads")}
        self.deals = _rows(con, "SELECT * FROM deals")
        self.lifecycle = defaultdict(list)   # lead_id -> its status changes
        for change in _rows(con, "SELECT * FROM lifecycle"):
            self.lifecycle[change["lead_id"]].append(change)
        events = _rows(con, "SELECT * FROM events")
        self.direct = defaultdict(list)      # lead_id -> its own events
        self.anonymous = defaultdict(list)   # anonymous_id -> events without a lead_id
        for e in events:
            if e["lead_id"] is not None:
                self.direct[e["lead_id"]].append(e)
            else:
                self.anonymous[e["anonymous_id"]].append(e)
        earliest: dict[tuple[str, str], datetime] = {}
        for anonymous_id, lead_id, identified_at in con.sql(
                "SELECT anonymous_id, lead_id, identified_at FROM identities").fetchall():
            key = (anonymous_id, lead_id)
            if key not in earliest or identified_at < earliest[key]:
                earliest[key] = identified_at
        self.cookies = defaultdict(list)     # lead_id -> [(anonymous_id, earliest identified_at)]
        for (anonymous_id, lead_id), identified_at in earliest.items():
            self.cookies[lead_id].append((anonymous_id, identified_at))
        self.account_leads = defaultdict(list)
        for lead in self.leads.values():
            if lead["account_id"] is not None:
                self.account_leads[lead["account_id"]].append(lead["lead_id"])
        self.sigs = [s.name for s in signals(FEATURES, DEFAULT_EVENT_TYPES) if s.feature]
        self._counted: dict[tuple[str, datetime], list[tuple[dict, bool]]] = {}
        self._features: dict[tuple[str, datetime], dict] = {}

    # -- which events count

    @staticmethod
    def known(e: dict, t: datetime) -> bool:
        return e["occurred_at"] < t and (e["ingested_at"] is None or e["ingested_at"] <= t)

    def counted(self, lead_id: str, t: datetime) -> list[tuple[dict, bool]]:
        """(event, came through an identity) for every event counted for the lead at t."""
        key = (lead_id, t)
        if key not in self._counted:
            out = [(e, False) for e in self.direct[lead_id] if self.known(e, t)]
            for anonymous_id, identified_at in self.cookies[lead_id]:
                if identified_at < t:
                    out += [(e, True) for e in self.anonymous[anonymous_id] if self.known(e, t)]
            self._counted[key] = out
        return self._counted[key]

    @staticmethod
    def in_window(e: dict, t: datetime, w: int) -> bool:
        return e["occurred_at"] >= t - timedelta(days=w)

    @staticmethod
    def is_signal(name: str, e: dict) -> bool:
        if name == "events":
            return e["event_type"] != "email_open"
        if name == "high_intent":
            return e["content_type"] in FEATURES.roles.high_intent
        if name in DEFAULT_EVENT_TYPES:
            return e["event_type"] == name
        if name in FEATURES.content_types:
            return e["content_type"] == name
        raise AssertionError(f"the oracle does not know signal {name!r}")

    # -- features

    def features(self, lead_id: str, t: datetime) -> dict:
        if (lead_id, t) not in self._features:
            self._features[(lead_id, t)] = self._compute_features(lead_id, t)
        return self._features[(lead_id, t)]

    def _compute_features(self, lead_id: str, t: datetime) -> dict:
        lead = self.leads[lead_id]
        events = self.counted(lead_id, t)
        f: dict = {}
        for s in self.sigs:
            for w in FEATURES.windows_days:
                f[f"{s}_count_{w}d"] = float(sum(1 for e, _ in events if self.in_window(e, t, w) and self.is_signal(s, e)))
        for w in FEATURES.windows_days:
            window = [(e, stitched) for e, stitched in events if self.in_window(e, t, w)]
            engaged_days = {e["occurred_at"].date() for e, _ in window if e["event_type"] != "email_open"}
            intent_days = {e["occurred_at"].date() for e, _ in window if self.is_signal("high_intent", e)}
            f[f"active_days_{w}d"] = float(len(engaged_days))
            f[f"high_intent_days_{w}d"] = float(len(intent_days))
            f[f"distinct_content_{w}d"] = float(len({e["content_id"] for e, _ in window if e["content_id"] is not None}))
            seconds = 0.0
            for e, _ in window:
                if e["event_type"] == "page_view" and e["duration_s"] is not None:
                    seconds += e["duration_s"]
            f[f"time_on_page_s_{w}d"] = seconds
            views = f[f"page_view_count_{w}d"]
            f[f"mean_time_on_page_s_{w}d"] = seconds / views if views else None
            f[f"stitched_events_{w}d"] = float(sum(1 for _, stitched in window if stitched))
            opens = f[f"email_open_count_{w}d"]
            f[f"email_click_rate_{w}d"] = f[f"email_click_count_{w}d"] / opens if opens else None
        f["engagement_trend_7d_vs_90d"] = (f["events_count_7d"] / 7) / ((f["events_count_90d"] + 1) / 90)
        for s in self.sigs:
            days = [e["occurred_at"].date() for e, _ in events if self.is_signal(s, e)]
            since = (t.date() - max(days)).days if days else None
            f[f"days_since_last_{s}"] = float(since) if since is not None and since <= FEATURES.lookback_days else None
        f.update(self.account_features(lead["account_id"], t))
        f.update(self.fit_features(lead, t))
        f.update(self.lifecycle_features(lead_id, t))
        return f

    def account_features(self, account_id: str | None, t: datetime) -> dict:
        f = {}
        if account_id is None:
            # What the builder does (documented, not derived): no account -> 0 for every account feature.
            for w in FEATURES.account_windows_days:
                f[f"account_engaged_leads_{w}d"] = f[f"account_events_{w}d"] = f[f"account_high_intent_{w}d"] = 0.0
            f.update(account_known_leads=0.0, account_lost_deals=0.0, account_won_deals=0.0, account_open_deals=0.0)
            return f
        members = self.account_leads[account_id]
        for w in FEATURES.account_windows_days:
            engaged_leads = events = intent = 0
            for member in members:
                if self.leads[member]["created_at"] >= t:  # its lead row, and so its account, not yet known
                    continue
                window = [e for e, _ in self.counted(member, t) if self.in_window(e, t, w)]
                engaged = [e for e in window if e["event_type"] != "email_open"]
                engaged_leads += 1 if engaged else 0
                events += len(engaged)
                intent += sum(1 for e in window if self.is_signal("high_intent", e))
            f[f"account_engaged_leads_{w}d"] = float(engaged_leads)
            f[f"account_events_{w}d"] = float(events)
            f[f"account_high_intent_{w}d"] = float(intent)
        f["account_known_leads"] = float(sum(1 for m in members if self.leads[m]["created_at"] < t))
        deals = [d for d in self.deals if d["account_id"] == account_id]
        f["account_lost_deals"] = float(sum(1 for d in deals if d["status"] == "lost" and d["closed_at"] < t))
        f["account_won_deals"] = float(sum(1 for d in deals if d["status"] == "won" and d["closed_at"] < t))
        f["account_open_deals"] = float(sum(1 for d in deals if d["created_at"] < t
                                            and (d["closed_at"] is None or d["closed_at"] >= t)))
        return f

    @staticmethod
    def fit_features(lead: dict, t: datetime) -> dict:
        size = lead["company_size"]
        band = None
        if size is not None:
            band = "5000+"
            for low, high in ((0, 10), (10, 50), (50, 200), (200, 1000), (1000, 5000)):
                if size < high:
                    band = f"{low}-{high - 1}"
                    break
        seniority, function = parse_title(lead["title"])
        f = {
            "industry": lead["industry"], "company_size": None if size is None else float(size),
            "company_size_band": band, "country": lead["country"], "lead_source": lead["lead_source"],
            "title_seniority": seniority, "title_function": function,
            "lead_age_days": ((t - lead["created_at"]) // US) / 86_400_000_000,
        }
        for name in EXTRA:
            f[name] = None if lead[name] is None else str(lead[name])
        return f

    def lifecycle_features(self, lead_id: str, t: datetime) -> dict:
        change = self.lifecycle_at(lead_id, t)
        return {"lifecycle_status": change and change["status"],
                "days_in_lifecycle_status": change and ((t - change["changed_at"]) // US) / 86_400_000_000}

    @staticmethod
    def journey_stage(f: dict) -> str:
        engaged = (f["active_days_30d"] >= 2 or f["time_on_page_s_30d"] >= 300
                   or f["content_download_count_30d"] + f["webinar_attend_count_30d"] >= 1)
        if (f["high_intent_days_30d"] >= 2 or f["demo_request_count_30d"] >= 1
                or (engaged and f["account_engaged_leads_30d"] >= 3)):
            return "leaning_in"
        return "engaged" if engaged else "acknowledged"

    # -- spine

    def lifecycle_at(self, lead_id: str, t: datetime) -> dict | None:
        """The latest status change strictly before t (ties at one instant: the greatest status name)."""
        before = [c for c in self.lifecycle[lead_id] if c["changed_at"] < t]
        return max(before, key=lambda c: (c["changed_at"], c["status"])) if before else None

    def status(self, lead_id: str, t: datetime, exclude_customers: bool) -> str | None:
        """None: in the population at t; else why not ('not_created', 'in_deal', 'customer', 'recently_lost',
        'disqualified'), in that order of precedence."""
        lead = self.leads[lead_id]
        if not lead["created_at"] < t:
            return "not_created"
        own = [d for d in self.deals if d["lead_id"] == lead_id and d["created_at"] < t]
        meaning = LIFECYCLE.get((self.lifecycle_at(lead_id, t) or {}).get("status"))
        if any(d["closed_at"] is None or d["closed_at"] >= t for d in own):
            return "in_deal"
        if exclude_customers and (any(d["status"] == "won" and d["closed_at"] < t for d in own)
                                  or meaning == "customer"):
            return "customer"
        recycle = timedelta(days=SPINE.recycle_days)
        if any(d["status"] == "lost" and t - recycle < d["closed_at"] < t for d in own):
            return "recently_lost"
        if meaning == "disqualified" or (lead["disqualified_at"] is not None and lead["disqualified_at"] < t):
            return "disqualified"
        return None

    def label(self, lead_id: str, t: datetime, horizon_days: int) -> int | None:
        """1/0, or None when censored (a deal created in the window is still open at the data's end)."""
        end = t + timedelta(days=horizon_days)
        own = [d for d in self.deals if d["lead_id"] == lead_id and t <= d["created_at"] < end]
        if any(d["status"] == "open" for d in own):
            return None
        return int(any(d["status"] == "won" for d in own))


def same(got, expected) -> bool:
    if got is None or expected is None:
        return got is None and expected is None
    if isinstance(expected, float) or isinstance(got, float):
        if isinstance(got, str) or isinstance(expected, str):
            return False
        return math.isclose(got, expected, rel_tol=REL_TOL)
    return got == expected


def mismatches(rows: list[dict], oracle: Oracle, name: str) -> list[str]:
    out = []
    for row in rows:
        expected = oracle.features(row["lead_id"], row["cutoff"])[name]
        if not same(row[name], expected):
            out.append(f"{row['lead_id']} @ {row['cutoff']:%Y-%m-%d}: builder {row[name]!r}, oracle {expected!r}")
    return out


def explain(name: str, bad: list[str], total: int) -> str:
    return f"{name}: {len(bad)} of {total} rows differ, e.g.\n  " + "\n  ".join(bad[:8])


# ----------------------------------------------------------------------------- the world exercises the rules


def test_the_varied_world_exercises_every_rule(world, oracle, training):
    """Guards the test itself: each edge case is present and moves some feature at some spine cutoff."""
    tables, summary, made = world
    rows, _, _ = training
    for case in ("lead_created_at_cutoff", "identified_at_cutoff", "duplicate_identity_pair", "cookie_of_two_leads",
                 "late_ingested", "ingested_at_cutoff", "ingested_just_after_cutoff", "null_content_id",
                 "null_duration", "direct_event_with_identified_cookie", "disqualified_at_cutoff",
                 "disqualified_before_cutoff", "disqualified_between", "status_changed_at_cutoff"):
        assert made.get(case, 0) > 0, case
    # every exclusion happens at some cutoff, so the population rule is compared on each of them
    _, report, _ = training
    for why in EXCLUSIONS:
        assert report[f"excluded_{why}"].sum() > 0, why
    cutoffs = sorted({r["cutoff"] for r in rows})
    waiting = sum(1 for t in cutoffs for lead in oracle.direct for e in oracle.direct[lead]
                  if e["ingested_at"] is not None and e["occurred_at"] < t < e["ingested_at"])
    at_boundary = sum(1 for t in cutoffs for lead in oracle.direct for e in oracle.direct[lead]
                      if e["ingested_at"] == t and e["occurred_at"] < t)
    stitched = sum(1 for r in rows if r["stitched_events_365d"] > 0)
    no_account = sum(1 for r in rows if oracle.leads[r["lead_id"]]["account_id"] is None)
    assert waiting > 0 and at_boundary > 0 and stitched > 0 and no_account > 0
    assert len(cutoffs) >= 5


# ----------------------------------------------------------------------------- spine


def test_one_output_row_per_spine_row(world, training):
    tables, _, _ = world
    rows, _, _ = training
    keys = [(r["lead_id"], r["cutoff"]) for r in rows]
    spine_rows = tables.con.sql("SELECT count(*) FROM spine").fetchall()[0][0]
    duplicated = sorted({k for k in keys if keys.count(k) > 1}) if len(set(keys)) != len(keys) else []
    assert len(keys) == len(set(keys)) == spine_rows, (
        f"{len(keys)} output rows for {len(set(keys))} distinct (lead, cutoff) and {spine_rows} spine rows; "
        f"duplicated e.g. {duplicated[:5]}")


def test_the_streamed_parquet_file_holds_the_same_rows_in_order(world, training, tmp_path):
    """The path `build-training-set` takes (each cutoff streamed into one file) equals the in-memory table."""
    tables, _, _ = world
    rows, _, columns = training
    target = tmp_path / "training.parquet"
    table, _ = build_training_set(tables.con, SPINE, FEATURES, STAGE, tables.data_start(), tables.data_end(),
                                  DEFAULT_EVENT_TYPES, EXTRA, has_identities=True, out="training_streamed",
                                  parquet=target, lifecycle=LIFECYCLE)
    assert len({r["cutoff"] for r in rows}) >= 5
    assert tables.con.sql(f"SELECT count(*) FROM {table}").fetchall() == [(len(rows),)], "the view is not the file"
    result = pq.read_table(target)  # in the file's order (DuckDB here need not keep it)
    assert result.column_names == columns
    from_file = result.to_pylist()
    keys = [(r["cutoff"], r["lead_id"]) for r in from_file]
    assert keys == sorted(keys), "the file is not in (cutoff, lead_id) order"
    expected = sorted(rows, key=lambda r: (r["cutoff"], r["lead_id"]))
    assert len(from_file) == len(expected)
    for got, want in zip(from_file, expected):
        assert got.keys() == want.keys()
        for name in want:
            same = got[name] == want[name] or (isinstance(want[name], float) and math.isnan(want[name])
                                               and math.isnan(got[name]))
            assert same, f"{name} of {want['lead_id']} at {want['cutoff']}: {got[name]!r} from the file, {want[name]!r}"


def test_a_spine_without_rows_streams_a_readable_empty_part(world, training, tmp_path):
    tables, _, _ = world
    con = tables.con  # `training` built the table `spine` whose columns the empty spine takes
    con.execute("CREATE OR REPLACE TEMP TABLE empty_spine AS SELECT * FROM spine WHERE false")
    target = tmp_path / "empty.parquet"
    build_features(con, "empty_spine", FEATURES, STAGE, DEFAULT_EVENT_TYPES, EXTRA, out="empty_streamed",
                   cutoffs=[datetime(2025, 1, 6)], parquet=target)
    schema = training_schema(target)
    assert [p.name for p in part_files(target)] == ["part-2025-01-06.parquet"] and training_rows(target) == 0
    features = [f.name for f in manifest(FEATURES, DEFAULT_EVENT_TYPES, EXTRA)]
    assert schema.names[:3] == ["lead_id", "account_id", "cutoff"]
    assert schema.names[-len(features) - 1:] == ["journey_stage", *features]


def test_columns_are_the_spine_the_stage_and_the_manifest(training):
    _, _, columns = training
    assert columns == ["lead_id", "account_id", "cutoff", "label", "journey_stage", *FEATURE_NAMES]


def test_rows_and_labels_match_the_oracle(world, oracle, training):
    tables, summary, _ = world
    rows, report, _ = training
    mature = mature_cutoffs(summary.cutoffs, tables.data_end())
    expected = {}
    for t in mature:
        for lead_id in oracle.leads:
            if oracle.status(lead_id, t, SPINE.exclude_customers) is None:
                label = oracle.label(lead_id, t, SPINE.horizon_days)
                if label is not None:
                    expected[(lead_id, t)] = label
    got = {(r["lead_id"], r["cutoff"]): r["label"] for r in rows}
    assert set(got) == set(expected), (sorted(set(got) - set(expected))[:5], sorted(set(expected) - set(got))[:5])
    wrong = {k: (got[k], expected[k]) for k in got if got[k] != expected[k]}
    assert not wrong, list(wrong.items())[:5]
    assert sum(expected.values()) > 0


def test_counts_report_matches_the_oracle(world, oracle, training):
    tables, summary, _ = world
    _, report, _ = training
    mature = mature_cutoffs(summary.cutoffs, tables.data_end())
    assert [t.to_pydatetime() for t in report["cutoff"]] == mature
    assert report.attrs["immature_cutoffs"] == [t.isoformat() for t in summary.cutoffs if t not in mature]
    for record in report.to_dict("records"):
        t = record["cutoff"].to_pydatetime()
        statuses = {lead: oracle.status(lead, t, SPINE.exclude_customers) for lead in oracle.leads}
        population = [lead for lead, status in statuses.items() if status is None]
        labels = [oracle.label(lead, t, SPINE.horizon_days) for lead in population]
        assert record["rows"] == sum(1 for x in labels if x is not None)
        assert record["positives"] == sum(1 for x in labels if x == 1)
        assert record["censored"] == sum(1 for x in labels if x is None)
        for why in EXCLUSIONS:
            assert record[f"excluded_{why}"] == sum(1 for s in statuses.values() if s == why), why


# ----------------------------------------------------------------------------- features


@pytest.mark.parametrize("name", FEATURE_NAMES)
def test_training_feature_matches_the_oracle(name, oracle, training):
    rows, _, _ = training
    bad = mismatches(rows, oracle, name)
    assert not bad, explain(name, bad, len(rows))


def test_journey_stage_matches_the_oracle(oracle, training):
    rows, _, _ = training
    bad = [f"{r['lead_id']} @ {r['cutoff']:%Y-%m-%d}: builder {r['journey_stage']}, "
           f"oracle {oracle.journey_stage(oracle.features(r['lead_id'], r['cutoff']))}"
           for r in rows if r["journey_stage"] != oracle.journey_stage(oracle.features(r["lead_id"], r["cutoff"]))]
    assert not bad, explain("journey_stage", bad, len(rows))
    assert {r["journey_stage"] for r in rows} == {"acknowledged", "engaged", "leaning_in"}


@pytest.fixture(scope="module")
def scoring(world):
    """One cutoff (a single-day grid) for the whole population, as the weekly scorer builds it."""
    tables, summary, _ = world
    build_scoring_frame(tables.con, summary.score_date, SPINE, FEATURES, STAGE, DEFAULT_EVENT_TYPES, EXTRA,
                        has_identities=True, has_deals=True, out="scoring_set", lifecycle=LIFECYCLE)
    return _rows(tables.con, "SELECT * FROM scoring_set")


def test_scoring_population_matches_the_oracle(world, oracle, scoring):
    _, summary, _ = world
    t = summary.score_date
    expected = sorted(lead for lead in oracle.leads if oracle.status(lead, t, SPINE.exclude_customers) is None)
    got = [r["lead_id"] for r in scoring]
    assert sorted(set(got)) == expected
    assert {r["cutoff"] for r in scoring} == {t}


def test_scoring_frame_has_one_row_per_lead(scoring):
    got = [r["lead_id"] for r in scoring]
    duplicated = sorted({lead for lead in got if got.count(lead) > 1})
    assert len(got) == len(set(got)), f"{len(got)} rows for {len(set(got))} leads; duplicated e.g. {duplicated[:5]}"


@pytest.mark.parametrize("name", FEATURE_NAMES)
def test_scoring_feature_matches_the_oracle(name, oracle, scoring):
    bad = mismatches(scoring, oracle, name)
    assert not bad, explain(name, bad, len(scoring))
