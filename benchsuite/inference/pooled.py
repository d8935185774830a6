"""Scores pooled over image groups: a layer's mean of a metric over its groups with one permutation p-value for
that mean, and the 1 vs 2 test's accuracy pooled over groups' misclassified images.

Pure functions on k×k matrices: the runner hands in the per-group layer matrices and the text matrix; these
return values, per-group values and a p-value for the pooled value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchsuite.metrics import STATISTICS, one_vs_two
from benchsuite.metrics.permutation import permutation_p_value, permutation_tests
from benchsuite.metrics.similarity import correlation_matrix
from benchsuite.metrics.validation import check_permutation_count, check_seed


@dataclass(frozen=True)
class Score:
    """A metric's mean over groups, per-group values and p-value; ``error`` when the metric failed.

    ``null`` (kept in memory, never written) is the permutation null of the mean, draw by draw, which the
    held-out summary's family-wise p reuses instead of relabelling every layer again.
    """

    value: float
    groups: list[float]
    p_value: float | None
    error: str | None = None
    null: np.ndarray | None = field(default=None, repr=False, compare=False)

    @classmethod
    def failure(cls, error: str) -> Score:
        return cls(value=math.nan, groups=[], p_value=None, error=error)


def pooled_p_value(observed: float, null: np.ndarray, higher_is_better: bool = True) -> float | None:
    """The p-value of a pooled statistic by ``permutation_p_value``, the rule of ``permutation_test``; None when
    the observed value is NaN (it has no p-value, and never the most significant one)."""
    p_value = permutation_p_value(observed, null, higher_is_better)
    return None if math.isnan(p_value) else p_value


def checked(score: Score) -> Score:
    """``score``, or a failure when any of its numbers is NaN or infinite (NaN never reaches results.json)."""
    values = [score.value, *score.groups] + ([] if score.p_value is None else [score.p_value])
    if all(math.isfinite(v) for v in values):
        return score
    return Score.failure(f"returned a non-finite value ({score.value!r}, per group {score.groups!r}); "
                         "a metric must return a finite number")


def score_layers(
    layers: Sequence[Sequence[np.ndarray]],
    text_matrix: np.ndarray,
    *,
    metric: str,
    statistic: Callable[[np.ndarray, np.ndarray], float],
    n_permutations: int,
    seed: int,
    device: str = "cpu",
    higher_is_better: bool = True,
) -> list[Score]:
    """Each layer's mean of a metric over groups, with a permutation p-value for that mean (None with no
    permutations); ``layers[l][g]`` is layer l's matrix in group g.

    Each group of each layer is tested with the same seed, hence the same concept relabellings
    (``permutation_tests`` guarantees this); the i-th null draws of a layer's groups are
    averaged into the i-th null draw of its mean, and ``pooled_p_value`` applies the
    p-value rule of a single test, in the metric's direction.
    """
    check_permutation_count(n_permutations, allow_zero=True)
    check_seed(seed)
    if n_permutations == 0:
        scores = []
        for groups in layers:
            values = [float(statistic(m, text_matrix)) for m in groups]
            scores.append(Score(value=float(np.mean(values)), groups=values, p_value=None))
        return scores
    chosen = metric if metric in STATISTICS else statistic
    flat = [m for groups in layers for m in groups]
    results = iter(permutation_tests(flat, text_matrix, statistic=chosen, n_permutations=n_permutations, seed=seed,
                                     device=device, higher_is_better=higher_is_better))
    scores = []
    for groups in layers:
        tests = [next(results) for _ in groups]
        values = [float(r.observed) for r in tests]
        mean = float(np.mean(values))
        null = np.mean([np.asarray(r.null, dtype=float) for r in tests], axis=0)
        scores.append(Score(value=mean, groups=values, p_value=pooled_p_value(mean, null, higher_is_better),
                            null=null))
    return scores


def score_groups(layer_matrices: Sequence[np.ndarray], text_matrix: np.ndarray, **options: Any) -> Score:
    """``score_layers`` for one layer: the mean over its groups (``layer_matrices[g]``) and its p-value."""
    return score_layers([layer_matrices], text_matrix, **options)[0]


@dataclass(frozen=True)
class OneVsTwoInputs:
    """One group's 1 vs 2 inputs: misclassified rows against correctly classified references."""

    image_rows: np.ndarray
    true_rows: np.ndarray
    predicted_rows: np.ndarray


def one_vs_two_inputs(
    layer_matrix: np.ndarray,
    true_indices: np.ndarray,
    predictions: np.ndarray,
    class_vectors: dict[int, np.ndarray],
) -> OneVsTwoInputs | None:
    """Rows for the paper's 1 vs 2 test in one group, or None when it has no usable image.

    ``layer_matrix`` is the group's image×image correlation matrix; images whose
    prediction is right are the references. A misclassified image counts only
    when both its true and predicted classes have a vector (``class_vectors``,
    by ImageNet index). Images with constant activations (NaN rows) are left out, as in the 2 vs 2 test.
    """
    usable = ~np.isnan(layer_matrix).all(axis=1)  # an image with constant activations has no correlations
    correct = predictions == true_indices
    references = np.flatnonzero(correct & usable)
    wrong = [
        i for i in np.flatnonzero(~correct & usable)
        if int(true_indices[i]) in class_vectors and int(predictions[i]) in class_vectors
    ]
    if not wrong or len(references) < 3:
        return None
    reference_vectors = np.stack([class_vectors[int(true_indices[r])] for r in references])

    def word_rows(indices: np.ndarray) -> np.ndarray:
        vectors = np.stack([class_vectors[int(c)] for c in indices])
        both = correlation_matrix(np.concatenate([vectors, reference_vectors]))
        return both[: len(vectors), len(vectors):]

    wrong_rows = np.asarray(wrong)
    return OneVsTwoInputs(
        image_rows=layer_matrix[np.ix_(wrong_rows, references)],
        true_rows=word_rows(true_indices[wrong_rows]),
        predicted_rows=word_rows(predictions[wrong_rows]),
    )


def score_one_vs_two(
    per_group: Sequence[OneVsTwoInputs | None], *, n_permutations: int, seed: int, device: str = "cpu"
) -> tuple[Score, int] | None:
    """Accuracy pooled over groups' misclassified images, with a pooled permutation p-value.

    Groups are independent, so the i-th null draws of the groups, weighted by
    their image counts, form the i-th null draw of the pooled accuracy.
    """
    usable = [g for g in per_group if g is not None]
    if not usable:
        return None
    results = [
        one_vs_two(g.image_rows, g.true_rows, g.predicted_rows, n_permutations=n_permutations,
                   seed=seed + index, device=device)
        for index, g in enumerate(usable)
    ]
    counts = np.array([len(r.passed) for r in results], dtype=float)
    values = [float(r.accuracy) for r in results]
    pooled = float(np.dot(counts, values) / counts.sum())
    p_value = None
    if n_permutations > 0:
        weighted = [c * np.asarray(r.null, dtype=float) for c, r in zip(counts, results, strict=True)]
        null = np.sum(weighted, axis=0) / counts.sum()
        p_value = pooled_p_value(pooled, null)
    return Score(value=pooled, groups=values, p_value=p_value), int(counts.sum())
