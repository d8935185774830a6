"""Runs a suite: joins plugins, extraction and metrics into result records.

One straight line: concepts and photos -> groups; text models -> k×k matrices (``prepare``); each vision model
and group -> cached k×k layer matrices -> records (``vision``, ``assemble``); records -> ``results.json``. Each
vision model's records are written atomically as soon as they are complete, so a run killed at any moment
resumes on the next call, reusing cached matrices and finished records.
"""

from __future__ import annotations

import json
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchsuite.contract.errors import BenchsuiteError, one_line
from benchsuite.contract.manager import Registry
from benchsuite.contract.schemas import slug
from benchsuite.extraction.cache import array_digest, atomic_write_text, key_digest
from benchsuite.extraction.layers import content_digests, numeric_meta
from benchsuite.inputs.suites import Suite, check_suite_run
from benchsuite.results.records import Record, Results, merge_results, move_aside, read_records, write_records
from benchsuite.results.timings import TIMINGS, timings_path
from benchsuite.run.executors import Executor, LocalExecutor
from benchsuite.run.items import Items
from benchsuite.run.options import RunOptions
from benchsuite.run.pipeline import pipelined
from benchsuite.run.prepare import DesignData, Prepared, prepare
from benchsuite.run.vision import VisionRun, records_path


class SuiteRun:
    """One run of one suite: prepare, then each vision model in turn, publishing after each. The next models are
    extracted in a worker thread while the current one is scored (``RunOptions.extract_ahead`` of them; 0:
    one model after the other in this thread); the records are the same either way."""

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
        reuse_freed_memory()
        TIMINGS.reset()
        prepared = prepare(items)
        atomic_write_text(out / f"concepts-{slug(items.suite.name)}.json", json.dumps(prepared.inventory, indent=1))
        scored_on = {data.design.name: inputs_of(items, prepared.source, data) for data in prepared.designs}
        runs = [VisionRun(items, self.executor, prepared, name)
                for name in items.selected("vision", items.suite.vision, items.options.vision)]
        with closing(pipelined([run.extract_pending for run in runs], items.options.extract_ahead)) as extracted:
            for model in extracted:
                model.write_records()
                with TIMINGS("writing results"):
                    self.stamp(model.run.meta.name, scored_on)
                    self.publish(prepared)
        with TIMINGS("writing results"):
            results = self.publish(prepared)
        TIMINGS.write(timings_path(out, items.suite.name))
        return results

    def stamp(self, name: str, scored_on: dict[str, Inputs]) -> None:
        """Write into the records of vision model ``name`` what this run scored them on (``inputs_of``), on each
        design where it did not fail or get skipped (there its records, if any, are an earlier run's)."""
        items = self.items
        failed = {p.design for p in items.problems if p.kind == "vision" and p.name == name}
        for design, inputs in scored_on.items():
            path = records_path(items.options.out, items.suite.name, design, name)
            if None in failed or design in failed or not path.exists():
                continue
            try:
                records = read_records(path)
            except (ValueError, OSError):
                continue  # moved aside when the run publishes
            stamped = [r.model_copy(update={"provenance": r.provenance.model_copy(update={
                "inputs": inputs.photos, "text_matrix": inputs.text_matrices.get(str(r.text))})}) for r in records]
            if stamped != records:
                write_records(path, stamped)

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


@dataclass(frozen=True)
class Inputs:
    """What one design's records are scored on besides the model: ``photos``, a digest of its concepts, image
    groups and photos by content (and the image source and concept set); each text model's k×k matrix digest."""

    photos: str
    text_matrices: dict[str, str]


def inputs_of(items: Items, source: Any, data: DesignData) -> Inputs:
    """The digests records of one design carry (``Provenance.inputs`` and ``text_matrix``): the leaderboard never
    ranks or pairs records whose digests differ."""
    photos = key_digest({
        "design": data.design.model_dump(mode="json"),
        "source_fingerprint": str(getattr(source, "fingerprint", "")),
        "image_source": numeric_meta(items.registry.images[items.suite.images]),
        "concept_set": numeric_meta(items.registry.concepts[items.suite.concepts]),
        "groups": [{"concepts": list(g.concept_ids), "images": [image.id for image in g.images],
                    "digests": content_digests(source, g.images, items.options.cache.file_digests)}
                   for g in data.groups],
    })
    return Inputs(photos=photos[:16], text_matrices={name: array_digest(matrix)[:16]
                                                     for name, matrix in data.text_matrices.items()})


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


GLIBC_MALLOC_OPTIONS = ((-3, 32 * 2**20), (-1, 512 * 2**20), (-2, 64 * 2**20))
"""glibc ``mallopt`` settings (M_MMAP_THRESHOLD, M_TRIM_THRESHOLD, M_TOP_PAD): blocks under 32 MiB come from the
heap, and freed memory stays there for reuse instead of going back to the system. A run allocates and frees
the same activation, staging and permutation arrays thousands of times; handed back each time, every reuse
faulted its pages in afresh (about 10 million page faults and a seventh of the CPU time of a two-model run)."""


def reuse_freed_memory() -> None:
    """Apply ``GLIBC_MALLOC_OPTIONS`` to this process where the C library is glibc (elsewhere nothing)."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS, Windows): its allocator as it is
        return
    for option, value in GLIBC_MALLOC_OPTIONS:
        mallopt(ctypes.c_int(option), ctypes.c_int(value))


def run_suite(registry: Registry, suite: Suite, options: RunOptions, executor: Executor | None = None) -> Results:
    """Run ``suite`` with the plugins of ``registry`` (``executor``: where its work runs; default here)."""
    return SuiteRun(registry, suite, options, executor).run()
