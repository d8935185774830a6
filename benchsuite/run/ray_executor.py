"""The Ray executor: extraction and evaluation tasks on a Ray cluster (``pip install benchsuite[ray]``).

Workers rebuild the plugin registry from entry points and load each model once
per worker process. The layer-matrix cache is a directory every worker can
reach (shared storage on a multi-node cluster); a task lost with its worker is
retried by Ray, and finished results are never recomputed because they sit in
that cache and in the run's record files.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchsuite.contract.errors import BenchsuiteError
from benchsuite.contract.manager import Registry
from benchsuite.extraction.cache import ArrayCache
from benchsuite.extraction.layers import extract_group_cached
from benchsuite.inference.pooled import Score
from benchsuite.run.scoring import ScoreTask

if TYPE_CHECKING:
    from benchsuite.contract.schemas import VisionModelMeta
    from benchsuite.inputs.concepts import ImageGroup
    from benchsuite.inputs.suites import Suite
    from benchsuite.results.records import Results
    from benchsuite.run.runner import RunOptions, SuiteRun

TASK_RETRIES = 3
WORKER_ENV = ("KERAS_BACKEND", "KERAS_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "BENCHSUITE_CACHE",
              "BENCHSUITE_PLUGINS", "OMP_NUM_THREADS")


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise BenchsuiteError("--executor ray needs Ray: pip install 'benchsuite[ray]'") from None
    return ray


@functools.cache
def worker_registry() -> Registry:
    return Registry()


@functools.cache
def worker_model(name: str, options_json: str) -> Any:
    return worker_registry().vision[name].load(**json.loads(options_json))


@functools.cache
def worker_source(name: str, options_json: str) -> Any:
    return worker_registry().images[name].load(**json.loads(options_json))


def extract_on_worker(vision: str, vision_options: str, source_name: str, source_options: str, image_records: list,
                      cache_root: str, batch_size: int, memory_budget: int | None, rows: dict[str, Any]) -> Any:
    """One (vision model × group) extraction, inside a Ray worker."""
    model = worker_model(vision, vision_options)
    source = worker_source(source_name, source_options)
    return extract_group_cached(
        ArrayCache(cache_root),
        worker_registry().vision[vision],
        model,
        [record.id for record in image_records],
        lambda: [source.read(record) for record in image_records],
        batch_size=batch_size,
        memory_budget=memory_budget,
        **rows,
    )


def score_on_worker(task: ScoreTask) -> list[Score]:
    return task.run()


class RayExecutor:
    """Submits extraction and evaluation tasks to Ray and gathers them in order."""

    def __init__(self, ray: Any, device: str = "cpu"):
        self.ray = ray
        gpus = 1 if device == "cuda" else 0
        self.extract_task = ray.remote(num_gpus=gpus, max_retries=TASK_RETRIES)(extract_on_worker)
        self.score_task = ray.remote(num_gpus=gpus, max_retries=TASK_RETRIES)(score_on_worker)

    def extract(self, run: SuiteRun, meta: VisionModelMeta, model: Any, source: Any,
                groups: Sequence[ImageGroup]) -> list[Any]:
        from benchsuite.run.runner import extraction_rows

        vision_options = json.dumps({**run.item_options(meta.name), "device": run.options.device}, sort_keys=True)
        source_name = run.suite.images
        source_options = json.dumps(run.item_options(source_name), sort_keys=True)
        futures = [
            self.extract_task.remote(meta.name, vision_options, source_name, source_options, list(group.images),
                                     str(run.options.cache.root), run.options.batch_size, run.options.memory_budget,
                                     {**extraction_rows(group), **run.cache_inputs(meta, source, group)})
            for group in groups
        ]
        return self.ray.get(futures)

    def score(self, tasks: Sequence[ScoreTask], *, desc: str = "", progress: bool = False) -> list[list[Score]]:
        return self.ray.get([self.score_task.remote(task) for task in tasks])


def run_suite_on_ray(suite: Suite, options: RunOptions, *, address: str | None = None,
                     num_cpus: int | None = None) -> Results:
    """Run a suite with every task on Ray; ``address`` joins a cluster, else a local one starts."""
    from benchsuite.run.runner import run_suite

    ray = import_ray()
    started = False
    if not ray.is_initialized():
        env = {name: os.environ[name] for name in WORKER_ENV if name in os.environ}
        env.setdefault("KERAS_BACKEND", "torch")
        runtime_env = {"env_vars": env}
        if address:
            ray.init(address=address, runtime_env=runtime_env)
        else:
            ray.init(num_cpus=num_cpus, include_dashboard=False, runtime_env=runtime_env)
        started = True
    try:
        options.cache.root = Path(options.cache.root).resolve()
        return run_suite(Registry(), suite, options, RayExecutor(ray, options.device))
    finally:
        if started:
            ray.shutdown()
