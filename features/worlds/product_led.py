"""World "product_led": a self-serve product with a free trial, where sales assists the teams that outgrow it.

The story
---------
People find the product (anonymous ``site_visit`` / ``docs_read``), sign up (``signup``:
the lead is created), and either create a *workspace* (the account) or join a
colleague's through an invitation. Inside a workspace they log in, use features, connect
integrations and invite teammates. A workspace that a team comes to depend on hits the
free plan's limits (``usage_limit_hit``), looks at pricing and sometimes asks sales for
help (``contact_sales``). Sales then opens a deal, attributed to the workspace's
*champion*, and wins it or not. Most workspaces never get past exploring.

Noise the export carries, as real product-led exports do: bots signing up throwaway
workspaces (a burst of events in the first hours, then nothing; marked ``spam`` in the
lifecycle some weeks later), students and hobbyists (``personal`` workspaces: heavy usage,
limits hit, never buy), newsletters that 40 % of inboxes open automatically, anonymous
visits stitched to a lead at signup (for most cookies), later or never, crawler cookies
that never identify, and ~0.5 % of event rows exported twice with the same ``event_id``.
The export has no title, industry, content or duration columns and no deal amounts or
deal account ids; company size is known for about 60 % of leads; ``job_role``
(engineer, manager, founder, student, other, as the signup form asks it) is an extra lead
attribute.

What is hidden
--------------
* the workspace's *fit class*: personal (never buys), solo professional, team with a side
  use, team with a core use, larger organisation with a core use, or bot;
* its weekly *adoption state*: exploring, activated, expanding, buying, purchased
  (absorbing), negotiating (a deal that will be lost is open; 1-9 weeks left),
  cooldown (after a lost deal), abandoned (from exploring; rarely returns), churned
  (absorbing) or bot (absorbing);
* whether anyone at the workspace hit a usage limit or contacted sales last week (the
  *signal* of the week: quiet, limit, contact; contact wins when both happened);
* the workspace's *champion*: the lead sales attributes a deal to. It is the person who
  created the workspace, until a teammate who joins takes over (founders and managers,
  and people who use the product more, take over more often).

The weekly chain (week ``w`` starts Monday ``start + 7w days``), per workspace, in order:

1. in state buying, a deal opens with probability ``OPEN[w, class, signal of week w-1]``
   (contact_sales last week multiplies it by 6, a usage limit by 2.5); it is won with
   probability ``WIN[class]`` (decided when it opens), created on a weekday (Mon-Fri,
   09:00-17:00 UTC) of week ``w``, attributed to the champion at the start of week ``w``,
   and closes ``d`` weeks later (``d`` uniform on 1..10, give or take a day);
2. the week's signal is drawn from the state: contact with probability ``c[class, s]``,
   else limit with probability ``u[class, s]``; each is one event (sometimes two) by a
   lead of the workspace;
3. teammates join as a Poisson number with mean ``INVITE[w, class, s]``; each joiner has a
   role and an activity level drawn from the class's mix and takes over as champion with
   probability ``KAPPA[role] * TAKEOVER[activity]``;
4. the state moves: a won deal to purchased, a lost deal to negotiating (or straight to
   cooldown when it closes the next week), else by ``TRANS[w, class, s, :]``, whose
   progress probabilities follow the calendar (December and August are slow).

Everything else (which events a person emits, newsletters, cookies, the lifecycle table)
is drawn from this path and never feeds back into it.

The oracle
----------
``truth.parquet`` holds, for every Monday cutoff ``t`` (week ``k``, from week 13 to the
last simulated Monday) and every lead created before ``t``, ``p_true`` = the exact
probability that the lead gets a won deal created in ``[t, t + horizon_days)`` given the
Markov state at ``t``: the workspace's class, its adoption state at the start of week
``k``, last week's signal (week ``k - 1``) and whether the lead is the champion at the
start of week ``k``. A lead that is not the champion has ``p_true = 0`` (the pointer only
ever moves to newcomers). For the champion it is computed by backward recursion over the
weeks of the window, with the same arrays the simulation samples from: the probability
of a won deal opening in week ``k + j``, times the share of that week's weekdays inside
the window, times the probability that the lead is still champion then (no takeover:
``exp(-INVITE * mean takeover probability)``, Poisson thinning), summed over the paths
of the chain. No Monte Carlo. The realised label is censored by the export's end like
any label; the oracle is not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from features.errors import UserError
from features.oracle import stamped

NAME = "product_led"

EVENT_TYPES = ("site_visit", "docs_read", "signup", "app_login", "feature_used", "invite_sent",
               "integration_connected", "usage_limit_hit", "pricing_view", "contact_sales", "newsletter_open",
               "newsletter_click")
LIFECYCLE_STATUSES = {"trial": "open", "pql": "open", "sales_accepted": "open", "nurture": "recycled",
                      "customer": "customer", "spam": "disqualified"}

SETTINGS: dict[str, object] = {
    "data.event_types": list(EVENT_TYPES),
    "data.extra_lead_attributes": ["job_role"],
    "data.lifecycle_statuses": LIFECYCLE_STATUSES,
    "features.content_types": [],  # the export has no content_type column
    "features.roles": {"high_intent": ["pricing_view", "usage_limit_hit", "contact_sales"],
                       "sales_ready": ["contact_sales"],
                       "engaged_activity": ["integration_connected", "invite_sent"]},
    "train.rules.points": {"site_visit": 1, "docs_read": 2, "signup": 5, "app_login": 1, "feature_used": 1,
                           "invite_sent": 5, "integration_connected": 8, "usage_limit_hit": 10, "pricing_view": 10,
                           "contact_sales": 30, "newsletter_open": 0.5, "newsletter_click": 3},
    "train.rules.seniority_points": {},  # no title column
}

DAY = 86_400.0
WEEK = 7 * DAY
ET = {name: code for code, name in enumerate(EVENT_TYPES)}

# ---------------------------------------------------------------------------------------------------------------------
# the hidden chain

STATES = ("exploring", "activated", "expanding", "buying", "purchased", "cooldown", "abandoned", "churned", "bot",
          *(f"negotiating_{k}" for k in range(1, 10)))
EXPLORING, ACTIVATED, EXPANDING, BUYING, PURCHASED, COOLDOWN, ABANDONED, CHURNED, BOT = range(9)
MAX_CLOSE_WEEKS = 10  # a deal closes 1..10 weeks after it opens


def negotiating(weeks_left):
    """The state of a workspace whose lost deal closes in ``weeks_left`` (1..9) more weeks."""
    return BOT + weeks_left


N_STATES = len(STATES)
QUIET, LIMIT, CONTACT = range(3)  # last week's signal
N_SIGNALS = 3
FLAG_BOOST = np.array([1.0, 2.5, 6.0])  # a limit hit, a request to sales last week make a deal likelier
MAX_OPEN = 0.95

CLASSES = ("personal", "solo", "team_side", "team_core", "org_core", "bot")
PERSONAL, SOLO, TEAM_SIDE, TEAM_CORE, ORG_CORE, BOT_CLASS = range(6)
CLASS_SHARE = np.array([0.28, 0.18, 0.17, 0.12, 0.10, 0.15])
# weekly progress before seasonality: exploring -> activated, activated -> expanding, expanding -> buying
ACTIVATE = np.array([0.07, 0.05, 0.05, 0.07, 0.055, 0.0])
EXPAND = np.array([0.06, 0.03, 0.05, 0.08, 0.06, 0.0])
BUY = np.array([0.0, 0.03, 0.06, 0.10, 0.08, 0.0])
OPEN_BASE = np.array([0.0, 0.08, 0.09, 0.12, 0.11, 0.0])  # weekly deal opening in buying, quiet last week
WIN = np.array([0.0, 0.30, 0.40, 0.60, 0.50, 0.0])
TEAM_NEED = np.array([0.05, 0.25, 1.0, 1.0, 1.8, 0.0])  # how many teammates get invited
CONTACT_CLASS = np.array([0.4, 1.0, 1.0, 1.0, 1.0, 0.0])  # students ask sales for discounts, rarely
LIMIT_CLASS = np.array([1.5, 1.0, 1.0, 1.0, 1.0, 0.0])  # heavy personal use hits the free plan's limits
USAGE_CLASS = np.array([1.6, 1.0, 1.0, 1.1, 1.0, 0.0])
PRICING_CLASS = np.array([0.5, 1.0, 1.0, 1.1, 1.2, 0.0])

ABANDON = 0.09  # exploring -> abandoned (the trial fizzles out)
REACTIVATE = 0.01  # abandoned -> exploring
ACTIVATED_CHURN = 0.03
EXPANDING_REGRESS, EXPANDING_CHURN = 0.03, 0.015
BUYING_RELAPSE, BUYING_CHURN = 0.08, 0.01  # buying -> expanding, -> churned (when no deal opens)
COOLDOWN_RETURN, COOLDOWN_CHURN = 0.05, 0.02


def _by_state(default: float = 0.0, negotiating_value: float | None = None, **values: float) -> np.ndarray:
    """A per-state array from named values; the nine negotiating states share one value."""
    out = np.full(N_STATES, default)
    for name, value in values.items():
        out[STATES.index(name)] = value
    if negotiating_value is not None:
        out[negotiating(1):] = negotiating_value
    return out


CONTACT_P = _by_state(exploring=0.004, activated=0.01, expanding=0.03, buying=0.25, purchased=0.03, cooldown=0.01,
                      negotiating_value=0.10)
LIMIT_P = _by_state(exploring=0.01, activated=0.05, expanding=0.18, buying=0.30, purchased=0.02, cooldown=0.06,
                    negotiating_value=0.20)
INVITE_P = _by_state(exploring=0.03, activated=0.12, expanding=0.35, buying=0.30, purchased=0.20, cooldown=0.04,
                     negotiating_value=0.20)

ROLES = ("engineer", "manager", "founder", "student", "other")
ROLE_MIX = np.array([  # joiners' roles by class
    [0.25, 0.02, 0.03, 0.60, 0.10],
    [0.45, 0.05, 0.35, 0.00, 0.15],
    [0.55, 0.20, 0.10, 0.02, 0.13],
    [0.50, 0.25, 0.12, 0.00, 0.13],
    [0.60, 0.30, 0.02, 0.00, 0.08],
    [0.30, 0.05, 0.05, 0.20, 0.40],
])
FOUNDER_ROLE_MIX = np.array([  # who creates the workspace
    [0.20, 0.02, 0.08, 0.60, 0.10],
    [0.40, 0.05, 0.45, 0.00, 0.10],
    [0.45, 0.30, 0.15, 0.00, 0.10],
    [0.40, 0.30, 0.20, 0.00, 0.10],
    [0.50, 0.40, 0.02, 0.00, 0.08],
    [0.30, 0.05, 0.05, 0.20, 0.40],
])
KAPPA = np.array([0.15, 0.50, 0.70, 0.05, 0.10])  # a joiner of this role takes over as champion
ACTIVITY_LEVELS = np.array([0.5, 1.0, 1.7])  # a person's usage intensity
ACTIVITY_MIX = np.array([0.35, 0.45, 0.20])
TAKEOVER = np.array([0.6, 1.0, 1.4])  # heavier users take over more often
KAPPA_BAR = ROLE_MIX @ KAPPA * (ACTIVITY_MIX @ TAKEOVER)  # mean takeover probability of a joiner, by class


def seasonality(week_starts: np.ndarray) -> np.ndarray:
    """How fast workspaces progress in a calendar week: slow around Christmas and in August, brisk in January."""
    doy = np.array([d.timetuple().tm_yday for d in week_starts.astype("datetime64[D]").astype(object)], float)

    def bump(centre, width):
        gap = np.abs(doy - centre)
        gap = np.minimum(gap, 365.25 - gap)
        return np.exp(-0.5 * (gap / width) ** 2)

    return 1.0 - 0.45 * bump(358, 8) - 0.25 * bump(222, 15) + 0.15 * bump(20, 15) + 0.10 * bump(260, 15)


@dataclass(frozen=True)
class Kernel:
    """The chain's weekly probabilities: the only numbers the simulation samples the path from and the oracle uses."""

    trans: np.ndarray  # [week, class, state, next state], when no deal opens
    open: np.ndarray  # [week, class, signal]: a buying workspace opens a deal
    contact: np.ndarray  # [class, state]
    limit: np.ndarray  # [class, state]
    invite: np.ndarray  # [week, class, state]: mean joiners

    @property
    def signal(self) -> np.ndarray:
        """[class, state, signal]: the distribution of a week's signal."""
        c, u = self.contact, self.limit
        return np.stack([(1 - c) * (1 - u), (1 - c) * u, c], axis=-1)


def kernel(start: date, n_weeks: int) -> Kernel:
    starts = np.datetime64(start, "D") + 7 * np.arange(n_weeks)
    season = seasonality(starts)
    n_classes = len(CLASSES)
    trans = np.zeros((n_weeks, n_classes, N_STATES, N_STATES))

    def row(state, **moves):
        for target, p in moves.items():
            trans[:, :, state, STATES.index(target)] += p
        trans[:, :, state, state] += 1 - sum(moves.values())

    m = season[:, None]
    row(EXPLORING, activated=ACTIVATE[None, :] * m, abandoned=ABANDON)
    row(ACTIVATED, expanding=EXPAND[None, :] * m, churned=ACTIVATED_CHURN)
    row(EXPANDING, buying=BUY[None, :] * m, activated=EXPANDING_REGRESS, churned=EXPANDING_CHURN)
    row(BUYING, expanding=BUYING_RELAPSE, churned=BUYING_CHURN)
    row(PURCHASED)
    row(COOLDOWN, expanding=COOLDOWN_RETURN, churned=COOLDOWN_CHURN)
    row(ABANDONED, exploring=REACTIVATE)
    row(CHURNED)
    row(BOT)
    trans[:, :, negotiating(1), :] = 0
    trans[:, :, negotiating(1), COOLDOWN] = 1
    for k in range(2, MAX_CLOSE_WEEKS):
        trans[:, :, negotiating(k), :] = 0
        trans[:, :, negotiating(k), negotiating(k - 1)] = 1
    # bots never leave their state
    trans[:, BOT_CLASS] = np.eye(N_STATES)
    assert np.allclose(trans.sum(-1), 1) and trans.min() >= 0
    open_ = np.minimum(MAX_OPEN, OPEN_BASE[None, :, None] * season[:, None, None] * FLAG_BOOST[None, None, :])
    contact = np.clip(CONTACT_CLASS[:, None] * CONTACT_P[None, :], 0, 1)
    limit = np.clip(LIMIT_CLASS[:, None] * LIMIT_P[None, :], 0, 1)
    invite = np.broadcast_to(TEAM_NEED[None, :, None] * INVITE_P[None, None, :], (n_weeks, n_classes, N_STATES)).copy()
    return Kernel(trans, open_, contact, limit, invite)


def lost_deal_next_state() -> np.ndarray:
    """[state]: where a workspace goes the week after a deal that will be lost opens (d uniform on 1..10)."""
    out = np.zeros(N_STATES)
    out[COOLDOWN] += 1 / MAX_CLOSE_WEEKS
    for d in range(2, MAX_CLOSE_WEEKS + 1):
        out[negotiating(d - 1)] += 1 / MAX_CLOSE_WEEKS
    return out


# ---------------------------------------------------------------------------------------------------------------------
# the oracle


def window_weeks(horizon_days: int) -> np.ndarray:
    """Share of week j's deals created inside [t, t + horizon_days): deals open on weekdays 0..4, in working hours."""
    j = np.arange(horizon_days // 7 + 1)
    return np.clip(horizon_days - 7 * j, 0, 5) / 5


def chain_matrices(kern: Kernel) -> tuple[np.ndarray, np.ndarray]:
    """Per week and class, over states x = (state, last week's signal): the reward R[x] (a won deal opens this week)
    and P[x, x'] (no won deal opens, the lead stays champion, and the chain moves to x')."""
    n_weeks, n_classes = kern.open.shape[:2]
    is_buying = (np.arange(N_STATES) == BUYING)[None, None, :, None]
    o = np.where(is_buying, kern.open[:, :, None, :], 0.0)  # [w, c, s, g]
    win = WIN[None, :, None, None]
    reward = o * win
    # next adoption state, given no won deal: [w, c, s, g, s']
    stay = (1 - o)[..., None] * kern.trans[:, :, :, None, :] + \
        (o * (1 - win))[..., None] * lost_deal_next_state()[None, None, None, None, :]
    keep = np.exp(-kern.invite * KAPPA_BAR[None, :, None])  # [w, c, s]: no teammate takes over this week
    signal = kern.signal  # [c, s, g']
    p = keep[:, :, :, None, None, None] * stay[..., None] * signal[None, :, :, None, None, :]
    size = N_STATES * N_SIGNALS
    return reward.reshape(n_weeks, n_classes, size), p.reshape(n_weeks, n_classes, size, size)


def champion_values(reward: np.ndarray, p: np.ndarray, cutoff_week: int, horizon_days: int) -> np.ndarray:
    """[class, x]: P(a won deal attributed to the champion is created in the window | x at the cutoff, champion)."""
    value = np.zeros(reward.shape[1:])
    for j, share in reversed(list(enumerate(window_weeks(horizon_days)))):
        w = cutoff_week + j
        value = share * reward[w] + np.einsum("cxy,cy->cx", p[w], value)
    return value


# ---------------------------------------------------------------------------------------------------------------------
# simulating workspaces and their people

LEADS_PER_WORKSPACE = 1.7  # over two years; whole workspaces are then dropped to land at the requested count
FIRST_TRUTH_WEEK = 13


@dataclass
class History:
    """The hidden path of every workspace, and the people it created."""

    cls: np.ndarray  # [ws]
    created: np.ndarray  # [ws] seconds since start
    state: np.ndarray  # [ws, week + 1] state at the start of each week
    signal: np.ndarray  # [ws, week] the week's signal
    champion: np.ndarray  # [ws, week + 1] lead index at the start of each week (-1 before the workspace exists)
    lead_ws: np.ndarray  # [lead]
    lead_created: np.ndarray  # [lead] seconds since start
    lead_role: np.ndarray
    lead_activity: np.ndarray  # index into ACTIVITY_LEVELS
    lead_invited: np.ndarray
    deal_ws: np.ndarray
    deal_week: np.ndarray
    deal_lead: np.ndarray
    deal_won: np.ndarray
    deal_weeks_to_close: np.ndarray


def _categorical(rng, probs: np.ndarray) -> np.ndarray:
    """One draw per row of ``probs`` (rows sum to 1)."""
    cum = np.cumsum(probs, axis=-1)
    cum[..., -1] = 1.0
    return (rng.random(probs.shape[0])[:, None] >= cum).sum(-1)


def _workspace_openings(rng, n: int, start: date, weeks: int) -> np.ndarray:
    """Creation times (seconds since start), sorted: sign-ups grow over the history and follow the season."""
    starts = np.datetime64(start, "D") + 7 * np.arange(weeks)
    weight = (1 + 1.0 * np.arange(weeks) / weeks) * (0.6 + 0.4 * seasonality(starts))
    week = rng.choice(weeks, size=n, p=weight / weight.sum())
    return np.sort(week * WEEK + rng.random(n) * WEEK)


def simulate_path(rng, kern: Kernel, n_ws: int, start: date, weeks: int) -> History:
    """Run the chain week by week for ``n_ws`` workspaces (vectorised over workspaces)."""
    cls = rng.choice(len(CLASSES), size=n_ws, p=CLASS_SHARE)
    created = _workspace_openings(rng, n_ws, start, weeks)
    created_week = (created // WEEK).astype(int)
    alive_by_week = np.searchsorted(created_week, np.arange(weeks), side="right")
    state = np.where(cls == BOT_CLASS, BOT, EXPLORING).astype(np.int8)
    last_signal = np.zeros(n_ws, np.int8)
    champion = np.arange(n_ws)  # the founder of workspace i is lead i
    hist_state = np.zeros((n_ws, weeks + 1), np.int8)
    hist_signal = np.zeros((n_ws, weeks), np.int8)
    hist_champion = np.full((n_ws, weeks + 1), -1, np.int32)
    leads = {"ws": [np.arange(n_ws)], "created": [created], "role": [_categorical(rng, FOUNDER_ROLE_MIX[cls])],
             "activity": [_categorical(rng, np.broadcast_to(ACTIVITY_MIX, (n_ws, 3)))],
             "invited": [np.zeros(n_ws, bool)]}
    n_leads = n_ws
    deals = {"ws": [], "week": [], "lead": [], "won": [], "close": []}
    for w in range(weeks):
        n = alive_by_week[w]
        s, c, g = state[:n].astype(int), cls[:n], last_signal[:n].astype(int)
        hist_state[:n, w] = s
        hist_champion[:n, w] = champion[:n]
        # 1. deals
        o = np.where(s == BUYING, kern.open[w, c, g], 0.0)
        opened = rng.random(n) < o
        won = rng.random(n) < WIN[c]
        close = rng.integers(1, MAX_CLOSE_WEEKS + 1, n)
        idx = np.flatnonzero(opened)
        for key, value in (("ws", idx), ("week", np.full(idx.size, w)), ("lead", champion[idx]), ("won", won[idx]),
                           ("close", close[idx])):
            deals[key].append(value)
        # 2. the week's signal
        contact = rng.random(n) < kern.contact[c, s]
        limit = rng.random(n) < kern.limit[c, s]
        signal = np.where(contact, CONTACT, np.where(limit, LIMIT, QUIET))
        hist_signal[:n, w] = signal
        # 3. teammates join; some take over as champion
        joins = rng.poisson(kern.invite[w, c, s])
        jws = np.repeat(np.arange(n), joins)
        lo = np.maximum(w * WEEK, created[jws])
        jt = lo + rng.random(jws.size) * ((w + 1) * WEEK - lo)
        role = _categorical(rng, ROLE_MIX[cls[jws]])
        activity = _categorical(rng, np.broadcast_to(ACTIVITY_MIX, (jws.size, 3)))
        takes_over = rng.random(jws.size) < KAPPA[role] * TAKEOVER[activity]
        new_ids = n_leads + np.arange(jws.size)
        n_leads += jws.size
        for key, value in (("ws", jws), ("created", jt), ("role", role), ("activity", activity),
                           ("invited", np.ones(jws.size, bool))):
            leads[key].append(value)
        tk = np.flatnonzero(takes_over)
        order = tk[np.lexsort((jt[tk], jws[tk]))]
        last = order[np.r_[jws[order][1:] != jws[order][:-1], True]] if order.size else order
        champion[jws[last]] = new_ids[last]
        # 4. the next state
        nxt = _categorical(rng, kern.trans[w, c, s])
        # a won deal makes a customer; a lost one is negotiated until it closes (lost_deal_next_state)
        lost_to = np.where(close == 1, COOLDOWN, negotiating(np.maximum(close - 1, 1)))
        nxt = np.where(opened, np.where(won, PURCHASED, lost_to), nxt)
        state[:n] = nxt
        last_signal[:n] = signal
    hist_state[:, weeks] = state
    hist_champion[:, weeks] = champion
    cat = {k: np.concatenate(v) for k, v in leads.items()}
    dl = {k: (np.concatenate(v) if v else np.zeros(0, int)) for k, v in deals.items()}
    return History(cls, created, hist_state, hist_signal, hist_champion, cat["ws"], cat["created"], cat["role"],
                   cat["activity"], cat["invited"], dl["ws"], dl["week"], dl["lead"], dl["won"].astype(bool),
                   dl["close"])


def keep_workspaces(rng, path: History, leads: int) -> History:
    """Drop whole workspaces (at random, so nothing about the rest changes) until at most ``leads`` people remain."""
    per_ws = np.bincount(path.lead_ws, minlength=path.cls.size)
    order = rng.permutation(path.cls.size)
    kept = np.zeros(path.cls.size, bool)
    kept[order[np.cumsum(per_ws[order]) <= leads]] = True
    ws_map = np.cumsum(kept) - 1
    lead_kept = kept[path.lead_ws]
    lead_map = np.full(path.lead_ws.size + 1, -1)
    # leads sorted by workspace, then sign-up time: the flag events pick among a workspace's first n people
    lead_order = np.lexsort((path.lead_created[lead_kept], ws_map[path.lead_ws[lead_kept]]))
    rank = np.empty_like(lead_order)
    rank[lead_order] = np.arange(lead_order.size)
    lead_map[:-1][lead_kept] = rank
    deal_kept = kept[path.deal_ws]

    def leads_of(a):
        return a[lead_kept][lead_order]

    return History(path.cls[kept], path.created[kept], path.state[kept], path.signal[kept],
                   lead_map[path.champion[kept]], ws_map[leads_of(path.lead_ws)], leads_of(path.lead_created),
                   leads_of(path.lead_role), leads_of(path.lead_activity), leads_of(path.lead_invited),
                   ws_map[path.deal_ws[deal_kept]], path.deal_week[deal_kept], lead_map[path.deal_lead[deal_kept]],
                   path.deal_won[deal_kept], path.deal_weeks_to_close[deal_kept])


# ---------------------------------------------------------------------------------------------------------------------
# what the export shows: events, newsletters, cookies

# weekly events per person at activity 1, by the workspace's state
ACTIVITY_RATES = {
    "site_visit": _by_state(exploring=1.0, activated=0.8, expanding=0.8, buying=1.0, purchased=0.5, cooldown=0.3,
                            abandoned=0.05, churned=0.05, negotiating_value=0.8),
    "docs_read": _by_state(exploring=0.6, activated=1.0, expanding=1.2, buying=1.0, purchased=0.8, cooldown=0.4,
                           abandoned=0.02, churned=0.02, negotiating_value=0.9),
    "app_login": _by_state(exploring=0.8, activated=1.8, expanding=2.2, buying=2.2, purchased=2.5, cooldown=1.2,
                           abandoned=0.05, churned=0.1, negotiating_value=2.2),
    "feature_used": _by_state(exploring=0.8, activated=2.5, expanding=4.0, buying=4.0, purchased=4.5, cooldown=1.5,
                              abandoned=0.03, churned=0.05, negotiating_value=4.0),
    "invite_sent": _by_state(exploring=0.02, activated=0.05, expanding=0.12, buying=0.12, purchased=0.1,
                             cooldown=0.03, negotiating_value=0.1),  # invitations nobody accepts
    "integration_connected": _by_state(exploring=0.03, activated=0.12, expanding=0.2, buying=0.2, purchased=0.15,
                                       cooldown=0.05, negotiating_value=0.2),
    "pricing_view": _by_state(exploring=0.15, activated=0.2, expanding=0.35, buying=0.9, purchased=0.2, cooldown=0.2,
                              abandoned=0.01, churned=0.01, negotiating_value=0.6),
}
CLASS_MULTIPLIER = {"app_login": USAGE_CLASS, "feature_used": USAGE_CLASS, "pricing_view": PRICING_CLASS,
                    "integration_connected": np.array([0.5, 1.0, 1.0, 1.2, 1.3, 0.0])}
ROLE_PRICING = np.array([0.8, 1.5, 1.5, 0.5, 1.0])
BOT_BURST = {"site_visit": 15, "docs_read": 8, "app_login": 25, "feature_used": 60, "pricing_view": 3,
             "invite_sent": 2}  # mean events in the hours after a bot signs up
BOT_BURST_S = 6 * 3600
NEWSLETTER_SEND = DAY + 15 * 3600  # Tuesdays 15:00 UTC
SUBSCRIBED = 0.7
AUTO_OPEN = 0.4  # inboxes that open every newsletter (privacy proxies, preview panes)
READ_P = _by_state(exploring=0.10, activated=0.15, expanding=0.18, buying=0.22, purchased=0.15, cooldown=0.10,
                   abandoned=0.04, churned=0.04, negotiating_value=0.2)
CLICK_P = _by_state(0.15, buying=0.3, negotiating_value=0.25)
COOKIE_FOUNDER, COOKIE_INVITED = 0.85, 0.6
IDENTIFIED_AT_SIGNUP, IDENTIFIED_LATER = 0.85, 0.10  # the rest never
PRE_SIGNUP_VISITS = 2.5
COOKIE_ON_VISIT = 0.7  # a signed-in visit still carries the cookie
CRAWLERS_PER_LEAD, CRAWLER_BURST = 0.05, 40
DUPLICATE_SHARE = 0.005
SECOND_CONTACT = 0.3


class EventLog:
    """Event rows gathered in chunks: lead index (-1: anonymous), cookie index (-1: none), type, seconds."""

    def __init__(self):
        self.chunks = []

    def add(self, lead, cookie, etype, t):
        n = np.size(t)
        self.chunks.append(tuple(np.broadcast_to(np.asarray(a), n).astype(dtype) for a, dtype in
                                 ((lead, np.int64), (cookie, np.int64), (etype, np.int8), (t, np.float64))))

    def arrays(self):
        return tuple(np.concatenate(parts) for parts in zip(*self.chunks))


def _in_week(rng, weeks: np.ndarray, not_before: np.ndarray) -> np.ndarray:
    """A uniform time in week ``weeks``, not before ``not_before`` (a person acts only once they exist)."""
    lo = np.maximum(weeks * WEEK, not_before)
    return lo + rng.random(weeks.size) * ((weeks + 1) * WEEK - lo)


def activity_events(rng, path: History, weeks: int, log: EventLog, cookie: np.ndarray, identified: np.ndarray) -> None:
    """Per person and week, Poisson counts of each activity at the workspace state's rate."""
    cls = path.cls[path.lead_ws]
    created_week = (path.lead_created // WEEK).astype(int)
    week = np.arange(weeks)
    first_share = ((created_week + 1) * WEEK - path.lead_created) / WEEK
    exposure = np.where(week[None, :] > created_week[:, None], 1.0,
                        np.where(week[None, :] == created_week[:, None], first_share[:, None], 0.0))
    state = path.state[path.lead_ws, :weeks]
    person = ACTIVITY_LEVELS[path.lead_activity][:, None] * exposure
    for name, rates in ACTIVITY_RATES.items():
        rate = rates[state] * person * CLASS_MULTIPLIER.get(name, np.ones(len(CLASSES)))[cls][:, None]
        if name == "pricing_view":
            rate = rate * ROLE_PRICING[path.lead_role][:, None]
        counts = rng.poisson(rate).ravel()
        cell = np.repeat(np.arange(counts.size), counts)
        lead, w = cell // weeks, cell % weeks
        t = _in_week(rng, w, path.lead_created[lead])
        carries_cookie = (t >= identified[lead]) & (rng.random(lead.size) < COOKIE_ON_VISIT) & \
            (name in ("site_visit", "docs_read"))
        log.add(lead, np.where(carries_cookie, cookie[lead], -1), ET[name], t)


def signal_events(rng, path: History, weeks: int, log: EventLog) -> None:
    """The chain's weekly signals as events: each by the champion (60 %) or any teammate already signed up."""
    first = np.searchsorted(path.lead_ws, np.arange(path.cls.size))
    # leads are sorted by workspace, then sign-up: those signed up by week w's end are a prefix of the workspace's
    key = path.lead_ws * (weeks + 1) + (path.lead_created // WEEK).astype(int)
    for signal, etype in ((CONTACT, "contact_sales"), (LIMIT, "usage_limit_hit")):
        ws, w = np.nonzero(path.signal == signal)
        members = np.searchsorted(key, ws * (weeks + 1) + w, side="right") - first[ws]
        anyone = first[ws] + (rng.random(ws.size) * members).astype(int)
        by_champion = rng.random(ws.size) < 0.6
        lead = np.where(by_champion, path.champion[ws, w], anyone)
        t = _in_week(rng, w, path.lead_created[lead])
        log.add(lead, -1, ET[etype], t)
        if signal == CONTACT:  # people write twice
            again = rng.random(ws.size) < SECOND_CONTACT
            log.add(lead[again], -1, ET[etype], np.minimum(t[again] + rng.random(again.sum()) * DAY,
                                                           (w[again] + 1) * WEEK - 1))


def signup_and_invite_events(rng, path: History, log: EventLog, cookie: np.ndarray, identified: np.ndarray) -> None:
    """A sign-up for every person; an invitation sent by the champion just before each invited person joins."""
    at_signup = identified <= path.lead_created
    log.add(np.arange(path.lead_ws.size), np.where(at_signup, cookie, -1), ET["signup"], path.lead_created)
    joined = np.flatnonzero(path.lead_invited)
    w = (path.lead_created[joined] // WEEK).astype(int)
    inviter = path.champion[path.lead_ws[joined], w]  # as of the week's start: someone already there
    lo = np.maximum(w * WEEK, path.lead_created[inviter])
    t = lo + rng.random(joined.size) * (path.lead_created[joined] - lo)
    log.add(inviter, -1, ET["invite_sent"], t)


def bot_events(rng, path: History, log: EventLog) -> None:
    """Bots: a burst of activity in the hours after signing up, then silence."""
    bots = np.flatnonzero(path.cls[path.lead_ws] == BOT_CLASS)
    for name, mean in BOT_BURST.items():
        counts = rng.poisson(mean, bots.size)
        lead = np.repeat(bots, counts)
        log.add(lead, -1, ET[name], path.lead_created[lead] + rng.random(lead.size) * BOT_BURST_S)


def newsletter_events(rng, path: History, weeks: int, log: EventLog) -> None:
    """A weekly newsletter: auto-opening inboxes open every one, the others open what they read; reads get clicks."""
    n = path.lead_ws.size
    human = path.cls[path.lead_ws] != BOT_CLASS
    subscribed = human & (rng.random(n) < SUBSCRIBED)
    auto = rng.random(n) < AUTO_OPEN
    send = np.arange(weeks) * WEEK + NEWSLETTER_SEND
    gets = subscribed[:, None] & (send[None, :] > path.lead_created[:, None])
    state = path.state[path.lead_ws, :weeks]
    read = gets & (rng.random(gets.shape) < READ_P[state])
    opened = gets & (auto[:, None] | read)
    lead, w = np.nonzero(opened)
    delay = np.where(auto[lead], rng.random(lead.size) * 90, rng.exponential(6 * 3600, lead.size))
    t_open = np.minimum(send[w] + delay, (w + 1) * WEEK - 1)
    log.add(lead, -1, ET["newsletter_open"], t_open)
    clicks = read[lead, w] & (rng.random(lead.size) < CLICK_P[state[lead, w]])
    t_click = np.minimum(t_open[clicks] + 10 + rng.random(clicks.sum()) * 600, (w[clicks] + 1) * WEEK - 1)
    log.add(lead[clicks], -1, ET["newsletter_click"], t_click)


def cookies(rng, path: History, data_end: float) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Each person's browser cookie (or -1), when it was tied to them (inf: never), and the identities rows.

    A signed-in event carries the cookie only from its identification on, so the export never shows a cookie
    beside a lead_id before the identities table links them."""
    n = path.lead_ws.size
    human = path.cls[path.lead_ws] != BOT_CLASS
    has = human & (rng.random(n) < np.where(path.lead_invited, COOKIE_INVITED, COOKIE_FOUNDER))
    cookie = np.where(has, np.cumsum(has) - 1, -1)
    u = rng.random(n)
    later = path.lead_created + rng.uniform(1, 60, n) * DAY
    identified = np.where(u < IDENTIFIED_AT_SIGNUP, path.lead_created,
                          np.where(u < IDENTIFIED_AT_SIGNUP + IDENTIFIED_LATER, later, np.inf))
    identified = np.where(has, identified, np.inf)
    rows = np.flatnonzero(identified < data_end)
    return cookie, identified, {"cookie": cookie[rows], "lead": rows, "identified_at": identified[rows]}


def anonymous_events(rng, path: History, log: EventLog, cookie: np.ndarray, weeks: int) -> int:
    """Visits before sign-up (founders find the product themselves) and crawler cookies; returns cookies used."""
    founders = np.flatnonzero((cookie >= 0) & ~path.lead_invited)
    counts = 1 + rng.poisson(PRE_SIGNUP_VISITS, founders.size)
    lead = np.repeat(founders, counts)
    lo = np.maximum(0.0, path.lead_created[lead] - 21 * DAY)
    t = lo + rng.random(lead.size) * (path.lead_created[lead] - lo)
    etype = np.where(rng.random(lead.size) < 0.65, ET["site_visit"], ET["docs_read"])
    log.add(-1, cookie[lead], etype, t)
    n_cookies = int(cookie.max() + 1) if cookie.size else 0
    crawlers = int(CRAWLERS_PER_LEAD * path.lead_ws.size)
    counts = rng.poisson(CRAWLER_BURST, crawlers)
    which = np.repeat(np.arange(crawlers), counts)
    t0 = rng.random(crawlers) * (weeks * WEEK - 2 * 3600)
    t = t0[which] + rng.random(which.size) * 2 * 3600
    etype = np.where(rng.random(which.size) < 0.7, ET["site_visit"], ET["docs_read"])
    log.add(-1, n_cookies + which, etype, t)
    return n_cookies + crawlers


# ---------------------------------------------------------------------------------------------------------------------
# the CRM side: leads, deals, lifecycle

COUNTRIES = np.array(["US", "GB", "DE", "IN", "FR", "BR", "CA", "NL", "AU", "ES"])
COUNTRY_MIX = np.array([0.34, 0.1, 0.1, 0.12, 0.06, 0.06, 0.06, 0.05, 0.05, 0.06])
SOURCES = np.array(["organic_search", "paid_search", "referral", "community", "product_hunt", "direct", "invite"])
SOURCE_MIX = np.array([0.30, 0.15, 0.10, 0.15, 0.05, 0.25, 0.0])
SIZE_KNOWN = np.array([0.35, 0.6, 0.75, 0.8, 0.9, 0.2])  # enrichment finds work domains, not gmail
SIZE_LOG_MEAN = np.array([0.5, 1.5, 3.8, 4.2, 7.0, 1.0])
SIZE_LOG_SD = np.array([0.6, 0.8, 0.8, 0.8, 1.0, 1.0])
DORMANT_WEEKS = 8  # sales ops move a workspace quiet this long to nurture


def lead_attributes(rng, path: History) -> dict[str, np.ndarray]:
    n_ws, n = path.cls.size, path.lead_ws.size
    size = np.maximum(1, np.round(np.exp(rng.normal(SIZE_LOG_MEAN[path.cls], SIZE_LOG_SD[path.cls])))).astype(int)
    ws_country = rng.choice(COUNTRIES.size, n_ws, p=COUNTRY_MIX)
    own_country = rng.choice(COUNTRIES.size, n, p=COUNTRY_MIX)
    country = np.where(rng.random(n) < 0.9, ws_country[path.lead_ws], own_country)
    source = rng.choice(SOURCES.size, n, p=SOURCE_MIX)
    bot = path.cls[path.lead_ws] == BOT_CLASS
    source = np.where(bot, np.where(rng.random(n) < 0.6, 5, 1), np.where(path.lead_invited, 6, source))
    known = (rng.random(n_ws) < SIZE_KNOWN[path.cls])[path.lead_ws] & (rng.random(n) < 0.95)
    return {"company_size": np.where(known, size[path.lead_ws], -1), "country": COUNTRIES[country],
            "lead_source": SOURCES[source], "job_role": np.array(ROLES)[path.lead_role]}


def deal_times(rng, path: History) -> tuple[np.ndarray, np.ndarray]:
    """Created on a weekday of the chain's week, in working hours; closed d weeks later, give or take a day."""
    created = path.deal_week * WEEK + rng.integers(0, 5, path.deal_week.size) * DAY + \
        (9 + 8 * rng.random(path.deal_week.size)) * 3600
    closed = created + path.deal_weeks_to_close * WEEK + rng.uniform(-1, 1, created.size) * DAY
    return created, closed


def lifecycle_rows(rng, path: History, deal_created, deal_closed, data_end, first_event) -> dict[str, np.ndarray]:
    """The CRM's status history: trial at sign-up; pql at the first limit or integration; sales_accepted when a
    lead asks for sales or gets a deal; nurture after a lost deal or when the workspace has been dormant for
    DORMANT_WEEKS; customer for the whole workspace once a deal is won and closed; spam for bots some weeks in."""
    n = path.lead_ws.size
    leads, statuses, times = [np.arange(n)], [np.full(n, "trial")], [path.lead_created]

    def add(lead, status, t):
        keep = t < data_end
        leads.append(lead[keep])
        statuses.append(np.full(keep.sum(), status))
        times.append(t[keep])

    bot = path.cls[path.lead_ws] == BOT_CLASS
    add(np.flatnonzero(bot), "spam", path.lead_created[bot] + rng.uniform(7, 28, bot.sum()) * DAY)
    for status, t in (("pql", first_event["pql"]), ("sales_accepted", first_event["contact"])):
        has = np.isfinite(t)
        add(np.flatnonzero(has), status, t[has] + rng.uniform(0.1, 3, has.sum()) * DAY)
    add(path.deal_lead, "sales_accepted", deal_created)
    lost = ~path.deal_won
    add(path.deal_lead[lost], "nurture", deal_closed[lost])
    # dormant workspaces: abandoned or churned for DORMANT_WEEKS weeks in a row
    dormant = np.isin(path.state[:, :-1], (ABANDONED, CHURNED))
    run = np.zeros(path.cls.size, int)
    for w in range(dormant.shape[1]):
        run = np.where(dormant[:, w], run + 1, 0)
        ws = np.flatnonzero(run == DORMANT_WEEKS)
        members = np.flatnonzero(np.isin(path.lead_ws, ws) & (path.lead_created < w * WEEK))
        add(members, "nurture", np.full(members.size, w * WEEK + 10 * 3600))
    # customers: every member of a workspace whose won deal has closed (newcomers from their sign-up)
    won = path.deal_won & (deal_closed < data_end)
    customer_since = np.full(path.cls.size, np.inf)
    np.minimum.at(customer_since, path.deal_ws[won], deal_closed[won])
    since = customer_since[path.lead_ws]
    has = np.isfinite(since)
    add(np.flatnonzero(has), "customer", np.maximum(since[has], path.lead_created[has] + 3600))
    lead, status, t = (np.concatenate(a) for a in (leads, statuses, times))
    # nothing after customer or spam: both are final
    final = np.full(n, np.inf)
    np.minimum.at(final, lead, np.where(np.isin(status, ("customer", "spam")), t, np.inf))
    keep = (t <= final[lead])
    return {"lead": lead[keep], "status": status[keep], "changed_at": t[keep]}


# ---------------------------------------------------------------------------------------------------------------------
# writing


def _ts(start_us: int, seconds) -> pa.Array:
    seconds = np.asarray(seconds, float)
    mask = ~np.isfinite(seconds)
    us = start_us + np.round(np.where(mask, 0, seconds) * 1e6).astype(np.int64)
    return pa.array(us, type=pa.timestamp("us", tz="UTC"), mask=mask)


def _take(names: pa.Array, index: np.ndarray) -> pa.Array:
    """Strings by index; a negative index is null."""
    index = np.asarray(index)
    return names.take(pa.array(np.maximum(index, 0), mask=index < 0))


def _write(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path, compression="zstd")


def leads_table(rng, path: History, start_us: int) -> tuple[pa.Table, pa.Array]:
    """The people, in sign-up order, and their ids by internal index."""
    n = path.lead_ws.size
    by_time = np.argsort(path.lead_created, kind="stable")
    lead_ids = _take(pa.array([f"usr_{i:07d}" for i in range(n)], pa.string()), np.argsort(by_time))
    attrs = lead_attributes(rng, path)
    size = attrs["company_size"]
    table = pa.table({
        "lead_id": lead_ids, "created_at": _ts(start_us, path.lead_created),
        "account_id": pa.array([f"ws_{i:06d}" for i in path.lead_ws], pa.string()),
        "company_size": pa.array(size, pa.int64(), mask=size < 0), "country": pa.array(attrs["country"], pa.string()),
        "lead_source": pa.array(attrs["lead_source"], pa.string()),
        "job_role": pa.array(attrs["job_role"], pa.string()),
    }).take(pa.array(by_time))
    return table, lead_ids


def event_tables(rng, path: History, weeks: int, start_us: int, lead_ids: pa.Array):
    """Events (time-ordered, with repeated rows) and identities; and each person's first pql-making event and first
    request to sales (for the lifecycle)."""
    data_end = weeks * WEEK
    cookie, identified, identity = cookies(rng, path, data_end)
    log = EventLog()
    activity_events(rng, path, weeks, log, cookie, identified)
    signal_events(rng, path, weeks, log)
    signup_and_invite_events(rng, path, log, cookie, identified)
    bot_events(rng, path, log)
    newsletter_events(rng, path, weeks, log)
    n_cookies = anonymous_events(rng, path, log, cookie, weeks)
    lead, cook, etype, t = log.arrays()
    keep = np.flatnonzero(t < data_end)
    order = keep[np.argsort(t[keep], kind="stable")]
    lead, cook, etype, t = lead[order], cook[order], etype[order], t[order]
    event_id = pc.binary_join_element_wise("evt_", pc.cast(pa.array(np.arange(t.size)), pa.string()), "")
    dup = np.flatnonzero(rng.random(t.size) < DUPLICATE_SHARE)
    rows = np.sort(np.concatenate([np.arange(t.size), dup]))
    cookie_ids = pc.binary_join_element_wise("anon_", pc.cast(pa.array(np.arange(n_cookies)), pa.string()), "")
    events = pa.table({
        "occurred_at": _ts(start_us, t[rows]), "lead_id": _take(lead_ids, lead[rows]),
        "anonymous_id": _take(cookie_ids, cook[rows]),
        "event_type": _take(pa.array(EVENT_TYPES, pa.string()), etype[rows].astype(np.int64)),
        "event_id": event_id.take(pa.array(rows)),
    })
    identities = pa.table({"anonymous_id": _take(cookie_ids, identity["cookie"]),
                           "lead_id": _take(lead_ids, identity["lead"]),
                           "identified_at": _ts(start_us, identity["identified_at"])})
    first = {k: np.full(path.lead_ws.size, np.inf) for k in ("pql", "contact")}
    for key, types in (("pql", ("usage_limit_hit", "integration_connected")), ("contact", ("contact_sales",))):
        hit = (lead >= 0) & np.isin(etype, [ET[x] for x in types])
        np.minimum.at(first[key], lead[hit], t[hit])
    return events, identities, first


def deals_table(rng, path: History, data_end: float, start_us: int, lead_ids: pa.Array):
    """Deals in creation order (open while not closed by the export's end), and their times by chain order."""
    created, closed = deal_times(rng, path)
    is_open = closed >= data_end
    status = np.where(is_open, "open", np.where(path.deal_won, "won", "lost"))
    order = np.argsort(created, kind="stable")
    table = pa.table({
        "deal_id": pa.array([f"opp_{i:06d}" for i in range(created.size)], pa.string()),
        "lead_id": _take(lead_ids, path.deal_lead[order]),
        "created_at": _ts(start_us, created[order]),
        "closed_at": _ts(start_us, np.where(is_open, np.inf, closed)[order]),
        "status": pa.array(status[order], pa.string()),
    })
    return table, created, closed


def generate(out: Path, leads: int, seed: int, start: date = date(2024, 11, 18), weeks: int = 104,
             horizon_days: int = 90) -> dict[str, int]:
    """Write leads, events, identities, deals, lifecycle and truth (Parquet) to ``out``; rows per table.

    About ``leads`` people: whole workspaces are kept while they fit, so a few fewer may be written."""
    if start.weekday() != 0:
        raise UserError(f"start must be a Monday, got {start:%A} {start}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    kern = kernel(start, weeks + window_weeks(horizon_days).size + 1)
    path = simulate_path(rng, kern, int(math.ceil(leads / LEADS_PER_WORKSPACE)) + 20, start, weeks)
    if path.lead_ws.size < leads:  # a short history invites fewer teammates: every workspace has at least one person
        path = simulate_path(rng, kern, leads, start, weeks)
    path = keep_workspaces(rng, path, leads)
    data_end = weeks * WEEK
    start_us = int(datetime(start.year, start.month, start.day, tzinfo=timezone.utc).timestamp()) * 1_000_000

    tables = {}
    tables["leads"], lead_ids = leads_table(rng, path, start_us)
    tables["events"], tables["identities"], first = event_tables(rng, path, weeks, start_us, lead_ids)
    tables["deals"], created, closed = deals_table(rng, path, data_end, start_us, lead_ids)
    stages = lifecycle_rows(rng, path, created, closed, data_end, first)
    order = np.lexsort((stages["changed_at"], stages["lead"]))
    tables["lifecycle"] = pa.table({"lead_id": _take(lead_ids, stages["lead"][order]),
                                    "status": pa.array(stages["status"][order], pa.string()),
                                    "changed_at": _ts(start_us, stages["changed_at"][order])})
    tables["truth"] = stamped(oracle_table(kern, path, lead_ids, start_us, weeks, horizon_days), horizon_days)
    for name, table in tables.items():
        _write(table, out / f"{name}.parquet")
    return {name: table.num_rows for name, table in tables.items()}


def oracle_table(kern: Kernel, path: History, lead_ids: pa.Array, start_us: int, weeks: int,
                 horizon_days: int) -> pa.Table:
    """p_true for every lead created before every Monday cutoff from week FIRST_TRUTH_WEEK to the last one."""
    reward, p = chain_matrices(kern)
    cls = path.cls[path.lead_ws]
    parts = {"lead": [], "week": [], "p": []}
    for k in range(FIRST_TRUTH_WEEK, weeks):
        known = np.flatnonzero(path.lead_created < k * WEEK)
        ws = path.lead_ws[known]
        value = champion_values(reward, p, k, horizon_days)
        x = path.state[ws, k].astype(int) * N_SIGNALS + path.signal[ws, k - 1]
        champion = path.champion[ws, k] == known
        parts["lead"].append(known)
        parts["week"].append(np.full(known.size, k))
        parts["p"].append(np.where(champion, value[cls[known], x], 0.0))
    lead, week, prob = (np.concatenate(v) for v in parts.values())
    return pa.table({"lead_id": _take(lead_ids, lead), "cutoff": _ts(start_us, week * WEEK),
                     "p_true": pa.array(prob, pa.float64())})
