"""What a model's records and layer matrices are keyed on, and where its numbers came from (provenance).

A records key covers everything that changes one model's records for one design: images by content, text
models by the vectors and matrices they gave, every setting; cosmetic metadata (description, licence) stays out.
"""

from __future__ import annotations

import platform
import time
from typing import Any

from benchsuite.contract.schemas import VisionModelMeta
from benchsuite.extraction.cache import array_digest, key_digest, vectors_digest
from benchsuite.extraction.layers import content_digests, framework_versions, numeric_meta, package_version
from benchsuite.inputs.concepts import ImageGroup
from benchsuite.results.records import Provenance
from benchsuite.run.items import Items
from benchsuite.run.prepare import DesignData
from benchsuite.run.text import TextModel

RECORDS_VERSION = "3"
"""Bumped whenever the runner computes a model's records differently (2: held-out summaries, failures per
metric, layer and text model; 3: records carry the items' roles, twins and CPU drift, provenance each item's
packages), so finished records of an older runner are recomputed, never reused."""
CORE_PACKAGES = ("benchsuite", "numpy", "scipy")


def records_key(items: Items, meta: VisionModelMeta, weights_hash: str, source: Any, data: DesignData,
                text_models: list[TextModel]) -> str:
    """A digest of everything that changes one model's records for one design."""
    settings = items.settings
    return key_digest({
        "suite": items.suite.model_dump(mode="json", exclude={"vision", "text", "description", "designs"}),
        "design": data.design.model_dump(mode="json"),
        "vision": numeric_meta(meta),
        "roles": [meta.role, meta.twin],
        "weights_hash": weights_hash,
        "versions": framework_versions(meta.framework),
        "context": extraction_context(items, meta),
        "source_fingerprint": str(getattr(source, "fingerprint", "")),
        "concept_set": numeric_meta(items.registry.concepts[items.suite.concepts]),
        "groups": [{"concepts": list(g.concept_ids), "images": [im.id for im in g.images],
                    "digests": content_digests(source, g.images, items.options.cache.file_digests)}
                   for g in data.groups],
        "text": {m.name: {"fingerprint": m.fingerprint, "declared": m.declared,
                          "vectors": vectors_digest(m.vectors),
                          "matrix": array_digest(data.text_matrices[m.name]),
                          "cpu_drift": dict(m.meta.cpu_drift) if m.meta is not None else {}}
                 for m in text_models if m.name in data.text_matrices},
        "permutations": settings.permutations,
        "seed": settings.seed,
        "records_version": RECORDS_VERSION,
        "metrics": [(n, items.registry.metrics[n].version) for n in settings.metrics if n in items.registry.metrics],
    })


def extraction_context(items: Items, meta: VisionModelMeta) -> dict[str, Any]:
    """What reaches a layer matrix besides the model and the photos: loader options, image source, seed."""
    images = items.suite.images
    return {
        "vision_options": {**items.item_options(meta.name), "device": items.settings.device},
        "image_source": {**numeric_meta(items.registry.images[images]), "options": items.item_options(images)},
        "seed": items.settings.seed,
    }


def cache_inputs(items: Items, meta: VisionModelMeta, source: Any, group: ImageGroup) -> dict[str, Any]:
    """The content half of a group's layer cache keys, for ``extract_groups_cached``."""
    return {"image_digests": content_digests(source, group.images, items.options.cache.file_digests),
            "context": extraction_context(items, meta)}


def package_versions(meta: VisionModelMeta, text: TextModel | None) -> dict[str, str]:
    """The versions behind one record: Python, the core's packages, the vision model's framework (as in its
    cache key) and the packages the text model declares."""
    names = [*CORE_PACKAGES, *(text.meta.packages if text is not None and text.meta is not None else ())]
    versions = {"python": platform.python_version()}
    versions.update({name: version for name in names if (version := package_version(name)) is not None})
    versions.update({name: str(value) for name, value in framework_versions(meta.framework).items()
                     if value is not None})
    return versions


def provenance(items: Items, meta: VisionModelMeta, weights_hash: str, text: TextModel | None) -> Provenance:
    """Where one record's numbers came from: versions, weights, settings, the text model's fingerprint."""
    settings = items.settings
    return Provenance(versions=package_versions(meta, text), weights_hash=weights_hash,
                      weights_source=meta.weights_source, seed=settings.seed, permutations=settings.permutations,
                      device=settings.device, text_fingerprint=text.fingerprint if text is not None else None,
                      time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
