"""Combined queries, image queries, paging, a score cut-off and near-duplicate folding, on a real index."""

import pytest
from tests.helpers import make_image
from PIL import Image

from src.indexing import index_folder
from src.search import Part, QueryError, Searcher
from src.store import open_store


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


def test_an_image_query_and_more_like_this_find_the_image_first(searcher, embedder, settings):
    vector = image_vector(embedder, settings.dataset_dir / "food/e.gif")
    assert searcher.search(None, k=3, mode="image", parts=[Part(vector=vector)])[0].path == "food/e.gif"
    target = searcher.search(None, k=1, mode="image", parts=[Part(vector=vector)])[0]
    like = searcher.search(None, k=3, mode="hybrid", parts=[Part(point_id=target.id)])
    assert like[0].id == target.id and like[0].score == pytest.approx(1.0, abs=1e-4)


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
