"""A run's plugin items: their options, loading them without ever raising, and the problems that collects."""

from __future__ import annotations

import copy
import logging
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np

from benchsuite.contract.errors import ResourceMissing, describe_error, one_line
from benchsuite.contract.manager import Registry, loader_parameters
from benchsuite.extraction.layers import full_float32
from benchsuite.inputs.suites import Suite
from benchsuite.results.records import Problem
from benchsuite.run.options import RunOptions, Settings

log = logging.getLogger("benchsuite")

Statistic = Callable[[np.ndarray, np.ndarray], float]


class Items:
    """Loads the suite's items as the run's options say, and collects each item that fails or is skipped as a
    ``Problem`` (one line, naming its plugin) instead of raising."""

    def __init__(self, registry: Registry, suite: Suite, options: RunOptions):
        self.registry = registry
        self.suite = suite
        self.options = options
        self.settings = Settings.of(suite, options)
        self.problems: list[Problem] = []
        self.statistics: dict[str, Statistic | None] = {}

    def with_own_problems(self) -> Items:
        """These items with a problems list of their own (the loaded metrics are shared): work on one item
        collects its problems apart, and the caller adds them to the run's when that item is done."""
        own = copy.copy(self)
        own.problems = []
        return own

    def item_options(self, name: str) -> dict[str, Any]:
        """An item's loader options: the run's ``seed`` for a vision loader that takes one, then the suite's
        options from registry.toml, then ``--set`` (a later source wins)."""
        merged: dict[str, Any] = {}
        if name in self.registry.vision and "seed" in (loader_parameters(self.registry.vision[name].loader) or {}):
            merged["seed"] = self.settings.seed
        merged.update(self.suite.options_for(name))
        merged.update(self.options.overrides.get(name, {}))
        return merged

    def selected(self, kind: str, declared: list[str], requested: list[str] | None) -> list[str]:
        """The registered names to run; a broken one becomes a failed problem, an absent one a skipped problem."""
        names = declared if requested is None else requested
        available = []
        for name in names:
            if name in self.registry[kind]:
                available.append(name)
                continue
            broken = self.registry.problem(kind, name)
            status, message = ("failed", broken) if broken else ("skipped", self.registry.absence(kind, name))
            log.warning("%s %r %s: %s", kind, name, status, message)
            self.problems.append(self.problem(kind, name, status, message))
        return available

    def owner(self, kind: str, name: str) -> str | None:
        """The plugin that registered an item, when one did."""
        catalogue = self.registry[kind]
        return catalogue.owners.get(name) if name in catalogue else None

    def problem(self, kind: str, name: str, status: str, error: str, design: str | None = None) -> Problem:
        return Problem(suite=self.suite.name, kind=kind, name=name, plugin=self.owner(kind, name), design=design,
                       status=status, error=one_line(error))

    def fail_item(self, kind: str, name: str, error: str, design: str | None = None) -> None:
        """Record a failed item and say so on the console, naming the plugin."""
        owner = self.owner(kind, name)
        log.error("%s %r%s failed%s: %s", kind, name, f" (plugin {owner!r})" if owner else "",
                  f" on {design!r}" if design else "", one_line(error))
        self.problems.append(self.problem(kind, name, "failed", error, design))

    def guarded_load(self, kind: str, name: str, **extra: Any) -> Any | None:
        """Load a plugin item; a missing resource skips it, any other error fails it. Never raises.

        ``extra`` (e.g. ``device``) is given only to a loader that accepts it, and wins over the item's options.
        """
        try:
            meta = self.registry[kind][name]
            accepted = loader_parameters(meta.loader)
            supplied = {key: value for key, value in extra.items() if accepted is None or key in accepted}
            item = meta.load(**{**self.item_options(name), **supplied})
            full_float32()  # a GPU model computes in float32, never TF32, as on the CPU
            return item
        except ResourceMissing as error:
            log.warning("skipping %s %r: %s", kind, name, error)
            self.problems.append(self.problem(kind, name, "skipped", str(error)))
        except Exception as error:  # a plugin that raises must not stop the run
            log.error("%s %r failed to load: %s", kind, name, describe_error(error))
            log.debug(traceback.format_exc())
            self.problems.append(self.problem(kind, name, "failed", describe_error(error)))
        return None

    def statistic(self, metric: str) -> Statistic | None:
        """The loaded metric function (loaded once per run); None when its plugin failed to load it."""
        if metric not in self.statistics:
            self.statistics[metric] = self.guarded_load("metrics", metric)
        return self.statistics[metric]

    def loaded_metrics(self) -> dict[str, Statistic]:
        """The run's metrics that are registered and loaded, in the run's order, with their functions."""
        loaded = {m: self.statistic(m) for m in self.settings.metrics if m in self.registry.metrics}
        return {m: statistic for m, statistic in loaded.items() if statistic is not None}
