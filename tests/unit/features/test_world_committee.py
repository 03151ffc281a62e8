"""The "committee" world (``features/worlds/committee.py``): a valid export, an honest oracle, reproducible.

One small world (3,000 leads, 60 weeks) is generated per module. The oracle is checked
against the labels the world's own deals give: on the population the spine would score
(not in a deal open at the cutoff, not a customer) at mature cutoffs (the 90-day window
plus the longest time a deal takes to close, 16 weeks, before the data's end, so no
label is censored), the mean ``p_true`` must match the realised label rate, and rank it.

Rows of one account are not independent: one won deal is a positive at up to 13 weekly
cutoffs, and the committee shares one buying cycle. The standard error is therefore
the cluster-robust one, with the account as the cluster (the binomial SE of independent
rows would be several times too small).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score

from features.worlds import committee
from pipelines.config import load_params
from pipelines.inputs import validate_directory

ROOT = Path(__file__).resolve().parents[3]
LEADS, WEEKS, SEED = 3000, 60, 11
HORIZON_DAYS = 90
LONGEST_CLOSE_DAYS = 16 * 7
TABLES = ("leads", "events", "identities", "deals", "truth")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    out = tmp_path_factory.mktemp("committee")
    return out, committee.generate(out, LEADS, SEED, weeks=WEEKS)


def test_settings_validate():
    params = load_params(ROOT / "params.yaml", overrides=committee.SETTINGS)
    assert params.data.extra_lead_attributes == ()
    assert set(params.features.content_types) == set(committee.CONTENT_TYPES)


def test_files_satisfy_the_contract(world):
    out, rows = world
    config = load_params(ROOT / "params.yaml", overrides={**committee.SETTINGS, "data.duckdb_threads": 1})
    outcome, tables = validate_directory(out, config)
    try:
        assert not outcome.errors, "\n".join(str(e) for e in outcome.errors)
        assert tables is not None and tables.has("deals") and tables.has("identities")
    finally:
        if tables is not None:
            tables.con.close()
    for name in TABLES:
        assert pq.read_metadata(out / f"{name}.parquet").num_rows == rows[name] > 0
    truth = pq.read_table(out / "truth.parquet")
    assert str(truth.schema.field("cutoff").type) == "timestamp[us, tz=UTC]"
    assert str(truth.schema.field("p_true").type) == "double"


def _labelled_truth(out: Path):
    """Truth rows of the population at mature cutoffs, with their realised label and account."""
    con = duckdb.connect(config={"threads": 1})
    for name in TABLES:
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{out / (name + '.parquet')}')")
    end = con.execute("""SELECT max(t) FROM (SELECT max(created_at) t FROM leads UNION ALL SELECT max(occurred_at)
                         FROM events UNION ALL SELECT max(created_at) FROM deals UNION ALL
                         SELECT max(closed_at) FROM deals UNION ALL SELECT max(identified_at) FROM identities)""")
    end = end.fetchone()[0]
    latest = end - timedelta(days=HORIZON_DAYS + LONGEST_CLOSE_DAYS)
    frame = con.execute(f"""
        SELECT t.lead_id, t.cutoff, t.p_true, any_value(l.account_id) AS account_id,
               coalesce(bool_or(d.created_at < t.cutoff AND (d.closed_at IS NULL OR d.closed_at >= t.cutoff)), FALSE)
                   AS in_deal,
               coalesce(bool_or(d.status = 'won' AND d.closed_at < t.cutoff), FALSE) AS customer,
               coalesce(bool_or(d.status = 'won' AND d.created_at >= t.cutoff
                                AND d.created_at < t.cutoff + INTERVAL {HORIZON_DAYS} DAY), FALSE) AS label,
               coalesce(bool_or(d.status = 'open' AND d.created_at >= t.cutoff
                                AND d.created_at < t.cutoff + INTERVAL {HORIZON_DAYS} DAY), FALSE) AS censored
        FROM truth t JOIN leads l USING (lead_id) LEFT JOIN deals d ON d.lead_id = t.lead_id
        WHERE t.cutoff <= ?
        GROUP BY t.lead_id, t.cutoff, t.p_true""", [latest]).df()
    con.close()
    return frame[~frame.in_deal & ~frame.customer], latest


def test_oracle_matches_and_ranks_the_realised_labels(world):
    out, _ = world
    frame, _ = _labelled_truth(out)
    assert frame.cutoff.nunique() >= 10
    assert not frame.censored.any(), "a mature window must hold no open deal"
    y = frame.label.to_numpy(float)
    p = frame.p_true.to_numpy()
    assert ((p >= 0) & (p <= 1)).all()
    assert y.sum() >= 30, "too few positives to check the oracle"
    residual = frame.assign(r=y - p).groupby("account_id").r.sum().to_numpy()
    se = np.sqrt((residual ** 2).sum()) / len(y)
    assert abs(y.mean() - p.mean()) <= 4 * se, (y.mean(), p.mean(), se)
    assert 0.003 < y.mean() < 0.03
    assert roc_auc_score(y, p) > 0.75


def test_truth_covers_every_lead_before_every_cutoff(world):
    out, _ = world
    con = duckdb.connect(config={"threads": 1})
    truth, leads = (f"read_parquet('{out / (n + '.parquet')}')" for n in ("truth", "leads"))
    cutoffs = [r[0] for r in con.execute(f"SELECT DISTINCT cutoff FROM {truth} ORDER BY 1").fetchall()]
    assert len(cutoffs) == WEEKS - 13
    assert all(c.weekday() == 0 and (c.hour, c.minute) == (0, 0) for c in cutoffs)
    missing = con.execute(f"""SELECT count(*) FROM {leads} l, (SELECT DISTINCT cutoff FROM {truth}) c
                              WHERE l.created_at < c.cutoff AND NOT EXISTS (SELECT 1 FROM {truth} t
                              WHERE t.lead_id = l.lead_id AND t.cutoff = c.cutoff)""").fetchone()[0]
    extra = con.execute(f"""SELECT count(*) FROM {truth} t JOIN {leads} l USING (lead_id)
                            WHERE l.created_at >= t.cutoff""").fetchone()[0]
    con.close()
    assert missing == 0 and extra == 0


def test_same_seed_same_files_other_seed_other_files(world, tmp_path):
    out, rows = world
    again = committee.generate(tmp_path / "again", LEADS, SEED, weeks=WEEKS)
    assert again == rows
    for name in TABLES:
        assert pq.read_table(tmp_path / "again" / f"{name}.parquet").equals(pq.read_table(out / f"{name}.parquet"))
    committee.generate(tmp_path / "other", LEADS, SEED + 1, weeks=WEEKS)
    assert not pq.read_table(tmp_path / "other" / "leads.parquet").equals(pq.read_table(out / "leads.parquet"))
    assert not pq.read_table(tmp_path / "other" / "deals.parquet").equals(pq.read_table(out / "deals.parquet"))
