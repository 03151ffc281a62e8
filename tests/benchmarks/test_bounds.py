"""The ``bounds`` step times the builder's own first passes: they must count what the build counts.

A lower bound is only worth quoting if the pass it times does the work the build cannot skip,
so the counts are checked against pandas: events known at the cutoff (occurred before it,
ingested by it, anonymous ones only through an identity resolved before it, within the
lookback), and the leads they belong to.
"""

from __future__ import annotations

import re
import shutil
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from benchmarks import steps
from features.definitions import FeatureSpec
from features.simulate import SimulationParams
from features.spine import SpineSpec
from pipelines.config import load_params
from pipelines.generate import generate
from pipelines.sources import open_tables


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bounds") / "data"
    generate(folder, SimulationParams(leads=300, weeks=70, seed=11), SpineSpec(), progress=False)
    events = pd.read_parquet(folder / "events.parquet")
    # some events arrive a week late: the ones that happened just before the cutoff are not known at it
    events["ingested_at"] = events["occurred_at"] + pd.to_timedelta((events.index % 5 == 0) * 7, unit="D")
    events.to_parquet(folder / "events.parquet", index=False)
    return folder


def _known(folder, cutoff) -> pd.DataFrame:
    events = pd.read_parquet(folder / "events.parquet")
    identities = pd.read_parquet(folder / "identities.parquet")
    leads = set(pd.read_parquet(folder / "leads.parquet")["lead_id"])
    seen = (events["occurred_at"] < cutoff) & (events["ingested_at"].isna() | (events["ingested_at"] <= cutoff))
    seen &= events["occurred_at"] >= cutoff - timedelta(days=FeatureSpec().lookback_days)
    direct = events[seen & events["lead_id"].notna()][["lead_id"]]
    first = identities.groupby(["anonymous_id", "lead_id"], as_index=False)["identified_at"].min()
    anonymous = events[seen & events["lead_id"].isna()].drop(columns="lead_id").merge(first, on="anonymous_id")
    stitched = anonymous[anonymous["identified_at"] < cutoff][["lead_id"]]
    known = pd.concat([direct, stitched])
    return known, known[known["lead_id"].isin(leads)]


def test_bounds_time_the_passes_the_build_cannot_skip(world, capsys):
    tables = open_tables(world)
    cutoff = steps.score_date(tables)

    leads = steps.bounds(tables.con, cutoff, has_identities=True)

    printed = dict(re.findall(r"BOUND name=(\S+) rows=(\d+) seconds=[\d.]+", capsys.readouterr().out))
    assert list(printed) == ["floor", "scan", "by-lead", "floor-again"]
    every, of_known_leads = _known(world, pd.Timestamp(cutoff, tz="UTC"))
    # the scan still holds events of leads missing from `leads`: the build drops those when it numbers the leads
    assert int(printed["scan"]) == len(every) > 0
    assert leads == int(printed["by-lead"]) == of_known_leads["lead_id"].nunique() > 0
    assert int(printed["floor"]) == int(printed["floor-again"]) == pd.read_parquet(world / "events.parquet")["lead_id"].nunique(dropna=False)


def test_cells_reuse_times_both_ways_to_the_newest_cutoff_and_they_agree(world, capsys):
    config = load_params(Path(steps.__file__).resolve().parents[1] / "params.yaml")
    tables = open_tables(world)
    mature = steps.mature_grid(tables, config.spine)
    assert len(mature) > 2  # last week's cells exist to be reused

    leads = steps.cells_reuse(tables, config)  # raises if the per-lead passes of the two ways differ

    printed = dict(re.findall(r"CELLS name=(\S+) rows=(\d*) seconds=[\d.]+", capsys.readouterr().out))
    assert list(printed) == ["scratch-cells", "scratch-lead-pass", "scratch-content-pass", "grid-cells",
                             "store-cells", "read-stored-cells", "newest-cells", "stored-and-newest",
                             "reused-lead-pass", "reused-content-pass"]
    _, of_known_leads = _known(world, pd.Timestamp(mature[-1], tz="UTC"))
    assert leads == int(printed["scratch-lead-pass"]) == of_known_leads["lead_id"].nunique() > 0
    # the reused cells are cut at every cutoff's edges: more than the newest cutoff's own
    assert int(printed["stored-and-newest"]) > int(printed["scratch-cells"])


def test_advance_times_both_ways_to_the_newest_cutoff_and_they_agree(world, capsys):
    config = load_params(Path(steps.__file__).resolve().parents[1] / "params.yaml")
    tables = open_tables(world)
    mature = steps.mature_grid(tables, config.spine)

    leads = steps.advance_step(tables, config)  # raises if _lead_k or _content_k of the two ways differ

    printed = dict(re.findall(r"ADVANCE name=(\S+) rows=(\d*) seconds=[\d.]+", capsys.readouterr().out))
    assert list(printed) == ["previous-cells", "previous-lead-pass", "previous-content-pass", "write-state",
                             "read-state", "advance", "scratch-cells", "scratch-lead-pass", "scratch-content-pass"]
    _, of_known_leads = _known(world, pd.Timestamp(mature[-1], tz="UTC"))
    assert leads == int(printed["scratch-lead-pass"]) == of_known_leads["lead_id"].nunique() > 0
    assert int(printed["read-state"]) > 0  # the previous cutoff's rows were there to be moved


@pytest.mark.parametrize("days", [14, 70, 400])
def test_advance_agrees_over_steps_longer_than_a_window_a_bitmap_word_and_the_lookback(world, days):
    """A step longer than the 7-day window (all new), than a 63-day word of the day bitmaps (words move whole), and
    than the lookback (nothing of the previous cutoff is kept)."""
    config = load_params(Path(steps.__file__).resolve().parents[1] / "params.yaml")
    tables = open_tables(world)
    t = steps.mature_grid(tables, config.spine)[-1]

    assert steps.advance_step(tables, config, prev=t - timedelta(days=days), t=t) > 0  # raises if they differ


def test_advance_computes_leads_new_since_the_previous_cutoff_from_all_their_events(world, tmp_path):
    """Leads created after the previous cutoff have no row in its state, yet events known before it (a CRM row made
    after the visits it was matched to): all of those count."""
    config = load_params(Path(steps.__file__).resolve().parents[1] / "params.yaml")
    t = steps.mature_grid(open_tables(world), config.spine)[-1]
    shutil.copytree(world, tmp_path / "data")
    leads = pd.read_parquet(tmp_path / "data" / "leads.parquet")
    later = leads.index % 10 == 0
    leads.loc[later, "created_at"] = pd.Timestamp(t - timedelta(days=3), tz="UTC")
    leads.to_parquet(tmp_path / "data" / "leads.parquet", index=False)
    tables = open_tables(tmp_path / "data")
    assert steps.advance_step(tables, config, prev=t - timedelta(days=7), t=t) > 0  # raises if they differ
