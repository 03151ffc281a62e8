"""Six small synthetic exports ("export shapes") for the end-to-end conformance test.

Each ``make_<name>(out, seed)`` writes the contract tables of one kind of real-world
export into the folder ``out`` and returns a :class:`Shape`: the ``params.yaml``
overrides that describe the export in its own words, and one sentence naming the
signal it plants. The generators are deliberately independent of
``features/simulate.py`` (nothing is imported from it or copied out of it) and of
each other's worlds: each invents its own people, vocabulary and time scale, using
numpy, pandas, pyarrow and the standard library only.

Common to all six:

* about 80 weeks of history starting on a Monday in 2023; everything happens before
  the end of that history (so never in the future of the export);
* a hidden per-lead (or per-account) propensity drives both a *minority* behaviour
  in the weeks before a deal (the informative events) and the chance of a won deal,
  created 0-6 weeks after the behaviour starts; a *frequent* behaviour is
  uninformative or negatively related, so counting every event the same loses;
* deals close 5-35 days after they are created, within ``settle_days``, so the
  labels of mature cutoffs are final.

Spine arithmetic (slide 7 days, so one cutoff per week): with ``N`` weeks of data,
warmup ``W`` weeks, horizon ``H`` weeks and settle ``S`` weeks, the cutoffs are weeks
``W .. N-1`` and the mature ones weeks ``W .. N-1-(H+S)`` (roughly). The split takes 3
test and 3 validation cutoffs, and each purge gap between blocks costs ``H-1``
cutoffs, so ``train = mature - 6 - 2(H-1)`` must be at least 2.

Run ``python -m tests.conformance.shapes`` to generate all six into a temporary folder
and print a check of each: the contract rules, table sizes, deal outcomes and a crude
look at the planted signal.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


@dataclass(frozen=True)
class Shape:
    name: str
    params: dict  # nested overrides for params.yaml, merged over the project's defaults by the test
    planted: str  # one sentence: the signal planted, i.e. what makes a lead win
    disqualified: frozenset[tuple[str, str]] = frozenset()


# --------------------------------------------------------------------------------------------
# Small writing helpers (times are float days after the shape's start Monday until written)
# --------------------------------------------------------------------------------------------

_INTEGER_COLUMNS = {"company_size"}
_NUMBER_COLUMNS = {"duration_s", "amount", "requested_amount", "annual_revenue"}


def _stamp(start: str, days) -> pd.Series:
    """Float days after ``start`` (UTC) as UTC timestamps floored to the second; NaN becomes NaT."""
    seconds = np.floor(np.asarray(days, dtype=float) * 86400.0)
    return pd.Series(pd.Timestamp(start, tz="UTC") + pd.to_timedelta(seconds, unit="s"))


def _write(out: Path, name: str, df: pd.DataFrame, csv: bool = False) -> None:
    """Write one table: Parquet with explicit types (timestamps as us/UTC), or CSV with ISO-8601 'Z' times."""
    df = df.reset_index(drop=True)
    if csv:
        text = df.copy()
        for column in text.columns:
            if column.endswith("_at") or column == "at":
                text[column] = text[column].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        text.to_csv(out / f"{name}.csv", index=False, na_rep="", float_format="%.1f", encoding="utf-8")
        return
    fields = []
    for column in df.columns:
        if column.endswith("_at") or column == "at":
            kind = pa.timestamp("us", tz="UTC")
        elif column in _INTEGER_COLUMNS:
            kind = pa.int64()
        elif column in _NUMBER_COLUMNS:
            kind = pa.float64()
        else:
            kind = pa.string()
        fields.append(pa.field(column, kind))
    columns = {}
    for f in fields:
        values = df[f.name]
        if pa.types.is_string(f.type):
            values = values.astype(object).where(values.notna(), None)
        if pa.types.is_timestamp(f.type):  # UTC instants, without pandas' zone-dropping .values
            values = pd.to_datetime(values, utc=True).dt.tz_convert(None).to_numpy()
        columns[f.name] = pa.array(values, type=f.type, from_pandas=True)
    pq.write_table(pa.table(columns, schema=pa.schema(fields)), out / f"{name}.parquet")


def _poisson_times(rng, starts, ends, rate_per_week):
    """Events of a Poisson process per row between ``starts`` and ``ends``: (row index, time) arrays."""
    starts = np.asarray(starts, dtype=float)
    span = np.clip(np.asarray(ends, dtype=float) - starts, 0.0, None)
    counts = rng.poisson(np.broadcast_to(np.asarray(rate_per_week, dtype=float), span.shape) * span / 7.0)
    rows = np.repeat(np.arange(span.size), counts)
    return rows, starts[rows] + rng.random(rows.size) * span[rows]


def _burst_times(rng, rows, starts, lengths, counts):
    """``counts[i]`` times spread uniformly over ``[starts[i], starts[i] + lengths[i])`` for each of ``rows``."""
    rows = np.asarray(rows)
    counts = np.asarray(counts, dtype=int)
    index = np.repeat(np.arange(rows.size), counts)
    return rows[index], np.asarray(starts, float)[index] + rng.random(index.size) * np.asarray(lengths, float)[index]


def _close(rng, created, p_won, end, min_days=5.0, max_days=35.0):
    """Closing of deals created at ``created``: (closed_at days or NaN, status); closing after ``end`` stays open."""
    created = np.asarray(created, dtype=float)
    closed = created + rng.uniform(min_days, max_days, created.size)
    status = np.where(rng.random(created.size) < p_won, "won", "lost").astype(object)
    still_open = closed >= end
    status[still_open] = "open"
    closed[still_open] = np.nan
    return closed, status


def _params(out: Path, *, event_types, content_types, roles, extra=(), horizon, settle, capacity,
            warmup=56, slide=7, **data) -> dict:
    roles = {key: list(roles.get(key, [])) for key in ("high_intent", "sales_ready", "engaged_activity")}
    return {
        "data": {"dir": str(out), "event_types": list(event_types), "extra_lead_attributes": list(extra), **data},
        "features": {"content_types": list(content_types), "roles": roles},
        "spine": {"horizon_days": horizon, "slide_days": slide, "warmup_days": warmup, "settle_days": settle},
        "train": {"split": {"test_cutoffs": 3, "validation_cutoffs": 3, "min_train_cutoffs": 2}},
        "tiers": {"capacity": [capacity, 5 * capacity, 20 * capacity]},
    }


def _ids(prefix: str, n: int, width: int = 5) -> np.ndarray:
    return np.array([f"{prefix}{i:0{width}d}" for i in range(n)], dtype=object)


def _hex_ids(rng, prefix: str, n: int) -> np.ndarray:
    """``n`` distinct random-looking ids such as cookie ids."""
    numbers = rng.choice(16**8, size=n, replace=False)
    return np.array([f"{prefix}{x:08x}" for x in numbers], dtype=object)


def _events_frame(start: str, parts: list[dict], end: float) -> pd.DataFrame:
    """Concatenate event parts (dicts of equal-length arrays, ``t`` in days), drop those at/after ``end``, sort.

    The result keeps ``t`` (float days) beside ``occurred_at`` for the generator's own bookkeeping.
    """
    frame = pd.concat([pd.DataFrame(p) for p in parts if len(p["t"])], ignore_index=True)
    frame = frame[frame["t"] < end].sort_values("t", kind="stable").reset_index(drop=True)
    frame.insert(0, "occurred_at", _stamp(start, frame["t"]))
    return frame


# --------------------------------------------------------------------------------------------
# (a) funnel_only
# --------------------------------------------------------------------------------------------

def make_funnel_only(out: Path, seed: int = 0) -> Shape:
    """A bare web-form funnel: the form-submission report of a marketing site plus a closed-won report.

    Imitates the smallest export a marketing team can produce: one ``form_submit`` per
    lead at the moment it is created (content_type = the landing page it converted on,
    one of 8), the acquisition channel, and a CRM report of *won* deals only (no lost
    or open deals, no identities, no firmographics). Planted: the landing page decides
    the propensity -- ``lp_demo_request`` (50 %) and ``lp_pricing`` (35 %) win far more
    often than the others (0.5-8 %); referral and partner leads a little more, paid
    social less. Won deals are created 0-6 weeks after the form.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 1])
    start, weeks, n = "2023-09-04", 78, 3000
    end = weeks * 7.0
    created = np.sort(rng.uniform(0.0, end - 2.0, n))
    lead_ids = _ids("fl-", n)

    sources = np.array(["organic_search", "paid_search", "paid_social", "referral", "partner", "event", "direct"])
    source = rng.choice(sources, n, p=[0.28, 0.22, 0.18, 0.08, 0.06, 0.08, 0.10])
    source_factor = np.select([source == "referral", source == "partner", source == "paid_social"],
                              [1.5, 1.3, 0.6], 1.0)
    pages = np.array(["lp_home", "lp_demo_request", "lp_pricing", "lp_ebook_guide", "lp_webinar_signup",
                      "lp_newsletter", "lp_contact_sales", "lp_giveaway"])
    page_share = [0.22, 0.07, 0.08, 0.19, 0.12, 0.17, 0.05, 0.10]
    page_win = np.array([0.03, 0.50, 0.35, 0.02, 0.05, 0.015, 0.08, 0.005])
    page = rng.choice(len(pages), n, p=page_share)
    won = rng.random(n) < np.minimum(page_win[page] * source_factor, 0.8)

    leads = pd.DataFrame({"lead_id": lead_ids, "created_at": _stamp(start, created), "lead_source": source})
    events = pd.DataFrame({
        "event_id": _ids("fs-", n, 6),
        "occurred_at": _stamp(start, created),
        "lead_id": lead_ids,
        "anonymous_id": None,
        "event_type": "form_submit",
        "content_type": pages[page],
        "content_id": [f"{p}/variant-{v}" for p, v in zip(pages[page], rng.choice(["a", "b"], n))],
        "duration_s": np.nan,
    })
    winners = np.flatnonzero(won)
    deal_created = created[winners] + rng.uniform(3.0, 42.0, winners.size)
    closed = deal_created + rng.uniform(7.0, 35.0, winners.size)
    keep = closed < end  # a won deal closing after the export is not in a closed-won report
    winners, deal_created, closed = winners[keep], deal_created[keep], closed[keep]
    deals = pd.DataFrame({
        "deal_id": _ids("cw-", winners.size),
        "lead_id": lead_ids[winners],
        "account_id": None,
        "created_at": _stamp(start, deal_created),
        "closed_at": _stamp(start, closed),
        "status": "won",
        "amount": np.round(np.exp(rng.normal(np.log(9000), 0.5, winners.size)), 2),
    }).sort_values("created_at").reset_index(drop=True)
    for name, table in (("leads", leads), ("events", events), ("deals", deals)):
        _write(out, name, table)

    # 78 weeks, warmup 8, horizon 8, settle 5: mature cutoffs weeks 8..64 = 57;
    # 57 - 3 test - 3 validation - 2 x 7 purged = 37 train cutoffs (>= 2).
    # ~3k leads, ~38 created a week, ~1.5k in the population mid-way: capacity 20 (~1.3 %).
    params = _params(out, event_types=["form_submit"], content_types=pages.tolist(),
                     roles={"high_intent": ["lp_demo_request", "lp_pricing"]},
                     horizon=56, settle=35, capacity=20)
    return Shape("funnel_only", params,
                 "leads converting on the demo-request or pricing landing page win a deal within 6 weeks far more "
                 "often than leads from any other page (one form per lead, so counting events says nothing)")


# --------------------------------------------------------------------------------------------
# (b) process_log
# --------------------------------------------------------------------------------------------

PROCESS_ACTIVITIES = [
    "A_submitted", "A_partlysubmitted", "A_preaccepted", "A_accepted", "A_declined", "A_cancelled",
    "A_approved", "A_activated", "O_selected", "O_created", "O_sent", "O_sent_back", "O_cancelled",
    "O_accepted", "W_complete_application", "W_call_incomplete", "W_call_offers", "W_validate", "W_fraud_check",
]


def make_process_log(out: Path, seed: int = 0) -> Shape:
    """A loan-application process log, in the style of the BPI Challenge 2012/2017 event logs.

    Every lead is an application (created when submitted) with its requested amount and
    loan goal; its events are the case's activities (A_* application states, O_* offer
    states, W_* work items), with no content and no firmographics. A ``lifecycle``
    table records the application's status in the log's own words: submitted ->
    in_review -> accepted / declined / cancelled. About half the applications are
    declined or cancelled part-way through the history and do nothing after that.
    Deals are the loan contracts: won (activated) or lost (declined/cancelled at the
    end of validation), about one per application that gets that far.

    Planted: hot applicants (more often 'existing_loan_takeover'/'car' goals and
    mid-sized amounts) return a signed offer (``O_sent_back``) and go through
    validation calls (``W_validate``), a minority of the events; the contract is
    created 0-6 weeks after. The frequent ``W_call_incomplete`` chasing calls are
    more common for the applicants that go nowhere.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 2])
    start, weeks, n = "2023-01-02", 84, 4000
    end = weeks * 7.0
    t0 = np.sort(rng.uniform(0.0, end - 2.0, n))
    lead_ids = _ids("app-", n)

    goals = np.array(["car", "home_improvement", "existing_loan_takeover", "boat", "motorcycle",
                      "caravan_camper", "tax_payments", "unknown"])
    goal = rng.choice(len(goals), n, p=[0.25, 0.22, 0.18, 0.04, 0.04, 0.05, 0.07, 0.15])
    goal_factor = np.array([1.2, 1.0, 1.8, 0.8, 0.8, 0.9, 0.7, 0.4])[goal]
    requested = np.round(np.exp(rng.normal(np.log(12000), 0.7, n)), -2)
    amount_factor = np.where((requested >= 5000) & (requested <= 40000), 1.2, 0.6)
    hot = rng.random(n) < np.clip(0.075 * goal_factor * amount_factor, 0.0, 0.5)
    cold = ~hot

    parts: list[dict] = []

    def add(rows, times, activity):
        rows = np.asarray(rows, dtype=int)
        parts.append({"t": np.asarray(times, dtype=float), "row": rows, "event_type": np.full(rows.size, activity)})

    everyone = np.arange(n)
    add(everyone, t0, "A_submitted")
    add(everyone, t0 + rng.uniform(1, 90, n) / 86400.0, "A_partlysubmitted")
    life_end = np.full(n, np.inf)          # no events at or after this time
    final = np.full(n, "", dtype=object)   # last lifecycle status, if any
    final_t = np.full(n, np.nan)

    # Early decline (some after a fraud check): within days of submission, never for hot applicants.
    fraud = cold & (rng.random(n) < 0.05)
    fraud_t = t0 + rng.uniform(0.2, 1.5, n)
    early = fraud | (cold & (rng.random(n) < 0.22))
    decline_t = np.where(fraud, fraud_t + rng.uniform(0.2, 2.5, n), t0 + rng.uniform(0.1, 3.0, n))
    add(np.flatnonzero(fraud), fraud_t[fraud], "W_fraud_check")
    add(np.flatnonzero(early), decline_t[early], "A_declined")
    final[early], final_t[early], life_end[early] = "declined", decline_t[early], decline_t[early]

    # The rest is pre-accepted and goes into review; most get an offer.
    rest = ~early
    pre_t = t0 + rng.uniform(0.02, 1.5, n)
    add(np.flatnonzero(rest), pre_t[rest], "A_preaccepted")
    add(np.flatnonzero(rest), pre_t[rest] + 0.01, "W_complete_application")
    offer = rest & (hot | (rng.random(n) < 0.7))
    offer_t = pre_t + rng.uniform(1.0, 14.0, n)
    rows = np.flatnonzero(offer)
    for k, activity in enumerate(("A_accepted", "O_selected", "O_created", "O_sent")):
        add(rows, offer_t[rows] + 0.002 * k, activity)

    deal_rows, deal_t, deal_won_p = [], [], []

    # Hot: a burst of returned offers and validation calls, then (mostly) a contract.
    h = np.flatnonzero(hot)
    burst = offer_t[h] + np.minimum(rng.exponential(28.0, h.size), 150.0)
    length = rng.uniform(3.0, 14.0, h.size)
    r, t = _burst_times(rng, h, burst, np.minimum(length, 2.0), 1 + (rng.random(h.size) < 0.4))
    add(r, t, "O_sent_back")
    r, t = _burst_times(rng, h, burst, length, rng.integers(2, 6, h.size))
    add(r, t, "W_validate")
    with_deal = rng.random(h.size) < 0.88
    deal_rows.append(h[with_deal])
    deal_t.append(burst[with_deal] + length[with_deal] * 0.3 + rng.uniform(1.0, 40.0, with_deal.sum()))
    deal_won_p.append(np.full(with_deal.sum(), 0.72))
    gave_up = h[~with_deal]
    cancel_t = burst[~with_deal] + length[~with_deal] + rng.uniform(7.0, 40.0, gave_up.size)
    final[gave_up], final_t[gave_up], life_end[gave_up] = "cancelled", cancel_t, cancel_t

    # Cold applications in review: a few decoys return an offer once; about 45 % of the others are
    # cancelled or declined weeks later (mid-history); the rest stall and fall silent but stay open.
    c = np.flatnonzero(rest & cold)
    decoy = c[offer[c] & (rng.random(c.size) < 0.08)]
    others = np.setdiff1d(c, decoy)
    v = offer_t[decoy] + rng.uniform(3.0, 70.0, decoy.size)
    add(decoy, v, "O_sent_back")
    add(decoy, v + rng.uniform(0.5, 5.0, decoy.size), "W_validate")
    decoy_deal = rng.random(decoy.size) < 0.5
    deal_rows.append(decoy[decoy_deal])
    deal_t.append(v[decoy_deal] + rng.uniform(6.0, 25.0, decoy_deal.sum()))
    deal_won_p.append(np.full(decoy_deal.sum(), 0.15))
    dropped = decoy[~decoy_deal]
    drop_t = v[~decoy_deal] + rng.uniform(6.0, 30.0, dropped.size)
    final[dropped], final_t[dropped], life_end[dropped] = "cancelled", drop_t, drop_t

    stops = others[rng.random(others.size) < 0.45]
    stop_t = pre_t[stops] + 3.0 + rng.exponential(49.0, stops.size)
    declined = rng.random(stops.size) < 0.4
    final[stops] = np.where(declined, "declined", "cancelled")
    final_t[stops], life_end[stops] = stop_t, stop_t
    stalls = np.setdiff1d(others, stops)
    life_end[stalls] = pre_t[stalls] + 7.0 + rng.exponential(70.0, stalls.size)

    # Contracts: closing ends the case (activated, or declined/cancelled at validation).
    deal_rows = np.concatenate(deal_rows)
    deal_t = np.concatenate(deal_t)
    closed, status = _close(rng, deal_t, np.concatenate(deal_won_p), end)
    won = status == "won"
    lost = status == "lost"
    still_open = status == "open"
    add(deal_rows[won], closed[won] - 0.002, "O_accepted")
    add(deal_rows[won], closed[won] - 0.001, "A_approved")
    add(deal_rows[won], closed[won], "A_activated")
    lost_declined = lost & (rng.random(lost.size) < 0.5)
    lost_cancelled = lost & ~lost_declined
    add(deal_rows[lost_declined], closed[lost_declined], "A_declined")
    add(deal_rows[lost_cancelled], closed[lost_cancelled] - 0.001, "O_cancelled")
    add(deal_rows[lost_cancelled], closed[lost_cancelled], "A_cancelled")
    final[deal_rows] = np.select([won, lost_declined, lost_cancelled], ["accepted", "declined", "cancelled"], "")
    final_t[deal_rows] = np.where(still_open, np.nan, closed)
    life_end[deal_rows] = np.where(still_open, np.inf, closed)

    # Cancellation events of the cases cancelled without a contract (those with an offer cancel it first).
    cancelled_only = (final == "cancelled") & ~np.isin(everyone, deal_rows)
    rows = np.flatnonzero(cancelled_only & offer)
    add(rows, final_t[rows] - 0.001, "O_cancelled")
    rows = np.flatnonzero(cancelled_only)
    add(rows, final_t[rows], "A_cancelled")
    rows = np.flatnonzero((final == "declined") & ~early & ~np.isin(everyone, deal_rows))
    add(rows, final_t[rows], "A_declined")

    # Work-item noise while the case is alive: chasing calls (frequent, more for cold) and offer calls.
    alive_to = np.minimum(life_end, end)
    chasing = np.where(hot, 0.4, rng.gamma(0.8, 2.5, n))  # calls a week; some cold cases are chased a lot
    r, t = _poisson_times(rng, pre_t, alive_to, chasing)
    keep = rest[r]
    add(r[keep], t[keep], "W_call_incomplete")
    r, t = _poisson_times(rng, offer_t, alive_to, 0.7)
    keep = offer[r]
    add(r[keep], t[keep], "W_call_offers")

    frame = _events_frame(start, parts, end)
    frame = frame[frame["t"].to_numpy() <= life_end[frame["row"].to_numpy()]].reset_index(drop=True)
    events = pd.DataFrame({
        "event_id": _ids("ev-", len(frame), 7),
        "occurred_at": frame["occurred_at"],
        "lead_id": lead_ids[frame["row"]],
        "anonymous_id": None,
        "event_type": frame["event_type"],
        "content_type": None,
        "content_id": None,
        "duration_s": np.nan,
    })
    leads = pd.DataFrame({"lead_id": lead_ids, "created_at": _stamp(start, t0),
                          "requested_amount": requested.astype(float), "loan_goal": goals[goal]})
    in_window = deal_t < end
    deals = pd.DataFrame({
        "deal_id": _ids("loan-", deal_rows.size),
        "lead_id": lead_ids[deal_rows],
        "account_id": None,
        "created_at": _stamp(start, deal_t),
        "closed_at": _stamp(start, closed),
        "status": status,
        "amount": np.round(requested[deal_rows] * rng.uniform(0.8, 1.05, deal_rows.size), 2),
    })[in_window].sort_values("created_at").reset_index(drop=True)
    # (A contract created after the export is dropped: its case is simply still in review.)
    lifecycle = pd.concat([
        pd.DataFrame({"row": everyone, "status": "submitted", "t": t0}),
        pd.DataFrame({"row": np.flatnonzero(rest), "status": "in_review", "t": pre_t[rest]}),
        pd.DataFrame({"row": np.flatnonzero(final != ""), "status": final[final != ""], "t": final_t[final != ""]}),
    ])
    lifecycle = lifecycle[lifecycle["t"] < end]
    lifecycle = lifecycle.sort_values(["t", "row"]).reset_index(drop=True)
    lifecycle = pd.DataFrame({"lead_id": lead_ids[lifecycle["row"]], "status": lifecycle["status"].to_numpy(),
                              "changed_at": _stamp(start, lifecycle["t"])})
    # the caseworkers' dispositions, in the bank's own (Dutch) words: a call before each final decision
    decided = np.flatnonzero((final != "") & (final_t - 0.5 < end))
    said = np.where(final[decided] == "accepted", "goedgekeurd",
                    np.where(rng.random(decided.size) < 0.3, "geen gehoor", "afgewezen"))
    # ... and calls nobody answered while the application is still in review
    call_t = pre_t + rng.uniform(1.0, 20.0, n)
    unanswered = np.flatnonzero(rest & (rng.random(n) < 0.3) & (call_t < life_end) & (call_t < end))
    feedback = pd.DataFrame({"lead_id": np.concatenate([lead_ids[decided], lead_ids[unanswered]]),
                             "at": _stamp(start, np.concatenate([np.maximum(final_t[decided] - 0.5,
                                                                            t0[decided] + 0.01), call_t[unanswered]])),
                             "disposition": np.concatenate([said, np.full(unanswered.size, "geen gehoor")]),
                             "reason": np.concatenate([np.where(said == "afgewezen", "inkomen onvoldoende", None),
                                                       np.full(unanswered.size, None)])})
    feedback = feedback.sort_values("at").reset_index(drop=True)
    for name, table in (("leads", leads), ("events", events), ("deals", deals), ("lifecycle", lifecycle),
                        ("feedback", feedback)):
        _write(out, name, table)

    # 84 weeks, warmup 8, horizon 9, settle 5: mature cutoffs weeks 8..69 = 62;
    # 62 - 3 test - 3 validation - 2 x 8 purged = 40 train cutoffs.
    # ~4k applications but only the live ones (~1k mid-way) are scored: capacity 15 (~1.5 %).
    params = _params(
        out, event_types=PROCESS_ACTIVITIES, content_types=[],
        roles={"high_intent": ["O_sent_back", "W_validate"], "sales_ready": ["O_sent_back"],
               "engaged_activity": ["W_call_offers", "W_complete_application"]},
        extra=["requested_amount", "loan_goal"], horizon=63, settle=35, capacity=15,
        lifecycle_statuses={"submitted": "open", "in_review": "open", "accepted": "customer",
                            "declined": "disqualified", "cancelled": "disqualified"},
        feedback_dispositions={"goedgekeurd": "accepted", "afgewezen": "rejected", "geen gehoor": "no_answer"})
    return Shape("process_log", params,
                 "applicants who send a signed offer back and go through validation calls get a loan contract "
                 "0-6 weeks later, mostly activated; frequent chasing calls mark applications going nowhere")


# --------------------------------------------------------------------------------------------
# (c) email_nurture
# --------------------------------------------------------------------------------------------

def make_email_nurture(out: Path, seed: int = 0) -> Shape:
    """An e-mail marketing platform export (Mailchimp/Marketo activity log) with a CRM deal report.

    A weekly campaign (content_id = campaign id, content_type = the campaign's kind) goes
    to the subscribed leads, and a Friday digest to a third of them; the log holds ``email_send``, ``email_open``,
    ``email_click`` and ``unsubscribe`` and nothing from the web (no identities).
    Leads carry firmographics (account, industry, company size, country, title).

    Noise: 40 % of leads have a mail client that "opens" every message automatically,
    so opens say nothing. Planted: hot leads (a bit likelier at larger companies)
    click in most campaigns during a 2-4 week window, and a deal is created 0-6 weeks
    after the window starts; unsubscribing is almost only done by cold leads.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 3])
    start, weeks, n = "2023-04-03", 82, 3000
    end = weeks * 7.0
    created = np.sort(rng.uniform(0.0, end - 3.0, n))
    lead_ids = _ids("ct-", n)

    industries = np.array(["software", "manufacturing", "healthcare", "finance", "retail", "education",
                           "logistics", "energy", "media", "public_sector"])
    countries = np.array(["US", "GB", "DE", "FR", "NL", "CA", "AU", "ES", "SE", "IN"])
    titles = np.array(["Marketing Manager", "VP Marketing", "Head of Growth", "CMO", "Sales Director",
                       "Account Executive", "Operations Manager", "CEO", "IT Director", "Data Analyst",
                       "Product Manager", "Marketing Coordinator", "CFO", "Procurement Lead", "Consultant"])
    company_size = np.clip(np.round(np.exp(rng.normal(np.log(120), 1.3, n))), 1, 60000).astype(int)
    hot = rng.random(n) < np.where(company_size > 200, 0.18, 0.13)
    auto_open = rng.random(n) < 0.4
    leads = pd.DataFrame({
        "lead_id": lead_ids,
        "created_at": _stamp(start, created),
        "account_id": [f"acc-{x:04d}" for x in rng.integers(0, 2400, n)],
        "title": rng.choice(titles, n),
        "industry": rng.choice(industries, n),
        "company_size": company_size,
        "country": rng.choice(countries, n, p=[0.35, 0.12, 0.1, 0.08, 0.06, 0.08, 0.06, 0.05, 0.04, 0.06]),
        "lead_source": rng.choice(["ebook", "webinar", "trade_show", "purchased_list", "website"], n),
    })

    # Sends: a campaign every Tuesday 15:00 to ~85 % of the subscribed leads created before it, and a
    # Friday digest to the 35 % who also signed up for that list (so send counts differ a lot between leads).
    kinds = np.array(["newsletter", "product_update", "case_study", "event_invite", "digest"])
    campaign_day = np.concatenate([np.arange(weeks) * 7.0 + 1.0 + 15.0 / 24.0, np.arange(weeks) * 7.0 + 4.375])
    campaign_kind = np.concatenate([np.arange(weeks) % 4, np.full(weeks, 4)])
    order = np.argsort(campaign_day, kind="stable")
    campaign_day, campaign_kind = campaign_day[order], campaign_kind[order]
    campaign_id = np.array([f"cmp-{i:03d}" for i in range(campaign_day.size)])
    digest_list = rng.random(n) < 0.35
    lead_of, week_of = (a.ravel() for a in np.meshgrid(np.arange(n), np.arange(campaign_day.size), indexing="ij"))
    sent = ((campaign_day[week_of] > created[lead_of]) & (rng.random(lead_of.size) < 0.85)
            & ((campaign_kind[week_of] != 4) | digest_list[lead_of]))
    lead_of, week_of = lead_of[sent], week_of[sent]  # week_of: the campaign's index
    first_of_lead = np.searchsorted(lead_of, np.arange(n))
    rank = np.arange(lead_of.size) - first_of_lead[lead_of]
    sends_until_unsub = rng.geometric(np.where(hot, 0.002, 0.012))  # the k-th send triggers the unsubscribe
    kept = rank < sends_until_unsub[lead_of]
    trigger = rank == sends_until_unsub[lead_of] - 1
    send_t = campaign_day[week_of] + rng.uniform(0.0, 0.02, lead_of.size)
    unsub_rows = lead_of[trigger]
    unsub_t = send_t[trigger] + rng.uniform(0.05, 2.0, unsub_rows.size)
    lead_of, week_of, send_t = lead_of[kept], week_of[kept], send_t[kept]

    # The hot window (and a cold decoy window for 3 %): clicks in most campaigns received in it.
    window_start = created + np.minimum(rng.exponential(63.0, n), 400.0)
    window_len = rng.uniform(14.0, 28.0, n)
    decoy = ~hot & (rng.random(n) < 0.03)
    in_window = (send_t >= window_start[lead_of]) & (send_t < window_start[lead_of] + window_len[lead_of])
    p_click = np.where(in_window & hot[lead_of], 0.8, np.where(in_window & decoy[lead_of], 0.35,
                                                                np.where(hot[lead_of], 0.03, 0.012)))
    clicked = rng.random(lead_of.size) < p_click
    opened = clicked | np.where(auto_open[lead_of], rng.random(lead_of.size) < 0.97, rng.random(lead_of.size) < 0.22)
    open_t = send_t + np.where(auto_open[lead_of], rng.uniform(30.0, 300.0, lead_of.size) / 86400.0,
                               rng.exponential(0.6, lead_of.size))
    clicks = np.repeat(np.flatnonzero(clicked), 1 + rng.poisson(np.where(hot[lead_of[clicked]], 0.8, 0.2)))
    click_t = open_t[clicks] + rng.uniform(20.0, 900.0, clicks.size) / 86400.0

    def part(idx, times, kind):
        return {"t": times, "row": lead_of[idx], "event_type": np.full(idx.size, kind),
                "content_type": kinds[campaign_kind[week_of[idx]]], "content_id": campaign_id[week_of[idx]]}

    parts = [part(np.arange(lead_of.size), send_t, "email_send"),
             part(np.flatnonzero(opened), open_t[opened], "email_open"),
             part(clicks, click_t, "email_click"),
             {"t": unsub_t, "row": unsub_rows, "event_type": np.full(unsub_rows.size, "unsubscribe"),
              "content_type": None, "content_id": None}]
    frame = _events_frame(start, parts, end)
    events = pd.DataFrame({
        "event_id": _ids("em-", len(frame), 7),
        "occurred_at": frame["occurred_at"],
        "lead_id": lead_ids[frame["row"]],
        "anonymous_id": None,
        "event_type": frame["event_type"],
        "content_type": frame["content_type"],
        "content_id": frame["content_id"],
        "duration_s": np.nan,
    })

    rows = np.flatnonzero(hot & (rng.random(n) < 0.8))
    deal_t = window_start[rows] + rng.uniform(2.0, 42.0, rows.size)
    keep = deal_t < end
    rows, deal_t = rows[keep], deal_t[keep]
    closed, status = _close(rng, deal_t, 0.65, end)
    deals = pd.DataFrame({
        "deal_id": _ids("opp-", rows.size),
        "lead_id": lead_ids[rows],
        "account_id": leads["account_id"].to_numpy()[rows],
        "created_at": _stamp(start, deal_t),
        "closed_at": _stamp(start, closed),
        "status": status,
        "amount": np.round(np.exp(rng.normal(np.log(15000), 0.6, rows.size)), 2),
    }).sort_values("created_at").reset_index(drop=True)
    for name, table in (("leads", leads), ("events", events), ("deals", deals)):
        _write(out, name, table)

    # 82 weeks, warmup 8, horizon 8, settle 5: mature cutoffs weeks 8..68 = 61;
    # 61 - 3 test - 3 validation - 2 x 7 purged = 41 train cutoffs.
    # ~3k leads, ~1.5k in the population mid-way: capacity 20 (~1.3 %).
    params = _params(out, event_types=["email_send", "email_open", "email_click", "unsubscribe"],
                     content_types=kinds.tolist(),
                     roles={"high_intent": ["email_click"], "engaged_activity": ["email_click"]},
                     horizon=56, settle=35, capacity=20)
    return Shape("email_nurture", params,
                 "hot leads click in most campaigns for 2-4 weeks and a deal follows 0-6 weeks later; opens are "
                 "noise (40 % of leads auto-open every send) and unsubscribers almost never buy")


# --------------------------------------------------------------------------------------------
# (d) web_anonymous
# --------------------------------------------------------------------------------------------

def make_web_anonymous(out: Path, seed: int = 0) -> Shape:
    """A web-analytics export (Segment/GA4-style track calls keyed by cookie) with a CRM deal report.

    Only the web: ``page_view`` (with time on page) and ``form_submit``. Most page
    views carry only the visitor's cookie (``anonymous_id``); an ``identities`` table
    links cookies to leads, for most leads at the form fill that created them, for
    some weeks later (a second device, a CRM sync), for some never. Thousands of
    cookies never belong to a lead. About 10 % of events arrived late
    (``ingested_at`` hours to days after ``occurred_at``).

    Planted: hot leads have a 1-3 week burst of pricing and docs page views (and often
    a demo-request form) before a deal created 0-6 weeks later; blog reading is the
    frequent, uninformative behaviour, careers pages mark job seekers who never buy,
    and a few developers read a lot of docs without buying.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 4])
    start, weeks, n = "2023-03-06", 80, 3200
    end = weeks * 7.0
    created = np.sort(rng.uniform(0.0, end - 3.0, n))
    lead_ids = _ids("wl-", n)
    hot = rng.random(n) < 0.135
    seeker = ~hot & (rng.random(n) < 0.15)
    developer = ~hot & ~seeker & (rng.random(n) < 0.06)

    first_visit = np.maximum(0.0, created - rng.exponential(21.0, n))
    fade = np.minimum(created + 28.0 + rng.exponential(200.0, n), end)
    primary = _hex_ids(rng, "anon-", n)
    mode = rng.choice(3, n, p=[0.75, 0.15, 0.10])  # identified at the form fill / weeks later / never
    primary_identified = np.where(mode == 0, created, np.where(mode == 1, created + rng.uniform(7.0, 56.0, n), np.nan))
    second = rng.random(n) < 0.35
    secondary = _hex_ids(rng, "anon-m", n)
    second_start = created + rng.uniform(0.0, 140.0, n)
    second_identified = np.where(rng.random(n) < 0.6, second_start + rng.uniform(1.0, 42.0, n), np.nan)

    views = []  # (rows, times, content_type)
    for content, rate in (("blog", rng.gamma(0.5, 1.4, n)), ("product", rng.gamma(0.5, 0.4, n))):
        r, t = _poisson_times(rng, first_visit, fade, rate)  # per-lead rates: a few read a lot
        views.append((r, t, content))
    r, t = _poisson_times(rng, first_visit, fade, np.where(hot, 0.0, 0.04))
    views.append((r, t, "docs"))
    r, t = _poisson_times(rng, first_visit, fade, np.where(hot, 0.0, 0.02))
    views.append((r, t, "pricing"))
    r, t = _poisson_times(rng, first_visit, fade, np.where(seeker, 1.0, 0.01))
    views.append((r, t, "careers"))
    h = np.flatnonzero(hot)
    burst = created[h] + rng.exponential(56.0, h.size)
    length = rng.uniform(5.0, 21.0, h.size)
    for content, count in (("pricing", 1 + rng.poisson(2.5, h.size)), ("docs", rng.poisson(2.0, h.size)),
                           ("product", rng.poisson(1.5, h.size)), ("case_study", rng.poisson(1.0, h.size))):
        views.append(_burst_times(rng, h, burst, length, count) + (content,))
    d = np.flatnonzero(developer)
    dev_start = created[d] + rng.exponential(60.0, d.size)
    views.append(_burst_times(rng, d, dev_start, np.full(d.size, 14.0), rng.poisson(6.0, d.size)) + ("docs",))

    rows = np.concatenate([v[0] for v in views])
    times = np.concatenate([v[1] for v in views])
    content = np.concatenate([np.full(v[0].size, v[2]) for v in views])
    on_second = second[rows] & (times >= second_start[rows]) & (rng.random(rows.size) < 0.5)
    cookie = np.where(on_second, secondary[rows], primary[rows])
    logged_in = (times >= created[rows]) & (rng.random(rows.size) < 0.15)
    median_s = {"blog": 70, "product": 50, "docs": 120, "pricing": 90, "careers": 40, "case_study": 150}
    duration = np.round(np.exp(np.log([median_s[c] for c in content]) + rng.normal(0, 0.8, rows.size)), 1)
    duration[rng.random(rows.size) < 0.06] = np.nan  # the last page of a visit has no time on page
    lead_views = {"t": times, "lead_id": np.where(logged_in, lead_ids[rows], None), "anonymous_id": cookie,
                  "event_type": "page_view", "content_type": content, "duration_s": duration}

    # Forms: the one that created the lead (cookie attached only when identified then) and demo requests.
    demo = h[rng.random(h.size) < 0.45]
    demo_t = burst[np.searchsorted(h, demo)] + rng.uniform(0.0, 7.0, demo.size)
    forms = {"t": np.concatenate([created, demo_t]),
             "lead_id": lead_ids[np.concatenate([np.arange(n), demo])],
             "anonymous_id": np.concatenate([np.where(mode == 0, primary, None), primary[demo]]),
             "event_type": "form_submit",
             "content_type": np.concatenate([np.full(n, "gated_content"), np.full(demo.size, "demo_request")]),
             "duration_s": np.nan}

    # Cookies that never become a lead: passers-by reading the blog and the careers pages.
    m = 7000
    strangers = _hex_ids(rng, "anon-x", m)
    counts = 1 + rng.poisson(1.2, m)
    s_rows = np.repeat(np.arange(m), counts)
    s_content = rng.choice(["blog", "careers", "product", "pricing", "docs"], s_rows.size,
                           p=[0.6, 0.22, 0.1, 0.04, 0.04])
    s_start = rng.uniform(0.0, end, m)
    passers = {"t": s_start[s_rows] + rng.exponential(3.0, s_rows.size), "lead_id": None,
               "anonymous_id": strangers[s_rows], "event_type": "page_view", "content_type": s_content,
               "duration_s": np.round(rng.exponential(50.0, s_rows.size), 1)}

    frame = _events_frame(start, [lead_views, forms, passers], end)
    frame["content_id"] = [f"/{c}/{x}" for c, x in zip(frame["content_type"], rng.integers(1, 60, len(frame)))]
    late = rng.random(len(frame)) < 0.10
    ingested = np.floor(frame["t"].to_numpy() * 86400.0) / 86400.0 + rng.uniform(2.0 / 24.0, 4.0, len(frame))
    ingested[~late | (ingested >= end)] = np.nan
    events = pd.DataFrame({
        "event_id": _ids("hit-", len(frame), 7),
        "occurred_at": frame["occurred_at"],
        "lead_id": frame["lead_id"],
        "anonymous_id": frame["anonymous_id"],
        "event_type": frame["event_type"],
        "content_type": frame["content_type"],
        "content_id": frame["content_id"],
        "duration_s": frame["duration_s"],
        "ingested_at": _stamp(start, ingested),
    })
    links = pd.DataFrame({
        "anonymous_id": np.concatenate([primary, secondary[second]]),
        "lead_id": np.concatenate([lead_ids, lead_ids[second]]),
        "t": np.concatenate([primary_identified, second_identified[second]]),
    })
    links = links[links["t"] < end].sort_values("t").reset_index(drop=True)
    identities = pd.DataFrame({"anonymous_id": links["anonymous_id"], "lead_id": links["lead_id"],
                               "identified_at": _stamp(start, links["t"])})
    leads = pd.DataFrame({
        "lead_id": lead_ids, "created_at": _stamp(start, created),
        "country": rng.choice(["US", "GB", "DE", "FR", "BR", "IN", "JP"], n, p=[0.4, 0.12, 0.12, 0.1, 0.1, 0.1, 0.06]),
        "lead_source": rng.choice(["organic", "paid_search", "social", "referral", "direct"], n),
    })

    rows = np.concatenate([h[rng.random(h.size) < 0.8], np.flatnonzero(~hot & ~seeker & (rng.random(n) < 0.01))])
    anchor = np.where(hot[rows], 0.0, created[rows] + rng.uniform(7.0, 300.0, rows.size))
    anchor[hot[rows]] = burst[np.searchsorted(h, rows[hot[rows]])]
    deal_t = anchor + rng.uniform(1.0, 42.0, rows.size)
    keep = deal_t < end
    rows, deal_t = rows[keep], deal_t[keep]
    closed, status = _close(rng, deal_t, np.where(hot[rows], 0.65, 0.3), end)
    deals = pd.DataFrame({
        "deal_id": _ids("dl-", rows.size),
        "lead_id": lead_ids[rows],
        "account_id": None,
        "created_at": _stamp(start, deal_t),
        "closed_at": _stamp(start, closed),
        "status": status,
        "amount": np.round(np.exp(rng.normal(np.log(20000), 0.7, rows.size)), 2),
    }).sort_values("created_at").reset_index(drop=True)
    for name, table in (("leads", leads), ("events", events), ("identities", identities), ("deals", deals)):
        _write(out, name, table)

    # 80 weeks, warmup 8, horizon 9, settle 4: mature cutoffs weeks 8..66 = 59;
    # 59 - 3 test - 3 validation - 2 x 8 purged = 37 train cutoffs.
    # ~3.2k leads, ~1.6k in the population mid-way: capacity 20 (~1.3 %).
    contents = ["blog", "product", "docs", "pricing", "careers", "case_study", "gated_content", "demo_request"]
    params = _params(out, event_types=["page_view", "form_submit"], content_types=contents,
                     roles={"high_intent": ["pricing", "docs", "demo_request"], "sales_ready": ["demo_request"],
                            "engaged_activity": ["case_study"]},
                     horizon=63, settle=28, capacity=20)
    return Shape("web_anonymous", params,
                 "hot visitors read pricing and docs pages in a 1-3 week burst (often requesting a demo), mostly "
                 "under a cookie identified at or after the lead's creation, and a deal follows 0-6 weeks later; "
                 "blog views are noise and careers views mark job seekers")


# --------------------------------------------------------------------------------------------
# (e) account_deals
# --------------------------------------------------------------------------------------------

def make_account_deals(out: Path, seed: int = 0) -> Shape:
    """A B2B CRM export (Salesforce-style): contacts grouped in accounts, opportunities on the account.

    ~800 accounts with 1-10 contacts each (account_id, industry, company size set);
    marketing-automation activity per contact (email opens and clicks, page views,
    downloads, webinars). Opportunities are opened on the account and attributed to
    the contact who engaged most in the 8 weeks before (as a CRM's 'primary contact
    role' would be); they are won, lost or still open.

    Planted (account level): in a buying phase of a hot account, 2-4 of its contacts
    attend webinars, download content and view pricing and case studies within three
    weeks, one of them (the champion) much more than the others; the opportunity
    follows 0-6 weeks after the phase starts. A lone contact
    doing the same in a quiet account ('the researcher') does not lead to a deal, and
    email opens and blog views are frequent noise.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 5])
    start, weeks, n_accounts = "2023-05-01", 80, 800
    end = weeks * 7.0
    size = 1 + rng.poisson(3.0, n_accounts)
    first = rng.uniform(0.0, end - 21.0, n_accounts)
    account_of = np.repeat(np.arange(n_accounts), size)
    position = np.arange(account_of.size) - np.repeat(np.cumsum(size) - size, size)
    created = first[account_of] + np.where(position == 0, 0.0, rng.exponential(70.0, account_of.size))
    keep = created < end - 1.0
    account_of, position, created = account_of[keep], position[keep], created[keep]
    order = np.argsort(created, kind="stable")
    account_of, created = account_of[order], created[order]
    n = created.size
    lead_ids = _ids("ctc-", n)
    account_ids = _ids("acct-", n_accounts, 4)

    industries = np.array(["software", "manufacturing", "healthcare", "finance", "retail", "logistics", "telecom"])
    account_industry = rng.choice(industries, n_accounts)
    account_size = np.clip(np.round(np.exp(rng.normal(np.log(400), 1.2, n_accounts))), 5, 100000).astype(int)
    titles = np.array(["VP Sales", "Sales Operations Manager", "CRO", "Head of RevOps", "Marketing Director",
                       "Business Analyst", "IT Manager", "CFO", "Procurement Manager", "Engineer", "Intern"])
    leads = pd.DataFrame({
        "lead_id": lead_ids,
        "created_at": _stamp(start, created),
        "account_id": account_ids[account_of],
        "title": rng.choice(titles, n),
        "industry": account_industry[account_of],
        "company_size": account_size[account_of],
        "country": rng.choice(["US", "GB", "DE", "FR", "CA"], n_accounts)[account_of],
        "lead_source": rng.choice(["webinar", "content", "event", "outbound", "website"], n),
    })

    informative = [("webinar_attend", "webinar"), ("content_download", "case_study"), ("content_download", "ebook"),
                   ("page_view", "pricing"), ("page_view", "case_study"), ("webinar_register", "webinar")]
    parts = []

    def add(rows, times, kind):
        event_type, content_type = kind
        parts.append({"t": np.asarray(times, float), "row": np.asarray(rows, int),
                      "event_type": np.full(len(rows), event_type), "content_type": content_type})

    def add_informative(rows, times):
        pick = rng.integers(0, len(informative), len(rows))
        for k, kind in enumerate(informative):
            add(np.asarray(rows)[pick == k], np.asarray(times)[pick == k], kind)

    # Noise for everyone: newsletters opened, blog and product pages, the odd click or webinar.
    subscribed = rng.random(n) < 0.7
    for kind, rate in ((("email_open", "newsletter"), np.where(subscribed, rng.gamma(0.6, 1.2, n), 0.0)),
                       (("page_view", "blog"), rng.gamma(0.5, 0.8, n)), (("page_view", "product"), 0.1),
                       (("email_click", "newsletter"), 0.04)):
        r, t = _poisson_times(rng, created, np.full(n, end), rate)
        add(r, t, kind)
    add_informative(*_poisson_times(rng, created, np.full(n, end), 0.02))

    # Buying phases of hot accounts (needs two contacts): 2-4 contacts active within three weeks.
    members = pd.Series(np.arange(n)).groupby(account_of).apply(np.array).to_dict()
    hot_accounts = [a for a in range(n_accounts) if len(members.get(a, ())) >= 2
                    and rng.random() < (0.55 if account_size[a] > 400 else 0.4)]
    phases = []  # (account, phase start)
    for a in hot_accounts:
        second_created = np.sort(created[members[a]])[1]
        p = max(second_created, first[a] + rng.exponential(42.0)) + rng.uniform(0.0, 14.0)
        phases.append((a, p))
        if rng.random() < 0.35:
            phases.append((a, p + 140.0 + rng.exponential(60.0)))
    in_phase = np.zeros(n, bool)
    deal_accounts, deal_t = [], []
    for a, p in phases:
        if p >= end:
            continue
        existing = members[a][created[members[a]] < p + 14.0]
        active = rng.choice(existing, min(existing.size, rng.integers(2, 5)), replace=False)
        in_phase[active] = True
        starts = np.maximum(p, created[active])
        # the first is the champion who drives the evaluation; colleagues join in
        counts = np.where(np.arange(active.size) == 0, 4 + rng.poisson(3.0, active.size),
                          1 + rng.poisson(1.5, active.size))
        r, t = _burst_times(rng, active, starts, np.maximum(p + 21.0 - starts, 1.0), counts)
        add_informative(r, t)
        if rng.random() < 0.85:
            deal_accounts.append(a)
            deal_t.append(p + rng.uniform(5.0, 42.0))

    # Lone researchers in quiet accounts: the champion's behaviour, alone, and no deal.
    lone = np.flatnonzero(~in_phase & ~np.isin(account_of, hot_accounts) & (rng.random(n) < 0.08))
    r, t = _burst_times(rng, lone, created[lone] + rng.exponential(90.0, lone.size), np.full(lone.size, 21.0),
                        2 + rng.poisson(3.0, lone.size))
    add_informative(r, t)

    frame = _events_frame(start, parts, end)
    day = frame["t"].to_numpy()

    # Attribute each opportunity to the account's most engaged contact over the 8 weeks before it
    # (engagement as a CRM scores it: every activity except passive e-mail opens).
    deal_accounts = np.asarray(deal_accounts, int)
    deal_t = np.asarray(deal_t, float)
    keep = deal_t < end
    deal_accounts, deal_t = deal_accounts[keep], deal_t[keep]
    row_account = account_of[frame["row"].to_numpy()]
    engaging = frame["event_type"].to_numpy() != "email_open"
    by_account = {a: np.flatnonzero(row_account == a) for a in np.unique(deal_accounts)}
    attributed = np.empty(deal_accounts.size, int)
    for i, (a, t) in enumerate(zip(deal_accounts, deal_t)):
        idx = by_account[a]
        idx = idx[(day[idx] >= t - 56.0) & (day[idx] < t) & (engaging[idx])]
        if idx.size:
            counts = np.bincount(frame["row"].to_numpy()[idx], minlength=n)
            best = np.flatnonzero(counts == counts.max())
        else:
            best = members[a][created[members[a]] < t]
        attributed[i] = rng.choice(best)
    closed, status = _close(rng, deal_t, 0.6, end, 10.0, 35.0)
    deals = pd.DataFrame({
        "deal_id": _ids("006-", deal_accounts.size),
        "lead_id": lead_ids[attributed],
        "account_id": account_ids[deal_accounts],
        "created_at": _stamp(start, deal_t),
        "closed_at": _stamp(start, closed),
        "status": status,
        "amount": np.round(np.exp(rng.normal(np.log(40000), 0.8, deal_accounts.size)), 2),
    }).sort_values("created_at").reset_index(drop=True)
    events = pd.DataFrame({
        "event_id": _ids("act-", len(frame), 7),
        "occurred_at": frame["occurred_at"],
        "lead_id": lead_ids[frame["row"]],
        "anonymous_id": None,
        "event_type": frame["event_type"],
        "content_type": frame["content_type"],
        "content_id": [f"{c}-{x:02d}" for c, x in zip(frame["content_type"], rng.integers(1, 30, len(frame)))],
        "duration_s": np.where(frame["event_type"] == "page_view", np.round(rng.exponential(80.0, len(frame)), 1),
                               np.where(frame["event_type"] == "webinar_attend",
                                        np.round(rng.uniform(600, 3600, len(frame))), np.nan)),
    })
    for name, table in (("leads", leads), ("events", events), ("deals", deals)):
        _write(out, name, table)

    # 80 weeks, warmup 8, horizon 9, settle 5: mature cutoffs weeks 8..65 = 58;
    # 58 - 3 test - 3 validation - 2 x 8 purged = 36 train cutoffs.
    # ~3.2k contacts, ~1.5k in the population mid-way: capacity 20 (~1.3 %).
    params = _params(out, event_types=["page_view", "email_open", "email_click", "content_download",
                                       "webinar_register", "webinar_attend"],
                     content_types=["newsletter", "blog", "product", "pricing", "case_study", "ebook", "webinar"],
                     roles={"high_intent": ["pricing", "case_study"],
                            "engaged_activity": ["content_download", "webinar_attend"]},
                     horizon=63, settle=35, capacity=20)
    return Shape("account_deals", params,
                 "several contacts of a hot account attend webinars, download content and view pricing within three "
                 "weeks and the account's opportunity (attributed to its most engaged contact) follows 0-6 weeks "
                 "later; the same behaviour from a lone contact leads nowhere")


# --------------------------------------------------------------------------------------------
# (f) csv_extras
# --------------------------------------------------------------------------------------------

def make_csv_extras(out: Path, seed: int = 0) -> Shape:
    """A hand-made CSV export of a small CRM (HubSpot-style contact export plus an activity log).

    All tables are CSV (UTF-8, header, ISO-8601 times ending in 'Z', empty cells for
    missing values). Contacts carry an ``annual_revenue`` (often empty), a free-text
    ``stated_goal`` typed into a form (a few stock answers, hundreds of one-off ones),
    a free-text title, and firmographics (industry, company size) for only ~20 % of
    them. Activity: page views (pre-signup ones anonymous, linked by ``identities``),
    newsletter opens and clicks, webinar attendance.

    Planted: hot contacts (likelier with higher revenue, and more often answering
    'Book a demo' / 'Need pricing') attend a webinar, click and view pricing in a 1-4
    week window before a deal created 0-6 weeks later; newsletter opens (heavy for
    half the contacts) and blog views are noise.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 6])
    start, weeks, n = "2023-07-03", 78, 2400
    end = weeks * 7.0
    created = np.sort(rng.uniform(0.0, end - 3.0, n))
    lead_ids = np.array([f"{100000 + 7 * i}" for i in range(n)], dtype=object)

    revenue = np.round(np.exp(rng.normal(np.log(5e6), 1.5, n)), -3)
    hot = rng.random(n) < np.where(revenue > 2e7, 0.22, 0.15)
    revenue[rng.random(n) < 0.35] = np.nan

    stock = np.array(["Just researching", "Book a demo", "Need pricing", "Compare vendors", "Replace our current tool"])
    stock_p = np.where(hot[:, None], [0.12, 0.2, 0.15, 0.1, 0.08], [0.25, 0.04, 0.06, 0.1, 0.08])
    verbs = ["automate", "speed up", "clean up", "consolidate", "understand", "improve", "scale", "fix",
             "replace", "centralise", "report on", "audit"]
    objects = ["our lead routing", "the sales pipeline", "marketing attribution", "reporting for the board",
               "our CRM data", "the onboarding process", "forecasting", "campaign tracking", "partner deals",
               "customer churn", "quote approvals", "territory planning", "event follow-up", "invoicing"]
    suffixes = ["", "", " asap", " before Q3", " this year", " for the EMEA team", " - budget approved",
                " (evaluating)", " next quarter", " for 20 users", " for 200 users", "!!"]
    u = rng.random(n)
    cumulative = np.cumsum(stock_p, axis=1)
    stock_pick = (u[:, None] >= cumulative).sum(axis=1)
    free = [f"{rng.choice(['We want to', 'Need to', 'Looking to', 'Trying to', 'Want to'])} "
            f"{rng.choice(verbs)} {rng.choice(objects)}{rng.choice(suffixes)}" for _ in range(n)]
    goal = np.where(stock_pick < len(stock), stock[np.minimum(stock_pick, len(stock) - 1)],
                    np.array(free, dtype=object)).astype(object)
    goal[rng.random(n) < 0.08] = None

    base_titles = ["VP Marketing", "Vice President, Marketing", "marketing manager", "Mktg Mgr", "Head of Sales",
                   "sales director", "Founder & CEO", "ceo", "Owner", "Operations Lead", "Sr. Data Analyst",
                   "RevOps", "Student", "Consultant", "IT Admin", "Growth Hacker", "CMO", "Director of Demand Gen"]
    title = rng.choice(base_titles, n).astype(object)
    title[rng.random(n) < 0.25] = None
    has_firmo = rng.random(n) < 0.2
    industry = rng.choice(["Software", "Manufacturing", "Healthcare", "Financial Services", "Retail", "Education"], n)
    company_size = pd.array(np.clip(np.round(np.exp(rng.normal(np.log(80), 1.3, n))), 1, 20000).astype(int),
                            dtype="Int64")
    company_size[~has_firmo] = pd.NA
    leads = pd.DataFrame({
        "lead_id": lead_ids,
        "created_at": _stamp(start, created),
        "account_id": np.where(has_firmo | (rng.random(n) < 0.1), [f"co-{x}" for x in rng.integers(0, 2000, n)], None),
        "title": title,
        "industry": np.where(has_firmo, industry, None),
        "company_size": company_size,
        "country": np.where(rng.random(n) < 0.7, rng.choice(["US", "UK", "Germany", "France", "India"], n), None),
        "lead_source": rng.choice(["Organic Search", "Paid Search", "Social Media", "Email Marketing",
                                   "Offline Sources"], n),
        "annual_revenue": revenue,
        "stated_goal": goal,
    })

    cookie = _hex_ids(rng, "hs-", n)
    heavy = rng.random(n) < 0.3
    parts = []

    def add(rows, times, event_type, content_type, content_id=None):
        rows = np.asarray(rows, int)
        parts.append({"t": np.asarray(times, float), "row": rows, "event_type": event_type,
                      "content_type": content_type,
                      "content_id": content_id if content_id is not None else [f"{content_type}-{x}" for x in
                                                                                rng.integers(1, 40, rows.size)]})

    to_end = np.full(n, end)
    pre = np.maximum(0.0, created - rng.exponential(14.0, n))
    for content, rate in (("blog", rng.gamma(0.5, 0.22, n)), ("product", 0.04), ("pricing", 0.015),
                          ("case_study", 0.02)):
        r, t = _poisson_times(rng, pre, to_end, np.where(hot, rate * 0.8, rate))
        add(r, t, "page_view", content)
    r, t = _poisson_times(rng, created, to_end, np.where(heavy, 0.4, 0.06))
    add(r, t, "email_open", "newsletter", [f"nl-{int(x // 7):03d}" for x in t])
    r, t = _poisson_times(rng, created, to_end, 0.025)
    add(r, t, "email_click", "newsletter", [f"nl-{int(x // 7):03d}" for x in t])
    r, t = _poisson_times(rng, created, to_end, 0.008)
    add(r, t, "webinar_attend", "webinar", [f"wb-{int(x // 14):02d}" for x in t])

    h = np.flatnonzero(hot)
    window = created[h] + rng.exponential(63.0, h.size)
    length = rng.uniform(7.0, 28.0, h.size)
    r, t = _burst_times(rng, h, window, length, 1 + rng.poisson(0.6, h.size))
    add(r, t, "webinar_attend", "webinar", [f"wb-{int(x // 14):02d}" for x in t])
    r, t = _burst_times(rng, h, window, length, rng.poisson(2.0, h.size))
    add(r, t, "page_view", "pricing")
    r, t = _burst_times(rng, h, window, length, rng.poisson(2.0, h.size))
    add(r, t, "email_click", "newsletter", [f"nl-{int(x // 7):03d}" for x in t])
    r, t = _burst_times(rng, h, window, length, rng.poisson(1.0, h.size))
    add(r, t, "page_view", "case_study")

    frame = _events_frame(start, parts, end)
    row = frame["row"].to_numpy()
    day = frame["t"].to_numpy()
    known = day >= created[row]
    is_view = frame["event_type"].to_numpy() == "page_view"
    kind = frame["event_type"].to_numpy()
    events = pd.DataFrame({
        "occurred_at": frame["occurred_at"],
        "lead_id": np.where(known, lead_ids[row], None),
        "anonymous_id": np.where(is_view, cookie[row], None),
        "event_type": kind,
        "content_type": frame["content_type"],
        "content_id": frame["content_id"],
        "duration_s": np.where(is_view, np.round(rng.exponential(75.0, len(frame)), 1),
                               np.where(kind == "webinar_attend", np.round(rng.uniform(300, 3600, len(frame))),
                                        np.nan)),
    })
    identities = pd.DataFrame({"anonymous_id": cookie, "lead_id": lead_ids, "identified_at": _stamp(start, created)})

    rows = h[rng.random(h.size) < 0.85]
    deal_t = window[np.searchsorted(h, rows)] + rng.uniform(1.0, 42.0, rows.size)
    keep = deal_t < end
    rows, deal_t = rows[keep], deal_t[keep]
    closed, status = _close(rng, deal_t, 0.65, end)
    deals = pd.DataFrame({
        "deal_id": [f"deal-{9000 + i}" for i in range(rows.size)],
        "lead_id": lead_ids[rows],
        "account_id": leads["account_id"].to_numpy()[rows],
        "created_at": _stamp(start, deal_t),
        "closed_at": _stamp(start, closed),
        "status": status,
        "amount": np.round(np.exp(rng.normal(np.log(8000), 0.6, rows.size)), 2),
    }).sort_values("created_at").reset_index(drop=True)
    for name, table in (("leads", leads), ("events", events), ("identities", identities), ("deals", deals)):
        _write(out, name, table, csv=True)

    # 78 weeks, warmup 8, horizon 8, settle 4: mature cutoffs weeks 8..65 = 58;
    # 58 - 3 test - 3 validation - 2 x 7 purged = 38 train cutoffs.
    # ~2.4k contacts, ~1.2k in the population mid-way: capacity 15 (~1.3 %).
    params = _params(out, event_types=["page_view", "email_open", "email_click", "webinar_attend"],
                     content_types=["blog", "product", "pricing", "case_study", "newsletter", "webinar"],
                     roles={"high_intent": ["pricing", "webinar_attend"], "engaged_activity": ["webinar_attend"]},
                     extra=["annual_revenue", "stated_goal"], horizon=56, settle=28, capacity=15)
    return Shape("csv_extras", params,
                 "hot contacts (higher revenue, 'Book a demo'/'Need pricing' goals) attend a webinar, click "
                 "newsletters and view pricing within 1-4 weeks before a deal created 0-6 weeks later; "
                 "newsletter opens and blog views are noise")


SHAPES = {
    "funnel_only": make_funnel_only,
    "process_log": make_process_log,
    "email_nurture": make_email_nurture,
    "web_anonymous": make_web_anonymous,
    "account_deals": make_account_deals,
    "csv_extras": make_csv_extras,
}


# --------------------------------------------------------------------------------------------
# Self-check: python -m tests.conformance.shapes
# --------------------------------------------------------------------------------------------

# What the crude signal check counts as "informative" per shape (event_type or content_type).
_INFORMATIVE = {
    "funnel_only": {"lp_demo_request", "lp_pricing"},
    "process_log": {"O_sent_back", "W_validate"},
    "email_nurture": {"email_click"},
    "web_anonymous": {"pricing", "demo_request"},
    "account_deals": {"webinar_attend", "content_download", "pricing", "case_study"},
    "csv_extras": {"webinar_attend", "email_click", "pricing"},
}
# Shapes whose signal is account-level: the crude check adds the account's informative count.
_ACCOUNT_LEVEL = {"account_deals"}


def _read(folder: Path, name: str) -> pd.DataFrame | None:
    parquet, csv = folder / f"{name}.parquet", folder / f"{name}.csv"
    if parquet.exists():
        df = pd.read_parquet(parquet)
    elif csv.exists():
        df = pd.read_csv(csv, dtype=str, keep_default_na=False, na_values=[""])
        for column in df.columns:
            if column.endswith("_at"):
                df[column] = pd.to_datetime(df[column], utc=True, format="ISO8601")
            elif column in _NUMBER_COLUMNS or column in _INTEGER_COLUMNS:
                df[column] = pd.to_numeric(df[column])
    else:
        return None
    for column in df.columns:
        if column.endswith("_at"):
            df[column] = df[column].dt.tz_convert("UTC")
    return df


def _auc(score: np.ndarray, label: np.ndarray) -> float:
    ranks = pd.Series(score).rank().to_numpy()
    pos = label.sum()
    neg = label.size - pos
    return float((ranks[label].sum() - pos * (pos + 1) / 2) / (pos * neg))


def check(shape: Shape) -> dict:
    """Contract rules (assertions) and a few numbers about one generated export."""
    folder = Path(shape.params["data"]["dir"])
    leads, events = _read(folder, "leads"), _read(folder, "events")
    identities, deals, lifecycle = _read(folder, "identities"), _read(folder, "deals"), _read(folder, "lifecycle")
    problems = []

    def rule(ok, text):
        if not bool(ok):
            problems.append(text)

    extra = set(shape.params["data"]["extra_lead_attributes"])
    optional = {"account_id", "title", "industry", "company_size", "country", "lead_source"}
    rule(set(leads.columns) <= {"lead_id", "created_at", "disqualified_at"} | optional | extra, "unknown lead column")
    rule(extra <= set(leads.columns), "extra attribute missing")
    rule(leads["lead_id"].notna().all() and leads["lead_id"].is_unique, "lead_id null or not unique")
    rule(leads["created_at"].notna().all(), "created_at null")
    created = leads.set_index("lead_id")["created_at"]
    known = set(leads["lead_id"])

    rule(events["occurred_at"].notna().all(), "occurred_at null")
    rule((events["lead_id"].notna() | events["anonymous_id"].notna()).all(), "event without lead_id or anonymous_id")
    rule(events["event_type"].isin(shape.params["data"]["event_types"]).all(), "event type outside data.event_types")
    rule((events["duration_s"].dropna() >= 0).all(), "negative duration")
    if "event_id" in events:
        rule(events["event_id"].is_unique, "event_id not unique")
    if "ingested_at" in events:
        rule((events["ingested_at"].dropna() >= events.loc[events["ingested_at"].notna(), "occurred_at"]).all(),
             "ingested before it occurred")
    with_lead = events[events["lead_id"].notna()]
    rule(with_lead["lead_id"].isin(known).all(), "event of an unknown lead")
    rule((with_lead["occurred_at"] >= with_lead["lead_id"].map(created)).all(), "lead event before the lead exists")
    contents = set(shape.params["features"]["content_types"])
    rule(events["content_type"].dropna().isin(contents).all(), "content type outside features.content_types")
    if identities is not None:
        rule(identities["lead_id"].isin(known).all(), "identity of an unknown lead")
        rule((identities["identified_at"] >= identities["lead_id"].map(created)).all(), "identified before created")
        rule(not identities.duplicated(["anonymous_id", "lead_id"]).any(), "duplicate identity")

    rule(deals["deal_id"].is_unique and deals["lead_id"].notna().all(), "deal_id not unique or lead_id null")
    rule(deals["lead_id"].isin(known).all(), "deal of an unknown lead")
    rule(deals["status"].isin(["open", "won", "lost"]).all(), "bad deal status")
    rule(((deals["status"] == "open") == deals["closed_at"].isna()).all(), "closed_at not set exactly when closed")
    rule((deals["closed_at"].dropna() >= deals.loc[deals["closed_at"].notna(), "created_at"]).all(), "closed early")
    rule((deals["created_at"] >= deals["lead_id"].map(created)).all(), "deal before its lead")
    rule((deals["amount"].dropna() >= 0).all(), "negative amount")

    disqualified_at = pd.Series(dtype="datetime64[us, UTC]")
    if lifecycle is not None:
        mapping = shape.params["data"]["lifecycle_statuses"]
        rule(lifecycle["lead_id"].isin(known).all(), "lifecycle of an unknown lead")
        rule(lifecycle["status"].isin(list(mapping)).all(), "lifecycle status outside data.lifecycle_statuses")
        rule((lifecycle["changed_at"] >= lifecycle["lead_id"].map(created)).all(), "status change before the lead")
        bad = lifecycle[lifecycle["status"].map(mapping) == "disqualified"]
        disqualified_at = bad.groupby("lead_id")["changed_at"].min()
        after = with_lead[with_lead["occurred_at"] > with_lead["lead_id"].map(disqualified_at)]
        rule(after.empty, f"{len(after)} events after disqualification")
        won_deals = deals[deals["status"] == "won"]
        rule((won_deals["closed_at"] > won_deals["lead_id"].map(disqualified_at)).sum() == 0, "won after disqualified")

    stamps = [df[c] for df in (leads, events, identities, deals, lifecycle) if df is not None
              for c in df.columns if c.endswith("_at")]
    low = min(s.min() for s in stamps)
    data_end = max(s.max() for s in stamps)
    rule(low >= pd.Timestamp("2023-01-01", tz="UTC") and data_end < pd.Timestamp("2026-01-01", tz="UTC"),
         "timestamps outside 2023-2025")
    if problems:
        raise AssertionError(f"{shape.name}: " + "; ".join(problems))

    # The spine, roughly as the pipeline builds it: weekly Monday cutoffs, population, label.
    spine = shape.params["spine"]
    horizon, settle = pd.Timedelta(days=spine["horizon_days"]), pd.Timedelta(days=spine["settle_days"])
    last = (data_end - pd.Timedelta(days=data_end.weekday())).normalize()
    first = low.normalize() + pd.Timedelta(days=spine["warmup_days"])
    cutoffs = [t for t in pd.date_range(end=last, periods=200, freq=f"{spine['slide_days']}D") if t >= first]
    mature = [t for t in cutoffs if t + horizon + settle <= data_end]
    gap = -(-spine["horizon_days"] // spine["slide_days"]) - 1
    train_cutoffs = len(mature) - 6 - 2 * gap

    attributed = with_lead[["lead_id", "occurred_at", "event_type", "content_type"]]
    attributed = attributed.assign(known_at=pd.Timestamp(0, tz="UTC"))  # lead events count from the start
    if identities is not None:
        anonymous = events[events["lead_id"].isna()].merge(identities, on="anonymous_id", suffixes=("_x", ""))
        attributed = pd.concat([attributed, anonymous.assign(known_at=anonymous["identified_at"])[list(attributed)]])
    signal = _INFORMATIVE[shape.name]
    attributed["informative"] = attributed["event_type"].isin(signal) | attributed["content_type"].isin(signal)
    rows = []
    rng = np.random.default_rng(0)
    capacity = shape.params["tiers"]["capacity"][0]
    hits = {"informed": 0, "naive": 0, "calls": 0}
    won = deals[deals["status"] == "won"]
    for t in mature:
        population = leads.loc[leads["created_at"] < t, "lead_id"]
        in_deal = deals.loc[(deals["created_at"] < t) & (deals["closed_at"].isna() | (deals["closed_at"] >= t)),
                            "lead_id"]
        customer = won.loc[won["closed_at"] < t, "lead_id"]
        out = set(in_deal) | set(customer) | set(disqualified_at[disqualified_at < t].index)
        population = population[~population.isin(out)]
        positive = set(won.loc[(won["created_at"] >= t) & (won["created_at"] < t + horizon), "lead_id"])
        window = attributed[(attributed["occurred_at"] >= t - pd.Timedelta(days=30)) & (attributed["occurred_at"] < t)
                            & (attributed["known_at"] < t)]
        counts = window.groupby("lead_id").agg(total=("informative", "size"), informative=("informative", "sum"))
        frame = counts.reindex(population.to_numpy(), fill_value=0)
        if shape.name in _ACCOUNT_LEVEL:
            account = leads.set_index("lead_id")["account_id"]
            per_account = counts["informative"].groupby(account.reindex(counts.index).to_numpy()).sum()
            frame["informative"] += 0.5 * account.reindex(frame.index).map(per_account).fillna(0).to_numpy()
        frame["label"] = frame.index.isin(positive)
        # precision at capacity: a score that knows the informative events (ties by activity) vs one point per event
        jitter = rng.random(len(frame))
        for score, key in ((frame["informative"] * 1000 + frame["total"] + jitter, "informed"),
                           (frame["total"] + jitter, "naive")):
            hits[key] += int(frame["label"].to_numpy()[np.argsort(-score.to_numpy())[:capacity]].sum())
        hits["calls"] += min(capacity, len(frame))
        rows.append(frame)
    grid = pd.concat(rows, keys=range(len(rows)), names=["cutoff", "lead_id"])
    label = grid["label"].to_numpy()
    positives_per_cutoff = grid.groupby(level="cutoff")["label"].sum()
    top = grid["informative"].rank(method="first", ascending=False) <= 0.1 * len(grid)
    disq = f", disqualified {len(disqualified_at) / len(leads):.0%} of leads" if lifecycle is not None else ""
    return {
        "rows": {name: len(df) for name, df in (("leads", leads), ("events", events), ("identities", identities),
                                                ("deals", deals), ("lifecycle", lifecycle)) if df is not None},
        "deals": deals["status"].value_counts().reindex(["won", "lost", "open"], fill_value=0).to_dict(),
        "weeks": round((data_end - low).days / 7, 1),
        "cutoffs": f"{len(mature)} mature of {len(cutoffs)} (~{train_cutoffs} train){disq}",
        "base_rate": f"{label.mean():.2%} of {len(grid)} rows; positives per cutoff "
                     f"min {positives_per_cutoff.min()} mean {positives_per_cutoff.mean():.1f}",
        "signal": f"AUC informative_30d {_auc(grid['informative'].to_numpy(), label):.2f} vs all-events_30d "
                  f"{_auc(grid['total'].to_numpy(), label):.2f}; win rate top decile informative "
                  f"{label[top.to_numpy()].mean():.1%} vs rest {label[~top.to_numpy()].mean():.2%}",
        "precision@capacity": f"informative-first {hits['informed'] / hits['calls']:.1%} vs one point per event "
                              f"{hits['naive'] / hits['calls']:.1%} (base {label.mean():.2%}, {capacity} a week)",
    }


if __name__ == "__main__":
    import tempfile
    import time

    with tempfile.TemporaryDirectory() as tmp:
        for name, make in SHAPES.items():
            began = time.perf_counter()
            shape = make(Path(tmp) / name, seed=0)
            seconds = time.perf_counter() - began
            size = sum(p.stat().st_size for p in (Path(tmp) / name).iterdir())
            print(f"== {name}: {seconds:.1f} s, {size / 1e6:.2f} MB -- {shape.planted}")
            for key, value in check(shape).items():
                print(f"   {key}: {value}")
