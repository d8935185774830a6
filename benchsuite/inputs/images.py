"""Reading photos as RGB uint8 arrays, and listing image files in folder trees.

Every mode Pillow opens becomes RGB uint8 by its real range: 16-bit and wider
integer pixels are scaled by their bit depth (never clipped at 255), float pixels
must lie in [0, 1], colour spaces (CMYK, YCbCr, LAB, HSV) are converted, and an
alpha channel is dropped (the colour as stored, as ``convert("RGB")`` loaders do).
A mode whose black and white levels are not defined is refused, naming the mode.
Photos are read upright: an EXIF orientation other than 1 is applied as
``PIL.ImageOps.exif_transpose`` applies it (a camera's "rotated" photo is seen as its
viewer sees it).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from benchsuite.contract.errors import ImageUnreadable

if TYPE_CHECKING:
    from PIL import Image

DECODER_VERSION = "2"
"""Bumped whenever ``read_image`` turns the same bytes into other pixels (2: every mode by its real range),
so layer matrices cached from a file's bytes are never reused across decoders."""
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".npy"})

# Modes whose Pillow conversion to RGB is an exact 8-bit colour conversion.
EIGHT_BIT_MODES = frozenset({"1", "L", "RGB", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"})
# Modes with an alpha channel (premultiplied for "RGBa"): the colour channels are kept.
ALPHA_MODES = frozenset({"LA", "PA", "RGBA", "RGBa"})
SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
TIFF_BITS_PER_SAMPLE, TIFF_SAMPLE_FORMAT = 258, 339
TIFF_UNSIGNED = 1
EXIF_ORIENTATION = 0x0112
TURNS = {2: "FLIP_LEFT_RIGHT", 3: "ROTATE_180", 4: "FLIP_TOP_BOTTOM", 5: "TRANSPOSE", 6: "ROTATE_270",
         7: "TRANSVERSE", 8: "ROTATE_90"}
"""EXIF orientation -> the Pillow transpose that sets the photo upright (``ImageOps.exif_transpose``'s table)."""


class UnsupportedPixels(ValueError):
    """Pixels whose mapping to 0..255 is undefined (the message names the mode and the fix)."""


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


def scaled_to_uint8(values: np.ndarray, white: float) -> np.ndarray:
    """Pixels in [0, ``white``] mapped linearly onto 0..255, rounded to the nearest level."""
    return np.rint(values.astype(np.float64) * (255.0 / white)).astype(np.uint8)


def integer_bits(picture: Image.Image) -> int:
    """The bit depth of a mode "I" picture's unsigned pixels, read from its file; else ``UnsupportedPixels``."""
    if picture.format == "PNG":
        return 16
    tags = getattr(picture, "tag_v2", None)
    if picture.format == "TIFF" and tags is not None:
        sample_format = tags.get(TIFF_SAMPLE_FORMAT, (TIFF_UNSIGNED,))
        bits = tags.get(TIFF_BITS_PER_SAMPLE, (32,))
        if tuple(sample_format)[0] == TIFF_UNSIGNED and 0 < tuple(bits)[0] <= 32:
            return int(tuple(bits)[0])
    raise UnsupportedPixels(
        "mode I (signed or undeclared 32-bit integer pixels) has no defined black and white level; "
        "save it as 8- or 16-bit unsigned, or as float in [0, 1]"
    )


def float_pixels_to_uint8(values: np.ndarray) -> np.ndarray:
    """Float pixels in [0, 1] to 0..255; any other range is ``UnsupportedPixels`` naming it."""
    if values.size and not (np.isfinite(values).all() and values.min() >= 0.0 and values.max() <= 1.0):
        low, high = np.nanmin(values), np.nanmax(values)
        raise UnsupportedPixels(
            f"mode F (float) pixels must lie in [0, 1] (found {low:g} to {high:g}, or NaN/inf); "
            "rescale them to [0, 1] or save as 8- or 16-bit integers"
        )
    return scaled_to_uint8(values, 1.0)


def picture_rgb(picture: Image.Image) -> np.ndarray:
    """An opened Pillow picture, any mode, as RGB uint8 (H, W, 3); ``UnsupportedPixels`` names a mode it refuses."""
    mode = picture.mode
    if mode == "P":
        mode_for_rgb = "RGBA" if "transparency" in picture.info else "RGB"
        return _as_rgb(np.asarray(picture.convert(mode_for_rgb), dtype=np.uint8))
    if mode in EIGHT_BIT_MODES:
        return np.asarray(picture.convert("RGB"), dtype=np.uint8)
    if mode in ALPHA_MODES:
        return _as_rgb(np.asarray(picture.convert("RGBA"), dtype=np.uint8))
    if mode in SIXTEEN_BIT_MODES:
        return _as_rgb(scaled_to_uint8(np.asarray(picture), 2**16 - 1))
    if mode == "I":
        bits = integer_bits(picture)
        return _as_rgb(scaled_to_uint8(np.asarray(picture).view(np.uint32), 2**bits - 1))
    if mode == "F":
        return _as_rgb(float_pixels_to_uint8(np.asarray(picture, dtype=np.float64)))
    raise UnsupportedPixels(f"mode {mode} is not supported; convert the image to RGB")


def _read_npy(path: Path) -> np.ndarray:
    array = np.load(path, allow_pickle=False)
    if array.dtype != np.uint8:
        raise ValueError(f"expected a uint8 array, got {array.dtype}")
    return _as_rgb(array)


def orientation(picture: Image.Image) -> int:
    """The picture's EXIF orientation when it turns the photo (2..8), else 1."""
    value = picture.getexif().get(EXIF_ORIENTATION, 1)
    return value if value in TURNS else 1


def upright(image: np.ndarray, turn: int) -> np.ndarray:
    """RGB ``image`` turned as EXIF orientation ``turn`` says (1: as it is)."""
    from PIL import Image

    if turn == 1:
        return image
    return np.asarray(Image.fromarray(image).transpose(Image.Transpose[TURNS[turn]]), dtype=np.uint8)


def _read_picture(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as picture:
        picture.load()  # a decoder that turns the photo itself (TIFF) drops the orientation here
        return upright(picture_rgb(picture), orientation(picture))


def decoder_version(path: str | Path) -> str:
    """What ``read_image`` makes of the file at ``path``, for its content digest: ``DECODER_VERSION``, plus
    ``+upright:N`` for a photo whose EXIF orientation N turns it (its pixels differ from the stored ones)."""
    path = Path(path)
    if path.suffix.lower() == ".npy":
        return DECODER_VERSION
    state = path.stat()
    turn = tagged_orientation(str(path), state.st_size, state.st_mtime_ns, state.st_ctime_ns)
    return DECODER_VERSION if turn == 1 else f"{DECODER_VERSION}+upright:{turn}"


@lru_cache(maxsize=2**16)
def tagged_orientation(path: str, size: int, mtime_ns: int, ctime_ns: int) -> int:
    """The EXIF orientation of the file at ``path`` in the given state, read from its header (1: none, or a file
    Pillow cannot open, which ``read_image`` then reports)."""
    from PIL import Image

    try:
        if Path(path).suffix.lower() == ".png" and not png_may_carry_exif(Path(path)):
            return 1  # spares Pillow's getexif, which decodes a whole PNG to look past its pixels
        with Image.open(path) as picture:
            return orientation(picture)
    except Exception:  # an unreadable file is reported when it is read
        return 1


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_EXIF_TEXTS = (b"Raw profile type exif", b"XML:com.adobe.xmp")
"""Text chunk keywords where Pillow also finds an orientation (legacy EXIF, XMP's tiff:Orientation)."""


def png_may_carry_exif(path: Path) -> bool:
    """Whether a PNG has a chunk Pillow reads an orientation from (eXIf, or an EXIF or XMP text chunk); only the
    chunk headers are read, the pixels are skipped. Not a PNG after all: True (Pillow decides)."""
    with open(path, "rb") as handle:
        if handle.read(8) != PNG_SIGNATURE:
            return True
        while len(header := handle.read(8)) == 8:
            length, kind, data = int.from_bytes(header[:4], "big"), header[4:], handle.tell()
            if kind == b"eXIf":
                return True
            if kind in (b"tEXt", b"zTXt", b"iTXt") and handle.read(min(length, 32)).startswith(PNG_EXIF_TEXTS):
                return True
            if kind == b"IEND":
                return False
            handle.seek(data + length + 4)  # the chunk's data and CRC
    return True


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
