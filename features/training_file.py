"""The training set's format: a folder of Parquet parts, one per cutoff, carrying the feature plan it was built with.

A model trained on the set must rebuild the same columns and values when it scores, so
the set holds, as metadata, the plan and the feature and stage settings its SQL was
written from (``params.yaml`` may change between ``build-training-set`` and ``train``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from features.definitions import FeatureSpec, StageSpec, sql_path
from features.plan import FeaturePlan

PART_METADATA = "leadscore.part"
"""The Parquet metadata key under which each part says what it was built from (``features.training_set``)."""
COMMON = "_common_metadata"  # the folder's schema and plan: Parquet's own name, which readers skip as a data file
CHECKSUMS = "_checksums.json"  # the SHA-256 of each file of later rows ('_': readers skip it as a data file)


LATER = "-later"  # the name's mark of a file of a cutoff's later rows


def part_name(cutoff: datetime, later: bool = False) -> str:
    """A part's file name: in cutoff order when sorted, as readers of a folder list them. ``later``: the file of a
    cutoff's rows that entered its spine after its part was written (``TrainingParts.write``)."""
    return f"part-{cutoff:%Y-%m-%d}{LATER if later else ''}.parquet"


class TrainingParts:
    """A training set written as a folder, one Parquet part per cutoff, and ``_common_metadata`` with the plan.

    One file per cutoff, so a week's retraining writes only the parts that changed (the
    new cutoff, and any whose labels or features did) and takes the others over as they
    are (``link``): rewriting one file of every cutoff cost 65 s at 1M leads, all of it
    encoding. The plan is in ``_common_metadata`` only (Parquet's convention for a
    folder's schema), not in the parts: its left-out reasons name the latest cutoff, and
    a part kept from last week must not carry last week's. Each part carries its own
    record (``PART_METADATA``): what it was built from, which decides whether next week
    may keep it.

    A cutoff's part may have a second file beside it (``part_name(t, later=True)``): the rows
    that entered its spine since the part was written (censored rows whose deal has closed;
    a few hundred a cutoff at 1M leads), so that a week's new outcomes do not re-encode the
    whole part (17 of 32 parts, half of a week's build). Same columns, same types; a full
    rebuild has the same rows in one file. ``read_training_set`` reads every file in
    (cutoff, lead_id) order, as a full rebuild's rows are. The checksums of those files are in
    ``_checksums.json`` (`CHECKSUMS`): a later build takes one over only while its bytes are the
    ones written (a part is checked against the feature store's entry, whose file it is).
    """

    def __init__(self, folder: Path, metadata: dict[str, str] | None = None):
        """Start the training set ``folder``: what a training set written there before held is removed first
        (a part of a cutoff this one lacks must not stay readable with it)."""
        self.folder = Path(folder)
        if self.folder.is_file():  # a training set of one file, as leadscore wrote them before parts
            self.folder.unlink()
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in [*self.folder.glob("part-*.parquet"), self.folder / COMMON, self.folder / CHECKSUMS]:
            old.unlink(missing_ok=True)
        self.metadata = metadata or {}
        self._schema = None
        self._checksums: dict[str, str] = {}

    def write(self, cutoff: datetime, relation, record: dict | None = None,
              rest: tuple[Path, str, list[str]] | None = None, later: bool = False) -> Path:
        """Cutoff ``cutoff``'s rows (a DuckDB relation, in lead_id order) as its part, with ``record``; its path.
        ``rest``: the rows are split on a column as they are written (``write_rows``). ``later``: the rows are
        those that entered the spine since its part (kept) was written, in the file beside it."""
        own = {PART_METADATA: json.dumps(stamped(cutoff, record or {}), sort_keys=True)}
        path = self.folder / part_name(cutoff, later)
        schema = write_rows(path, relation, own, rest)
        self._schema = self._schema or schema
        if later:
            self._checksums[path.name] = file_sha256(path)
        return path

    def link(self, cutoff: datetime, part: Path, later: bool = False, checksum: str | None = None) -> None:
        """Take over ``part``, an earlier build's part of ``cutoff`` (``later``: its file of later rows, whose
        ``checksum`` was checked), as it is: a hard link (no copy) where the file system allows."""
        target = self.folder / part_name(cutoff, later)
        link_or_copy(part, target)
        self._schema = self._schema or pq.read_schema(target)
        if later:
            self._checksums[target.name] = checksum

    def close(self) -> None:
        """Write ``_common_metadata``: the parts' schema with the plan; and the checksums of the files of later
        rows; the folder is complete."""
        if self._schema is None:
            raise RuntimeError(f"no part was written to {self.folder}")
        pq.write_metadata(self._schema.remove_metadata().with_metadata(self.metadata), self.folder / COMMON)
        if self._checksums:
            (self.folder / CHECKSUMS).write_text(json.dumps(self._checksums, indent=1, sort_keys=True))


def link_or_copy(source: Path, target: Path) -> None:
    """``target`` as a second name of ``source`` (a hard link: nothing is written), or a copy where the file system
    cannot link (another device). ``target`` must not exist: a copy is never written into another file."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def remove(path: Path) -> None:
    """Remove a file or a folder (a training set is one), if it is there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes: what says a kept file is the one written."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def later_checksums(folder: Path) -> dict[str, str]:
    """The checksums training set ``folder`` recorded for its files of later rows (file name -> SHA-256); none
    when its record is missing or unreadable (those files are then written again, never kept)."""
    try:
        recorded = json.loads((folder / CHECKSUMS).read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in recorded.items() if isinstance(v, str)} if isinstance(recorded, dict) else {}


# a row group per batch; DuckDB 2.0 hands out at most 122,880 rows a batch (~135 MB at ~140 columns), and asking for
# more changes nothing
BATCH_ROWS = 122_880


def write_rows(path: Path, relation, metadata: dict[str, str] | None = None,
               rest: tuple[Path, str, list[str]] | None = None) -> pa.Schema:
    """The rows of a DuckDB relation as the Parquet file ``path`` (zstd, a row group per batch), with ``metadata``;
    the schema written. Every file of a training set and of the feature store is written here, so the same rows
    have the same Parquet types wherever they are.

    ``rest`` = (file, flag, dropped): only the rows whose boolean column ``flag`` is true go to ``path``, and the
    others to ``file``, both without ``flag``, ``file`` also without ``dropped``. One pass over the rows writes
    both (a feature store's cutoff: the spine's rows to the training set, the rest of the population beside)."""
    batches = relation.to_arrow_reader(BATCH_ROWS)
    flag, dropped = (rest[1], {rest[1], *rest[2]}) if rest else (None, set())
    schema = pa.schema([f for f in batches.schema if f.name != flag])
    with ExitStack() as files:
        # from the result's schema, so that even no rows make a readable file
        writer = files.enter_context(pq.ParquetWriter(path, schema.with_metadata(metadata or {}), compression="zstd"))
        if rest is None:
            for batch in batches:
                writer.write_batch(batch)
            return schema
        other_schema = pa.schema([f for f in batches.schema if f.name not in dropped])
        other = files.enter_context(pq.ParquetWriter(rest[0], other_schema, compression="zstd"))
        for batch in batches:
            chosen = batch.column(flag)
            inside = pc.sum(chosen).as_py() or 0
            if inside:  # most batches are the spine's rows only, written without a copy
                writer.write_batch((batch if inside == batch.num_rows else batch.filter(chosen)).select(schema.names))
            if inside < batch.num_rows:
                other.write_batch(batch.filter(pc.invert(chosen)).select(other_schema.names))
    return schema


def part_files(path: Path | str) -> list[Path]:
    """The Parquet files of a training set, in cutoff order: a folder's parts, or the one file it is."""
    path = Path(path)
    return sorted(path.glob("part-*.parquet")) if path.is_dir() else [path]


def foreign_entries(folder: Path | str) -> list[str]:
    """What an existing folder holds that a training set does not (its parts and ``_common_metadata``): a new
    training set replaces its folder whole, so a folder holding anything else must not be its target."""
    ours = {COMMON, CHECKSUMS, *(p.name for p in part_files(folder))}
    return sorted(p.name for p in Path(folder).iterdir() if not (p.is_file() and p.name in ours))


def stamped(cutoff: datetime, record: dict) -> dict:
    """``record`` as a part of ``cutoff`` carries it (``TrainingParts.write``, ``part_record``)."""
    return {"cutoff": f"{cutoff:%Y-%m-%d}", **record}


def part_record(part: Path) -> dict:
    """What a part says it was built from (`TrainingParts.write`); {} for a file without a record or that cannot be
    read as Parquet (such a part of an earlier set is written again, never kept)."""
    try:
        metadata = pq.read_schema(part).metadata or {}
        return json.loads(metadata.get(PART_METADATA.encode(), b"{}"))
    except (OSError, ValueError, pa.ArrowException):
        return {}


def training_schema(path: Path | str):
    """The schema of a training set, with the metadata it carries (the plan): a folder's ``_common_metadata``,
    or the one file's."""
    path = Path(path)
    return pq.read_schema(path / COMMON if path.is_dir() else path)


def is_training_file(path: Path | str) -> bool:
    """Whether ``path`` is one Parquet file of a training set (as leadscore wrote them before parts): it carries
    the plan."""
    try:
        return PLAN_METADATA.encode() in (pq.read_schema(path).metadata or {})
    except (OSError, ValueError, pa.ArrowException):
        return False


def training_rows(path: Path | str) -> int:
    return sum(pq.ParquetFile(part).metadata.num_rows for part in part_files(path))


def read_training_set(path: Path | str) -> pd.DataFrame:
    """A training set as one frame, in (cutoff, lead_id) order: its parts only, named one by one (reading the
    folder would take in any other file put there, which no check has seen). Where a cutoff has rows in a second
    file (``TrainingParts``), the frame is put in that order, as a full rebuild's one file per cutoff is read."""
    files = part_files(path)
    frame = pd.read_parquet([p.as_posix() for p in files])
    if any(p.name.endswith(f"{LATER}.parquet") for p in files):
        frame = frame.sort_values(["cutoff", "lead_id"], kind="stable", ignore_index=True)
    return frame


def training_source(path: Path | str) -> str:
    """DuckDB SQL reading a training set (a folder of parts or one file): the files named one by one, each as it is
    named (``sql_path``), so that no other file is read with them."""
    files = ", ".join(sql_path(p.as_posix()) for p in part_files(path))
    return f"read_parquet([{files}], hive_partitioning = false)"


PLAN_METADATA = "leadscore.plan"
"""The Parquet metadata key under which a training set carries its feature plan and feature settings."""


def training_metadata(plan: FeaturePlan, spec: FeatureSpec, stage: StageSpec) -> dict[str, str]:
    """What a training file must carry so that the model trained on it rebuilds the same columns and values: the
    plan, and the feature and stage settings the SQL was written from (params.yaml may change before ``train``)."""
    return {PLAN_METADATA: json.dumps({**plan.to_record(), "feature_settings": spec.model_dump(mode="json"),
                                       "stage_settings": stage.model_dump(mode="json")})}
