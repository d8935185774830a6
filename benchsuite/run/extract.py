"""A vision model's extraction work as a plain job (names, options, groups, cache root), and running it here.

Executors receive the job, never the run: an in-process executor runs it with the model already loaded; a
remote one loads the model and image source on its workers from the job's names and options.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchsuite.contract.schemas import ImageRecord, VisionModelMeta
from benchsuite.extraction.cache import ArrayCache
from benchsuite.extraction.layers import CachedGroup, GroupExtraction, extract_groups_cached
from benchsuite.inputs.concepts import ImageGroup
from benchsuite.results.timings import TIMINGS
from benchsuite.run.items import Items
from benchsuite.run.keys import cache_inputs
from benchsuite.run.pipeline import check_stopped


@dataclass(frozen=True)
class GroupJob:
    """One image group to extract: its photos in group order, the rows they average into, the cache inputs."""

    images: tuple[ImageRecord, ...]
    members: list[int] | None
    image_digests: list[str]
    context: dict[str, Any]

    def cached_group(self) -> CachedGroup:
        return CachedGroup([im.id for im in self.images], self.members, self.image_digests, self.context)


@dataclass(frozen=True)
class ExtractionJob:
    """Everything an executor needs to extract one vision model's groups, as plain data."""

    vision: str
    vision_options: dict[str, Any]  # the loader's options, device included
    images: str  # the image source's registered name
    image_options: dict[str, Any]
    groups: tuple[GroupJob, ...]
    cache_root: Path
    batch_size: int
    memory_budget: int | None
    progress: bool = False


def group_members(group: ImageGroup) -> list[int] | None:
    """Each photo's row when a group holds several photos of a concept (their mean is one row), else None."""
    if len(set(group.concept_ids)) == len(group.concept_ids):
        return None
    rows: dict[str, int] = {}
    return [rows.setdefault(cid, len(rows)) for cid in group.concept_ids]


def extraction_job(items: Items, meta: VisionModelMeta, source: Any, groups: Sequence[ImageGroup]) -> ExtractionJob:
    """The job that extracts ``groups`` with vision model ``meta`` as this run's options say."""
    options = items.options
    return ExtractionJob(
        vision=meta.name,
        vision_options={**items.item_options(meta.name), "device": items.settings.device},
        images=items.suite.images,
        image_options=items.item_options(items.suite.images),
        groups=tuple(GroupJob(images=tuple(group.images), members=group_members(group),
                              **cache_inputs(items, meta, source, group)) for group in groups),
        cache_root=Path(options.cache.root),
        batch_size=options.batch_size,
        memory_budget=options.memory_budget,
        progress=options.progress,
    )


def extract_here(job: ExtractionJob, meta: VisionModelMeta, model: Any, source: Any) -> list[GroupExtraction]:
    """The job's layer matrices (concept order) and predictions per group, from the cache when present; what is
    missing comes from one pass over the groups' photos (``extract_groups_cached``)."""
    records = {im.id: im for group in job.groups for im in group.images}
    bar = None
    if job.progress:
        from tqdm import tqdm

        bar = tqdm(total=len(records), desc=f"{meta.name} photos", unit="img", leave=False)

    def batch_done(done: int) -> None:
        check_stopped()  # a run interrupted while this job runs ahead of it (``pipeline``) stops it here
        if bar is not None:
            bar.update(done - bar.n)

    try:
        with TIMINGS("extraction"):
            return extract_groups_cached(
                ArrayCache(job.cache_root),
                meta,
                model,
                [group.cached_group() for group in job.groups],
                lambda image_id: source.read(records[image_id]),
                batch_size=job.batch_size,
                memory_budget=job.memory_budget,
                progress=batch_done,
            )
    finally:
        if bar is not None:
            bar.close()
