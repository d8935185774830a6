"""``gensim:NAME``: any gensim-data vectors (``gensim:glove-wiki-gigaword-300``), offline from gensim-data's folder.

gensim-data keeps each item in ``$GENSIM_DATA_DIR/NAME/`` (default ``~/gensim-data/NAME/``),
the vectors as ``NAME.gz`` (word2vec binary for ``word2vec-google-news-300``, word2vec
text for the rest). Reading that folder needs no network and no gensim (the files are read as
``vectors:`` files are); ``benchsuite fetch --text gensim:NAME`` downloads it there with
``gensim.downloader.load(NAME, return_path=True)`` (the ``gensim`` extra). Names match as
for ``vectors:`` files.
"""

from __future__ import annotations

import os
import re
from functools import partial
from pathlib import Path

from benchsuite.plugin import ResourceMissing, TextEmbeddingMeta

PREFIX = "gensim"
GENSIM_NAME = re.compile(r"^[a-z0-9][a-z0-9._\-]*$")
LOADER_FILES = ("__init__.py", "__pycache__")


def gensim_data_dir() -> Path:
    """gensim-data's folder: ``$GENSIM_DATA_DIR``, else ``~/gensim-data`` (read now, as gensim does at import)."""
    return Path(os.environ.get("GENSIM_DATA_DIR") or "~/gensim-data").expanduser()


def check_name(rest: str) -> str:
    """``rest`` when it can be a gensim-data name; a one-line ``ValueError`` otherwise."""
    if not GENSIM_NAME.match(rest):
        raise ValueError(f"{PREFIX}:{rest} is not a gensim-data name (lower case, digits, '-', e.g. "
                         f"{PREFIX}:glove-wiki-gigaword-300); for a file of your own use vectors:/path/to/file")
    return rest


def local_file(rest: str) -> Path:
    """The downloaded vectors of gensim-data item ``rest``; ``ResourceMissing`` with the path and fetch command."""
    folder = gensim_data_dir() / check_name(rest)
    preferred = folder / f"{rest}.gz"
    if preferred.is_file():
        return preferred
    files = folder.iterdir() if folder.is_dir() else ()
    others = sorted(p for p in files if p.is_file() and p.name not in LOADER_FILES)
    if others:
        return others[0]
    raise ResourceMissing(f"{PREFIX}:{rest}: no gensim-data file at {preferred} (GENSIM_DATA_DIR or ~/gensim-data); "
                          f"on a connected machine run: benchsuite fetch --text {PREFIX}:{rest}")


def located(rest: str, format: str | None = None):
    """The local file as a ``VectorFile``: ``format`` if given, gensim-data's known format, else detected."""
    from benchsuite_builtins._shared.vector_files import GENSIM_DATA_FORMATS, VectorFile, canonical_format, guess_format

    path = local_file(rest)
    chosen = format or GENSIM_DATA_FORMATS.get(rest)
    return VectorFile(path, canonical_format(chosen) if chosen else guess_format(path))


def resolve(rest: str) -> TextEmbeddingMeta:
    """The record of ``gensim:NAME`` (the file must be in gensim-data's folder)."""
    from benchsuite_builtins.text_sources.vector_file_source import vector_record

    found = located(rest)
    return vector_record(f"{PREFIX}:{rest}", found, f"gensim-data {rest!r}, read from {found.path}",
                         partial(load, rest))


def load(
    rest: str,
    format: str | None = None,
    cased: bool = True,
    phrase_joiner: str | None = "_",
    mean_fallback: bool = True,
    subwords: bool = True,
):
    """The runnable model, by the same lookup rule as ``vectors:`` files."""
    from benchsuite_builtins.text_sources.vector_file_source import word_vectors

    return word_vectors(located(rest, format), item=f"{PREFIX}:{rest}", cased=cased, phrase_joiner=phrase_joiner,
                        mean_fallback=mean_fallback, subwords=subwords)


def names() -> list[str]:
    """gensim-data items downloaded into its folder."""
    root = gensim_data_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and GENSIM_NAME.match(p.name) and any(
        f.is_file() and f.name not in LOADER_FILES for f in p.iterdir()))


def fetch(rest: str) -> str:
    """Download ``NAME`` into gensim-data's folder (the only network path); returns the file."""
    from benchsuite_builtins._shared.vector_files import fetch_gensim_data

    return str(fetch_gensim_data(check_name(rest)))
