"""Terms of ads and queries: stop words, stems, run-together words split, letter trigrams, on both sides
of BM25, in the highlights (never the trigrams), and ranked by the real Qdrant engine; and the index step
rewriting BM25 vectors that older term rules made."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from src import terms as term_rules
from src.indexing import index_folder
from src.ocr import Word
from src.search import matching_words, snippet
from src.settings import Settings
from src.store import Point, SparseVector, Vectors, open_store
from src.terms import GRAM_CAP, GRAM_PREFIX, document_grams, document_vector, grams, query_vector, segments, terms


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


@contextmanager
def words_search(tmp_path, engine: str, texts: dict[str, str], limit: int):
    """A search (query -> the names of the ads found) in a store of these ad texts (name -> text) with
    their BM25 vectors alone."""
    ids = {name: f"00000000-0000-0000-0000-0000000000{n:02d}" for n, name in enumerate(texts)}
    settings = Settings.load(environ={}, qdrant_path=tmp_path / "q", collection="t", embedded_engine=engine)
    with open_store(settings) as store:
        store.create(None, None)
        store.upsert([Point(ids[n], Vectors(bm25=SparseVector(*document_vector(t))), {"path": n, "text": t})
                      for n, t in texts.items()])
        yield lambda query: [hit.payload["path"] for hit in
                             store.search(Vectors(bm25=SparseVector(*query_vector(query))), limit=limit)]

@pytest.mark.parametrize("engine", ["edge", "qdrant-client"])
def test_bm25_ranks_on_meaningful_words_only(tmp_path, engine):
    texts = {
        "a": "LIFE IN THE CITY",  # matches the query only on stop words
        "b": "IN THE STORE TODAY, THE BEST IN TOWN",
        "c": "Head for the hills. RUN in our layers",  # stems: hills ~ hill, RUN ~ running
        "d": "UPTO50%OFF FREESHIPPING",  # run together
    }
    with words_search(tmp_path, engine, texts, limit=4) as search:
        assert search("woman running in the hills") == ["c"]
        assert search("up to 50% off")[0] == "d" and search("free shipping") == ["d"]


@pytest.mark.parametrize("text, expected", [
    ("SHOES", [["^sh", "sho", "hoe", "oe$"]]),  # the stem's trigrams, padded: "shoes" -> shoe
    ("RUNNING", []),  # its stem "run" has 3 letters
    ("AD1DAS", [["^ad", "ad1", "d1d", "1da", "das", "as$"]]),  # a misread letter: still 4+ letters
    ("the cat AT&T 4.99 50%", []),  # stop words, words under 4 letters, numbers: none
    ("Starbuck COFFE", [["^st", "sta", "tar", "arb", "rbu", "buc", "uck", "ck$"], ["^co", "cof", "off", "ff$"]]),
])
def test_grams_are_the_trigrams_of_each_longer_word(text, expected):
    assert grams(text) == [[GRAM_PREFIX + gram for gram in word] for word in expected]


def test_an_ad_keeps_every_third_trigram_of_its_words():
    assert grams("SAMSUNC COFFEE", 3) == [[GRAM_PREFIX + g for g in word] for word in (["^sa", "msu", "nc$"],
                                                                                       ["^co", "ffe"])]
    assert document_grams("SAMSUNC samsunc COFFEE") == {
        GRAM_PREFIX + g: n for g, n in {"^sa": 2, "msu": 2, "nc$": 2, "^co": 1, "ffe": 1}.items()}


def test_an_ad_keeps_at_most_gram_cap_trigrams_the_rarest_in_english():
    common = ("coffee chocolate everyone family christmas season together wonderful beautiful station "
              "international restaurant delivery original collection freshness") * 3
    text = f"{common} XQZWORP VLORBNIK"  # misreadings: no English word holds "xqz", "zwo", "vlo", "orb" ...
    assert len({gram for word in grams(text, 3) for gram in word}) > GRAM_CAP
    found = document_grams(text)
    assert len(found) == GRAM_CAP
    assert {GRAM_PREFIX + g for g in ("^xq", "zwo", "rp$", "^vl", "orb", "nik")} <= set(found)
    assert GRAM_PREFIX + "^co" not in found  # the start of a great many English words: among the first to go
    assert found[GRAM_PREFIX + "^xq"] == 1 and found[GRAM_PREFIX + "ffe"] == 3  # counts as in the text


def test_trigrams_are_terms_of_their_own_weighed_below_the_word():
    assert not any(term.startswith(GRAM_PREFIX) for term in terms("adidas ADIDAS $4.99 #1 C#"))
    _, values = query_vector("adidas")  # the word weighs 1, its stem's five trigrams 1/5 each: 1 together
    assert sorted(values) == pytest.approx([1 / 5] * 5 + [1.0])
    _, values = query_vector("kit kat chocolate")  # each word's trigrams 1 in all, whatever its length
    assert sum(values) == pytest.approx(3 + 1)  # only "chocolate" has 4+ letters ("chocol" once stemmed)
    indices, values = document_vector("ADIDAS")
    word = dict(zip(indices, values))[term_rules.term_id("adida")]
    assert all(value < word for value in values if value != word)


def test_trigrams_never_mark_words():
    assert snippet("AD1DAS ORIGINALS", "adidas") == (("AD1DAS ORIGINALS", False),)
    assert matching_words([Word("AD1DAS", 0, 0, 8, 8, 90.0)], "adidas") == []
    assert [piece for piece, match in snippet("ADIDAS ORIGINALS", "adidas") if match] == ["ADIDAS"]


@pytest.mark.parametrize("engine", ["edge", "qdrant-client"])
def test_misread_words_still_match_below_exact_ones(tmp_path, engine):
    texts = {
        "a": "ADIDAS ORIGINALS",
        "b": "AD1DAS ORIGINALS",  # OCR misread one letter
        "c": "SAMSUNC COFFE",  # misread a letter, dropped one
        "d": "DUNKIN DONUTS COFFEE",
        "e": "PUMA",
    }
    with words_search(tmp_path, engine, texts, limit=5) as search:
        assert search("adidas") == ["a", "b"]  # the exact word first, the misreading next
        assert search("samsung") == ["c"]
        assert search("coffee")[:2] == ["d", "c"]
        assert search("puma") == ["e"]


@pytest.mark.parametrize("engine", ["edge", "qdrant-client"])
def test_index_rewrites_bm25_vectors_that_older_term_rules_made(settings, embedder, engine, monkeypatch):
    """Points whose BM25 vector an older VERSION of the term rules made (or one from before versions were
    stored) get it made again from their stored text by the next index, no OCR, the image vector kept."""
    settings = Settings.load(environ={}, clip_model=settings.clip_model, dataset_dir=settings.dataset_dir,
                             qdrant_path=settings.qdrant_path, embedded_engine=engine)
    with open_store(settings) as store:
        index_folder(settings.dataset_dir, embedder, store, progress=False)
        by_path = {record.payload["path"]: record for record in store.points(vector="image")}
        with monkeypatch.context() as old_rules:  # the rules of version 2: no trigrams
            old_rules.setattr(term_rules, "document_grams", lambda text: {})
            old = {text: SparseVector(*document_vector(text)) for text in ("AD1DAS ORIGINALS", "SAMSUNC")}
        versioned, unversioned = by_path["cars/a.jpg"], by_path["food/d.jpeg"]
        store.update_text(versioned.id, Vectors(bm25=old["AD1DAS ORIGINALS"]),
                          {"text": "AD1DAS ORIGINALS", "has_text": True})
        store.update_payload(versioned.id, {"terms": term_rules.VERSION - 1})
        payload = {key: value for key, value in unversioned.payload.items() if key != "terms"}
        store.upsert([Point(unversioned.id, Vectors(image=unversioned.vector, bm25=old["SAMSUNC"]),
                            payload | {"text": "SAMSUNC", "has_text": True})])
        search = lambda q: [  # noqa: E731
            h.payload["path"] for h in store.search(Vectors(bm25=SparseVector(*query_vector(q))), limit=5)]
        assert search("adidas") == [] and search("samsung") == []  # the old vectors know no trigrams

        report = index_folder(settings.dataset_dir, embedder, store, progress=False)
        assert report.reweighed == 2 and report.indexed == 0 and "search terms rewritten 2" in report.summary()
        assert search("adidas") == ["cars/a.jpg"] and search("samsung") == ["food/d.jpeg"]
        for record in (versioned, unversioned):
            assert store.vector(record.id) == pytest.approx(record.vector)  # the image vector is kept
        payloads = {record.payload["path"]: record.payload for record in store.points()}
        assert {p.get("terms") for p in payloads.values()} == {term_rules.VERSION}
        assert payloads["cars/a.jpg"]["text"] == "AD1DAS ORIGINALS"
        assert index_folder(settings.dataset_dir, embedder, store, progress=False).reweighed == 0
