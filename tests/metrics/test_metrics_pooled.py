"""One p-value rule for single tests and means over groups: ties, direction, NaN, and option checks."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from metric_fixtures import related_pair

from benchsuite.inference.pooled import pooled_p_value, score_groups
from benchsuite.metrics import STATISTICS, concept_permutations, one_vs_two, permutation_test
from benchsuite.metrics.permutation import null_reaching, permutation_p_value
from benchsuite.metrics.similarity import correlation_matrix
from benchsuite.run.scoring import ScoreTask


def negated_cka(A: np.ndarray, B: np.ndarray) -> float:
    """A lower-is-better statistic: minus linear CKA."""
    return -STATISTICS["cka"](A, B)


def group_matrices(k: int, groups: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(k, 6))
    layers = [correlation_matrix(Z + rng.normal(size=Z.shape)) for _ in range(groups)]
    return layers, correlation_matrix(Z + rng.normal(size=Z.shape))


def exact_pooled_p(layers: list[np.ndarray], text: np.ndarray, n_permutations: int, seed: int) -> float:
    """The pooled 2 vs 2 p-value in integers: accuracy × k(k-1) counts passed pairs twice, exactly."""
    k = text.shape[0]
    results = [permutation_test(m, text, n_permutations=n_permutations, seed=seed) for m in layers]
    observed = sum(round(r.observed * k * (k - 1)) for r in results)
    null = sum(np.rint(r.null * k * (k - 1)).astype(int) for r in results)
    return (1 + int(np.count_nonzero(null >= observed))) / (1 + n_permutations)


def test_a_draw_that_ties_the_mean_up_to_rounding_counts():
    observed = float(np.mean([0.1, 0.7, 0.2]))
    null = np.array([np.nextafter(observed, -np.inf), observed - 0.1, observed + 0.1])
    assert pooled_p_value(observed, null) == permutation_p_value(observed, null) == pytest.approx(3 / 4)
    assert pooled_p_value(observed, null, higher_is_better=False) == pytest.approx(3 / 4)


def test_pooled_p_value_of_small_cases_equals_the_exact_count():
    layers, text = group_matrices(5, 3, 13)
    score = score_groups(layers, text, metric="two_vs_two", statistic=STATISTICS["two_vs_two"],
                         n_permutations=200, seed=1)
    assert score.p_value == exact_pooled_p(layers, text, 200, 1)


@settings(max_examples=25, deadline=None)
@given(st.integers(5, 7), st.integers(2, 4), st.integers(0, 2**16), st.integers(0, 100))
def test_pooled_p_value_is_the_exact_count_in_integers(k, groups, data_seed, seed):
    layers, text = group_matrices(k, groups, data_seed)
    score = score_groups(layers, text, metric="two_vs_two", statistic=STATISTICS["two_vs_two"],
                         n_permutations=60, seed=seed)
    assert score.p_value == exact_pooled_p(layers, text, 60, seed)


def test_lower_is_better_counts_draws_at_or_below_the_observed_value():
    A, B = related_pair(12, 3)
    higher = permutation_test(A, B, statistic="cka", n_permutations=50, seed=2)
    lower = permutation_test(A, B, statistic=negated_cka, n_permutations=50, seed=2, higher_is_better=False)
    assert lower.p_value == higher.p_value < 0.05
    inverted = permutation_test(A, B, statistic=negated_cka, n_permutations=50, seed=2)
    assert inverted.p_value > 0.9


def test_the_direction_reaches_the_pooled_p_value_through_score_task():
    layers, text = group_matrices(10, 2, 4)
    common = dict(layers=[layers], text_matrix=text, n_permutations=40, seed=3)
    higher = ScoreTask(metric="cka", statistic=STATISTICS["cka"], **common).run()[0]
    lower = ScoreTask(metric="negated_cka", statistic=negated_cka, higher_is_better=False, **common).run()[0]
    assert lower.value == pytest.approx(-higher.value)
    assert lower.p_value == higher.p_value


def test_nan_observed_has_no_p_value_and_nan_draws_count_as_reaching_it():
    assert math.isnan(permutation_p_value(np.nan, np.array([0.1, 0.2])))
    assert pooled_p_value(np.nan, np.array([0.1, 0.2])) is None
    assert permutation_p_value(0.5, np.array([np.nan, 0.1, 0.9])) == pytest.approx(3 / 4)
    assert permutation_p_value(0.5, np.array([np.nan, 0.1, 0.9]), higher_is_better=False) == pytest.approx(3 / 4)
    layers, text = group_matrices(8, 2, 5)
    score = score_groups(layers, text, metric="undefined", statistic=lambda A, B: math.nan, n_permutations=10, seed=0)
    assert math.isnan(score.value) and score.p_value is None


def test_the_count_of_draws_reaching_the_observed_value_follows_the_same_rule():
    null = np.array([np.nan, 0.1, 0.9, 0.5 - 1e-14, 0.5 - 1e-6])
    assert null_reaching(0.5, null) == 3
    assert null_reaching(0.5, null, higher_is_better=False) == 4
    assert null_reaching(np.nan, null) == null.size


def calls_with(n_permutations=10, seed=0, higher_is_better=True):
    """Every metrics entry point that takes a permutation count or a seed, with these values."""
    A, B = related_pair(8, 0)
    rows = np.random.default_rng(0).normal(size=(3, 5))
    return [
        lambda: permutation_test(A, B, n_permutations=n_permutations, seed=seed, higher_is_better=higher_is_better),
        lambda: one_vs_two(rows, rows + 1, -rows, n_permutations=n_permutations, seed=seed),
        lambda: concept_permutations(8, n_permutations, seed),
        lambda: score_groups([A], B, metric="cka", statistic=STATISTICS["cka"], n_permutations=n_permutations,
                             seed=seed, higher_is_better=higher_is_better),
    ]


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"seed": None}, TypeError, "seed must be a non-negative integer, got None"),
        ({"seed": True}, TypeError, "seed must be"),
        ({"seed": 1.5}, TypeError, "seed must be"),
        ({"seed": -1}, ValueError, "seed must be a non-negative integer, got -1"),
        ({"n_permutations": True}, TypeError, "n_permutations must be an integer, got True"),
        ({"n_permutations": 100.0}, TypeError, "n_permutations must be an integer"),
        ({"n_permutations": None}, TypeError, "n_permutations must be an integer"),
        ({"n_permutations": -5}, ValueError, "n_permutations must be at least"),
    ],
)
def test_bad_permutation_options_are_refused_everywhere(options, error, message):
    for call in calls_with(**options):
        with pytest.raises(error, match=message):
            call()


def test_a_direction_that_is_not_a_bool_is_refused():
    for call in (calls_with(higher_is_better="no")[0], calls_with(higher_is_better=1)[3]):
        with pytest.raises(TypeError, match="higher_is_better must be True or False"):
            call()


def test_zero_permutations_give_no_p_value():
    layers, text = group_matrices(8, 2, 6)
    score = score_groups(layers, text, metric="cka", statistic=STATISTICS["cka"], n_permutations=0, seed=0)
    assert score.p_value is None and score.value == pytest.approx(np.mean(score.groups))
