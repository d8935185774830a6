"""Word-vector files are read bounded: a line (or a binary entry's word) longer than ``MAX_LINE_BYTES`` is a named
error found while streaming, never a whole-file read; a header or first line that promises more numbers than the
file holds is refused before any matrix is allocated."""

from __future__ import annotations

import bz2
import gzip
import lzma
import tracemalloc

import benchsuite_builtins._shared.vector_files as vector_files
import numpy as np
import pytest
from benchsuite_builtins._shared.vector_files import VectorFile, VectorFileError, guess_format, read_keyed_vectors
from text_fixtures import toy_vectors, write_binary_vectors, write_text_vectors

from benchsuite.contract.manager import Registry

BOUND = 4096


@pytest.fixture
def small_bound(monkeypatch):
    monkeypatch.setattr(vector_files, "MAX_LINE_BYTES", BOUND)


def test_a_file_without_newlines_is_refused_from_its_first_block(tmp_path):
    path = tmp_path / "flat.txt"
    with open(path, "wb") as handle:
        for _ in range(24):
            handle.write(b"7" * 2**20)  # 24 MiB, not one newline
    tracemalloc.start()
    try:
        with pytest.raises(VectorFileError, match=rf"{path}: line 1 is longer than {vector_files.MAX_LINE_BYTES} "
                                                  r"bytes; not a word-vector file \(one word and its numbers a line\)"):
            guess_format(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20
    problem = Registry().problem("text", f"vectors:{path}")
    assert f"line 1 is longer than {vector_files.MAX_LINE_BYTES} bytes" in problem


@pytest.mark.parametrize("header,compress", [(True, None), (False, None), (True, gzip), (False, bz2), (True, lzma)])
def test_a_long_line_past_the_start_is_named_before_the_reader_runs(tmp_path, small_bound, header, compress):
    vectors = toy_vectors(["cat", "dog", "shark"], 8)
    path = write_text_vectors(tmp_path / "v.txt", vectors, header=header)
    path.write_bytes(path.read_bytes() + b"x" * (BOUND + 1) + b" 1\n")
    if compress is not None:  # read decompressed, as the reader reads it
        path = tmp_path / f"v.txt.{ {gzip: 'gz', bz2: 'bz2', lzma: 'xz'}[compress] }"
        path.write_bytes(compress.compress((tmp_path / "v.txt").read_bytes()))
    line = 5 if header else 4
    with pytest.raises(VectorFileError, match=rf"line {line} is longer than {BOUND} bytes"):
        read_keyed_vectors(VectorFile(path, "word2vec_text" if header else "glove_text"))


def test_a_header_promising_more_vectors_than_lines_is_refused_before_allocation(tmp_path):
    path = tmp_path / "liar.txt"
    path.write_text("3000000000 300\ncat " + " ".join(["0.5"] * 300) + "\n")
    with pytest.raises(VectorFileError, match=r"line 3: the header promises 3000000000 vectors, the file holds 1"):
        read_keyed_vectors(VectorFile(path, "word2vec_text"))
    path.write_text("5 1000\ncat " + " ".join(["1"] * 1000) + "\n" + "a 1\n" * 4)  # sniffs as word2vec text
    with pytest.raises(VectorFileError, match=r"the header promises 5 vectors of 1000 values, more than its 2027 "
                                              r"bytes can hold"):
        read_keyed_vectors(VectorFile(path, "word2vec_text"))


def test_a_first_line_too_wide_for_the_rest_is_refused_before_allocation(tmp_path):
    path = tmp_path / "ragged.txt"
    path.write_bytes(b"wide " + b" ".join([b"1"] * 1000) + b"\n" + b"a 1\n" * 20000)
    with pytest.raises(VectorFileError, match=r"line 1 has 1000 values, but the file is too small for 1000 values "
                                              r"on each of its 20001 lines"):
        read_keyed_vectors(VectorFile(path, "glove_text"))


def test_binary_entries_are_walked_with_a_bounded_word(tmp_path, small_bound):
    vectors = toy_vectors(["cat", "dog"], 8)
    good = write_binary_vectors(tmp_path / "v.bin", vectors)
    assert len(read_keyed_vectors(VectorFile(good, "word2vec_binary"))) == 2
    long_word = tmp_path / "long.bin"
    long_word.write_bytes(b"2 8\n" + b"w" * (BOUND + 1) + b" " + np.zeros(8, "<f4").tobytes() * 2)
    with pytest.raises(VectorFileError, match=rf"entry 1's word is longer than {BOUND} bytes"):
        read_keyed_vectors(VectorFile(long_word, "word2vec_binary"))
    liar = tmp_path / "liar.bin"
    liar.write_bytes(b"900000000 300\n" + good.read_bytes().split(b"\n", 1)[1])
    with pytest.raises(VectorFileError, match=r"the header promises 900000000 vectors of 300 values; the file ends "
                                              r"at entry 1"):
        read_keyed_vectors(VectorFile(liar, "word2vec_binary"))


def test_sound_files_read_as_before(tmp_path, small_bound):
    vectors = toy_vectors(["cat", "dog", "tabby_cat"], 300)  # lines of about 3 KB, under the bound
    for header in (True, False):
        path = write_text_vectors(tmp_path / f"v{header}.txt", vectors, header=header)
        read = read_keyed_vectors(VectorFile(path, guess_format(path)))
        np.testing.assert_allclose(read["tabby_cat"], vectors["tabby_cat"], atol=1e-5)
