import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from metric_fixtures import related_pair, with_constant_concepts

from benchsuite.metrics import STATISTICS, concept_permutations, permutation_test, two_vs_two
from benchsuite.metrics.permutation import permutation_p_value


def test_permutations_depend_only_on_seed_and_k_not_batch_size():
    whole = np.concatenate(list(concept_permutations(9, 50, seed=3, batch_size=50)))
    pieces = np.concatenate(list(concept_permutations(9, 50, seed=3, batch_size=7)))
    np.testing.assert_array_equal(whole, pieces)
    assert all(sorted(p) == list(range(9)) for p in whole)
    assert not np.array_equal(whole, np.concatenate(list(concept_permutations(9, 50, seed=4))))


@pytest.mark.parametrize("statistic", list(STATISTICS))
def test_null_is_the_statistic_on_each_relabelled_space(statistic):
    A, B = related_pair(14, 1)
    if statistic == "mutual_knn":
        A, B = related_pair(16, 1)
    result = permutation_test(A, B, statistic=statistic, n_permutations=12, seed=5, batch_size=5)
    k = A.shape[0]
    perms = next(concept_permutations(k, 12, seed=5, batch_size=12))
    expected = [STATISTICS[statistic](A, B[np.ix_(p, p)]) for p in perms]
    np.testing.assert_allclose(result.null, expected, atol=1e-12)
    assert result.observed == pytest.approx(STATISTICS[statistic](A, B), abs=1e-12)


@pytest.mark.parametrize("statistic", list(STATISTICS))
@pytest.mark.needs("torch")
def test_batch_size_and_torch_backend_leave_the_null_unchanged(statistic):
    A, B = related_pair(20, 2)
    reference = permutation_test(A, B, statistic=statistic, n_permutations=30, seed=1, batch_size=30)
    for options in ({"batch_size": 4}, {"batch_size": 7, "device": "torch"}):
        other = permutation_test(A, B, statistic=statistic, n_permutations=30, seed=1, **options)
        np.testing.assert_allclose(other.null, reference.null, atol=1e-9)
        assert other.p_value == reference.p_value


def test_related_spaces_are_significant_and_unrelated_are_not():
    A, B = related_pair(30, 3)
    assert permutation_test(A, B, n_permutations=199).p_value == pytest.approx(1 / 200)
    rng = np.random.default_rng(4)
    U = np.corrcoef(rng.normal(size=(30, 20)))
    assert permutation_test(A, U, n_permutations=199).p_value > 0.05


def test_callable_statistic_uses_the_same_permutations():
    A, B = related_pair(12, 6)
    builtin = permutation_test(A, B, statistic="cka", n_permutations=20, seed=2)
    custom = permutation_test(A, B, statistic=STATISTICS["cka"], n_permutations=20, seed=2)
    np.testing.assert_allclose(custom.null, builtin.null, atol=1e-12)
    assert custom.p_value == builtin.p_value


def test_missing_concepts_take_the_per_permutation_path():
    A, B = with_constant_concepts(15, 7, [2])
    result = permutation_test(A, B, statistic="rsa", n_permutations=10, seed=0)
    k = A.shape[0]
    perms = next(concept_permutations(k, 10, seed=0, batch_size=10))
    np.testing.assert_allclose(result.null, [STATISTICS["rsa"](A, B[np.ix_(p, p)]) for p in perms])
    two = permutation_test(A, B, n_permutations=10, seed=0)
    np.testing.assert_allclose(two.null, [two_vs_two(A, B[np.ix_(p, p)]).accuracy for p in perms])


def test_nan_observed_gives_no_p_value():
    assert np.isnan(permutation_p_value(np.nan, np.array([0.1, 0.2])))
    assert permutation_p_value(0.2, np.array([0.1, 0.2, 0.3])) == pytest.approx(3 / 4)


@settings(max_examples=20, deadline=None)
@given(st.integers(6, 20), st.integers(0, 2**32 - 1), st.integers(0, 1000), st.sampled_from(list(STATISTICS)))
def test_p_values_lie_in_unit_interval_and_repeat_for_a_seed(k, data_seed, seed, statistic):
    A, B = related_pair(k + 6 if statistic == "mutual_knn" else k, data_seed)
    first = permutation_test(A, B, statistic=statistic, n_permutations=25, seed=seed)
    again = permutation_test(A, B, statistic=statistic, n_permutations=25, seed=seed)
    assert 0 < first.p_value <= 1
    assert first.p_value == again.p_value
    np.testing.assert_array_equal(first.null, again.null)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"statistic": "nope"}, "unknown statistic"),
        ({"n_permutations": 0}, "n_permutations"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_options_are_named(options, message):
    A, B = related_pair(6, 0)
    with pytest.raises(ValueError, match=message):
        permutation_test(A, B, **options)


@pytest.mark.parametrize("distance_case", ["complete", "missing"])
@pytest.mark.needs("torch")
def test_two_vs_two_null_matches_each_relabelled_run_across_batches_and_torch(distance_case):
    A, B = related_pair(18, 8) if distance_case == "complete" else with_constant_concepts(18, 8, [3, 11])
    perms = next(concept_permutations(18, 11, seed=4, batch_size=11))
    expected = [two_vs_two(A, B[np.ix_(p, p)]).accuracy for p in perms]
    for options in ({"batch_size": 3}, {"batch_size": 11}, {"batch_size": 2, "device": "torch"}):
        result = permutation_test(A, B, n_permutations=11, seed=4, **options)
        np.testing.assert_allclose(result.null, expected, atol=1e-12)
