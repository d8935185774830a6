"""Where a layer's centred rows wait until its Gram matrix is taken.

A Pearson correlation between two rows is the dot product of their centred
activations divided by both norms, so one forward pass only has to keep each
row centred (float32, about a float64 mean) and multiply the rows out at the
end; the norms come from the Gram matrix's diagonal. A row is one image, or,
with ``members``, the sum of several images' centred activations (centring is
linear, so that is the centred mean up to a scale the correlation ignores).
Rows stay in memory while the memory plan allows, otherwise they are written to
a plain file (read back with ``pread``, never mapped, so the process's resident
memory stays bounded) and multiplied column block by column block: the chunked
path gives the same matrix. Activations that arrive as torch tensors on a GPU are centred and multiplied out
there (``device_rows``, the same rule) while their rows fit the device's free memory; a layer whose rows do
not fit takes the host path above (its batches copied to the host, kept in memory or spilled).
"""

from __future__ import annotations

import importlib.util
import math
import mmap
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import DTypeLike

from benchsuite.extraction.cache import owner_tag, sweep_once
from benchsuite.extraction.device_rows import (
    DEVICE_STAGING_BYTES,
    DeviceRows,
    on_accelerator,
    tensor_rows,
    torch_tensor,
)

ROW_DTYPE = np.dtype(np.float32)
GEMM_COLUMNS = 16384
SPILL_READ_BYTES = 64 * 2**20
FORWARD_RESERVE_FACTOR = 6
SAFE_SQUARES = (2.0**-60, 2.0**60)
STAGING_BYTES = 2 * 2**20
ONE_THREAD_PRODUCT = 1 << 26
"""A Gram product with fewer multiply-adds than this runs on one torch thread: split across threads, such a
thin product took 2-3x the CPU time on the benchmark machine (and one thread's rounding never depends on
the core count)."""
SPILL_PREFIX = "benchsuite-spill"  # + the owner's tag: the next run removes a killed run's folders


def current_rss() -> int:
    """This process's resident memory in bytes (Linux ``/proc``; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def as_rows(activations: Any) -> np.ndarray:
    """A batch's activations as (images, values) float32 or float64: numpy arrays or torch tensors, no copy on CPU."""
    if not isinstance(activations, np.ndarray) and hasattr(activations, "detach"):
        activations = activations.detach().cpu().numpy()
    flat = np.asarray(activations)
    flat = flat.reshape(len(flat), -1)
    return flat if flat.dtype in (np.float32, np.float64) else flat.astype(ROW_DTYPE)


def power_of_two_scale(values: np.ndarray) -> float:
    """1, or a power of two bringing the row near unit length when its float32 squares could over- or underflow.

    Scaling by a power of two is exact, so it changes no correlation.
    """
    squares = float(np.dot(values, values))
    if squares == 0.0 or SAFE_SQUARES[0] < squares < SAFE_SQUARES[1]:
        return 1.0
    if not math.isfinite(squares):
        largest = float(np.max(np.abs(values)))
        if not math.isfinite(largest):
            return 1.0
        squares = largest * largest * len(values)
    return math.ldexp(1.0, -math.frexp(math.sqrt(squares))[1])


def exact_shift(values: np.ndarray, mean: float) -> np.float32:
    """float32(mean) when subtracting it from every value is exact, else 0 (the row is kept as it is).

    By Sterbenz's lemma x − s is exact in float32 when s/2 ≤ x ≤ 2s: a row far
    from zero (a large shared mean, where centring matters) is centred without
    rounding; a row that reaches zero or changes sign has a mean comparable to
    its spread and stays uncentred, its mean taken out of the Gram matrix in float64.
    """
    shift = np.float32(mean)
    if shift == 0 or not np.isfinite(shift):
        return np.float32(0.0)
    low, high = sorted((shift / np.float32(2.0), shift * np.float32(2.0)))
    for sample in (values[:: max(len(values) // 64, 1)], values):  # most rows fail on a sample, in no time
        if not (low <= sample.min() and sample.max() <= high):
            return np.float32(0.0)
    return shift


def add_centred(values: np.ndarray, out: np.ndarray, scale: float, fresh: bool) -> float:
    """Write (``fresh``) or add ``scale × (values − shift)`` into the float32 row ``out``; the mean left in it.

    The mean is accumulated in float64 and the row shifted by ``exact_shift`` in
    one float32 pass, so no float64 copy is made and no float32 value is rounded
    (adding a member to a row does round, at float32 precision of the sum). What
    the row keeps of its mean, ``scale × (mean − shift)``, is returned for the
    Gram matrix to take out in float64.
    """
    mean = np.add.reduce(values, dtype=np.float64) / len(values)
    shift = exact_shift(values, mean)
    if scale == 1.0:
        centred = np.subtract(values, shift, out=out if fresh else None)
    else:
        centred = np.multiply(values, np.float32(scale), out=out if fresh else None)
        centred -= shift * np.float32(scale)
    if not fresh:
        out += centred
    return (float(mean) - float(shift)) * scale


class RowStore(Protocol):
    """A layer's rows, written by row index and read back by column blocks."""

    width: int

    def row(self, index: int, fresh: bool) -> np.ndarray:
        """Writable float32 room for row ``index``; holding what was kept there unless ``fresh``."""
        ...

    def keep(self, index: int, row: np.ndarray) -> None:
        """Keep what was written into the room of row ``index``."""
        ...

    def column_blocks(self) -> Iterator[np.ndarray]: ...

    def close(self) -> None: ...


def anonymous_rows(n_rows: int, width: int, dtype: DTypeLike = ROW_DTYPE) -> np.ndarray:
    """A (n_rows, width) array (float32 by default) in its own anonymous mapping of ordinary pages.

    numpy asks for transparent huge pages on large arrays, and where the kernel
    compacts memory to find them the first write to each stalls: filling the
    rows took 4x the arithmetic on the benchmark machine.
    """
    size = max(n_rows * width * np.dtype(dtype).itemsize, 1)
    flags = mmap.MAP_PRIVATE | getattr(mmap, "MAP_ANONYMOUS", 0)
    buffer = mmap.mmap(-1, size, flags=flags) if hasattr(mmap, "MAP_PRIVATE") else bytearray(size)
    return np.frombuffer(buffer, dtype=dtype, count=n_rows * width).reshape(n_rows, width)


class MemoryRows:
    """All of a layer's rows in one preallocated float32 array."""

    def __init__(self, n_rows: int, width: int):
        self.width = width
        self.rows = anonymous_rows(n_rows, width)

    def row(self, index: int, fresh: bool) -> np.ndarray:
        return self.rows[index]

    def keep(self, index: int, row: np.ndarray) -> None:
        pass

    def column_blocks(self) -> Iterator[np.ndarray]:
        for start in range(0, self.width, GEMM_COLUMNS):
            yield self.rows[:, start : start + GEMM_COLUMNS]

    def close(self) -> None:
        self.rows = np.empty((0, self.width), dtype=ROW_DTYPE)


class SpilledRows:
    """A layer's rows in a file at fixed offsets, read back a column block at a time."""

    def __init__(self, path: Path, n_rows: int, width: int):
        self.width = width
        self.n_rows = n_rows
        self.path = path
        self.handle = open(self.path, "wb+")
        self.scratch = np.empty(width, dtype=ROW_DTYPE)

    def offset(self, index: int, column: int = 0) -> int:
        return (index * self.width + column) * ROW_DTYPE.itemsize

    def row(self, index: int, fresh: bool) -> np.ndarray:
        if not fresh and os.preadv(self.handle.fileno(), [self.scratch.data.cast("B")], self.offset(index)) != (
            self.scratch.nbytes
        ):
            raise OSError(f"short read from spill file {self.path}")
        return self.scratch

    def keep(self, index: int, row: np.ndarray) -> None:
        if os.pwrite(self.handle.fileno(), row.data.cast("B"), self.offset(index)) != row.nbytes:
            raise OSError(f"short write to spill file {self.path}")

    def column_blocks(self) -> Iterator[np.ndarray]:
        span = max(GEMM_COLUMNS, SPILL_READ_BYTES // (ROW_DTYPE.itemsize * max(self.n_rows, 1)))
        fd = self.handle.fileno()
        for start in range(0, self.width, span):
            stop = min(start + span, self.width)
            block = np.empty((self.n_rows, stop - start), dtype=ROW_DTYPE)
            for row in range(self.n_rows):
                if os.preadv(fd, [memoryview(block[row]).cast("B")], self.offset(row, start)) != block[row].nbytes:
                    raise OSError(f"short read from spill file {self.path}")
            for inner in range(0, stop - start, GEMM_COLUMNS):
                yield block[:, inner : inner + GEMM_COLUMNS]

    def close(self) -> None:
        self.handle.close()
        self.scratch = np.empty(0, dtype=ROW_DTYPE)
        self.path.unlink(missing_ok=True)


def safe_file_name(name: str) -> str:
    return "".join(char if char.isalnum() or char in "._-" else "_" for char in name)[:80]


def gram_from_blocks(blocks: Iterator[np.ndarray], n_rows: int) -> np.ndarray:
    """Σ over column blocks of B Bᵀ, accumulated in float64 from the float32 rows.

    The product of two float32 numbers is exact in float64, so the only rounding
    left is float64 summation (about 1e-16 relative): the correlations then agree
    with a float64 ``numpy.corrcoef`` to about 1e-12 even where a layer's images
    correlate at 0.999 and a float32 product's 1e-7 would decide 2 vs 2 pairs.
    The blocks' columns are copied, in order, into one reused float64 buffer of
    ``STAGING_BYTES`` (few, large products: each call costs a fixed setup) and
    multiplied through torch's BLAS, always the same library, so the rounding (and
    the records) never depend on which frameworks a process imported or on how the
    store cut its blocks: a Ray worker, the local runner and a spilled layer give
    bit-identical matrices. Where torch is not installed (the lean core), numpy's
    BLAS does the products: the same exactness rule, rounding that may differ in the
    last bits, and a cache key of its own (``gram_library``).
    """
    staging = anonymous_rows(n_rows, max(STAGING_BYTES // (8 * max(n_rows, 1)), 1), np.float64)
    if gram_library() == "numpy":
        gram = np.zeros((n_rows, n_rows), dtype=np.float64)
        multiply_in(blocks, staging, lambda n: np.add(gram, staging[:, :n] @ staging[:, :n].T, out=gram))
        return gram
    import torch

    torch_gram = torch.zeros((n_rows, n_rows), dtype=torch.float64)
    tensor = torch.from_numpy(staging)
    full = staging.shape[1]
    with torch_threads(1 if n_rows * staging.size < ONE_THREAD_PRODUCT else None):
        multiply_in(blocks, staging, lambda n: torch_gram.addmm_(*(tensor, tensor.T) if n == full
                                                                 else (tensor[:, :n], tensor[:, :n].T)))
    return torch_gram.numpy()


def gram_library() -> str:
    """Which BLAS multiplies the Gram products: ``torch`` where it is installed, else ``numpy``."""
    return "torch" if importlib.util.find_spec("torch") is not None else "numpy"


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """torch's intra-op thread count set to ``count`` (None: left alone) for the block, then restored."""
    import torch

    previous = torch.get_num_threads()
    if count is not None and count < previous:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


def multiply_in(blocks: Iterator[np.ndarray], staging: np.ndarray, add_product: Callable[[int], object]) -> None:
    """``add_product(n)`` (add S Sᵀ of the first ``n`` staged columns to the Gram) for each run of the blocks'
    columns copied, in order, into ``staging`` (float64)."""
    filled = 0
    for block in blocks:
        start = 0
        while start < block.shape[1]:
            part = block[:, start : start + staging.shape[1] - filled]
            np.copyto(staging[:, filled : filled + part.shape[1]], part)
            filled += part.shape[1]
            start += part.shape[1]
            if filled == staging.shape[1]:
                add_product(filled)
                filled = 0
    if filled:
        add_product(filled)


class MemoryPlan:
    """Decides, layer by layer, whether rows fit in memory under the budget or spill to disk.

    Layers are placed greedily in the order they first appear (network order).
    A layer stays in memory when the resident memory at the start, plus every
    layer already kept, plus this one, plus a reserve for the forward pass's own
    activations fits the budget. ``budget=None`` keeps everything in memory.

    Rows of activations on a GPU (or, with ``device_rows``, of any torch tensors: the CPU tests of that path)
    stay on their device while they fit it (``device_store_for``); the budget counts the host's memory only.
    """

    def __init__(self, budget: int | None, batch_size: int, spill_dir: Path | None = None,
                 device_rows: bool = False):
        self.budget = budget
        self.device_rows = device_rows
        self.device_free: dict[str, int] = {}
        self.device_committed: dict[str, int] = {}
        self.on_host: list[str] = []
        self.batch_size = batch_size
        self.spill_parent = spill_dir
        sweep_once(Path(spill_dir or tempfile.gettempdir()), f"{SPILL_PREFIX}*")
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
        return SpilledRows(self.spill_folder() / f"{len(self.spilled):04d}-{safe_file_name(name)}.f32", n_rows, width)

    def on_device(self, activations: Any) -> bool:
        """Whether a layer's ``activations`` are centred where they are (``device_rows``), not on the host."""
        return on_accelerator(activations) or (self.device_rows and torch_tensor(activations))

    def device_store_for(self, name: str, n_rows: int, width: int, device: Any, shared: bool) -> DeviceRows | None:
        """The layer's rows on ``device`` (a torch device; float64 where images share rows, ``shared``) when they
        fit there, else None: the layer takes the host path, its name listed in ``on_host``.

        On a GPU they fit while every layer kept there, this one, the forward reserve and a Gram block's
        float64 copy fit 90% of the memory that was free when the plan first saw the device (the rest is
        left to the network's own work space); on the CPU the host's budget decides, as for ``MemoryRows``;
        other devices keep no rows.
        """
        self.widest = max(self.widest, width)
        need = n_rows * width * ROW_DTYPE.itemsize * (2 if shared else 1)
        if device.type == "cpu":
            fits = self.budget is None or self.baseline + self.committed + need + self.reserve() <= self.budget
            self.committed += need if fits else 0
        elif device.type == "cuda":
            key = str(device)
            if key not in self.device_free:
                import torch

                self.device_free[key] = int(0.9 * torch.cuda.mem_get_info(device)[0])
            committed = self.device_committed.get(key, 0)
            fits = committed + need + self.reserve() + DEVICE_STAGING_BYTES <= self.device_free[key]
            self.device_committed[key] = committed + (need if fits else 0)
        else:  # no free-memory figure to plan by (e.g. Apple's MPS)
            fits = False
        if not fits:
            self.on_host.append(name)
            return None
        return DeviceRows(n_rows, width, device, SAFE_SQUARES, shared)

    def spill_folder(self) -> Path:
        if self.folder is None:
            if self.spill_parent is not None:
                Path(self.spill_parent).mkdir(parents=True, exist_ok=True)
            self.folder = Path(tempfile.mkdtemp(prefix=f"{SPILL_PREFIX}.{owner_tag()}.", dir=self.spill_parent))
        return self.folder

    def cleanup(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


class LayerGram:
    """One layer's rows for a group of images, turned into their Pearson correlation matrix.

    ``members[i]`` is the row image ``i`` adds to (default: its own row), so
    with members the matrix correlates the rows' mean activations.
    """

    def __init__(self, name: str, n_rows: int, plan: MemoryPlan, members: Sequence[int] | None = None):
        self.name = name
        self.n_rows = n_rows
        self.plan = plan
        self.members = np.arange(n_rows) if members is None else np.asarray(members, dtype=np.int64)
        self.store: RowStore | None = None
        self.device: DeviceRows | None = None
        self.scales = np.zeros(n_rows, dtype=np.float64)
        self.offsets = np.zeros(n_rows, dtype=np.float64)
        self.seen = 0

    def add(self, activations: Any) -> None:
        """Centre a batch's activations into their rows and let the activations go."""
        if self.store is None and (self.device is not None or self.plan.on_device(activations)):
            tensor = tensor_rows(activations)
            self.check_batch(len(tensor), tensor.shape[1], None if self.device is None else self.device.width)
            if self.device is None:
                self.device = self.plan.device_store_for(self.name, self.n_rows, tensor.shape[1], tensor.device,
                                                         shared=len(self.members) > self.n_rows)
            if self.device is not None:
                self.device.add(tensor, self.members[self.seen : self.seen + len(tensor)])
                self.seen += len(tensor)
                return
        flat = as_rows(activations)
        self.check_batch(len(flat), flat.shape[1], None if self.store is None else self.store.width)
        if self.store is None:
            self.store = self.plan.store_for(self.name, self.n_rows, flat.shape[1])
        for values, index in zip(flat, self.members[self.seen : self.seen + len(flat)], strict=True):
            fresh = self.scales[index] == 0.0
            if fresh:
                self.scales[index] = power_of_two_scale(values)
            row = self.store.row(index, fresh)
            self.offsets[index] += add_centred(values, row, self.scales[index], fresh)
            self.store.keep(index, row)
        self.seen += len(flat)

    def check_batch(self, n_images: int, width: int, kept_width: int | None) -> None:
        """A batch of ``n_images`` rows of ``width`` values fits the group and the rows kept so far (``kept_width``)."""
        if self.seen + n_images > len(self.members):
            raise RuntimeError(
                f"layer {self.name!r} received {self.seen + n_images} images, "
                f"more than the {len(self.members)} in the group"
            )
        if kept_width is not None and width != kept_width:
            raise RuntimeError(
                f"layer {self.name!r} changed size from {kept_width} to {width} values "
                "per image within one group; preprocessing must give every image the same shape"
            )

    def matrix(self) -> np.ndarray:
        """The correlation matrix (float64) of the rows; constant rows give NaN rows and columns."""
        if self.device is not None and self.seen == len(self.members):
            gram, offsets = self.device.gram()
            return correlation_from_gram(gram, offsets, self.device.width)
        if self.store is None or self.seen != len(self.members):
            raise RuntimeError(
                f"layer {self.name!r} saw {self.seen} of {len(self.members)} images: the model's forward "
                "did not report it for every batch"
            )
        try:
            gram = gram_from_blocks(self.store.column_blocks(), self.n_rows)
        finally:
            self.store.close()
        return correlation_from_gram(gram, self.offsets, self.store.width)


def correlation_from_gram(gram: np.ndarray, offsets: np.ndarray, width: int) -> np.ndarray:
    """The correlation matrix of rows whose Gram matrix is ``gram`` once the means they kept (``offsets``, one
    per row, over ``width`` values) are taken out in float64; constant rows give NaN rows and columns."""
    gram -= width * np.outer(offsets, offsets)
    squares = np.diag(gram).copy()
    constant = ~(squares > 0.0) | ~np.isfinite(squares)
    norms = np.sqrt(np.where(constant, 1.0, squares))
    correlation = np.clip((gram + gram.T) / (2.0 * np.outer(norms, norms)), -1.0, 1.0)
    np.fill_diagonal(correlation, 1.0)
    correlation[constant, :] = np.nan
    correlation[:, constant] = np.nan
    return correlation
