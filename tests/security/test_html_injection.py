"""No value from an export can run in a page leadscore writes: the weekly report and the validation Data Docs.

The small world of ``tests/conftest.py`` is rewritten so that every id and free-text value that can
reach a page carries a payload (``hostile.HTML_PAYLOADS``), plus SQL. The ids keep the world's
structure (each one is its payload and the original id), so the champion scores it as usual and
the report's top list, accounts and movers are all made of hostile values; categories the model
never saw reach the report's warnings. The same export, with rule-breaking values added, goes
through ``leadscore validate`` for the Data Docs. Each page is then opened in headless Chromium
(did any payload run?) and parsed (is any payload markup rather than text?), and the payloads must
be shown, as text, where the user expects them.
"""

from __future__ import annotations

import html
import shutil
import zlib
from pathlib import Path

import pandas as pd
import pytest

from pipelines import sinks
from pipelines.inputs import validate_directory
from pipelines.validation_record import write_results
from tests.e2e.test_scoring import latest_monday
from tests.postgres import new_database
from tests.security.hostile import (
    HTML_PAYLOADS,
    SQL_PAYLOAD,
    live_markup,
    marks_in_chromium,
)

pytestmark = pytest.mark.slow

# every value of these columns carries a payload; the display columns too, since the report shows them beside each lead
ID_COLUMNS = {"leads": ("lead_id", "account_id", "full_name", "company", "owner"),
              "events": ("lead_id", "anonymous_id", "content_id"),
              "identities": ("anonymous_id", "lead_id"), "deals": ("deal_id", "lead_id", "account_id"),
              "feedback": ("lead_id",)}
TEXT_COLUMNS = ("industry", "country", "lead_source", "stated_goal", "title")  # some rows get a payload instead


def hostile(value) -> str | None:
    """``value`` behind a payload; the same value always gets the same payload, so joins still match."""
    if value is None or pd.isna(value):
        return None
    choice = zlib.crc32(str(value).encode())
    payload = SQL_PAYLOAD if choice % 7 == 0 else HTML_PAYLOADS[choice % len(HTML_PAYLOADS)]
    return f"{payload}{value}"


def hostile_export(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    (target / "truth.parquet").unlink(missing_ok=True)
    for table, columns in ID_COLUMNS.items():
        path = target / f"{table}.parquet"
        frame = pd.read_parquet(path)
        for column in columns:
            if column in frame:
                frame[column] = [hostile(v) for v in frame[column]]
        if table == "leads":
            for number, column in enumerate(c for c in TEXT_COLUMNS if c in frame):
                rows = frame.index[number::25]  # 4 % of the leads: values never seen in training
                frame.loc[rows, column] = HTML_PAYLOADS[number % len(HTML_PAYLOADS)]
        if table == "feedback":  # what sales typed: shown beside the lead and in the report's reasons
            frame["reason"] = [HTML_PAYLOADS[i % len(HTML_PAYLOADS)] + "no budget" for i in range(len(frame))]
        frame.to_parquet(path, index=False)
    return target


def pages(folder: Path) -> list[Path]:
    found = sorted(folder.rglob("*.html"))
    assert found, f"no HTML page under {folder}"
    return found


def assert_inert(page: Path) -> str:
    text = page.read_text(encoding="utf-8")
    assert not live_markup(text), f"{page}: payloads as markup: {live_markup(text)[:3]}"
    assert not marks_in_chromium(page), f"{page}: a payload ran in Chromium"
    return html.unescape(text)


@pytest.fixture
def scores_database(postgres_url):
    with new_database(postgres_url, "hostile") as url:
        yield url


@pytest.fixture(scope="module")
def export(world, tmp_path_factory):
    return hostile_export(world["data"], tmp_path_factory.mktemp("hostile") / "export")


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_the_weekly_report_shows_hostile_values_as_text_and_stores_them_as_typed(world, champion, export, tmp_path,
                                                                                 request, backend):
    from pipelines.score import run_scoring

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'scores.db'}"
    else:
        url = request.getfixturevalue("scores_database")
    as_of = latest_monday(export)
    result = run_scoring(export, world["config"], as_of=f"{as_of:%Y-%m-%d}", db_url=url, out_dir=tmp_path / "out")
    shown = assert_inert(*pages(tmp_path / "out"))
    top = result.scores.head(world["config"].score.top_leads_in_report)
    assert all(lead in shown for lead in top["lead_id"])  # the hostile ids are in the report, as text
    assert any(payload in shown for payload in HTML_PAYLOADS)
    unseen = [w for w in result.warnings if "never seen in training" in w]
    assert unseen and any(payload[:20] in w for w in unseen for payload in HTML_PAYLOADS)
    assert unseen[0][:60] in shown  # the warning that quotes them is in the report too
    said = top["sales_feedback_reason"].dropna()
    assert len(said) and all(reason in shown for reason in said)  # sales' free text, as text

    engine = sinks.engine_for(url, "sqlite:///unused.db")
    try:
        stored = sinks.read_week(engine, as_of)
        assert set(stored["lead_id"]) == set(result.scores["lead_id"])  # bound, not spliced: stored as typed
        assert stored["lead_id"].str.startswith(SQL_PAYLOAD).any()
        assert sinks.read_runs(engine)["status"].tolist() == ["succeeded"]
    finally:
        engine.dispose()


def test_the_data_docs_show_rule_breaking_hostile_values_as_text(world, export, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(export, broken)
    events = pd.read_parquet(broken / "events.parquet")
    events[["event_type", "content_type"]] = events[["event_type", "content_type"]].astype(object)
    events.loc[events.index[:len(HTML_PAYLOADS)], "event_type"] = list(HTML_PAYLOADS)  # not in the vocabulary
    events.loc[events.index[10:10 + len(HTML_PAYLOADS)], "content_type"] = list(HTML_PAYLOADS)
    events.loc[events.index[20:23], "duration_s"] = -5.0  # rows whose hostile ids are quoted as samples
    events.to_parquet(broken / "events.parquet", index=False)
    leads = pd.read_parquet(broken / "leads.parquet")
    pd.concat([leads, leads.head(3)]).to_parquet(broken / "leads.parquet", index=False)  # duplicate hostile ids

    outcome, _ = validate_directory(broken, world["config"])
    broken_rules = {(f.table, f.column, f.rule) for f in outcome.errors}
    assert broken_rules >= {("events", "event_type", "allowed values"), ("leads", "lead_id", "unique"),
                            ("events", "duration_s", ">= 0")}
    written = write_results(outcome, tmp_path / "validation")
    assert written["page"].parent == tmp_path / "validation"
    shown = "".join(assert_inert(page) for page in pages(tmp_path / "validation"))  # our page and GX's Data Docs
    own = assert_inert(written["page"])
    assert all(payload in own for payload in HTML_PAYLOADS)  # the self-contained page lists them too, as text
    assert all(payload in shown for payload in HTML_PAYLOADS)  # the failing event types are listed, as text
    assert leads["lead_id"].iloc[0] in shown  # and so is a duplicated hostile id
