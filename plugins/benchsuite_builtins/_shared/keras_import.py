"""The Keras runner module, imported only when a Keras model is loaded (it sets ``KERAS_BACKEND=torch`` unless one
is chosen, then imports Keras)."""

from __future__ import annotations

from types import ModuleType

from benchsuite.plugin import ResourceMissing


def keras_network() -> ModuleType:
    """The runner module; ``ResourceMissing`` naming the extra when Keras is not installed, so that its models are
    skipped, not failed."""
    try:
        from benchsuite_builtins._shared import keras_network as network
    except ModuleNotFoundError as error:
        if error.name not in ("keras", "h5py"):
            raise
        raise ResourceMissing(f"{error.name} is not installed: run `pip install 'benchsuite[keras]'`") from None
    return network
