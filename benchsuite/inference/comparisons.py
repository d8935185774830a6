"""Comparing models on their held-out headlines: paired differences on shared bootstrap draws,
Benjamini-Hochberg FDR over a model's layers, and significance tiers.

Pure functions on numbers. The draws come from ``heldout.headline``: two headlines with the same
``resampling_key`` were drawn alike and can be paired. The level the comparisons are read at is
``heldout.SIGNIFICANCE``, the level of every test (the family-wise p's too).
docs/methods.md ("Paired comparisons and tiers") explains the procedures and why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from benchsuite.inference.heldout import (
    CONFIDENCE,
    Calibration,
    percentile_interval,
    spread_factors,
    unwidened,
    widened,
)


@dataclass(frozen=True)
class Difference:
    """A paired difference a − b on the same bootstrap draws: value, interval and two-sided p."""

    value: float
    low: float
    high: float
    p_value: float


def difference_draws(draws_a: np.ndarray, draws_b: np.ndarray,
                     calibrations: tuple[Calibration, Calibration] | None = None) -> np.ndarray:
    """The paired bootstrap draws of a − b: without calibrations, the difference of the two models' draws; with
    both models' ``Calibration`` (on the same halvings), the difference of their draws before widening, widened
    to the spread of the difference of their calibration scores (``spread_factors``), not by each model's factor:
    much of what moves two models' scores is shared (the same concepts, the same text model), and widening each
    model's draws by its own factor overstates the spread of their difference."""
    a, b = np.asarray(draws_a, dtype=float), np.asarray(draws_b, dtype=float)
    if calibrations is None:
        return a - b
    first, second = calibrations
    return calibrated_differences(a, b[None], first, [second])[0]


def calibrated_differences(draws_a: np.ndarray, draws_b: np.ndarray, calibration_a: Calibration,
                           calibrations_b: Sequence[Calibration]) -> np.ndarray:
    """``difference_draws`` of a against each row of ``draws_b`` (rows × draws) at once, row i calibrated by
    ``calibrations_b[i]``: the same operations for one row as for many, so the same draws."""
    return widened_differences(unwidened(draws_a, calibration_a.factor),
                               unwidened(draws_b, np.array([c.factor for c in calibrations_b])),
                               calibration_a.scores, np.stack([c.scores for c in calibrations_b]))


def widened_differences(raw_a: np.ndarray, raw_b: np.ndarray, scores_a: np.ndarray,
                        scores_b: np.ndarray) -> np.ndarray:
    """``calibrated_differences`` from the models' draws before widening (``unwidened``: a's, and one row per b)
    and their calibration scores (a's 2 × halvings, b's rows × 2 × halvings), for callers that keep each model's
    unwidened draws: row by row the same operations, so the same draws."""
    return widened(*unwidened_differences(raw_a, raw_b, scores_a, scores_b))


def unwidened_differences(raw_a: np.ndarray, raw_b: np.ndarray, scores_a: np.ndarray,
                          scores_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``widened_differences`` before its widening: the differences of the unwidened draws (a row per b) and the
    factor each row is widened by (``spread_factors`` of the differences of the calibration scores)."""
    raw = raw_a - raw_b
    return raw, spread_factors(scores_a[None] - scores_b, raw)


def paired_difference(a: float, b: float, draws_a: np.ndarray, draws_b: np.ndarray,
                      confidence: float = CONFIDENCE,
                      calibrations: tuple[Calibration, Calibration] | None = None) -> Difference:
    """a − b with an interval and a two-sided bootstrap p from draws made on the same concepts and groups
    (``difference_draws``: calibrated on the difference itself when both models' calibrations are given)."""
    return difference_of(a - b, difference_draws(draws_a, draws_b, calibrations), confidence)


def difference_of(value: float, differences: np.ndarray, confidence: float = CONFIDENCE) -> Difference:
    """The ``Difference`` a − b = ``value`` whose paired draws are ``differences`` (``difference_draws``)."""
    low, high = percentile_interval(value, differences, confidence)
    centred = differences[np.isfinite(differences)]
    centred = centred - np.median(centred) + value
    below = (1 + np.count_nonzero(centred <= 0)) / (1 + centred.size)
    above = (1 + np.count_nonzero(centred >= 0)) / (1 + centred.size)
    return Difference(value=float(value), low=low, high=high, p_value=float(min(1.0, 2 * min(below, above))))


def benjamini_hochberg(p_values: Sequence[float | None]) -> list[float | None]:
    """Benjamini-Hochberg adjusted p-values (q): q < α rejects at false discovery rate α. None stays None."""
    present = [(p, i) for i, p in enumerate(p_values) if p is not None and np.isfinite(p)]
    adjusted: list[float | None] = [None] * len(p_values)
    running = 1.0
    for rank, (p, index) in reversed(list(enumerate(sorted(present), 1))):
        running = min(running, p * len(present) / rank)
        adjusted[index] = running
    return adjusted


def tiers(scores: Mapping[str, float], apart: Callable[[str, list[str]], list[bool]]) -> dict[str, int]:
    """Rank of each model: the best remaining model leads a tier, and every remaining model that is not distinct
    from it (``apart(leader, remaining)``: for each remaining model, whether it is) shares the leader's rank (its
    position in score order, 1-based)."""
    order = sorted(scores, key=lambda name: -scores[name])
    position = {name: rank for rank, name in enumerate(order, 1)}
    ranks: dict[str, int] = {}
    remaining = order
    while remaining:
        leader, others = remaining[0], remaining[1:]
        verdicts = apart(leader, others)
        ranks.update({m: position[leader] for m, distinct in zip([leader, *others], [False, *verdicts],
                                                                  strict=True) if not distinct})
        remaining = [m for m, distinct in zip(others, verdicts, strict=True) if distinct]
    return ranks
