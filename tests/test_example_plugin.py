"""The documented third-party plugin installs, is discovered through its entry point and runs (the fixture
that installs it, ``installed_example``, is in conftest.py)."""

import numpy as np
import pytest
from skimage import data as photos

from benchsuite.contract.manager import Registry
from benchsuite.extraction.layers import extract_group
from benchsuite.metrics.similarity import correlation_matrix


def test_example_plugin_is_discovered_and_runs(installed_example):
    registry = Registry()
    assert registry.vision.owners["color_histogram"] == "color_histogram"
    assert "register_vision_models" in registry.plugin_hooks()["color_histogram"]
    meta = registry.vision["color_histogram"]
    model = meta.load()
    images = [photos.chelsea(), photos.coffee(), photos.astronaut(), photos.rocket(), photos.chelsea()[::-1]]
    result = extract_group(model, images)
    assert list(result.matrices) == ["rgb_4", "rgb_8"]
    assert result.predictions is None
    fine = result.matrices["rgb_8"]
    assert fine.shape == (5, 5)
    # a photo flipped upside down has exactly the same colour histogram
    assert fine[0, 4] == pytest.approx(1.0, abs=1e-5)
    # the streaming result equals the brute-force correlation to 1e-5 (rows are kept in float32)
    captured = {}
    model.forward(model.preprocess(images), ["rgb_8"], lambda name, rows: captured.setdefault(name, rows))
    np.testing.assert_allclose(fine, correlation_matrix(captured["rgb_8"]), atol=1e-5)
