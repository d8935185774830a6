"""read_image: every supported file type to RGB uint8, and a clear error for a bad file."""

import numpy as np
import pytest
from PIL import Image

from benchsuite.errors import ImageUnreadable
from benchsuite.images import read_image
from tests.image_fixtures import foolbox_photos


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
