"""Relevance rules: which rows of a labels file (dataset/labels.csv) a query's relevant files are.

    rule      := all ( "|" all )*              any of these groups (or)
    all       := condition ( "&" condition )*  every condition of the group (and); binds tighter than |
    condition := [ "!" ] test                  "!": the test must not hold
    test      := FIELD "=" VALUE               the field equals VALUE
               | FIELD "~=" VALUE              the field contains VALUE
               | FIELD "has" VALUE             VALUE is one of the field's ";"-separated items (scene_tags),
                                               or stands in it as whole words (a description)

FIELD is a column of the labels file (for dataset/labels.csv: file, brand, category, text; for the real
ads in ../shared/ads-sample: file, brand, product_category, scene_tags, text_visible, description).
Comparisons ignore case and the spaces around VALUE; an empty VALUE after "=" means an empty field. There
are no parentheses and VALUE cannot hold "|" (nor "&" followed by a condition): write (a | b) & c as
a & c | b & c. Examples:
`category=coffee`, `brand=pixora phones`, `text~=50% off`, `category=coffee & text~=€`,
`scene_tags has woman & scene_tags has sport`, `description has running & !brand=`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

_TEST = r"\s*(!?)\s*([A-Za-z_][\w-]*)\s*(~=|=|\shas\s)"
_CONDITION = re.compile(_TEST + "(.*)", re.DOTALL)
# "&" joins conditions only where a condition follows, so values such as "at&t" and "a&w" keep theirs.
_AND = re.compile(r"&(?=\s*!?\s*[A-Za-z_][\w-]*\s*(?:~=|=|\shas\s))")
# A whole word or phrase: not inside a longer word; hyphens join ("water" is not in "water-park").
_WORD_EDGE = r"[\w-]"


class RuleError(ValueError):
    """A rule or labels file the evaluation cannot use; the message says what is wrong."""


@dataclass(frozen=True)
class Condition:
    field: str
    operator: str  # "=", "~=" or "has"
    value: str  # lower case
    negated: bool = False

    def holds(self, row: Mapping[str, str]) -> bool:
        return self._test((row.get(self.field) or "").strip().lower()) != self.negated

    def _test(self, actual: str) -> bool:
        if self.operator == "=":
            return self.value == actual
        if self.operator == "~=":
            return self.value in actual
        if self.value in (item.strip() for item in actual.split(";")):
            return True
        pattern = rf"(?<!{_WORD_EDGE}){re.escape(self.value)}(?!{_WORD_EDGE})"
        return re.search(pattern, actual) is not None


@dataclass(frozen=True)
class Rule:
    groups: tuple[tuple[Condition, ...], ...]  # or of ands

    def select(self, rows: Sequence[Mapping[str, str]]) -> set[str]:
        """The files of the rows the rule holds for."""
        return {row["file"] for row in rows if any(all(c.holds(row) for c in group) for group in self.groups)}


def looks_like_rule(text: str) -> bool:
    return "=" in text or re.search(r"\shas\s", text) is not None


def parse_rule(text: str, fields: Sequence[str]) -> Rule:
    groups = []
    for group in text.split("|"):
        conditions = []
        for part in _AND.split(group):
            match = _CONDITION.fullmatch(part)
            if not match:
                raise RuleError(f"cannot read the rule {text!r}: {part.strip()!r} is not FIELD=VALUE, "
                                "FIELD~=VALUE or FIELD has VALUE")
            negated, field = match.group(1) == "!", match.group(2).lower()
            operator, value = match.group(3).strip(), match.group(4).strip().lower()
            if field not in fields:
                raise RuleError(f"the rule {text!r} names the field {field!r}; the labels have {', '.join(fields)}")
            if operator != "=" and not value:
                raise RuleError(f"the rule {text!r} has an empty {field} {operator} (it would match every file)")
            conditions.append(Condition(field, operator, value, negated))
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
