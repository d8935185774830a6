"""A numpy-only table of word vectors, and readers for word2vec text, GloVe text and word2vec binary files.

``WordTable`` is what the word-vector lookup (``vocabulary.WordVectors``) uses of a gensim
``KeyedVectors``: ``key_to_index``, ``index_to_key``, the float32 ``vectors`` matrix,
``vector_size``, ``in`` and ``table[word]``. ``read_word2vec`` fills one from a file exactly as
gensim 4's ``KeyedVectors.load_word2vec_format`` does, with neither gensim nor smart_open:
the same float32 values bit for bit (each number is parsed by Python's ``float``, as
``numpy.float32(text)`` does, then stored as float32), the same word order, the first of a
repeated word kept, and the same files refused with the same exception types. Where gensim
keeps an all-zero row with no word for each repeated word (its matrix is allocated to the
header's count), the table has no such rows: no word can reach them.
"""

from __future__ import annotations

import bz2
import gzip
import logging
import lzma
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, cast

import numpy as np

logger = logging.getLogger(__name__)

OPENERS: dict[str, Callable[..., Any]] = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
"""Compressed files, by their (case-blind) suffix, as gensim's smart_open decompresses them."""

BINARY_CHUNK = 100 * 1024
"""Bytes read at a time from a word2vec binary file (gensim's ``binary_chunk_size``; where a file holds
repeated words, how many entries are read depends on it)."""

EARLY_END = "unexpected end of input; is count incorrect or file otherwise damaged?"


class WordTable:
    """Words to rows of a float32 matrix (row ``key_to_index[word]`` is ``word``'s vector)."""

    def __init__(self, words: list[str], vectors: np.ndarray):
        self.vectors = np.asarray(vectors, dtype=np.float32)
        self.index_to_key = list(words)
        self.key_to_index = {word: row for row, word in enumerate(self.index_to_key)}
        if self.vectors.ndim != 2 or len(self.vectors) != len(self.index_to_key):
            raise ValueError(f"{len(self.index_to_key)} words need a matrix of as many rows, "
                             f"got shape {self.vectors.shape}")
        if len(self.key_to_index) != len(self.index_to_key):
            raise ValueError("a word-vector table's words must differ; a word is repeated")

    @property
    def vector_size(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.index_to_key)

    def __contains__(self, word: object) -> bool:
        return word in self.key_to_index

    def __getitem__(self, word: str) -> np.ndarray:
        return self.vectors[self.key_to_index[word]]


class _Rows:
    """A table being filled from a file: the matrix allocated to the header's count, as gensim does."""

    def __init__(self, count: int, size: int | None):
        shape: tuple[Any, ...] = (count, size)  # a size of None fails here, as in gensim
        self.matrix = np.zeros(shape, dtype=np.float32)
        self.key_to_index: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.key_to_index)

    def add(self, word: str, vector: list[float] | np.ndarray) -> None:
        """``word``'s vector in the next row; a repeated word is ignored (its first vector stays)."""
        if word in self.key_to_index:
            logger.warning("duplicate word %r in word2vec file, ignoring all but first", word)
            return
        row = len(self.key_to_index)
        self.matrix[row] = vector  # numpy's assignment: one value fills the row, as gensim's does
        self.key_to_index[word] = row

    def table(self) -> WordTable:
        return WordTable(list(self.key_to_index), self.matrix[:len(self.key_to_index)])


def open_vector_file(path: Path) -> BinaryIO:
    """``path`` opened for reading bytes, decompressed when its suffix is .gz, .bz2 or .xz."""
    opener = OPENERS.get(path.suffix.lower())
    return cast(BinaryIO, opener(path, "rb")) if opener is not None else open(path, "rb")


def read_word2vec(path: Path, *, binary: bool = False, no_header: bool = False) -> WordTable:
    """The vectors of a word2vec text, GloVe text (``no_header``) or word2vec ``binary`` file.

    The errors are gensim's: ``ValueError`` for a bad header, number or vector length, ``EOFError`` for
    fewer entries than the header promises, ``UnicodeDecodeError`` for a word that is not UTF-8.
    """
    if no_header:
        if binary:
            raise ValueError("a word2vec binary file starts with its header; no_header is for text files")
        with open_vector_file(path) as handle:
            count, size = _glove_sizes(handle)
        with open_vector_file(path) as handle:
            rows = _Rows(count, size)
            _read_text(handle, rows, count)
        return rows.table()
    with open_vector_file(path) as handle:
        count, size = _header(handle.readline())
        rows = _Rows(count, size)
        if binary:
            _read_binary(handle, rows, count, size)
        else:
            _read_text(handle, rows, count)
    return rows.table()


def _header(line: bytes) -> tuple[int, int]:
    count, size = [int(field) for field in line.decode("utf-8").split()]
    return count, size


def _glove_sizes(handle: BinaryIO) -> tuple[int, int | None]:
    """The number of lines, and the number of values on the first line that has any (gensim's first pass)."""
    size = None
    count = 0
    while (line := handle.readline()) != b"":
        if not size:
            size = len(_text_entry(line)[1])
        count += 1
    return count, size


def _text_entry(line: bytes) -> tuple[str, list[float]]:
    """A text line's word and values: split at single spaces after trailing whitespace is cut, as gensim splits."""
    fields = line.rstrip().decode("utf-8").split(" ")
    return fields[0], [float(field) for field in fields[1:]]


def _read_text(handle: BinaryIO, rows: _Rows, count: int) -> None:
    for _ in range(count):
        line = handle.readline()
        if line == b"":
            raise EOFError(EARLY_END)
        rows.add(*_text_entry(line))


def _read_binary(handle: BinaryIO, rows: _Rows, count: int, size: int) -> None:
    """Entries of a word2vec binary file: the word, a space, ``size`` float32 values (gensim's chunked loop)."""
    chunk = b""
    read = 0
    while read < count:
        new = handle.read(BINARY_CHUNK)
        chunk += new
        entries, chunk = _binary_entries(chunk, rows, count, size)
        read += entries
        if len(new) < BINARY_CHUNK:
            break
    if read != count:
        raise EOFError(EARLY_END)


def _binary_entries(chunk: bytes, rows: _Rows, count: int, size: int) -> tuple[int, bytes]:
    """The whole entries at the start of ``chunk`` into ``rows`` (at most the rows left); their number and the rest."""
    start = 0
    entries = 0
    width = size * np.dtype(np.float32).itemsize
    for _ in range(count - len(rows)):
        space = chunk.find(b" ", start)
        if space == -1 or len(chunk) - (space + 1) < width:
            break
        word = chunk[start:space].decode("utf-8").lstrip("\n")
        rows.add(word, np.frombuffer(chunk, offset=space + 1, count=size, dtype=np.float32))
        start = space + 1 + width
        entries += 1
    return entries, chunk[start:]
