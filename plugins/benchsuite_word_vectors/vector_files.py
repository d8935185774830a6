"""Finding and reading word-vector files: word2vec binary/text, GloVe text, gensim KeyedVectors.

A file comes from (first that applies) the ``path`` option, a gensim-data name
(``gensim_name``, which downloads: only when the user asks for it), or the
default location ``<cache>/vectors/<standard file name>``.

A gensim ``KeyedVectors.save()`` file (``.kv``) is a Python pickle, and unpickling
a file can run any code it contains; it is read only when the user opts in with
``allow_pickle=true``. The text and binary word2vec and GloVe formats hold only
words and numbers and are always safe.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from benchsuite.plugin import BenchsuiteError, ResourceMissing, default_cache_dir, file_sha256

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

FORMATS = {
    "word2vec_binary": "word2vec binary: a text header line 'VOCAB DIM', then per word the word, "
    "a space and DIM float32 values (e.g. GoogleNews-vectors-negative300.bin.gz)",
    "word2vec_text": "word2vec text: a header line 'VOCAB DIM', then one 'word v1 ... vDIM' line per word",
    "glove_text": "GloVe text: no header, one 'word v1 ... vDIM' line per word (e.g. glove.6B.300d.txt)",
    "keyedvectors": "a gensim KeyedVectors.save() file (.kv), a Python pickle: read only with allow_pickle=true",
}

# gensim-data distributes GoogleNews in binary and its other vectors as word2vec text.
GENSIM_DATA_FORMATS = {"word2vec-google-news-300": "word2vec_binary"}


class VectorFileError(BenchsuiteError, ValueError):
    """A word-vector file that is not in the expected format."""


@dataclass(frozen=True)
class VectorFile:
    """A located word-vector file and its format."""

    path: Path
    format: str

    def fingerprint(self) -> str:
        return f"{self.format}:sha256:{file_sha256(self.path)}"


def _open_text(path: Path):
    opener = gzip.open if path.suffix == ".gz" else open
    return opener(path, "rb")


def guess_format(path: Path) -> str:
    """The format of ``path`` from its name, else from its first two lines."""
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".bin"):
        return "word2vec_binary"
    if name.endswith((".kv", ".model")):
        return "keyedvectors"
    return sniff_format(path)


def sniff_format(path: Path) -> str:
    """word2vec binary, word2vec text or GloVe text, judged from the first two lines."""
    with _open_text(path) as handle:
        first = handle.readline().split()
        second = handle.readline()
    if len(first) != 2 or not all(field.isdigit() for field in first):
        return "glove_text"
    try:
        fields = second.decode("utf-8").split()
    except UnicodeDecodeError:
        return "word2vec_binary"
    return "word2vec_text" if len(fields) == int(first[1]) + 1 else "word2vec_binary"


def _sniff_or_none(path: Path) -> str | None:
    try:
        return sniff_format(path)
    except (OSError, EOFError):
        return None


def refuse_pickle(source: VectorFile, item: str) -> None:
    """A ``VectorFileError`` naming the risk and the ``allow_pickle`` option, for a pickle-based file."""
    raise VectorFileError(
        f"{source.path} is a gensim KeyedVectors file, a Python pickle: loading it can run any code it contains. "
        f"Convert it to word2vec format (KeyedVectors.save_word2vec_format) and pass that file, or, only if you "
        f"trust the file and where it came from, set the option allow_pickle=true (--set {item}.allow_pickle=true)"
    )


def read_keyed_vectors(
    source: VectorFile, dimension: int | None = None, *, allow_pickle: bool = False, item: str = "NAME"
) -> KeyedVectors:
    """Load ``source`` with gensim; a file in the wrong format is a ``VectorFileError`` naming it.

    A ``keyedvectors`` (pickle) file is refused unless ``allow_pickle`` is exactly True.
    """
    from gensim.models import KeyedVectors

    if source.format not in FORMATS:
        raise VectorFileError(f"unknown word-vector format {source.format!r}; use one of: {', '.join(FORMATS)}")
    if source.format == "keyedvectors" and allow_pickle is not True:
        refuse_pickle(source, item)
    expected = (
        f"expected {FORMATS[source.format]}. If the file is in another format, pass format= one of {', '.join(FORMATS)}"
    )
    if source.format != "keyedvectors":
        sniffed = _sniff_or_none(source.path)
        if sniffed is not None and sniffed != source.format:
            raise VectorFileError(f"cannot read {source.path} as {source.format}: it looks like {sniffed}; {expected}")
    try:
        if source.format == "keyedvectors":
            vectors = KeyedVectors.load(str(source.path))
        else:
            vectors = KeyedVectors.load_word2vec_format(
                str(source.path),
                binary=source.format == "word2vec_binary",
                no_header=source.format == "glove_text",
            )
    except Exception as error:  # gensim surfaces format errors as many exception types
        raise VectorFileError(
            f"cannot read {source.path} as {source.format} ({type(error).__name__}: {error}); {expected}"
        ) from error
    if not isinstance(vectors, KeyedVectors) or len(vectors) == 0:
        raise VectorFileError(f"{source.path} holds no word vectors; expected {FORMATS[source.format]}")
    if dimension is not None and vectors.vector_size != dimension:
        raise VectorFileError(
            f"{source.path} has {vectors.vector_size}-dimensional vectors, but this model expects {dimension}; "
            "is it the right file?"
        )
    return vectors


def fetch_gensim_data(name: str) -> Path:
    """Download (once) the gensim-data item ``name`` and return its local file; needs the internet."""
    import gensim.downloader

    return Path(gensim.downloader.load(name, return_path=True))


def locate_vector_file(
    *,
    path: str | None,
    format: str | None,
    gensim_name: str | None,
    default_names: tuple[str, ...],
    missing_help: str,
) -> VectorFile:
    """The file to read, from ``path``, a gensim-data name, or the default folder, in that order."""
    if path is not None:
        chosen = Path(path).expanduser()
        if not chosen.is_file():
            raise ResourceMissing(f"word-vector file {chosen} does not exist. {missing_help}")
        return VectorFile(chosen, format or guess_format(chosen))
    if gensim_name is not None:
        try:
            fetched = fetch_gensim_data(gensim_name)
        except Exception as error:  # network, unknown name, interrupted download
            raise ResourceMissing(
                f"could not download gensim-data {gensim_name!r} ({error}). {missing_help}"
            ) from error
        return VectorFile(fetched, format or GENSIM_DATA_FORMATS.get(gensim_name, "word2vec_text"))
    folder = default_cache_dir() / "vectors"
    for name in default_names:
        candidate = folder / name
        if candidate.is_file():
            return VectorFile(candidate, format or guess_format(candidate))
    raise ResourceMissing(missing_help)
