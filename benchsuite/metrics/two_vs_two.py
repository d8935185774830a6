"""The 2 vs 2 test, vectorised: every pair's four masked correlations from one matrix product.

For concepts i < j, with S every concept except i and j (and any missing one),
r(x, y) = Pearson(A[x, S], B[y, S]); the pair passes iff
r(i, i) + r(j, j) > r(i, j) + r(j, i). With both matrices' diagonals set to zero,
(B @ A.T)[i, j] is exactly the masked cross-product of B's row i and A's row j
over S, and each masked correlation follows from it and the rows' sums and sums
of squares. One run costs a matrix product plus a dozen passes over k×k arrays;
a batch of relabellings costs one batched product plus the same passes. The rare
pairs where those sums cancel (a masked row exactly or nearly constant) come out
NaN and are recomputed one by one from the definition, so the result is that of
the plain loop on every pair.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, cached_property, partial
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from benchsuite.metrics.backend import Backend, resolve_backend
from benchsuite.metrics.similarity import centred_rows
from benchsuite.metrics.validation import MIN_CONCEPTS, check_similarity_pair, missing_concepts, usable_concepts

TIE_TOLERANCE = 1e-10
"""Margins within this of zero are ties: equal in exact arithmetic, apart only by rounding."""

TRUSTED_SPREAD = 1e-3
"""A masked row's spread (n·Σx² − (Σx)²) comes from its whole row's sums, whose float64 rounding is a
few ulps of n·Σx² over the whole row. Above this fraction of it the correlations keep better than 1e-11;
below it (a row exactly or nearly constant once one concept is left out) the pair is recomputed directly,
so "constant" means exactly constant, as in ``correlation_matrix``."""

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


def _scaled_rows(M: np.ndarray, valid: np.ndarray, centred: bool) -> np.ndarray:
    """Rows centred and scaled over their off-diagonal entries (no masked row holds the diagonal), so
    the masked Pearson/cosine are unchanged and well conditioned; the diagonal and missing concepts' entries are 0.

    Centring first shifts each row by its smallest entry (exact for entries within a factor two of it),
    so the mean's rounding is relative to the row's spread, not its size.
    """
    kept = valid[:, None] & valid[None, :]
    np.fill_diagonal(kept, False)
    complete = bool(valid.all())

    def left_out(X: np.ndarray, value: float) -> np.ndarray:
        """X with the diagonal and missing concepts' entries set to ``value``."""
        if complete:
            np.fill_diagonal(X, value)
        else:
            X[~kept] = value
        return X

    count = max(int(valid.sum()) - 1, 1)
    X = left_out(M.copy(), np.inf if centred else 0.0)
    if centred:
        with np.errstate(invalid="ignore"):
            X -= X.min(axis=1, keepdims=True)
        left_out(X, 0.0)
        X -= X.sum(axis=1, keepdims=True) / count
        left_out(X, 0.0)
    scale = np.sqrt(np.einsum("ij,ij->i", X, X)[:, None] / count)
    X /= np.where(scale > 0, scale, 1.0)
    return X


def _masked_spreads(x: Any, n: Any, centred: bool, backend: Backend, out: list[Any]) -> tuple[Any, Any, Any]:
    """For row i without concepts i and j, at [i, j]: its sum, and the root of its spread
    n·Σx² − (Σx)² (just Σx², and no sum, for cosine), NaN where rounding leaves that spread
    untrusted (``TRUSTED_SPREAD``): the pair is then recomputed by ``exact_margins``.

    ``x`` (batch, k, k) holds scaled rows with a zero diagonal and zeros at left-out concepts,
    n is the masked length, ``out`` three (batch, k, k) buffers (the first two are returned),
    and last, for each batch entry, whether any of its spreads was untrusted.
    """
    xp = backend.xp
    spread, sums, scratch = out
    squares = xp.multiply(x, x, out=spread)
    total = squares.sum(axis=-1)[..., None]
    floor = TRUSTED_SPREAD * total
    spread = xp.subtract(total, squares, out=spread)
    if centred:
        sums = xp.subtract(x.sum(axis=-1)[..., None], x, out=sums)
        spread *= n
        spread -= xp.multiply(sums, sums, out=scratch)
        floor = floor * n
    untrusted = spread <= floor
    spread[untrusted] = xp.nan
    return (sums if centred else None), xp.sqrt(spread, out=spread), untrusted.reshape(len(x), -1).any(axis=-1)


def fixed_terms(a: Any, n: Any, backend: Backend) -> tuple[Any, Any, Any, Any, Any]:
    """The terms of A's scaled rows ``a`` (batch, k, k) masked to length ``n`` that every relabelling of B shares:
    u = n / root spread, u·a, u transposed, t − t transposed for t = sum / root spread, and whether any spread
    was untrusted. B's masked rows' correlations with A's are then (P·u − s·t) / root spread, P and s their
    cross-products and sums."""
    xp = backend.xp
    sums, root, untrusted = _masked_spreads(a, n, True, backend, [backend.empty(a.shape) for _ in range(3)])
    u = n / root
    t = xp.divide(sums, root, out=sums)
    return u, u * a, backend.contiguous(backend.swap(u)), t - backend.swap(t), untrusted


def assemble_margins(cross: Any, b_p: Any, sums_b: Any, root_b: Any, fixed: tuple[Any, ...], backend: Backend,
                     margin: Any) -> Any:
    """Every pair's margin (batch, k, k; both triangles) from B's relabelled rows ``b_p``, their masked sums and
    root spreads, ``cross`` = b_p @ a.T (overwritten) and A's ``fixed_terms``; into ``margin``, returned."""
    xp = backend.xp
    u_a, ua_a, u_a_t, t_a_gap, _ = fixed
    # [i, j]: r(A_i, B_i) − r(A_j, B_i), both over S(i, j); the margin adds its transpose.
    xp.multiply(backend.diagonal(cross)[..., None], u_a, out=margin)
    margin -= b_p * ua_a
    cross *= u_a_t
    margin -= cross
    if sums_b is not None:
        margin -= xp.multiply(sums_b, t_a_gap, out=cross)
    margin /= root_b
    return xp.add(margin, backend.swap(margin), out=cross)


def pair_margins(
    A: np.ndarray, B: np.ndarray, backend: Backend, distance: Distance = "correlation"
) -> Callable[[Any], Any]:
    """A function from relabellings of B (batch × k; None: B as labelled) to margin matrices (batch × k × k).

    Entries [i, j] and [j, i] both hold pair (i, j)'s margin; the diagonal, every
    pair involving a missing concept (NaN row) and every pair with an exactly constant
    masked row are NaN. The returned matrices live in
    a per-thread workspace that the thread's next call overwrites; threads may share the function.
    """
    if distance not in ("correlation", "cosine"):
        raise ValueError(f"unknown distance {distance!r}; use 'correlation' or 'cosine'")
    return PairMargins(A, B, backend, distance == "correlation")


class PairMargins:
    """``pair_margins``' function: A's and B's scaled rows, kept for every call, and A's fixed terms when no
    concept is missing (then every relabelling masks the same two concepts per pair, so they are shared)."""

    def __init__(self, A: np.ndarray, B: np.ndarray, backend: Backend, centred: bool):
        be = self.backend = backend
        self.centred = centred
        valid_a, valid_b = ~missing_concepts(A), ~missing_concepts(B)
        self.complete = bool(valid_a.all() and valid_b.all())
        self.k = A.shape[0]
        self.a = be.asarray(_scaled_rows(A, valid_a, centred))
        self.b = be.asarray(_scaled_rows(B, valid_b, centred))
        self.exact = partial(exact_margins, A, B, valid_a, valid_b, centred)
        self.valid_a, self.valid_b = be.asarray(valid_a.astype(np.float64)), be.asarray(valid_b.astype(np.float64))
        self.local = threading.local()
        self.fixed = self.a_terms(self.a[None], self.k - 2) if self.complete else None

    def buffers(self, batch: int) -> list[Any]:
        """This thread's five (batch, k, k) work arrays, kept from call to call."""
        workspace = getattr(self.local, "workspace", None)
        if workspace is None or workspace[0].shape[0] < batch:
            workspace = self.local.workspace = [self.backend.empty((batch, self.k, self.k)) for _ in range(5)]
        return [buffer[:batch] for buffer in workspace]

    def a_terms(self, a_masked: Any, n: Any) -> tuple[Any, ...]:
        """A's side of every margin (see ``fixed_terms``) for its rows masked to length ``n``."""
        be = self.backend
        if self.centred:
            return fixed_terms(a_masked, n, be)
        _, root, untrusted = _masked_spreads(a_masked, n, False, be, [be.empty(a_masked.shape) for _ in range(3)])
        u = 1.0 / root
        return u, u * self.a, be.contiguous(be.swap(u)), None, untrusted

    def relabel(self, perms: Any, b_p: Any) -> tuple[Any, Any, tuple[Any, ...]]:
        """B's rows relabelled by ``perms`` into ``b_p``; with the concepts present in both spaces (None when all
        are), the masked length and A's terms. Missing concepts are masked out of B's rows and A's terms."""
        if perms is None:
            b_p[0] = self.b
        else:
            self.backend.relabel(self.b, perms, out=b_p)
        if self.complete:
            assert self.fixed is not None  # computed in __init__ whenever every concept is present
            return None, self.k - 2, self.fixed
        w = self.valid_a[None, :] * (self.valid_b[None] if perms is None else self.valid_b[perms])
        b_p *= w[:, None, :]
        n = (w.sum(axis=-1) - 2)[:, None, None]
        return w, n, self.a_terms(self.a * w[:, None, :], n)

    def __call__(self, perms: Any) -> Any:
        """Every pair's margin for each relabelling in ``perms`` (None: B as labelled), in this thread's workspace."""
        be, k = self.backend, self.k
        b_p, sums_b, root_b, cross, margin = self.buffers(1 if perms is None else perms.shape[0])
        w, n, terms = self.relabel(perms, b_p)
        sums_b, root_b, untrusted_b = _masked_spreads(b_p, n, self.centred, be, [root_b, sums_b, cross])
        be.matmul(b_p.reshape(-1, k), self.a.T, out=cross.reshape(-1, k))
        margin = assemble_margins(cross, b_p, sums_b, root_b, terms, be, margin)
        untrusted = terms[-1] | untrusted_b
        if not self.complete or untrusted.any():
            recompute_untrusted(margin, untrusted, w, perms, self.exact, be)
        margin.reshape(margin.shape[0], -1)[:, :: k + 1] = be.xp.nan
        if w is not None:
            margin[w == 0] = be.xp.nan
            be.swap(margin)[w == 0] = be.xp.nan
        return margin


class SharedText:
    """Every A's 2 vs 2 margins against one B, with B's side (its relabelling, masked sums and spreads, one
    matrix product for all the As) computed once per relabelling.

    The As that are complete, with every spread trusted, share it ("shared"); any other A (missing concepts,
    a nearly constant masked row) goes through ``pair_margins`` on its own. Threads may share an instance.
    """

    def __init__(self, As: Sequence[np.ndarray], B: np.ndarray, backend: Backend):
        xp, be = backend.xp, backend
        self.As, self.B, self.backend = As, B, backend
        self.k = k = B.shape[0]
        self.valid_b = ~missing_concepts(B)
        self.b = be.asarray(_scaled_rows(B, self.valid_b, True))
        self.shared, self.terms, scaled = [], [], []
        for index, A in enumerate(As):
            valid_a = ~missing_concepts(A)
            if self.valid_b.all() and valid_a.all():
                a = be.asarray(_scaled_rows(A, valid_a, True))
                fixed = fixed_terms(a[None], k - 2, be)
                if not bool(fixed[-1].any()):
                    self.shared.append(index)
                    scaled.append(a)
                    self.terms.append(fixed)
        self.alone = [index for index in range(len(As)) if index not in set(self.shared)]
        self.stacked_t = be.contiguous(xp.stack(scaled).reshape(len(scaled) * k, k).T) if scaled else None
        self.local = threading.local()
        self.single: dict[int, Callable[[Any], Any]] = {}
        from benchsuite.metrics.compiled import count_passes

        self.count_passes = None if be.is_torch else count_passes

    def buffers(self, batch: int) -> list[Any]:
        """This thread's relabelled rows (batch, k, k), products (batch·k, shared·k) and four (batch, k, k)
        work arrays, kept from call to call."""
        be, k = self.backend, self.k
        workspace = getattr(self.local, "workspace", None)
        if workspace is None or workspace[0].shape[0] < batch:
            workspace = self.local.workspace = [be.empty((batch, k, k)), be.empty((batch * k, len(self.shared) * k)),
                                                *(be.empty((batch, k, k)) for _ in range(4))]
        return [w[: batch * k] if i == 1 else w[:batch] for i, w in enumerate(workspace)]

    def relabelled(self, perms: Any) -> tuple[Any, ...]:
        """B's side for a batch of relabellings: rows, products with every shared A, masked sums, root spreads
        (NaN where untrusted), whether each batch entry had an untrusted spread, and two work arrays."""
        b_p, cross, sums_b, root_b, scratch, margin = self.buffers(perms.shape[0])
        self.backend.relabel(self.b, perms, out=b_p)
        self.backend.matmul(b_p.reshape(-1, self.k), self.stacked_t, out=cross)
        sums_b, root_b, untrusted_b = _masked_spreads(b_p, self.k - 2, True, self.backend, [root_b, sums_b, scratch])
        return b_p, cross, sums_b, root_b, untrusted_b, scratch, margin

    def shared_margins(self, column: int, side: tuple[Any, ...], perms: Any) -> Any:
        """The margins (batch, k, k, diagonal NaN) of shared A number ``column``, as ``pair_margins`` gives them."""
        be, k = self.backend, self.k
        b_p, cross, sums_b, root_b, untrusted_b, scratch, margin = side
        block = cross.reshape(perms.shape[0], k, -1)[:, :, column * k:(column + 1) * k]
        found = assemble_margins(be.contiguous(block), b_p, sums_b, root_b, self.terms[column], be, margin)
        if bool(untrusted_b.any()):
            exact = partial(exact_margins, self.As[self.shared[column]], self.B, np.ones(k, dtype=bool), self.valid_b,
                            True)
            recompute_untrusted(found, untrusted_b, None, perms, exact, be)
        found.reshape(perms.shape[0], -1)[:, :: k + 1] = be.xp.nan
        return found

    def accuracy_alone(self, index: int, perms: Any) -> Any:
        """A's accuracies by ``single_accuracy`` (made once per A)."""
        if index not in self.single:
            self.single[index] = single_accuracy(self.As[index], self.B, self.backend)
        return self.single[index](perms)

    def accuracies(self, perms: Any) -> Any:
        """2 vs 2 accuracy (Pearson, ties fail) of every A for each relabelling: (batch, len(As)); NaN where a
        relabelling leaves fewer than 4 concepts present in both spaces."""
        be, k = self.backend, self.k
        out = be.empty((perms.shape[0], len(self.As)))
        for index in self.alone:
            out[:, index] = self.accuracy_alone(index, perms)
        if not self.shared:
            return out
        side = self.relabelled(perms)
        if self.count_passes is not None:
            counts = np.empty((perms.shape[0], len(self.shared)), dtype=np.int64)
            u, ua, u_t, t_gap = self.compiled_terms
            b_p, cross, sums_b, root_b = side[:4]
            self.count_passes(b_p, sums_b, root_b, cross, u, ua, u_t, t_gap, TIE_TOLERANCE, counts)
            out[:, self.shared] = counts / (k * (k - 1))
            for entry, column in zip(*np.nonzero(counts < 0), strict=True):  # an undefined margin: resolve it
                out[entry, self.shared[column]] = self.accuracy_alone(self.shared[column], perms[entry:entry + 1])[0]
            return out
        for column, index in enumerate(self.shared):
            out[:, index] = accuracy_from_margins(self.shared_margins(column, side, perms), be)
        return out

    @cached_property
    def compiled_terms(self) -> tuple[np.ndarray, ...]:
        """The shared As' fixed terms stacked (layers, k, k) for ``count_passes``, made on first use."""
        return tuple(np.ascontiguousarray(np.stack([t[part][0] for t in self.terms])) for part in range(4))

    def margins(self) -> list[np.ndarray]:
        """Every A's margins (k, k; NaN diagonal) against B as labelled, as ``pair_margins`` gives them."""
        identity = self.backend.asarray(np.arange(self.k)[None, :])
        found: dict[int, np.ndarray] = {}
        if self.shared:
            side = self.relabelled(identity)
            for column, index in enumerate(self.shared):
                found[index] = self.backend.to_numpy(self.shared_margins(column, side, identity))[0].copy()
        for index in self.alone:
            found[index] = self.backend.to_numpy(pair_margins(self.As[index], self.B, self.backend)(None))[0].copy()
        return [found[index] for index in range(len(self.As))]


def stacked_accuracies(As: Sequence[np.ndarray], B: np.ndarray, backend: Backend) -> Callable[[Any], Any]:
    """2 vs 2 accuracy (Pearson, ties fail) of every A against B relabelled: perms (batch × k) → (batch, len(As)).

    B's side is shared by the As (``SharedText``); on the CPU a compiled pass (``compiled.count_passes``) does each
    A's elementwise work, and a relabelling it leaves undefined is recomputed by ``pair_margins``. The
    result is ``pair_margins``' count for each A, relabelling by relabelling.
    """
    return SharedText(As, B, backend).accuracies


def single_accuracy(A: np.ndarray, B: np.ndarray, backend: Backend) -> Callable[[Any], Any]:
    """2 vs 2 accuracy (Pearson, ties fail) of A against each relabelling of B, by ``pair_margins``; NaN for a
    relabelling that leaves fewer than 4 concepts present in both spaces (the test is undefined there)."""
    margins = pair_margins(A, B, backend)
    too_few = too_few_concepts(A, B, backend)
    if too_few is None:
        return lambda perms: accuracy_from_margins(margins(perms), backend)
    return lambda perms: backend.xp.where(too_few(perms), np.nan, accuracy_from_margins(margins(perms), backend))


def recompute_untrusted(
    margin: Any, untrusted: Any, w: Any, perms: Any, exact: Callable[..., np.ndarray], backend: Backend
) -> None:
    """Recompute, with ``exact``, every pair of concepts present in both spaces whose margin came out NaN
    in the batch entries flagged ``untrusted`` (all entries when ``w``, the present concepts, is given)."""
    xp = backend.xp
    k = margin.shape[-1]
    candidates = xp.isnan(margin)
    if w is None:
        candidates &= untrusted[:, None, None]
    else:
        candidates &= (w[:, :, None] * w[:, None, :]) > 0
    candidates &= backend.asarray(np.triu(np.ones((k, k), dtype=bool), 1))[None]
    index, i, j = np.nonzero(backend.to_numpy(candidates))
    if index.size == 0:
        return
    relabelled = np.arange(k)[None].repeat(index.size, 0) if perms is None else backend.to_numpy(perms)[index]
    values = backend.asarray(exact(relabelled, i, j))
    margin[index, i, j] = values
    margin[index, j, i] = values


def masked_similarity(x: np.ndarray, y: np.ndarray, mask: np.ndarray, centred: bool) -> np.ndarray:
    """Pearson (or cosine) of each row of x with the same row of y over that row's mask, by the definition;
    NaN where either masked row is exactly constant (all zero for cosine)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        if centred:
            (x, constant_x), (y, constant_y) = centred_rows(x, mask), centred_rows(y, mask)
            undefined = constant_x | constant_y
        else:
            x, y = np.where(mask, x, 0.0), np.where(mask, y, 0.0)
            undefined = ~(x != 0).any(axis=1) | ~(y != 0).any(axis=1)
        norms = np.sqrt((x * x).sum(axis=1) * (y * y).sum(axis=1))
        return np.where(undefined, np.nan, (x * y).sum(axis=1) / norms)


def exact_margins(
    A: np.ndarray, B: np.ndarray, valid_a: np.ndarray, valid_b: np.ndarray, centred: bool,
    perms: np.ndarray, i: np.ndarray, j: np.ndarray,
) -> np.ndarray:
    """Pair (i[t], j[t])'s margin with B relabelled by perms[t], one pair at a time by the definition.

    For the few pairs whose masked rows the batched sums cannot resolve: a row that is
    exactly constant without the pair (NaN, the pair fails) or nearly so (an exact value).
    """
    rows = np.arange(len(i))
    mask = valid_a[None, :] & valid_b[perms]
    mask[rows, i] = mask[rows, j] = False
    b_i, b_j = B[perms[rows, i][:, None], perms], B[perms[rows, j][:, None], perms]
    r = partial(masked_similarity, mask=mask, centred=centred)
    return r(A[i], b_i) + r(A[j], b_j) - r(A[i], b_j) - r(A[j], b_i)


def too_few_concepts(A: np.ndarray, B: np.ndarray, backend: Backend) -> Callable[[Any], Any] | None:
    """For each relabelling of B, whether fewer than 4 concepts are present in both spaces (None: never)."""
    valid_a, valid_b = ~missing_concepts(A), ~missing_concepts(B)
    if valid_a.sum() + valid_b.sum() - len(valid_a) >= MIN_CONCEPTS:
        return None
    valid_a, valid_b = backend.asarray(valid_a), backend.asarray(valid_b)
    return lambda perms: (valid_a[None] & valid_b[perms]).sum(axis=-1) < MIN_CONCEPTS


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
    paper's) or cosine. A correlation with an exactly constant row is NaN and fails
    (a nearly constant row is not constant: its correlation is computed exactly).
    ``ties="half"`` counts ties as half a pass. A concept with a NaN row (constant
    representations) is left out of every other pair's comparison, and each pair
    involving it fails; fewer than 4 concepts present in both A and B is a ValueError.
    """
    check_ties(ties)
    A, B = check_similarity_pair(A, B)
    usable_concepts(A, B)
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
