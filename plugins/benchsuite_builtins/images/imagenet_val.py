"""A user's ImageNet-2012 validation images, flat or one folder per wnid."""

from __future__ import annotations

import warnings
from pathlib import Path

from benchsuite.plugin import ImageRecord, concept_by_index, concepts_by_wnid, image_files, val_labels
from benchsuite_builtins.images.folder_source import FileImageSource, existing_root

VAL_LAYOUTS = (
    "the ImageNet-2012 validation images either flat (DIR/ILSVRC2012_val_00000001.JPEG ...) "
    "or one folder per wnid (DIR/n01440764/ILSVRC2012_val_00000293.JPEG ...)"
)


def _flat_records(root: Path) -> list[ImageRecord]:
    labels = val_labels()
    records, unknown = [], []
    for path in image_files(root):
        if path.name in labels:
            wnid = concept_by_index(labels[path.name]).id
            records.append(ImageRecord(id=path.name, concept_id=wnid, path=str(path)))
        else:
            unknown.append(path.name)
    if unknown:
        warnings.warn(
            f"{len(unknown)} files in {root} are not ImageNet-2012 validation images and were ignored "
            f"(e.g. {unknown[0]})",
            stacklevel=3,
        )
    return records


def _wnid_folder_records(root: Path, folders: list[Path]) -> list[ImageRecord]:
    return [
        ImageRecord(id=path.name, concept_id=folder.name, path=str(path))
        for folder in folders
        for path in image_files(folder)
    ]


class ImageNetValSource(FileImageSource):
    """ImageNet validation photos labelled by file name (flat) or by wnid folder.

    Image ids are the file names in both layouts, so the same photos give the
    same groups however they are arranged.
    """

    name = "imagenet_val"

    def __init__(self, root: str | None = None):
        self.root = existing_root(root, "imagenet_val.root", VAL_LAYOUTS)
        known = concepts_by_wnid()
        folders = [p for p in sorted(self.root.iterdir()) if p.is_dir() and p.name in known]
        records = _wnid_folder_records(self.root, folders) if folders else _flat_records(self.root)
        if not records:
            warnings.warn(f"no ImageNet validation images found in {self.root}; expected {VAL_LAYOUTS}", stacklevel=2)
        super().__init__(records)
