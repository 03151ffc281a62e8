"""World "product_led": its export honours the contract, its oracle is right, and it is reproducible.

The oracle check is the one that matters: labels are rebuilt from deals.parquet exactly
as the spine defines them (a won deal created in [t, t + 90 days) naming the lead), on the
population the spine scores (created before t, no deal open at t, not a customer by a
closed won deal or a customer lifecycle status), at mature cutoffs only. The mean of
p_true must match the realised rate within 4 standard errors, clustered by lead (the same
lead's labels at neighbouring weekly cutoffs share one deal, so rows are not independent),
and p_true must rank the realised labels.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score

from features.contract import TABLES
from features.worlds import product_led, world
from pipelines.config import load_params
from pipelines.inputs import validate_directory

ROOT = Path(__file__).resolve().parents[3]
LEADS, WEEKS, SEED, START, HORIZON, SETTLE = 4000, 60, 11, date(2024, 11, 18), 90, 90
FILES = ("leads", "events", "identities", "deals", "lifecycle", "truth")


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("product_led")
    rows = product_led.generate(out, LEADS, SEED, START, WEEKS, HORIZON)
    assert set(rows) == set(FILES) and all(rows[name] > 0 for name in FILES)
    assert LEADS * 0.95 <= rows["leads"] <= LEADS
    return out


def test_registered_and_settings_validate():
    assert world("product_led") is product_led and product_led.NAME == "product_led"
    config = load_params(ROOT / "params.yaml", overrides=product_led.SETTINGS)
    assert set(config.data.event_types) == set(product_led.EVENT_TYPES)
    assert config.features.content_types == ()


def test_export_passes_the_contract(export):
    config = load_params(ROOT / "params.yaml", overrides=product_led.SETTINGS)
    outcome, tables = validate_directory(export, config)
    assert tables is not None and not outcome.errors, "\n".join(map(str, outcome.errors))
    assert tables.duplicate_events_dropped > 0  # the export repeats some event rows, as pipelines do


def test_columns_are_the_exports(export):
    """Typed as the contract declares; the optional columns this export lacks are absent."""
    for name in ("leads", "events", "identities", "deals", "lifecycle"):
        schema = pq.read_schema(export / f"{name}.parquet")
        table = TABLES[name]
        for field in schema:
            if field.name not in table.names:
                assert name == "leads" and field.name == "job_role"
                continue
            expected = {"string": pa.string(), "timestamp": pa.timestamp("us", tz="UTC"),
                        "integer": pa.int64()}[table.column(field.name).dtype]
            assert field.type == expected, (name, field.name)
    assert set(pq.read_schema(export / "events.parquet").names) == {
        "occurred_at", "lead_id", "anonymous_id", "event_type", "event_id"}
    assert "title" not in pq.read_schema(export / "leads.parquet").names
    assert set(pq.read_schema(export / "deals.parquet").names) == {"deal_id", "lead_id", "created_at", "closed_at",
                                                                   "status"}
    truth = pq.read_schema(export / "truth.parquet")
    assert truth.field("cutoff").type == pa.timestamp("us", tz="UTC") and truth.field("p_true").type == pa.float64()


def _labelled_population(export: Path) -> pd.DataFrame:
    truth = pd.read_parquet(export / "truth.parquet")
    deals = pd.read_parquet(export / "deals.parquet")
    lifecycle = pd.read_parquet(export / "lifecycle.parquet")
    leads = pd.read_parquet(export / "leads.parquet")
    data_end = pd.Timestamp(START + timedelta(weeks=WEEKS), tz="UTC")
    expected_cutoffs = pd.date_range(pd.Timestamp(START + timedelta(weeks=13), tz="UTC"),
                                     data_end - pd.Timedelta(weeks=1), freq="7D")
    assert list(np.sort(truth["cutoff"].unique())) == list(expected_cutoffs)
    created = truth["lead_id"].map(leads.set_index("lead_id")["created_at"])
    assert (created < truth["cutoff"]).all()
    assert len(truth) == sum((leads["created_at"] < t).sum() for t in expected_cutoffs)
    mature = truth[truth["cutoff"] + pd.Timedelta(days=HORIZON + SETTLE) <= data_end]

    rows = mature.merge(deals, on="lead_id", how="left")
    horizon = pd.Timedelta(days=HORIZON)
    rows["positive"] = (rows["status"] == "won") & (rows["created_at"] >= rows["cutoff"]) & \
        (rows["created_at"] < rows["cutoff"] + horizon)
    rows["in_deal"] = (rows["created_at"] < rows["cutoff"]) & \
        (rows["closed_at"].isna() | (rows["closed_at"] >= rows["cutoff"]))
    rows["customer"] = (rows["status"] == "won") & (rows["closed_at"] < rows["cutoff"])
    rows["open_at_end"] = (rows["status"] == "open") & (rows["created_at"] < rows["cutoff"] + horizon)
    labelled = rows.groupby(["lead_id", "cutoff"]).agg(
        p_true=("p_true", "first"), label=("positive", "any"), in_deal=("in_deal", "any"),
        customer=("customer", "any"), censored=("open_at_end", "any")).reset_index()
    became_customer = lifecycle[lifecycle["status"] == "customer"].groupby("lead_id")["changed_at"].min()
    labelled["customer"] |= labelled["lead_id"].map(became_customer) < labelled["cutoff"]
    assert not labelled["censored"].any()  # deals close within 10 weeks: mature windows hold no open deal
    return labelled[~labelled["in_deal"] & ~labelled["customer"]]


def test_oracle_matches_realised_labels(export):
    population = _labelled_population(export)
    label, p = population["label"].to_numpy(float), population["p_true"].to_numpy()
    assert ((p >= 0) & (p <= 1)).all()
    assert label.sum() >= 30, "too few positives to judge the oracle"
    residual = pd.Series(label - p).groupby(population["lead_id"].to_numpy()).sum()
    se = np.sqrt((residual ** 2).sum()) / len(population)
    assert abs(label.mean() - p.mean()) < 4 * se, (label.mean(), p.mean(), se)
    assert 0.002 < label.mean() < 0.012  # a product-led base rate: well below the demo's
    assert roc_auc_score(label, p) > 0.75


def test_same_seed_same_files_other_seed_other_files(export, tmp_path):
    again = tmp_path / "again"
    product_led.generate(again, LEADS, SEED, START, WEEKS, HORIZON)
    for name in FILES:
        assert pq.read_table(export / f"{name}.parquet").equals(pq.read_table(again / f"{name}.parquet")), name
    other = tmp_path / "other"
    product_led.generate(other, LEADS, SEED + 1, START, WEEKS, HORIZON)
    for name in ("leads", "events", "deals", "truth"):
        assert not pq.read_table(export / f"{name}.parquet").equals(pq.read_table(other / f"{name}.parquet")), name
