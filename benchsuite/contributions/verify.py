"""Verifying a contribution here: comparable with the suite as prepared here, and every number recomputed.

A contribution joins a suite only when it was scored on the same inputs (concept ids in order, each photo by
content, designs, each text model's k×k matrix, seed, permutation count, metrics); then each of its records is
recomputed from its layer matrices with this benchsuite's scoring code and this machine's text matrices, and
compared with the contribution's own by the rules of ``results.agreement``. The first difference refuses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from benchsuite.contract.errors import BenchsuiteError, describe_error, one_line
from benchsuite.contract.manager import Registry
from benchsuite.contract.schemas import VisionModelMeta
from benchsuite.contributions.bundle import Bundle, DesignInputs, refuse
from benchsuite.extraction.cache import ArrayCache, array_digest
from benchsuite.extraction.layers import content_digests, extract_group
from benchsuite.inputs.suites import Suite
from benchsuite.results.agreement import ALWAYS_IGNORED, compare, record_key
from benchsuite.results.records import Record
from benchsuite.run.assemble import assemble
from benchsuite.run.executors import LocalExecutor
from benchsuite.run.items import Items
from benchsuite.run.options import RunOptions
from benchsuite.run.prepare import DesignData, Prepared, prepare
from benchsuite.run.suite_run import Inputs, inputs_of

MAX_ERROR = 300
"""A contributed failed record's message is shown on the page up to this many characters."""
IGNORED = (*ALWAYS_IGNORED, "provenance.versions", "provenance.device", "error")
"""What a contributed record may differ in from its recomputation: when it ran, the contributor's package versions
and device (its extraction's; the scoring here is the same code on the same matrices), and a failed record's
message, which names the plugin that registered the model there (here none did); its status must agree."""


@dataclass
class LocalSuite:
    """A suite prepared here (concepts, photos, text matrices): what contributions are compared with and
    recomputed against. Built once per suite, however many contributions it checks."""

    items: Items
    prepared: Prepared
    inputs: dict[str, Inputs]  # design -> the digests its records carry
    digests: dict[str, list[list[str]]]  # design -> each group's photos' content digests

    @classmethod
    def of(cls, registry: Registry, suite: Suite, cache: ArrayCache) -> LocalSuite:
        """Prepare ``suite`` here as a run would (the text matrices come from ``cache`` or are computed)."""
        return cls.prepared_for(Items(registry, suite, RunOptions(out=Path("."), cache=cache, progress=False)))

    @classmethod
    def prepared_for(cls, items: Items) -> LocalSuite:
        """Prepare the suite of ``items`` under its settings (its ``out`` is never written)."""
        prepared = prepare(items)
        cache = items.options.cache
        return cls(items, prepared,
                   {data.design.name: inputs_of(items, prepared.source, data) for data in prepared.designs},
                   {data.design.name: [content_digests(prepared.source, g.images, cache.file_digests)
                                       for g in data.groups] for data in prepared.designs})

    def design(self, name: str) -> DesignData:
        return next(data for data in self.prepared.designs if data.design.name == name)


def first_difference(what: str, theirs: Sequence[Any], ours: Sequence[Any]) -> str | None:
    """``what`` at the first position where two lists differ (or their lengths), or None when they are equal."""
    for position, (a, b) in enumerate(zip(theirs, ours, strict=False)):
        if a != b:
            return f"{what} at position {position} is {str(a)[:120]!r}, this suite's is {str(b)[:120]!r}"
    if len(theirs) != len(ours):
        return f"{what}: {len(theirs)} in the contribution, {len(ours)} in this suite"
    return None


def comparability_problem(bundle: Bundle, local: LocalSuite) -> str | None:
    """The first way the contribution was scored on other inputs than ``local`` (None: comparable)."""
    manifest, settings = bundle.manifest, local.items.settings
    for name, theirs, ours in (("seed", manifest.seed, settings.seed),
                               ("permutation count", manifest.permutations, settings.permutations)):
        if theirs != ours:
            return f"{name} {theirs}, this suite's is {ours}"
    problem = first_difference("metric", manifest.metrics, list(settings.metrics))
    problem = problem or first_difference("design", [d.name for d in manifest.designs],
                                          [d.design.name for d in local.prepared.designs])
    for design in manifest.designs:
        problem = problem or design_problem(design, local)
    return problem


def design_problem(design: DesignInputs, local: LocalSuite) -> str | None:
    """The first difference in one design's concepts, photos and text matrices."""
    data = local.design(design.name)
    where = f"design {design.name!r}:"
    problem = first_difference(f"{where} concept id", design.concepts, [c.id for c in data.selection.chosen])
    problem = problem or first_difference(f"{where} group count", [len(design.groups)], [len(data.groups)])
    for g, (group, ours, digests) in enumerate(zip(design.groups, data.groups, local.digests[design.name],
                                                   strict=False)):
        problem = problem or first_difference(f"{where} group {g} photo", group.images, [im.id for im in ours.images])
        problem = problem or first_difference(f"{where} group {g} photo content digest", group.digests, digests)
    photos = local.inputs[design.name].photos
    if problem is None and design.photos != photos:
        problem = f"{where} photos and concepts digest {design.photos}, this suite's is {photos}"
    ours_text = {name: array_digest(matrix) for name, matrix in data.text_matrices.items()}
    problem = problem or first_difference(f"{where} text model", sorted(design.text_matrices), sorted(ours_text))
    for name, digest in sorted(design.text_matrices.items()):
        if problem is None and digest != ours_text[name]:
            problem = f"{where} text model {name!r} has another k×k matrix here (sha256 {ours_text[name][:16]}, the " \
                      f"contribution's {digest[:16]})"
    return problem


def check_comparable(bundle: Bundle, local: LocalSuite) -> None:
    problem = comparability_problem(bundle, local)
    if problem is not None:
        raise refuse(bundle.folder, f"not comparable with suite {local.items.suite.name!r} here: {problem}")


def contributed_meta(bundle: Bundle) -> VisionModelMeta:
    """The contributed model's metadata as an item that cannot be loaded here (a ranked model, no twin)."""
    model = bundle.manifest.model

    def not_here(**options: Any) -> Any:
        raise BenchsuiteError(f"vision model {model.name!r} is a contribution: it is not loaded here")

    try:
        return VisionModelMeta(**{**model.metadata, "name": model.name, "layers": tuple(model.layers),
                                  "role": "model", "twin": None, "loader": not_here})
    except (ValidationError, TypeError) as error:
        raise refuse(bundle.folder, f"its model metadata is not a vision model's ({describe_error(error)[:300]})") \
            from None


def recompute(bundle: Bundle, local: LocalSuite) -> list[Record]:
    """Every record of the contribution, computed here from its matrices (after ``check_comparable``)."""
    meta = contributed_meta(bundle)
    model = bundle.manifest.model
    items, prepared = local.items, local.prepared
    records: list[Record] = []
    for design in bundle.manifest.designs:
        data = local.design(design.name)
        inputs = local.inputs[design.name]
        made = assemble(items, LocalExecutor(), meta, model.weights_hash, model.layers, prepared.text_models, data,
                        bundle.extractions[design.name], prepared.candidates)
        records += [r.model_copy(update={"provenance": r.provenance.model_copy(update={
            "inputs": inputs.photos, "text_matrix": inputs.text_matrices.get(str(r.text))})}) for r in made]
    return records


def check_agrees(bundle: Bundle, recomputed: list[Record]) -> float:
    """The largest float difference between the contribution's records and their recomputation; a ``Refused``
    naming the first record that is missing on either side or differs beyond ``results.agreement``'s rules."""
    theirs = {record_key(r.model_dump(mode="json")): r for r in bundle.records}
    if len(theirs) != len(bundle.records):
        raise refuse(bundle.folder, "its records.json holds two records with one key")
    ours = {record_key(r.model_dump(mode="json")): r for r in recomputed}
    largest = 0.0
    for key in sorted(set(theirs) | set(ours), key=str):
        named = " / ".join(str(part) for part in key[1:])
        if key not in ours or key not in theirs:
            side = "recomputed here" if key in ours else "in the contribution"
            raise refuse(bundle.folder, f"record {named} is only {side}: its records are not the run of these "
                                        "matrices on this suite")
        mismatches, difference = compare(theirs[key].model_dump(mode="json"), ours[key].model_dump(mode="json"),
                                         IGNORED)
        if mismatches:
            raise refuse(bundle.folder, f"record {named} disagrees with its recomputation from the matrices "
                                        f"({mismatches[0]}, contribution != here)")
        largest = max(largest, difference)
    return largest


def verified_records(bundle: Bundle, local: LocalSuite) -> tuple[list[Record], float]:
    """The contribution's records as recomputed here, each with the contributor's provenance (versions, device,
    time) and, on a failed record, its message (which names the contributor's plugin), and the largest float
    difference from its own; a ``Refused`` where it is not comparable or disagrees."""
    check_comparable(bundle, local)
    recomputed = recompute(bundle, local)
    largest = check_agrees(bundle, recomputed)
    theirs = {record_key(r.model_dump(mode="json")): r for r in bundle.records}
    verified = []
    for record in recomputed:
        own = theirs[record_key(record.model_dump(mode="json"))]
        error = None if own.error is None else one_line(own.error)[:MAX_ERROR]
        verified.append(record.model_copy(update={"provenance": own.provenance,
                                                  **({"error": error} if record.status == "failed" else {})}))
    return verified, largest


@dataclass(frozen=True)
class Reextraction:
    """Photos of a contribution run again through its model here, and how far their matrices lie from its."""

    photos: int
    design: str
    largest_difference: float
    layer: str


REEXTRACTION_TOLERANCE = 1e-4
"""How far a re-extracted correlation may lie from the contributed one on another machine (float32 activations)."""


def reextract(bundle: Bundle, local: LocalSuite, images: int, seed: int = 0) -> Reextraction | str:
    """Run ``images`` photos (a seeded choice from the first design whose groups hold one photo per row) through the
    contributed model here and compare their correlations (the contribution's rows and columns of those photos,
    layer by layer); a one-line reason where the model cannot be loaded here or no design allows it."""
    model_inputs = bundle.manifest.model
    name, items = model_inputs.name, local.items
    if name not in items.registry.vision:
        return f"{name} cannot be loaded here (it is not registered: install its plugin to re-extract its photos)"
    model = items.guarded_load("vision", name, device=items.settings.device)
    if model is None:
        return f"{name} cannot be loaded here: {items.problems[-1].error}"
    if model.weights_hash != model_inputs.weights_hash:
        return f"{name} loads other weights here ({model.weights_hash}) than it was contributed with " \
               f"({model_inputs.weights_hash}): its matrices cannot be re-extracted"
    data = next((d for d in local.prepared.designs if all(len(set(g.concept_ids)) == len(g.images)
                                                         for g in d.groups)), None)
    if data is None:
        return "no design of this suite has groups of one photo per concept: nothing can be re-extracted alone"
    group = data.groups[0]
    picks = np.sort(np.random.default_rng(seed).choice(len(group.images), size=min(images, len(group.images)),
                                                      replace=False))
    contributed = bundle.extractions[data.design.name][0].matrices
    fresh = extract_group(model, [local.prepared.source.read(group.images[i]) for i in picks],
                          [layer for layer in model_inputs.layers if layer in contributed])
    differences = {layer: float(np.abs(matrix - contributed[layer][np.ix_(picks, picks)]).max(initial=0.0))
                   for layer, matrix in fresh.matrices.items()}
    layer = max(differences, key=lambda key: differences[key])
    return Reextraction(len(picks), data.design.name, differences[layer], layer)
