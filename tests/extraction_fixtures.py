"""A toy vision model and a small folder of random photos, for the extraction, cache-key and run-key tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from benchsuite.contract.schemas import VisionModelMeta
from benchsuite.extraction.batches import resized_batch

CONCEPTS = ("cat", "dog", "owl")


def write_photo(path: Path, seed: int, size: tuple[int, int] = (24, 18)) -> Path:
    """A random RGB PNG at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def photo_tree(root: Path, seed: int = 0) -> Path:
    """One random photo per concept, ``root/<concept>/1.png``."""
    for offset, concept in enumerate(CONCEPTS):
        write_photo(root / concept / "1.png", seed + offset)
    return root


class ProjectionModel:
    """A small deterministic network: pixels, a random tanh projection, a dead ReLU layer, a classifier."""

    layers = ("pixels", "projection", "dead")
    weights_hash = "projection-seed0"

    def __init__(self) -> None:
        generator = np.random.default_rng(0)
        self.projection = generator.normal(size=(12 * 12 * 3, 40)).astype(np.float32)
        self.classes = generator.normal(size=(40, 5)).astype(np.float32)
        self.forward_layers: list[list[str]] = []

    def preprocess(self, images: Sequence[np.ndarray]) -> np.ndarray:
        return resized_batch(images, 12)

    def forward(
        self, batch: np.ndarray, layers: Sequence[str], on_layer: Callable[[str, np.ndarray], None]
    ) -> np.ndarray:
        self.forward_layers.append(list(layers))
        hidden = np.tanh(batch.reshape(len(batch), -1) @ self.projection / 500.0)
        outputs = {"pixels": batch, "projection": hidden, "dead": np.maximum(hidden - 2.0, 0.0)}
        for name in self.layers:
            if name in layers:
                on_layer(name, outputs[name])
        return np.argmax(hidden @ self.classes, axis=1)


def projection_meta(**changes) -> VisionModelMeta:
    fields = dict(
        name="projection",
        framework="numpy",
        input_size=12,
        preprocessing="12 px crop",
        weights_source="seeded",
        layers=ProjectionModel.layers,
        predicts_imagenet=True,
        loader=ProjectionModel,
    )
    return VisionModelMeta(**(fields | changes))
