"""Linear CKA between two similarity matrices read as Gram matrices, plain and debiased.

A correlation matrix is the linear Gram matrix of the concepts' standardised
representations, so CKA on the two k×k matrices is linear CKA of those
representations (Kornblith et al. 2019). The debiased variant uses the unbiased
HSIC estimator (Song et al. 2012), whose chance level is 0 whatever k is.
Relabelling B permutes its centred Gram matrix, so each relabelling costs one
relabelled copy of it and a product with every A's (``relabelled_dot``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from benchsuite.metrics.backend import Backend, relabelled_dot


def _double_centred(K: np.ndarray) -> np.ndarray:
    return K - K.mean(axis=0, keepdims=True) - K.mean(axis=1, keepdims=True) + K.mean()


def cka_kernel(As: Sequence[np.ndarray], B: np.ndarray, backend: Backend) -> Callable[[Any], Any]:
    """Linear CKA for each relabelling of B and each A: ⟨HAH, HBH⟩ / (‖HAH‖ ‖HBH‖)."""
    Kb = _double_centred(B)
    centred = [_double_centred(A) for A in As]
    norms = np.array([np.linalg.norm(Ka) for Ka in centred]) * np.linalg.norm(Kb)
    with np.errstate(divide="ignore"):
        scale = backend.asarray(np.where(norms > 0, 1.0 / norms, np.nan))
    products = relabelled_dot(Kb, centred, backend)
    return lambda perms: products(perms) * scale


def _unbiased_hsic_parts(K: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """K without its diagonal, that matrix's row sums, and its total."""
    Kt = K - np.diag(np.diag(K))
    return Kt, Kt.sum(axis=1), float(Kt.sum())


def _unbiased_hsic(trace: Any, totals: Any, row_dot: Any, k: int) -> Any:
    """Song et al.'s unbiased HSIC (without the common 1/(k(k-3)) factor)."""
    return trace + totals / ((k - 1) * (k - 2)) - 2.0 * row_dot / (k - 2)


def cka_debiased_kernel(As: Sequence[np.ndarray], B: np.ndarray, backend: Backend) -> Callable[[Any], Any]:
    """Debiased linear CKA for each relabelling of B and each A."""
    k = B.shape[0]
    Kb, rows_b, total_b = _unbiased_hsic_parts(B)
    self_b = _unbiased_hsic((Kb * Kb).sum(), total_b**2, rows_b @ rows_b, k)
    parts = [_unbiased_hsic_parts(A) for A in As]
    self_a = np.array([_unbiased_hsic((Ka * Ka).sum(), total**2, rows @ rows, k) for Ka, rows, total in parts])
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where((self_a > 0) & (self_b > 0), 1.0 / np.sqrt(self_a * self_b), np.nan)
    totals = backend.asarray(np.array([total_a for _, _, total_a in parts]) * total_b)
    scale = backend.asarray(scale)
    rows_a = backend.asarray(np.stack([rows_a for _, rows_a, _ in parts], axis=1))
    rows_b = backend.asarray(rows_b)
    traces = relabelled_dot(Kb, [Ka for Ka, _, _ in parts], backend)

    def debiased(perms: Any) -> Any:
        return _unbiased_hsic(traces(perms), totals, rows_b[perms] @ rows_a, k) * scale

    return debiased
