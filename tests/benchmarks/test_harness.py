"""The harness's own parts: measuring a process, rendering results, replacing the generated section.

No test here looks at how long anything took: only at what was recorded.
"""

from __future__ import annotations

import sys

import pytest

from benchmarks import report
from benchmarks.measure import run
from benchmarks.run import parse_args, ratios


def test_a_step_is_measured_with_its_own_timing(tmp_path):
    code = "import numpy; a = numpy.ones(40_000_000); print('RESULT step=x rows=7 seconds=1.25')"
    result = run([sys.executable, "-c", code], log=tmp_path / "ok.log")
    assert result.status == "ok" and result.returncode == 0
    assert result.peak_rss_bytes > 300 * 2**20  # the 320 MB array was resident
    assert (result.step_s, result.rows) == (1.25, 7)


def test_a_failure_keeps_the_line_that_says_why(tmp_path):
    code = "import sys; print('working'); print('error: the data folder is missing'); print('bye'); sys.exit(2)"
    result = run([sys.executable, "-c", code], log=tmp_path / "failed.log")
    assert (result.status, result.returncode) == ("failed", 2)
    assert result.tail == "error: the data folder is missing"


def test_a_step_past_its_time_limit_is_stopped_and_recorded_as_such(tmp_path):
    result = run([sys.executable, "-c", "import time; time.sleep(60)"], log=tmp_path / "slow.log", timeout_s=0.5)
    assert result.status == "timeout"


def test_a_step_past_the_memory_ceiling_is_stopped(tmp_path):
    code = "import numpy, time; a = numpy.ones(60_000_000); time.sleep(60)"
    result = run([sys.executable, "-c", code], log=tmp_path / "big.log", timeout_s=30, memory_limit_bytes=200 * 2**20)
    assert result.status == "memory"


def test_unknown_steps_are_refused():
    with pytest.raises(SystemExit):
        parse_args(["--skip", "featuretool-12"])
    assert parse_args(["--sizes", "10000", "--skip", "featuretools-12"]).sizes == [10_000]


def _step(wall, rss, step_s=None, rows=None, label="a step"):
    out = {"label": label, "status": "ok", "wall_s": wall, "peak_rss_bytes": rss, "runs": [{"status": "ok"}] * 3}
    if step_s is not None:
        out["step_s"] = step_s
    if rows is not None:
        out["rows"] = rows
    return out


def _results():
    steps = {name: _step(10.0, 2**30, label=name) for name in report.PIPELINE_ROWS}
    steps |= {"floor": _step(4.0, 2**29, 0.5, label="floor"), "features-1": _step(8.0, 2**30, 2.0, 900, "features-1"),
              "features-12": _step(20.0, 2**31, 10.0, 9000, "features-12"), "pandas-1": _step(16.0, 2**30, 8.0, 900),
              "pandas-12": {"label": "pandas, 12", "status": "timeout", "outcome": "did not finish in 10 min",
                            "runs": [{"status": "timeout"}]},
              "featuretools-1": {"label": "ft", "status": "not run", "outcome": "skipped (--skip)", "runs": []},
              "featuretools-12": _step(300.0, 2**31, 290.0, 9000)}
    quality = {"test": {name: {"roc_auc": 0.8, "pr_auc": 0.05, "lift_top10": 4.5, "brier": 0.01, "ece": 0.003}
                        for name in ("model", "rules", "logistic", "oracle")},
               "counts": {"test_rows": 27837, "test_positives": 303}}
    quality["test"]["model_vs_oracle"] = {"roc_auc": 0.89, "pr_auc": 0.34, "lift_top10": 0.65}
    entry = {"leads": 10_000, "events": 1_424_984, "date": "2026-11-22T13:00:00+00:00", "repeats": 3, "seed": 1,
             "command": "python -m benchmarks.run --sizes 10000", "machine": {"cores": 2, "memory_gib": 23.5},
             "validate_command": "leadscore check", "steps": steps, "ratios": ratios(steps), "quality": quality,
             "agreement": {"pandas-1": {"equal": True, "rows_compared": 900, "columns": 105},
                           "featuretools-12": {"equal": False, "rows_compared": 9000, "columns": 105,
                                               "mismatching_values": 4, "mismatching_columns": {"x": 4},
                                               "rows_only_leadscore": 0, "rows_only_peer": 0}}}
    return {"sizes": {"10000": entry, "100000": {**entry, "leads": 100_000, "events": 14_000_000}}}


def test_the_tables_show_every_step_ratio_and_outcome():
    text = report.render(_results(), only=["10000"])
    assert text.startswith("### 10,000 leads · 1,424,984 events")
    assert "100,000 leads" not in text
    assert "| features, 1 cutoff" not in text  # rows carry the step's own label
    assert "| features-1 | 8.00 s | 1.00 GiB | 2.00 s | 3 | 4.00×; 2.00× |" in text
    assert "| pandas (shared features), 1 cutoff | 900 | 16.0 s | 1.00 GiB | 8.00 s | 4.00×; 2.00× | yes: 900 rows × 105 features |" in text
    assert "| pandas (shared features), 12 cutoffs | — | did not finish in 10 min | — | — |  | not compared |" in text
    assert "skipped (--skip)" in text
    assert "**no**: 4 values differ (x (4))" in text
    assert "| featuretools DFS (shared features), 12 cutoffs | 9,000 | 5 min 00 s | 2.00 GiB | 4 min 50 s | 29×; 15× |" in text
    assert "(`leadscore check`)" in text
    assert "| model ÷ oracle | 0.89 | 0.34 | 0.65 |  |  |" in text
    assert "27,837 rows, 303 positives" in text


def test_a_sampled_training_says_so_and_counts_the_rows_it_stands_for():
    results = _results()
    quality = results["sizes"]["10000"]["quality"]
    quality["negative_sample_rate"] = 0.1
    quality["counts"] = {"test_rows": 2_900, "test_rows_represented": 27_837, "test_positives": 303}
    text = report.render(results, only=["10000"])
    assert "(27,837 rows, 303 positives; trained and evaluated on every positive and 10% of the negatives" in text
    assert "2,900 rows read" in text


def test_the_benchmark_samples_negatives_only_above_the_full_training_size(tmp_path):
    from benchmarks.run import FULL_TRAINING_MAX_LEADS, write_params
    from pipelines.config import load_params

    rates = {}
    for leads in (10_000, FULL_TRAINING_MAX_LEADS, 1_000_000):
        folder = tmp_path / str(leads)
        folder.mkdir()
        rates[leads] = load_params(write_params(folder, tmp_path / "data", leads)).train.negative_sample_rate
    assert rates == {10_000: 1.0, FULL_TRAINING_MAX_LEADS: 1.0, 1_000_000: FULL_TRAINING_MAX_LEADS / 1_000_000}


def test_the_generated_section_replaces_only_itself():
    hand_written = "# Benchmarks\n\nintro\n\n{block}\n\n## Analysis\n\nwritten by hand\n"
    first = report.replace_section(hand_written.format(block=f"{report.BEGIN}\nold\n{report.END}"), "new table")
    assert first == hand_written.format(block=f"{report.BEGIN}\nnew table\n{report.END}")
    assert report.replace_section(first, "new table") == first
    appended = report.replace_section("# Benchmarks\n", "table")
    assert appended.endswith(f"{report.BEGIN}\ntable\n{report.END}\n")


def test_the_scaling_plot_is_written(tmp_path):
    report.plot(_results(), tmp_path / "scaling.png")
    assert (tmp_path / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
