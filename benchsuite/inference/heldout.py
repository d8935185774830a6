"""The leaderboard's headline 2 vs 2 score: each pair's outcome per layer, held-out layer selection on
random halves of the concepts, a concept (and image-group) bootstrap with its spread calibrated on
complementary halves of the concepts (the held-out choice recomputed on each), the percentile interval,
and a family-wise p-value of the best layer over all layers.

Pure functions on k×k matrices and numbers; they know nothing of models or files. Every 2 vs 2
outcome comes from the metrics' kernel (``pair_margins``) and every relabelling from
``concept_permutations``, so the same seed gives the same relabellings as the per-layer tests.
Comparing models on these headlines (paired differences, FDR, tiers) is ``comparisons``'.
docs/methods.md explains the procedures and why.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from benchsuite.inference.pooled import score_layers
from benchsuite.metrics.backend import resolve_backend
from benchsuite.metrics.permutation import (
    default_batch_size,
    null_reaching,
    permutation_p_value,
)
from benchsuite.metrics.statistics import STATISTICS
from benchsuite.metrics.two_vs_two import TIE_TOLERANCE, SharedText
from benchsuite.metrics.validation import check_similarity_pair

CONFIDENCE = 0.95
"""Level of every interval."""

SIGNIFICANCE = 0.05
"""Level of every test: family-wise p, FDR q and the paired tests behind the tiers."""

N_BOOTSTRAP = 1000
"""Bootstrap draws of concepts (and image groups) behind each interval and paired comparison."""

N_SPLITS = 10
"""Random halvings of the concepts for held-out layer selection (each used in both directions)."""

STOP_AFTER = 20
"""The family-wise null stops once this many relabellings reach the observed best (Besag & Clifford 1991)."""

N_CALIBRATION = 100
"""Random halvings of the concepts on whose halves the held-out choice is recomputed, to calibrate the bootstrap's
spread (``calibration_scores``, ``subsampled_variances``); every model on the same concepts gets the same ones."""

MAX_EVALUATIONS = 4000
"""Layer relabellings (about 3 s on one core at k=166) beyond which a family-wise p already bounded below
SIGNIFICANCE by the per-layer tests' counts is reported as that bound instead of being computed."""

BOOTSTRAP_STREAM, SPLIT_STREAM, CALIBRATION_STREAM, SPLIT_WEIGHT_STREAM = 1, 2, 3, 4
"""Random streams derived from the suite's seed, apart from the permutation stream."""


@dataclass(frozen=True)
class Headline:
    """One (vision model, text model, design)'s 2 vs 2 headline and what stands behind it."""

    heldout: float
    interval: tuple[float, float]
    draws: np.ndarray
    layer_values: np.ndarray
    best_layer: int
    selected: np.ndarray
    spread_factor: float
    familywise_p: float | None
    permutations_used: int | None
    calibration: Calibration | None = None


def pair_outcomes(layers: Sequence[Sequence[np.ndarray]], text_matrix: np.ndarray, device: str = "cpu") -> np.ndarray:
    """(layers, groups, k, k) float32, 1 where pair (i, j) passes the 2 vs 2 test in that layer's group.

    Both triangles are filled and the diagonal is 0, so a matrix's sum over k(k − 1) is the accuracy
    ``two_vs_two`` reports (ties and NaN margins fail). ``layers[l][g]`` is layer l's matrix in group g.
    """
    k = np.shape(text_matrix)[0]
    matrices = [check_similarity_pair(matrix, text_matrix)[0] for groups in layers for matrix in groups]
    margins = SharedText(matrices, check_similarity_pair(text_matrix, text_matrix)[0], resolve_backend(device))
    outcomes = np.zeros((len(matrices), k, k), dtype=np.float32)
    with np.errstate(invalid="ignore"):
        for index, margin in enumerate(margins.margins()):
            outcomes[index] = margin > TIE_TOLERANCE
    return outcomes.reshape(len(layers), -1, k, k)


def bootstrap_weights(k: int, n_groups: int, n_bootstrap: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """How often each concept (n_bootstrap × k) and each image group (n_bootstrap × groups) is drawn.

    Depends only on (k, groups, n_bootstrap, seed), so every model scored on the same concepts and
    groups gets the same draws, and two models' draws can be paired.
    """
    rng = np.random.default_rng((seed, BOOTSTRAP_STREAM))
    concepts = rng.multinomial(k, np.full(k, 1 / k), size=n_bootstrap).astype(np.float32)
    groups = rng.multinomial(n_groups, np.full(n_groups, 1 / n_groups), size=n_bootstrap).astype(np.float32)
    return concepts, groups


def split_weights(n_splits: int, n_bootstrap: int, seed: int) -> np.ndarray:
    """How often each halving counts in each draw (n_bootstrap × n_splits), from the seed alone."""
    rng = np.random.default_rng((seed, SPLIT_WEIGHT_STREAM))
    return rng.multinomial(n_splits, np.full(n_splits, 1 / n_splits), size=n_bootstrap).astype(float)


def concept_halves(k: int, n_splits: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n_splits`` random halvings of ``range(k)`` (sorted index arrays), from the seed alone."""
    rng = np.random.default_rng((seed, SPLIT_STREAM))
    halves = []
    for _ in range(n_splits):
        order = rng.permutation(k)
        halves.append((np.sort(order[: k // 2]), np.sort(order[k // 2:])))
    return halves


def weighted_accuracies(outcomes: np.ndarray, concept_weights: np.ndarray, group_weights: np.ndarray) -> np.ndarray:
    """(draws, layers) 2 vs 2 accuracy of each layer, mean over groups, for each weighting of concepts.

    A concept drawn w times stands for w copies: pair (i, j) counts w_i·w_j times, a pair of two
    copies of one concept is not tested, and every pair keeps the outcome it has against the
    original concepts (copies never join the comparison columns).
    """
    n_layers, n_groups, k, _ = outcomes.shape
    w = np.ascontiguousarray(concept_weights, dtype=np.float32)
    pairs = w.sum(axis=1, dtype=np.float64) ** 2 - (w.astype(np.float64) ** 2).sum(axis=1)
    passed = np.zeros((w.shape[0], n_layers))
    for group in range(n_groups):
        stacked = outcomes[:, group].transpose(1, 0, 2).reshape(k, n_layers * k)
        row_sums = (w @ stacked).reshape(-1, n_layers, k)
        passed += group_weights[:, group, None] * np.einsum("blk,bk->bl", row_sums, w, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return passed / (n_groups * pairs[:, None])


def restricted(layers: Sequence[Sequence[np.ndarray]], concepts: np.ndarray) -> list[list[np.ndarray]]:
    """Every layer's group matrices over a subset of the concepts."""
    cut = np.ix_(concepts, concepts)
    return [[matrix[cut] for matrix in groups] for groups in layers]


def heldout_accuracy(layers: Sequence[Sequence[np.ndarray]], text_matrix: np.ndarray, concept_weights: np.ndarray,
                     group_weights: np.ndarray, halves: Sequence[tuple[np.ndarray, np.ndarray]],
                     device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Per draw and halving (draws × halvings), the mean over both directions of the accuracy, on one
    half, of the layer that is best on the other; and per draw and layer, the share of choices it won.

    Each half is scored on its own (its comparison columns are its own concepts), so nothing that
    chose the layer is part of its score. The held-out score is the mean over halvings.
    """
    n_draws, n_layers = concept_weights.shape[0], len(layers)
    scores = np.zeros((n_draws, len(halves)))
    chosen = np.zeros((n_draws, n_layers))
    rows = np.arange(n_draws)
    for split, (first, second) in enumerate(halves):
        on_first, on_second = (
            weighted_accuracies(pair_outcomes(restricted(layers, half), text_matrix[np.ix_(half, half)], device),
                                concept_weights[:, half], group_weights)
            for half in (first, second)
        )
        for select, score in ((on_first, on_second), (on_second, on_first)):
            layer = np.nan_to_num(select, nan=-np.inf).argmax(axis=1)
            scores[:, split] += score[rows, layer] / 2
            chosen[rows, layer] += 1
    return scores, chosen / (2 * len(halves))


def calibration_halvings(k: int, n_halvings: int, seed: int) -> np.ndarray:
    """(n_halvings × k) 0/1 weights of random halves of ``range(k)`` (k // 2 concepts; the other half is the rest),
    from the seed alone: every model scored on the same concepts gets the same halvings, so their scores pair."""
    rng = np.random.default_rng((seed, CALIBRATION_STREAM))
    halves = np.zeros((n_halvings, k), dtype=np.float32)
    for row in halves:
        row[rng.permutation(k)[: k // 2]] = 1
    return halves


@dataclass(frozen=True)
class Calibration:
    """A headline's held-out scores on the calibration halvings, ``scores`` (2 × halvings: each halving's half and
    its other half; ``calibration_halvings``): on each half, the layer chosen on the other half, recomputed on the
    half alone (whose concepts are also its comparison columns). ``factor`` widened the headline's draws to the
    spread these scores give the statistic on all k concepts (``subsampled_variances``)."""

    scores: np.ndarray
    factor: float


def subsampled_variances(scores: np.ndarray) -> np.ndarray:
    """The variance of a score on all k concepts from its scores on complementary halves (… × 2 × halvings).

    A half's score moves with each of its concepts' own effects (first order: they move the other half's score
    the other way, since the two halves share the k concepts) and with what is the half's alone: its pairs'
    outcomes, the noise its set of comparison columns puts in every margin (second order, disjoint between the
    halves). Drawn without replacement, halves of k spread by a(1/m − 1/k) + b(1/m² − 1/k²) = a/k + 3b/k² with
    a/k = −cov(half, other half), while the score on all k spreads by a/k + b/k²: so (var + 2·(−cov)) / 3, the
    covariance clipped at 0."""
    mean = np.nanmean if np.isnan(scores).any() else np.mean  # the same sums; nanmean's masks where none is NaN
    centred = scores - mean(scores, axis=-1, keepdims=True)
    shared = np.maximum(-mean(centred[..., 0, :] * centred[..., 1, :], axis=-1), 0.0)
    return (mean(centred ** 2, axis=(-2, -1)) + 2 * shared) / 3


def spread_factors(scores: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """How much wider draws (… × draws) must spread to match ``subsampled_variances`` of ``scores`` (… × 2 ×
    halvings); 1 where there are no halvings or either does not spread (a variance of at most
    ``NO_SPREAD``)."""
    target, spread = subsampled_variances(scores), row_variances(draws)
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.sqrt(target / spread)
    return np.where((spread > NO_SPREAD) & (target > NO_SPREAD) & np.isfinite(factor), factor, 1.0)


NO_SPREAD = 1e-12
"""A variance of scores in [0, 1] this small is rounding (records keep 6 decimals): no spread to calibrate by."""


def calibration_scores(layers: Sequence[Sequence[np.ndarray]], text_matrix: np.ndarray, outcomes: np.ndarray, *,
                       seed: int, n_halvings: int = N_CALIBRATION, device: str = "cpu") -> np.ndarray:
    """The held-out statistic's scores (2 × halvings) on ``calibration_halvings``: on each half, the layer whose
    pairs score best on the other half (``outcomes``: ``pair_outcomes`` on all k), recomputed on the half alone.
    The pair bootstrap keeps every pair's outcome against the original concepts, so it misses how each concept
    moves the score as a comparison column; these scores carry it."""
    n_layers, n_groups, k, _ = outcomes.shape
    first = calibration_halvings(k, n_halvings, seed)
    halves = np.concatenate([first, 1 - first])
    groups = np.ones((len(halves), n_groups), dtype=np.float32)
    chosen = np.nan_to_num(weighted_accuracies(outcomes, np.concatenate([1 - first, first]), groups),
                           nan=-np.inf).argmax(axis=1)
    scores = [pair_outcomes(restricted([layers[layer]], half), text_matrix[np.ix_(half, half)], device)
              .mean(axis=1).sum() / (len(half) * (len(half) - 1))
              for layer, half in zip(chosen, (np.flatnonzero(row) for row in halves), strict=True)]
    return np.array(scores).reshape(2, n_halvings)


def row_medians(draws: np.ndarray) -> np.ndarray:
    """``np.nanmedian`` over the last axis (kept), the same numbers: the rows without a NaN in one vectorised
    ``np.median`` (numpy's ``nanmedian`` takes a Python loop over the rows of long draws), the others row by row."""
    draws = np.asarray(draws, dtype=float)
    if draws.ndim == 0:
        return np.asarray(draws, dtype=float)
    missing = np.isnan(draws).any(axis=-1)
    if not missing.any():
        return np.median(draws, axis=-1, keepdims=True)
    middle = np.empty((*draws.shape[:-1], 1))
    middle[~missing] = np.median(draws[~missing], axis=-1, keepdims=True)
    middle[missing] = np.nanmedian(draws[missing], axis=-1, keepdims=True)
    return middle


def row_variances(draws: np.ndarray) -> np.ndarray:
    """``np.nanvar`` over the last axis, the same numbers: ``np.var`` (the same sums, without ``nanvar``'s copies
    and masks) for rows without a NaN, ``nanvar`` for the others."""
    draws = np.asarray(draws, dtype=float)
    missing = np.isnan(draws).any(axis=-1)
    if not missing.any():
        return np.var(draws, axis=-1)
    found = np.empty(draws.shape[:-1])
    found[~missing] = np.var(draws[~missing], axis=-1)
    found[missing] = np.nanvar(draws[missing], axis=-1)
    return found


def widened(draws: np.ndarray, factor: float | np.ndarray) -> np.ndarray:
    """Draws spread ``factor`` times as far from their median (the last axis: each row by its own factor when
    ``draws`` is a matrix and ``factor`` a vector)."""
    middle = row_medians(draws)
    spread = np.subtract(draws, middle)
    spread *= np.asarray(factor, dtype=float)[..., None]
    spread += middle  # middle + factor·(draws − middle): the same sum and product (IEEE's are commutative), in place
    return spread


def unwidened(draws: np.ndarray, factor: float | np.ndarray) -> np.ndarray:
    """The draws ``widened`` by ``factor`` came from (the median stays where it is)."""
    return widened(draws, 1 / np.asarray(factor, dtype=float))


def percentile_interval(estimate: float, draws: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The bootstrap percentile interval moved so that the draws' median sits on the estimate.

    Held-out selection on a resample (fewer distinct concepts) is noisier than on the sample, so the
    draws sit slightly below the estimate; centring keeps their spread and covers the estimate.
    """
    draws = draws[np.isfinite(draws)]
    if not np.isfinite(estimate) or draws.size == 0:
        return (float("nan"), float("nan"))
    tail = (1 - confidence) / 2
    low, middle, high = np.quantile(draws, [tail, 0.5, 1 - tail])
    return (float(estimate + low - middle), float(estimate + high - middle))


def familywise_p_value(layers: Sequence[Sequence[np.ndarray]], text_matrix: np.ndarray, layer_values: np.ndarray,
                       *, n_permutations: int, seed: int, layer_p_values: Sequence[float | None] | None = None,
                       layer_nulls: Sequence[np.ndarray] | None = None, stop_after: int = STOP_AFTER,
                       device: str = "cpu") -> tuple[float, int]:
    """p of the best layer against the null of the maximum over layers, and the relabellings it used.

    Every layer sees the same relabellings (``concept_permutations(k, n_permutations, seed)``), each
    layer's value the mean over groups, as in the per-layer tests; ``layer_nulls`` are those tests'
    nulls (each layer's, draw by draw; computed here when not given). The draws are read in the
    batches a permutation test uses. With the per-layer p-values of those tests, a layer is left out
    once every relabelling that reached its own value (which is at most the best) has been seen: none
    of the rest can reach the best. The null stops after ``stop_after`` relabellings reach the best
    (then p = reached / used, Besag & Clifford 1991). Where those counts already bound p below
    SIGNIFICANCE (p ≤ (1 + their sum) / (n + 1)) and the null would take more than MAX_EVALUATIONS
    layer relabellings, that bound is returned with 0 used.
    """
    best = int(np.nanargmax(layer_values))
    left = reaching_left(layer_p_values, len(layers), n_permutations)
    known = familywise_without_null(layers, left, best, n_permutations, layer_p_values)
    if known is not None:
        return known
    if layer_nulls is None:
        layer_nulls = layer_nulls_of(layers, text_matrix, n_permutations, seed, device)
    batch = default_batch_size(np.shape(text_matrix)[0], n_permutations, device)
    return maximum_null_p_value(layer_values, layer_nulls, left, best, n_permutations, batch, stop_after)


def reaching_left(layer_p_values: Sequence[float | None] | None, n_layers: int,
                  n_permutations: int) -> dict[int, float]:
    """Per layer, how many relabellings that reach its own value its per-layer test saw (inf: unknown), so
    that ``familywise_p_value`` can leave a layer out once it has seen them all."""
    left: dict[int, float] = {}
    for i in range(n_layers):
        p = None if layer_p_values is None else layer_p_values[i]
        left[i] = np.inf if p is None else round(p * (n_permutations + 1)) - 1
    return left


def familywise_without_null(layers: Sequence[Sequence[np.ndarray]], left: dict[int, float], best: int,
                            n_permutations: int,
                            layer_p_values: Sequence[float | None] | None) -> tuple[float, int] | None:
    """The family-wise (p, relabellings used) where the per-layer tests' counts already settle it, else None.

    No layer reached by any relabelling: the smallest p. Only the best layer ever reached: its own p. A bound
    below SIGNIFICANCE whose null would cost more than MAX_EVALUATIONS layer relabellings: the bound, 0 used.
    """
    if all(count <= 0 for count in left.values()):
        return 1 / (n_permutations + 1), n_permutations
    best_p = None if layer_p_values is None else layer_p_values[best]
    if best_p is not None and all(count <= 0 for i, count in left.items() if i != best):
        return float(best_p), n_permutations
    bound = (1 + sum(left.values())) / (n_permutations + 1)
    work = sum(len(layers[i]) for i, count in left.items() if count > 0) * n_permutations
    if bound < SIGNIFICANCE and work > MAX_EVALUATIONS:
        return bound, 0
    return None


def layer_nulls_of(layers: Sequence[Sequence[np.ndarray]], text_matrix: np.ndarray, n_permutations: int, seed: int,
                   device: str) -> list[np.ndarray]:
    """Each layer's 2 vs 2 null, as its per-layer test draws it (empty where it has no draws)."""
    scores = score_layers(layers, text_matrix, metric="two_vs_two", statistic=STATISTICS["two_vs_two"],
                          n_permutations=n_permutations, seed=seed, device=device)
    return [np.empty(0) if score.null is None else score.null for score in scores]  # None: no draws


def maximum_null_p_value(layer_values: np.ndarray, layer_nulls: Sequence[np.ndarray], left: dict[int, float],
                         best: int, n_permutations: int, batch: int, stop_after: int) -> tuple[float, int]:
    """p of the best layer's value against the maximum over layers of their nulls, read batch by batch.

    A layer drops out once ``left`` (decremented as its reaching relabellings are seen) hits 0; the null
    stops early once ``stop_after`` relabellings have reached the best.
    """
    observed = float(layer_values[best])
    active = [i for i, count in left.items() if count > 0]
    maxima: list[np.ndarray] = []
    used = 0
    for start in range(0, n_permutations, batch):
        stop = min(start + batch, n_permutations)
        maximum = np.full(stop - start, -np.inf)
        for i in [i for i in active if left[i] > 0]:
            values = np.asarray(layer_nulls[i][start:stop], dtype=float)
            left[i] -= null_reaching(float(layer_values[i]), values)
            maximum = np.maximum(maximum, values)
        maxima.append(maximum)
        used = stop
        reached = null_reaching(observed, np.concatenate(maxima))
        if reached >= stop_after and used < n_permutations:
            return reached / used, used
    return permutation_p_value(observed, np.concatenate(maxima)), used


def headline(layers: Sequence[Sequence[np.ndarray]], text_matrix: np.ndarray, *, seed: int, n_permutations: int,
             layer_p_values: Sequence[float | None] | None = None,
             layer_nulls: Sequence[np.ndarray] | None = None, n_bootstrap: int = N_BOOTSTRAP,
             n_splits: int = N_SPLITS, device: str = "cpu") -> Headline:
    """The held-out 2 vs 2 score with its bootstrap interval and draws, and the in-sample best layer
    with its family-wise p (None when ``n_permutations`` is 0).

    The draws reweight concepts, groups and halvings and are widened to the spread that the held-out choice's
    scores on complementary halves give the statistic (``Calibration``), which paired differences reuse."""
    outcomes = pair_outcomes(layers, text_matrix, device)
    n_layers, n_groups, k, _ = outcomes.shape
    concept_weights, group_weights = bootstrap_weights(k, n_groups, n_bootstrap, seed)
    concept_weights = np.vstack([np.ones((1, k), dtype=np.float32), concept_weights])
    group_weights = np.vstack([np.ones((1, n_groups), dtype=np.float32), group_weights])
    per_split, chosen = heldout_accuracy(layers, text_matrix, concept_weights, group_weights,
                                         concept_halves(k, n_splits, seed), device)
    scores = per_split.mean(axis=1)
    halvings = split_weights(n_splits, n_bootstrap, seed)
    resplit = (per_split[1:] * halvings).sum(axis=1) / n_splits
    layer_values = weighted_accuracies(outcomes, concept_weights[:1], group_weights[:1])[0]
    best = int(np.nanargmax(layer_values))
    halves = calibration_scores(layers, text_matrix, outcomes, seed=seed, device=device)
    calibration = Calibration(scores=halves, factor=float(spread_factors(halves, resplit)))
    draws = widened(resplit, calibration.factor)
    familywise, used = (None, None)
    if n_permutations > 0:
        familywise, used = familywise_p_value(layers, text_matrix, layer_values, n_permutations=n_permutations,
                                              seed=seed, layer_p_values=layer_p_values,
                                              layer_nulls=layer_nulls, device=device)
    return Headline(
        heldout=float(scores[0]),
        interval=percentile_interval(float(scores[0]), draws),
        draws=draws,
        layer_values=layer_values,
        best_layer=best,
        spread_factor=calibration.factor,
        selected=chosen[0],
        familywise_p=familywise,
        permutations_used=used,
        calibration=calibration,
    )


def resampling_key(concept_ids: Sequence[str], n_groups: int, n_bootstrap: int, seed: int) -> str:
    """Names the bootstrap draws: two headlines with the same key were drawn alike and can be paired."""
    text = "\n".join([*concept_ids, f"groups={n_groups}", f"draws={n_bootstrap}", f"seed={seed}"])
    return hashlib.sha256(text.encode()).hexdigest()[:16]
