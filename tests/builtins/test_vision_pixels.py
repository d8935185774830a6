"""The pixel baseline: the resized image as the only layer."""

from __future__ import annotations

import numpy as np
import pytest
from vision_fixtures import assert_matrices_close, brute_force, sample_photos

from benchsuite.contract.manager import Registry
from benchsuite.extraction.layers import extract_group


def test_pixel_baseline_is_the_resized_image():
    meta = Registry().vision["pixels"]
    assert meta.layers == ("pixels",) and meta.framework == "numpy" and not meta.trained
    model = meta.load()
    photos = sample_photos(4)
    batch = model.preprocess(photos)
    assert batch.shape == (4, 224, 224, 3) and batch.max() <= 1.0
    result = extract_group(model, photos)
    assert result.predictions is None
    assert_matrices_close(result.matrices, brute_force(model, photos, ["pixels"]))
    flat = batch.reshape(4, -1).astype(np.float64)
    np.testing.assert_allclose(result.matrices["pixels"], np.corrcoef(flat), atol=1e-6)


def test_pixel_baseline_takes_no_weights():
    with pytest.raises(ValueError, match="drop --weights"):
        Registry().vision["pixels"].load(weights="x.h5")
