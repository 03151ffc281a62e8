"""The feature store (``features.store``): an incremental training set is the full rebuild's, row for row.

The property: for random sequences of weekly exports of one small world ("a week more of
history", "a setting changed", "an old event restated", "late rows with and without
``ingested_at``", "a lead's attributes edited"), the training file built through a store
that persists across the sequence is identical (every value, the column order, the plan
in its metadata) to a build of the same export without any store. The export of week D
is the world as it stood at D, written here from the world directly (not through the
store's own visibility rules, which are what is under test).

Then the store's own promises, one example each: what a change rebuilds and the reason it
gives; a corrupted, truncated, unrecorded or unreadable entry is rebuilt and never read;
an interrupted write leaves nothing that is reused; two builds never share a store.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from features.contract import TABLES
from features.definitions import FeatureSpec, StageSpec
from features.engine import as_engine
from features.errors import UserError
from features.spine import SpineSpec
from features.store import ENTRY, EXTRA, PART, FeatureStore, input_digests
from features.training_file import (
    LATER,
    part_files,
    part_name,
    part_record,
    read_training_set,
    training_schema,
)
from features.training_set import build_training_set, label_sums, sums_digest
from pipelines.sources import connect, open_tables
from tests.conftest import write_params
from tests.unit.features.test_point_in_time_properties import (
    BASE,
    EVENT_TYPES,
    SCHEMAS,
    US_PER_DAY,
    events,
    worlds,
)

SPINE = SpineSpec(horizon_days=28, slide_days=28, warmup_days=28, settle_days=0)
SETTINGS = {  # two variants of each kind of setting a stored row depends on
    "default": (FeatureSpec(), SPINE),
    "windows": (FeatureSpec(windows_days=(7, 14, 30, 90, 365)), SPINE),
    "population": (FeatureSpec(), SpineSpec(**{**SPINE.model_dump(), "recycle_days": 7})),
}
STAGE = StageSpec()
FIRST_WEEK = BASE + timedelta(days=126)  # a Monday: three mature 28-day cutoffs, more as weeks are added


def as_it_stood(world: dict, moment: datetime) -> dict:
    """What an export taken at ``moment`` holds: rows known before it, later outcomes not yet in them."""
    def known(e):
        ingested = e.get("ingested_at")
        return max(e["occurred_at"], ingested - timedelta(microseconds=1) if ingested else e["occurred_at"]) < moment
    leads = [{**l, "disqualified_at": l.get("disqualified_at") if (l.get("disqualified_at") or moment) < moment
              else None} for l in world["leads"] if l["created_at"] < moment]
    deals = [d if d["closed_at"] is None or d["closed_at"] < moment else
             {**d, "status": "open", "closed_at": None, "amount": None}
             for d in world["deals"] if d["created_at"] < moment]
    return {"leads": leads, "events": [e for e in world["events"] if known(e)], "deals": deals,
            "identities": [i for i in world["identities"] if i["identified_at"] < moment]}


def write_export(export: dict, root: Path) -> Path:
    folder = root / f"{uuid.uuid4().hex}[x]?"  # read as named, not as a pattern
    folder.mkdir(parents=True)
    for name, rows in export.items():
        pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMAS[name]), folder / f"{name}.parquet")
    return folder


def build(export: Path, out: Path, variant: str = "default", store: Path | None = None, rebuild: bool = False,
          previous: Path | None = None):
    """The training set of ``export`` at ``out`` (through ``store`` when given, keeping the parts of ``previous``
    it can); the store's account of it and the mature cutoffs."""
    features, spine = SETTINGS[variant]
    tables = open_tables(export, con=connect(threads=1))
    try:
        _, report = build_training_set(tables.con, spine, features, STAGE, tables.data_start(), tables.data_end(),
                                       EVENT_TYPES, has_identities=tables.has("identities"), parquet=out,
                                       store=store, rebuild=rebuild, previous=previous)
    finally:
        tables.con.close()
    return report.attrs.get("store"), list(report["cutoff"])


def assert_identical(left: Path, right: Path) -> None:
    """The same training set as ``right``, a full build (one part per cutoff): the same cutoffs, the same schema
    and plan in every file, every value the same in (cutoff, lead_id) order, and ``read_training_set`` gives the
    same frame. ``left``'s rows of a cutoff may be in its part and a file of later rows beside it."""
    assert not [p for p in part_files(right) if LATER in p.name]
    assert [p.name for p in part_files(left) if LATER not in p.name] == [p.name for p in part_files(right)]
    schema = training_schema(left)
    assert schema.equals(training_schema(right), check_metadata=True), f"{schema}\n---\n{training_schema(right)}"
    for p in part_files(left):
        assert pq.read_schema(p).remove_metadata().equals(schema.remove_metadata()), p.name
    a, b = (pa.concat_tables(pq.read_table(p).replace_schema_metadata() for p in part_files(side))
            .sort_by([("cutoff", "ascending"), ("lead_id", "ascending")]) for side in (left, right))
    assert a.num_rows == b.num_rows
    for name in a.column_names:
        assert a[name].equals(b[name]), f"column {name} differs"
    pd.testing.assert_frame_equal(read_training_set(left), read_training_set(right))


# --- the property ------------------------------------------------------------------------------------------------

@st.composite
def steps(draw, world: dict):
    lead_ids = [l["lead_id"] for l in world["leads"]]
    kind = draw(st.sampled_from(("week", "week", "setting", "restate", "late", "late ingested", "lead")))
    if kind == "week":
        return ("week", draw(st.integers(1, 5)))
    if kind == "setting":
        return ("setting", draw(st.sampled_from(sorted(SETTINGS))))
    if kind == "restate":
        return ("restate", draw(st.integers(0, 10_000)), draw(st.sampled_from(EVENT_TYPES)),
                draw(st.one_of(st.none(), st.floats(0, 600, allow_nan=False))))
    if kind == "lead":
        return ("lead", draw(st.integers(0, 10_000)), draw(st.sampled_from(("CEO", "intern", None))))
    # late rows: happened up to 100 days before the export's day; they reach it only now
    return (kind, draw(events(lead_ids)), draw(st.integers(1, 100 * US_PER_DAY)))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data())
def test_an_incremental_training_set_is_the_full_rebuild(tmp_path_factory, data):
    root = tmp_path_factory.mktemp("store-property")
    world = data.draw(worlds(), label="world")
    moment, variant = FIRST_WEEK, "default"
    sequence = data.draw(st.lists(steps(world), min_size=1, max_size=4), label="steps")
    store, previous = root / "store", None
    for number, step in enumerate([("start",), *sequence]):
        world = copy.deepcopy(world)
        if step[0] == "week":
            moment += timedelta(weeks=step[1])
        elif step[0] == "setting":
            variant = step[1]
        elif step[0] == "restate":  # an event of the past corrected in place, same id
            old = [e for e in world["events"] if e["occurred_at"] < moment - timedelta(days=28)]
            if old:
                row = old[step[1] % len(old)]
                row["event_type"], row["duration_s"] = step[2], step[3]
        elif step[0] == "lead":
            known = [l for l in world["leads"] if l["created_at"] < moment]
            if known:
                known[step[1] % len(known)]["title"] = step[2]
        elif step[0] in ("late", "late ingested"):
            row = {**step[1], "event_id": f"late-{uuid.uuid4().hex[:8]}",
                   "occurred_at": moment - timedelta(microseconds=step[2])}
            # with ingested_at: it arrived now, and says so; without: it looks as if it had always been there
            row["ingested_at"] = moment - timedelta(microseconds=1) if step[0] == "late ingested" else None
            world["events"].append(row)
        export = as_it_stood(world, moment)
        # the export reaches its day (a quiet world's last event may be months before it): an email opened just now
        export["events"].append({**world["events"][0], "event_id": f"now-{moment:%Y%m%d}", "lead_id": "L00",
                                 "anonymous_id": None, "event_type": "email_open", "ingested_at": None,
                                 "occurred_at": moment - timedelta(microseconds=1)})
        export = write_export(export, root)
        full, incremental = root / f"full-{number}.parquet", root / f"incremental-{number}.parquet"
        try:
            used, _ = build(export, full, variant)
            assert used is None
        except UserError:  # too little history for a mature cutoff: the stored path must say the same
            with pytest.raises(UserError):
                build(export, incremental, variant, store)
            event("a step without a mature cutoff")
            continue
        used, cutoffs = build(export, incremental, variant, store, previous=previous)
        assert_identical(incremental, full)
        assert sorted(used.reused + used.built) == cutoffs
        assert set(used.kept) <= set(used.reused)
        event(f"{step[0]}: {len(used.reused)} reused, {len(used.added)} added, rebuilt: {sorted(set(used.rebuilt.values()))}")
        event(f"parts kept: {'none' if not used.kept else 'all reused' if used.kept == used.reused else 'some'}")
        event(f"later rows beside a kept part: {'yes' if used.later else 'no'}")
        previous = incremental
        if step[0] == "late ingested":  # it arrived after every mature cutoff: no cutoff saw it
            # (a first event of its type or content still adds the plan's features for it: the plan reads history)
            assert set(used.rebuilt.values()) <= {"feature plan changed"}, used.rebuilt


# --- what a change rebuilds, and why --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One generated world: the demo's story, 400 leads, 60 weeks, as rows."""
    from pipelines.generate import generate_world

    folder = tmp_path_factory.mktemp("store-world") / "export"
    generate_world("demo", folder, leads=400, seed=3, weeks=60, spine=SpineSpec(), progress=False)
    return {name: [{k: v.replace(tzinfo=None) if isinstance(v, datetime) else v for k, v in row.items()}
                   for row in pq.read_table(folder / f"{name}.parquet").to_pylist()]
            for name in ("leads", "events", "identities", "deals")}


DAY = datetime(2025, 12, 1)  # a Monday well inside the 60 weeks from generate's default start


def typed(export: dict) -> dict:
    return {name: [{k: row.get(k) for k in SCHEMAS[name].names} for row in rows] for name, rows in export.items()}


@pytest.fixture()
def first(world, tmp_path):
    """The export at DAY built through a fresh store; the store, and a helper to rebuild and compare (each build
    keeps what it can of the training set the one before it wrote)."""
    # names DuckDB would read as patterns (``[x]``, ``?``): every store test reads through them as named
    store, last = tmp_path / "st[o]re?", {"set": None}

    def again(changed: dict, moment: datetime = DAY, variant: str = "default", linked: bool = True, **options):
        export = write_export(typed(as_it_stood(changed, moment)), tmp_path)
        incremental, full = tmp_path / f"i[{uuid.uuid4().hex}]?", tmp_path / f"f-{uuid.uuid4().hex}.parquet"
        used, _ = build(export, incremental, variant, store, **{"previous": last["set"], **options})
        build(export, full, variant)
        assert_identical(incremental, full)
        for t in used.kept:  # taken over as it was (the last set's part, or the store's): the same file, not a copy
            kept, stored = incremental / part_name(t), FeatureStore(store).folder(t) / PART
            if linked:
                earlier = [last["set"] / part_name(t)] if last["set"] else []
                assert kept.stat().st_ino in {p.stat().st_ino for p in [*earlier, stored] if p.exists()}
            else:
                assert kept.read_bytes() == stored.read_bytes()
        written = {t for t in used.reused if (incremental / part_name(t, later=True)).exists()}
        assert written == set(used.later) <= set(used.kept)  # a file of later rows only beside a kept part
        last["set"] = incremental
        return used

    used = again(world)
    return {"store": store, "again": again, "used": used, "world": world, "last": last}


def test_a_first_build_adds_every_cutoff_and_a_second_reuses_them(first):
    assert first["used"].added and not first["used"].reused and not first["used"].rebuilt
    store = FeatureStore(first["store"])
    for t in first["used"].added:  # a built cutoff is encoded once: the store's part is the training set's
        part = first["last"]["set"] / part_name(t)
        assert (store.folder(t) / PART).stat().st_ino == part.stat().st_ino
        rest = pq.read_table(store.folder(t) / EXTRA)
        assert "label" in pq.read_schema(part).names and "label" not in rest.column_names
        assert not set(rest["lead_id"].to_pylist()) & set(pq.read_table(part)["lead_id"].to_pylist())
    second = first["again"](first["world"])
    assert (len(second.reused), second.rebuilt, second.added) == (len(first["used"].added), {}, [])
    assert second.kept == second.reused  # same features, same labels: every part of the training set kept


def test_rows_stored_beside_the_part_are_read_once_they_enter_the_spine(first):
    """A censored row (its deal still open at the data's end) is stored in ``extra.parquet``, outside the
    training set; when its deal closes it enters the spine of a reused cutoff, and its features come from there,
    into a file of later rows beside the cutoff's part, which is kept as it was (its rows' labels unchanged)."""
    store = FeatureStore(first["store"])
    beside = {t: set(pq.read_table(store.folder(t) / EXTRA)["lead_id"].to_pylist()) for t in first["used"].added}
    assert any(beside.values())
    used = first["again"](first["world"], DAY + timedelta(days=SPINE.slide_days))  # equal to the full build
    now = first["last"]["set"]
    entered = {t: beside[t] & set(pq.read_table(now / part_name(t))["lead_id"].to_pylist()) for t in used.reused}
    assert not any(entered.values())  # the kept part is the stored one: no row of extra.parquet in it
    later = {t: set(pq.read_table(now / part_name(t, later=True))["lead_id"].to_pylist()) for t in used.later}
    assert later and all(leads and leads <= beside[t] for t, leads in later.items())
    assert set(used.later) <= set(used.kept) <= set(used.reused)
    # the same export again: each file of later rows is the last set's, taken over (the same file), not rewritten
    same = first["again"](first["world"], DAY + timedelta(days=SPINE.slide_days))
    assert same.later == used.later
    for t in same.later:
        taken = first["last"]["set"] / part_name(t, later=True)
        assert taken.stat().st_ino == (now / part_name(t, later=True)).stat().st_ino


def test_a_store_on_another_file_system_gets_a_copy_of_the_part(first, monkeypatch):
    """Where the store cannot link to the training set (another file system), it copies the part: the same
    rows, read the same, and the training set still equals the full build."""
    import features.store as store_module

    def no_link(source, target):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(store_module.os, "link", no_link)
    world = copy.deepcopy(first["world"])
    world["leads"][0]["industry"] = "edited"  # every cutoff is built again, and stored
    used = first["again"](world)
    assert sorted(used.rebuilt) == sorted(first["used"].added)
    store = FeatureStore(first["store"])
    for t in used.rebuilt:
        part, stored = first["last"]["set"] / part_name(t), store.folder(t) / PART
        assert stored.stat().st_ino != part.stat().st_ino and stored.read_bytes() == part.read_bytes()
    # and the copies are the parts of the next build without the last set (copied again: no link either)
    again = first["again"](world, previous=None, linked=False)
    assert again.reused == again.kept == sorted(used.rebuilt)


def test_a_part_is_kept_only_while_its_labels_are_unchanged(first):
    """A won deal restated as lost changes the label of the cutoffs before it opened: their stored features are
    reused (those cutoffs never saw the deal) but their parts are written again; every other part is kept."""
    cutoffs = sorted(first["used"].added)
    world = copy.deepcopy(first["world"])
    horizon = timedelta(days=SPINE.horizon_days)
    deal = next(d for d in world["deals"] if d["status"] == "won"
                and any(t <= d["created_at"] < t + horizon and t + horizon <= DAY for t in cutoffs))
    labelled = [t for t in cutoffs if t <= deal["created_at"] < t + horizon]
    deal["status"] = "lost"
    used = first["again"](world)
    assert set(labelled) <= set(used.reused)  # the features of those cutoffs did not change ...
    assert not set(labelled) & set(used.kept)  # ... their labels did
    assert set(used.kept) == set(used.reused) - set(labelled)


def test_an_unreadable_part_of_the_previous_set_is_taken_from_the_store_not_kept(first):
    """The previous training set is the user's last output, not the store: a part of it that is not Parquet any
    more is not kept; the store's part (checksummed) is taken instead, and the build goes on."""
    cutoffs = sorted(first["used"].added)
    part = first["last"]["set"] / part_name(cutoffs[0])
    part.unlink()  # replaced by another file
    part.write_bytes(b"not a parquet file")
    store_part = FeatureStore(first["store"]).folder(cutoffs[0]) / PART
    used = first["again"](first["world"])
    assert set(used.kept) == set(used.reused)
    assert (first["last"]["set"] / part_name(cutoffs[0])).stat().st_ino == store_part.stat().st_ino
    # overwritten in place: a built cutoff's part is also its store's (one file, two names), so the store sees the
    # damage too, and the cutoff is built again
    (first["last"]["set"] / part_name(cutoffs[1])).write_bytes(b"not a parquet file")
    used = first["again"](first["world"])
    assert used.rebuilt == {cutoffs[1]: "its rows file part.parquet is corrupted (size or checksum differs from its "
                                        "entry)"}


def test_a_week_more_of_history_adds_only_the_cutoff_it_matures(first):
    used = first["again"](first["world"], DAY + timedelta(days=SPINE.slide_days))
    assert len(used.added) == 1 and not used.rebuilt
    assert len(used.reused) == len(first["used"].added)


def test_a_restated_old_event_rebuilds_the_cutoffs_that_saw_it_and_says_so(first):
    world = copy.deepcopy(first["world"])
    cutoffs = sorted(first["used"].added)
    middle = cutoffs[len(cutoffs) // 2]
    event = next(e for e in world["events"] if middle - timedelta(days=3) <= e["occurred_at"] < middle
                 and e["lead_id"] is not None)
    event["event_type"] = "webinar_attend" if event["event_type"] != "webinar_attend" else "page_view"
    used = first["again"](world)
    assert sorted(used.rebuilt) == [t for t in cutoffs if t >= middle]
    assert set(used.rebuilt.values()) == {"events: rows known at this cutoff changed (history restated)"}
    assert sorted(used.reused) == [t for t in cutoffs if t < middle]


def test_late_rows_rebuild_the_past_only_without_ingested_at(first):
    cutoffs = sorted(first["used"].added)
    lead = next(l for l in first["world"]["leads"] if l["created_at"] < cutoffs[0])
    late = {"event_id": "late-1", "occurred_at": cutoffs[-1] - timedelta(days=2), "lead_id": lead["lead_id"],
            "anonymous_id": None, "event_type": "page_view", "content_type": "pricing", "content_id": "pricing",
            "duration_s": 30.0}
    world = copy.deepcopy(first["world"])
    world["events"].append({**late, "ingested_at": DAY - timedelta(hours=1)})  # it says it arrived just now
    assert first["again"](world).rebuilt == {}
    world = copy.deepcopy(first["world"])
    world["events"].append({**late, "ingested_at": None})  # it looks as if it had always been there
    used = first["again"](world)
    assert used.rebuilt == {cutoffs[-1]: "events: 1 more rows known at this cutoff (late rows without ingested_at?)"}


def test_a_deal_closing_after_a_cutoff_does_not_rebuild_it_and_an_edited_lead_does(first):
    cutoffs = sorted(first["used"].added)
    world = copy.deepcopy(first["world"])
    lead = next(l for l in world["leads"] if l["created_at"] < cutoffs[0])
    deal = {"deal_id": "new", "lead_id": lead["lead_id"], "account_id": lead["account_id"],
            "created_at": cutoffs[-1] - timedelta(days=1), "closed_at": None, "status": "open", "amount": None}
    world["deals"].append(deal)  # opened before the last cutoff: its population and account counts change
    assert first["again"](world).rebuilt == {cutoffs[-1]: "deals: 1 more rows known at this cutoff (rows dated "
                                                          "before it, added since)"}
    deal.update(status="won", closed_at=DAY - timedelta(days=1), amount=1000.0)  # its outcome, after every cutoff
    assert first["again"](world).rebuilt == {}
    lead["title"] = "Chief Executive Officer"
    used = first["again"](world)
    assert sorted(used.rebuilt) == cutoffs
    assert set(used.rebuilt.values()) == {"leads: rows known at this cutoff changed (history restated)"}


def test_changed_settings_rebuild_everything_and_name_what_changed(first):
    for variant, options, reason in (("population", {}, "population rules changed"),
                                     ("population", {"rebuild": True}, "--rebuild"),
                                     ("default", {}, "population rules changed"),
                                     # a new window is new features: the plan changed with the settings
                                     ("windows", {}, "feature settings and feature plan changed")):
        used = first["again"](first["world"], variant=variant, **options)
        assert set(used.rebuilt.values()) == {reason} and not used.reused, (variant, options)


# --- a store that cannot be trusted is rebuilt, never read -------------------------------------------------------

def _flip_a_byte(path: Path, at: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2 if at is None else at] ^= 0xFF
    path.write_bytes(bytes(data))


def _edit_entry(path: Path, **fields) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **fields}))


def _a_folder_instead(path: Path) -> None:
    path.unlink()
    path.mkdir()


DAMAGED_ENTRY = "its entry.json is of another store format (an earlier leadscore) or damaged"


@pytest.mark.parametrize("name, damage, reason", [
    (PART, _flip_a_byte, "its rows file part.parquet is corrupted (size or checksum differs from its entry)"),
    (EXTRA, _flip_a_byte, "its rows file extra.parquet is corrupted (size or checksum differs from its entry)"),
    (PART, lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 3]),
     "its rows file part.parquet is corrupted (size or checksum differs from its entry)"),
    (EXTRA, lambda p: p.unlink(), "its rows file extra.parquet is missing"),
    (ENTRY, lambda p: p.unlink(), "incomplete: its rows were written but never recorded (an interrupted build)"),
    (ENTRY, lambda p: p.write_text('{"cutoff": "2025-'), "its entry.json is unreadable"),
    (ENTRY, lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "files": {}})),
     "its entry.json is of another store format (an earlier leadscore) or damaged"),
    # an entry that would let the labels of the build that stored it be read as a feature
    (ENTRY, lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "labels": []})),
     "its files and entry.json disagree on its label columns (damaged)"),
    (ENTRY, lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "labels": "label"})),
     "its files and entry.json disagree on its label columns (damaged)"),
    # valid JSON with a field of the wrong type or form, or another cutoff's entry
    (ENTRY, lambda p: _edit_entry(p, inputs=None), DAMAGED_ENTRY),
    (ENTRY, lambda p: _edit_entry(p, inputs={"events": "x"}), DAMAGED_ENTRY),
    (ENTRY, lambda p: _edit_entry(p, settings=None), DAMAGED_ENTRY),
    (ENTRY, lambda p: _edit_entry(p, files={PART: {"bytes": "1", "sha256": "x"}, EXTRA: {}}), DAMAGED_ENTRY),
    (ENTRY, lambda p: _edit_entry(p, cutoff="1999-01-04"), DAMAGED_ENTRY),
    # a folder where a file should be
    (PART, _a_folder_instead, "its rows file part.parquet is missing"),
    (ENTRY, _a_folder_instead, "its entry.json is unreadable"),
])
def test_a_damaged_cutoff_is_rebuilt_and_never_read(first, name, damage, reason):
    cutoffs = sorted(first["used"].added)
    damaged = cutoffs[1]
    damage(FeatureStore(first["store"]).folder(damaged) / name)
    # nothing of the last training set kept, so every stored cutoff is read: equal to the full build, so the
    # damaged file was not read
    used = first["again"](first["world"], previous=None)
    assert used.rebuilt == {damaged: reason}
    assert first["again"](first["world"], previous=None).rebuilt == {}  # and the store is whole again


def test_the_rows_of_a_kept_part_are_not_read_and_are_checked_once_they_are(first, monkeypatch):
    """A cutoff whose training-set part is kept does not read its stored rows, so it does not checksum them
    (2 GB at 1M leads), only the part it keeps; a flipped byte in the stored rows is found by the first build
    that reads them."""
    import features.store as store_module

    damaged = sorted(first["used"].added)[1]
    # the file that is not also the training set's part (a flipped byte in that would be in the kept part too)
    _flip_a_byte(FeatureStore(first["store"]).folder(damaged) / EXTRA)
    original, checked, previous = store_module.file_sha256, [], first["last"]["set"]
    monkeypatch.setattr(store_module, "file_sha256", lambda path: checked.append(path) or original(path))
    used = first["again"](first["world"])  # the parts of the set built in `first`: every one kept
    assert used.kept == used.reused == sorted(first["used"].added)
    assert sorted(checked) == sorted(previous / part_name(t) for t in used.kept)  # each kept part, nothing else
    assert first["again"](first["world"], previous=None).rebuilt == {
        damaged: "its rows file extra.parquet is corrupted (size or checksum differs from its entry)"}


def test_a_part_is_kept_only_while_it_is_the_stored_part_byte_for_byte(first):
    """The previous set's part and the store's are one file under two names: a flipped byte in it must not be
    taken over unread (the store's checksum of the part is checked); a part of the previous set that is a copy
    with a flipped byte is not kept either, and the store's own part is taken instead."""
    cutoffs = sorted(first["used"].added)
    store = FeatureStore(first["store"])
    shared = first["last"]["set"] / part_name(cutoffs[1])
    assert shared.stat().st_ino == (store.folder(cutoffs[1]) / PART).stat().st_ino
    _flip_a_byte(shared, at=16)  # in the rows, not the footer
    copy_ = first["last"]["set"] / part_name(cutoffs[2])
    data = copy_.read_bytes()
    copy_.unlink()
    copy_.write_bytes(data)
    _flip_a_byte(copy_, at=16)
    assert part_record(shared) and part_record(copy_)  # their records still say they can be kept
    used = first["again"](first["world"])  # equal to the full build
    assert used.rebuilt == {cutoffs[1]: "its rows file part.parquet is corrupted (size or checksum differs from its "
                                        "entry)"}
    assert cutoffs[2] in used.kept and (first["last"]["set"] / part_name(cutoffs[2])).stat().st_ino == \
        (store.folder(cutoffs[2]) / PART).stat().st_ino


def test_a_file_of_later_rows_is_taken_over_only_while_its_checksum_holds(first):
    """A file of later rows of the previous set is kept when its record matches and its bytes are the ones
    written (``_checksums.json``); with a flipped byte it is written again."""
    week = DAY + timedelta(days=SPINE.slide_days)
    used = first["again"](first["world"], week)
    assert used.later
    before = first["last"]["set"]
    damaged = before / part_name(used.later[0], later=True)
    _flip_a_byte(damaged, at=16)  # in the data, not the footer: its record still reads as it did
    assert part_record(damaged)
    again = first["again"](first["world"], week)  # equal to the full build
    assert again.later == used.later
    now = first["last"]["set"]
    assert (now / damaged.name).stat().st_ino != damaged.stat().st_ino
    for t in used.later[1:]:
        name = part_name(t, later=True)
        assert (now / name).stat().st_ino == (before / name).stat().st_ino


def test_an_interrupted_write_leaves_nothing_that_is_reused(first, monkeypatch):
    """A build that dies while writing a cutoff: the cutoff's old entry is gone before its file is touched."""
    import features.store as store_module

    cutoffs = sorted(first["used"].added)
    world = copy.deepcopy(first["world"])
    world["leads"][0]["industry"] = "edited"  # every cutoff must be rebuilt
    original = store_module.os.replace
    calls = {"n": 0}

    def dies_on_the_second_file(source, target):
        if str(target).endswith(EXTRA):
            calls["n"] += 1
            if calls["n"] == 2:
                raise OSError("disk full")
        return original(source, target)

    monkeypatch.setattr(store_module.os, "replace", dies_on_the_second_file)
    with pytest.raises(OSError, match="disk full"):
        first["again"](world)
    monkeypatch.setattr(store_module.os, "replace", original)
    used = first["again"](world)
    assert cutoffs[1] in used.rebuilt and "incomplete" in used.rebuilt[cutoffs[1]]
    assert not list(first["store"].glob("*/*.tmp-*"))  # the half-written file was cleared


def test_a_store_folder_in_the_wrong_shape_is_rebuilt_and_a_store_that_is_a_file_is_refused(first, tmp_path):
    """A cutoff's folder that is a file, and a folder left where a temporary file was, are cleared and the cutoff
    built again; a --store naming a file is a user error, and the file is left alone."""
    cutoffs = sorted(first["used"].added)
    folder = FeatureStore(first["store"]).folder(cutoffs[0])
    for name in (ENTRY, PART, EXTRA):
        (folder / name).unlink()
    folder.rmdir()
    folder.write_text("not a folder")
    (FeatureStore(first["store"]).folder(cutoffs[1]) / f"{PART}.tmp-1").mkdir()
    used = first["again"](first["world"], previous=None)  # equal to the full build
    assert used.rebuilt == {cutoffs[0]: "its entry.json is unreadable"}
    assert first["again"](first["world"], previous=None).rebuilt == {}
    a_file = tmp_path / "a-file"
    a_file.write_text("mine")
    with pytest.raises(UserError, match="is a file, not a folder: give --store a folder"):
        with FeatureStore(a_file).locked():
            pass
    assert a_file.read_text() == "mine"


def test_two_builds_never_share_a_store(first):
    with FeatureStore(first["store"]).locked():
        with pytest.raises(UserError, match="another build is using the feature store"):
            first["again"](first["world"])


def test_the_digest_of_a_cutoff_covers_only_what_it_could_see():
    """Rows known at or after a cutoff leave its digest alone; one known before it changes it (and later ones)."""
    cutoffs = [DAY - timedelta(weeks=8), DAY - timedelta(weeks=6), DAY - timedelta(weeks=4)]
    con = connect(threads=1)
    con.execute("CREATE TABLE events AS SELECT * FROM (VALUES (TIMESTAMP '2025-10-05 12:00', 'L1', NULL::VARCHAR, "
                "'page_view', NULL::VARCHAR, NULL::VARCHAR, NULL::DOUBLE, NULL::VARCHAR, NULL::TIMESTAMP)) "
                "v(occurred_at, lead_id, anonymous_id, event_type, content_type, content_id, duration_s, event_id, "
                "ingested_at)")
    before = input_digests(con, cutoffs, ["events"])
    # exactly at the second cutoff: not known to it; ingested exactly at the first: known to it
    con.execute(f"INSERT INTO events VALUES (TIMESTAMP '{cutoffs[1]}', 'L1', NULL, 'page_view', NULL, NULL, NULL, "
                f"NULL, NULL), (TIMESTAMP '{cutoffs[0] - timedelta(days=1)}', 'L2', NULL, 'email_open', NULL, NULL, "
                f"NULL, NULL, TIMESTAMP '{cutoffs[0]}')")
    after = input_digests(con, cutoffs, ["events"])
    assert after[0] != before[0] and after[0]["events"].startswith("2:")
    assert after[1]["events"] == after[0]["events"]  # the row at the second cutoff is not yet seen there
    assert after[2]["events"].startswith("3:")


def test_a_display_column_changes_no_digest_and_an_extra_attribute_of_the_plan_does():
    """Owners are reassigned every week: the digest of the leads reads the contract's columns and the plan's extra
    attributes, never a display column beside them (no feature reads one: ``pipelines.config`` refuses a column
    that is both)."""
    con = connect(threads=1)
    con.execute(f"""CREATE TABLE leads AS SELECT * FROM (VALUES
        ('L1', TIMESTAMP '{DAY - timedelta(weeks=9)}', 'A1', 'CTO', 'software', 50, 'DE', 'web', NULL::TIMESTAMP,
         'grow', 'Ann')) v({', '.join(TABLES['leads'].names)}, stated_goal, owner)""")
    cutoffs = [DAY - timedelta(weeks=4), DAY]
    before = input_digests(con, cutoffs, ["leads"], extras=("stated_goal",))
    con.execute("UPDATE leads SET owner = 'Bob'")
    assert input_digests(con, cutoffs, ["leads"], extras=("stated_goal",)) == before
    con.execute("UPDATE leads SET stated_goal = 'save'")
    changed = input_digests(con, cutoffs, ["leads"], extras=("stated_goal",))
    assert changed != before
    assert input_digests(con, cutoffs, ["leads"]) == input_digests(con, cutoffs, ["leads"], extras=("absent",))
    con.execute("UPDATE leads SET title = 'CEO'")  # a column of the contract
    assert input_digests(con, cutoffs, ["leads"], extras=("stated_goal",)) != changed


def test_label_digests_change_when_two_labels_change_in_ways_that_cancel_under_a_plain_hash():
    """DuckDB's hash(lead_id, label) is F(lead_id) XOR G(label): summed over rows, a swap of two leads' labels, or
    two new positives, cancel out for some pairs of leads (1 in 2^24). Such pairs are searched for, and the
    digest must still see each change (else next week would keep a part with last week's labels)."""
    con = connect(threads=1)
    flip = con.execute("SELECT xor(hash('L1', 0), hash('L1', 1))").fetchone()[0]
    assert flip == con.execute("SELECT xor(hash('L2', 0), hash('L2', 1))").fetchone()[0]  # the structure searched

    def pair(condition: str) -> tuple[str, str]:
        return con.execute(f"""
            WITH h AS (SELECT 'lead-' || i AS lead_id, hash('lead-' || i, 0) & {flip}::UBIGINT AS m
                       FROM range(60000) t(i))
            SELECT a.lead_id, b.lead_id FROM h a JOIN h b ON {condition} AND a.lead_id < b.lead_id
            ORDER BY ALL LIMIT 1""").fetchone()

    def digest(labels: dict[str, int]) -> str:
        rows = ", ".join(f"('{lead}', TIMESTAMP '{DAY}', {label})" for lead, label in labels.items())
        con.execute(f"CREATE OR REPLACE TABLE labelled AS SELECT * FROM (VALUES {rows}) v(lead_id, cutoff, label)")
        return sums_digest(*label_sums(as_engine(con), "labelled", ["label"], [DAY])[DAY])

    a, b = pair("a.m = b.m")  # a swap of their labels cancels under the plain hash
    plain = "SELECT sum(CAST(hash(lead_id, label) AS HUGEINT)) FROM labelled"
    digest({a: 1, b: 0})
    swapped_before = con.execute(plain).fetchone()[0]
    assert digest({a: 1, b: 0}) != digest({a: 0, b: 1})
    assert con.execute(plain).fetchone()[0] == swapped_before  # the pair really collides without the fix
    c, d = pair(f"a.m = xor(b.m, {flip}::UBIGINT)")  # both becoming positive cancels under the plain hash
    assert digest({c: 0, d: 0}) != digest({c: 1, d: 1})


def test_build_training_set_says_what_it_reused_and_rebuilds_on_request(world, tmp_path):
    export = write_export(typed(as_it_stood(world, DAY)), tmp_path)
    leadscore = Path(sys.executable).parent / "leadscore"
    out = tmp_path / "training" / "training_set.parquet"
    params = write_params(tmp_path, **{"validation.min_positives_per_cutoff": 0})  # 400 leads: weeks without a win
    runs = [subprocess.run([str(leadscore), "build-training-set", str(export), "--out", str(out), "--params",
                            str(params), *extra],
                           capture_output=True, text=True, cwd=tmp_path, timeout=600)
            for extra in ((), (), ("--rebuild",))]
    for done in runs:
        assert done.returncode == 0, done.stdout + done.stderr
    store = tmp_path / "training" / "feature_store"
    cutoffs = len(list(store.glob("cutoff=*/entry.json")))
    assert f"feature store {store}: 0 cutoffs reused, 0 rebuilt, {cutoffs} added" in runs[0].stdout
    assert f"feature store {store}: {cutoffs} cutoffs reused, 0 rebuilt, 0 added; training set: {cutoffs} parts " \
           "kept, 0 written" in runs[1].stdout
    assert f"training set: 0 parts kept, {cutoffs} written" in runs[2].stdout
    assert [p.name for p in part_files(out)] == [part_name(t) for t in sorted(
        datetime.strptime(e.parent.name, "cutoff=%Y-%m-%d") for e in store.glob("cutoff=*/entry.json"))]
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no folder left aside
    assert f"{cutoffs} rebuilt, 0 added" in runs[2].stdout and f"rebuilt {cutoffs}: --rebuild" in runs[2].stdout
    report = json.loads(out.with_suffix(".report.json").read_text())
    assert report["store"]["rebuilt"] == cutoffs and report["store"]["reasons"] == {"--rebuild": cutoffs}
    # the folder holding the set, its store and report is not a training set: refused, and nothing in it touched
    before = sorted(p.relative_to(tmp_path) for p in (tmp_path / "training").rglob("*"))
    wrong = subprocess.run([str(leadscore), "build-training-set", str(export), "--out", str(out.parent), "--params",
                            str(params)], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert wrong.returncode != 0 and "Traceback" not in wrong.stderr
    assert f"--out {out.parent} is a folder that is not a training set" in wrong.stderr
    assert "feature_store" in wrong.stderr and f"--out {out.parent / 'training_set.parquet'}" in wrong.stderr
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "training").rglob("*")) == before
    # an --out that is a table of the export, and a store inside --out (each build replaces --out whole): refused
    # before anything is written
    events = export / "events.parquet"
    data = events.read_bytes()
    for args, message in (((events,), f"--out {events} is a file that is not a training set"),
                          ((out, "--store", out / "store"), f"--store {out / 'store'} is inside --out {out}")):
        wrong = subprocess.run([str(leadscore), "build-training-set", str(export), "--out", *map(str, args),
                                "--params", str(params)], capture_output=True, text=True, cwd=tmp_path, timeout=600)
        assert wrong.returncode != 0 and "Traceback" not in wrong.stderr and message in wrong.stderr, wrong.stderr
    assert events.read_bytes() == data and not (out / "store").exists()
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "training").rglob("*")) == before
