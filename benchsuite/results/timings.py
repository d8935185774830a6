"""Where a run's time goes: wall and CPU seconds per phase, written next to the results.

The runner times its phases (photos and concepts, text models, extraction, each metric,
the held-out summaries, the 1 vs 2 test, writing records) into the process-wide
``TIMINGS``; ``run`` resets it at the start and writes ``<out>/timings-<suite>.json`` at
the end. CPU seconds count every thread of this process, so on an executor that scores
elsewhere (Ray) the metric phases show only the waiting. A run extracts the next vision model in a worker
thread while it scores the current one (``run.pipeline``): then ``vision models (loading)`` and
``extraction`` overlap the metric phases, in wall time and in CPU time (each phase counts what the whole
process spent while it ran), so the phases add up to more than the run; set ``BENCHSUITE_EXTRACT_AHEAD=0``
for phases that never overlap.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchsuite.contract.schemas import slug


class Timings:
    """Wall and CPU seconds accumulated per phase, in the order phases first ran; nested phases are not
    subtracted from their parents, so one thread times only non-overlapping phases (two threads may time
    theirs at once)."""

    def __init__(self) -> None:
        self.phases: dict[str, list[float]] = {}
        self.lock = threading.Lock()

    def reset(self) -> None:
        self.phases.clear()

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            with self.lock:
                totals = self.phases.setdefault(phase, [0.0, 0.0])
                totals[0] += wall
                totals[1] += cpu

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {phase: {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3)} for phase, (wall, cpu) in self.phases.items()}

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.as_dict(), indent=1) + "\n")


TIMINGS = Timings()
"""The process-wide phase timer the runner uses."""


def timings_path(out: Path, suite: str) -> Path:
    """Where a run of ``suite`` into ``out`` writes its time per phase."""
    return out / f"timings-{slug(suite)}.json"
