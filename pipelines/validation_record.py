"""Writing a validation down: ``validation.json`` (every GX result in full), the project's own self-contained page,
and Great Expectations' Data Docs, every value from the data or the settings escaped in both pages."""

from __future__ import annotations

import copy
import html
import json
import os
import shutil
from pathlib import Path

from pipelines.findings import Outcome


def write_results(outcome: Outcome, out_dir: Path, extra: dict | None = None) -> dict[str, Path]:
    """Write ``validation.json`` (every GX result in full) and Data Docs HTML into ``out_dir``; return the paths."""
    from pipelines.files import atomic_path

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    record = {**(extra or {}), **outcome.to_json()}
    json_path = out_dir / "validation.json"
    with atomic_path(json_path) as tmp:
        tmp.write_text(json.dumps(record, indent=1, default=str), encoding="utf-8")
    paths = {"json": json_path}
    if outcome.results and outcome.context is not None:
        paths["docs"] = _write_data_docs(outcome, out_dir / "data_docs")
    paths["page"] = out_dir / "validation.html"
    with atomic_path(paths["page"]) as tmp:
        tmp.write_text(render_page(outcome, (extra or {}).get("data_dir"), "docs" in paths), encoding="utf-8")
    return paths


def render_page(outcome: Outcome, data_dir: str | None, has_docs: bool) -> str:
    """The findings as one self-contained page in the weekly report's style: it needs no network (GX's Data Docs
    load their styles and scripts from CDNs) and escapes every value (Jinja autoescape)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("pipelines", "templates"), autoescape=select_autoescape(["html"]))
    return env.get_template("validation.html").render(
        boundary=outcome.boundary, data_dir=data_dir, expectations=outcome.expectations(), errors=outcome.errors,
        warnings=outcome.warnings, has_docs=has_docs)


def escaped_for_html(result):
    """A copy of a suite's result whose every string from the data or the settings is HTML-escaped.

    Great Expectations' Data Docs renderer writes unexpected values, observed values and
    the expectations' arguments into the page as they are: a value like
    ``<script>…</script>`` in an export would run in the browser of whoever opens the
    docs. The copy goes to the renderer only; the findings and validation.json keep the
    values as they were (JSON escapes them itself).
    """
    result = copy.deepcopy(result)
    for item in result.results:
        item.result = _escape_strings(item.result)
        config = item.expectation_config
        if config is not None:
            config.kwargs = _escape_strings(dict(config.kwargs))
            config.meta = _escape_strings(dict(config.meta or {}))
    return result


def _escape_strings(value):
    if isinstance(value, str):
        return html.escape(value, quote=True)
    if isinstance(value, dict):
        return {key: _escape_strings(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_escape_strings(item) for item in value)
    return value


def _write_data_docs(outcome: Outcome, target: Path) -> Path:
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    from pipelines.files import temporary_beside

    context = outcome.context
    target = target.resolve()  # GX wants an absolute folder
    staging = temporary_beside(target)
    staging.mkdir()
    try:
        context.add_data_docs_site(site_name="leadscore", site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(staging)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"}})
        run_id = RunIdentifier(run_name=f"leadscore validate ({outcome.boundary})")
        for name, result in outcome.results.items():
            key = ValidationResultIdentifier(ExpectationSuiteIdentifier(name=name), run_id, name)
            context.validation_results_store.set(key, escaped_for_html(result))
        context.build_data_docs(site_names=["leadscore"])
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target / "index.html"
