"""The shared engagement features in idiomatic pandas: the way a data scientist would write them.

One cutoff at a time: keep the events known at the cutoff, then per window a few
``groupby`` counts, unstacked by event and content type. No tricks beyond reading
only the needed columns and making the type columns categorical.

Usage: ``python -m benchmarks.peers.pandas_features DATA_DIR SPINE.parquet OUT.parquet``
(prints ``RESULT rows=... seconds=...``; the seconds cover reading the data to writing the output).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd

from benchmarks.peers.shared import (
    CONTENT_TYPES,
    EVENT_TYPES,
    INTENT_CONTENT_TYPES,
    LOOKBACK_DAYS,
    SIGNALS,
    WINDOWS_DAYS,
    attributed_events,
    count_name,
    feature_names,
    read_spine,
)


def features_at(events: pd.DataFrame, cutoff: pd.Timestamp, lead_ids: pd.Index) -> pd.DataFrame:
    """The shared features of ``lead_ids`` at ``cutoff`` from attributed ``events``."""
    known = events[(events["known_at"] < cutoff) & (events["occurred_at"] >= cutoff - pd.Timedelta(days=LOOKBACK_DAYS))]
    parts = []
    for w in WINDOWS_DAYS:
        window = known[known["occurred_at"] >= cutoff - pd.Timedelta(days=w)]
        engaged = window[window["event_type"] != "email_open"]
        intent = window[window["content_type"].isin(INTENT_CONTENT_TYPES)]
        by_event = window.groupby(["lead_id", "event_type"], observed=True).size().unstack(fill_value=0)
        by_content = window.groupby(["lead_id", "content_type"], observed=True).size().unstack(fill_value=0)
        parts += [
            by_event.reindex(columns=list(EVENT_TYPES)).rename(columns=lambda s: count_name(s, w)),
            by_content.reindex(columns=list(CONTENT_TYPES)).rename(columns=lambda s: count_name(s, w)),
            engaged.groupby("lead_id").size().rename(count_name("events", w)),
            intent.groupby("lead_id").size().rename(count_name("high_intent", w)),
            engaged.groupby("lead_id")["day"].nunique().rename(f"active_days_{w}d"),
            intent.groupby("lead_id")["day"].nunique().rename(f"high_intent_days_{w}d"),
            window.groupby("lead_id")["content_id"].nunique().rename(f"distinct_content_{w}d"),
            window[window["event_type"] == "page_view"].groupby("lead_id")["duration_s"].sum()
            .rename(f"time_on_page_s_{w}d"),
            window[window["stitched"]].groupby("lead_id").size().rename(f"stitched_events_{w}d"),
        ]
    counts = pd.concat(parts, axis=1).reindex(lead_ids).fillna(0).astype("float64")
    recency = pd.concat([_last_day(known, s).rename(f"days_since_last_{s}") for s in SIGNALS], axis=1)
    recency = (cutoff - recency.reindex(lead_ids)).apply(lambda c: c.dt.days).astype("float64")
    frame = pd.concat([counts, recency], axis=1)
    frame.index.name = "lead_id"
    return frame


def _last_day(known: pd.DataFrame, signal: str) -> pd.Series:
    if signal == "events":
        rows = known[known["event_type"] != "email_open"]
    elif signal == "high_intent":
        rows = known[known["content_type"].isin(INTENT_CONTENT_TYPES)]
    elif signal in EVENT_TYPES:
        rows = known[known["event_type"] == signal]
    else:
        rows = known[known["content_type"] == signal]
    return rows.groupby("lead_id")["day"].max()


def build(data_dir: Path, spine: pd.DataFrame) -> pd.DataFrame:
    cutoffs = sorted(spine["cutoff"].unique())
    events = attributed_events(data_dir, pd.Timestamp(cutoffs[0]), pd.Timestamp(cutoffs[-1]))
    frames = []
    for cutoff, rows in spine.groupby("cutoff"):
        frame = features_at(events, pd.Timestamp(cutoff), pd.Index(rows["lead_id"].unique(), name="lead_id"))
        frames.append(frame.reset_index().assign(cutoff=cutoff))
    out = pd.concat(frames, ignore_index=True)
    return out[["lead_id", "cutoff", *feature_names()]]


def main(data_dir: str, spine_path: str, out_path: str) -> None:
    started = time.perf_counter()
    spine = read_spine(Path(spine_path))
    out = build(Path(data_dir), spine)
    out.to_parquet(out_path, index=False)
    print(f"RESULT rows={len(out)} seconds={time.perf_counter() - started:.2f}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
