"""The evaluation CLI: query files and relevance rules, malformed input, and an end-to-end run on a few
bundled ads indexed with OCR and the tiny random CLIP (only words can be right, so exact queries in text
mode must score full marks)."""

import csv
import json
import re
import shutil
from collections import Counter

import pytest

from evaluation.cli import main
from evaluation.queries import QUERY_TYPES, QueryFileError, load_queries
from evaluation.rules import RuleError, parse_rule
from src.indexing import index_folder
from src.settings import Settings
from src.store import open_store
from src.text_cache import TextCache
from src.text_reading import TextReader
from tests.helpers import ROOT, require_tool

ADS = ["phones/pixora-phones-02.png", "phones/pixora-phones-04.jpg", "coffee/brewhaven-coffee-01.jpg",
       "coffee/brewhaven-coffee-04.gif", "water/glacielle-water-05.webp", "banking/ledgerstone-bank-01.png"]
ROWS = [
    {"file": "a/one.jpg", "brand": "Pixora Phones", "category": "phones", "text": "Pixora Phones | 50% OFF"},
    {"file": "a/two.jpg", "brand": "Brewhaven Coffee", "category": "coffee", "text": "Brewhaven | €3.90"},
    {"file": "b/three.jpg", "brand": "", "category": "coffee", "text": ""},
]


# -- relevance rules -----------------------------------------------------------------------------------
@pytest.mark.parametrize("rule, files", [
    ("category=coffee", {"a/two.jpg", "b/three.jpg"}),
    ("brand=PIXORA PHONES", {"a/one.jpg"}),  # case and spaces do not matter
    ("brand=pixora", set()),  # = is the whole field; ~= is a part
    ("brand~=pixora", {"a/one.jpg"}),
    ("text~=50% off", {"a/one.jpg"}),
    ("category=coffee & text~=€", {"a/two.jpg"}),
    ("brand= ", {"b/three.jpg"}),  # an empty field
    ("category=phones | category = coffee & brand=", {"a/one.jpg", "b/three.jpg"}),  # & binds tighter
])
def test_rules_select_rows(rule, files):
    assert parse_rule(rule, list(ROWS[0])).select(ROWS) == files


@pytest.mark.parametrize("rule, message", [
    ("colour=red", "names the field 'colour'"),
    ("category coffee & brand=x", "is not FIELD=VALUE"),
    ("text~=", "would match every file"),
    ("category=coffee |", "is not FIELD=VALUE"),
])
def test_bad_rules_say_what_is_wrong(rule, message):
    with pytest.raises(RuleError, match=message):
        parse_rule(rule, list(ROWS[0]))


# -- query files ---------------------------------------------------------------------------------------
@pytest.fixture
def images(tmp_path):
    """A dataset folder with three (empty) files and their labels."""
    folder = tmp_path / "images"
    for row in ROWS:
        (folder / row["file"]).parent.mkdir(parents=True, exist_ok=True)
        (folder / row["file"]).write_bytes(b"")
    with open(folder / "labels.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(ROWS[0]))
        writer.writeheader()
        writer.writerows(ROWS)
    return folder


def test_yaml_and_csv_give_the_same_queries(images, tmp_path):
    yaml_file = tmp_path / "q.yaml"
    yaml_file.write_text("# comment\n- id: q1\n  query: pixora\n  type: exact\n  relevant: brand~=pixora\n"
                         "- id: q2\n  query: coffee\n  type: Semantic\n  relevant: [a/two.jpg, b/three.jpg]\n"
                         "- id: q3\n  query: nothing here\n  type: vague\n  relevant: []\n")
    csv_file = tmp_path / "q.csv"
    csv_file.write_text("id,query,type,relevant\nq1,pixora,exact,brand~=pixora\n\n"
                        "q2,coffee,semantic,a/two.jpg;b/three.jpg\nq3,nothing here,vague,\n")
    from_yaml, from_csv = load_queries(yaml_file, images), load_queries(csv_file, images)
    fields = lambda queries: [(q.id, q.text, q.type, q.relevant) for q in queries]  # noqa: E731
    assert fields(from_yaml) == fields(from_csv)
    assert from_yaml[1].relevant == {"a/two.jpg", "b/three.jpg"} and from_yaml[2].relevant == frozenset()
    assert [q.where for q in from_yaml] == [f"{yaml_file}:2", f"{yaml_file}:6", f"{yaml_file}:10"]
    assert [q.where for q in from_csv] == [f"{csv_file}:2", f"{csv_file}:4", f"{csv_file}:5"]


@pytest.mark.parametrize("name, text, message", [
    ("q.csv", "id,query,relevant\nq1,pixora,brand~=pixora\n", r"q.csv:1: missing column 'type'"),
    ("q.csv", "id,query,type,relevant\nq1,pixora,exact,brand~=pixora\nq2,x,obvious,a/one.jpg\n",
     r"q.csv:3: unknown query type 'obvious'"),
    ("q.yaml", "- id: q1\n  query: pixora\n  type: exact\n  relevant: [a/one.jpg, a/gone.jpg]\n",
     r"q.yaml:1: the relevant file 'a/gone.jpg' does not exist in"),
    ("q.yaml", "- id: q1\n  query: x\n  type: exact\n  relevant: a/one.jpg\n- id: q1\n  query: y\n  type: exact\n"
     "  relevant: brand=audi\n", r"q.yaml:5: the rule 'brand=audi' matches no file in .*labels.csv"),
    ("q.yaml", "- id: q1\n  query: x\n  type: exact\n  relevant: a/one.jpg\n- id: q1\n  query: y\n  type: exact\n"
     "  relevant: a/one.jpg\n", r"q.yaml:5: the id 'q1' is already used at line 1"),
    ("q.yaml", "- id: q1\n  query: x\n  type: exact\n  relevant: colour=red\n",
     r"q.yaml:1: .*names the field 'colour'"),
    ("q.yaml", "- id: q1\n  query: x\n  typ: exact\n  relevant: a/one.jpg\n", r"q.yaml:1: unknown field 'typ'"),
    ("q.yaml", "- id: q1\n  query: x\n  relevant: a/one.jpg\n", r"q.yaml:1: the query has no 'type'"),
    ("q.yaml", "- id: q1\n  query: [x\n  type: exact\n", r"q.yaml:3: not valid YAML"),
    ("q.yaml", "", r"q.yaml:1: the file holds no queries"),
])
def test_malformed_query_files_exit_non_zero_naming_file_and_line(images, tmp_path, capsys, name, text, message):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(QueryFileError, match=message):
        load_queries(path, images)
    assert main(["--queries", str(path), "--images", str(images), "--qdrant-path", str(tmp_path / "q")]) == 2
    assert "error: " in capsys.readouterr().err and not (tmp_path / "q").exists()  # stopped before the store


def test_a_missing_query_file_is_named(images, tmp_path, capsys):
    assert main(["--queries", str(tmp_path / "nope.yaml"), "--images", str(images)]) == 2
    assert f"error: {tmp_path / 'nope.yaml'}: no such query file" in capsys.readouterr().err


def test_the_bundled_query_set_covers_every_type_with_real_files():
    queries = load_queries(ROOT / "evaluation/queries.yaml", ROOT / "dataset")
    types = Counter(q.type for q in queries)
    assert len(queries) >= 40 and set(types) == set(QUERY_TYPES) and min(types.values()) >= 8
    assert all(q.relevant and all((ROOT / "dataset" / f).is_file() for f in q.relevant) for q in queries)


# -- end to end ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def indexed(tmp_path_factory, tiny_clip, ocr_once):
    """A few bundled ads with their labels, indexed with OCR twice: with the tiny CLIP, and text only."""
    require_tool("tesseract")
    tmp = tmp_path_factory.mktemp("evaluation")
    folder = tmp / "ads"
    with open(ROOT / "dataset/labels.csv", newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = [row for row in reader if row["file"] in ADS]
    for row in rows:
        (folder / row["file"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "dataset" / row["file"], folder / row["file"])
    with open(folder / "labels.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    from src.embedding import ClipEmbedder

    embedder = ClipEmbedder(str(tiny_clip)).load()
    ocr_once.give_text(folder, tmp / "text")  # the evaluation is tested here, not the reading
    for store_name, model in (("with-model", embedder), ("text-only", None)):
        settings = Settings.load(environ={}, dataset_dir=folder, qdrant_path=tmp / store_name, text_dir=tmp / "text")
        with TextReader(TextCache(settings.text_dir, settings.ocr_langs)) as reader, open_store(settings) as store:
            assert index_folder(folder, model, store, progress=False, reader=reader).indexed == len(ADS)
    # On disk and in the labels, but not in the index: it can never be found.
    shutil.copy(ROOT / "dataset/phones/pixora-phones-07.jpg", folder / "phones/pixora-phones-07.jpg")
    queries = tmp / "queries.yaml"
    queries.write_text(
        "- {id: pixora, query: pixora, type: exact, relevant: brand=pixora phones}\n"
        "- {id: coffee, query: brewhaven coffee, type: exact, relevant: category=coffee}\n"
        "- {id: shipping, query: free shipping, type: exact, relevant: text~=free shipping}\n"
        "- {id: pixora-all, query: pixora phones, type: complex, relevant: [phones/pixora-phones-02.png, "
        "phones/pixora-phones-04.jpg, phones/pixora-phones-07.jpg]}\n"
        "- {id: money, query: somewhere safe for my money, type: vague, relevant: category=banking}\n",
        encoding="utf-8",
    )
    return tmp, folder, queries, tiny_clip


def test_three_modes_side_by_side_with_a_report(indexed, capsys):
    tmp, folder, queries, tiny_clip = indexed
    out = tmp / "report"
    assert main(["--queries", str(queries), "--images", str(folder), "--qdrant-path", str(tmp / "with-model"),
                 "--model", str(tiny_clip), "--modes", "image,text", "hybrid", "--k", "3", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    table = printed.out.splitlines()
    assert table[table.index(next(row for row in table if row.startswith("type"))) + 1].startswith("----")
    for kind in ("exact", "complex", "vague", "all"):
        assert {line.split()[1] for line in table if line.startswith(kind + " ")} == {"image", "text", "hybrid"}
    assert "P@3" in printed.out and "nDCG@3" in printed.out and "mAP" in printed.out and "MRR" in printed.out
    assert "1 relevant files are not in the index" in printed.err and "pixora-phones-07.jpg" in printed.err
    assert {p.name for p in out.iterdir()} == {"report.md", "metrics.json", "pr_curve.png", "map_by_type.png"}

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["relevant_files_not_indexed"] == ["phones/pixora-phones-07.jpg"]
    text = {q["id"]: q for q in metrics["modes"]["text"]["queries"]}
    # Random weights: only the words know which ad says what. Text mode fuses them with the text vectors,
    # which a random model makes noise, so a tie in the fusion can put one stray ad between two that say
    # "free shipping"; both are still in the first three.
    assert text["pixora"]["AP"] == 1.0 and text["pixora"]["P@3"] == pytest.approx(2 / 3)  # 2 pixora ads indexed
    assert text["coffee"]["AP"] == 1.0 and text["shipping"]["AP"] >= 0.8 and text["shipping"]["R@3"] == 1.0
    # The third relevant file is missing from the index: recall and AP stop at 2/3.
    assert text["pixora-all"]["R@3"] == pytest.approx(2 / 3) and text["pixora-all"]["AP"] == pytest.approx(2 / 3)
    assert metrics["modes"]["text"]["groups"]["exact"]["mAP"] >= 0.9
    assert len(metrics["modes"]["hybrid"]["pr_curve"]["precision"]) == 11
    report = (out / "report.md").read_text()
    assert "## By query type" in report and "![Precision-recall curves](pr_curve.png)" in report
    assert "| exact | text | 3 |" in report


def test_without_image_vectors_only_the_words_are_evaluated_and_labelled_so(indexed, capsys):
    tmp, folder, queries, tiny_clip = indexed
    assert main(["--queries", str(queries), "--images", str(folder), "--qdrant-path", str(tmp / "text-only"),
                 "--model", str(tmp / "no-such-model"), "--k", "3", "--out", str(tmp / "words")]) == 0
    printed = capsys.readouterr()
    assert "indexed without an image model" in printed.err and "image, hybrid skipped" in printed.err
    assert re.search(r"^all +text \(words only\) +5 ", printed.out, re.MULTILINE)
    metrics = json.loads((tmp / "words/metrics.json").read_text())
    assert list(metrics["modes"]) == ["text (words only)"] and metrics["notes"]
    assert metrics["modes"]["text (words only)"]["groups"]["exact"]["mAP"] == 1.0


def test_a_model_that_cannot_load_falls_back_to_the_words(indexed, capsys):
    tmp, folder, queries, tiny_clip = indexed
    assert main(["--queries", str(queries), "--images", str(folder), "--qdrant-path", str(tmp / "with-model"),
                 "--model", str(tmp / "no-such-model"), "--out", str(tmp / "fallback")]) == 0
    err = capsys.readouterr().err
    assert "not of CLIP_MODEL" in err and "text (words only)" in err


def test_a_missing_or_empty_collection_is_reported(indexed, tmp_path, capsys):
    tmp, folder, queries, tiny_clip = indexed
    assert main(["--queries", str(queries), "--images", str(folder), "--qdrant-path", str(tmp_path / "empty"),
                 "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "collection 'ads'" in err and "is missing: run `python main.py index` first" in err
    assert not (tmp_path / "out").exists()


def test_bad_flags_are_usage_errors(indexed, capsys):
    tmp, folder, queries, tiny_clip = indexed
    for flags in (["--modes", "pictures"], ["--k", "0"], ["--k", "101"]):
        with pytest.raises(SystemExit) as stop:
            main(["--queries", str(queries), "--images", str(folder), *flags])
        assert stop.value.code == 2
    assert "unknown mode 'pictures'" in capsys.readouterr().err


def test_main_py_evaluate_forwards_to_the_evaluation(indexed, capsys):
    from src.cli import main as app_main

    tmp, folder, queries, tiny_clip = indexed
    assert app_main(["evaluate", "--queries", str(queries), "--images", str(folder), "--qdrant-path",
                     str(tmp / "text-only"), "--k", "2", "--out", str(tmp / "via-main")]) == 0
    assert "P@2" in capsys.readouterr().out and (tmp / "via-main/report.md").exists()
