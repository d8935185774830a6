"""The paper's 1 vs 2 test for misclassified images, with a sign-flip permutation test.

For each misclassified image: its layer representation's correlations with the
r correctly classified reference images (one row), and the word-space
correlations of its true class and of its predicted class with the reference
images' classes (two rows). The image passes iff its row correlates more with
the true-class row than with the predicted-class row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from benchsuite.metrics.backend import resolve_backend
from benchsuite.metrics.permutation import permutation_p_value
from benchsuite.metrics.similarity import centred_rows
from benchsuite.metrics.two_vs_two import TIE_TOLERANCE
from benchsuite.metrics.validation import check_permutation_count, check_seed


@dataclass(frozen=True)
class OneVsTwoResult:
    """Per-image outcome (margin = r(true) - r(predicted)), accuracy, and its sign-flip null."""

    passed: np.ndarray
    margin: np.ndarray
    accuracy: float
    p_value: float
    null: np.ndarray


def _check_rows(image_rows: ArrayLike, true_rows: ArrayLike, predicted_rows: ArrayLike) -> list[np.ndarray]:
    rows = [np.asarray(r, dtype=np.float64) for r in (image_rows, true_rows, predicted_rows)]
    names = ("image_rows", "true_rows", "predicted_rows")
    for name, r in zip(names, rows, strict=True):
        if r.ndim != 2 or r.shape[0] < 1 or r.shape[1] < 3:
            raise ValueError(f"{name} must be m × r with m ≥ 1 images and r ≥ 3 reference images, got {r.shape}")
        if not np.isfinite(r).all():
            raise ValueError(f"{name} has non-finite entries (row {np.argwhere(~np.isfinite(r))[0][0]}); "
                             "drop those images or reference images")
    if not rows[0].shape == rows[1].shape == rows[2].shape:
        raise ValueError(f"image_rows, true_rows and predicted_rows must share one shape, got "
                         f"{rows[0].shape}, {rows[1].shape}, {rows[2].shape}")
    return rows


def _row_pearson(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of X with the same row of Y; NaN where either is exactly constant."""
    (Xc, constant_x), (Yc, constant_y) = centred_rows(X), centred_rows(Y)
    norms = np.linalg.norm(Xc, axis=1) * np.linalg.norm(Yc, axis=1)
    constant = constant_x | constant_y
    return np.where(constant, np.nan, (Xc * Yc).sum(axis=1) / np.where(constant, 1.0, norms))


def one_vs_two(
    image_rows: ArrayLike,
    true_rows: ArrayLike,
    predicted_rows: ArrayLike,
    *,
    n_permutations: int = 1000,
    seed: int = 0,
    device: str = "cpu",
) -> OneVsTwoResult:
    """The 1 vs 2 test over m misclassified images (each input m × r).

    An image passes iff Pearson(image row, true row) > Pearson(image row,
    predicted row), strictly; a NaN (constant row) fails. Null hypothesis: the
    image's representation is no closer to its true class than to the predicted
    one, so the two labels are exchangeable; each permutation swaps them for a
    random half of the images (a sign flip of each margin), and
    p = (1 + #null accuracy ≥ observed) / (1 + n_permutations); with ``n_permutations=0``, no null and p NaN.
    """
    check_permutation_count(n_permutations, allow_zero=True)
    check_seed(seed)
    image, true, predicted = _check_rows(image_rows, true_rows, predicted_rows)
    with np.errstate(invalid="ignore"):
        margin = _row_pearson(image, true) - _row_pearson(image, predicted)
        passed = margin > TIE_TOLERANCE
    backend = resolve_backend(device)
    flips = backend.asarray(np.random.default_rng(seed).random((n_permutations, margin.size)) < 0.5)
    signed = backend.asarray(np.nan_to_num(margin, nan=0.0))[None, :]
    flipped = backend.xp.where(flips, -signed, signed)
    null = backend.to_numpy(backend.float64(flipped > TIE_TOLERANCE).mean(axis=-1))
    accuracy = float(passed.mean())
    p_value = permutation_p_value(accuracy, null) if n_permutations else math.nan
    return OneVsTwoResult(passed, margin, accuracy, p_value, null)
