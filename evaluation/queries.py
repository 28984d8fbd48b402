"""The labelled query set: read from YAML or CSV, checked, relevance rules resolved to files.

YAML: a list of mappings. CSV: a header line, then one query per line.

    - id: exact-pixora          # unique
      query: pixora             # the text searched for
      type: exact               # exact, semantic, ambiguous, complex or vague
      relevant: brand=pixora phones              # a rule over the labels file (see rules.py), or
      # relevant: [coffee/photo-01.jpg, ...]     # the files, relative to the dataset folder
      # (in CSV, the files are separated by ";"); an empty list means nothing is relevant

Every mistake is reported as "FILE:LINE: what is wrong".
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import yaml

from evaluation.rules import RuleError, looks_like_rule, parse_rule, read_labels
from src.search import QueryError, clean_query

QUERY_TYPES = ("exact", "semantic", "ambiguous", "complex", "vague")
COLUMNS = ("id", "query", "type", "relevant")
_LINE = "__line__"  # where a YAML mapping starts, kept by the loader below


class QueryFileError(ValueError):
    """The query file cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class Query:
    id: str
    text: str
    type: str
    relevant: frozenset[str]  # files relative to the dataset folder
    where: str  # "FILE:LINE", for messages


def load_queries(path: Path, dataset_dir: Path, labels_path: Path | None = None) -> list[Query]:
    path = Path(path)
    if not path.is_file():
        raise QueryFileError(f"{path}: no such query file")
    entries = _read_csv(path) if path.suffix.lower() == ".csv" else _read_yaml(path)
    if not entries:
        raise QueryFileError(f"{path}:1: the file holds no queries")
    judge = _Judge(dataset_dir, labels_path or Path(dataset_dir) / "labels.csv")
    queries: list = []
    seen: dict[str, int] = {}
    for line, entry in entries:
        where = f"{path}:{line}"
        try:
            query = _query(entry, where, judge)
        except (QueryError, RuleError) as exc:
            raise QueryFileError(f"{where}: {exc}") from None
        if query.id in seen:
            raise QueryFileError(f"{where}: the id {query.id!r} is already used at line {seen[query.id]}")
        seen[query.id] = line
        queries.append(query)
    return queries


def _query(entry: dict, where: str, judge: _Judge) -> Query:
    unknown = [key for key in entry if key not in COLUMNS]
    if unknown:
        raise QueryFileError(f"{where}: unknown field {unknown[0]!r}; the fields are {', '.join(COLUMNS)}")
    missing = [key for key in COLUMNS if entry.get(key) is None or entry.get(key) == "" and key != "relevant"]
    if missing:
        raise QueryFileError(f"{where}: the query has no {missing[0]!r}")
    kind = str(entry["type"]).strip().lower()
    if kind not in QUERY_TYPES:
        raise QueryFileError(f"{where}: unknown query type {kind!r}; use one of {', '.join(QUERY_TYPES)}")
    text = clean_query(str(entry["query"]))
    if not text:
        raise QueryFileError(f"{where}: the query text is empty")
    return Query(str(entry["id"]).strip(), text, kind, frozenset(judge.relevant(entry["relevant"])), where)


class _Judge:
    """Turns a `relevant` value into files: checks listed files exist, applies rules to the labels."""

    def __init__(self, dataset_dir: Path, labels_path: Path):
        self.dataset_dir = Path(dataset_dir)
        self.labels_path = labels_path
        self._labels: list[dict[str, str]] | None = None

    def relevant(self, value) -> set[str]:
        if isinstance(value, str) and looks_like_rule(value):
            return self._apply_rule(value)
        items = value.split(";") if isinstance(value, str) else value
        if not isinstance(items, list):
            raise RuleError(f"'relevant' must be a rule or a list of files, not {value!r}")
        files = {str(item).strip().replace("\\", "/") for item in items if str(item).strip()}
        for name in sorted(files):
            if not (self.dataset_dir / name).is_file():
                raise RuleError(f"the relevant file {name!r} does not exist in {self.dataset_dir}")
        return files

    def _apply_rule(self, text: str) -> set[str]:
        if self._labels is None:
            self._labels = read_labels(self.labels_path)
        fields = list(self._labels[0]) if self._labels else ["file"]
        files = parse_rule(text, fields).select(self._labels)
        if not files:  # most often a typo in a brand or category: better stopped than scored as 0
            raise RuleError(f"the rule {text!r} matches no file in {self.labels_path}")
        return files


def _read_yaml(path: Path) -> list[tuple[int, dict]]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise QueryFileError(f"{path}:{line}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise QueryFileError(f"{path}: cannot read: {exc}") from None
    if data is None:
        return []
    if not isinstance(data, list):
        raise QueryFileError(f"{path}:1: expected a list of queries (lines starting with '- id: ...')")
    entries = []
    for number, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            raise QueryFileError(f"{path}: query number {number} is not a mapping of {', '.join(COLUMNS)}")
        line = item.pop(_LINE)
        entries.append((line, item))
    return entries


def _read_csv(path: Path) -> list[tuple[int, dict]]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            header = [name.strip().lower() for name in reader.fieldnames or []]
            missing = [name for name in COLUMNS if name not in header]
            if missing:
                raise QueryFileError(f"{path}:1: missing column {missing[0]!r}; the columns are {', '.join(COLUMNS)}")
            reader.fieldnames = header
            entries = []
            for row in reader:
                if None in row:  # more cells than the header has names
                    raise QueryFileError(
                        f"{path}:{reader.line_num}: more cells than columns (quote cells holding commas)")
                if any((value or "").strip() for value in row.values()):
                    entries.append((reader.line_num, {k: (v or "").strip() for k, v in row.items()}))
            return entries
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise QueryFileError(f"{path}: cannot read: {exc}") from None


class _LineLoader(yaml.SafeLoader):
    """YAML's safe loader, noting the line each mapping starts on."""

    def construct_mapping(self, node, deep=False):
        mapping = super().construct_mapping(node, deep=deep)
        mapping[_LINE] = node.start_mark.line + 1
        return mapping
