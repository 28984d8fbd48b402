"""The one reader of a folder's labels.csv (file, category, brand, ... per image), for the index step
and the /EDA page. Forgiving of what spreadsheets write (a UTF-8 byte-order mark, Windows-1252 bytes),
and never silent: a row it cannot use is reported with its line number, and the other rows still count."""

from __future__ import annotations

import csv
import io
from pathlib import Path

LABELS = "labels.csv"


def read_labels(folder: Path) -> tuple[dict[str, dict[str, str]], list[str]]:
    """(file -> its row's non-empty fields, problems in words); empty when there is no labels.csv."""
    path = Path(folder) / LABELS
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}, []
    except OSError as exc:
        return {}, [f"{LABELS} cannot be read: {exc.strerror or exc}"]
    problems = []
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark would otherwise glue itself to the first column's name
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        text = raw.decode("cp1252", errors="replace")
        problems.append(f"{LABELS} line {line}: not UTF-8; read as Windows-1252 (save the file as UTF-8)")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip() for name in next(reader)]
    except (StopIteration, csv.Error):
        return {}, problems + [f"{LABELS} has no header row"]
    if "file" not in header:
        return {}, problems + [f"{LABELS} has no 'file' column (its columns: {', '.join(header) or 'none'})"]
    rows: dict[str, dict[str, str]] = {}
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(f"{LABELS} line {reader.line_num}: {exc}; skipped")
            continue
        if not any(field.strip() for field in fields):
            continue
        if len(fields) != len(header):
            problems.append(f"{LABELS} line {reader.line_num}: {len(fields)} fields, the header has "
                            f"{len(header)}; skipped")
            continue
        row = {name: value.strip() for name, value in zip(header, fields, strict=True) if value.strip()}
        if "file" not in row:
            problems.append(f"{LABELS} line {reader.line_num}: no file name; skipped")
            continue
        rows[row["file"]] = row
    return rows, problems


def label_column(folder: Path, column: str, problems: list[str] | None = None) -> dict[str, str]:
    """file -> the column's value, for the rows that have one; problems are added to `problems`."""
    rows, found = read_labels(folder)
    if problems is not None:
        problems.extend(found)
    return {name: row[column] for name, row in rows.items() if column in row}
