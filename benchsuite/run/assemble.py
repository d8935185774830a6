"""One vision model's records on one design, assembled from its groups' layer matrices: every (layer, text
model, metric) score, the 1 vs 2 test and the held-out headline. Each failure fails its own records alone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchsuite.contract.errors import PluginDataError, describe_error, one_line
from benchsuite.contract.schemas import Concept, VisionModelMeta
from benchsuite.extraction.layers import GroupExtraction
from benchsuite.inference.heldout import N_BOOTSTRAP, N_SPLITS, Calibration, headline, resampling_key
from benchsuite.inference.pooled import Score, one_vs_two_inputs, score_one_vs_two
from benchsuite.inputs.concepts import ImageGroup
from benchsuite.metrics.backend import one_blas_thread
from benchsuite.results.records import HEADLINE_METRIC, ONE_VS_TWO, Provenance, Record, Summary
from benchsuite.results.timings import TIMINGS
from benchsuite.run.executors import Executor
from benchsuite.run.items import Items, Statistic
from benchsuite.run.keys import provenance
from benchsuite.run.prepare import DesignData
from benchsuite.run.scoring import ScoreTask
from benchsuite.run.text import TextModel

IMAGENET_CLASSES = 1000


class RecordFactory:
    """The one way a record is built: the model's and design's fields, the text model's provenance and drift."""

    def __init__(self, items: Items, meta: VisionModelMeta, weights_hash: str, data: DesignData,
                 all_layers: list[str]):
        self.all_layers = all_layers
        self.base = {"suite": items.suite.name, "design": data.design.name, "vision": meta.name,
                     "n_layers": len(all_layers), "n_images": sum(len(g.images) for g in data.groups),
                     "role": meta.role, "twin": meta.twin}
        self.items, self.meta, self.weights_hash = items, meta, weights_hash
        self.provenance: dict[str, Provenance] = {}

    def __call__(self, text: TextModel, layer: str | None, metric: str, **fields: Any) -> Record:
        if text.name not in self.provenance:
            self.provenance[text.name] = provenance(self.items, self.meta, self.weights_hash, text)
        drift = text.meta.cpu_drift.get(metric, 0.0) if text.meta is not None else 0.0
        depth = None if layer is None else self.all_layers.index(layer)
        return Record(**{**self.base, **fields}, text=text.name, layer=layer, depth=depth, metric=metric,
                      cpu_drift=drift, provenance=self.provenance[text.name])


@dataclass
class ModelOnDesign:
    """What a model's records on one design are made of."""

    meta: VisionModelMeta
    owner: str | None  # the plugin that registered the model
    text_models: list[TextModel]
    data: DesignData
    extractions: list[GroupExtraction]
    make: RecordFactory
    layers: list[str]  # the layers with a matrix in every group
    failures: dict[str, str]  # layer -> why the model broke it

    def matrices(self, layer: str, text: TextModel) -> list[np.ndarray]:
        """The layer's matrix per group, over the concepts ``text`` is scored on."""
        rows = self.data.text_rows.get(text.name)
        return [e.matrices[layer] if rows is None else e.matrices[layer][np.ix_(rows, rows)] for e in self.extractions]

    def concept_ids(self, text: TextModel) -> list[str]:
        rows = self.data.text_rows.get(text.name)
        ids = [c.id for c in self.data.selection.chosen]
        return ids if rows is None else [ids[i] for i in rows]


def assemble(items: Items, executor: Executor, meta: VisionModelMeta, weights_hash: str, model_layers: Sequence[str],
             text_models: list[TextModel], data: DesignData, extractions: list[GroupExtraction],
             candidates: list[Concept]) -> list[Record]:
    """Every record of one model on one design from its groups' extractions."""
    failures = layer_failures(data.groups, extractions)
    all_layers = [layer for layer in model_layers if layer in extractions[0].matrices or layer in failures]
    work = ModelOnDesign(meta=meta, owner=items.owner("vision", meta.name), text_models=text_models, data=data,
                         extractions=extractions, make=RecordFactory(items, meta, weights_hash, data, all_layers),
                         layers=[layer for layer in all_layers if layer not in failures], failures=failures)
    statistics = items.loaded_metrics()
    metrics = list(statistics)
    records = failed_layer_records(work, metrics)
    scores = score_metrics(items, executor, work, statistics)
    records.extend(metric_records(items, work, metrics, scores))
    if extractions[0].predictions is not None and data.design.aggregate == "groups" and work.layers:
        with TIMINGS("1 vs 2 test"), one_blas_thread():
            records.extend(one_vs_two_records(items, work, candidates))
    summarised = [m for m in metrics if items.registry.metrics[m].heldout_summary]
    with TIMINGS("held-out summaries"), one_blas_thread():  # small products: one thread is cheaper
        for metric in summarised:
            records.extend(summary_records(items, work, records, metric, scores))
    return records


def layer_failures(groups: Sequence[ImageGroup], extractions: Sequence[GroupExtraction]) -> dict[str, str]:
    """Each layer the model broke in any group, and where first."""
    failures: dict[str, str] = {}
    for group, extraction in zip(groups, extractions, strict=True):
        for layer, failure in extraction.failures.items():
            where = "" if failure.image is None else f" at image {group.images[failure.image].id}"
            failures.setdefault(layer, f"{failure.reason}{where} (group {group.index})")
    return failures


def failed_layer_records(work: ModelOnDesign, metrics: list[str]) -> list[Record]:
    """A failed record per metric and text model for each layer the model broke."""
    return [work.make(text, layer, metric, n_concepts=len(work.data.selection.chosen), status="failed",
                      error=one_line(f"vision model {work.meta.name!r} (plugin {work.owner!r}) broke layer "
                                     f"{layer!r}: {work.failures[layer]}"))
            for layer in work.make.all_layers if layer in work.failures
            for text in work.text_models for metric in metrics]


def score_metrics(items: Items, executor: Executor, work: ModelOnDesign,
                  statistics: Mapping[str, Statistic]) -> dict[tuple[str, str, str], Score]:
    """Every (layer, text model, metric) score, one executor task per (text model, metric) over all layers."""
    steps = [(text, metric) for text in work.text_models for metric in statistics]
    settings = items.settings
    layers = {text.name: [work.matrices(layer, text) for layer in work.layers] for text in work.text_models}
    tasks = [ScoreTask(layers=layers[text.name],
                       text_matrix=work.data.text_matrices[text.name], metric=metric,
                       statistic=statistics[metric], n_permutations=settings.permutations,
                       seed=settings.seed, device=settings.device,
                       higher_is_better=items.registry.metrics[metric].higher_is_better)
             for text, metric in steps]
    scored = executor.score(tasks, desc=f"{work.meta.name} metrics", progress=items.options.progress)
    return {(layer, text.name, metric): score for (text, metric), scores in zip(steps, scored, strict=True)
            for layer, score in zip(work.layers, scores, strict=True)}


def metric_records(items: Items, work: ModelOnDesign, metrics: list[str],
                   scores: Mapping[tuple[str, str, str], Score]) -> list[Record]:
    """A record per (layer, text model, metric) score, naming the metric's plugin where it failed."""
    records = []
    chosen = work.data.selection.chosen
    for layer in work.layers:
        excluded = excluded_concepts([e.matrices[layer] for e in work.extractions], work.data.groups, chosen)
        for text in work.text_models:
            compared = set(work.concept_ids(text))
            dropped = {cid: why for cid, why in excluded.items() if cid in compared}
            scope = "suite" if text.name not in work.data.text_rows else "text_model"
            for metric in metrics:
                score = scores[(layer, text.name, metric)]
                metric_meta = items.registry.metrics[metric]
                error = None if score.error is None else one_line(
                    f"metric {metric!r} (plugin {items.owner('metrics', metric)!r}) on {work.meta.name} layer "
                    f"{layer!r} vs {text.name}: {score.error}")
                records.append(work.make(
                    text, layer, metric, n_concepts=len(compared) - len(dropped),
                    value=None if error else score.value, groups=[] if error else score.groups,
                    p_value=score.p_value, chance=metric_meta.chance, higher_is_better=metric_meta.higher_is_better,
                    status="failed" if error else "ok", error=error, excluded=dropped, concept_scope=scope))
    return records


def summary_records(items: Items, work: ModelOnDesign, records: list[Record], metric: str,
                    scores: Mapping[tuple[str, str, str], Score]) -> list[Record]:
    """Per text model, the held-out headline with its interval, bootstrap draws and family-wise p
    (docs/methods.md), from the layers whose ``metric`` record is ok; a failure fails that record alone.
    The family-wise p reuses those records' permutation nulls."""
    scored = {(r.layer, r.text): r for r in records if r.metric == metric and r.status == "ok"}
    summaries = []
    for text in work.text_models:
        usable = [layer for layer in work.layers if (layer, text.name) in scored]
        if not usable:
            continue
        first = scored[(usable[0], text.name)]
        fields = {"n_concepts": first.n_concepts, "chance": 0.5, "concept_scope": first.concept_scope}
        try:
            found = headline([work.matrices(layer, text) for layer in usable], work.data.text_matrices[text.name],
                             seed=items.settings.seed, n_permutations=items.settings.permutations,
                             device=items.settings.device,
                             layer_p_values=[scored[(layer, text.name)].p_value for layer in usable],
                             layer_nulls=layer_nulls([scores[(layer, text.name, metric)] for layer in usable]))
        except Exception as error:  # a failed summary must not lose the model's layer records
            summaries.append(work.make(text, None, HEADLINE_METRIC, **fields, status="failed", error=one_line(
                f"held-out 2 vs 2 summary of {work.meta.name} vs {text.name}: {describe_error(error)}")))
            continue
        summaries.append(headline_record(items, work, text, usable, found, fields))
    return summaries


def layer_nulls(scores: Sequence[Score]) -> list[np.ndarray] | None:
    """The layers' permutation nulls, which the family-wise p reuses; None without permutations."""
    nulls = [score.null for score in scores]
    return None if any(null is None for null in nulls) else [null for null in nulls if null is not None]


def headline_record(items: Items, work: ModelOnDesign, text: TextModel, usable: list[str], found: Any,
                    fields: dict[str, Any]) -> Record:
    """The summary record of one held-out headline (``inference.heldout.headline``)."""
    best = usable[found.best_layer]
    ids = work.concept_ids(text)
    summary = Summary(best_value=float(found.layer_values[found.best_layer]), n_splits=N_SPLITS,
                      selected={layer: round(float(share), 4) for layer, share
                                in zip(usable, found.selected, strict=True) if share > 0},
                      n_bootstrap=N_BOOTSTRAP, spread_factor=found.spread_factor,
                      resampling=resampling_key(ids, len(work.extractions), N_BOOTSTRAP, items.settings.seed),
                      draws=[round(float(d), 6) if np.isfinite(d) else None for d in found.draws],
                      permutations_used=found.permutations_used,
                      **calibration_fields(found.calibration))
    return work.make(text, best, HEADLINE_METRIC, **fields, p_value=found.familywise_p,
                     value=found.heldout if np.isfinite(found.heldout) else None,
                     interval=list(found.interval) if np.isfinite(found.interval).all() else None, summary=summary)


def calibration_fields(calibration: Calibration | None) -> dict[str, list[list[float]]]:
    """A headline's calibration scores as the summary stores them (to 6 decimals, as the draws)."""
    if calibration is None:
        return {}
    return {"calibration": [[round(float(s), 6) for s in row] for row in calibration.scores]}


def one_vs_two_records(items: Items, work: ModelOnDesign, candidates: list[Concept]) -> list[Record]:
    """The paper's 1 vs 2 test per (layer, text model); bad predictions fail these records alone."""
    by_id = {c.id: c for c in work.data.selection.chosen}
    true = [np.array([-1 if (index := by_id[cid].imagenet_index) is None else index for cid in g.concept_ids])
            for g in work.data.groups]
    if any((t < 0).any() for t in true):
        return []
    records = []
    bad = prediction_problem(work.extractions, work.data.groups)
    n_concepts = len(work.data.selection.chosen)
    for text in work.text_models:
        class_vectors = {c.imagenet_index: text.vectors[c.id] for c in candidates
                         if c.imagenet_index is not None and c.id in text.vectors}
        for layer in work.layers:
            try:
                if bad is not None:
                    raise PluginDataError(bad)
                per_group = [one_vs_two_inputs(e.matrices[layer], t, np.asarray(e.predictions), class_vectors)
                             for e, t in zip(work.extractions, true, strict=True)]
                scored = score_one_vs_two(per_group, n_permutations=items.settings.permutations,
                                          seed=items.settings.seed, device=items.settings.device)
            except Exception as error:  # the 1 vs 2 test fails alone; the other metrics keep their records
                records.append(work.make(text, layer, ONE_VS_TWO, chance=0.5, n_concepts=n_concepts, status="failed",
                                         error=one_line(f"1 vs 2 test on {work.meta.name} layer {layer!r} vs "
                                                        f"{text.name}: {describe_error(error)}")))
                continue
            if scored is not None:
                score, n_images = scored
                records.append(work.make(text, layer, ONE_VS_TWO, chance=0.5, n_concepts=n_concepts,
                                         n_images=n_images, value=score.value, groups=score.groups,
                                         p_value=score.p_value))
    return records


def excluded_concepts(matrices: Sequence[np.ndarray], groups: Sequence[ImageGroup],
                      concepts: Sequence[Concept]) -> dict[str, str]:
    """Concepts with constant activations (NaN rows) in any group's layer matrix, and why (image, group)."""
    excluded: dict[str, str] = {}
    for matrix, group in zip(matrices, groups, strict=True):
        if len(group.images) == len(concepts):
            images = {cid: im.id for cid, im in zip(group.concept_ids, group.images, strict=True)}
        else:
            images = {}
        for row in np.flatnonzero(np.isnan(matrix).all(axis=1)):
            cid = concepts[int(row)].id
            where = f"image {images[cid]}, group {group.index}" if cid in images else f"group {group.index}"
            excluded.setdefault(cid, f"constant activations ({where}): no correlation defined; left out of this "
                                     "layer's tests")
    return excluded


def prediction_problem(extractions: Sequence[GroupExtraction], groups: Sequence[ImageGroup]) -> str | None:
    """Why a model's top-1 predictions cannot be used (wrong count, not ImageNet-1k indices), or None."""
    for extraction, group in zip(extractions, groups, strict=True):
        predictions = np.asarray(extraction.predictions)
        if predictions.shape != (len(group.images),):
            return f"forward returned {predictions.size} predictions for {len(group.images)} images"
        if predictions.size and (predictions.min() < 0 or predictions.max() >= IMAGENET_CLASSES):
            return (f"forward returned predictions outside 0..{IMAGENET_CLASSES - 1} (e.g. {int(predictions.max())}); "
                    "predictions must be ImageNet-1k indices")
    return None
