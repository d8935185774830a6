"""``keras:NAME``: any ``keras.applications`` model (``keras:VGG16``, ``keras:efficientnetb0``; case-insensitive).

VGG16, ResNet50 and InceptionV3 keep the paper's layer lists (from the built-in Keras plugin); any other
application defaults to the last layer at each spatial resolution, then its flat layers before the
predictions. Preprocessing is the application's own ``preprocess_input`` after a centred square crop resized
to its input size. ImageNet weights are read from Keras's cache (``KERAS_HOME``, default ``~/.keras``,
``models/``) without downloading, or from ``--set NAME.weights=PATH``.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

from benchsuite.plugin import VisionModelMeta, file_sha256

from .layer_choice import choose_layers
from .source_names import checked_name
from .weights_files import local_weights, missing_weights

PREFIX = "keras"
SOURCE_VERSION = "1"
CACHE = "Keras's cache: KERAS_HOME, default ~/.keras"


def keras_network() -> Any:
    """The built-in Keras plugin's runner module; ``ResourceMissing`` naming the extra without Keras."""
    from benchsuite_builtins._shared.keras_import import keras_network as runner

    return runner()


def constructors() -> dict[str, str]:
    """Every ``keras.applications`` model constructor, by lower-case name."""
    applications = keras_network().keras.applications
    return {name.lower(): name for name in dir(applications) if name[:1].isupper()
            and callable(getattr(applications, name))}


def offered() -> list[str]:
    return sorted(constructors().values())


def constructor_of(rest: str) -> str:
    """The constructor ``rest`` names (any case); a one-line ``ValueError`` listing a few otherwise."""
    checked_name(PREFIX, rest, r"[A-Za-z0-9_]+", "NAME", "VGG16")
    known = constructors()
    if rest.lower() not in known:
        raise ValueError(f"keras.applications has no model {rest!r}; e.g. {', '.join(sorted(known.values())[:6])} "
                         f"(`benchsuite list vision --source {PREFIX}`)")
    return known[rest.lower()]


def paper_architecture(constructor: str) -> Any | None:
    """The built-in plugin's architecture (the paper's layer list) for VGG16, ResNet50 and InceptionV3."""
    from benchsuite_builtins._shared.keras_architectures import ARCHITECTURES

    return next((a for a in ARCHITECTURES.values() if a.constructor == constructor), None)


RESHAPING = frozenset({"ZeroPadding2D", "Rescaling", "Normalization", "Reshape", "Dropout", "Cropping2D"})
"""Layer types that only pad, rescale or reshape: never a stage's end."""


def stage_ends(network: Any) -> tuple[str, ...]:
    """The last layer at each spatial resolution (in order), then the flat layers before the predictions."""
    last_at: dict[int, tuple[int, str]] = {}
    flat: list[str] = []
    for position, layer in enumerate(network.layers[1:]):
        shape = getattr(getattr(layer, "output", None), "shape", None)
        if shape is None or type(layer).__name__ in RESHAPING:
            continue
        if len(shape) == 4:
            last_at[shape[1]] = (position, layer.name)
        elif len(shape) == 2:
            flat.append(layer.name)
    return (*(name for _, name in sorted(last_at.values())), *flat[:-1])


def build_application(constructor: str, weights: str | None) -> Any:
    """``keras.applications.<constructor>(weights=...)`` built from a fresh session, so that its automatic layer
    names (``activation_17``) are the same every time; one whose input size is open is built at 224."""
    keras = keras_network().keras
    keras.backend.clear_session()
    network = getattr(keras.applications, constructor)(weights=weights)
    if network.input_shape[1] is None:
        keras.backend.clear_session()
        network = getattr(keras.applications, constructor)(weights=weights, input_shape=(224, 224, 3))
    return network


def architecture(rest: str, network: Any | None = None) -> Any:
    """A ``KerasArchitecture`` for ``keras:REST``: the paper's for its three models, else read off ``network``
    (built with random weights when not given)."""
    from benchsuite_builtins._shared.keras_architectures import KerasArchitecture

    keras = keras_network().keras
    constructor = constructor_of(rest)
    paper = paper_architecture(constructor)
    if paper is not None:
        return dataclasses.replace(paper, name=f"{PREFIX}:{rest}")
    network = network if network is not None else build_application(constructor, None)
    module = getattr(keras.applications, constructor).__module__.rsplit(".", 1)[-1]
    return KerasArchitecture(
        name=f"{PREFIX}:{rest}", constructor=constructor, module=module, input_size=int(network.input_shape[1]),
        layers=stage_ends(network), weights_file="", weights_url="", weights_md5="",
        weights_license="see the keras.applications documentation", preprocessing_mode=f"{constructor}'s mode",
    )


@contextlib.contextmanager
def keras_cache(name: str, download: bool = False) -> Iterator[list[Path]]:
    """While open, ``keras.applications`` weight look-ups read Keras's cache only (``ResourceMissing`` naming
    the file when it is absent), or download into it when ``download``; yields the files used."""
    from keras.src.utils import file_utils

    real = file_utils.get_file
    used: list[Path] = []
    home = keras_network().keras_home()

    def get_file(fname: str | None = None, origin: str | None = None, *args: Any, cache_subdir: str = "datasets",
                 **kwargs: Any) -> str:
        path = home / cache_subdir / (fname or Path(str(origin)).name)
        if download and not path.is_file():
            path = Path(real(fname, origin, *args, cache_subdir=cache_subdir, **{**kwargs, "cache_dir": str(home)}))
        if not path.is_file():
            raise missing_weights(name, path, CACHE)
        used.append(path)
        return str(path)

    file_utils.get_file = get_file
    try:
        yield used
    finally:
        file_utils.get_file = real


def resolve(rest: str) -> VisionModelMeta:
    """The record of ``keras:REST`` (builds the untrained network to read its layers, except the paper's three)."""
    chosen = architecture(rest)
    return VisionModelMeta(
        name=f"{PREFIX}:{rest}",
        framework="keras",
        input_size=chosen.input_size,
        preprocessing=chosen.preprocessing(),
        weights_source=f"keras.applications.{chosen.constructor}(weights='imagenet') read from {CACHE} (models/), "
                       "downloaded by `benchsuite fetch`; or --set NAME.weights=PATH",
        layers=chosen.layers,
        predicts_imagenet=True,
        license=chosen.weights_license,
        version=SOURCE_VERSION,
        description=f"keras.applications.{chosen.constructor} with ImageNet weights",
        loader=partial(load, rest),
    )


def load(rest: str, weights: str | None = None, layers: list[str] | str | None = None, device: str = "cpu",
         seed: int = 0) -> Any:
    """The application with ImageNet weights from Keras's cache (never downloaded here) or a local file."""
    network_module = keras_network()
    name = f"{PREFIX}:{rest}"
    constructor = constructor_of(rest)
    if weights is None:
        with keras_cache(name) as used:
            network = build_application(constructor, "imagenet")
        path = used[-1]
    else:
        path = local_weights(name, weights)
        try:
            network = build_application(constructor, str(path))
        except Exception as error:
            raise ValueError(f"could not load {path} into {name} ({type(error).__name__}: "
                             f"{' '.join(str(error).split())[:300]})") from None
    chosen = architecture(rest, network)
    if layers is not None:
        available = [layer.name for layer in network.layers[1:]]
        chosen = dataclasses.replace(chosen, layers=choose_layers(name, available, chosen.layers, layers))
    predicts = tuple(network.output_shape) == (None, 1000)
    return network_module.KerasVisionModel(chosen, network, file_sha256(path), predicts, device)


def fetch(rest: str) -> str:
    """Download ``keras:REST``'s ImageNet weights into Keras's cache; returns the file's path."""
    keras = keras_network().keras
    name = f"{PREFIX}:{rest}"
    with keras_cache(name, download=True) as used:
        getattr(keras.applications, constructor_of(rest))(weights="imagenet")
    return str(used[-1])
