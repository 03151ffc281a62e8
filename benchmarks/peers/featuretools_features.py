"""The shared engagement features with featuretools: DFS over leads <- events, with cutoff times.

Runs in ``.venv-bench`` (featuretools 1.31 needs pandas < 3). The features are given to
``ft.dfs`` as seed features (aggregations with ``where`` clauses), so DFS computes exactly
the shared set and nothing more; each window is one DFS call with that ``training_window``
and ``include_cutoff_time=False`` (events strictly before the cutoff, window
``[t - w, t)``, as leadscore's).

featuretools has one time index per table, so it cannot tell when a row happened from
when it became known (late ingestion, an identity resolved later). The events known at a
cutoff are therefore selected in pandas before the DFS calls of that cutoff, one
EntitySet per cutoff; that preparation is part of the timed work, as it would be for a
featuretools user.

Usage: ``python -m benchmarks.peers.featuretools_features DATA_DIR SPINE.parquet OUT.parquet``.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from pathlib import Path

import featuretools as ft
import pandas as pd
from featuretools.primitives import Count, NumUnique, Sum, TimeSinceLast

from benchmarks.peers.shared import (
    CONTENT_TYPES,
    EVENT_TYPES,
    LOOKBACK_DAYS,
    WINDOWS_DAYS,
    attributed_events,
    count_name,
    feature_names,
    read_spine,
)


def entityset(events: pd.DataFrame, lead_ids) -> ft.EntitySet:
    events = events.assign(
        event_row=range(len(events)),
        engaged=events["event_type"] != "email_open",
        high_intent=events["content_type"].isin(("pricing", "demo_request", "case_study")),
        day=(events["day"] - pd.Timestamp("1970-01-01")).dt.days,
    )[["event_row", "lead_id", "occurred_at", "event_type", "content_type", "content_id", "duration_s", "stitched",
       "engaged", "high_intent", "day"]]
    es = ft.EntitySet("engagement")
    es.add_dataframe(dataframe_name="leads", dataframe=pd.DataFrame({"lead_id": pd.Series(lead_ids, dtype="string")}),
                     index="lead_id")
    es.add_dataframe(dataframe_name="events", dataframe=events, index="event_row", time_index="occurred_at",
                     logical_types={"lead_id": "Categorical", "event_type": "Categorical",
                                    "content_type": "Categorical", "content_id": "Categorical", "day": "Categorical",
                                    "duration_s": "Double", "stitched": "Boolean", "engaged": "Boolean",
                                    "high_intent": "Boolean"})
    es.add_relationship("leads", "lead_id", "events", "lead_id")
    return es


def seed_features(es: ft.EntitySet, window_days: int) -> dict[str, ft.Feature]:
    """Our feature name -> its featuretools definition, for one window (recency with the longest)."""
    column = {name: ft.IdentityFeature(es["events"].ww[name]) for name in
              ("event_row", "event_type", "content_type", "content_id", "duration_s", "stitched", "engaged",
               "high_intent", "day", "occurred_at")}
    where = {"events": column["engaged"] == True, "high_intent": column["high_intent"] == True}  # noqa: E712
    where |= {et: column["event_type"] == et for et in EVENT_TYPES}
    where |= {ct: column["content_type"] == ct for ct in CONTENT_TYPES}

    def agg(base, primitive, condition=None):
        return ft.Feature(base, parent_dataframe_name="leads", primitive=primitive, where=condition)

    w = window_days
    features = {count_name(s, w): agg(column["event_row"], Count, condition) for s, condition in where.items()}
    features |= {
        f"active_days_{w}d": agg(column["day"], NumUnique, where["events"]),
        f"high_intent_days_{w}d": agg(column["day"], NumUnique, where["high_intent"]),
        f"distinct_content_{w}d": agg(column["content_id"], NumUnique),
        f"time_on_page_s_{w}d": agg(column["duration_s"], Sum, where["page_view"]),
        f"stitched_events_{w}d": agg(column["event_row"], Count, column["stitched"] == True),  # noqa: E712
    }
    if w == LOOKBACK_DAYS:
        features |= {f"days_since_last_{s}": agg(column["occurred_at"], TimeSinceLast, condition)
                     for s, condition in where.items()}
    return features


def features_at(events: pd.DataFrame, cutoff: pd.Timestamp, lead_ids) -> pd.DataFrame:
    es = entityset(events[events["known_at"] < cutoff], lead_ids)
    cutoff_time = pd.DataFrame({"lead_id": pd.Series(lead_ids, dtype="string"), "time": cutoff})
    parts = []
    for w in WINDOWS_DAYS:
        seeds = seed_features(es, w)
        matrix = ft.dfs(entityset=es, target_dataframe_name="leads", cutoff_time=cutoff_time,
                        seed_features=list(seeds.values()), agg_primitives=[], trans_primitives=[],
                        where_primitives=[], max_depth=1, training_window=f"{w} days", include_cutoff_time=False,
                        features_only=False, verbose=False)[0]
        matrix = matrix[[f.get_name() for f in seeds.values()]]
        matrix.columns = list(seeds)
        parts.append(matrix)
    frame = pd.concat(parts, axis=1)
    for name in frame.columns:
        if name.startswith("days_since_last_"):
            # seconds from the last event to a midnight cutoff -> whole days between their UTC dates
            frame[name] = frame[name].map(lambda s: math.ceil(s / 86400) if pd.notna(s) else float("nan"))
    frame.index = frame.index.astype(str)
    frame.index.name = "lead_id"
    return frame.astype("float64").fillna({n: 0.0 for n in frame.columns if not n.startswith("days_since_last_")})


def build(data_dir: Path, spine: pd.DataFrame) -> pd.DataFrame:
    cutoffs = sorted(spine["cutoff"].unique())
    events = attributed_events(data_dir, pd.Timestamp(cutoffs[0]), pd.Timestamp(cutoffs[-1]))
    frames = []
    for cutoff, rows in spine.groupby("cutoff"):
        frame = features_at(events, pd.Timestamp(cutoff), rows["lead_id"].astype(str).unique())
        frames.append(frame.reset_index().assign(cutoff=cutoff))
    out = pd.concat(frames, ignore_index=True)
    return out[["lead_id", "cutoff", *feature_names()]]


def main(data_dir: str, spine_path: str, out_path: str) -> None:
    warnings.filterwarnings("ignore")  # featuretools warns about every where-clause and dtype; the output is checked
    started = time.perf_counter()
    out = build(Path(data_dir), read_spine(Path(spine_path)))
    out.to_parquet(out_path, index=False)
    print(f"RESULT rows={len(out)} seconds={time.perf_counter() - started:.2f}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
