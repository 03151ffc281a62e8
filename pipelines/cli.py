"""The ``leadscore`` command line: one command per pipeline stage.

Configuration is read here and nowhere else; every command takes ``--params`` and
hands typed specs to the pure functions of ``features`` and ``models``. Errors the
user can fix (bad data, bad settings) are printed without a traceback and exit 2.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(
    name="leadscore",
    help="Point-in-time lead propensity: build features, train, and score leads weekly.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ParamsOption = Annotated[Path, typer.Option("--params", "-p", help="the settings file", show_default=True)]


def user_errors(command):
    """Turn the errors a user can fix into a clear message and exit code 2."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from features.spine import SpineSpec  # noqa: F401  (keeps import cost inside commands)
        from pipelines.config import ConfigError
        from pipelines.sources import DataError

        try:
            return command(*args, **kwargs)
        except (ConfigError, DataError) as error:
            typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from None

    return wrapper


@app.command()
@user_errors
def generate(
    out: Annotated[Path, typer.Option(help="directory to write leads, events, identities, deals and truth into")],
    leads: Annotated[Optional[int], typer.Option(help="number of leads (default: generate.leads)")] = None,
    seed: Annotated[Optional[int], typer.Option(help="random seed (default: generate.seed)")] = None,
    weeks: Annotated[Optional[int], typer.Option(help="weeks of history (default: generate.weeks)")] = None,
    params: ParamsOption = Path("params.yaml"),
):
    """Simulate a realistic B2B engagement dataset with ground truth (truth.parquet)."""
    from features.simulate import SimulationParams
    from pipelines.config import load_params
    from pipelines.generate import generate as run

    given = {"generate.leads": leads, "generate.seed": seed, "generate.weeks": weeks}
    config = load_params(params, overrides={k: v for k, v in given.items() if v is not None})
    g = config.generate
    sim = SimulationParams(leads=g.leads, seed=g.seed, start=g.start, weeks=g.weeks)
    summary = run(out, sim, config.spine, progress=sys.stderr.isatty())
    rows = ", ".join(f"{n:,} {name}" for name, n in summary.rows.items())
    typer.echo(f"wrote {out}: {rows} (+ truth.parquet)")
    typer.echo(f"history {summary.data_start:%Y-%m-%d} .. {summary.data_end:%Y-%m-%d %H:%M}; "
               f"{len(summary.cutoffs)} training cutoffs; score date {summary.score_date:%Y-%m-%d}")


@app.command()
@user_errors
def check(
    data_dir: Annotated[Path, typer.Argument(help="export directory with leads, events, identities, deals")],
    params: ParamsOption = Path("params.yaml"),
):
    """Load an export against the data contract and print a summary of what it holds."""
    from pipelines.config import load_params
    from pipelines.summary import summarise

    config = load_params(params)
    typer.echo(summarise(data_dir, config))


def main():  # pragma: no cover - console entry point
    app()
