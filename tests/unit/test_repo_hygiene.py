"""What a newcomer runs from the README works as written, and the app's own writes stay out of git."""

import re
import shutil
import subprocess

import pytest

from tests.helpers import ROOT

BARE_PYTHON = re.compile(r"(?<![\w./-])python3? (main\.py|-m |tools/|benchmarks/)")


def test_readme_commands_name_the_projects_python():
    # A bare `python main.py index` fails with ModuleNotFoundError unless the virtualenv is active.
    bare = [line for line in (ROOT / "README.md").read_text().splitlines() if BARE_PYTHON.search(line)]
    assert bare == []


def test_readme_command_runs_as_written():
    command = next(re.search(r"`(\.venv/bin/python main\.py [a-z]+)", line).group(1)
                   for line in (ROOT / "README.md").read_text().splitlines() if "`.venv/bin/python main.py" in line)
    done = subprocess.run(command.split()[:2] + ["--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "Traceback" not in done.stderr


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout")
def test_uploads_do_not_show_in_git_status():
    done = subprocess.run(["git", "check-ignore", "-q", "dataset/uploads/2026-12/new-ad.jpg"], cwd=ROOT)
    assert done.returncode == 0


def test_the_notebook_is_committed_executed_with_its_figures():
    import nbformat

    notebook = nbformat.read(ROOT / "EDA.ipynb", as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code)  # `make eda-notebook` saves them in place
    outputs = [output for cell in code for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 5  # the vector figures need an image model
