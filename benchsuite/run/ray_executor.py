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
import socket
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchsuite.contract.errors import BenchsuiteError, describe_error
from benchsuite.contract.manager import Registry
from benchsuite.contract.schemas import VisionModelMeta
from benchsuite.extraction.cache import ArrayCache
from benchsuite.extraction.layers import GroupExtraction, extract_group_cached
from benchsuite.inference.pooled import Score
from benchsuite.inputs.suites import Suite
from benchsuite.results.records import Results
from benchsuite.run.extract import ExtractionJob, GroupJob
from benchsuite.run.options import RunOptions
from benchsuite.run.scoring import ScoreTask
from benchsuite.run.suite_run import run_suite

TASK_RETRIES = 3
CONNECT_TIMEOUT_S = 5.0  # how long --address may take to answer before the run is refused
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])  # then an empty SETTINGS
HTTP2_SETTINGS = 4  # the frame type a gRPC server (Ray's GCS and Ray Client) opens its reply with
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


def extract_on_worker(job: ExtractionJob, group: GroupJob) -> GroupExtraction:
    """One (vision model × group) extraction, inside a Ray worker."""
    model = worker_model(job.vision, json.dumps(job.vision_options, sort_keys=True))
    source = worker_source(job.images, json.dumps(job.image_options, sort_keys=True))
    return extract_group_cached(
        ArrayCache(job.cache_root),
        worker_registry().vision[job.vision],
        model,
        [record.id for record in group.images],
        lambda: [source.read(record) for record in group.images],
        batch_size=job.batch_size,
        memory_budget=job.memory_budget,
        members=group.members,
        image_digests=group.image_digests,
        context=group.context,
    )


def score_on_worker(task: ScoreTask) -> list[Score]:
    return task.run()


def check_address(address: str) -> None:
    """A Ray address (``HOST:PORT``, ``ray://HOST:PORT`` or ``auto``) where a gRPC server (as Ray's are) answers
    within ``CONNECT_TIMEOUT_S``, else a one-line BenchsuiteError (Ray itself waits for minutes, then traces back)."""
    if address == "auto":
        return
    host, colon, port = address.removeprefix("ray://").rpartition(":")
    host = host.strip("[]")
    if not (colon and host and port.isdigit() and 0 < int(port) < 65536) or "/" in host:
        raise BenchsuiteError(f"--address {address!r} is not a Ray address; use HOST:PORT (the head's GCS port, "
                              "e.g. head:6379), ray://HOST:PORT (Ray Client, e.g. ray://head:10001) or auto")
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S) as connection:
            connection.sendall(HTTP2_PREFACE)
            reply = connection.recv(9)
    except OSError as error:
        reason = "no answer" if isinstance(error, TimeoutError) else (error.strerror or str(error))
        raise BenchsuiteError(f"--address {address}: nothing answers at {host}:{port} within {CONNECT_TIMEOUT_S:g} s "
                              f"({reason}); start the cluster (ray start --head) or fix the address") from None
    if len(reply) < 4 or reply[3] != HTTP2_SETTINGS:
        raise BenchsuiteError(f"--address {address}: what answers at {host}:{port} is not a Ray cluster (it does not "
                              "speak gRPC); give the head's GCS port (6379) or its Ray Client port (ray://HOST:10001)")


class RayExecutor:
    """Submits extraction and evaluation tasks to Ray and gathers them in order."""

    def __init__(self, ray: Any, device: str = "cpu"):
        self.ray = ray
        gpus = 1 if device.startswith("cuda") else 0
        self.extract_task = ray.remote(num_gpus=gpus, max_retries=TASK_RETRIES)(extract_on_worker)
        self.score_task = ray.remote(num_gpus=gpus, max_retries=TASK_RETRIES)(score_on_worker)

    def extract(self, job: ExtractionJob, meta: VisionModelMeta, model: Any, source: Any) -> list[GroupExtraction]:
        """A task per group; workers load the model and image source from the job's names and options."""
        plain = replace(job, groups=(), progress=False)
        return list(self.ray.get([self.extract_task.remote(plain, group) for group in job.groups]))

    def score(self, tasks: Sequence[ScoreTask], *, desc: str = "", progress: bool = False) -> list[list[Score]]:
        return self.ray.get([self.score_task.remote(task) for task in tasks])


def run_suite_on_ray(suite: Suite, options: RunOptions, *, address: str | None = None,
                     num_cpus: int | None = None) -> Results:
    """Run a suite with every task on Ray; ``address`` joins a cluster, else a local one starts."""
    if address is not None:
        check_address(address)
    ray = import_ray()
    started = False
    if not ray.is_initialized():
        env = {name: os.environ[name] for name in WORKER_ENV if name in os.environ}
        env.setdefault("KERAS_BACKEND", "torch")
        runtime_env = {"env_vars": env}
        try:
            if address:
                ray.init(address=address, runtime_env=runtime_env)
            else:
                ray.init(num_cpus=num_cpus, include_dashboard=False, runtime_env=runtime_env)
        except Exception as error:  # Ray's own failures to start or join are one line, never a traceback
            where = f"join the cluster at --address {address}" if address else "start a local cluster"
            raise BenchsuiteError(f"Ray could not {where}: {describe_error(error)}") from error
        started = True
    try:
        options.cache.root = Path(options.cache.root).resolve()
        return run_suite(Registry(), suite, options, RayExecutor(ray, options.device))
    finally:
        if started:
            ray.shutdown()
