"""The Hugging Face hub cache as the built-in sources read it: a snapshot is found only inside the cache (a ref,
snapshot folder or file resolving elsewhere is refused by name), and a folder's configuration files are part of
what identifies its numbers."""

from __future__ import annotations

import json

import pytest
from benchsuite_builtins._shared.hub_cache import HubCacheError, ModelFolder, cached_snapshots, local_snapshot

from benchsuite.contract.manager import Registry

REPO = "org/tiny"


@pytest.fixture
def hub(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    root = tmp_path / "hub" / "models--org--tiny"
    (root / "refs").mkdir(parents=True)
    (root / "snapshots").mkdir()
    return root


def model_files(folder, hidden_act="gelu"):
    """A folder holding a config, a processor config and a (fake) weights file."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "vit", "hidden_act": hidden_act}))
    (folder / "preprocessor_config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"weights")
    return folder


def test_a_ref_naming_a_folder_outside_the_cache_is_refused(hub, tmp_path):
    model_files(tmp_path / "elsewhere")
    (hub / "refs" / "main").write_text("../../../elsewhere")
    with pytest.raises(HubCacheError, match=r"org/tiny: .*refs/main names '\.\./\.\./\.\./elsewhere', not a snapshot "
                                            r"of the hub cache; delete .*refs/main.* benchsuite fetch"):
        local_snapshot(REPO)


@pytest.mark.needs("torch")
def test_the_vision_source_reports_the_refusal_and_never_loads_the_outside_model(hub, tmp_path):
    model_files(tmp_path / "elsewhere")
    (hub / "refs" / "main").write_text("../../../elsewhere")
    registry = Registry()
    assert "hf:org/tiny" not in registry.vision
    assert "refs/main names '../../../elsewhere', not a snapshot" in registry.problem("vision", "hf:org/tiny")


@pytest.mark.parametrize("link", ["snapshot", "file"])
def test_a_snapshot_or_file_linking_outside_the_cache_is_refused(hub, tmp_path, link):
    outside = model_files(tmp_path / "elsewhere")
    (hub / "refs" / "main").write_text("abc123")
    if link == "snapshot":
        (hub / "snapshots" / "abc123").symlink_to(outside, target_is_directory=True)
    else:
        snapshot = model_files(hub / "snapshots" / "abc123")
        (snapshot / "model.safetensors").unlink()
        (snapshot / "model.safetensors").symlink_to(outside / "model.safetensors")
    with pytest.raises(HubCacheError, match=r"org/tiny: .* resolves to .*elsewhere.*, outside the hub cache"):
        local_snapshot(REPO)


def test_a_listing_skips_a_refused_snapshot_and_keeps_the_sound_ones(hub, tmp_path, monkeypatch):
    model_files(tmp_path / "elsewhere")
    (hub / "refs" / "main").write_text("../../../elsewhere")
    sound = hub.parent / "models--org--sound"
    model_files(sound / "snapshots" / "c0ffee")
    assert [folder.repo for folder in cached_snapshots()] == ["org/sound"]


def test_blobs_linked_inside_the_cache_are_read(hub):
    blobs = hub / "blobs"
    model_files(blobs)
    snapshot = hub / "snapshots" / "abc123"
    snapshot.mkdir()
    for name in ("config.json", "preprocessor_config.json", "model.safetensors"):
        (snapshot / name).symlink_to(f"../../blobs/{name}")
    (hub / "refs" / "main").write_text("abc123\n")
    found = local_snapshot(REPO)
    assert found == ModelFolder(snapshot, REPO, "abc123")


@pytest.mark.parametrize("saved", [True, False])
def test_a_folders_identity_covers_its_configuration_files(hub, tmp_path, saved):
    folder = model_files(tmp_path / "saved") if saved else model_files(hub / "snapshots" / "abc123")
    found = ModelFolder(folder, REPO, None if saved else "abc123")
    before = (found.fingerprint(), found.content_digest())
    assert (found.fingerprint(), found.content_digest()) == before
    model_files(folder, hidden_act="relu")
    after = (found.fingerprint(), found.content_digest())
    assert after[0] != before[0] and after[1] != before[1]
    (folder / "preprocessor_config.json").write_text('{"size": 32}')
    processed = found.content_digest()
    assert processed not in (before[1], after[1])
    (folder / "README.md").write_text("---\nlicense: mit\n---\n")  # cosmetic: the licence
    assert found.content_digest() == processed


def test_an_oversized_or_irregular_config_is_refused_by_name(tmp_path, monkeypatch):
    import benchsuite_builtins._shared.hub_cache as hub_cache

    folder = model_files(tmp_path / "saved")
    monkeypatch.setattr(hub_cache, "MAX_CONFIG_BYTES", 16)
    with pytest.raises(HubCacheError, match=r"config\.json is .* bytes, over the 16 a configuration file may hold"):
        ModelFolder(folder, REPO, None).read_json("config.json")
