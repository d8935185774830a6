"""The 2 vs 2 test, vectorised: every pair's four masked correlations from one matrix product.

For concepts i < j, with S every concept except i and j (and any missing one),
r(x, y) = Pearson(A[x, S], B[y, S]); the pair passes iff
r(i, i) + r(j, j) > r(i, j) + r(j, i). With both matrices' diagonals set to zero,
(B @ A.T)[i, j] is exactly the masked cross-product of B's row i and A's row j
over S, and each masked correlation follows from it and the rows' sums and sums
of squares. One run costs a matrix product plus a dozen passes over k×k arrays;
a batch of relabellings costs one batched product plus the same passes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from benchsuite.metrics.backend import Backend, resolve_backend
from benchsuite.metrics.validation import check_similarity_pair, missing_concepts

TIE_TOLERANCE = 1e-10
"""Margins within this of zero are ties: equal in exact arithmetic, apart only by rounding."""

CONSTANT_TOLERANCE = 1e-10
"""A masked row whose variance is below this fraction of its full spread counts as constant."""

Distance = Literal["correlation", "cosine"]
Ties = Literal["fail", "half"]


@dataclass(frozen=True)
class TwoVsTwoResult:
    """Per-pair outcome of the 2 vs 2 test, pairs in ``numpy.triu_indices(k, 1)`` order."""

    accuracy: float
    pairs: np.ndarray
    passed: np.ndarray
    margin: np.ndarray
    tied: np.ndarray


@cache
def upper_pairs(k: int) -> tuple[np.ndarray, np.ndarray]:
    """``numpy.triu_indices(k, 1)``, computed once per k (read-only)."""
    iu, ju = np.triu_indices(k, 1)
    iu.flags.writeable = ju.flags.writeable = False
    return iu, ju


def _scaled_rows(M: np.ndarray, valid: np.ndarray, centred: bool) -> tuple[np.ndarray, np.ndarray]:
    """Rows shifted and scaled for precision (the masked Pearson/cosine are unchanged), split into
    the matrix with a zero diagonal and the diagonal; missing concepts' entries are 0."""
    X = M if valid.all() else np.where(valid[:, None] & valid[None, :], M, 0.0)
    count = valid.sum()
    if centred:
        X = X - X.sum(axis=1, keepdims=True) / count * valid
    scale = np.sqrt((X * X).sum(axis=1, keepdims=True) / count)
    X = X / np.where(scale > 0, scale, 1.0)
    diagonal = X.diagonal().copy()
    np.fill_diagonal(X, 0.0)
    return X, diagonal


def _masked_spreads(x: Any, diagonal: Any, n: Any, centred: bool, backend: Backend, out: list[Any]) -> tuple[Any, Any]:
    """For row i without concepts i and j, at [i, j]: its sum, and the root of its spread
    n·Σx² − (Σx)² (just Σx², and no sum, for cosine), NaN where that masked row is constant.

    ``x`` (batch, k, k) holds scaled rows with a zero diagonal and zeros at left-out concepts,
    n is the masked length, ``out`` three (batch, k, k) buffers (the first two are returned).
    """
    xp = backend.xp
    spread, sums, scratch = out
    squares = xp.multiply(x, x, out=spread)
    total = squares.sum(axis=-1)[..., None]
    floor = CONSTANT_TOLERANCE * (total + diagonal[..., None] ** 2)
    spread = xp.subtract(total, squares, out=spread)
    if centred:
        sums = xp.subtract(x.sum(axis=-1)[..., None], x, out=sums)
        spread *= n
        spread -= xp.multiply(sums, sums, out=scratch)
        floor = floor * n
    spread[spread <= floor] = xp.nan
    return (sums if centred else None), xp.sqrt(spread, out=spread)


def pair_margins(
    A: np.ndarray, B: np.ndarray, backend: Backend, distance: Distance = "correlation"
) -> Callable[[Any], Any]:
    """A function from relabellings of B (batch × k; None: B as labelled) to margin matrices (batch × k × k).

    Entries [i, j] and [j, i] both hold pair (i, j)'s margin; the diagonal and every
    pair involving a missing concept (NaN row) are NaN. The returned matrices live in
    a per-thread workspace that the thread's next call overwrites; threads may share the function.
    """
    if distance not in ("correlation", "cosine"):
        raise ValueError(f"unknown distance {distance!r}; use 'correlation' or 'cosine'")
    centred = distance == "correlation"
    valid_a, valid_b = ~missing_concepts(A), ~missing_concepts(B)
    complete = bool(valid_a.all() and valid_b.all())
    k = A.shape[0]
    xp, be = backend.xp, backend
    a, a_diagonal = (be.asarray(x) for x in _scaled_rows(A, valid_a, centred))
    b, b_diagonal = (be.asarray(x) for x in _scaled_rows(B, valid_b, centred))
    valid_a, valid_b = be.asarray(valid_a.astype(np.float64)), be.asarray(valid_b.astype(np.float64))
    local = threading.local()

    def buffers(batch: int) -> list[Any]:
        """This thread's five (batch, k, k) work arrays, kept from call to call."""
        workspace = getattr(local, "workspace", None)
        if workspace is None or workspace[0].shape[0] < batch:
            workspace = local.workspace = [be.empty((batch, k, k)) for _ in range(5)]
        return [buffer[:batch] for buffer in workspace]

    def a_terms(a_masked: Any, n: Any) -> tuple[Any, Any, Any, Any]:
        """u = n / root spread (1 / root for cosine), u·a, u transposed, and t − t transposed for
        t = sum / root spread (None for cosine): B's masked rows' correlations with A's are then
        (P·u − s·t) / root spread, P and s their cross-products and sums."""
        sums, root = _masked_spreads(a_masked, a_diagonal, n, centred, be, [be.empty(a_masked.shape) for _ in range(3)])
        u = (n if centred else 1.0) / root
        t = None if sums is None else xp.divide(sums, root, out=sums)
        return u, u * a, be.contiguous(be.swap(u)), None if t is None else t - be.swap(t)

    fixed = a_terms(a[None], k - 2) if complete else None

    def margins(perms: Any) -> Any:
        b_p, sums_b, root_b, cross, margin = buffers(1 if perms is None else perms.shape[0])
        if perms is None:
            b_p[0] = b
        else:
            be.relabel(b, perms, out=b_p)
        b_p_diagonal = b_diagonal[None] if perms is None else b_diagonal[perms]
        if complete:
            n = k - 2
            u_a, ua_a, u_a_t, t_a_gap = fixed
        else:
            w = valid_a[None, :] * (valid_b[None] if perms is None else valid_b[perms])
            b_p *= w[:, None, :]
            n = (w.sum(axis=-1) - 2)[:, None, None]
            u_a, ua_a, u_a_t, t_a_gap = a_terms(a * w[:, None, :], n)
        sums_b, root_b = _masked_spreads(b_p, b_p_diagonal, n, centred, be, [root_b, sums_b, cross])
        be.matmul(b_p.reshape(-1, k), a.T, out=cross.reshape(-1, k))
        # [i, j]: r(A_i, B_i) − r(A_j, B_i), both over S(i, j); the margin adds its transpose.
        xp.multiply(be.diagonal(cross)[..., None], u_a, out=margin)
        margin -= xp.multiply(b_p, ua_a, out=b_p)
        cross *= u_a_t
        margin -= cross
        if centred:
            margin -= xp.multiply(sums_b, t_a_gap, out=cross)
        margin /= root_b
        margin = xp.add(margin, be.swap(margin), out=cross)
        margin.reshape(margin.shape[0], -1)[:, :: k + 1] = xp.nan
        if not complete:
            margin[w == 0] = xp.nan
            be.swap(margin)[w == 0] = xp.nan
        return margin

    return margins


def accuracy_from_margins(margin: Any, backend: Backend, ties: Ties = "fail") -> Any:
    """Fraction of pairs passed in each (…, k, k) margin matrix; a tie counts 0.5 with ``ties="half"``."""
    k = margin.shape[-1]
    score = backend.float64((margin > TIE_TOLERANCE).sum(axis=(-2, -1)))
    if ties == "half":
        score = score + 0.5 * backend.float64((abs(margin) <= TIE_TOLERANCE).sum(axis=(-2, -1)))
    return score / (k * (k - 1))


def check_ties(ties: str) -> None:
    if ties not in ("fail", "half"):
        raise ValueError(f"unknown ties rule {ties!r}; use 'fail' (a tie fails) or 'half' (a tie counts 0.5)")


def two_vs_two(
    A: ArrayLike,
    B: ArrayLike,
    *,
    distance: Distance = "correlation",
    ties: Ties = "fail",
    device: str = "cpu",
) -> TwoVsTwoResult:
    """The 2 vs 2 test between two k×k similarity matrices over the same concepts, same order.

    A pair (i, j) passes iff r(i, i) + r(j, j) > r(i, j) + r(j, i) strictly (beyond
    ``TIE_TOLERANCE``), where r(x, y) compares A's row x with B's row y over every
    concept except i, j and missing ones: Pearson (``distance="correlation"``, the
    paper's) or cosine. A NaN correlation fails. ``ties="half"`` counts exact ties as
    half a pass. A concept with a NaN row (constant representations) is left out of
    every other pair's comparison, and each pair involving it fails.
    """
    check_ties(ties)
    A, B = check_similarity_pair(A, B)
    backend = resolve_backend(device)
    margins = pair_margins(A, B, backend, distance)(None)
    iu, ju = upper_pairs(A.shape[0])
    margin = backend.to_numpy(margins[0])[iu, ju]
    with np.errstate(invalid="ignore"):
        passed = margin > TIE_TOLERANCE
        tied = np.abs(margin) <= TIE_TOLERANCE
    return TwoVsTwoResult(
        accuracy=float(backend.to_numpy(accuracy_from_margins(margins, backend, ties))[0]),
        pairs=np.column_stack((iu, ju)),
        passed=passed,
        margin=margin,
        tied=tied,
    )
