"""Plain-loop references for the metric rules, written for clarity, not speed."""

from __future__ import annotations

import itertools

import numpy as np
from scipy.stats import pearsonr, rankdata

TIE_TOLERANCE = 1e-10


def _similarity(x: np.ndarray, y: np.ndarray, distance: str) -> float:
    """Pearson or cosine; NaN for an exactly constant (Pearson) or zero (cosine) vector.

    Pearson shifts each vector by its smallest entry before centring (exact for close entries), so the
    mean's rounding is relative to the spread: two entries 1e-15 apart still correlate at exactly ±1.
    """
    if distance == "correlation":
        if (x == x[0]).all() or (y == y[0]).all():
            return np.nan
        x, y = x - x.min(), y - y.min()
        x, y = x - x.mean(), y - y.mean()
    norm = np.linalg.norm(x) * np.linalg.norm(y)
    return float(x @ y / norm) if norm > 0 else np.nan


def two_vs_two_loop(A: np.ndarray, B: np.ndarray, distance: str = "correlation", ties: str = "fail", pairs=None):
    """Per-pair (passed, tied, margin) and accuracy, one pair at a time (all pairs i < j by default)."""
    k = A.shape[0]
    missing = np.isnan(A).all(axis=1) | np.isnan(B).all(axis=1)
    passed, tied, margins = [], [], []
    for i, j in itertools.combinations(range(k), 2) if pairs is None else pairs:
        if missing[i] or missing[j]:
            margin = np.nan
        else:
            S = ~missing
            S[[i, j]] = False
            r = {(x, y): _similarity(A[x, S], B[y, S], distance) for x in (i, j) for y in (i, j)}
            margin = r[i, i] + r[j, j] - r[i, j] - r[j, i]
        passed.append(bool(margin > TIE_TOLERANCE))
        tied.append(bool(abs(margin) <= TIE_TOLERANCE))
        margins.append(margin)
    passed, tied = np.array(passed), np.array(tied)
    score = passed + (0.5 * tied if ties == "half" else 0.0)
    return passed, tied, np.array(margins), float(np.mean(score))


def kendall_tau_a_loop(x: np.ndarray, y: np.ndarray) -> float:
    total = sum(np.sign(x[u] - x[v]) * np.sign(y[u] - y[v]) for u, v in itertools.combinations(range(len(x)), 2))
    return total / (len(x) * (len(x) - 1) / 2)


def rsa_loop(A: np.ndarray, B: np.ndarray, method: str) -> float:
    k = A.shape[0]
    x = np.array([A[i, j] for i, j in itertools.combinations(range(k), 2)])
    y = np.array([B[i, j] for i, j in itertools.combinations(range(k), 2)])
    if method == "kendall_tau_a":
        return kendall_tau_a_loop(x, y)
    if method == "spearman":
        x, y = rankdata(x), rankdata(y)
    return float(pearsonr(x, y)[0])


def cka_loop(A: np.ndarray, B: np.ndarray) -> float:
    """tr(KHLH) / sqrt(tr(KHKH) tr(LHLH)) with the centring matrix H."""
    k = A.shape[0]
    H = np.eye(k) - np.ones((k, k)) / k

    def hsic(K, L):
        return np.trace(K @ H @ L @ H)

    return float(hsic(A, B) / np.sqrt(hsic(A, A) * hsic(B, B)))


def cka_debiased_loop(A: np.ndarray, B: np.ndarray) -> float:
    """Song et al. (2012) unbiased HSIC, written out term by term."""
    k = A.shape[0]

    def hsic(K, L):
        K, L = K.copy(), L.copy()
        np.fill_diagonal(K, 0)
        np.fill_diagonal(L, 0)
        one = np.ones(k)
        value = np.trace(K @ L) + (one @ K @ one) * (one @ L @ one) / ((k - 1) * (k - 2))
        value -= 2 / (k - 2) * (one @ K @ L @ one)
        return value / (k * (k - 3))

    return float(hsic(A, B) / np.sqrt(hsic(A, A) * hsic(B, B)))


def mutual_knn_loop(A: np.ndarray, B: np.ndarray, n_neighbors: int) -> float:
    def neighbours(M, i):
        others = sorted((j for j in range(len(M)) if j != i), key=lambda j: (-M[i, j], j))
        return set(others[:n_neighbors])

    shared = [len(neighbours(A, i) & neighbours(B, i)) / n_neighbors for i in range(len(A))]
    return float(np.mean(shared))
