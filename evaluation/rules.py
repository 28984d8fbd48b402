"""Relevance rules: which rows of a labels file (dataset/labels.csv) a query's relevant files are.

    rule      := all ( "|" all )*              any of these groups (or)
    all       := condition ( "&" condition )*  every condition of the group (and); binds tighter than |
    condition := FIELD "=" VALUE               the field equals VALUE
               | FIELD "~=" VALUE              the field contains VALUE

FIELD is a column of the labels file (for dataset/labels.csv: file, brand, category, text). Comparisons
ignore case and the spaces around VALUE; an empty VALUE after "=" means an empty field. There are no
parentheses and VALUE cannot hold "&" or "|": write (a | b) & c as a & c | b & c. Examples:
`category=coffee`, `brand=pixora phones`, `text~=50% off`, `category=coffee & text~=€`.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

_CONDITION = re.compile(r"\s*([A-Za-z_][\w-]*)\s*(~=|=)(.*)", re.DOTALL)


class RuleError(ValueError):
    """A rule or labels file the evaluation cannot use; the message says what is wrong."""


@dataclass(frozen=True)
class Condition:
    field: str
    contains: bool  # ~= rather than =
    value: str  # lower case

    def holds(self, row: Mapping[str, str]) -> bool:
        actual = (row.get(self.field) or "").strip().lower()
        return self.value in actual if self.contains else self.value == actual


@dataclass(frozen=True)
class Rule:
    groups: tuple[tuple[Condition, ...], ...]  # or of ands

    def select(self, rows: Sequence[Mapping[str, str]]) -> set[str]:
        """The files of the rows the rule holds for."""
        return {row["file"] for row in rows if any(all(c.holds(row) for c in group) for group in self.groups)}


def looks_like_rule(text: str) -> bool:
    return "=" in text


def parse_rule(text: str, fields: Sequence[str]) -> Rule:
    groups = []
    for group in text.split("|"):
        conditions = []
        for part in group.split("&"):
            match = _CONDITION.fullmatch(part)
            if not match:
                raise RuleError(f"cannot read the rule {text!r}: {part.strip()!r} is not FIELD=VALUE or FIELD~=VALUE")
            field, operator, value = match.group(1).lower(), match.group(2), match.group(3).strip().lower()
            if field not in fields:
                raise RuleError(f"the rule {text!r} names the field {field!r}; the labels have {', '.join(fields)}")
            if operator == "~=" and not value:
                raise RuleError(f"the rule {text!r} has an empty {field}~= (it would match every file)")
            conditions.append(Condition(field, operator == "~=", value))
        groups.append(tuple(conditions))
    return Rule(tuple(groups))


def read_labels(path: Path) -> list[dict[str, str]]:
    """The rows of a labels CSV, with lower-case column names; it needs a `file` column."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            header = [name.strip().lower() for name in reader.fieldnames or []]
            if "file" not in header:
                raise RuleError(f"{path}:1: the labels need a 'file' column (found: {', '.join(header) or 'nothing'})")
            reader.fieldnames = header
            return [{key: (value or "").strip() for key, value in row.items() if key} for row in reader]
    except FileNotFoundError:
        raise RuleError(f"{path}: no such labels file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise RuleError(f"{path}: cannot read the labels: {exc}") from None
