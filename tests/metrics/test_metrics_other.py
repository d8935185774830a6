import numpy as np
import pytest
from metric_fixtures import TORCH, clustered, related_pair, with_constant_concepts
from metric_reference import cka_debiased_loop, cka_loop, mutual_knn_loop, rsa_loop

from benchsuite.contract.manager import Registry
from benchsuite.metrics import cka, cka_debiased, missing_concepts, mutual_knn, one_vs_two, rsa

PAIRS = {
    "related": related_pair(15, 0),
    "tied": (np.round(related_pair(13, 1)[0], 1), clustered(13, [3, 4, 6], 2)),
}


@pytest.mark.parametrize("case", list(PAIRS))
@pytest.mark.parametrize("method", ["spearman", "pearson", "kendall_tau_a"])
@pytest.mark.parametrize("device", ["cpu", TORCH])
def test_rsa_matches_loop(case, method, device):
    A, B = PAIRS[case]
    assert rsa(A, B, method=method, device=device) == pytest.approx(rsa_loop(A, B, method), abs=1e-12)


@pytest.mark.parametrize("case", list(PAIRS))
@pytest.mark.parametrize("device", ["cpu", TORCH])
def test_cka_and_knn_match_loops(case, device):
    A, B = PAIRS[case]
    assert cka(A, B, device=device) == pytest.approx(cka_loop(A, B), abs=1e-12)
    assert cka_debiased(A, B, device=device) == pytest.approx(cka_debiased_loop(A, B), abs=1e-12)
    assert mutual_knn(A, B, n_neighbors=4, device=device) == pytest.approx(mutual_knn_loop(A, B, 4))


def test_identical_spaces_score_one():
    A, _ = related_pair(20, 3)
    for value in (rsa(A, A), rsa(A, A, method="pearson"), cka(A, A), cka_debiased(A, A), mutual_knn(A, A)):
        assert value == pytest.approx(1.0)


def test_missing_concepts_are_dropped_from_both_spaces():
    A, B = with_constant_concepts(14, 4, [5, 9])
    keep = ~(missing_concepts(A) | missing_concepts(B))
    assert keep.sum() == 12
    sub = np.ix_(keep, keep)
    assert rsa(A, B) == pytest.approx(rsa_loop(A[sub], B[sub], "spearman"))
    assert cka(A, B) == pytest.approx(cka_loop(A[sub], B[sub]))


def test_mutual_knn_neighbour_count_is_checked():
    A, B = related_pair(8, 5)
    with pytest.raises(ValueError, match="n_neighbors"):
        mutual_knn(A, B)
    with pytest.raises(ValueError, match="unknown RSA method"):
        rsa(A, B, method="kendall")


def one_vs_two_rows(m: int, r: int, closer: bool, seed: int):
    rng = np.random.default_rng(seed)
    true, predicted = rng.normal(size=(m, r)), rng.normal(size=(m, r))
    image = (true if closer else predicted) + 0.5 * rng.normal(size=(m, r))
    return image, true, predicted


@pytest.mark.needs("torch")
def test_one_vs_two_rule_and_sign_flip_null():
    image, true, predicted = one_vs_two_rows(36, 10, closer=True, seed=0)
    result = one_vs_two(image, true, predicted, n_permutations=500)
    rows = zip(image, true, predicted, strict=True)
    expected = [np.corrcoef(i, t)[0, 1] - np.corrcoef(i, p)[0, 1] for i, t, p in rows]
    np.testing.assert_allclose(result.margin, expected, atol=1e-12)
    np.testing.assert_array_equal(result.passed, np.array(expected) > 0)
    assert result.accuracy == 1.0 and result.p_value == pytest.approx(1 / 501)
    assert abs(result.null.mean() - 0.5) < 0.02
    torch_result = one_vs_two(image, true, predicted, n_permutations=500, device="torch")
    np.testing.assert_array_equal(torch_result.null, result.null)


def test_one_vs_two_fails_wrong_way_and_constant_rows():
    image, true, predicted = one_vs_two_rows(20, 8, closer=False, seed=1)
    image[0] = 1.0
    result = one_vs_two(image, true, predicted, n_permutations=100, seed=3)
    assert not result.passed.any() and np.isnan(result.margin[0])
    assert result.p_value == 1.0


@pytest.mark.parametrize(
    ("shapes", "message"),
    [(((4, 2), (4, 2), (4, 2)), "r ≥ 3"), (((4, 5), (4, 5), (3, 5)), "share one shape")],
)
def test_one_vs_two_bad_input(shapes, message):
    with pytest.raises(ValueError, match=message):
        one_vs_two(*(np.ones(s) for s in shapes))


def test_one_vs_two_rejects_non_finite():
    image, true, predicted = one_vs_two_rows(5, 6, True, 2)
    true[1, 2] = np.nan
    with pytest.raises(ValueError, match="true_rows has non-finite"):
        one_vs_two(image, true, predicted)


def test_plugin_registers_every_builtin_with_chance_levels():
    metrics = Registry().metrics
    assert metrics.names() == ["two_vs_two", "rsa", "rsa_pearson", "rsa_kendall_tau_a", "cka", "cka_debiased",
                               "mutual_knn"]
    assert metrics["two_vs_two"].chance == 0.5 and metrics["cka"].chance is None
    assert metrics["rsa_kendall_tau_a"].chance == 0.0 and metrics["cka_debiased"].chance == 0.0
    A, B = related_pair(12, 6)
    assert metrics["rsa"].load()(A, B) == pytest.approx(rsa(A, B))
