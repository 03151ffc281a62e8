"""Every feature, declared once: its name, family, meaning and how to say it in plain words.

A *signal* is a kind of event (a SQL predicate over ``event_type``/``content_type``).
Windowed features aggregate a signal over ``[t - w days, t)``; the builder compiles
these declarations to DuckDB SQL, and the scorer's reason codes use the phrases.

Families: ``fit`` (who the lead is: firmographics, title, stated attributes) and
``engagement`` (what they and their account do). Marketing ops see the two apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from features.contract import DEFAULT_EVENT_TYPES

Family = Literal["fit", "engagement"]
Kind = Literal["numeric", "categorical"]


class RoleSpec(BaseModel):
    """What the rules mean by intent, in the export's own words (``params.yaml: features.roles``).

    Each role lists event types and/or content types. The journey-stage rules and the
    points score speak of roles, never of the demo's names, so a process log or an
    e-mail-only export maps its own activities here. Names the export does not have are
    ignored; a role left with no events is reported and its rule term skipped.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    high_intent: tuple[str, ...] = Field(("pricing", "demo_request", "case_study"),
                                         description="pages or actions that show buying intent")
    sales_ready: tuple[str, ...] = Field(("demo_request",), description="actions that ask for sales")
    engaged_activity: tuple[str, ...] = Field(("content_download", "webinar_attend"),
                                              description="actions that take real time: downloads, webinars")


class FeatureSpec(BaseModel):
    """Feature settings (``params.yaml: features``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    windows_days: tuple[int, ...] = Field((7, 30, 90, 365), description="lookback windows [t - w, t)")
    account_windows_days: tuple[int, ...] = (30, 90)
    content_types: tuple[str, ...] = ("blog", "case_study", "ebook", "webinar", "action_guide", "pricing", "product",
                                      "demo_request")
    roles: RoleSpec = RoleSpec()
    company_size_bands: tuple[int, ...] = Field((10, 50, 200, 1000, 5000), description="upper bounds of size bands")
    max_categories: int = Field(20, ge=1, le=1000, description="a text extra attribute keeps its most frequent values; "
                                "the rest become 'other'")

    @model_validator(mode="before")
    @classmethod
    def _intent_content_types(cls, data):
        """Models registered before roles existed stored ``intent_content_types``: it is the high-intent role."""
        if isinstance(data, dict) and "intent_content_types" in data:
            data = dict(data)
            legacy = data.pop("intent_content_types")
            data["roles"] = {**dict(data.get("roles") or {}), "high_intent": legacy}
        return data

    @field_validator("content_types")
    @classmethod
    def _plain_names(cls, values):
        check_vocabulary(values)
        return values

    @field_validator("windows_days", "account_windows_days", "company_size_bands")
    @classmethod
    def _increasing(cls, values):
        if not values or list(values) != sorted(set(values)) or values[0] <= 0:
            raise ValueError(f"must be distinct positive numbers in increasing order, got {list(values)}")
        return values

    @model_validator(mode="after")
    def _check(self):
        missing = set(self.account_windows_days) - set(self.windows_days)
        if missing:
            raise ValueError(f"account_windows_days {sorted(missing)} must also be in windows_days")
        return self

    @property
    def lookback_days(self) -> int:
        return self.windows_days[-1]


# the journey stages, from cold to warm (DESIGN section 6): the rules of StageSpec give each lead exactly one
JOURNEY_STAGES = ("acknowledged", "engaged", "leaning_in")
ACKNOWLEDGED, ENGAGED, LEANING_IN = JOURNEY_STAGES
STAGE_LABELS = {ACKNOWLEDGED: "Acknowledged", ENGAGED: "Engaged", LEANING_IN: "Leaning in"}


class StageSpec(BaseModel):
    """Journey-stage rules (``params.yaml: stage``): transparent thresholds over roles, shown beside the score."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    window_days: int = Field(30, gt=0, description="the window the rules look at; must be one of the feature windows")
    engaged_min_active_days: int = Field(2, ge=1)
    engaged_min_time_on_page_s: float = Field(300, ge=0)
    engaged_min_engaged_activities: int = Field(1, ge=1, description="events of features.roles.engaged_activity")
    leaning_in_min_high_intent_days: int = Field(2, ge=1, description="days with events of features.roles.high_intent")
    leaning_in_min_sales_ready: int = Field(1, ge=1, description="events of features.roles.sales_ready")
    leaning_in_min_account_engaged_leads: int = Field(3, ge=2)

    @model_validator(mode="before")
    @classmethod
    def _named_by_the_demo(cls, data):
        """Models registered before roles existed stored the thresholds under the demo's names."""
        renamed = {"engaged_min_downloads_or_webinars": "engaged_min_engaged_activities",
                   "leaning_in_min_demo_requests": "leaning_in_min_sales_ready"}
        if isinstance(data, dict) and renamed.keys() & data.keys():
            data = {renamed.get(key, key): value for key, value in data.items()}
        return data


def stage_window_problem(stage: StageSpec, spec: FeatureSpec) -> str | None:
    """The stage rules read the account features of ``stage.window_days``: it must be an account window.
    Checked when params.yaml loads, and by the builder for callers that pass their own specs."""
    if stage.window_days in spec.account_windows_days:
        return None
    return (f"stage.window_days={stage.window_days} must be one of features.account_windows_days "
            f"{list(spec.account_windows_days)} (the stage rules read the account features of that window)")


@dataclass(frozen=True)
class Signal:
    name: str
    where: str
    phrase: str  # "{n}" and "{window}" are filled in
    feature: bool = True  # False: counted for the rules (a role), never a model feature


@dataclass(frozen=True)
class Feature:
    name: str
    family: Family
    kind: Kind
    description: str
    phrase: str  # plain words with "{value}"; used by reason codes
    higher_is_warmer: bool = True
    requires: tuple[str, ...] = ()
    """What the export must hold for the feature to carry anything: ``signal:NAME`` (an event of that
    signal before the last cutoff), ``column:TABLE.COLUMN`` (a value in that column), ``table:NAME``
    (rows in that optional table). ``features.plan`` builds a feature only when all of them hold."""


_EVENT_PHRASES = {
    "page_view": "viewed {n} [page|pages]",
    "form_submit": "submitted {n} [form|forms]",
    "email_open": "opened {n} [email|emails]",
    "email_click": "clicked {n} email [link|links]",
    "content_download": "downloaded {n} [piece|pieces] of content",
    "webinar_register": "registered for {n} [webinar|webinars]",
    "webinar_attend": "attended {n} [webinar|webinars]",
    "unsubscribe": "unsubscribed {n} [time|times]",
}
_CONTENT_PHRASES = {
    "pricing": "viewed pricing {n} [time|times]",
    "demo_request": "requested a demo {n} [time|times]",
    "case_study": "read {n} [case study|case studies]",
    "product": "viewed product pages {n} [time|times]",
    "blog": "read {n} [blog post|blog posts]",
    "ebook": "engaged with {n} [e-book|e-books]",
    "webinar": "engaged with webinars {n} [time|times]",
    "action_guide": "used {n} [action guide|action guides]",
}


def check_vocabulary(names) -> None:
    """Event and content types become parts of column names: plain names only, each once whatever its case
    (SQL column names ignore case)."""
    for name in names:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,40}", name):
            raise ValueError(f"{name!r} is not a plain name (letters, digits and _, starting with a letter, at most 41 "
                             "characters): map the export's values to such names")
    folded = [n.lower() for n in names]
    if len(set(folded)) != len(folded):
        raise ValueError(f"a name is listed twice (ignoring case) in {list(names)}")


COLUMN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
"""A column name that may reach SQL as an identifier (extra lead attributes): letters, digits and _."""


def sql_identifier(name: str) -> str:
    """A quoted SQL identifier: the one place a column name becomes SQL text."""
    return '"' + str(name).replace('"', '""') + '"'


def sql_string(value: str) -> str:
    """A SQL string literal: the one place a name from the settings or the data becomes SQL text."""
    return "'" + str(value).replace("'", "''") + "'"


def sql_path(path) -> str:
    """A SQL string literal of a file that DuckDB's readers (``read_parquet``, ``read_csv``) take as it is named.

    They read every path as a pattern: ``?``, ``*`` and ``[`` in a folder's name would take in the files of
    other folders (``g/o?/ts`` also read ``g/oX/ts``). Each is written as a class of itself (``[?]``), which
    matches only itself."""
    return sql_string(re.sub(r"([*?\[])", r"[\1]", str(path)))


def sql_timestamp(moment) -> str:
    """A SQL timestamp literal, to the microsecond (a boundary a microsecond off moves rows across it)."""
    return f"TIMESTAMP '{moment:%Y-%m-%d %H:%M:%S.%f}'"


def sql_list(values) -> str:
    """SQL string literals separated by commas, for ``IN (...)``."""
    return ", ".join(sql_string(v) for v in values)


def content_signals(spec: FeatureSpec) -> set[str]:
    """The feature signals that read ``events.content_type``: each content type, and high intent when it names one."""
    return set(spec.content_types) | ({"high_intent"} if set(spec.roles.high_intent) & set(spec.content_types) else set())


ROLE_SIGNALS = {"sales_ready": "role_sales_ready", "engaged_activity": "role_engaged_activity"}
"""Roles counted for the journey-stage rules only (high intent is a model feature too: ``high_intent``)."""


def role_where(names: tuple[str, ...], event_types: tuple[str, ...], content_types: tuple[str, ...]) -> str:
    """SQL: an event plays the role when its event type or its content type is one of ``names``."""
    terms = []
    events = [n for n in names if n in event_types]
    contents = [n for n in names if n in content_types]
    if events:
        terms.append(f"event_type IN ({sql_list(events)})")
    if contents:
        terms.append(f"content_type IN ({sql_list(contents)})")
    return "(" + " OR ".join(terms) + ")" if terms else "FALSE"


def signals(spec: FeatureSpec, event_types: tuple[str, ...] = DEFAULT_EVENT_TYPES) -> tuple[Signal, ...]:
    """The event kinds features are built from; names must not collide."""
    engagement = (f"event_type <> {sql_string('email_open')}" if "email_open" in event_types else "TRUE")
    out = [Signal("events", engagement, "had {n} [engagement|engagements] (not counting email opens)")]
    out += [Signal(et, f"event_type = {sql_string(et)}", _EVENT_PHRASES.get(et, et.replace("_", " ") + " {n} [time|times]"))
            for et in event_types]
    out += [Signal(ct, f"content_type = {sql_string(ct)}",
                   _CONTENT_PHRASES.get(ct, "engaged with " + ct.replace("_", " ") + " {n} [time|times]"))
            for ct in spec.content_types]
    roles = spec.roles
    out.append(Signal("high_intent", role_where(roles.high_intent, event_types, spec.content_types),
                      "showed {n} high-intent [signal|signals] (" + ", ".join(roles.high_intent).replace("_", " ") + ")"))
    out += [Signal(name, role_where(getattr(roles, role), event_types, spec.content_types),
                   f"{role.replace('_', ' ')}: {{n}}", feature=False) for role, name in ROLE_SIGNALS.items()]
    names = [s.name.lower() for s in out]
    clashes = {n for n in names if names.count(n) > 1}
    if clashes:
        raise ValueError(f"event types and content types share names {sorted(clashes)}; rename one of them")
    return tuple(out)


_NOUNS = {"events": "activity", "high_intent": "high-intent activity", "page_view": "page view",
          "form_submit": "form submitted", "email_open": "email opened", "email_click": "email click",
          "content_download": "download", "webinar_register": "webinar registration",
          "webinar_attend": "webinar attended", "unsubscribe": "unsubscribe", "demo_request": "demo request",
          "case_study": "case study read", "blog": "blog post read", "ebook": "e-book", "action_guide": "action guide"}


def signal_noun(name: str) -> str:
    """A signal as a noun phrase ("last email opened 3 days ago", "no download in the last 90 days"); an event
    type of another vocabulary reads as its name."""
    return _NOUNS.get(name, name.replace("_", " "))


def plural(template: str, value: float) -> str:
    """``[singular|plural]`` in a phrase, chosen by the value it counts (1 reads as singular)."""
    one = value is not None and round(float(value)) == 1
    return PLURAL.sub(lambda m: m.group(1) if one else m.group(2), template)


PLURAL = re.compile(r"\[([^|\]]*)\|([^\]]*)\]")


def window_words(w: int) -> str:
    return {7: "7 days", 30: "30 days", 90: "90 days", 365: "year"}.get(w, f"{w} days")


def _what(signal: Signal) -> str:
    if signal.name == "events":
        return "engagement events (not counting e-mail opens)"
    return f"{signal.name.replace('_', ' ')} events"


def windowed_counts(spec: FeatureSpec, event_types) -> list[tuple[Signal, int, Feature]]:
    return [
        (s, w, Feature(f"{s.name}_count_{w}d", "engagement", "numeric",
                       f"number of {_what(s)} in the {w} days before the cutoff",
                       s.phrase.replace("{n}", "{value:.0f}").replace("{window}", "") + f" in the last {window_words(w)}",
                       requires=(f"signal:{s.name}",)))
        for s in signals(spec, event_types) if s.feature for w in spec.windows_days
    ]


@dataclass(frozen=True)
class Extra:
    """An extra lead attribute as a feature: numeric, or text with its kept values (the rest become 'other')."""

    name: str
    kind: Kind = "categorical"
    categories: tuple[str, ...] | None = None  # None: every value kept (no cap was computed)


OTHER = "other"
PAGE_TIME = "column:events.duration_s"
ACCOUNT = "column:leads.account_id"


def manifest(spec: FeatureSpec, event_types=DEFAULT_EVENT_TYPES,
             extra_lead_attributes: tuple[str | Extra, ...] = ()) -> tuple[Feature, ...]:
    """Every feature the settings allow, in output column order, each with what it requires of the export.

    Which of them an export can carry is decided by ``features.plan``; a feature whose
    source the settings do not name at all (a click rate without e-mail event types) is
    not listed here.
    """
    names = {s.name for s in signals(spec, event_types)}
    feats: list[Feature] = [f for _, _, f in windowed_counts(spec, event_types)]
    for w in spec.windows_days:
        last = f"in the last {window_words(w)}"
        feats += [
            Feature(f"active_days_{w}d", "engagement", "numeric", f"distinct days with engagement (not email opens), last {w} days",
                    f"active on {{value:.0f}} different [day|days] {last}", requires=("signal:events",)),
            Feature(f"high_intent_days_{w}d", "engagement", "numeric", f"distinct days with high-intent activity, last {w} days",
                    f"came back to high-intent pages on {{value:.0f}} [day|days] {last}", requires=("signal:high_intent",)),
            Feature(f"distinct_content_{w}d", "engagement", "numeric", f"distinct content items touched, last {w} days",
                    f"engaged with {{value:.0f}} different [piece|pieces] of content {last}",
                    requires=("column:events.content_id",)),
        ]
        if "page_view" in names:
            feats += [
                Feature(f"time_on_page_s_{w}d", "engagement", "numeric", f"total seconds on pages, last {w} days",
                        f"spent {{value_minutes:.0f}} [minute|minutes] on the site {last}", requires=("signal:page_view", PAGE_TIME)),
                Feature(f"mean_time_on_page_s_{w}d", "engagement", "numeric", f"mean seconds per page view, last {w} days",
                        f"spent {{value:.0f}} [second|seconds] per page on average {last}",
                        requires=("signal:page_view", PAGE_TIME)),
            ]
        feats.append(
            Feature(f"stitched_events_{w}d", "engagement", "numeric",
                    f"anonymous events linked to the lead by an identity known before the cutoff, last {w} days",
                    f"had {{value:.0f}} [visit|visits] before identifying themselves {last}", requires=("table:identities",)))
    if {"email_open", "email_click"} <= names:
        for w in spec.windows_days:
            if w >= 90:
                feats.append(Feature(f"email_click_rate_{w}d", "engagement", "numeric",
                                     f"email clicks per email open, last {w} days (opens alone are inflated by auto-opens)",
                                     f"clicked {{value_percent:.0f}}% of opened emails {f'in the last {window_words(w)}'}",
                                     requires=("signal:email_open", "signal:email_click")))
    short, long_ = spec.windows_days[0], spec.windows_days[min(2, len(spec.windows_days) - 1)]
    feats.append(Feature(f"engagement_trend_{short}d_vs_{long_}d", "engagement", "numeric",
                         f"daily engagement rate in the last {short} days over that of the last {long_} days",
                         f"engagement is {{value:.1f}}x its usual level this {'week' if short == 7 else f'{short} days'}",
                         requires=("signal:events",)))
    for s in signals(spec, event_types):
        if s.feature:
            feats.append(Feature(f"days_since_last_{s.name}", "engagement", "numeric",
                                 f"days since the last {s.name} event (empty: none within {spec.lookback_days} days)",
                                 f"last {signal_noun(s.name)} {{value:.0f}} [day|days] ago", higher_is_warmer=False,
                                 requires=(f"signal:{s.name}",)))
    for w in spec.account_windows_days:
        feats += [
            Feature(f"account_engaged_leads_{w}d", "engagement", "numeric",
                    f"people of the same account engaged (not just opening emails), last {w} days",
                    f"{{value:.0f}} [person|people] from the account active {f'in the last {window_words(w)}'}",
                    requires=(ACCOUNT, "signal:events")),
            Feature(f"account_events_{w}d", "engagement", "numeric", f"engagement events of the whole account, last {w} days",
                    f"the account engaged {{value:.0f}} [time|times] {f'in the last {window_words(w)}'}",
                    requires=(ACCOUNT, "signal:events")),
            Feature(f"account_high_intent_{w}d", "engagement", "numeric", f"high-intent events of the whole account, last {w} days",
                    f"the account showed {{value:.0f}} high-intent [signal|signals] {f'in the last {window_words(w)}'}",
                    requires=(ACCOUNT, "signal:high_intent")),
        ]
    account_deals = (ACCOUNT, "column:deals.account_id")
    feats += [
        Feature("account_known_leads", "fit", "numeric", "people of the account known before the cutoff",
                "{value:.0f} [person|people] known at the account", requires=(ACCOUNT,)),
        Feature("account_lost_deals", "fit", "numeric", "deals of the account closed lost before the cutoff",
                "the account has {value:.0f} earlier lost [deal|deals]", higher_is_warmer=False, requires=account_deals),
        Feature("account_won_deals", "fit", "numeric", "deals of the account closed won before the cutoff (expansion)",
                "the account is already a customer ({value:.0f} won [deal|deals])", requires=account_deals),
        Feature("account_open_deals", "fit", "numeric", "other deals of the account open at the cutoff",
                "the account has {value:.0f} open [deal|deals] with sales", requires=account_deals),
        Feature("industry", "fit", "categorical", "the account's vertical", "industry: {value}",
                requires=("column:leads.industry",)),
        Feature("company_size", "fit", "numeric", "employees", "{value:,.0f} [employee|employees]",
                requires=("column:leads.company_size",)),
        Feature("company_size_band", "fit", "categorical", "employee band", "company size {value}",
                requires=("column:leads.company_size",)),
        Feature("country", "fit", "categorical", "country", "based in {value}", requires=("column:leads.country",)),
        Feature("lead_source", "fit", "categorical", "how the lead was acquired", "came from {value}",
                requires=("column:leads.lead_source",)),
        Feature("title_seniority", "fit", "categorical", "seniority parsed from the free-text title",
                "{value_title}-level title", requires=("column:leads.title",)),
        Feature("title_function", "fit", "categorical", "function parsed from the free-text title", "works in {value}",
                requires=("column:leads.title",)),
        Feature("lead_age_days", "fit", "numeric", "days since the lead became known", "known for {value:.0f} [day|days]",
                higher_is_warmer=False),
        Feature("lifecycle_status", "fit", "categorical", "the lead's lifecycle status at the cutoff, in the export's words",
                "lifecycle status: {value}", requires=("table:lifecycle",)),
        Feature("days_in_lifecycle_status", "fit", "numeric", "days since the lead's lifecycle status last changed",
                "in this status for {value:.0f} [day|days]", higher_is_warmer=False, requires=("table:lifecycle",)),
    ]
    for extra in extra_lead_attributes:
        extra = extra if isinstance(extra, Extra) else Extra(extra)
        words = extra.name.replace("_", " ")
        phrase = f"{words}: {{value:,.0f}}" if extra.kind == "numeric" else f"{words}: {{value}}"
        feats.append(Feature(extra.name, "fit", extra.kind, f"stated on the lead's form: {words}", phrase,
                             requires=(f"column:leads.{extra.name}",)))
    return tuple(feats)


def categorical_features(features: tuple[Feature, ...]) -> list[str]:
    return [f.name for f in features if f.kind == "categorical"]
