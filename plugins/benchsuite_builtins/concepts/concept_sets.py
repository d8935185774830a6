"""Concept sets: the ImageNet-1k classes, and users' own concepts from folder names."""

from __future__ import annotations

from pathlib import Path

from benchsuite.plugin import Concept, ResourceMissing, concepts_by_wnid, imagenet_concepts

FOLDER_LAYOUT = "one sub-folder per concept named by its wnid or its name, e.g. DIR/n02123045/ or DIR/aardvark/"


class ImageNet1k:
    """The 1000 ImageNet-1k classes in index order."""

    def concepts(self) -> list[Concept]:
        return list(imagenet_concepts())


def concept_from_folder_name(name: str) -> Concept:
    """An ImageNet wnid folder becomes that class (with its synonyms); any other name is the concept's name."""
    known = concepts_by_wnid().get(name)
    if known is not None:
        return known
    return Concept(id=name, names=(name.replace("_", " "),))


class FolderConcepts:
    """Concepts named by the sub-folders of ``root`` (e.g. a THINGS image tree), sorted by folder name."""

    def __init__(self, root: str | None = None):
        if root is None:
            raise ResourceMissing(f"no concept folder given: pass --set folder.root=DIR, where DIR has {FOLDER_LAYOUT}")
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise ResourceMissing(
                f"concept folder {self.root} does not exist: pass --set folder.root=DIR, where DIR has {FOLDER_LAYOUT}"
            )

    def concepts(self) -> list[Concept]:
        return [
            concept_from_folder_name(path.name)
            for path in sorted(self.root.iterdir())
            if path.is_dir() and not path.name.startswith(".")
        ]
