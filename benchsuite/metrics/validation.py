"""Input checks shared by every metric: shape, finiteness, symmetry, missing concepts."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

MIN_CONCEPTS = 4
SYMMETRY_RTOL, SYMMETRY_ATOL = 1e-6, 1e-9
"""|M - M.T| may reach SYMMETRY_ATOL + SYMMETRY_RTOL·|M.T| entrywise (as ``numpy.allclose``)."""


def check_permutation_count(n_permutations: object, *, allow_zero: bool = False) -> None:
    """A TypeError unless ``n_permutations`` is an integer (bool and float are refused), a ValueError if too small."""
    least = 0 if allow_zero else 1
    if isinstance(n_permutations, bool | np.bool_) or not isinstance(n_permutations, int | np.integer):
        raise TypeError(f"n_permutations must be an integer, got {n_permutations!r} "
                        f"({type(n_permutations).__name__}); pass a count such as n_permutations=1000")
    if n_permutations < least:
        raise ValueError(f"n_permutations must be at least {least}, got {n_permutations}; "
                         f"pass a count such as n_permutations=1000{' (0: no p-value)' if allow_zero else ''}")


def check_seed(seed: object) -> None:
    """A TypeError unless ``seed`` is a non-negative integer: None would draw fresh, unrepeatable permutations."""
    if isinstance(seed, bool | np.bool_) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be a non-negative integer, got {seed!r} ({type(seed).__name__}); "
                        "pass e.g. seed=0 (the same seed gives the same permutations)")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}; pass e.g. seed=0")


def check_direction(higher_is_better: object) -> None:
    """A TypeError unless ``higher_is_better`` is a bool (a truthy string or number would be a silent guess)."""
    if not isinstance(higher_is_better, bool | np.bool_):
        raise TypeError(f"higher_is_better must be True or False, got {higher_is_better!r}")


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
                         "build one with benchsuite.metrics.similarity.correlation_matrix")
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


def usable_concepts(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """The concepts present (not NaN) in both matrices, or a ValueError naming their count when under 4."""
    keep = ~(missing_concepts(A) | missing_concepts(B))
    if keep.sum() < MIN_CONCEPTS:
        raise ValueError(f"only {int(keep.sum())} concepts have finite similarities in both A and B; "
                         f"at least {MIN_CONCEPTS} are needed (each 2 vs 2 correlation leaves out two concepts "
                         "and needs two more): drop the concepts with constant representations or add concepts")
    return keep


def drop_missing(A: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both matrices without the concepts that are missing (NaN) in either one."""
    keep = usable_concepts(A, B)
    return A[np.ix_(keep, keep)], B[np.ix_(keep, keep)]
