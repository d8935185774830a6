"""The public plugin API: everything a benchsuite plugin may import, and nothing else.

A plugin imports only from this module: the hook marker, the metadata records a
hook registers, the protocols a loaded item satisfies, the errors the runner
treats specially, and the helpers (ImageNet classes, image reading and resizing,
file hashing, concept-name matching, the built-in statistics) that plugins share.

Stability promise, stated by ``API_VERSION`` ("MAJOR.MINOR"):

- a MINOR bump adds to the API (a new name in ``__all__``, a new optional metadata
  field with a default, a new optional protocol attribute); every plugin written
  for an earlier minor of the same major keeps working unchanged;
- a MAJOR bump removes or renames a name, adds a required field or protocol
  method, or changes what a field, hook or helper means; plugins must be updated.

Names not in ``__all__`` (and every other ``benchsuite`` module) are internal and
may change in any release. A plugin declares the range it was written for in its
own ``pyproject.toml``, e.g. ``dependencies = ["benchsuite>=0.1,<1"]``, and can
assert ``API_VERSION`` at import time where it needs a newer minor.

1.1 added model sources: the ``register_model_sources`` hook, the ``ModelSourceMeta`` record (a library's
models by ``PREFIX:NAME``, resolved on first use), and ``import_extra`` (a library import that becomes
``ResourceMissing`` naming the pip extra).

1.2 added item roles as metadata: ``VisionModelMeta.role`` (``model``, ``baseline``, ``untrained``) and
``twin``, ``TextEmbeddingMeta.packages`` and ``cpu_drift``, ``MetricMeta.heldout_summary``; all optional.
"""

import importlib
from pathlib import Path
from types import ModuleType

from benchsuite.contract.errors import BenchsuiteError, ImageUnreadable, ResourceMissing
from benchsuite.contract.hookspecs import hookimpl
from benchsuite.contract.schemas import (
    FRAMEWORKS,
    Concept,
    ConceptSet,
    ConceptSetMeta,
    ConceptVector,
    ImageRecord,
    ImageSource,
    ImageSourceMeta,
    Metric,
    MetricMeta,
    ModelSourceMeta,
    PluginItemMeta,
    TextEmbedding,
    TextEmbeddingMeta,
    VisionModel,
    VisionModelMeta,
)
from benchsuite.extraction import cache
from benchsuite.extraction.batches import check_rgb_uint8, resized_batch
from benchsuite.inputs.concepts import match_concept_names
from benchsuite.inputs.imagenet import (
    concept_by_index,
    concepts_by_wnid,
    imagenet_concepts,
    tiny_imagenet_wnids,
    val_labels,
)
from benchsuite.inputs.images import image_files, read_image
from benchsuite.metrics import METRICS, STATISTICS, MetricSpec

API_VERSION = "1.2"
"""The plugin API's version, "MAJOR.MINOR": a minor bump only adds, a major bump breaks."""


def default_cache_dir() -> Path:
    """The folder where plugins keep downloaded files: ``$BENCHSUITE_CACHE``, else ``~/.cache/benchsuite``."""
    return cache.default_cache_dir()


def file_sha256(path: Path) -> str:
    """The sha256 hex digest of a file's bytes, read in blocks: a weights or vector file's fingerprint."""
    return cache.file_sha256(path)


def import_extra(module: str, extra: str) -> ModuleType:
    """``module`` imported; ``ResourceMissing`` naming ``pip install 'benchsuite[EXTRA]'`` when it is not installed,
    so that an item whose optional library is absent is skipped with the one command that installs it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name is None or error.name.split(".")[0] != module.split(".")[0]:
            raise
        raise ResourceMissing(f"{module} is not installed: run `pip install 'benchsuite[{extra}]'`") from None


__all__ = [
    "API_VERSION",
    "FRAMEWORKS",
    "METRICS",
    "STATISTICS",
    "BenchsuiteError",
    "Concept",
    "ConceptSet",
    "ConceptSetMeta",
    "ConceptVector",
    "ImageRecord",
    "ImageSource",
    "ImageSourceMeta",
    "ImageUnreadable",
    "Metric",
    "MetricMeta",
    "MetricSpec",
    "ModelSourceMeta",
    "PluginItemMeta",
    "ResourceMissing",
    "TextEmbedding",
    "TextEmbeddingMeta",
    "VisionModel",
    "VisionModelMeta",
    "check_rgb_uint8",
    "concept_by_index",
    "concepts_by_wnid",
    "default_cache_dir",
    "file_sha256",
    "hookimpl",
    "image_files",
    "imagenet_concepts",
    "import_extra",
    "match_concept_names",
    "read_image",
    "resized_batch",
    "tiny_imagenet_wnids",
    "val_labels",
]
