"""Concept sets: ImageNet-1k classes, a folder of user concepts."""

from benchsuite.hookspecs import hookimpl


@hookimpl
def register_concept_sets(register):
    """Registered in a later change."""
