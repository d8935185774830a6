import numpy as np
import pytest

from benchsuite.metrics.similarity import correlation_matrix


def test_matches_numpy_corrcoef():
    X = np.random.default_rng(0).normal(size=(12, 30))
    np.testing.assert_allclose(correlation_matrix(X), np.corrcoef(X), atol=1e-12)


def test_float32_input_is_computed_in_float64():
    X = np.random.default_rng(1).normal(size=(6, 40)).astype(np.float32)
    R = correlation_matrix(X)
    assert R.dtype == np.float64
    np.testing.assert_allclose(R, np.corrcoef(X.astype(np.float64)), atol=1e-12)


def test_constant_row_gives_nan_row_and_column():
    X = np.random.default_rng(2).normal(size=(5, 8))
    X[3] = 0.25
    R = correlation_matrix(X)
    assert np.isnan(R[3]).all() and np.isnan(R[:, 3]).all()
    keep = [0, 1, 2, 4]
    np.testing.assert_allclose(R[np.ix_(keep, keep)], np.corrcoef(X[keep]), atol=1e-12)


@pytest.mark.parametrize(
    ("X", "message"),
    [
        (np.zeros(5), "2-D"),
        (np.zeros((5, 1)), "at least 2 features"),
        (np.array([[1.0, np.inf], [1.0, 2.0]]), "non-finite"),
    ],
)
def test_bad_input_is_named(X, message):
    with pytest.raises(ValueError, match=message):
        correlation_matrix(X)


def exact_correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of the float64 values in exact rational arithmetic (then one rounding)."""
    from fractions import Fraction

    import mpmath

    fx, fy = [Fraction(float(v)) for v in x], [Fraction(float(v)) for v in y]
    mx, my = sum(fx) / len(fx), sum(fy) / len(fy)
    cross = sum((a - mx) * (b - my) for a, b in zip(fx, fy, strict=True))
    squares = sum((a - mx) ** 2 for a in fx) * sum((b - my) ** 2 for b in fy)
    with mpmath.workdps(40):
        return float(mpmath.mpf(cross.numerator) / cross.denominator
                     / mpmath.sqrt(mpmath.mpf(squares.numerator) / squares.denominator))


@pytest.mark.parametrize("spread", [1e-6, 1e-9, 1e-12])
@pytest.mark.needs("mpmath")
def test_a_nearly_constant_row_keeps_its_correlations(spread):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(4, 12))
    X[1] = 1.0 + spread * rng.normal(size=12)
    X[2] = 0.75 + spread * (X[0] + rng.normal(size=12))
    R = correlation_matrix(X)
    for i, j in [(0, 1), (0, 2), (1, 2), (1, 3)]:
        assert R[i, j] == pytest.approx(exact_correlation(X[i], X[j]), abs=1e-13)
    assert np.isfinite(R).all()
