"""Permutation tests: relabel one space's concepts, in batches, with a shared sequence.

The relabellings depend only on the seed and k, and are drawn in one stream, so
every statistic and every input pair with the same seed and k sees the same
permutations in the same order, whatever the batch size.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from benchsuite.metrics.backend import Backend, one_blas_thread, resolve_backend
from benchsuite.metrics.statistics import MetricSpec, checked_statistic_value, get_metric
from benchsuite.metrics.two_vs_two import too_few_concepts
from benchsuite.metrics.validation import (
    check_direction,
    check_permutation_count,
    check_seed,
    check_similarity_pair,
    missing_concepts,
    usable_concepts,
)

NUMPY = resolve_backend("cpu")

BATCH_ELEMENTS = 1 << 17
"""On the CPU the default batch size aims at this many entries per (batch, k, k) array (1 MiB in
float64): the kernels make a dozen passes over a few such arrays, which then stay in cache."""

TORCH_BATCH_ELEMENTS = 1 << 22
"""On torch devices it aims at this many (32 MiB): a GPU wants few, large launches."""

P_VALUE_TOLERANCE = 1e-12
"""A null value within this of the observed one (times max(1, |observed|)) ties it: the two differ by
rounding only (a mean over groups summed in another order), so it counts as reaching the observed value."""


@dataclass(frozen=True)
class PermutationResult:
    """Observed statistic, its permutation null, and its p-value (see ``permutation_p_value``)."""

    statistic: str
    observed: float
    null: np.ndarray
    p_value: float


def concept_permutations(k: int, n_permutations: int, seed: int = 0, batch_size: int = 64) -> Iterator[np.ndarray]:
    """Permutations of ``range(k)`` in batches (batch × k); the sequence depends only on seed and k."""
    check_permutation_count(n_permutations)
    check_seed(seed)
    rng = np.random.default_rng(seed)
    return (
        np.argsort(rng.random((min(batch_size, n_permutations - start), k)), axis=1, kind="stable")
        for start in range(0, n_permutations, batch_size)
    )


def null_reaching(observed: float, null: ArrayLike, higher_is_better: bool = True) -> int:
    """How many null draws are at least as extreme as ``observed``: the count in ``permutation_p_value``.

    At least as extreme means ≥ observed (≤ when ``higher_is_better`` is False), a draw
    within ``P_VALUE_TOLERANCE`` counting as a tie that reaches it. A NaN draw (a
    relabelling on which the statistic is undefined) counts as reaching it, so undefined
    draws never make a result look more significant. A NaN observed value is reached by every draw.
    """
    check_direction(higher_is_better)
    null = np.asarray(null, dtype=np.float64).ravel()
    if np.isnan(observed):
        return null.size
    tolerance = P_VALUE_TOLERANCE * max(1.0, abs(observed))
    with np.errstate(invalid="ignore"):
        beyond = null >= observed - tolerance if higher_is_better else null <= observed + tolerance
    return int(np.count_nonzero(beyond | np.isnan(null)))


def permutation_p_value(observed: float, null: ArrayLike, higher_is_better: bool = True) -> float:
    """(1 + ``null_reaching``) / (1 + n): the one p-value rule of every permutation test.

    A NaN observed value has no p-value: the result is NaN, never the most significant p.
    """
    reached = null_reaching(observed, null, higher_is_better)
    return math.nan if np.isnan(observed) else (1 + reached) / (1 + np.size(null))


def default_batch_size(k: int, n_permutations: int, device: str = "cpu", elements: int | None = None) -> int:
    """Relabellings per batch: ``elements`` (on the CPU; default ``BATCH_ELEMENTS``) or ``TORCH_BATCH_ELEMENTS``
    entries per (batch, k, k) array."""
    elements = (elements or BATCH_ELEMENTS) if device == "cpu" else TORCH_BATCH_ELEMENTS
    return max(1, min(n_permutations, elements // (k * k)))


def batched_null(values: Callable[[Any], Any], backend: Backend, batches: Iterator[np.ndarray]) -> np.ndarray:
    """A built-in statistic's kernel applied to every batch of relabellings, in order: (n, matrices).

    On numpy the batches run on one thread per CPU core, with one BLAS thread, so every
    core does the array passes as well as the products, and no core waits on another
    that a different process is holding. (Kernels are safe to share between threads.)
    """
    if backend.is_torch:
        return np.concatenate([backend.to_numpy(values(backend.asarray(p))) for p in batches])
    workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    results: list[Any] = []
    pending: deque[Future[Any]] = deque()
    with one_blas_thread(), ThreadPoolExecutor(workers) as pool:
        for perms in batches:
            pending.append(pool.submit(values, perms))
            if len(pending) > 2 * workers:
                results.append(pending.popleft().result())
        results.extend(future.result() for future in pending)
    return np.concatenate(results)


def relabelled_values(
    function: Callable[[np.ndarray, np.ndarray], float],
    A: np.ndarray,
    B: np.ndarray,
    batches: Iterator[np.ndarray],
    too_few: Callable[[np.ndarray], np.ndarray] | None,
) -> np.ndarray:
    """``function(A, B relabelled)`` for each permutation, one call each; NaN where ``too_few`` says that
    relabelling leaves fewer than 4 concepts present in both spaces (the statistic is undefined there)."""
    values: list[float] = []
    for batch in batches:
        undefined = np.zeros(len(batch), dtype=bool) if too_few is None else too_few(batch)
        pairs = zip(batch, undefined, strict=True)
        values.extend(np.nan if skip else function(A, B[np.ix_(p, p)]) for p, skip in pairs)
    return np.array(values, dtype=float)


def permutation_test(
    A: ArrayLike,
    B: ArrayLike,
    *,
    statistic: str | Callable[[np.ndarray, np.ndarray], float] = "two_vs_two",
    n_permutations: int = 1000,
    seed: int = 0,
    batch_size: int | None = None,
    device: str = "cpu",
    higher_is_better: bool = True,
) -> PermutationResult:
    """Significance of a statistic by relabelling B's concepts (rows and columns).

    ``statistic`` is a built-in name (see ``STATISTICS``; computed in batches on
    ``device``) or any function ``f(A, B) -> float`` (called once per permutation,
    on the CPU). The permutations come from ``concept_permutations(k, n, seed)``:
    the same seed and k give the same permutations in the same order for every
    statistic, input and batch size, so nulls from different image groups can be
    averaged permutation by permutation. ``higher_is_better=False`` counts the draws
    at or below the observed value; ``permutation_p_value`` states the rule (ties,
    NaN draws, a NaN observed value).
    """
    return permutation_tests([A], B, statistic=statistic, n_permutations=n_permutations, seed=seed,
                             batch_size=batch_size, device=device, higher_is_better=higher_is_better)[0]


def permutation_tests(
    As: Sequence[ArrayLike],
    B: ArrayLike,
    *,
    statistic: str | Callable[[np.ndarray, np.ndarray], float] = "two_vs_two",
    n_permutations: int = 1000,
    seed: int = 0,
    batch_size: int | None = None,
    device: str = "cpu",
    higher_is_better: bool = True,
) -> list[PermutationResult]:
    """``permutation_test`` of each A against one B, all with the same relabellings of B.

    Each result equals ``permutation_test(A, B, ...)``'s; a built-in statistic computes
    every A's null from one relabelling of B at a time (``MetricSpec.kernel`` takes them
    all), so the work B's side needs is done once for all of them.
    """
    check_test_options(n_permutations, seed, batch_size, higher_is_better, len(As))
    pairs = [check_similarity_pair(A, B) for A in As]
    B = pairs[0][1]
    k = B.shape[0]
    name = statistic if isinstance(statistic, str) else getattr(statistic, "__name__", "custom")
    spec = get_metric(statistic) if isinstance(statistic, str) else None
    elements = None if spec is None else spec.batch_elements
    batch_size = batch_size or default_batch_size(k, n_permutations, device, elements)
    together = kernel_inputs([A for A, _ in pairs], B, spec)
    observed = np.full(len(pairs), np.nan)
    nulls: list[np.ndarray] = [np.empty(0)] * len(pairs)
    if together and spec is not None:  # (only a built-in statistic, which has a spec, runs together)
        values, null = kernel_nulls(spec, [pairs[i][0] for i in together], B, n_permutations, seed, batch_size, device)
        observed[together] = values
        for column, index in enumerate(together):
            nulls[index] = null[:, column]
    for index, (A, _) in enumerate(pairs):
        if index not in together:
            observed[index], nulls[index] = one_by_one_null(statistic, spec, A, B, n_permutations, seed, batch_size)
    return [
        PermutationResult(name, float(value), null.astype(np.float64),
                          permutation_p_value(float(value), null, higher_is_better))
        for value, null in zip(observed, nulls, strict=True)
    ]


def check_test_options(n_permutations: int, seed: int, batch_size: int | None, higher_is_better: bool,
                       n_matrices: int) -> None:
    """Refuse, before any work, a permutation test's options that cannot run (naming the fix)."""
    check_permutation_count(n_permutations)
    check_seed(seed)
    check_direction(higher_is_better)
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
    if n_matrices == 0:
        raise ValueError("permutation_tests needs at least one matrix A")


def kernel_inputs(As: Sequence[np.ndarray], B: np.ndarray, spec: MetricSpec | None) -> list[int]:
    """Which As a built-in statistic's batched kernel scores together: those without missing concepts, or all
    when the kernel handles missing ones. Too few concepts present in both spaces is an error here."""
    together = []
    for index, A in enumerate(As):
        has_missing = bool(missing_concepts(A).any() or missing_concepts(B).any())
        if spec is not None and has_missing:
            usable_concepts(A, B)
        if spec is not None and (spec.handles_missing or not has_missing):
            together.append(index)
    return together


def kernel_nulls(spec: MetricSpec, As: Sequence[np.ndarray], B: np.ndarray, n_permutations: int, seed: int,
                 batch_size: int, device: str) -> tuple[np.ndarray, np.ndarray]:
    """Every A's observed value and null (permutations × As) from the statistic's kernel, one relabelling
    of B at a time for all of them."""
    k = B.shape[0]
    backend = resolve_backend(device)
    values = spec.kernel(As, B, backend)
    observed = backend.to_numpy(values(backend.asarray(np.arange(k)[None, :])))[0]
    return observed, batched_null(values, backend, concept_permutations(k, n_permutations, seed, batch_size))


def one_by_one_null(statistic: str | Callable[[np.ndarray, np.ndarray], float], spec: MetricSpec | None,
                    A: np.ndarray, B: np.ndarray, n_permutations: int, seed: int,
                    batch_size: int) -> tuple[float, np.ndarray]:
    """A's observed value and null from one call of the statistic per relabelling (a custom function, or a
    built-in one whose kernel cannot take A's missing concepts)."""
    if spec is not None:
        function: Callable[[np.ndarray, np.ndarray], float] = partial(checked_statistic_value, spec)
    else:
        assert not isinstance(statistic, str)  # a statistic given by name always has a spec
        function = statistic
    observed = float(function(A, B))
    too_few = None if spec is None else too_few_concepts(A, B, NUMPY)
    batches = concept_permutations(B.shape[0], n_permutations, seed, batch_size)
    return observed, relabelled_values(function, A, B, batches, too_few)
