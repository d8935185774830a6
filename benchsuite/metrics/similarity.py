"""Similarity matrices: Pearson correlation between the concepts' representations."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def centred_rows(X: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each row of the float64 ``X`` minus its mean (over ``mask``, 0 outside it), and which rows are exactly constant.

    A row is first shifted by its smallest entry, which is exact for entries within a
    factor two of it (Sterbenz), so the mean's rounding is relative to the row's spread,
    not its size: a row of 1 + 1e-9·noise keeps its correlations to about 1e-15.
    """
    if mask is None:
        shifted = X - X.min(axis=1, keepdims=True)
        return shifted - shifted.mean(axis=1, keepdims=True), shifted.max(axis=1) == 0.0
    shifted = np.where(mask, X - np.where(mask, X, np.inf).min(axis=1, keepdims=True), 0.0)
    mean = shifted.sum(axis=1, keepdims=True) / mask.sum(axis=1, keepdims=True)
    return np.where(mask, shifted - mean, 0.0), shifted.max(axis=1) == 0.0


def correlation_matrix(X: ArrayLike) -> np.ndarray:
    """Pearson correlation between the rows of ``X`` (k × d), computed in float64.

    An exactly constant row (e.g. a concept whose activations are all zero) has no
    correlation with anything: its row and column are NaN, including the
    diagonal entry. The metrics treat such a concept as missing.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"correlation_matrix needs a 2-D array (concepts × features), got shape {X.shape}")
    if X.shape[1] < 2:
        raise ValueError(f"correlation_matrix needs at least 2 features per concept, got shape {X.shape}")
    if not np.isfinite(X).all():
        rows = np.flatnonzero(~np.isfinite(X).all(axis=1))
        raise ValueError(f"X has non-finite values in rows {rows[:10].tolist()}; remove or impute them first")
    centred, constant = centred_rows(X)
    norms = np.linalg.norm(centred, axis=1)
    norms[constant] = 1.0
    unit = centred / norms[:, None]
    R = np.clip(unit @ unit.T, -1.0, 1.0)
    np.fill_diagonal(R, 1.0)
    R[constant, :] = np.nan
    R[:, constant] = np.nan
    return R
