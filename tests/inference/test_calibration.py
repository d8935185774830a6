"""The calibration of the held-out draws and of paired differences on complementary halves of the concepts."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from benchsuite.inference.comparisons import calibrated_differences, difference_draws, paired_difference
from benchsuite.inference.heldout import (
    Calibration,
    calibration_halvings,
    calibration_scores,
    headline,
    pair_outcomes,
    row_medians,
    row_variances,
    spread_factors,
    subsampled_variances,
    unwidened,
    widened,
)
from benchsuite.metrics.similarity import correlation_matrix

scores = arrays(np.float64, st.tuples(st.just(2), st.integers(3, 30)), elements=st.floats(0, 1))
draws = arrays(np.float64, st.integers(5, 60), elements=st.floats(0, 1))


def additive_halvings(values: np.ndarray, halvings: np.ndarray) -> np.ndarray:
    """Each half's mean of per-concept values (a score moved by each concept's own effect alone)."""
    return np.stack([halvings @ values / halvings.sum(axis=1), (1 - halvings) @ values / (1 - halvings).sum(axis=1)])


@given(arrays(np.float64, st.sampled_from([8, 12, 20]), elements=st.floats(0, 1)), st.integers(0, 100))
def test_a_score_of_each_concept_s_own_effects_keeps_the_halves_spread(values, seed):
    """First order alone: a half and its other half move in opposite directions, the estimate is their spread,
    which for halves of k drawn without replacement is the spread of a mean of k (times k / (k − 1))."""
    halves = additive_halvings(values, calibration_halvings(len(values), 40, seed))
    assert subsampled_variances(halves) == pytest.approx(np.mean((halves - halves.mean(axis=1, keepdims=True)) ** 2),
                                                         rel=1e-9, abs=1e-15)


def test_first_order_halves_give_the_variance_of_the_mean_of_k():
    values = np.random.default_rng(0).normal(size=40)
    halves = additive_halvings(values, calibration_halvings(40, 4000, 1))
    assert subsampled_variances(halves) == pytest.approx(values.var(ddof=1) / 40, rel=0.05)


def test_noise_of_a_half_alone_counts_a_third():
    """Second order alone (independent between disjoint halves): halves of k/2 spread 3 times as much as k."""
    noise = np.random.default_rng(2).normal(0, 0.1, size=(2, 20000))
    assert subsampled_variances(noise) == pytest.approx(0.01 / 3, rel=0.03)


@given(scores, st.floats(-1, 1), st.floats(0.1, 10))
def test_subsampled_variance_is_a_variance(halves, shift, scale):
    found = subsampled_variances(halves)
    assert found >= 0
    assert subsampled_variances(shift + scale * halves) == pytest.approx(scale ** 2 * found, rel=1e-6, abs=1e-12)


@given(scores, draws)
def test_widened_draws_spread_as_the_subsampled_variance(halves, sample):
    factor = spread_factors(halves, sample)
    assert factor > 0
    if np.var(sample) > 1e-12 and subsampled_variances(halves) > 1e-12:  # else factor 1
        assert np.var(widened(sample, factor)) == pytest.approx(subsampled_variances(halves), rel=1e-6)
        assert np.median(widened(sample, factor)) == pytest.approx(np.median(sample), abs=1e-12)
    assert np.allclose(unwidened(widened(sample, factor), factor), sample, atol=1e-12)


@settings(deadline=None)
@given(st.lists(st.tuples(scores, st.floats(0.5, 2)), min_size=1, max_size=5), draws, st.data())
def test_rows_of_calibrated_differences_are_the_pairs_one_by_one(models, sample, data):
    """The batched differences (tiers) are the single ones (paired comparisons) exactly, and a − b = −(b − a)."""
    shape = models[0][0].shape
    calibrations = [Calibration(scores=np.resize(s, shape), factor=f) for s, f in models]
    rows = np.stack([widened(data.draw(arrays(np.float64, sample.shape, elements=st.floats(0, 1))), c.factor)
                     for c in calibrations])
    leader = Calibration(scores=np.resize(models[0][0], shape), factor=1.3)
    batched = calibrated_differences(sample, rows, leader, calibrations)
    for row, calibration, found in zip(rows, calibrations, batched, strict=True):
        single = difference_draws(sample, row, (leader, calibration))
        assert np.array_equal(found, single)
        assert np.allclose(difference_draws(row, sample, (calibration, leader)), -single, atol=1e-12)


def test_a_model_against_itself_differs_by_nothing():
    rng = np.random.default_rng(4)
    own = Calibration(scores=rng.uniform(0.6, 0.8, size=(2, 50)), factor=1.4)
    sample = widened(rng.normal(0.7, 0.02, size=500), own.factor)
    assert not difference_draws(sample, sample, (own, own)).any()
    assert paired_difference(0.7, 0.7, sample, sample, calibrations=(own, own)).p_value == 1.0


def test_a_difference_is_widened_by_its_own_spread_not_by_the_models():
    """Two models whose missed variation is shared: each is widened a lot, their difference hardly at all."""
    rng = np.random.default_rng(5)
    shared, own_a, own_b = (rng.normal(0, sd, size=(2, 200)) for sd in (0.03, 0.002, 0.002))
    shared[1] = -shared[0]  # a concept's own effect moves the other half the other way
    a, b = Calibration(scores=0.8 + shared + own_a, factor=2.0), Calibration(scores=0.75 + shared + own_b, factor=2.0)
    concepts = rng.normal(0, 0.01, size=1000)
    draws_a = widened(0.8 + concepts + rng.normal(0, 0.002, 1000), a.factor)
    draws_b = widened(0.75 + concepts + rng.normal(0, 0.002, 1000), b.factor)
    marginal = np.std(draws_a - draws_b)
    calibrated = np.std(difference_draws(draws_a, draws_b, (a, b)))
    assert calibrated == pytest.approx(np.sqrt(subsampled_variances(a.scores - b.scores)), rel=1e-6)
    assert calibrated < marginal / 2


def test_calibration_halvings_and_scores_pair_across_models():
    rng = np.random.default_rng(6)
    latent = rng.normal(size=(24, 5))
    text = correlation_matrix(latent @ rng.normal(size=(5, 20)) + rng.normal(size=(24, 20)))
    layers = [[correlation_matrix(latent @ rng.normal(size=(5, 30)) + s * rng.normal(size=(24, 30)))] for s in (1, 3)]
    halvings = calibration_halvings(24, 7, seed=3)
    assert np.array_equal(halvings, calibration_halvings(24, 7, seed=3)) and (halvings.sum(axis=1) == 12).all()
    found = calibration_scores(layers, text, pair_outcomes(layers, text), seed=3, n_halvings=7)
    assert found.shape == (2, 7) and ((0 <= found) & (found <= 1)).all()
    result = headline(layers, text, seed=3, n_permutations=0, n_bootstrap=100, n_splits=3)
    assert result.calibration is not None and result.calibration.scores.shape == (2, 100)
    assert result.spread_factor == result.calibration.factor > 0


@given(st.integers(1, 4), st.integers(1, 700), st.integers(0, 2**32 - 1), st.floats(0, 1))
@settings(max_examples=60, deadline=None)
def test_row_medians_and_variances_are_nanmedian_and_nanvar_exactly(rows, width, seed, nan_share):
    rng = np.random.default_rng(seed)
    draws = rng.normal(size=(rows, width)).round(rng.integers(0, 4))  # ties too
    draws[rng.random(draws.shape) < nan_share * 0.2] = np.nan
    draws[rng.random(rows) < nan_share * 0.3] = np.nan  # whole rows missing
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.nanmedian(draws, axis=-1, keepdims=True)
        got = row_medians(draws)
        single = row_medians(draws[0])
        variances, expected_variances = row_variances(draws), np.nanvar(draws, axis=-1)
        single_variance = row_variances(draws[0])
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(single, expected[0])
    np.testing.assert_array_equal(variances, expected_variances)
    np.testing.assert_array_equal(single_variance, expected_variances[0])


@given(st.integers(1, 30), st.integers(1, 120), st.integers(0, 2**32 - 1), st.booleans())
@settings(max_examples=60, deadline=None)
def test_subsampled_variances_are_the_nan_aware_sums_exactly(rows, halvings, seed, with_nan):
    rng = np.random.default_rng(seed)
    scores = rng.normal(rng.uniform(0.5, 0.9), rng.uniform(1e-4, 0.1), size=(rows, 2, halvings))
    if with_nan:
        scores[0, 0, 0] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        centred = scores - np.nanmean(scores, axis=-1, keepdims=True)
        shared = np.maximum(-np.nanmean(centred[..., 0, :] * centred[..., 1, :], axis=-1), 0.0)
        expected = (np.nanmean(centred ** 2, axis=(-2, -1)) + 2 * shared) / 3
        np.testing.assert_array_equal(subsampled_variances(scores), expected)
