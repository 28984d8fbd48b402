import socket

import numpy as np
import pytest

from src.settings import Settings
from src.store import SCHEMA_VERSION, Point, Store, StoreUnavailable


def unit(seed: int, dim: int = 8) -> list[float]:
    v = np.random.default_rng(seed).normal(size=dim)
    return (v / np.linalg.norm(v)).tolist()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def store(tmp_path):
    with Store(Settings.load(environ={}, qdrant_path=tmp_path / "q", collection="t")) as s:
        yield s


def test_create_records_schema_model_and_dim(store):
    assert not store.state().exists and store.count() == 0 and store.search({"image": unit(0)}, 5) == []
    store.create("model-a", 8)
    state = store.state()
    assert state.exists and state.schema_version == SCHEMA_VERSION
    assert state.matches("model-a", 8)
    assert not state.matches("model-b", 8) and "model-a" in state.mismatch("model-b", 8)
    assert not state.matches("model-a", 16)


def test_upsert_search_payload_delete(store):
    store.create("m", 8)
    ids = [f"00000000-0000-0000-0000-00000000000{i}" for i in range(5)]
    store.upsert([Point(pid, {"image": unit(i)}, {"path": f"{i}.jpg", "bytes": i}) for i, pid in enumerate(ids)])
    assert store.count() == 5
    hits = store.search({"image": unit(3)}, limit=2)
    assert hits[0].id == ids[3] and hits[0].payload["path"] == "3.jpg" and hits[0].score == pytest.approx(1.0)
    assert hits[0].score >= hits[1].score
    three = store.search({"image": unit(3)}, 3)
    assert [h.id for h in store.search({"image": unit(3)}, limit=2, offset=1)] == [three[1].id, three[2].id]
    store.update_payload(ids[0], {"path": "renamed.jpg"})
    records = store.file_records()
    assert records[ids[0]]["path"] == "renamed.jpg" and records[ids[0]]["bytes"] == 0
    store.delete(ids[:2])
    assert store.count() == 3 and set(store.file_records()) == set(ids[2:])


def test_channels_fuse_and_filters_apply(store):
    from src.terms import document_vector, query_vector

    store.create("m", 8)
    ids = [f"00000000-0000-0000-0000-00000000001{i}" for i in range(4)]
    texts = ["Brewhaven Coffee $4.99", "Pixora Phones upgrade today", "", "coffee and phones"]
    store.upsert([
        Point(pid, {"image": unit(i)} | ({"text": unit(10 + i), "bm25": document_vector(t)} if t else {}),
              {"path": f"{i}.jpg", "has_text": bool(t), "category": "drink" if i % 2 == 0 else "tech"})
        for i, (pid, t) in enumerate(zip(ids, texts))
    ])
    # Exact words: BM25 alone ranks the ad with the rare word first; a text-less point never matches.
    words = store.search({"bm25": query_vector("pixora")}, limit=4)
    assert [h.id for h in words] == [ids[1]]
    # Fused: the image channel alone would rank ids[0] first; fusion with BM25 keeps both in the list.
    fused = store.search({"image": unit(0), "bm25": query_vector("pixora")}, limit=4)
    assert {ids[0], ids[1]} <= {h.id for h in fused[:2]}
    assert len({h.id for h in fused}) == len(fused)
    # Filters apply inside every channel.
    drinks = store.search({"image": unit(1), "bm25": query_vector("coffee")}, limit=4, where={"category": "drink"})
    assert {h.payload["category"] for h in drinks} == {"drink"}
    assert all(h.payload["has_text"] for h in store.search({"image": unit(2)}, 4, where={"has_text": True}))


def test_recreate_drops_old_points(store):
    store.create("m", 8)
    store.upsert([Point("00000000-0000-0000-0000-000000000001", {"image": unit(1)}, {})])
    store.create("other", 8)
    assert store.count() == 0 and store.state().model == "other"


def test_second_process_on_embedded_store_gets_a_clear_message(tmp_path):
    settings = Settings.load(environ={}, qdrant_path=tmp_path / "q")
    with Store(settings):
        with pytest.raises(StoreUnavailable, match="in use by another adsearch process"):
            Store(settings)


def test_unreachable_server_is_one_clear_error():
    settings = Settings.load(environ={"QDRANT_URL": f"http://127.0.0.1:{closed_port()}", "QDRANT_API_KEY": "k3y"})
    store = Store(settings)  # the client connects lazily: the first call fails
    with pytest.raises(StoreUnavailable) as caught:
        store.count()
    message = str(caught.value)
    assert "Qdrant server at http://127.0.0.1" in message and "k3y" not in message


def test_cluster_settings_shape_the_collection_on_a_server_only(tmp_path):
    """No Qdrant server can run here: this checks what the settings make of the collection's layout."""
    env = {"QDRANT_URL": "http://127.0.0.1:6333", "QDRANT_SHARDS": "6", "QDRANT_REPLICAS": "2",
           "QDRANT_QUANTIZATION": "binary", "QDRANT_ON_DISK": "on"}
    server = Store(Settings.load(environ=env))
    assert server._layout() == {"shard_number": 6, "replication_factor": 2}
    scale = server._scale()
    assert scale["on_disk"] is True and scale["quantization_config"].binary.always_ram
    params = server._search_params().quantization
    assert params.rescore and params.oversampling > 1
    with Store(Settings.load(environ={"QDRANT_QUANTIZATION": "scalar"}, qdrant_path=tmp_path / "q")) as local:
        assert local._layout() == {} and local._scale() == {} and local._search_params() is None
    with pytest.raises(Exception, match="QDRANT_QUANTIZATION must be"):
        Settings.load(environ={"QDRANT_QUANTIZATION": "pq"})
