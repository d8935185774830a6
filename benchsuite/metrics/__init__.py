"""Similarity-encoding metrics: pure functions on k×k similarity matrices.

The paper's 2 vs 2 and 1 vs 2 tests, RSA, permutation tests, and, beyond the
paper, linear CKA (plain and debiased) and mutual k-NN alignment. Every function
takes ``device="cpu"`` (numpy) or ``"cuda"`` (torch float64 on the GPU).
"""

from benchsuite.metrics.backend import resolve_backend
from benchsuite.metrics.one_vs_two import OneVsTwoResult, one_vs_two
from benchsuite.metrics.permutation import (
    PermutationResult,
    concept_permutations,
    permutation_test,
    permutation_tests,
)
from benchsuite.metrics.statistics import (
    METRICS,
    STATISTICS,
    MetricSpec,
    cka,
    cka_debiased,
    mutual_knn,
    rsa,
)
from benchsuite.metrics.two_vs_two import TIE_TOLERANCE, TwoVsTwoResult, two_vs_two
from benchsuite.metrics.validation import missing_concepts

__all__ = [
    "METRICS",
    "STATISTICS",
    "TIE_TOLERANCE",
    "MetricSpec",
    "OneVsTwoResult",
    "PermutationResult",
    "TwoVsTwoResult",
    "cka",
    "cka_debiased",
    "concept_permutations",
    "missing_concepts",
    "mutual_knn",
    "one_vs_two",
    "permutation_test",
    "permutation_tests",
    "resolve_backend",
    "rsa",
    "two_vs_two",
]
