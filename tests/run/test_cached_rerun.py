"""A rerun whose records are all finished loads no vision model and extracts nothing; anything unfinished
(another setting, a missing design, a failed record) loads it once and checks every design as before."""

from __future__ import annotations

import pytest
import toy_plugins
from toy_plugins import ToyModel, toy_suite

from benchsuite.contract.errors import ResourceMissing
from benchsuite.contract.hookspecs import hookimpl
from benchsuite.contract.manager import Registry, make_plugin_manager
from benchsuite.contract.schemas import VisionModelMeta
from benchsuite.extraction.cache import ArrayCache
from benchsuite.inputs.suites import Design
from benchsuite.run.options import RunOptions
from benchsuite.run.suite_run import run_suite


class CountedModels:
    """``counted_net``: the toy network, its loader counting calls; ``weights`` names its weights hash."""

    def __init__(self) -> None:
        self.loads = 0
        self.weights = "toy-weights"
        self.missing = False

    @hookimpl
    def register_vision_models(self, register):
        def load(device="cpu", seed=0, nan_layer=None):
            self.loads += 1
            if self.missing:
                raise ResourceMissing("put counted.bin into /nowhere")
            model = ToyModel(nan_layer=nan_layer)
            model.weights_hash = self.weights
            return model

        register(VisionModelMeta(name="counted_net", framework="numpy", input_size=8, preprocessing="/255",
                                 weights_source="random", layers=toy_plugins.LAYERS, loader=load))


@pytest.fixture
def counted():
    return CountedModels()


@pytest.fixture
def registry(counted):
    pm = make_plugin_manager()
    pm.register(toy_plugins, name="toy_plugin")
    pm.register(counted, name="counted")
    return Registry(pm)


@pytest.fixture
def forwards(monkeypatch):
    """Images that went through a forward pass."""
    calls = {"n": 0}
    real = ToyModel.forward

    def counting(self, batch, layers, on_layer):
        calls["n"] += len(batch)
        return real(self, batch, layers, on_layer)

    monkeypatch.setattr(ToyModel, "forward", counting)
    return calls


DESIGNS = [Design(name="one", groups=1), Design(name="two", groups=2)]


def run(registry, tmp_path, designs=DESIGNS, **changes):
    options = RunOptions(out=tmp_path / "out", cache=ArrayCache(tmp_path / "cache"), progress=False)
    suite = toy_suite(vision=["counted_net"], designs=designs, **changes)
    return run_suite(registry, suite, options)


def numbers(results):
    return sorted((r.design, r.layer, r.metric, r.value, r.p_value, r.provenance.time) for r in results.records)


def test_finished_records_load_no_model_and_extract_nothing(registry, counted, forwards, tmp_path):
    first = run(registry, tmp_path)
    assert counted.loads == 1 and forwards["n"] > 0 and all(r.status == "ok" for r in first.records)
    forwards["n"] = 0
    again = run(registry, tmp_path)
    assert counted.loads == 1 and forwards["n"] == 0
    assert numbers(again) == numbers(first) and not again.problems


def test_another_setting_loads_the_model_once(registry, counted, forwards, tmp_path):
    run(registry, tmp_path)
    changed = run(registry, tmp_path, permutations=30)
    assert counted.loads == 2
    assert {r.provenance.permutations for r in changed.records if r.metric == "rsa"} == {30}


def test_one_unfinished_design_loads_the_model_and_keeps_the_finished_one(registry, counted, forwards, tmp_path):
    first = run(registry, tmp_path, designs=DESIGNS[:1])
    forwards["n"] = 0
    both = run(registry, tmp_path)
    assert counted.loads == 2 and 0 < forwards["n"] <= len(toy_plugins.ToySource().images())
    kept = [n for n in numbers(both) if n[0] == "one"]
    assert kept == numbers(first)


def test_weights_that_changed_are_seen_once_the_model_loads(registry, counted, tmp_path):
    run(registry, tmp_path, designs=DESIGNS[:1])
    counted.weights = "other-weights"
    both = run(registry, tmp_path)  # design "two" is pending, so the model loads and every key is checked
    assert counted.loads == 2
    assert {r.provenance.weights_hash for r in both.records} == {"other-weights"}


def test_failed_records_are_retried(registry, counted, tmp_path):
    failing = run(registry, tmp_path, metrics=["two_vs_two", "nan_metric"])
    assert any(r.status == "failed" for r in failing.records)
    run(registry, tmp_path, metrics=["two_vs_two", "nan_metric"])
    assert counted.loads == 2


def test_finished_records_need_no_weights(registry, counted, tmp_path):
    first = run(registry, tmp_path)
    counted.missing = True
    again = run(registry, tmp_path)
    assert numbers(again) == numbers(first) and not again.problems
    changed = run(registry, tmp_path, seed=1)
    assert [(p.name, p.status) for p in changed.problems] == [("counted_net", "skipped")]
