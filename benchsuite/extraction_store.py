"""Where a layer's centred, unit-length image rows wait until its Gram matrix is taken.

A Pearson correlation between two images is the dot product of their
activations once each is centred and scaled to unit length, so one forward pass
only has to keep those rows (float32, normalised in float64) and multiply them
out at the end. Rows stay in memory while the memory plan allows, otherwise they
are appended to a plain file (read back with ``pread``, never mapped, so the
process's resident memory stays bounded) and multiplied column block by column
block: the chunked path gives the same matrix.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import numpy as np

ROW_DTYPE = np.dtype(np.float32)
GEMM_COLUMNS = 16384
SPILL_READ_BYTES = 64 * 2**20
FORWARD_RESERVE_FACTOR = 6
CENTRE_BLOCK = 1 << 16


def current_rss() -> int:
    """This process's resident memory in bytes (Linux ``/proc``; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def write_unit_centred(values: np.ndarray, out: np.ndarray) -> bool:
    """Write ``values`` centred and scaled to unit length into ``out``; True when constant.

    Mean and norm are accumulated in float64 (no cancellation), a cache-sized
    block at a time so that no float64 copy of a large activation is ever made.
    A constant activation leaves a zero row.
    """
    mean = values.mean(dtype=np.float64)
    scratch = np.empty(min(CENTRE_BLOCK, len(values)), dtype=np.float64)
    blocks = [slice(start, start + CENTRE_BLOCK) for start in range(0, len(values), CENTRE_BLOCK)]
    squares = 0.0
    for block in blocks:
        part = scratch[: len(values[block])]
        np.subtract(values[block], mean, out=part)
        squares += np.einsum("i,i->", part, part)
    norm = np.sqrt(squares)
    if norm == 0.0 or not np.isfinite(norm):
        out[:] = 0.0
        return True
    for block in blocks:
        part = scratch[: len(values[block])]
        np.subtract(values[block], mean, out=part)
        np.divide(part, norm, out=part)
        out[block] = part
    return False


class RowStore(Protocol):
    """Rows of one layer, appended in image order and read back by column blocks."""

    width: int

    def claim(self, count: int) -> np.ndarray:
        """Writable float32 room for the next ``count`` rows."""
        ...

    def commit(self, rows: np.ndarray) -> None:
        """Keep the rows written into the room last claimed."""
        ...

    def column_blocks(self) -> Iterator[np.ndarray]: ...

    def close(self) -> None: ...


class MemoryRows:
    """All of a layer's rows in one preallocated float32 array."""

    def __init__(self, n_rows: int, width: int):
        self.width = width
        self.rows = np.empty((n_rows, width), dtype=ROW_DTYPE)
        self.filled = 0

    def claim(self, count: int) -> np.ndarray:
        return self.rows[self.filled : self.filled + count]

    def commit(self, rows: np.ndarray) -> None:
        self.filled += len(rows)

    def column_blocks(self) -> Iterator[np.ndarray]:
        for start in range(0, self.width, GEMM_COLUMNS):
            yield self.rows[: self.filled, start : start + GEMM_COLUMNS]

    def close(self) -> None:
        self.rows = np.empty((0, self.width), dtype=ROW_DTYPE)


class SpilledRows:
    """A layer's rows appended to a file, read back a column block at a time."""

    def __init__(self, path: Path, width: int):
        self.width = width
        self.path = path
        self.handle = open(self.path, "wb+")
        self.scratch = np.empty((0, width), dtype=ROW_DTYPE)
        self.filled = 0

    def claim(self, count: int) -> np.ndarray:
        if len(self.scratch) < count:
            self.scratch = np.empty((count, self.width), dtype=ROW_DTYPE)
        return self.scratch[:count]

    def commit(self, rows: np.ndarray) -> None:
        self.handle.write(rows.data)
        self.filled += len(rows)

    def column_blocks(self) -> Iterator[np.ndarray]:
        self.handle.flush()
        itemsize = ROW_DTYPE.itemsize
        span = max(GEMM_COLUMNS, SPILL_READ_BYTES // (itemsize * max(self.filled, 1)))
        fd = self.handle.fileno()
        for start in range(0, self.width, span):
            stop = min(start + span, self.width)
            block = np.empty((self.filled, stop - start), dtype=ROW_DTYPE)
            for row in range(self.filled):
                offset = (row * self.width + start) * itemsize
                if os.preadv(fd, [memoryview(block[row]).cast("B")], offset) != block[row].nbytes:
                    raise OSError(f"short read from spill file {self.path}")
            for inner in range(0, stop - start, GEMM_COLUMNS):
                yield block[:, inner : inner + GEMM_COLUMNS]

    def close(self) -> None:
        self.handle.close()
        self.scratch = np.empty((0, self.width), dtype=ROW_DTYPE)
        self.path.unlink(missing_ok=True)


def safe_file_name(name: str) -> str:
    return "".join(char if char.isalnum() or char in "._-" else "_" for char in name)[:80]


def block_products(block: np.ndarray) -> np.ndarray:
    """B Bᵀ in float32, through torch's BLAS when torch is already loaded (MKL: about 2.5x numpy's here)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return block @ block.T
    tensor = torch.from_numpy(block)
    return (tensor @ tensor.T).numpy()


def gram_from_blocks(blocks: Iterator[np.ndarray], n_rows: int) -> np.ndarray:
    """Σ over column blocks of B Bᵀ: float32 products on narrow blocks, summed in float64.

    Each block is copied to contiguous memory first: a strided block whose row
    stride is a power of two makes BLAS thrash the cache.
    """
    gram = np.zeros((n_rows, n_rows), dtype=np.float64)
    for block in blocks:
        gram += block_products(np.ascontiguousarray(block))
    return gram


class MemoryPlan:
    """Decides, layer by layer, whether rows fit in memory under the budget or spill to disk.

    Layers are placed greedily in the order they first appear (network order).
    A layer stays in memory when the resident memory at the start, plus every
    layer already kept, plus this one, plus a reserve for the forward pass's own
    activations fits the budget. ``budget=None`` keeps everything in memory.
    """

    def __init__(self, budget: int | None, batch_size: int, spill_dir: Path | None = None):
        self.budget = budget
        self.batch_size = batch_size
        self.spill_parent = spill_dir
        self.baseline = current_rss()
        self.committed = 0
        self.widest = 0
        self.folder: Path | None = None
        self.spilled: list[str] = []

    def reserve(self) -> int:
        """Room for a batch's largest activation in flight (input, output, float copies)."""
        return FORWARD_RESERVE_FACTOR * self.batch_size * self.widest * ROW_DTYPE.itemsize

    def store_for(self, name: str, n_rows: int, width: int) -> RowStore:
        self.widest = max(self.widest, width)
        need = n_rows * width * ROW_DTYPE.itemsize
        if self.budget is None or self.baseline + self.committed + need + self.reserve() <= self.budget:
            self.committed += need
            return MemoryRows(n_rows, width)
        self.spilled.append(name)
        return SpilledRows(self.spill_folder() / f"{len(self.spilled):04d}-{safe_file_name(name)}.f32", width)

    def spill_folder(self) -> Path:
        if self.folder is None:
            if self.spill_parent is not None:
                Path(self.spill_parent).mkdir(parents=True, exist_ok=True)
            self.folder = Path(tempfile.mkdtemp(prefix="benchsuite-spill-", dir=self.spill_parent))
        return self.folder

    def cleanup(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


class LayerGram:
    """One layer's rows for a group of images, turned into their k×k Pearson correlation matrix."""

    def __init__(self, name: str, n_images: int, plan: MemoryPlan):
        self.name = name
        self.n_images = n_images
        self.plan = plan
        self.store: RowStore | None = None
        self.constant = np.zeros(n_images, dtype=bool)
        self.seen = 0

    def add(self, activations: np.ndarray) -> None:
        """Normalise a batch's activations, keep their rows, and let the activations go."""
        if self.seen + len(activations) > self.n_images:
            raise RuntimeError(
                f"layer {self.name!r} received {self.seen + len(activations)} images, "
                f"more than the {self.n_images} in the group"
            )
        flat = np.asarray(activations).reshape(len(activations), -1)
        if self.store is None:
            self.store = self.plan.store_for(self.name, self.n_images, flat.shape[1])
        elif flat.shape[1] != self.store.width:
            raise RuntimeError(
                f"layer {self.name!r} changed size from {self.store.width} to {flat.shape[1]} values "
                "per image within one group; preprocessing must give every image the same shape"
            )
        rows = self.store.claim(len(flat))
        for index, values in enumerate(flat):
            self.constant[self.seen + index] = write_unit_centred(values, rows[index])
        self.store.commit(rows)
        self.seen += len(flat)

    def matrix(self) -> np.ndarray:
        """The k×k correlation matrix (float64); constant activations give NaN rows and columns."""
        if self.store is None or self.seen != self.n_images:
            raise RuntimeError(
                f"layer {self.name!r} saw {self.seen} of {self.n_images} images: the model's forward "
                "did not report it for every batch"
            )
        try:
            gram = gram_from_blocks(self.store.column_blocks(), self.n_images)
        finally:
            self.store.close()
        gram = np.clip((gram + gram.T) / 2.0, -1.0, 1.0)
        np.fill_diagonal(gram, 1.0)
        gram[self.constant, :] = np.nan
        gram[:, self.constant] = np.nan
        return gram
