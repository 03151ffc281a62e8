"""The ``leadscore`` command line: one command per pipeline stage.

Configuration is read here and nowhere else; every command takes ``--params`` and
hands typed specs to the pure functions of ``features`` and ``models``. Errors the
user can fix (bad data, bad settings) are printed without a traceback and exit 2.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from features.errors import UserError

# LightGBM's OpenMP threads busy-wait between parallel regions by default; when other work shares the
# cores that makes prediction and TreeSHAP many times slower. Set before lightgbm is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

app = typer.Typer(
    name="leadscore",
    help="Point-in-time lead propensity: build features, train, and score leads weekly.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Every command exits with one of these (README "Exit codes" lists them; tests/docs checks the table against this).
EXIT_CODES = {
    0: "done",
    1: "a bug in leadscore: it printed its traceback; please report it",
    2: "bad data, settings or arguments: nothing was written, and the message says what to fix",
    3: "done, and the verdict is no: the model failed its gates (logged, not registered), or the metrics DVC "
       "shows are not the scoring model's (status)",
}
USER_ERROR, VERDICT_NO = 2, 3

ParamsOption = Annotated[Optional[Path], typer.Option(
    "--params", "-p", help="the settings file (default: ./params.yaml; where there is none, the built-in defaults, "
                           "which are the project's params.yaml)")]
EngineOption = Annotated[Optional[str], typer.Option(
    "--engine", help="duckdb (one machine) or spark (needs the spark extra); default: engine.name")]
SparkMasterOption = Annotated[Optional[str], typer.Option(
    "--spark-master", help="Spark master URL, e.g. local[4] or spark://host:7077 (default: engine.spark_master, "
                           "else the active SparkSession, else local[*])")]


def _engine(engine: str | None, spark_master: str | None) -> str | None:
    """Check --engine and --spark-master together, before any data is read."""
    if engine is not None and engine not in ("duckdb", "spark"):
        raise UserError(f"--engine {engine!r} is not known; use --engine duckdb or --engine spark")
    if spark_master is not None and engine == "duckdb":
        raise UserError("--spark-master is for --engine spark; drop it or add --engine spark")
    return "spark" if spark_master is not None and engine is None else engine


DEBUG = {"tracebacks": False}


def _version(shown: bool) -> None:
    if shown:
        from importlib.metadata import version

        typer.echo(f"leadscore {version('leadscore')}")
        raise typer.Exit()


@app.callback()
def _options(debug: Annotated[bool, typer.Option(
        "--debug", help="show the traceback of every error, the user's too (a bug always shows its own)")] = False,
        _: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                        help="print leadscore's version and exit")] = False):
    DEBUG["tracebacks"] = debug


def user_errors(command):
    """Turn the errors a user can fix into a clear message and exit code 2.

    Only those (``features.errors.UserError`` and its kinds; a database that refuses us; a
    file system that does) are caught: anything else is a bug, and Python prints its
    traceback and exits 1, so that it is reported instead of read as the user's mistake.
    """

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from sqlalchemy.exc import SQLAlchemyError

        if DEBUG["tracebacks"]:
            return command(*args, **kwargs)
        try:
            return command(*args, **kwargs)
        except UserError as error:
            typer.secho(_scrubbed(f"error: {error}", kwargs), fg=typer.colors.RED, err=True)
            raise typer.Exit(USER_ERROR) from None
        except SQLAlchemyError as error:  # a server that is down or refuses us; the URL (and password) is not shown
            cause = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
            typer.secho(_scrubbed(f"error: database: {cause}", kwargs) + "\n  how to fix: check score.db_url, "
                        "$LEADSCORE_DB_URL or --db, and that the server is up and accepts this user",
                        fg=typer.colors.RED, err=True)
            raise typer.Exit(USER_ERROR) from None
        except OSError as error:  # a full disk, a read-only or missing folder, a file we may not read
            where = f" ({error.filename})" if error.filename else ""
            typer.secho(f"error: {error.strerror or error}{where}\n  how to fix: check the folder exists, is "
                        "writable and has free space, and that the files are readable; or choose another --out",
                        fg=typer.colors.RED, err=True)
            raise typer.Exit(USER_ERROR) from None

    return wrapper


def load_settings(params: Path | None, overrides: dict | None = None):
    """The settings a command runs with: ``--params``, else ./params.yaml, else the defaults (and it says so).

    A ``--params`` file that is not there is an error (``load_params``), never a run on defaults.
    """
    from pipelines.config import load_params
    from pipelines.tracking import tracking_store

    chosen = params if params is not None else Path("params.yaml") if Path("params.yaml").is_file() else None
    config = load_params(chosen, overrides)  # relative paths in it are its folder's (config.anchored)
    where = (str(chosen.resolve()) if chosen is not None else
             "no params.yaml in this folder; using the built-in defaults (the project's params.yaml)")
    typer.echo(f"settings: {where}\nMLflow store: {tracking_store(config.mlflow)}", err=True)
    return config


URL_ENVIRONMENT = ("LEADSCORE_DB_URL", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


def _scrubbed(message: str, kwargs: dict) -> str:
    """An error message without any secret of the URLs this run was given: on the command line, in the
    environment or in its settings file (a driver's message may quote a piece of a password)."""
    from pipelines.redaction import scrub

    urls = [a for a in sys.argv if "://" in a] + [os.environ.get(name) for name in URL_ENVIRONMENT]
    urls += [str(v) for v in kwargs.values() if isinstance(v, str) and "://" in v]
    params = kwargs.get("params")
    try:
        if params is not None and Path(params).is_file():
            urls += re.findall(r"[A-Za-z][A-Za-z0-9+.-]*://\S+", Path(params).read_text(encoding="utf-8"))
    except OSError:
        pass
    return scrub(message, urls)


@app.command()
@user_errors
def generate(
    out: Annotated[Path, typer.Option(help="directory to write leads, events, identities, deals and truth into")],
    leads: Annotated[Optional[int], typer.Option(help="number of leads (default: generate.leads)")] = None,
    seed: Annotated[Optional[int], typer.Option(help="random seed (default: generate.seed)")] = None,
    weeks: Annotated[Optional[int], typer.Option(help="weeks of history (default: generate.weeks)")] = None,
    world: Annotated[str, typer.Option(help="the generative story: demo, committee or product_led "
                                            "(features/worlds; their settings: 'leadscore evaluate --help')")] = "demo",
    params: ParamsOption = None,
):
    """Simulate a realistic B2B engagement dataset with ground truth (truth.parquet)."""
    from pipelines.generate import generate_world

    given = {"generate.leads": leads, "generate.seed": seed, "generate.weeks": weeks}
    config = load_settings(params, overrides={k: v for k, v in given.items() if v is not None})
    g = config.generate
    summary = generate_world(world, out, g.leads, g.seed, g.weeks, config.spine, start=g.start,
                             overrides=g.world, progress=sys.stderr.isatty(), as_of=g.as_of)
    typer.echo(f"wrote {out} ({world} world): " + ", ".join(f"{n:,} {name}" for name, n in summary.rows.items())
               + " (+ truth.parquet)")
    if g.as_of:
        typer.echo(f"as it stood at {g.as_of:%Y-%m-%d} 00:00 UTC (generate.as_of): rows known later left out")
    typer.echo(f"history {summary.data_start:%Y-%m-%d} .. {summary.data_end:%Y-%m-%d %H:%M}; "
               f"{len(summary.cutoffs)} training cutoffs; score date {summary.score_date:%Y-%m-%d}")
    if world != "demo":
        from features.worlds import settings

        typer.echo(f"settings for this export (params.yaml overrides): {settings(world)}")


@app.command()
@user_errors
def validate(
    data_dir: Annotated[Path, typer.Argument(help="export directory with leads, events, identities, deals")],
    out: Annotated[Optional[Path], typer.Option(
        help="folder for validation.json and Data Docs (default: validation.out_dir)")] = None,
    params: ParamsOption = None,
):
    """Validate an export against the data contract (Great Expectations): what is wrong and how to fix it.

    Prints every broken rule (file, column, rule, how many rows, examples, how to fix) and
    writes the full results as JSON and Data Docs HTML. Exits 2 when anything is broken.
    """
    from pipelines.inputs import validate_directory
    from pipelines.summary import summarise
    from pipelines.validation_record import write_results

    config = load_settings(params)
    out = out or config.validation.out_dir
    outcome, tables = validate_directory(data_dir, config, progress=sys.stderr.isatty())
    record = {"data_dir": str(data_dir)}
    if tables is not None:
        record["files"] = {name: [str(p) for p in paths] for name, paths in tables.files.items()}
    for finding in outcome.errors:
        typer.secho(f"error: {finding}", fg=typer.colors.RED, err=True)
    for finding in outcome.warnings:
        typer.secho(f"warning: {finding}", fg=typer.colors.YELLOW, err=True)
    if outcome.success:
        typer.echo(summarise(tables, config))
    checked = f"{outcome.expectations()} expectations" if outcome.results else "the files could not be read"
    typer.echo(f"{len(outcome.errors)} error(s), {len(outcome.warnings)} warning(s) ({checked})")
    if outcome.success and tables.has("deals"):
        # apart from the contract: an export can be valid and still too short or sparse for these settings
        from pipelines.export_profile import check_spine
        from pipelines.inputs import lifecycle_statuses

        fit = check_spine(tables.con, tables.data_start(), tables.data_end(), config.spine, config.train,
                          lifecycle_statuses(tables, config), validation=config.validation)
        typer.secho(f"settings: {fit.describe()}" + ("" if fit.ok else "\n  run 'leadscore profile DATA_DIR' for "
                                                      "settings that train on this export"),
                    fg=None if fit.ok else typer.colors.YELLOW)
    paths = write_results(outcome, out, record)
    typer.echo(f"  page: {paths['page']} (works offline)\n  full results: {paths['json']}"
               + (f"\n  Data Docs: {paths['docs']}" if "docs" in paths else ""))
    if not outcome.success:
        raise typer.Exit(USER_ERROR)


app.command("check", hidden=True, help="Old name of 'validate'.")(validate)


def _warn(findings) -> None:
    for finding in findings:
        typer.secho(f"warning: {finding}", fg=typer.colors.YELLOW, err=True)


@app.command()
@user_errors
def profile(
    data_dir: Annotated[Path, typer.Argument(help="export directory with leads, events and optional tables")],
    params: ParamsOption = None,
):
    """Profile an export: history per week, time to a won deal, base rate per cutoff, features that will and won't
    be built, and spine and split settings that train on it."""
    from pipelines.export_profile import profile_export, render
    from pipelines.inputs import open_data

    config = load_settings(params)
    tables = open_data(data_dir, config)
    _warn(tables.validation.warnings)
    typer.echo(render(profile_export(tables, config)))


@app.command("build-training-set")
@user_errors
def build_training_set(
    data_dir: Annotated[Path, typer.Argument(help="export directory with leads, events, identities, deals")],
    out: Annotated[Path, typer.Option(help="folder of Parquet parts to write, one a cutoff")] = Path(
        "training/training_set.parquet"),
    engine: EngineOption = None,
    spark_master: SparkMasterOption = None,
    store: Annotated[Optional[Path], typer.Option(
        help="feature store folder: cutoffs built before and still valid are reused (default: feature_store "
             "beside --out)")] = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="build every cutoff again, replacing the store's")] = False,
    params: ParamsOption = None,
):
    """Build the point-in-time training set: one labelled row per (lead, cutoff) with its features.

    The output is a folder of Parquet parts, one a cutoff (pandas and DuckDB read it as one
    table). Cutoffs whose features the store holds, built with the same settings from the
    same history, are reused; the others are built and stored. Labels are computed afresh
    every time, and a part of the previous training set whose features and labels are
    both unchanged is kept as it is. With --engine spark the export is read from Parquet by
    Spark and every cutoff is built there; the output is the same.
    """
    from pipelines.stages import training_set

    engine = _engine(engine, spark_master)
    summary = training_set(data_dir, out, load_settings(params), progress=sys.stderr.isatty(), engine=engine,
                           spark_master=spark_master, store=store, rebuild=rebuild)
    _warn(summary["warnings"])
    typer.echo(f"wrote {out}: {summary['rows']:,} rows over {summary['cutoffs']} cutoffs, "
               f"{summary['positives']:,} positives ({(summary['label_rate'] or 0):.2%})")
    typer.echo(f"  censored {summary['censored_rows']:,} rows (deal still open at the data's end); "
               f"excluded {summary['excluded_in_deal']:,} in a deal, {summary['excluded_customer']:,} customers, "
               f"{summary['excluded_recently_lost']:,} recently lost, {summary['excluded_disqualified']:,} "
               f"disqualified; {len(summary['immature_cutoffs'])} cutoffs too recent for a label")
    used = summary["store"]
    if used is None:
        typer.echo("  feature store: not used by the Spark engine (every cutoff built)")
    else:
        typer.echo(f"  feature store {used['path']}: {used['reused']} cutoffs reused, {used['rebuilt']} rebuilt, "
                   f"{used['added']} added; training set: {used['parts_kept']} parts kept, "
                   f"{summary['cutoffs'] - used['parts_kept']} written"
                   + (f"; {used['parts_given_later_rows']} kept parts given a file of the rows that entered them "
                      "since (outcomes now known)" if used["parts_given_later_rows"] else ""))
        for reason, count in used["reasons"].items():
            typer.echo(f"    rebuilt {count}: {reason}")
    features = summary["features"]
    typer.echo(f"  features: {features['built']} built, {len(features['left_out'])} left out")
    for item in features["left_out"]:
        typer.echo(f"    - {item['feature']}: {item['reason']}")
    for role in features["empty_roles"]:
        typer.echo(f"    role {role}: no events of features.roles.{role}; its journey-stage terms are skipped")
    typer.echo("  cutoff       rows  positives  rate    censored")
    for row in summary["per_cutoff"]:
        typer.echo(f"  {row['cutoff'][:10]} {row['rows']:>7,} {row['positives']:>9,}  "
                   f"{(row['label_rate'] or 0):6.2%} {row['censored']:>8,}")
    typer.echo(f"  report: {out.with_suffix('.report.json')}")


@app.command()
@user_errors
def train(
    training_set: Annotated[Path, typer.Argument(help="training set from build-training-set")],
    experiment: Annotated[Optional[str], typer.Option(help="MLflow experiment (default: mlflow.experiment)")] = None,
    truth: Annotated[Optional[Path], typer.Option(help="truth.parquet of simulated data: adds oracle metrics")] = None,
    tune: Annotated[int, typer.Option(help="Optuna trials on the time-ordered validation block (0: none)")] = 0,
    out: Annotated[Path, typer.Option(help="folder for metrics.json and plots (DVC reads them)")] = Path("training"),
    params: ParamsOption = None,
):
    """Train, calibrate and evaluate against baselines; log to MLflow; register if the gates pass."""
    from pipelines.train import run_training

    config = load_settings(params)
    if truth is None and (config.data.dir / "truth.parquet").exists():
        truth = config.data.dir / "truth.parquet"
    summary = run_training(training_set, config, experiment, truth, tune, out, progress=sys.stderr.isatty())
    _warn(summary["warnings"])
    typer.echo(f"split: {summary['split']}")
    typer.echo(f"counts: {summary['counts']}")
    typer.echo(f"features: {summary['features']} ({len(summary['features_left_out'])} left out by the build; "
               f"{training_set.with_suffix('.report.json')} says why)")
    for skipped in summary["rules_skipped"]:
        typer.echo(f"points score: skipped {skipped}")
    if config.train.negative_sample_rate < 1:
        typer.echo(f"sampled: every positive and {config.train.negative_sample_rate:.0%} of the negatives, weighted "
                   "by the rows they stand for (train.negative_sample_rate); metrics are for all rows")
    _print_metrics("gates and promotion read the selection half of the test block's accounts:",
                   summary["selection_metrics"], oracle=False)
    _print_metrics("out-of-time estimate (the other half; it chose nothing):", summary["metrics"])
    for comparison, intervals in summary["uncertainty"].items():
        gains = "; ".join(f"{metric} {low:+.4f} to {high:+.4f}" for metric, (low, high) in intervals.items())
        typer.echo(f"  {comparison.replace('_', ' ')}, 90 % interval (leads resampled per cutoff): {gains}")
    model, anchored = summary["metrics"]["model"], summary["anchored_calibration"]
    typer.echo(f"calibration: {summary['calibration']} on the validation block (base rate "
               f"{anchored['validation_base_rate']:.2%}); expected / actual wins on the out-of-time estimate: "
               f"{model['mean_probability'] / model['base_rate']:.2f}")
    typer.echo(f"shipped model anchored to the base rate of the latest mature weeks: {anchored['base_rate']:.2%} "
               f"({anchored['cutoffs'][0]}..{anchored['cutoffs'][1]}, log-odds {anchored['log_odds_shift']:+.3f}); "
               f"MLflow run {summary['run_id']} in {summary['tracking_uri']}")
    if summary["gate_failures"]:
        typer.secho("gates failed, model logged but NOT registered:\n  " + "\n  ".join(summary["gate_failures"]),
                    fg=typer.colors.YELLOW)
        raise typer.Exit(VERDICT_NO)
    typer.echo(f"registered lead-propensity version {summary['registered_version']} as @challenger "
               "(run 'leadscore promote' to make it champion)")


def _print_metrics(title: str, metrics: dict, oracle: bool = True) -> None:
    typer.echo(title)
    typer.echo(f"  {'':<20}{'ROC AUC':>8}{'PR AUC':>8}{'lift@10%':>9}{'recall@10%':>11}{'prec@cap':>9}{'Brier':>8}{'ECE':>7}")
    for name, m in metrics.items():
        if name == "model_vs_oracle" or (name == "oracle" and not oracle):
            continue
        typer.echo(f"  {name:<20}{m['roc_auc']:>8.3f}{m['pr_auc']:>8.4f}{m['lift_top10']:>9.2f}"
                   f"{m['recall_top10']:>11.1%}{m['precision_at_capacity']:>9.3f}{m['brier']:>8.4f}{m['ece']:>7.4f}")
    if oracle and "model_vs_oracle" in metrics:
        ratios = ", ".join(f"{k} {v:.2f}" for k, v in metrics["model_vs_oracle"].items())
        typer.echo(f"  model / oracle: {ratios}")


@app.command()
@user_errors
def evaluate(
    worlds: Annotated[str, typer.Option(help="comma-separated worlds (features/worlds)")] = "demo,committee,product_led",
    seeds: Annotated[str, typer.Option(help="comma-separated seeds; each world is generated once per seed")] = "1,2,3",
    leads: Annotated[int, typer.Option(help="leads per world")] = 20_000,
    weeks: Annotated[int, typer.Option(help="weeks of history per world")] = 104,
    out: Annotated[Path, typer.Option(help="folder for results.csv, summary.md/json and the plot")] = Path("evaluation"),
    params: ParamsOption = None,
):
    """The pipeline on every simulated world and seed: the model, the points score and the logistic regression as a
    share of each world's oracle. Decisions about the model are taken on all worlds together."""
    from features.worlds import NAMES
    from pipelines.evaluate import evaluate as run

    chosen = [w.strip() for w in worlds.split(",") if w.strip()]
    unknown = [w for w in chosen if w not in NAMES]
    if unknown or not chosen:
        raise typer.BadParameter(f"unknown world(s) {unknown}; known: {', '.join(NAMES)}", param_hint="--worlds")
    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise typer.BadParameter(f"{seeds!r}: seeds are comma-separated integers", param_hint="--seeds") from None
    typer.echo(f"evaluating {len(chosen)} world(s) x {len(seed_list)} seed(s) at {leads:,} leads, {weeks} weeks")
    summary = run(chosen, seed_list, leads, weeks, load_settings(params), out, echo=typer.echo)
    typer.echo((out / "summary.md").read_text())
    typer.echo(f"written: {out}/results.csv, summary.md, summary.json" + (", model_vs_oracle.png" if not summary.empty else ""))


@app.command()
@user_errors
def promote(
    training_set: Annotated[Optional[Path], typer.Argument(
        help="labelled rows to compare challenger and champion on (as for train and backtest)")] = Path(
        "training/training_set.parquet"),
    version: Annotated[Optional[str], typer.Option(help="set @champion to this version (rollback)")] = None,
    record: Annotated[Optional[Path], typer.Option(
        help="also write the decision and the aliases' versions to this JSON file (the DVC pipeline's record)")] = None,
    params: ParamsOption = None,
):
    """Make @challenger the @champion if it wins on the most recent matured cutoffs; --version N rolls back."""
    from pipelines.train import promote as run
    from pipelines.train import record_promotion

    config = load_settings(params)
    decision = run(config, training_set if training_set and training_set.exists() else None, version)
    typer.echo(decision)
    if record:
        record_promotion(config, decision, record)
    _print_status(config, Path("training/metrics.json"))


@app.command()
@user_errors
def status(
    metrics: Annotated[Path, typer.Option(help="the metrics file train wrote (DVC shows it)")] = Path(
        "training/metrics.json"),
    params: ParamsOption = None,
):
    """Which model scores (@champion), which waits (@challenger), and whether the metrics DVC shows are the
    scoring model's. Exits 3 when they are not."""
    if not _print_status(load_settings(params), metrics):
        raise typer.Exit(VERDICT_NO)


def _print_status(config, metrics: Path) -> bool:
    from pipelines.train import model_status

    lines, agree = model_status(config, metrics)
    for line in lines:
        typer.echo(line)
    return agree


@app.command()
@user_errors
def backtest(
    training_set: Annotated[Path, typer.Argument(help="labelled rows (build-training-set output)")] = Path(
        "training/training_set.parquet"),
    model: Annotated[str, typer.Option(help="model URI")] = "models:/lead-propensity@champion",
    params: ParamsOption = None,
):
    """Evaluate a registered model on recent matured cutoffs: lift and recall by tier."""
    from pipelines.train import backtest as run

    table = run(load_settings(params), training_set, model)
    typer.echo(f"model {model} (version {table.attrs['model_version']}) on cutoffs {', '.join(table.attrs['cutoffs'])}")
    typer.echo(table.to_string(index=False, float_format=lambda v: f"{v:,.3f}"))
    expected, actual = table["expected_wins"].sum(), table["wins"].sum()
    typer.echo(f"expected / actual wins: {expected:,.1f} / {actual:,.0f} = {expected / max(actual, 1e-9):.2f}")
    if "anchored_here" in table.attrs:
        first, last = table.attrs["anchored_here"]
        typer.echo(f"  (the model's calibration was anchored to the base rate of {first}..{last}, these weeks: the "
                   "total matches by construction; 'leadscore train' printed the honest ratio, measured before)")


@app.command()
@user_errors
def score(
    data_dir: Annotated[Path, typer.Argument(help="export directory with leads, events, identities (deals optional)")],
    as_of: Annotated[Optional[str], typer.Option("--as-of", help="score date YYYY-MM-DD (default: latest Monday in the data)")] = None,
    model: Annotated[Optional[str], typer.Option(help="model URI (default: models:/lead-propensity@champion)")] = None,
    db: Annotated[Optional[str], typer.Option(help="SQLAlchemy URL (default: score.db_url or $LEADSCORE_DB_URL)")] = None,
    out: Annotated[Optional[Path], typer.Option(help="folder for the CSV and HTML report (default: score.out_dir)")] = None,
    weeks: Annotated[int, typer.Option(min=1, max=520, help="score the N Mondays that end at --as-of, oldest first, "
                                       "each a run of its own (a backfill, so the report can show how earlier lists "
                                       "did)")] = 1,
    engine: EngineOption = None,
    spark_master: SparkMasterOption = None,
    params: ParamsOption = None,
):
    """Score the population as of a Monday: ranked, tiered, explained; to the database, a CSV and a report.

    With --engine spark the features are built and the model applied on Spark; the scores
    also land as Parquet in the output folder.
    """
    from pipelines.score import backfill_dates, run_scoring

    config = load_settings(params)
    engine = _engine(engine, spark_master)
    opened: dict = {}  # the export and the model, read and checked once for every week
    dates = backfill_dates(data_dir, config, as_of, weeks, opened, engine, spark_master)
    for date in dates[:-1]:
        earlier = run_scoring(data_dir, config, date, model, db, out, engine=engine, spark_master=spark_master,
                              opened=opened)
        typer.echo(f"scored {len(earlier.scores):,} leads as of {date} (run {earlier.run_id}): {earlier.report_path}")
    result = run_scoring(data_dir, config, dates[-1], model, db, out, progress=sys.stderr.isatty(), engine=engine,
                         spark_master=spark_master, opened=opened)
    _warn(result.validation_warnings)
    scores = result.scores
    counts = scores["tier"].value_counts()
    trained_in = scores["model_run_id"].iloc[0] if len(scores) else None
    typer.echo(f"scored {len(scores):,} leads as of {result.as_of:%Y-%m-%d} with model version {result.model_version} "
               f"(trained in MLflow run {trained_in}); scoring run {result.run_id} (table score_runs)")
    typer.echo("  tiers: " + ", ".join(f"{t} {counts.get(t, 0):,} ({scores.loc[scores.tier == t, 'probability'].sum():.1f} "
                                       "expected wins)" for t in ("A", "B", "C", "D")))
    calibration = result.calibration
    if calibration:
        typer.echo(f"  expected wins assume the base rate the model was anchored to (its latest mature weeks): {calibration['base_rate']:.2%} "
                   f"(weeks {calibration['cutoffs'][0]}..{calibration['cutoffs'][1]}); this week's list expects "
                   f"{scores['probability'].mean():.2%}")
    typer.echo(f"  database: {result.database} (lead_scores, score_runs)")
    typer.echo(f"  CSV for the CRM: {result.csv_path}")
    if result.parquet_path:
        typer.echo(f"  Parquet: {result.parquet_path}")
    typer.echo(f"  report: {result.report_path}")
    for warning in result.warnings[:10]:
        typer.secho(f"  drift {warning}", fg=typer.colors.YELLOW)
    if result.outcomes is not None:
        from pipelines.list_outcomes import describe

        typer.echo("\n".join("  " + line for line in describe(result.outcomes)))
        for warning in result.outcomes.warnings:
            typer.secho(f"  outcomes: {warning}", fg=typer.colors.YELLOW)
    if result.feedback is not None and not result.feedback.why_none:
        from pipelines.list_feedback import describe as said

        typer.echo("\n".join("  " + line for line in said(result.feedback)))
    if result.upgraded:
        typer.echo(f"  database upgraded: added {', '.join(result.upgraded)} (empty for the weeks scored before)")
    for run in result.interrupted:
        typer.secho(f"  run {run['run_id']} of {run['as_of']:%Y-%m-%d} never finished and is now marked "
                    f"interrupted: {run['error']}", fg=typer.colors.YELLOW)


@app.command()
@user_errors
def outcomes(
    data_dir: Annotated[Path, typer.Argument(help="the latest export (its deals say how the published lists did)")],
    db: Annotated[Optional[str], typer.Option(help="SQLAlchemy URL (default: score.db_url or $LEADSCORE_DB_URL)")] = None,
    params: ParamsOption = None,
):
    """How the published weekly lists did: per tier, expected against actual wins, once their outcomes are known.

    A list counts once its horizon plus settle days (spine) have passed at the export's end;
    its leads are labelled as training labels them. Writes the table list_outcomes; warns in
    plain words when the lists leave the bands of params.yaml: outcomes.
    """
    from pipelines.list_outcomes import describe, outcomes_of_export

    result = outcomes_of_export(data_dir, load_settings(params), db)
    typer.echo("\n".join(describe(result)))
    for warning in result.warnings:
        typer.secho(f"warning: {warning}", fg=typer.colors.YELLOW, err=True)


def main():
    """The console entry point: run one command, then end the process without the interpreter's teardown.

    Once Great Expectations has run on DuckDB, the interpreter's final teardown frees
    DuckDB's type objects in an order its bindings report as "nanobind: leaked ..."
    on every exit. Everything is finished by then: the command has returned, its
    DuckDB databases are freed by the collection below (deleting any spill files),
    output is flushed; so the process ends here with the command's exit code.
    """
    import gc
    import logging
    import os

    try:
        app()
        code = 0
    except SystemExit as stop:
        code = stop.code
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    gc.collect()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)
