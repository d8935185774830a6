"""Keras 3 applications: VGG16, ResNet50, InceptionV3 and their untrained controls.

Runs on ``KERAS_BACKEND=torch`` unless another backend is chosen. The trained
models read ImageNet weights from the Keras cache (downloading them when
online) or a local file; the untrained controls are seeded random
initialisations, the baseline against which emergent semantics are read.
"""

from __future__ import annotations

from typing import Any

from benchsuite.plugin import ResourceMissing, VisionModelMeta, hookimpl

from .architectures import ARCHITECTURES, KerasArchitecture

PLUGIN_VERSION = "1"


def keras_network() -> Any:
    """The runner module (it sets ``KERAS_BACKEND=torch`` unless chosen, then imports Keras); ``ResourceMissing``
    naming the extra when Keras is not installed, so that its models are skipped, not failed."""
    try:
        from . import network
    except ModuleNotFoundError as error:
        if error.name not in ("keras", "h5py"):
            raise
        raise ResourceMissing(f"{error.name} is not installed: run `pip install 'benchsuite[keras]'`") from None
    return network


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
