"""Compiled (numba) kernels for the CPU: the 2 vs 2 test's elementwise work, and relabelled copies.

``count_passes``: ``two_vs_two.SharedText`` shares one relabelled text matrix, its masked
sums and spreads and one matrix product among every layer; what is left per
(relabelling, layer) is a dozen elementwise passes over k×k arrays (``pair_margins``),
which in numpy cost three times the product. Here they are one compiled pass per layer
that keeps nothing but the count of passing pairs. The arithmetic is ``pair_margins``'s,
operation for operation and in the same order (no fused multiply-adds, no
reassociation), so the counts are those of the numpy path; a NaN margin (a masked row
too nearly constant to trust its sums) is reported, and that relabelling is recomputed
by ``pair_margins``, which resolves it exactly.

``relabel_into``: a matrix with its concepts relabelled, for a batch of relabellings, in
one pass (``Backend.relabel``'s numpy path otherwise gathers twice per relabelling).

``tau_a_counts``: Kendall's τa null, per relabelling the pairs tied in both spaces and the
discordant pairs (Knight's count: order by x, then y; the strict inversions of y), counted
by a Fenwick tree in O(n log n) (a merge sort was 2.4× slower at n = 499,500). Integers, so
the values are exactly those of ``rsa._kendall_one``'s batched numpy/torch path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

njit: Callable[..., Any] | None
try:
    from numba import njit
except ImportError:  # numba is a dependency; without it the numpy path (pair_margins) does this work
    njit = None


def _count_passes(b, sums, root, cross, u, ua, u_t, t_gap, tolerance, counts):  # pragma: no cover
    """Into ``counts[t, l]``: how many ordered pairs pass for relabelling t and layer l (-1: a NaN margin).

    ``b`` (batch, k, k): the relabelled text rows, scaled, diagonal 0; ``sums`` and ``root`` (batch, k, k)
    their masked sums and root spreads (NaN where untrusted), as ``_masked_spreads`` gives them;
    ``cross`` (batch·k, layers·k): b @ a_l.T for every layer side by side; ``u``, ``ua``, ``u_t``,
    ``t_gap`` (layers, k, k): each layer's ``fixed_terms``.
    """
    batch, k = b.shape[0], b.shape[1]
    half = np.empty((k, k))
    for t in range(batch):
        for layer in range(u.shape[0]):
            column = layer * k
            for i in range(k):
                row = t * k + i
                diagonal = cross[row, column + i]
                for j in range(k):
                    value = diagonal * u[layer, i, j] - b[t, i, j] * ua[layer, i, j]
                    value = value - cross[row, column + j] * u_t[layer, i, j]
                    value = value - sums[t, i, j] * t_gap[layer, i, j]
                    half[i, j] = value / root[t, i, j]
            passed = 0
            undefined = False
            for i in range(k):
                for j in range(i + 1, k):
                    margin = half[i, j] + half[j, i]
                    undefined |= margin != margin
                    passed += margin > tolerance
            counts[t, layer] = -1 if undefined else 2 * passed


def _relabel_into(M, perms, out):  # pragma: no cover
    """``out[t, i, j] = M[perms[t, i], perms[t, j]]``: M relabelled by each permutation."""
    k = M.shape[0]
    for t in range(perms.shape[0]):
        for i in range(k):
            row = perms[t, i]
            for j in range(k):
                out[t, i, j] = M[row, perms[t, j]]


def _strict_inversions(values, tree):  # pragma: no cover
    """How many u < v have values[u] > values[v] (equal values count none), by a Fenwick tree of the values
    seen so far; ``values`` lie in [0, tree.size - 1), ``tree`` is workspace."""
    tree[:] = 0
    size = tree.shape[0] - 1
    inversions = 0
    for seen in range(values.shape[0]):
        at_most = 0
        i = values[seen] + 1
        while i > 0:
            at_most += tree[i]
            i -= i & -i
        inversions += seen - at_most
        i = values[seen] + 1
        while i <= size:
            tree[i] += 1
            i += i & -i
    return inversions


def _sort_segment(values, lo, hi):  # pragma: no cover
    """``values[lo:hi]`` sorted in place: by insertion when short (most runs of ties are), else by numpy."""
    if hi - lo > 16:
        values[lo:hi] = np.sort(values[lo:hi])
        return
    for u in range(lo + 1, hi):
        value = values[u]
        v = u
        while v > lo and values[v - 1] > value:
            values[v] = values[v - 1]
            v -= 1
        values[v] = value


def _tau_a_counts(y_ranks, perms, rows, cols, x_ends, counts):  # pragma: no cover
    """Into ``counts[t]``: (pairs tied in both x and y, discordant pairs) for relabelling t of y's concepts.

    ``y_ranks`` (k, k): y's dense ranks (non-negative) as a symmetric matrix; ``rows``, ``cols``: the triangle's
    positions sorted (stably) by x's rank, whose runs of ties end at ``x_ends``. With y sorted within each
    run, the order is that of (x, y), and its strict inversions of y are the discordant pairs.
    """
    n = rows.shape[0]
    values = np.empty(n, y_ranks.dtype)
    tree = np.empty(y_ranks.max() + 2, y_ranks.dtype)
    for t in range(perms.shape[0]):
        p = perms[t]
        for m in range(n):
            values[m] = y_ranks[p[rows[m]], p[cols[m]]]
        both_tied = 0
        start = 0
        for end in x_ends:
            if end - start > 1:
                sort_segment(values, start, end)
                run = 1
                for m in range(start + 1, end):
                    run = run + 1 if values[m] == values[m - 1] else 1
                    both_tied += run - 1
            start = end
        counts[t, 0] = both_tied
        counts[t, 1] = strict_inversions(values, tree)

def jit(function):
    """``function`` compiled by numba (cached on disk, releasing the GIL so threads run it in parallel); None
    without numba."""
    return None if njit is None else njit(nogil=True, cache=True, error_model="numpy")(function)


count_passes = jit(_count_passes)
relabel_into = jit(_relabel_into)
strict_inversions = jit(_strict_inversions)
sort_segment = jit(_sort_segment)
tau_a_counts = jit(_tau_a_counts)
