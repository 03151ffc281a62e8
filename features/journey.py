"""The journey stage of a lead at a cutoff: Acknowledged -> Engaged -> Leaning-in, as SQL over the builder's parts.

The stage names are declared once in ``definitions.py``; the thresholds are ``StageSpec``
(``params.yaml: stage``). The rules speak of roles, never of event names, so they hold on
any vocabulary.
"""

from __future__ import annotations

from features.definitions import (
    ACKNOWLEDGED,
    ENGAGED,
    LEANING_IN,
    StageSpec,
    sql_string,
)
from features.plan import FeaturePlan


def journey_stage_sql(stage: StageSpec, plan: FeaturePlan, columns: dict[str, str]) -> str:
    """Acknowledged -> Engaged -> Leaning-in, by the thresholds in params.yaml (DESIGN section 6).

    The rules speak of roles (``features.roles``), never of event names. A term whose
    source the export lacks (no page time, no accounts, a role with no events) is left
    out of its rule rather than compared with a column that is not there; the plan
    reports those roles.
    """
    w = stage.window_days
    engaged = [f"{columns[f'active_days_{w}d']} >= {stage.engaged_min_active_days}"]
    if plan.has("signal:page_view") and plan.has("column:events.duration_s"):
        engaged.append(f"coalesce(time_on_page_ms_{w}d, 0) / 1000.0 >= {stage.engaged_min_time_on_page_s}")
    if "engaged_activity" not in plan.empty_roles:
        engaged.append(f"{columns[f'role_engaged_activity_count_{w}d']} >= {stage.engaged_min_engaged_activities}")
    engaged_sql = "(" + " OR ".join(engaged) + ")"
    leaning = []
    if "high_intent" not in plan.empty_roles:
        leaning.append(f"{columns[f'high_intent_days_{w}d']} >= {stage.leaning_in_min_high_intent_days}")
    if "sales_ready" not in plan.empty_roles:
        leaning.append(f"{columns[f'role_sales_ready_count_{w}d']} >= {stage.leaning_in_min_sales_ready}")
    if plan.has("column:leads.account_id"):
        leaning.append(f"({engaged_sql} AND coalesce(ac.account_engaged_leads_{w}d, 0) >= "
                       f"{stage.leaning_in_min_account_engaged_leads})")
    leaning_sql = "(" + " OR ".join(leaning) + ")" if leaning else "FALSE"
    return (f"CASE WHEN {leaning_sql} THEN {sql_string(LEANING_IN)} WHEN {engaged_sql} THEN {sql_string(ENGAGED)} "
            f"ELSE {sql_string(ACKNOWLEDGED)} END")
