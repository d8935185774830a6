"""The on-disk array cache: keys, atomicity, checksums, entries that prove their key, debris of killed runs."""

import hashlib
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from benchsuite.extraction import cache as cache_module
from benchsuite.extraction.cache import (
    ArrayCache,
    FileDigests,
    atomic_write_text,
    host_name,
    is_stale,
    key_digest,
    owner_tag,
)
from benchsuite.extraction.store import MemoryPlan


def entry_files(root: Path, suffix: str) -> list[Path]:
    return sorted(root.rglob(f"*{suffix}"))


def quarantined(root: Path, suffix: str) -> list[Path]:
    """The ``<name><suffix>.<stamp>.corrupt`` copies of corrupt entries under ``root``."""
    return [path for path in entry_files(root, ".corrupt") if f"{suffix}." in path.name]


def dead_owner_tag() -> str:
    """The owner tag of a process of this host that has exited."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return f"{host_name()}@{int(child.stdout)}@1"


def test_round_trip_and_key_sensitivity(tmp_path):
    cache = ArrayCache(tmp_path)
    key = {"model": "m", "images": ["a", "b"]}
    cache.put("ns", key, {"x": np.arange(4.0)})
    np.testing.assert_array_equal(cache.get("ns", key)["x"], np.arange(4.0))
    assert set(cache.get("ns", key)) == {"x"}
    assert cache.get("ns", {"model": "m", "images": ["b", "a"]}) is None
    assert key_digest({"a": 1, "b": 2}) == key_digest({"b": 2, "a": 1})


def test_corrupt_entry_is_moved_aside_named_and_recomputed(tmp_path, caplog):
    cache = ArrayCache(tmp_path)
    key = {"k": 1}
    cache.put("ns", key, {"x": np.ones(3)})
    (data,) = entry_files(tmp_path / "ns", ".npz")
    raw = bytearray(data.read_bytes())
    raw[-10] ^= 0xFF
    data.write_bytes(bytes(raw))
    with caplog.at_level(logging.WARNING, logger="benchsuite"):
        assert cache.get("ns", key) is None
    assert not data.exists()
    (kept,) = quarantined(tmp_path, ".npz")
    assert kept.name.startswith(data.name + ".") and kept.read_bytes() == bytes(raw)
    (kept_sidecar,) = quarantined(tmp_path, ".json")
    assert kept_sidecar.name == kept.name.replace(".npz.", ".json.")  # the pair shares its quarantine stamp
    assert str(data) in caplog.text and "checksum mismatch" in caplog.text and kept.name in caplog.text
    calls = []
    result = cache.get_or_compute("ns", key, lambda: calls.append(1) or {"x": np.zeros(3)})
    assert calls == [1]
    np.testing.assert_array_equal(result["x"], np.zeros(3))
    np.testing.assert_array_equal(cache.get("ns", key)["x"], np.zeros(3))


def test_a_second_corruption_of_an_entry_never_overwrites_the_first_kept_copy(tmp_path):
    cache = ArrayCache(tmp_path)
    key = {"k": "twice"}
    damaged = []
    for round_ in range(2):
        cache.put("ns", key, {"x": np.full(3, float(round_))})
        (data,) = entry_files(tmp_path, ".npz")
        data.write_bytes(data.read_bytes()[:-20] + bytes([round_]) * 20)
        damaged.append(data.read_bytes())
        assert cache.get("ns", key) is None
    kept = quarantined(tmp_path, ".npz")
    assert len(kept) == 2 and sorted(p.read_bytes() for p in kept) == sorted(damaged)
    assert len(quarantined(tmp_path, ".json")) == 2


def test_swapped_entries_are_refused_and_untouched_ones_trusted(tmp_path, caplog):
    cache = ArrayCache(tmp_path)
    first, second = {"layer": "a"}, {"layer": "b"}
    cache.put("ns", first, {"matrix": np.eye(2)})
    cache.put("ns", second, {"matrix": np.ones((2, 2))})
    np.testing.assert_array_equal(cache.get("ns", first)["matrix"], np.eye(2))
    a, b = (key_digest(k) for k in (first, second))
    folder_a, folder_b = tmp_path / "ns" / a[:2], tmp_path / "ns" / b[:2]
    for suffix in (".npz", ".json"):
        one, other = folder_a / f"{a}{suffix}", folder_b / f"{b}{suffix}"
        one_bytes, other_bytes = one.read_bytes(), other.read_bytes()
        one.write_bytes(other_bytes)
        other.write_bytes(one_bytes)
    with caplog.at_level(logging.WARNING, logger="benchsuite"):
        assert cache.get("ns", first) is None
        assert cache.get("ns", second) is None
    assert "belongs to another key" in caplog.text
    assert len(entry_files(tmp_path, ".corrupt")) == 4
    result = cache.get_or_compute("ns", first, lambda: {"matrix": np.eye(2)})
    np.testing.assert_array_equal(result["matrix"], np.eye(2))


def test_an_npz_swapped_alone_fails_its_stored_key(tmp_path):
    cache = ArrayCache(tmp_path)
    first, second = {"layer": "a"}, {"layer": "b"}
    cache.put("ns", first, {"matrix": np.eye(2)})
    cache.put("ns", second, {"matrix": np.ones((2, 2))})
    (a_data,) = [p for p in entry_files(tmp_path, ".npz") if p.stem == key_digest(first)]
    (b_data,) = [p for p in entry_files(tmp_path, ".npz") if p.stem == key_digest(second)]
    a_data.write_bytes(b_data.read_bytes())
    sidecar = json.loads(a_data.with_suffix(".json").read_text())
    sidecar["sha256"] = hashlib.sha256(a_data.read_bytes()).hexdigest()
    a_data.with_suffix(".json").write_text(json.dumps(sidecar))
    assert cache.get("ns", first) is None
    np.testing.assert_array_equal(cache.get("ns", second)["matrix"], np.ones((2, 2)))


@pytest.mark.parametrize("damage", ["truncated sidecar", "sidecar not an object", "not a zip", "old format"])
def test_an_invalid_entry_never_raises_and_is_kept_aside(tmp_path, damage, caplog):
    cache = ArrayCache(tmp_path)
    key = {"k": damage}
    cache.put("ns", key, {"x": np.arange(3)})
    (data,) = entry_files(tmp_path, ".npz")
    sidecar_path = data.with_suffix(".json")
    sidecar = json.loads(sidecar_path.read_text())
    if damage == "truncated sidecar":
        sidecar_path.write_text(sidecar_path.read_text()[:25])
    elif damage == "sidecar not an object":
        sidecar_path.write_text("[1, 2]")
    else:
        if damage == "not a zip":
            data.write_bytes(b"PK\x03\x04 this is not an npz")
        else:
            np.savez(data, x=np.arange(3))
        sidecar["sha256"] = hashlib.sha256(data.read_bytes()).hexdigest()
        sidecar_path.write_text(json.dumps(sidecar))
    with caplog.at_level(logging.WARNING, logger="benchsuite"):
        result = cache.get_or_compute("ns", key, lambda: {"x": np.arange(3) * 2})
    np.testing.assert_array_equal(result["x"], np.arange(3) * 2)
    assert "is corrupt" in caplog.text and data.name in caplog.text
    assert any(p.name.startswith(sidecar_path.name + ".") for p in entry_files(tmp_path, ".corrupt"))
    np.testing.assert_array_equal(cache.get("ns", key)["x"], np.arange(3) * 2)


def test_an_entry_this_user_cannot_read_is_recomputed_and_left_alone(tmp_path, monkeypatch, caplog):
    cache = ArrayCache(tmp_path)
    key = {"k": "theirs"}
    cache.put("ns", key, {"x": np.ones(2)})
    (data,) = entry_files(tmp_path, ".npz")
    before = {p: p.read_bytes() for p in (data, data.with_suffix(".json"))}
    original = Path.read_bytes

    def denied(path: Path) -> bytes:
        if path.suffix in (".json", ".npz") and path.parent.parent.name == "ns":
            raise PermissionError(13, "Permission denied", str(path))
        return original(path)

    monkeypatch.setattr(Path, "read_bytes", denied)
    with caplog.at_level(logging.WARNING, logger="benchsuite"):
        result = ArrayCache(tmp_path).get_or_compute("ns", key, lambda: {"x": np.zeros(2)})
    np.testing.assert_array_equal(result["x"], np.zeros(2))
    assert "cannot read cache entry" in caplog.text and data.name in caplog.text
    monkeypatch.undo()
    assert {p: p.read_bytes() for p in before} == before
    assert not entry_files(tmp_path, ".corrupt")
    np.testing.assert_array_equal(ArrayCache(tmp_path).get("ns", key)["x"], np.ones(2))


def test_a_cache_that_cannot_be_written_warns_and_goes_on(tmp_path, monkeypatch, caplog):
    def refuse(path, data):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(cache_module, "atomic_write_bytes", refuse)
    cache = ArrayCache(tmp_path)
    with caplog.at_level(logging.WARNING, logger="benchsuite"):
        result = cache.get_or_compute("ns", {"k": 1}, lambda: {"x": np.ones(2)})
        cache.get_or_compute("ns", {"k": 2}, lambda: {"x": np.ones(2)})
    np.testing.assert_array_equal(result["x"], np.ones(2))
    assert caplog.text.count("could not write cache entry") == 1


def test_the_key_array_name_is_reserved(tmp_path):
    with pytest.raises(ValueError, match="reserved"):
        ArrayCache(tmp_path).put("ns", {"k": 1}, {"__key__": np.ones(1)})


def test_written_files_and_folders_are_group_readable_whatever_the_umask(tmp_path):
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"pixels")
    previous = os.umask(0o077)
    try:
        cache = ArrayCache(tmp_path / "cache")
        cache.put("ns", {"k": 1}, {"x": np.ones(2)})
        cache.file_digests.digest(photo)
        atomic_write_text(tmp_path / "out" / "records.json", "[]")
    finally:
        os.umask(previous)
    written = [*entry_files(tmp_path / "cache", ".npz"), *entry_files(tmp_path / "cache", ".json"),
               *entry_files(tmp_path / "cache", ".jsonl"), tmp_path / "out" / "records.json"]
    folders = [path.parent for path in written] + [tmp_path / "cache" / "ns"]
    assert len(written) == 4
    assert all(path.stat().st_mode & 0o777 == 0o640 for path in written)
    assert all(path.stat().st_mode & 0o777 == 0o750 for path in folders)


def test_no_temporary_files_left_behind(tmp_path):
    cache = ArrayCache(tmp_path)
    for i in range(3):
        cache.put("ns", {"i": i}, {"x": np.full(2, i)})
    assert not list(tmp_path.rglob("*.tmp"))


def aged(path: Path, seconds: float) -> Path:
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def test_temporaries_of_killed_runs_are_removed_and_live_ones_kept(tmp_path, caplog):
    shard = tmp_path / "cache" / "vision" / "ab"
    shard.mkdir(parents=True)
    dead = shard / f".abc.npz.{dead_owner_tag()}.x1.tmp"
    reused_pid = shard / f".abc.npz.{host_name()}@{os.getpid()}@{1 + int(owner_tag().split('@')[2])}.x2.tmp"
    live = shard / f".abc.npz.{owner_tag()}.x3.tmp"
    old_unknown = shard / "tmpq1w2e3.npz.tmp"
    fresh_unknown = shard / "tmpr4t5y6.npz.tmp"
    other_host = shard / ".abc.npz.elsewhere@1@1.x4.tmp"
    for path in (dead, reused_pid, live, old_unknown, fresh_unknown, other_host):
        path.write_bytes(b"partial")
    aged(old_unknown, 2 * 3600)
    with caplog.at_level(logging.WARNING, logger="benchsuite"):
        ArrayCache(tmp_path / "cache").get("vision", {"k": 1})
    assert not dead.exists() and not reused_pid.exists() and not old_unknown.exists()
    assert live.exists() and fresh_unknown.exists() and other_host.exists()
    assert "removed 3" in caplog.text and "interrupted runs" in caplog.text


def test_atomic_write_removes_stale_temporaries_of_its_own_target(tmp_path):
    dead = tmp_path / f".results.json.{dead_owner_tag()}.x1.tmp"
    other_target = tmp_path / f".other.json.{dead_owner_tag()}.x1.tmp"
    live = tmp_path / f".results.json.{owner_tag()}.x2.tmp"
    for path in (dead, other_target, live):
        path.write_text("{")
    atomic_write_text(tmp_path / "results.json", "[]")
    assert not dead.exists() and other_target.exists() and live.exists()
    assert (tmp_path / "results.json").read_text() == "[]"


def test_spill_folders_of_killed_runs_are_removed_on_the_next_run(tmp_path):
    spill = tmp_path / "spill"
    dead = spill / f"benchsuite-spill.{dead_owner_tag()}.abc"
    live = spill / f"benchsuite-spill.{owner_tag()}.def"
    old_unnamed = spill / "benchsuite-spill-q1w2e3"
    fresh_unnamed = spill / "benchsuite-spill-r4t5y6"
    unrelated = spill / "someone-else"
    for folder in (dead, live, old_unnamed, fresh_unnamed, unrelated):
        folder.mkdir(parents=True)
        (folder / "0001-layer.f32").write_bytes(b"\0" * 4096)
    aged(old_unnamed / "0001-layer.f32", 7200)
    aged(old_unnamed, 7200)
    plan = MemoryPlan(budget=1, batch_size=1, spill_dir=spill)
    assert not dead.exists() and not old_unnamed.exists()
    assert live.exists() and fresh_unnamed.exists() and unrelated.exists()
    folder = plan.spill_folder()
    assert folder.name.startswith(f"benchsuite-spill.{owner_tag()}.") and not is_stale(folder)
    plan.cleanup()


KILLED_RUN = """
import os, signal, sys
from pathlib import Path
from benchsuite.extraction.cache import temporary_sibling
from benchsuite.extraction.store import MemoryPlan
cache, spill = Path(sys.argv[1]), Path(sys.argv[2])
folder = MemoryPlan(budget=1, batch_size=1, spill_dir=spill).spill_folder()
(folder / "0001-layer.f32").write_bytes(bytes(1 << 20))
(cache / "vision" / "ab").mkdir(parents=True)
temporary_sibling(cache / "vision" / "ab" / "ab12.npz")
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_run_leaves_debris_that_the_next_run_removes(tmp_path):
    cache, spill = tmp_path / "cache", tmp_path / "spill"
    killed = subprocess.run([sys.executable, "-c", KILLED_RUN, str(cache), str(spill)], capture_output=True)
    assert killed.returncode == -9, killed.stderr.decode()
    assert len(list(spill.iterdir())) == 1 and len(list(cache.rglob("*.tmp"))) == 1
    MemoryPlan(budget=None, batch_size=1, spill_dir=spill)
    ArrayCache(cache).get("vision", {"k": 1})
    assert list(spill.iterdir()) == [] and list(cache.rglob("*.tmp")) == []


def test_file_digests_hash_each_file_once_and_notice_replacements(tmp_path, monkeypatch):
    photo = tmp_path / "photos" / "cat.jpg"
    photo.parent.mkdir()
    photo.write_bytes(b"first photo")
    hashed = []
    original = cache_module.file_sha256
    monkeypatch.setattr(cache_module, "file_sha256", lambda path: hashed.append(path) or original(path))
    memo = tmp_path / "memo"
    digest = FileDigests(memo).digest(photo)
    assert digest == hashlib.sha256(b"first photo").hexdigest()
    assert FileDigests(memo).digest(photo) == digest and len(hashed) == 1
    stamp = photo.stat()
    time.sleep(0.05)  # file times tick coarsely: a replacement within the same tick would keep its ctime
    photo.write_bytes(b"other photo")
    os.utime(photo, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert FileDigests(memo).digest(photo) == hashlib.sha256(b"other photo").hexdigest()
    assert len(hashed) == 2
    (log_file,) = memo.glob("*.jsonl")
    with open(log_file, "a") as handle:
        handle.write('{"name": "cat.jpg", "si')
    assert FileDigests(memo).digest(photo) == hashlib.sha256(b"other photo").hexdigest()
    assert len(hashed) == 2


@pytest.mark.parametrize("name", ["allow_pickle", "file"])
def test_an_array_named_as_a_savez_parameter_is_refused_on_every_numpy(tmp_path, name):
    """numpy before 2.1 would store ``allow_pickle`` as one more array; the name is refused, whatever the version."""
    with pytest.raises(ValueError, match="may not be named"):
        ArrayCache(tmp_path).put("ns", {"k": 1}, {name: np.arange(3.0)})
