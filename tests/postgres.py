"""A throwaway PostgreSQL server for tests: ``initdb`` into a temp dir, ``pg_ctl start``, Unix socket only.

``initdb`` refuses to run as root (and CI runs as root), so as root every server
command runs as the ``postgres`` system user via ``runuser``, in folders owned by it.
Without ``initdb`` on PATH the fixture skips, except under ``CI`` where it fails:
CI must not silently skip the PostgreSQL tests.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

SERVER_USER = "postgres"


def _free_port() -> int:
    # the server listens on a Unix socket only, so the number merely names the socket file; still pick an unused one
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _missing(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the PostgreSQL tests (install PostgreSQL server binaries)", pytrace=False)
    pytest.skip(reason)


def _as_server_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", SERVER_USER, "--", *argv] if os.geteuid() == 0 else argv


def _run(argv: list[str], timeout: float = 120) -> None:
    done = subprocess.run(_as_server_user(argv), capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """Start a server; yield its SQLAlchemy URL (psycopg2 over the Unix socket); stop it and delete its files."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb is None or pg_ctl is None:
        _missing("PostgreSQL server binaries (initdb, pg_ctl) are not on PATH")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        _missing("psycopg2 is not installed (pip install 'leadscore[postgres]')")
    root = Path(tempfile.mkdtemp(prefix="leadscore-pg-"))
    data, sockets = root / "data", root / "sock"
    data.mkdir()
    sockets.mkdir()
    if os.geteuid() == 0:
        for folder in (root, data, sockets):
            shutil.chown(folder, user=SERVER_USER, group=SERVER_USER)
        root.chmod(0o700)
    port = _free_port()
    started = False
    try:
        _run([initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
        options = (f"-k {sockets} -p {port} -c listen_addresses='' -c fsync=off "
                   "-c shared_buffers=16MB -c max_connections=30")
        _run([pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "server.log"), "-w", "-t", "60", "start"])
        started = True
        yield f"postgresql+psycopg2://postgres@/postgres?host={sockets}&port={port}"
    finally:
        if started:
            try:
                _run([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"])
            except (RuntimeError, subprocess.TimeoutExpired):
                _run([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def new_database(server_url: str, prefix: str = "test") -> Iterator[str]:
    """A database of its own on the server at ``server_url`` (so tests cannot see each other's rows); dropped after."""
    import time

    from sqlalchemy import create_engine, text

    name = f"{prefix}_{os.getpid()}_{time.monotonic_ns()}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield server_url.replace("/postgres?", f"/{name}?")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
