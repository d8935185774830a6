"""The 2 vs 2 test, vectorised: every pair's four masked correlations from full-row sums.

For concepts i < j, with S every concept except i and j (and any missing one),
r(x, y) = Pearson(A[x, S], B[y, S]); the pair passes iff
r(i, i) + r(j, j) > r(i, j) + r(j, i). Each masked correlation follows from the
rows' sums, sums of squares and the cross-product matrix A @ B.T minus the
excluded entries, so one run costs a matrix product plus O(k²) array work, and
a batch of relabellings costs a batched product.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
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


def _scaled_rows(M: np.ndarray, valid: np.ndarray, centred: bool) -> np.ndarray:
    """Rows shifted and scaled for precision (the masked Pearson/cosine are unchanged); NaN as 0."""
    X = np.where(valid[:, None] & valid[None, :], M, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if centred:
            X = X - np.nanmean(X, axis=1, keepdims=True)
        scale = np.sqrt(np.nanmean(X * X, axis=1, keepdims=True))
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    return np.nan_to_num(X / scale, nan=0.0)


def pair_margins(
    A: np.ndarray, B: np.ndarray, backend: Backend, distance: Distance = "correlation"
) -> Callable[[Any], Any]:
    """A function from relabellings of B (batch × k) to 2 vs 2 margins (batch × pairs).

    A pair involving a missing concept (NaN row) has margin NaN.
    """
    if distance not in ("correlation", "cosine"):
        raise ValueError(f"unknown distance {distance!r}; use 'correlation' or 'cosine'")
    centred = distance == "correlation"
    valid_a, valid_b = ~missing_concepts(A), ~missing_concepts(B)
    k = A.shape[0]
    iu, ju = np.triu_indices(k, 1)
    xp, be = backend.xp, backend
    a = be.asarray(_scaled_rows(A, valid_a, centred))
    b = be.asarray(_scaled_rows(B, valid_b, centred))
    valid_a, valid_b = be.asarray(valid_a.astype(np.float64)), be.asarray(valid_b.astype(np.float64))
    upper = be.asarray(iu * k + ju)
    iu, ju = be.asarray(iu), be.asarray(ju)
    a_sq = a * a
    a_diag = be.diagonal(a)[None, :, None]

    def margins(perms: Any) -> Any:
        w = valid_a[None, :] * valid_b[perms]
        bp = be.relabel(b, perms) * w[:, None, :]
        cross = be.swap((bp.reshape(-1, k) @ a.T).reshape(bp.shape))
        b_diag = be.diagonal(bp)
        sum_a, sumsq_a = w @ a.T, w @ a_sq.T
        sumsq_b = (bp * bp).sum(axis=-1)
        sq_a = sumsq_a[:, :, None] - a_diag**2 - a_sq
        sq_b = sumsq_b[:, :, None] - b_diag[:, :, None] ** 2 - bp * bp
        match = be.diagonal(cross)[:, :, None] - a_diag * b_diag[:, :, None] - a * bp
        mismatch = cross - a_diag * be.swap(bp) - a * b_diag[:, None, :]
        if centred:
            n = (w.sum(axis=-1) - 2)[:, None, None]
            s_a = sum_a[:, :, None] - a_diag - a
            s_b = bp.sum(axis=-1)[:, :, None] - b_diag[:, :, None] - bp
            var_a, var_b = n * sq_a - s_a * s_a, n * sq_b - s_b * s_b
            match = n * match - s_a * s_b
            mismatch = n * mismatch - s_a * be.swap(s_b)
            floor_a, floor_b = n * sumsq_a[:, :, None], n * sumsq_b[:, :, None]
        else:
            var_a, var_b = sq_a, sq_b
            floor_a, floor_b = sumsq_a[:, :, None], sumsq_b[:, :, None]
        var_a[var_a <= CONSTANT_TOLERANCE * floor_a] = xp.nan
        var_b[var_b <= CONSTANT_TOLERANCE * floor_b] = xp.nan
        r_match = match / xp.sqrt(var_a * var_b)
        r_mismatch = mismatch / xp.sqrt(var_a * be.swap(var_b))
        full = r_match + be.swap(r_match) - r_mismatch - be.swap(r_mismatch)
        margin = full.reshape(full.shape[0], -1)[:, upper]
        margin[(w[:, iu] * w[:, ju]) == 0] = xp.nan
        return margin

    return margins


def accuracy_from_margins(margin: Any, backend: Backend, ties: Ties = "fail") -> Any:
    """Fraction of pairs passed along the last axis; a tie counts 0.5 with ``ties="half"``."""
    score = backend.float64(margin > TIE_TOLERANCE)
    if ties == "half":
        score = score + 0.5 * backend.float64(abs(margin) <= TIE_TOLERANCE)
    return score.mean(axis=-1)


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
    k = A.shape[0]
    margins = pair_margins(A, B, backend, distance)
    identity = backend.asarray(np.arange(k)[None, :])
    margin = backend.to_numpy(margins(identity)[0])
    with np.errstate(invalid="ignore"):
        passed = margin > TIE_TOLERANCE
        tied = np.abs(margin) <= TIE_TOLERANCE
    return TwoVsTwoResult(
        accuracy=float(accuracy_from_margins(margin, resolve_backend("cpu"), ties)),
        pairs=np.column_stack(np.triu_indices(k, 1)),
        passed=passed,
        margin=margin,
        tied=tied,
    )
