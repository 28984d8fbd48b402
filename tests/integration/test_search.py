"""Combined queries, image queries, paging, a score cut-off and near-duplicate folding, on a real index."""

import pytest
from PIL import Image

from src.indexing import index_folder
from src.search import Part, QueryError, Searcher
from src.store import open_store
from tests.helpers import make_image


@pytest.fixture
def searcher(settings, embedder):
    folder = settings.dataset_dir
    with Image.open(folder / "g.jpg") as image:  # a near-duplicate: the same picture re-encoded
        image.save(folder / "g-again.jpg", quality=70)
    make_image(folder / "cars/x.png", 77)
    with open_store(settings) as store:
        index_folder(folder, embedder, store, progress=False)
        yield Searcher(embedder, store)


def image_vector(embedder, path):
    return tuple(embedder.embed_images([Image.open(path).convert("RGB")])[0].tolist())


def test_an_image_query_finds_the_image_first_and_more_like_this_leaves_it_out(searcher, embedder, settings):
    vector = image_vector(embedder, settings.dataset_dir / "food/e.gif")
    by_file = searcher.search(None, k=4, mode="image", parts=[Part(vector=vector)])
    assert by_file[0].path == "food/e.gif" and by_file[0].score == pytest.approx(1.0, abs=1e-3)
    like = searcher.search(None, k=3, mode="hybrid", parts=[Part(point_id=by_file[0].id)])
    # The image searched with is the query, not a result: the rest come in the same order.
    assert [r.id for r in like] == [r.id for r in by_file[1:]]


def test_pages_follow_on_without_repeats_when_near_duplicates_fold(searcher):
    count = searcher.store.count()
    whole = searcher.search_page("red car", k=20, mode="image", collapse=-1.0)  # everything folds into #1
    assert len(whole.results) == 1 and whole.results[0].similar == count - 1 and whole.next_offset is None
    first = searcher.search_page("red car", k=3, mode="image", collapse=2.0)  # nothing folds
    second = searcher.search_page("red car", k=3, mode="image", collapse=2.0, offset=first.next_offset)
    last = searcher.search_page("red car", k=3, mode="image", collapse=2.0, offset=second.next_offset)
    ids = [r.id for page in (first, second, last) for r in page.results]
    rest = searcher.search_page("red car", k=20, mode="image", collapse=2.0, offset=last.next_offset or 0)
    ids += [r.id for r in rest.results] if last.next_offset else []
    assert len(ids) == len(set(ids)) == count


def test_a_negative_part_pushes_its_image_down(searcher, embedder, settings):
    plain = searcher.search("red car", k=10, mode="image")
    first = plain[0]
    away = searcher.search("red car", k=10, mode="image", parts=[Part(point_id=first.id, weight=-1.0)])
    assert away[0].id != first.id
    assert first.id not in [r.id for r in away[:1]] and len(away) == len(plain)


def test_pages_follow_each_other(searcher):
    whole = searcher.search("red car", k=6, mode="image")
    second = searcher.search("red car", k=3, mode="image", offset=3)
    assert [r.id for r in second] == [r.id for r in whole[3:6]]
    assert [r.rank for r in second] == [4, 5, 6]


def test_min_score_cuts_off_weak_matches(searcher, embedder, settings):
    vector = image_vector(embedder, settings.dataset_dir / "cars/x.png")
    everything = searcher.search(None, k=20, mode="image", parts=[Part(vector=vector)])
    strict = searcher.search(None, k=20, mode="image", parts=[Part(vector=vector)], min_score=0.999)
    assert len(everything) == 10 and [r.path for r in strict] == ["cars/x.png"]


def test_near_duplicates_fold_into_the_best_with_a_count(searcher, embedder, settings):
    vector = image_vector(embedder, settings.dataset_dir / "g.jpg")
    loose = searcher.search(None, k=3, mode="image", parts=[Part(vector=vector)])
    assert {r.path for r in loose[:2]} == {"g.jpg", "g-again.jpg"}
    folded = searcher.search(None, k=3, mode="image", parts=[Part(vector=vector)], collapse=0.995)
    assert folded[0].path in {"g.jpg", "g-again.jpg"} and folded[0].similar == 1
    assert len(folded) == 3 and all(r.path not in {"g.jpg", "g-again.jpg"} for r in folded[1:])


@pytest.mark.parametrize("kwargs, message", [
    ({"parts": [Part(text="cat", weight=-1)]}, "positive weight"),
    ({"parts": [Part(vector=(0.1,) * 16)], "words_only": True}, "needs the image model"),
    ({"parts": [Part(text="cat")], "offset": 5000}, "offset must be"),
])
def test_queries_that_cannot_work_say_why(searcher, kwargs, message):
    with pytest.raises(QueryError, match=message):
        searcher.search(None, **kwargs)


def test_the_store_is_asked_for_vectors_only_when_near_duplicates_fold(searcher, monkeypatch):
    asked = []
    search = searcher.store.search

    def recording(*args, **kwargs):
        hits = search(*args, **kwargs)
        asked.append((kwargs.get("with_vectors", False), any(h.vector is not None for h in hits)))
        return hits

    monkeypatch.setattr(searcher.store, "search", recording)
    searcher.search_page("red car", k=3)
    searcher.search_page("red car", k=3, collapse=0.97)
    assert asked == [(False, False), (True, True)]


def test_a_repeated_query_is_answered_from_its_kept_page_until_the_store_changes(searcher, monkeypatch):
    asked = []
    search = searcher.store.search
    monkeypatch.setattr(searcher.store, "search", lambda *a, **kw: asked.append(kw) or search(*a, **kw))
    first = searcher.search_page("red car", k=3)
    assert searcher.search_page("red car", k=3) == first and len(asked) == 1  # Back, a reload, the API again
    searcher.search_page("red car", k=4)  # another page size is another query
    searcher.search_page("red car", k=3, offset=first.next_offset)
    assert len(asked) == 3
    searcher.store.delete([first.results[0].id])  # any write: the pages kept before it no longer hold
    after = searcher.search_page("red car", k=3)
    assert len(asked) == 4 and first.results[0].id not in [r.id for r in after.results]
