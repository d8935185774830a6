"""Image checks and the square resize every vision plugin shares.

Photos arrive in any shape; a network wants a fixed square. The rule used
throughout is a centred square crop of the shorter side (optionally a
fraction of it, the usual ImageNet evaluation crop) resized to the input size.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RESAMPLING = ("bilinear", "bicubic")  # Pillow's filters of these names; Pillow loads on first use, not at import


def check_rgb_uint8(image: np.ndarray, position: int = 0) -> np.ndarray:
    """The image itself when it is RGB uint8 (H, W, 3); else a ValueError naming the fix."""
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(
            f"image {position} has shape {array.shape}; vision models take RGB images of shape "
            "(height, width, 3): convert greyscale or RGBA photos to RGB first "
            "(e.g. PIL.Image.convert('RGB'))"
        )
    if array.dtype != np.uint8:
        raise ValueError(
            f"image {position} has dtype {array.dtype}; vision models take uint8 pixels in 0..255: "
            "convert with skimage.util.img_as_ubyte or (image * 255).round().astype(np.uint8)"
        )
    if min(array.shape[:2]) == 0:
        raise ValueError(f"image {position} is empty (shape {array.shape})")
    return array


def center_crop_resize(
    image: np.ndarray, size: int, crop_fraction: float = 1.0, resample: str = "bilinear"
) -> np.ndarray:
    """The centred square of side ``crop_fraction`` × the shorter side, resized to ``size`` × ``size``."""
    from PIL import Image

    if resample not in RESAMPLING:
        raise ValueError(f"resample {resample!r} is not one of {', '.join(RESAMPLING)}")
    height, width = image.shape[:2]
    side = max(1, round(min(height, width) * crop_fraction))
    top, left = (height - side) // 2, (width - side) // 2
    square = Image.fromarray(image[top : top + side, left : left + side])
    return np.asarray(square.resize((size, size), Image.Resampling[resample.upper()]))


def resized_batch(
    images: Sequence[np.ndarray], size: int, crop_fraction: float = 1.0, resample: str = "bilinear"
) -> np.ndarray:
    """A float32 batch (N, size, size, 3) of checked, cropped and resized images, values 0..255."""
    if len(images) == 0:
        raise ValueError("no images to preprocess")
    return np.stack(
        [
            center_crop_resize(check_rgb_uint8(image, position), size, crop_fraction, resample)
            for position, image in enumerate(images)
        ]
    ).astype(np.float32)
