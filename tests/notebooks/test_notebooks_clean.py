"""The notebooks as stored in git: three of them, outputs stripped, nothing reusable defined, the stripper works.

Fast and offline: nothing here starts a kernel (``test_notebooks_run.py`` does).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
EXPECTED = ("01-explore-engagement.ipynb", "02-model-report.ipynb", "03-weekly-list-review.ipynb")
PACKAGES = ("features", "models", "pipelines")
STRIP = NOTEBOOKS_DIR / "strip_outputs.py"


def code_of(notebook) -> list[str]:
    """Each code cell's source with IPython magics (``%matplotlib inline``) blanked, so it parses as Python."""
    return ["\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in cell.source.splitlines())
            for cell in notebook.cells if cell.cell_type == "code"]


def test_the_three_notebooks_are_there():
    assert tuple(sorted(p.name for p in NOTEBOOKS_DIR.glob("*.ipynb"))) == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_committed_notebook_is_valid_and_has_no_outputs(name):
    notebook = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
    nbformat.validate(notebook)
    dirty = [i for i, cell in enumerate(notebook.cells)
             if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, f"{name}: cells {dirty} carry outputs; run 'make strip-notebooks' before committing"
    assert not any("execution" in cell.metadata for cell in notebook.cells), f"{name}: run timings left in"


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_runs_on_the_standard_python3_kernel(name):
    """'python3' resolves to the interpreter that starts the kernel: the project's virtual environment."""
    assert nbformat.read(NOTEBOOKS_DIR / name, as_version=4).metadata.kernelspec.name == "python3"


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_defines_nothing_reusable_and_imports_the_packages(name):
    notebook = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
    trees = [ast.parse(source) for source in code_of(notebook)]
    definitions = [node.name for tree in trees for node in ast.walk(tree)
                   if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    assert not definitions, f"{name} defines {definitions}: move them into a package, with a test"
    imported = {node.module.split(".")[0] for tree in trees for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module}
    assert {"models", "pipelines"} <= imported, f"{name} should use the packages, imports only {sorted(imported)}"


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_is_parameterised_through_the_environment(name):
    source = "\n".join(code_of(nbformat.read(NOTEBOOKS_DIR / name, as_version=4)))
    assert 'os.environ.get("LEADSCORE_PARAMS", "params.yaml")' in source


def test_code_of_blanks_magics_only():
    notebook = new_notebook(cells=[new_code_cell("import os\n%matplotlib inline\nx = 1"), new_markdown_cell("# t")])
    assert code_of(notebook) == ["import os\n\nx = 1"]


# -- the stripper ------------------------------------------------------------------------------------------------------

def dirty_notebook(path: Path) -> None:
    cell = new_code_cell("print(1)", execution_count=3, metadata={"execution": {"iopub.status.busy": "2026-01-01"}})
    cell.outputs = [new_output("stream", name="stdout", text="1\n"),
                    new_output("display_data", data={"text/plain": "<Figure>", "image/png": "iVBORw0KGgo="})]
    notebook = new_notebook(cells=[new_markdown_cell("# title"), cell],
                            metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                                      "language_info": {"name": "python", "version": "3.11.7"}})
    nbformat.write(notebook, path)


def strip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(STRIP), *args], capture_output=True, text=True, timeout=60)


def test_strip_check_reports_outputs_and_writes_nothing(tmp_path):
    path = tmp_path / "dirty.ipynb"
    dirty_notebook(path)
    before = path.read_bytes()
    result = strip("--check", str(path))
    assert result.returncode == 1, result.stderr
    assert "carry outputs" in result.stdout
    assert path.read_bytes() == before


def test_strip_removes_outputs_counts_and_timings_and_keeps_the_code(tmp_path):
    path = tmp_path / "dirty.ipynb"
    dirty_notebook(path)
    assert strip(str(path)).returncode == 0
    notebook = nbformat.read(path, as_version=4)
    code = notebook.cells[1]
    assert (code.source, code.outputs, code.execution_count) == ("print(1)", [], None)
    assert "execution" not in code.metadata
    assert notebook.cells[0].source == "# title"
    assert notebook.metadata.language_info == {"name": "python"}
    assert notebook.metadata.kernelspec.name == "python3"
    assert strip("--check", str(path)).returncode == 0


def test_stripping_a_clean_notebook_changes_no_byte(tmp_path):
    path = tmp_path / EXPECTED[0]
    path.write_bytes((NOTEBOOKS_DIR / EXPECTED[0]).read_bytes())
    assert strip(str(path)).returncode == 0
    assert path.read_bytes() == (NOTEBOOKS_DIR / EXPECTED[0]).read_bytes()
    assert json.loads(path.read_text())["nbformat"] == 4
