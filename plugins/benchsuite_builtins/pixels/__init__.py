"""The pixel baseline: the preprocessed image itself as a single layer (the first point of Figure 1)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from benchsuite.plugin import VisionModelMeta, hookimpl, resized_batch

INPUT_SIZE = 224
LAYER = "pixels"


class PixelModel:
    """No network: the resized RGB image is the only 'layer'."""

    layers = (LAYER,)
    weights_hash = "none"

    def preprocess(self, images: Sequence[np.ndarray]) -> np.ndarray:
        return resized_batch(images, INPUT_SIZE) / np.float32(255.0)

    def forward(self, batch: np.ndarray, layers: Sequence[str], on_layer: Callable[[str, np.ndarray], None]) -> None:
        if LAYER in layers:
            on_layer(LAYER, batch)
        return None


def load(weights: str | None = None, device: str = "cpu", seed: int = 0) -> PixelModel:
    if weights is not None:
        raise ValueError(f"the pixel baseline has no weights (got {weights!r}); drop --weights")
    return PixelModel()


@hookimpl
def register_vision_models(register):
    """Register the pixel baseline."""
    register(
        VisionModelMeta(
            name="pixels",
            framework="numpy",
            input_size=INPUT_SIZE,
            preprocessing=(
                f"centred square crop of the shorter side, resized to {INPUT_SIZE}x{INPUT_SIZE} "
                "(Pillow bilinear); RGB / 255"
            ),
            license="MIT",
            weights_source="none",
            layers=(LAYER,),
            predicts_imagenet=False,
            trained=False,
            role="baseline",
            version="1",
            description="Pixel baseline: the preprocessed image as one layer",
            loader=load,
        )
    )
