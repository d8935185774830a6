"""Text models: each loaded and embedded over the candidate concepts, checked against the contract, and the
k×k correlation matrix of its vectors over a design's concepts (cached by the vectors' digest)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchsuite.contract.errors import PluginDataError, describe_error
from benchsuite.contract.schemas import Concept, ConceptVector, TextEmbeddingMeta
from benchsuite.extraction.cache import ArrayCache, array_digest
from benchsuite.metrics.similarity import correlation_matrix
from benchsuite.run.items import Items


@dataclass
class TextModel:
    name: str
    fingerprint: str
    vectors: dict[str, np.ndarray]  # concept id -> vector, over every candidate concept
    how: dict[str, str]  # concept id -> how the name matched (word, phrase, mean, sentence)
    embed: Callable[[Sequence[Concept]], dict[str, np.ndarray]]
    declared: bool = True  # one of the suite's text models; False: an extra one, scored on its own intersection
    meta: TextEmbeddingMeta | None = None


def as_vectors(embedded: Any, name: str) -> dict[str, np.ndarray]:
    """Concept id -> float64 vector from text model ``name``'s ``embed`` output, checked against the contract.

    Raises ``PluginDataError`` naming the model and concept for anything but a mapping of concept ids
    to ``ConceptVector`` s whose vectors are 1-D, finite and all of one length.
    """
    if not isinstance(embedded, Mapping):
        raise PluginDataError(f"text model {name!r}: embed returned {type(embedded).__name__}; it must return "
                              "a mapping of concept id to ConceptVector")
    vectors: dict[str, np.ndarray] = {}
    for cid, cv in embedded.items():
        if not isinstance(cv, ConceptVector):
            raise PluginDataError(f"text model {name!r}: concept {cid!r} maps to {type(cv).__name__}, "
                                  "not a ConceptVector")
        vector = np.asarray(cv.vector, dtype=np.float64)
        if vector.ndim != 1 or vector.size == 0:
            raise PluginDataError(f"text model {name!r}: the vector of concept {cid!r} has shape {vector.shape}; "
                                  "each vector must be one non-empty row")
        if not np.isfinite(vector).all():
            raise PluginDataError(f"text model {name!r}: the vector of concept {cid!r} has NaN or inf entries")
        vectors[cid] = vector
    lengths = {v.size for v in vectors.values()}
    if len(lengths) > 1:
        first = {size: cid for cid, v in reversed(list(vectors.items())) for size in [v.size]}
        listed = ", ".join(f"{size} ({cid})" for size, cid in sorted(first.items()))
        raise PluginDataError(f"text model {name!r}: vectors of different lengths: {listed}")
    return vectors


def stable_embed(model: Any, name: str, covered: set[str]) -> Callable[[Sequence[Concept]], dict[str, np.ndarray]]:
    """``model.embed`` checked on every call, and refused when it stops covering a concept it covered at first."""

    def embed(concepts: Sequence[Concept]) -> dict[str, np.ndarray]:
        vectors = as_vectors(model.embed(concepts), name)
        lost = sorted(c.id for c in concepts if c.id in covered and c.id not in vectors)
        if lost:
            raise PluginDataError(f"text model {name!r}: coverage changed between calls: {len(lost)} concept(s) "
                                  f"had a vector on the first call and none now (e.g. {lost[0]}); embed must be "
                                  "deterministic")
        return vectors

    return embed


def load_text_models(items: Items, candidates: list[Concept]) -> list[TextModel]:
    """Each selected text model, loaded and embedded over every candidate; a model that fails is left out."""
    models = []
    for name in items.selected("text", items.suite.text, items.options.text):
        loaded = items.guarded_load("text", name, device=items.settings.device)
        if loaded is None:
            continue
        try:
            embedded = loaded.embed(candidates)
            vectors = as_vectors(embedded, name)
        except Exception as error:  # a plugin's bug fails that text model alone
            items.fail_item("text", name, describe_error(error))
            continue
        meta = items.registry.text[name]
        models.append(TextModel(
            name=name,
            fingerprint=str(getattr(loaded, "fingerprint", meta.version)),
            vectors=vectors,
            how={cid: cv.how for cid, cv in embedded.items()},
            embed=stable_embed(loaded, name, set(vectors)),
            declared=name in items.suite.text,
            meta=meta,
        ))
    return models


def text_matrix(model: TextModel, concepts: list[Concept], cache: ArrayCache) -> np.ndarray:
    """k×k correlation of the concepts' vectors, embedded over exactly these concepts.

    Keyed on a digest of the vectors themselves: a shared cache never hands back
    the matrix of vectors computed differently (another CPU, another library).
    """
    vectors = model.embed(concepts)
    stacked = np.stack([vectors[c.id] for c in concepts])
    key = {"text": model.name, "fingerprint": model.fingerprint, "concepts": [c.id for c in concepts],
           "vectors": array_digest(stacked)}
    found: np.ndarray = cache.get_or_compute("text", key, lambda: {"matrix": correlation_matrix(stacked)})["matrix"]
    return found
