"""A B2B engagement simulator with ground truth: the demo, test and benchmark data.

The world it simulates, week by week (weeks start Monday 00:00 UTC):

* **Accounts** have a vertical, a heavy-tailed employee count and a country; an
  ideal-customer profile (ICP) over vertical and size raises every conversion step.
  Each account is sometimes *in market* (a hidden buying window of a few months);
  while it is, all its people move up the journey faster, which is how the buying
  committee's engagement becomes a signal.
* **Leads** belong to accounts (committees of 1 to ~30) and have a free-text title
  (seniority and function matter), a source, optionally a stated goal, and, when
  they became known through the contact-sales form, a budget range and timeline.
* A hidden **journey stage** per lead and week -- dormant, aware (acknowledged),
  engaged, leaning-in -- moves by a Markov chain whose up/down rates depend on fit,
  seniority, the account's buying window and the marketing calendar (webinars,
  nurture emails, holidays). Each week's events are Poisson draws whose rates
  depend on the stage and a heavy-tailed per-lead activity level.
* **Deals** open with a weekly hazard that depends on the stage and, strongly, on
  a demo request in the previous week (sales follows up). They close won or lost
  after weeks to months; a lost deal cools the lead down for half a year.
* **Noise**: privacy auto-opens of email, bots, anonymous visitors (some later
  identified, their earlier visits stitched by ``identities``), outbound and
  referral deals with little digital footprint, holidays and quarter-end pushes.

Because the account buying window is an autonomous chain and each lead's stage
depends only on its own past and its account, the (account window, stage, demo
last week) triple is a Markov chain per lead. ``truth`` propagates its
distribution exactly over the label window, so ``p_true`` is the exact probability
of the default label given the hidden state at the cutoff -- no Monte Carlo error.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
import pyarrow as pa

from features.errors import UserError
from features.simulate_titles import render_titles

STAGES = ("dormant", "aware", "engaged", "leaning_in")
DORMANT, AWARE, ENGAGED, LEANING_IN = range(4)
US_PER_DAY = 86_400_000_000
US_PER_WEEK = 7 * US_PER_DAY
NEVER = np.iinfo(np.int64).max

INDUSTRIES = ("software", "financial_services", "healthcare", "manufacturing", "retail", "education",
              "professional_services", "media", "government", "nonprofit")
INDUSTRY_SHARE = (0.18, 0.12, 0.11, 0.13, 0.10, 0.08, 0.12, 0.06, 0.05, 0.05)
INDUSTRY_FIT = (1.8, 1.6, 1.1, 1.0, 0.9, 0.5, 1.2, 0.8, 0.4, 0.3)
COUNTRIES = ("US", "GB", "DE", "FR", "CA", "AU", "NL", "IN", "BR", "ES", "SE", "JP")
COUNTRY_SHARE = (0.42, 0.11, 0.09, 0.06, 0.06, 0.04, 0.04, 0.06, 0.04, 0.03, 0.02, 0.03)
COUNTRY_FIT = (1.1, 1.1, 1.0, 0.9, 1.0, 1.0, 1.0, 0.6, 0.6, 0.8, 1.0, 0.7)
SOURCES = ("organic_search", "paid_search", "paid_social", "content_syndication", "webinar", "event",
           "referral", "partner", "direct")
SOURCE_SHARE = (0.24, 0.14, 0.12, 0.12, 0.10, 0.07, 0.06, 0.05, 0.10)
# outbound-style sources carry deals with little digital footprint
SOURCE_OFFLINE_DEALS = (1.0, 1.0, 0.8, 0.6, 1.0, 2.0, 6.0, 5.0, 1.0)
# who the leads are, for the list people read (data.display_columns); drawn from the lead and account numbers alone,
# so the world's random stream, and with it every other column, is what it was before they existed
FIRST_NAMES = ("Zoë", "José", "Amélie", "Søren", "Łukasz", "Chloé", "Mateo", "Ingrid", "Aiko", "Priya", "Olu",
               "Hannah", "Liam", "Noor", "Björn", "Elena", "Tomás", "Mei", "Kofi", "Sofía", "Jonas", "Ana")
LAST_NAMES = ("Müller", "Núñez", "Dubois", "Kowalski", "O'Brien", "Nakamura", "Sharma", "Okafor", "García", "Berg",
              "Rossi", "Chen", "Smith", "Johansson", "Haddad", "Silva", "Novak", "Keller", "Moreau", "Lindqvist")
COMPANY_STEMS = ("Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Tyrell", "Cyberdyne", "Hooli", "Vandelay",
                 "Soylent", "Wonka", "Aperture", "Massive", "Gringotts", "Oscorp", "Pied Piper", "Dunder")
COMPANY_ENDINGS = ("Inc.", "GmbH", "Ltd", "S.A.", "AB", "BV")
OWNERS = ("Ava Brooks", "Ben Carter", "Dana Kim", "Luis Ortega", "Maya Patel", "Sam Fischer")
GOALS = ("replace current tool", "grow pipeline", "improve reporting", "learn best practices", "student project")
GOAL_SHARE = (0.2, 0.3, 0.2, 0.22, 0.08)
GOAL_INTENT = (1.8, 1.3, 1.1, 0.7, 0.05)
BUDGETS = ("<10k", "10k-50k", "50k-250k", ">250k", "not sure")
BUDGET_WIN = (0.6, 1.0, 1.3, 1.5, 0.8)
TIMELINES = ("this quarter", "next quarter", "this year", "just exploring")
TIMELINE_WIN = (1.5, 1.2, 0.9, 0.4)

SENIORITY_SHARE = (0.05, 0.08, 0.15, 0.25, 0.17, 0.25, 0.05)
SENIORITY_UP = (1.2, 1.3, 1.3, 1.1, 1.0, 0.8, 0.6)       # how fast they move towards a purchase
SENIORITY_WIN = (1.6, 1.5, 1.3, 1.0, 0.8, 0.6, 0.05)     # authority to sign
FUNCTION_SHARE = (0.30, 0.18, 0.12, 0.12, 0.10, 0.06, 0.04, 0.08)
FUNCTION_FIT = (1.4, 1.2, 1.1, 1.0, 0.8, 0.7, 0.4, 0.5)

# Weekly event rates per stage (dormant, aware, engaged, leaning-in), before the lead's activity level.
WEB_KINDS = (  # (event_type, content_type, rates, catalogue size)
    ("page_view", "blog", (0.06, 0.55, 1.40, 1.20), 300),
    ("page_view", "product", (0.015, 0.15, 0.50, 1.40), 20),
    ("page_view", "pricing", (0.003, 0.03, 0.15, 1.00), 3),
    ("page_view", "case_study", (0.003, 0.05, 0.30, 0.80), 40),
    ("content_download", "ebook", (0.002, 0.05, 0.35, 0.30), 30),
    ("content_download", "action_guide", (0.001, 0.02, 0.18, 0.30), 15),
    ("form_submit", "demo_request", (0.0, 0.001, 0.006, 0.10), 2),
)
DEMO_KIND = 6
MEDIAN_DWELL_S = (25.0, 40.0, 75.0, 110.0)
EMAIL_OPEN = (0.08, 0.20, 0.35, 0.45)
EMAIL_CLICK = (0.02, 0.08, 0.18, 0.30)      # per real (human) open
WEBINAR_REGISTER = (0.004, 0.04, 0.18, 0.15)
WEBINAR_ATTEND = 0.45


@dataclass(frozen=True)
class SimulationParams:
    """Knobs of the simulated world. Defaults are chosen to match published B2B funnel benchmarks.

    Why these defaults are realistic: B2B lead-to-opportunity conversion runs at
    roughly 5-15 % over a lead's life and opportunity win rates at 20-30 %, which
    gives a per-90-day won-deal rate of about 0.5-3 % of the marketable database;
    sales cycles for mid-market SaaS have medians of 1-3 months; typical email open
    rates are 20-40 % (inflated since 2021 by privacy auto-opens, ~35 % of
    recipients), click-through 2-5 % of sends; most of a database is dormant in any
    given week; a few percent of form fills are junk or bots.
    """

    leads: int = 10_000
    seed: int = 0
    start: date = date(2024, 11, 18)          # a Monday
    weeks: int = 104
    mean_committee_size: float = 3.0
    preexisting_share: float = 0.25            # leads already in the database when the history starts
    activity_scale: float = 1.0                # multiplies every event rate
    auto_open_share: float = 0.35              # recipients whose mail client opens everything
    bot_share: float = 0.003
    stitched_share: float = 0.45               # new leads with anonymous visits before their form fill
    late_identity_share: float = 0.15          # leads whose second device is identified weeks later
    anonymous_visitors_per_lead: float = 2.0   # visitors never identified
    contact_sales_share: float = 0.07          # leads created through the contact-sales form
    goal_share: float = 0.4                    # leads who state a goal on their form
    account_enter_market: float = 0.005        # weekly chance an account opens a buying window (times fit)
    account_exit_market: float = 0.08          # weekly chance it closes (mean window ~12 weeks)
    stage_up: tuple[float, float, float] = (0.015, 0.035, 0.035)    # dormant->aware, aware->engaged, engaged->leaning
    stage_down: tuple[float, float, float] = (0.08, 0.15, 0.25)   # aware->dormant, engaged->aware, leaning->engaged
    in_market_up: float = 4.0
    in_market_down: float = 0.5
    deal_hazard: tuple[float, float, float, float] = (0.0001, 0.0004, 0.002, 0.02)
    demo_followup: float = 0.45                # chance a demo request opens a deal the following week
    win_rate: float = 0.24
    cycle_median_days_won: float = 62.0
    cycle_median_days_lost: float = 38.0
    cycle_sigma: float = 0.55
    cooldown_weeks: int = 26
    deal_median_amount: float = 18_000.0

    @property
    def end(self) -> date:
        return self.start + timedelta(weeks=self.weeks)

    def __post_init__(self):
        if self.start.weekday() != 0:
            raise UserError(f"start must be a Monday, got {self.start} ({self.start:%A})")
        if self.leads < 1 or self.weeks < 2:
            raise UserError("leads must be >= 1 and weeks >= 2")


@dataclass(frozen=True)
class Calendar:
    """Deterministic per-week multipliers: holidays, quarter ends, webinars and nurture sends."""

    activity: np.ndarray
    deal: np.ndarray
    webinar: np.ndarray
    nurture: np.ndarray

    @classmethod
    def build(cls, start: date, n_weeks: int) -> Calendar:
        activity = np.ones(n_weeks)
        deal = np.ones(n_weeks)
        webinar = np.zeros(n_weeks, dtype=bool)
        nurture = np.zeros(n_weeks, dtype=bool)
        for w in range(n_weeks):
            monday = start + timedelta(weeks=w)
            days = [monday + timedelta(days=d) for d in range(7)]
            if any(d.month == 12 and 24 <= d.day <= 31 for d in days):
                activity[w], deal[w] = 0.35, 0.4
            elif any(d.month == 1 and d.day == 1 for d in days):
                activity[w], deal[w] = 0.6, 0.6
            elif any(d.month == 11 and d.weekday() == 3 and 22 <= d.day <= 28 for d in days):  # Thanksgiving
                activity[w], deal[w] = 0.75, 0.8
            elif monday.month == 8:
                activity[w] = 0.85
            if monday.month in (3, 6, 9, 12) and monday.day >= 15 and deal[w] == 1.0:
                deal[w] = 1.25
            webinar[w] = w % 4 == 2
            nurture[w] = w % 2 == 1
        return cls(activity, deal, webinar, nurture)

    def up_multiplier(self, week: int) -> float:
        return (1.3 if self.webinar[week] else 1.0) * (1.15 if self.nurture[week] else 1.0) * min(1.0, self.activity[week] + 0.3)


@dataclass
class Leads:
    """Per-lead hidden and observable traits of one chunk, as arrays."""

    lead_number: np.ndarray
    account: np.ndarray
    created_us: np.ndarray
    created_week: np.ndarray
    initial_stage: np.ndarray
    up: np.ndarray
    deal_mult: np.ndarray
    offline_deal: np.ndarray
    win: np.ndarray
    activity: np.ndarray
    auto_open: np.ndarray
    bot: np.ndarray
    contact_sales: np.ndarray
    account_enter: np.ndarray


@dataclass
class Chunk:
    leads: pa.Table
    events: pa.Table
    identities: pa.Table
    deals: pa.Table
    feedback: pa.Table
    hidden: dict = field(repr=False, default_factory=dict)


def _transition(stage: np.ndarray, in_market: np.ndarray, up_mult: np.ndarray, p: SimulationParams, cal_up: float):
    """Per-lead chance to move up and down from ``stage`` this week: the one place the chain is defined."""
    up_base = np.array(p.stage_up + (0.0,))[stage]
    down_base = np.array((0.0,) + p.stage_down)[stage]
    up = np.minimum(0.9, up_base * up_mult * cal_up * np.where(in_market, p.in_market_up, 1.0))
    down = np.minimum(1.0 - up, down_base * np.where(in_market, p.in_market_down, 1.0))
    return up, down


def _demo_probability(stage, leads: Leads, cal_activity: float, p: SimulationParams) -> np.ndarray:
    rate = np.array(WEB_KINDS[DEMO_KIND][2])[stage] * leads.activity * cal_activity * p.activity_scale
    return np.where(leads.bot, 0.0, 1.0 - np.exp(-rate))


def _deal_probability(stage, demo_last_week, leads: Leads, cal_deal: float, p: SimulationParams) -> np.ndarray:
    hazard = np.minimum(0.5, np.array(p.deal_hazard)[stage] * leads.deal_mult * cal_deal + leads.offline_deal)
    return 1.0 - (1.0 - hazard) * (1.0 - demo_last_week * p.demo_followup)


def simulate(p: SimulationParams, chunk_leads: int = 100_000) -> Iterator[Chunk]:
    """Yield the world in chunks of whole accounts; each chunk is independent given the seed."""
    sizes = _committee_sizes(np.random.default_rng(np.random.SeedSequence([p.seed, 0])), p)
    n_weeks_cal = p.weeks + 60
    cal = Calendar.build(p.start, n_weeks_cal)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    first_account = 0
    chunk_index = 0
    while first_account < len(sizes):
        last_account = int(np.searchsorted(bounds, bounds[first_account] + chunk_leads, side="left"))
        last_account = max(first_account + 1, min(last_account, len(sizes)))
        rng = np.random.default_rng(np.random.SeedSequence([p.seed, 1, chunk_index]))
        yield _simulate_chunk(rng, p, cal, sizes[first_account:last_account], first_account, int(bounds[first_account]))
        first_account = last_account
        chunk_index += 1


def _committee_sizes(rng, p: SimulationParams) -> np.ndarray:
    """Accounts' committee sizes: mostly 1-3 people, a long tail of large buying groups."""
    sizes = []
    total = 0
    while total < p.leads:
        draw = 1 + rng.negative_binomial(0.8, 0.8 / (0.8 + p.mean_committee_size - 1), size=max(1024, p.leads // 2))
        draw = np.minimum(draw, 40)
        sizes.append(draw)
        total += int(draw.sum())
    sizes = np.concatenate(sizes)
    cut = int(np.searchsorted(np.cumsum(sizes), p.leads))
    sizes = sizes[: cut + 1].copy()
    sizes[-1] -= int(sizes.sum() - p.leads)
    return sizes[sizes > 0]


def _pick(rng, n, share):
    return rng.choice(len(share), size=n, p=np.array(share) / np.sum(share))


def _simulate_chunk(rng, p: SimulationParams, cal: Calendar, sizes, first_account: int, first_lead: int) -> Chunk:
    n_acc = len(sizes)
    n = int(sizes.sum())
    start_us = _us(datetime.combine(p.start, datetime.min.time()))
    weeks = p.weeks

    # --- accounts -------------------------------------------------------------------------------
    industry = _pick(rng, n_acc, INDUSTRY_SHARE)
    employees = np.clip(np.round(rng.lognormal(np.log(150), 1.7, n_acc)), 1, 400_000).astype(np.int64)
    country = _pick(rng, n_acc, COUNTRY_SHARE)
    size_fit = np.select([employees < 20, employees < 200, employees <= 10_000], [0.3, 0.9, 1.6], 1.0)
    account_fit = np.array(INDUSTRY_FIT)[industry] * size_fit * np.array(COUNTRY_FIT)[country]
    account = np.repeat(np.arange(n_acc), sizes)
    account_enter = np.minimum(0.2, p.account_enter_market * account_fit)

    # --- leads ----------------------------------------------------------------------------------
    seniority = _pick(rng, n, SENIORITY_SHARE)
    function = _pick(rng, n, FUNCTION_SHARE)
    source = _pick(rng, n, SOURCE_SHARE)
    contact_sales = rng.random(n) < p.contact_sales_share
    goal = np.where(rng.random(n) < p.goal_share, _pick(rng, n, GOAL_SHARE), -1)
    budget_draw = _pick(rng, n, (0.15, 0.35, 0.3, 0.1, 0.1))
    timeline_draw = _pick(rng, n, (0.3, 0.3, 0.25, 0.15))
    bot = rng.random(n) < p.bot_share
    preexisting = rng.random(n) < p.preexisting_share
    contact_sales &= ~preexisting & ~bot  # only new, real people come in through the contact-sales form
    budget = np.where(contact_sales, budget_draw, -1)
    timeline = np.where(contact_sales, timeline_draw, -1)
    growth = 1.0 + 0.6 * np.arange(weeks) / weeks
    arrival_week = rng.choice(weeks, size=n, p=growth * cal.activity[:weeks] / np.sum(growth * cal.activity[:weeks]))
    created_us = np.where(
        preexisting,
        start_us - rng.integers(US_PER_DAY, 730 * US_PER_DAY, n),
        start_us + arrival_week * US_PER_WEEK + _business_time_us(rng, n, weekend_share=0.12),
    )
    created_week = np.where(preexisting, -1, arrival_week)
    goal_intent = np.where(goal >= 0, np.array(GOAL_INTENT)[np.maximum(goal, 0)], 1.0)
    fit = account_fit[account] * np.array(FUNCTION_FIT)[function]
    up = np.array(SENIORITY_UP)[seniority] * np.sqrt(fit) * goal_intent
    deal_mult = np.sqrt(fit) * goal_intent
    win = p.win_rate * np.sqrt(fit) * np.array(SENIORITY_WIN)[seniority]
    win *= np.where(budget >= 0, np.array(BUDGET_WIN)[np.maximum(budget, 0)], 1.0)
    win *= np.where(timeline >= 0, np.array(TIMELINE_WIN)[np.maximum(timeline, 0)], 1.0)
    win = np.clip(win, 0.0, 0.85)
    offline = 0.00025 * np.array(SOURCE_OFFLINE_DEALS)[source] * np.sqrt(fit)
    activity = rng.lognormal(-0.5, 1.0, n)  # mean 1, heavy right tail
    initial = np.where(
        preexisting, np.where(rng.random(n) < 0.3, AWARE, DORMANT),
        np.where(contact_sales, LEANING_IN, np.where(rng.random(n) < 0.25 + 0.35 * (source == 4), ENGAGED, AWARE)),
    )
    leads = Leads(
        lead_number=first_lead + np.arange(n), account=account, created_us=created_us, created_week=created_week,
        initial_stage=np.where(bot, DORMANT, initial), up=np.where(bot, 0.0, up),
        deal_mult=np.where(bot, 0.0, deal_mult), offline_deal=np.where(bot, 0.0, offline), win=np.where(bot, 0.0, win),
        activity=activity, auto_open=rng.random(n) < p.auto_open_share, bot=bot, contact_sales=contact_sales,
        account_enter=account_enter[account],
    )

    # --- the weekly journey -----------------------------------------------------------------------
    stage_hist = np.zeros((n, weeks), dtype=np.int8)
    market_hist = np.zeros((n, weeks), dtype=bool)
    demo_hist = np.zeros((n, weeks), dtype=bool)
    in_market_acc = rng.random(n_acc) < account_enter / (account_enter + p.account_exit_market)
    stage = leads.initial_stage.copy()
    demo_last = np.zeros(n, dtype=bool)
    eligible_from = np.where(preexisting, 0, created_week + 1).astype(np.int64)
    events: list[dict] = []
    deals: list[tuple] = []
    end_us = _us(datetime.combine(p.end, datetime.min.time()))
    for w in range(weeks):
        week_us = start_us + w * US_PER_WEEK
        switch = rng.random(n_acc)
        in_market_acc = np.where(in_market_acc, switch >= p.account_exit_market, switch < account_enter)
        in_market = in_market_acc[account]
        known = created_us < week_us + US_PER_WEEK
        new_now = created_week == w
        up_p, down_p = _transition(stage, in_market, leads.up, p, cal.up_multiplier(w))
        draw = rng.random(n)
        moved = np.where(draw < up_p, stage + 1, np.where(draw < up_p + down_p, stage - 1, stage))
        stage = np.where(new_now | (created_week > w), leads.initial_stage, moved).astype(np.int8)
        stage_hist[:, w], market_hist[:, w] = stage, in_market

        # deals open this week from last week's demo request or the stage's hazard
        eligible = known & ~new_now & (eligible_from <= w) & ~bot
        deal_p = _deal_probability(stage, demo_last, leads, cal.deal[w], p)
        opened = eligible & (rng.random(n) < deal_p)
        if opened.any():
            idx = np.flatnonzero(opened)
            created = week_us + _business_time_us(rng, len(idx), weekend_share=0.0)
            won = rng.random(len(idx)) < leads.win[idx]
            median = np.where(won, p.cycle_median_days_won, p.cycle_median_days_lost)
            cycle_days = np.maximum(7.0, rng.lognormal(np.log(median), p.cycle_sigma))
            closed = created + (cycle_days * US_PER_DAY).astype(np.int64)
            close_week = (closed - start_us) // US_PER_WEEK
            # a won lead becomes a customer and never opens another lead-level deal; a lost one cools down
            eligible_from[idx] = np.where(won, NEVER, close_week + p.cooldown_weeks)
            amount = np.round(p.deal_median_amount * np.sqrt(employees[account[idx]] / 150) ** 0.5
                              * rng.lognormal(0, 0.6, len(idx)), -2)
            deals.append((leads.lead_number[idx], account[idx] + first_account, created, closed, won, amount, idx))

        # events of this week
        active = known & (created_week <= w)
        events.append(_week_events(rng, w, week_us, stage, active, leads, cal, p))
        demo_last = events[-1].pop("_demo") & active
        demo_hist[:, w] = demo_last

    deal_arrays = [np.concatenate(x) if deals else np.zeros(0, dtype=np.int64) for x in zip(*deals)] if deals else [
        np.zeros(0, dtype=np.int64)] * 7
    hidden = dict(stage=stage_hist, in_market=market_hist, demo=demo_hist, leads=leads,
                  deal_lead=deal_arrays[6], deal_created=deal_arrays[2], deal_closed=deal_arrays[3],
                  deal_won=deal_arrays[4].astype(bool))
    lead_table = _lead_table(rng, leads, seniority, function, source, goal, budget, timeline, industry, employees,
                             country, first_account, bot)
    event_table, identity_table = _finish_events(rng, events, leads, p, start_us, first_lead, n)
    deal_table = _deal_table(deals, end_us, first_lead)
    feedback_table = _feedback_table(rng, leads, stage_hist, deal_arrays, seniority, start_us, end_us)
    return Chunk(lead_table, event_table, identity_table, deal_table, feedback_table, hidden)


def _week_events(rng, w, week_us, stage, active, leads: Leads, cal: Calendar, p: SimulationParams) -> dict:
    """All events of one week for the chunk, as flat arrays (lead index, kind, time, dwell)."""
    act = leads.activity * cal.activity[w] * p.activity_scale
    lead_idx, kind, when, dwell, content = [], [], [], [], []
    for k, (_event, _content, rates, catalogue) in enumerate(WEB_KINDS):
        lam = np.where(leads.bot, 0.0, np.array(rates)[stage] * act * active)
        counts = rng.poisson(lam)
        if k == DEMO_KIND:
            demo = counts > 0
        idx = np.repeat(np.arange(len(stage)), counts)
        lead_idx.append(idx)
        kind.append(np.full(len(idx), k, dtype=np.int8))
        when.append(week_us + _business_time_us(rng, len(idx), weekend_share=0.15))
        median = np.array(MEDIAN_DWELL_S)[stage[idx]] * (1.5 if _content == "pricing" else 1.0)
        dwell.append(rng.lognormal(np.log(median), 1.0) if _event == "page_view" else np.full(len(idx), np.nan))
        content.append(np.minimum(rng.zipf(1.6, len(idx)) - 1, catalogue - 1).astype(np.int16))
    # the contact-sales form that created a lead is its first event, and sales follows it up
    form = np.flatnonzero(leads.contact_sales & (leads.created_week == w))
    demo[form] = True
    lead_idx.append(form)
    kind.append(np.full(len(form), DEMO_KIND, dtype=np.int8))
    when.append(leads.created_us[form])
    dwell.append(np.full(len(form), np.nan))
    content.append(np.zeros(len(form), dtype=np.int16))
    # bots: huge numbers of near-zero-dwell page views on random pages
    bot_idx = np.flatnonzero(leads.bot & active)
    if len(bot_idx):
        counts = rng.poisson(rng.lognormal(np.log(120), 0.8, len(bot_idx)))
        idx = np.repeat(bot_idx, counts)
        k = rng.choice([0, 1, 2, 3], size=len(idx))
        lead_idx.append(idx)
        kind.append(k.astype(np.int8))
        when.append(week_us + rng.integers(0, US_PER_WEEK, len(idx)))
        dwell.append(rng.uniform(0, 3, len(idx)))
        content.append(rng.integers(0, 3, len(idx)).astype(np.int16))
    # campaign emails: a newsletter every Tuesday, a nurture email every other Thursday
    sends = [(1, 14)] + ([(3, 15)] if cal.nurture[w] else [])
    for day, hour in sends:
        send_us = week_us + day * US_PER_DAY + hour * 3_600_000_000
        recipients = np.flatnonzero(active & (leads.created_us < send_us))
        human = rng.random(len(recipients)) < np.array(EMAIL_OPEN)[stage[recipients]]
        auto = leads.auto_open[recipients]
        opened = recipients[human | auto]
        delay = np.where(leads.auto_open[opened], rng.integers(5_000_000, 120_000_000, len(opened)),
                         np.minimum(rng.exponential(10 * 3_600_000_000, len(opened)), 3 * US_PER_DAY).astype(np.int64))
        lead_idx.append(opened)
        kind.append(np.full(len(opened), 7, dtype=np.int8))
        when.append(send_us + delay)
        dwell.append(np.full(len(opened), np.nan))
        content.append(np.full(len(opened), w * 2 + (day == 3), dtype=np.int16))
        clicks = recipients[human & (rng.random(len(recipients)) < np.array(EMAIL_CLICK)[stage[recipients]])]
        lead_idx.append(clicks)
        kind.append(np.full(len(clicks), 8, dtype=np.int8))
        when.append(send_us + rng.integers(60_000_000, 2 * US_PER_DAY, len(clicks)))
        dwell.append(np.full(len(clicks), np.nan))
        content.append(np.full(len(clicks), w * 2 + (day == 3), dtype=np.int16))
    if cal.webinar[w]:
        reg = np.flatnonzero(active & ~leads.bot & (rng.random(len(stage)) < np.array(WEBINAR_REGISTER)[stage]))
        attend = reg[rng.random(len(reg)) < WEBINAR_ATTEND]
        lead_idx += [reg, attend]
        kind += [np.full(len(reg), 9, dtype=np.int8), np.full(len(attend), 10, dtype=np.int8)]
        reg_time = week_us + rng.integers(0, 3 * US_PER_DAY, len(reg))
        when += [np.maximum(reg_time, leads.created_us[reg] + 1), np.full(len(attend), week_us + 3 * US_PER_DAY + 16 * 3_600_000_000)]
        dwell += [np.full(len(reg), np.nan), rng.uniform(600, 3600, len(attend))]
        content += [np.full(len(reg), w, dtype=np.int16), np.full(len(attend), w, dtype=np.int16)]
    lead_idx = np.concatenate(lead_idx)
    when = np.concatenate(when)
    # a lead's first week only has activity from its form fill on
    keep = (when >= leads.created_us[lead_idx]) & (when < week_us + US_PER_WEEK)
    return dict(lead=lead_idx[keep], kind=np.concatenate(kind)[keep], when=when[keep],
                dwell=np.concatenate(dwell)[keep], content=np.concatenate(content)[keep], _demo=demo)


def _business_time_us(rng, n, weekend_share: float) -> np.ndarray:
    """Offsets into a week: weekdays 09-18h UTC, with ``weekend_share`` of activity on weekends."""
    weekend = rng.random(n) < weekend_share
    day = np.where(weekend, rng.integers(5, 7, n), rng.integers(0, 5, n))
    seconds = np.where(weekend, rng.integers(8 * 3600, 22 * 3600, n), rng.integers(9 * 3600, 18 * 3600, n))
    return day * US_PER_DAY + seconds * 1_000_000 + rng.integers(0, 1_000_000, n)


EVENT_KIND_TYPES = tuple(k[0] for k in WEB_KINDS) + ("email_open", "email_click", "webinar_register", "webinar_attend")
EVENT_KIND_CONTENT = tuple(k[1] for k in WEB_KINDS) + (None, None, "webinar", "webinar")


def _finish_events(rng, weekly: list[dict], leads: Leads, p: SimulationParams, start_us: int, first_lead: int, n: int):
    """Add anonymous history, stitch identities, and turn the arrays into an Arrow table."""
    lead = np.concatenate([e["lead"] for e in weekly])
    kind = np.concatenate([e["kind"] for e in weekly])
    when = np.concatenate([e["when"] for e in weekly])
    dwell = np.concatenate([e["dwell"] for e in weekly])
    content = np.concatenate([e["content"] for e in weekly])
    anon = np.full(len(lead), -1, dtype=np.int64)

    # visits before the form fill, on a cookie later linked to the lead
    new = np.flatnonzero((leads.created_week >= 1) & (rng.random(n) < p.stitched_share) & ~leads.bot)
    visits = rng.poisson(rng.lognormal(np.log(3), 0.9, len(new)))
    a_lead = np.repeat(new, visits)
    lookback = rng.integers(60_000_000, 6 * US_PER_WEEK, len(a_lead))
    a_when = np.maximum(leads.created_us[a_lead] - lookback, start_us)
    a_kind = rng.choice([0, 1, 2, 3], size=len(a_lead), p=[0.55, 0.25, 0.1, 0.1]).astype(np.int8)
    id_leads, id_anon, id_when = [new], [(first_lead + new) * 4], [leads.created_us[new]]

    # a second device identified later: its visits between the form fill and that moment are anonymous
    late = np.flatnonzero((rng.random(n) < p.late_identity_share) & ~leads.bot)
    late_at = np.maximum(leads.created_us[late], start_us) + rng.integers(US_PER_WEEK, 20 * US_PER_WEEK, len(late))
    late_visits = rng.poisson(2.0, len(late))
    l_lead = np.repeat(late, late_visits)
    l_when = late_at[np.repeat(np.arange(len(late)), late_visits)] - rng.integers(60_000_000, 8 * US_PER_WEEK, len(l_lead))
    l_when = np.maximum(l_when, np.maximum(leads.created_us[l_lead], start_us) + 1)
    l_kind = rng.choice([0, 1, 2, 3], size=len(l_lead), p=[0.4, 0.3, 0.2, 0.1]).astype(np.int8)
    end_us = start_us + p.weeks * US_PER_WEEK
    keep_late = late_at < end_us
    id_leads.append(late[keep_late])
    id_anon.append((first_lead + late[keep_late]) * 4 + 1)
    id_when.append(late_at[keep_late])

    # visitors never identified
    n_visitors = rng.poisson(p.anonymous_visitors_per_lead * n)
    v_visits = rng.poisson(rng.lognormal(np.log(2), 0.9, n_visitors))
    v_id = np.repeat(np.arange(n_visitors), v_visits)
    v_when = start_us + rng.integers(0, p.weeks * US_PER_WEEK, len(v_id))
    v_kind = rng.choice([0, 1, 2, 3], size=len(v_id), p=[0.7, 0.2, 0.05, 0.05]).astype(np.int8)

    extra_n = len(a_lead) + len(l_lead) + len(v_id)
    lead = np.concatenate([lead, np.full(extra_n, -1)])
    # device ids: lead number * 4 + device; never-identified visitors get a 'v' prefix instead of 'a'
    anon = np.concatenate([anon, (first_lead + a_lead) * 4, (first_lead + l_lead) * 4 + 1, first_lead * 4 + v_id])
    visitor_mask = np.zeros(len(lead), dtype=bool)
    visitor_mask[len(lead) - len(v_id):] = True
    kind = np.concatenate([kind, a_kind, l_kind, v_kind])
    when = np.concatenate([when, a_when, l_when, v_when])
    stage_dwell = np.concatenate([
        rng.lognormal(np.log(35), 1.0, len(a_lead)), rng.lognormal(np.log(45), 1.0, len(l_lead)),
        rng.lognormal(np.log(30), 1.0, len(v_id))])
    dwell = np.concatenate([dwell, stage_dwell])
    extra_kind = np.concatenate([a_kind, l_kind, v_kind])
    catalogue = np.array([k[3] for k in WEB_KINDS])[extra_kind]
    content = np.concatenate([content, np.minimum(rng.zipf(1.6, extra_n) - 1, catalogue - 1).astype(np.int16)])
    keep = when < end_us
    lead, anon, kind, when, dwell, content, visitor_mask = (
        a[keep] for a in (lead, anon, kind, when, dwell, content, visitor_mask))

    table = pa.table({
        "occurred_at": pa.array(when, type=pa.timestamp("us", tz="UTC")),
        "lead_id": pa.array(_lead_ids(first_lead + np.maximum(lead, 0)), mask=lead < 0).dictionary_encode(),
        "anonymous_id": _anonymous_ids(anon, visitor_mask),
        "event_type": _dictionary(kind, EVENT_KIND_TYPES),
        "content_type": _dictionary(kind, EVENT_KIND_CONTENT),
        "content_id": _content_ids(kind, content),
        "duration_s": pa.array(np.round(dwell, 1), mask=np.isnan(dwell)),
    })
    identities = pa.table({
        "anonymous_id": _anonymous_ids(np.concatenate(id_anon), np.zeros(sum(len(a) for a in id_anon), dtype=bool)),
        "lead_id": pa.array(_lead_ids(first_lead + np.concatenate(id_leads)), type=pa.string()),
        "identified_at": pa.array(np.concatenate(id_when), type=pa.timestamp("us", tz="UTC")),
    })
    return table, identities


def _padded(prefix, numbers: np.ndarray, width: int) -> np.ndarray:
    """``prefix`` + zero-padded numbers; ``prefix`` may be an array. Safe on empty input."""
    if len(numbers) == 0:
        return np.zeros(0, dtype=str)
    return np.char.add(prefix, np.char.zfill(np.asarray(numbers).astype(str), width))


def _lead_ids(numbers: np.ndarray) -> np.ndarray:
    return _padded("L", numbers, 7)


def _anonymous_ids(numbers: np.ndarray, visitor: np.ndarray) -> pa.Array:
    text = _padded(np.where(visitor, "v", "a"), np.maximum(numbers, 0), 9)
    return pa.array(text, type=pa.string(), mask=numbers < 0)


def _dictionary(kind: np.ndarray, names: tuple) -> pa.Array:
    """``names[kind]`` as a dictionary array; its dictionary must hold each name once, or Parquet
    writers fall back to plain encoding -- unlike the exports of real tools, and several times
    slower to read."""
    labels = sorted({name for name in names if name is not None})
    position = np.array([labels.index(name) if name is not None else -1 for name in names], dtype=np.int32)[kind]
    return pa.DictionaryArray.from_arrays(pa.array(position, mask=position < 0), pa.array(labels, pa.string()))


def _content_ids(kind: np.ndarray, content: np.ndarray) -> pa.Array:
    prefix = np.array([(c or "email") if k < 9 else "webinar" for k, c in enumerate(EVENT_KIND_CONTENT)], dtype=object)
    prefix[7] = prefix[8] = "campaign"
    text = _padded(np.char.add(prefix[kind].astype(str), "-"), content, 3)
    return pa.array(text, type=pa.string()).dictionary_encode()


ACCEPT_REASONS = ("Demo booked", "Budget confirmed", "Active project", "Asked for pricing")
REJECT_REASONS = ("No budget", "Not the decision maker", "Bad timing", "Using a competitor", "Student or job seeker")


def _feedback_table(rng, leads: Leads, stage_hist, deal_arrays, seniority, start_us: int, end_us: int) -> pa.Table:
    """What sales recorded when they worked a lead (the optional feedback table), drawn after the journey.

    Most deals are preceded by an 'accepted' a few days before they open; and each week sales
    reach some engaged and leaning-in leads that open no deal in the next 4 weeks and are in
    none: rejected (a junior contact more often 'not the decision maker'), no answer, or
    already in contact. Sales feedback follows the journey; it never drives it.
    """
    n, weeks = stage_hist.shape
    deal_idx, deal_created, deal_closed = deal_arrays[6].astype(np.int64), deal_arrays[2], deal_arrays[3]
    lead_idx, at, meaning, reason = [], [], [], []
    # accepted: 80 % of deals, 0.5 to 5 days before they open, never before the lead was known
    kept = rng.random(len(deal_idx)) < 0.8
    accepted_at = deal_created[kept] - (rng.uniform(0.5, 5.0, kept.sum()) * US_PER_DAY).astype(np.int64)
    accepted_at = np.maximum(accepted_at, leads.created_us[deal_idx[kept]] + 1)
    lead_idx.append(deal_idx[kept]); at.append(accepted_at)
    meaning.append(np.full(kept.sum(), "accepted", dtype=object))
    reason.append(np.array(ACCEPT_REASONS, dtype=object)[rng.integers(0, len(ACCEPT_REASONS), kept.sum())])
    # busy: a deal opens within the next 4 weeks, or one is open this week
    busy = np.zeros((n, weeks + 1), dtype=np.int16)
    first = np.clip((deal_created - start_us) // US_PER_WEEK - 4, 0, weeks)
    last = np.clip((deal_closed - start_us) // US_PER_WEEK + 1, 0, weeks)
    np.add.at(busy, (deal_idx, first), 1)
    np.add.at(busy, (deal_idx, last), -1)
    busy = np.cumsum(busy, axis=1)[:, :weeks] > 0
    week_start = start_us + np.arange(weeks) * US_PER_WEEK
    known = leads.created_us[:, None] < week_start[None, :]
    reach = np.where(stage_hist == LEANING_IN, 0.06, np.where(stage_hist == ENGAGED, 0.01, 0.0))
    who, week = np.nonzero(known & ~busy & (rng.random((n, weeks)) < reach))
    said = rng.choice(np.array(["rejected", "no_answer", "in_contact"], dtype=object), len(who), p=[0.45, 0.4, 0.15])
    junior = np.array(SENIORITY_WIN)[seniority[who]] < 1.0  # less authority to sign than a manager
    why = np.where(junior & (rng.random(len(who)) < 0.5), 1, rng.integers(0, len(REJECT_REASONS), len(who)))
    lead_idx.append(who); meaning.append(said)
    at.append(week_start[week] + _business_time_us(rng, len(who), weekend_share=0.0))
    reason.append(np.where(said == "rejected", np.array(REJECT_REASONS, dtype=object)[why], None))
    lead_idx, at, meaning, reason = (np.concatenate(x) for x in (lead_idx, at, meaning, reason))
    inside = at < end_us
    order = np.argsort(at[inside], kind="stable")
    lead_idx, at, meaning, reason = (x[inside][order] for x in (lead_idx, at, meaning, reason))
    return pa.table({
        "lead_id": pa.array(_lead_ids(leads.lead_number[lead_idx]), type=pa.string()),
        "at": pa.array(at, type=pa.timestamp("us", tz="UTC")),
        "disposition": pa.array(meaning.astype(str)),
        "reason": pa.array(list(reason), type=pa.string()),
    })


def _deal_table(deals: list[tuple], end_us: int, first_lead: int) -> pa.Table:
    if deals:
        lead, account, created, closed, won, amount, _ = (np.concatenate(x) for x in zip(*deals))
    else:
        lead = account = created = closed = np.zeros(0, dtype=np.int64)
        won = np.zeros(0, dtype=bool)
        amount = np.zeros(0)
    is_open = closed >= end_us
    status = np.where(is_open, "open", np.where(won, "won", "lost"))
    order = np.argsort(created, kind="stable")
    numbers = np.arange(len(lead))
    return pa.table({
        "deal_id": pa.array(np.char.add(_padded("D", lead, 7), np.char.add("-", numbers.astype(str))), type=pa.string()),
        "lead_id": pa.array(_lead_ids(lead), type=pa.string()),
        "account_id": pa.array(_padded("A", account, 6), type=pa.string()),
        "created_at": pa.array(created, type=pa.timestamp("us", tz="UTC")),
        "closed_at": pa.array(np.where(is_open, 0, closed), type=pa.timestamp("us", tz="UTC"), mask=is_open),
        "status": pa.array(status),
        "amount": pa.array(amount.astype(float)),
    }).take(pa.array(order))


def _lead_table(rng, leads: Leads, seniority, function, source, goal, budget, timeline, industry, employees, country,
                first_account, bot) -> pa.Table:

    n = len(leads.lead_number)
    acc = leads.account
    titles = render_titles(rng, seniority, function)
    titles = np.where(bot, rng.choice(np.array(["test", "asdf", "x", "bot"]), n), titles)
    missing = lambda share: rng.random(n) < share  # noqa: E731 - local helper for readability
    return pa.table({
        "lead_id": pa.array(_lead_ids(leads.lead_number)),
        "created_at": pa.array(leads.created_us, type=pa.timestamp("us", tz="UTC")),
        "account_id": pa.array(_padded("A", acc + first_account, 6), mask=missing(0.02)),
        "title": pa.array(titles.astype(str), mask=missing(0.04)),
        "industry": pa.array(np.array(INDUSTRIES)[industry[acc]], mask=missing(0.05)),
        "company_size": pa.array(employees[acc], mask=missing(0.10)),
        "country": pa.array(np.array(COUNTRIES)[country[acc]], mask=missing(0.03)),
        "lead_source": pa.array(np.array(SOURCES)[source], mask=missing(0.02)),
        "stated_goal": pa.array(np.array(GOALS)[np.maximum(goal, 0)], mask=goal < 0),
        "budget_range": pa.array(np.array(BUDGETS)[np.maximum(budget, 0)], mask=budget < 0),
        "purchase_timeline": pa.array(np.array(TIMELINES)[np.maximum(timeline, 0)], mask=timeline < 0),
        **_who(leads.lead_number, acc + first_account),
    })


def _who(lead_number: np.ndarray, account: np.ndarray) -> dict[str, pa.Array]:
    """Name, e-mail, company and owner: display columns, never features (data.display_columns)."""
    first_at = (lead_number * 7919) % len(FIRST_NAMES)
    last_at = (lead_number // len(FIRST_NAMES) * 104_729) % len(LAST_NAMES)
    stem_at = account % len(COMPANY_STEMS)
    first, last = np.array(FIRST_NAMES)[first_at], np.array(LAST_NAMES)[last_at]
    company = np.char.add(np.char.add(np.array(COMPANY_STEMS)[stem_at], " "),
                          np.array(COMPANY_ENDINGS)[(account // len(COMPANY_STEMS)) % len(COMPANY_ENDINGS)])
    local = np.char.add(np.char.add(_plain(FIRST_NAMES)[first_at], "."), _plain(LAST_NAMES)[last_at])
    domain = np.char.add(np.char.add(_plain(COMPANY_STEMS)[stem_at], account.astype(str)), ".example")
    email = np.char.add(np.char.add(np.char.add(local, (lead_number % 97).astype(str)), "@"), domain)
    return {"full_name": pa.array(np.char.add(np.char.add(first, " "), last).astype(str)),
            "email": pa.array(email.astype(str)), "company": pa.array(company.astype(str)),
            "owner": pa.array(np.array(OWNERS)[account % len(OWNERS)].astype(str))}


def _plain(words: tuple[str, ...]) -> np.ndarray:
    """Each word as an e-mail address writes it: ASCII letters and digits, lower case."""
    import unicodedata

    return np.array(["".join(c for c in unicodedata.normalize("NFKD", w) if c.isascii() and c.isalnum()).lower()
                     for w in words])


def _us(moment: datetime) -> int:
    return int((moment - datetime(1970, 1, 1)).total_seconds()) * 1_000_000


def truth(chunk: Chunk, p: SimulationParams, cutoffs: list[datetime], horizon_days: int,
          exclude_customers: bool = True) -> pa.Table:
    """Exact probability of the default label for every lead in the population at each cutoff.

    The label is a won deal created in ``[t, t + horizon_days)``. Given the hidden state
    in the week before ``t`` (account buying window, journey stage, demo request),
    the chance of a deal opening in each week of the window is propagated through
    the same transition functions the simulation samples from; the chance it is won
    is the lead's win probability, which does not depend on time.
    """
    h = chunk.hidden
    leads: Leads = h["leads"]
    cal = Calendar.build(p.start, p.weeks + 60)
    tables = _ChainTables.build(leads, cal, p)
    start_us = _us(datetime.combine(p.start, datetime.min.time()))
    full_weeks, rest_days = divmod(horizon_days, 7)
    fractions = [1.0] * full_weeks + ([min(rest_days, 5) / 5] if rest_days else [])
    rows = []
    for t in cutoffs:
        t_us = _us(t)
        w, offset = divmod(t_us - start_us, US_PER_WEEK)
        if offset or w < 1 or w > p.weeks:
            raise ValueError(f"cutoff {t} is not a Monday inside the simulated weeks 1..{p.weeks}")
        is_open = (h["deal_created"] < t_us) & (h["deal_closed"] >= t_us)
        customer = h["deal_won"] & (h["deal_closed"] < t_us)
        lost_before = ~h["deal_won"] & (h["deal_closed"] < t_us)
        in_deal = np.zeros(len(leads.lead_number), dtype=bool)
        in_deal[h["deal_lead"][is_open]] = True
        is_customer = np.zeros_like(in_deal)
        is_customer[h["deal_lead"][customer]] = True
        eligible_from = np.where(leads.created_week < 0, 0, leads.created_week + 1).astype(np.int64)
        close_week = (h["deal_closed"] - start_us) // US_PER_WEEK
        np.maximum.at(eligible_from, h["deal_lead"][lost_before], close_week[lost_before] + p.cooldown_weeks)
        eligible_from[is_customer] = NEVER
        population = (leads.created_us < t_us) & ~in_deal & (~is_customer if exclude_customers else True)
        idx = np.flatnonzero(population)
        deal_mass = _deal_within(idx, h["stage"][idx, w - 1], h["in_market"][idx, w - 1], h["demo"][idx, w - 1],
                                 eligible_from[idx], w, fractions, leads, tables, p)
        rows.append(pa.table({
            "lead_id": pa.array(_lead_ids(leads.lead_number[idx]), type=pa.string()),
            "cutoff": pa.array(np.full(len(idx), t_us), type=pa.timestamp("us", tz="UTC")),
            "p_true": pa.array(np.clip(leads.win[idx] * deal_mass, 0.0, 1.0)),
            "p_deal": pa.array(deal_mass),
            "hidden_stage": pa.array(np.array(STAGES)[h["stage"][idx, w - 1]], type=pa.string()),
            "account_in_market": pa.array(h["in_market"][idx, w - 1]),
        }))
    return pa.concat_tables(rows) if rows else None


def _subset(leads: Leads, idx: np.ndarray, dims: int = 0) -> Leads:
    """The leads at ``idx``, each trait shaped (n, 1, ..., 1) to broadcast against ``dims`` state axes."""
    shape = (-1,) + (1,) * dims
    return Leads(**{name: getattr(leads, name)[idx].reshape(shape) for name in Leads.__dataclass_fields__})


@dataclass
class _ChainTables:
    """Per-lead transition, deal and demo probabilities on whole state grids, one slab per calendar class.

    They come from the very functions the simulation samples from (`_transition`,
    `_deal_probability`, `_demo_probability`); the compiled kernel only does the
    bookkeeping of propagating probability mass through them.
    """

    up: np.ndarray        # (classes, n, market, stage)
    down: np.ndarray
    deal: np.ndarray      # (classes, n, stage, demo)
    demo: np.ndarray      # (classes, n, stage)
    up_class: np.ndarray  # week -> slab
    deal_class: np.ndarray
    demo_class: np.ndarray

    @classmethod
    def build(cls, leads: Leads, cal: Calendar, p: SimulationParams) -> _ChainTables:
        n = len(leads.lead_number)
        everyone = np.arange(n)
        grid2, grid1 = _subset(leads, everyone, dims=2), _subset(leads, everyone, dims=1)
        stages, markets = np.arange(4), np.array([False, True])[:, None]
        ups = np.array([cal.up_multiplier(k) for k in range(len(cal.activity))])
        up_values, up_class = np.unique(ups, return_inverse=True)
        deal_values, deal_class = np.unique(cal.deal, return_inverse=True)
        demo_values, demo_class = np.unique(cal.activity, return_inverse=True)
        transitions = [_transition(stages[None, :], markets, grid2.up, p, v) for v in up_values]
        return cls(
            up=np.ascontiguousarray([np.broadcast_to(t[0], (n, 2, 4)) for t in transitions]),
            down=np.ascontiguousarray([np.broadcast_to(t[1], (n, 2, 4)) for t in transitions]),
            deal=np.ascontiguousarray([np.broadcast_to(
                _deal_probability(stages[:, None], np.array([0, 1])[None, :], grid2, v, p), (n, 4, 2))
                for v in deal_values]),
            demo=np.ascontiguousarray([np.broadcast_to(_demo_probability(stages[None, :], grid1, v, p), (n, 4))
                                       for v in demo_values]),
            up_class=up_class.astype(np.int64), deal_class=deal_class.astype(np.int64),
            demo_class=demo_class.astype(np.int64),
        )


def _deal_within(idx, stage, in_market, demo, eligible_from, w, fractions, leads: Leads, tables: _ChainTables,
                 p: SimulationParams) -> np.ndarray:
    """P(a deal opens within the window) for the leads at ``idx``, by exact forward propagation."""
    from features._chain import propagate

    return propagate(idx.astype(np.int64), in_market.astype(np.int64), stage.astype(np.int64), demo.astype(np.int64),
                     eligible_from.astype(np.int64), int(w), np.asarray(fractions, dtype=np.float64),
                     leads.account_enter.astype(np.float64), float(p.account_exit_market),
                     tables.up, tables.down, tables.deal, tables.demo,
                     tables.up_class, tables.deal_class, tables.demo_class)
