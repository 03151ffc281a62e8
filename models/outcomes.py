"""How published lists did: per week and tier, the wins the list expected against the wins that came.

Pure functions over one row per listed lead (``as_of``, ``tier``, ``probability``,
``positive``, ``censored``); the rows and their labels come from ``pipelines/list_outcomes.py``.
A lead whose outcome is still unknown (a deal opened in its window is still open) is
censored as in training: counted apart, in neither the expected nor the actual wins.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.tiers import TIERS

OUTCOME_COLUMNS = ["as_of", "tier", "leads", "censored", "expected_wins", "actual_wins", "win_rate",
                   "actual_over_expected", "lift_over_rest"]


def tier_outcomes(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (week, tier): leads with a known outcome, censored leads, expected and actual wins, win rate,
    actual / expected, and the tier's win rate over the rest of that week's list (its realised lift)."""
    known = rows[~rows["censored"].astype(bool)]
    grouped = known.groupby(["as_of", "tier"], sort=True)
    table = pd.DataFrame({"leads": grouped.size(), "expected_wins": grouped["probability"].sum(),
                          "actual_wins": grouped["positive"].sum().astype(float)})
    table["censored"] = rows[rows["censored"].astype(bool)].groupby(["as_of", "tier"]).size()
    table = table.reindex(pd.MultiIndex.from_product([sorted(rows["as_of"].unique()), list(TIERS)],
                                                     names=["as_of", "tier"]))
    table = table.dropna(subset=["leads"]).fillna({"censored": 0})
    return _rates(table.reset_index())


def pooled(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Per tier over several weeks: sums, then the same rates (one week of tier A is a few dozen leads)."""
    table = outcomes.groupby("tier", sort=False)[["leads", "censored", "expected_wins", "actual_wins"]].sum()
    table = table.reindex([t for t in TIERS if t in table.index]).reset_index()
    table.insert(0, "as_of", pd.NaT)
    return _rates(table, by=None)


def _rates(table: pd.DataFrame, by: str | None = "as_of") -> pd.DataFrame:
    table["leads"] = table["leads"].astype(int)
    table["censored"] = table["censored"].astype(int)
    table["win_rate"] = table["actual_wins"] / table["leads"].where(table["leads"] > 0)
    table["actual_over_expected"] = table["actual_wins"] / table["expected_wins"].where(table["expected_wins"] > 0)
    groups = [table] if by is None else [g for _, g in table.groupby(by, sort=False)]
    lift = []
    for group in groups:
        wins, leads = group["actual_wins"].sum(), group["leads"].sum()
        rest_rate = (wins - group["actual_wins"]) / (leads - group["leads"]).where(leads - group["leads"] > 0)
        lift.append(group["win_rate"] / rest_rate.where(rest_rate > 0))
    table["lift_over_rest"] = pd.concat(lift).reindex(table.index) if lift else np.nan
    return table[OUTCOME_COLUMNS]


def outcome_warnings(summary: pd.DataFrame, weeks: list, min_lift: float, ratio_band: tuple[float, float]) -> list[str]:
    """Plain words when the pooled lists left the band of ``params.yaml: outcomes``: tier A did not beat the rest
    by ``min_lift``, or the wins that came were outside ``ratio_band`` times the wins the lists expected."""
    if summary.empty:
        return []
    span = f"the {len(weeks)} list(s) of {min(weeks):%Y-%m-%d}..{max(weeks):%Y-%m-%d}"
    out = []
    top = summary[summary["tier"] == TIERS[0]]
    if not top.empty and pd.notna(top["lift_over_rest"].iloc[0]) and top["lift_over_rest"].iloc[0] < min_lift:
        row = top.iloc[0]
        out.append(f"tier {TIERS[0]} of {span} won {row.actual_wins:.0f} of {row.leads:,} leads ({row.win_rate:.1%}), "
                   f"only {row.lift_over_rest:.1f}x the rest of the list (the band asks at least {min_lift:g}x): the "
                   "ranking has lost its edge; compare the latest training run with the points score and retrain")
    expected, actual = summary["expected_wins"].sum(), summary["actual_wins"].sum()
    if expected > 0 and not ratio_band[0] <= actual / expected <= ratio_band[1]:
        direction = "more" if actual > expected else "fewer"
        out.append(f"{span} expected {expected:.1f} wins and {actual:.0f} came ({actual / expected:.2f}x, {direction} "
                   f"than the band {ratio_band[0]:g}..{ratio_band[1]:g} allows): the probabilities no longer match "
                   "how often leads win; retrain so the model is calibrated to the recent base rate")
    return out
