"""World "committee": accounts buy in hidden cycles, and the events show them only weakly.

The story
---------
Companies (accounts) buy, not people. About 30 % of accounts have a genuine need for the
product; their firmographics (industry, company size, country) tilt that only a little.
Every account keeps a budget calendar (the month its fiscal year starts, mostly January).

Each account is in one hidden buying phase per week::

    idle -> trigger -> research -> evaluation -> decision -> (deal opened) -> cooldown -> idle

The weekly transition probabilities depend on need and on the budget calendar: triggers
cluster in the three months before the fiscal year starts and in its first month.
Accounts without need rarely leave idle, and when they do they stall in research (a
decoy: they read like buyers and then go quiet). In the decision phase an account opens
a deal with weekly probability ``q``, higher in the last three weeks of a calendar quarter
(the sales push); otherwise it stays, falls back to evaluation or gives up (idle). After
a deal the account cools down for a fixed number of weeks (a quarter or more after a
lost deal, a contract year after a win; always longer than the label horizon), then
it is idle again.

People: each account has a buying committee drawn in advance (1 to 25 people, heavy
tailed), each with a hidden role: decision_maker, champion, influencer, user, noise
(people who happen to work there). A person's ``title`` is only loosely tied to the role
(decision makers carry VP/Director/C-level titles 55 % of the time). Some people are
already in the CRM before the export starts; the others become leads at a form fill,
with a weekly hazard that rises while their account researches and evaluates, so new
leads at an account are a signal. Noise people are created and browse at a constant rate.

Events follow the account's phase and the person's role: in research, influencers and
users read blogs, e-books and guides; in evaluation, champions and decision makers look
at product pages, case studies, pricing and webinars; in decision, at pricing and the
demo request. Noise on top: weekly newsletters and monthly webinar invitations to every
lead; 45 % of inboxes open every e-mail automatically seconds after it is sent, 2 % have
link scanners that click every link; 25 % of people block tracking (only their e-mail
events are recorded); competitors (3 % of accounts) read pricing and product pages
heavily and never buy; crawlers leave anonymous page views that are never identified;
web activity before the form fill is anonymous (``anonymous_id``), mapped to the lead in
``identities`` at the form fill, and a second device's cookie is identified later or
never; 3 % of events are ingested days late.

Deals: an account deal is attributed to one person of the account's pre-drawn committee
chosen with role weights (decision_maker 5, champion 4, influencer 1.5, user 0.5,
noise 0.2). If that person is not a lead yet, sales creates the contact minutes before
opening the opportunity (``lead_source`` ``sales_prospecting``). The deal is won with a
probability depending on need and on whether the committee has a champion, and closes 2
to 16 weeks after it was opened (``open`` with a null ``closed_at`` if that is after the
data's end). Rare outbound deals come at a small constant weekly rate per lead (not at
competitors), independent of the account's cycle. Deals open on business days, so a deal
opened in the 13 weeks starting at a cutoff Monday is always within its 90-day window.

Hidden: need, fiscal calendar, phase and cooldown counter per account and week, roles,
the committee (including people who are not leads yet), inbox and tracking types.

The oracle
----------
``truth.parquet`` holds, for every cutoff Monday ``t`` (week ``s``, from the 13th week
to the last simulated Monday) and every lead created before ``t``, the exact probability
of the label ``won_deal_created`` with ``horizon_days`` (a won deal created in
``[t, t + horizon_days)`` with that lead_id) given the hidden state at ``t``: the
account's phase in week ``s`` and cooldown weeks left, its need, fiscal-year month,
whether it is a competitor, whether its committee holds a champion, and the lead's role
weight relative to the total role weight of the account's pre-drawn committee (the
attribution uses that roster, whoever of it is a lead yet). With ``P`` the probability
that the account opens a won deal in the weeks ``s .. s + n - 1`` (n = weeks whose
business days all lie in the window; the chain propagated analytically, week by week,
with the same matrices the simulation samples from; no second account deal fits in one
window, because cooldown outlasts it) and ``r`` the weekly outbound rate times its win
rate::

    p_true = 1 - (1 - w_role / W_committee * P) * (1 - r) ** n

and 0 at competitors. It is the probability in the world's own model: for late cutoffs
it covers weeks after the export ends, as if the world went on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from features.errors import UserError
from features.oracle import stamped

NAME = "committee"

CONTENT_TYPES = ("blog", "case_study", "ebook", "webinar", "action_guide", "pricing", "product", "demo_request")
EVENT_TYPES = ("page_view", "form_submit", "email_open", "email_click", "content_download", "webinar_register",
               "webinar_attend")

SETTINGS: dict[str, object] = {
    "data.event_types": list(EVENT_TYPES),
    "data.extra_lead_attributes": [],
    "features.content_types": list(CONTENT_TYPES),
    "features.roles": {"high_intent": ["pricing", "demo_request", "case_study"],
                       "sales_ready": ["demo_request"],
                       "engaged_activity": ["content_download", "webinar_attend"]},
    "train.rules.points": {"page_view": 1, "email_open": 0.5, "email_click": 3, "content_download": 5,
                           "webinar_register": 5, "webinar_attend": 10, "form_submit": 10, "pricing": 10,
                           "demo_request": 30, "case_study": 5, "product": 2},
}

# ------------------------------------------------------------------------------------------------------------------
# the hidden chain

IDLE, TRIGGER, RESEARCH, EVALUATION, DECISION, COOLDOWN = range(6)
PHASES = ("idle", "trigger", "research", "evaluation", "decision", "cooldown")
ACTIVE = 5  # phases the transition matrices cover; cooldown is a deterministic countdown outside them

# weekly idle -> trigger probability by [need, in budget season]
TRIGGER_RATE = np.array([[0.002, 0.008], [0.03, 0.10]])
# weekly transitions of accounts with need (rows: from idle..decision without a deal; idle row filled in later)
NEED_MOVES = np.array([
    # idle  trigger research evaluation decision
    [0.0, 0.0, 0.0, 0.0, 0.0],     # idle
    [0.05, 0.45, 0.50, 0.0, 0.0],  # trigger
    [0.07, 0.0, 0.75, 0.18, 0.0],  # research
    [0.07, 0.0, 0.03, 0.75, 0.15],  # evaluation
    [0.14, 0.0, 0.0, 0.06, 0.80],  # decision, no deal this week
])
# accounts without need stall in research and give up quickly
NO_NEED_MOVES = np.array([
    [0.0, 0.0, 0.0, 0.0, 0.0],
    [0.10, 0.45, 0.45, 0.0, 0.0],
    [0.14, 0.0, 0.85, 0.01, 0.0],
    [0.35, 0.0, 0.0, 0.60, 0.05],
    [0.50, 0.0, 0.0, 0.0, 0.50],
])
DEAL_RATE = 0.15            # weekly probability that an account in decision opens a deal
DEAL_RATE_QUARTER_END = 0.35  # ... in the last three weeks of a calendar quarter
QUARTER_END_DAYS = 21
WIN_RATE = np.array([[0.06, 0.15], [0.40, 0.65]])  # [need, committee has a champion]
COOLDOWN_LOST_WEEKS = (14, 40)  # uniform range, after a lost deal; always longer than a 13-week window
COOLDOWN_WON_WEEKS = 52
BURN_IN_WEEKS = 104  # the chain runs this long before the export starts, so phases start near equilibrium

NEED_SHARE = 0.30
COMPETITOR_SHARE = 0.03
FISCAL_YEAR_MONTHS = (1, 4, 7, 10, 2, 6, 9)
FISCAL_YEAR_WEIGHTS = (0.55, 0.15, 0.15, 0.08, 0.02, 0.03, 0.02)
SEASON_MONTHS_BEFORE = 3  # the budget season: these months before the fiscal year start, and its first month

# ------------------------------------------------------------------------------------------------------------------
# people

DECISION_MAKER, CHAMPION, INFLUENCER, USER, NOISE = range(5)
ROLES = ("decision_maker", "champion", "influencer", "user", "noise")
ROLE_SHARES = (0.17, 0.12, 0.25, 0.26, 0.20)
ATTRIBUTION_WEIGHTS = np.array([5.0, 4.0, 1.5, 0.5, 0.2])
COMMITTEE_LOG_MEAN, COMMITTEE_LOG_SD, COMMITTEE_MAX = 0.55, 0.9, 25
ROSTER_PER_LEAD = 1.3         # committee members drawn per lead requested (not all become leads in time)
PRE_EXISTING_SHARE = 0.35     # people already in the CRM before the export starts
# weekly hazard of the form fill that makes a person a lead, by the account's phase
CREATION_HAZARD = np.array([0.006, 0.02, 0.05, 0.06, 0.04, 0.01])
CREATION_BY_ROLE = np.array([0.6, 1.2, 1.0, 0.8, 0.7])
NOISE_CREATION = 0.007
COMPETITOR_CREATION = 0.02
UNTRACKED_SHARE = 0.25
SECOND_COOKIE_SHARE = 0.4
SECOND_COOKIE_USE = 0.35
SECOND_COOKIE_IDENTIFIED = 0.5
SECOND_COOKIE_DELAY_DAYS = 45.0
AUTO_OPEN_SHARE = 0.45
LINK_SCANNER_SHARE = 0.02

OUTBOUND_RATE = 0.0004  # weekly per lead
OUTBOUND_WIN_RATE = 0.25

INDUSTRIES = ("software", "financial_services", "healthcare", "manufacturing", "retail", "education",
              "professional_services", "media", "logistics", "government")
INDUSTRY_NEED_LOGIT = np.array([0.4, 0.2, 0.0, -0.1, 0.0, -0.5, 0.2, 0.1, -0.2, -0.6])
INDUSTRY_WEIGHTS = np.array([0.2, 0.12, 0.1, 0.12, 0.1, 0.06, 0.12, 0.07, 0.06, 0.05])
COUNTRIES = ("US", "GB", "DE", "FR", "CA", "NL", "AU", "SE", "IN", "ES")
COUNTRY_WEIGHTS = np.array([0.42, 0.12, 0.1, 0.07, 0.07, 0.05, 0.05, 0.04, 0.05, 0.03])

# ------------------------------------------------------------------------------------------------------------------
# events

# mean web visits per person and week, by [phase, role]; noise people ignore the phase
VISITS = np.array([
    # dm    champ  infl   user   noise
    [0.05, 0.08, 0.08, 0.08, 0.10],  # idle
    [0.08, 0.12, 0.14, 0.12, 0.10],  # trigger
    [0.10, 0.18, 0.30, 0.22, 0.10],  # research
    [0.22, 0.30, 0.22, 0.15, 0.10],  # evaluation
    [0.25, 0.30, 0.15, 0.12, 0.10],  # decision
    [0.06, 0.12, 0.10, 0.20, 0.10],  # cooldown (onboarding, or licking wounds)
])
COMPETITOR_VISITS = 0.6
VISIT_SPREAD = 0.9  # lognormal sd of a person's own activity level
EXTRA_PAGES = 0.7   # pages per visit: 1 + Poisson(EXTRA_PAGES)
BUYER_ROLES = np.array([True, True, False, False, False])
# page content mix by phase, for readers (influencer, user, noise) and buyers (decision maker, champion)
#                       blog  case  ebook webin guide price prod  demo
READER_CONTENT = np.array([
    [0.55, 0.05, 0.12, 0.04, 0.08, 0.04, 0.11, 0.01],
    [0.50, 0.05, 0.16, 0.04, 0.10, 0.03, 0.11, 0.01],
    [0.40, 0.06, 0.20, 0.05, 0.14, 0.03, 0.11, 0.01],
    [0.35, 0.10, 0.12, 0.06, 0.10, 0.07, 0.19, 0.01],
    [0.35, 0.10, 0.10, 0.05, 0.08, 0.10, 0.20, 0.02],
    [0.50, 0.05, 0.10, 0.05, 0.10, 0.02, 0.17, 0.01],
])
BUYER_CONTENT = np.array([
    [0.50, 0.06, 0.10, 0.04, 0.07, 0.06, 0.15, 0.02],
    [0.45, 0.08, 0.12, 0.05, 0.08, 0.06, 0.14, 0.02],
    [0.35, 0.10, 0.14, 0.06, 0.10, 0.07, 0.16, 0.02],
    [0.20, 0.17, 0.06, 0.08, 0.05, 0.16, 0.23, 0.05],
    [0.15, 0.14, 0.04, 0.05, 0.04, 0.24, 0.22, 0.12],
    [0.45, 0.05, 0.08, 0.05, 0.08, 0.04, 0.24, 0.01],
])
COMPETITOR_CONTENT = np.array([0.08, 0.12, 0.05, 0.03, 0.04, 0.34, 0.32, 0.02])
CONTENT_IDS = 25  # pieces per content type
MEDIAN_SECONDS = np.array([70, 90, 100, 60, 80, 55, 65, 40], dtype=float)
DOWNLOAD_SHARE = 0.3       # gated page views (ebook, action guide) of a known lead that end in a download
DEMO_FORM_SHARE = 0.35     # demo-request page views of a known lead that submit the form
# the form that makes a person a lead, by the account's phase: content type and event
CREATION_CONTENT = {IDLE: (0, 2, 4), TRIGGER: (2, 4, 0), RESEARCH: (2, 4, 3), EVALUATION: (3, 1, 2),
                    DECISION: (7, 3, 1), COOLDOWN: (0, 3, 2)}
# e-mail engagement of people whose inbox does not open automatically: open and click|open, by [phase, role]
OPEN_RATE = np.array([
    [0.10, 0.12, 0.12, 0.10, 0.08],
    [0.12, 0.15, 0.16, 0.12, 0.08],
    [0.14, 0.20, 0.24, 0.18, 0.08],
    [0.16, 0.22, 0.20, 0.15, 0.08],
    [0.15, 0.20, 0.16, 0.12, 0.08],
    [0.12, 0.15, 0.12, 0.14, 0.08],
])
CLICK_RATE = np.array([0.06, 0.08, 0.14, 0.16, 0.14, 0.08])
WEBINAR_EVERY_WEEKS = 4
REGISTER_RATE = np.array([
    [0.004, 0.006, 0.006, 0.004, 0.004],
    [0.006, 0.010, 0.012, 0.008, 0.004],
    [0.010, 0.020, 0.040, 0.030, 0.004],
    [0.040, 0.050, 0.025, 0.015, 0.004],
    [0.020, 0.030, 0.010, 0.010, 0.004],
    [0.005, 0.010, 0.010, 0.020, 0.004],
])
COMPETITOR_REGISTER = 0.05
ATTEND_SHARE = 0.5
CRAWLER_SESSIONS_PER_1000_LEADS = 1.5  # per week
LATE_SHARE = 0.03

US_PER_S = 1_000_000
US_PER_DAY = 86_400 * US_PER_S
US_PER_WEEK = 7 * US_PER_DAY


# ------------------------------------------------------------------------------------------------------------------
# calendar


def _monday_us(start: date, week: np.ndarray) -> np.ndarray:
    """Microseconds since the epoch (UTC) of the Monday 00:00 that opens each week index."""
    origin = int(datetime(start.year, start.month, start.day, tzinfo=timezone.utc).timestamp()) * US_PER_S
    return origin + np.asarray(week, np.int64) * US_PER_WEEK


def _calendar(start: date, first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
    """For weeks ``first .. last - 1``: the month (1-12) of the week's Thursday and whether it is a quarter-end week.

    A quarter-end week is one whose Monday is within ``QUARTER_END_DAYS`` of the quarter's last day.
    """
    mondays = np.datetime64(start, "D") + 7 * np.arange(first, last)
    thursdays = mondays + 3
    month = thursdays.astype("datetime64[M]").astype(int) % 12 + 1
    quarter_start = mondays.astype("datetime64[M]") - (mondays.astype("datetime64[M]").astype(int) % 3)
    next_quarter = (quarter_start + 3).astype("datetime64[D]")
    push = (next_quarter - mondays).astype(int) <= QUARTER_END_DAYS
    return month, push


def _in_season(month: np.ndarray, fiscal_month: np.ndarray) -> np.ndarray:
    """[week, fiscal month index]: whether the week is in the budget season of that fiscal calendar."""
    ahead = (np.asarray(FISCAL_YEAR_MONTHS)[None, :] - month[:, None]) % 12
    return ahead <= SEASON_MONTHS_BEFORE


def _transition_matrices() -> np.ndarray:
    """[need, in season, from, to] over the active phases; the decision row is the move when no deal opens."""
    out = np.zeros((2, 2, ACTIVE, ACTIVE))
    for need, moves in ((0, NO_NEED_MOVES), (1, NEED_MOVES)):
        for season in (0, 1):
            m = moves.copy()
            h = TRIGGER_RATE[need, season]
            m[IDLE] = 0.0
            m[IDLE, IDLE], m[IDLE, TRIGGER] = 1.0 - h, h
            out[need, season] = m
    assert np.allclose(out.sum(axis=-1), 1.0)
    return out


# ------------------------------------------------------------------------------------------------------------------
# accounts and people


@dataclass
class Accounts:
    need: np.ndarray         # bool
    competitor: np.ndarray   # bool
    fiscal: np.ndarray       # index into FISCAL_YEAR_MONTHS
    industry: np.ndarray     # index into INDUSTRIES
    size: np.ndarray         # employees
    country: np.ndarray      # index into COUNTRIES
    champion: np.ndarray     # bool: the committee holds a champion
    weight: np.ndarray       # total attribution weight of the committee
    ids: np.ndarray          # account_id strings


@dataclass
class People:
    account: np.ndarray      # account index
    role: np.ndarray
    tracked: np.ndarray
    second_cookie: np.ndarray
    auto_open: np.ndarray
    scanner: np.ndarray
    activity: np.ndarray     # multiplier of the visit rate
    seniority: np.ndarray    # title bucket


def _draw_accounts(rng: np.random.Generator, people: int) -> tuple[Accounts, np.ndarray]:
    """Accounts with their committee sizes, enough to hold ``people`` people."""
    n = int(people / np.exp(COMMITTEE_LOG_MEAN + COMMITTEE_LOG_SD ** 2 / 2) / 1.1) + 10
    sizes = np.minimum(1 + np.floor(rng.lognormal(COMMITTEE_LOG_MEAN, COMMITTEE_LOG_SD, n * 2)).astype(int),
                       COMMITTEE_MAX)
    sizes = sizes[: int(np.searchsorted(np.cumsum(sizes), people)) + 1]
    n = len(sizes)
    industry = rng.choice(len(INDUSTRIES), n, p=INDUSTRY_WEIGHTS / INDUSTRY_WEIGHTS.sum())
    size = np.maximum(2, np.round(rng.lognormal(5.0, 1.6, n))).astype(np.int64)
    size = np.maximum(size, sizes * 3)
    logit = np.log(NEED_SHARE / (1 - NEED_SHARE)) + INDUSTRY_NEED_LOGIT[industry] + 0.12 * (np.log10(size) - 2.3)
    need = rng.random(n) < 1 / (1 + np.exp(-logit))
    competitor = rng.random(n) < COMPETITOR_SHARE
    need &= ~competitor
    fiscal = rng.choice(len(FISCAL_YEAR_MONTHS), n, p=np.asarray(FISCAL_YEAR_WEIGHTS) / sum(FISCAL_YEAR_WEIGHTS))
    country = rng.choice(len(COUNTRIES), n, p=COUNTRY_WEIGHTS / COUNTRY_WEIGHTS.sum())
    ids = np.array([f"A{v:07d}" for v in rng.choice(9_000_000, n, replace=False) + 1_000_000], dtype=object)
    accounts = Accounts(need, competitor, fiscal, industry, size, country, np.zeros(n, bool), np.zeros(n), ids)
    return accounts, sizes


def _draw_people(rng: np.random.Generator, accounts: Accounts, sizes: np.ndarray) -> People:
    """The committees: a role per person, tracking and inbox types; sets the accounts' champion and weight."""
    account = np.repeat(np.arange(len(sizes)), sizes)
    n = len(account)
    role = rng.choice(len(ROLES), n, p=ROLE_SHARES)
    accounts.champion = np.bincount(account, role == CHAMPION, len(sizes)) > 0
    accounts.weight = np.bincount(account, ATTRIBUTION_WEIGHTS[role], len(sizes))
    return People(
        account=account, role=role,
        tracked=rng.random(n) >= UNTRACKED_SHARE,
        second_cookie=rng.random(n) < SECOND_COOKIE_SHARE,
        auto_open=rng.random(n) < AUTO_OPEN_SHARE,
        scanner=rng.random(n) < LINK_SCANNER_SHARE,
        activity=rng.lognormal(-VISIT_SPREAD ** 2 / 2, VISIT_SPREAD, n),
        seniority=_draw_seniority(rng, role),
    )


# ------------------------------------------------------------------------------------------------------------------
# titles: loosely tied to the role

SENIORITY = ("c_level", "vp", "director", "manager", "senior", "ic", "student", "junk")
SENIORITY_BY_ROLE = np.array([
    # c    vp    dir   mgr   sen   ic    stud  junk
    [0.15, 0.20, 0.20, 0.30, 0.10, 0.04, 0.00, 0.01],  # decision maker: senior 55 %
    [0.02, 0.05, 0.15, 0.40, 0.25, 0.12, 0.00, 0.01],  # champion
    [0.02, 0.03, 0.08, 0.30, 0.27, 0.28, 0.01, 0.01],  # influencer
    [0.00, 0.01, 0.03, 0.10, 0.23, 0.55, 0.06, 0.02],  # user
    [0.08, 0.08, 0.10, 0.18, 0.16, 0.25, 0.10, 0.05],  # noise: anything
])
TITLES = (
    ("CEO", "Chief Marketing Officer", "CMO", "Founder & CEO", "COO", "Chief Revenue Officer", "CRO", "Co-Founder",
     "Managing Director", "CTO", "Chief Digital Officer"),
    ("VP Marketing", "Vice President, Sales", "VP of Demand Generation", "SVP Revenue", "VP Growth",
     "Vice President Marketing Operations", "VP, Digital", "EVP Sales & Marketing"),
    ("Director of Marketing", "Head of Growth", "Marketing Director", "Sr. Director, Demand Gen",
     "Director, Revenue Operations", "Head of Digital", "Sales Director", "Director of IT"),
    ("Marketing Manager", "Demand Generation Manager", "Marketing Ops Manager", "Sales Manager",
     "Product Marketing Manager", "Manager", "Digital Marketing Manager", "IT Manager", "Account Manager"),
    ("Senior Marketing Specialist", "Sr. Analyst", "Lead, Marketing Operations", "Senior Growth Marketer",
     "Senior Data Analyst", "Team Lead Sales", "Senior Software Engineer"),
    ("Marketing Specialist", "Marketing Coordinator", "SDR", "Content Writer", "Data Analyst", "Sales Representative",
     "Marketing Associate", "Engineer", "Consultant", "Assistant"),
    ("Student", "Marketing Intern", "MBA Candidate", "Intern"),
    ("asdf", "-", "n/a", "x", "Mr", "test", "."),
)
TITLE_MISSING = 0.05


def _draw_seniority(rng: np.random.Generator, role: np.ndarray) -> np.ndarray:
    cum = np.cumsum(SENIORITY_BY_ROLE, axis=1)
    cum[:, -1] = 1.0
    return (rng.random(len(role))[:, None] >= cum[role]).sum(axis=1)


def _titles(rng: np.random.Generator, seniority: np.ndarray) -> np.ndarray:
    """Free text as typed: a title of the seniority's pool, sometimes in lower or upper case, sometimes missing."""
    u = rng.random(len(seniority))
    case = rng.random(len(seniority))
    missing = rng.random(len(seniority)) < TITLE_MISSING
    out = np.empty(len(seniority), dtype=object)
    for level, pool in enumerate(TITLES):
        at = np.flatnonzero(seniority == level)
        out[at] = np.asarray(pool, dtype=object)[(u[at] * len(pool)).astype(int)]
    lower, upper = case < 0.15, (case >= 0.15) & (case < 0.2)
    out[lower] = [t.lower() for t in out[lower]]
    out[upper] = [t.upper() for t in out[upper]]
    out[missing] = None
    return out


# ------------------------------------------------------------------------------------------------------------------
# the chain, simulated


@dataclass
class History:
    phase: np.ndarray   # [week, account] for weeks 0 .. weeks-1
    cool: np.ndarray    # [week, account] cooldown weeks left (0 outside cooldown)
    deal_account: np.ndarray
    deal_week: np.ndarray
    deal_won: np.ndarray


def _rates(start: date, first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
    """For weeks first .. last-1: [week, fiscal] budget-season flags and the deal rate per week."""
    month, push = _calendar(start, first, last)
    return _in_season(month, np.arange(len(FISCAL_YEAR_MONTHS))), np.where(push, DEAL_RATE_QUARTER_END, DEAL_RATE)


def _simulate_chain(rng: np.random.Generator, accounts: Accounts, start: date, weeks: int) -> History:
    """Walk every account's phase week by week (burn-in first); open deals in decision; cool down after them."""
    n = len(accounts.need)
    matrices = _transition_matrices()
    season, q = _rates(start, -BURN_IN_WEEKS, weeks)
    need = accounts.need.astype(int)
    phase = np.zeros(n, np.int64)
    cool = np.zeros(n, np.int64)
    phases = np.zeros((weeks, n), np.int8)
    cools = np.zeros((weeks, n), np.int16)
    deals_a, deals_w, deals_won = [], [], []
    for i, w in enumerate(range(-BURN_IN_WEEKS, weeks)):
        if w >= 0:
            phases[w], cools[w] = phase, cool
        u_deal, u_move, u_win, u_cool = rng.random(n), rng.random(n), rng.random(n), rng.random(n)
        cooling = phase == COOLDOWN
        deciding = (phase == DECISION) & ~accounts.competitor
        deal = deciding & (u_deal < q[i])
        won = u_win < WIN_RATE[need, accounts.champion.astype(int)]
        rows = matrices[need, season[i, accounts.fiscal].astype(int), np.minimum(phase, ACTIVE - 1)]
        moved = (u_move[:, None] >= np.cumsum(rows, axis=1)[:, :-1]).sum(axis=1)
        nxt = np.where(cooling, np.where(cool <= 1, IDLE, COOLDOWN), moved)
        nxt = np.where(accounts.competitor, IDLE, nxt)
        low, high = COOLDOWN_LOST_WEEKS
        lost_cool = low + (u_cool * (high - low + 1)).astype(int)
        new_cool = np.where(cooling, cool - 1, 0)
        nxt = np.where(deal, COOLDOWN, nxt)
        new_cool = np.where(deal, np.where(won, COOLDOWN_WON_WEEKS, lost_cool), new_cool)
        if w >= 0 and deal.any():
            at = np.flatnonzero(deal)
            deals_a.append(at)
            deals_w.append(np.full(len(at), w))
            deals_won.append(won[at])
        phase, cool = nxt, np.where(nxt == COOLDOWN, new_cool, 0)
    cat = (lambda parts, dtype: np.concatenate(parts) if parts else np.zeros(0, dtype))
    return History(phases, cools, cat(deals_a, np.int64), cat(deals_w, np.int64), cat(deals_won, bool))


# ------------------------------------------------------------------------------------------------------------------
# the oracle


def account_win_probability(accounts: Accounts, history: History, start: date, cutoff_week: int,
                            window_weeks: int) -> np.ndarray:
    """P(the account opens a won deal in weeks cutoff_week .. + window_weeks - 1 | its hidden state that week).

    Propagates the phase distribution with the simulation's own matrices; the deal mass
    leaves the chain (cooldown outlasts the window, so no second deal can follow), and
    an account in cooldown enters idle exactly when its countdown ends.
    """
    matrices = _transition_matrices()
    season, q = _rates(start, cutoff_week, cutoff_week + window_weeks)
    need = accounts.need.astype(int)
    phase = history.phase[cutoff_week].astype(np.int64)
    cool = history.cool[cutoff_week].astype(np.int64)
    n = len(phase)
    v = np.zeros((n, ACTIVE))
    active = phase != COOLDOWN
    v[np.flatnonzero(active), phase[active]] = 1.0
    win = WIN_RATE[need, accounts.champion.astype(int)]
    total = np.zeros(n)
    for j in range(window_weeks):
        v[(~active) & (cool == j), IDLE] = 1.0
        deal = v[:, DECISION] * q[j]
        total += deal * win
        v[:, DECISION] -= deal
        rows = matrices[need, season[j, accounts.fiscal].astype(int)]
        v = np.einsum("ai,aij->aj", v, rows)
    return np.where(accounts.competitor, 0.0, total)


def window_weeks(horizon_days: int) -> int:
    """Weeks whose business days (Mon-Fri) all lie in [t, t + horizon_days) for a Monday t: deal weeks of a window."""
    return (horizon_days + 2) // 7


def _truth(accounts: Accounts, people: People, history: History, created: np.ndarray, lead_ids: np.ndarray,
           start: date, weeks: int, horizon_days: int) -> pa.Table:
    n_weeks = window_weeks(horizon_days)
    if horizon_days % 7 not in (5, 6, 0):
        # deals open Mon-Fri: a window ending mid-week would need the deal's day in the oracle
        raise UserError(f"horizon_days={horizon_days} ends a window mid-week; use 7k, 7k-1 or 7k-2 days")
    share = ATTRIBUTION_WEIGHTS[people.role] / accounts.weight[people.account]
    outbound = np.where(accounts.competitor[people.account], 1.0,
                        (1.0 - OUTBOUND_RATE * OUTBOUND_WIN_RATE) ** n_weeks)
    lead_cols, cut_cols, p_cols = [], [], []
    is_lead = created != NOT_CREATED
    for s in range(13, weeks):
        t = int(_monday_us(start, np.array([s]))[0])
        who = np.flatnonzero(is_lead & (created < t))
        p_acct = account_win_probability(accounts, history, start, s, n_weeks)
        p = 1.0 - (1.0 - share[who] * p_acct[people.account[who]]) * outbound[who]
        lead_cols.append(who)
        cut_cols.append(np.full(len(who), t, np.int64))
        p_cols.append(p)
    who = np.concatenate(lead_cols)
    return pa.table({
        "lead_id": pa.array(lead_ids[who], pa.string()),
        "cutoff": pa.array(np.concatenate(cut_cols), pa.timestamp("us", tz="UTC")),
        "p_true": pa.array(np.concatenate(p_cols), pa.float64()),
    })


# ------------------------------------------------------------------------------------------------------------------
# leads and deals

NOT_CREATED = np.iinfo(np.int64).max


def _moment_in_week(rng: np.random.Generator, start: date, week: np.ndarray, business: bool) -> np.ndarray:
    """A time in each week: business days 09:00-17:00, or any day (mostly weekdays) 07:00-23:00."""
    n = len(week)
    if business:
        day = rng.integers(0, 5, n)
        seconds = 9 * 3600 + rng.integers(0, 8 * 3600, n)
    else:
        day = rng.choice(7, n, p=[0.18, 0.19, 0.19, 0.18, 0.16, 0.05, 0.05])
        seconds = 7 * 3600 + rng.integers(0, 16 * 3600, n)
    return _monday_us(start, week) + day * US_PER_DAY + seconds * US_PER_S


def _creation(rng: np.random.Generator, people: People, accounts: Accounts, history: History, start: date,
              weeks: int) -> tuple[np.ndarray, np.ndarray]:
    """When each person becomes a lead (NOT_CREATED: not in the export), and the week of a form-fill creation (-1)."""
    n = len(people.role)
    weeks_phase = history.phase[:, people.account].T  # [person, week]
    hazard = CREATION_HAZARD[weeks_phase] * CREATION_BY_ROLE[people.role][:, None]
    hazard[people.role == NOISE] = NOISE_CREATION
    hazard[accounts.competitor[people.account]] = COMPETITOR_CREATION
    fills = rng.random(hazard.shape) < hazard
    first = np.where(fills.any(axis=1), fills.argmax(axis=1), -1)
    pre = rng.random(n) < PRE_EXISTING_SHARE
    first[pre] = -1
    created = np.full(n, NOT_CREATED, np.int64)
    origin = int(_monday_us(start, np.array([0]))[0])
    created[pre] = origin - rng.integers(US_PER_DAY, 365 * US_PER_DAY, pre.sum())
    filled = first >= 0
    created[filled] = _moment_in_week(rng, start, first[filled], business=False)
    return created, first


def _deals(rng: np.random.Generator, people: People, accounts: Accounts, history: History, created: np.ndarray,
           source: np.ndarray, start: date, weeks: int) -> dict[str, np.ndarray]:
    """Account deals (attributed by role weight; sales creates a missing contact) and rare outbound deals."""
    end = int(_monday_us(start, np.array([weeks]))[0])
    members = np.argsort(people.account, kind="stable")
    first_member = np.searchsorted(people.account[members], np.arange(len(accounts.need)))
    # attribution: inverse CDF over the account's committee, by role weight
    weights = ATTRIBUTION_WEIGHTS[people.role[members]]
    cum = np.cumsum(weights)
    base = np.where(first_member > 0, cum[first_member - 1], 0.0)
    a = history.deal_account
    target = base[a] + rng.random(len(a)) * accounts.weight[a]
    person = members[np.minimum(np.searchsorted(cum, target, side="right"), len(members) - 1)]
    person = np.where(people.account[person] == a, person, members[first_member[a]])  # float edge at the top
    deal_at = _moment_in_week(rng, start, history.deal_week, business=True)
    late = created[person] >= deal_at
    # a contact with two deals before any form fill is created before the first of them
    np.minimum.at(created, person[late], deal_at[late] - rng.integers(600, 3 * 3600, late.sum()) * US_PER_S)
    source[person[late]] = "sales_prospecting"

    # outbound: each week after the lead's creation week, independently of the account's cycle
    is_lead = created != NOT_CREATED
    origin = _monday_us(start, np.array([0]))[0]
    created_week = np.where(is_lead, (np.minimum(created, end) - origin) // US_PER_WEEK, weeks)
    hits = rng.random((len(created), weeks)) < OUTBOUND_RATE
    hits &= np.arange(weeks)[None, :] > created_week[:, None]
    hits &= ~accounts.competitor[people.account][:, None]
    out_person, out_week = np.nonzero(hits)
    out_at = _moment_in_week(rng, start, out_week, business=True)
    out_won = rng.random(len(out_person)) < OUTBOUND_WIN_RATE

    person = np.concatenate([person, out_person])
    opened = np.concatenate([deal_at, out_at])
    won = np.concatenate([history.deal_won, out_won])
    closed = opened + rng.integers(14 * US_PER_DAY, 112 * US_PER_DAY + 1, len(opened))
    amount = np.round(rng.lognormal(np.log(18_000) + 0.25 * np.log10(accounts.size[people.account[person]]), 0.6), 0)
    return {"person": person, "created": opened, "closed": closed, "won": won, "amount": amount, "end": end}


# ------------------------------------------------------------------------------------------------------------------
# events


@dataclass
class EventParts:
    """Columns of events under construction (person index -1 for crawlers)."""

    at: list
    person: list
    cookie: list      # 0: main cookie, 1: second device, 2: crawler/none
    etype: list
    content: list     # index into CONTENT_TYPES, -1 none
    content_id: list
    duration: list

    def add(self, at, person, cookie, etype, content, content_id, duration=None):
        n = len(at)
        self.at.append(np.asarray(at, np.int64))
        self.person.append(np.broadcast_to(np.asarray(person, np.int64), (n,)))
        self.cookie.append(np.broadcast_to(np.asarray(cookie, np.int8), (n,)))
        self.etype.append(np.broadcast_to(np.asarray(etype, np.int8), (n,)))
        self.content.append(np.broadcast_to(np.asarray(content, np.int8), (n,)))
        self.content_id.append(np.broadcast_to(np.asarray(content_id, np.int32), (n,)))
        self.duration.append(np.full(n, np.nan) if duration is None else np.asarray(duration, float))


def _draw_content(rng: np.random.Generator, table: np.ndarray) -> np.ndarray:
    """One content type per row of probabilities."""
    cum = np.cumsum(table, axis=1)
    cum[:, -1] = 1.0 + 1e-9
    return (rng.random(len(table))[:, None] >= cum).sum(axis=1)


def _web(rng: np.random.Generator, parts: EventParts, people: People, accounts: Accounts, history: History,
         created: np.ndarray, start: date, weeks: int) -> None:
    """Visits of tracked people (anonymous until identified), with downloads and demo-request forms of known leads."""
    tracked = np.flatnonzero(people.tracked)
    phase = history.phase[:, people.account[tracked]].T.astype(np.int64)  # [person, week]
    role = people.role[tracked]
    rate = np.where(role[:, None] == NOISE, VISITS[IDLE, NOISE], VISITS[phase, role[:, None]])
    rate = np.where(accounts.competitor[people.account[tracked]][:, None], COMPETITOR_VISITS, rate)
    visits = rng.poisson(rate * people.activity[tracked][:, None])
    who, week = np.nonzero(visits)
    count = visits[who, week]
    who, week = np.repeat(who, count), np.repeat(week, count)
    pages = 1 + rng.poisson(EXTRA_PAGES, len(who))
    visit_at = _moment_in_week(rng, start, week, business=False)
    cookie = (people.second_cookie[tracked[who]] & (rng.random(len(who)) < SECOND_COOKIE_USE)).astype(np.int8)
    who, week, cookie = np.repeat(who, pages), np.repeat(week, pages), np.repeat(cookie, pages)
    offset = np.arange(len(who)) - np.repeat(np.cumsum(pages) - pages, pages)  # page number within its visit
    at = np.repeat(visit_at, pages) + offset * rng.integers(20, 240, len(who)) * US_PER_S
    ph = phase[who, week]
    buyer = BUYER_ROLES[role[who]]
    table = np.where(buyer[:, None], BUYER_CONTENT[ph], READER_CONTENT[ph])
    table = np.where(accounts.competitor[people.account[tracked[who]]][:, None], COMPETITOR_CONTENT, table)
    content = _draw_content(rng, table)
    content_id = np.minimum(rng.zipf(1.6, len(who)), CONTENT_IDS) - 1
    duration = np.round(MEDIAN_SECONDS[content] * rng.lognormal(0.0, 0.9, len(who)), 1)
    person = tracked[who]
    parts.add(at, person, cookie, 0, content, content_id, duration)
    known = created[person] < at
    download = known & np.isin(content, (2, 4)) & (rng.random(len(who)) < DOWNLOAD_SHARE)
    parts.add(at[download] + 5 * US_PER_S, person[download], cookie[download], 4, content[download],
              content_id[download])
    demo = known & (content == 7) & (rng.random(len(who)) < DEMO_FORM_SHARE)
    parts.add(at[demo] + 30 * US_PER_S, person[demo], cookie[demo], 1, 7, content_id[demo])


def _creation_forms(rng: np.random.Generator, parts: EventParts, people: People, history: History,
                    created: np.ndarray, form_week: np.ndarray) -> None:
    """The form fill that made a tracked person a lead: a form_submit (and the download it gated)."""
    who = np.flatnonzero((form_week >= 0) & people.tracked)
    phase = history.phase[form_week[who], people.account[who]]
    options = np.array([CREATION_CONTENT[p] for p in range(6)])
    content = options[phase, rng.integers(0, 3, len(who))]
    content_id = np.minimum(rng.zipf(1.6, len(who)), CONTENT_IDS) - 1
    parts.add(created[who], who, 0, 1, content, content_id)
    gated = np.isin(content, (2, 4))
    parts.add(created[who[gated]] + 3 * US_PER_S, who[gated], 0, 4, content[gated], content_id[gated])
    webinar = content == 3
    parts.add(created[who[webinar]] + 2 * US_PER_S, who[webinar], 0, 5, 3, content_id[webinar])


def _emails_and_webinars(rng: np.random.Generator, parts: EventParts, people: People, accounts: Accounts,
                         history: History, created: np.ndarray, start: date, weeks: int) -> None:
    """Newsletters every Tuesday and webinar invitations every fourth Wednesday to every lead; the webinars."""
    competitor = accounts.competitor[people.account]
    for w in range(weeks):
        monday = int(_monday_us(start, np.array([w]))[0])
        phase = history.phase[w, people.account].astype(np.int64)
        sends = [(monday + US_PER_DAY + 10 * 3600 * US_PER_S, 0, w)]
        webinar_week = w % WEBINAR_EVERY_WEEKS == 1
        if webinar_week:
            sends.append((monday + 2 * US_PER_DAY + 15 * 3600 * US_PER_S, 3, w // WEBINAR_EVERY_WEEKS))
        for sent, content, cid in sends:
            to = np.flatnonzero(created < sent)
            n = len(to)
            auto, scan = people.auto_open[to], people.scanner[to]
            parts.add(sent + rng.integers(2, 60, auto.sum()) * US_PER_S, to[auto], 2, 2, content, cid)
            parts.add(sent + rng.integers(1, 30, scan.sum()) * US_PER_S, to[scan], 2, 3, content, cid)
            opens = rng.random(n) < OPEN_RATE[phase[to], people.role[to]]
            clicks = opens & (rng.random(n) < CLICK_RATE[phase[to]]) & ~scan
            open_at = sent + (rng.exponential(8 * 3600, n) * US_PER_S).astype(np.int64)
            shown = opens & ~auto
            parts.add(open_at[shown], to[shown], 2, 2, content, cid)
            parts.add(open_at[clicks] + rng.integers(10, 300, clicks.sum()) * US_PER_S, to[clicks], 2, 3, content, cid)
        if webinar_week:
            live = monday + 3 * US_PER_DAY + 16 * 3600 * US_PER_S
            invited = sends[1][0]
            to = np.flatnonzero((created < invited) & people.tracked)
            rate = np.where(competitor[to], COMPETITOR_REGISTER, REGISTER_RATE[phase[to], people.role[to]])
            reg = to[rng.random(len(to)) < rate]
            reg_at = invited + rng.integers(600 * US_PER_S, live - invited - 600 * US_PER_S, len(reg))
            parts.add(reg_at, reg, 2, 5, 3, w // WEBINAR_EVERY_WEEKS)
            came = reg[rng.random(len(reg)) < ATTEND_SHARE]
            parts.add(live + rng.integers(0, 600, len(came)) * US_PER_S, came, 2, 6, 3, w // WEBINAR_EVERY_WEEKS)


def _crawlers(rng: np.random.Generator, parts: EventParts, start: date, weeks: int, leads: int) -> int:
    """Anonymous bursts of page views under fresh cookies, never identified; returns the number of sessions."""
    sessions = rng.poisson(CRAWLER_SESSIONS_PER_1000_LEADS * leads / 1000, weeks)
    week = np.repeat(np.arange(weeks), sessions)
    begin = _monday_us(start, week) + rng.integers(0, US_PER_WEEK - 3600 * US_PER_S, len(week))
    pages = 5 + rng.poisson(20, len(week))
    session = np.repeat(np.arange(len(week)), pages)
    at = np.repeat(begin, pages) + rng.integers(0, 3600, len(session)) * US_PER_S
    content = rng.integers(0, len(CONTENT_TYPES), len(session))
    parts.add(at, -1 - session, 2, 0, content, rng.integers(0, CONTENT_IDS, len(session)),
              np.round(rng.uniform(0, 2, len(session)), 2))
    return len(week)


# ------------------------------------------------------------------------------------------------------------------
# writing


def _timestamps(values: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(values, np.int64), pa.timestamp("us", tz="UTC"), mask=missing)


def _hex_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.array([f"{v:016x}" for v in rng.integers(0, 2 ** 63, n)], dtype=object)


def generate(out: Path, leads: int, seed: int, start: date = date(2024, 11, 18), weeks: int = 104,
             horizon_days: int = 90) -> dict[str, int]:
    """Write leads, events, identities, deals and truth (Parquet) for about ``leads`` leads; returns rows per table."""
    if start.weekday() != 0:
        raise UserError(f"start must be a Monday, got {start:%A}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    accounts, sizes = _draw_accounts(rng, int(leads * ROSTER_PER_LEAD))
    people = _draw_people(rng, accounts, sizes)
    history = _simulate_chain(rng, accounts, start, weeks)
    created, form_week = _creation(rng, people, accounts, history, start, weeks)
    source = _lead_sources(rng, created, form_week)
    deals = _deals(rng, people, accounts, history, created, source, start, weeks)
    form_week[source == "sales_prospecting"] = -1  # superseded: sales created the contact first
    end = deals["end"]
    created[created >= end] = NOT_CREATED

    is_lead = np.flatnonzero(created != NOT_CREATED)
    order = is_lead[np.argsort(created[is_lead], kind="stable")]
    lead_ids = np.full(len(created), None, dtype=object)
    lead_ids[order] = np.array([f"L{i + 1:07d}" for i in range(len(order))], dtype=object)
    titles = _titles(rng, people.seniority)

    cookies = np.stack([_hex_ids(rng, len(created)), _hex_ids(rng, len(created))], axis=1)
    identified = _identification(rng, people, created, source, end)

    parts = EventParts([], [], [], [], [], [], [])
    _web(rng, parts, people, accounts, history, created, start, weeks)
    _creation_forms(rng, parts, people, history, created, form_week)
    _emails_and_webinars(rng, parts, people, accounts, history, created, start, weeks)
    crawler_sessions = _crawlers(rng, parts, start, weeks, leads)
    events = _events_table(rng, parts, people, cookies, identified, lead_ids, crawler_sessions, created, end)

    tables = {
        "leads": pa.table({
            "lead_id": pa.array(lead_ids[order], pa.string()),
            "created_at": _timestamps(created[order]),
            "account_id": pa.array(accounts.ids[people.account[order]], pa.string()),
            "title": pa.array(titles[order], pa.string()),
            "industry": pa.array(np.asarray(INDUSTRIES, dtype=object)[accounts.industry[people.account[order]]],
                                 pa.string()),
            "company_size": pa.array(accounts.size[people.account[order]], pa.int64()),
            "country": pa.array(np.asarray(COUNTRIES, dtype=object)[accounts.country[people.account[order]]],
                                pa.string()),
            "lead_source": pa.array(source[order], pa.string()),
        }),
        "events": events,
        "identities": _identities_table(cookies, identified, lead_ids, end),
        "deals": _deals_table(deals, people, accounts, lead_ids),
        "truth": stamped(_truth(accounts, people, history, created, lead_ids, start, weeks, horizon_days), horizon_days),
    }
    for name, table in tables.items():
        pq.write_table(table, out / f"{name}.parquet")
    return {name: table.num_rows for name, table in tables.items()}


def _lead_sources(rng: np.random.Generator, created: np.ndarray, form_week: np.ndarray) -> np.ndarray:
    web = np.array(["organic_search", "paid_search", "social", "referral", "direct", "partner"], dtype=object)
    old = np.array(["list_import", "trade_show", "organic_search", "webinar", "partner"], dtype=object)
    source = np.where(form_week >= 0, web[rng.choice(len(web), len(created), p=[0.35, 0.2, 0.12, 0.1, 0.15, 0.08])],
                      old[rng.choice(len(old), len(created), p=[0.3, 0.25, 0.2, 0.15, 0.1])])
    return source.astype(object)


def _identification(rng: np.random.Generator, people: People, created: np.ndarray, source: np.ndarray,
                    end: int) -> np.ndarray:
    """[person, cookie]: when each cookie is tied to the lead (NOT_CREATED: never).

    The main cookie at the form fill (sales-created contacts never filled one), the
    second device's later, or never.
    """
    n = len(created)
    out = np.full((n, 2), NOT_CREATED, np.int64)
    filled = people.tracked & (created != NOT_CREATED) & (source != "sales_prospecting")
    out[filled, 0] = created[filled]
    later = filled & people.second_cookie & (rng.random(n) < SECOND_COOKIE_IDENTIFIED)
    delay = (rng.exponential(SECOND_COOKIE_DELAY_DAYS, n) * US_PER_DAY).astype(np.int64)
    out[later, 1] = created[later] + delay[later]
    out[out >= end] = NOT_CREATED
    return out


def _events_table(rng: np.random.Generator, parts: EventParts, people: People, cookies: np.ndarray,
                  identified: np.ndarray, lead_ids: np.ndarray, crawler_sessions: int, created: np.ndarray,
                  end: int) -> pa.Table:
    at = np.concatenate(parts.at)
    person = np.concatenate(parts.person)
    cookie = np.concatenate(parts.cookie).astype(np.int64)
    etype = np.concatenate(parts.etype)
    content = np.concatenate(parts.content)
    content_id = np.concatenate(parts.content_id)
    duration = np.concatenate(parts.duration)
    keep = at < end
    at, person, cookie, etype, content, content_id, duration = (
        x[keep] for x in (at, person, cookie, etype, content, content_id, duration))
    human = person >= 0
    p = np.where(human, person, 0)
    c = np.minimum(cookie, 1)
    web = human & (cookie < 2)
    # a web event names the lead once its cookie is identified; e-mail and webinar platforms know the lead
    known = np.where(web, identified[p, c] <= at, human)
    known &= human & (created[p] <= at)
    lead = np.where(known, lead_ids[p], None)
    crawler_ids = _hex_ids(rng, crawler_sessions)
    anon = np.where(web, cookies[p, c], None)
    anon = np.where(human, anon, crawler_ids[np.where(human, 0, -1 - person)] if crawler_sessions else None)
    late = rng.random(len(at)) < LATE_SHARE
    lag = np.where(late, rng.integers(US_PER_DAY, 10 * US_PER_DAY, len(at)), rng.integers(60, 1800, len(at)) * US_PER_S)
    order = np.argsort(at, kind="stable")
    content_names = np.asarray(CONTENT_TYPES, dtype=object)
    content_text = np.where(content >= 0, content_names[np.maximum(content, 0)], None)
    cid = _content_ids(content, content_id, (etype == 2) | (etype == 3))
    return pa.table({
        "occurred_at": _timestamps(at[order]),
        "lead_id": pa.array(lead[order], pa.string()),
        "anonymous_id": pa.array(anon[order], pa.string()),
        "event_type": pa.array(np.asarray(EVENT_TYPES, dtype=object)[etype[order]], pa.string()),
        "content_type": pa.array(content_text[order], pa.string()),
        "content_id": pa.array(cid[order], pa.string()),
        "duration_s": pa.array(duration[order], pa.float64(), mask=np.isnan(duration[order])),
        "ingested_at": _timestamps((at + lag)[order]),
    })


def _content_ids(content: np.ndarray, number: np.ndarray, email: np.ndarray) -> np.ndarray:
    """Names such as ``pricing-3``, ``newsletter-41`` or ``invite-12``, built once per distinct value."""
    kind = np.where(email, np.where(content == 3, len(CONTENT_TYPES) + 1, len(CONTENT_TYPES)), content)
    key = kind.astype(np.int64) * 1_000_000 + number
    unique, inverse = np.unique(key, return_inverse=True)
    words = (*CONTENT_TYPES, "newsletter", "invite")
    names = np.array([f"{words[k // 1_000_000]}-{k % 1_000_000}" for k in unique], dtype=object)
    return names[inverse.ravel()]


def _identities_table(cookies: np.ndarray, identified: np.ndarray, lead_ids: np.ndarray, end: int) -> pa.Table:
    who, c = np.nonzero(identified < end)
    order = np.lexsort((c, identified[who, c]))
    who, c = who[order], c[order]
    return pa.table({
        "anonymous_id": pa.array(cookies[who, c], pa.string()),
        "lead_id": pa.array(lead_ids[who], pa.string()),
        "identified_at": _timestamps(identified[who, c]),
    })


def _deals_table(deals: dict, people: People, accounts: Accounts, lead_ids: np.ndarray) -> pa.Table:
    order = np.argsort(deals["created"], kind="stable")
    person = deals["person"][order]
    closed = deals["closed"][order]
    is_open = closed >= deals["end"]
    status = np.where(is_open, "open", np.where(deals["won"][order], "won", "lost")).astype(object)
    return pa.table({
        "deal_id": pa.array([f"D{i + 1:06d}" for i in range(len(order))], pa.string()),
        "lead_id": pa.array(lead_ids[person], pa.string()),
        "account_id": pa.array(accounts.ids[people.account[person]], pa.string()),
        "created_at": _timestamps(deals["created"][order]),
        "closed_at": _timestamps(np.where(is_open, 0, closed), missing=is_open),
        "status": pa.array(status, pa.string()),
        "amount": pa.array(deals["amount"][order], pa.float64()),
    })
