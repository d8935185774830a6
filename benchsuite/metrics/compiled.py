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


def jit(function):
    """``function`` compiled by numba (cached on disk, releasing the GIL so threads run it in parallel); None
    without numba."""
    return None if njit is None else njit(nogil=True, cache=True, error_model="numpy")(function)


count_passes = jit(_count_passes)
relabel_into = jit(_relabel_into)
