"""A grid of more than 62 cutoffs: distinct content is built in chunks of 62 (the bits of a signed 64-bit
integer), and every cutoff of every chunk must give the features a one-cutoff build gives."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from features.definitions import FeatureSpec, StageSpec
from features.simulate import SimulationParams
from features.spine import SpineSpec, monday_on_or_before
from pipelines.generate import generate
from pipelines.sources import open_tables

CUTOFFS = 66  # two chunks: 62 + 4


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    folder = tmp_path_factory.mktemp("many_cutoffs")
    generate(folder, SimulationParams(leads=300, seed=5, weeks=104), SpineSpec(), progress=False)
    return open_tables(folder)


def test_every_chunk_matches_a_one_cutoff_build(tables):
    from features.builder import build_features

    con = tables.con
    last = monday_on_or_before(tables.data_end())
    cutoffs = [last - timedelta(days=7 * i) for i in range(CUTOFFS)][::-1]
    values = ", ".join(f"(TIMESTAMP '{t:%Y-%m-%d}')" for t in cutoffs)
    con.execute(f"CREATE OR REPLACE TEMP TABLE grid_spine AS SELECT l.lead_id, c.cutoff FROM leads l "
                f"JOIN (VALUES {values}) c(cutoff) ON l.created_at < c.cutoff")
    build_features(con, "grid_spine", FeatureSpec(), StageSpec(), out="grid", cutoffs=cutoffs)
    for index in (0, 61, 62, CUTOFFS - 1):  # both ends of both chunks
        when = cutoffs[index]
        con.execute(f"CREATE OR REPLACE TEMP TABLE one_spine AS SELECT lead_id, cutoff FROM grid_spine "
                    f"WHERE cutoff = TIMESTAMP '{when:%Y-%m-%d}'")
        one = build_features(con, "one_spine", FeatureSpec(), StageSpec(), out="one", cutoffs=[when])
        expected = con.sql(f"SELECT * FROM {one} ORDER BY lead_id").df()
        got = con.sql(f"SELECT * FROM grid WHERE cutoff = TIMESTAMP '{when:%Y-%m-%d}' ORDER BY lead_id").df()
        assert len(got) == len(expected) > 0
        assert expected["distinct_content_365d"].sum() > 0
        pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12)


def test_a_build_leaves_only_what_it_was_asked_for(tables):
    """Scratch tables are dropped by the call that made them, so a later call on the same connection never reads
    an earlier call's leftovers (an order-dependent test once came from a shared ``_cutoffs``)."""
    from features.training_set import build_scoring_frame, build_training_set

    con = tables.con
    relations = "SELECT table_name FROM duckdb_tables() UNION ALL SELECT view_name FROM duckdb_views() WHERE NOT internal"
    before = {row[0] for row in con.execute(relations).fetchall()}
    spine = SpineSpec()
    out, _ = build_training_set(con, spine, FeatureSpec(), StageSpec(), tables.data_start(), tables.data_end(),
                                event_types=tables_event_types(con))
    scored = build_scoring_frame(con, monday_on_or_before(tables.data_end()), spine, FeatureSpec(), StageSpec(),
                                 event_types=tables_event_types(con))
    after = {row[0] for row in con.execute(relations).fetchall()}
    assert after - before == {"spine", out, scored}


def tables_event_types(con) -> tuple[str, ...]:
    return tuple(row[0] for row in con.execute("SELECT DISTINCT event_type FROM events ORDER BY 1").fetchall())


def test_each_statement_is_one_cutoffs_and_nothing_per_lead_comes_back(tables, monkeypatch):
    """What keeps Spark's plans and driver small (issue: a 3,000-lead build once died of heap on the driver): a grid
    of 16 cutoffs sends the engine no statement larger, once transpiled for Spark, than a grid of 4 does (each is one
    cutoff's work, so the plan grows with the features, not with the cutoffs), a fixed number of statements a
    cutoff, and reads back only aggregates: never more rows than cutoffs, event kinds or category values."""
    from features import engine
    from features.builder import build_features

    con = tables.con
    last = monday_on_or_before(tables.data_end())

    def sent(count: int) -> tuple[list[int], int, int]:
        cutoffs = [last - timedelta(days=7 * i) for i in range(count)][::-1]
        values = ", ".join(f"(TIMESTAMP '{t:%Y-%m-%d}')" for t in cutoffs)
        con.execute(f"CREATE OR REPLACE TEMP TABLE bound_spine AS SELECT l.lead_id, c.cutoff FROM leads l "
                    f"JOIN (VALUES {values}) c(cutoff) ON l.created_at < c.cutoff")
        sizes, largest_read = [], 0
        original = {name: getattr(engine.DuckDBEngine, name) for name in ("create_table", "append", "rows", "frame")}

        def writes(name):
            def call(self, table, select, *rest, **named):
                sizes.append(len(engine.to_spark(select, keep_order=False)))
                return original[name](self, table, select, *rest, **named)
            return call

        def reads(name):
            def call(self, sql, *rest, **named):
                nonlocal largest_read
                result = original[name](self, sql, *rest, **named)
                largest_read = max(largest_read, len(result))
                return result
            return call

        with monkeypatch.context() as patch:
            for name in ("create_table", "append"):
                patch.setattr(engine.DuckDBEngine, name, writes(name))
            for name in ("rows", "frame"):
                patch.setattr(engine.DuckDBEngine, name, reads(name))
            build_features(engine.DuckDBEngine(con), "bound_spine", FeatureSpec(), StageSpec(), out="bound",
                           cutoffs=cutoffs)
        return sizes, largest_read, len(cutoffs)

    few, few_read, _ = sent(4)
    many, many_read, _ = sent(16)
    assert max(many) <= 1.02 * max(few)  # literals differ by a digit or two, nothing else
    # a cutoff: its lead activity, account activity, distinct content, and its assembled rows
    assert len(many) - len(few) == 12 * 4
    kinds = con.execute("SELECT count(*) FROM (SELECT DISTINCT event_type, content_type FROM events)").fetchall()[0][0]
    leads = con.execute("SELECT count(*) FROM leads").fetchall()[0][0]
    assert many_read <= max(16, kinds, FeatureSpec().max_categories + 1) < leads
