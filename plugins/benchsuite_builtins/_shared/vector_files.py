"""Finding and reading word-vector files: word2vec binary/text, GloVe text, fastText .vec/.bin, gensim KeyedVectors.

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

import numpy as np

from benchsuite.plugin import BenchsuiteError, ResourceMissing, default_cache_dir, file_sha256

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

FORMATS = {
    "word2vec_binary": "word2vec binary: a text header line 'VOCAB DIM', then per word the word, "
    "a space and DIM float32 values (e.g. GoogleNews-vectors-negative300.bin.gz)",
    "word2vec_text": "word2vec text: a header line 'VOCAB DIM', then one 'word v1 ... vDIM' line per word",
    "glove_text": "GloVe text: no header, one 'word v1 ... vDIM' line per word (e.g. glove.6B.300d.txt)",
    "fasttext_bin": "a fastText binary model (.bin from fastText's save_model, e.g. cc.en.300.bin): its words' "
    "vectors, plus subword (character n-gram) vectors for words outside its vocabulary",
    "keyedvectors": "a gensim KeyedVectors.save() file (.kv), a Python pickle: read only with allow_pickle=true",
}
FORMAT_ALIASES = {"fasttext_vec": "word2vec_text"}
"""Other names accepted by ``format=``: a fastText ``.vec`` file is word2vec text (a header, then one word a line)."""

FASTTEXT_MAGIC = (793712314).to_bytes(4, "little")
"""The first four bytes of every fastText ``.bin`` model."""

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


def canonical_format(format: str) -> str:
    """``format`` with its alias resolved; an unknown name is a ``VectorFileError`` listing the known ones."""
    format = FORMAT_ALIASES.get(format, format)
    if format not in FORMATS:
        known = ", ".join([*FORMATS, *FORMAT_ALIASES])
        raise VectorFileError(f"unknown word-vector format {format!r}; use one of: {known}")
    return format


def is_fasttext_bin(path: Path) -> bool:
    """True when ``path`` starts with fastText's magic number (whatever its name)."""
    with open(path, "rb") as handle:
        return handle.read(4) == FASTTEXT_MAGIC


def guess_format(path: Path) -> str:
    """The format of ``path``: fastText's magic number, else its name, else its first two lines."""
    if is_fasttext_bin(path):
        return "fasttext_bin"
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".bin"):
        return "word2vec_binary"
    if name.endswith((".kv", ".model")):
        return "keyedvectors"
    return sniff_format(path)


def sniff_format(path: Path) -> str:
    """fastText binary (its magic number), else word2vec binary, word2vec text or GloVe text (first two lines)."""
    if is_fasttext_bin(path):
        return "fasttext_bin"
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


def peek_dimension(source: VectorFile) -> int | None:
    """The vectors' length read from the file's start (header, first line, fastText args), without loading it.

    None for a pickle (``keyedvectors``) or a start that does not parse: the loader then finds out.
    """
    try:
        if source.format == "fasttext_bin":
            with open(source.path, "rb") as handle:
                header = handle.read(12)
            return int.from_bytes(header[8:12], "little") if len(header) == 12 else None
        if source.format == "keyedvectors":
            return None
        with _open_text(source.path) as handle:
            fields = handle.readline().split()
        if canonical_format(source.format) == "glove_text":
            return len(fields) - 1 if len(fields) > 1 else None
        return int(fields[1]) if len(fields) == 2 and fields[1].isdigit() else None
    except (OSError, EOFError, VectorFileError):
        return None


def refuse_pickle(source: VectorFile, item: str) -> None:
    """A ``VectorFileError`` naming the risk and the ``allow_pickle`` option, for a pickle-based file."""
    raise VectorFileError(
        f"{source.path} is a gensim KeyedVectors file, a Python pickle: loading it can run any code it contains. "
        f"Convert it to word2vec format (KeyedVectors.save_word2vec_format) and pass that file, or, only if you "
        f"trust the file and where it came from, set the option allow_pickle=true (--set {item}.allow_pickle=true)"
    )


def _single_line(text: object) -> str:
    return " ".join(str(text).split())


def first_bad_line(path: Path, format: str) -> str | None:
    """Where a word2vec/GloVe text file first breaks its format ("line 7: ..."), or None when every line is sound.

    Read only after gensim failed or returned non-finite values: gensim's own errors name no line.
    """
    dimension = None
    expected_lines = None
    count = 0
    with _open_text(path) as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                fields = raw.decode("utf-8").split()
            except UnicodeDecodeError:
                return f"line {number}: not UTF-8 text"
            if number == 1 and format == "word2vec_text":
                if len(fields) != 2 or not all(field.isdigit() for field in fields):
                    return f"line 1: expected the header 'VOCAB DIM', got {raw[:40]!r}"
                expected_lines, dimension = int(fields[0]), int(fields[1])
                continue
            if not fields:
                return f"line {number}: empty line"
            dimension = len(fields) - 1 if dimension is None else dimension
            if len(fields) - 1 != dimension:
                return f"line {number}: {len(fields) - 1} values after the word, expected {dimension}"
            try:
                values = [float(field) for field in fields[1:]]
            except ValueError as error:
                return f"line {number}: {error}"
            if not all(np.isfinite(values)):
                return f"line {number}: the vector of {fields[0]!r} holds NaN or infinite values"
            count += 1
    if count == 0:
        return "the file holds no vectors (empty)"
    if expected_lines is not None and count != expected_lines:
        return f"line {count + 2}: the header promises {expected_lines} vectors, the file holds {count}"
    return None


def _load_with_gensim(source: VectorFile) -> KeyedVectors:
    from gensim.models import KeyedVectors

    if source.format == "keyedvectors":
        return KeyedVectors.load(str(source.path))
    if source.format == "fasttext_bin":
        from gensim.models.fasttext import load_facebook_vectors

        return load_facebook_vectors(str(source.path))
    return KeyedVectors.load_word2vec_format(
        str(source.path), binary=source.format == "word2vec_binary", no_header=source.format == "glove_text"
    )


def _non_finite_entry(vectors: KeyedVectors) -> str | None:
    """The first word whose vector holds NaN or inf (fastText: or an n-gram row), as "entry N ('word')"."""
    row = _first_non_finite_row(vectors.vectors)
    if row is not None:
        return f"entry {row + 1} ({vectors.index_to_key[row]!r}) holds NaN or infinite values"
    ngrams = getattr(vectors, "vectors_ngrams", None)
    row = _first_non_finite_row(ngrams) if ngrams is not None else None
    return f"subword (n-gram) row {row} holds NaN or infinite values" if row is not None else None


def _first_non_finite_row(matrix: np.ndarray, block: int = 65536) -> int | None:
    """The first row holding NaN or inf, checked a block at a time (a 3M x 300 file needs no 900 MB mask)."""
    for start in range(0, len(matrix), block):
        bad = np.flatnonzero(~np.isfinite(matrix[start:start + block]).all(axis=1))
        if bad.size:
            return start + int(bad[0])
    return None


def read_keyed_vectors(
    source: VectorFile, dimension: int | None = None, *, allow_pickle: bool = False, item: str = "NAME"
) -> KeyedVectors:
    """Load ``source`` with gensim; a file in the wrong format, corrupt, ragged, empty or holding NaN
    is a one-line ``VectorFileError`` naming the file (and, for text files, the first bad line).

    A ``keyedvectors`` (pickle) file is refused unless ``allow_pickle`` is exactly True.
    """
    from gensim.models import KeyedVectors

    source = VectorFile(source.path, canonical_format(source.format))
    if source.path.stat().st_size == 0:
        raise VectorFileError(f"{source.path} is empty (0 bytes); expected {FORMATS[source.format]}")
    if source.format == "keyedvectors" and allow_pickle is not True:
        refuse_pickle(source, item)
    expected = (
        f"expected {FORMATS[source.format]}. If the file is in another format, pass format= one of {', '.join(FORMATS)}"
    )
    text = source.format in ("word2vec_text", "glove_text")
    if source.format != "keyedvectors":
        sniffed = _sniff_or_none(source.path)
        if sniffed is not None and sniffed != source.format:
            raise VectorFileError(f"cannot read {source.path} as {source.format}: it looks like {sniffed}; {expected}")
    try:
        vectors = _load_with_gensim(source)
    except Exception as error:  # gensim surfaces format errors as many exception types
        where = first_bad_line(source.path, source.format) if text else None
        reason = where or f"{type(error).__name__}: {_single_line(error)}"
        raise VectorFileError(f"cannot read {source.path} as {source.format} ({reason}); {expected}") from error
    if not isinstance(vectors, KeyedVectors) or len(vectors) == 0:
        raise VectorFileError(f"{source.path} holds no word vectors; expected {FORMATS[source.format]}")
    if (bad := _non_finite_entry(vectors)) is not None:
        where = (first_bad_line(source.path, source.format) if text else None) or bad
        raise VectorFileError(f"{source.path}: {where}; every vector must be finite numbers")
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
