"""What each Keras application exposes, as static data: registration imports no Keras."""

from __future__ import annotations

from dataclasses import dataclass

WEIGHTS_BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"
CAFFE_MODE = "caffe: RGB to BGR, minus the ImageNet channel means, no scaling"


@dataclass(frozen=True)
class KerasArchitecture:
    """A ``keras.applications`` network, its extracted layers and its ImageNet weights file."""

    name: str
    constructor: str
    module: str
    input_size: int
    layers: tuple[str, ...]
    weights_file: str
    weights_url: str
    weights_md5: str
    weights_license: str
    preprocessing_mode: str

    def preprocessing(self) -> str:
        return (
            f"centred square crop of the shorter side, resized to {self.input_size}x{self.input_size} "
            f"(Pillow bilinear); then keras.applications.{self.module}.preprocess_input "
            f"({self.preprocessing_mode})"
        )


def resnet50_layers() -> tuple[str, ...]:
    """The activations inside and at the end of each residual block, then the pooled output."""
    blocks_per_stage = {2: 3, 3: 4, 4: 6, 5: 3}
    names = []
    for stage, blocks in blocks_per_stage.items():
        for block in range(1, blocks + 1):
            prefix = f"conv{stage}_block{block}"
            names += [f"{prefix}_1_relu", f"{prefix}_2_relu", f"{prefix}_out"]
    return (*names, "avg_pool")


VGG16 = KerasArchitecture(
    name="vgg16",
    constructor="VGG16",
    module="vgg16",
    input_size=224,
    layers=(
        "block1_conv1",
        "block1_conv2",
        "block2_conv1",
        "block2_conv2",
        "block3_conv1",
        "block3_conv2",
        "block3_conv3",
        "block4_conv1",
        "block4_conv2",
        "block4_conv3",
        "block5_conv1",
        "block5_conv2",
        "block5_conv3",
        "fc1",
        "fc2",
    ),
    weights_file="vgg16_weights_tf_dim_ordering_tf_kernels.h5",
    weights_url=WEIGHTS_BASE_URL + "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels.h5",
    weights_md5="64373286793e3c8b2b4e3219cbf3544b",
    weights_license="CC-BY-4.0 (VGG, University of Oxford)",
    preprocessing_mode=CAFFE_MODE,
)

RESNET50 = KerasArchitecture(
    name="resnet50",
    constructor="ResNet50",
    module="resnet50",
    input_size=224,
    layers=resnet50_layers(),
    weights_file="resnet50_weights_tf_dim_ordering_tf_kernels.h5",
    weights_url=WEIGHTS_BASE_URL + "resnet/resnet50_weights_tf_dim_ordering_tf_kernels.h5",
    weights_md5="2cb95161c43110f7111970584f804107",
    weights_license="MIT (Kaiming He's deep-residual-networks release)",
    preprocessing_mode=CAFFE_MODE,
)

INCEPTION_V3 = KerasArchitecture(
    name="inception_v3",
    constructor="InceptionV3",
    module="inception_v3",
    input_size=299,
    layers=(*(f"mixed{index}" for index in range(11)), "avg_pool"),
    weights_file="inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
    weights_url=WEIGHTS_BASE_URL + "inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
    weights_md5="9a0d58056eeedaa3f26cb7ebd46da564",
    weights_license="Apache-2.0 (Keras applications)",
    preprocessing_mode="tf: x / 127.5 - 1",
)

ARCHITECTURES = {architecture.name: architecture for architecture in (VGG16, RESNET50, INCEPTION_V3)}
