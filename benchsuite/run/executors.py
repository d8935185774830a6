"""Where a run's two kinds of work run: in this process, or on a Ray cluster (``ray_executor``).

Extraction work is an ``ExtractionJob`` (a vision model's image groups); scoring work is a ``ScoreTask``
(a text model and metric over every layer of a model). Executors receive plain descriptions of the work,
never the run, and every executor runs the same functions, so their records are identical.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from benchsuite.contract.schemas import VisionModelMeta
from benchsuite.extraction.layers import GroupExtraction
from benchsuite.inference.pooled import Score
from benchsuite.run.extract import ExtractionJob, extract_here
from benchsuite.run.scoring import ScoreTask


class Executor(Protocol):
    def extract(self, job: ExtractionJob, meta: VisionModelMeta, model: Any, source: Any) -> list[GroupExtraction]:
        """Each of the job's groups' extraction, in group order. ``model`` and ``source`` are this process's
        loaded items, for an executor that extracts here; a remote one loads its own from the job."""
        ...

    def score(self, tasks: Sequence[ScoreTask], *, desc: str = "", progress: bool = False) -> list[list[Score]]:
        """Each task's scores (one per layer), in task order."""
        ...


class LocalExecutor:
    """Runs everything in this process: one pass over a model's photos for all its groups, then the tasks in turn."""

    def extract(self, job: ExtractionJob, meta: VisionModelMeta, model: Any, source: Any) -> list[GroupExtraction]:
        return extract_here(job, meta, model, source)

    def score(self, tasks: Sequence[ScoreTask], *, desc: str = "", progress: bool = False) -> list[list[Score]]:
        from tqdm import tqdm

        return [task.run() for task in tqdm(tasks, desc=desc, unit="test", leave=False, disable=not progress)]
