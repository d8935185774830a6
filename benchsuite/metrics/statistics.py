"""The built-in statistics: what each measures, its chance level, and its batched kernel.

A kernel takes two checked k×k matrices and a backend and returns a function from
relabellings of B's concepts (batch × k integer array) to the statistic for each
(batch,), so the plain value and a whole permutation null share one implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from benchsuite.metrics.backend import Backend, resolve_backend
from benchsuite.metrics.cka import cka_debiased_kernel, cka_kernel
from benchsuite.metrics.knn import DEFAULT_NEIGHBORS, mutual_knn_kernel
from benchsuite.metrics.rsa import RsaMethod, check_rsa_method, rsa_kernel
from benchsuite.metrics.two_vs_two import stacked_accuracies
from benchsuite.metrics.validation import check_similarity_pair, drop_missing, usable_concepts

Kernel = Callable[[Sequence[np.ndarray], np.ndarray, Backend], Callable[[Any], Any]]
"""``kernel(As, B, backend)``: a function from relabellings of B (batch × k) to every A's statistic
(batch × len(As)); work on B's side is shared by all the As."""


PRODUCT_BATCH_ELEMENTS = 1 << 20
"""Statistics computed by ``relabelled_dot`` take many relabellings per product (8 MiB of relabelled copies
on the CPU), so each layer's weights are read once per batch rather than once per few relabellings."""


@dataclass(frozen=True)
class MetricSpec:
    """A built-in statistic: higher-is-better, chance level (None: read it off the null), kernel (``Kernel``)."""

    name: str
    description: str
    chance: float | None
    higher_is_better: bool
    kernel: Kernel
    handles_missing: bool = False
    batch_elements: int | None = None
    """Entries per relabelled (batch, k, k) array this kernel works best with on the CPU (None: the default)."""
    heldout_summary: bool = False
    """The 2 vs 2 test alone: its layers get the held-out headline record (``MetricMeta.heldout_summary``)."""


def statistic_value(spec: MetricSpec, A: ArrayLike, B: ArrayLike, device: str = "cpu") -> float:
    """The statistic on A and B as they are labelled.

    Statistics other than 2 vs 2 leave out every concept that is missing (a NaN
    row, i.e. constant representations) in either matrix.
    """
    A, B = check_similarity_pair(A, B)
    return checked_statistic_value(spec, A, B, device)


def checked_statistic_value(spec: MetricSpec, A: np.ndarray, B: np.ndarray, device: str = "cpu") -> float:
    """``statistic_value`` on matrices that passed ``check_similarity_pair`` (as every relabelling of them does)."""
    if spec.handles_missing:
        usable_concepts(A, B)
    else:
        A, B = drop_missing(A, B)
    backend = resolve_backend(device)
    identity = backend.asarray(np.arange(A.shape[0])[None, :])
    return float(backend.to_numpy(spec.kernel([A], B, backend)(identity))[0, 0])


def rsa(A: ArrayLike, B: ArrayLike, *, method: RsaMethod = "spearman", device: str = "cpu") -> float:
    """RSA: correlation of the upper triangles, ``"spearman"``, ``"pearson"`` or ``"kendall_tau_a"``."""
    check_rsa_method(method)
    return statistic_value(METRICS["rsa" if method == "spearman" else f"rsa_{method}"], A, B, device)


def cka(A: ArrayLike, B: ArrayLike, *, device: str = "cpu") -> float:
    """Linear CKA of the two similarity matrices read as Gram matrices (in [0, 1])."""
    return statistic_value(METRICS["cka"], A, B, device)


def cka_debiased(A: ArrayLike, B: ArrayLike, *, device: str = "cpu") -> float:
    """Debiased linear CKA (unbiased HSIC): chance level 0 at any k."""
    return statistic_value(METRICS["cka_debiased"], A, B, device)


def mutual_knn(
    A: ArrayLike, B: ArrayLike, *, n_neighbors: int = DEFAULT_NEIGHBORS, device: str = "cpu"
) -> float:
    """Mutual k-NN alignment: mean shared fraction of each concept's nearest neighbours."""
    spec = METRICS["mutual_knn"]
    kernel = partial(mutual_knn_kernel, n_neighbors=n_neighbors)
    return statistic_value(MetricSpec(**{**spec.__dict__, "kernel": kernel}), A, B, device)


def _rsa_spec(name: str, method: str, label: str) -> MetricSpec:
    return MetricSpec(
        name=name,
        description=f"RSA: {label} between the upper triangles of the two similarity matrices",
        chance=0.0,
        higher_is_better=True,
        kernel=partial(rsa_kernel, method=method),
        batch_elements=None if method == "kendall_tau_a" else PRODUCT_BATCH_ELEMENTS,
    )


METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec(
            name="two_vs_two",
            description="2 vs 2 accuracy (Pearson on rows without the pair; ties fail), as in the paper",
            chance=0.5,
            higher_is_better=True,
            kernel=stacked_accuracies,
            handles_missing=True,
            heldout_summary=True,
        ),
        _rsa_spec("rsa", "spearman", "Spearman correlation"),
        _rsa_spec("rsa_pearson", "pearson", "Pearson correlation"),
        _rsa_spec("rsa_kendall_tau_a", "kendall_tau_a", "Kendall's tau-a"),
        MetricSpec(
            name="cka",
            description="linear CKA of the similarity matrices as Gram matrices; chance depends on k",
            chance=None,
            higher_is_better=True,
            kernel=cka_kernel,
            batch_elements=PRODUCT_BATCH_ELEMENTS,
        ),
        MetricSpec(
            name="cka_debiased",
            description="debiased linear CKA (unbiased HSIC, Song et al. 2012)",
            chance=0.0,
            higher_is_better=True,
            kernel=cka_debiased_kernel,
            batch_elements=PRODUCT_BATCH_ELEMENTS,
        ),
        MetricSpec(
            name="mutual_knn",
            description=f"mutual {DEFAULT_NEIGHBORS}-nearest-neighbour alignment (Huh et al. 2024); "
            f"chance is {DEFAULT_NEIGHBORS}/(k-1)",
            chance=None,
            higher_is_better=True,
            kernel=mutual_knn_kernel,
            batch_elements=PRODUCT_BATCH_ELEMENTS,
        ),
    )
}
"""Every built-in statistic by name."""

STATISTICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    name: partial(statistic_value, spec) for name, spec in METRICS.items()
}
"""Built-in statistic names to scalar functions ``f(A, B) -> float``."""


def get_metric(name: str) -> MetricSpec:
    """The built-in statistic called ``name``, or a ValueError listing them."""
    try:
        return METRICS[name]
    except KeyError:
        raise ValueError(f"unknown statistic {name!r}; use one of {', '.join(METRICS)} "
                         "or pass a function f(A, B) -> float") from None
