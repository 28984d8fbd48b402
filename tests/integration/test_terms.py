"""Terms of ads and queries: stop words, stems, run-together words split, on both sides of BM25, in the
highlights, and ranked by the real Qdrant engine."""

from __future__ import annotations

import pytest

from src.ocr import Word
from src.search import matching_words, snippet
from src.settings import Settings
from src.store import Point, SparseVector, Vectors, open_store
from src.terms import document_vector, query_vector, segments, terms


@pytest.mark.parametrize("text, expected", [
    ("woman running in the hills", ["woman", "run", "hill"]),  # stop words out, stems in
    ("RUN SHOES", ["run", "shoe"]),
    ("$4.99 50% off", ["$4.99", "4.99", "50%", "50", "off"]),
    ("AT&T and A&W", ["at&t", "a&w"]),  # "at" and "t" are stop words; the brand is one term
    ("Free NEW best buy", ["free", "new", "best", "buy"]),  # ad words are not stop words
])
def test_terms(text, expected):
    assert terms(text) == expected


@pytest.mark.parametrize("token, parts", [
    ("freeshipping", ("free", "shipping")),
    ("upto50", ("up", "to", "50")),
    ("reserveinstore", ("reserve", "in", "store")),
    ("atselectbananarepublic", ("at", "select", "banana", "republic")),
    ("glacielle", ()),  # a brand the segmenter does not know: "gla ciel le" is not believed
    ("zenfone", ()),  # "zen f one"
    ("athleta", ()),  # "a th let a"
    ("shipping", ()),  # one word
    ("奥迪a3", ()),
])
def test_run_together_words_are_split_only_when_believable(token, parts):
    assert segments(token) == parts


def test_run_together_words_keep_the_original_and_add_their_parts():
    found = terms("UPTO50%OFF FREESHIPPING")
    assert found[0] == "upto50" and {"up", "50", "off", "free", "ship", "freeship"} <= set(found)
    assert set(terms("up to 50% off")) - {"50%"} <= set(found)
    assert set(terms("free shipping")) <= set(found)


@pytest.mark.parametrize("text, wanted", [
    ("CHECKIN@AuntieAnne'sDA:MEN", {"aunti", "ann"}),  # the case changes where a word starts
    ("THEAT&T", {"at&t"}),  # an "&" brand run into the word before it
    ("VorsprungdurchTechnik", {"technik"}),
    ("8JANUARY2016", {"januari", "2016"}),
])
def test_words_run_together_are_found_by_case_and_digits(text, wanted):
    assert wanted <= set(terms(text))


def test_stop_words_are_neither_searched_nor_highlighted():
    assert query_vector("in the") == ([], [])
    assert snippet("LIFE IN THE CITY", "woman running in the hills") == (("LIFE IN THE CITY", False),)
    marked = snippet("Head for the hills RUN", "woman running in the hills")
    assert [piece for piece, match in marked if match] == ["hills", "RUN"]
    words = [Word(t, 10 * i, 0, 8, 8, 90.0) for i, t in enumerate(["IN", "THE", "HILLS", "RESERVEINSTORE"])]
    assert [w.text for w in matching_words(words, "in the hills")] == ["HILLS"]
    assert [w.text for w in matching_words(words, "store")] == ["RESERVEINSTORE"]  # a part of a run marks it


@pytest.mark.parametrize("engine", ["edge", "qdrant-client"])
def test_bm25_ranks_on_meaningful_words_only(tmp_path, engine):
    texts = {
        "a": "LIFE IN THE CITY",  # matches the query only on stop words
        "b": "IN THE STORE TODAY, THE BEST IN TOWN",
        "c": "Head for the hills. RUN in our layers",  # stems: hills ~ hill, RUN ~ running
        "d": "UPTO50%OFF FREESHIPPING",  # run together
    }
    ids = {name: f"00000000-0000-0000-0000-0000000000{n:02d}" for n, name in enumerate(texts)}
    settings = Settings.load(environ={}, qdrant_path=tmp_path / "q", collection="t", embedded_engine=engine)
    with open_store(settings) as store:
        store.create(None, None)
        store.upsert([Point(ids[n], Vectors(bm25=SparseVector(*document_vector(t))), {"path": n, "text": t})
                      for n, t in texts.items()])
        search = lambda q: [  # noqa: E731
            h.payload["path"] for h in store.search(Vectors(bm25=SparseVector(*query_vector(q))), limit=4)]
        assert search("woman running in the hills") == ["c"]
        assert search("up to 50% off")[0] == "d" and search("free shipping") == ["d"]
