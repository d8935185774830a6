"""Keras 3 applications: VGG16, ResNet50, InceptionV3 and their untrained controls.

Runs on ``KERAS_BACKEND=torch`` unless another backend is chosen. The trained
models read ImageNet weights from the Keras cache (downloading them when
online) or a local file; the untrained controls are seeded random
initialisations, the baseline against which emergent semantics are read.
"""

from __future__ import annotations

from typing import Any

from benchsuite.plugin import VisionModelMeta, hookimpl
from benchsuite_builtins._shared.keras_architectures import ARCHITECTURES, KerasArchitecture
from benchsuite_builtins._shared.keras_import import keras_network

PLUGIN_VERSION = "1"


def loader(architecture: KerasArchitecture, trained: bool):
    """A loader that imports Keras only when called."""

    def load(weights: str | None = None, device: str = "cpu", seed: int = 0) -> Any:
        return keras_network().load(architecture, trained, weights, device, seed)

    return load


def metas() -> list[VisionModelMeta]:
    records = []
    for architecture in ARCHITECTURES.values():
        for trained in (True, False):
            records.append(
                VisionModelMeta(
                    name=architecture.name if trained else f"{architecture.name}_untrained",
                    framework="keras",
                    input_size=architecture.input_size,
                    preprocessing=architecture.preprocessing(),
                    license=architecture.weights_license if trained else "Apache-2.0 (Keras applications)",
                    weights_source=(
                        f"imagenet: ~/.keras/models/{architecture.weights_file} (KERAS_HOME), "
                        f"downloaded from {architecture.weights_url}; or --weights PATH"
                        if trained
                        else "none: Keras default initialisers seeded by `seed` (default 0)"
                    ),
                    layers=architecture.layers,
                    predicts_imagenet=trained,
                    trained=trained,
                    role="model" if trained else "untrained",
                    twin=None if trained else architecture.name,
                    version=PLUGIN_VERSION,
                    description=(
                        f"keras.applications.{architecture.constructor}"
                        + (" with ImageNet weights" if trained else ", untrained control (random weights)")
                    ),
                    loader=loader(architecture, trained),
                )
            )
    return records


@hookimpl
def register_vision_models(register):
    """Register the six Keras models."""
    for meta in metas():
        register(meta)
