"""What finished records are keyed on (``run/keys.py``) and the text matrices' cache (``run/text.py``): options,
seed, photos and vectors change them; nothing cosmetic does."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from benchsuite_builtins.images.folder_source import FolderSource
from extraction_fixtures import CONCEPTS, photo_tree, projection_meta, write_photo

from benchsuite.contract.schemas import Concept, ConceptSetMeta, ImageSourceMeta, MetricMeta
from benchsuite.extraction.cache import ArrayCache, array_digest
from benchsuite.inputs.concepts import ConceptSelection, ImageGroup
from benchsuite.inputs.suites import Design, Suite
from benchsuite.run import keys
from benchsuite.run.items import Items
from benchsuite.run.options import RunOptions
from benchsuite.run.prepare import DesignData
from benchsuite.run.text import TextModel, text_matrix


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


def test_records_key_changes_with_the_roles_the_records_carry(tmp_path, photos):
    model = text_model(vectors(0))
    base = records_key(suite_run(tmp_path), model)
    assert records_key(suite_run(tmp_path), model, projection_meta(role="baseline")) != base
    assert records_key(suite_run(tmp_path), model, projection_meta(role="untrained", twin="other")) != base


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
