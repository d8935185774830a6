"""Cache keys cover content, not names: photos by their bytes, loader options, seed, text vectors; nothing cosmetic."""

import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from benchsuite_images.folder_source import FolderSource
from PIL import Image
from test_extraction import ProjectionModel, projection_meta

from benchsuite.contract.schemas import Concept, ConceptSetMeta, ImageRecord, ImageSourceMeta, MetricMeta
from benchsuite.extraction.cache import ArrayCache, FileDigests, array_digest, key_digest
from benchsuite.extraction.layers import cache_key, content_digests, extract_group_cached
from benchsuite.inputs.concepts import ConceptSelection, ImageGroup
from benchsuite.inputs.suites import Design, Suite
from benchsuite.run import keys
from benchsuite.run.items import Items
from benchsuite.run.options import RunOptions
from benchsuite.run.prepare import DesignData
from benchsuite.run.text import TextModel, text_matrix

CONCEPTS = ("cat", "dog", "owl")


def write_photo(path: Path, seed: int, size: tuple[int, int] = (24, 18)) -> Path:
    """A random RGB PNG at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def photo_tree(root: Path, seed: int = 0) -> Path:
    for offset, concept in enumerate(CONCEPTS):
        write_photo(root / concept / "1.png", seed + offset)
    return root


def digests_of(root: Path, memo: FileDigests) -> list[str]:
    source = FolderSource(str(root))
    return content_digests(source, source.images(), memo)


class PixelSource:
    """A third-party source with no files and no ``digest``: images made in memory."""

    def __init__(self, seed: int):
        self.seed = seed

    def images(self) -> list[ImageRecord]:
        return [ImageRecord(id=f"{c}/0", concept_id=c, path=f"memory://{c}") for c in CONCEPTS]

    def read(self, record: ImageRecord) -> np.ndarray:
        rng = np.random.default_rng([self.seed, CONCEPTS.index(record.concept_id)])
        return rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)


class DigestingSource(PixelSource):
    def digest(self, record: ImageRecord) -> str:
        return f"{self.seed}-{record.id}"


# -- images ------------------------------------------------------------------------


def test_same_names_in_another_folder_or_replaced_photos_change_the_digests(tmp_path):
    memo = FileDigests(tmp_path / "memo")
    first = digests_of(photo_tree(tmp_path / "a", seed=0), memo)
    assert digests_of(photo_tree(tmp_path / "b", seed=10), memo) != first
    shutil.copytree(tmp_path / "a", tmp_path / "copy")
    assert digests_of(tmp_path / "copy", memo) == first
    write_photo(tmp_path / "a" / "dog" / "1.png", seed=99)
    replaced = digests_of(tmp_path / "a", memo)
    assert replaced[0] == first[0] and replaced[1] != first[1] and replaced[2] == first[2]


def test_a_resized_copy_is_another_image(tmp_path):
    memo = FileDigests(tmp_path / "memo")
    first = digests_of(photo_tree(tmp_path / "a"), memo)
    photo = tmp_path / "a" / "cat" / "1.png"
    with Image.open(photo) as picture:
        picture.resize((12, 9)).save(photo)
    assert digests_of(tmp_path / "a", memo)[0] != first[0]


def test_a_source_without_files_or_digest_is_keyed_on_its_pixels(tmp_path):
    memo = FileDigests(tmp_path / "memo")
    first = content_digests(PixelSource(1), PixelSource(1).images(), memo)
    assert all(d.startswith("pixels:") for d in first)
    assert content_digests(PixelSource(1), PixelSource(1).images(), memo) == first
    assert content_digests(PixelSource(2), PixelSource(2).images(), memo) != first


def test_a_source_digest_method_is_used_as_given(tmp_path):
    source = DigestingSource(3)
    assert content_digests(source, source.images(), FileDigests(tmp_path)) == [f"source:3-{c}/0" for c in CONCEPTS]


def test_a_folder_fingerprint_notices_a_photo_replaced_by_one_of_the_same_size(tmp_path):
    photo = tmp_path / "cat" / "1.npy"
    photo.parent.mkdir()
    np.save(photo, np.zeros((4, 4, 3), dtype=np.uint8))
    before = FolderSource(str(tmp_path)).fingerprint
    assert FolderSource(str(tmp_path)).fingerprint == before
    size = photo.stat().st_size
    time.sleep(0.05)  # file times tick coarsely
    np.save(photo, np.ones((4, 4, 3), dtype=np.uint8))
    assert photo.stat().st_size == size
    assert FolderSource(str(tmp_path)).fingerprint != before


# -- layer keys --------------------------------------------------------------------


CONTEXT = {"vision_options": {"seed": 0, "device": "cpu"}, "image_source": {"name": "folder"}, "seed": 0}


def test_layer_keys_change_with_everything_that_changes_the_numbers():
    meta, digests = projection_meta(), ["file:1", "file:2", "file:3"]
    base = cache_key(meta, "w", digests, "pixels", context=CONTEXT)
    variants = [
        cache_key(meta, "w", ["file:1", "file:2", "file:4"], "pixels", context=CONTEXT),
        cache_key(meta, "w", digests, "pixels", context={**CONTEXT, "vision_options": {"seed": 7, "device": "cpu"}}),
        cache_key(meta, "w", digests, "pixels", context={**CONTEXT, "vision_options": {"seed": 0, "device": "cuda"}}),
        cache_key(meta, "w", digests, "pixels", context={**CONTEXT, "seed": 1}),
        cache_key(meta, "w", digests, None, context=CONTEXT),
        cache_key(projection_meta(version="2"), "w", digests, "pixels", context=CONTEXT),
    ]
    assert all(key_digest(variant) != key_digest(base) for variant in variants)


def test_layer_keys_ignore_cosmetic_metadata_and_the_other_layers():
    digests = ["file:1", "file:2"]
    base = key_digest(cache_key(projection_meta(), "w", digests, "pixels", context=CONTEXT))
    for changes in ({"description": "a new blurb"}, {"license": "MIT"}, {"layers": ("pixels", "projection")}):
        assert key_digest(cache_key(projection_meta(**changes), "w", digests, "pixels", context=CONTEXT)) == base


def counting(load):
    calls = []
    return calls, lambda: calls.append(1) or load()


def test_a_photo_replaced_in_place_is_extracted_again_and_an_unchanged_one_is_not(tmp_path):
    root, memo = photo_tree(tmp_path / "photos"), FileDigests(tmp_path / "memo")
    cache, meta, model = ArrayCache(tmp_path / "cache"), projection_meta(), ProjectionModel()

    def run(folder: Path):
        source = FolderSource(str(folder))
        records = source.images()
        calls, load = counting(lambda: [source.read(r) for r in records])
        result = extract_group_cached(cache, meta, model, [r.id for r in records], load,
                                      image_digests=content_digests(source, records, memo), context=CONTEXT)
        return calls, result

    _, first = run(root)
    calls, again = run(root)
    assert calls == [] and again.matrices["projection"].tolist() == first.matrices["projection"].tolist()
    write_photo(root / "owl" / "1.png", seed=42)
    calls, replaced = run(root)
    assert calls == [1]
    assert not np.allclose(replaced.matrices["projection"], first.matrices["projection"])
    photo_tree(tmp_path / "same names", seed=7)
    calls, _ = run(tmp_path / "same names")
    assert calls == [1]


def test_without_digests_the_pixels_are_the_key(tmp_path):
    cache, meta, model = ArrayCache(tmp_path), projection_meta(), ProjectionModel()
    ids = ["cat/1", "dog/1", "owl/1"]
    first = PixelSource(1)
    extract_group_cached(cache, meta, model, ids, lambda: [first.read(r) for r in first.images()])
    forwards = len(model.forward_layers)
    other = PixelSource(2)
    extract_group_cached(cache, meta, model, ids, lambda: [other.read(r) for r in other.images()])
    assert len(model.forward_layers) == forwards + 1


# -- runner: records, text matrices, options ------------------------------------------


def fake_registry() -> SimpleNamespace:
    def unused(**options):
        raise AssertionError("nothing is loaded in these tests")

    return SimpleNamespace(
        images={"folder": ImageSourceMeta(name="folder", loader=unused)},
        concepts={"animals": ConceptSetMeta(name="animals", loader=unused)},
        metrics={"rsa": MetricMeta(name="rsa", loader=unused)},
        vision={"projection": projection_meta()},
    )


def suite_run(tmp_path: Path, *, overrides=None, seed=None) -> Items:
    suite = Suite(name="keys", vision=["projection"], text=["vectors"], images="folder", concepts="animals",
                  metrics=["rsa"], permutations=10, designs=[Design(name="one")],
                  options={"folder": {"root": str(tmp_path / "photos")}})
    options = RunOptions(out=tmp_path / "out", cache=ArrayCache(tmp_path / "cache"), progress=False,
                         overrides=overrides or {}, seed=seed)
    return Items(fake_registry(), suite, options)


def text_model(vectors: dict[str, np.ndarray], fingerprint: str = "vectors==1") -> TextModel:
    return TextModel(name="vectors", fingerprint=fingerprint, vectors=vectors, how={c: "word" for c in vectors},
                     embed=lambda concepts: {c.id: vectors[c.id] for c in concepts})


def vectors(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {c: rng.normal(size=5) for c in CONCEPTS}


def records_key(run: Items, model: TextModel, meta=None) -> str:
    source = FolderSource(str(run.options.cache.root.parent / "photos"))
    records = source.images()
    concepts = [Concept(id=c, names=(c,)) for c in CONCEPTS]
    group = ImageGroup(index=0, concept_ids=CONCEPTS, images=tuple(records))
    data = DesignData(run.suite.designs[0], ConceptSelection(chosen=concepts), [group],
                      {model.name: text_matrix(model, concepts, run.options.cache)})
    return keys.records_key(run, meta or projection_meta(), "w", source, data, [model])


@pytest.fixture
def photos(tmp_path):
    return photo_tree(tmp_path / "photos")


def test_records_key_covers_options_seed_photos_and_vectors_but_no_cosmetics(tmp_path, photos):
    model = text_model(vectors(0))
    base = records_key(suite_run(tmp_path), model)
    assert records_key(suite_run(tmp_path), model) == base
    assert records_key(suite_run(tmp_path), model, projection_meta(description="reworded")) == base
    assert records_key(suite_run(tmp_path), model, projection_meta(license="MIT")) == base
    assert records_key(suite_run(tmp_path, overrides={"projection": {"seed": 7}}), model) != base
    assert records_key(suite_run(tmp_path, seed=3), model) != base
    assert records_key(suite_run(tmp_path), text_model(vectors(1))) != base
    write_photo(photos / "dog" / "1.png", seed=99)
    assert records_key(suite_run(tmp_path), model) != base


def test_extraction_context_carries_loader_options_device_source_and_seed(tmp_path):
    base = keys.extraction_context(suite_run(tmp_path), projection_meta())
    assert base["vision_options"] == {"device": "cpu"} and base["seed"] == 0
    assert base["image_source"] == {"name": "folder", "version": "1", "options": {"root": str(tmp_path / "photos")}}
    seeded = keys.extraction_context(suite_run(tmp_path, overrides={"projection": {"seed": 7}}), projection_meta())
    assert seeded["vision_options"] == {"seed": 7, "device": "cpu"}


def test_text_matrices_of_different_vectors_never_mix_in_a_shared_cache(tmp_path):
    run = suite_run(tmp_path)
    concepts = [Concept(id=c, names=(c,)) for c in CONCEPTS]
    here, elsewhere = text_model(vectors(0)), text_model(vectors(1))
    first = text_matrix(here, concepts, run.options.cache)
    second = text_matrix(elsewhere, concepts, suite_run(tmp_path).options.cache)
    assert not np.allclose(first, second)
    assert array_digest(text_matrix(here, concepts, run.options.cache)) == array_digest(first)
    assert len(list((tmp_path / "cache" / "text").rglob("*.npz"))) == 2
