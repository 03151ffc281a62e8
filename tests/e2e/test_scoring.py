"""The weekly scoring run end to end: champion model -> database (SQLite and PostgreSQL), CSV and HTML report.

Per backend, one scenario runs once (module scope): score the week before the
latest Monday, then the latest Monday (default ``as_of``), re-run it, then run it
again with an injected database failure. The tests check what landed against
facts recomputed independently (the population straight from the Parquet files
with DuckDB, the features from ``build_scoring_frame``).
"""

from __future__ import annotations

import csv
import functools
import html
import json
import math
import re
import shutil
import string
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from features.definitions import plural, signal_noun, window_words
from pipelines import sinks
from pipelines.scores_contract import csv_columns
from tests.fault_runner import fail_after

pytestmark = pytest.mark.slow  # end-to-end: deselect with -m "not slow"

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
HOSTILE_LEAD = "=cmd|' /C calc'!A0<img src=x>"
HOSTILE_ACCOUNT = "@SUM(1+1)"


# ---------------------------------------------------------------------------------------------------------------------
# independent facts


def population(data_dir: Path, as_of: datetime, recycle_days: int) -> set[str]:
    """Leads scoreable at ``as_of``, straight from the Parquet files: known before it, not in a deal, not a customer,
    no deal lost in the ``recycle_days`` before it."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    t = f"TIMESTAMPTZ '{as_of:%Y-%m-%d %H:%M:%S}+00'"
    leads, deals = data_dir / "leads.parquet", data_dir / "deals.parquet"
    rows = con.execute(f"""
        SELECT lead_id FROM read_parquet('{leads}') l
        WHERE l.created_at < {t}
          AND NOT EXISTS (SELECT 1 FROM read_parquet('{deals}') d WHERE d.lead_id = l.lead_id
                          AND d.created_at < {t} AND (d.closed_at IS NULL OR d.closed_at >= {t}))
          AND NOT EXISTS (SELECT 1 FROM read_parquet('{deals}') d WHERE d.lead_id = l.lead_id
                          AND d.status = 'won' AND d.closed_at < {t})
          AND NOT EXISTS (SELECT 1 FROM read_parquet('{deals}') d WHERE d.lead_id = l.lead_id AND d.status = 'lost'
                          AND d.closed_at < {t} AND d.closed_at > {t} - INTERVAL {recycle_days} DAY)""").fetchall()
    con.close()
    return {r[0] for r in rows}


def latest_monday(data_dir: Path) -> datetime:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    end = con.execute(f"""SELECT max(t) FROM (
        SELECT max(created_at) AS t FROM read_parquet('{data_dir / 'leads.parquet'}')
        UNION ALL SELECT max(occurred_at) FROM read_parquet('{data_dir / 'events.parquet'}')
        UNION ALL SELECT max(created_at) FROM read_parquet('{data_dir / 'deals.parquet'}')
        UNION ALL SELECT max(closed_at) FROM read_parquet('{data_dir / 'deals.parquet'}')
        UNION ALL SELECT max(identified_at) FROM read_parquet('{data_dir / 'identities.parquet'}'))""").fetchone()[0]
    con.close()
    day = end.date()
    return datetime.combine(day - timedelta(days=day.weekday()), datetime.min.time())


def contents(engine) -> list[tuple]:
    """Every lead_scores row (NaN shown as None so snapshots compare), in a stable order."""
    table = sinks.LEAD_SCORES
    with engine.connect() as conn:
        rows = conn.execute(select(table).order_by(table.c.as_of, table.c.lead_id)).fetchall()
    return [tuple(None if isinstance(v, float) and math.isnan(v) else v for v in row) for row in rows]


def week(engine, as_of: datetime) -> pd.DataFrame:
    return sinks.read_week(engine, as_of)


# ---------------------------------------------------------------------------------------------------------------------
# the scenario, once per backend


@dataclass
class Scenario:
    backend: str
    url: str
    engine: object
    data: Path
    out: Path
    early_as_of: datetime
    late_as_of: datetime
    early: object = None
    first: object = None
    second: object = None
    after_first: list = field(default_factory=list)
    after_second: list = field(default_factory=list)
    after_failure: list = field(default_factory=list)
    failure: BaseException | None = None
    files_before_failure: dict = field(default_factory=dict)
    files_after_failure: dict = field(default_factory=dict)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def _clean_environment():
    """Module fixtures run before the function-scoped autouse guard: drop ambient DB/MLflow settings here too."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "LEADSCORE_DB_URL"):
            patch.delenv(name, raising=False)
        yield


@pytest.fixture(scope="module", params=BACKENDS)
def scenario(request, _clean_environment, world, champion, tmp_path_factory) -> Scenario:
    from pipelines.score import run_scoring

    config = world["config"]
    if request.param == "sqlite":
        url, db_url = config.score.db_url, None  # None: the world config's database, as the CLI would pick it
    else:
        url = db_url = request.getfixturevalue("postgres_url")
    engine = sinks.engine_for(url, config.score.db_url)
    late = latest_monday(world["data"])
    out = tmp_path_factory.mktemp(f"scoring-{request.param}")
    s = Scenario(request.param, url, engine, world["data"], out, late - timedelta(days=7), late)

    s.early = run_scoring(world["data"], config, as_of=f"{s.early_as_of:%Y-%m-%d}", db_url=db_url,
                          out_dir=out / "early")
    s.first = run_scoring(world["data"], config, db_url=db_url, out_dir=out / "late")
    s.after_first = contents(engine)
    s.second = run_scoring(world["data"], config, as_of=f"{late:%Y-%m-%d}", db_url=db_url, out_dir=out / "late")
    s.after_second = contents(engine)
    s.files_before_failure = _files(out / "late")
    with pytest.MonkeyPatch.context() as patch, pytest.raises(RuntimeError, match="injected failure") as failure:
        patch.setattr(sinks, "after_batch", fail_after(1))
        run_scoring(world["data"], config, as_of=f"{late:%Y-%m-%d}", db_url=db_url, out_dir=out / "late")
    s.failure = failure.value
    s.after_failure = contents(engine)
    s.files_after_failure = _files(out / "late")
    yield s
    engine.dispose()


# ---------------------------------------------------------------------------------------------------------------------
# database


def test_default_as_of_is_the_latest_monday(scenario):
    assert scenario.first.as_of == scenario.late_as_of
    assert scenario.early.as_of == scenario.early_as_of


def test_rows_written_are_exactly_the_population(scenario, world):
    for result, as_of in ((scenario.early, scenario.early_as_of), (scenario.second, scenario.late_as_of)):
        expected = population(scenario.data, as_of, world["config"].spine.recycle_days)
        stored = week(scenario.engine, as_of)
        assert len(stored) == len(expected) > 1000
        assert set(stored["lead_id"]) == expected
        assert len(result.scores) == len(expected)


def test_probabilities_ranks_and_percentiles(scenario):
    stored = week(scenario.engine, scenario.late_as_of)
    n = len(stored)
    probability = stored["probability"].astype(float).to_numpy()
    assert np.isfinite(probability).all() and (probability >= 0).all() and (probability <= 1).all()
    assert sorted(stored["rank"]) == list(range(1, n + 1))
    ordered = stored.sort_values("rank")
    assert (np.diff(ordered["probability"].astype(float).to_numpy()) <= 1e-12).all(), "rank 1 must be the likeliest"
    assert ordered["percentile"].iloc[0] == 100.0 and 0 < ordered["percentile"].iloc[-1] <= 100.0 / n + 0.01


def test_tiers_follow_capacity(scenario, world):
    assert world["config"].tiers.by == "capacity"
    a, b, c = world["config"].tiers.capacity
    assert a == 50
    stored = week(scenario.engine, scenario.late_as_of)
    expected = np.select([stored["rank"] <= a, stored["rank"] <= b, stored["rank"] <= c], ["A", "B", "C"], "D")
    assert list(stored["tier"]) == list(expected)
    counts = stored["tier"].value_counts()
    assert counts["A"] == a and counts["B"] == b - a and counts["C"] == c - b and counts["D"] == len(stored) - c


def test_rerun_of_the_same_week_is_idempotent(scenario):
    first, second = scenario.after_first, scenario.after_second
    assert len(first) == len(second)
    run_id = sinks.SCORE_COLUMNS.index("run_id")
    strip = lambda rows: [r[:run_id] + r[run_id + 1:] for r in rows]  # noqa: E731
    assert strip(first) == strip(second)
    late = [r for r in second if r[0] == scenario.late_as_of]
    assert {r[run_id] for r in late} == {scenario.second.run_id}
    runs = sinks.read_runs(scenario.engine).set_index("run_id")
    mine = runs.loc[[scenario.first.run_id, scenario.second.run_id]]
    assert list(mine["status"]) == ["succeeded", "succeeded"]
    assert list(mine["rows_written"]) == [len(late)] * 2 and list(mine["population"]) == [len(late)] * 2
    assert mine["finished_at"].notna().all() and mine["error"].isna().all()
    recent = this_scenario(runs.reset_index(), scenario)
    succeeded_late = recent[(recent["as_of"] == scenario.late_as_of) & (recent["status"] == "succeeded")]
    assert set(succeeded_late["run_id"]) == {scenario.first.run_id, scenario.second.run_id}
    assert (recent["status"] != "running").all()


def this_scenario(runs: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """Runs recorded since this scenario began (the database may be shared with other test modules)."""
    start = runs.loc[runs["run_id"] == scenario.early.run_id, "started_at"].item()
    return runs[runs["started_at"] >= start]


def test_failed_run_leaves_the_database_and_files_as_they_were_and_is_recorded(scenario):
    assert "injected failure" in str(scenario.failure)
    assert scenario.after_failure == scenario.after_second
    assert scenario.files_after_failure == scenario.files_before_failure  # CSV and report are written after the commit
    runs = sinks.read_runs(scenario.engine)
    recent = this_scenario(runs, scenario)
    failed = recent[recent["status"] == "failed"]
    assert len(failed) == 1
    run = failed.iloc[0]
    assert run["run_id"] not in (scenario.first.run_id, scenario.second.run_id)
    assert "RuntimeError" in run["error"] and "injected failure" in run["error"]
    assert pd.notna(run["finished_at"]) and run["started_at"] >= runs.set_index("run_id").loc[
        scenario.second.run_id, "started_at"]
    assert pd.isna(run["rows_written"])


def test_changes_since_the_previous_week(scenario):
    earlier = week(scenario.engine, scenario.early_as_of).set_index("lead_id")
    now = week(scenario.engine, scenario.late_as_of).set_index("lead_id")
    both = now.index.intersection(earlier.index)
    new = now.index.difference(earlier.index)
    assert len(both) > 0.9 * len(now)
    seen = now.loc[both]
    np.testing.assert_allclose(seen["previous_probability"].astype(float),
                               earlier.loc[both, "probability"].astype(float))
    np.testing.assert_allclose(seen["score_delta"].astype(float),
                               seen["probability"].astype(float) - earlier.loc[both, "probability"].astype(float),
                               atol=1e-12)
    assert list(seen["previous_tier"]) == list(earlier.loc[both, "tier"])
    order = {"A": 0, "B": 1, "C": 2, "D": 3}
    expected_change = [("up" if order[t] < order[p] else "down" if order[t] > order[p] else "same")
                       for t, p in zip(seen["tier"], seen["previous_tier"])]
    assert list(seen["tier_change"]) == expected_change
    assert (seen["score_delta"].astype(float) != 0).any(), "a week of new events moved nobody's score"
    fresh = now.loc[new]
    assert fresh["previous_probability"].isna().all() and fresh["score_delta"].isna().all()
    assert fresh["previous_tier"].isna().all() and (fresh["tier_change"] == "new").all()
    assert list(now["new_in_top_tier"].map(bool)) == list((now["tier"] == "A") & (now["previous_tier"] != "A"))
    # absent values are SQL NULL (not NaN, which PostgreSQL would sort above every number)
    table = sinks.LEAD_SCORES
    with scenario.engine.connect() as conn:
        nulls = conn.execute(select(func.count()).select_from(table).where(
            (table.c.as_of == scenario.late_as_of) & table.c.score_delta.is_(None))).scalar()
        top = conn.execute(select(table.c.score_delta).where(
            (table.c.as_of == scenario.late_as_of) & table.c.score_delta.is_not(None))
            .order_by(table.c.score_delta.desc()).limit(1)).scalar()
    assert nulls == len(new)
    assert top == pytest.approx(float(seen["score_delta"].max()))
    # the first week had nothing before it in a fresh database; the later one points at it
    assert scenario.second.previous["as_of"].map(pd.Timestamp).eq(pd.Timestamp(scenario.early_as_of)).all()


# ---------------------------------------------------------------------------------------------------------------------
# reasons


TITLE_WORDS = {"c_level": "C", "vp": "VP", "director": "Director", "manager": "Manager", "senior_ic": "Senior",
               "ic": "Individual-contributor", "student": "Student"}


@functools.lru_cache(maxsize=None)
def _template_regex(template: str) -> tuple[re.Pattern, list[tuple[str, str]]]:
    pattern, fields = "", []
    for literal, name, spec, _ in string.Formatter().parse(template):
        pattern += re.escape(literal)
        if name is not None:
            pattern += f"(?P<f{len(fields)}>.+?)"
            fields.append((name, spec or ""))
    return re.compile(f"^{pattern}$"), fields


def _agrees(feature: dict, name: str, spec: str, shown: str, value) -> bool:
    """Whether text ``shown`` in a reason is what the lead's actual ``value`` gives for this field."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if feature["kind"] == "numeric":
        number = float(value)
        number = {"value": number, "value_minutes": number / 60, "value_percent": number * 100}.get(name)
        return number is not None and format(number, spec) == shown
    if name == "value_title":
        return TITLE_WORDS.get(str(value), str(value).replace("_", " ").title()) == shown
    return shown.lower() == str(value).replace("_", " ").lower()


def explain_reason(reason: str, features: pd.Series, manifest: list[dict]) -> list[str]:
    """The features whose phrase, filled with this lead's own value, reads exactly ``reason``."""
    out = []
    for feature in manifest:
        template, value = feature["phrase"], features.get(feature["name"])
        if feature["kind"] == "numeric" and value is not None and not pd.isna(value):
            count = float(value) / 60 if "{value_minutes" in template else float(value)
            template = plural(template, count)  # "1 minute", "59 minutes"
        regex, fields = _template_regex(template)
        match = regex.match(reason)
        if match and feature["name"] in features.index and all(
                _agrees(feature, name, spec, match.group(f"f{i}"), features[feature["name"]])
                for i, (name, spec) in enumerate(fields)):
            out.append(feature["name"])
    return out


def _absent(value, zero_counts: bool = True) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    return zero_counts and float(value) == 0


def explain_negative(negative: str, features: pd.Series, manifest: list[dict]) -> list[str]:
    """Features that make ``negative`` true: a phrase with the lead's value, or 'no ...' for a zero/absent signal."""
    found = explain_reason(negative, features, manifest)
    names = {f["name"]: f for f in manifest if f["name"] in features.index}
    signals = {name.removeprefix("days_since_last_") for name in names if name.startswith("days_since_last_")}
    by_noun = {signal_noun(signal): signal for signal in signals}
    # 'no email opened in the last 7 days': that window's count is zero
    windowed = re.fullmatch(r"no (.+) in the last (.+)", negative)
    if windowed and windowed.group(1) in by_noun:
        signal = by_noun[windowed.group(1)]
        for name in names:
            if name.startswith(f"{signal}_count_") and \
                    window_words(int(name.rsplit("_", 1)[1].removesuffix("d"))) == windowed.group(2) and \
                    _absent(features[name]):
                found.append(name)
        # 'no pricing in the last year': no such event within the recency lookback
        if windowed.group(2) == "year" and _absent(features[f"days_since_last_{signal}"], zero_counts=False):
            found.append(f"days_since_last_{signal}")
    # 'no high-intent activity for 120 days': a long silence
    silence = re.fullmatch(r"no (.+) for (\d+) days?", negative)
    if silence and silence.group(1) in by_noun:
        name = f"days_since_last_{by_noun[silence.group(1)]}"
        value = features[name]
        if not _absent(value, zero_counts=False) and f"{float(value):.0f}" == silence.group(2) and float(value) >= 30:
            found.append(name)
    # older wording: 'no ' + the feature's description up to its first comma
    for name, feature in names.items():
        if feature["kind"] == "numeric" and not name.startswith("days_since_last_") and \
                negative == "no " + feature["description"].split(",")[0].removeprefix("number of ") and \
                _absent(features[name]):
            found.append(name)
    return found


@pytest.fixture(scope="module")
def scoring_features(_clean_environment, world, champion) -> pd.DataFrame:
    """The late week's features, rebuilt with the champion's own settings (what the reasons must agree with)."""
    from features.definitions import FeatureSpec, StageSpec
    from features.training_set import build_scoring_frame
    from models.registry import load
    from pipelines.inputs import open_data
    from pipelines.score import DEFAULT_MODEL
    from pipelines.tracking import configure_mlflow

    config = world["config"]
    configure_mlflow(config.mlflow)
    model = load(DEFAULT_MODEL)
    settings = model.wrapper.settings
    tables = open_data(world["data"], config)
    table = build_scoring_frame(
        tables.con, latest_monday(world["data"]), config.spine, FeatureSpec.model_validate(settings["features"]),
        StageSpec.model_validate(settings["stage"]), tuple(settings["event_types"]),
        tuple(settings["extra_lead_attributes"]), has_identities=tables.has("identities"),
        has_deals=tables.has("deals"))
    frame = tables.con.sql(f"SELECT * FROM {table}").df().set_index("lead_id")
    frame.attrs["manifest"] = model.wrapper.manifest
    return frame


@pytest.mark.parametrize("scenario", ["sqlite"], indirect=True)  # reasons do not depend on the database
def test_reasons_are_present_for_tier_a_and_true_to_the_features(scenario, scoring_features):
    manifest = scoring_features.attrs["manifest"]
    stored = week(scenario.engine, scenario.late_as_of).set_index("lead_id")
    top = stored[stored["tier"] == "A"]
    assert len(top) == 50
    assert top["reasons"].str.len().gt(0).all(), top.loc[top["reasons"].str.len().eq(0)].index.tolist()
    unexplained, checked = [], 0
    for lead_id, row in stored.iterrows():  # every lead, not only tier A: a reason must never state a wrong value
        features = scoring_features.loc[lead_id]
        for phrase in (row["reasons"].split("; ") if row["reasons"] else []):
            checked += 1
            if not explain_reason(phrase, features, manifest):
                unexplained.append((lead_id, phrase))
        if row["main_negative"] and not explain_negative(row["main_negative"], features, manifest):
            unexplained.append((lead_id, "NEGATIVE: " + row["main_negative"]))
    assert checked >= 3 * len(top)
    assert not unexplained, unexplained[:10]


@pytest.mark.parametrize("scenario", ["sqlite"], indirect=True)  # reasons do not depend on the database
def test_reason_numbers_match_the_windowed_counts(scenario, scoring_features):
    """The plainest case, without the template machinery: 'viewed product pages N times in the last W days'."""
    stored = week(scenario.engine, scenario.late_as_of)
    pattern = re.compile(r"viewed (pricing|product pages) (\d+) times in the last (\d+) days")
    column = {"pricing": "pricing", "product pages": "product"}
    seen = 0
    for row in stored.itertuples():
        for what, n, days in pattern.findall(row.reasons or ""):
            value = scoring_features.loc[row.lead_id, f"{column[what]}_count_{days}d"]
            assert int(n) == round(value) and value > 0, (row.lead_id, row.reasons)
            seen += 1
    assert seen > 0


# ---------------------------------------------------------------------------------------------------------------------
# CSV and report


def read_csv_rows(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_csv_has_the_documented_columns_and_every_scored_lead(scenario):
    path = scenario.second.csv_path
    assert path == scenario.out / "late" / f"scores-{scenario.late_as_of:%Y-%m-%d}.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    display = scenario.second.display_columns
    assert scenario.second.sources == ("feedback",)  # the world has a feedback table: its columns are in the CSV
    assert display and header == csv_columns(tuple(display), ("feedback",))  # display columns right after lead_id
    assert header[:2 + len(display) + 5] == ["as_of", "lead_id", *display, "account_id", "probability", "rank",
                                              "percentile", "tier"]
    rows = read_csv_rows(path)
    stored = week(scenario.engine, scenario.late_as_of)
    assert [r["lead_id"] for r in rows] == list(stored["lead_id"])
    assert {r["as_of"] for r in rows} == {f"{scenario.late_as_of:%Y-%m-%d}"}
    assert {r["run_id"] for r in rows} == {scenario.second.run_id}
    np.testing.assert_allclose([float(r["probability"]) for r in rows], stored["probability"].astype(float), atol=1e-6)
    for row in rows:
        for column, value in row.items():
            assert not value.startswith("="), (column, value)
    # who each lead is, from the leads file, names with accents intact
    leads = pd.read_parquet(scenario.data / "leads.parquet", columns=["lead_id", *display]).set_index("lead_id")
    for row in rows[:200]:
        for column in display:
            assert row[column] == leads.loc[row["lead_id"], column], (row["lead_id"], column)
    assert any(not row["full_name"].isascii() for row in rows)


class _Page(HTMLParser):
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.mismatched, self.text, self.urls, self.tags = [], [], [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "action", "data", "poster") and value is not None:
                self.urls.append((tag, name, value))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if self.stack and self.stack[-1] == tag:
            self.stack.pop()
        else:
            self.mismatched.append((tag, list(self.stack[-3:])))

    def handle_data(self, data):
        self.text.append(data)


def parse_report(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def check_report(path: Path, top_lead: str) -> _Page:
    page = parse_report(path)
    assert not page.mismatched and not page.stack, (page.mismatched[:5], page.stack)
    text = " ".join(page.text)
    assert "Who to call this week" in text
    for tier in "ABCD":
        assert f"tier {tier} leads" in text
    assert top_lead in text
    source = path.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", source, re.I)
    assert "@import" not in source and "url(" not in source
    assert not {"script", "link", "iframe"} & set(page.tags)
    for tag, name, value in page.urls:
        assert value.startswith("data:image/png;base64,"), (tag, name, value[:60])
    return page


def test_report_is_well_formed_self_contained_and_names_the_top_lead(scenario):
    stored = week(scenario.engine, scenario.late_as_of)
    top = stored.loc[stored["rank"] == 1, "lead_id"].item()
    page = check_report(scenario.second.report_path, top)
    text = " ".join(page.text)
    assert f"Compared with the list of {scenario.early_as_of:%d %B %Y}" in text
    if scenario.early.previous.empty:
        assert "first scored week" in " ".join(parse_report(scenario.early.report_path).text)


def test_the_report_explains_every_column_of_the_csv_from_the_output_contract(scenario):
    """The glossary is derived from ``WEEKLY_SCORES``: a column added to the contract is explained without
    editing the template, and the report names exactly the CSV's columns."""
    from markupsafe import escape

    from pipelines.scores_contract import DISPLAY_MEANING, WEEKLY_SCORES

    text = scenario.second.report_path.read_text(encoding="utf-8")
    glossary = text[text.index("The list's columns"):text.index("About the model")]
    named = re.findall(r"<code>([^<]+)</code>", glossary)
    assert named == csv_columns(tuple(scenario.second.display_columns), scenario.second.sources) == \
        list(pd.read_csv(scenario.second.csv_path, nrows=0).columns)
    assert str(escape(DISPLAY_MEANING)) in glossary
    for column in WEEKLY_SCORES:
        if column.csv:
            assert str(escape(column.meaning)) in glossary  # as Jinja's autoescape writes it


def test_sales_feedback_reaches_the_table_the_csv_and_the_report(scenario, world):
    """Each lead's latest disposition before the Monday, and what sales said of the earlier list by tier, against
    the feedback file read independently."""
    late, meanings = scenario.late_as_of, world["config"].data.feedback_dispositions
    feedback = pd.read_parquet(scenario.data / "feedback.parquet")
    feedback["at"] = pd.to_datetime(feedback["at"]).dt.tz_convert(None)
    latest = (feedback[feedback["at"] < late].sort_values(["at", "disposition"]).groupby("lead_id").tail(1)
              .set_index("lead_id"))
    stored = week(scenario.engine, late).set_index("lead_id")
    expected = latest.reindex(stored.index)
    assert stored["sales_feedback"].notna().sum() == expected["disposition"].notna().sum() > 0
    assert (stored["sales_feedback"].fillna("-") == expected["disposition"].fillna("-")).all()
    worked = expected["disposition"].notna()
    assert (pd.to_datetime(stored.loc[worked, "sales_feedback_at"]) == expected.loc[worked, "at"]).all()
    rows = {r["lead_id"]: r for r in read_csv_rows(scenario.second.csv_path)}
    for lead, row in expected[worked].iterrows():
        assert rows[lead]["sales_feedback"] == row["disposition"]
        assert rows[lead]["sales_feedback_at"] == f"{row['at']:%Y-%m-%d %H:%M}"
        assert rows[lead]["sales_feedback_reason"] == (row["reason"] if isinstance(row["reason"], str) else "")
    assert all(r["sales_feedback"] == "" for lead, r in rows.items() if lead not in expected[worked].index)

    heard = scenario.second.feedback
    assert heard.weeks and max(heard.weeks) < late
    counted = []
    for monday in heard.weeks:  # the attribution rule, by hand: the latest disposition in the list's week
        listed = week(scenario.engine, monday)[["lead_id", "tier"]]
        inside = feedback[(feedback["at"] >= monday) & (feedback["at"] < monday + timedelta(days=7))]
        said = inside.sort_values(["at", "disposition"]).groupby("lead_id").tail(1)
        counted.append(listed.merge(said, on="lead_id").assign(meaning=lambda f: f["disposition"].map(meanings)))
    counts = pd.concat(counted).groupby(["tier", "meaning"]).size()
    tiers = heard.tiers.set_index("tier")
    assert counts.sum() == tiers["worked"].sum() > 0
    for (tier, meaning), n in counts.items():
        assert tiers.loc[tier, meaning] == n, (tier, meaning)
    text = " ".join(parse_report(scenario.second.report_path).text)
    section = text[text.index("What sales said"):text.index("Accounts most likely to buy")]
    for tier, row in tiers.iterrows():
        numbers = " ".join(f"{int(row[c]):,}" for c in ("leads", "worked", "accepted", "rejected", "no_answer",
                                                         "in_contact"))
        pattern = r"\s+".join(re.escape(n) for n in (tier, *numbers.split()))
        assert re.search(pattern + r"\s", section), (tier, numbers)
    assert "Sales said:" in text  # beside the leads of the list that sales worked


def test_without_a_feedback_table_the_csv_has_no_feedback_columns_and_the_report_says_why(
        _clean_environment, world, champion, tmp_path):
    from pipelines.score import run_scoring

    data = tmp_path / "data"
    shutil.copytree(world["data"], data, ignore=shutil.ignore_patterns("feedback.parquet"))
    result = run_scoring(data, world["config"], db_url=f"sqlite:///{tmp_path / 'scores.db'}", out_dir=tmp_path / "out")
    header = list(pd.read_csv(result.csv_path, nrows=0).columns)
    assert result.sources == () and not any(c.startswith("sales_feedback") for c in header)
    text = " ".join(parse_report(result.report_path).text)
    assert "Not shown: the export has no feedback table" in text and "Sales said:" not in text


# ---------------------------------------------------------------------------------------------------------------------
# hostile identifiers from the export


@pytest.fixture(scope="module")
def hostile(_clean_environment, world, champion, tmp_path_factory):
    """A copy of the world where the latest week's top lead and its account have formula/HTML-like ids."""
    from pipelines.score import run_scoring

    folder = tmp_path_factory.mktemp("hostile")
    data = folder / "data"
    data.mkdir()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    best = run_scoring(world["data"], world["config"], db_url=f"sqlite:///{folder / 'probe.db'}",
                       out_dir=folder / "probe").scores.iloc[0]
    lead, account = best["lead_id"], best["account_id"]
    assert isinstance(account, str)

    def quoted(value: str) -> str:
        return "'" + value.replace("'", "''") + "'"

    for path in sorted(world["data"].glob("*.parquet")):
        columns = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()]
        swaps = []
        if "lead_id" in columns:
            swaps.append(f"CASE WHEN lead_id = {quoted(lead)} THEN {quoted(HOSTILE_LEAD)} ELSE lead_id END AS lead_id")
        if "account_id" in columns:
            swaps.append(f"CASE WHEN account_id = {quoted(account)} THEN {quoted(HOSTILE_ACCOUNT)} "
                         "ELSE account_id END AS account_id")
        if not swaps:
            shutil.copy(path, data / path.name)
            continue
        con.execute(f"COPY (SELECT * REPLACE ({', '.join(swaps)}) FROM read_parquet('{path}')) "
                    f"TO '{data / path.name}' (FORMAT PARQUET)")
    con.close()
    result = run_scoring(data, world["config"], db_url=f"sqlite:///{folder / 'scores.db'}", out_dir=folder / "out")
    return result


def test_formula_like_ids_are_neutralised_in_the_csv(hostile):
    assert hostile.scores.loc[0, "lead_id"] == HOSTILE_LEAD  # the renamed lead is still the best one
    rows = read_csv_rows(hostile.csv_path)
    assert len(rows) == len(hostile.scores)
    mine = [r for r in rows if r["lead_id"].endswith(HOSTILE_LEAD)]
    assert [r["lead_id"] for r in mine] == ["'" + HOSTILE_LEAD]
    accounts = {r["account_id"] for r in rows if HOSTILE_ACCOUNT in r["account_id"]}
    assert accounts == {"'" + HOSTILE_ACCOUNT}
    for row in rows:
        for column, value in row.items():
            assert not value.startswith(("=", "+", "@", "\t", "\r")), (column, value)


def test_html_like_ids_are_escaped_in_the_report(hostile):
    page = check_report(hostile.report_path, HOSTILE_LEAD)
    assert "<img src=x>" not in hostile.report_path.read_text(encoding="utf-8")
    assert [t for t in page.tags if t == "img"] and all(v.startswith("data:") for _, _, v in page.urls)
    assert HOSTILE_ACCOUNT in " ".join(page.text)


def test_an_export_without_a_column_the_model_was_trained_on_is_refused_and_nothing_is_written(
        _clean_environment, world, champion, tmp_path):
    """The champion uses industry; a week exported without it must not be scored as if every lead lacked one."""
    from pipelines.score import run_scoring
    from pipelines.sources import DataError

    data = tmp_path / "data"
    data.mkdir()
    for path in world["data"].glob("*.parquet"):
        if path.name == "leads.parquet":
            pd.read_parquet(path).drop(columns=["industry"]).to_parquet(data / path.name, index=False)
        else:
            shutil.copy(path, data / path.name)
    with pytest.raises(DataError) as raised:
        run_scoring(data, world["config"], db_url=f"sqlite:///{tmp_path / 'scores.db'}", out_dir=tmp_path / "out")
    message = str(raised.value)
    assert "missing model input" in message and "leads.industry" in message and "retrain" in message
    assert not list((tmp_path / "out").glob("*")), "nothing is written before the model's inputs are checked"


def contrast(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two #rrggbb colours."""
    def luminance(colour: str) -> float:
        r, g, b = (int(colour.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4))
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_every_badge_and_coloured_text_of_the_report_is_readable(scenario):
    """WCAG AA for normal text: 4.5:1, read from the report's own stylesheet (tier and stage badges, warnings,
    muted text on the page and on its cards)."""
    style = scenario.second.report_path.read_text(encoding="utf-8").split("<style>")[1].split("</style>")[0]
    variables = dict(re.findall(r"--(\w+):\s*(#[0-9a-fA-F]{6})", style))
    rules = {selector.strip(): body for selector, body in re.findall(r"([.\w-]+)\s*\{([^}]*)\}", style)}

    def colours(selector: str) -> tuple[str, str]:
        body = rules[selector]
        fg = re.search(r"(?<!-)color:\s*(#[0-9a-fA-F]{6})", body)
        bg = re.search(r"background:\s*(#[0-9a-fA-F]{6})", body)
        return fg.group(1), bg.group(1)

    for tier in "ABCD":
        assert contrast(*colours(f".tier-{tier}")) >= 4.5, tier
    for stage in ("stage-leaning_in", "stage-engaged"):
        assert contrast(*colours(f".{stage}")) >= 4.5, stage
    for text in ("warn", "muted", "ink"):
        for ground in (variables["bg"], "#ffffff"):
            assert contrast(variables[text], ground) >= 4.5, (text, ground)


PROBE = """<script>
  const root = top.document.documentElement;  // the probe runs in a frame the test sized; it reports to the top
  const page = document.documentElement;
  root.dataset.viewport = String(window.innerWidth);
  root.dataset.pageWidth = String(Math.max(page.scrollWidth, document.body.scrollWidth));
  root.dataset.sections = [...document.querySelectorAll("section > h2, section h2")].map(h => h.textContent).join("|");
  root.dataset.images = String([...document.images].filter(i => i.complete && i.naturalWidth > 0).length)
    + "/" + String(document.images.length);
</script>"""


@pytest.mark.parametrize("width", [420, 1400])
def test_the_report_reads_on_a_phone_and_a_desktop(scenario, tmp_path, width):
    """Opened in headless Chromium at 420 and 1400 px: every section is there, every chart loads from the page
    itself, and nothing makes the page scroll sideways (wide tables scroll within their section)."""
    from tests.browser import framed_attributes

    probed = tmp_path / "report.html"
    probed.write_text(scenario.second.report_path.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"),
                      encoding="utf-8")
    facts = framed_attributes(probed, width=width)
    assert int(facts["data-viewport"]) == width
    assert int(facts["data-page-width"]) <= width, facts
    for section in ("Top leads and why", "What changed since last week", "How earlier lists did",
                    "Accounts most likely to buy", "Data drift", "The list's columns", "About the model"):
        assert section in facts["data-sections"].split("|"), (section, facts["data-sections"])
    loaded, total = map(int, facts["data-images"].split("/"))
    assert total >= 3 and loaded == total, facts  # tiers, stages, distribution (+ outcomes when mature)


FILTER_PROBE = """<script>
  const root = top.document.documentElement;
  const visible = () => [...document.querySelectorAll("tr.lead")].filter(r => r.offsetParent !== null);
  const facts = {all: visible().length};
  for (const id of %s) {
    const input = document.getElementById(id);
    if (!input) { facts[id] = "missing"; continue; }
    input.checked = true;
    const rows = visible();
    facts[id] = rows.length + ":" + [...new Set(rows.map(r => r.dataset.tier + "/" + r.dataset.stage + "/"
                                                            + (r.dataset.owner || "")))].join(",");
    document.getElementById(id.split("-").slice(0, 2).join("-") + "-all").checked = true;
  }
  root.dataset.filters = JSON.stringify(facts);
</script>"""


def test_the_list_filters_by_tier_stage_and_owner_without_a_script_of_its_own(scenario, tmp_path):
    """Checking a filter hides exactly the rows that do not match (pure CSS, so the page keeps no script)."""
    from tests.browser import framed_attributes

    page = scenario.second.report_path.read_text(encoding="utf-8")
    assert "<script" not in page
    ids = ["f-tier-A", "f-tier-B", "f-stage-engaged", "f-stage-leaning_in", "f-owner-0", "f-owner-1"]
    probed = tmp_path / "report.html"
    probed.write_text(page.replace("</body>", FILTER_PROBE % json.dumps(ids) + "</body>"), encoding="utf-8")
    facts = json.loads(html.unescape(framed_attributes(probed, width=1400)["data-filters"]))
    from pipelines.config import load_params

    rows = week(scenario.engine, scenario.late_as_of).head(load_params(None).score.top_leads_in_report)
    assert facts["all"] == len(rows)
    for tier in ("A", "B"):
        count, kinds = facts[f"f-tier-{tier}"].split(":")
        assert int(count) == (rows["tier"] == tier).sum() > 0 and {k.split("/")[0] for k in kinds.split(",")} == {tier}
    for stage in ("engaged", "leaning_in"):
        count, _ = facts[f"f-stage-{stage}"].split(":")
        assert int(count) == (rows["journey_stage"] == stage).sum()
    owners = sorted(json.loads(d)["owner"] for d in rows["display"])
    for index in (0, 1):
        count, kinds = facts[f"f-owner-{index}"].split(":")
        chosen = sorted(set(owners))[index]
        assert int(count) == owners.count(chosen) > 0 and {k.split("/")[2] for k in kinds.split(",")} == {str(index)}
