"""Executors receive plain descriptions of the work, never the run: every extraction is an ``ExtractionJob`` of
names, options, image records and a cache root that pickles, and a recording executor around ``LocalExecutor``
gives the plain executor's records."""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path
from typing import Any

import pytest
import toy_plugins
from toy_plugins import toy_suite

from benchsuite.contract.manager import Registry, make_plugin_manager
from benchsuite.contract.schemas import ImageRecord, VisionModelMeta
from benchsuite.extraction.cache import ArrayCache
from benchsuite.inputs.concepts import ImageGroup
from benchsuite.inputs.suites import Design
from benchsuite.run.executors import LocalExecutor
from benchsuite.run.extract import ExtractionJob, GroupJob, extraction_job
from benchsuite.run.items import Items
from benchsuite.run.options import RunOptions
from benchsuite.run.scoring import ScoreTask
from benchsuite.run.suite_run import SuiteRun, run_suite

DESIGNS = [Design(name="one", groups=1), Design(name="two", groups=2), Design(name="mean", aggregate="concept_mean")]
RUN_OBJECTS = (SuiteRun, Items)


@pytest.fixture(scope="module")
def registry():
    pm = make_plugin_manager()
    pm.register(toy_plugins, name="toy_plugin")
    return Registry(pm)


class RecordingExecutor:
    """``LocalExecutor``, keeping every call's arguments."""

    def __init__(self) -> None:
        self.local = LocalExecutor()
        self.extracted: list[tuple[Any, ...]] = []
        self.scored: list[list[Any]] = []

    def extract(self, job, meta, model, source):
        self.extracted.append((job, meta, model, source))
        return self.local.extract(job, meta, model, source)

    def score(self, tasks, *, desc="", progress=False):
        self.scored.append(list(tasks))
        return self.local.score(tasks, desc=desc, progress=progress)


def suite():
    return toy_suite(vision=["toy_net", "toy_classifier"], designs=DESIGNS, metrics=["two_vs_two", "rsa"])


def options(path: Path) -> RunOptions:
    return RunOptions(out=path / "out", cache=ArrayCache(path / "cache"), progress=False)


def plain_data(value: Any, where: str = "job") -> list[str]:
    """Where ``value`` holds anything but names, numbers, paths, image records and containers of them."""
    if value is None or isinstance(value, str | bool | int | float | Path):
        return []
    if isinstance(value, ImageRecord):
        return plain_data(value.model_dump(), where)
    if isinstance(value, dict):
        return [problem for key, item in value.items()
                for problem in [*([] if isinstance(key, str) else [f"{where} key {key!r}"]),
                                *plain_data(item, f"{where}[{key!r}]")]]
    if isinstance(value, list | tuple):
        return [problem for i, item in enumerate(value) for problem in plain_data(item, f"{where}[{i}]")]
    if dataclasses.is_dataclass(value) and isinstance(value, ExtractionJob | GroupJob):
        return [problem for field in dataclasses.fields(value)
                for problem in plain_data(getattr(value, field.name), f"{where}.{field.name}")]
    return [f"{where} is a {type(value).__name__}"]


def comparable(record) -> dict[str, Any]:
    """A record as JSON data (NaN as null), without the time it was made."""
    data = json.loads(record.model_dump_json())
    data["provenance"].pop("time")
    return data


def by_key(results) -> dict[tuple, dict[str, Any]]:
    records = {(r.vision, r.design, r.text, r.metric, r.layer, r.status): comparable(r) for r in results.records}
    assert len(records) == len(results.records), "records share a key"
    return records


def test_executors_get_plain_jobs_and_tasks_and_the_records_of_the_local_executor(registry, tmp_path):
    recording = RecordingExecutor()
    recorded = run_suite(registry, suite(), options(tmp_path / "recorded"), recording)
    local = run_suite(registry, suite(), options(tmp_path / "local"), LocalExecutor())

    assert [call[0].vision for call in recording.extracted] == ["toy_net", "toy_classifier"]
    for job, meta, model, source in recording.extracted:
        assert type(job) is ExtractionJob
        assert plain_data(job) == []
        assert pickle.loads(pickle.dumps(job)) == job
        assert job.cache_root == tmp_path / "recorded" / "cache"
        assert job.images == "toy_photos" and job.vision_options["device"] == "cpu"
        assert {len(group.images) for group in job.groups} == {toy_plugins.K, 2 * toy_plugins.K}
        assert any(group.members is not None for group in job.groups)  # the concept-mean design's group
        assert isinstance(meta, VisionModelMeta) and meta.name == job.vision
        assert not any(isinstance(argument, RUN_OBJECTS) for argument in (job, meta, model, source))
    assert recording.scored
    for tasks in recording.scored:
        for task in tasks:
            assert type(task) is ScoreTask
            assert not any(isinstance(getattr(task, field.name), RUN_OBJECTS) for field in dataclasses.fields(task))

    assert not local.problems and not recorded.problems
    want, got = by_key(local), by_key(recorded)
    assert len(want) > 2 * 3 * 3 * 2
    assert list(got) == list(want)
    for key, record in want.items():
        assert got[key] == record, key


def test_an_extraction_job_round_trips_through_pickle_with_equal_fields(registry, tmp_path):
    items = Items(registry, toy_suite(), options(tmp_path))
    source = toy_plugins.ToySource()
    records = source.images()
    ids = tuple(c.id for c in toy_plugins.CONCEPTS)
    groups = [ImageGroup(index=0, concept_ids=ids, images=tuple(records[0::2])),
              ImageGroup(index=1, concept_ids=tuple(sorted(ids * 2)), images=tuple(records))]
    job = extraction_job(items, registry.vision["toy_net"], source, groups)

    restored = pickle.loads(pickle.dumps(job))
    assert type(restored) is ExtractionJob
    for field in dataclasses.fields(ExtractionJob):
        assert getattr(restored, field.name) == getattr(job, field.name), field.name
    assert restored == job
    assert plain_data(job) == []
    assert [group.members for group in restored.groups] == [None, [i // 2 for i in range(2 * toy_plugins.K)]]
    assert [[im.id for im in group.images] for group in restored.groups] == [[r.id for r in g.images] for g in groups]
    assert all(len(group.image_digests) == len(group.images) for group in restored.groups)
    assert restored.cache_root == tmp_path / "cache" and restored.vision == "toy_net"
