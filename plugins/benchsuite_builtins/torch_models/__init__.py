"""PyTorch CNNs whose ImageNet weights ship inside packages: MobileNetV2, EfficientNet-Lite0/1/2.

Also an untrained MobileNetV2, the cheap control for the offline suite. Layers
are each block's output in depth order, captured with forward hooks. MobileNetV2 is
torchvision's network (its packaged checkpoint loads strictly; activations equal the
hand-written network it replaced, bit for bit), fed by the same preprocessing as
before, so cached matrices and the published leaderboard stay valid.
"""

from __future__ import annotations

from typing import Any

from benchsuite.plugin import VisionModelMeta, hookimpl

from .architectures import ARCHITECTURES, MOBILENET_V2, TorchArchitecture

PLUGIN_VERSION = "1"


def loader(architecture: TorchArchitecture, trained: bool):
    """A loader that imports torch only when called."""

    def load(weights: str | None = None, device: str = "cpu", seed: int = 0) -> Any:
        from .network import load as load_network

        return load_network(architecture, trained, weights, device, seed)

    return load


def meta(architecture: TorchArchitecture, trained: bool = True) -> VisionModelMeta:
    return VisionModelMeta(
        name=architecture.name if trained else f"{architecture.name}_untrained",
        framework="torch",
        input_size=architecture.input_size,
        preprocessing=architecture.preprocessing(),
        license=architecture.weights_license if trained else "BSD-3-Clause (torchvision architecture)",
        weights_source=(
            f"packaged: the .pth file in the {architecture.weights_package} package; or --weights PATH"
            if trained
            else "none: seeded He initialisation (seed, default 0)"
        ),
        layers=architecture.layers,
        predicts_imagenet=trained,
        trained=trained,
        role="model" if trained else "untrained",
        twin=None if trained else architecture.name,
        version=PLUGIN_VERSION,
        description=(
            f"{architecture.name} (PyTorch)"
            + (" with ImageNet weights" if trained else ", untrained control (random weights)")
        ),
        loader=loader(architecture, trained),
    )


@hookimpl
def register_vision_models(register):
    """Register the packaged models and the untrained MobileNetV2."""
    for architecture in ARCHITECTURES.values():
        register(meta(architecture))
    register(meta(MOBILENET_V2, trained=False))
