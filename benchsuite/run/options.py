"""What the command line may change about a suite run, checked before any work, and the settings it resolves to."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchsuite.contract.errors import BenchsuiteError
from benchsuite.extraction.cache import ArrayCache
from benchsuite.inputs.suites import MAX_PERMUTATIONS, Suite

DEVICE_PATTERN = re.compile(r"cpu|cuda(:\d+)?")
EXTRACT_AHEAD_ENV = "BENCHSUITE_EXTRACT_AHEAD"


@dataclass
class RunOptions:
    """What the command line may change about a suite run."""

    out: Path
    cache: ArrayCache
    vision: list[str] | None = None
    text: list[str] | None = None
    permutations: int | None = None
    seed: int | None = None
    device: str = "cpu"
    memory_budget: int | None = None
    batch_size: int = 8
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    progress: bool = True
    metrics: list[str] | None = None
    extract_ahead: int = field(default_factory=lambda: extract_ahead_default())

    def __post_init__(self) -> None:
        """Refuse bad settings before any work starts, naming the option and the fix."""
        check_count("--permutations", self.permutations, minimum=0, maximum=MAX_PERMUTATIONS, optional=True)
        check_count("--seed", self.seed, minimum=0, optional=True)
        check_count("--batch-size", self.batch_size, minimum=1)
        check_count("--memory-budget", self.memory_budget, minimum=1, optional=True)
        check_count(EXTRACT_AHEAD_ENV, self.extract_ahead, minimum=0)
        if not isinstance(self.device, str) or not DEVICE_PATTERN.fullmatch(self.device):
            raise BenchsuiteError(f"--device {self.device!r} is not supported; use cpu, cuda or cuda:N")
        for option, kind, names in (("--vision", "vision", self.vision), ("--text", "text", self.text),
                                    ("--metrics", "metrics", self.metrics)):
            check_names(option, kind, names)


def extract_ahead_default() -> int:
    """How many vision models a run extracts (in a worker thread) ahead of the one it scores: 1, or
    ``BENCHSUITE_EXTRACT_AHEAD`` (0: one model after the other, extraction and scoring in one thread)."""
    text = os.environ.get(EXTRACT_AHEAD_ENV, "1").strip()
    if not text.isdigit():
        raise BenchsuiteError(f"{EXTRACT_AHEAD_ENV}={text!r} is not a whole number; set it to 0 (one model after "
                              "the other) or 1 (extract the next model while scoring one), or unset it")
    return int(text)


def check_count(option: str, value: Any, *, minimum: int, maximum: int | None = None,
                optional: bool = False) -> None:
    """An integer option from ``minimum`` to ``maximum`` (None allowed when ``optional``), else a BenchsuiteError."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise BenchsuiteError(f"{option} must be a whole number of at least {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise BenchsuiteError(f"{option} {value} is more than {maximum}, the most a run takes; give at most {maximum}")


def check_names(option: str, kind: str, names: list[str] | None) -> None:
    """A name list (None: the suite's) that names something, each name once, else a BenchsuiteError."""
    if names is None:
        return
    what = {"metrics": "metric"}.get(kind, f"{kind} model")
    if not names or not all(isinstance(name, str) and name for name in names):
        raise BenchsuiteError(f"{option} names no {what}{'' if not names else f' in {names!r}'}; give one or more "
                              f"names (benchsuite list {kind})")
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise BenchsuiteError(f"{option} names {', '.join(map(repr, twice))} more than once; name each once")


@dataclass(frozen=True)
class Settings:
    """The numbers a run's records are computed under: the suite's, where the command line leaves them."""

    seed: int
    permutations: int
    metrics: tuple[str, ...]
    device: str

    @classmethod
    def of(cls, suite: Suite, options: RunOptions) -> Settings:
        return cls(seed=suite.seed if options.seed is None else options.seed,
                   permutations=suite.permutations if options.permutations is None else options.permutations,
                   metrics=tuple(suite.metrics if options.metrics is None else options.metrics),
                   device=options.device)
