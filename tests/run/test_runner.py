"""The runner end to end on real photos, models and vectors: records, failures, resume, leaderboard."""

import json

import numpy as np
import pytest

from benchsuite.contract.errors import ResourceMissing
from benchsuite.contract.hookspecs import hookimpl
from benchsuite.contract.manager import Registry, make_plugin_manager
from benchsuite.contract.schemas import VisionModelMeta
from benchsuite.extraction import layers as extraction
from benchsuite.extraction.cache import ArrayCache
from benchsuite.inputs.suites import Design, Suite
from benchsuite.results.leaderboard import publish
from benchsuite.results.records import read_results
from benchsuite.run import scoring
from benchsuite.run.options import RunOptions
from benchsuite.run.suite_run import run_suite

pytestmark = pytest.mark.slow  # a real suite with MobileNetV2 and three text models

PERMUTATIONS = 50


class CrashingModel:
    """Loads, then fails inside its forward pass."""

    layers = ("x",)
    weights_hash = "none"

    def preprocess(self, images):
        return images

    def forward(self, batch, layers, on_layer):
        raise FloatingPointError("activation overflow in layer x")


class TroublePlugin:
    """Vision models that cannot run: one raises loading, one while running, one lacks its weights."""

    @hookimpl
    def register_vision_models(self, register):
        def explode(**options):
            raise RuntimeError("kaboom while loading")

        def missing(**options):
            raise ResourceMissing("put trouble_weights.h5 into /nowhere/models (or --set missing_weights.weights=)")

        common = dict(framework="numpy", input_size=8, preprocessing="none", weights_source="test", layers=("x",))
        register(VisionModelMeta(name="exploding", loader=explode, **common))
        register(VisionModelMeta(name="missing_weights", loader=missing, **common))
        register(VisionModelMeta(name="crashing", loader=lambda **options: CrashingModel(), **common))


@pytest.fixture(scope="module")
def registry():
    pm = make_plugin_manager()
    pm.register(TroublePlugin(), name="trouble")
    return Registry(pm)


def small_suite(**changes) -> Suite:
    fields = dict(
        name="smoke",
        vision=["pixels", "mobilenet_v2", "exploding", "crashing", "missing_weights", "not_installed"],
        text=["glove_6b_50d"],
        images="pypi_photos",
        concepts="imagenet1k",
        metrics=["two_vs_two", "rsa"],
        permutations=PERMUTATIONS,
        seed=0,
        designs=[Design(name="one photo", groups=1)],
    )
    fields.update(changes)
    return Suite(**fields)


@pytest.fixture(scope="module")
def first_run(registry, tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    options = RunOptions(out=root / "results", cache=ArrayCache(root / "cache"), progress=False)
    results = run_suite(registry, small_suite(), options)
    return root, options, results


def by(records, **fields):
    return [r for r in records if all(getattr(r, k) == v for k, v in fields.items())]


def test_records_cover_every_layer_text_and_metric(first_run):
    _, options, results = first_run
    records = results.records
    ok = by(records, status="ok")
    mobilenet = by(ok, vision="mobilenet_v2", metric="two_vs_two")
    meta = Registry().vision["mobilenet_v2"]
    assert [r.layer for r in sorted(mobilenet, key=lambda r: r.depth)] == list(meta.layers)
    assert {r.metric for r in by(ok, vision="pixels")} == {"two_vs_two", "rsa", "two_vs_two_heldout"}
    assert all(r.n_concepts > 100 and len(r.groups) == 1 and r.text == "glove_6b_50d" for r in ok if not r.summary)
    assert all(0 < r.p_value <= 1 for r in ok)
    assert all(r.provenance.versions["numpy"] == np.__version__ for r in ok)
    on_disk = read_results(options.out / "results.json")
    assert len(by(on_disk.records, status="ok")) == len(ok)


def test_semantics_emerge_with_depth(first_run):
    _, _, results = first_run
    two = by(results.records, status="ok", metric="two_vs_two")
    best = max(r.value for r in by(two, vision="mobilenet_v2"))
    first = min(by(two, vision="mobilenet_v2"), key=lambda r: r.depth)
    pixels = by(two, vision="pixels")[0]
    assert best > 0.65
    assert best > pixels.value + 0.05
    assert best > first.value
    top = max(by(two, vision="mobilenet_v2"), key=lambda r: r.value)
    assert top.p_value == pytest.approx(1 / (PERMUTATIONS + 1))


def test_held_out_summary_per_model_and_text(first_run):
    _, _, results = first_run
    two = by(results.records, status="ok", metric="two_vs_two", vision="mobilenet_v2")
    (summary,) = by(results.records, metric="two_vs_two_heldout", vision="mobilenet_v2")
    (pixels,) = by(results.records, metric="two_vs_two_heldout", vision="pixels")
    top = max(two, key=lambda r: r.value)
    assert summary.layer == top.layer and summary.summary.best_value == pytest.approx(top.value, abs=1e-12)
    low, high = summary.interval
    assert 0.6 < low <= summary.value <= high < 1 and summary.value <= top.value + 0.01
    assert len(summary.summary.draws) == summary.summary.n_bootstrap == 1000
    assert top.p_value <= summary.p_value < 0.05
    assert summary.summary.resampling == pixels.summary.resampling
    # one layer: nothing to choose, but scored on half the concepts, a little below the full-sample value
    assert 0.5 < pixels.value < by(results.records, metric="two_vs_two", vision="pixels")[0].value


def test_one_vs_two_for_imagenet_classifiers(first_run):
    _, _, results = first_run
    one = by(results.records, metric="one_vs_two")
    assert one and {r.vision for r in one} == {"mobilenet_v2"}
    assert all(0 <= r.value <= 1 and r.n_images >= 1 and r.chance == 0.5 for r in one)


def test_failures_are_reported_and_the_run_goes_on(first_run):
    _, _, results = first_run
    problems = results.problems
    (exploding,) = by(problems, name="exploding")
    assert exploding.status == "failed" and "RuntimeError: kaboom while loading" in exploding.error
    assert (exploding.kind, exploding.plugin) == ("vision", "trouble")
    (missing,) = by(problems, name="missing_weights")
    assert missing.status == "skipped" and "trouble_weights.h5" in missing.error
    (crashing,) = by(problems, name="crashing")
    assert crashing.status == "failed" and crashing.design == "one photo"
    assert "FloatingPointError: activation overflow in layer x" in crashing.error
    (absent,) = by(problems, name="not_installed")
    assert absent.status == "skipped" and "no installed plugin" in absent.error


def test_concept_inventory_lists_chosen_and_dropped(first_run):
    root, options, results = first_run
    records = results.records
    inventory = json.loads((options.out / "concepts-smoke.json").read_text())
    design = inventory["designs"]["one photo"]
    assert len(design["chosen"]) == by(records, status="ok")[0].n_concepts
    assert len(design["chosen"]) + len(design["dropped"]) == 1000
    assert design["dropped"]["n01440764"]  # tench: no photo in the packaged set
    assert any("no vector in glove_6b_50d" in reason for reason in design["dropped"].values())


def test_second_run_reuses_everything(first_run, registry, monkeypatch):
    _, options, results = first_run
    records = results.records

    def no_forward(*args, **kwargs):
        raise AssertionError("a forward pass ran on a complete, cached suite")

    monkeypatch.setattr(extraction, "extract_group", no_forward)
    monkeypatch.setattr(scoring.ScoreTask, "run", no_forward)
    again = run_suite(registry, small_suite(), options).records
    assert [(r.vision, r.layer, r.metric, r.value) for r in by(again, status="ok")] == [
        (r.vision, r.layer, r.metric, r.value) for r in by(records, status="ok")
    ]


def test_interrupted_run_resumes_from_cache(registry, tmp_path, monkeypatch):
    options = RunOptions(out=tmp_path / "results", cache=ArrayCache(tmp_path / "cache"), progress=False)
    suite = small_suite(vision=["pixels"], permutations=10)
    real_run = scoring.ScoreTask.run
    calls = {"n": 0}

    def killed_midway(task):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_run(task)

    monkeypatch.setattr(scoring.ScoreTask, "run", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        run_suite(registry, suite, options)
    assert not list((options.out / "records").rglob("*.json"))
    monkeypatch.setattr(scoring.ScoreTask, "run", real_run)

    def no_forward(*args, **kwargs):
        raise AssertionError("the layer matrices should come from the cache")

    monkeypatch.setattr(extraction, "extract_group", no_forward)
    resumed = run_suite(registry, suite, options).records
    assert len(by(resumed, status="ok")) == 3  # two metrics and the held-out summary


def test_leaderboard_from_results_alone(first_run, tmp_path):
    _, options, _ = first_run
    page = publish(options.out / "results.json", tmp_path / "board")
    text = " ".join(page.read_text().split())  # without tabulate's alignment padding
    assert "| rank | vision model |" in text
    assert text.index("mobilenet_v2") < text.index("| 2 | pixels")
    assert "failed: RuntimeError: kaboom while loading" in text
    assert (tmp_path / "board" / "plots" / "smoke" / "one-photo" / "mobilenet_v2.png").stat().st_size > 5000
    assert (tmp_path / "board" / "plots" / "smoke" / "one-photo" / "mobilenet_v2-1v2.png").exists()


def test_concept_mean_design_pools_every_photo(registry, tmp_path):
    options = RunOptions(out=tmp_path / "results", cache=ArrayCache(tmp_path / "cache"), progress=False)
    suite = small_suite(vision=["pixels"], permutations=10,
                        designs=[Design(name="means", aggregate="concept_mean", min_images=2)])
    records = by(run_suite(registry, suite, options).records, status="ok")
    inventory = json.loads((options.out / "concepts-smoke.json").read_text())["designs"]["means"]
    (pooled,) = inventory["group_images"]
    assert len(inventory["chosen"]) == records[0].n_concepts
    assert records[0].n_images == len(pooled) > 2 * records[0].n_concepts
    assert all(len(r.groups) == 1 for r in records if not r.summary)


def test_concept_mean_design_needs_one_group():
    with pytest.raises(ValueError, match="leave groups at 1"):
        Design(name="bad", aggregate="concept_mean", groups=2)
