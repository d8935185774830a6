"""Validated records shared by the harness and its plugins.

Metadata records (``*Meta``) describe a plugin item declaratively, separate from
the code that runs it (as MTEB's ``ModelMeta`` does); ``load(**options)`` calls
the item's loader, which is where heavy imports belong. The ``Protocol`` classes
say what a loaded item must offer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

NAME_PATTERN = r"^[a-z0-9][a-z0-9_.\-]*$"


class PluginItemMeta(BaseModel):
    """Fields every registered item has."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True, extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    version: str = "1"
    license: str = "unknown"
    loader: Callable[..., Any] = Field(exclude=True, repr=False)

    def load(self, **options: Any) -> Any:
        """Build the runnable item; heavy imports and file reads happen here."""
        return self.loader(**options)

    def public(self) -> dict[str, Any]:
        """The metadata as plain JSON-able data (no loader)."""
        return self.model_dump(mode="json")


class VisionModelMeta(PluginItemMeta):
    framework: Literal["keras", "torch", "numpy"]
    input_size: int = Field(gt=0)
    preprocessing: str
    weights_source: str
    layers: tuple[str, ...]
    predicts_imagenet: bool = False
    trained: bool = True

    @field_validator("layers")
    @classmethod
    def _layers_unique(cls, layers: tuple[str, ...]) -> tuple[str, ...]:
        if not layers:
            raise ValueError("a vision model must expose at least one layer")
        if len(set(layers)) != len(layers):
            raise ValueError(f"layer names must be unique, got {layers}")
        return layers


class TextEmbeddingMeta(PluginItemMeta):
    dimension: int = Field(gt=0)
    source: str
    cased: bool = False


class ImageSourceMeta(PluginItemMeta):
    pass


class ConceptSetMeta(PluginItemMeta):
    pass


class MetricMeta(PluginItemMeta):
    """A statistic on two k×k similarity matrices over the same concepts."""

    chance: float | None = None  # None: read chance off the permutation null
    higher_is_better: bool = True
    permutable: bool = True


class Concept(BaseModel):
    """A concept: an id (a wnid for ImageNet classes) and its names, preferred first."""

    model_config = ConfigDict(frozen=True)

    id: str
    names: tuple[str, ...]
    imagenet_index: int | None = None

    @field_validator("names")
    @classmethod
    def _has_name(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        if not names:
            raise ValueError("a concept needs at least one name")
        return names


class ImageRecord(BaseModel):
    """One labelled photo; ``id`` is stable across machines (no absolute paths)."""

    model_config = ConfigDict(frozen=True)

    id: str
    concept_id: str
    path: str


class ConceptVector(BaseModel):
    """A concept's word vector and how it was matched (word, phrase token or mean)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    vector: np.ndarray
    matched: str
    how: Literal["word", "phrase", "mean", "sentence"]


@runtime_checkable
class VisionModel(Protocol):
    """A loaded vision model."""

    layers: Sequence[str]
    weights_hash: str

    def preprocess(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """RGB uint8 images (H, W, 3) to the model's input batch."""

    def forward(
        self, batch: np.ndarray, layers: Sequence[str], on_layer: Callable[[str, np.ndarray], None]
    ) -> np.ndarray | None:
        """Run a batch; call ``on_layer(name, activations)`` in network order.

        Returns top-1 ImageNet-1k indices (0 = tench) when the model has an
        ImageNet classifier, else None.
        """


@runtime_checkable
class TextEmbedding(Protocol):
    """A loaded text embedding."""

    def embed(self, concepts: Sequence[Concept]) -> Mapping[str, ConceptVector]:
        """Vectors by concept id; a concept the model cannot cover is absent."""


@runtime_checkable
class ImageSource(Protocol):
    def images(self) -> Sequence[ImageRecord]:
        """Every labelled image the source offers."""

    def read(self, record: ImageRecord) -> np.ndarray:
        """The image as RGB uint8 (H, W, 3); raises ``ImageUnreadable``."""


@runtime_checkable
class ConceptSet(Protocol):
    def concepts(self) -> Sequence[Concept]:
        """Candidate concepts, in a stable order."""
