"""labels.csv as spreadsheets write it: a byte-order mark, Windows-1252 bytes, rows that cannot be
used, each reported with its line while the other rows still count (issue 16)."""

from src.indexing import IndexReport, read_categories
from src.labels import read_labels


def write(folder, data: bytes):
    (folder / "labels.csv").write_bytes(data)
    return folder


def test_a_byte_order_mark_keeps_every_label(tmp_path):
    write(tmp_path, b"\xef\xbb\xbffile,category\r\na.jpg,cars\r\nb.jpg,food\r\n")
    assert read_categories(tmp_path) == {"a.jpg": "cars", "b.jpg": "food"}


def test_windows_1252_bytes_are_read_and_reported(tmp_path):
    write(tmp_path, "file,category,brand\na.jpg,cars,Citroën\nb.jpg,food,Nestlé\n".encode("cp1252"))
    rows, problems = read_labels(tmp_path)
    assert rows["a.jpg"]["brand"] == "Citroën" and rows["b.jpg"]["category"] == "food"
    assert problems == ["labels.csv line 2: not UTF-8; read as Windows-1252 (save the file as UTF-8)"]


def test_a_bad_row_is_reported_with_its_line_and_the_others_kept(tmp_path):
    write(tmp_path, b"file,category\na.jpg,cars\nb.jpg,food,extra\n,food\nc.jpg,shoes\n")
    report = IndexReport()
    assert read_categories(tmp_path, report.warnings) == {"a.jpg": "cars", "c.jpg": "shoes"}
    assert report.warnings == ["labels.csv line 3: 3 fields, the header has 2; skipped",
                               "labels.csv line 4: no file name; skipped"]
    assert "warning: labels.csv line 3" in report.summary()


def test_no_file_column_is_said(tmp_path):
    write(tmp_path, b"name,category\na.jpg,cars\n")
    assert read_labels(tmp_path) == ({}, ["labels.csv has no 'file' column (its columns: name, category)"])
