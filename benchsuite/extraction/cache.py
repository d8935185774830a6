"""On-disk cache of expensive arrays, keyed by everything that changes them.

A key is a JSON-able mapping (plugin name and version, weights hash,
preprocessing, image content digests, concept ids, layers...). Entries are
``.npz`` files written atomically, each carrying its own key digest (as the
array ``__key__``) beside a sidecar holding the key, that digest and the
file's sha256; all three are checked on read. An entry that fails a check
(truncated, tampered, or swapped with another entry) is moved aside as
``<name>.<stamp>.corrupt`` (never over an earlier one), named in a warning, and
recomputed, never trusted. An entry this user may not read is recomputed and
left alone. Nothing is pickled.

Temporary files and spill folders are named after their owner (host, pid and
the pid's start time), so those left by a killed run are removed by the next
one, while a live run's are never touched.
"""

from __future__ import annotations

import functools
import glob
import hashlib
import io
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_CACHE_ENV = "BENCHSUITE_CACHE"
KEY_ARRAY = "__key__"
CORRUPT_SUFFIX = ".corrupt"
TEMPORARY_SUFFIX = ".tmp"
STALE_AFTER_S = 3600.0
OWNER_PATTERN = re.compile(r"([A-Za-z0-9-]+)@(\d+)@(\d+)")
DIGESTS_FOLDER = "file-digests"

log = logging.getLogger("benchsuite")
_swept: set[tuple[str, str]] = set()


def default_cache_dir() -> Path:
    return Path(os.environ.get(DEFAULT_CACHE_ENV, Path.home() / ".cache" / "benchsuite"))


def key_digest(key: Mapping[str, Any]) -> str:
    """A stable sha256 of a key mapping (sorted keys, canonical JSON)."""
    canonical = json.dumps(key, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def array_digest(array: Any) -> str:
    """sha256 of an array's dtype, shape and values: equal digests, identical numbers."""
    values = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{values.dtype.str}{values.shape}".encode())
    digest.update(values.tobytes())
    return digest.hexdigest()


def vectors_digest(vectors: Mapping[str, Any]) -> str:
    """One digest of vectors by id (order-free), so a key covers the numbers a model actually produced."""
    return key_digest({name: array_digest(vector) for name, vector in vectors.items()})


# -- owners of temporary files -------------------------------------------------


def process_start(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), None where unknown or gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


@functools.cache
def host_name() -> str:
    """This host's name and pid namespace: two containers sharing a hostname never judge each other's pids."""
    try:
        namespace = re.sub(r"\D", "", os.readlink("/proc/self/ns/pid"))
    except OSError:
        namespace = ""
    return re.sub(r"[^A-Za-z0-9-]", "-", f"{socket.gethostname()}-{namespace}".strip("-")) or "host"


def owner_tag(pid: int | None = None) -> str:
    """``host@pid@start``: names this process in a temporary file so other runs can tell if it still lives."""
    pid = os.getpid() if pid is None else pid
    return f"{host_name()}@{pid}@{process_start(pid) or 0}"


def owner_alive(name: str) -> bool | None:
    """Whether the process named in ``name`` still runs; None when unknown (no tag, or another host's)."""
    found = OWNER_PATTERN.findall(name)
    if not found:
        return None
    host, pid, start = found[-1]
    if host != host_name():
        return None
    started = process_start(int(pid))
    if started is not None:
        return int(start) in (0, started)
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def last_touched(path: Path) -> float:
    """The newest modification time of ``path`` and, for a folder, the files directly in it."""
    times = [path.lstat().st_mtime]
    if path.is_dir() and not path.is_symlink():
        times += [entry.lstat().st_mtime for entry in path.iterdir()]
    return max(times)


def is_stale(path: Path, grace: float = STALE_AFTER_S) -> bool:
    """Debris of a killed run: its owner is dead, or unknown and it went untouched for ``grace`` seconds."""
    alive = owner_alive(path.name)
    if alive is not None:
        return not alive
    try:
        return time.time() - last_touched(path) > grace
    except OSError:
        return False


def size_of(path: Path) -> int:
    try:
        if path.is_dir() and not path.is_symlink():
            return sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file())
        return path.lstat().st_size
    except OSError:
        return 0


def remove_stale(paths: Iterable[Path], grace: float = STALE_AFTER_S) -> list[Path]:
    """Delete the files and folders among ``paths`` that a killed run left; warns with their count and size."""
    removed, freed = [], 0
    for path in paths:
        if not is_stale(path, grace):
            continue
        size = size_of(path)
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            continue
        except OSError as error:
            log.warning("could not remove %s, left by an interrupted run: %s; delete it by hand", path, error)
            continue
        removed.append(path)
        freed += size
    if removed:
        log.warning("removed %d file(s)/folder(s) (%.1f MB) left by interrupted runs, e.g. %s",
                    len(removed), freed / 1e6, removed[0])
    return removed


def sweep_once(folder: Path, pattern: str, recursive: bool = False) -> list[Path]:
    """``remove_stale`` over ``folder``'s entries matching ``pattern``, once per process and folder."""
    marker = (str(Path(folder).resolve()), pattern)
    if marker in _swept:
        return []
    _swept.add(marker)
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return remove_stale(folder.rglob(pattern) if recursive else folder.glob(pattern))


# -- atomic writes -----------------------------------------------------------------


def current_umask() -> int:
    """The process umask, read without changing it where ``/proc`` allows."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def shared_file_mode() -> int:
    """What ``open`` would give a new file under the umask, but always readable by the owner's group."""
    return (0o666 & ~current_umask()) | 0o640


def make_folder(folder: Path) -> None:
    """``folder`` and its missing parents, which the owner's group may enter like the files written in them."""
    missing = [path for path in (folder, *folder.parents) if not path.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    for created in missing:
        try:
            os.chmod(created, (0o777 & ~current_umask()) | 0o750)
        except OSError:
            continue


def temporary_sibling(path: Path) -> tuple[int, str]:
    """A new temporary file beside ``path``, named after this process, group-readable (mkstemp makes 0600)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{owner_tag()}.", suffix=TEMPORARY_SUFFIX)
    os.fchmod(fd, shared_file_mode())
    return fd, tmp


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new one, never half.

    Temporary siblings of ``path`` left by killed writers are removed first. An OSError that names no file
    (a full disk met by ``write``) is raised naming ``path``.
    """
    path = Path(path)
    make_folder(path.parent)
    remove_stale(path.parent.glob(f".{glob.escape(path.name)}.*{TEMPORARY_SUFFIX}"))
    fd, tmp = temporary_sibling(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as error:
        Path(tmp).unlink(missing_ok=True)
        if error.filename is None:
            raise OSError(error.errno, error.strerror, str(path)) from error
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


# -- content digests of files ------------------------------------------------------


class FileDigests:
    """sha256 of files' bytes, remembered per (path, size, mtime_ns, ctime_ns) so a rerun hashes only new files.

    One append-only JSON-lines log per folder of hashed files, under ``root``; a
    torn last line is skipped, and a file replaced in place changes its
    size or times, so its old digest is never reused.
    """

    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.known: dict[Path, dict[str, tuple[int, int, int, str]]] = {}

    def log_path(self, folder: Path) -> Path:
        return self.root / f"{hashlib.sha256(str(folder).encode()).hexdigest()[:32]}.jsonl"

    def folder_memo(self, folder: Path) -> dict[str, tuple[int, int, int, str]]:
        if folder not in self.known:
            memo: dict[str, tuple[int, int, int, str]] = {}
            try:
                lines = self.log_path(folder).read_text().splitlines()
            except (OSError, UnicodeDecodeError):
                lines = []
            for line in lines:
                try:
                    entry = json.loads(line)
                    memo[entry["name"]] = (entry["size"], entry["mtime_ns"], entry["ctime_ns"], entry["sha256"])
                except (ValueError, KeyError, TypeError):
                    continue
            self.known[folder] = memo
        return self.known[folder]

    def remember(self, folder: Path, name: str, stamp: tuple[int, int, int], sha: str) -> None:
        """Append one digest to the folder's log (one ``write``); a failure only costs a rehash next time."""
        line = json.dumps({"name": name, "size": stamp[0], "mtime_ns": stamp[1], "ctime_ns": stamp[2],
                           "sha256": sha}) + "\n"
        try:
            make_folder(self.root)
            fd = os.open(self.log_path(folder), os.O_WRONLY | os.O_APPEND | os.O_CREAT, shared_file_mode())
            try:
                if os.fstat(fd).st_size == 0:
                    os.fchmod(fd, shared_file_mode())  # os.open's mode passes through the umask
                os.write(fd, line.encode())
            finally:
                os.close(fd)
        except OSError as error:
            log.debug("could not remember the digest of %s/%s: %s", folder, name, error)

    def digest(self, path: Path | str) -> str:
        """The sha256 of the file's bytes, hashed only when the file is new or changed since last time."""
        path = Path(os.path.abspath(path))
        status = path.stat()
        stamp = (status.st_size, status.st_mtime_ns, status.st_ctime_ns)
        memo = self.folder_memo(path.parent)
        known = memo.get(path.name)
        if known is not None and known[:3] == stamp:
            return known[3]
        sha = file_sha256(path)
        memo[path.name] = (*stamp, sha)
        self.remember(path.parent, path.name, stamp, sha)
        return sha


# -- the array cache ---------------------------------------------------------------


class CorruptEntry(ValueError):
    """A cache entry that failed a check; the message says which."""


class ArrayCache:
    """Named arrays stored under a digest of their key."""

    def __init__(self, root: Path | str | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()
        self.unwritable: set[str] = set()  # digests of entries never to write: unreadable or unwritable
        self.write_failed = False  # warn once, not once per entry, about a cache that cannot be written
        self._file_digests: FileDigests | None = None

    @property
    def file_digests(self) -> FileDigests:
        """The memo of image-file digests kept in this cache."""
        if self._file_digests is None:
            self._file_digests = FileDigests(self.root / DIGESTS_FOLDER)
        return self._file_digests

    def _paths(self, namespace: str, digest: str) -> tuple[Path, Path]:
        folder = self.root / namespace / digest[:2]
        return folder / f"{digest}.npz", folder / f"{digest}.json"

    def _sweep(self) -> None:
        """Remove temporary files that killed runs left anywhere in this cache (once per process)."""
        sweep_once(self.root, f"*{TEMPORARY_SUFFIX}", recursive=True)

    def get(self, namespace: str, key: Mapping[str, Any]) -> dict[str, np.ndarray] | None:
        """The stored arrays, or None when absent, corrupt (moved aside) or unreadable (left alone)."""
        self._sweep()
        digest = key_digest(key)
        data_path, meta_path = self._paths(namespace, digest)
        for attempt in range(2):
            sidecar = b""
            try:
                sidecar = meta_path.read_bytes()
                return verified_entry(data_path, sidecar, digest)
            except PermissionError as error:
                log.warning("cannot read cache entry %s (%s); computing it without writing over it. "
                            "Make the cache group-readable or use another --cache", data_path, error)
                self.unwritable.add(digest)
                return None
            except FileNotFoundError:
                return None
            except Exception as error:  # any failure to parse a stored file means corrupt
                if attempt == 0 and sidecar_changed(meta_path, sidecar):
                    continue  # another process replaced the entry while we read it
                self._move_aside(data_path, meta_path, digest, describe_failure(error))
                return None
        return None

    def _move_aside(self, data_path: Path, meta_path: Path, digest: str, reason: str) -> None:
        """Keep a corrupt entry's files for inspection as ``<name>.<stamp>.corrupt``, out of the way of its
        recomputation; the stamp (time and owner) is new each time, so an earlier quarantine is never overwritten."""
        stamp = f"{time.time_ns()}.{owner_tag()}"
        try:
            for path in (data_path, meta_path):
                if path.exists():
                    path.replace(path.with_name(f"{path.name}.{stamp}{CORRUPT_SUFFIX}"))
        except OSError as error:
            log.warning("cache entry %s is corrupt (%s) and could not be moved aside (%s); recomputing it "
                        "without writing over it. Delete it by hand", data_path, reason, error)
            self.unwritable.add(digest)
            return
        log.warning("cache entry %s is corrupt (%s); kept it as %s.%s%s and recomputing it",
                    data_path, reason, data_path.name, stamp, CORRUPT_SUFFIX)

    def put(self, namespace: str, key: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
        """Store ``arrays`` under ``key``; a cache that cannot be written is warned about, never fatal."""
        if KEY_ARRAY in arrays:
            raise ValueError(f"array name {KEY_ARRAY!r} is reserved for the cache's own key digest; rename it")
        self._sweep()
        digest = key_digest(key)
        if digest in self.unwritable:
            return
        data_path, meta_path = self._paths(namespace, digest)
        buffer = io.BytesIO()
        if reserved := {"file", "allow_pickle"} & set(arrays):  # np.savez's own parameters (allow_pickle from 2.1)
            raise ValueError(f"cache arrays may not be named {sorted(reserved)}")
        payload: dict[str, Any] = {name: np.asarray(value) for name, value in arrays.items()}
        payload[KEY_ARRAY] = np.asarray(digest)
        np.savez(buffer, **payload)
        data = buffer.getvalue()
        sidecar = {"key": key, "digest": digest, "sha256": hashlib.sha256(data).hexdigest()}
        try:
            atomic_write_bytes(data_path, data)
            atomic_write_text(meta_path, json.dumps(sidecar, default=str, indent=1))
        except OSError as error:
            level = logging.DEBUG if self.write_failed else logging.WARNING
            log.log(level, "could not write cache entry %s (%s); going on without caching. Check the "
                    "permissions and free space of the cache folder, or use another --cache", data_path, error)
            self.unwritable.add(digest)
            self.write_failed = True

    def get_or_compute(
        self,
        namespace: str,
        key: Mapping[str, Any],
        compute: Callable[[], Mapping[str, np.ndarray]],
    ) -> dict[str, np.ndarray]:
        cached = self.get(namespace, key)
        if cached is not None:
            return cached
        arrays = {name: np.asarray(value) for name, value in compute().items()}
        self.put(namespace, key, arrays)
        return arrays


def verified_entry(data_path: Path, sidecar: bytes, digest: str) -> dict[str, np.ndarray]:
    """The arrays of an entry whose sidecar, checksum and stored key digest all say it is ``digest``."""
    meta = json.loads(sidecar)
    if not isinstance(meta, dict) or meta.get("digest") != digest:
        raise CorruptEntry("its sidecar belongs to another key")
    data = data_path.read_bytes()
    if meta.get("sha256") != hashlib.sha256(data).hexdigest():
        raise CorruptEntry("checksum mismatch")
    with np.load(io.BytesIO(data), allow_pickle=False) as stored:
        if KEY_ARRAY not in stored.files or str(stored[KEY_ARRAY]) != digest:
            raise CorruptEntry("its arrays belong to another key")
        return {name: stored[name] for name in stored.files if name != KEY_ARRAY}


def sidecar_changed(meta_path: Path, seen: bytes) -> bool:
    try:
        return meta_path.read_bytes() != seen
    except OSError:
        return False


def describe_failure(error: BaseException) -> str:
    return str(error) if isinstance(error, CorruptEntry) else f"{type(error).__name__}: {error}"
