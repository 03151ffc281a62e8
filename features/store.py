"""The feature store of the training grid: each cutoff's feature rows kept on disk, reused while nothing they depend on changed.

A weekly export holds last week's history plus one week, so a training grid rebuilt
from scratch recomputes cutoffs whose rows cannot have changed. The store keeps, for
each cutoff, the feature rows of its whole population in two Parquet files
(``cutoff=YYYY-MM-DD/``): ``part.parquet``, the training-set part the cutoff was written
as when it was built (a hard link: the rows of a built cutoff are encoded once, not once
for the store and again for the training set; the labels it holds are that build's and
are never read back), and ``extra.parquet``, the rest of its population (rows the spine
left out, e.g. censored ones, which a later week's labels may take in). An entry
(``entry.json``, written last) says what they were built from:

* the **settings**: digests of the feature and stage settings, the feature plan, the
  population rules, and the builder (the source of the modules that write the SQL, the
  DuckDB version, the store's format);
* the **inputs** the cutoff could see, one digest a table: the events known at ``t``
  (``occurred_at < t`` and ``ingested_at <= t``), the identities resolved before ``t``,
  the leads created before it (and their disqualification once it happened), the deals
  as they stood at ``t`` (open ones without the outcome they got later), the lifecycle
  changes before it. A digest is the number of rows and the sum of their 64-bit hashes:
  order does not matter, one changed, added or removed row changes it.
* each file's size and SHA-256, so a corrupted or half-written file is never read.

A cutoff is reused only when all of them match; otherwise it is rebuilt and the reason
reported. Labels are never read from the store (``part.parquet``'s are left out): the
training set joins the stored rows to a spine labelled from the deals of this run (deals
mature, a label can change), and a row's features never depend on its label. One pass over each table computes the digests of
every cutoff: each row adds its hash from the first cutoff that sees it (and swaps one
projection for another at the cutoff where it changes, e.g. a deal closing), and
prefix sums over the grid give every cutoff's digest.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Iterator

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from features.builder import US_PER_DAY, Grid
from features.contract import EVENT_KNOWN_AT, TABLES
from features.definitions import FeatureSpec, StageSpec, sql_identifier, sql_path
from features.engine import as_engine
from features.errors import UserError
from features.plan import FeaturePlan
from features.training_file import file_sha256, link_or_copy, remove

STORE_FORMAT = 2
# the modules whose code decides a stored row's values or how a training-set part is written from it: a change to
# any of them invalidates the store, and with it the parts kept from an earlier training set
BUILDER_MODULES = ("builder", "contract", "definitions", "engine", "journey", "plan", "spine", "store", "titles",
                   "training_file", "training_set")
PART, EXTRA, ENTRY = "part.parquet", "extra.parquet", "entry.json"
FILES = (PART, EXTRA)


@dataclass(frozen=True)
class Visibility:
    """When a row of a table becomes known to a cutoff, and what of it a cutoff sees before a later change.

    ``known``: SQL, the moment the row is known (a cutoff ``t`` sees it when ``known < t``).
    ``changes``: SQL, the moment part of the row changes (a deal closes, a lead is
    disqualified), or None; before it a cutoff sees the row with ``before`` (column ->
    SQL value); from it on, the row as it is. ``ignored``: columns no feature or
    population rule reads as a value (``ingested_at`` only decides when an event is known; ``event_id`` only
    which copies of an event are duplicates, and the digests read the events after those are dropped).
    """

    known: str
    changes: str | None = None
    before: dict[str, str] = field(default_factory=dict)
    ignored: tuple[str, ...] = ()


# when each table's rows become known, the rules of features.builder and features.spine restated as visibility (the
# store's tests restate and add rows of each to check them); also what `leadscore generate` keeps with generate.as_of
VISIBILITY = {
    "events": Visibility(EVENT_KNOWN_AT, ignored=("ingested_at", "event_id")),
    "identities": Visibility("identified_at"),
    "leads": Visibility("created_at", "disqualified_at", {"disqualified_at": "NULL"}),
    "deals": Visibility("created_at", "closed_at", {"status": "'open'", "closed_at": "NULL", "amount": "NULL"}),
    "lifecycle": Visibility("changed_at"),
    "feedback": Visibility('"at"'),
}
STORED_FROM = ("events", "identities", "leads", "deals", "lifecycle")


def _day(ts: str) -> str:
    """SQL: the day number of moment ``ts``. Cutoffs are midnights, so a cutoff ``t`` sees a row known at ``ts``
    (``ts < t``) exactly when ts's day is before t's day (``Grid.first_after``)."""
    return f"CAST(epoch_us({ts}) // {US_PER_DAY} AS BIGINT)"


def row_hash(columns: str) -> str:
    """SQL: a row's hash, as a HUGEINT to be summed, of the comma-separated SQL ``columns``.

    DuckDB's ``hash(a, b)`` combines its columns' hashes linearly (``hash(x, 0)`` XOR
    ``hash(x, 1)`` is the same for every ``x``), so in a sum two rows whose last column
    changed the same way could cancel out with odds of one in 2^24; hashing that hash again
    mixes it, and only a 64-bit coincidence is left."""
    return f"CAST(hash(hash({columns})) AS HUGEINT)"


def input_digests(con: duckdb.DuckDBPyConnection, cutoffs: list[datetime], tables: list[str],
                  extras: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """For each cutoff (in order), each table's digest of what the cutoff could see: ``"rows:hash sum"``.

    One grouped pass over each table; ``tables`` are the views of ``con`` to digest (of `STORED_FROM`: the
    tables a stored row is built from; feedback never is, features/README.md). A row is hashed on the columns a
    stored row can depend on: the contract's, and of the leads the plan's ``extras``; not the display columns
    beside them (a CRM reassigns owners every week, which would rebuild every cutoff).
    """
    grid = Grid.of(cutoffs)
    digests: list[dict[str, str]] = [{} for _ in range(grid.count)]
    for table in tables:
        rule = VISIBILITY[table]
        read = {*TABLES[table].names, *(extras if table == "leads" else ())} - set(rule.ignored)
        columns = [c for c in as_engine(con).columns(table) if c in read]
        after = ", ".join(sql_identifier(c) for c in columns)
        before = ", ".join(rule.before.get(c, sql_identifier(c)) for c in columns)
        known = _day(rule.known)
        if rule.changes not in columns:
            contributions = f"SELECT {known} AS day, {row_hash(after)} AS h, 1 AS n FROM {table}"
        else:  # the row as first seen; then, where it changes, the swap from that to the row as it is
            changes = f"greatest({known}, {_day(rule.changes)})"
            contributions = f"""
                SELECT {known} AS day, {row_hash(before)} AS h, 1 AS n FROM {table}
                UNION ALL
                SELECT {changes}, {row_hash(after)} - {row_hash(before)}, 0
                FROM {table} WHERE {rule.changes} IS NOT NULL"""
        # grouped by day first (hundreds of groups), and only those days mapped to cutoffs: the cutoff arithmetic
        # on every one of 131.8M events cost a second (4.6 s -> 3.6 s at 1M leads)
        by_day = f"SELECT day, sum(h) AS h, sum(n) AS n FROM ({contributions}) GROUP BY day"
        sums = dict.fromkeys(range(grid.count), (0, 0))
        for k, h, n in con.execute(f"SELECT lo, sum(h), sum(n) FROM (SELECT {grid.first_after('day')} AS lo, h, n "
                                   f"FROM ({by_day})) WHERE lo < {grid.count} GROUP BY lo").fetchall():
            sums[k] = (int(h), int(n))
        total_h = total_n = 0
        for k in range(grid.count):
            total_h, total_n = total_h + sums[k][0], total_n + sums[k][1]
            digests[k][table] = f"{total_n}:{total_h}"
    return digests


def as_of_sql(table: str, columns: list[str], moment: str) -> str:
    """SQL over ``table``: its rows as they stood at ``moment`` (SQL): those known before it, and a row that
    changed at or after it as it was before the change. ``leadscore generate`` with ``generate.as_of``."""
    rule = VISIBILITY[table]
    changes = rule.changes if rule.changes in columns else None
    shown = ", ".join(f"CASE WHEN {changes} >= {moment} THEN {rule.before[c]} ELSE {sql_identifier(c)} END "
                      f"AS {sql_identifier(c)}" if changes and c in rule.before else sql_identifier(c)
                      for c in columns)
    return f"SELECT {shown} FROM {table} WHERE {rule.known} < {moment}"


def settings_digests(plan: FeaturePlan, features: FeatureSpec, stage: StageSpec, population: dict) -> dict[str, str]:
    """Digests of what decides a stored row besides the data, one a part, so a rebuild can say which changed."""
    here = Path(__file__).parent
    code = hashlib.sha256()
    for module in BUILDER_MODULES:
        code.update((here / f"{module}.py").read_bytes())
    parts = {
        "builder": {"code": code.hexdigest(), "duckdb": duckdb.__version__, "format": STORE_FORMAT},
        "feature settings": {"features": features.model_dump(mode="json"), "stage": stage.model_dump(mode="json")},
        "feature plan": _values_of(plan),
        "population rules": population,
    }
    return {name: digest(value) for name, value in parts.items()}


def digest(value) -> str:
    """SHA-256 of a JSON value, independent of its keys' order."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _values_of(plan: FeaturePlan) -> dict:
    """What of a plan decides the stored values: not the reasons features were left out (they name the latest
    cutoff), nor the order of an extra's kept categories (most frequent first, which a week can reorder)."""
    record = {k: v for k, v in plan.to_record().items() if k != "left_out"}
    record["extras"] = [{**e, "categories": None if e["categories"] is None else sorted(e["categories"])}
                        for e in record["extras"]]
    return record


@dataclass(frozen=True)
class Entry:
    """What one stored cutoff was built from; the label columns of its part (left out when read); its files' sizes
    and checksums."""

    cutoff: str
    settings: dict[str, str]
    inputs: dict[str, str]
    labels: list[str]
    rows: int
    files: dict[str, dict]


def _entry_of(record, cutoff: datetime) -> Entry | None:
    """The entry read from a cutoff's entry.json, when it is one of ``cutoff`` whose every field has its type
    (each digest ``"rows:hash sum"``, each file its size and checksum); else None (damaged, or another format)."""
    def texts(value) -> bool:
        return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())

    try:
        entry = Entry(**record)
    except TypeError:
        return None
    files_ok = isinstance(entry.files, dict) and all(
        isinstance(entry.files.get(name), dict) and type(entry.files[name].get("bytes")) is int
        and isinstance(entry.files[name].get("sha256"), str) for name in FILES)
    digests_ok = texts(entry.inputs) and all(re.fullmatch(r"\d+:-?\d+", v) for v in entry.inputs.values())
    if entry.cutoff == f"{cutoff:%Y-%m-%d}" and texts(entry.settings) and digests_ok and files_ok:
        return entry
    return None


def _labels_agree(labels, folder: Path) -> bool:
    """Whether ``labels`` (an entry's) are exactly what the part holds beyond the rest of the population: the
    columns left out when stored rows are read, so no label of an earlier build can be read as a feature. Two
    footers are read, not the rows."""
    if not isinstance(labels, list) or not all(isinstance(c, str) for c in labels):
        return False
    try:
        part, extra = (pq.read_schema(folder / name).remove_metadata() for name in FILES)
    except (OSError, ValueError, pa.ArrowException):
        return False
    kept = [f for f in part if f.name not in labels]
    return set(labels) <= set(part.names) and pa.schema(kept).equals(extra)


class FeatureStore:
    """A folder of stored cutoffs: ``cutoff=YYYY-MM-DD/`` with ``part.parquet``, ``extra.parquet`` and ``entry.json``."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def folder(self, cutoff: datetime) -> Path:
        return self.root / f"cutoff={cutoff:%Y-%m-%d}"

    def rows(self, cutoff: datetime) -> str:
        """SQL: the stored feature rows of ``cutoff`` (its whole population, lead_id, account_id, cutoff and the
        features; no label), in no order. Only for a cutoff whose ``problem`` is None."""
        folder = self.folder(cutoff)
        labels = Entry(**json.loads((folder / ENTRY).read_text())).labels
        files = ", ".join(sql_path(folder / name) for name in FILES)
        shown = f"* EXCLUDE ({', '.join(sql_identifier(c) for c in labels)})" if labels else "*"
        return f"SELECT {shown} FROM read_parquet([{files}], hive_partitioning = false, union_by_name = true)"

    def entered(self, cutoff: datetime) -> str:
        """SQL: the stored rows of ``cutoff`` that were not in the spine when it was stored (``extra.parquet``):
        where a row that enters the spine later is found without reading the part."""
        return f"SELECT * FROM read_parquet({sql_path(self.folder(cutoff) / EXTRA)}, hive_partitioning = false)"

    @contextmanager
    def locked(self) -> Iterator[FeatureStore]:
        """The store for this build alone; leftovers of an interrupted build are removed."""
        if self.root.exists() and not self.root.is_dir():
            raise UserError(f"the feature store {self.root} is a file, not a folder: give --store a folder of its "
                            "own (or move the file away)")
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UserError(f"another build is using the feature store {self.root}: wait for it to finish, "
                                "or give this one its own with --store") from None
            for leftover in self.root.glob("cutoff=*/*.tmp-*"):
                remove(leftover)
            yield self

    def problem(self, cutoff: datetime, verify: bool = True) -> tuple[Entry | None, str | None]:
        """The cutoff's entry if its rows can be read, else why not (None, None: never stored).

        ``verify``: the rows will be read, so their checksum and label columns are checked (reading 2 GB at 1M
        leads and 33 cutoffs); without it, their size only, for a cutoff whose rows this build does not read."""
        folder = self.folder(cutoff)
        if not folder.exists():
            return None, None
        try:
            record = json.loads((folder / ENTRY).read_text())
        except FileNotFoundError:
            return None, "incomplete: its rows were written but never recorded (an interrupted build)"
        except (OSError, ValueError):
            return None, "its entry.json is unreadable"
        entry = _entry_of(record, cutoff)
        if entry is None:
            return None, "its entry.json is of another store format (an earlier leadscore) or damaged"
        for name in FILES:
            path, recorded = folder / name, entry.files[name]
            if not path.is_file():
                return None, f"its rows file {name} is missing"
            if path.stat().st_size != recorded["bytes"] or (verify and file_sha256(path) != recorded["sha256"]):
                return None, f"its rows file {name} is corrupted (size or checksum differs from its entry)"
        if verify and not _labels_agree(entry.labels, folder):
            return None, "its files and entry.json disagree on its label columns (damaged)"
        return entry, None

    def holds(self, entry: Entry, part: Path) -> bool:
        """Whether ``part`` (the previous training set's part of ``entry``'s cutoff, to be taken over as it is) is
        the part the store recorded, byte for byte: usually the same file under a second name, so a flipped byte
        in either is in both, and a training set must not take it over unread."""
        recorded = entry.files[PART]
        return part.is_file() and part.stat().st_size == recorded["bytes"] and file_sha256(part) == recorded["sha256"]

    def begin(self, cutoff: datetime) -> Path:
        """Start storing ``cutoff``: its entry goes first (a build that stops before ``put`` leaves none, so
        nothing is reused); where to write the rest of its population, for ``put``. Whatever stands where its
        folder or files go (a file, a folder: a damaged store) is removed."""
        folder = self.folder(cutoff)
        if not folder.is_dir():
            remove(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name in (ENTRY, *FILES):
            if (folder / name).is_dir():
                remove(folder / name)
        (folder / ENTRY).unlink(missing_ok=True)
        return folder / f"{EXTRA}.tmp-{os.getpid()}"

    def put(self, cutoff: datetime, part: Path, extra: Path, labels: list[str], settings: dict[str, str],
            inputs: dict[str, str]) -> None:
        """Store ``cutoff`` (after ``begin``): ``part``, its training-set part just written (linked, not copied,
        where the file system allows), whose columns ``labels`` are left out when read; ``extra``, the rest of its
        population as written where ``begin`` said; then its entry, so that an entry always describes whole files."""
        folder = self.folder(cutoff)
        linked = folder / f"{PART}.tmp-{os.getpid()}"
        linked.unlink(missing_ok=True)  # never copied into: it could be another file's second name
        link_or_copy(part, linked)
        os.replace(linked, folder / PART)
        os.replace(extra, folder / EXTRA)
        files = {name: {"bytes": (folder / name).stat().st_size, "sha256": file_sha256(folder / name)}
                 for name in FILES}
        rows = sum(pq.ParquetFile(folder / name).metadata.num_rows for name in FILES)
        entry = Entry(f"{cutoff:%Y-%m-%d}", settings, inputs, list(labels), rows, files)
        written = folder / f"{ENTRY}.tmp-{os.getpid()}"
        written.write_text(json.dumps(asdict(entry), indent=1))
        os.replace(written, folder / ENTRY)


def why_rebuilt(entry: Entry, settings: dict[str, str], inputs: dict[str, str]) -> str | None:
    """Why a stored cutoff cannot be reused with these settings and inputs; None when it can."""
    changed = [name for name, digest in settings.items() if entry.settings.get(name) != digest]
    if changed:
        return f"{' and '.join(changed)} changed"
    if set(entry.inputs) != set(inputs):
        gained, lost = sorted(set(inputs) - set(entry.inputs)), sorted(set(entry.inputs) - set(inputs))
        return "the export's tables changed (" + ", ".join([f"+{t}" for t in gained] + [f"-{t}" for t in lost]) + ")"
    for table, digest in inputs.items():
        if entry.inputs[table] != digest:
            before, now = int(entry.inputs[table].split(":")[0]), int(digest.split(":")[0])
            if now > before:
                late = "late rows without ingested_at?" if table == "events" else "rows dated before it, added since"
                return f"{table}: {now - before:,} more rows known at this cutoff ({late})"
            return f"{table}: rows known at this cutoff changed (history restated)"
    return None


@dataclass
class StoreUse:
    """What a build did with the store: cutoffs reused, rebuilt (and why), added; and of the reused, those whose
    training-set part was kept as it was (from the previous training set, or the store's: same features, and
    the same labels for its rows), and of those, the ones given a file of the rows that entered their spine
    since (``later``)."""

    path: str
    reused: list[datetime] = field(default_factory=list)
    rebuilt: dict[datetime, str] = field(default_factory=dict)
    added: list[datetime] = field(default_factory=list)
    kept: list[datetime] = field(default_factory=list)
    later: list[datetime] = field(default_factory=list)

    @property
    def built(self) -> list[datetime]:
        return sorted([*self.rebuilt, *self.added])

    def to_record(self) -> dict:
        return {"path": self.path, "reused": len(self.reused), "rebuilt": len(self.rebuilt), "added": len(self.added),
                "parts_kept": len(self.kept), "parts_given_later_rows": len(self.later),
                "reasons": dict(Counter(self.rebuilt.values())),
                "rebuilt_cutoffs": [{"cutoff": t.isoformat(), "reason": r} for t, r in sorted(self.rebuilt.items())]}


def decide(store: FeatureStore, cutoffs: list[datetime], settings: dict[str, str], inputs: list[dict[str, str]],
           rebuild: bool, keep: dict[datetime, Path] | None = None) -> tuple[StoreUse, dict[datetime, Path]]:
    """Which cutoffs the store can give as they are, and which must be built (and why); and of ``keep`` (cutoff
    -> a part of the previous training set that would be taken over as it is), those that can be.

    A part in ``keep`` is checked against the store's checksum of its cutoff's part (``FeatureStore.holds``), and
    then the store's files of that cutoff are not (their rows are not read: 2 GB at 1M leads); a part that is not
    the stored one is not kept, and the store's files are checked as for any cutoff whose rows are read."""
    use, keep = StoreUse(str(store.root)), keep or {}
    cutoffs = sorted(cutoffs)

    def found(t: datetime) -> tuple[Entry | None, str | None, bool]:
        if t in keep and not rebuild:
            entry, problem = store.problem(t, verify=False)
            if entry is not None and store.holds(entry, keep[t]):
                return entry, problem, True
        return *store.problem(t), False

    # the checksums read a GB at 1M leads; hashlib lets go of the GIL, so each core hashes a file at a time
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        checked = list(pool.map(found, cutoffs))
    kept = {t: keep[t] for t, (_, _, whole) in zip(cutoffs, checked) if whole}
    for t, seen, (entry, problem, _) in zip(cutoffs, inputs, checked):
        if rebuild and (entry or problem):
            use.rebuilt[t] = "--rebuild"
        elif problem:
            use.rebuilt[t] = problem
        elif entry is None:
            use.added.append(t)
        elif reason := why_rebuilt(entry, settings, seen):
            use.rebuilt[t] = reason
        else:
            use.reused.append(t)
    return use, {t: part for t, part in kept.items() if t in use.reused}


def runs(cutoffs: list[datetime], grid: list[datetime]) -> list[list[datetime]]:
    """``cutoffs`` split into runs of consecutive cutoffs of ``grid``: each run is one build, sharing one pass."""
    position = {t: i for i, t in enumerate(sorted(grid))}
    out: list[list[datetime]] = []
    for t in sorted(cutoffs):
        if out and position[t] == position[out[-1][-1]] + 1:
            out[-1].append(t)
        else:
            out.append([t])
    return out
