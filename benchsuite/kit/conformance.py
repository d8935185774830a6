"""Conformance checks: does one registered item honour the plugin contract on a tiny input?

``benchsuite check NAME`` and ``benchsuite.testing.parametrize_with_checks`` run
these. Each check gives one ``CheckResult``; an item whose resources are missing
(``ResourceMissing`` at load) is "skipped" with the reason, never "failed".
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from benchsuite.contract.errors import ResourceMissing, UnknownPlugin
from benchsuite.contract.manager import ALLOWLIST_ENV, KINDS, Registry
from benchsuite.contract.schemas import Concept, ConceptVector, ImageRecord, PluginItemMeta
from benchsuite.extraction.batches import check_rgb_uint8

Status = Literal["passed", "failed", "skipped"]

HEAVY_MODULES = ("torch", "keras", "tensorflow", "jax", "gensim", "sentence_transformers", "transformers")
"""Frameworks that registration (``benchsuite list``) must never import; nor the packages an item declares."""

NO_OPTION = ("device", "weights")
"""Loader options the fingerprint check never varies: ``device`` changes no numbers, ``weights`` needs a file."""

TEST_CONCEPTS = (
    Concept(id="c_dog", names=("dog", "domestic dog")),
    Concept(id="c_cat", names=("tabby", "tabby cat")),
    Concept(id="c_ice_cream", names=("ice cream", "icecream")),
    Concept(id="c_car", names=("sports car", "car")),
    Concept(id="c_apple", names=("apple",)),
    Concept(id="c_nonword", names=("qzxvbrt",)),
)
"""A handful of concepts: single words, synonyms, phrases and a name no model should cover."""


@dataclass(frozen=True)
class CheckResult:
    """One check of one item: passed, failed or skipped, and why."""

    item: str
    check: str
    status: Status
    detail: str = ""

    def summary(self) -> str:
        return f"{self.item}: {self.check}" + (f" ({self.detail})" if self.detail else "")

    def line(self) -> str:
        return f"{self.status:<7} {self.summary()}"


class CheckFailed(Exception):
    """A contract violation, with a message naming what to fix."""


class CheckSkipped(Exception):
    """A check that cannot run here (e.g. no option to vary)."""


def tiny_images(count: int = 4, seed: int = 0) -> list[np.ndarray]:
    """Small RGB uint8 images of different sizes, seeded: a cheap input any vision model must accept."""
    rng = np.random.default_rng(seed)
    shapes = [(40, 48), (64, 64), (37, 53), (50, 50), (72, 30), (45, 45)]
    return [rng.integers(0, 256, (*shapes[i % len(shapes)], 3), dtype=np.uint8) for i in range(count)]


def unrelated_matrices(k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two unrelated k×k correlation matrices of random data."""
    rng = np.random.default_rng(seed)
    return np.asarray(np.corrcoef(rng.normal(size=(k, 20)))), np.asarray(np.corrcoef(rng.normal(size=(k, 20))))


def split_kind(name: str) -> tuple[str, str]:
    """(kind, item name) of ``KIND:NAME``; ("", name) when ``name`` does not start with a kind (``timm:x`` is a
    model source's name, ``vision:timm:x`` that name with its kind)."""
    head, colon, rest = name.partition(":")
    return (head, rest) if colon and head in KINDS else ("", name)


def find_item(registry: Registry, name: str) -> tuple[str, PluginItemMeta]:
    """(kind, metadata) of the item called ``name``, or ``kind:name``; unknown or ambiguous names are errors."""
    kind, bare = split_kind(name)
    kinds = [kind] if kind else list(KINDS)
    found = [k for k in kinds if bare in registry[k]]
    if not found:
        missing = [registry[k].missing[bare] for k in kinds if bare in registry[k].missing]
        if missing:
            raise UnknownPlugin(f"{bare!r}: {'; '.join(dict.fromkeys(missing))}")
        raise UnknownPlugin(f"no registered item named {bare!r}; `benchsuite list` shows what is registered")
    if len(found) > 1:
        raise UnknownPlugin(f"{bare!r} names items of several kinds ({', '.join(found)}); "
                            f"write KIND:NAME, e.g. {found[0]}:{bare}")
    return found[0], registry[found[0]][bare]


def registration_problem(registry: Registry, name: str) -> CheckResult | None:
    """A failed "registers" result when the plugin registered ``name`` but the record was refused (invalid, twice)
    or its model source could not resolve it."""
    kind, bare = split_kind(name)
    for candidate in [kind] if kind else list(KINDS):
        message = registry.problem(candidate, bare)
        if message:
            return CheckResult(f"{candidate} {bare}", "registers", "failed", message)
    return None


def accepted_options(meta: PluginItemMeta) -> dict[str, inspect.Parameter]:
    """The loader's keyword parameters (empty when it takes ``**options`` only)."""
    return {
        name: p for name, p in inspect.signature(meta.loader).parameters.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


def load_options(meta: PluginItemMeta, options: Mapping[str, Any]) -> dict[str, Any]:
    """What the runner passes: the given options, plus ``device="cpu"`` where the loader accepts it."""
    parameters = inspect.signature(meta.loader).parameters.values()
    merged = dict(options)
    if "device" in accepted_options(meta) or any(p.kind is p.VAR_KEYWORD for p in parameters):
        merged.setdefault("device", "cpu")
    return merged


def option_variants(meta: PluginItemMeta, options: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One changed copy of ``options`` per bool (flipped) or int (plus one) loader option."""
    variants = []
    for name, parameter in accepted_options(meta).items():
        if name in NO_OPTION or name.startswith("_"):
            continue
        value = options.get(name, parameter.default)
        if isinstance(value, bool):
            variants.append({**options, name: not value})
        elif isinstance(value, int):
            variants.append({**options, name: value + 1})
    return variants


@functools.cache
def registration_imports(plugin: str, heavy: tuple[str, ...] = HEAVY_MODULES) -> tuple[str, ...]:
    """Heavy modules imported by registering the items of ``plugin`` alone, in a fresh interpreter."""
    code = (
        "import sys, json; from benchsuite.contract.manager import Registry; Registry(); "
        f"print(json.dumps([m for m in {heavy!r} if m in sys.modules]))"
    )
    env = {**os.environ, ALLOWLIST_ENV: plugin, "PYTHONPATH": os.pathsep.join(sys.path)}  # this process's plugins
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    if done.returncode != 0:
        raise CheckFailed(f"registering plugin {plugin!r} alone fails: {done.stderr.strip().splitlines()[-1:]}")
    return tuple(json.loads(done.stdout.strip().splitlines()[-1]))


# -- vision ----------------------------------------------------------------------------------------------------


def run_vision(model: Any, images: Sequence[np.ndarray], layers: Sequence[str]) -> tuple[list[tuple[str, Any]], Any]:
    """Every ``on_layer`` call of one forward pass, in order, and its return value."""
    calls: list[tuple[str, Any]] = []
    top1 = model.forward(model.preprocess(images), list(layers), lambda name, rows: calls.append((name, rows)))
    return calls, top1


def check_layers(meta: Any, model: Any) -> str:
    if tuple(model.layers) != tuple(meta.layers):
        raise CheckFailed(f"loaded layers {tuple(model.layers)} differ from the registered {tuple(meta.layers)}")
    return f"{len(meta.layers)} layers"


def check_forward(meta: Any, calls: list[tuple[str, Any]], n_images: int) -> str:
    names = [name for name, _ in calls]
    if names != list(meta.layers):
        raise CheckFailed(f"on_layer was called for {names}; expected each of {list(meta.layers)} once, in order")
    for name, rows in calls:
        rows = np.asarray(rows)
        if rows.ndim < 2 or rows.shape[0] != n_images:
            raise CheckFailed(f"layer {name!r} gave shape {rows.shape}; expected ({n_images}, ...) for the batch")
        if not np.issubdtype(rows.dtype, np.number) or not np.isfinite(rows).all():
            raise CheckFailed(f"layer {name!r} has non-finite or non-numeric activations ({rows.dtype})")
    return f"{n_images} images of different sizes, shapes " + ", ".join(
        str(tuple(np.shape(r))[1:]) for _, r in calls[:3]) + (" ..." if len(calls) > 3 else "")


def check_predictions(meta: Any, top1: Any, n_images: int) -> str:
    if not meta.predicts_imagenet:
        if top1 is not None:
            raise CheckFailed("forward returned predictions but predicts_imagenet=False: register "
                              "predicts_imagenet=True (enables the 1 vs 2 test) or return None")
        return "returns None (predicts_imagenet=False)"
    if top1 is None:
        raise CheckFailed("predicts_imagenet=True but forward returned None: return top-1 ImageNet-1k indices")
    top1 = np.asarray(top1)
    if top1.shape != (n_images,) or not np.issubdtype(top1.dtype, np.integer):
        raise CheckFailed(f"predictions have shape {top1.shape}, dtype {top1.dtype}; expected ({n_images},) integers")
    if top1.min() < 0 or top1.max() >= 1000:
        raise CheckFailed(f"predictions {top1.tolist()} fall outside the ImageNet-1k indices [0, 1000)")
    return f"top-1 indices {top1.tolist()}"


def same_numbers(first: list[tuple[str, Any]], second: list[tuple[str, Any]]) -> bool:
    return [n for n, _ in first] == [n for n, _ in second] and all(
        np.allclose(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), rtol=1e-5, atol=1e-6)
        for (_, a), (_, b) in zip(first, second, strict=True)
    )


def vision_checks(meta: Any, model: Any, reload: Callable[[dict[str, Any]], Any],
                  options: dict[str, Any]) -> Iterator[tuple[str, Callable[[], str]]]:
    images = tiny_images()
    state: dict[str, Any] = {}

    def forward() -> str:
        state["calls"], state["top1"] = run_vision(model, images, meta.layers)
        return check_forward(meta, state["calls"], len(images))

    def repeat() -> str:
        again = reload(options)
        calls, _ = run_vision(again, images, meta.layers)
        if again.weights_hash != model.weights_hash:
            raise CheckFailed(f"weights_hash differs between two loads: {model.weights_hash!r}, {again.weights_hash!r}")
        if not same_numbers(state["calls"], calls):
            raise CheckFailed("a second load with the same options (and seed) gives different activations")
        return f"weights_hash {model.weights_hash!r}"

    def options_change() -> str:
        return fingerprint_tracks_options(
            meta, options, reload, lambda m: run_vision(m, images, meta.layers)[0], lambda m: m.weights_hash,
            same_numbers, state["calls"], model.weights_hash)

    yield "layer order", lambda: check_layers(meta, model)
    yield "forward: shapes, finite activations", forward
    yield "predictions", lambda: check_predictions(meta, state["top1"], len(images))
    yield "same options and seed -> same numbers and weights_hash", repeat
    yield "weights_hash changes when an option changes the numbers", options_change


def fingerprint_tracks_options(meta: PluginItemMeta, options: dict[str, Any], reload: Callable[[dict[str, Any]], Any],
                               outputs: Callable[[Any], Any], fingerprint: Callable[[Any], str],
                               same: Callable[[Any, Any], bool], base_outputs: Any, base_fingerprint: str) -> str:
    """For each varied option: different numbers must come with a different fingerprint (caches are keyed on it)."""
    variants = option_variants(meta, options)
    if not variants:
        raise CheckSkipped("the loader has no bool or int option to vary")
    report = []
    for variant in variants:
        changed = {k: v for k, v in variant.items() if options.get(k) != v}
        try:
            loaded = reload(variant)
        except (ResourceMissing, ValueError, TypeError) as error:
            report.append(f"{changed}: not loadable ({error})")
            continue
        differs = not same(base_outputs, outputs(loaded))
        if differs and fingerprint(loaded) == base_fingerprint:
            raise CheckFailed(f"option {changed} changes the numbers but not the fingerprint {base_fingerprint!r}: "
                              "include the option in it, or cached results will be reused wrongly")
        report.append(f"{changed}: {'new numbers, new fingerprint' if differs else 'same numbers'}")
    return "; ".join(report)


# -- text ------------------------------------------------------------------------------------------------------


def normalised(text: str) -> str:
    return " ".join(text.lower().replace("_", " ").replace("-", " ").split())


def check_embedded(meta: Any, embedded: Any, concepts: Sequence[Concept]) -> str:
    if not isinstance(embedded, Mapping):
        raise CheckFailed(f"embed returned {type(embedded).__name__}; expected a mapping concept id -> ConceptVector")
    by_id = {c.id: c for c in concepts}
    unknown = sorted(set(embedded) - set(by_id))
    if unknown:
        raise CheckFailed(f"embed returned vectors for ids it was not given: {unknown}")
    if not embedded:
        raise CheckFailed(f"covers none of {[c.names[0] for c in concepts]}")
    matched = []
    for cid, found in embedded.items():
        if not isinstance(found, ConceptVector):
            raise CheckFailed(f"{cid}: got {type(found).__name__}; return ConceptVector(vector=, matched=, how=)")
        vector = np.asarray(found.vector)
        if vector.shape != (meta.dimension,):
            raise CheckFailed(f"{cid}: vector shape {vector.shape}, but the registered dimension is {meta.dimension}")
        if not np.isfinite(vector).all():
            raise CheckFailed(f"{cid}: the vector has non-finite values")
        if normalised(found.matched) not in {normalised(n) for n in by_id[cid].names}:
            raise CheckFailed(f"{cid}: matched {found.matched!r} is none of its names {by_id[cid].names}")
        matched.append(found.matched)
    if len(set(matched)) != len(matched):
        raise CheckFailed(f"two concepts share one matched text: {matched}")
    return f"{len(embedded)}/{len(concepts)} covered: " + ", ".join(
        f"{embedded[c].matched} ({embedded[c].how})" for c in embedded)


def text_fingerprint(model: Any) -> str:
    fingerprint = getattr(model, "fingerprint", None)
    if not isinstance(fingerprint, str) or not fingerprint:
        raise CheckFailed("the loaded model has no `fingerprint` string: add one naming the vectors' file digest "
                          "or package version and every option that changes them")
    return fingerprint


def same_vectors(first: Mapping[str, Any], second: Mapping[str, Any]) -> bool:
    """Whether every concept both cover has the same vector (coverage may differ)."""
    return all(np.allclose(first[c].vector, second[c].vector, rtol=1e-5, atol=1e-6) for c in set(first) & set(second))


def text_checks(meta: Any, model: Any, reload: Callable[[dict[str, Any]], Any],
                options: dict[str, Any]) -> Iterator[tuple[str, Callable[[], str]]]:
    state: dict[str, Any] = {}

    def embed() -> str:
        state["embedded"] = model.embed(list(TEST_CONCEPTS))
        return check_embedded(meta, state["embedded"], TEST_CONCEPTS)

    def repeat() -> str:
        again = reload(options)
        if text_fingerprint(again) != text_fingerprint(model):
            raise CheckFailed(f"fingerprint changed between two loads: {model.fingerprint!r} vs {again.fingerprint!r}")
        second = again.embed(list(TEST_CONCEPTS))
        if set(second) != set(state["embedded"]) or not same_vectors(second, state["embedded"]):
            raise CheckFailed("a second load with the same options gives different vectors or coverage")
        return f"fingerprint {model.fingerprint!r}"

    def options_change() -> str:
        return fingerprint_tracks_options(
            meta, options, reload, lambda m: m.embed(list(TEST_CONCEPTS)), text_fingerprint, same_vectors,
            state["embedded"], model.fingerprint)

    yield "fingerprint", lambda: text_fingerprint(model)
    yield "embed: covered concepts, declared dimension, finite vectors", embed
    yield "same options -> same vectors and fingerprint", repeat
    yield "fingerprint changes when an option changes the vectors", options_change


# -- images, concepts, metrics ---------------------------------------------------------------------------------


def check_image_records(records: Any) -> str:
    records = list(records)
    if not records:
        raise CheckFailed("images() returned no records")
    if not all(isinstance(r, ImageRecord) for r in records):
        raise CheckFailed("images() must return ImageRecord objects")
    ids = [r.id for r in records]
    if len(set(ids)) != len(ids):
        raise CheckFailed("image ids are not unique")
    absolute = [i for i in ids if i.startswith(("/", "\\")) or ":" in i[:3]]
    if absolute:
        raise CheckFailed(f"image ids must be stable across machines, not absolute paths: {absolute[:2]}")
    return f"{len(records)} images of {len({r.concept_id for r in records})} concepts"


def image_checks(meta: Any, source: Any, reload: Callable[[dict[str, Any]], Any],
                 options: dict[str, Any]) -> Iterator[tuple[str, Callable[[], str]]]:
    def read() -> str:
        records = list(source.images())[:3]
        shapes = [check_rgb_uint8(np.asarray(source.read(r))).shape for r in records]
        return f"read {shapes}"

    def repeat() -> str:
        again = reload(options)
        if [r.id for r in again.images()] != [r.id for r in source.images()]:
            raise CheckFailed("a second load lists different images or a different order")
        if getattr(again, "fingerprint", None) != getattr(source, "fingerprint", None):
            raise CheckFailed("fingerprint changed between two loads")
        return "same images, same fingerprint"

    def fingerprint() -> str:
        value = getattr(source, "fingerprint", None)
        if not isinstance(value, str) or not value:
            raise CheckFailed("the loaded source has no `fingerprint` string identifying its photos")
        return value[:60]

    yield "images(): unique, portable ids", lambda: check_image_records(source.images())
    yield "read(): RGB uint8 (H, W, 3)", read
    yield "fingerprint", fingerprint
    yield "same options -> same images and fingerprint", repeat


def check_concepts(concepts: Any) -> str:
    concepts = list(concepts)
    if not concepts or not all(isinstance(c, Concept) for c in concepts):
        raise CheckFailed("concepts() must return a non-empty list of Concept")
    ids = [c.id for c in concepts]
    if len(set(ids)) != len(ids):
        raise CheckFailed("concept ids are not unique")
    bad = [c.id for c in concepts if c.imagenet_index is not None and not 0 <= c.imagenet_index < 1000]
    if bad:
        raise CheckFailed(f"imagenet_index outside [0, 1000) for {bad[:3]}")
    return f"{len(concepts)} concepts, {sum(c.imagenet_index is not None for c in concepts)} with an ImageNet index"


def concept_checks(meta: Any, concept_set: Any, reload: Callable[[dict[str, Any]], Any],
                   options: dict[str, Any]) -> Iterator[tuple[str, Callable[[], str]]]:
    def repeat() -> str:
        if list(reload(options).concepts()) != list(concept_set.concepts()):
            raise CheckFailed("a second load gives other concepts or another order; the order must be stable")
        return "same concepts, same order"

    yield "concepts(): unique ids, valid ImageNet indices", lambda: check_concepts(concept_set.concepts())
    yield "same options -> same concepts in the same order", repeat


def metric_checks(meta: Any, statistic: Any, reload: Callable[[dict[str, Any]], Any],
                  options: dict[str, Any]) -> Iterator[tuple[str, Callable[[], str]]]:
    a, b = unrelated_matrices(12, seed=0)

    def value(x: np.ndarray, y: np.ndarray) -> float:
        result = statistic(x, y)
        if not isinstance(result, int | float | np.floating | np.integer) or not math.isfinite(result):
            raise CheckFailed(f"f(A, B) returned {result!r}; expected a finite float")
        return float(result)

    def finite() -> str:
        if not callable(statistic):
            raise CheckFailed(f"load() returned {type(statistic).__name__}; expected a function f(A, B) -> float")
        return f"f(A, B) = {value(a, b):.4f}"

    def repeat() -> str:
        if value(a, b) != value(a, b):
            raise CheckFailed("two calls on the same matrices give different values")
        return "same value"

    def symmetric() -> str:
        if not meta.symmetric:
            raise CheckSkipped("registered symmetric=False")
        if not math.isclose(value(a, b), value(b, a), rel_tol=1e-9, abs_tol=1e-12):
            raise CheckFailed(f"f(A, B) = {value(a, b)}, f(B, A) = {value(b, a)}; fix it or register symmetric=False")
        return "f(A, B) == f(B, A)"

    def direction() -> str:
        sign = 1 if meta.higher_is_better else -1
        same = value(a, a)
        unrelated = [value(*unrelated_matrices(12, seed)) for seed in range(1, 17)]
        if sign * same <= sign * max(unrelated, key=lambda v: sign * v):
            raise CheckFailed(f"f(A, A) = {same:.4f} does not beat unrelated pairs (best {max(unrelated):.4f}); "
                              f"check higher_is_better={meta.higher_is_better}")
        detail = f"f(A, A) = {same:.4f}, unrelated mean {np.mean(unrelated):.4f}"
        if meta.chance is not None and abs(np.mean(unrelated) - meta.chance) > 0.25:
            raise CheckFailed(f"unrelated matrices average {np.mean(unrelated):.4f}, far from chance={meta.chance}")
        return detail

    yield "f(A, B) is a finite float", finite
    yield "same matrices -> same value", repeat
    yield "symmetric as declared", symmetric
    yield "identical beats unrelated; unrelated near chance", direction


KIND_CHECKS = {"vision": vision_checks, "text": text_checks, "images": image_checks, "concepts": concept_checks,
               "metrics": metric_checks}


def run_check(item: str, check: str, run: Callable[[], str]) -> CheckResult:
    """One check, its exceptions turned into a failed (or skipped) result with a one-line reason."""
    try:
        return CheckResult(item, check, "passed", run())
    except CheckSkipped as reason:
        return CheckResult(item, check, "skipped", str(reason))
    except CheckFailed as reason:
        return CheckResult(item, check, "failed", str(reason))
    except Exception as error:  # a plugin that raises fails the check, with the error
        return CheckResult(item, check, "failed", f"{type(error).__name__}: {error}")


def check_item(name: str, options: Mapping[str, Any] | None = None, registry: Registry | None = None,
               registration: bool = True) -> list[CheckResult]:
    """Every conformance check of one item; stops after a failed or skipped load."""
    registry = registry if registry is not None else Registry()
    broken = registration_problem(registry, name)
    if broken is not None:
        return [broken]
    kind, meta = find_item(registry, name)
    label = f"{kind} {meta.name}"
    options = dict(options or {})
    results = []
    if registration:
        plugin = registry[kind].owners[meta.name]

        def cheap() -> str:
            declared = tuple(package.replace("-", "_") for package in getattr(meta, "packages", ()))
            heavy = registration_imports(plugin, tuple(dict.fromkeys(HEAVY_MODULES + declared)))
            if heavy:
                raise CheckFailed(f"registering plugin {plugin!r} imports {list(heavy)}; import them in the loader")
            return f"plugin {plugin!r} registers without importing one"

        results.append(run_check(label, "registration imports no framework", cheap))

    def reload(chosen: dict[str, Any]) -> Any:
        return meta.load(**load_options(meta, chosen))

    try:
        loaded = reload(options)
    except ResourceMissing as missing:
        return [*results, CheckResult(label, "loads", "skipped", str(missing))]
    except Exception as error:
        return [*results, CheckResult(label, "loads", "failed", f"{type(error).__name__}: {error}")]
    results.append(CheckResult(label, "loads", "passed", type(loaded).__name__))
    for check, run in KIND_CHECKS[kind](meta, loaded, reload, options):
        results.append(run_check(label, check, run))
    return results
