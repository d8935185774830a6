"""``st:MODEL``: any sentence-transformers model, offline from the Hugging Face cache or a saved folder.

``MODEL`` is a hub repo id (``sentence-transformers/all-mpnet-base-v2``; a bare name such
as ``all-mpnet-base-v2`` means ``sentence-transformers/NAME``, as sentence-transformers
reads it, then ``NAME`` itself) or a folder path (``/abs`` or ``./rel``) written by
``SentenceTransformer.save``. Each concept's text is its name, exactly as for the
built-in ``minilm`` (the first synonym no earlier concept took).
"""

from __future__ import annotations

from functools import partial

from benchsuite.plugin import TextEmbeddingMeta
from benchsuite_builtins._shared.hub_cache import (
    ModelFolder,
    cached_snapshots,
    check_repo_id,
    fetch_snapshot,
    find_model,
    is_local_path,
    require_weights,
)

PREFIX = "st"
VERSION = "1"


def repo_candidates(rest: str) -> list[str]:
    """The hub repos ``rest`` may mean, in the order sentence-transformers tries them."""
    check_repo_id(rest, PREFIX)
    return [rest] if "/" in rest else [f"sentence-transformers/{rest}", rest]


def locate(rest: str) -> ModelFolder:
    """The model's folder on disk (``find_model``)."""
    return find_model(f"{PREFIX}:{rest}", rest, [] if is_local_path(rest) else repo_candidates(rest))


def embedding_dimension(folder: ModelFolder) -> int | None:
    """The output length from the saved configs, without loading weights: the last module that sets it
    (a Dense layer's ``out_features``, else Pooling's ``word_embedding_dimension``), else ``hidden_size``."""
    dimension = None
    for module in folder.read_json("modules.json") or []:
        config = folder.read_json(f"{module.get('path', '')}/config.json".lstrip("/")) or {}
        dimension = config.get("out_features", config.get("word_embedding_dimension", dimension))
    if dimension is None:
        dimension = (folder.read_json("config.json") or {}).get("hidden_size")
    return dimension


def resolve(rest: str) -> TextEmbeddingMeta:
    """The record of ``st:REST``, its dimension read from the model's config files (no network); a model whose
    configs do not say it (e.g. static embeddings) is loaded once to ask."""
    folder = locate(rest)
    dimension = embedding_dimension(folder) or load(rest).dimension
    return folder.text_item(
        f"{PREFIX}:{rest}", "sentence-transformers model",
        dimension=dimension,
        cased=True,
        version=VERSION,
        description=f"sentence-transformers {folder.repo}: each concept's name as a passage (option centre=true "
        "subtracts the mean vector over the concepts)",
        loader=partial(load, rest),
    )


def load(rest: str, device: str = "cpu", centre: bool = False):
    """The runnable encoder; weights absent from the folder are a ``ResourceMissing`` with the fetch command."""
    from benchsuite_builtins._shared.sentence_encoders import SentenceTransformerEncoder

    folder = require_weights(locate(rest), f"{PREFIX}:{rest}")
    return SentenceTransformerEncoder(
        folder.path, fingerprint=f"{PREFIX}:{folder.fingerprint()}", device=device, centre=centre is True
    )


def names() -> list[str]:
    """Sentence-transformers models in the hub cache (those whose snapshot has ``modules.json``)."""
    return [found.repo for found in cached_snapshots() if (found.path / "modules.json").is_file()]


def fetch(rest: str) -> str:
    """Download the model into the Hugging Face cache; returns its snapshot folder."""
    if is_local_path(rest):
        raise ValueError(f"{PREFIX}:{rest} is a local folder; there is nothing to download")
    return fetch_snapshot(repo_candidates(rest)[0])

