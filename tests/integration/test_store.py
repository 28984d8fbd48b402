"""One suite for every store engine: the embedded ones run here; a server is reached through the same
qdrant-client code as its local mode, so that code is tested too."""

import json
import threading
import time

import numpy as np
import pytest

import src.store.background_build as background_build
import src.store.edge as store_edge
from src.settings import Settings
from src.store import SCHEMA_VERSION, Point, SparseVector, StoreUnavailable, Vectors, open_store
from tests.helpers import closed_port

ENGINES = ["edge", "qdrant-client"]


def unit(seed: int, dim: int = 8) -> list[float]:
    v = np.random.default_rng(seed).normal(size=dim)
    return (v / np.linalg.norm(v)).tolist()


def engine_settings(path, engine: str) -> Settings:
    return Settings.load(environ={}, qdrant_path=path, collection="t", embedded_engine=engine)


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    return request.param


@pytest.fixture
def store(tmp_path, engine):
    with open_store(engine_settings(tmp_path / "q", engine)) as s:
        yield s


def test_create_records_schema_model_and_dim(store):
    assert not store.state().exists and store.count() == 0 and store.search(Vectors(image=unit(0)), 5) == []
    store.create("model-a", 8)
    state = store.state()
    assert state.exists and state.schema_version == SCHEMA_VERSION
    assert state.matches("model-a", 8)
    assert not state.matches("model-b", 8) and "model-a" in state.mismatch("model-b", 8)
    assert not state.matches("model-a", 16)


def test_write_stamp_changes_with_every_write_and_only_then(tmp_path, engine):
    """The stamp /EDA's cached page is kept by: the same while only reads happen, new after each kind of
    write, and new when the store is opened again (its writes were not seen)."""
    settings = engine_settings(tmp_path / "q", engine)
    ids = [f"00000000-0000-0000-0000-00000000000{i}" for i in range(3)]
    seen = []
    with open_store(settings) as store:
        seen.append(store.write_stamp())
        store.create("m", 8)
        seen.append(store.write_stamp())
        store.upsert([Point(pid, Vectors(image=unit(i)), {"path": f"{i}.jpg"}) for i, pid in enumerate(ids)])
        seen.append(store.write_stamp())
        store.search(Vectors(image=unit(1)), 2)
        store.payloads(["path"])
        store.sample("image", 2)
        assert store.write_stamp() == seen[-1]  # reads change nothing
        store.update_payload(ids[0], {"path": "renamed.jpg"})
        seen.append(store.write_stamp())
        store.update_text(ids[1], Vectors(bm25=SparseVector([1], [1.0])), {"text": "b", "has_text": True})
        seen.append(store.write_stamp())
        store.delete([ids[2]])
        seen.append(store.write_stamp())
        assert store.payloads(["path"])[0].payload.keys() == {"path"}
    assert len(set(seen)) == len(seen), seen
    with open_store(settings) as store:
        assert store.write_stamp() not in seen


def test_scan_reads_every_point_page_by_page_with_only_the_fields_asked(store):
    """The overview folds the collection page by page: every point once, in pages of at most a thousand,
    in the order of their ids, with the fields asked for and nothing else."""
    assert list(store.scan(["path"])) == []  # no collection yet
    store.create("m", 8)
    ids = [f"00000000-0000-4000-8000-{n:012d}" for n in range(2500)]
    for start in range(0, len(ids), 500):
        store.upsert([Point(pid, Vectors(image=unit(n % 50)), {"path": f"{n}.jpg", "bytes": n, "text": "x"})
                      for n, pid in enumerate(ids[start:start + 500], start)])
    pages = list(store.scan(["path", "bytes"]))
    assert [len(page) for page in pages] == [1000, 1000, 500]
    read = [record for page in pages for record in page]
    assert [r.id for r in read] == ids and all(r.vector is None for r in read)
    assert all(r.payload == {"path": f"{n}.jpg", "bytes": n} for n, r in enumerate(read))
    assert store.payloads(["path", "bytes"]) == read


def test_upsert_search_payload_delete(store):
    store.create("m", 8)
    ids = [f"00000000-0000-0000-0000-00000000000{i}" for i in range(5)]
    store.upsert([Point(pid, Vectors(image=unit(i)), {"path": f"{i}.jpg", "bytes": i}) for i, pid in enumerate(ids)])
    assert store.count() == 5
    hits = store.search(Vectors(image=unit(3)), limit=2)
    assert hits[0].id == ids[3] and hits[0].payload["path"] == "3.jpg" and hits[0].score == pytest.approx(1.0)
    assert hits[0].score >= hits[1].score
    three = store.search(Vectors(image=unit(3)), 3)
    assert [h.id for h in store.search(Vectors(image=unit(3)), limit=2, offset=1)] == [three[1].id, three[2].id]
    store.update_payload(ids[0], {"path": "renamed.jpg"})
    records = store.file_records()
    assert records[ids[0]]["path"] == "renamed.jpg" and records[ids[0]]["bytes"] == 0
    store.delete(ids[:2])
    assert store.count() == 3 and set(store.file_records()) == set(ids[2:])


def test_newest_lists_the_collection_by_file_time_with_filters_and_paging(store):
    assert store.newest(5) == []  # no collection yet: nothing, not an error
    store.create("m", 8)
    ids = [f"00000000-0000-0000-0000-0000000000a{i}" for i in range(6)]
    times = [30, 10, 60, 20, 50, 40]  # written in another order than their files' times
    store.upsert([Point(pid, Vectors(image=unit(i)), {"path": f"{i}.jpg", "mtime_ns": t, "category": "ab"[i % 2],
                                                      "has_text": i < 3})
                  for i, (pid, t) in enumerate(zip(ids, times))])
    newest_first = [ids[i] for i in sorted(range(6), key=lambda i: -times[i])]
    assert [h.id for h in store.newest(6)] == newest_first
    assert [h.id for h in store.newest(2, offset=2)] == newest_first[2:4]  # pages follow each other...
    pages = [h.id for o in (0, 2, 4) for h in store.newest(2, offset=o)]
    assert pages == newest_first  # ...and together hold each point once
    first = store.newest(1)[0]
    assert first.payload["path"] == "2.jpg" and first.score == 0 and first.vector is None
    assert [h.payload["path"] for h in store.newest(6, where={"category": "a"})] == ["2.jpg", "4.jpg", "0.jpg"]
    assert [h.payload["path"] for h in store.newest(6, where={"category": "b", "has_text": True})] == ["1.jpg"]


def test_newest_works_on_an_edge_collection_made_before_its_index(tmp_path):
    import qdrant_edge as edge

    with open_store(engine_settings(tmp_path / "q", "edge")) as store:
        store.create("m", 8)
        store.upsert([Point(f"00000000-0000-0000-0000-0000000000b{i}", Vectors(image=unit(i)),
                            {"path": f"{i}.jpg", "mtime_ns": i}) for i in range(3)])
        store._write("drop the index", edge.UpdateOperation.delete_field_index("mtime_ns"))  # as made before
    with open_store(engine_settings(tmp_path / "q", "edge")) as store:
        assert [h.payload["path"] for h in store.newest(3)] == ["2.jpg", "1.jpg", "0.jpg"]


def test_channels_fuse_and_filters_apply(store):
    from src.terms import document_vector, query_vector

    store.create("m", 8)
    ids = [f"00000000-0000-0000-0000-00000000001{i}" for i in range(4)]
    texts = ["Brewhaven Coffee $4.99", "Pixora Phones upgrade today", "", "coffee and phones"]
    store.upsert([
        Point(pid, Vectors(image=unit(i))
              | (Vectors(text=unit(10 + i), bm25=SparseVector(*document_vector(t))) if t else Vectors()),
              {"path": f"{i}.jpg", "has_text": bool(t), "category": "drink" if i % 2 == 0 else "tech"})
        for i, (pid, t) in enumerate(zip(ids, texts))
    ])
    # Exact words: BM25 alone ranks the ad with the rare word first; a text-less point never matches.
    words = store.search(Vectors(bm25=SparseVector(*query_vector("pixora"))), limit=4)
    assert [h.id for h in words] == [ids[1]]
    # Fused: the image channel alone would rank ids[0] first; fusion with BM25 keeps both in the list.
    fused = store.search(Vectors(image=unit(0), bm25=SparseVector(*query_vector("pixora"))), limit=4)
    assert {ids[0], ids[1]} <= {h.id for h in fused[:2]}
    assert len({h.id for h in fused}) == len(fused)
    # Filters apply inside every channel.
    drinks = store.search(Vectors(image=unit(1), bm25=SparseVector(*query_vector("coffee"))), limit=4,
                          where={"category": "drink"})
    assert {h.payload["category"] for h in drinks} == {"drink"}
    with_text = store.search(Vectors(image=unit(2)), 4, where={"has_text": True})
    assert {h.id for h in with_text} == {ids[0], ids[1], ids[3]}
    assert [h.id for h in store.search(Vectors(image=unit(2)), 4, where={"has_text": False})] == [ids[2]]


def test_sample_draws_distinct_points_with_their_vectors(store):
    store.create("m", 8)
    ids = fill(store, 30)
    drawn = store.sample("image", 10)
    assert len({r.id for r in drawn}) == 10 and {r.id for r in drawn} <= set(ids)
    assert all(len(r.vector) == 8 and r.payload["path"].endswith(".jpg") for r in drawn)
    assert len(store.sample("image", 100)) == 30


def test_recreate_drops_old_points(store):
    store.create("m", 8)
    store.upsert([Point("00000000-0000-0000-0000-000000000001", Vectors(image=unit(1)), {})])
    store.create("other", 8)
    assert store.count() == 0 and store.state().model == "other"


def test_second_process_on_embedded_store_gets_a_clear_message(tmp_path, engine):
    settings = engine_settings(tmp_path / "q", engine)
    with open_store(settings), pytest.raises(StoreUnavailable, match="in use by another adsearch process"):
        open_store(settings)


def test_unreachable_server_is_one_clear_error():
    settings = Settings.load(environ={"QDRANT_URL": f"http://127.0.0.1:{closed_port()}", "QDRANT_API_KEY": "k3y"})
    store = open_store(settings)  # the client connects lazily: the first call fails
    with pytest.raises(StoreUnavailable) as caught:
        store.count()
    message = str(caught.value)
    assert "Qdrant server at http://127.0.0.1" in message and "k3y" not in message


def test_cluster_settings_shape_the_collection_on_a_server_only(tmp_path):
    """No Qdrant server can run here: this checks what the settings make of the collection's layout."""
    env = {"QDRANT_URL": "http://127.0.0.1:6333", "QDRANT_SHARDS": "6", "QDRANT_REPLICAS": "2",
           "QDRANT_QUANTIZATION": "binary", "QDRANT_ON_DISK": "on"}
    server = open_store(Settings.load(environ=env))
    assert server._layout() == {"shard_number": 6, "replication_factor": 2}
    scale = server._scale()
    assert scale["on_disk"] is True and scale["quantization_config"].binary.always_ram
    params = server._search_params().quantization
    assert params.rescore and params.oversampling > 1
    local = Settings.load(environ={"QDRANT_QUANTIZATION": "scalar"}, qdrant_path=tmp_path / "q",
                          embedded_engine="qdrant-client")
    with open_store(local) as client_local:
        assert client_local._layout() == {} and client_local._scale() == {} and client_local._search_params() is None
    with pytest.raises(Exception, match="QDRANT_QUANTIZATION must be"):
        Settings.load(environ={"QDRANT_QUANTIZATION": "pq"})


def fill(store, count: int, dim: int = 8) -> list[str]:
    """count points with image, text and BM25 vectors; returns their ids. Up to 56 points, no two texts
    score alike for any query (ties would leave the order to the engine)."""
    from src.terms import document_vector

    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(2 * count, dim))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"00000000-0000-0000-0000-{i:012d}" for i in range(count)]
    words = ["coffee", "phones", "shoes", "sale", "travel", "pixora", "audi", "summer"]
    store.upsert([
        Point(pid, Vectors(image=vectors[i].tolist(), text=vectors[count + i].tolist(),
                           bm25=SparseVector(*document_vector(" ".join([words[i % 8]] * (1 + i % 4)
                                                                       + [f"w{i}"] * (1 + i % 7))))),
              {"path": f"{i}.jpg", "category": f"c{i % 3}", "has_text": True})
        for i, pid in enumerate(ids)
    ])
    return ids


def test_every_engine_ranks_alike(tmp_path):
    """The same points and queries give the same ranking in every engine: one interface, one behaviour."""
    from src.terms import query_vector

    rankings = {}
    for engine in ENGINES:
        with open_store(engine_settings(tmp_path / engine, engine)) as store:
            store.create("m", 8)
            fill(store, 56)
            queries = [Vectors(image=unit(1)), Vectors(bm25=SparseVector(*query_vector("pixora sale"))),
                       Vectors(image=unit(2), text=unit(3), bm25=SparseVector(*query_vector("coffee")))]
            rankings[engine] = [[h.id for h in store.search(q, limit=10, where={"category": "c1"})] for q in queries]
            rankings[engine].append(sorted(store.facet("category")))
    assert rankings["edge"] == rankings["qdrant-client"]


def test_edge_builds_its_graph_while_writes_go_on(tmp_path, monkeypatch):
    """build_index works on a copy in a child process; writes made meanwhile are replayed onto the copy."""
    monkeypatch.setattr(store_edge, "INDEXING_THRESHOLD_KB", 1)  # graphs for tiny segments too
    monkeypatch.setattr(store_edge, "MIN_VECTORS_TO_BUILD", 10)
    build_in_child = background_build.optimize_in_child
    late = Point("00000000-0000-0000-0000-999999999999", Vectors(image=unit(99)), {"path": "late.jpg"})

    def write_during_build(folder):
        store.upsert([late])
        store.delete(ids[:5])
        store.update_payload(ids[5], {"path": "renamed.jpg"})
        return build_in_child(folder)

    monkeypatch.setattr(background_build, "optimize_in_child", write_during_build)
    with open_store(engine_settings(tmp_path / "q", "edge")) as store:
        store.create("m", 8)
        ids = fill(store, 300)
        before = store._shard.info().indexed_vectors_count
        assert store.build_index(notify=lambda _: None)
        assert store._shard.info().indexed_vectors_count > before
        assert store.count() == 300 - 5 + 1
        assert store.search(Vectors(image=unit(99)), 1)[0].id == late.id
        assert store.by_path("renamed.jpg").id == ids[5] and not store.paths_of(ids[:5])
        assert not list((tmp_path / "q" / "t").glob("build-*")) and not (tmp_path / "q" / "t" / "shard.old").exists()
    with open_store(engine_settings(tmp_path / "q", "edge")) as reopened:
        assert reopened.count() == 296 and reopened.search(Vectors(image=unit(99)), 1)[0].id == late.id


def test_edge_searches_go_on_while_the_graph_is_built(tmp_path, monkeypatch):
    monkeypatch.setattr(store_edge, "INDEXING_THRESHOLD_KB", 1)
    monkeypatch.setattr(store_edge, "MIN_VECTORS_TO_BUILD", 10)
    with open_store(engine_settings(tmp_path / "q", "edge")) as store:
        store.create("m", 64)
        fill(store, 600, dim=64)
        searched = []
        builder = threading.Thread(target=store.build_index, kwargs={"notify": lambda _: None})
        builder.start()
        while builder.is_alive():
            searched.append(len(store.search(Vectors(image=unit(5, 64)), 5)))
            time.sleep(0.05)  # a search every 50 ms: a busy loop would take the core the build needs
        builder.join()
        assert len(searched) > 1 and set(searched) == {5}  # answered during the build, not after it


def test_edge_recovers_from_a_swap_cut_short(tmp_path):
    """Killed between moving the old shard aside and putting the new one in place: the old one wins."""
    settings = engine_settings(tmp_path / "q", "edge")
    with open_store(settings) as store:
        store.create("m", 8)
        ids = fill(store, 20)
    folder = tmp_path / "q" / "t"
    (folder / "shard").rename(folder / "shard.old")
    (folder / "shard").mkdir()  # a half-moved new shard
    (folder / "build-1234").mkdir()  # a copy that was being indexed
    with open_store(settings) as store:
        assert store.count() == 20 and set(store.file_records()) == set(ids)
    assert not (folder / "shard.old").exists() and not (folder / "build-1234").exists()


def test_edge_build_that_fails_costs_speed_only(tmp_path, monkeypatch):
    monkeypatch.setattr(store_edge, "MIN_VECTORS_TO_BUILD", 10)
    monkeypatch.setattr(background_build, "optimize_in_child", lambda folder: "killed by the out-of-memory killer")
    messages = []
    with open_store(engine_settings(tmp_path / "q", "edge")) as store:
        store.create("m", 8)
        ids = fill(store, 40)
        assert not store.build_index(notify=messages.append)
        assert "failed (killed by the out-of-memory killer)" in messages[-1]
        assert store.count() == 40 and store.search(Vectors(image=unit(3)), 1)[0].id in ids
    assert not list((tmp_path / "q" / "t").glob("build-*"))


def test_edge_builds_in_this_process_when_nothing_else_searches(tmp_path, monkeypatch):
    """`index` holds the store alone: the graphs are built in place, with no copy of the shard."""
    monkeypatch.setattr(store_edge, "INDEXING_THRESHOLD_KB", 1)
    monkeypatch.setattr(store_edge, "MIN_VECTORS_TO_BUILD", 10)
    monkeypatch.setattr(background_build, "copy_shard", lambda folder: pytest.fail("the shard was copied"))
    settings = engine_settings(tmp_path / "q", "edge")
    with open_store(settings, build_in_background=False) as store:
        store.create("m", 8)
        ids = fill(store, 300)
        before = store._shard.info().indexed_vectors_count
        assert store.build_index(notify=lambda _: None)
        assert store._shard.info().indexed_vectors_count > before
        assert store.count() == 300 and store.search(Vectors(image=unit(3)), 1)[0].id in ids
    with open_store(settings) as reopened:
        assert reopened._shard.info().indexed_vectors_count > before


def test_edge_widens_hnsw_s_candidate_list_for_a_large_collection_once_its_graph_is_built(tmp_path, monkeypatch):
    """At 1M points hnsw_ef 64 kept recall@24 at 0.881 (benchmarks/scale.py): a large collection searches
    with the wider list, from its build on and whenever it is opened again."""
    monkeypatch.setattr(store_edge, "INDEXING_THRESHOLD_KB", 1)
    monkeypatch.setattr(store_edge, "MIN_VECTORS_TO_BUILD", 10)
    monkeypatch.setattr(store_edge, "LARGE_COLLECTION", 200)  # 300 points then count as large
    settings = engine_settings(tmp_path / "q", "edge")
    with open_store(settings, build_in_background=False) as store:
        store.create("m", 8)
        fill(store, 150)
        assert store.build_index(notify=lambda _: None) and store.hnsw_ef == store_edge.HNSW_EF_SMALL
        fill(store, 300)  # the same 150 and 150 more
        assert store.hnsw_ef == store_edge.HNSW_EF_SMALL  # the new points are searched exhaustively meanwhile
        assert store.build_index(notify=lambda _: None) and store.hnsw_ef == store_edge.HNSW_EF_LARGE
    with open_store(settings) as reopened:
        assert reopened.hnsw_ef == store_edge.HNSW_EF_LARGE
        assert reopened._search_params().hnsw_ef == store_edge.HNSW_EF_LARGE


def test_vectors_name_what_they_hold():
    image_only = Vectors(image=[1.0, 0.0])
    both = image_only | Vectors(text=[0.0, 1.0], bm25=SparseVector([3], [0.5]))
    assert not Vectors() and image_only.named() == {"image": [1.0, 0.0]}
    assert set(both.named()) == {"image", "text", "bm25"} and both.bm25.indices == [3]


def test_edge_quantized_collection_ranks_like_the_originals(tmp_path, monkeypatch):
    """QDRANT_QUANTIZATION=scalar on the embedded engine: int8 copies in the graph, rescored with the
    originals, so the nearest points come out as without quantization."""
    monkeypatch.setattr(store_edge, "INDEXING_THRESHOLD_KB", 1)
    monkeypatch.setattr(store_edge, "MIN_VECTORS_TO_BUILD", 10)
    rankings = []
    for quantization in ("none", "scalar"):
        settings = Settings.load(environ={"QDRANT_QUANTIZATION": quantization}, qdrant_path=tmp_path / quantization,
                                 collection="t")
        with open_store(settings, build_in_background=False) as store:
            store.create("m", 64)
            fill(store, 2000, dim=64)
            assert store.build_index(notify=lambda _: None)
            rankings.append([[h.id for h in store.search(Vectors(image=unit(seed, 64)), 5)] for seed in range(5)])
        quantized = list((tmp_path / quantization).rglob("vector_storage-image/quantized.data"))
        assert bool(quantized) == (quantization == "scalar")
    assert rankings[0] == rankings[1]


def test_a_new_embedded_collection_holds_int8_copies_by_default(tmp_path, monkeypatch):
    """Without QDRANT_QUANTIZATION, a collection made now keeps int8 copies of its dense vectors once its
    graph is built (the quantized files exist) and searches them with rescoring, after a reopen too; the
    text-only one has nothing to quantize."""
    monkeypatch.setattr(store_edge, "INDEXING_THRESHOLD_KB", 1)
    monkeypatch.setattr(store_edge, "MIN_VECTORS_TO_BUILD", 10)
    settings = Settings.load(environ={}, qdrant_path=tmp_path / "q", collection="t")
    with open_store(settings, build_in_background=False) as store:
        store.create("m", 64)
        assert store.quantization == "scalar"
        fill(store, 2000, dim=64)
        assert store.build_index(notify=lambda _: None)
    assert list((tmp_path / "q").rglob("vector_storage-image/quantized.data"))
    with open_store(settings) as store:
        assert store.quantization == "scalar" and store._search_params().quantization.rescore
        assert store.search(Vectors(image=unit(3, 64)), 3)[0].score > 0
    with open_store(Settings.load(environ={}, qdrant_path=tmp_path / "words", collection="t")) as store:
        store.create(None, None)
        assert store.quantization == "none"


def test_an_older_unquantized_collection_still_opens_and_searches_under_the_new_default(tmp_path, monkeypatch):
    """A collection made while `none` was the default (its meta.json says nothing of quantization), opened
    by a program whose default is int8: it is not rebuilt, holds no quantized copies, is searched without
    asking to rescore, and ranks as exact search does, before its graph and after."""
    monkeypatch.setattr(store_edge, "INDEXING_THRESHOLD_KB", 1)
    monkeypatch.setattr(store_edge, "MIN_VECTORS_TO_BUILD", 10)
    old = Settings.load(environ={"QDRANT_QUANTIZATION": "none"}, qdrant_path=tmp_path / "q", collection="t")
    with open_store(old, build_in_background=False) as store:
        store.create("m", 64)
        fill(store, 2000, dim=64)
    meta = tmp_path / "q" / "t" / "meta.json"
    meta.write_text(json.dumps({k: v for k, v in json.loads(meta.read_text()).items() if k != "quantization"}))
    assert not list((tmp_path / "q").rglob("quantized.data"))
    new = Settings.load(environ={}, qdrant_path=tmp_path / "q", collection="t")
    assert new.qdrant_quantization == "scalar"
    queries = [unit(seed, 64) for seed in range(5)]
    with open_store(new, build_in_background=False) as store:
        assert store.state().matches("m", 64) and store.count() == 2000
        assert store.quantization == "none" and store._search_params().quantization is None
        exact = [[str(p.id) for p in store._shard.query(edge_exact(q))] for q in queries]
        assert [[h.id for h in store.search(Vectors(image=q), 5)] for q in queries] == exact
        assert store.build_index(notify=lambda _: None)
        assert [[h.id for h in store.search(Vectors(image=q), 5)] for q in queries] == exact
        hybrid = store.search(Vectors(image=queries[0], text=queries[0], bm25=SparseVector([1], [1.0])), 5)
        assert len(hybrid) == 5
    assert not list((tmp_path / "q").rglob("quantized.data"))


def edge_exact(vector: list[float]):
    """The engine's own exhaustive search for the 5 nearest images: the ranking to match."""
    import qdrant_edge as edge

    return edge.QueryRequest(limit=5, query=edge.Query.Nearest(vector, using="image"),
                             params=edge.SearchParams(exact=True))


def test_hits_carry_vectors_only_when_asked(store):
    """Folding near-duplicates needs the image vectors of the hits; every other search leaves them in the
    engine (turning them into Python lists was a third of the query's time at 100k points)."""
    store.create("m", 8)
    fill(store, 12)
    hybrid = Vectors(image=unit(1), text=unit(2), bm25=SparseVector([1], [1.0]))
    for query in (hybrid, Vectors(image=unit(1))):
        assert all(h.vector is None for h in store.search(query, 5))
        assert all(h.vector is not None and len(h.vector) == 8 for h in store.search(query, 5, with_vectors=True))


def test_only_the_embedded_engine_answers_quickly_and_not_while_a_graph_is_built_aside(tmp_path, monkeypatch):
    """The web app answers a repeated query on its event loop only when the store cannot make it wait:
    Qdrant Edge in this process, except while a graph is built in a child process (its shard is swapped
    in at the end, and a search waits for the swap); never qdrant-client (a server is across a network)."""
    monkeypatch.setattr(store_edge, "MIN_VECTORS_TO_BUILD", 10)
    seen = []
    real = background_build.optimize_in_child

    def watched(build):
        seen.append(store.answers_quickly)
        return real(build)

    monkeypatch.setattr(background_build, "optimize_in_child", watched)
    with open_store(engine_settings(tmp_path / "edge", "edge")) as store:
        assert not store.answers_quickly  # no collection yet
        store.create("m", 8)
        fill(store, 40)
        assert store.answers_quickly
        store.build_index(notify=lambda _: None)
        assert seen == [False] and store.answers_quickly
    with open_store(engine_settings(tmp_path / "client", "qdrant-client")) as client:
        client.create("m", 8)
        assert not client.answers_quickly
