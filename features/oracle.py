"""What a simulated world's ``truth.parquet`` means, written into the file so that nothing compares it to another label.

Every simulator's oracle (``p_true``) is the exact probability of one label: a won deal
created in ``[t, t + horizon_days)``. The file records that label and horizon; training
and ``evaluate`` compare a model with the oracle only when the spine labels rows the same
way, and otherwise say why the oracle metrics are left out.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

LABEL = "won_deal_created"  # the label kind every simulator's p_true is the probability of
METADATA = b"leadscore.truth"


def stamped(table: pa.Table, horizon_days: int) -> pa.Table:
    """``table`` with its meaning (label kind and horizon) in the schema metadata."""
    meaning = json.dumps({"label": LABEL, "horizon_days": int(horizon_days)}).encode()
    return table.replace_schema_metadata({**(table.schema.metadata or {}), METADATA: meaning})


def mismatch(path: Path, label: str, horizon_days: int) -> str | None:
    """Why the oracle of ``path`` cannot be compared with rows labelled ``label`` over ``horizon_days``, or None."""
    recorded = (pq.read_schema(path).metadata or {}).get(METADATA)
    if recorded is None:
        return f"{path} does not say which label it is the probability of (written by an older leadscore): generate it again"
    meaning = json.loads(recorded)
    if meaning["label"] != label:
        return (f"{path} is the probability of {meaning['label']}; spine.label is {label}, which the simulators have "
                "no exact oracle for")
    if meaning["horizon_days"] != horizon_days:
        return (f"{path} is for a {meaning['horizon_days']}-day horizon; spine.horizon_days is {horizon_days}: generate "
                "the data again with this horizon")
    return None
