"""The `paper` suite end to end with no network, on stand-ins this test writes itself.

An ImageNet-validation tree made of real packaged photos, the four word-vector
models as files in each format (real GloVe 6B vectors projected to each model's
dimension), and Keras weight files in the keras-applications layout placed in
the Keras cache, where `weights="imagenet"` finds them.
"""

from pathlib import Path

import h5py
import numpy as np
import pytest
from image_fixtures import build_val_tree
from text_fixtures import offline_model, write_binary_vectors, write_text_vectors

from benchsuite.contract.manager import Registry
from benchsuite.extraction.cache import ArrayCache
from benchsuite.inputs.imagenet import imagenet_concepts
from benchsuite.inputs.suites import load_suites
from benchsuite.run.options import RunOptions
from benchsuite.run.suite_run import run_suite

keras = pytest.importorskip("keras")
from keras.src.legacy.saving.legacy_h5_format import save_weights_to_hdf5_group  # noqa: E402

pytestmark = pytest.mark.slow  # the paper suite end to end on generated files

ROOT = Path(__file__).resolve().parents[2]
VISION = ["pixels", "vgg16", "resnet50", "inception_v3"]
CONCEPTS = 8  # classes in the stand-in validation tree, 5 photos each (CPU time, not coverage, sets this)
TEXT_FILES = {  # name: (dimension, format, file name)
    "skipgram": (300, "word2vec_binary", "vectors.bin"),
    "glove": (300, "glove_text", "glove.txt"),
    "rnn": (640, "word2vec_text", "rnn.txt"),
    "crosslingual": (512, "glove_text", "crosslingual.txt"),
}


def refuse_network(*args, **kwargs):
    raise OSError("URL fetch failure: this test must not reach the network")


def projected_vocabulary(dimension: int, seed: int) -> dict[str, np.ndarray]:
    """Every word of every ImageNet class name, as real GloVe 6B vectors projected to ``dimension``."""
    glove = offline_model("glove_6b_50d")
    words = sorted({w for c in imagenet_concepts() for name in c.names for w in name.lower().split()})
    keyed = glove.vectors
    known = [w for w in words if w in keyed.key_to_index]
    projection = np.random.default_rng(seed).normal(size=(50, dimension)) / np.sqrt(50)
    return {w: (keyed[w] @ projection).astype(np.float32) for w in known}


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory):
    root = tmp_path_factory.mktemp("paper")
    val = root / "val"
    wnids = build_val_tree(val, copies=5, layout="flat")
    kept = sorted(set(wnids.values()))[:CONCEPTS]
    for file_name, wnid in wnids.items():
        if wnid not in kept:
            (val / file_name).unlink()
    overrides = {"imagenet_val": {"root": str(val)}}
    for index, (name, (dimension, fmt, file_name)) in enumerate(TEXT_FILES.items()):
        vectors = projected_vocabulary(dimension, seed=index)
        path = root / file_name
        if fmt == "word2vec_binary":
            write_binary_vectors(path, vectors)
        else:
            write_text_vectors(path, vectors, header=fmt == "word2vec_text")
        overrides[name] = {"path": str(path), "format": fmt}
    keras_home = root / "keras"
    (keras_home / "models").mkdir(parents=True)
    registry = Registry()
    for name in VISION[1:]:
        network = registry.vision[f"{name}_untrained"].load(seed=7).network
        with h5py.File(keras_home / "models" / f"{name}_weights_tf_dim_ordering_tf_kernels.h5", "w") as handle:
            save_weights_to_hdf5_group(handle, network)
        del network
    return root, overrides, keras_home


@pytest.fixture(scope="module")
def paper_records(stand_ins):
    root, overrides, keras_home = stand_ins
    patch = pytest.MonkeyPatch()
    patch.setenv("KERAS_HOME", str(keras_home))
    patch.setattr(keras.utils, "get_file", refuse_network)
    import gensim.downloader

    patch.setattr(gensim.downloader, "load", refuse_network)
    try:
        suite = load_suites(ROOT / "registry.toml")["paper"]
        options = RunOptions(out=root / "results", cache=ArrayCache(root / "cache"), vision=VISION,
                             permutations=20, overrides=overrides, progress=False)
        yield run_suite(Registry(), suite, options)
    finally:
        patch.undo()


def test_paper_suite_runs_every_model_and_text_offline(paper_records):
    assert paper_records.problems == []
    assert [(r.vision, r.text, r.error) for r in paper_records.records if r.status != "ok"] == []
    ok = [r for r in paper_records.records if r.metric == "two_vs_two"]
    assert {(r.vision, r.text) for r in ok} == {(v, t) for v in VISION for t in TEXT_FILES}
    layers = {v: {r.layer for r in ok if r.vision == v} for v in VISION}
    assert len(layers["vgg16"]) == 15 and {"block1_conv1", "fc2"} <= layers["vgg16"]
    assert {f"mixed{i}" for i in range(11)} <= layers["inception_v3"]
    assert all(len(r.groups) == 5 for r in ok)
    assert {r.n_concepts for r in ok} == {CONCEPTS}
    weights = {r.vision: r.provenance.weights_hash for r in ok}
    assert len(set(weights.values())) == len(VISION)


def test_paper_suite_text_models_agree_where_vectors_share_a_source(paper_records):
    """All four stand-in files project the same GloVe vectors, so their scores move together."""
    ok = [r for r in paper_records.records if r.metric == "rsa" and r.vision == "vgg16"]
    by_text = {t: np.array([r.value for r in sorted(ok, key=lambda r: r.depth) if r.text == t]) for t in TEXT_FILES}
    skipgram = by_text.pop("skipgram")
    for values in by_text.values():
        assert np.corrcoef(skipgram, values)[0, 1] > 0.5
