"""Runs a suite: joins plugins, extraction and metrics into result records.

One straight line: concepts and photos -> groups; text models -> k×k matrices (``prepare``); each vision model
and group -> cached k×k layer matrices -> records (``vision``, ``assemble``); records -> ``results.json``. Each
vision model's records are written atomically as soon as they are complete, so a run killed at any moment
resumes on the next call, reusing cached matrices and finished records.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchsuite.contract.errors import BenchsuiteError, one_line
from benchsuite.contract.manager import Registry
from benchsuite.contract.schemas import slug
from benchsuite.extraction.cache import atomic_write_text
from benchsuite.inputs.suites import Suite, check_suite_run
from benchsuite.results.records import Record, Results, merge_results, move_aside, read_records
from benchsuite.results.timings import TIMINGS, timings_path
from benchsuite.run.executors import Executor, LocalExecutor
from benchsuite.run.items import Items
from benchsuite.run.options import RunOptions
from benchsuite.run.prepare import Prepared, prepare
from benchsuite.run.vision import VisionRun


class SuiteRun:
    """One run of one suite: prepare, then each vision model in turn, publishing after each."""

    def __init__(self, registry: Registry, suite: Suite, options: RunOptions, executor: Executor | None = None):
        self.items = Items(registry, suite, options)
        self.executor = executor if executor is not None else LocalExecutor()

    def run(self) -> Results:
        """Run the suite; this suite's records and problems (also merged into ``<out>/results.json``)."""
        items = self.items
        check_suite_run(items.registry, items.suite, vision=items.options.vision, text=items.options.text,
                        metrics=list(items.settings.metrics), overrides=items.options.overrides)
        out = items.options.out
        check_records_names(out, items.suite.name, items.options.vision or items.suite.vision)
        out.mkdir(parents=True, exist_ok=True)
        TIMINGS.reset()
        prepared = prepare(items)
        atomic_write_text(out / f"concepts-{slug(items.suite.name)}.json", json.dumps(prepared.inventory, indent=1))
        for name in items.selected("vision", items.suite.vision, items.options.vision):
            VisionRun(items, self.executor, prepared, name).run()
            with TIMINGS("writing results"):
                self.publish(prepared)
        with TIMINGS("writing results"):
            results = self.publish(prepared)
        TIMINGS.write(timings_path(out, items.suite.name))
        return results

    def publish(self, prepared: Prepared) -> Results:
        """Merge this suite's finished records and this run's problems into ``results.json`` (under a lock).

        Records of other suites stay, so results accumulate; concurrent runs into one folder lose nothing.
        """
        items = self.items
        records: list[Record] = []
        for data in prepared.designs:
            folder = items.options.out / "records" / slug(items.suite.name) / slug(data.design.name)
            for path in sorted(folder.glob("*.json")):
                try:
                    records.extend(read_records(path))
                except (ValueError, OSError) as error:
                    move_aside(path, f"unreadable records file ({one_line(str(error))[:200]})")
        merge_results(items.options.out / "results.json", items.suite.name, records, items.problems)
        return Results(records=records, problems=list(items.problems))


def check_records_names(out: Path, suite: str, vision: list[str]) -> None:
    """Refuse, before any work, a vision model whose records file in ``out`` (``records/<suite>/<design>/<slug>``)
    holds another model's records: two names that slug alike would replace each other's results across runs."""
    for name in vision:
        for path in sorted((out / "records" / slug(suite)).glob(f"*/{slug(name)}.json")):
            try:
                others = sorted({record.vision for record in read_records(path)} - {name})
            except (ValueError, OSError):
                continue  # unreadable: the run moves it aside and recomputes it
            if others:
                raise BenchsuiteError(one_line(
                    f"vision model {name!r} would write its records to {path}, which holds those of {others[0]!r} "
                    "(their names make the same file name): run one of them into another --out, or remove that "
                    "file"))


def run_suite(registry: Registry, suite: Suite, options: RunOptions, executor: Executor | None = None) -> Results:
    """Run ``suite`` with the plugins of ``registry`` (``executor``: where its work runs; default here)."""
    return SuiteRun(registry, suite, options, executor).run()
