"""Input checks shared by every metric: shape, finiteness, symmetry, missing concepts."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

MIN_CONCEPTS = 4
SYMMETRY_RTOL, SYMMETRY_ATOL = 1e-6, 1e-9
"""|M - M.T| may reach SYMMETRY_ATOL + SYMMETRY_RTOL·|M.T| entrywise (as ``numpy.allclose``)."""


def missing_concepts(M: np.ndarray) -> np.ndarray:
    """Concepts whose whole row is NaN (constant representations, see ``correlation_matrix``)."""
    return np.isnan(M).all(axis=1)


def _check_missing_rows(M: np.ndarray, name: str) -> None:
    """Every non-finite entry must be a NaN in a missing concept's row or column."""
    if np.isinf(M).any():
        i, j = np.argwhere(np.isinf(M))[0]
        raise ValueError(f"{name} has an infinite entry at [{i}, {j}]; similarities must be finite")
    missing = missing_concepts(M)
    stray = np.isnan(M) & ~(missing[:, None] | missing[None, :])
    if stray.any():
        i, j = np.argwhere(stray)[0]
        raise ValueError(f"{name} has a NaN at [{i}, {j}] outside a whole NaN row and column; only a concept "
                         "with constant representations may be NaN, across its entire row and column")


def _is_symmetric(M: np.ndarray) -> bool:
    """``numpy.allclose(M, M.T)`` at the symmetry tolerance; the largest gap, cheaper, usually settles it."""
    return bool(np.abs(M - M.T).max() <= SYMMETRY_ATOL) or np.allclose(
        M, M.T, rtol=SYMMETRY_RTOL, atol=SYMMETRY_ATOL, equal_nan=True
    )


def check_similarity(M: ArrayLike, name: str) -> np.ndarray:
    """``M`` as a float64 k×k similarity matrix, or a ValueError naming what is wrong."""
    M = np.asarray(M, dtype=np.float64)
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise ValueError(f"{name} must be a square k×k similarity matrix, got shape {M.shape}; "
                         "build one with benchsuite.similarity.correlation_matrix")
    k = M.shape[0]
    if k < MIN_CONCEPTS:
        raise ValueError(f"{name} has k={k} concepts; at least {MIN_CONCEPTS} are needed "
                         "(each 2 vs 2 correlation leaves out two concepts and needs two more)")
    if not np.isfinite(M).all():
        _check_missing_rows(M, name)
    if not _is_symmetric(M):
        gap = np.nanmax(np.abs(M - M.T))
        raise ValueError(f"{name} is not symmetric (max |M - M.T| = {gap:.3g}); pass a similarity matrix "
                         "between concepts, not raw representations")
    return M


def check_similarity_pair(A: ArrayLike, B: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Both matrices checked, and over the same number of concepts."""
    A = check_similarity(A, "A")
    B = check_similarity(B, "B")
    if A.shape != B.shape:
        raise ValueError(f"A and B must cover the same concepts in the same order, got shapes {A.shape} and "
                         f"{B.shape}")
    return A, B


def drop_missing(A: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both matrices without the concepts that are missing (NaN) in either one."""
    keep = ~(missing_concepts(A) | missing_concepts(B))
    if keep.sum() < MIN_CONCEPTS:
        raise ValueError(f"only {int(keep.sum())} concepts have finite similarities in both A and B; "
                         f"at least {MIN_CONCEPTS} are needed")
    return A[np.ix_(keep, keep)], B[np.ix_(keep, keep)]
