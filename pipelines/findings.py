"""What a validation says, in the words of the report: findings (where, which rule, how many rows, examples,
how to fix) and the verdict at one boundary.

Kept apart from the suites (``validation.py``) and the GX runner (``expectations.py``) so that the
readers of a verdict (the CLI, the pages, the stages) need neither Great Expectations nor the contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipelines.sources import DataError


@dataclass(frozen=True)
class Finding:
    """One broken rule, in the words of the report: where, which rule, how many rows, examples, how to fix."""

    severity: str  # "error" stops every writing command; "warning" is reported and the documented handling applies
    table: str
    file: str
    column: str | None
    rule: str
    detail: str
    fix: str
    samples: tuple[str, ...] = ()
    count: int | None = None

    def __str__(self) -> str:
        where = self.file + (f", column '{self.column}'" if self.column else "")
        lines = [f"{where}: {self.rule}: {self.detail}"]
        if self.samples:
            lines.append("  examples: " + "; ".join(self.samples))
        lines.append(f"  {'how to fix' if self.severity == 'error' else 'handling'}: {self.fix}")
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {"severity": self.severity, "table": self.table, "file": self.file, "column": self.column,
                "rule": self.rule, "detail": self.detail, "count": self.count, "samples": list(self.samples),
                "fix": self.fix}

    @classmethod
    def from_data_error(cls, error: DataError, table: str | None = None) -> Finding:
        return cls("error", table or "", error.file, error.column, error.rule, error.detail, error.fix,
                   tuple(error.rows))


@dataclass
class Outcome:
    """The verdict at one boundary: findings for people, the raw GX results for the record."""

    boundary: str
    findings: list[Finding] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)  # GX asset name -> ExpectationSuiteValidationResult
    context: Any = field(default=None, repr=False)  # the GX context holding suites and results (for Data Docs)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def success(self) -> bool:
        return not self.errors

    def expectations(self) -> int:
        return sum(len(r.results) for r in self.results.values())

    def raise_for_errors(self) -> None:
        if self.errors:
            raise ValidationFailed(self)

    def to_json(self) -> dict:
        return {"boundary": self.boundary, "success": self.success,
                "errors": [f.to_json() for f in self.errors], "warnings": [f.to_json() for f in self.warnings],
                "great_expectations": {name: result.to_json_dict() for name, result in self.results.items()}}


class ValidationFailed(DataError):
    """Data at a boundary breaks its suite; the message lists every error, the attributes name the first."""

    def __init__(self, outcome: Outcome):
        first = outcome.errors[0]
        super().__init__(first.file, first.column, first.rule, first.detail, first.fix, list(first.samples))
        self.outcome = outcome
        self.detail = first.detail
        self.args = (report(outcome, warnings=False),)


def report(outcome: Outcome, warnings: bool = True) -> str:
    """The short, actionable text: every error, then every warning."""
    parts = [str(f) for f in outcome.errors]
    if warnings:
        parts += ["warning: " + str(f) for f in outcome.warnings]
    return "\n".join(parts)
