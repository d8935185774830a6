"""Many layers against one text matrix at once: every null equals the one-pair computation's, draw by draw.

The stacked kernels share B's relabelling (and, for 2 vs 2, its masked sums, spreads and one
matrix product, with a compiled elementwise pass on the CPU) among every A. These tests hold them
to independent references: the definition on each relabelled matrix, and ``pair_margins``.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from metric_fixtures import constant_but_one, mixed_layers, nearly_constant_row, related_pair, with_constant_concepts

from benchsuite.inference.heldout import familywise_p_value
from benchsuite.inference.pooled import Score, score_layers
from benchsuite.metrics import STATISTICS, compiled, concept_permutations, permutation_tests
from benchsuite.metrics.backend import resolve_backend
from benchsuite.metrics.two_vs_two import single_accuracy, stacked_accuracies
from benchsuite.run.scoring import ScoreTask

NUMPY = resolve_backend("cpu")


def reference_accuracies(As: list[np.ndarray], B: np.ndarray, perms: np.ndarray) -> np.ndarray:
    """Each A's 2 vs 2 accuracy on each relabelling, one A at a time through ``pair_margins``."""
    return np.stack([single_accuracy(A, B, NUMPY)(perms) for A in As], axis=1)


@pytest.mark.needs("numba")
def test_numba_is_there_so_the_compiled_pass_runs():
    assert compiled.count_passes is not None


@settings(max_examples=15, deadline=None)
@given(st.integers(8, 40), st.integers(0, 2**16))
def test_stacked_two_vs_two_equals_each_layer_alone_on_every_relabelling(k, seed):
    layers, B = mixed_layers(k, seed)
    perms = next(concept_permutations(k, 24, seed, batch_size=24))
    stacked = stacked_accuracies(layers, B, NUMPY)(perms)
    np.testing.assert_array_equal(stacked, reference_accuracies(layers, B, perms))


def test_untrusted_text_rows_and_missing_text_concepts_fall_back_exactly():
    k = 20
    layers, _ = mixed_layers(k, 3)
    texts = (constant_but_one(k, 4)[1], with_constant_concepts(k, 5, [2, 7])[1],
             nearly_constant_row(k, 6, 0.2, 1e-7)[0])
    for B in texts:
        perms = next(concept_permutations(k, 30, 1, batch_size=30))
        np.testing.assert_array_equal(stacked_accuracies(layers, B, NUMPY)(perms),
                                      reference_accuracies(layers, B, perms))


@pytest.mark.needs("numba", "torch")
def test_compiled_and_numpy_passes_count_the_same(monkeypatch):
    layers, B = mixed_layers(30, 11)
    perms = next(concept_permutations(30, 40, 2, batch_size=40))
    fast = stacked_accuracies(layers, B, NUMPY)(perms)
    monkeypatch.setattr(compiled, "count_passes", None)
    monkeypatch.setattr(compiled, "relabel_into", None)
    np.testing.assert_array_equal(stacked_accuracies(layers, B, NUMPY)(perms), fast)
    torch = resolve_backend("torch")
    np.testing.assert_array_equal(torch.to_numpy(stacked_accuracies(layers, B, torch)(torch.asarray(perms))), fast)


@pytest.mark.parametrize("statistic", list(STATISTICS))
def test_every_null_is_the_statistic_on_each_relabelled_space(statistic):
    k = 16
    layers, B = mixed_layers(k, 7)
    results = permutation_tests(layers, B, statistic=statistic, n_permutations=15, seed=4, batch_size=4)
    perms = next(concept_permutations(k, 15, seed=4, batch_size=15))
    for A, result in zip(layers, results, strict=True):
        expected = [STATISTICS[statistic](A, B[np.ix_(p, p)]) for p in perms]
        np.testing.assert_allclose(result.null, expected, atol=1e-12)
        assert result.observed == pytest.approx(STATISTICS[statistic](A, B), abs=1e-12)


def test_layer_scores_are_the_mean_over_groups_with_the_null_of_the_mean():
    k = 14
    groups = [mixed_layers(k, seed)[0][:3] for seed in (1, 2)]
    layers = [[groups[0][i], groups[1][i]] for i in range(3)]
    B = related_pair(k, 1)[1]
    scores = score_layers(layers, B, metric="two_vs_two", statistic=STATISTICS["two_vs_two"], n_permutations=20,
                          seed=3)
    for layer, score in zip(layers, scores, strict=True):
        alone = permutation_tests(layer, B, n_permutations=20, seed=3)
        np.testing.assert_array_equal(score.null, np.mean([r.null for r in alone], axis=0))
        assert score.value == pytest.approx(np.mean([r.observed for r in alone]), abs=1e-15)


def test_a_metric_that_breaks_on_one_layer_fails_that_layer_alone():
    layers, B = mixed_layers(12, 2)

    def fussy(A: np.ndarray, B: np.ndarray) -> float:
        if A[0, 1] == layers[1][0, 1]:
            raise RuntimeError("cannot score this one")
        return float(np.mean(A * B))

    scores = ScoreTask(layers=[[layers[0]], [layers[1]], [layers[3]]], text_matrix=B, metric="fussy", statistic=fussy,
                       n_permutations=5, seed=0).run()
    assert [s.error is None for s in scores] == [True, False, True]
    assert "cannot score this one" in scores[1].error
    assert isinstance(scores[0], Score) and scores[0].p_value is not None


@pytest.mark.parametrize("n_permutations", [40, 400])
def test_familywise_p_from_stored_nulls_equals_recomputing_them(n_permutations):
    k = 12
    A, B = related_pair(k, 5, noise=2.0)
    layers = [[A], [related_pair(k, 6, noise=3.0)[0]], [related_pair(k, 9, noise=4.0)[0]]]
    scores = score_layers(layers, B, metric="two_vs_two", statistic=STATISTICS["two_vs_two"],
                          n_permutations=n_permutations, seed=1)
    values = np.array([s.value for s in scores])
    common = dict(n_permutations=n_permutations, seed=1, layer_p_values=[s.p_value for s in scores])
    stored = familywise_p_value(layers, B, values, layer_nulls=[s.null for s in scores], **common)
    assert stored == familywise_p_value(layers, B, values, **common)
    maxima = np.max([s.null for s in scores], axis=0)
    if stored[1] == n_permutations:
        assert stored[0] == pytest.approx((1 + np.sum(maxima >= values.max() - 1e-12)) / (1 + n_permutations))


def test_pair_outcomes_are_each_layers_own_margins():
    from benchsuite.inference.heldout import pair_outcomes
    from benchsuite.metrics.two_vs_two import TIE_TOLERANCE, pair_margins

    k = 18
    layers, B = mixed_layers(k, 8)
    grouped = [[layers[i], layers[i + 1]] for i in range(0, 6, 2)]
    outcomes = pair_outcomes(grouped, B)
    for index, groups in enumerate(grouped):
        for group, A in enumerate(groups):
            with np.errstate(invalid="ignore"):
                expected = pair_margins(A, B, NUMPY)(None)[0] > TIE_TOLERANCE
            np.testing.assert_array_equal(outcomes[index, group], expected.astype(np.float32))
