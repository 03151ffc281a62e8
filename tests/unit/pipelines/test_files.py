"""``pipelines.files.atomic_path``: an output is in place whole or not at all, and never replaces what it should not."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines import files
from pipelines.files import atomic_path


def _tree(folder):
    return {p.relative_to(folder).as_posix(): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


def _old_set(tmp_path):
    """A folder ``set`` holding one old part."""
    target = tmp_path / "set"
    target.mkdir()
    (target / "part-old.parquet").write_text("old")
    return target


def _write_new_set(tmp):
    tmp.mkdir()
    (tmp / "part-new.parquet").write_text("new")


def test_a_folder_replaces_a_folder_and_nothing_is_left_beside_it(tmp_path):
    target = _old_set(tmp_path)
    with atomic_path(target) as tmp:
        _write_new_set(tmp)
    assert _tree(target) == {"part-new.parquet": "new"}
    assert [p.name for p in tmp_path.iterdir()] == ["set"]


def test_a_file_result_never_replaces_a_folder(tmp_path):
    target = tmp_path / "training"
    (target / "feature_store").mkdir(parents=True)
    (target / "metrics.json").write_text("{}")
    (target / "feature_store" / "entry.json").write_text("kept")
    with pytest.raises(IsADirectoryError, match="is a folder: it is left as it is"):
        with atomic_path(target) as tmp:
            tmp.write_text("a file")
    assert _tree(target) == {"feature_store/entry.json": "kept", "metrics.json": "{}"}
    assert [p.name for p in tmp_path.iterdir()] == ["training"]


def test_a_failed_swap_puts_the_old_folder_back(tmp_path, monkeypatch):
    target = _old_set(tmp_path)
    rename = os.rename

    def failing(source, destination):
        if str(source).startswith(str(tmp_path / ".set.")) and ".old-" not in str(source):  # the new folder moving in
            raise OSError(28, "No space left on device")
        return rename(source, destination)

    monkeypatch.setattr(os, "rename", failing)
    with pytest.raises(OSError, match="No space left"):
        with atomic_path(target) as tmp:
            _write_new_set(tmp)
    assert _tree(target) == {"part-old.parquet": "old"}
    assert [p.name for p in tmp_path.iterdir()] == ["set"]


def test_a_block_that_fails_leaves_the_target_as_it_was(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("before")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("the build failed")
    assert target.read_text() == "before" and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def _dead_pid() -> int:
    """The number of a process that has ended (and, being just ended, is not yet anyone else's)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _left_by(pid: int, tmp_path, name: str, here: str, tag: str = "") -> Path:
    """What a run killed while writing ``name`` leaves beside it: its temporary folder, half written."""
    leftover = tmp_path / f".{name}.{here}-{pid}.{tag}abc123"
    leftover.mkdir()
    (leftover / "part-half.parquet").write_text("half")
    return leftover


@pytest.mark.skipif(files._namespace() is None, reason="needs Linux's /proc to tell whether a process runs")
def test_what_a_killed_run_left_beside_its_target_goes_with_the_next_run(tmp_path):
    here = files._namespace()
    dead = _left_by(_dead_pid(), tmp_path, "set", here)
    dead_spark = _left_by(_dead_pid(), tmp_path, "set", here, tag="spark-")
    running = _left_by(os.getpid(), tmp_path, "set", here)  # a run still going: this one
    elsewhere = _left_by(_dead_pid(), tmp_path, "set", "0123456789ab4026531836")  # another machine or container
    other_target = _left_by(_dead_pid(), tmp_path, "settings", here)
    target = _old_set(tmp_path)

    with atomic_path(target) as tmp:
        _write_new_set(tmp)

    assert _tree(target) == {"part-new.parquet": "new"}
    assert not dead.exists() and not dead_spark.exists()
    assert running.exists() and elsewhere.exists() and other_target.exists()
