"""What the peers compute, and the input preparation every peer needs, written once.

The peers run in two environments: the pandas peer in leadscore's own (pandas 3), the
featuretools peer in ``.venv-bench`` (pandas < 3, no leadscore installed). So this module
imports nothing of leadscore; ``tests/benchmarks`` checks that its constants and names
match ``features.definitions`` and that leadscore's builder agrees with the peers.

The shared features: the lead-level engagement family of leadscore's manifest.

* ``{signal}_count_{w}d``: events of each signal in ``[t - w days, t)``; the signals are
  ``events`` (everything but email opens), each event type, each content type and
  ``high_intent`` (pricing, demo requests, case studies);
* ``active_days_{w}d`` and ``high_intent_days_{w}d``: distinct UTC days with such events;
* ``distinct_content_{w}d``: distinct ``content_id``;
* ``time_on_page_s_{w}d``: seconds of page views;
* ``stitched_events_{w}d``: anonymous events attributed to the lead through an identity;
* ``days_since_last_{signal}``: whole days from the latest such event's day to the
  cutoff's day; empty when there is none in the last 365 days.

Left out: the account (buying-committee) and deal-history features, firmographics,
title parsing, ratios derived from the counts, and the journey stage. leadscore's
timed build computes all of them as well, so the comparison favours the peers.

Point-in-time rules, the same as leadscore's: an event counts for a lead at cutoff
``t`` only once it is *known*: ``occurred_at < t``, ``ingested_at <= t`` when present,
and, for an anonymous event attributed through an identity, ``identified_at < t``
(the earliest identification of that cookie as that lead). Repeated ``event_id`` keep
the copy that became known first.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

EVENT_TYPES = ("page_view", "form_submit", "email_open", "email_click", "content_download", "webinar_register",
               "webinar_attend")
CONTENT_TYPES = ("blog", "case_study", "ebook", "webinar", "action_guide", "pricing", "product", "demo_request")
INTENT_CONTENT_TYPES = ("pricing", "demo_request", "case_study")
WINDOWS_DAYS = (7, 30, 90, 365)
LOOKBACK_DAYS = WINDOWS_DAYS[-1]
SIGNALS = ("events", *EVENT_TYPES, *CONTENT_TYPES, "high_intent")


def count_name(signal: str, window_days: int) -> str:
    return f"{signal}_count_{window_days}d"


def feature_names() -> list[str]:
    """The shared feature columns, in a fixed order."""
    names = [count_name(s, w) for s in SIGNALS for w in WINDOWS_DAYS]
    for w in WINDOWS_DAYS:
        names += [f"active_days_{w}d", f"high_intent_days_{w}d", f"distinct_content_{w}d", f"time_on_page_s_{w}d",
                  f"stitched_events_{w}d"]
    names += [f"days_since_last_{s}" for s in SIGNALS]
    return names


def read_table(data_dir: Path, name: str, columns: list[str] | None = None) -> pd.DataFrame | None:
    """One contract table from ``NAME.parquet`` (the layout the benchmark data uses); None if absent.

    Timestamps become naive UTC, as inside leadscore.
    """
    path = Path(data_dir) / f"{name}.parquet"
    if not path.exists():
        return None
    if columns is not None:
        import pyarrow.parquet as pq

        present = set(pq.read_schema(path).names)
        columns = [c for c in columns if c in present]
    frame = pd.read_parquet(path, columns=columns)
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
            frame[column] = frame[column].dt.tz_convert("UTC").dt.tz_localize(None)
    return frame


def attributed_events(data_dir: Path, first_cutoff: pd.Timestamp, last_cutoff: pd.Timestamp) -> pd.DataFrame:
    """Events tied to a lead, with when each became known (``known_at``: it counts at t iff known_at < t).

    Columns: lead_id, occurred_at, known_at, day (UTC midnight), event_type, content_type
    (categories), content_id, duration_s, stitched. Only events that can fall in a window
    of some cutoff in ``[first_cutoff, last_cutoff]`` are kept.
    """
    events = read_table(data_dir, "events", ["occurred_at", "lead_id", "anonymous_id", "event_type", "content_type",
                                            "content_id", "duration_s", "event_id", "ingested_at"])
    events = events[(events["occurred_at"] >= first_cutoff - pd.Timedelta(days=LOOKBACK_DAYS))
                    & (events["occurred_at"] < last_cutoff)]
    # a late-ingested row is known one microsecond before its ingestion instant, so ingested_at <= t counts at t
    known = events["occurred_at"]
    if "ingested_at" in events:
        known = pd.concat([known, events["ingested_at"] - pd.Timedelta(microseconds=1)], axis=1).max(axis=1)
    events = events.assign(known_at=known)
    if "event_id" in events and events["event_id"].notna().any():
        # re-sent rows: keep the copy known first, so a late re-send never rewrites an earlier cutoff's view
        events = events.sort_values(["known_at", "occurred_at"], kind="stable")
        events = events[events["event_id"].isna() | ~events["event_id"].duplicated()]
    direct = events[events["lead_id"].notna()].assign(stitched=False)
    identities = read_table(data_dir, "identities")
    parts = [direct]
    if identities is not None and len(identities):
        first_seen = identities.groupby(["anonymous_id", "lead_id"], as_index=False)["identified_at"].min()
        anonymous = events[events["lead_id"].isna() & events["anonymous_id"].notna()].drop(columns="lead_id")
        stitched = anonymous.merge(first_seen, on="anonymous_id")
        stitched["known_at"] = stitched[["known_at", "identified_at"]].max(axis=1)
        parts.append(stitched.drop(columns="identified_at").assign(stitched=True))
    out = pd.concat(parts, ignore_index=True)
    out = out.drop(columns=[c for c in ("anonymous_id", "event_id", "ingested_at") if c in out])
    out["day"] = out["occurred_at"].dt.floor("D")
    out["event_type"] = out["event_type"].astype("category")
    out["content_type"] = out["content_type"].astype("category")
    return out


def read_spine(path: Path) -> pd.DataFrame:
    """The (lead_id, cutoff) rows to compute, written by ``benchmarks.steps spines``."""
    spine = pd.read_parquet(path, columns=["lead_id", "cutoff"])
    if isinstance(spine["cutoff"].dtype, pd.DatetimeTZDtype):
        spine["cutoff"] = spine["cutoff"].dt.tz_convert("UTC").dt.tz_localize(None)
    return spine
