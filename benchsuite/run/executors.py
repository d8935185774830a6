"""Where the runner's two kinds of work run: in this process, or on a Ray cluster.

Extraction tasks are (vision model × image group); evaluation tasks are
(text model × metric, over every layer of a model). Both executors run the same functions, so their
records are identical.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from benchsuite.inference.pooled import Score
from benchsuite.run.scoring import ScoreTask

if TYPE_CHECKING:
    from benchsuite.contract.schemas import VisionModelMeta
    from benchsuite.inputs.concepts import ImageGroup
    from benchsuite.run.runner import SuiteRun


class Executor(Protocol):
    def extract(self, run: SuiteRun, meta: VisionModelMeta, model: Any, source: Any,
                groups: Sequence[ImageGroup]) -> list[Any]:
        """Each group's ``GroupExtraction``, in group order."""

    def score(self, tasks: Sequence[ScoreTask], *, desc: str = "", progress: bool = False) -> list[list[Score]]:
        """Each task's scores (one per layer), in task order."""


class LocalExecutor:
    """Runs everything in this process: one pass over a model's photos for all its groups, then the tasks in turn."""

    def extract(self, run: SuiteRun, meta: VisionModelMeta, model: Any, source: Any,
                groups: Sequence[ImageGroup]) -> list[Any]:
        return run.extract(meta, model, source, groups)

    def score(self, tasks: Sequence[ScoreTask], *, desc: str = "", progress: bool = False) -> list[list[Score]]:
        from tqdm import tqdm

        return [task.run() for task in tqdm(tasks, desc=desc, unit="test", leave=False, disable=not progress)]
