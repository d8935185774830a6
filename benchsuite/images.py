"""Reading photos as RGB uint8 arrays, and listing image files in folder trees."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from benchsuite.errors import ImageUnreadable

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".npy"})


def is_image_file(path: Path) -> bool:
    """Whether ``path`` is a file with an image suffix (case-insensitive), hidden files excluded."""
    return path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_SUFFIXES


def image_files(folder: Path) -> Iterator[Path]:
    """The image files directly inside ``folder``, sorted by name."""
    return (path for path in sorted(folder.iterdir()) if is_image_file(path))


def _as_rgb(array: np.ndarray) -> np.ndarray:
    """Grey (H, W) or (H, W, 1) and RGBA (H, W, 4) uint8 arrays to (H, W, 3)."""
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) array, got {array.shape}")
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    return np.ascontiguousarray(array[:, :, :3])


def _read_npy(path: Path) -> np.ndarray:
    array = np.load(path, allow_pickle=False)
    if array.dtype != np.uint8:
        raise ValueError(f"expected a uint8 array, got {array.dtype}")
    return _as_rgb(array)


def _read_picture(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as picture:
        picture.load()
        return np.asarray(picture.convert("RGB"), dtype=np.uint8)


def read_image(path: str | Path) -> np.ndarray:
    """The image at ``path`` as RGB uint8 (H, W, 3); raises ``ImageUnreadable`` naming the file."""
    path = Path(path)
    reader = _read_npy if path.suffix.lower() == ".npy" else _read_picture
    try:
        image = reader(path)
    except Exception as error:  # PIL and numpy raise many types for a bad file
        raise ImageUnreadable(f"cannot read image {path}: {error}") from error
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ImageUnreadable(f"cannot read image {path}: it is empty ({image.shape})")
    return image
