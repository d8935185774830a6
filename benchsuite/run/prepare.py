"""Before any vision model runs: the concept set and photos, the text models, and per design its concepts, image
groups and text matrices, with the concepts inventory a run writes beside its results."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchsuite.contract.errors import BenchsuiteError, PluginDataError, describe_error
from benchsuite.contract.schemas import Concept, ImageRecord
from benchsuite.inputs.concepts import (
    ConceptSelection,
    ImageGroup,
    filter_readable,
    images_by_concept,
    make_groups,
    select_concepts,
)
from benchsuite.inputs.suites import Design
from benchsuite.results.timings import TIMINGS
from benchsuite.run.items import Items
from benchsuite.run.text import TextModel, load_text_models, text_matrix

log = logging.getLogger("benchsuite")
MIN_CONCEPTS = 4


@dataclass
class DesignData:
    design: Design
    selection: ConceptSelection
    groups: list[ImageGroup]
    text_matrices: dict[str, np.ndarray]
    text_rows: dict[str, np.ndarray] = field(default_factory=dict)  # extra text model -> its concepts' positions


@dataclass
class Prepared:
    """What every vision model of a run is scored against."""

    source: Any  # the loaded image source
    candidates: list[Concept]  # the concept set's candidates (1 vs 2: the predicted classes' vectors)
    text_models: list[TextModel]
    designs: list[DesignData]
    inventory: dict[str, Any]  # concepts-<suite>.json: what was chosen, dropped and why


def prepare(items: Items) -> Prepared:
    """Load the concept set, image source and text models; choose each design's concepts and groups."""
    suite = items.suite
    concept_set = items.registry.concepts[suite.concepts].load(**items.item_options(suite.concepts))
    source = items.registry.images[suite.images].load(**items.item_options(suite.images))
    candidates = list(concept_set.concepts())
    with TIMINGS("photos and concepts"):
        images = list(source.images())
        readable, unreadable = filter_readable(source, images)
    with TIMINGS("text models"):
        text_models = load_text_models(items, candidates)
    # The suite's concept rule runs over its declared text models only: an extra model (--text) never
    # shrinks their concepts; it is scored on its own intersection with them.
    covered = {m.name: set(m.vectors) for m in text_models if m.declared}
    designs = [design_data(items, design, candidates, readable, covered) for design in suite.designs]
    with TIMINGS("text models"):
        for model in text_models:
            add_text_matrices(items, model, designs)
    text_models = [m for m in text_models if all(m.name in d.text_matrices for d in designs)]
    inventory = concepts_inventory(items, len(images), unreadable, text_models, designs)
    return Prepared(source, candidates, text_models, designs, inventory)


def design_data(items: Items, design: Design, candidates: list[Concept], readable: list[ImageRecord],
                covered: Mapping[str, set[str]]) -> DesignData:
    """A design's concepts (the suite's concept rule) and image groups; too few concepts stop the run."""
    selection = select_concepts(candidates, readable, covered, min_images=design.required_images)
    warn_sole_droppers(design, candidates, readable, covered)
    needed, why = required_concepts(items)
    if len(selection.chosen) < needed:
        raise BenchsuiteError(
            f"design {design.name!r} of suite {items.suite.name!r} keeps only {len(selection.chosen)} concepts "
            f"(at least {needed} are needed{why}); provide more images or text models with wider coverage"
        )
    if design.aggregate == "concept_mean":
        groups = [pooled_group(selection.chosen, readable)]
    else:
        groups = make_groups(selection.chosen, readable, n_groups=design.groups, seed=items.settings.seed)
    return DesignData(design, selection, groups, {})


def required_concepts(items: Items) -> tuple[int, str]:
    """The concepts a design needs, and why: ``MIN_CONCEPTS`` for a 2 vs 2 test, twice that where a metric of
    the run gets the held-out headline, which scores each half of the concepts alone."""
    metrics = items.registry.metrics
    if any(metrics[m].heldout_summary for m in items.settings.metrics if m in metrics):
        return 2 * MIN_CONCEPTS, f": the held-out headline scores each half of them alone, {MIN_CONCEPTS} at least"
    return MIN_CONCEPTS, ""


def add_text_matrices(items: Items, model: TextModel, designs: list[DesignData]) -> None:
    """The text model's matrix for every design (extra models: over the concepts they cover); fails it alone."""
    try:
        for data in designs:
            chosen = data.selection.chosen
            rows = np.array([i for i, c in enumerate(chosen) if c.id in model.vectors], dtype=np.int64)
            if not model.declared and len(rows) < len(chosen):
                log.warning("design %r: extra text model %r covers %d of the %d concepts; it is scored on "
                            "those alone (concept_scope text_model in its records)", data.design.name,
                            model.name, len(rows), len(chosen))
                data.text_rows[model.name] = rows
            if len(rows) < MIN_CONCEPTS:
                raise PluginDataError(f"text model {model.name!r} covers {len(rows)} of the "
                                      f"{len(chosen)} concepts of design {data.design.name!r}; 4 are needed")
            data.text_matrices[model.name] = text_matrix(model, [chosen[i] for i in rows], items.options.cache)
    except Exception as error:  # bad vectors, changing coverage: this text model fails, the rest go on
        items.fail_item("text", model.name, describe_error(error))
        for data in designs:
            data.text_matrices.pop(model.name, None)
            data.text_rows.pop(model.name, None)


def concepts_inventory(items: Items, n_images: int, unreadable: dict[str, str], text_models: list[TextModel],
                       designs: list[DesignData]) -> dict[str, Any]:
    """The concepts-<suite>.json document: photos read, text models' coverage, each design's choices."""
    return {
        "suite": items.suite.name,
        "images_source": items.suite.images,
        "images_total": n_images,
        "images_unreadable": unreadable,
        "text_models": {m.name: {"fingerprint": m.fingerprint, "coverage": len(m.vectors),
                                 "matched_by_mean": sorted(c for c, h in m.how.items() if h == "mean")}
                        for m in text_models},
        "designs": {
            d.design.name: {
                "groups": d.design.groups,
                "aggregate": d.design.aggregate,
                "chosen": [c.id for c in d.selection.chosen],
                "names": {c.id: c.names[0] for c in d.selection.chosen},
                "dropped": d.selection.dropped,
                "group_images": [[im.id for im in g.images] for g in d.groups],
            }
            for d in designs
        },
    }


def warn_sole_droppers(design: Design, candidates: Sequence[Concept], images: Sequence[ImageRecord],
                       covered: Mapping[str, set[str]]) -> dict[str, int]:
    """Say on the console how many concepts with photos each declared text model alone removes for everyone."""
    photos = images_by_concept(candidates, images)
    alone: dict[str, int] = {}
    for concept in candidates:
        missing = [model for model, ids in covered.items() if concept.id not in ids]
        if len(missing) == 1 and len(photos[concept.id]) >= design.required_images:
            alone[missing[0]] = alone.get(missing[0], 0) + 1
    for model, count in sorted(alone.items()):
        log.warning("design %r: text model %r alone lacks a vector for %d concept(s) that have photos; the "
                    "suite's concept rule drops them for every text model (see the concepts inventory)",
                    design.name, model, count)
    return alone


def pooled_group(concepts: Sequence[Concept], images: Sequence[ImageRecord]) -> ImageGroup:
    """Every photo of every concept in one group, concept by concept (the concept-mean design)."""
    wanted = {c.id for c in concepts}
    order = {c.id: i for i, c in enumerate(concepts)}
    pooled = sorted((im for im in images if im.concept_id in wanted), key=lambda im: (order[im.concept_id], im.id))
    return ImageGroup(index=0, concept_ids=tuple(im.concept_id for im in pooled), images=tuple(pooled))
