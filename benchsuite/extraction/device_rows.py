"""A layer's centred rows and their Gram product on the torch device its activations come from (a GPU).

The rule is the host path's (``store``): each image's float32 activations are shifted by ``float32(mean)`` where
that subtraction is exact (Sterbenz), scaled by a power of two where their squares could over- or underflow, and
what is left of the mean is taken out of the Gram matrix in float64; the rows are float32 and every product and
sum of the Gram is float64, so the correlations agree with a float64 ``numpy.corrcoef`` to about 1e-12. Here a
whole batch is centred at once on the device, and the rows stay there until the layer's Gram is multiplied out
(float64, never TF32); only the k x k Gram and the offsets come back to the host. Images that share a row
(``members``) are added in arrival order into float64 rows, which hold such sums of exact float32 rows without
rounding (the host adds them in float32, which rounds at about 1e-8 of a layer's correlations): such rows
take twice the memory.

torch is imported inside functions only: the extraction stage is core, and a process without torch never
reaches this module's code (only torch tensors lead here).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

DEVICE_STAGING_BYTES = 256 * 2**20
"""The float64 copy of a column block of the rows that one Gram product multiplies (device memory)."""


def torch_tensor(activations: Any) -> bool:
    """Whether ``activations`` is a torch tensor (without importing torch where no one has)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(activations, torch.Tensor)


def on_accelerator(activations: Any) -> bool:
    """Whether ``activations`` is a torch tensor on a device other than the CPU."""
    return torch_tensor(activations) and activations.device.type != "cpu"


def tensor_rows(activations: Any) -> torch.Tensor:
    """A batch's activations as (images, values), float32 or float64, on their device; no copy where none is needed."""
    import torch

    if not torch_tensor(activations):  # a model that mixes numpy arrays in
        activations = torch.as_tensor(np.asarray(activations))
    flat = activations.detach().reshape(len(activations), -1)
    return flat if flat.dtype in (torch.float32, torch.float64) else flat.float()


def first_bad_tensor_row(rows: torch.Tensor) -> tuple[int, str] | None:
    """The first row with a NaN or inf value, and which it is; None when every value is finite."""
    import torch

    finite = torch.isfinite(rows).all(dim=1)
    if bool(finite.all()):
        return None
    index = int(torch.argmin(finite.to(torch.uint8)))
    return index, "NaN" if bool(torch.isnan(rows[index]).any()) else "inf"


def selected_rows(rows: Any, mine: np.ndarray) -> Any:
    """The rows of a batch (numpy array or torch tensor) that ``mine`` (a numpy bool mask) selects."""
    if torch_tensor(rows):
        import torch

        return rows[torch.from_numpy(mine).to(rows.device)]
    return rows[mine]


def power_of_two_scales(rows: torch.Tensor, safe_squares: tuple[float, float]) -> torch.Tensor:
    """Per row, 1 or a power of two bringing it near unit length where its squares fall outside ``safe_squares``
    (float64, exact: scaling by a power of two changes no correlation); the host's ``power_of_two_scale``."""
    import torch

    norms = torch.linalg.vector_norm(rows, dim=1, dtype=torch.float64)
    squares = norms * norms
    safe = (squares == 0) | ((squares > safe_squares[0]) & (squares < safe_squares[1])) | ~torch.isfinite(norms)
    exponent = torch.frexp(norms).exponent.to(torch.float64)
    return torch.where(safe, torch.ones_like(norms), torch.pow(2.0, -exponent))


def exact_shifts(rows: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
    """Per row, ``float32(mean)`` where subtracting it from every value is exact (each value within a factor of
    two of it, Sterbenz's lemma), else 0: the host's ``exact_shift``, one batch at once."""
    import torch

    shifts = means.to(torch.float32)
    low, high = torch.minimum(shifts / 2, shifts * 2), torch.maximum(shifts / 2, shifts * 2)
    smallest, largest = torch.aminmax(rows, dim=1)
    exact = (shifts != 0) & torch.isfinite(shifts) & (low <= smallest) & (largest <= high)
    return torch.where(exact, shifts, torch.zeros_like(shifts))


def centred_rows(batch: torch.Tensor, scales: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``scale × (values − shift)`` per row (float32, no value rounded where the batch is float32) and what each
    keeps of its mean, ``scale × (mean − shift)`` (float64, for the Gram to take out): the host's ``add_centred``."""
    import torch

    means = batch.sum(dim=1, dtype=torch.float64) / batch.shape[1]
    shifts = exact_shifts(batch, means)
    centred = (batch - shifts.to(batch.dtype)[:, None]) * scales.to(batch.dtype)[:, None]
    return centred.to(torch.float32), (means - shifts.to(torch.float64)) * scales


def arrival_ranks(indices: np.ndarray) -> np.ndarray:
    """For each position, how many earlier positions of ``indices`` name the same row."""
    seen: dict[int, int] = {}
    ranks = np.empty(len(indices), dtype=np.int64)
    for position, row in enumerate(indices.tolist()):
        ranks[position] = seen.get(row, 0)
        seen[row] = ranks[position] + 1
    return ranks


class DeviceRows:
    """A layer's rows (float32, or float64 where images share rows), their power-of-two scales and float64
    offsets, all on one torch device."""

    def __init__(self, n_rows: int, width: int, device: Any, safe_squares: tuple[float, float], shared: bool):
        import torch

        self.width = width
        self.safe_squares = safe_squares
        self.rows = torch.zeros((n_rows, width), dtype=torch.float64 if shared else torch.float32, device=device)
        self.scales = torch.zeros(n_rows, dtype=torch.float64, device=device)
        self.offsets = torch.zeros(n_rows, dtype=torch.float64, device=device)
        self.started = np.zeros(n_rows, dtype=bool)

    def add(self, batch: torch.Tensor, indices: np.ndarray) -> None:
        """Centre a batch's rows (images, values) into rows ``indices`` (one per image, repeats allowed)."""
        import torch

        with torch.no_grad():
            batch = batch.to(self.rows.device)
            where = torch.from_numpy(np.ascontiguousarray(indices, dtype=np.int64)).to(self.rows.device)
            ranks = arrival_ranks(indices)
            first = (ranks == 0) & ~self.started[indices]
            if first.all():  # the common case: every image starts its row (no copy of the batch)
                self.scales[where] = power_of_two_scales(batch, self.safe_squares)
            elif first.any():
                chosen = torch.from_numpy(first).to(self.rows.device)
                self.scales[where[chosen]] = power_of_two_scales(batch[chosen], self.safe_squares)
            self.started[indices[first]] = True
            centred, offsets = centred_rows(batch, self.scales[where])
            start = int(indices[0]) if len(indices) else 0
            if first.all() and np.array_equal(indices, np.arange(start, start + len(indices))):
                self.rows[start : start + len(indices)] = centred  # fresh rows in order: one copy
                self.offsets[start : start + len(indices)] = offsets
                return
            for rank in range(int(ranks.max(initial=-1)) + 1):  # each image's row added in arrival order
                these = torch.from_numpy(ranks == rank).to(self.rows.device)
                self.rows[where[these]] += centred[these]
                self.offsets[where[these]] += offsets[these]

    def gram(self) -> tuple[np.ndarray, np.ndarray]:
        """The rows' Gram matrix (float64 products, column block by column block) and the offsets, both on the
        host; the rows are released."""
        import torch

        n_rows = self.rows.shape[0]
        span = max(DEVICE_STAGING_BYTES // (8 * max(n_rows, 1)), 1)
        with torch.no_grad():
            gram = torch.zeros((n_rows, n_rows), dtype=torch.float64, device=self.rows.device)
            for start in range(0, self.width, span):
                block = self.rows[:, start : start + span].to(torch.float64)
                gram.addmm_(block, block.T)
            result = gram.cpu().numpy(), self.offsets.cpu().numpy()
        self.rows = self.rows.new_empty((0, self.width))
        return result
