"""Word vectors on gensim KeyedVectors: SkipGram, GloVe, RNN, cross-lingual, packaged GloVe 6B 50d."""

from benchsuite.hookspecs import hookimpl


@hookimpl
def register_text_embeddings(register):
    """Registered in a later change."""
