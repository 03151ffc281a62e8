"""The feature plan: features follow the export and the settings, never an all-null column, never a traceback.

Golden cases say which features a given export cannot carry and why; a property
builds training sets over random vocabularies, windows, missing optional columns,
optional tables and extra attributes, and checks every build succeeds with no
empty feature and a reason for every feature left out.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.definitions import Extra, FeatureSpec, RoleSpec, StageSpec, manifest
from features.plan import FeaturePlan, missing_sources
from features.spine import SpineSpec, cutoff_grid, mature_cutoffs
from features.training_set import build_scoring_frame, build_training_set
from models.baselines import RuleSpec, rule_terms
from pipelines.sources import open_tables

START = datetime(2024, 1, 1)
WEEKS = 40
SPINE = SpineSpec(horizon_days=28, slide_days=7, warmup_days=28, settle_days=7, recycle_days=0)
STAGE = StageSpec()


def export(folder: Path, *, seed: int = 0, event_types=("visit", "signup"), content_types=("docs", "price"),
           lead_columns=("account_id", "title", "industry", "company_size", "country", "lead_source"),
           event_columns=("content_type", "content_id", "duration_s"), identities: bool = True,
           lifecycle: bool = False, extras: dict | None = None, leads: int = 60) -> Path:
    """A small export with the given vocabulary and optional parts; wins follow 'signup'-like activity."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    ids = [f"L{i:03d}" for i in range(leads)]
    created = [START + timedelta(days=int(d)) for d in rng.integers(0, 7 * WEEKS // 2, leads)]
    frame = pd.DataFrame({"lead_id": ids, "created_at": pd.to_datetime(created, utc=True)})
    values = {"account_id": [f"A{i % 15}" for i in range(leads)], "title": rng.choice(["VP Sales", "Engineer"], leads),
              "industry": rng.choice(["retail", "banking"], leads), "company_size": rng.integers(5, 900, leads),
              "country": rng.choice(["DE", "US"], leads), "lead_source": rng.choice(["web", "event"], leads)}
    for column in lead_columns:
        frame[column] = values[column]
    for name, column in (extras or {}).items():
        frame[name] = column(rng, leads)
    frame.to_parquet(folder / "leads.parquet", index=False)

    rows = []
    for lead, born in zip(ids, created):
        for _ in range(int(rng.integers(3, 30))):
            when = born + timedelta(days=float(rng.uniform(0, 7 * WEEKS - (born - START).days - 1)))
            rows.append({"occurred_at": when, "lead_id": lead, "anonymous_id": None,
                         "event_type": str(rng.choice(event_types)),
                         "content_type": str(rng.choice(content_types)) if content_types and rng.random() < 0.7
                         else None, "content_id": f"c{int(rng.integers(0, 9))}",
                         "duration_s": float(rng.uniform(5, 300))})
    for i in range(40):  # anonymous traffic, half of it identified later
        rows.append({"occurred_at": START + timedelta(days=float(rng.uniform(0, 7 * WEEKS - 1))), "lead_id": None,
                     "anonymous_id": f"cookie{i}", "event_type": event_types[0], "content_type": None,
                     "content_id": None, "duration_s": None})
    events = pd.DataFrame(rows)
    events["occurred_at"] = pd.to_datetime(events["occurred_at"], utc=True)
    events.drop(columns=[c for c in ("content_type", "content_id", "duration_s") if c not in event_columns]
                ).to_parquet(folder / "events.parquet", index=False)
    if identities:
        pd.DataFrame({"anonymous_id": [f"cookie{i}" for i in range(0, 40, 2)],
                      "lead_id": [ids[i % leads] for i in range(0, 40, 2)],
                      "identified_at": pd.to_datetime([START + timedelta(days=7 * WEEKS - 100)] * 20, utc=True)}
                     ).to_parquet(folder / "identities.parquet", index=False)
    deals = []
    for i, (lead, born) in enumerate(zip(ids, created)):
        if rng.random() < 0.5:
            opened = born + timedelta(days=float(rng.uniform(7, 120)))
            closed = opened + timedelta(days=5)
            if closed < START + timedelta(days=7 * WEEKS - 1):
                deals.append({"deal_id": f"D{i}", "lead_id": lead, "account_id": f"A{i % 15}", "created_at": opened,
                              "closed_at": closed,
                              "status": "won" if rng.random() < 0.5 else "lost"})
    deals = pd.DataFrame(deals)
    for column in ("created_at", "closed_at"):
        deals[column] = pd.to_datetime(deals[column], utc=True)
    deals.to_parquet(folder / "deals.parquet", index=False)
    if lifecycle:
        pd.DataFrame({"lead_id": ids[::3], "status": ["mql"] * len(ids[::3]),
                      "changed_at": pd.to_datetime([c + timedelta(days=3) for c in created[::3]], utc=True)}
                     ).to_parquet(folder / "lifecycle.parquet", index=False)
    return folder


def build(folder: Path, spec: FeatureSpec, event_types, extras=(), lifecycle=None):
    tables = open_tables(folder, require_deals=True, extra_lead_columns=tuple(extras))
    table, report = build_training_set(tables.con, SPINE, spec, STAGE, tables.data_start(), tables.data_end(),
                                       tuple(event_types), tuple(extras), has_identities=tables.has("identities"),
                                       lifecycle=lifecycle)
    return tables, tables.con.sql(f"SELECT * FROM {table}").df(), report.attrs["plan"]


def test_a_rich_export_keeps_every_feature_its_settings_allow(tmp_path):
    spec = FeatureSpec(content_types=("docs", "price"), roles=RoleSpec(high_intent=("price",)))
    _, frame, plan = build(export(tmp_path, lifecycle=True), spec, ("visit", "signup"), lifecycle={"mql": "open"})
    # 'email_*' and 'page_view' are not in this vocabulary: their features are not even in the manifest
    assert plan.names == [f.name for f in manifest(spec, ("visit", "signup"))]
    assert not plan.left_out
    assert list(frame.columns[5:]) == plan.names


def test_features_without_a_source_are_left_out_with_the_reason(tmp_path):
    folder = export(tmp_path, lead_columns=("lead_source",), event_columns=("content_type",), identities=False)
    spec = FeatureSpec(content_types=("docs", "price", "never_seen"), roles=RoleSpec(high_intent=("price",)))
    _, frame, plan = build(folder, spec, ("visit", "signup", "webinar"))
    left = dict(plan.left_out)
    assert set(left) >= {"industry", "company_size", "company_size_band", "country", "title_seniority",
                         "title_function", "account_known_leads", "account_engaged_leads_30d",
                         "stitched_events_7d", "distinct_content_7d", "lifecycle_status"}
    assert "leads.industry is missing or empty" in left["industry"]
    assert "no 'webinar' event before" in left["webinar_count_7d"]
    assert "no 'never_seen' event before" in left["days_since_last_never_seen"]
    assert "no identities table" in left["stitched_events_30d"]
    assert "lead_source" in plan.names and "visit_count_7d" in plan.names
    assert not set(left) & set(frame.columns)
    assert not [c for c in plan.names if frame[c].isna().all()]


def test_an_event_seen_only_after_the_last_training_cutoff_is_left_out(tmp_path):
    folder = export(tmp_path)
    events = pd.read_parquet(folder / "events.parquet")
    late = events.iloc[:3].assign(event_type="signup", occurred_at=pd.Timestamp(START + timedelta(days=7 * WEEKS - 2),
                                                                                tz="UTC"))
    late.loc[:, "event_type"] = "late_kind"
    pd.concat([events, late]).to_parquet(folder / "events.parquet", index=False)
    _, _, plan = build(folder, FeatureSpec(content_types=("docs", "price")), ("visit", "signup", "late_kind"))
    assert "late_kind_count_7d" in dict(plan.left_out)


def test_extra_attributes_are_typed_and_text_is_capped(tmp_path):
    extras = {"amount": lambda rng, n: rng.uniform(1000, 9000, n).round(2),
              "goal": lambda rng, n: np.array([f"goal {i % 7}" for i in range(n)], dtype=object),
              "empty": lambda rng, n: np.array([None] * n, dtype=object)}
    spec = FeatureSpec(content_types=("docs", "price"), max_categories=3)
    _, frame, plan = build(export(tmp_path, extras=extras), spec, ("visit", "signup"), extras=tuple(extras))
    kinds = {e.name: e for e in plan.extras}
    assert kinds["amount"].kind == "numeric" and frame["amount"].dtype.kind == "f"
    assert kinds["goal"].kind == "categorical" and len(kinds["goal"].categories) == 3
    assert set(frame["goal"].dropna()) == set(kinds["goal"].categories) | {"other"}
    assert "empty" in dict(plan.left_out)
    numeric = next(f for f in plan.features if f.name == "amount")
    assert numeric.kind == "numeric"


def test_scoring_keeps_the_trained_categories(tmp_path):
    """A value never seen in training is 'other' at scoring too: the model's record decides, not this week's data."""
    extras = {"goal": lambda rng, n: np.array([f"goal {i % 5}" for i in range(n)], dtype=object)}
    spec = FeatureSpec(content_types=("docs", "price"), max_categories=2)
    tables, _, plan = build(export(tmp_path, extras=extras), spec, ("visit", "signup"), extras=("goal",))
    record = FeaturePlan.from_record(plan.to_record(), spec)
    assert record == plan
    table = build_scoring_frame(tables.con, datetime(2024, 9, 2), SPINE, spec, STAGE, plan=record)
    scored = tables.con.sql(f"SELECT goal FROM {table}").df()["goal"]
    assert set(scored.dropna()) <= set(record.extras[0].categories) | {"other"}
    assert (scored == "other").any()


def test_a_scoring_export_without_a_column_the_model_used_is_named(tmp_path):
    spec = FeatureSpec(content_types=("docs", "price"))
    tables, _, plan = build(export(tmp_path / "train"), spec, ("visit", "signup"))
    assert "industry" in plan.names
    weekly = open_tables(export(tmp_path / "week", lead_columns=("account_id", "title"), identities=False,
                                event_columns=("content_id",)))
    missing = missing_sources(weekly.engine, plan, set(), spec.content_types)
    assert "industry" in missing["column:leads.industry"] and "company_size_band" in missing["column:leads.company_size"]
    assert "stitched_events_7d" in missing["table:identities"]
    assert "price_count_7d" in missing["column:events.content_type"]
    assert set(missing) == {"column:leads.industry", "column:leads.company_size", "column:leads.country",
                            "column:leads.lead_source", "table:identities", "column:events.content_type",
                            "column:deals.account_id"}  # no deals given: scoring warns that those features are 0
    assert not missing_sources(tables.engine, plan, {"identities", "deals"}, spec.content_types)


def test_an_empty_optional_table_is_as_missing_as_an_absent_one(tmp_path):
    spec = FeatureSpec(content_types=("docs", "price"))
    folder = export(tmp_path / "train", lifecycle=True)
    tables, _, plan = build(folder, spec, ("visit", "signup"), lifecycle={"mql": "open"})
    assert "lifecycle_status" in plan.names
    pd.read_parquet(folder / "lifecycle.parquet").iloc[:0].to_parquet(folder / "lifecycle.parquet", index=False)
    emptied = open_tables(folder)
    assert missing_sources(emptied.engine, plan, {"identities", "deals", "lifecycle"})["table:lifecycle"] == [
        "lifecycle_status", "days_in_lifecycle_status"]


def test_roles_without_events_are_reported_and_the_stages_still_build(tmp_path):
    spec = FeatureSpec(content_types=("docs", "price"))  # the default roles name the demo's vocabulary
    _, frame, plan = build(export(tmp_path), spec, ("visit", "signup"))
    assert set(plan.empty_roles) == {"high_intent", "sales_ready", "engaged_activity"}
    assert set(frame["journey_stage"]) <= {"acknowledged", "engaged", "leaning_in"}
    assert "high_intent_count_7d" in dict(plan.left_out)


def test_the_points_score_exists_for_any_vocabulary():
    columns = [f"{s}_count_{w}d" for s in ("visit", "signup", "events") for w in (7, 30, 90, 365)]
    points, skipped = rule_terms(columns, RuleSpec(), ("visit", "signup"))
    assert points == {"visit": 1.0, "signup": 1.0}
    assert any(s.startswith("pricing:") for s in skipped) and any(s.startswith("page_view:") for s in skipped)
    points, _ = rule_terms(columns, RuleSpec(points={"signup": 20}), ("visit", "signup"))
    assert points == {"visit": 1.0, "signup": 20}


NAMES = st.sampled_from(["visit", "signup", "call", "offer_sent", "A_submitted", "email_open", "email_click",
                         "page_view", "demo", "chat"])


@st.composite
def settings_and_exports(draw):
    event_types = tuple(draw(st.lists(NAMES, min_size=1, max_size=5, unique_by=str.lower)))
    content_types = tuple(draw(st.lists(st.sampled_from(["docs", "price", "blog", "case"]), max_size=3, unique=True)))
    windows = tuple(sorted(draw(st.sets(st.sampled_from([3, 7, 14, 30, 60, 90]), min_size=1, max_size=4))))
    account = draw(st.sampled_from(windows))
    roles = RoleSpec(**{role: tuple(draw(st.lists(st.sampled_from([*event_types, *content_types, "pricing"]),
                                                  max_size=2, unique=True)))
                        for role in ("high_intent", "sales_ready", "engaged_activity")})
    spec = FeatureSpec(windows_days=windows, account_windows_days=(account,), content_types=content_types, roles=roles,
                       max_categories=draw(st.integers(1, 5)))
    lead_columns = tuple(draw(st.sets(st.sampled_from(
        ["account_id", "title", "industry", "company_size", "country", "lead_source"]))))
    event_columns = tuple(draw(st.sets(st.sampled_from(["content_type", "content_id", "duration_s"]))))
    extras = {name: [lambda rng, n: rng.uniform(0, 10, n), lambda rng, n: rng.choice(["a", "b", "c", "d"], n),
                     lambda rng, n: np.array([None] * n, dtype=object)][kind]
              for name, kind in draw(st.dictionaries(st.sampled_from(["x_amount", "x_goal", "x_other"]),
                                                     st.integers(0, 2), max_size=2)).items()}
    return dict(spec=spec, event_types=event_types, lead_columns=lead_columns, event_columns=event_columns,
                extras=extras, identities=draw(st.booleans()), lifecycle=draw(st.booleans()),
                seed=draw(st.integers(0, 3)))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=settings_and_exports())
def test_any_valid_settings_build_without_a_traceback_or_an_empty_feature(tmp_path_factory, case):
    """The whole stage, as `leadscore build-training-set` runs it: contract checks, plan, build, the set's checks."""
    from models.training import TrainSpec
    from pipelines.config import DataSpec, Params, ValidationSpec
    from pipelines.stages import training_set

    folder = export(tmp_path_factory.mktemp("any"), seed=case["seed"], event_types=case["event_types"],
                    content_types=case["spec"].content_types, lead_columns=case["lead_columns"],
                    event_columns=case["event_columns"], identities=case["identities"],
                    lifecycle=case["lifecycle"], extras=case["extras"])
    config = Params(data=DataSpec(dir=folder, event_types=case["event_types"],
                                  extra_lead_attributes=tuple(case["extras"])),
                    spine=SPINE, features=case["spec"], stage=StageSpec(window_days=case["spec"].account_windows_days[0]),
                    validation=ValidationSpec(label_rate=(0.0, 1.0), min_positives_per_cutoff=0),
                    train=TrainSpec(rules=RuleSpec(decay={w: 1.0 for w in case["spec"].windows_days})))
    out = folder / "training_set.parquet"
    summary = training_set(folder, out, config)
    frame = pd.read_parquet(out)
    features = [c for c in frame.columns if c not in ("lead_id", "account_id", "cutoff", "label", "journey_stage")]
    assert len(frame) and not [c for c in features if frame[c].isna().all()]
    left = {item["feature"]: item["reason"] for item in summary["features"]["left_out"]}
    assert all(left.values()) and not set(left) & set(features)
    assert summary["features"]["built"] == len(features)
    every = {f.name for f in manifest(case["spec"], case["event_types"],
                                      tuple(Extra(e["name"], e["kind"]) for e in summary["features"]["extras"]))}
    assert set(features) | set(left) == every


def events_and_last_cutoff(folder: Path) -> tuple[pd.DataFrame, datetime]:
    """The export's events, and its last mature cutoff (the one the plan is made at)."""
    tables = open_tables(folder, require_deals=True)
    grid = cutoff_grid(tables.data_start(), tables.data_end(), SPINE)
    cutoff = max(mature_cutoffs(grid, tables.data_end(), SPINE.horizon_days, SPINE.settle_days)[0])
    tables.con.close()
    return pd.read_parquet(folder / "events.parquet"), cutoff


@pytest.mark.parametrize("probe", [1, 50, 10**9])
def test_the_plan_is_the_same_whatever_the_events_read_first_settle(tmp_path, monkeypatch, probe):
    """The plan reads the first events first and only the checks they leave false over all of them: with a probe
    of one event, of some, or of every event, the plan is the same, a signal seen only in the last event before
    the cutoff is held, and one seen only after it is left out."""
    import features.plan as plan_module

    folder = export(tmp_path, seed=4)
    events, cutoff = events_and_last_cutoff(folder)
    rare = events.iloc[-1:].assign(event_type="rare", occurred_at=pd.Timestamp(cutoff - timedelta(seconds=1), tz="UTC"))
    late = events.iloc[-1:].assign(event_type="late_kind", occurred_at=pd.Timestamp(cutoff, tz="UTC"))
    pd.concat([events, rare, late]).to_parquet(folder / "events.parquet", index=False)
    monkeypatch.setattr(plan_module, "PROBE_ROWS", probe)
    _, _, plan = build(folder, FeatureSpec(content_types=("docs", "price")), ("visit", "signup", "rare", "late_kind"))
    monkeypatch.setattr(plan_module, "PROBE_ROWS", 10**9)
    _, _, whole = build(folder, FeatureSpec(content_types=("docs", "price")), ("visit", "signup", "rare", "late_kind"))
    assert plan == whole
    assert "rare_count_7d" in plan.names and "late_kind_count_7d" in dict(plan.left_out)


def test_the_plan_counts_an_event_once_it_was_ingested_by_the_last_cutoff(tmp_path):
    """The plan decides what the export held at the last training cutoff as the features see it: an event that
    happened before the cutoff but was ingested after it was not yet known there. Both sides of the boundary: a
    kind ingested exactly at the cutoff is planned (``ingested_at <= t``); one ingested a microsecond later is
    left out, as is one that happened at the cutoff."""
    folder = export(tmp_path, seed=5)
    events, cutoff = events_and_last_cutoff(folder)
    at = pd.Timestamp(cutoff, tz="UTC")
    events = events.assign(ingested_at=events["occurred_at"])
    rows = [events.iloc[-1:].assign(event_type=kind, occurred_at=at + happened, ingested_at=at + ingested)
            for kind, happened, ingested in (("in_time", -pd.Timedelta(days=3), pd.Timedelta(0)),
                                             ("ingested_late", -pd.Timedelta(days=3), pd.Timedelta(microseconds=1)),
                                             ("at_cutoff", pd.Timedelta(0), pd.Timedelta(0)))]
    pd.concat([events, *rows]).to_parquet(folder / "events.parquet", index=False)
    kinds = ("visit", "signup", "in_time", "ingested_late", "at_cutoff")
    _, frame, plan = build(folder, FeatureSpec(content_types=("docs", "price")), kinds)
    assert "in_time_count_7d" in plan.names and frame["in_time_count_7d"].notna().all()
    left = dict(plan.left_out)
    assert "ingested_late_count_7d" in left and "at_cutoff_count_7d" in left
