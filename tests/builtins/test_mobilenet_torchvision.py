"""The built-in mobilenet_v2 is torchvision's network: on the packaged weights and the same photos its
activations equal those of the hand-written MobileNetV2 it replaced (saved in tests/data before its removal)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage import data

from benchsuite.contract.manager import Registry

REFERENCE = Path(__file__).parents[1] / "data" / "mobilenet_v2_reference.npz"


@pytest.fixture(scope="module")
def recorded() -> tuple[dict[str, np.ndarray], np.ndarray, tuple[str, ...]]:
    model = Registry().vision["mobilenet_v2"].load()
    seen: dict[str, np.ndarray] = {}
    batch = model.preprocess([data.chelsea(), data.coffee()])
    top1 = model.forward(batch, model.layers, lambda name, values: seen.setdefault(name, values))
    return seen, top1, model.layers


def test_layers_and_predictions_match_the_hand_written_network(recorded):
    seen, top1, layers = recorded
    reference = np.load(REFERENCE)
    assert layers == (*(f"features.{i}" for i in range(19)), "pool")
    np.testing.assert_array_equal(top1, reference["top1"])
    assert top1.tolist() == [285, 967]  # Egyptian cat, espresso


def test_activations_equal_the_hand_written_network(recorded):
    seen, _, layers = recorded
    reference = np.load(REFERENCE)
    for layer in layers:
        flat = seen[layer].reshape(2, -1)
        scale = float(reference[f"{layer}/absmax"].max())
        sampled = flat[:, reference[f"{layer}/index"]]
        assert np.abs(sampled - reference[f"{layer}/values"]).max() <= 1e-5 * scale, layer
        np.testing.assert_allclose(flat.mean(axis=1), reference[f"{layer}/mean"], rtol=0, atol=1e-5 * scale)
        np.testing.assert_allclose(np.abs(flat).max(axis=1), reference[f"{layer}/absmax"], rtol=1e-5)
