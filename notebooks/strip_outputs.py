"""Strip outputs, execution counts and per-run metadata from notebooks: they are stored clean in git.

    python notebooks/strip_outputs.py [--check] [NOTEBOOK ...]    (default: every notebooks/*.ipynb)

``make strip-notebooks`` runs it on every notebook. With ``--check`` nothing is written and the
exit code is 1 when any notebook carries outputs (the test suite checks the same thing).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

RUN_METADATA = ("execution", "collapsed", "scrolled", "ExecuteTime")


def strip(notebook: nbformat.NotebookNode) -> bool:
    """Remove outputs, execution counts and run-specific metadata in place; return whether anything changed."""
    changed = False
    for cell in notebook.cells:
        if cell.cell_type == "code":
            changed |= bool(cell.outputs) or cell.execution_count is not None
            cell.outputs, cell.execution_count = [], None
        for key in RUN_METADATA:
            changed |= cell.metadata.pop(key, None) is not None
    for key in ("widgets", "papermill"):
        changed |= notebook.metadata.pop(key, None) is not None
    language = notebook.metadata.get("language_info")
    if language and set(language) != {"name"}:  # a kernel records its exact version here on every run
        notebook.metadata["language_info"] = {"name": language.get("name", "python")}
        changed = True
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook beside this script")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a notebook has outputs")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(Path(__file__).resolve().parent.glob("*.ipynb"))
    dirty = []
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        if strip(notebook):
            dirty.append(path)
            if not args.check:
                nbformat.write(notebook, path)
    verb = "carry outputs" if args.check else "stripped"
    for path in dirty:
        print(f"{path}: {verb}")
    return 1 if args.check and dirty else 0


if __name__ == "__main__":
    sys.exit(main())
