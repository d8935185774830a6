"""The on-disk array cache: keys, atomicity, checksums."""

import numpy as np

from benchsuite.cache import ArrayCache, key_digest


def test_round_trip_and_key_sensitivity(tmp_path):
    cache = ArrayCache(tmp_path)
    key = {"model": "m", "images": ["a", "b"]}
    cache.put("ns", key, {"x": np.arange(4.0)})
    np.testing.assert_array_equal(cache.get("ns", key)["x"], np.arange(4.0))
    assert cache.get("ns", {"model": "m", "images": ["b", "a"]}) is None
    assert key_digest({"a": 1, "b": 2}) == key_digest({"b": 2, "a": 1})


def test_corrupt_entry_is_recomputed_not_trusted(tmp_path):
    cache = ArrayCache(tmp_path)
    key = {"k": 1}
    cache.put("ns", key, {"x": np.ones(3)})
    (data,) = list((tmp_path / "ns").rglob("*.npz"))
    raw = bytearray(data.read_bytes())
    raw[-10] ^= 0xFF
    data.write_bytes(bytes(raw))
    assert cache.get("ns", key) is None
    assert not data.exists()
    calls = []
    result = cache.get_or_compute("ns", key, lambda: calls.append(1) or {"x": np.zeros(3)})
    assert calls == [1]
    np.testing.assert_array_equal(result["x"], np.zeros(3))


def test_no_temporary_files_left_behind(tmp_path):
    cache = ArrayCache(tmp_path)
    for i in range(3):
        cache.put("ns", {"i": i}, {"x": np.full(2, i)})
    assert not list(tmp_path.rglob("*.tmp"))
