"""Representational similarity analysis: rank or linear correlation of the upper triangles.

Relabelling B's concepts only reorders its upper-triangle entries, so ranks and
standardisation are computed once and each relabelling costs one relabelled copy of B
and a product with every A's standardised entries (Pearson, Spearman), or per A an
O(n log n) count of discordant pairs (Kendall's τa: compiled on the CPU, ``compiled.tau_a_counts``; a
batched O(n log² n) merge of sorted blocks on torch devices or without numba).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
from scipy.stats import rankdata

from benchsuite.metrics import compiled
from benchsuite.metrics.backend import Backend, relabelled_dot

RsaMethod = Literal["spearman", "pearson", "kendall_tau_a"]
RSA_METHODS: tuple[str, ...] = ("spearman", "pearson", "kendall_tau_a")


def upper_triangle(M: np.ndarray) -> np.ndarray:
    """Entries above the diagonal, in ``numpy.triu_indices`` order."""
    return M[np.triu_indices(M.shape[0], 1)]


def _symmetric_from_triangle(values: np.ndarray, k: int) -> np.ndarray:
    """The k×k symmetric matrix whose upper triangle is ``values`` (diagonal zero)."""
    M = np.zeros((k, k), dtype=values.dtype)
    M[np.triu_indices(k, 1)] = values
    return M + M.T


def _unit(values: np.ndarray) -> np.ndarray:
    """Centred to mean 0 and scaled to norm 1; all NaN when constant."""
    centred = values - values.mean()
    norm = np.linalg.norm(centred)
    return centred / norm if norm > 0 else np.full_like(centred, np.nan)


def _pair_count(values: np.ndarray) -> int:
    """Number of pairs of positions holding equal values."""
    _, counts = np.unique(values, return_counts=True)
    return int((counts * (counts - 1) // 2).sum())


def _relabelled_triangle(M: Any, perms: Any, iu: Any, ju: Any) -> Any:
    """Upper triangle of M after relabelling its concepts by each permutation: (batch, n)."""
    return M[perms[:, iu], perms[:, ju]]


def correlation_kernel(As: Sequence[np.ndarray], B: np.ndarray, backend: Backend, ranked: bool) -> Callable[[Any], Any]:
    """Pearson (or Spearman, ``ranked``) between upper triangles, for each relabelling of B and each A.

    With each triangle standardised once (ranks first), the correlation is the sum over pairs of
    A's standardised entry times B's relabelled one: ``relabelled_dot`` with A's entries above the diagonal.
    """
    k = B.shape[0]
    y = upper_triangle(B)
    zy = _symmetric_from_triangle(_unit(rankdata(y) if ranked else y), k)
    weights = []
    for A in As:
        x = upper_triangle(A)
        above = np.zeros((k, k))
        above[np.triu_indices(k, 1)] = _unit(rankdata(x) if ranked else x)
        weights.append(above)
    return relabelled_dot(zy, weights, backend)


def _strict_inversions(y: Any, backend: Backend) -> Any:
    """Per row, the number of positions u < v with y[u] > y[v], by bottom-up merging."""
    batch, n = y.shape
    size = 1 << max(1, (n - 1).bit_length())
    padded = backend.asarray(np.full((batch, size), np.iinfo(np.int64).max))
    padded[:, :n] = y
    total = 0
    half = 1
    while half < size:
        blocks = padded.reshape(batch, size // (2 * half), 2 * half)
        from_left = backend.argsort(blocks) < half
        left_seen = from_left.cumsum(axis=-1)
        total = total + ((half - left_seen) * ~from_left).sum(axis=(-2, -1))
        half *= 2
    return total


def kendall_kernel(As: Sequence[np.ndarray], B: np.ndarray, backend: Backend) -> Callable[[Any], Any]:
    """Kendall's τa (ties count zero, denominator all n(n-1)/2 pairs) for each relabelling of B and each A."""
    each = [_kendall_one(A, B, backend) for A in As]
    return lambda perms: backend.xp.stack([tau_a(perms) for tau_a in each], -1)


def _kendall_one(A: np.ndarray, B: np.ndarray, backend: Backend) -> Callable[[Any], Any]:
    """Kendall's τa of one A for each relabelling of B: (batch,)."""
    k = A.shape[0]
    x, y = upper_triangle(A), upper_triangle(B)
    n = x.size
    all_pairs = n * (n - 1) // 2
    x_rank = rankdata(x, method="dense").astype(np.int64)
    y_rank = rankdata(y, method="dense").astype(np.int64)
    fixed_ties = _pair_count(x_rank) + _pair_count(y_rank)
    if not backend.is_torch and compiled.tau_a_counts is not None:
        return _compiled_tau_a(x_rank, _symmetric_from_triangle(y_rank, k), all_pairs - fixed_ties, all_pairs)
    key_x = backend.asarray(x_rank * (int(y_rank.max()) + 1))[None, :]
    y_ranks = backend.asarray(_symmetric_from_triangle(y_rank, k))
    iu, ju = (backend.asarray(i) for i in np.triu_indices(k, 1))
    positions = backend.asarray(np.arange(n))[None, :]

    def tau_a(perms: Any) -> Any:
        yp = _relabelled_triangle(y_ranks, perms, iu, ju)
        key = key_x + yp
        order = backend.argsort(key)
        key_sorted = backend.take(key, order)
        run_start = key_sorted * 0
        run_start[:, 1:] = (key_sorted[:, 1:] != key_sorted[:, :-1]) * positions[:, 1:]
        both_tied = (positions - backend.running_max(run_start)).sum(axis=-1)
        discordant = _strict_inversions(backend.take(yp, order), backend)
        return backend.float64(all_pairs - fixed_ties + both_tied - 2 * discordant) / all_pairs

    return tau_a


def _compiled_tau_a(x_rank: np.ndarray, y_ranks: np.ndarray, untied: int, all_pairs: int) -> Callable[[Any], Any]:
    """``_kendall_one`` by ``compiled.tau_a_counts``: the triangle ordered by x once, then per relabelling
    an O(n log n) count of discordant pairs; the same integers, so the same values, as the batched path.
    ``untied``: all pairs less those tied in x or in y (both counted, as relabelling keeps y's ties)."""
    order = np.argsort(x_rank, kind="stable")
    rows, cols = (np.ascontiguousarray(i[order]) for i in np.triu_indices(y_ranks.shape[0], 1))
    x_sorted = x_rank[order]
    x_ends = np.append(np.flatnonzero(x_sorted[1:] != x_sorted[:-1]) + 1, x_sorted.size)
    small = y_ranks.astype(np.int32) if x_rank.size < np.iinfo(np.int32).max else y_ranks

    def tau_a(perms: np.ndarray) -> np.ndarray:
        counts = np.empty((perms.shape[0], 2), dtype=np.int64)
        compiled.tau_a_counts(small, np.ascontiguousarray(perms), rows, cols, x_ends, counts)
        return (untied + counts[:, 0] - 2 * counts[:, 1]).astype(np.float64) / all_pairs

    return tau_a


def rsa_kernel(As: Sequence[np.ndarray], B: np.ndarray, backend: Backend, method: str) -> Callable[[Any], Any]:
    """The RSA statistic for each relabelling of B (batch × k) and each A, as a (batch, len(As)) array."""
    check_rsa_method(method)
    if method == "kendall_tau_a":
        return kendall_kernel(As, B, backend)
    return correlation_kernel(As, B, backend, ranked=method == "spearman")


def check_rsa_method(method: str) -> None:
    if method not in RSA_METHODS:
        raise ValueError(f"unknown RSA method {method!r}; use one of {', '.join(RSA_METHODS)}")

