"""Keras 3 applications: VGG16, ResNet50, InceptionV3 and untrained controls."""

from benchsuite.hookspecs import hookimpl


@hookimpl
def register_vision_models(register):
    """Registered in a later change."""
