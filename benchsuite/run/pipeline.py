"""Two-stage pipelines: a worker thread runs each item's first stage ahead while this thread runs the second.

A suite run extracts the next vision model's layer matrices while it scores the current one (torch's forward
passes and Gram products, numpy's BLAS and the compiled nulls release the GIL, so both cores stay busy). With
a depth of 0 every stage runs in this thread, one item after another: the same calls in the same order.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

POLL_S = 0.2  # how often a blocked worker looks whether the run has stopped
WORKER_NAME = "benchsuite-pipeline"


class Stopped(BaseException):
    """The run this work belongs to has stopped (interrupted, or it failed): the work is abandoned. A
    BaseException, so that the guards that keep a plugin's failure its own never take it for one."""


_worker = threading.local()


def check_stopped() -> None:
    """Raise ``Stopped`` in a pipeline's worker whose run has stopped (called between batches); elsewhere nothing."""
    stop: threading.Event | None = getattr(_worker, "stop", None)
    if stop is not None and stop.is_set():
        raise Stopped


class Outcome(Generic[T]):
    """One first stage's result, or what it raised (re-raised where its item is taken)."""

    def __init__(self, value: T | None = None, error: BaseException | None = None):
        self.value, self.error = value, error

    def get(self) -> T:
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


def pipelined(first_stages: Iterable[Callable[[], T]], depth: int) -> Generator[T, None, None]:
    """Each first stage's result, in order. ``depth`` 0: each stage runs here when its result is asked for.
    ``depth`` n > 0: a worker thread runs the stages in order, up to n finished results waiting while the caller
    works on the one it took; a stage's exception is raised here when its result would be taken. When the caller
    stops early (an exception, Ctrl-C, ``close``), the worker stops after its current batch (``check_stopped``)
    and is joined, so no file is being written when this returns."""
    if depth < 0:
        raise ValueError(f"a pipeline depth is 0 or more, got {depth}")
    if depth == 0:
        for stage in first_stages:
            yield stage()
        return
    results: queue.Queue[Outcome[T] | None] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    worker = threading.Thread(target=run_stages, args=(iter(first_stages), results, stop), name=WORKER_NAME,
                              daemon=True)
    worker.start()
    try:
        while (outcome := results.get()) is not None:
            yield outcome.get()
    finally:
        stop.set()
        worker.join()


def run_stages(stages: Iterator[Callable[[], T]], results: queue.Queue[Outcome[T] | None],
               stop: threading.Event) -> None:
    """The worker's loop: each stage in turn into ``results`` until they run out, one raises, or ``stop`` is set."""
    _worker.stop = stop
    for stage in stages:
        if stop.is_set():
            return
        try:
            outcome: Outcome[T] = Outcome(value=stage())
        except Stopped:
            return
        except BaseException as error:  # handed to the caller, raised where this item's result is taken
            outcome = Outcome(error=error)
        if not hand_over(results, outcome, stop) or outcome.error is not None:
            return
    hand_over(results, None, stop)


def hand_over(results: queue.Queue[Outcome[T] | None], item: Outcome[T] | None, stop: threading.Event) -> bool:
    """Put ``item`` into ``results`` once there is room; False when the run stopped first."""
    while not stop.is_set():
        try:
            results.put(item, timeout=POLL_S)
            return True
        except queue.Full:
            continue
    return False
