"""read_image: every supported file type to RGB uint8, and a clear error for a bad file."""

import numpy as np
import PIL
import pytest
from image_fixtures import foolbox_photos
from PIL import Image

from benchsuite.contract.errors import ImageUnreadable
from benchsuite.inputs.images import read_image


def test_real_jpeg_is_rgb_uint8():
    photo = next(iter(foolbox_photos()))
    image = read_image(photo)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert image.shape[:2] == Image.open(photo).size[::-1]
    assert 20 < image.mean() < 235


@pytest.mark.parametrize("mode,channels", [("L", None), ("RGBA", 4), ("RGB", 3), ("P", None)])
def test_png_modes_become_rgb(tmp_path, mode, channels):
    rgb = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    picture = Image.fromarray(rgb).convert(mode)
    picture.save(tmp_path / "x.png")
    image = read_image(tmp_path / "x.png")
    assert image.shape == (4, 5, 3) and image.dtype == np.uint8
    if mode in ("RGB", "RGBA"):
        np.testing.assert_array_equal(image, rgb)
    if mode == "L":
        assert (image[..., 0] == image[..., 2]).all()


def test_npy_grey_rgb_rgba(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    np.save(tmp_path / "rgb.npy", rgb)
    np.save(tmp_path / "rgba.npy", np.dstack([rgb, np.full((6, 7), 9, np.uint8)]))
    np.save(tmp_path / "grey.npy", rgb[..., 0])
    np.testing.assert_array_equal(read_image(tmp_path / "rgb.npy"), rgb)
    np.testing.assert_array_equal(read_image(tmp_path / "rgba.npy"), rgb)
    np.testing.assert_array_equal(read_image(tmp_path / "grey.npy"), np.repeat(rgb[..., :1], 3, axis=2))


def test_truncated_jpeg_names_the_file(tmp_path):
    photo = next(iter(foolbox_photos()))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(photo.read_bytes()[:2000])
    with pytest.raises(ImageUnreadable, match="broken.jpg"):
        read_image(broken)


@pytest.mark.parametrize(
    "name,content",
    [("text.jpg", b"not an image"), ("float.npy", None), ("shape.npy", None), ("missing.png", None)],
)
def test_bad_files_raise_image_unreadable(tmp_path, name, content):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    elif name == "float.npy":
        np.save(path, np.zeros((3, 3, 3), np.float32))
    elif name == "shape.npy":
        np.save(path, np.zeros((3, 3, 5), np.uint8))
    with pytest.raises(ImageUnreadable, match=name):
        read_image(path)


# -- every Pillow mode, read by its real range --------------------------------------------------------------------

COLOURS = np.array(
    [[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0]],
     [[0, 0, 255], [128, 128, 128], [200, 150, 30], [12, 90, 240]]],
    dtype=np.uint8,
)
GREY = np.array([[0, 1, 2, 127], [128, 200, 254, 255]], dtype=np.uint8)


def saved(tmp_path, picture, name: str, **options):
    """``picture`` written to ``tmp_path/name`` (format from the suffix) and its path."""
    path = tmp_path / name
    picture.save(path, **options)
    return path


def grey_rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey[..., None], 3, axis=2)


def png_16bit(path, array: np.ndarray, color_type: int):
    """A 16-bit PNG written byte by byte (Pillow writes no 16-bit colour PNGs): 0 grey, 2 RGB."""
    import struct
    import zlib

    height, width = array.shape[:2]
    rows = b"".join(b"\x00" + array[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunks)
    return path


def sixteen_bit_twin(rng_seed: int, shape) -> tuple[np.ndarray, np.ndarray]:
    """Random 16-bit pixels and their 8-bit twin (each value rounded to the nearest of 256 levels)."""
    wide = np.random.default_rng(rng_seed).integers(0, 2**16, shape)
    wide[0, 0], wide[0, 1] = 0, 2**16 - 1
    return wide, np.rint(wide / 257).astype(np.uint8)


def test_16bit_grey_png_matches_its_8bit_twin(tmp_path):
    wide, narrow = sixteen_bit_twin(1, (6, 7))
    path = png_16bit(tmp_path / "grey16.png", wide, color_type=0)
    assert Image.open(path).mode == "I;16"
    image = read_image(path)
    assert image.dtype == np.uint8 and image.shape == (6, 7, 3)
    assert np.abs(image.astype(int) - grey_rgb(narrow)).max() <= 1
    assert image[0, 0, 0] == 0 and image[0, 1, 0] == 255 and 50 < image.mean() < 200


def test_16bit_big_endian_tiff_matches_its_8bit_twin(tmp_path):
    wide, narrow = sixteen_bit_twin(2, (5, 4))
    picture = Image.frombytes("I;16B", (4, 5), wide.astype(">u2").tobytes())
    path = saved(tmp_path, picture, "grey16b.tif")
    assert Image.open(path).mode == "I;16B"
    np.testing.assert_array_equal(read_image(path), grey_rgb(narrow))


def test_16bit_rgb_png_matches_its_8bit_twin(tmp_path):
    wide, narrow = sixteen_bit_twin(3, (4, 5, 3))
    image = read_image(png_16bit(tmp_path / "rgb16.png", wide, color_type=2))
    assert np.abs(image.astype(int) - narrow).max() <= 1


def test_unsigned_32bit_integer_tiff_is_scaled_by_its_depth(tmp_path):
    values = np.array([[0, 2**31, 2**32 - 1, 2**24]], dtype=np.uint32)
    path = saved(tmp_path, Image.fromarray(values.view(np.int32)), "u32.tif")
    signed_format = b"\x53\x01\x03\x00\x01\x00\x00\x00\x02\x00"  # SampleFormat = 2 (signed), as Pillow writes it
    path.write_bytes(path.read_bytes().replace(signed_format, signed_format[:8] + b"\x01\x00"))
    assert Image.open(path).mode == "I"
    np.testing.assert_array_equal(read_image(path)[..., 0], [[0, 128, 255, 1]])


def test_signed_integer_tiff_is_refused_naming_file_and_mode(tmp_path):
    path = saved(tmp_path, Image.fromarray(np.array([[0, 70000]], dtype=np.int32)), "signed.tif")
    with pytest.raises(ImageUnreadable, match=r"signed.tif.*mode I .*16-bit unsigned"):
        read_image(path)


def test_float_tiff_in_unit_range_is_scaled(tmp_path):
    values = np.array([[0.0, 0.25, 0.5, 1.0]], dtype=np.float32)
    path = saved(tmp_path, Image.fromarray(values), "float.tif")
    assert Image.open(path).mode == "F"
    np.testing.assert_array_equal(read_image(path), grey_rgb(np.array([[0, 64, 128, 255]], dtype=np.uint8)))


@pytest.mark.parametrize("values", [[0.0, 255.0], [-0.5, 0.5], [0.0, float("nan")]])
def test_float_tiff_outside_unit_range_is_refused(tmp_path, values):
    path = saved(tmp_path, Image.fromarray(np.array([values], dtype=np.float32)), "float.tif")
    with pytest.raises(ImageUnreadable, match=r"float.tif.*mode F .*\[0, 1\]"):
        read_image(path)


@pytest.mark.parametrize("mode,suffix", [("L", "png"), ("LA", "png"), ("L", "tif"), ("LA", "tif"), ("L", "bmp")])
def test_grey_modes_keep_their_levels(tmp_path, mode, suffix):
    picture = Image.fromarray(GREY).convert(mode)
    if mode == "LA":
        picture.putalpha(Image.fromarray(np.full(GREY.shape, 7, np.uint8)))
    path = saved(tmp_path, picture, f"x.{suffix}")
    assert Image.open(path).mode == mode
    np.testing.assert_array_equal(read_image(path), grey_rgb(GREY))


@pytest.mark.parametrize("suffix", ["png", "tif", "bmp"])
def test_one_bit_is_black_and_white(tmp_path, suffix):
    path = saved(tmp_path, Image.fromarray(GREY > 127), f"bits.{suffix}")
    assert Image.open(path).mode == "1"
    np.testing.assert_array_equal(read_image(path), grey_rgb(np.where(GREY > 127, 255, 0).astype(np.uint8)))


@pytest.mark.parametrize("suffix,transparent", [("png", False), ("png", True), ("gif", True), ("bmp", False)])
def test_palette_images_give_their_palette_colours(tmp_path, suffix, transparent):
    palette = COLOURS.reshape(-1, 3)
    indices = np.arange(8, dtype=np.uint8).reshape(2, 4)
    picture = Image.fromarray(indices, mode="L").convert("P")
    picture.putpalette(palette.tobytes())
    options = {"transparency": 2} if transparent else {}
    path = saved(tmp_path, picture, f"palette.{suffix}", **options)
    opened = Image.open(path)
    assert opened.mode == "P" and ("transparency" in opened.info) == transparent
    np.testing.assert_array_equal(read_image(path), COLOURS)


def test_palette_with_alpha_gives_its_palette_colours(tmp_path):
    picture = Image.fromarray(COLOURS).convert("P", palette=Image.Palette.ADAPTIVE, colors=8).convert("PA")
    path = saved(tmp_path, picture, "pa.tif")
    assert Image.open(path).mode == "PA"
    np.testing.assert_array_equal(read_image(path), COLOURS)


@pytest.mark.parametrize("mode,suffix,tolerance", [
    ("RGB", "png", 0), ("RGBA", "png", 0), ("RGBA", "tif", 0), ("RGB", "webp", 0),
    ("CMYK", "tif", 0), ("YCbCr", "tif", 3),
])
def test_colour_modes_give_the_original_colours(tmp_path, mode, suffix, tolerance):
    options = {"lossless": True} if suffix == "webp" else {}
    path = saved(tmp_path, Image.fromarray(COLOURS).convert(mode), f"colour.{suffix}", **options)
    if Image.open(path).mode != mode:
        pytest.skip(f"Pillow {PIL.__version__} does not write {mode} {suffix} files")
    image = read_image(path)
    assert image.dtype == np.uint8 and image.shape == COLOURS.shape
    assert np.abs(image.astype(int) - COLOURS).max() <= tolerance


def test_lab_tiff_is_converted_colorimetrically(tmp_path):
    from PIL import ImageCms

    lab = Image.fromarray(COLOURS).convert("LAB")
    path = saved(tmp_path, lab, "lab.tif")
    assert Image.open(path).mode == "LAB"
    to_srgb = ImageCms.buildTransform(ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB")
    reference = np.asarray(ImageCms.applyTransform(lab, to_srgb))  # LittleCMS, independent of Pillow's convert
    image = read_image(path)
    assert np.abs(image.astype(int) - reference).max() <= 1
    np.testing.assert_allclose(image[0, :2], [[0, 0, 0], [255, 255, 255]], atol=1)
    np.testing.assert_allclose(image[1, 1], [128, 128, 128], atol=1)


# HSV stores hue in 256 steps, so a round trip moves a colour by up to 4 levels.
@pytest.mark.parametrize("mode,tolerance", [("HSV", 4), ("RGBX", 0), ("RGBa", 0), ("I;16L", 0), ("I;16N", 0)])
def test_modes_without_a_file_format_convert_in_memory(mode, tolerance):
    from benchsuite.inputs.images import picture_rgb

    if mode.startswith("I;16"):
        picture = Image.frombytes(mode, (4, 2), (GREY.astype(np.uint16) * 257).astype("<u2").tobytes())
        expected = grey_rgb(GREY)
    else:
        picture, expected = Image.fromarray(COLOURS).convert(mode), COLOURS
    image = picture_rgb(picture)
    assert image.dtype == np.uint8 and np.abs(image.astype(int) - expected).max() <= tolerance


def test_premultiplied_grey_alpha_is_refused_naming_the_mode():
    from benchsuite.inputs.images import UnsupportedPixels, picture_rgb

    with pytest.raises(UnsupportedPixels, match="mode La is not supported"):
        picture_rgb(Image.new("La", (2, 2)))
