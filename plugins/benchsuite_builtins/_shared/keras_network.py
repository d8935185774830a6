"""Loading Keras applications and running them layer by layer (imported only by loaders)."""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchsuite.plugin import ResourceMissing, file_sha256, resized_batch

from .keras_architectures import KerasArchitecture

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP workers must not spin during extraction

import keras  # noqa: E402


def keras_home() -> Path:
    """Keras's cache root, honouring ``KERAS_HOME`` as ``keras.utils.get_file`` does."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser()


def expected_weights_path(architecture: KerasArchitecture) -> Path:
    return keras_home() / "models" / architecture.weights_file


def imagenet_weights(architecture: KerasArchitecture) -> Path:
    """The ImageNet weights file from the Keras cache, downloaded into it when missing."""
    expected = expected_weights_path(architecture)
    if expected.is_file():
        return expected
    try:
        fetched = keras.utils.get_file(
            architecture.weights_file,
            architecture.weights_url,
            cache_subdir="models",
            file_hash=architecture.weights_md5,
            cache_dir=str(keras_home()),
        )
    except Exception as error:
        raise ResourceMissing(
            f"{architecture.name}: ImageNet weights file {expected} is missing and could not be "
            f"downloaded ({type(error).__name__}: {error}). Download {architecture.weights_url} "
            f"(md5 {architecture.weights_md5}) and put it at {expected} (the folder follows KERAS_HOME), "
            "or pass --weights PATH to a local file in the keras-applications .h5 layout."
        ) from error
    return Path(fetched)


def local_weights(architecture: KerasArchitecture, weights: str) -> Path:
    path = Path(weights).expanduser()
    if not path.is_file():
        raise ResourceMissing(
            f"{architecture.name}: weights file {path} does not exist. Pass --weights PATH to a "
            f"{architecture.constructor} weights file in the keras-applications .h5 layout (like "
            f"{architecture.weights_file}), or leave --weights unset to use {expected_weights_path(architecture)}."
        )
    return path


def build_network(architecture: KerasArchitecture, weights: Path | None, seed: int) -> Any:
    """The full ImageNet classifier; random weights from ``seed`` when ``weights`` is None."""
    constructor = getattr(keras.applications, architecture.constructor)
    if weights is None:
        keras.utils.set_random_seed(seed)
        return constructor(weights=None)
    try:
        return constructor(weights=str(weights))
    except Exception as error:
        raise ValueError(
            f"could not load {weights} into {architecture.constructor} ({type(error).__name__}: {error}); "
            f"expected the full (with top) keras-applications .h5 layout, like {architecture.weights_file}"
        ) from error


def no_grad() -> contextlib.AbstractContextManager:
    """Switch off autograd under the torch backend so no activation is kept for a backward pass."""
    if keras.backend.backend() == "torch":
        import torch

        return torch.inference_mode()
    return contextlib.nullcontext()


def as_numpy(tensor: Any) -> np.ndarray:
    """The tensor's values as numpy, without a copy under the torch backend on CPU."""
    if keras.backend.backend() == "torch" and tensor.device.type == "cpu":
        return tensor.detach().numpy()
    return keras.ops.convert_to_numpy(tensor)


def run_graph(network: Any, inputs: np.ndarray, visit: Callable[[str, Any], None]) -> Any:
    """Evaluate a functional model node by node, calling ``visit(layer name, output)`` after each.

    Unlike ``Model.__call__`` this frees every intermediate tensor as soon as its
    last consumer has run, so only the live frontier of the graph is resident.
    """
    nodes = [
        node
        for depth in sorted(network._nodes_by_depth, reverse=True)
        for node in network._nodes_by_depth[depth]
        if not node.is_input
    ]
    consumers = Counter(id(tensor) for node in nodes for tensor in node.input_tensors)
    outputs = {id(tensor) for tensor in network.outputs}
    values = {id(network.inputs[0]): keras.ops.convert_to_tensor(inputs)}
    for node in nodes:
        args, kwargs = node.arguments.fill_in(values)
        result = node.operation(*args, **kwargs)
        for reference, value in zip(node.outputs, keras.tree.flatten(result), strict=True):
            values[id(reference)] = value
        visit(node.operation.name, result)
        for tensor in node.input_tensors:
            consumers[id(tensor)] -= 1
            if consumers[id(tensor)] == 0 and id(tensor) not in outputs:
                values.pop(id(tensor), None)
    return values[id(network.outputs[0])]


class KerasVisionModel:
    """A loaded ``keras.applications`` network that reports chosen layers as it runs."""

    def __init__(self, architecture: KerasArchitecture, network: Any, weights_hash: str, predicts: bool, device: str):
        self.architecture = architecture
        self.network = network
        self.layers = architecture.layers
        self.weights_hash = weights_hash
        self.predicts = predicts
        self.device = device
        self.preprocess_input = getattr(keras.applications, architecture.module).preprocess_input

    def preprocess(self, images: Sequence[np.ndarray]) -> np.ndarray:
        batch = resized_batch(images, self.architecture.input_size)
        return np.asarray(self.preprocess_input(batch), dtype=np.float32)

    def forward(
        self, batch: np.ndarray, layers: Sequence[str], on_layer: Callable[[str, np.ndarray], None]
    ) -> np.ndarray | None:
        wanted = set(layers)

        def visit(name: str, output: Any) -> None:
            if name in wanted:
                on_layer(name, as_numpy(output))

        with no_grad(), keras.device(self.device):
            probabilities = run_graph(self.network, batch, visit)
            if not self.predicts:
                return None
            return np.argmax(keras.ops.convert_to_numpy(probabilities), axis=1).astype(np.int64)


def load(architecture: KerasArchitecture, trained: bool, weights: str | None, device: str, seed: int):
    """Build the model: ImageNet weights (cache or download), a local file, or random from a seed."""
    if not trained:
        if weights is not None:
            raise ValueError(
                f"{architecture.name}_untrained takes no weights (got {weights!r}); "
                f"use {architecture.name} with --weights PATH for a weights file"
            )
        network = build_network(architecture, None, seed)
        return KerasVisionModel(architecture, network, f"untrained-seed{seed}", False, device)
    path = imagenet_weights(architecture) if weights in (None, "imagenet") else local_weights(architecture, weights)
    network = build_network(architecture, path, seed)
    return KerasVisionModel(architecture, network, file_sha256(path), True, device)
