"""Screenshots of what a data scientist and marketing ops look at, taken in headless Chromium from a project that
has run ``make demo``: the MLflow run page of the champion's training run, the offline validation page and the
weekly report. ``make screenshots`` runs it; the pictures land in ``docs/screenshots/``.

The MLflow UI is started on a free loopback port for the shot and stopped after. Nothing here needs a network:
the validation page and the report are self-contained files, opened as ``file://`` URLs. The validation page is
shown for a copy of the demo's export with a few rules broken on purpose (a clean export's page says only
"Every rule holds").
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    sys.exit(f"no headless browser found ({', '.join(BROWSERS)}); install Chromium (apt-get install chromium)")


def shoot(url: str, out: Path, height: int = 1100) -> None:
    """One page, after its scripts ran (the MLflow UI is a single-page app that fetches the run first)."""
    subprocess.run([browser(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--window-size=1400,{height}", "--virtual-time-budget=15000", f"--screenshot={out}", url],
                   check=True, capture_output=True, timeout=120)
    print(f"wrote {out}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def champion_run(project: Path) -> tuple[str, str, str]:
    """(experiment id, run id, store URI) of the training run of ``@champion`` in the project's MLflow store."""
    import mlflow
    from mlflow import MlflowClient

    from pipelines.config import load_params
    from pipelines.tracking import configure_mlflow

    configure_mlflow(load_params(project / "params.yaml").mlflow)
    client = MlflowClient()
    version = client.get_model_version_by_alias("lead-propensity", "champion")
    run = client.get_run(version.run_id)
    return run.info.experiment_id, run.info.run_id, mlflow.get_tracking_uri()


def mlflow_page(project: Path, out: Path) -> None:
    experiment, run, store = champion_run(project)
    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).with_name("mlflow")), "ui", "--backend-store-uri", store,
                               "--host", "127.0.0.1", "--port", str(port)], cwd=project,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                urllib.request.urlopen(base, timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        else:
            sys.exit("the MLflow UI did not start within a minute")
        shoot(f"{base}/#/experiments/{experiment}/runs/{run}", out)
    finally:
        server.terminate()
        server.wait(timeout=30)


def broken_export_page(project: Path, folder: Path) -> Path:
    """``leadscore validate`` on a copy of the demo export with rules broken the way real exports break them."""
    import duckdb

    data = project / "data" / "demo"
    broken = folder / "export"
    broken.mkdir()
    con = duckdb.connect()
    for name in ("identities", "deals"):
        shutil.copy(data / f"{name}.parquet", broken / f"{name}.parquet")
    con.execute(f"""COPY (SELECT * REPLACE (CASE WHEN row_number() OVER () % 997 = 0 THEN NULL ELSE created_at END
                                        AS created_at,
                                    CASE WHEN row_number() OVER () % 1999 = 0 THEN -company_size ELSE company_size END
                                        AS company_size)
                          FROM read_parquet('{data / "leads.parquet"}')
                          UNION ALL (SELECT * FROM read_parquet('{data / "leads.parquet"}') LIMIT 3))
                    TO '{broken / "leads.parquet"}' (FORMAT PARQUET)""")
    con.execute(f"""COPY (SELECT * REPLACE (CASE WHEN row_number() OVER () % 5003 = 0 THEN 'Page View'
                                             ELSE event_type END AS event_type)
                          FROM read_parquet('{data / "events.parquet"}'))
                    TO '{broken / "events.parquet"}' (FORMAT PARQUET)""")
    pages = folder / "validation"
    leadscore = str(Path(sys.executable).with_name("leadscore"))
    subprocess.run([leadscore, "validate", str(broken), "--out", str(pages), "--params",
                    str(project / "params.yaml")], capture_output=True, check=False, timeout=600)
    return pages / "validation.html"


def only_sections(report: Path, folder: Path, keep: tuple[str, ...]) -> Path:
    """A copy of the report showing only the sections titled ``keep`` (for a picture of them)."""
    hide = ("<script>for (const s of document.querySelectorAll('main > section, main > .grid2, main > .cards')) {"
            f"const h = s.querySelector('h2'); if (!h || !{list(keep)!r}.includes(h.textContent)) s.remove(); }}"
            "</script></body>")
    copy = folder / f"{'-'.join(k.split()[0].lower() for k in keep)}.html"
    copy.write_text(report.read_text(encoding="utf-8").replace("</body>", hide), encoding="utf-8")
    return copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, default=Path.cwd(), help="the folder make demo ran in")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "screenshots")
    args = parser.parse_args()
    project, out = args.project.resolve(), args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    reports = sorted((project / "out").glob("report-*.html"))
    if not reports or not (project / "data" / "demo").is_dir():
        sys.exit(f"run 'make demo' in {project} first: no out/report-*.html or data/demo")
    mlflow_page(project, out / "mlflow-run.png")
    with tempfile.TemporaryDirectory() as scratch:
        shoot(broken_export_page(project, Path(scratch)).as_uri(), out / "validation.png", height=1000)
    shoot(reports[-1].as_uri(), out / "report.png", height=1600)
    with tempfile.TemporaryDirectory() as scratch:
        shoot(only_sections(reports[-1], Path(scratch), ("How earlier lists did",)).as_uri(),
              out / "report-earlier-lists.png", height=1100)
        shoot(only_sections(reports[-1], Path(scratch), ("What sales said",)).as_uri(),
              out / "report-sales-feedback.png", height=1000)
        shoot(only_sections(reports[-1], Path(scratch), ("What changed since last week", "Data drift")).as_uri(),
              out / "report-changes-and-drift.png", height=1500)


if __name__ == "__main__":
    main()
