"""docs/architecture.md's import graph is the code's, and every module belongs to a pipeline stage."""

import subprocess
import sys

from tests.helpers import ROOT
from tools import architecture


def test_every_module_has_a_stage_and_the_diagram_is_current():
    assert architecture.unstaged() == [], "give these modules a stage in tools/architecture.py STAGES"
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert architecture.diagram() in doc, "docs/architecture.md is out of date: python tools/architecture.py --write"


def test_pyproject_layers_contract_matches_the_stages():
    made = subprocess.run([sys.executable, str(ROOT / "tools" / "architecture.py"), "--contract"],
                          capture_output=True, text=True, check=True).stdout
    assert made in (ROOT / "pyproject.toml").read_text(encoding="utf-8"), \
        "pyproject.toml's layers contract differs: paste python tools/architecture.py --contract"
