import importlib.util

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from metric_fixtures import (
    TORCH,
    clustered,
    constant_but_one,
    near_ties,
    nearly_constant_row,
    random_symmetric,
    related_pair,
    with_constant_concepts,
    with_duplicates,
)
from metric_reference import two_vs_two_loop

from benchsuite.metrics import STATISTICS, concept_permutations, permutation_test, two_vs_two
from benchsuite.metrics.similarity import correlation_matrix

CASES = {
    "related k=5": related_pair(5, 0),
    "related k=40": related_pair(40, 1),
    "random symmetric k=17": (random_symmetric(17, 2), random_symmetric(17, 3)),
    "identity vs related": (np.eye(12), related_pair(12, 4)[0]),
    "clustered": (clustered(14, [3, 4, 2, 5], 5), clustered(14, [3, 4, 2, 5], 6)),
    "clustered vs random": (clustered(10, [2, 2, 3, 3], 7), random_symmetric(10, 8)),
    "constant concepts": with_constant_concepts(16, 9, [2, 7]),
    "duplicated concepts": with_duplicates(15, 10),
    "same matrix with duplicates": (with_duplicates(9, 11)[0], with_duplicates(9, 11)[0]),
    "nearly constant row": nearly_constant_row(20, 2, 0.0, 1e-6),
    "nearly constant row at 0.5": nearly_constant_row(20, 3, 0.5, 1e-6),
    "row constant but for one concept": constant_but_one(12, 4),
    "k=4 near ties": (near_ties(4, 5), near_ties(4, 6)),
    "k=6 near ties": (near_ties(6, 7), near_ties(6, 8)),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("distance", ["correlation", "cosine"])
@pytest.mark.parametrize("ties", ["fail", "half"])
def test_matches_plain_loop_on_every_pair(case, distance, ties):
    A, B = CASES[case]
    passed, tied, margin, accuracy = two_vs_two_loop(A, B, distance, ties)
    result = two_vs_two(A, B, distance=distance, ties=ties)
    np.testing.assert_array_equal(result.passed, passed)
    np.testing.assert_array_equal(result.tied, tied)
    np.testing.assert_allclose(result.margin, margin, atol=1e-9)
    assert result.accuracy == pytest.approx(accuracy, abs=1e-12)


def test_matches_plain_loop_at_k_300_on_sampled_pairs():
    A, B = related_pair(300, 12, noise=1.5, d=50)
    result = two_vs_two(A, B)
    sample = np.random.default_rng(0).choice(len(result.pairs), size=1500, replace=False)
    passed, _, margin, _ = two_vs_two_loop(A, B, pairs=result.pairs[sample].tolist())
    np.testing.assert_array_equal(result.passed[sample], passed)
    np.testing.assert_allclose(result.margin[sample], margin, atol=1e-9)
    assert 0.6 < result.accuracy < 1.0


def test_pairs_in_triu_order_and_margin_sign():
    A, B = related_pair(8, 13)
    result = two_vs_two(A, B)
    np.testing.assert_array_equal(result.pairs, np.column_stack(np.triu_indices(8, 1)))
    assert result.passed.shape == result.margin.shape == (28,)
    np.testing.assert_array_equal(result.passed, result.margin > 0)


def test_constant_concept_fails_its_pairs_only():
    A, B = with_constant_concepts(10, 14, [3])
    result = two_vs_two(A, B, ties="half")
    involved = (result.pairs == 3).any(axis=1)
    assert not result.passed[involved].any() and not result.tied[involved].any()
    assert np.isnan(result.margin[involved]).all()
    assert np.isfinite(result.margin[~involved]).all()


def test_duplicated_concepts_tie():
    A, B = with_duplicates(9, 15)
    for ties, expected in (("fail", False), ("half", True)):
        result = two_vs_two(A, B, ties=ties)
        pair = np.flatnonzero((result.pairs == [0, 1]).all(axis=1))[0]
        assert not result.passed[pair] and result.tied[pair] == expected or ties == "fail"
    half, fail = two_vs_two(A, B, ties="half"), two_vs_two(A, B, ties="fail")
    assert half.accuracy - fail.accuracy == pytest.approx(0.5 * half.tied.sum() / half.passed.size)


@pytest.mark.needs("torch")
def test_torch_backend_agrees_with_numpy():
    A, B = with_constant_concepts(25, 16, [4])
    numpy_result = two_vs_two(A, B)
    torch_result = two_vs_two(A, B, device="torch")
    np.testing.assert_allclose(torch_result.margin, numpy_result.margin, atol=1e-9, equal_nan=True)
    assert torch_result.accuracy == numpy_result.accuracy


generic = st.tuples(st.integers(5, 30), st.integers(0, 2**32 - 1))


@settings(max_examples=40, deadline=None)
@given(generic)
def test_symmetric_in_a_and_b(params):
    A, B = related_pair(*params)
    ab, ba = two_vs_two(A, B), two_vs_two(B, A)
    np.testing.assert_allclose(ab.margin, ba.margin, atol=1e-10)
    assert ab.accuracy == ba.accuracy


@settings(max_examples=40, deadline=None)
@given(generic, st.randoms(use_true_random=False))
def test_invariant_when_both_spaces_are_relabelled_together(params, random):
    A, B = related_pair(*params)
    k = A.shape[0]
    order = list(range(k))
    random.shuffle(order)
    p = np.array(order)
    original, relabelled = two_vs_two(A, B), two_vs_two(A[np.ix_(p, p)], B[np.ix_(p, p)])
    assert relabelled.accuracy == original.accuracy
    lookup = {tuple(pair): m for pair, m in zip(original.pairs.tolist(), original.margin, strict=True)}
    expected = [lookup[tuple(sorted((p[i], p[j])))] for i, j in relabelled.pairs]
    np.testing.assert_allclose(relabelled.margin, expected, atol=1e-10)


@settings(max_examples=30, deadline=None)
@given(generic)
def test_a_space_against_itself_scores_one(params):
    A, _ = related_pair(*params, d=40)
    assert two_vs_two(A, A).accuracy == 1.0


@settings(max_examples=15, deadline=None, derandomize=True)
@given(st.integers(0, 2**32 - 1))
def test_unrelated_spaces_score_near_chance(seed):
    # at k = 200 the accuracy's spread over seeds is about 0.037, so 0.15 is four spreads
    rng = np.random.default_rng(seed)
    A, B = correlation_matrix(rng.normal(size=(200, 30))), correlation_matrix(rng.normal(size=(200, 30)))
    assert abs(two_vs_two(A, B).accuracy - 0.5) < 0.15


@pytest.mark.parametrize(
    ("A", "B", "message"),
    [
        (np.zeros((5, 4)), np.zeros((5, 4)), "square"),
        (np.eye(5), np.eye(6), "same concepts"),
        (np.eye(3), np.eye(3), "at least 4"),
        (np.where(np.eye(5) > 0, np.inf, 0.0), np.eye(5), "infinite"),
        (np.where(np.eye(5) > 0, np.nan, 0.0), np.eye(5), "NaN at"),
        (np.triu(np.ones((5, 5))), np.eye(5), "not symmetric"),
    ],
)
def test_bad_input_is_a_clear_value_error(A, B, message):
    with pytest.raises(ValueError, match=message):
        two_vs_two(A, B)


@pytest.mark.parametrize(("option", "message"), [({"distance": "euclid"}, "distance"), ({"ties": "x"}, "ties")])
def test_unknown_options_are_named(option, message):
    with pytest.raises(ValueError, match=message):
        two_vs_two(np.eye(5), np.eye(5), **option)


def test_unknown_device_and_missing_cuda_are_named():
    with pytest.raises(ValueError, match="unknown device"):
        two_vs_two(np.eye(5), np.eye(5), device="tpu")
    if importlib.util.find_spec("torch") is None:
        with pytest.raises(RuntimeError, match=r"needs torch, which is not installed: pip install 'benchsuite\[torch"):
            two_vs_two(np.eye(5), np.eye(5), device="torch")
        return
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA device; use --device cpu"):
            two_vs_two(np.eye(5), np.eye(5), device="cuda")


def test_symmetry_within_tolerance_and_nan_rows_are_accepted():
    A, B = with_constant_concepts(12, 17, [5])
    nudged = B * (1 + np.triu(np.full(B.shape, 1e-7), 1))
    result = two_vs_two(A, nudged)
    np.testing.assert_allclose(result.margin, two_vs_two(A, B).margin, atol=1e-6, equal_nan=True)
    with pytest.raises(ValueError, match="not symmetric"):
        two_vs_two(A, B + np.triu(np.full(B.shape, 1e-3), 1))


def test_repeated_calls_on_one_kernel_reuse_its_workspace_safely():
    from benchsuite.metrics.backend import resolve_backend
    from benchsuite.metrics.two_vs_two import pair_margins

    A, B = related_pair(15, 18)
    margins = pair_margins(A, B, resolve_backend("cpu"))
    perms = np.array([np.random.default_rng(s).permutation(15) for s in range(5)])
    whole = margins(perms).copy()
    for size in (1, 3, 5):
        np.testing.assert_allclose(margins(perms[:size]), whole[:size], atol=1e-12)
    identity = margins(None)[0]
    np.testing.assert_allclose(identity, identity.T, equal_nan=True)
    iu, ju = np.triu_indices(15, 1)
    np.testing.assert_allclose(identity[iu, ju], two_vs_two_loop(A, B)[2], atol=1e-9)


def two_point_margins(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """At k = 4 each masked row has two entries, so r(x, y) is the product of the two rows' signs (NaN if
    either pair of entries is equal) and every margin is an integer: exact arithmetic."""
    margins = []
    for i, j in zip(*np.triu_indices(4, 1), strict=True):
        a, b = (c for c in range(4) if c not in (i, j))
        r = {(x, y): np.sign(A[x, a] - A[x, b]) * np.sign(B[y, a] - B[y, b]) for x in (i, j) for y in (i, j)}
        r = {key: np.nan if value == 0 else value for key, value in r.items()}
        margins.append(r[i, i] + r[j, j] - r[i, j] - r[j, i])
    return np.array(margins)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.sampled_from(["fail", "half"]))
def test_at_k_4_rounding_never_turns_a_tie_into_a_pass(seed_a, seed_b, ties):
    A, B = near_ties(4, seed_a), near_ties(4, seed_b)
    exact = two_point_margins(A, B)
    result = two_vs_two(A, B, ties=ties)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(result.passed, exact > 0)
        np.testing.assert_array_equal(result.tied, exact == 0)
    np.testing.assert_allclose(result.margin, exact, atol=1e-9)
    assert result.accuracy == pytest.approx(np.mean((exact > 0) + (0.5 * (exact == 0) if ties == "half" else 0)))


@settings(max_examples=30, deadline=None)
@given(st.integers(5, 25), st.integers(0, 2**32 - 1), st.sampled_from([0.0, 0.5, 1.0]),
       st.sampled_from([1e-4, 1e-6, 1e-8]))
def test_a_nearly_constant_row_is_computed_not_treated_as_constant(k, seed, level, spread):
    A, B = nearly_constant_row(max(k, 7), seed % 1000, level, spread)
    passed, tied, margin, accuracy = two_vs_two_loop(A, B)
    result = two_vs_two(A, B)
    assert np.isfinite(result.margin).all()
    np.testing.assert_array_equal(result.passed, passed)
    np.testing.assert_allclose(result.margin, margin, atol=1e-8)
    assert result.accuracy == accuracy


@pytest.mark.parametrize("device", ["cpu", TORCH])
def test_a_row_constant_without_one_concept_fails_exactly_those_pairs(device):
    A, B = constant_but_one(12, 4)
    result = two_vs_two(A, B, device=device)
    undefined = np.isnan(result.margin)
    assert {tuple(pair) for pair in result.pairs[undefined]} == {(1, 4)}
    assert not result.passed[undefined].any()


@pytest.mark.parametrize("constant", [[0, 1, 2], [0, 1, 2, 3]])
def test_fewer_than_4_concepts_present_in_both_is_a_value_error(constant):
    A, B = with_constant_concepts(6, 19, constant)
    message = f"only {6 - len(constant)} concepts have finite similarities in both A and B; at least 4"
    for call in (lambda: two_vs_two(A, B), lambda: STATISTICS["two_vs_two"](A, B),
                 lambda: permutation_test(A, B, n_permutations=5)):
        with pytest.raises(ValueError, match=message):
            call()


def test_relabellings_that_leave_fewer_than_4_concepts_are_nan_draws():
    A, B = with_constant_concepts(6, 20, [0, 1])  # A lacks concepts 0 and 1, B lacks 0: four present
    perms = next(concept_permutations(6, 40, seed=3, batch_size=40))
    present = (~np.isnan(A).all(axis=1))[None, :] & (~np.isnan(B).all(axis=1))[perms]
    result = permutation_test(A, B, n_permutations=40, seed=3, batch_size=7)
    undefined = present.sum(axis=1) < 4
    assert undefined.any() and not undefined.all()
    np.testing.assert_array_equal(np.isnan(result.null), undefined)
    expected = [two_vs_two(A, B[np.ix_(p, p)]).accuracy for p in perms[~undefined]]
    np.testing.assert_allclose(result.null[~undefined], expected, atol=1e-12)
    reached = np.count_nonzero(result.null[~undefined] >= result.observed - 1e-12) + undefined.sum()
    assert result.p_value == pytest.approx((1 + reached) / 41)
