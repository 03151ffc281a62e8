"""A plain-text summary of an export: what a user checks before trusting a run."""

from __future__ import annotations

from pathlib import Path

from features.contract import FEEDBACK_MEANINGS, TABLES
from features.spine import cutoff_grid, mature_cutoffs, monday_on_or_before
from pipelines.config import Params
from pipelines.inputs import open_data
from pipelines.sources import DataTables


def summarise(data: DataTables | str | Path, config: Params) -> str:
    """What an export holds; ``data`` is an export directory (read and validated here) or opened tables."""
    tables = data if isinstance(data, DataTables) else open_data(data, config)
    con = tables.con
    data_dir = tables.directory
    start, end = tables.data_start(), tables.data_end()
    lines = [f"{data_dir}: contract OK (digest {tables.digest()[:12]})",
             f"  history      {start:%Y-%m-%d} .. {end:%Y-%m-%d %H:%M} UTC"]
    for name in TABLES:
        lines.append(f"  {name:<12} {tables.count(name):>12,} rows" if tables.has(name) else f"  {name:<12} (absent)")
    if tables.duplicate_events_dropped:
        lines.append(f"  duplicates   {tables.duplicate_events_dropped:,} repeated event_id rows dropped")
    anonymous, per_lead = con.execute(
        "SELECT avg((lead_id IS NULL)::INT), count(*) / nullif(count(DISTINCT lead_id), 0) FROM events"
    ).fetchone()
    lines.append(f"  events       {per_lead:,.1f} per active lead; {anonymous:.1%} anonymous")
    mix = con.execute(
        "SELECT event_type, count(*) AS n FROM events GROUP BY 1 ORDER BY n DESC"
    ).fetchall()
    lines.append("  event types  " + ", ".join(f"{kind} {n:,}" for kind, n in mix))
    if tables.has("deals"):
        deals = dict(con.execute("SELECT status, count(*) FROM deals GROUP BY 1").fetchall())
        lines.append("  deals        " + ", ".join(f"{deals.get(s, 0):,} {s}" for s in ("won", "lost", "open")))
    if tables.has("feedback"):
        meanings = config.data.feedback_dispositions
        said = con.execute("SELECT disposition, count(*) FROM feedback GROUP BY 1").fetchall()
        counts = {m: sum(n for word, n in said if meanings.get(word) == m) for m in FEEDBACK_MEANINGS}
        lines.append("  feedback     " + ", ".join(f"{n:,} {m.replace('_', ' ')}" for m, n in counts.items()))
    cutoffs = cutoff_grid(start, end, config.spine)
    mature, immature = mature_cutoffs(cutoffs, end, config.spine.horizon_days, config.spine.settle_days)
    lines.append(f"  cutoffs      {len(cutoffs)} every {config.spine.slide_days} days "
                 f"({len(mature)} mature, {len(immature)} too recent for a {config.spine.horizon_days}-day label)")
    lines.append(f"  score date   {monday_on_or_before(end):%Y-%m-%d} (latest Monday 00:00 UTC in the data)")
    return "\n".join(lines)
