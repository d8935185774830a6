"""A run extracts the next vision model while it scores the current one: the same records and problems as one
model after the other, failures still the failing model's alone, and an interrupted run leaves its finished
records whole and no worker behind."""

from __future__ import annotations

import threading

import pytest
import toy_plugins
from toy_plugins import toy_registry, toy_suite

from benchsuite.contract.errors import BenchsuiteError
from benchsuite.contract.hookspecs import hookimpl
from benchsuite.contract.schemas import VisionModelMeta
from benchsuite.extraction.cache import ArrayCache
from benchsuite.inputs.suites import Design
from benchsuite.results.records import read_records, read_results
from benchsuite.run import vision
from benchsuite.run.executors import LocalExecutor
from benchsuite.run.options import RunOptions
from benchsuite.run.pipeline import Stopped, check_stopped, pipelined
from benchsuite.run.suite_run import run_suite

DESIGNS = [Design(name="one", groups=1), Design(name="two", groups=2), Design(name="mean", aggregate="concept_mean")]
MODELS = ["toy_net", "toy_broken", "toy_classifier", "toy_deep"]


class BrokenModel(toy_plugins.ToyModel):
    """Fails on its first forward pass, so each design's extraction fails on its own."""

    def forward(self, batch, layers, on_layer):
        raise RuntimeError("the broken toy model cannot run")


class PipelineToys:
    @hookimpl
    def register_vision_models(self, register):
        register(VisionModelMeta(name="toy_broken", framework="numpy", input_size=8, preprocessing="/255",
                                 weights_source="random", layers=toy_plugins.LAYERS,
                                 loader=lambda device="cpu", seed=0: BrokenModel()))
        register(VisionModelMeta(name="toy_deep", framework="numpy", input_size=8, preprocessing="/255",
                                 weights_source="random", layers=toy_plugins.LAYERS,
                                 loader=lambda device="cpu", seed=0: toy_plugins.ToyModel(bad_image=5)))


@pytest.fixture(scope="module")
def registry():
    return toy_registry(pipeline_toys=PipelineToys())


def run(registry, path, ahead, executor=None):
    options = RunOptions(out=path / "out", cache=ArrayCache(path / "cache"), progress=False, extract_ahead=ahead,
                         vision=MODELS)
    suite = toy_suite(vision=MODELS, designs=DESIGNS, metrics=["two_vs_two", "rsa", "cka"], permutations=30)
    return run_suite(registry, suite, options, executor)


def without_times(results):
    records = sorted((r.model_dump(exclude={"provenance": {"time"}}) for r in results.records), key=str)
    problems = [p.model_dump(exclude={"time"}) for p in results.problems]
    return records, problems


@pytest.mark.slow  # two toy suite runs of four models (~15 s)
def test_extracting_ahead_gives_the_records_and_problems_of_one_model_after_the_other(registry, tmp_path):
    sequential = run(registry, tmp_path / "sequential", 0)
    ahead = run(registry, tmp_path / "ahead", 1)
    records, problems = without_times(ahead)
    assert (records, problems) == without_times(sequential)
    assert {r["vision"] for r in records if r["status"] == "ok"} == {"toy_net", "toy_classifier", "toy_deep"}
    assert [(p["name"], p["design"]) for p in problems] == [("toy_broken", d.name) for d in DESIGNS]
    assert all("the broken toy model cannot run" in p["error"] for p in problems)
    on_disk = read_results(tmp_path / "ahead" / "out" / "results.json")
    assert without_times(on_disk) == without_times(sequential)


class Watching(LocalExecutor):
    """Holds each model's extraction (after the first) until the main thread is scoring an earlier model."""

    def __init__(self):
        self.scoring = threading.Event()
        self.extractions: list[tuple[str, str, bool]] = []

    def extract(self, job, meta, model, source):
        overlapped = meta.name == MODELS[0] or self.scoring.wait(timeout=20)
        self.extractions.append((meta.name, threading.current_thread().name, overlapped))
        return super().extract(job, meta, model, source)

    def score(self, tasks, *, desc="", progress=False):
        self.scoring.set()
        return super().score(tasks, desc=desc, progress=progress)


@pytest.mark.slow  # two toy suite runs of four models (~10 s)
def test_the_next_model_is_extracted_in_a_worker_while_the_current_one_is_scored(registry, tmp_path):
    watching = Watching()
    ahead = run(registry, tmp_path / "ahead", 1, watching)
    assert {name for name, thread, _ in watching.extractions} == set(MODELS)
    assert all(thread == "benchsuite-pipeline" and overlapped for _, thread, overlapped in watching.extractions)
    assert without_times(ahead) == without_times(run(registry, tmp_path / "sequential", 0))


@pytest.mark.slow  # a toy suite run (~5 s)
def test_an_interrupted_run_keeps_its_finished_records_and_stops_its_worker(registry, tmp_path, monkeypatch):
    real = vision.ExtractedModel.write_records

    def interrupted(self):
        if self.run.meta.name == MODELS[2]:
            raise KeyboardInterrupt
        real(self)

    monkeypatch.setattr(vision.ExtractedModel, "write_records", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(registry, tmp_path, 1)
    assert not [t for t in threading.enumerate() if t.name == "benchsuite-pipeline"]
    for design in DESIGNS:
        path = vision.records_path(tmp_path / "out", "toy", design.name, MODELS[0])
        written = sorted(p.name for p in path.parent.iterdir())
        assert written == [path.name, path.with_suffix(".key").name]  # whole files only, nothing of later models
        assert {r.vision for r in read_records(path)} == {MODELS[0]}


def test_pipelined_gives_each_result_in_order_at_any_depth_and_raises_where_a_stage_failed():
    def stage(i):
        def run():
            if i == 3:
                raise ValueError("stage 3")
            return i * i
        return run

    for depth in (0, 1, 2):
        taken = []
        with pytest.raises(ValueError, match="stage 3"):
            for value in pipelined([stage(i) for i in range(6)], depth):
                taken.append(value)
        assert taken == [0, 1, 4]
    with pytest.raises(ValueError, match="depth"):
        list(pipelined([], -1))


def test_closing_a_pipeline_stops_its_worker_between_batches():
    started, stopped = threading.Event(), threading.Event()

    def endless():
        started.set()
        try:
            while True:
                check_stopped()
                threading.Event().wait(0.01)
        except Stopped:
            stopped.set()
            raise

    results = pipelined([lambda: 1, endless, lambda: 3], 1)
    assert next(results) == 1
    assert started.wait(10)
    results.close()
    assert stopped.is_set()
    assert not [t for t in threading.enumerate() if t.name == "benchsuite-pipeline"]
    check_stopped()  # the caller's thread is no worker: nothing to stop


def test_the_depth_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("BENCHSUITE_EXTRACT_AHEAD", "0")
    assert RunOptions(out=tmp_path, cache=ArrayCache(tmp_path)).extract_ahead == 0
    monkeypatch.setenv("BENCHSUITE_EXTRACT_AHEAD", "two")
    with pytest.raises(BenchsuiteError, match="BENCHSUITE_EXTRACT_AHEAD='two' is not a whole number"):
        RunOptions(out=tmp_path, cache=ArrayCache(tmp_path))
    monkeypatch.delenv("BENCHSUITE_EXTRACT_AHEAD")
    assert RunOptions(out=tmp_path, cache=ArrayCache(tmp_path)).extract_ahead == 1
