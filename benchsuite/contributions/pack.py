"""``benchsuite contribute``: one vision model's finished run packed as a contribution folder.

The layer matrices come from the run's cache (the model is loaded, no photo runs through it again); the folder is
written beside its destination, read back and verified exactly as the leaderboard will verify it, and only then
moved into place, so a contributor learns of a problem before the pull request.
"""

from __future__ import annotations

import os
import platform
import shutil
from dataclasses import dataclass
from pathlib import Path

import benchsuite
from benchsuite.contract.errors import BenchsuiteError, one_line
from benchsuite.contract.manager import Registry
from benchsuite.contract.schemas import slug
from benchsuite.contributions.bundle import (
    BY_PATTERN,
    DesignInputs,
    Failure,
    GroupInputs,
    Manifest,
    ModelInputs,
    Refused,
    design_file,
    name_problem,
    read_bundle,
    write_bundle,
)
from benchsuite.contributions.verify import LocalSuite, verified_records
from benchsuite.extraction.cache import ArrayCache, array_digest
from benchsuite.extraction.layers import GroupExtraction, numeric_meta
from benchsuite.inputs.suites import Suite
from benchsuite.results.records import Record, read_records, utc_now
from benchsuite.run.executors import LocalExecutor
from benchsuite.run.items import Items
from benchsuite.run.keys import package_versions
from benchsuite.run.options import RunOptions
from benchsuite.run.vision import VisionRun, records_path

CONTRIBUTIONS = Path("leaderboard", "contributions")
"""Where contributions live in the repository, one folder per suite and model: ``<suite>/<model>``."""


@dataclass(frozen=True)
class Packed:
    folder: Path
    size: int  # bytes, every file
    largest_difference: float  # between the run's records and their recomputation from the packed matrices


def default_folder(suite: str, vision: str) -> Path:
    return CONTRIBUTIONS / slug(suite) / slug(vision)


def run_records(results: Path, suite: Suite, vision: str) -> list[Record]:
    """The model's records on every design of ``suite`` in the run folder ``results``, under the suite's seed and
    permutation count, else a BenchsuiteError saying which run to make."""
    rerun = f"`benchsuite run --suite {suite.name} --vision {vision} --out {results}`"
    records: list[Record] = []
    for design in suite.designs:
        path = records_path(results, suite.name, design.name, vision)
        if not path.is_file():
            raise BenchsuiteError(f"no records of {vision!r} on design {design.name!r} of suite {suite.name!r} in "
                                  f"{results} ({path} is missing); run {rerun} first")
        try:
            records += read_records(path)
        except (ValueError, OSError) as error:
            raise BenchsuiteError(f"{path} cannot be read ({one_line(str(error))[:200]}); run {rerun} again") \
                from None
    settings = {(r.provenance.seed, r.provenance.permutations, r.provenance.weights_hash) for r in records}
    if len(settings) != 1:
        raise BenchsuiteError(f"the records of {vision!r} in {results} mix seeds, permutation counts or weights; "
                              f"run {rerun} again")
    seed, permutations, _ = settings.pop()
    if (seed, permutations) != (suite.seed, suite.permutations):
        raise BenchsuiteError(f"the records of {vision!r} were computed with seed {seed} and {permutations} "
                              f"permutations; the leaderboard takes suite {suite.name!r}'s own ({suite.seed}, "
                              f"{suite.permutations}): run {rerun} without --seed and --permutations")
    return records


def machine() -> dict[str, str]:
    """The machine the matrices were extracted on (no host or user name)."""
    return {"platform": platform.platform(), "machine": platform.machine(), "processor": platform.processor(),
            "python": platform.python_version(), "cpus": str(os.cpu_count() or 0)}


def design_inputs(local: LocalSuite, name: str, extractions: list[GroupExtraction]) -> DesignInputs:
    data = local.design(name)
    return DesignInputs(
        name=name, photos=local.inputs[name].photos, concepts=[c.id for c in data.selection.chosen],
        groups=[GroupInputs(images=[im.id for im in group.images], digests=digests,
                            failures={layer: Failure(reason=f.reason, image=f.image)
                                      for layer, f in extraction.failures.items()})
                for group, digests, extraction in zip(data.groups, local.digests[name], extractions, strict=True)],
        text_matrices={text: array_digest(matrix) for text, matrix in sorted(data.text_matrices.items())},
        file=design_file(name))


def contribute(registry: Registry, suite: Suite, results: Path, vision: str, *, cache: ArrayCache, by: str,
               out: Path | None = None) -> Packed:
    """Pack ``vision``'s finished run of ``suite`` (records in ``results``) into ``out`` (default
    ``leaderboard/contributions/<suite>/<model>``), verified as the leaderboard verifies it."""
    problem = name_problem(vision) or (None if BY_PATTERN.fullmatch(by) else
                                       f"--by {by[:80]!r} is not letters, digits, spaces and ._@+()- (at most 80)")
    if problem is not None:
        raise BenchsuiteError(problem)
    folder = out if out is not None else default_folder(suite.name, vision)
    if folder.exists():
        raise BenchsuiteError(f"{folder} already exists; remove it to pack {vision!r} again, or pass another --out")
    records = run_records(results, suite, vision)
    if vision not in registry.vision:
        raise BenchsuiteError(f"vision model {vision!r} is not registered here; pack it where it was run, with its "
                              "plugin installed (or its PREFIX:NAME's library)")
    device = records[0].provenance.device or "cpu"
    items = Items(registry, suite, RunOptions(out=results, cache=cache, device=device, vision=[vision],
                                              progress=False))
    local = LocalSuite.prepared_for(items)
    model = items.guarded_load("vision", vision, device=device)
    if model is None:
        raise BenchsuiteError(f"vision model {vision!r} cannot be loaded here: {items.problems[-1].error}")
    if model.weights_hash != records[0].provenance.weights_hash:
        raise BenchsuiteError(f"vision model {vision!r} loads other weights ({model.weights_hash}) than its records "
                              f"were made with ({records[0].provenance.weights_hash}); run it again")
    run = VisionRun(items, LocalExecutor(), local.prepared, vision)
    jointly = run.extract_jointly(model, local.prepared.designs)  # as the run did: a broken layer fails alike
    extractions = {data.design.name: jointly.get(data.design.name) or run.extract(model, data)
                   for data in local.prepared.designs}
    meta = registry.vision[vision]
    manifest = Manifest(
        suite=suite.name, by=by, benchsuite=benchsuite.__version__, seed=suite.seed, permutations=suite.permutations,
        metrics=list(items.settings.metrics),
        model=ModelInputs(name=vision, layers=list(model.layers), weights_hash=model.weights_hash,
                          metadata=numeric_meta(meta)),
        designs=[design_inputs(local, name, found) for name, found in extractions.items()],
        versions=package_versions(meta, None), machine=machine(), created=utc_now(), files={})
    staging = folder.with_name(f".{folder.name}.packing-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        write_bundle(staging, manifest, records, extractions)
        _, largest = verified_records(read_bundle(staging), local)
    except Refused as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise BenchsuiteError(f"the packed run does not verify, so the leaderboard would refuse it: {error}") \
            from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    os.replace(staging, folder)
    size = sum(path.stat().st_size for path in folder.iterdir())
    return Packed(folder, size, largest)
