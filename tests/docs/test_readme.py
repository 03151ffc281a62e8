"""The README's worked example of bringing your own data runs as written.

Its CSV files, its conversion script and its ``params.yaml`` excerpt are read out of
README.md, run in a temporary folder, and the result must pass the contract check with
every activity mapped as the README says. Fast and offline.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

README = Path(__file__).resolve().parents[2] / "README.md"
LEADSCORE = Path(sys.executable).with_name("leadscore")


def section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def fenced(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M)


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("byod")
    text = section("Bringing your own data")
    files = re.findall(r"`(hubspot-export/\w+\.csv)`.*?^```csv\n(.*?)^```", text, flags=re.S | re.M)
    assert [name for name, _ in files] == ["hubspot-export/contacts.csv", "hubspot-export/activities.csv",
                                           "hubspot-export/deals.csv"]
    for name, content in files:
        (folder / name).parent.mkdir(exist_ok=True)
        (folder / name).write_text(content, encoding="utf-8")
    [script] = fenced(text, "python")
    [excerpt] = fenced(text, "yaml")
    params = yaml.safe_load(README.with_name("params.yaml").read_text())
    for key, values in yaml.safe_load(excerpt).items():  # the README's keys, edited into the project's file
        params[key].update(values)
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    converted = subprocess.run([sys.executable, "-c", script], cwd=folder, capture_output=True, text=True, timeout=120)
    assert converted.returncode == 0, converted.stderr
    data = folder / "data" / "mycompany"
    tables = {name: pd.read_parquet(data / f"{name}.parquet") for name in ("leads", "events", "identities", "deals")}
    return {"folder": folder, "data": data, "stdout": converted.stdout, "tables": tables}


def test_the_example_export_passes_the_contract_check(example):
    result = subprocess.run([str(LEADSCORE), "validate", "data/mycompany"], cwd=example["folder"], capture_output=True,
                            text=True, timeout=120, env={**os.environ, "NO_COLOR": "1"})
    assert result.returncode == 0, result.stderr
    assert "contract OK" in result.stdout
    assert "leads                   3 rows" in result.stdout


def test_unknown_activity_types_are_reported_and_left_out(example):
    assert "activity types left out: {'Chat started': 1}" in example["stdout"]
    assert len(example["tables"]["events"]) == 8


def test_activities_map_to_event_and_content_types(example):
    events = example["tables"]["events"].set_index("occurred_at").sort_index()
    at = lambda moment: events.loc[pd.Timestamp(moment, tz="UTC")]  # noqa: E731
    assert (at("2025-03-02T16:20:00Z")[["event_type", "content_type"]] == ["page_view", "pricing"]).all()
    assert (at("2025-03-04T09:12:00Z")[["event_type", "content_type"]] == ["form_submit", "demo_request"]).all()
    assert (at("2025-03-06T08:31:00Z")[["event_type", "content_type", "content_id"]]
            == ["email_click", "case_study", "newsletter-12"]).all()
    assert at("2025-03-01T10:00:00Z")["content_id"] == "/blog/lead-scoring"
    assert pd.isna(at("2025-03-06T08:30:00Z")["content_type"])
    assert at("2025-03-11T11:00:00Z")["event_type"] == "webinar_register"


def test_visitor_cookies_become_identities_at_first_sight_with_a_contact(example):
    identities = example["tables"]["identities"].sort_values("anonymous_id").reset_index(drop=True)
    assert identities["anonymous_id"].tolist() == ["v-77", "v-91"]
    assert identities["lead_id"].tolist() == ["501", "503"]
    assert identities["identified_at"].tolist() == [pd.Timestamp("2025-03-04T09:12:00Z"),
                                                    pd.Timestamp("2025-04-03T10:00:00Z")]


def test_deal_stages_become_statuses_and_open_deals_have_no_close_date(example):
    deals = example["tables"]["deals"].set_index("deal_id")
    assert deals["status"].to_dict() == {"D-1": "won", "D-2": "lost", "D-3": "open"}
    assert pd.isna(deals.loc["D-3", "closed_at"]) and deals.loc[["D-1", "D-2"], "closed_at"].notna().all()


def test_naive_export_times_are_read_as_utc(example):
    from pipelines.sources import open_tables

    tables = open_tables(example["data"])
    created = tables.con.execute("SELECT created_at FROM leads WHERE lead_id = '501'").fetchall()[0][0]
    assert created == pd.Timestamp("2025-03-04 09:12:00").to_pydatetime()


def test_the_exit_code_table_is_the_cli_s():
    """README "Exit codes" lists exactly the codes the CLI uses, with the same meanings."""
    import re

    from pipelines.cli import EXIT_CODES

    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Exit codes"):text.index("## Troubleshooting")]
    rows = dict(re.findall(r"^\| (\d) \| (.+?) \|$", section, re.M))
    assert {int(code): meaning for code, meaning in rows.items()} == EXIT_CODES
