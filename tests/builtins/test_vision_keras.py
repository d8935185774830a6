"""Keras applications: layers, seeded controls, local and cached weights, offline messages, exact extraction."""

from __future__ import annotations

import os
import re

import h5py
import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
from benchsuite_builtins._shared.keras_architectures import ARCHITECTURES  # noqa: E402
from keras.src.legacy.saving.legacy_h5_format import save_weights_to_hdf5_group  # noqa: E402
from vision_fixtures import assert_matrices_close, brute_force, sample_photos  # noqa: E402

from benchsuite.contract.errors import ResourceMissing  # noqa: E402
from benchsuite.contract.manager import Registry  # noqa: E402
from benchsuite.extraction.batches import resized_batch  # noqa: E402
from benchsuite.extraction.cache import file_sha256  # noqa: E402
from benchsuite.extraction.layers import extract_group  # noqa: E402

pytestmark = pytest.mark.slow  # the Keras networks, untrained, at full size

NAMES = ["vgg16", "resnet50", "inception_v3"]
LAYER_COUNTS = {"vgg16": 15, "resnet50": 49, "inception_v3": 12}


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry()


@pytest.fixture(scope="module")
def untrained(registry):
    """Each untrained network, built once per module (seed 0)."""
    cache: dict[str, object] = {}

    def get(name: str):
        if name not in cache:
            cache[name] = registry.vision[f"{name}_untrained"].load()
        return cache[name]

    return get


@pytest.fixture(scope="module")
def resnet_weights_file(untrained, tmp_path_factory):
    """The seed-0 ResNet50's weights written in the keras-applications .h5 layout."""
    path = tmp_path_factory.mktemp("weights") / "resnet50_weights_tf_dim_ordering_tf_kernels.h5"
    with h5py.File(path, "w") as handle:
        save_weights_to_hdf5_group(handle, untrained("resnet50").network)
    return path


def expected_layers(name: str, network) -> list[str]:
    """The layers the plugin should expose, read off the real network."""
    layers = network.layers
    if name == "vgg16":
        return [layer.name for layer in layers if type(layer).__name__ in ("Conv2D", "Dense")][:-1]
    if name == "resnet50":
        blocks = [layer.name for layer in layers if type(layer).__name__ == "Activation" and "_block" in layer.name]
        return [*blocks, "avg_pool"]
    return [layer.name for layer in layers if re.fullmatch(r"mixed\d+", layer.name)] + ["avg_pool"]


@pytest.mark.parametrize("name", NAMES)
def test_static_layers_are_what_the_network_exposes_in_order(registry, untrained, name):
    trained, control = registry.vision[name], registry.vision[f"{name}_untrained"]
    assert trained.layers == control.layers == ARCHITECTURES[name].layers
    assert len(trained.layers) == LAYER_COUNTS[name]
    assert list(trained.layers) == expected_layers(name, untrained(name).network)
    assert trained.predicts_imagenet and trained.trained and not control.trained and not control.predicts_imagenet
    assert trained.input_size == (299 if name == "inception_v3" else 224)


@pytest.mark.parametrize("name", NAMES)
def test_forward_reports_every_layer_in_network_order(untrained, name):
    model = untrained(name)
    seen: list[tuple[str, tuple[int, ...]]] = []
    batch = model.preprocess(sample_photos(1))
    assert model.forward(batch, model.layers, lambda layer, values: seen.append((layer, values.shape))) is None
    assert [layer for layer, _ in seen] == list(model.layers)
    assert all(shape[0] == 1 for _, shape in seen)


def test_layer_by_layer_run_equals_keras_own_call(untrained):
    import torch

    model = untrained("vgg16")
    batch = model.preprocess(sample_photos(1))
    captured = {}
    model.forward(batch, ["fc2"], lambda layer, values: captured.setdefault(layer, values))
    probe = keras.Model(model.network.inputs, model.network.get_layer("fc2").output)
    with torch.inference_mode():
        want = keras.ops.convert_to_numpy(probe(batch))
    np.testing.assert_array_equal(captured["fc2"], want)


def test_preprocessing_is_keras_preprocess_input(untrained):
    photo = sample_photos(1)
    raw = resized_batch(photo, 224)
    vgg = untrained("vgg16").preprocess(photo)
    np.testing.assert_allclose(vgg, raw[..., ::-1] - np.array([103.939, 116.779, 123.68], np.float32), atol=1e-4)
    raw299 = resized_batch(photo, 299)
    np.testing.assert_allclose(untrained("inception_v3").preprocess(photo), raw299 / 127.5 - 1.0, atol=1e-6)


def test_untrained_controls_are_deterministic_for_a_seed(registry, untrained):
    meta = registry.vision["resnet50_untrained"]
    again, other = meta.load(seed=0), meta.load(seed=1)
    first = untrained("resnet50")
    assert first.weights_hash == "untrained-seed0" and other.weights_hash == "untrained-seed1"
    for a, b in zip(first.network.get_weights(), again.network.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    kernels = [(a, c) for a, c in zip(first.network.get_weights(), other.network.get_weights(), strict=True)]
    assert any(not np.array_equal(a, c) for a, c in kernels if a.ndim == 4)


def test_weights_file_in_keras_applications_layout_loads_bit_identically(registry, untrained, resnet_weights_file):
    model = registry.vision["resnet50"].load(weights=str(resnet_weights_file))
    assert model.weights_hash == file_sha256(resnet_weights_file)
    for a, b in zip(model.network.get_weights(), untrained("resnet50").network.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    predictions = model.forward(model.preprocess(sample_photos(2)), [], lambda *_: None)
    assert predictions.dtype == np.int64 and predictions.shape == (2,)


def refuse_download(*args, **kwargs):
    raise OSError("URL fetch failure: no network in tests")


def test_imagenet_weights_are_read_from_the_keras_cache(registry, resnet_weights_file, tmp_path, monkeypatch):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / resnet_weights_file.name).symlink_to(resnet_weights_file)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(keras.utils, "get_file", refuse_download)
    model = registry.vision["resnet50"].load()
    assert model.weights_hash == file_sha256(resnet_weights_file)


@pytest.mark.parametrize("name", NAMES)
def test_offline_without_weights_names_the_file_and_where_to_put_it(registry, name, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(keras.utils, "get_file", refuse_download)
    expected = tmp_path / "models" / f"{name}_weights_tf_dim_ordering_tf_kernels.h5"
    with pytest.raises(ResourceMissing) as error:
        registry.vision[name].load()
    message = str(error.value)
    assert str(expected) in message and "--weights PATH" in message and "URL fetch failure" in message
    assert ARCHITECTURES[name].weights_url in message


def test_bad_weights_files_are_explained(registry, tmp_path):
    with pytest.raises(ResourceMissing, match="absent.h5 does not exist"):
        registry.vision["vgg16"].load(weights=str(tmp_path / "absent.h5"))
    junk = tmp_path / "junk.h5"
    with h5py.File(junk, "w") as handle:
        handle.attrs["layer_names"] = [b"nothing"]
    with pytest.raises(ValueError, match="keras-applications .h5 layout"):
        registry.vision["resnet50"].load(weights=str(junk))
    with pytest.raises(ValueError, match="takes no weights"):
        registry.vision["vgg16_untrained"].load(weights=str(junk))


def test_streaming_and_chunked_extraction_equal_brute_force(untrained, tmp_path):
    model = untrained("resnet50")
    photos = sample_photos(4)
    layers = ["conv2_block1_1_relu", "conv3_block4_out", "conv5_block3_out", "avg_pool"]
    want = brute_force(model, photos, layers)
    assert_matrices_close(extract_group(model, photos, layers, batch_size=3).matrices, want)
    chunked = extract_group(model, photos, layers, batch_size=3, memory_budget=1, spill_dir=tmp_path)
    assert_matrices_close(chunked.matrices, want)
