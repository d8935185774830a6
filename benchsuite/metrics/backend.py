"""One array namespace for the metric kernels: numpy on the CPU, torch float64 when asked.

``device="cpu"`` runs on numpy. ``"cuda"`` (or ``"cuda:N"``) runs the same kernels
on torch float64 tensors on that GPU; ``"torch"`` runs them on torch CPU tensors,
which is how the torch path is checked on machines without a GPU. torch is
imported only when a torch device is asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

SMALL_PRODUCT = 1 << 26
"""Matrix products with fewer multiply-adds than this run on one BLAS thread (see ``Backend.matmul``)."""


@dataclass(frozen=True)
class Backend:
    """An array module (``numpy`` or ``torch``) and the device its arrays live on."""

    xp: Any
    device: str

    @property
    def is_torch(self) -> bool:
        return self.xp is not np

    def asarray(self, x: np.ndarray) -> Any:
        """A numpy array on this backend, float64 (or int64/bool for such input)."""
        x = np.asarray(x)
        if x.dtype.kind == "f":
            x = x.astype(np.float64, copy=False)
        if not self.is_torch:
            return x
        return self.xp.as_tensor(x, device=self.device)

    def to_numpy(self, x: Any) -> np.ndarray:
        return x.detach().cpu().numpy() if self.is_torch else np.asarray(x)

    def float64(self, x: Any) -> Any:
        """``x`` as float64 (torch would divide integer tensors into float32)."""
        return x.double() if self.is_torch else np.asarray(x, dtype=np.float64)

    def swap(self, x: Any) -> Any:
        """Transpose the last two axes."""
        return x.transpose(-1, -2) if self.is_torch else np.swapaxes(x, -1, -2)

    def empty(self, shape: tuple[int, ...]) -> Any:
        """An uninitialised float64 array on this backend."""
        if self.is_torch:
            return self.xp.empty(shape, dtype=self.xp.float64, device=self.device)
        return np.empty(shape)

    def matmul(self, x: Any, y: Any, out: Any) -> Any:
        """``x @ y`` into ``out``; on numpy a small product uses one BLAS thread.

        Splitting a small product across threads gains little on an idle machine and
        stalls for milliseconds when another process holds a core.
        """
        small = not self.is_torch and x.shape[0] * x.shape[1] * y.shape[1] < SMALL_PRODUCT
        with one_blas_thread() if small else nullcontext():
            return self.xp.matmul(x, y, out=out)

    def contiguous(self, x: Any) -> Any:
        """``x`` laid out contiguously (a transposed view copied), so elementwise passes stream."""
        return x.contiguous() if self.is_torch else np.ascontiguousarray(x)

    def diagonal(self, x: Any) -> Any:
        """Diagonal of the last two axes."""
        if self.is_torch:
            return self.xp.diagonal(x, dim1=-2, dim2=-1)
        return np.diagonal(x, axis1=-2, axis2=-1)

    def argsort(self, x: Any) -> Any:
        """Stable argsort along the last axis."""
        if self.is_torch:
            return self.xp.argsort(x, dim=-1, stable=True)
        return np.argsort(x, axis=-1, kind="stable")

    def take(self, x: Any, indices: Any) -> Any:
        """``x`` gathered at ``indices`` along the last axis."""
        if self.is_torch:
            return self.xp.take_along_dim(x, indices, dim=-1)
        return np.take_along_axis(x, indices, axis=-1)

    def running_max(self, x: Any) -> Any:
        """Cumulative maximum along the last axis."""
        return self.xp.cummax(x, dim=-1).values if self.is_torch else np.maximum.accumulate(x, axis=-1)

    def relabel(self, M: Any, perms: Any, out: Any = None) -> Any:
        """``M`` with its concepts relabelled by each permutation: (batch, k, k), into ``out`` if given."""
        if self.is_torch:
            relabelled = M[perms[:, :, None], perms[:, None, :]]
            return relabelled if out is None else out.copy_(relabelled)
        from benchsuite.metrics.compiled import relabel_into

        out = np.empty(perms.shape + M.shape[-1:], M.dtype) if out is None else out
        if relabel_into is not None and M.dtype == out.dtype and M.flags.c_contiguous and out.flags.c_contiguous:
            relabel_into(M, np.ascontiguousarray(perms), out)
            return out
        for o, p in zip(out, perms, strict=True):
            np.take(M[p], p, axis=1, out=o)
        return out


def relabelled_dot(M: np.ndarray, weights: Sequence[np.ndarray], backend: Backend) -> Callable[[Any], Any]:
    """A function from relabellings (batch × k) to Σ_ij W[i, j]·M[p_i, p_j] for each weight matrix W: (batch, len).

    Statistics whose value under a relabelling of one space is such a sum (correlations of
    fixed, standardised entries; Frobenius products of centred Gram or neighbour matrices)
    take their whole null from one relabelled copy of M per draw and one matrix product,
    whatever the number of weight matrices.
    """
    flat = backend.asarray(np.ascontiguousarray(np.stack([np.asarray(w).ravel() for w in weights], axis=1)))
    M = backend.asarray(M)
    return lambda perms: backend.relabel(M, perms).reshape(perms.shape[0], -1) @ flat


@cache
def _blas_threads() -> Any:
    """threadpoolctl's controller when it is installed (it comes with scikit-learn), else None."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()


def one_blas_thread() -> Any:
    """A context in which numpy's BLAS runs on one thread (for the whole process)."""
    controller = _blas_threads()
    return nullcontext() if controller is None else controller.limit(limits=1, user_api="blas")


def resolve_backend(device: str = "cpu") -> Backend:
    """The backend for a device name; a clear error when the device cannot be used."""
    if device == "cpu":
        return Backend(np, "cpu")
    if device == "torch" or device == "torch:cpu" or device.startswith("cuda"):
        try:
            import torch
        except ModuleNotFoundError:
            raise RuntimeError(f"device {device!r} needs torch, which is not installed: "
                               "pip install 'benchsuite[torch]', or use --device cpu") from None
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError(f"device {device!r} was asked for but there is no CUDA device; use --device cpu")
        return Backend(torch, "cpu" if device.startswith("torch") else device)
    raise ValueError(f"unknown device {device!r}; use 'cpu', 'cuda', 'cuda:N' or 'torch' (torch on the CPU)")
