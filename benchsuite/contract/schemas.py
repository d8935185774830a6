"""Validated records shared by the harness and its plugins.

Metadata records (``*Meta``) describe a plugin item declaratively, separate from
the code that runs it (as MTEB's ``ModelMeta`` does); ``load(**options)`` calls
the item's loader, which is where heavy imports belong. The ``Protocol`` classes
say what a loaded item must offer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Protocol, get_args, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

PLAIN_NAME_PATTERN = r"^[a-z0-9][a-z0-9_.\-]*$"
"""A name a plugin registers through a hook: lower case letters, digits, `_`, `.`, `-`."""
QUALIFIED_NAME_PATTERN = r"^[a-z0-9][a-z0-9_.\-]*:[A-Za-z0-9_./@:\-]+$"
"""A model source's name, ``PREFIX:REST`` (e.g. ``timm:convnext_tiny.fb_in1k``, ``hf:facebook/dinov2-small``)."""
NAME_PATTERN = r"^[a-z0-9][a-z0-9_.\-]*(:[A-Za-z0-9_./@:\-]+)?$"
"""Any item name: a plain name, or a qualified name resolved through a model source."""


def slug(name: str) -> str:
    """A file-name-safe form of a suite, design or model name (records files, plots, timings)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


VisionRole = Literal["model", "baseline", "untrained"]
"""What a vision model is on the leaderboard: a network to rank, a parameter-free baseline, a random-weight control."""
Framework = Literal["keras", "torch", "numpy"]
FRAMEWORKS: tuple[str, ...] = get_args(Framework)
"""Allowed ``VisionModelMeta.framework`` values: they decide which library versions join the cache key."""


class PluginItemMeta(BaseModel):
    """Fields every registered item has."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True, extra="forbid")

    name: str = Field(
        pattern=NAME_PATTERN,
        description="Unique name within its kind: lower case letters, digits, `_`, `.`, `-`; used on the "
        "command line, in `registry.toml` and in `--set NAME.OPTION=VALUE`. A model source's items are named "
        "`PREFIX:REST` (REST may also hold upper case, `/`, `@` and `:`); hooks register plain names only.",
    )
    description: str = Field("", description="One line shown by `benchsuite list`; cosmetic (never in a cache key).")
    version: str = Field(
        "1",
        description="The item's own version: bump it whenever your code changes the numbers it computes, "
        "so that cached results are recomputed.",
    )
    license: str = Field("unknown", description="Licence of the weights or data (SPDX id where there is one).")
    loader: Callable[..., Any] = Field(
        exclude=True,
        repr=False,
        description="Called with keyword options to build the runnable item: the suite's options and `--set` "
        "values, plus `device` (and, for vision, the run's `seed`) where its signature takes them; heavy imports "
        "belong inside it. Raise `ResourceMissing` when files are absent.",
    )

    def load(self, **options: Any) -> Any:
        """Build the runnable item; heavy imports and file reads happen here."""
        return self.loader(**options)

    def public(self) -> dict[str, Any]:
        """The metadata as plain JSON-able data (no loader)."""
        return self.model_dump(mode="json")


class VisionModelMeta(PluginItemMeta):
    """A vision model: its layers in network order and how images reach it."""

    framework: Framework = Field(
        description="The library that computes the activations, one of "
        + ", ".join(f"`{name}`" for name in FRAMEWORKS)
        + "; its version (and the Keras backend's) joins the layer cache key. Use `numpy` for anything else."
    )
    input_size: int = Field(
        gt=0,
        description="Side in pixels of the square input the model's `preprocess` produces (e.g. 224); "
        "informative: the harness never resizes for you. Use 1 when the model takes images at their own size.",
    )
    preprocessing: str = Field(
        description="How `preprocess` turns an RGB uint8 photo into input (crop, resize, resampling, "
        "scaling, mean/std): part of the cache key, so describe every step that changes the numbers."
    )
    weights_source: str = Field(
        description="Where the weights come from (package, URL, file, or `none`); shown in provenance."
    )
    layers: tuple[str, ...] = Field(
        description="Every layer `forward` can report, unique, in network order (the leaderboard's depth axis)."
    )
    predicts_imagenet: bool = Field(
        False,
        description="True when `forward` returns top-1 ImageNet-1k indices (0 = tench, 0-999) for every "
        "batch: this, with concepts that carry an `imagenet_index` and a design with image groups, is what "
        "enables the 1 vs 2 test. True with a `forward` that returns None is an error.",
    )
    trained: bool = Field(
        True, description="False for random-weight controls and parameter-free baselines (recorded with the results)."
    )
    role: VisionRole = Field(
        "model",
        description="`model` for a network to rank; `baseline` for a parameter-free reference every model should "
        "beat (the pixel baseline); `untrained` for a random-weight control. Recorded with every record: the "
        "leaderboard reports each model's gain over the baselines and over its untrained twin.",
    )
    twin: str | None = Field(
        None,
        description="For role `untrained`: the name of the trained model of the same architecture (e.g. "
        "`mobilenet_v2` for `mobilenet_v2_untrained`), whose gain over this control the leaderboard reports.",
    )

    @field_validator("layers")
    @classmethod
    def _layers_unique(cls, layers: tuple[str, ...]) -> tuple[str, ...]:
        if not layers:
            raise ValueError("a vision model must expose at least one layer")
        if len(set(layers)) != len(layers):
            raise ValueError(f"layer names must be unique, got {layers}")
        return layers


class TextEmbeddingMeta(PluginItemMeta):
    """A text embedding: concept names to vectors of one fixed dimension."""

    dimension: int = Field(
        gt=0, description="Length of every vector `embed` returns (checked by `benchsuite check`)."
    )
    source: str = Field(
        description="Where the vectors come from: the corpus or model and its citation (shown in provenance)."
    )
    cased: bool = Field(
        False, description="True when the vocabulary distinguishes case, so `Dog` and `dog` may differ."
    )
    packages: tuple[str, ...] = Field(
        (), description="Distributions whose versions reach the vectors (e.g. `sentence-transformers`), recorded "
        "in every record's provenance beside the core's and the vision model's framework."
    )
    cpu_drift: dict[str, float] = Field(
        default_factory=dict,
        description="By metric name, how far scores against this model may move on another CPU (e.g. an engine "
        "whose vectors differ slightly by CPU); recorded with each record, and the leaderboard's tiers count "
        "differences within twice this as ties. Empty when the vectors are the same everywhere.",
    )


class ImageSourceMeta(PluginItemMeta):
    """An image source: labelled photos; its loader gets the suite's options (e.g. `root`)."""


class ConceptSetMeta(PluginItemMeta):
    """A concept set: the candidate concepts a suite draws from."""


class MetricMeta(PluginItemMeta):
    """A statistic on two k×k similarity matrices over the same concepts."""

    chance: float | None = Field(
        None,
        description="The statistic's value when the two matrices are unrelated (0.5 for 2 vs 2, 0 for RSA); "
        "None when it depends on the number of concepts, and is then read off the permutation null.",
    )
    higher_is_better: bool = Field(
        True, description="False for a distance-like statistic; the leaderboard ranks and picks best layers by it."
    )
    symmetric: bool = Field(
        True, description="True when f(A, B) == f(B, A), as for every built-in statistic; `benchsuite check` tests it."
    )
    heldout_summary: bool = Field(
        False,
        description="True for the 2 vs 2 test alone: its per-layer records get the held-out headline record "
        "(`two_vs_two_heldout`, docs/methods.md), whose family-wise p reuses their permutation nulls.",
    )


class ModelSourceMeta(PluginItemMeta):
    """A model source: every model of one library by name, as ``PREFIX:REST`` (``timm:convnext_tiny.fb_in1k``).

    ``name`` is the prefix. ``loader`` resolves: called with REST, it returns the item's record
    (``VisionModelMeta`` or ``TextEmbeddingMeta``) named ``PREFIX:REST``; it raises ``ValueError`` (or
    ``BenchsuiteError``) with a one-line reason for a malformed or unknown name, and ``ResourceMissing``
    naming the pip extra when the library is not installed. Resolving reads no weights and never touches
    the network; ``fetch`` is the only path that downloads.
    """

    kind: Literal["vision", "text"] = Field(description="Which catalogue the source's names resolve in.")
    names: Callable[[], list[str]] = Field(
        exclude=True,
        repr=False,
        description="What the source offers (REST parts), for `benchsuite list vision --source PREFIX`; "
        "may import the library (raise `ResourceMissing` when it is absent).",
    )
    fetch: Callable[[str], str] = Field(
        exclude=True,
        repr=False,
        description="Downloads REST's weights into the library's own cache and returns where they are: "
        "the only network path, run by `benchsuite fetch --vision/--text PREFIX:REST`.",
    )
    requires: str = Field("", description="The pip extra that installs the library, e.g. `timm` for "
                          "`pip install 'benchsuite[timm]'`; empty when the core install has it.")

    @field_validator("name")
    @classmethod
    def _prefix_is_plain(cls, name: str) -> str:
        if ":" in name:
            raise ValueError(f"a model source's name is its prefix, without ':' (got {name!r})")
        return name


class Concept(BaseModel):
    """A concept: an id (a wnid for ImageNet classes) and its names, preferred first."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Stable id that aligns images, vectors and matrices (a wnid for ImageNet classes).")
    names: tuple[str, ...] = Field(
        description="Names to look up in text models, preferred first (synonyms in order, phrases allowed); "
        "a text model takes the first name it covers and no earlier concept took."
    )
    imagenet_index: int | None = Field(
        None, description="The ImageNet-1k class index (0-999) when the concept is one; needed by the 1 vs 2 test."
    )

    @field_validator("names")
    @classmethod
    def _has_name(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        if not names:
            raise ValueError("a concept needs at least one name")
        return names


class ImageRecord(BaseModel):
    """One labelled photo; ``id`` is stable across machines (no absolute paths)."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Stable across machines, e.g. `label/file.jpg`; never an absolute path.")
    concept_id: str = Field(description="The `Concept.id` the photo shows.")
    path: str = Field(description="Where `ImageSource.read` finds the file (may be absolute; not part of any key).")


class ConceptVector(BaseModel):
    """A concept's word vector and how it was matched (word, phrase token or mean)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    vector: np.ndarray = Field(description="The concept's vector, 1-D, of the model's declared `dimension`.")
    matched: str = Field(
        description="The text actually embedded: the vocabulary token, phrase token or name that was looked up."
    )
    how: Literal["word", "phrase", "mean", "sentence"] = Field(
        description="`word`: one vocabulary word; `phrase`: a multi-word token (e.g. `ice_cream`); `mean`: "
        "the mean of the name's word vectors; `sentence`: a sentence encoder's embedding of the name."
    )


@runtime_checkable
class VisionModel(Protocol):
    """A loaded vision model: what the runner reads and calls, in this order."""

    layers: Sequence[str]
    """The layers it reports, in network order (the registered ``VisionModelMeta.layers``)."""

    weights_hash: str
    """Identifies the weights (a file's sha256, or e.g. ``untrained-seed0``): its fingerprint in every cache key,
    so it must change whenever the loaded numbers change (other weights, another seed)."""

    def preprocess(self, images: Sequence[np.ndarray]) -> Any:
        """RGB uint8 images (H, W, 3), of any sizes, to the model's input batch."""

    def forward(
        self, batch: np.ndarray, layers: Sequence[str], on_layer: Callable[[str, np.ndarray], None]
    ) -> np.ndarray | None:
        """Run a batch; call ``on_layer(name, activations)`` once per requested layer, in network order.

        Activations have shape ``(batch, ...)`` and finite values, as numpy arrays or
        torch tensors (a model on a GPU hands its tensors over as they are, and the
        harness centres and multiplies them there); the harness flattens, centres and
        accumulates them and drops them at once. Returns
        top-1 ImageNet-1k indices (0 = tench, 0-999) for the batch when the model
        is registered with ``predicts_imagenet=True``, else None.
        """


@runtime_checkable
class TextEmbedding(Protocol):
    """A loaded text embedding."""

    fingerprint: str
    """Identifies the vectors (file digest, package version, options that change them): part of the cache key;
    when absent the runner falls back to the registered ``version``."""

    def embed(self, concepts: Sequence[Concept]) -> Mapping[str, ConceptVector]:
        """Vectors by concept id; a concept the model cannot cover is absent."""


@runtime_checkable
class ImageSource(Protocol):
    """A loaded image source."""

    fingerprint: str
    """Identifies the photos on offer (their ids, labels and content): changes when they change."""

    def images(self) -> Sequence[ImageRecord]:
        """Every labelled image the source offers."""

    def read(self, record: ImageRecord) -> np.ndarray:
        """The image as RGB uint8 (H, W, 3); raises ``ImageUnreadable``."""


@runtime_checkable
class ConceptSet(Protocol):
    """A loaded concept set."""

    def concepts(self) -> Sequence[Concept]:
        """Candidate concepts, in a stable order."""


@runtime_checkable
class Metric(Protocol):
    """What ``MetricMeta.load()`` returns: a statistic on two k×k similarity matrices over the same concepts."""

    def __call__(self, a: np.ndarray, b: np.ndarray, /) -> float:
        """The statistic for (vision matrix, text matrix), a finite float; f(A, B) == f(B, A) unless registered
        ``symmetric=False``."""
