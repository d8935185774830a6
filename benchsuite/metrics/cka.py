"""Linear CKA between two similarity matrices read as Gram matrices, plain and debiased.

A correlation matrix is the linear Gram matrix of the concepts' standardised
representations, so CKA on the two k×k matrices is linear CKA of those
representations (Kornblith et al. 2019). The debiased variant uses the unbiased
HSIC estimator (Song et al. 2012), whose chance level is 0 whatever k is.
Relabelling B permutes its centred Gram matrix, so each relabelling costs a
gather and an elementwise product.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from benchsuite.metrics.backend import Backend


def _double_centred(K: np.ndarray) -> np.ndarray:
    return K - K.mean(axis=0, keepdims=True) - K.mean(axis=1, keepdims=True) + K.mean()


def cka_kernel(A: np.ndarray, B: np.ndarray, backend: Backend) -> Callable[[Any], Any]:
    """Linear CKA for each relabelling of B: ⟨HAH, HBH⟩ / (‖HAH‖ ‖HBH‖)."""
    Ka, Kb = _double_centred(A), _double_centred(B)
    norm = np.linalg.norm(Ka) * np.linalg.norm(Kb)
    scale = 1.0 / norm if norm > 0 else np.nan
    Ka, Kb = backend.asarray(Ka), backend.asarray(Kb)
    return lambda perms: (Ka * backend.relabel(Kb, perms)).sum(axis=(-2, -1)) * scale


def _unbiased_hsic_parts(K: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """K without its diagonal, that matrix's row sums, and its total."""
    Kt = K - np.diag(np.diag(K))
    return Kt, Kt.sum(axis=1), float(Kt.sum())


def _unbiased_hsic(trace: Any, totals: float, row_dot: Any, k: int) -> Any:
    """Song et al.'s unbiased HSIC (without the common 1/(k(k-3)) factor)."""
    return trace + totals / ((k - 1) * (k - 2)) - 2.0 * row_dot / (k - 2)


def cka_debiased_kernel(A: np.ndarray, B: np.ndarray, backend: Backend) -> Callable[[Any], Any]:
    """Debiased linear CKA for each relabelling of B."""
    k = A.shape[0]
    Ka, rows_a, total_a = _unbiased_hsic_parts(A)
    Kb, rows_b, total_b = _unbiased_hsic_parts(B)
    self_a = _unbiased_hsic((Ka * Ka).sum(), total_a**2, rows_a @ rows_a, k)
    self_b = _unbiased_hsic((Kb * Kb).sum(), total_b**2, rows_b @ rows_b, k)
    scale = 1.0 / np.sqrt(self_a * self_b) if self_a > 0 and self_b > 0 else np.nan
    Ka, Kb = backend.asarray(Ka), backend.asarray(Kb)
    rows_a, rows_b = backend.asarray(rows_a), backend.asarray(rows_b)

    def debiased(perms: Any) -> Any:
        trace = (Ka * backend.relabel(Kb, perms)).sum(axis=(-2, -1))
        return _unbiased_hsic(trace, total_a * total_b, rows_b[perms] @ rows_a, k) * scale

    return debiased
