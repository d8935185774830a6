"""Matrices for the metric tests: related pairs of k×k similarity matrices, and degenerate ones (exact ties,
constant or duplicated concepts, nearly constant rows), one at a time or as a stack of layers."""

from __future__ import annotations

import numpy as np
import pytest

from benchsuite.metrics.similarity import correlation_matrix

TORCH = pytest.param("torch", marks=pytest.mark.needs("torch"))
"""The ``torch`` metric backend as a ``device`` parameter: skipped where torch is not installed (the core)."""


def related_pair(k: int, seed: int, noise: float = 1.0, d: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Two correlation matrices of noisy views of the same k concepts."""
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(k, d))
    return (correlation_matrix(Z + noise * rng.normal(size=Z.shape)),
            correlation_matrix(Z + noise * rng.normal(size=Z.shape)))


def random_symmetric(k: int, seed: int) -> np.ndarray:
    M = np.random.default_rng(seed).normal(size=(k, k))
    return (M + M.T) / 2


def clustered(k: int, sizes: list[int], seed: int) -> np.ndarray:
    """Block matrix: 1 within a cluster, small noise-free values between clusters (many exact ties)."""
    labels = np.repeat(np.arange(len(sizes)), sizes)[:k]
    levels = np.random.default_rng(seed).choice([0.0, 0.25, 0.5], size=(len(sizes), len(sizes)))
    levels = np.triu(levels) + np.triu(levels, 1).T
    np.fill_diagonal(levels, 1.0)
    return levels[np.ix_(labels, labels)]


def with_constant_concepts(k: int, seed: int, constant: list[int]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X, Y = rng.normal(size=(k, 15)), rng.normal(size=(k, 15))
    X[constant] = 1.0
    Y[constant[:1]] = 0.0
    return correlation_matrix(X), correlation_matrix(Y)


def with_duplicates(k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X, Y = rng.normal(size=(k, 10)), rng.normal(size=(k, 10))
    X[1], Y[1] = X[0], Y[0]
    X[4], Y[4] = X[3], Y[3]
    return correlation_matrix(X), correlation_matrix(Y)


def with_row(M: np.ndarray, index: int, off_diagonal: np.ndarray) -> np.ndarray:
    """M with concept ``index``'s similarities (row and column, not the diagonal) replaced."""
    M = M.copy()
    row = np.insert(np.delete(off_diagonal, index), index, M[index, index])
    M[index], M[:, index] = row, row
    return M


def nearly_constant_row(k: int, seed: int, level: float, spread: float) -> tuple[np.ndarray, np.ndarray]:
    """A related pair whose A has one concept similar to all others at ``level`` ± ``spread`` (diagonal 1)."""
    A, B = related_pair(k, seed)
    noise = np.random.default_rng(seed + 1).normal(size=k)
    return with_row(A, 5, level + spread * noise), B


def constant_but_one(k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A concept whose similarities are all 0.3 but one: without that one its masked rows are exactly constant."""
    A, B = related_pair(k, seed)
    row = np.full(k, 0.3)
    row[1] = 0.9
    return with_row(A, 4, row), with_row(B, 2, row + np.r_[0.0, 0.0, 0.0, 1e-9, np.zeros(k - 4)])


def near_ties(k: int, seed: int) -> np.ndarray:
    """Symmetric, unit diagonal, entries from a few levels some of which differ only by rounding-sized steps."""
    levels = np.array([0.2, 0.2 + 1e-15, 0.2 + 1e-12, 0.2 + 1e-9, 0.5, 0.5 - 1e-14, -0.1])
    M = np.random.default_rng(seed).choice(levels, size=(k, k))
    M = np.triu(M, 1) + np.triu(M, 1).T
    np.fill_diagonal(M, 1.0)
    return M


def mixed_layers(k: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Related, unrelated, degenerate (a constant concept, duplicates, a nearly constant or constant-but-one row)
    layers, all against one text matrix B."""
    A, B = related_pair(k, seed)
    layers = [A, related_pair(k, seed + 1)[0], with_constant_concepts(k, seed, [3])[0], with_duplicates(k, seed)[0],
              nearly_constant_row(k, seed, 0.4, 1e-6)[0], constant_but_one(k, seed)[0],
              np.corrcoef(np.random.default_rng(seed).normal(size=(k, 6)))]
    return layers, B
