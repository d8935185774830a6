"""What a run publishes into its --out: records of models that share a file name are refused across runs, and
records scored on other inputs are never ranked beside this run's."""

from __future__ import annotations

import pytest
import toy_plugins
from toy_plugins import LAYERS, ToyModel, toy_suite

from benchsuite.contract.errors import BenchsuiteError
from benchsuite.contract.hookspecs import hookimpl
from benchsuite.contract.manager import Registry, make_plugin_manager
from benchsuite.contract.schemas import VisionModelMeta
from benchsuite.extraction.cache import ArrayCache
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
