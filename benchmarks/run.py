"""The benchmark harness behind ``make bench`` and ``make bench-quick``.

For each size of simulated data (leads), every step runs as its own process (see
``benchmarks/measure.py``), the whole list once per repeat, interleaved so that a
noisy minute spreads over all steps. Per step the median wall time, the largest peak
resident memory and every run are kept in ``benchmarks/results.json``; the rendered
tables go between markers in ``BENCHMARKS.md`` and the scaling plot to
``benchmarks/scaling.png``.

The work folder (default ``bench/``, ignored by git) holds the generated data, cached by
size, seed and a digest of the simulator's code and settings, and per size a params
file, an MLflow store, the training outputs, the scores and the step logs.

Usage: ``python -m benchmarks.run --sizes 10000,100000 --repeats 3`` (``--help`` for all options;
``--render-only`` redraws BENCHMARKS.md and the plot from results.json).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import yaml

from benchmarks import report
from benchmarks.agreement import compare
from benchmarks.measure import Run, run
from benchmarks.peers.shared import feature_names

REPO = Path(__file__).resolve().parents[1]
# the simulator's code and settings: a change to any of them makes a new cached dataset
GENERATOR_FILES = ("features/simulate.py", "features/simulate_titles.py", "features/_chain.py", "features/titles.py",
                   "features/spine.py", "pipelines/generate.py")
PEER_STEPS = ("pandas-1", "pandas-12", "featuretools-1", "featuretools-12")
# a benchmark measures the pipeline, not the model's gates: a small world may fail them, and scoring needs a champion
RELAXED_GATES = {"min_roc_auc": 0.0, "min_pr_auc_over_base_rate": 0.0, "min_pr_auc_gain_over_rules": -1.0,
                 "min_pr_auc_gain_over_logistic": -1.0, "min_precision_gain_over_baselines": -1.0,
                 "min_brier_skill": -1.0, "max_ece_over_base_rate": 100.0, "expected_over_actual_wins": [0.01, 100.0]}
# above this many leads, training reads every positive and a weighted sample of the negatives
# (train.negative_sample_rate = this / leads): 1M leads make ~16.7M training rows, ~70 GiB unsampled
FULL_TRAINING_MAX_LEADS = 100_000


@dataclass(frozen=True)
class Step:
    name: str
    label: str
    command: Callable[["SizeContext"], list[str]]
    peer: bool = False
    setup: bool = False  # run once per repeat but not shown as a benchmark row
    after: tuple[str, ...] = ()  # steps whose success this one needs (in the same repeat)


@dataclass
class SizeContext:
    leads: int
    seed: int
    data: Path
    folder: Path
    params: Path
    options: argparse.Namespace
    validate_command: str
    repeat: int = 0
    generate_into: Path | None = None
    tracking_uri: str = ""
    model_from: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def out(self) -> Path:
        return self.folder / "out"


def leadscore(*args) -> list[str]:
    return [str(Path(sys.executable).parent / "leadscore"), *map(str, args)]


def python_module(module: str, *args) -> list[str]:
    return [sys.executable, "-m", module, *map(str, args)]


def featuretools_python(options) -> Path:
    return Path(options.bench_python)


STEPS: tuple[Step, ...] = (
    Step("generate", "generate the data",
         lambda c: leadscore("generate", "--out", c.generate_into, "--leads", c.leads, "--seed", c.seed,
                             "--params", c.params)),
    Step("validate", "validate the export",
         lambda c: leadscore(c.validate_command, c.data, "--params", c.params)),
    Step("floor", "floor: one DuckDB pass over the events", lambda c: python_module("benchmarks.steps", "floor", c.data)),
    Step("features-1", "features, 1 cutoff (all features)",
         lambda c: python_module("benchmarks.steps", "features-1", c.data, c.out / "features-1.parquet")),
    Step("features-12", "training set, 12 cutoffs (all features)",
         lambda c: python_module("benchmarks.steps", "features-12", c.data, c.out / "features-12.parquet")),
    Step("spines", "the peers' rows", lambda c: python_module("benchmarks.steps", "spines", c.data, c.out), setup=True),
    Step("pandas-1", "pandas, 1 cutoff",
         lambda c: python_module("benchmarks.peers.pandas_features", c.data, c.out / "spine-1.parquet",
                                 c.out / "pandas-1.parquet"), peer=True, after=("spines",)),
    Step("pandas-12", "pandas, 12 cutoffs",
         lambda c: python_module("benchmarks.peers.pandas_features", c.data, c.out / "spine-12.parquet",
                                 c.out / "pandas-12.parquet"), peer=True, after=("spines",)),
    Step("featuretools-1", "featuretools DFS, 1 cutoff",
         lambda c: [str(featuretools_python(c.options)), "-m", "benchmarks.peers.featuretools_features", str(c.data),
                    str(c.out / "spine-1.parquet"), str(c.out / "featuretools-1.parquet")], peer=True, after=("spines",)),
    Step("featuretools-12", "featuretools DFS, 12 cutoffs",
         lambda c: [str(featuretools_python(c.options)), "-m", "benchmarks.peers.featuretools_features", str(c.data),
                    str(c.out / "spine-12.parquet"), str(c.out / "featuretools-12.parquet")], peer=True,
         after=("spines",)),
    Step("training-set", "training set, every mature cutoff (`leadscore build-training-set --rebuild`)",
         lambda c: leadscore("build-training-set", c.data, "--out", c.folder / "training" / "training_set.parquet",
                             "--params", c.params, "--rebuild")),
    Step("store-week", "training set, a week added to last week's feature store",
         lambda c: python_module("benchmarks.steps", "store-week", c.data, c.out / "store-week")),
    Step("train", "train, calibrate, baselines, MLflow (`leadscore train --truth`)",
         lambda c: leadscore("train", c.folder / "training" / "training_set.parquet", "--truth", c.data / "truth.parquet",
                             "--out", c.folder / "training", "--params", c.params), after=("training-set",)),
    Step("promote", "make the model champion",
         lambda c: leadscore("promote", c.folder / "training" / "training_set.parquet",
                             "--params", c.params), setup=True, after=("train",)),
    Step("score", "score end to end (`leadscore score`: features, model, reasons, SQLite, CSV, report)",
         lambda c: leadscore("score", c.data, "--db", f"sqlite:///{c.folder / 'score' / 'leadscore.db'}",
                             "--out", c.folder / "score", "--params", c.params)),
)
STEP_NAMES = tuple(s.name for s in STEPS)
# agreement checks: (peer output, leadscore output it must equal)
AGREEMENT = {"pandas-1": "features-1", "featuretools-1": "features-1", "pandas-12": "features-12",
             "featuretools-12": "features-12"}


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    results_path = Path(options.results)
    results = json.loads(results_path.read_text()) if results_path.exists() else {"sizes": {}}
    if not options.render_only:
        command = "python -m benchmarks.run " + " ".join(map(shlex.quote, argv if argv is not None else sys.argv[1:]))
        given = dict(item.split("=", 1) for item in options.data)
        failed_peers: dict[str, int] = {}
        for leads in options.sizes:
            entry = bench_size(leads, options, command, given.get(str(leads)), failed_peers)
            results["sizes"][str(leads)] = entry
            results["last_run"] = {k: entry[k] for k in ("date", "command", "machine")}
            results.pop("updated", None)
            results_path.write_text(json.dumps(results, indent=1, default=str) + "\n")
    write_outputs(results, options)
    print(report.render(results, only=[str(n) for n in options.sizes] if not options.render_only else None))
    return 0


def parse_args(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", type=lambda s: [int(x) for x in s.split(",") if x],
                        help="lead counts, comma-separated (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per step at sizes up to --repeat-max-leads")
    parser.add_argument("--repeat-max-leads", type=int, default=100_000, help="larger sizes run each step once")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip", default="", type=lambda s: [x for x in s.split(",") if x],
                        help=f"steps to leave out, comma-separated, of: {', '.join(STEP_NAMES)}")
    parser.add_argument("--data", action="append", default=[], metavar="LEADS=DIR",
                        help="use an existing export for a size instead of the cached generated one")
    parser.add_argument("--work", default=str(REPO / "bench"), help="work folder (data cache, stores, logs)")
    parser.add_argument("--peer-timeout", type=float, default=600, help="seconds a peer may take (default 10 min)")
    parser.add_argument("--step-timeout", type=float, default=3600, help="seconds a leadscore step may take")
    parser.add_argument("--memory-limit-gb", type=float, default=20, help="kill a step past this resident memory")
    parser.add_argument("--bench-python", default=str(REPO / ".venv-bench" / "bin" / "python"),
                        help="the Python of the featuretools environment")
    parser.add_argument("--results", default=str(REPO / "benchmarks" / "results.json"))
    parser.add_argument("--markdown", default=str(REPO / "BENCHMARKS.md"))
    parser.add_argument("--plot", default=str(REPO / "benchmarks" / "scaling.png"))
    parser.add_argument("--render-only", action="store_true", help="only redraw BENCHMARKS.md and the plot")
    options = parser.parse_args(argv)
    unknown = sorted(set(options.skip) - set(STEP_NAMES))
    if unknown:
        parser.error(f"unknown step(s) in --skip: {', '.join(unknown)}; steps are {', '.join(STEP_NAMES)}")
    if options.repeats < 1:
        parser.error("--repeats must be at least 1")
    return options


def write_outputs(results: dict, options) -> None:
    markdown = Path(options.markdown)
    if markdown.exists():
        markdown.write_text(report.replace_section(markdown.read_text(), report.render(results)))
    if results.get("sizes"):
        report.plot(results, Path(options.plot))


# ----------------------------------------------------------------------------- one size


def bench_size(leads: int, options, command: str, given_data: str | None, failed_peers: dict[str, int]) -> dict:
    work = Path(options.work).resolve()
    folder = work / "runs" / f"leads{leads}"
    folder.mkdir(parents=True, exist_ok=True)
    data = Path(given_data).resolve() if given_data else cached_data_path(work, leads, options.seed)
    repeats = options.repeats if leads <= options.repeat_max_leads else 1
    context = SizeContext(leads=leads, seed=options.seed, data=data, folder=folder,
                          params=write_params(folder, data, leads), options=options,
                          validate_command=validation_command())
    entry = {"leads": leads, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "command": command,
             "machine": machine(), "code": code_version(), "repeats": repeats,
             "seed": None if given_data else options.seed,  # an export given with --data has its own seed
             "data": str(data) if given_data else f"generated ({data.name})",
             "load_average_before": [round(x, 2) for x in os.getloadavg()], "steps": {}}
    skipped = set(options.skip)
    if not data.exists() and "generate" in skipped:
        raise SystemExit(f"no data for {leads:,} leads at {data} and 'generate' is skipped")
    print(f"== {leads:,} leads: {repeats} run(s) per step; work folder {folder}", flush=True)
    runs: dict[str, list[Run]] = {s.name: [] for s in STEPS}
    reasons: dict[str, str] = {}
    for step in STEPS:
        if step.name in skipped:
            reasons[step.name] = "skipped (--skip)"
        elif step.peer and step.name in failed_peers:
            reasons[step.name] = f"not run: did not finish at {failed_peers[step.name]:,} leads"
        elif step.name.startswith("featuretools") and not featuretools_python(options).exists():
            reasons[step.name] = f"not run: no featuretools environment at {options.bench_python} (make bench makes it)"
    for repeat in range(repeats):
        context.repeat = repeat
        fresh_run_outputs(folder)
        context.tracking_uri, context.model_from = f"sqlite:///{folder / 'mlflow.db'}", None
        done: set[str] = set()
        for step in STEPS:
            if step.name in reasons:
                continue
            missing = [name for name in step.after if name not in done]
            if missing:
                reasons.setdefault(step.name, f"not run: {missing[0]} did not succeed")
                continue
            if step.name == "score" and "promote" not in done:
                # no model of this size: score with the champion of the largest smaller size benchmarked here
                fallback = smaller_champion(work, leads)
                if fallback is None:
                    reasons.setdefault(step.name, "not run: no model was trained")
                    continue
                context.model_from, context.tracking_uri = fallback
            result = run_step(step, context, repeat)
            runs[step.name].append(result)
            print(f"   {step.name:<16} run {repeat + 1}: {result.status:<7} {result.wall_s:8.1f} s "
                  f"{result.peak_rss_bytes / 2**30:6.2f} GiB" + (f"  ({result.step_s:.2f} s in step)"
                                                                  if result.step_s is not None else ""), flush=True)
            if result.status == "ok":
                done.add(step.name)
            elif step.peer and result.status in ("timeout", "memory"):
                failed_peers[step.name] = leads
                reasons[step.name] = outcome(result, step_timeout(step, options), options)
            elif result.status != "ok" and step.name == "generate" and not data.exists():
                raise SystemExit(f"generating {leads:,} leads failed; see {folder / 'logs'}")
    entry["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    entry["events"] = count_rows(data / "events.parquet")
    entry["validate_command"] = f"leadscore {context.validate_command}"
    for step in STEPS:
        entry["steps"][step.name] = summarise_runs(runs[step.name], reasons.get(step.name), step, options)
    if context.model_from:
        entry["steps"]["score"]["note"] = f"model trained on {context.model_from:,} leads"
    entry["agreement"] = {}
    for peer, ours in AGREEMENT.items():
        outputs = (context.out / f"{ours}.parquet", context.out / f"{peer}.parquet")
        if entry["steps"][peer]["status"] == "ok" and entry["steps"][ours]["status"] == "ok":
            # the outputs are those of the last repeat; a step that failed there left none
            entry["agreement"][peer] = (compare(*outputs, feature_names()) if all(p.exists() for p in outputs) else
                                        {"equal": False, "error": "the last run left no output to compare"})
    entry["ratios"] = ratios(entry["steps"])
    metrics = folder / "training" / "metrics.json"
    if entry["steps"]["train"]["status"] == "ok" and metrics.exists():
        written = json.loads(metrics.read_text())
        entry["quality"] = {"test": written["test"], "counts": written.get("counts", {}),
                            "gates": "relaxed for the benchmark (see RELAXED_GATES in benchmarks/run.py)",
                            "negative_sample_rate": min(1.0, FULL_TRAINING_MAX_LEADS / leads)}
    return entry


def run_step(step: Step, context: SizeContext, repeat: int) -> Run:
    options = context.options
    scratch = context.folder / "generated"
    if step.name == "generate":
        # the first run fills the cache; later runs regenerate into a scratch folder, thrown away
        context.generate_into = context.data if not context.data.exists() else scratch
        shutil.rmtree(scratch, ignore_errors=True)
    if step.name == "score":
        shutil.rmtree(context.folder / "score", ignore_errors=True)  # a fresh database every run
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_REGISTRY_URI", "LEADSCORE_DB_URL")}
    env |= {"MLFLOW_TRACKING_URI": context.tracking_uri, "PYTHONPATH": str(REPO), "GIT_PYTHON_REFRESH": "quiet"}
    result = run(step.command(context), log=context.folder / "logs" / f"{step.name}-{repeat + 1}.log",
                 cwd=context.folder, env=env, timeout_s=step_timeout(step, options),
                 memory_limit_bytes=int(options.memory_limit_gb * 2**30))
    if step.name == "generate":
        shutil.rmtree(scratch, ignore_errors=True)
    return result


def smaller_champion(work: Path, leads: int) -> tuple[int, str] | None:
    """(leads, MLflow store) of the largest smaller size whose last benchmark run trained a model."""
    sizes = sorted((int(f.name.removeprefix("leads")), f) for f in (work / "runs").glob("leads*")
                   if f.name.removeprefix("leads").isdigit() and (f / "training" / "metrics.json").exists())
    smaller = [(n, f) for n, f in sizes if n < leads]
    return (smaller[-1][0], f"sqlite:///{smaller[-1][1] / 'mlflow.db'}") if smaller else None


def fresh_run_outputs(folder: Path) -> None:
    """Each repeat starts from an empty MLflow store and no outputs, as a first run would."""
    for name in ("mlflow.db",):
        (folder / name).unlink(missing_ok=True)
    for name in ("mlartifacts", "training", "score", "out", "generated"):
        shutil.rmtree(folder / name, ignore_errors=True)
    (folder / "out").mkdir()


def step_timeout(step: Step, options) -> float:
    return options.peer_timeout if step.peer else options.step_timeout


def summarise_runs(runs: list[Run], reason: str | None, step: Step, options) -> dict:
    """Median wall time and step seconds, the largest peak memory, and every run."""
    ok = [r for r in runs if r.status == "ok"]
    summary = {"label": step.label, "runs": [r.as_dict() for r in runs]}
    if step.setup:
        summary["setup"] = True
    if ok:
        summary |= {"status": "ok", "wall_s": round(statistics.median(r.wall_s for r in ok), 3),
                    "peak_rss_bytes": max(r.peak_rss_bytes for r in ok)}
        timed = [r.step_s for r in ok if r.step_s is not None]
        if timed:
            summary["step_s"] = round(statistics.median(timed), 3)
        if ok[-1].rows is not None:
            summary["rows"] = ok[-1].rows
    elif runs:
        summary |= {"status": runs[-1].status, "outcome": outcome(runs[-1], step_timeout(step, options), options)}
    else:
        summary |= {"status": "not run", "outcome": reason or "not run"}
    return summary


def outcome(result: Run, timeout_s: float, options) -> str:
    if result.status == "timeout":
        return f"did not finish in {timeout_s / 60:g} min"
    if result.status == "memory":
        return f"stopped past {options.memory_limit_gb:g} GiB resident"
    return f"failed (exit {result.returncode}): {result.tail}"


def ratios(steps: dict) -> dict:
    """Speed ratios: the feature build against the floor, the peers against the same leadscore build."""
    out = {}

    def both(name: str, base: str, key: str) -> None:
        a, b = steps[name], steps[base]
        if a.get("status") == "ok" and b.get("status") == "ok":
            entry = {"wall": round(a["wall_s"] / b["wall_s"], 3)}
            if a.get("step_s") and b.get("step_s"):
                entry["step"] = round(a["step_s"] / b["step_s"], 3)
            out[key] = entry

    both("features-1", "floor", "features-1 / floor")
    both("features-12", "floor", "features-12 / floor")
    for peer, ours in AGREEMENT.items():
        both(peer, ours, f"{peer} / leadscore")
    return out


# ----------------------------------------------------------------------------- environment


def cached_data_path(work: Path, leads: int, seed: int) -> Path:
    """bench/data/leads{N}-seed{S}-{digest}; older datasets of the same size and seed are removed."""
    sha = hashlib.sha256()
    for name in GENERATOR_FILES:
        path = REPO / name
        if path.exists():
            sha.update(name.encode() + b"\0" + path.read_bytes())
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    sha.update(json.dumps({k: params.get(k) for k in ("generate", "spine")}, sort_keys=True, default=str).encode())
    folder = work / "data"
    path = folder / f"leads{leads}-seed{seed}-{sha.hexdigest()[:12]}"
    for stale in folder.glob(f"leads{leads}-seed{seed}-*"):
        if stale != path and stale.is_dir():
            shutil.rmtree(stale)
    return path


def write_params(folder: Path, data: Path, leads: int) -> Path:
    """The project's params.yaml with this size's data, MLflow store and outputs, gates relaxed, and
    negatives sampled for training above ``FULL_TRAINING_MAX_LEADS``."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"]["dir"] = str(data)
    params["mlflow"] = {**params.get("mlflow", {}), "experiment": "bench",
                        "tracking_uri": f"sqlite:///{folder / 'mlflow.db'}",
                        "artifact_location": str(folder / "mlartifacts")}
    params["score"] = {**params.get("score", {}), "db_url": f"sqlite:///{folder / 'score' / 'leadscore.db'}",
                       "out_dir": str(folder / "score")}
    params["train"]["gates"] = RELAXED_GATES
    params["train"]["negative_sample_rate"] = min(1.0, FULL_TRAINING_MAX_LEADS / leads)
    if "validation" in params:  # its reports land in the size's folder too
        params["validation"] = {**params["validation"], "out_dir": str(folder / "validation")}
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def validation_command() -> str:
    """``leadscore validate`` where the CLI has it (Great Expectations suites), else ``leadscore check``."""
    probe = subprocess.run(leadscore("validate", "--help"), capture_output=True)
    return "validate" if probe.returncode == 0 else "check"


def code_version() -> dict:
    """The commit measured, and the package files that differed from it (work in progress is measured too)."""
    def git(*args) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return done.stdout if done.returncode == 0 else ""

    changed = git("status", "--porcelain", "--", "features", "models", "pipelines", "params.yaml")
    return {"commit": git("rev-parse", "--short", "HEAD").strip(),
            "uncommitted": sorted(line[3:] for line in changed.splitlines() if line.strip())}


def count_rows(path: Path) -> int | None:
    if not path.exists():
        return None
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def machine() -> dict:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    import duckdb
    import lightgbm
    import pandas

    return {"cores": os.cpu_count(), "memory_gib": round(memory / 2**30, 1), "cpu": cpu,
            "python": platform.python_version(), "platform": platform.platform(),
            "versions": {"duckdb": duckdb.__version__, "pandas": pandas.__version__, "lightgbm": lightgbm.__version__}}


if __name__ == "__main__":
    sys.exit(main())
