"""Concept selection, image groups, readable-image filtering, the name-matching rule, concept sets."""

import random
import shutil

import numpy as np
import pytest
from image_fixtures import foolbox_photos
from text_fixtures import registry

from benchsuite.contract.errors import ResourceMissing
from benchsuite.contract.schemas import Concept, ConceptVector, ImageRecord
from benchsuite.inputs.concepts import (
    filter_readable,
    images_by_concept,
    make_groups,
    match_concept_names,
    select_concepts,
)
from benchsuite.inputs.images import read_image

CONCEPTS = [Concept(id=f"c{i}", names=(f"name{i}",)) for i in range(4)]


def records(counts: dict[str, int]) -> list[ImageRecord]:
    return [
        ImageRecord(id=f"{cid}/{k:02d}.jpg", concept_id=cid, path=f"/x/{cid}/{k:02d}.jpg")
        for cid, n in counts.items()
        for k in range(n)
    ]


def test_select_keeps_candidate_order_and_explains_every_drop():
    images = records({"c0": 3, "c1": 1, "c2": 5, "c3": 0, "other": 9})
    covered = {"glove": {"c0", "c1", "c2"}, "minilm": {"c0", "c1", "c3"}}
    selection = select_concepts(CONCEPTS, images, covered, min_images=2)
    assert [c.id for c in selection.chosen] == ["c0"]
    assert selection.dropped == {
        "c1": "1 readable image, 2 needed",
        "c2": "no vector in minilm",
        "c3": "no vector in glove; 0 readable images, 2 needed",
    }
    with pytest.raises(ValueError, match="min_images"):
        select_concepts(CONCEPTS, images, covered, min_images=0)


def test_groups_hold_each_concept_once_and_are_deterministic():
    images = records({"c0": 5, "c1": 7, "c2": 5, "c3": 6})
    groups = make_groups(CONCEPTS, images, n_groups=5, seed=3)
    assert len(groups) == 5
    used = []
    for index, group in enumerate(groups):
        assert group.index == index and group.concept_ids == ("c0", "c1", "c2", "c3")
        assert [image.concept_id for image in group.images] == list(group.concept_ids)
        used += [image.id for image in group.images]
    assert len(used) == len(set(used)) == 20
    shuffled = images[:]
    random.Random(1).shuffle(shuffled)
    assert make_groups(CONCEPTS, shuffled, n_groups=5, seed=3) == groups
    assert make_groups(CONCEPTS, images, n_groups=5, seed=4) != groups
    assert [g.images[0].id for g in groups] == [
        g.images[0].id for g in make_groups(CONCEPTS[:1], images, n_groups=5, seed=3)
    ]


def test_groups_need_enough_images():
    with pytest.raises(ValueError, match=r"too few for: c1 \(1\), c3 \(0\).*min_images=2"):
        make_groups(CONCEPTS, records({"c0": 2, "c1": 1, "c2": 2}), n_groups=2, seed=0)


def test_images_by_concept_lists_all_photos_sorted_for_the_mean_design():
    images = records({"c0": 3, "c2": 1})[::-1]
    grouped = images_by_concept(CONCEPTS, images)
    assert [r.id for r in grouped["c0"]] == ["c0/00.jpg", "c0/01.jpg", "c0/02.jpg"]
    assert grouped["c1"] == [] and len(grouped["c2"]) == 1


class FileSource:
    def read(self, record):
        return read_image(record.path)


def test_unreadable_images_are_skipped_with_a_warning(tmp_path):
    photo = next(iter(foolbox_photos()))
    shutil.copyfile(photo, tmp_path / "good.jpg")
    (tmp_path / "bad.jpg").write_bytes(photo.read_bytes()[:500])
    good = ImageRecord(id="good.jpg", concept_id="c0", path=str(tmp_path / "good.jpg"))
    bad = ImageRecord(id="bad.jpg", concept_id="c0", path=str(tmp_path / "bad.jpg"))
    with pytest.warns(UserWarning, match="bad.jpg"):
        readable, skipped = filter_readable(FileSource(), [good, bad])
    assert readable == [good]
    assert list(skipped) == ["bad.jpg"] and "bad.jpg" in skipped["bad.jpg"]
    selection = select_concepts(CONCEPTS[:1], readable, {}, min_images=2)
    assert selection.dropped == {"c0": "1 readable image, 2 needed"}


def test_matching_tries_synonyms_in_order_and_never_reuses_a_match():
    vocabulary = {"crane", "tank suit", "maillot", "tabby"}

    def lookup(name):
        if name in vocabulary:
            return ConceptVector(vector=np.ones(2, np.float32), matched=name, how="word")
        return None

    concepts = [
        Concept(id="bird", names=("crane",)),
        Concept(id="machine", names=("crane",)),
        Concept(id="swimsuit", names=("maillot",)),
        Concept(id="tank", names=("maillot", "tank suit")),
        Concept(id="cat", names=("tabby cat", "tabby")),
    ]
    found = match_concept_names(concepts, lookup)
    assert {cid: v.matched for cid, v in found.items()} == {
        "bird": "crane",
        "swimsuit": "maillot",
        "tank": "tank suit",
        "cat": "tabby",
    }


def test_folder_concept_set_maps_wnids_to_imagenet(tmp_path):
    for name in ["n02123045", "aardvark", "ice_cream", ".cache"]:
        (tmp_path / name).mkdir()
    (tmp_path / "readme.txt").write_text("x")
    concepts = registry().concepts["folder"].load(root=str(tmp_path)).concepts()
    assert [(c.id, c.names, c.imagenet_index) for c in concepts] == [
        ("aardvark", ("aardvark",), None),
        ("ice_cream", ("ice cream",), None),
        ("n02123045", ("tabby", "tabby cat"), 281),
    ]
    with pytest.raises(ResourceMissing, match="--set folder.root=DIR"):
        registry().concepts["folder"].load()


def test_imagenet1k_concept_set():
    concepts = registry().concepts["imagenet1k"].load().concepts()
    assert len(concepts) == 1000 and concepts[281].names == ("tabby", "tabby cat")
