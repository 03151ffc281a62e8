"""``dvc.yaml`` cannot drift from the code: every stage depends on every module its command imports.

The import closure of each stage's command is read from the source (``test_layering.graph``,
lazy imports included), starting from the module that holds the command's body and the
settings; a module in that closure that the stage does not list (itself or a folder holding
it) would let ``dvc repro`` skip a stage whose code changed.
"""

from __future__ import annotations

import yaml

from tests.unit.test_layering import ROOT, graph

# the modules holding each command's body (pipelines/cli.py only parses arguments and calls them)
ENTRIES = {
    "generate": ["pipelines.generate"],
    "validate": ["pipelines.inputs", "pipelines.validation", "pipelines.validation_record", "pipelines.summary",
                 "pipelines.export_profile"],
    "build-training-set": ["pipelines.stages"],
    "train": ["pipelines.train"],
    "promote": ["pipelines.train"],
    "score": ["pipelines.score"],
}
ALWAYS = ["pipelines.config"]


def closure(entries: list[str], edges: dict[str, set[str]]) -> set[str]:
    seen, todo = set(), list(entries)
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo += edges[module]
    return seen


def source_file(module: str) -> str:
    path = ROOT.joinpath(*module.split("."))
    return f"{path.relative_to(ROOT)}/__init__.py" if path.is_dir() else f"{path.relative_to(ROOT)}.py"


def test_every_stage_depends_on_every_module_its_command_imports():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    edges = graph()
    missing = {}
    for name, stage in stages.items():
        command = stage["cmd"].split()[1]
        assert command in ENTRIES, f"stage {name}: no entry modules known for 'leadscore {command}'"
        deps = [str(d) for d in stage.get("deps", [])]
        needed = {source_file(m) for m in closure(ENTRIES[command] + ALWAYS, edges)}
        needed = {f for f in needed if not f.endswith("__init__.py") or (ROOT / f).stat().st_size > 0}
        lacking = sorted(f for f in needed if not any(f == d or f.startswith(d.rstrip("/") + "/") for d in deps))
        if lacking:
            missing[name] = lacking
    assert not missing, "dvc.yaml stages miss deps:\n" + "\n".join(f"  {k}: {v}" for k, v in missing.items())
