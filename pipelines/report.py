"""The weekly HTML report for marketing ops: one self-contained file that opens from disk."""

from __future__ import annotations

import base64
import html
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from jinja2 import Environment, PackageLoader, select_autoescape  # noqa: E402

from features.definitions import JOURNEY_STAGES, STAGE_LABELS  # noqa: E402
from features.spine import LABEL_WORDS  # noqa: E402
from models.tiers import TIERS, tier_table  # noqa: E402
from pipelines.scores_contract import DISPLAY_MEANING, WEEKLY_SCORES, csv_columns  # noqa: E402

BLUE, GREY, ORANGE = "#1f5fbf", "#9aa5b1", "#d9822b"


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", dpi=110)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def funnel_chart(scores: pd.DataFrame) -> str:
    counts = scores["journey_stage"].value_counts().reindex(JOURNEY_STAGES).fillna(0)
    fig, ax = plt.subplots(figsize=(6, 2.4))
    bars = ax.barh([STAGE_LABELS[s] for s in JOURNEY_STAGES][::-1], counts.to_numpy()[::-1], color=[ORANGE, BLUE, GREY])
    ax.bar_label(bars, labels=[f"{int(v):,}" for v in counts.to_numpy()[::-1]], padding=4, fontsize=9)
    ax.set_xlabel("leads")
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_xlim(0, max(1, counts.max()) * 1.2)
    return _png(fig)


def distribution_chart(scores: pd.DataFrame, previous: pd.DataFrame) -> str:
    fig, ax = plt.subplots(figsize=(6, 2.8))
    bins = np.logspace(np.log10(max(1e-4, scores["probability"].min())), np.log10(max(scores["probability"].max(), 1e-3)), 40)
    ax.hist(scores["probability"], bins=bins, color=BLUE, alpha=0.75, label="this week")
    if not previous.empty:
        ax.hist(previous["probability"], bins=bins, histtype="step", color=ORANGE, lw=1.8, label="last week")
    ax.set_xscale("log")
    ax.set_xlabel("probability of a won deal within the horizon (log scale)")
    ax.set_ylabel("leads")
    ax.legend(fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def tier_chart(tiers: pd.DataFrame) -> str:
    fig, ax = plt.subplots(figsize=(6, 2.4))
    bars = ax.bar(tiers["tier"], tiers["expected_wins"], color=[BLUE, "#5a8ad6", GREY, "#d0d5da"])
    ax.bar_label(bars, labels=[f"{v:,.1f}" for v in tiers["expected_wins"]], padding=3, fontsize=9)
    ax.set_ylabel("expected wins")
    ax.set_xlabel("tier")
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_ylim(0, max(1, tiers["expected_wins"].max()) * 1.25)
    return _png(fig)


def outcomes_chart(weeks: pd.DataFrame) -> str:
    """Each measured list: tier A's realised win rate against the rest's, and the wins it expected against those
    that came (all tiers)."""
    top = weeks[weeks["tier"] == TIERS[0]].set_index("as_of")
    rest = weeks[weeks["tier"] != TIERS[0]].groupby("as_of")[["actual_wins", "leads", "expected_wins"]].sum()
    every = weeks.groupby("as_of")[["actual_wins", "expected_wins"]].sum()
    days = pd.to_datetime(every.index)
    fig, (rates, wins) = plt.subplots(1, 2, figsize=(9, 2.8))
    rates.plot(days, 100 * top["win_rate"].reindex(every.index), marker="o", color=BLUE, label=f"tier {TIERS[0]}")
    rates.plot(days, 100 * rest["actual_wins"] / rest["leads"].where(rest["leads"] > 0), marker="o", color=GREY,
               label="the rest of the list")
    rates.set_ylabel("won, % of leads")
    rates.set_ylim(bottom=0)
    rates.legend(fontsize=8)
    wins.bar(days, every["actual_wins"], width=5, color=BLUE, alpha=0.75, label="wins that came")
    wins.plot(days, every["expected_wins"], marker="_", markersize=14, ls="none", color=ORANGE, mew=2,
              label="wins the list expected")
    wins.set_ylabel("wins, all tiers")
    wins.set_ylim(0, 1.4 * max(1.0, every["actual_wins"].max(), every["expected_wins"].max()))
    wins.legend(fontsize=8, loc="upper left", ncol=2)
    for ax in (rates, wins):
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    return _png(fig)


def _earlier_lists(outcomes, model) -> dict:
    """What the report says of earlier lists: the pooled tiers, the chart, the warnings, and an honest caveat when
    the measured weeks overlap the weeks the model was evaluated and calibrated on."""
    if outcomes is None:
        return {"why_none": "this run did not measure earlier lists"}
    if outcomes.why_none:
        return {"why_none": outcomes.why_none, "waiting": len(outcomes.waiting)}
    test = model.wrapper.settings.get("test_cutoffs") or []
    last_seen = max(pd.Timestamp(t) for t in test) if test else None
    seen = [w for w in outcomes.window if last_seen is not None and pd.Timestamp(w) <= last_seen]
    label = outcomes.weeks[["label", "horizon_days"]].iloc[0]
    return {"summary": outcomes.summary.to_dict("records"), "chart": outcomes_chart(outcomes.weeks),
            "label": LABEL_WORDS[label["label"]].format(days=int(label["horizon_days"])),
            "first": f"{min(outcomes.window):%d %B %Y}", "last": f"{max(outcomes.window):%d %B %Y}",
            "weeks": len(outcomes.window), "measured": outcomes.weeks["as_of"].nunique(),
            "known_at": f"{outcomes.known_at:%d %B %Y}", "warnings": outcomes.warnings,
            "waiting": len(outcomes.waiting),
            "seen": len(seen), "last_seen": None if last_seen is None else f"{last_seen:%d %B %Y}"}


FEEDBACK_WORDS = {"accepted": "Accepted", "rejected": "Rejected", "no_answer": "No answer",
                  "in_contact": "Already in contact"}  # data.feedback_dispositions' meanings, for people
FEEDBACK_COLOURS = {"accepted": BLUE, "rejected": ORANGE, "no_answer": GREY, "in_contact": "#5a8ad6"}


def feedback_chart(tiers: pd.DataFrame) -> str:
    """Per tier, what sales said of its leads, as a share of the leads on the lists (the rest: nothing recorded)."""
    fig, ax = plt.subplots(figsize=(6, 0.5 + 0.45 * len(tiers)))
    left = np.zeros(len(tiers))
    names = [f"tier {t}" for t in tiers["tier"]][::-1]
    for meaning, words in FEEDBACK_WORDS.items():
        share = (100 * tiers[meaning] / tiers["leads"].where(tiers["leads"] > 0)).fillna(0).to_numpy()[::-1]
        ax.barh(names, share, left=left, color=FEEDBACK_COLOURS[meaning], label=words)
        left += share
    ax.set_xlabel("% of the tier's leads on the lists")
    ax.set_xlim(0, max(1.0, left.max()) * 1.15)
    ax.legend(fontsize=8, ncol=4, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def _sales_said(heard) -> dict:
    """What the report says of sales' feedback on recent lists: per tier, the chart, and the reasons given."""
    if heard is None:
        return {"why_none": "this run did not read sales feedback"}
    if heard.why_none:
        return {"why_none": heard.why_none}
    reasons = {}
    for row in heard.reasons.itertuples():
        reasons.setdefault(row.meaning, []).append({"tier": row.tier, "reason": row.reason, "leads": int(row.leads)})
    return {"tiers": heard.tiers.to_dict("records"), "chart": feedback_chart(heard.tiers),
            "first": f"{min(heard.weeks):%d %B %Y}", "last": f"{max(heard.weeks):%d %B %Y}",
            "weeks": len(heard.weeks), "words": FEEDBACK_WORDS, "accepted_reasons": reasons.get("accepted", []),
            "rejected_reasons": reasons.get("rejected", []), "unmapped": heard.unmapped,
            "worked": int(heard.tiers["worked"].sum())}


def _owner_filter(top: pd.DataFrame, column: str | None, display: list[str]) -> dict:
    """The list's third filter: the values of one display column (who owns the lead), when the export has it."""
    if not column or column not in display or column not in top:
        return {"owners": [], "owner_index": {}, "owner_column": None}
    owners = sorted(v for v in top[column].dropna().unique() if isinstance(v, str))
    return {"owners": owners, "owner_index": {o: i for i, o in enumerate(owners)}, "owner_column": column}


def glossary(display: list[str], sources=()) -> list[tuple[str, str]]:
    """Every CSV column with its meaning, in the CSV's order: the output contract's, and this run's display columns
    and optional tables."""
    meanings = {c.name: c.meaning for c in WEEKLY_SCORES if c.csv}
    return [(name, meanings.get(name, DISPLAY_MEANING)) for name in csv_columns(tuple(display), sources)]


def dropped_from_top(scores: pd.DataFrame, previous: pd.DataFrame, limit: int = 15) -> pd.DataFrame:
    """Last week's tier A leads that are not in tier A now: their tier and probability now, or none when they left
    the population (a deal opened, a customer now, disqualified)."""
    if previous.empty:
        return pd.DataFrame(columns=["lead_id", "tier", "probability"])
    was_top = previous.loc[previous["tier"] == TIERS[0], ["lead_id"]]
    now = was_top.merge(scores[["lead_id", "tier", "probability"]], on="lead_id", how="left")
    now = now[now["tier"] != TIERS[0]].astype({"tier": object})
    now["tier"] = now["tier"].where(now["tier"].notna(), None)
    return now.sort_values("probability", ascending=False, na_position="last").head(limit)


def render_report(result, model, config) -> str:
    scores = result.scores
    tiers = tier_table(scores, label=None)
    tiers["leads"] = tiers["leads"].astype(int)
    top = scores.head(config.score.top_leads_in_report)
    movers_up = scores[scores["score_delta"].notna()].nlargest(10, "score_delta")
    new_top = scores[scores["new_in_top_tier"].fillna(False).astype(bool)].head(15)
    movers_down = scores[scores["score_delta"] < 0].nsmallest(10, "score_delta")
    metrics = model.wrapper.metrics.get("model", {})
    env = Environment(loader=PackageLoader("pipelines", "templates"), autoescape=select_autoescape(["html"]))
    return env.get_template("report.html").render(
        as_of=f"{result.as_of:%A %d %B %Y}", run_id=result.run_id, population=len(scores),
        expected_wins=scores["probability"].sum(), tiers=tiers.to_dict("records"), tier_names=TIERS,
        top=top.to_dict("records"), movers=movers_up.to_dict("records"), new_top=new_top.to_dict("records"),
        movers_down=movers_down.to_dict("records"), dropped=dropped_from_top(scores, result.previous).to_dict("records"),
        stage_labels=STAGE_LABELS, stage_order=JOURNEY_STAGES, filter_tiers=sorted(top["tier"].unique()),
        **_owner_filter(top, config.score.report_filter_column, getattr(result, "display_columns", [])),
        has_previous=not result.previous.empty,
        previous_as_of=None if result.previous.empty else f"{pd.Timestamp(result.previous['as_of'].iloc[0]):%d %B %Y}",
        accounts=result.accounts.head(10).to_dict("records"), warnings=result.warnings,
        stage_counts={STAGE_LABELS[s]: int((scores["journey_stage"] == s).sum()) for s in JOURNEY_STAGES},
        funnel=funnel_chart(scores), distribution=distribution_chart(scores, result.previous), tier_chart=tier_chart(tiers),
        model_version=model.version or "(unregistered)", model_uri=model.uri, model_run_id=model.run_id or "unknown",
        trained_at=str(model.wrapper.settings.get("trained_at", ""))[:10],
        horizon_days=model.wrapper.settings.get("horizon_days"),
        test_lift=metrics.get("lift_top10"), test_recall=metrics.get("recall_top10"), test_auc=metrics.get("roc_auc"),
        columns=glossary(getattr(result, "display_columns", []), getattr(result, "sources", ())), display=getattr(result, "display_columns", []),
        earlier=_earlier_lists(getattr(result, "outcomes", None), model),
        said=_sales_said(getattr(result, "feedback", None)),
        drift_rows=result.drift.head(30).to_dict("records"), drift_weeks=config.score.drift_baseline_weeks,
        fmt=lambda value, pattern: "—" if value is None or value != value else pattern % value,
        esc=html.escape,
    )
