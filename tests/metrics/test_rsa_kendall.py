"""Kendall's tau-a nulls: the compiled merge-sort count against a plain loop of the definition, the numpy
fallback and the torch path, on the same relabellings."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from metric_fixtures import clustered, related_pair
from metric_reference import kendall_tau_a_loop

from benchsuite.metrics import compiled, permutation_test, permutation_tests
from benchsuite.metrics.permutation import concept_permutations, permutation_p_value
from benchsuite.metrics.rsa import upper_triangle

needs_numba = pytest.mark.skipif(compiled.tau_a_counts is None, reason="numba is not installed")


def loop_null(A: np.ndarray, B: np.ndarray, n_permutations: int, seed: int) -> np.ndarray:
    """tau-a of A against B relabelled, one relabelling at a time, by the definition."""
    x = upper_triangle(A)
    return np.array([kendall_tau_a_loop(x, upper_triangle(B[np.ix_(p, p)]))
                     for batch in concept_permutations(A.shape[0], n_permutations, seed) for p in batch])


def symmetric_from(values: list[int], k: int) -> np.ndarray:
    """A k×k symmetric matrix whose upper triangle is ``values`` (few levels: many exact ties)."""
    M = np.zeros((k, k))
    M[np.triu_indices(k, 1)] = values
    return M + M.T + np.eye(k)


@st.composite
def tied_pairs(draw):
    k = draw(st.integers(4, 11))
    n = k * (k - 1) // 2
    levels = draw(st.integers(1, 2 * n))
    triangle = st.lists(st.integers(0, levels), min_size=n, max_size=n)
    return symmetric_from(draw(triangle), k), symmetric_from(draw(triangle), k)


@settings(max_examples=60, deadline=None)
@given(tied_pairs(), st.integers(0, 2**16))
def test_null_and_p_value_equal_the_definition(pair, seed):
    A, B = pair
    result = permutation_test(A, B, statistic="rsa_kendall_tau_a", n_permutations=25, seed=seed)
    expected = loop_null(A, B, 25, seed)
    observed = kendall_tau_a_loop(upper_triangle(A), upper_triangle(B))
    np.testing.assert_array_equal(result.null, expected)
    assert result.observed == observed
    assert result.p_value == permutation_p_value(observed, expected)


@needs_numba
@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=0, max_size=300))
def test_strict_inversions_counts_pairs_out_of_order(values):
    array = np.array(values, dtype=np.int32)
    expected = sum(int(a > b) for a, b in itertools.combinations(values, 2))
    assert compiled.strict_inversions(array, np.empty(42, np.int32)) == expected


CASES = {
    "untied": related_pair(60, 0),
    "tied": (np.round(related_pair(48, 1)[0], 1), clustered(48, [10, 14, 24], 2)),
}


@needs_numba
@pytest.mark.parametrize("case", list(CASES))
def test_compiled_null_equals_numpy_fallback_and_torch(case, monkeypatch):
    A, B = CASES[case]
    layers = [A, np.round(A, 2), B]
    compiled_results = permutation_tests(layers, B, statistic="rsa_kendall_tau_a", n_permutations=40, seed=3)
    torch_results = permutation_tests(layers, B, statistic="rsa_kendall_tau_a", n_permutations=40, seed=3,
                                      device="torch")
    monkeypatch.setattr(compiled, "tau_a_counts", None)
    fallback = permutation_tests(layers, B, statistic="rsa_kendall_tau_a", n_permutations=40, seed=3)
    for fast, torch_result, numpy_result in zip(compiled_results, torch_results, fallback, strict=True):
        np.testing.assert_array_equal(fast.null, numpy_result.null)
        np.testing.assert_array_equal(fast.null, torch_result.null)
        assert fast.observed == numpy_result.observed and fast.p_value == numpy_result.p_value
