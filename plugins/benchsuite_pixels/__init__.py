"""The pixel baseline: the preprocessed image as a single layer."""

from benchsuite.hookspecs import hookimpl


@hookimpl
def register_vision_models(register):
    """Registered in a later change."""
