"""Layer cache keys cover content, not names: photos by their bytes, loader options, seed; nothing cosmetic."""

import shutil
import time
from pathlib import Path

import numpy as np
from benchsuite_builtins.images.folder_source import FolderSource
from extraction_fixtures import CONCEPTS, ProjectionModel, photo_tree, projection_meta, write_photo
from PIL import Image

from benchsuite.contract.schemas import ImageRecord
from benchsuite.extraction.cache import ArrayCache, FileDigests, key_digest
from benchsuite.extraction.layers import cache_key, content_digests, extract_group_cached


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


def test_layer_keys_ignore_what_a_model_is_on_the_leaderboard():
    """Its role and twin change no number, so cached matrices survive a relabelled control."""
    digests = ["file:1", "file:2"]
    base = key_digest(cache_key(projection_meta(), "w", digests, "pixels", context=CONTEXT))
    relabelled = projection_meta(role="untrained", twin="projection_trained")
    assert key_digest(cache_key(relabelled, "w", digests, "pixels", context=CONTEXT)) == base


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
