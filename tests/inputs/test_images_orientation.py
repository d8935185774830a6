"""Photos are read upright: the EXIF orientation applied as PIL.ImageOps.exif_transpose does, and a turned photo's
content digest differs from the one the unturned pixels were cached under (an untagged photo's stays as it was)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageOps

from benchsuite.contract.schemas import ImageRecord
from benchsuite.extraction.cache import FileDigests, file_sha256
from benchsuite.extraction.layers import content_digests
from benchsuite.inputs.images import DECODER_VERSION, read_image

ORIENTATION = 0x0112
PIXELS = np.arange(3 * 5 * 3, dtype=np.uint8).reshape(3, 5, 3) * 5  # not symmetric under any flip or turn


def tagged(path, orientation: int | None, pixels: np.ndarray = PIXELS):
    """``pixels`` saved losslessly at ``path`` with EXIF orientation ``orientation`` (None: no EXIF at all)."""
    picture = Image.fromarray(pixels)
    exif = Image.Exif()
    if orientation is not None:
        exif[ORIENTATION] = orientation
    options = {"lossless": True} if path.suffix == ".webp" else {}
    picture.save(path, **options, **({"exif": exif.tobytes()} if orientation is not None else {}))
    return path


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("suffix", ["png", "webp", "tif"])
def test_a_photo_is_read_as_exif_transpose_turns_it(tmp_path, orientation, suffix):
    path = tagged(tmp_path / f"photo.{suffix}", orientation)
    with Image.open(path) as picture:
        assert picture.getexif().get(ORIENTATION) == orientation
        upright = np.asarray(ImageOps.exif_transpose(picture).convert("RGB"))
    image = read_image(path)
    np.testing.assert_array_equal(image, upright)
    assert image.shape == ((5, 3, 3) if orientation >= 5 else (3, 5, 3))
    if orientation == 1:
        np.testing.assert_array_equal(image, PIXELS)
    if orientation == 6:  # "rotated 90° clockwise to view": the stored top row becomes the right column
        np.testing.assert_array_equal(image, np.rot90(PIXELS, k=-1))


def test_a_photo_without_exif_reads_as_stored(tmp_path):
    np.testing.assert_array_equal(read_image(tagged(tmp_path / "plain.png", None)), PIXELS)


class Files:
    """An image source of files, hashed by their bytes (no ``digest`` of its own)."""

    def read(self, record):
        return read_image(record.path)


def digests(tmp_path, *paths):
    records = [ImageRecord(id=path.name, path=str(path), concept_id="c") for path in paths]
    return content_digests(Files(), records, FileDigests(tmp_path / "memo"))


def test_only_a_turned_photo_changes_its_content_digest(tmp_path):
    plain, upright, turned = (tagged(tmp_path / "plain.png", None), tagged(tmp_path / "one.png", 1),
                              tagged(tmp_path / "six.png", 6))
    found = digests(tmp_path, plain, upright, turned)
    assert found[:2] == [f"file:{DECODER_VERSION}:{file_sha256(path)}" for path in (plain, upright)]
    assert found[2] != f"file:{DECODER_VERSION}:{file_sha256(turned)}"  # what the unturned pixels were keyed on
    assert found[2] == f"file:{DECODER_VERSION}+upright:6:{file_sha256(turned)}"
    assert digests(tmp_path, turned) == found[2:]


def chunks(data: bytes) -> list[bytes]:
    """A PNG's chunks (length, type, data, CRC each), after its signature."""
    found, at = [], 8
    while at < len(data):
        end = at + 12 + int.from_bytes(data[at:at + 4], "big")
        found.append(data[at:end])
        at = end
    return found


def test_a_png_tagged_after_its_pixels_or_in_xmp_is_turned_and_keyed_as_turned(tmp_path):
    from PIL import PngImagePlugin

    before = tagged(tmp_path / "before.png", 6).read_bytes()
    parts = chunks(before)
    exif = next(part for part in parts if part[4:8] == b"eXIf")
    rest = [part for part in parts if part is not exif]
    after = tmp_path / "after.png"
    after.write_bytes(before[:8] + b"".join([*rest[:-1], exif, rest[-1]]))  # eXIf between IDAT and IEND
    xmp = tmp_path / "xmp.png"
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", '<x:xmpmeta><rdf:Description tiff:Orientation="6"/></x:xmpmeta>')
    Image.fromarray(PIXELS).save(xmp, pnginfo=info)
    for path in (after, xmp):
        with Image.open(path) as picture:
            np.testing.assert_array_equal(read_image(path), np.asarray(ImageOps.exif_transpose(picture)))
        assert read_image(path).shape == (5, 3, 3)
        assert digests(tmp_path, path) == [f"file:{DECODER_VERSION}+upright:6:{file_sha256(path)}"]
