"""Finding and reading word-vector files: word2vec binary/text, GloVe text, fastText .vec/.bin, gensim KeyedVectors.

A file comes from (first that applies) the ``path`` option, a gensim-data name
(``gensim_name``, which downloads: only when the user asks for it), or the
default location ``<cache>/vectors/<standard file name>``.

A gensim ``KeyedVectors.save()`` file (``.kv``) is a Python pickle, and unpickling
a file can run any code it contains; only the paper's word-vector models read one,
when the user opts in with their option ``allow_pickle=true``. The ``vectors:`` and
``gensim:`` sources take no such option and never unpickle (``allow_pickle=None``
here): their refusal says to convert the file. The text and binary word2vec and
GloVe formats hold only words and numbers and are always safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from benchsuite.plugin import BenchsuiteError, ResourceMissing, default_cache_dir, file_sha256, import_extra
from benchsuite_builtins._shared.word_table import WordTable, open_vector_file, read_word2vec

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

FORMATS = {
    "word2vec_binary": "word2vec binary: a text header line 'VOCAB DIM', then per word the word, "
    "a space and DIM float32 values (e.g. GoogleNews-vectors-negative300.bin.gz)",
    "word2vec_text": "word2vec text: a header line 'VOCAB DIM', then one 'word v1 ... vDIM' line per word",
    "glove_text": "GloVe text: no header, one 'word v1 ... vDIM' line per word (e.g. glove.6B.300d.txt)",
    "fasttext_bin": "a fastText binary model (.bin from fastText's save_model, e.g. cc.en.300.bin): its words' "
    "vectors, plus subword (character n-gram) vectors for words outside its vocabulary",
    "keyedvectors": "a gensim KeyedVectors.save() file (.kv), a Python pickle: read only by an item that takes "
    "allow_pickle=true (the paper's word-vector models), never by vectors: or gensim:",
}
GENSIM_FORMATS = ("fasttext_bin", "keyedvectors")
"""The formats gensim reads (the ``gensim`` extra); the others are read with numpy alone (``word_table``)."""
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


MAX_LINE_BYTES = 2**20
"""The longest line a word-vector text file may have (and the longest word of a binary one): a 300-d line
is about 3 KB, so a longer one means the file is not one word and its numbers a line."""
SCAN_BLOCK = 2**22


def overlong(path: Path, where: str) -> VectorFileError:
    return VectorFileError(f"{path}: {where} is longer than {MAX_LINE_BYTES} bytes; not a word-vector file "
                           "(one word and its numbers a line)")


def bounded_line(handle: BinaryIO, path: Path, number: int) -> bytes:
    """Line ``number`` of ``handle``, read at most ``MAX_LINE_BYTES`` (and its newline) far; longer: an error."""
    line = handle.readline(MAX_LINE_BYTES + 1)
    if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
        raise overlong(path, f"line {number}")
    return line


def text_extent(path: Path) -> tuple[int, int]:
    """(lines, bytes) of a text file, streamed a block at a time (decompressed); the first line longer than
    ``MAX_LINE_BYTES`` is an error raised as soon as its block is read."""
    lines = total = open_line = 0  # open_line: bytes of the line still open at the block's end
    with open_vector_file(path) as handle:
        while block := handle.read(SCAN_BLOCK):
            ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
            lengths = np.diff(ends, prepend=-1) - 1 if ends.size else np.zeros(0, dtype=np.int64)
            if ends.size:
                lengths[0] += open_line
            too_long = np.flatnonzero(lengths > MAX_LINE_BYTES)
            open_line = len(block) - 1 - int(ends[-1]) if ends.size else open_line + len(block)
            if too_long.size or open_line > MAX_LINE_BYTES:
                raise overlong(path, f"line {lines + (int(too_long[0]) if too_long.size else ends.size) + 1}")
            lines, total = lines + int(ends.size), total + len(block)
    return lines + (open_line > 0), total


def check_text_extent(source: VectorFile) -> None:
    """Every line bounded, and the numbers the first line promises (a header's VOCAB x DIM, or GloVe's first
    vector on every line) fitting in the file at two bytes a number at least; else a one-line error."""
    lines, total = text_extent(source.path)
    with open_vector_file(source.path) as handle:
        first = bounded_line(handle, source.path, 1).split()
    if source.format == "word2vec_text" and len(first) == 2 and all(field.isdigit() for field in first):
        vocab, dimension = int(first[0]), int(first[1])
        if vocab > lines - 1:  # as first_bad_line words it
            raise VectorFileError(f"{source.path}: line {lines + 1}: the header promises {vocab} vectors, the file "
                                  f"holds {lines - 1}")
        if 2 * vocab * dimension > total:
            raise VectorFileError(f"{source.path}: the header promises {vocab} vectors of {dimension} values, more "
                                  f"than its {total} bytes can hold")
    if source.format == "glove_text" and 2 * lines * (len(first) - 1) > total:
        raise VectorFileError(f"{source.path}: line 1 has {len(first) - 1} values, but the file is too small for "
                              f"{len(first) - 1} values on each of its {lines} lines (ragged lines?)")


def check_binary_extent(source: VectorFile) -> None:
    """A word2vec binary file's entries walked without parsing: each word at most ``MAX_LINE_BYTES``, as many
    entries of DIM float32 values as the header promises; else a one-line error naming the entry."""
    with open_vector_file(source.path) as handle:
        fields = bounded_line(handle, source.path, 1).split()
        if len(fields) != 2 or not all(field.isdigit() for field in fields):
            return  # the reader names a bad header
        vocab, dimension = int(fields[0]), int(fields[1])
        width, buffer, start = 4 * dimension, b"", 0
        for entry in range(1, vocab + 1):
            if len(buffer) - start < MAX_LINE_BYTES + 1 + width:
                buffer, start = buffer[start:] + handle.read(SCAN_BLOCK + width), 0
            space = buffer.find(b" ", start, start + MAX_LINE_BYTES + 1)
            if space < 0 and len(buffer) - start > MAX_LINE_BYTES:
                raise overlong(source.path, f"entry {entry}'s word")
            if space < 0 or len(buffer) - space - 1 < width:
                raise VectorFileError(f"{source.path}: the header promises {vocab} vectors of {dimension} values; "
                                      f"the file ends at entry {entry}")
            start = space + 1 + width


def check_extent(source: VectorFile) -> None:
    """Before a reader runs: the file bounded and as large as it promises (text and word2vec binary formats)."""
    if source.format in ("word2vec_text", "glove_text"):
        check_text_extent(source)
    elif source.format == "word2vec_binary":
        check_binary_extent(source)


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
    with open_vector_file(path) as handle:
        first = bounded_line(handle, path, 1).split()
        second = handle.readline(MAX_LINE_BYTES + 1)  # binary after a header: no line to bound
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
        with open_vector_file(source.path) as handle:
            fields = bounded_line(handle, source.path, 1).split()
        if canonical_format(source.format) == "glove_text":
            return len(fields) - 1 if len(fields) > 1 else None
        return int(fields[1]) if len(fields) == 2 and fields[1].isdigit() else None
    except (OSError, EOFError, VectorFileError):
        return None


def refuse_pickle(source: VectorFile, item: str, *, option: bool) -> None:
    """A ``VectorFileError`` naming the risk for a pickle-based file, and the way out: converting it, or (where
    ``item`` takes one, ``option``) the ``allow_pickle`` option; an item without it is never told to set it."""
    risk = f"{source.path} is a gensim KeyedVectors file, a Python pickle: loading it can run any code it contains"
    if not option:
        raise VectorFileError(f"{risk}, and {item} never unpickles; convert it with "
                              "KeyedVectors.save_word2vec_format and name that file")
    raise VectorFileError(
        f"{risk}. Convert it to word2vec format (KeyedVectors.save_word2vec_format) and pass that file, or, only if "
        f"you trust the file and where it came from, set the option allow_pickle=true (--set {item}.allow_pickle=true)"
    )


def _single_line(text: object) -> str:
    return " ".join(str(text).split())


def first_bad_line(path: Path, format: str) -> str | None:
    """Where a word2vec/GloVe text file first breaks its format ("line 7: ..."), or None when every line is sound.

    Read only after the reader failed or returned non-finite values: its errors (gensim's) name no line.
    """
    dimension = None
    expected_lines = None
    count = 0
    with open_vector_file(path) as handle:
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


def _load_vectors(source: VectorFile) -> WordTable | KeyedVectors | None:
    """The file's vectors: word2vec and GloVe files as gensim's load_word2vec_format reads them, with numpy
    alone; fastText .bin and .kv files with gensim (None when a .kv pickle holds no KeyedVectors)."""
    if source.format not in GENSIM_FORMATS:
        return read_word2vec(
            source.path, binary=source.format == "word2vec_binary", no_header=source.format == "glove_text"
        )
    if source.format == "keyedvectors":
        models = import_extra("gensim.models", "gensim")
        loaded = models.KeyedVectors.load(str(source.path))
        return loaded if isinstance(loaded, models.KeyedVectors) else None
    return import_extra("gensim.models.fasttext", "gensim").load_facebook_vectors(str(source.path))


def _non_finite_entry(vectors: WordTable | KeyedVectors) -> str | None:
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
    source: VectorFile, dimension: int | None = None, *, allow_pickle: bool | None = None, item: str = "NAME"
) -> WordTable | KeyedVectors:
    """Load ``source`` (with gensim only in ``GENSIM_FORMATS``); a file in the wrong format, corrupt, ragged,
    empty or holding NaN is a one-line ``VectorFileError`` naming the file (and, for text files, the first bad line).

    A ``keyedvectors`` (pickle) file is refused unless ``allow_pickle`` is exactly True (None: ``item`` has no
    such option, and the refusal names none); a format gensim
    reads is ``ResourceMissing`` naming the ``gensim`` extra when gensim is not installed.
    """
    source = VectorFile(source.path, canonical_format(source.format))
    if source.path.stat().st_size == 0:
        raise VectorFileError(f"{source.path} is empty (0 bytes); expected {FORMATS[source.format]}")
    if source.format == "keyedvectors" and allow_pickle is not True:
        refuse_pickle(source, item, option=allow_pickle is not None)
    expected = (
        f"expected {FORMATS[source.format]}. If the file is in another format, pass format= one of {', '.join(FORMATS)}"
    )
    text = source.format in ("word2vec_text", "glove_text")
    if source.format != "keyedvectors":
        sniffed = _sniff_or_none(source.path)
        if sniffed is not None and sniffed != source.format:
            raise VectorFileError(f"cannot read {source.path} as {source.format}: it looks like {sniffed}; {expected}")
    check_extent(source)
    if source.format in GENSIM_FORMATS:
        import_extra("gensim.models", "gensim")
    try:
        vectors = _load_vectors(source)
    except Exception as error:  # the readers surface format errors as many exception types
        where = first_bad_line(source.path, source.format) if text else None
        reason = where or f"{type(error).__name__}: {_single_line(error)}"
        raise VectorFileError(f"cannot read {source.path} as {source.format} ({reason}); {expected}") from error
    if vectors is None or len(vectors) == 0:
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
    downloader = import_extra("gensim.downloader", "gensim")
    return Path(downloader.load(name, return_path=True))


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
