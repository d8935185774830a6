"""The vision sources, offline: random-initialised instances saved as local weight files and fake library caches
(torch hub, Hugging Face hub, Keras), loaded back through ``PREFIX:NAME``; downloads replaced, never performed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from vision_fixtures import sample_photos

from benchsuite.contract.errors import ResourceMissing
from benchsuite.contract.manager import Registry
from benchsuite.plugin import file_sha256

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")


@pytest.fixture
def caches(tmp_path, monkeypatch):
    """Empty torch hub, Hugging Face and Keras caches in a temporary folder."""
    for variable, folder in (("TORCH_HOME", "torch"), ("HF_HUB_CACHE", "hf"), ("KERAS_HOME", "keras")):
        monkeypatch.setenv(variable, str(tmp_path / folder))
    return tmp_path


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry()


def run_layers(model, photos) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    seen: dict[str, np.ndarray] = {}
    top1 = model.forward(model.preprocess(photos), model.layers, lambda name, values: seen.setdefault(name, values))
    return seen, top1


def fresh_registry() -> Registry:
    """A registry whose qualified names resolve anew (resolution reads the cache variables of the moment)."""
    return Registry()


# -- torchvision -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_torchvision():
    from benchsuite_builtins._shared.torchvision_import import import_torchvision

    torch.manual_seed(0)
    return import_torchvision().models.mobilenet_v3_small(weights=None).eval()


def test_torchvision_layers_are_blocks_then_pool(registry):
    meta = registry.vision["torchvision:mobilenet_v3_small"]
    assert meta.layers == (*(f"features.{i}" for i in range(13)), "pool", "classifier.1")  # the head's hidden
    assert meta.input_size == 224 and meta.predicts_imagenet and meta.framework == "torch"
    assert meta.preprocessing.startswith("torchvision MobileNet_V3_Small_Weights.IMAGENET1K_V1.transforms()")
    assert "resize_size=[256]" in meta.preprocessing and "mean=[0.485, 0.456, 0.406]" in meta.preprocessing


def test_torchvision_local_weights_give_the_instances_activations(registry, small_torchvision, tmp_path):
    path = tmp_path / "small.pth"
    torch.save(small_torchvision.state_dict(), path)
    model = registry.vision["torchvision:mobilenet_v3_small"].load(weights=str(path))
    assert model.weights_hash == file_sha256(path)
    photos = sample_photos(2)
    seen, top1 = run_layers(model, photos)
    batch = torch.from_numpy(model.preprocess(photos))
    with torch.inference_mode():
        features = small_torchvision.features(batch)
        pooled = small_torchvision.avgpool(features).flatten(1)
        logits = small_torchvision(batch)
    np.testing.assert_array_equal(seen["features.12"], features.numpy())
    np.testing.assert_array_equal(seen["pool"], pooled.numpy())
    np.testing.assert_array_equal(top1, logits.argmax(1).numpy())


def test_torchvision_reads_torch_hubs_cache_and_names_what_is_missing(small_torchvision, caches):
    name = "torchvision:mobilenet_v3_small:IMAGENET1K_V1"
    expected = caches / "torch" / "hub" / "checkpoints" / "mobilenet_v3_small-047dcff4.pth"
    with pytest.raises(ResourceMissing) as missing:
        fresh_registry().vision[name].load()
    assert str(expected) in str(missing.value) and f"`benchsuite fetch --vision {name}`" in str(missing.value)
    expected.parent.mkdir(parents=True)
    torch.save(small_torchvision.state_dict(), expected)
    model = fresh_registry().vision[name].load()
    assert model.weights_hash == file_sha256(expected)
    for got, want in zip(model.network.state_dict().values(), small_torchvision.state_dict().values(), strict=True):
        assert torch.equal(got, want)


def test_torchvision_layers_option_takes_globs_in_network_order(registry, tmp_path, small_torchvision):
    path = tmp_path / "small.pth"
    torch.save(small_torchvision.state_dict(), path)
    meta = registry.vision["torchvision:mobilenet_v3_small"]
    model = meta.load(weights=str(path), layers=["pool", "features.1?", "features.1"])
    assert model.layers == ("features.1", "features.10", "features.11", "features.12", "pool")  # network order
    assert set(run_layers(model, sample_photos(1))[0]) == set(model.layers)
    with pytest.raises(ValueError, match=r"torchvision:mobilenet_v3_small: layers pattern 'featurs.3' matches none "
                                         r"of its \d+ layers; close ones: features.3"):
        meta.load(weights=str(path), layers="featurs.3")


def test_torchvision_names_and_bad_names(registry):
    from benchsuite_builtins.vision_sources import torchvision_source

    assert {"resnet50", "mobilenet_v2", "vit_b_16"} <= set(torchvision_source.offered())
    assert "torchvision:resnet50:V9" not in registry.vision
    assert "has no weights 'V9'; choose one of IMAGENET1K_V1, IMAGENET1K_V2" in registry.problem(
        "vision", "torchvision:resnet50:V9")


def test_torchvision_fetch_downloads_into_torch_hub(caches, monkeypatch):
    from benchsuite_builtins.vision_sources import torchvision_source

    calls = []

    def fake_download(url, path):
        calls.append(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"weights")
        return path

    monkeypatch.setattr(torchvision_source, "download_url", fake_download)
    where = fresh_registry().source("vision", "torchvision").fetch("resnet18")
    assert where == str(caches / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth")
    assert calls == ["https://download.pytorch.org/models/resnet18-f37072fd.pth"]
    assert fresh_registry().source("vision", "torchvision").fetch("resnet18") == where and len(calls) == 1


# -- timm ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_timm():
    from benchsuite_builtins.vision_sources.timm_source import import_timm

    torch.manual_seed(0)
    return import_timm().create_model("test_convnext.r160_in1k", pretrained=False).eval()


def hub_snapshot(root, repo: str, commit: str = "0123abcd"):
    """An empty snapshot folder of ``repo`` in the hub cache layout, ``refs/main`` naming it."""
    folder = root / ("models--" + repo.replace("/", "--"))
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(commit)
    snapshot = folder / "snapshots" / commit
    snapshot.mkdir(parents=True)
    return snapshot


def test_timm_layers_preprocessing_and_local_weights(registry, small_timm, tmp_path):
    meta = registry.vision["timm:test_convnext.r160_in1k"]
    assert meta.layers == ("stages.0", "stages.1", "stages.2", "stages.3", "pool")
    assert meta.input_size == 160 and meta.predicts_imagenet
    assert "create_transform" in meta.preprocessing and "CenterCrop(size=(160, 160))" in meta.preprocessing
    path = tmp_path / "convnext.pth"
    torch.save(small_timm.state_dict(), path)
    model = meta.load(weights=str(path))
    photos = sample_photos(2)
    seen, top1 = run_layers(model, photos)
    batch = torch.from_numpy(model.preprocess(photos))
    with torch.inference_mode():
        features = small_timm.forward_features(batch)
        pooled = small_timm.forward_head(features, pre_logits=True)
        logits = small_timm(batch)
    np.testing.assert_allclose(seen["stages.3"], features.numpy(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(seen["pool"], pooled.numpy(), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(top1, logits.argmax(1).numpy())


def test_timm_reads_the_hub_cache_and_fetches_into_it(small_timm, caches, monkeypatch):
    from benchsuite_builtins.vision_sources import timm_source
    from safetensors.torch import save_file

    name = "timm:test_convnext.r160_in1k"
    with pytest.raises(ResourceMissing, match=f"no weights at {caches / 'hf' / 'models--timm--test_convnext.r160_in1k'}"
                                              f".*`benchsuite fetch --vision {name}`"):
        fresh_registry().vision[name].load()
    downloads = []

    def fake_download(repo, filename, cache_dir):
        downloads.append((repo, filename))
        snapshot = hub_snapshot(cache_dir, repo)
        save_file({k: v.contiguous() for k, v in small_timm.state_dict().items()}, snapshot / filename)
        return snapshot / filename

    monkeypatch.setattr(timm_source, "download_hub_file", fake_download)
    where = fresh_registry().source("vision", "timm").fetch("test_convnext.r160_in1k")
    assert downloads == [("timm/test_convnext.r160_in1k", "model.safetensors")]
    assert where.startswith(str(caches / "hf")) and where.endswith("model.safetensors")
    model = fresh_registry().vision[name].load()
    assert model.weights_hash == file_sha256(where)
    for got, want in zip(model.network.state_dict().values(), small_timm.state_dict().values(), strict=True):
        assert torch.equal(got, want)


def test_timm_bad_names_say_what_exists(registry):
    assert "timm:test_convnext.nope" not in registry.vision
    assert "has no pretrained tag 'nope'; tags: r160_in1k" in registry.problem("vision", "timm:test_convnext.nope")


# -- Hugging Face --------------------------------------------------------------------------------------------------


def save_tiny(kind: str, folder) -> torch.nn.Module:
    """A tiny random encoder of ``kind`` and a 32-pixel image processor saved in ``folder``; returns the encoder."""
    import transformers

    torch.manual_seed(0)
    shape = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=32,
                 patch_size=8)
    if kind == "vit":
        model = transformers.ViTModel(transformers.ViTConfig(**shape))
    elif kind == "dinov2":
        model = transformers.Dinov2Model(transformers.Dinov2Config(**shape))
    else:
        text = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
        model = transformers.CLIPModel(transformers.CLIPConfig(text_config=text, vision_config=shape))
    model.save_pretrained(folder)
    transformers.ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return model.eval()


@pytest.mark.parametrize("kind", ["vit", "dinov2", "clip"])
def test_hf_encoders_report_one_hidden_state_per_block(kind, caches):
    from benchsuite_builtins._shared.torchvision_import import import_torchvision

    import_torchvision()
    repo = f"tiny/{kind}"
    reference = save_tiny(kind, hub_snapshot(caches / "hf", repo))
    meta = fresh_registry().vision[f"hf:{repo}"]
    assert meta.layers == ("hidden_states.0", "hidden_states.1", "hidden_states.2")
    assert meta.input_size == 32 and not meta.predicts_imagenet
    assert '"size":{"height":32,"width":32}' in meta.preprocessing
    model = meta.load()
    photos = sample_photos(2)
    seen, top1 = run_layers(model, photos)
    assert top1 is None
    batch = torch.from_numpy(model.preprocess(photos))
    assert batch.shape == (2, 3, 32, 32)
    tower = reference.vision_model if kind == "clip" else reference
    with torch.inference_mode():
        states = tower(pixel_values=batch, output_hidden_states=True).hidden_states
    for index, state in enumerate(states):
        np.testing.assert_allclose(seen[f"hidden_states.{index}"], state.numpy(), rtol=0, atol=1e-6)
    pooled = meta.load(layers=["pooled", "hidden_states.2"])
    assert pooled.layers == ("hidden_states.2", "pooled")


def test_hf_missing_repo_names_the_cache_and_fetch(caches, monkeypatch):
    from benchsuite_builtins.vision_sources import hf_source

    registry = fresh_registry()
    assert "hf:org/absent" not in registry.vision
    message = registry.absence("vision", "hf:org/absent")
    assert str(caches / "hf" / "models--org--absent") in message
    assert "`benchsuite fetch --vision hf:org/absent`" in message
    fetched = []
    monkeypatch.setattr(hf_source, "download_hub_snapshot", lambda repo, cache_dir: fetched.append(
        (repo, cache_dir)) or cache_dir / "snap")
    assert registry.source("vision", "hf").fetch("org/absent") == str(caches / "hf" / "snap")
    assert fetched == [("org/absent", caches / "hf")]


def test_hf_takes_a_saved_folder(tmp_path):
    from benchsuite_builtins._shared.torchvision_import import import_torchvision

    import_torchvision()
    save_tiny("vit", tmp_path / "saved")
    meta = Registry().vision[f"hf:{tmp_path / 'saved'}"]
    assert meta.load().layers == meta.layers


def test_hf_an_edited_config_changes_the_weights_hash_with_the_numbers(tmp_path):
    import json

    from benchsuite_builtins._shared.torchvision_import import import_torchvision

    import_torchvision()
    folder = tmp_path / "saved"
    save_tiny("vit", folder)
    photos = sample_photos(2)
    before = Registry().vision[f"hf:{folder}"].load()
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "hidden_act": "relu"}))
    after = Registry().vision[f"hf:{folder}"].load()
    assert not np.allclose(run_layers(before, photos)[0]["hidden_states.2"],
                           run_layers(after, photos)[0]["hidden_states.2"])
    assert after.weights_hash != before.weights_hash
    assert Registry().vision[f"hf:{folder}"].load().weights_hash == after.weights_hash


# -- Keras ---------------------------------------------------------------------------------------------------------


def test_keras_paper_models_keep_the_papers_layers(registry):
    from benchsuite_builtins._shared.keras_architectures import ARCHITECTURES

    for constructor, builtin in (("VGG16", "vgg16"), ("resnet50", "resnet50"), ("InceptionV3", "inception_v3")):
        assert registry.vision[f"keras:{constructor}"].layers == ARCHITECTURES[builtin].layers


@pytest.fixture(scope="module")
def small_keras(tmp_path_factory):
    from benchsuite_builtins.vision_sources.keras_source import build_application

    network = build_application("MobileNetV3Small", None)
    path = tmp_path_factory.mktemp("keras") / "small.weights.h5"
    network.save_weights(path)
    return network, path


def test_keras_any_application_loads_a_local_file_identically(registry, small_keras):
    network, path = small_keras
    meta = registry.vision["keras:MobileNetV3Small"]
    assert meta.layers[-2:] == ("logits", "flatten") and meta.input_size == 224 and meta.predicts_imagenet
    assert "keras.applications.mobilenet_v3.preprocess_input" in meta.preprocessing
    model = meta.load(weights=str(path))
    assert model.layers == meta.layers and model.weights_hash == file_sha256(path)
    photos = sample_photos(2)
    seen, top1 = run_layers(model, photos)
    expected = np.asarray(network.predict(model.preprocess(photos), verbose=0))
    np.testing.assert_array_equal(top1, expected.argmax(1))
    assert seen["flatten"].shape == (2, 1000)


def test_keras_reads_and_fetches_its_cache(caches, monkeypatch, small_keras):
    import h5py
    from keras.src.legacy.saving import legacy_h5_format
    from keras.src.utils import file_utils

    name = "keras:MobileNetV3Small"
    with pytest.raises(ResourceMissing, match=rf"no weights at {caches / 'keras' / 'models'}/\S+\.h5 .*"
                                              rf"`benchsuite fetch --vision {name}`"):
        fresh_registry().vision[name].load()
    downloads = []

    def fake_get_file(fname, origin, *args, cache_subdir="datasets", cache_dir=None, **kwargs):
        downloads.append(origin)
        target = caches / "keras" / cache_subdir / fname
        target.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(target, "w") as file:  # the keras-applications (legacy .h5) layout
            legacy_h5_format.save_weights_to_hdf5_group(file, small_keras[0])
        return str(target)

    monkeypatch.setattr(file_utils, "get_file", fake_get_file)
    where = fresh_registry().source("vision", "keras").fetch("MobileNetV3Small")
    assert where.startswith(str(caches / "keras" / "models")) and len(downloads) == 1
    assert downloads[0].startswith("https://storage.googleapis.com/tensorflow/keras-applications/")
    monkeypatch.setattr(file_utils, "get_file", lambda *a, **k: pytest.fail("loading must not download"))
    assert fresh_registry().vision[name].load().weights_hash == file_sha256(where)


def test_registering_the_sources_imports_no_library():
    from import_checks import loaded_after

    code = "from benchsuite.contract.manager import Registry; r = Registry(); assert 'timm' in r.vision.sources"
    assert loaded_after(code, ("torch", "keras", "timm", "torchvision", "transformers")) == []


MISSING_LIBRARIES = """
import sys
class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("keras", "timm", "transformers"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name.split(".")[0])
sys.meta_path.insert(0, Absent())
from benchsuite.contract.errors import ResourceMissing
from benchsuite.contract.manager import Registry
registry = Registry()
try:
    registry.vision["vgg16"].load()
except ResourceMissing as error:
    print("vgg16:", error)
for name in ("keras:VGG16", "timm:convnext_tiny", "hf:org/x"):
    print(name, name in registry.vision, registry.absence("vision", name))
"""


@pytest.mark.slow  # a fresh interpreter loading every plugin (~20 s)
def test_a_missing_extra_skips_with_the_install_command():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", MISSING_LIBRARIES], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines() == [
        "vgg16: keras is not installed: run `pip install 'benchsuite[keras]'`",
        "keras:VGG16 False keras is not installed: run `pip install 'benchsuite[keras]'`",
        "timm:convnext_tiny False timm is not installed: run `pip install 'benchsuite[timm]'`",
        "hf:org/x False transformers is not installed: run `pip install 'benchsuite[hf]'`",
    ]
