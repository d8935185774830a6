"""Mutual k-nearest-neighbour alignment (Huh et al. 2024, "The Platonic Representation Hypothesis").

Each concept's neighbours are the ``n_neighbors`` other concepts most similar to
it (ties broken by concept order); the score is the mean fraction of neighbours
the two spaces share. For unrelated spaces its expectation is
``n_neighbors / (k - 1)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from benchsuite.metrics.backend import Backend, relabelled_dot

DEFAULT_NEIGHBORS = 10


def check_neighbors(n_neighbors: int, k: int) -> None:
    if not 1 <= n_neighbors <= k - 2:
        raise ValueError(f"n_neighbors={n_neighbors} must lie in [1, k-2] = [1, {k - 2}] for k={k} concepts; "
                         "pass a smaller n_neighbors")


def neighbour_indicator(M: np.ndarray, n_neighbors: int) -> np.ndarray:
    """k×k 0/1 matrix: row i marks the ``n_neighbors`` concepts most similar to i (never i)."""
    k = M.shape[0]
    S = M.copy()
    np.fill_diagonal(S, -np.inf)
    nearest = np.argsort(-S, axis=1, kind="stable")[:, :n_neighbors]
    marks = np.zeros((k, k))
    np.put_along_axis(marks, nearest, 1.0, axis=1)
    return marks


def mutual_knn_kernel(
    As: Sequence[np.ndarray], B: np.ndarray, backend: Backend, n_neighbors: int = DEFAULT_NEIGHBORS
) -> Callable[[Any], Any]:
    """Mutual k-NN alignment for each relabelling of B and each A."""
    k = B.shape[0]
    check_neighbors(n_neighbors, k)
    shared = relabelled_dot(neighbour_indicator(B, n_neighbors), [neighbour_indicator(A, n_neighbors) for A in As],
                            backend)
    return lambda perms: shared(perms) / (k * n_neighbors)
