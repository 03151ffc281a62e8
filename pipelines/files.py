"""Files the pipeline writes: in place only when complete, and their digests.

Every output (training set, metrics, CSV, report, validation results) goes through
``atomic_path``: written beside its target and renamed onto it only when the block
succeeds, so a failed or killed run leaves the previous file (or folder) as it was.
"""

from __future__ import annotations

import functools
import glob
import hashlib
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from features.training_file import file_sha256, remove  # noqa: F401 (remove: this module's callers)


@contextmanager
def atomic_path(target: str | Path, suffix: str = ""):
    """Yield a temporary path beside ``target``; move it onto ``target`` only if the block succeeds.

    The block makes it a file or a folder (a training set is a folder of parts). A file
    replaces the target in one rename. A folder cannot replace a folder in one, so the old
    one is first renamed aside, the new one renamed into place, and the old one removed:
    between the two renames (microseconds) the target is missing, never partial, and if the
    second rename fails the old one is put back. A folder is only ever replaced by a folder
    (a file result onto a folder is refused: the folder may hold anything).
    """
    target = Path(target)
    tmp = temporary_beside(target, suffix=suffix or target.suffix)
    try:
        yield tmp
        if tmp.is_dir():
            _replace_folder(tmp, target)
        elif target.is_dir():
            raise IsADirectoryError(f"{target} is a folder: it is left as it is; write the file to a path of its own")
        else:
            os.replace(tmp, target)
    finally:
        remove(tmp)


def temporary_beside(target: Path, tag: str = "", suffix: str = "") -> Path:
    """A new name beside ``target`` (nothing is made there) for this process to write ``target``'s next version
    in: ``.NAME.OWNER-PID.TAGxxxxxxxx SUFFIX``. First, what killed runs of this machine left there (``kill -9``
    or a power cut: nothing got to remove it) is removed: a temporary path of ``target`` whose process is of
    this kernel and PID namespace and no longer running. Others are left: on a file system shared between
    machines or containers, a name from elsewhere may be a run still going."""
    target.parent.mkdir(parents=True, exist_ok=True)
    here = _namespace()
    if here is not None:
        mine = f".{target.name}.{here}-"
        for leftover in target.parent.glob(f"{glob.escape(mine)}*"):
            pid = leftover.name[len(mine):].split(".", 1)[0]
            if pid.isdigit() and not _running(int(pid)):
                remove(leftover)
    owner = f"{here or 'x'}-{os.getpid()}"
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{owner}.{tag}", suffix=suffix, dir=target.parent)
    os.close(fd)
    os.unlink(tmp)
    return Path(tmp)


@functools.cache
def _namespace() -> str | None:
    """This kernel's boot and this process's PID namespace, within which a process number names one process;
    None where they cannot be read (not Linux)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace("-", "")[:12]
        return f"{boot}{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        return None


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only whether the process exists (PermissionError: it does, another user's)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _replace_folder(new: Path, target: Path) -> None:
    aside = None
    if target.exists() or target.is_symlink():
        aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        aside.rmdir()
        os.rename(target, aside)
    try:
        os.rename(new, target)
    except BaseException:
        if aside is not None:
            os.rename(aside, target)
        raise
    if aside is not None:
        remove(aside)


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes; of a folder, of each file's name and digest in name order."""
    path = Path(path)
    if path.is_dir():
        sha = hashlib.sha256()
        for member in sorted(p for p in path.rglob("*") if p.is_file()):
            sha.update(f"{member.relative_to(path).as_posix()}\0{file_digest(member)}\n".encode())
        return sha.hexdigest()
    return file_sha256(path)
