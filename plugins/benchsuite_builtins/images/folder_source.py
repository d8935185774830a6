"""Image sources over files on disk: any ``root/<label>/*`` tree."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from benchsuite.plugin import ImageRecord, ResourceMissing, image_files, read_image


def listing_fingerprint(name: str, records: Iterable[ImageRecord]) -> str:
    """A digest of image ids, labels, file sizes and modification times (no file is read).

    Changes when a photo is added, removed, relabelled or replaced, even by one of the same size.
    """
    digest = hashlib.sha256(name.encode())
    for record in records:
        status = Path(record.path).stat()
        digest.update(f"{record.id}\0{record.concept_id}\0{status.st_size}\0{status.st_mtime_ns}\n".encode())
    return f"{name}:{digest.hexdigest()}"


def existing_root(root: str | None, option: str, layouts: str) -> Path:
    """``root`` as a directory, or ResourceMissing naming the option and the expected layouts."""
    if root is None:
        raise ResourceMissing(f"no image folder given: pass --set {option}=DIR, where DIR holds {layouts}")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise ResourceMissing(f"image folder {path} does not exist: pass --set {option}=DIR, where DIR holds {layouts}")
    return path


class FileImageSource:
    """Labelled image files; subclasses say how to list them."""

    name = "files"

    def __init__(self, records: list[ImageRecord]):
        ids = [record.id for record in records]
        if len(set(ids)) != len(ids):
            repeated = sorted({i for i in ids if ids.count(i) > 1})[:5]
            raise ValueError(f"{self.name}: image ids must be unique, repeated: {', '.join(repeated)}")
        self._records = sorted(records, key=lambda record: record.id)
        self.fingerprint = listing_fingerprint(self.name, self._records)

    def images(self) -> list[ImageRecord]:
        """Every labelled image, sorted by id."""
        return list(self._records)

    def read(self, record: ImageRecord) -> np.ndarray:
        """The photo as RGB uint8 (H, W, 3)."""
        return read_image(record.path)


FOLDER_LAYOUT = "one sub-folder per label, e.g. DIR/cat/1.jpg, DIR/dog/2.png (.jpg, .png, .npy, ...)"


class FolderSource(FileImageSource):
    """``root/<label>/<file>``: the label (folder name) is the concept id."""

    name = "folder"

    def __init__(self, root: str | None = None):
        self.root = existing_root(root, "folder.root", FOLDER_LAYOUT)
        records = [
            ImageRecord(id=f"{folder.name}/{path.name}", concept_id=folder.name, path=str(path))
            for folder in sorted(self.root.iterdir())
            if folder.is_dir() and not folder.name.startswith(".")
            for path in image_files(folder)
        ]
        if not records:
            warnings.warn(f"no images found under {self.root}; expected {FOLDER_LAYOUT}", stacklevel=2)
        super().__init__(records)
