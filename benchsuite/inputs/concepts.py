"""Choosing a suite's concepts and splitting their photos into groups.

Two designs turn photos into one k×k similarity matrix per vision layer:

* **Groups** (the paper's): ``make_groups`` puts one photo of every concept into
  each of ``n_groups`` groups (5 photos per concept, 5 groups in the paper);
  each group gives its own k×k matrix and scores are averaged over groups.
* **Per-concept means**: ``images_by_concept`` lists all of a concept's photos;
  the runner averages each concept's activations over them and builds a single
  k×k matrix from the k mean vectors. Every photo counts, so concepts need only
  ``min_images=1``, but there is no spread over groups to report.

Concepts are aligned by id everywhere; images are ordered by id so that the
assignment never depends on how a source happened to list its files.

Names to vectors (``match_concept_names``): a concept's synonyms are tried in
order ("tabby", then "tabby cat"); the first that the text model can embed wins,
unless an earlier concept of the same call already took the same matched text
(ImageNet has two classes named "crane"), in which case the next synonym is
tried, and a concept with none left has no vector. How a single name is looked
up (phrase token, mean of words, case) is the text model's part.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from benchsuite.contract.errors import ImageUnreadable
from benchsuite.contract.schemas import Concept, ConceptVector, ImageRecord, ImageSource


@dataclass(frozen=True)
class ImageGroup:
    """One photo per concept: ``images[i]`` shows ``concept_ids[i]``."""

    index: int
    concept_ids: tuple[str, ...]
    images: tuple[ImageRecord, ...]


@dataclass
class ConceptSelection:
    """The concepts a suite keeps, and why each other candidate was dropped."""

    chosen: list[Concept]
    dropped: dict[str, str] = field(default_factory=dict)


def images_by_concept(concepts: Sequence[Concept], images: Sequence[ImageRecord]) -> dict[str, list[ImageRecord]]:
    """Each concept's photos sorted by image id (an empty list when it has none)."""
    grouped: dict[str, list[ImageRecord]] = {concept.id: [] for concept in concepts}
    for record in sorted(images, key=lambda record: record.id):
        if record.concept_id in grouped:
            grouped[record.concept_id].append(record)
    return grouped


def _count_phrase(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def select_concepts(
    candidates: Sequence[Concept],
    images: Sequence[ImageRecord],
    covered: Mapping[str, Collection[str]],
    *,
    min_images: int,
) -> ConceptSelection:
    """Keep the candidates that every text model covers and that have ``min_images`` photos.

    ``covered`` maps each text model's name to the concept ids it has a vector
    for. A dropped concept's reason lists every rule it failed.
    """
    if min_images < 1:
        raise ValueError(f"min_images must be at least 1, got {min_images}")
    photos = images_by_concept(candidates, images)
    covered_sets = {model: set(ids) for model, ids in covered.items()}
    selection = ConceptSelection(chosen=[])
    for concept in candidates:
        reasons = []
        missing = [model for model, ids in covered_sets.items() if concept.id not in ids]
        if missing:
            reasons.append(f"no vector in {', '.join(missing)}")
        found = len(photos[concept.id])
        if found < min_images:
            reasons.append(f"{_count_phrase(found, 'readable image')}, {min_images} needed")
        if reasons:
            selection.dropped[concept.id] = "; ".join(reasons)
        else:
            selection.chosen.append(concept)
    return selection


def _concept_rng(seed: int, concept_id: str) -> np.random.Generator:
    """A generator for one concept, so that adding a concept never reshuffles another."""
    digest = hashlib.sha256(f"{seed}/{concept_id}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def make_groups(
    concepts: Sequence[Concept], images: Sequence[ImageRecord], *, n_groups: int, seed: int
) -> list[ImageGroup]:
    """Split photos into ``n_groups`` groups holding every concept once, by a seeded shuffle.

    Each concept's photos are sorted by id, shuffled with a generator seeded by
    ``seed`` and the concept id, and the first ``n_groups`` go to groups 0, 1, ...
    """
    if n_groups < 1:
        raise ValueError(f"n_groups must be at least 1, got {n_groups}")
    photos = images_by_concept(concepts, images)
    short = {cid: len(records) for cid, records in photos.items() if len(records) < n_groups}
    if short:
        listed = ", ".join(f"{cid} ({count})" for cid, count in sorted(short.items()))
        raise ValueError(
            f"{n_groups} groups need at least {n_groups} images per concept; too few for: {listed}. "
            f"Select concepts with min_images={n_groups} or use fewer groups"
        )
    picks: dict[str, list[ImageRecord]] = {}
    for concept in concepts:
        order = _concept_rng(seed, concept.id).permutation(len(photos[concept.id]))[:n_groups]
        picks[concept.id] = [photos[concept.id][i] for i in order]
    concept_ids = tuple(concept.id for concept in concepts)
    return [
        ImageGroup(index=g, concept_ids=concept_ids, images=tuple(picks[cid][g] for cid in concept_ids))
        for g in range(n_groups)
    ]


def filter_readable(source: ImageSource, images: Sequence[ImageRecord]) -> tuple[list[ImageRecord], dict[str, str]]:
    """The images ``source.read`` can decode, and {image id: reason} for the rest (each warned)."""
    readable: list[ImageRecord] = []
    skipped: dict[str, str] = {}
    for record in images:
        try:
            source.read(record)
        except ImageUnreadable as error:
            skipped[record.id] = str(error)
            warnings.warn(f"skipping unreadable image {record.id}: {error}", stacklevel=2)
        else:
            readable.append(record)
    return readable, skipped


def match_concept_names(
    concepts: Sequence[Concept], lookup: Callable[[str], ConceptVector | None]
) -> dict[str, ConceptVector]:
    """Vectors by concept id: each concept's first synonym that ``lookup`` embeds and no earlier concept took."""
    taken: set[str] = set()
    vectors: dict[str, ConceptVector] = {}
    for concept in concepts:
        for name in concept.names:
            found = lookup(name)
            if found is not None and found.matched not in taken:
                taken.add(found.matched)
                vectors[concept.id] = found
                break
    return vectors
