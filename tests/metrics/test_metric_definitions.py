"""What CKA and mutual k-NN compute here, against plain formulas on features (docs/methods.md, "CKA and
mutual k-NN"): both read the k×k Pearson correlation matrix, the Gram matrix of row-centred, unit-norm
features, so they are Kornblith's linear CKA and platonic-rep's mutual k-NN of those standardised features."""

from __future__ import annotations

import numpy as np
import pytest

from benchsuite.metrics import cka, mutual_knn
from benchsuite.metrics.similarity import correlation_matrix


def standardised(X: np.ndarray) -> np.ndarray:
    """Each row (concept) centred over its features and scaled to unit norm."""
    centred = X - X.mean(axis=1, keepdims=True)
    return centred / np.linalg.norm(centred, axis=1, keepdims=True)


def kornblith_linear_cka(X: np.ndarray, Y: np.ndarray) -> float:
    """Linear CKA of feature matrices (concepts × features), features centred over concepts."""
    Xc, Yc = X - X.mean(axis=0), Y - Y.mean(axis=0)
    return float(np.linalg.norm(Xc.T @ Yc) ** 2 / (np.linalg.norm(Xc.T @ Xc) * np.linalg.norm(Yc.T @ Yc)))


def plain_mutual_knn(X: np.ndarray, Y: np.ndarray, k: int) -> float:
    """platonic-rep's rule: neighbours by inner product, the concept itself excluded, mean shared fraction."""
    def neighbours(Z: np.ndarray) -> list[set[int]]:
        S = Z @ Z.T
        np.fill_diagonal(S, -np.inf)
        return [set(np.argsort(-row, kind="stable")[:k].tolist()) for row in S]
    return float(np.mean([len(a & b) / k for a, b in zip(neighbours(X), neighbours(Y), strict=True)]))


def features(seed: int, k: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Two related feature sets with an offset and uneven scales (as raw activations have)."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(size=(k, 8))
    X = 3.0 + shared @ rng.normal(size=(8, 30)) + rng.normal(size=(k, 30)) * rng.uniform(0.2, 3, size=(k, 1))
    Y = -1.0 + shared @ rng.normal(size=(8, 20)) + rng.normal(size=(k, 20))
    return X, Y


@pytest.mark.parametrize("seed", range(5))
def test_cka_is_linear_cka_of_row_standardised_features(seed: int) -> None:
    X, Y = features(seed)
    ours = cka(correlation_matrix(X), correlation_matrix(Y))
    assert ours == pytest.approx(kornblith_linear_cka(standardised(X), standardised(Y)), abs=1e-10)
    # ...and not Kornblith's CKA of the raw features: the row standardisation changes the number
    assert abs(ours - kornblith_linear_cka(X, Y)) > 1e-3


@pytest.mark.parametrize("seed", range(5))
def test_mutual_knn_is_platonic_rep_rule_on_row_standardised_features(seed: int) -> None:
    X, Y = features(seed)
    ours = mutual_knn(correlation_matrix(X), correlation_matrix(Y))
    assert ours == pytest.approx(plain_mutual_knn(standardised(X), standardised(Y), k=10), abs=1e-12)
    assert mutual_knn(correlation_matrix(X), correlation_matrix(Y), n_neighbors=5) == pytest.approx(
        plain_mutual_knn(standardised(X), standardised(Y), k=5), abs=1e-12)


def test_mutual_knn_excludes_self_and_breaks_ties_by_concept_order() -> None:
    # concept 0 is equally similar to 1, 2 and 3: with one neighbour, concept 1 (the first) is its neighbour
    A = np.eye(5)
    A[0, 1:4] = A[1:4, 0] = 0.5
    B = np.eye(5)
    B[0, 1] = B[1, 0] = 0.5
    B[0, 2:4] = B[2:4, 0] = 0.4
    # A and B agree on every row's single neighbour: 0 -> 1 (tie broken by order), 1..3 -> 0, 4 -> 0 (a tie of zeros)
    assert mutual_knn(A, B, n_neighbors=1) == pytest.approx(1.0)
    B[0, 2] = B[2, 0] = 0.6  # now 0's neighbour in B is 2, not 1: one row of five disagrees
    assert mutual_knn(A, B, n_neighbors=1) == pytest.approx(4 / 5)
