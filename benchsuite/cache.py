"""On-disk cache of expensive arrays, keyed by everything that changes them.

A key is a JSON-able mapping (plugin name and version, weights hash,
preprocessing, image ids, concept ids, layers...). Entries are ``.npz`` files
written atomically, with a sidecar holding the key and the file's sha256; an
entry whose checksum fails is deleted and recomputed, never trusted. Nothing is
pickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_CACHE_ENV = "BENCHSUITE_CACHE"


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


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


class ArrayCache:
    """Named arrays stored under a digest of their key."""

    def __init__(self, root: Path | str | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()

    def _paths(self, namespace: str, key: Mapping[str, Any]) -> tuple[Path, Path]:
        digest = key_digest(key)
        folder = self.root / namespace / digest[:2]
        return folder / f"{digest}.npz", folder / f"{digest}.json"

    def get(self, namespace: str, key: Mapping[str, Any]) -> dict[str, np.ndarray] | None:
        """The stored arrays, or None when absent or corrupt (a corrupt entry is removed)."""
        data_path, meta_path = self._paths(namespace, key)
        if not (data_path.exists() and meta_path.exists()):
            return None
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("sha256") != file_sha256(data_path):
                raise ValueError("checksum mismatch")
            with np.load(data_path, allow_pickle=False) as stored:
                return {name: stored[name] for name in stored.files}
        except (ValueError, OSError, KeyError, json.JSONDecodeError):
            data_path.unlink(missing_ok=True)
            meta_path.unlink(missing_ok=True)
            return None

    def put(self, namespace: str, key: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
        data_path, meta_path = self._paths(namespace, key)
        data_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=data_path.parent, suffix=".npz.tmp")
        os.close(fd)
        try:
            with open(tmp, "wb") as handle:
                np.savez(handle, **{name: np.asarray(value) for name, value in arrays.items()})
            checksum = file_sha256(Path(tmp))
            os.replace(tmp, data_path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        atomic_write_text(meta_path, json.dumps({"key": key, "sha256": checksum}, default=str, indent=1))

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
