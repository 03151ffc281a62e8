"""Reason codes: the model's SHAP contributions turned into sentences marketing ops can act on.

The top positive contributors become "why this lead is warm" (with the lead's actual
value in the sentence); the strongest negative one says what holds it back. Fit and
engagement scores sum the contributions of each feature family and express them as
percentiles of this week's population, so the two read on the same 0-100 scale.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.definitions import plural, signal_noun, window_words

GRADES_FIT = ("A", "B", "C", "D")
GRADES_ENGAGEMENT = ("1", "2", "3", "4")


def family_contributions(contributions: pd.DataFrame, manifest: list[dict]) -> pd.DataFrame:
    """Per row, the summed SHAP contributions of the fit and of the engagement features.

    Row by row, so it can run on batches (Spark executors); ``family_grades`` then needs
    the whole population, for percentiles.
    """
    family = {f["name"]: f["family"] for f in manifest}
    columns = [c for c in contributions.columns if c in family]
    return pd.DataFrame({
        "fit_contribution": contributions[[c for c in columns if family[c] == "fit"]].sum(axis=1),
        "engagement_contribution": contributions[[c for c in columns if family[c] == "engagement"]].sum(axis=1),
    }, index=contributions.index)


def family_grades(sums: pd.DataFrame, top: np.ndarray | None = None) -> pd.DataFrame:
    """fit_score, engagement_score (percentiles of the family sums in this population) and the grade.

    The grade's letter and digit are the quarter of the score among the ``top`` leads (this
    week's tiers A and B): the leads sales works. Cut at the whole population's quarters,
    nearly everyone near the top of the list was A1 and the grade said nothing where it is
    read; among the top, A1 is the best quarter of the people worth calling on both counts.
    """
    out = pd.DataFrame(index=sums.index)
    out["fit_score"] = (sums["fit_contribution"].rank(pct=True, method="average") * 100).round(1)
    out["engagement_score"] = (sums["engagement_contribution"].rank(pct=True, method="average") * 100).round(1)
    among = np.ones(len(sums), bool) if top is None or np.count_nonzero(top) < 4 else np.asarray(top, bool)
    out["grade"] = [f + e for f, e in zip(_quarters(out["fit_score"].to_numpy(), among, GRADES_FIT),
                                          _quarters(out["engagement_score"].to_numpy(), among, GRADES_ENGAGEMENT))]
    return out


def _quarters(score: np.ndarray, among: np.ndarray, labels) -> np.ndarray:
    """The label of each score's quarter, the quarters cut at the quartiles of the scores of ``among``."""
    cuts = np.quantile(score[among], [0.25, 0.5, 0.75])
    return np.array(labels)[3 - np.searchsorted(cuts, score, side="left")]


def phrase(feature: dict, value) -> str | None:
    """The feature's sentence with the lead's value, or None when the value would read as nonsense."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if feature["kind"] == "numeric":
        value = float(value)
        if feature["name"].startswith("days_since_last_"):
            pass
        elif value == 0 and feature["higher_is_warmer"]:
            return None
        fields = {"value": value, "value_minutes": value / 60, "value_percent": value * 100, "value_title": ""}
    else:
        text = str(value)
        if text in ("unknown", "", "(missing)"):
            return None
        fields = {"value": ACRONYMS.get(text, text.replace("_", " ")), "value_title": _title_word(text),
                  "value_minutes": 0, "value_percent": 0}
    template = feature["phrase"]
    if feature["kind"] == "numeric":
        template = plural(template, fields["value_minutes"] if "{value_minutes" in template else fields["value"])
    try:
        return template.format(**fields)
    except (ValueError, KeyError):
        return f"{feature['name']} = {value}"


ACRONYMS = {"it": "IT", "hr": "HR", "us": "US", "gb": "GB"}


def _title_word(seniority: str) -> str:
    return {"c_level": "C", "vp": "VP", "director": "Director", "manager": "Manager", "senior_ic": "Senior",
            "ic": "Individual-contributor", "student": "Student"}.get(seniority, seniority.replace("_", " ").title())


def reasons(contributions: pd.DataFrame, features: pd.DataFrame, manifest: list[dict], top: int = 3,
            min_contribution: float = 1e-6) -> pd.DataFrame:
    """Per row: ``reasons`` (top positive signals, '; '-joined) and ``main_negative`` (the strongest drag)."""
    by_name = {f["name"]: f for f in manifest}
    names = [c for c in contributions.columns if c in by_name and c in features.columns]
    values = contributions[names].to_numpy()
    positives, negatives = [], []
    # one array per feature, read a value at a time: a row-major object matrix of every value
    # would hold a Python object per cell (160M of them for a million leads)
    feature_values = [features[name].to_numpy(dtype=object) if features[name].dtype.kind not in "biuf"
                      else features[name].to_numpy() for name in names]
    # Values repeat a great deal (small counts, a few categories): each sentence is written once.
    said: dict = {}

    def sentence(writer, j, value):
        if value is pd.NA or (isinstance(value, float) and value != value):
            value = None  # every NaN is its own object: one key for all of them
        key = (writer, j, value)
        if key not in said:
            said[key] = writer(by_name[names[j]], value)
        return said[key]

    batch = 50_000  # rows sorted at a time: the full order matrix of a million leads would be another 1.3 GB
    for start in range(0, len(values), batch):
        order = np.argsort(-values[start:start + batch], axis=1, kind="stable")
        for offset in range(len(order)):
            i = start + offset
            found = []
            for j in order[offset]:
                if values[i, j] <= min_contribution or len(found) == top:
                    break
                text = sentence(phrase, j, feature_values[j][i])
                if text:
                    found.append(text)
            positives.append("; ".join(found))
            negative = None
            for j in order[offset][::-1]:
                if values[i, j] >= -min_contribution:
                    break
                negative = sentence(_negative, j, feature_values[j][i])
                if negative:
                    break
            negatives.append(negative or "")
    return pd.DataFrame({"reasons": positives, "main_negative": negatives}, index=contributions.index)


STALE_DAYS = 30  # a silence this long reads as holding a lead back


def _negative(feature: dict, value) -> str | None:
    """What holds the lead back, in words; None when the sentence would read as a compliment."""
    missing = value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))
    name = feature["name"]
    if feature["kind"] == "numeric" and (missing or float(value) == 0):
        if name.startswith("days_since_last_"):
            return f"no {signal_noun(name.removeprefix('days_since_last_'))} in the last year"
        if "_count_" in name:
            signal, window = name.rsplit("_count_", 1)
            days = int(window.removesuffix("d")) if window.removesuffix("d").isdigit() else None
            return f"no {signal_noun(signal)} in the last {window_words(days) if days else window}"
        return None
    if name.startswith("days_since_last_"):
        # a long silence holds a lead back; a recent visit never does, whatever the model's sign says
        days = float(value)
        noun = signal_noun(name.removeprefix("days_since_last_"))
        return plural(f"no {noun} for {days:.0f} [day|days]", days) if days >= STALE_DAYS else None
    if feature["kind"] == "numeric" and feature["higher_is_warmer"]:
        return None  # "viewed pricing 4 times" is not a reason against calling; look further
    return phrase(feature, value)
