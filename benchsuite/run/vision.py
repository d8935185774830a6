"""One vision model through a run: load it, reuse its finished records, extract what is missing (one pass over
the photos for every pending design), assemble its records and write them atomically, design by design."""

from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import Any

from benchsuite.contract.errors import describe_error, one_line
from benchsuite.contract.schemas import VisionModelMeta, slug
from benchsuite.extraction.cache import atomic_write_text
from benchsuite.extraction.layers import GroupExtraction
from benchsuite.results.records import move_aside, read_records, write_records
from benchsuite.results.timings import TIMINGS
from benchsuite.run.assemble import assemble
from benchsuite.run.executors import Executor
from benchsuite.run.extract import extraction_job
from benchsuite.run.items import Items
from benchsuite.run.keys import records_key
from benchsuite.run.prepare import DesignData, Prepared

log = logging.getLogger("benchsuite")


def records_path(out: Path, suite: str, design: str, vision: str) -> Path:
    """Where one model's records on one design are written."""
    return out / "records" / slug(suite) / slug(design) / f"{slug(vision)}.json"


def finished(path: Path, key: str) -> bool:
    """Whether ``path`` holds complete records for ``key``; an unreadable records file is moved aside."""
    key_path = path.with_suffix(".key")
    if not (path.exists() and key_path.exists()):
        return False
    try:
        read_records(path)
    except (ValueError, OSError) as error:
        move_aside(path, f"unreadable records file ({one_line(str(error))[:200]})")
        return False
    return key_path.read_text() == key


class VisionRun:
    """One vision model's part of a run."""

    def __init__(self, items: Items, executor: Executor, prepared: Prepared, name: str):
        self.items = items
        self.executor = executor
        self.prepared = prepared
        self.meta: VisionModelMeta = items.registry.vision[name]

    def run(self) -> None:
        """Every pending design's records of this model; a failure fails that design alone. When every design's
        records are finished (``finished_as_recorded``) the model is not even loaded."""
        if all(self.finished_as_recorded(data) for data in self.prepared.designs):
            log.info("%s: results already complete on every design, reusing them", self.meta.name)
            return
        with TIMINGS("vision models (loading)"):
            model = self.items.guarded_load("vision", self.meta.name, device=self.items.settings.device)
        if model is None:
            return
        pending = self.pending(model)
        extracted = self.extract_jointly(model, [data for data, _, _ in pending])
        for data, path, key in pending:
            try:
                records = assemble(self.items, self.executor, self.meta, model.weights_hash, model.layers,
                                   self.prepared.text_models, data,
                                   extracted.get(data.design.name) or self.extract(model, data),
                                   self.prepared.candidates)
            except Exception as error:  # a vision plugin's failure is that model's (on this design) alone
                log.debug(traceback.format_exc())
                self.items.fail_item("vision", self.meta.name, describe_error(error), design=data.design.name)
                path.unlink(missing_ok=True)
                continue
            with TIMINGS("writing results"):
                write_records(path, records)
            if all(r.status == "ok" for r in records):  # failed records are retried by the next run
                atomic_write_text(path.with_suffix(".key"), key)

    def finished_as_recorded(self, data: DesignData) -> bool:
        """Whether one design's records are finished for the key they would have with the weights hash they were
        made with: everything else that changes them (settings, options, versions, photos, text) is checked
        without loading the model; a weights file changed in place under the same options is not (delete the
        ``.key`` file beside the records to recompute them)."""
        path = records_path(self.items.options.out, self.items.suite.name, data.design.name, self.meta.name)
        try:
            hashes = {record.provenance.weights_hash for record in read_records(path)}
        except (ValueError, OSError):  # absent or unreadable: the loaded model's check handles it
            return False
        if len(hashes) != 1 or None in hashes:
            return False
        key = records_key(self.items, self.meta, str(hashes.pop()), self.prepared.source, data,
                          self.prepared.text_models)
        return finished(path, key)

    def pending(self, model: Any) -> list[tuple[DesignData, Path, str]]:
        """The designs whose records are not finished for their current key, with their path and key."""
        pending = []
        for data in self.prepared.designs:
            path = records_path(self.items.options.out, self.items.suite.name, data.design.name, self.meta.name)
            key = records_key(self.items, self.meta, model.weights_hash, self.prepared.source, data,
                              self.prepared.text_models)
            if finished(path, key):
                log.info("%s / %s: results already complete, reusing them", self.meta.name, data.design.name)
                continue
            path.with_suffix(".key").unlink(missing_ok=True)
            pending.append((data, path, key))
        return pending

    def extract(self, model: Any, data: DesignData) -> list[GroupExtraction]:
        """One design's group extractions."""
        job = extraction_job(self.items, self.meta, self.prepared.source, data.groups)
        return self.executor.extract(job, self.meta, model, self.prepared.source)

    def extract_jointly(self, model: Any, designs: list[DesignData]) -> dict[str, list[GroupExtraction]]:
        """Every design's group extractions from one pass over their photos (each photo runs once); empty when
        that pass fails, and each design then extracts on its own, so an error is reported per design."""
        if len(designs) < 2:
            return {}
        groups = [group for data in designs for group in data.groups]
        job = extraction_job(self.items, self.meta, self.prepared.source, groups)
        try:
            extractions = iter(self.executor.extract(job, self.meta, model, self.prepared.source))
        except Exception:  # retried design by design, where the error is attributed
            log.debug(traceback.format_exc())
            return {}
        return {data.design.name: [next(extractions) for _ in data.groups] for data in designs}
