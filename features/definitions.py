"""Every feature, declared once: its name, family, meaning and how to say it in plain words.

A *signal* is a kind of event (a SQL predicate over ``event_type``/``content_type``).
Windowed features aggregate a signal over ``[t - w days, t)``; the builder compiles
these declarations to DuckDB SQL, and the scorer's reason codes use the phrases.

Families: ``fit`` (who the lead is: firmographics, title, stated attributes) and
``engagement`` (what they and their account do). Marketing ops see the two apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from features.contract import DEFAULT_EVENT_TYPES

Family = Literal["fit", "engagement"]
Kind = Literal["numeric", "categorical"]


class FeatureSpec(BaseModel):
    """Feature settings (``params.yaml: features``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    windows_days: tuple[int, ...] = Field((7, 30, 90, 365), description="lookback windows [t - w, t)")
    account_windows_days: tuple[int, ...] = (30, 90)
    content_types: tuple[str, ...] = ("blog", "case_study", "ebook", "webinar", "action_guide", "pricing", "product",
                                      "demo_request")
    intent_content_types: tuple[str, ...] = ("pricing", "demo_request", "case_study")
    company_size_bands: tuple[int, ...] = Field((10, 50, 200, 1000, 5000), description="upper bounds of size bands")

    @model_validator(mode="after")
    def _check(self):
        for name in ("windows_days", "account_windows_days", "company_size_bands"):
            values = getattr(self, name)
            if not values or list(values) != sorted(set(values)) or values[0] <= 0:
                raise ValueError(f"{name} must be distinct positive numbers in increasing order, got {list(values)}")
        missing = set(self.account_windows_days) - set(self.windows_days)
        if missing:
            raise ValueError(f"account_windows_days {sorted(missing)} must also be in windows_days")
        unknown = set(self.intent_content_types) - set(self.content_types)
        if unknown:
            raise ValueError(f"intent_content_types {sorted(unknown)} must also be in content_types")
        return self

    @property
    def lookback_days(self) -> int:
        return self.windows_days[-1]


class StageSpec(BaseModel):
    """Journey-stage rules (``params.yaml: stage``): transparent thresholds, shown beside the score."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    window_days: int = Field(30, gt=0, description="the window the rules look at; must be one of the feature windows")
    engaged_min_active_days: int = Field(2, ge=1)
    engaged_min_time_on_page_s: float = Field(300, ge=0)
    engaged_min_downloads_or_webinars: int = Field(1, ge=1)
    leaning_in_min_high_intent_days: int = Field(2, ge=1)
    leaning_in_min_demo_requests: int = Field(1, ge=1)
    leaning_in_min_account_engaged_leads: int = Field(3, ge=2)


@dataclass(frozen=True)
class Signal:
    name: str
    where: str
    phrase: str  # "{n}" and "{window}" are filled in


@dataclass(frozen=True)
class Feature:
    name: str
    family: Family
    kind: Kind
    description: str
    phrase: str  # plain words with "{value}"; used by reason codes
    higher_is_warmer: bool = True


_EVENT_PHRASES = {
    "page_view": "viewed {n} pages",
    "form_submit": "submitted {n} forms",
    "email_open": "opened {n} emails",
    "email_click": "clicked {n} email links",
    "content_download": "downloaded {n} pieces of content",
    "webinar_register": "registered for {n} webinars",
    "webinar_attend": "attended {n} webinars",
    "unsubscribe": "unsubscribed {n} times",
}
_CONTENT_PHRASES = {
    "pricing": "viewed pricing {n} times",
    "demo_request": "requested a demo {n} times",
    "case_study": "read {n} case studies",
    "product": "viewed product pages {n} times",
    "blog": "read {n} blog posts",
    "ebook": "engaged with {n} e-books",
    "webinar": "engaged with webinars {n} times",
    "action_guide": "used {n} action guides",
}


def _quote(values) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def signals(spec: FeatureSpec, event_types: tuple[str, ...] = DEFAULT_EVENT_TYPES) -> tuple[Signal, ...]:
    """The event kinds features are built from; names must not collide."""
    out = [Signal("events", "event_type <> 'email_open'", "had {n} engagements (not counting email opens)")]
    out += [Signal(et, f"event_type = '{et}'", _EVENT_PHRASES.get(et, et.replace("_", " ") + " {n} times"))
            for et in event_types]
    out += [Signal(ct, f"content_type = '{ct}'", _CONTENT_PHRASES.get(ct, "engaged with " + ct.replace("_", " ") + " {n} times"))
            for ct in spec.content_types]
    out.append(Signal("high_intent", f"content_type IN ({_quote(spec.intent_content_types)})",
                      "showed {n} high-intent signals (pricing, demo, case studies)"))
    names = [s.name for s in out]
    clashes = {n for n in names if names.count(n) > 1}
    if clashes:
        raise ValueError(f"event types and content types share names {sorted(clashes)}; rename one of them")
    return tuple(out)


def _window(w: int) -> str:
    return {7: "7 days", 30: "30 days", 90: "90 days", 365: "year"}.get(w, f"{w} days")


def _what(signal: Signal) -> str:
    if signal.name == "events":
        return "engagement events (not counting e-mail opens)"
    return f"{signal.name.replace('_', ' ')} events"


def windowed_counts(spec: FeatureSpec, event_types) -> list[tuple[Signal, int, Feature]]:
    return [
        (s, w, Feature(f"{s.name}_count_{w}d", "engagement", "numeric",
                       f"number of {_what(s)} in the {w} days before the cutoff",
                       s.phrase.replace("{n}", "{value:.0f}").replace("{window}", "") + f" in the last {_window(w)}"))
        for s in signals(spec, event_types) for w in spec.windows_days
    ]


def manifest(spec: FeatureSpec, event_types=DEFAULT_EVENT_TYPES, extra_lead_attributes: tuple[str, ...] = ()) -> tuple[Feature, ...]:
    """All model features, in output column order."""
    feats: list[Feature] = [f for _, _, f in windowed_counts(spec, event_types)]
    for w in spec.windows_days:
        last = f"in the last {_window(w)}"
        feats += [
            Feature(f"active_days_{w}d", "engagement", "numeric", f"distinct days with engagement (not email opens), last {w} days",
                    f"active on {{value:.0f}} different days {last}"),
            Feature(f"high_intent_days_{w}d", "engagement", "numeric", f"distinct days with high-intent activity, last {w} days",
                    f"came back to high-intent pages on {{value:.0f}} days {last}"),
            Feature(f"distinct_content_{w}d", "engagement", "numeric", f"distinct content items touched, last {w} days",
                    f"engaged with {{value:.0f}} different pieces of content {last}"),
            Feature(f"time_on_page_s_{w}d", "engagement", "numeric", f"total seconds on pages, last {w} days",
                    f"spent {{value_minutes:.0f}} minutes on the site {last}"),
            Feature(f"mean_time_on_page_s_{w}d", "engagement", "numeric", f"mean seconds per page view, last {w} days",
                    f"spent {{value:.0f}} seconds per page on average {last}"),
            Feature(f"stitched_events_{w}d", "engagement", "numeric",
                    f"anonymous events linked to the lead by an identity known before the cutoff, last {w} days",
                    f"had {{value:.0f}} visits before identifying themselves {last}"),
        ]
    for w in spec.windows_days:
        if w >= 90:
            feats.append(Feature(f"email_click_rate_{w}d", "engagement", "numeric",
                                 f"email clicks per email open, last {w} days (opens alone are inflated by auto-opens)",
                                 f"clicked {{value_percent:.0f}}% of opened emails {f'in the last {_window(w)}'}"))
    short, long_ = spec.windows_days[0], spec.windows_days[min(2, len(spec.windows_days) - 1)]
    feats.append(Feature(f"engagement_trend_{short}d_vs_{long_}d", "engagement", "numeric",
                         f"daily engagement rate in the last {short} days over that of the last {long_} days",
                         f"engagement is {{value:.1f}}x its usual level this {'week' if short == 7 else f'{short} days'}"))
    for s in signals(spec, event_types):
        feats.append(Feature(f"days_since_last_{s.name}", "engagement", "numeric",
                             f"days since the last {s.name} event (empty: none within {spec.lookback_days} days)",
                             f"last {s.name.replace('_', ' ')} {{value:.0f}} days ago", higher_is_warmer=False))
    for w in spec.account_windows_days:
        feats += [
            Feature(f"account_engaged_leads_{w}d", "engagement", "numeric",
                    f"people of the same account engaged (not just opening emails), last {w} days",
                    f"{{value:.0f}} people from the account active {f'in the last {_window(w)}'}"),
            Feature(f"account_events_{w}d", "engagement", "numeric", f"engagement events of the whole account, last {w} days",
                    f"the account engaged {{value:.0f}} times {f'in the last {_window(w)}'}"),
            Feature(f"account_high_intent_{w}d", "engagement", "numeric", f"high-intent events of the whole account, last {w} days",
                    f"the account showed {{value:.0f}} high-intent signals {f'in the last {_window(w)}'}"),
        ]
    feats += [
        Feature("account_known_leads", "fit", "numeric", "people of the account known before the cutoff",
                "{value:.0f} people known at the account"),
        Feature("account_lost_deals", "fit", "numeric", "deals of the account closed lost before the cutoff",
                "the account has {value:.0f} earlier lost deals", higher_is_warmer=False),
        Feature("account_won_deals", "fit", "numeric", "deals of the account closed won before the cutoff (expansion)",
                "the account is already a customer ({value:.0f} won deals)"),
        Feature("account_open_deals", "fit", "numeric", "other deals of the account open at the cutoff",
                "the account has {value:.0f} open deals with sales"),
        Feature("industry", "fit", "categorical", "the account's vertical", "industry: {value}"),
        Feature("company_size", "fit", "numeric", "employees", "{value:,.0f} employees"),
        Feature("company_size_band", "fit", "categorical", "employee band", "company size {value}"),
        Feature("country", "fit", "categorical", "country", "based in {value}"),
        Feature("lead_source", "fit", "categorical", "how the lead was acquired", "came from {value}"),
        Feature("title_seniority", "fit", "categorical", "seniority parsed from the free-text title", "{value_title}-level title"),
        Feature("title_function", "fit", "categorical", "function parsed from the free-text title", "works in {value}"),
        Feature("lead_age_days", "fit", "numeric", "days since the lead became known", "known for {value:.0f} days",
                higher_is_warmer=False),
    ]
    feats += [Feature(a, "fit", "categorical", f"stated on the lead's form: {a.replace('_', ' ')}",
                      a.replace("_", " ") + ": {value}") for a in extra_lead_attributes]
    return tuple(feats)


def categorical_features(features: tuple[Feature, ...]) -> list[str]:
    return [f.name for f in features if f.kind == "categorical"]
