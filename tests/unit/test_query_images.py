"""The query images the page keeps: under their content's key, within a size cap, least recently used first out."""

import hashlib
import os

from src.web.query_images import QueryImages


def test_kept_under_their_hash_within_the_cap_oldest_used_first_out(tmp_path):
    kept = QueryImages(tmp_path / "q", max_bytes=250)
    keys = []
    for n in range(3):
        data = bytes([n]) * 100
        keys.append(kept.put(data))
        os.utime(kept.folder / keys[-1], ns=(n * 10**9, n * 10**9))  # distinct ages, whatever the clock's grain
        assert keys[-1] == hashlib.sha256(data).hexdigest() and kept.get(keys[-1]) == data
    assert kept.get(keys[0]) is None and kept.get(keys[1]) and kept.get(keys[2])  # 300 > 250: the oldest went
    assert kept.put(bytes([1]) * 100) == keys[1]  # kept already: used again, now the newest
    kept.put(bytes([3]) * 100)
    assert kept.get(keys[1]) and kept.get(keys[2]) is None  # the least recently used went, not the oldest made
    assert kept.get("../../etc/passwd") is None and kept.path("not-a-key") is None
    (kept.folder / keys[1]).write_bytes(b"changed on disk")
    assert kept.get(keys[1]) is None  # what is served is what was kept
