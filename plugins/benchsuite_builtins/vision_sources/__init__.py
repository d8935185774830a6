"""Model sources for vision: any model of torchvision, timm, keras.applications or a Hugging Face vision encoder,
by ``PREFIX:NAME`` (``torchvision:resnet50``, ``timm:convnext_tiny.fb_in1k``, ``keras:VGG16``,
``hf:facebook/dinov2-small``).

Registration imports nothing heavy: each source's library is imported when a name is resolved, listed, loaded or
fetched. See docs/sources.md.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from benchsuite.plugin import ModelSourceMeta, hookimpl

SOURCES = {
    "torchvision": ("torchvision_source", "timm", "torchvision classification models; NAME[:WEIGHTS enum member]"),
    "timm": ("timm_source", "timm", "timm models (architecture.tag), timm's data config"),
    "keras": ("keras_source", "keras", "keras.applications models (VGG16, ResNet50, InceptionV3 with the paper's "
              "layers)"),
    "hf": ("hf_source", "hf", "Hugging Face vision encoders (ViT, DINOv2, CLIP/SigLIP vision towers), hidden "
           "state per block"),
}
"""prefix -> (module, pip extra, description)."""


def deferred(module: str, function: str) -> Any:
    """A callable that imports this package's ``module`` only when called, then calls its ``function``."""

    def call(*args: Any) -> Any:
        return getattr(import_module(f"{__name__}.{module}"), function)(*args)

    call.__name__ = function
    call.__doc__ = f"{module}.{function}, imported on first call."
    return call


@hookimpl
def register_model_sources(register):
    """Register the four vision sources."""
    for prefix, (module, extra, description) in SOURCES.items():
        register(ModelSourceMeta(
            name=prefix, kind="vision", description=description, requires=extra, version="1",
            loader=deferred(module, "resolve"), names=deferred(module, "offered"), fetch=deferred(module, "fetch"),
        ))
