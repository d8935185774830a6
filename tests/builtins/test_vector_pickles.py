"""A pickle-based vector file (gensim's ``.kv``) is never unpickled by ``vectors:`` or ``gensim:``: they take no
``allow_pickle`` option, and their refusal says to convert the file, never to set an option they would refuse."""

from __future__ import annotations

import inspect
import pickle

import pytest
from benchsuite_builtins._shared.vector_files import VectorFileError
from benchsuite_builtins.text_sources import gensim_source, vector_file_source
from text_fixtures import toy_vectors, write_text_vectors

from benchsuite.contract.manager import Registry


class CodeInPickle:
    """Unpickling this creates ``marker``: proof that a loader ran code from a data file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


CONVERT = r"a Python pickle: loading it can run any code it contains, and {item} never unpickles; convert it with " \
          r"KeyedVectors\.save_word2vec_format and name that file"


@pytest.fixture
def registry(monkeypatch, tmp_path):
    monkeypatch.setenv("BENCHSUITE_PLUGINS", "text_sources")
    monkeypatch.setenv("GENSIM_DATA_DIR", str(tmp_path / "gensim-data"))
    return Registry()


def test_format_keyedvectors_on_vectors_is_refused_without_naming_an_option(registry, tmp_path):
    marker = tmp_path / "code-ran"
    path = write_text_vectors(tmp_path / "v.txt", toy_vectors(["cat", "dog"], 4), header=False)
    meta = registry.text[f"vectors:{path}"]
    path.write_bytes(pickle.dumps(CodeInPickle(marker)))
    with pytest.raises(VectorFileError, match=CONVERT.format(item=rf"vectors:{path}")) as raised:
        meta.load(format="keyedvectors")
    assert "allow_pickle" not in str(raised.value) and not marker.exists()


def test_vectors_and_gensim_take_no_allow_pickle_option():
    for load in (vector_file_source.load, gensim_source.load):
        assert "allow_pickle" not in inspect.signature(load).parameters


def test_a_kv_file_named_on_vectors_or_gensim_is_refused_at_resolution(registry, tmp_path):
    marker = tmp_path / "code-ran"
    kv = tmp_path / "v.kv"
    kv.write_bytes(pickle.dumps(CodeInPickle(marker)))
    folder = tmp_path / "gensim-data" / "some-vectors"
    folder.mkdir(parents=True)
    (folder / "some-vectors.kv").write_bytes(kv.read_bytes())
    for name in (f"vectors:{kv}", "gensim:some-vectors"):
        assert name not in registry.text
        problem = registry.problem("text", name)
        assert "never unpickles; convert it with KeyedVectors.save_word2vec_format" in problem
        assert "allow_pickle" not in problem
    assert not marker.exists()
