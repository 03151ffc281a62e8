"""A Spark standalone cluster on the loopback address, from the PySpark install: one master, N workers.

Each daemon is a JVM of its own, started with PySpark's ``spark-class`` in a process group
of its own, so that a test can SIGKILL one worker and teardown can stop everything,
executors included. Ports are free ones picked at start; the master's JSON page says
when the workers have registered.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Cluster:
    url: str  # spark://127.0.0.1:PORT
    ui: str  # the master's web UI, whose /json/ lists workers and applications
    workers: list = field(default_factory=list)  # Popen of each worker daemon
    logs: Path | None = None

    def state(self) -> dict:
        with urllib.request.urlopen(f"{self.ui}/json/", timeout=5) as page:
            return json.load(page)

    def alive_workers(self) -> int:
        return sum(1 for w in self.state().get("workers", []) if w.get("state") == "ALIVE")

    def running_apps(self) -> list[dict]:
        return self.state().get("activeapps", [])


def _spark_class() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "bin" / "spark-class"


def _start(args: list[str], log: Path, env: dict) -> subprocess.Popen:
    handle = log.open("wb")
    return subprocess.Popen([str(_spark_class()), *args], stdout=handle, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)


def _wait(condition, what: str, timeout: float, logs: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except OSError:
            pass
        time.sleep(0.5)
    tails = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}" for p in sorted(logs.glob("*.log")))
    raise RuntimeError(f"the Spark standalone cluster did not come up: {what} within {timeout:.0f} s\n{tails}")


@contextmanager
def standalone_cluster(folder: Path, workers: int = 2, cores: int = 1, memory: str = "3g"):
    """A master and ``workers`` workers (``cores`` cores, ``memory`` each) on 127.0.0.1; stopped on exit."""
    import pyspark

    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SPARK_HOME": str(Path(pyspark.__file__).parent), "SPARK_LOCAL_IP": "127.0.0.1",
           "SPARK_WORKER_DIR": str(folder / "work"), "SPARK_LOG_DIR": str(folder)}
    port, ui_port = free_port(), free_port()
    cluster = Cluster(f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{ui_port}", logs=folder)
    daemons = [_start(["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
                       "--webui-port", str(ui_port)], folder / "master.log", env)]
    try:
        _wait(lambda: "workers" in cluster.state(), "the master's page", 90, folder)
        for i in range(workers):
            worker = _start(["org.apache.spark.deploy.worker.Worker", cluster.url, "--host", "127.0.0.1",
                             "--cores", str(cores), "--memory", memory, "--webui-port", str(free_port()),
                             "--work-dir", str(folder / f"work-{i}")], folder / f"worker-{i}.log", env)
            cluster.workers.append(worker)
            daemons.append(worker)
        _wait(lambda: cluster.alive_workers() == workers, f"{workers} workers registered", 90, folder)
        yield cluster
    finally:
        for daemon in daemons:  # the whole group: a worker's executors are its children
            try:
                os.killpg(daemon.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            daemon.wait(timeout=30)
