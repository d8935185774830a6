"""One vision model through a run: load it, reuse its finished records, extract what is missing (one pass over
the photos for every pending design), assemble its records and write them atomically, design by design."""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchsuite.contract.errors import describe_error, one_line
from benchsuite.contract.schemas import VisionModelMeta, slug
from benchsuite.extraction.cache import atomic_write_text
from benchsuite.extraction.layers import GroupExtraction
from benchsuite.results.records import Record, move_aside, read_records, write_records
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
    """One vision model's part of a run, in two stages: ``extract_pending`` (load, extract), then
    ``ExtractedModel.write_records`` (score, write). The problems it meets are its own (``items.problems`` is
    this model's list) until its records are written, so a run that extracts one model while it scores another
    reports them in the order of a run that does one model after the other."""

    def __init__(self, items: Items, executor: Executor, prepared: Prepared, name: str):
        self.items = items.with_own_problems()
        self.run_problems = items.problems
        self.executor = executor
        self.prepared = prepared
        self.meta: VisionModelMeta = items.registry.vision[name]

    def extract_pending(self) -> ExtractedModel:
        """The pipeline's first stage: load the model, find its pending designs and extract them (one pass over
        their photos). When every design's records are finished (``finished_as_recorded``) the model is not even
        loaded. The model is let go before this returns: only its matrices wait for scoring."""
        if all(self.finished_as_recorded(data) for data in self.prepared.designs):
            log.info("%s: results already complete on every design, reusing them", self.meta.name)
            return ExtractedModel(self)
        with TIMINGS("vision models (loading)"):
            model = self.items.guarded_load("vision", self.meta.name, device=self.items.settings.device)
        if model is None:
            return ExtractedModel(self)
        pending = self.pending(model)
        jointly = self.extract_jointly(model, [data for data, _, _ in pending])
        designs = []
        for data, path, key in pending:
            try:
                found: list[GroupExtraction] | str = jointly.get(data.design.name) or self.extract(model, data)
            except Exception as error:  # a vision plugin's failure is that model's (on this design) alone
                log.debug(traceback.format_exc())
                found = describe_error(error)
            designs.append(PendingDesign(data, path, key, found))
        return ExtractedModel(self, model.weights_hash, list(model.layers), designs)

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


@dataclass
class PendingDesign:
    """A design whose records are not finished: where they go, their key, and its groups' extractions (or
    why its extraction failed, in one line)."""

    data: DesignData
    path: Path
    key: str
    extractions: list[GroupExtraction] | str


@dataclass
class ExtractedModel:
    """A vision model between the pipeline's stages: its pending designs extracted, waiting to be scored."""

    run: VisionRun
    weights_hash: str = ""
    layers: list[str] = field(default_factory=list)
    designs: list[PendingDesign] = field(default_factory=list)

    def write_records(self) -> None:
        """The second stage: every pending design's records, scored and written atomically (a failure fails that
        design alone); then this model's problems join the run's."""
        run = self.run
        for pending in self.designs:
            records = self.records(pending)
            if isinstance(records, str):
                run.items.fail_item("vision", run.meta.name, records, design=pending.data.design.name)
                pending.path.unlink(missing_ok=True)
                continue
            with TIMINGS("writing results"):
                write_records(pending.path, records)
            if all(r.status == "ok" for r in records):  # failed records are retried by the next run
                atomic_write_text(pending.path.with_suffix(".key"), pending.key)
        run.run_problems.extend(run.items.problems)

    def records(self, pending: PendingDesign) -> list[Record] | str:
        """One design's records, or why the model failed on it (one line)."""
        if isinstance(pending.extractions, str):
            return pending.extractions
        run = self.run
        try:
            return assemble(run.items, run.executor, run.meta, self.weights_hash, self.layers,
                            run.prepared.text_models, pending.data, pending.extractions, run.prepared.candidates)
        except Exception as error:  # a vision plugin's failure is that model's (on this design) alone
            log.debug(traceback.format_exc())
            return describe_error(error)
