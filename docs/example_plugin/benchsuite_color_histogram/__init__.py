"""A third-party benchsuite plugin: colour histograms as a vision 'model'.

Two layers, a coarse and a fine joint RGB histogram, give a floor that any
network's early layers should clear.
"""

from collections.abc import Callable, Sequence

import numpy as np

from benchsuite.plugin import VisionModelMeta, hookimpl

BINS = {"rgb_4": 4, "rgb_8": 8}


class ColorHistogram:
    """Joint RGB histograms of each image, normalised to sum to one."""

    layers = tuple(BINS)
    weights_hash = "no-weights"

    def preprocess(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [np.asarray(image, dtype=np.uint8) for image in images]

    def forward(self, batch: list[np.ndarray], layers: Sequence[str],
                on_layer: Callable[[str, np.ndarray], None]) -> None:
        for layer in self.layers:
            if layer not in layers:
                continue
            bins = BINS[layer]
            rows = []
            for image in batch:
                codes = (image.reshape(-1, 3).astype(np.int64) * bins) // 256
                flat = codes[:, 0] * bins * bins + codes[:, 1] * bins + codes[:, 2]
                rows.append(np.bincount(flat, minlength=bins**3) / len(flat))
            on_layer(layer, np.stack(rows))
        return None


@hookimpl
def register_vision_models(register):
    register(
        VisionModelMeta(
            name="color_histogram",
            description="Joint RGB colour histograms (4 and 8 bins per channel)",
            framework="numpy",
            input_size=1,
            preprocessing="none: the image's own pixels at its own size",
            license="MIT",
            weights_source="none (no parameters)",
            layers=tuple(BINS),
            trained=False,
            version="0.1.0",
            loader=lambda **options: ColorHistogram(),
        )
    )
