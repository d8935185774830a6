"""The one hook-based PyTorch runner, shared by the packaged models and the model sources (torchvision, timm):
a network that reports chosen modules' outputs (or inputs) through forward hooks."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP workers must not spin during extraction

import torch  # noqa: E402
from torch import nn  # noqa: E402

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
        self, batch: np.ndarray, layers: Sequence[str], on_layer: Callable[[str, Any], None]
    ) -> np.ndarray | None:
        def report(name: str, values: torch.Tensor) -> None:
            # on a GPU the tensor itself: the harness centres and multiplies it there (benchsuite.extraction)
            on_layer(name, values.detach() if values.device.type != "cpu" else values.detach().cpu().numpy())

        handles = [tap_hook(self.modules[name], self.paths[name], partial(report, name)) for name in layers]
        try:
            scores = self.logits(batch)
        finally:
            for handle in handles:
                handle.remove()
        return np.argmax(scores, axis=1).astype(np.int64) if self.predicts else None
