"""The calibration of the headline's draws on the held-out statistic, and of a paired difference on its own
spread (docs/methods.md, "Calibration" and "Paired comparisons and tiers")."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchsuite.contract.errors import BenchsuiteError
from benchsuite.inference.comparisons import difference_draws, paired_difference
from benchsuite.inference.heldout import (
    Calibration,
    calibration_subsets,
    concept_halves,
    headline,
    heldout_accuracy,
    restricted,
    subsample_heldout,
    subsample_scale,
    widened,
)
from benchsuite.metrics.similarity import correlation_matrix


def related(k, seed, strength=0.5, n_layers=2, groups=1):
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(k, 8))
    text = correlation_matrix(latent @ rng.normal(size=(8, 30)) + 6 * rng.normal(size=(k, 30)))
    layers = [[correlation_matrix(strength * latent @ rng.normal(size=(8, 40)) + 3 * rng.normal(size=(k, 40)))
               for _ in range(groups)] for _ in range(n_layers)]
    return layers, text


def test_calibration_subsets_are_halves_that_depend_on_k_and_the_seed_alone():
    subsets = calibration_subsets(41, 5, seed=3)
    assert [len(s) for s in subsets] == [20] * 5 and all((np.diff(s) > 0).all() for s in subsets)
    assert all(np.array_equal(a, b) for a, b in zip(subsets, calibration_subsets(41, 5, seed=3), strict=True))
    assert not np.array_equal(subsets[0], calibration_subsets(41, 5, seed=4)[0])
    assert subsample_scale(40) == 1.0 and subsample_scale(41) == pytest.approx(np.sqrt(20 / 21))


def test_subsample_heldout_is_the_held_out_statistic_recomputed_on_each_subset():
    layers, text = related(32, 0, n_layers=3)
    subsets = calibration_subsets(32, 3, seed=1)
    found = subsample_heldout(layers, text, subsets, n_splits=4, seed=1)
    for subset, value in zip(subsets, found, strict=True):
        per_split, _ = heldout_accuracy(restricted(layers, subset), text[np.ix_(subset, subset)],
                                        np.ones((1, 16)), np.ones((1, 1)), concept_halves(16, 4, seed=1))
        assert value == pytest.approx(per_split.mean(), abs=1e-12)
    assert len(set(np.round(found, 12))) == 3  # different subsets, different values


def test_headline_draws_spread_as_the_held_out_statistic_over_the_subsets():
    layers, text = related(36, 2)
    found = headline(layers, text, seed=5, n_permutations=0, n_bootstrap=200, n_splits=4, n_calibration=12)
    calibration = found.calibration
    assert calibration is not None and calibration.subsamples.shape == (12,)
    target = subsample_scale(36) * np.std(calibration.subsamples)
    assert np.std(found.draws) == pytest.approx(target, rel=1e-9)  # one group: every draw is widened alike
    assert found.spread_factor == calibration.factor == pytest.approx(target / np.std(calibration.concept_draws))
    assert np.median(found.draws) == pytest.approx(np.median(calibration.concept_draws))
    # the subsets are the model's own held-out statistic: a second model on the same concepts pairs with it
    other = headline(related(36, 3)[0], text, seed=5, n_permutations=0, n_bootstrap=200, n_splits=4, n_calibration=12)
    assert other.calibration is not None and not np.allclose(other.calibration.subsamples, calibration.subsamples)


def test_headline_with_two_groups_widens_by_the_factor_measured_over_concepts_alone():
    layers, text = related(30, 4, groups=2)
    found = headline(layers, text, seed=0, n_permutations=0, n_bootstrap=100, n_splits=3, n_calibration=8)
    calibration = found.calibration
    assert calibration is not None
    assert calibration.factor == pytest.approx(subsample_scale(30) * np.std(calibration.subsamples)
                                               / np.std(calibration.concept_draws))
    assert np.std(found.draws) > np.std(calibration.concept_draws) * calibration.factor  # groups add spread


def calibration_of(raw, factor, subsamples, scale=0.7):
    return Calibration(factor=factor, scale=scale, subsamples=np.asarray(subsamples), concept_draws=np.asarray(raw))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), factor_a=st.floats(0.5, 2.0), factor_b=st.floats(0.5, 2.0),
       coupling=st.floats(0.0, 0.95))
def test_a_difference_spreads_as_the_difference_of_the_held_out_statistics_on_the_same_subsets(
        seed, factor_a, factor_b, coupling):
    rng = np.random.default_rng(seed)
    shared = rng.normal(0, 0.03, 300)
    raw_a = 0.8 + shared + rng.normal(0, 0.01, 300)
    raw_b = 0.7 + coupling * shared + rng.normal(0, 0.01, 300)
    sub_common = rng.normal(0, 0.04, 40)
    sub_a, sub_b = 0.78 + sub_common + rng.normal(0, 0.02, 40), 0.69 + coupling * sub_common + rng.normal(0, 0.02, 40)
    calibrations = (calibration_of(raw_a, factor_a, sub_a), calibration_of(raw_b, factor_b, sub_b))
    draws_a, draws_b = widened(raw_a, factor_a), widened(raw_b, factor_b)
    found = difference_draws(draws_a, draws_b, calibrations)
    # its own spread: scale × sd(sub_a − sub_b), whatever the two models' own factors
    assert np.std(found) == pytest.approx(0.7 * np.std(sub_a - sub_b), rel=1e-9)
    # its shape: the unwidened paired difference, draw by draw
    assert np.corrcoef(found, raw_a - raw_b)[0, 1] == pytest.approx(1.0, abs=1e-9)
    assert np.array_equal(difference_draws(draws_a, draws_b), draws_a - draws_b)  # no calibration: as before


def test_paired_difference_calibrated_on_its_own_spread():
    rng = np.random.default_rng(1)
    raw = 0.8 + rng.normal(0, 0.03, 1000)
    raw_b = raw - 0.02 + rng.normal(0, 0.004, 1000)
    sub_a = 0.78 + rng.normal(0, 0.04, 50)
    sub_b = sub_a - 0.02 + rng.normal(0, 0.005, 50)
    calibrations = (calibration_of(raw, 1.3, sub_a), calibration_of(raw_b, 1.3, sub_b))
    draws_a, draws_b = widened(raw, 1.3), widened(raw_b, 1.3)
    plain = paired_difference(0.82, 0.80, draws_a, draws_b)
    own = paired_difference(0.82, 0.80, draws_a, draws_b, calibrations=calibrations)
    target = 0.7 * np.std(sub_a - sub_b)
    assert own.high - own.low == pytest.approx(2 * 1.96 * target, rel=0.08)
    assert plain.high - plain.low == pytest.approx(2 * 1.96 * 1.3 * np.std(raw - raw_b), rel=0.08)
    assert own.value == plain.value == pytest.approx(0.02) and own.low < 0.02 < own.high
    same = paired_difference(0.8, 0.8, draws_a, draws_a, calibrations=(calibrations[0], calibrations[0]))
    assert same.value == 0 and same.p_value == 1.0 and same.low == same.high == 0


def test_calibrations_of_different_subsets_are_refused():
    one = calibration_of(np.zeros(10), 1.0, np.zeros(5))
    with pytest.raises(BenchsuiteError, match="cannot be paired"):
        difference_draws(np.zeros(10), np.zeros(10), (one, calibration_of(np.zeros(10), 1.0, np.zeros(6))))


def test_too_few_concepts_to_recompute_the_held_out_statistic_leave_the_draws_as_drawn():
    # k = 12: a calibration half has 6 concepts, its halves 3, fewer than a 2 vs 2 test needs
    layers, text = related(12, 6)
    found = headline(layers, text, seed=0, n_permutations=0, n_bootstrap=50, n_splits=3, n_calibration=5)
    assert found.calibration is not None and found.calibration.subsamples.size == 0
    assert found.spread_factor == 1.0 and np.array_equal(found.draws, found.calibration.concept_draws, equal_nan=True)
    assert found.interval[0] <= found.heldout <= found.interval[1]
