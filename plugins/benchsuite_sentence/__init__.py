"""Packaged sentence encoders: all-MiniLM-L6-v2, multilingual-e5-small."""

from benchsuite.hookspecs import hookimpl


@hookimpl
def register_text_embeddings(register):
    """Registered in a later change."""
