"""One pass over a model's photos serves every design: each photo runs once, every record is unchanged,
and a run says where its time went."""

from __future__ import annotations

import json

import numpy as np
import pytest
import toy_plugins
from toy_plugins import toy_suite

from benchsuite.contract.manager import Registry, make_plugin_manager
from benchsuite.extraction.cache import ArrayCache
from benchsuite.extraction.layers import CachedGroup, extract_group, extract_groups_cached, merged_order
from benchsuite.inputs.suites import Design
from benchsuite.run.options import RunOptions
from benchsuite.run.suite_run import run_suite
from benchsuite.run.vision import VisionRun

DESIGNS = [Design(name="one", groups=1), Design(name="two", groups=2), Design(name="mean", aggregate="concept_mean")]


@pytest.fixture(scope="module")
def registry():
    pm = make_plugin_manager()
    pm.register(toy_plugins, name="toy_plugin")
    return Registry(pm)


@pytest.fixture
def forwarded(monkeypatch):
    """How many images went through the toy model's forward pass."""
    counted = {"images": 0}
    real = toy_plugins.ToyModel.forward

    def counting(self, batch, layers, on_layer):
        counted["images"] += len(batch)
        return real(self, batch, layers, on_layer)

    monkeypatch.setattr(toy_plugins.ToyModel, "forward", counting)
    return counted


def run(registry, path, **options):
    opts = RunOptions(out=path / "out", cache=ArrayCache(path / "cache"), progress=False, **options)
    return run_suite(registry, toy_suite(designs=DESIGNS, metrics=["two_vs_two", "rsa", "cka"]), opts)


def numbers(results):
    return sorted((r.design, r.layer, r.text, r.metric, r.value, r.p_value, tuple(r.groups))
                  for r in results.records if r.status == "ok")


def test_each_photo_runs_once_and_the_records_equal_design_by_design(registry, tmp_path, forwarded, monkeypatch):
    joint = run(registry, tmp_path / "joint")
    photos = len(toy_plugins.ToySource().images())
    assert forwarded["images"] == photos  # 24 photos serve 12 + 2 × 12 + 24 group places
    forwarded["images"] = 0
    monkeypatch.setattr(VisionRun, "extract_jointly", lambda self, *args: {})
    alone = run(registry, tmp_path / "alone")
    # design "one" (12), then "two" (its first group is "one"'s, from the cache: 12 more), then "mean" (24)
    assert forwarded["images"] == 12 + 12 + photos
    assert numbers(joint) == numbers(alone)
    assert len(numbers(joint)) == 3 * 3 * 3 + 3  # designs × layers × metrics, and a summary per design


def test_a_run_writes_where_its_time_went(registry, tmp_path):
    run(registry, tmp_path)
    timings = json.loads((tmp_path / "out" / "timings-toy.json").read_text())
    for phase in ("photos and concepts", "text models", "vision models (loading)", "extraction",
                  "metric: two_vs_two", "metric: rsa", "metric: cka", "held-out summaries", "writing results"):
        assert timings[phase]["wall_s"] >= 0 and timings[phase]["cpu_s"] >= 0, phase
    assert timings["extraction"]["wall_s"] > 0


@pytest.mark.parametrize(("sequences", "expected"), [
    ([["a", "b", "c"], ["a", "c"], ["b", "d"]], ["a", "b", "c", "d"]),
    ([["x", "y"], ["y", "z"], ["w", "x"]], ["w", "x", "y", "z"]),
    ([["a", "b"], ["b", "a"]], None),
    ([], []),
])
def test_merged_order_keeps_every_sequence_in_order_or_says_there_is_none(sequences, expected):
    order = merged_order(sequences)
    assert order == expected
    for sequence in sequences if order is not None else []:
        assert [order.index(item) for item in sequence] == sorted(order.index(item) for item in sequence)


def test_groups_in_disagreeing_orders_get_a_pass_each_and_the_same_matrices(tmp_path):
    source, model = toy_plugins.ToySource(), toy_plugins.ToyModel()
    records = {r.id: r for r in source.images()}
    forward = list(records)[:6]
    backward = forward[::-1]
    groups = [CachedGroup(forward), CachedGroup(backward), CachedGroup(forward[:4], members=[0, 0, 1, 1])]
    found = extract_groups_cached(ArrayCache(tmp_path), _toy_meta(), model,
                                  groups, lambda image_id: source.read(records[image_id]), batch_size=4)
    for group, result in zip(groups, found, strict=True):
        alone = extract_group(toy_plugins.ToyModel(), [source.read(records[i]) for i in group.image_ids],
                              members=group.members, batch_size=4)
        for layer, matrix in alone.matrices.items():
            np.testing.assert_array_equal(result.matrices[layer], matrix)


def _toy_meta():
    pm = make_plugin_manager(load_entry_points=False)
    pm.register(toy_plugins, name="toy_plugin")
    return Registry(pm).vision["toy_net"]
