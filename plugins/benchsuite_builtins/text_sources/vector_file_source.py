"""``vectors:PATH``: a word-vector file of any common format.

Formats (detected from the file, or forced with the option ``format=``): word2vec binary,
word2vec text and fastText ``.vec`` (a ``VOCAB DIM`` header line, then one word a line) and
GloVe text (no header), read with numpy alone (``_shared.word_table``, exactly as gensim
reads them); fastText ``.bin`` models, read with gensim (the ``gensim`` extra), also build
vectors for words outside their vocabulary from character n-grams (option ``subwords=false``
turns that off); ``.gz`` text is read as is. Concept names match by the built-in word-vector rule
(``benchsuite_builtins._shared.vocabulary``): the name as written then lower-cased, a phrase
token joined by ``_`` where the file has one, else the mean of the words' vectors; a
concept none of whose names match is left out.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from benchsuite.plugin import ResourceMissing, TextEmbeddingMeta, default_cache_dir

PREFIX = "vectors"
VERSION = "1"


def located_file(path: Path, format: str | None, item: str):
    """The file as a ``VectorFile`` (format detected unless given); ``ResourceMissing`` when it is absent."""
    from benchsuite_builtins._shared.vector_files import VectorFile, canonical_format, guess_format

    if not path.is_file():
        raise ResourceMissing(f"{item}: no word-vector file at {path}; put the file there or name another path")
    return VectorFile(path, canonical_format(format) if format else guess_format(path))


def word_vectors(
    located,
    *,
    item: str,
    cased: bool = True,
    phrase_joiner: str | None = "_",
    mean_fallback: bool = True,
    subwords: bool = True,
):
    """The runnable word-vector model for a located file (shared by ``vectors:`` and ``gensim:``)."""
    from benchsuite_builtins._shared.vector_files import read_keyed_vectors
    from benchsuite_builtins._shared.vocabulary import WordVectors

    keyed = read_keyed_vectors(located, item=item)
    return WordVectors(
        keyed,
        fingerprint=located.fingerprint(),
        cased=cased is True,
        phrase_joiner=phrase_joiner or None,
        mean_fallback=mean_fallback is True,
        subwords=subwords is True and located.format == "fasttext_bin",
    )


def vector_record(item: str, located, source: str, loader) -> TextEmbeddingMeta:
    """The record of a word-vector item whose file is ``located`` (dimension from the file's start)."""
    from benchsuite_builtins._shared.vector_files import FORMATS, peek_dimension, read_keyed_vectors, refuse_pickle

    if located.format == "keyedvectors":
        refuse_pickle(located, item, option=False)
    dimension = peek_dimension(located)
    if not dimension:  # a start that does not parse: loading names the bad line
        dimension = read_keyed_vectors(located, item=item).vector_size
    return TextEmbeddingMeta(
        name=item,
        dimension=dimension,
        source=f"{source} ({located.format}: {FORMATS[located.format].split(':')[0]})",
        cased=True,
        version=VERSION,
        description=f"word vectors from {located.path}; names as written, then lower-cased; phrases joined by _; "
        "else the mean of the words (options: format=, cased=, phrase_joiner=, mean_fallback=, subwords=)",
        loader=loader,
    )


def resolve(rest: str) -> TextEmbeddingMeta:
    """The record of ``vectors:PATH`` (the file must exist; its format is detected now)."""
    item = f"{PREFIX}:{rest}"
    located = located_file(Path(rest).expanduser(), None, item)
    return vector_record(item, located, f"word-vector file {located.path}", partial(load, rest))


def load(
    rest: str,
    format: str | None = None,
    cased: bool = True,
    phrase_joiner: str | None = "_",
    mean_fallback: bool = True,
    subwords: bool = True,
):
    """The runnable model: the file read in ``format`` (detected when None) with ``word_vectors``' lookup rule."""
    item = f"{PREFIX}:{rest}"
    located = located_file(Path(rest).expanduser(), format, item)
    return word_vectors(located, item=item, cased=cased, phrase_joiner=phrase_joiner, mean_fallback=mean_fallback,
                        subwords=subwords)


def names() -> list[str]:
    """The files in the cache's ``vectors/`` folder (where the paper's models look by default)."""
    folder = default_cache_dir() / "vectors"
    return sorted(str(path) for path in folder.iterdir() if path.is_file()) if folder.is_dir() else []


def fetch(rest: str) -> str:
    """Nothing to download: the item is the user's own file; a one-line error says so."""
    raise ValueError(f"{PREFIX}:{rest} reads your own file; there is nothing to download (use gensim:NAME for "
                     "gensim-data vectors)")
