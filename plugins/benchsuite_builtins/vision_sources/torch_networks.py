"""Building PyTorch networks cheaply for their layer names, and feeding them photos through a library transform."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from benchsuite.plugin import check_rgb_uint8


def on_meta(build: Callable[[], nn.Module]) -> nn.Module:
    """``build()`` on the ``meta`` device (no memory, no initialisation), or on the CPU for an architecture
    whose constructor computes with tensors (RegNet): enough to read module names and run shape-only passes."""
    try:
        with torch.device("meta"):
            return build()
    except (NotImplementedError, RuntimeError):
        return build()


def transformed_batch(images: Sequence[np.ndarray], transform: Callable[[Any], torch.Tensor]) -> np.ndarray:
    """RGB uint8 photos through a library's own evaluation transform (PIL in, CHW tensor out), as NCHW float32."""
    from PIL import Image

    if len(images) == 0:
        raise ValueError("no images to preprocess")
    tensors = [transform(Image.fromarray(check_rgb_uint8(image, position))) for position, image in enumerate(images)]
    return np.ascontiguousarray(torch.stack(tensors).numpy(), dtype=np.float32)


def describe_transform(transform: object) -> str:
    """A transform's repr on one line: every step and constant that changes the numbers (for the cache key)."""
    return " ".join(repr(transform).split())


def load_state_file(network: nn.Module, path: Any, name: str) -> None:
    """Load a state-dict file (``.safetensors``, or a ``torch.save`` file read without unpickling objects) strictly;
    a file for another architecture is a one-line ``ValueError``."""
    state: Any  # a state dict, or (torch.load) whatever the file holds, perhaps one under "state_dict"
    if str(path).endswith(".safetensors"):
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as error:
        first = " ".join(str(error).split())[:300]
        raise ValueError(f"{path} does not hold {name} weights (parameter names or shapes differ): {first}") from None
