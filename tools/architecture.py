"""Draws the import graph of src/ and evaluation/ as a Mermaid diagram, grouped by pipeline stage, into
docs/architecture.md (between its DIAGRAM markers). tests/unit/test_architecture.py fails when the
committed diagram differs from what this prints, or when a module has no stage.

    python tools/architecture.py          # print the diagram
    python tools/architecture.py --write  # update docs/architecture.md
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
BEGIN, END = "<!-- DIAGRAM: made by tools/architecture.py -->", "<!-- /DIAGRAM -->"

# Each module's stage, in the order data flows: file -> image -> text and vectors -> store -> results -> page.
# A module's stage is the first prefix listed that names it or a package above it.
STAGES: list[tuple[str, list[str]]] = [
    ("entry points", ["src.cli", "src.cli_options", "evaluation"]),
    ("serving", ["src.serving"]),
    ("web", ["src.web"]),
    ("recovery", ["src.recovery"]),
    ("changes", ["src.uploads", "src.removal"]),
    ("overview", ["src.eda_page", "src.eda_figures", "src.eda"]),
    ("index step", ["src.indexing"]),
    ("search", ["src.search", "src.snippets"]),
    ("reading and embedding", ["src.text_reading", "src.text_cache", "src.ocr", "src.embedding",
                               "src.precision", "src.terms", "src.thumbnails"]),
    ("store", ["src.store"]),
    ("files", ["src.images", "src.appearance", "src.atomic", "src.labels"]),
    ("foundations", ["src.settings", "src.runtime", "src.disk", "src.worker_pool"]),
]


def stage_of(module: str) -> str | None:
    for stage, prefixes in STAGES:
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return stage
    return None


def unit_of(module: str) -> str:
    """The box a module is drawn in: a package's modules are drawn as the package."""
    for _, prefixes in STAGES:
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                return prefix
    return module


def graph() -> tuple[set[str], set[tuple[str, str]]]:
    imports = grimp.build_graph("src", "evaluation")
    units: set[str] = set()
    edges: set[tuple[str, str]] = set()
    for module in imports.modules:
        if module in ("src", "evaluation") or module.endswith("__main__"):
            continue
        units.add(unit_of(module))
        for imported in imports.find_modules_directly_imported_by(module):
            a, b = unit_of(module), unit_of(imported)
            if a != b and b not in ("src", "evaluation"):
                edges.add((a, b))
    return units, edges


def diagram() -> str:
    units, edges = graph()
    lines = ["```mermaid", "flowchart TD"]
    for stage, _ in STAGES:
        members = sorted(u for u in units if stage_of(u) == stage)
        if not members:
            continue
        lines.append(f'  subgraph {_id(stage)}["{stage}"]')
        lines += [f'    {_id(m)}["{m}"]' for m in members]
        lines.append("  end")
    lines += [f"  {_id(a)} --> {_id(b)}" for a, b in sorted(edges)]
    lines.append("```")
    return "\n".join(lines)


def unstaged() -> list[str]:
    units, _ = graph()
    return sorted(u for u in units if stage_of(u) is None)


def layers_contract() -> str:
    """The import-linter contract (pyproject.toml) that keeps imports running down these stages."""
    layers = "\n".join(f'    "{" : ".join(prefixes)}",' for _, prefixes in STAGES)
    return ("[[tool.importlinter.contracts]]\n"
            "name = \"Imports run down the pipeline's stages (tools/architecture.py)\"\n"
            f"type = \"layers\"\ncontainers = []\nexhaustive = false\nlayers = [\n{layers}\n]\n")


def _id(name: str) -> str:
    return re.sub(r"\W", "_", name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="update docs/architecture.md in place")
    parser.add_argument("--contract", action="store_true", help="print the import-linter layers contract")
    args = parser.parse_args()
    if args.contract:
        print(layers_contract())
        return 0
    if missing := unstaged():
        print(f"modules with no stage in tools/architecture.py STAGES: {', '.join(missing)}", file=sys.stderr)
        return 1
    text = diagram()
    if not args.write:
        print(text)
        return 0
    doc = DOC.read_text(encoding="utf-8")
    start, end = doc.index(BEGIN) + len(BEGIN), doc.index(END)
    DOC.write_text(doc[:start] + "\n" + text + "\n" + doc[end:], encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
