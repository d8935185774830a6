"""A tiny, fully synthetic suite (12 concepts, numpy model and vectors) and plugins that misbehave on purpose.

Everything is deterministic and runs in well under a second, so runner edge cases are tested on real
plugin discovery (``pluggy`` hooks) without photos or networks.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Sequence

import numpy as np

from benchsuite.contract.hookspecs import hookimpl
from benchsuite.contract.manager import Registry, make_plugin_manager
from benchsuite.contract.schemas import (
    Concept,
    ConceptSetMeta,
    ConceptVector,
    ImageRecord,
    ImageSourceMeta,
    MetricMeta,
    TextEmbeddingMeta,
    VisionModelMeta,
)
from benchsuite.inputs.suites import Design, Suite

K = 12
CONCEPTS = [Concept(id=f"c{i:02d}", names=(f"word{i}",), imagenet_index=i) for i in range(K)]
LAYERS = ("early", "middle", "late")


def rng_for(text: str) -> np.random.Generator:
    return np.random.default_rng(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little"))


class ToySource:
    """Two 8×8 photos per concept, drawn from a per-concept pattern plus noise."""

    fingerprint = "toy-source-1"

    def images(self) -> list[ImageRecord]:
        return [ImageRecord(id=f"{c.id}/{n}.png", concept_id=c.id, path=f"/nonexistent/{c.id}/{n}.png")
                for c in CONCEPTS for n in range(2)]

    def read(self, record: ImageRecord) -> np.ndarray:
        base = rng_for(record.concept_id).integers(0, 200, size=(8, 8, 3))
        noise = rng_for(record.id).integers(0, 50, size=(8, 8, 3))
        return (base + noise).astype(np.uint8)


class ToyConcepts:
    def concepts(self) -> list[Concept]:
        return list(CONCEPTS)


class ToyModel:
    """Three layers of fixed random projections; ``nan_layer``/``constant_layer`` break one image on purpose."""

    layers = LAYERS
    weights_hash = "toy-weights"

    def __init__(self, nan_layer: str | None = None, constant_layer: str | None = None, bad_image: int = 3,
                 predictions: str = "none"):
        self.nan_layer, self.constant_layer, self.bad_image = nan_layer, constant_layer, bad_image
        self.predictions = predictions
        self.seen = 0
        weights = np.random.default_rng(0)
        self.projections = [weights.standard_normal((192, 40)), weights.standard_normal((40, 30)),
                            weights.standard_normal((30, 20))]

    def preprocess(self, images: Sequence[np.ndarray]) -> np.ndarray:
        return np.stack([np.asarray(im, dtype=np.float64).reshape(-1) / 255.0 for im in images])

    def forward(self, batch: np.ndarray, layers: Sequence[str], on_layer: Callable[[str, np.ndarray], None]):
        values = batch
        positions = np.arange(self.seen, self.seen + len(batch))
        self.seen += len(batch)
        for name, projection in zip(LAYERS, self.projections, strict=True):
            values = np.tanh(values @ projection)
            out = values.astype(np.float32)
            hit = positions == self.bad_image
            if name == self.nan_layer and hit.any():
                out = out.copy()
                out[np.argmax(hit), 0] = np.nan
            if name == self.constant_layer and hit.any():
                out = out.copy()
                out[np.argmax(hit)] = 0.5
            if name in layers:
                on_layer(name, out)
        if self.predictions == "none":
            return None
        if self.predictions == "out_of_range":
            return np.full(len(batch), 5000)
        # a toy classifier over groups of K images in concept order: right for even concepts, else the next one
        concept = positions % K
        return np.where(concept % 2 == 0, concept, (concept + 1) % K)


def vectors_for(concepts: Sequence[Concept], dimension: int = 16) -> dict[str, ConceptVector]:
    return {c.id: ConceptVector(vector=rng_for("text/" + c.id).standard_normal(dimension), matched=c.names[0],
                                how="word") for c in concepts}


class ToyText:
    """Word vectors; ``mode`` makes it misbehave: nan, ragged, flaky (coverage changes), partial, raw."""

    def __init__(self, mode: str = "good"):
        self.mode, self.calls = mode, 0
        self.fingerprint = f"toy-text-{mode}"

    def embed(self, concepts: Sequence[Concept]):
        self.calls += 1
        vectors = vectors_for(concepts)
        if self.mode == "nan":
            first = concepts[2].id
            vectors[first] = ConceptVector(vector=np.full(16, np.nan), matched="x", how="word")
        elif self.mode == "ragged":
            first = concepts[1].id
            vectors[first] = ConceptVector(vector=np.ones(7), matched="x", how="word")
        elif self.mode == "flaky" and self.calls > 1:
            vectors.pop(concepts[0].id)
        elif self.mode == "partial":
            vectors = {cid: v for cid, v in vectors.items() if int(cid[1:]) < K // 2}
        elif self.mode == "raw":
            return {cid: v.vector for cid, v in vectors.items()}
        return vectors


def raising_metric(A: np.ndarray, B: np.ndarray) -> float:
    raise ZeroDivisionError("the toy metric divides by zero")


def nan_metric(A: np.ndarray, B: np.ndarray) -> float:
    return float("nan")


# The module itself is the plugin: ``pm.register(toy_plugins)`` or an entry point ``toy = toy_plugins``.
@hookimpl
def register_image_sources(register):
    register(ImageSourceMeta(name="toy_photos", loader=lambda **o: ToySource()))


@hookimpl
def register_concept_sets(register):
    register(ConceptSetMeta(name="toy_concepts", loader=lambda **o: ToyConcepts()))


@hookimpl
def register_vision_models(register):
    def load(nan_layer=None, constant_layer=None, bad_image=3, predictions="none", device="cpu", seed=0):
        return ToyModel(nan_layer, constant_layer, bad_image, predictions)

    register(VisionModelMeta(name="toy_net", framework="numpy", input_size=8, preprocessing="/255",
                             weights_source="random", layers=LAYERS, loader=load))
    register(VisionModelMeta(name="toy_classifier", framework="numpy", input_size=8, preprocessing="/255",
                             weights_source="random", layers=LAYERS, predicts_imagenet=True,
                             loader=lambda device="cpu", seed=0, **o: ToyModel(**{"predictions": "half", **o})))


@hookimpl
def register_text_embeddings(register):
    for mode in ("good", "nan", "ragged", "flaky", "partial", "raw"):
        register(TextEmbeddingMeta(name=f"toy_text_{mode}", dimension=16, source="random",
                                   loader=lambda device="cpu", _mode=mode, **o: ToyText(_mode)))


@hookimpl
def register_metrics(register):
    register(MetricMeta(name="raising_metric", loader=lambda **o: raising_metric))
    register(MetricMeta(name="nan_metric", loader=lambda **o: nan_metric))


def toy_registry(**plugins: object) -> Registry:
    """A registry of this module's plugins (as ``toy_plugin``) and ``plugins`` (name -> plugin object)."""
    pm = make_plugin_manager()
    pm.register(sys.modules[__name__], name="toy_plugin")
    for name, plugin in plugins.items():
        pm.register(plugin, name=name)
    return Registry(pm)


def toy_suite(**changes) -> Suite:
    fields = dict(name="toy", vision=["toy_net"], text=["toy_text_good"], images="toy_photos",
                  concepts="toy_concepts", metrics=["two_vs_two", "rsa"], permutations=20, seed=0,
                  designs=[Design(name="one", groups=1), Design(name="two", groups=2)])
    fields.update(changes)
    return Suite(**fields)
