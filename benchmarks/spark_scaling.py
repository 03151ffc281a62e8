"""DuckDB against Spark in local mode and on a standalone cluster: wall time and the peak memory of each process.

Usage: ``python -m benchmarks.spark_scaling DATA_DIR [STEP ...]`` (steps of ``benchmarks.steps``:
``features-1``, the scoring path, and ``features-12``, a 12-cutoff training set; default both).
For each step it runs, one process at a time: DuckDB (``STEP``), Spark ``local[2]``
(``spark-STEP``) and Spark on a standalone cluster of two workers with one core each on
127.0.0.1 (started here from the PySpark install, ``benchmarks/spark_cluster.py``). A sampler
reads the resident memory of every process of the run twice a second and keeps the peak of
each role: the Python process, the Spark driver JVM, and each executor JVM. Prints one
Markdown row per run and writes ``benchmarks/spark-scaling.json``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROLES = (("executor", "CoarseGrainedExecutorBackend"), ("driver", "org.apache.spark.deploy.SparkSubmit"),
         ("python", "benchmarks.steps"))


def _processes() -> dict[int, tuple[str, int]]:
    """pid -> (command line, resident bytes) of every process."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            rss = int((entry / "statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
        found[int(entry.name)] = (command, rss)
    return found


class Sampler(threading.Thread):
    """The peak resident memory of each role (each executor on its own), sampled every half second."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peaks: dict[str, int] = {}
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            for pid, (command, rss) in _processes().items():
                for role, marker in ROLES:
                    if marker in command:
                        key = f"{role} {pid}" if role == "executor" else role
                        self.peaks[key] = max(self.peaks.get(key, 0), rss)
                        break
            self.done.wait(0.5)


def run(step: str, data_dir: str, env: dict) -> dict:
    sampler = Sampler()
    sampler.start()
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "benchmarks.steps", step, data_dir], capture_output=True, text=True,
                            env={**os.environ, **env})
    wall = time.perf_counter() - started
    sampler.done.set()
    sampler.join()
    found = re.search(r"RESULT step=\S+ rows=(\d+) seconds=([0-9.]+)", result.stdout)
    if result.returncode or not found:
        raise SystemExit(f"{step} failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    executors = [v for k, v in sampler.peaks.items() if k.startswith("executor")]
    return {"step": step, "rows": int(found.group(1)), "step_seconds": float(found.group(2)), "wall_seconds": wall,
            "python_gib": sampler.peaks.get("python", 0) / 2**30, "driver_gib": sampler.peaks.get("driver", 0) / 2**30,
            "executor_gib": [e / 2**30 for e in executors]}


def main() -> None:
    from benchmarks.spark_cluster import standalone_cluster

    data_dir, steps = sys.argv[1], sys.argv[2:] or ["features-1", "features-12"]
    rows = []
    with tempfile.TemporaryDirectory() as scratch, \
            standalone_cluster(Path(scratch) / "cluster", workers=2, cores=1, memory="3g") as cluster:
        for step in steps:
            for engine, name, env in (("DuckDB", step, {}),
                                      ("Spark local[2]", f"spark-{step}", {"BENCH_SPARK_MASTER": "local[2]"}),
                                      ("Spark standalone, 2 workers x 1 core", f"spark-{step}",
                                       {"BENCH_SPARK_MASTER": cluster.url, "BENCH_SPARK_MEMORY": "2g",
                                        "BENCH_SPARK_EXECUTOR_MEMORY": "2g"})):
                measured = run(name, data_dir, env) | {"engine": engine, "data": data_dir,
                                                       "load": os.getloadavg()[0]}
                rows.append(measured)
                executors = ", ".join(f"{e:.2f}" for e in measured["executor_gib"]) or "—"
                print(f"| {data_dir} | {step} | {engine} | {measured['step_seconds']:.1f} s | "
                      f"{measured['wall_seconds']:.1f} s | {measured['python_gib']:.2f} | "
                      f"{measured['driver_gib']:.2f} | {executors} | {measured['load']:.1f} |", flush=True)
    out = Path(__file__).with_name("spark-scaling.json")
    earlier = json.loads(out.read_text()) if out.exists() else []
    out.write_text(json.dumps(earlier + rows, indent=2))


if __name__ == "__main__":
    main()
