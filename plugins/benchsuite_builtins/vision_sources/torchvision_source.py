"""``torchvision:NAME[:WEIGHTS]``: any torchvision classification model, with its own weights and transforms.

WEIGHTS names a member of the model's weights enum (``resnet50:IMAGENET1K_V2``); the default is the enum's
``DEFAULT``. Weights are read from torch hub's cache (``TORCH_HOME``) or ``--set NAME.weights=PATH``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from benchsuite.plugin import VisionModelMeta, file_sha256
from benchsuite_builtins._shared.torchvision_import import import_torchvision

from .layer_choice import choose_layers
from .source_names import checked_name, item_version
from .weights_files import download_url, local_weights, missing_weights, torch_hub_checkpoint

PREFIX = "torchvision"
SOURCE_VERSION = "1"


def offered() -> list[str]:
    """torchvision's classification model names."""
    torchvision = import_torchvision()
    return list(torchvision.models.list_models(module=torchvision.models))


def weights_of(rest: str) -> tuple[str, Any]:
    """(model name, weights enum member) named by ``NAME[:WEIGHTS]``; a one-line ``ValueError`` for either unknown."""
    checked_name(PREFIX, rest, r"[A-Za-z0-9_]+(:[A-Za-z0-9_]+)?", "NAME[:WEIGHTS]", "resnet50:IMAGENET1K_V2")
    torchvision = import_torchvision()
    model, _, chosen = rest.partition(":")
    models = offered()
    if model not in models:
        raise ValueError(f"torchvision has no classification model {model!r}; e.g. {', '.join(models[:4])} "
                         f"(`benchsuite list vision --source {PREFIX}` lists all {len(models)})")
    enum = torchvision.models.get_model_weights(model)
    if not chosen:
        return model, enum.DEFAULT
    if chosen not in enum.__members__:
        raise ValueError(f"torchvision {model} has no weights {chosen!r}; choose one of "
                         f"{', '.join(enum.__members__)} (or leave it out for {enum.DEFAULT.name})")
    return model, enum[chosen]


def resolve(rest: str) -> VisionModelMeta:
    """The record of ``torchvision:REST``: default layers from a shape-only pass, preprocessing from the weights."""
    from .torch_layers import default_taps
    from .torch_networks import describe_transform, on_meta

    torchvision = import_torchvision()
    model, weights = weights_of(rest)
    transform = weights.transforms()
    size = int(transform.crop_size[0])
    network = on_meta(partial(torchvision.models.get_model, model, weights=None))
    layers = tuple(name for name, _ in default_taps(network, size))
    checkpoint = torch_hub_checkpoint(weights.url)
    return VisionModelMeta(
        name=f"{PREFIX}:{rest}",
        framework="torch",
        input_size=size,
        preprocessing=f"torchvision {type(weights).__name__}.{weights.name}.transforms() on the PIL image: "
                      f"{describe_transform(transform)}; NCHW float32",
        weights_source=f"torchvision {type(weights).__name__}.{weights.name}: {checkpoint} (TORCH_HOME), "
                       f"downloaded from {weights.url} by `benchsuite fetch`; or --set NAME.weights=PATH",
        layers=layers,
        predicts_imagenet=len(weights.meta.get("categories") or ()) == 1000,
        license="BSD-3-Clause (torchvision; see the weights' recipe for their terms)",
        version=item_version(SOURCE_VERSION, "torchvision"),
        description=f"torchvision {model} with {weights.name} weights",
        loader=partial(load, rest),
    )


def load(rest: str, weights: str | None = None, layers: list[str] | str | None = None, device: str = "cpu") -> Any:
    """The model with weights from torch hub's cache (or ``weights``, a state-dict file); never downloads."""
    from benchsuite_builtins._shared.torch_hooks import HookedTorchModel

    from .torch_layers import chosen_taps, default_taps, every_tap
    from .torch_networks import load_state_file, transformed_batch

    torchvision = import_torchvision()
    name = f"{PREFIX}:{rest}"
    model, enum_member = weights_of(rest)
    if weights is None:
        path = torch_hub_checkpoint(enum_member.url)
        if not path.is_file():
            raise missing_weights(name, path, "torch hub's cache: TORCH_HOME, default ~/.cache/torch")
        network = torchvision.models.get_model(model, weights=enum_member)  # reads the cached file, no download
    else:
        path = local_weights(name, weights)
        network = torchvision.models.get_model(model, weights=None)
        load_state_file(network, path, name)
    transform = enum_member.transforms()
    size = int(transform.crop_size[0])
    taps = default_taps(network, size)
    if layers is not None:
        available = [layer for layer, _ in every_tap(network)]
        taps = chosen_taps(network, choose_layers(name, available, [t for t, _ in taps], layers), size)
    predicts = len(enum_member.meta.get("categories") or ()) == 1000
    return HookedTorchModel(network, taps, partial(transformed_batch, transform=transform), file_sha256(path),
                            predicts, device)


def fetch(rest: str) -> str:
    """Download ``torchvision:REST``'s weights into torch hub's cache; returns the file's path."""
    _, weights = weights_of(rest)
    path = torch_hub_checkpoint(weights.url)
    return str(path if path.is_file() else download_url(weights.url, path))
