"""Text embeddings by name from the libraries that ship them: ``st:``, ``gensim:``, ``vectors:``, ``hf:``, ``clip:``.

Each source is one module; registration imports none of them (nor gensim, torch or
transformers): the module is imported when a name is first resolved, listed or fetched.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from benchsuite.plugin import ModelSourceMeta, hookimpl

SOURCES = {
    "st": ("sentence_transformers_source", "hf",
           "any sentence-transformers model (hub repo id, bare name = sentence-transformers/NAME, or a saved "
           "folder), each concept's name as a passage"),
    "gensim": ("gensim_source", "", "any gensim-data word vectors (e.g. glove-wiki-gigaword-300), from "
               "gensim-data's folder (GENSIM_DATA_DIR or ~/gensim-data)"),
    "vectors": ("vector_file_source", "", "a word-vector file by path: word2vec text/binary, GloVe text, "
                "fastText .vec/.bin (subword vectors for unknown words), format detected or set with format="),
    "hf": ("hf_encoder_source", "hf", "a Hugging Face text encoder, attention-mask-weighted mean of the last "
           "hidden state over the name's tokens"),
    "clip": ("clip_text_source", "hf", "CLIP's text tower: projected text embedding of 'a photo of a {name}.' "
             "(option prompt=)"),
}
"""Prefix -> (module, pip extra ("" where the core install has the library), one-line description)."""


def _lazy(module: str, function: str) -> Callable[..., Any]:
    """``module.function``, imported on its first call."""

    def call(*args: Any) -> Any:
        return getattr(importlib.import_module(f"{__name__}.{module}"), function)(*args)

    call.__name__ = function
    return call


@hookimpl
def register_model_sources(register):
    """The five text sources; their libraries load only when a name is used."""
    for prefix, (module, extra, description) in SOURCES.items():
        register(
            ModelSourceMeta(
                name=prefix,
                kind="text",
                description=description,
                loader=_lazy(module, "resolve"),
                names=_lazy(module, "names"),
                fetch=_lazy(module, "fetch"),
                requires=extra,
            )
        )
