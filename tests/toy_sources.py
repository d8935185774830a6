"""A fake model source, ``toy:NAME``, registered through ``register_model_sources`` like any library's.

``toy:Net-A`` (any name starting ``Net``) resolves to the toy network; ``toy:Missing`` raises ``ResourceMissing``
as a source whose library is not installed does; any other name is unknown (``ValueError``).
"""

from __future__ import annotations

from toy_plugins import LAYERS, ToyModel

from benchsuite.plugin import ModelSourceMeta, ResourceMissing, VisionModelMeta, hookimpl

FETCHED: list[str] = []


def resolve(rest: str) -> VisionModelMeta:
    if rest == "Missing":
        raise ResourceMissing("toylib is not installed: run `pip install 'benchsuite[toy]'`")
    if not rest.startswith("Net"):
        raise ValueError(f"unknown toy model {rest!r}; toy offers: {', '.join(offered())}")

    def load(layers: list[str] | None = None, device: str = "cpu", seed: int = 0) -> ToyModel:
        model = ToyModel()
        if layers is not None:
            model.layers = tuple(layers)
        return model

    return VisionModelMeta(name=f"toy:{rest}", framework="numpy", input_size=8, preprocessing="/255",
                           weights_source="random", layers=LAYERS, loader=load)


def offered() -> list[str]:
    return ["Net-A", "Net.b/c@1"]


def fetch(rest: str) -> str:
    FETCHED.append(rest)
    return f"/toy-cache/{rest}"


@hookimpl
def register_model_sources(register):
    register(ModelSourceMeta(name="toy", kind="vision", description="toy networks by name", loader=resolve,
                             names=offered, fetch=fetch, requires="toy"))
