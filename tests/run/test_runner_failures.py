"""A misbehaving plugin fails its own records alone, named; every other result is kept and correct."""

from __future__ import annotations

import json

import numpy as np
import pytest
import toy_plugins
from toy_plugins import K, toy_suite

from benchsuite.contract.manager import Registry, make_plugin_manager
from benchsuite.extraction.cache import ArrayCache
from benchsuite.metrics import two_vs_two
from benchsuite.results.records import read_results
from benchsuite.run.options import RunOptions
from benchsuite.run.suite_run import run_suite


@pytest.fixture(scope="module")
def registry():
    pm = make_plugin_manager()
    pm.register(toy_plugins, name="toy_plugin")
    return Registry(pm)


def run(registry, tmp_path, suite=None, **options):
    opts = RunOptions(out=tmp_path / "out", cache=ArrayCache(tmp_path / "cache"), progress=False, **options)
    return run_suite(registry, suite or toy_suite(), opts)


def by(records, **fields):
    return [r for r in records if all(getattr(r, k) == v for k, v in fields.items())]


def test_a_raising_or_nan_metric_fails_only_its_own_records(registry, tmp_path):
    results = run(registry, tmp_path, toy_suite(metrics=["two_vs_two", "raising_metric", "nan_metric"]))
    good = by(results.records, metric="two_vs_two")
    assert len(good) == 2 * 3 and all(r.status == "ok" and 0 <= r.value <= 1 for r in good)
    raising = by(results.records, metric="raising_metric")
    assert len(raising) == 6 and all(r.status == "failed" and r.value is None for r in raising)
    assert "metric 'raising_metric' (plugin 'toy_plugin')" in raising[0].error
    assert "ZeroDivisionError: the toy metric divides by zero" in raising[0].error
    assert f"layer {raising[0].layer!r}" in raising[0].error
    nan = by(results.records, metric="nan_metric")
    assert len(nan) == 6 and all(r.status == "failed" and "non-finite" in r.error for r in nan)
    on_disk = read_results(tmp_path / "out" / "results.json")  # NaN never reaches (or breaks) results.json
    assert len(on_disk.records) == 18 + 2  # and each design's held-out 2 vs 2 summary


def test_non_finite_activations_fail_that_layer_alone_naming_the_image(registry, tmp_path):
    suite = toy_suite(options={"toy_net": {"nan_layer": "middle"}}, designs=toy_suite().designs[:1])
    results = run(registry, tmp_path, suite)
    failed = by(results.records, layer="middle")
    assert failed and all(r.status == "failed" for r in failed)
    assert "vision model 'toy_net' (plugin 'toy_plugin') broke layer 'middle'" in failed[0].error
    assert "non-finite activations (NaN) at image c03/" in failed[0].error
    clean = by(results.records, status="ok", summary=None)
    assert {r.layer for r in clean} == {"early", "late"}
    again = run(registry, tmp_path / "clean", toy_suite(designs=toy_suite().designs[:1]))
    assert [(r.layer, r.metric, r.value) for r in clean] == [
        (r.layer, r.metric, r.value) for r in by(again.records, status="ok", summary=None) if r.layer != "middle"]


def test_a_broken_layer_is_not_cached_and_its_records_are_retried(registry, tmp_path):
    suite = toy_suite(options={"toy_net": {"nan_layer": "middle"}}, designs=toy_suite().designs[:1])
    run(registry, tmp_path, suite)
    fixed = run(registry, tmp_path, toy_suite(designs=toy_suite().designs[:1]))
    assert all(r.status == "ok" for r in fixed.records) and by(fixed.records, layer="middle")


def test_constant_activations_drop_the_concept_and_say_so(registry, tmp_path):
    suite = toy_suite(options={"toy_net": {"constant_layer": "late"}}, designs=toy_suite().designs[:1])
    results = run(registry, tmp_path, suite)
    late = by(results.records, layer="late", metric="two_vs_two")[0]
    assert late.status == "ok" and late.n_concepts == K - 1
    assert list(late.excluded) == ["c03"] and "constant activations (image c03/" in late.excluded["c03"]
    early = by(results.records, layer="early", metric="two_vs_two")[0]
    assert early.n_concepts == K and early.excluded == {}


def test_one_vs_two_leaves_constant_images_out(registry, tmp_path):
    suite = toy_suite(vision=["toy_classifier"], designs=toy_suite().designs[1:],
                      options={"toy_classifier": {"constant_layer": "late", "bad_image": 0}})
    results = run(registry, tmp_path, suite)
    one = by(results.records, metric="one_vs_two")
    assert {r.layer for r in one} == {"early", "middle", "late"} and all(r.status == "ok" for r in one)
    assert by(results.records, metric="two_vs_two", layer="late")[0].status == "ok"


def test_out_of_range_predictions_fail_the_one_vs_two_records_alone(registry, tmp_path):
    suite = toy_suite(vision=["toy_classifier"], designs=toy_suite().designs[1:],
                      options={"toy_classifier": {"predictions": "out_of_range"}})
    results = run(registry, tmp_path, suite)
    one = by(results.records, metric="one_vs_two")
    assert one and all(r.status == "failed" and "outside 0..999" in r.error for r in one)
    assert all(r.status == "ok" for r in by(results.records, metric="two_vs_two"))


@pytest.mark.parametrize("mode, message", [
    ("nan", "the vector of concept 'c02' has NaN or inf entries"),
    ("ragged", "vectors of different lengths: 7 (c01), 16 (c00)"),
    ("flaky", "coverage changed between calls"),
    ("raw", "concept 'c00' maps to ndarray, not a ConceptVector"),
])
def test_bad_text_data_fails_that_text_model_alone(registry, tmp_path, mode, message):
    bad = f"toy_text_{mode}"
    results = run(registry, tmp_path, toy_suite(text=["toy_text_good", bad]))
    (problem,) = results.problems
    assert (problem.kind, problem.name, problem.status, problem.plugin) == ("text", bad, "failed", "toy_plugin")
    assert f"text model {bad!r}" in problem.error and message in problem.error
    assert {r.text for r in results.records} == {"toy_text_good"}
    assert all(r.status == "ok" and r.n_concepts == K for r in results.records)


def test_an_extra_partial_text_model_never_shrinks_the_suites_concepts(registry, tmp_path):
    results = run(registry, tmp_path, text=["toy_text_good", "toy_text_partial"])
    good = by(results.records, text="toy_text_good")
    partial = by(results.records, text="toy_text_partial")
    assert all(r.n_concepts == K and r.concept_scope == "suite" for r in good)
    assert all(r.n_concepts == K // 2 and r.concept_scope == "text_model" for r in partial)
    inventory = json.loads((tmp_path / "out" / "concepts-toy.json").read_text())
    assert len(inventory["designs"]["one"]["chosen"]) == K


def test_a_declared_partial_text_model_applies_the_suite_rule_to_all_and_says_so(registry, tmp_path, caplog):
    results = run(registry, tmp_path, toy_suite(text=["toy_text_good", "toy_text_partial"], metrics=["rsa"]))
    assert {r.n_concepts for r in results.records} == {K // 2}
    assert {r.concept_scope for r in results.records} == {"suite"}
    assert f"design 'one': text model 'toy_text_partial' alone lacks a vector for {K // 2} concept(s)" in caplog.text


def test_a_design_with_too_few_concepts_for_the_held_out_headline_is_refused_before_any_model_runs(registry,
                                                                                                    tmp_path):
    from benchsuite.contract.errors import BenchsuiteError

    suite = toy_suite(text=["toy_text_partial"], metrics=["rsa", "two_vs_two"])  # 6 concepts: halves of 3
    with pytest.raises(BenchsuiteError) as refused:
        run(registry, tmp_path, suite)
    assert str(refused.value) == (
        "design 'one' of suite 'toy' keeps only 6 concepts (at least 8 are needed: the held-out headline scores "
        "each half of them alone, 4 at least); provide more images or text models with wider coverage")
    assert not (tmp_path / "cache" / "vision").exists() and not (tmp_path / "out" / "records").exists()


def test_partial_scores_equal_the_metric_on_the_intersection(registry, tmp_path):
    from toy_plugins import CONCEPTS, ToyModel, ToySource, vectors_for

    from benchsuite.extraction.layers import extract_group
    from benchsuite.metrics.similarity import correlation_matrix

    results = run(registry, tmp_path, text=["toy_text_partial"], permutations=0)
    record = by(results.records, metric="two_vs_two", layer="late", design="one")[0]
    inventory = json.loads((tmp_path / "out" / "concepts-toy.json").read_text())["designs"]["one"]
    source = ToySource()
    by_id = {im.id: im for im in source.images()}
    photos = [source.read(by_id[image]) for image in inventory["group_images"][0]]
    layer = extract_group(ToyModel(), photos, ["late"]).matrices["late"]
    rows = np.arange(K // 2)
    text = correlation_matrix(np.stack([v.vector for v in vectors_for(CONCEPTS[: K // 2]).values()]))
    assert record.n_concepts == K // 2
    assert record.value == pytest.approx(two_vs_two(layer[np.ix_(rows, rows)], text).accuracy, abs=1e-12)


def test_without_permutations_every_test_still_scores(registry, tmp_path):
    suite = toy_suite(vision=["toy_classifier"], designs=toy_suite().designs[1:], permutations=0)
    results = run(registry, tmp_path, suite)
    assert results.records and all(r.status == "ok" for r in results.records)
    one = by(results.records, metric="one_vs_two")
    assert one and all(r.p_value is None and 0 <= r.value <= 1 for r in one)
