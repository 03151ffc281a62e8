"""The bad-input corpus (``cases.yaml``): each broken export gets exactly the outcome the table states.

An ``error`` case goes through a real writing command (``build-training-set``'s stage
body): it must refuse with the expected finding among its errors and write nothing.
A ``warning`` or ``ok`` case goes through ``leadscore validate``'s checks: no errors,
exactly the expected warning (or none), and the stated facts hold on the loaded views.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from pipelines.config import load_params
from pipelines.findings import Finding, ValidationFailed
from pipelines.inputs import validate_directory
from pipelines.sources import DataError
from pipelines.stages import training_set
from tests.unit.pipelines.conftest import (
    TINY_SETTINGS,
    tiny_tables,
    write_csv,
    write_export,
    write_parquet,
)

CASES = yaml.safe_load((Path(__file__).with_name("cases.yaml")).read_text(encoding="utf-8"))
CELL = re.compile(r"^(\w+)\.(\w+)(?:\[(\d+)\])?$")
KEYS = {"id", "format", "set", "values", "long", "drop", "rename", "skip", "empty", "raw", "latin1", "also", "params",
        "folder", "expect", "rule", "file", "column", "says", "holds"}


def _cell(key: str) -> tuple[str, str, int | None]:
    match = CELL.match(key)
    assert match, f"bad cell reference {key!r}"
    table, column, row = match.groups()
    return table, column, None if row is None else int(row)


def build(case: dict, root: Path) -> Path:
    """Write the case's export into ``root`` and return its folder."""
    tables = tiny_tables()
    fmt = case.get("format", "csv")
    for key, value in (case.get("set") or {}).items():
        table, column, row = _cell(key)
        tables[table][column][row] = value
    for key, values in (case.get("values") or {}).items():
        table, column, _ = _cell(key)
        tables[table][column] = values
    for key, length in (case.get("long") or {}).items():
        table, column, row = _cell(key)
        tables[table][column][row] = ("long-" * length)[:length]
    for key in case.get("drop") or []:
        table, column, _ = _cell(key)
        del tables[table][column]
    for key, new in (case.get("rename") or {}).items():
        table, column, _ = _cell(key)
        tables[table] = {(new if name == column else name): values for name, values in tables[table].items()}
    folder = root / case.get("folder", "export")
    write_export(folder, tables, fmt=fmt, skip=tuple(case.get("skip") or ()))
    for table in case.get("empty") or []:
        path = folder / f"{table}.{fmt}"
        if fmt == "csv":
            write_csv(path, {name: [] for name in tables[table]})
        else:
            write_parquet(path, pa.table(tables[table]).slice(0, 0))
    for table, text in (case.get("raw") or {}).items():
        (folder / f"{table}.csv").write_text(text, encoding="utf-8")
    for table in case.get("latin1") or []:
        path = folder / f"{table}.csv"
        path.write_bytes(path.read_text(encoding="utf-8").encode("latin-1"))
    for table in case.get("also") or []:
        write_parquet(folder / f"{table}.parquet", pa.table(tables[table]))
    return folder


def settings(case: dict, root: Path):
    return load_params(None, overrides={**TINY_SETTINGS, **(case.get("params") or {})})


def matching(findings: list[Finding], case: dict) -> list[Finding]:
    return [f for f in findings if f.rule == case["rule"] and Path(f.file).name == case["file"]
            and f.column == case.get("column")]


def check_text(finding: Finding, case: dict) -> None:
    text = str(finding)
    assert text.startswith(finding.file), text
    assert f": {case['rule']}: " in text, text
    if case.get("column"):
        assert f"column '{case['column']}'" in text, text
    for fragment in case.get("says") or []:
        assert fragment in text, f"{fragment!r} not in:\n{text}"


def check_holds(tables, case: dict) -> None:
    for sql in case.get("holds") or []:
        assert tables.con.execute(sql).fetchall() == [(True,)], sql


@dataclass
class Refusal:
    error: DataError
    findings: list[Finding]


def refuse(folder: Path, out: Path, config) -> Refusal:
    with pytest.raises(DataError) as caught:
        training_set(folder, out, config)
    error = caught.value
    if isinstance(error, ValidationFailed):
        return Refusal(error, error.outcome.errors)
    return Refusal(error, [Finding.from_data_error(e, e.table) for e in (error, *error.others)])


def test_the_corpus_is_well_formed():
    ids = [case["id"] for case in CASES]
    assert len(ids) == len(set(ids)) >= 25
    assert {case["expect"] for case in CASES} == {"error", "warning", "ok"}
    for case in CASES:
        assert set(case) <= KEYS, case["id"]
        if case["expect"] != "ok":
            assert case.get("rule") and case.get("file"), case["id"]


@pytest.mark.parametrize("case", [c for c in CASES if c["expect"] == "error"], ids=lambda c: c["id"])
def test_error_case_is_refused_with_the_stated_finding_and_nothing_written(case, tmp_path):
    folder = build(case, tmp_path / "in")
    out = tmp_path / "out" / "training_set.parquet"
    refusal = refuse(folder, out, settings(case, tmp_path))
    found = matching(refusal.findings, case)
    assert found, f"expected {case['rule']} in {case['file']}, got:\n" + "\n".join(map(str, refusal.findings))
    check_text(found[0], case)
    message = str(refusal.error)  # what the command prints
    assert str(found[0]) in message
    assert not out.parent.exists() or not any(out.parent.iterdir())


@pytest.mark.parametrize("case", [c for c in CASES if c["expect"] != "error"], ids=lambda c: c["id"])
def test_accepted_case_passes_with_exactly_the_stated_warning(case, tmp_path):
    folder = build(case, tmp_path / "in")
    outcome, tables = validate_directory(folder, settings(case, tmp_path))
    assert outcome.success, "\n".join(map(str, outcome.errors))
    if case["expect"] == "ok":
        assert outcome.warnings == []
    else:
        assert len(outcome.warnings) == 1, "\n".join(map(str, outcome.warnings))
        assert matching(outcome.warnings, case) == outcome.warnings, outcome.warnings[0]
        check_text(outcome.warnings[0], case)
        assert "handling: " in str(outcome.warnings[0])
    check_holds(tables, case)
