"""Image sources: ImageNet validation folders, packaged PyPI photos, any folder tree."""

from benchsuite.hookspecs import hookimpl


@hookimpl
def register_image_sources(register):
    """Registered in a later change."""
