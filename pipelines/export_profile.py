"""``leadscore profile``: what an export holds over time, and spine settings that can train on it.

A new export raises the same questions every time: how much history is there, how
many wins per week, how long from a lead to a won deal, and which horizon, warm-up,
grid and split sizes give enough positives in every block. Guessing takes failed
runs; this answers them from the data, and checks each suggestion with the very
spine and split code that training uses, so a suggestion that is printed trains.

The feasibility check is also what ``validate`` prints under "settings": an export
can meet the contract and still be too short or too sparse for the settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd

from features.plan import FeaturePlan, plan_features
from features.spine import SpineSpec, create_labelled_spine, cutoff_grid, mature_cutoffs
from models.splits import SplitSpec, time_split
from pipelines.config import Params
from pipelines.sources import DataTables

HORIZONS = (90, 60, 30)
SLIDES = (14, 7)
WARMUPS = (91, 28)


@dataclass
class SpineCheck:
    """Whether a spine and split setting can train on the export, and what it gives."""

    spine: SpineSpec
    split: SplitSpec
    problems: list[str] = field(default_factory=list)
    cutoffs: list[datetime] = field(default_factory=list)
    blocks: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # block -> (cutoffs, rows, positives)
    per_cutoff: pd.DataFrame | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        if not self.ok:
            return "cannot train: " + "; ".join(self.problems)
        blocks = ", ".join(f"{name} {c} cutoffs / {p:,} positives of {r:,} rows"
                           for name, (c, r, p) in self.blocks.items())
        return (f"trains: {len(self.cutoffs)} mature cutoffs {self.cutoffs[0]:%Y-%m-%d}..{self.cutoffs[-1]:%Y-%m-%d}; "
                f"{blocks}")


def check_spine(con, start: datetime, end: datetime, spine: SpineSpec, train, lifecycle=None,
                labelled: pd.DataFrame | None = None, validation=None) -> SpineCheck:
    """Lay out the grid, label it and split it as training would; collect every problem with the settings that fix it.

    ``labelled`` (optional) is a per-cutoff counts report already built for a finer grid
    with the same horizon and population rules: the check then selects its cutoffs from it
    instead of labelling again.
    """
    check = SpineCheck(spine, train.split)
    try:
        cutoffs = cutoff_grid(start, end, spine)
    except ValueError:
        check.problems.append(
            f"no cutoff fits between the history's start + spine.warmup_days={spine.warmup_days} and its end "
            f"{end:%Y-%m-%d}: lower spine.warmup_days or set an earlier spine.first_cutoff")
        return check
    mature, _ = mature_cutoffs(cutoffs, end, spine.horizon_days, spine.settle_days)
    if not mature:
        latest = end - timedelta(days=spine.horizon_days + spine.settle_days)
        check.problems.append(
            f"no cutoff is mature: a label needs spine.horizon_days={spine.horizon_days} + spine.settle_days="
            f"{spine.settle_days} after it, so the latest usable cutoff is {latest:%Y-%m-%d}, before the first "
            f"{cutoffs[0]:%Y-%m-%d}; shorten spine.horizon_days or spine.settle_days, lower spine.warmup_days "
            "or set an earlier spine.first_cutoff")
        return check
    if labelled is None:
        _, labelled = create_labelled_spine(con, mature, end, spine, out="_profile_spine", lifecycle=lifecycle)
    report = labelled[labelled["cutoff"].isin(pd.to_datetime(mature))].reset_index(drop=True)
    # a mature cutoff without a row is not in the training set at all: the split sees only cutoffs with rows
    report = report[report["rows"] > 0].reset_index(drop=True)
    mature = [t.to_pydatetime() for t in report["cutoff"]]
    check.cutoffs, check.per_cutoff = mature, report
    if validation is not None:  # the training set's own checks, which build-training-set enforces
        sparse = report[report["positives"] < validation.min_positives_per_cutoff]
        if len(sparse):
            check.problems.append(
                f"{len(sparse)} cutoffs have fewer than validation.min_positives_per_cutoff="
                f"{validation.min_positives_per_cutoff} positives (e.g. {sparse['cutoff'].iloc[0]:%Y-%m-%d}): a larger "
                "spine.slide_days, a longer spine.horizon_days, or a lower validation.min_positives_per_cutoff")
        rate = report["positives"].sum() / max(1, report["rows"].sum())
        low, high = validation.label_rate
        if not low <= rate <= high:
            check.problems.append(f"the label rate {rate:.4%} is outside validation.label_rate [{low:g}, {high:g}]: "
                                  "check deals.status and spine.label, or widen validation.label_rate")
    if not mature:
        check.problems.append("no mature cutoff has a lead in its population: check the leads' created_at")
        return check
    try:
        split = time_split(mature, spine.horizon_days, train.split)
    except ValueError:
        gap = spine.horizon_days
        check.problems.append(
            f"{len(mature)} mature cutoffs every {spine.slide_days} days are too few for "
            f"train.split (min_train_cutoffs={train.split.min_train_cutoffs}, validation_cutoffs="
            f"{train.split.validation_cutoffs}, test_cutoffs={train.split.test_cutoffs}) with {gap}-day purge gaps "
            "(spine.horizon_days): use a smaller spine.slide_days, fewer train.split cutoffs, a shorter "
            "spine.horizon_days, a lower spine.warmup_days or an earlier spine.first_cutoff")
        return check
    counts = report.set_index("cutoff")
    for name in ("train", "validation", "test"):
        block = counts.loc[pd.to_datetime(getattr(split, name))]
        check.blocks[name] = (len(block), int(block["rows"].sum()), int(block["positives"].sum()))
    fixes = {
        "train": (train.min_positives_train, "train.min_positives_train",
                  "a lower spine.warmup_days or an earlier spine.first_cutoff, a smaller spine.slide_days, or a longer "
                  "spine.horizon_days"),
        "validation": (2, "at least 2", "more train.split.validation_cutoffs or a longer spine.horizon_days"),
        "test": (train.min_positives_test, "train.min_positives_test",
                 "more train.split.test_cutoffs or a longer spine.horizon_days"),
    }
    for name, (minimum, setting, fix) in fixes.items():
        positives = check.blocks[name][2]
        if positives < minimum:
            check.problems.append(f"{positives} positives in the {name} block (need {minimum}, {setting}): {fix}")
    return check


@dataclass
class ExportProfile:
    start: datetime
    end: datetime
    weekly: pd.DataFrame
    days_to_win: dict[str, float]
    days_to_close: dict[str, float]
    current: SpineCheck
    suggestion: SpineCheck | None
    plan: FeaturePlan | None


def profile_export(tables: DataTables, config: Params) -> ExportProfile:
    """History per week, time to a won deal, the current settings' check, a suggestion that trains, the plan."""
    con = tables.con
    start, end = tables.data_start(), tables.data_end()
    lifecycle = dict(config.data.lifecycle_statuses) if tables.has("lifecycle") else None
    weekly = _weekly(tables)
    days_to_win = days_to_close = {}
    if tables.has("deals"):
        days_to_win = _quantiles(con, "SELECT epoch(d.created_at - l.created_at) / 86400 AS days FROM deals d "
                                      "JOIN leads l USING (lead_id) WHERE d.status = 'won'")
        days_to_close = _quantiles(con, "SELECT epoch(closed_at - created_at) / 86400 AS days FROM deals "
                                        "WHERE closed_at IS NOT NULL")
    current = suggestion = None
    if tables.has("deals"):
        current = check_spine(con, start, end, config.spine, config.train, lifecycle, validation=config.validation)
        suggestion = current if current.ok else _suggest(con, start, end, config, lifecycle, days_to_close)
    until = (suggestion or current).cutoffs[-1] if (suggestion or current) and (suggestion or current).cutoffs else end
    tables_present = {name for name in ("identities", "deals", "lifecycle") if tables.has(name)}
    plan = plan_features(con, config.features, config.data.event_types, config.data.extra_lead_attributes,
                         until, tables_present)
    return ExportProfile(start, end, weekly, days_to_win, days_to_close, current, suggestion, plan)


def _suggest(con, start, end, config: Params, lifecycle, days_to_close: dict) -> SpineCheck | None:
    """The first setting that trains, in order of preference: the user's horizon first, longer grids first.

    One labelled weekly spine per horizon is built; coarser grids and later first
    cutoffs are subsets of it, so each candidate is checked without labelling again.
    """
    settle = min(config.spine.settle_days, int(7 * -(-days_to_close.get("p75", 0) // 7)) or config.spine.settle_days)
    horizons = list(dict.fromkeys((config.spine.horizon_days, *HORIZONS)))
    for horizon in horizons:
        weekly = SpineSpec(**{**config.spine.model_dump(), "horizon_days": horizon, "settle_days": min(settle, horizon),
                              "slide_days": 7, "warmup_days": min(config.spine.warmup_days, *WARMUPS),
                              "first_cutoff": None})
        try:
            grid = cutoff_grid(start, end, weekly)
        except ValueError:
            continue
        mature, _ = mature_cutoffs(grid, end, weekly.horizon_days, weekly.settle_days)
        if not mature:
            continue
        _, labelled = create_labelled_spine(con, mature, end, weekly, out="_profile_spine", lifecycle=lifecycle)
        for slide in dict.fromkeys((config.spine.slide_days, *SLIDES)):
            for warmup in dict.fromkeys((config.spine.warmup_days, *WARMUPS)):
                for split in _splits(config.train.split):
                    spine = weekly.model_copy(update={"slide_days": slide, "warmup_days": warmup})
                    train = config.train.model_copy(update={"split": split})
                    check = check_spine(con, start, end, spine, train, lifecycle, labelled=labelled,
                                        validation=config.validation)
                    if check.ok:
                        return check
    return None


def _splits(split: SplitSpec):
    yield split
    for size in (3, 2):
        if size < max(split.test_cutoffs, split.validation_cutoffs):
            yield SplitSpec(test_cutoffs=min(size, split.test_cutoffs),
                            validation_cutoffs=min(size, split.validation_cutoffs),
                            min_train_cutoffs=min(2, split.min_train_cutoffs))


def _weekly(tables: DataTables) -> pd.DataFrame:
    """Leads, events and won/lost deals per week (Mondays)."""
    parts = ["SELECT date_trunc('week', created_at) AS week, 'leads' AS what FROM leads",
             "SELECT date_trunc('week', occurred_at), 'events' FROM events"]
    if tables.has("deals"):
        parts.append("SELECT date_trunc('week', closed_at), status FROM deals WHERE status IN ('won', 'lost')")
    # weeks of the engagement history only: CRMs hold leads created years before any tracked activity
    frame = tables.con.sql(f"SELECT week, what, count(*) AS n FROM ({' UNION ALL '.join(parts)}) "
                           f"WHERE week >= (SELECT date_trunc('week', min(occurred_at)) FROM events) GROUP BY 1, 2").df()
    table = frame.pivot_table(index="week", columns="what", values="n", fill_value=0, aggfunc="sum")
    return table.reindex(columns=["leads", "events", "won", "lost"], fill_value=0).sort_index()


def _quantiles(con, sql: str) -> dict[str, float]:
    row = con.execute(f"SELECT count(days), quantile_cont(days, [0.1, 0.25, 0.5, 0.75, 0.9]) FROM ({sql})").fetchall()[0]
    if not row[0]:
        return {}
    return dict(zip(("p10", "p25", "p50", "p75", "p90"), (round(float(v), 1) for v in row[1])))


def settings_yaml(check: SpineCheck) -> str:
    """The spine and split settings of a check, as lines to paste into params.yaml."""
    s, split = check.spine, check.split
    return "\n".join([
        "spine:",
        f"  horizon_days: {s.horizon_days}",
        f"  settle_days: {s.settle_days}",
        f"  slide_days: {s.slide_days}",
        f"  warmup_days: {s.warmup_days}",
        f"  first_cutoff: {s.first_cutoff or 'null'}      # first training cutoff: "
        f"{check.cutoffs[0]:%Y-%m-%d}" if check.cutoffs else "  first_cutoff: null",
        f"  last_cutoff: {s.last_cutoff or 'null'}",
        "train:",
        "  split:",
        f"    test_cutoffs: {split.test_cutoffs}",
        f"    validation_cutoffs: {split.validation_cutoffs}",
        f"    min_train_cutoffs: {split.min_train_cutoffs}",
    ])


def render(profile: ExportProfile) -> str:
    """The profile as text for the terminal."""
    weeks = max(1, round((profile.end - profile.start) / timedelta(days=7)))
    lines = [f"history      {profile.start:%Y-%m-%d} .. {profile.end:%Y-%m-%d} ({weeks} weeks)"]
    weekly = profile.weekly
    if len(weekly):
        lines.append("per week     median (last 8 weeks)")
        for column in weekly.columns:
            lines.append(f"  {column:<10} {weekly[column].median():>10,.0f} ({weekly[column].tail(8).median():,.0f})")
    if profile.days_to_win:
        lines.append("days from lead to won deal  " + ", ".join(f"{k} {v:g}" for k, v in profile.days_to_win.items()))
    if profile.days_to_close:
        lines.append("days from deal to close     " + ", ".join(f"{k} {v:g}" for k, v in profile.days_to_close.items()))
    if profile.current is None:
        lines.append("settings     no deals table: nothing to label, so no training spine to check")
    else:
        lines.append(f"settings     {profile.current.describe()}")
        if profile.current.per_cutoff is not None and len(profile.current.per_cutoff):
            lines.append("  cutoff       rows  positives  base rate")
            for r in profile.current.per_cutoff.itertuples():
                rate = r.positives / r.rows if r.rows else 0
                lines.append(f"  {r.cutoff:%Y-%m-%d} {r.rows:>7,} {r.positives:>9,}  {rate:8.2%}")
        if not profile.current.ok:
            if profile.suggestion is None:
                lines.append("suggestion   none of the tried settings trains: the export has too few won deals or "
                             "too little history; export more history or more leads")
            else:
                lines.append(f"suggestion   {profile.suggestion.describe()}")
                lines.append("  in params.yaml:")
                lines += ["    " + line for line in settings_yaml(profile.suggestion).splitlines()]
    if profile.plan is not None:
        plan = profile.plan
        lines.append(f"features     {len(plan.features)} will be built, {len(plan.left_out)} left out")
        for name, reason in plan.left_out:
            lines.append(f"  - {name}: {reason}")
        for extra in plan.extras:
            kept = "" if extra.categories is None else f" ({len(extra.categories)} values kept, the rest 'other')"
            lines.append(f"  extra {extra.name}: {extra.kind}{kept}")
        for role in plan.empty_roles:
            lines.append(f"  role {role}: no events of features.roles.{role}; its rule terms are skipped")
    return "\n".join(lines)
