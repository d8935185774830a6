"""What a run publishes into its --out: records of models that share a file name are refused across runs, and
records scored on other inputs are never ranked beside this run's."""

from __future__ import annotations

import re

import numpy as np
import pytest
import toy_plugins
from toy_plugins import LAYERS, ToyModel, ToySource, toy_suite

from benchsuite.contract.errors import BenchsuiteError
from benchsuite.contract.hookspecs import hookimpl
from benchsuite.contract.manager import Registry, make_plugin_manager
from benchsuite.contract.schemas import ImageSourceMeta, VisionModelMeta
from benchsuite.extraction.cache import ArrayCache
from benchsuite.results.leaderboard import render
from benchsuite.results.records import read_results
from benchsuite.run.options import RunOptions
from benchsuite.run.suite_run import run_suite


class LookAlikes:
    """Two vision models whose names differ but whose records file names (slugs) are the same."""

    @hookimpl
    def register_vision_models(self, register):
        for name in ("vit_a", "vit-a"):
            register(VisionModelMeta(name=name, framework="numpy", input_size=8, preprocessing="/255",
                                     weights_source="random", layers=LAYERS, loader=lambda **o: ToyModel()))

    @hookimpl
    def register_image_sources(self, register):
        register(ImageSourceMeta(name="tinted_photos", loader=lambda tint=0, **o: TintedSource(tint)))


class TintedSource(ToySource):
    """The toy photos, brightened by ``tint``: other photos of the same concepts."""

    def __init__(self, tint: int):
        self.tint = tint

    def read(self, record):
        return np.clip(super().read(record).astype(int) + self.tint, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def registry():
    pm = make_plugin_manager()
    pm.register(toy_plugins, name="toy_plugin")
    pm.register(LookAlikes(), name="lookalikes")
    return Registry(pm)


def run(registry, tmp_path, suite=None, **options):
    opts = RunOptions(out=tmp_path / "out", cache=ArrayCache(tmp_path / "cache"), progress=False, **options)
    return run_suite(registry, suite or toy_suite(), opts)


def files(folder):
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_a_second_run_refuses_a_model_whose_records_file_holds_another_model(registry, tmp_path):
    run(registry, tmp_path, vision=["vit_a"])
    records = tmp_path / "out" / "records" / "toy" / "one" / "vit-a.json"
    before, cached = records.read_bytes(), files(tmp_path / "cache")
    with pytest.raises(BenchsuiteError, match=r"vision model 'vit-a' would write its records to .*"
                                              r"vit-a.json, which holds those of 'vit_a'.*another --out"):
        run(registry, tmp_path, vision=["toy_net", "vit-a"])
    assert records.read_bytes() == before and files(tmp_path / "cache") == cached  # refused before any work
    assert not (tmp_path / "out" / "records" / "toy" / "one" / "toy-net.json").exists()
    assert {r.vision for r in read_results(tmp_path / "out" / "results.json").records} == {"vit_a"}


def test_the_same_model_again_reuses_its_records(registry, tmp_path):
    run(registry, tmp_path, vision=["vit_a"])
    again = run(registry, tmp_path, vision=["vit_a"])
    assert {r.vision for r in again.records} == {"vit_a"}


def sections(page: str) -> list[str]:
    return page.split("\n## ")[1:]


def test_models_scored_on_other_photos_are_never_ranked_together(registry, tmp_path):
    suite = toy_suite(images="tinted_photos", vision=["toy_net", "vit_a"])
    run(registry, tmp_path, suite)
    run(registry, tmp_path, suite, vision=["toy_net"], overrides={"tinted_photos": {"tint": 40}})
    results = read_results(tmp_path / "out" / "results.json")
    for design in ("one", "two"):
        inputs = {r.vision: {x.provenance.inputs for x in results.records if x.vision == r.vision
                             and x.design == design} for r in results.records}
        assert all(len(found) == 1 and None not in found for found in inputs.values())
        assert inputs["toy_net"] != inputs["vit_a"]
    assert any("inputs" in setting for setting in results.mixed_settings["toy"])
    page = render(results, None)
    assert "other inputs" in page.split("\n## ")[0]
    found = sections(page)
    assert len(found) == 4  # per design, one section per set of photos
    for section in found:
        assert ("### toy_net" in section) != ("### vit_a" in section)
        assert "photos and concepts " in section.splitlines()[0]


def test_the_same_photos_again_keep_one_section(registry, tmp_path):
    suite = toy_suite(images="tinted_photos", vision=["toy_net", "vit_a"])
    run(registry, tmp_path, suite, vision=["toy_net"])
    run(registry, tmp_path, suite, vision=["vit_a"])
    results = read_results(tmp_path / "out" / "results.json")
    assert results.mixed_settings == {}
    assert [s.splitlines()[0] for s in sections(render(results, None))] == [
        "Suite `toy`, design: one", "Suite `toy`, design: two"]


def test_a_model_that_vanished_shows_as_skipped_not_ranked(registry, tmp_path):
    suite = toy_suite(vision=["toy_net", "vit_a"])
    run(registry, tmp_path, suite)
    pm = make_plugin_manager()
    pm.register(toy_plugins, name="toy_plugin")
    run(Registry(pm), tmp_path, suite)  # vit_a is no longer installed
    results = read_results(tmp_path / "out" / "results.json")
    assert [(p.name, p.status) for p in results.problems] == [("vit_a", "skipped")]
    page = render(results, None)
    assert "### vit_a" not in page and "| vit_a (vision) |" in page and "### toy_net" in page
    first_table = page.split("### toy_net")[0]
    assert re.match(r"\| — +\| vit_a \(vision\) \|", [line for line in first_table.splitlines() if "vit_a" in line][0])
    assert len([line for line in first_table.splitlines() if "vit_a" in line]) == 1
