"""Real photos and a brute-force reference for the vision-model and extraction tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from skimage import data

from benchsuite.metrics.similarity import correlation_matrix

CAT_CLASSES = {281, 282, 283, 284, 285, 286, 287}  # tabby ... lynx: domestic and wild cats
ESPRESSO = 967


def sample_photos(count: int = 6) -> list[np.ndarray]:
    """Up to six CC0 scikit-image photos of different sizes and aspect ratios, as RGB uint8."""
    photos = [
        data.chelsea(),
        data.coffee(),
        data.rocket(),
        data.astronaut(),
        np.stack([data.camera()] * 3, axis=-1),
        data.immunohistochemistry(),
    ]
    return photos[:count]


def brute_force(
    model, images: Sequence[np.ndarray], layers: Sequence[str], members: Sequence[int] | None = None
) -> dict[str, np.ndarray]:
    """Every layer's activations for every image held at once (averaged per member row), correlated in float64."""
    captured: dict[str, list[np.ndarray]] = {layer: [] for layer in layers}
    model.forward(model.preprocess(images), layers, lambda name, values: captured[name].append(np.array(values)))
    rows = np.arange(len(images)) if members is None else np.asarray(members)
    matrices = {}
    for layer, parts in captured.items():
        flat = np.concatenate(parts).reshape(len(images), -1).astype(np.float64)
        means = np.stack([flat[rows == row].mean(axis=0) for row in range(rows.max() + 1)])
        matrices[layer] = correlation_matrix(means)
    return matrices


def assert_matrices_close(got: dict[str, np.ndarray], want: dict[str, np.ndarray], atol: float = 1e-5) -> None:
    assert list(got) == list(want)
    for layer in want:
        np.testing.assert_allclose(got[layer], want[layer], atol=atol, rtol=0, err_msg=layer)
