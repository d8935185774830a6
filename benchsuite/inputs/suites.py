"""Suites declared in ``registry.toml``: which plugins, data and designs a run uses."""

from __future__ import annotations

import datetime
import os
import tomllib
import typing
from collections.abc import Callable, Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from benchsuite.contract.errors import BenchsuiteError, describe_error
from benchsuite.contract.files import FileRefused, bounded_bytes
from benchsuite.contract.schemas import slug

if TYPE_CHECKING:
    from benchsuite.contract.manager import Registry

REGISTRY_FILE = "registry.toml"
MAX_REGISTRY_BYTES = 1 << 20  # a suites file is a few kB; a larger one is not a suites file
MAX_REGISTRY_NESTING = 12  # tables and arrays within each other; a suite's deepest option value is far shallower
MAX_DESIGNS = 50  # designs per suite: each is a whole pass of scoring
MAX_PERMUTATIONS = 100_000  # per test: p-values resolve to 1e-5; more only costs time


class Design(BaseModel):
    """How a suite's photos become k×k layer matrices.

    ``aggregate="groups"`` (the paper's): ``groups`` groups, each concept once per
    group, one matrix per group, scores averaged over groups. ``"concept_mean"``:
    one matrix from each concept's activations averaged over all of its photos
    (concepts need ``min_images`` photos; no spread over groups, no 1 vs 2 test).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    groups: int = Field(default=1, ge=1)
    aggregate: Literal["groups", "concept_mean"] = "groups"
    min_images: int | None = Field(default=None, ge=1)

    @property
    def required_images(self) -> int:
        """Photos a concept needs to take part in this design."""
        if self.min_images is not None:
            return self.min_images
        return self.groups if self.aggregate == "groups" else 1

    @model_validator(mode="after")
    def _one_group_for_means(self) -> Design:
        if self.aggregate == "concept_mean" and self.groups != 1:
            raise ValueError("a concept_mean design pools every photo into one matrix: leave groups at 1")
        return self


class Suite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    vision: list[str]
    text: list[str]
    images: str
    concepts: str
    metrics: list[str] = Field(min_length=1)
    permutations: int = Field(default=1000, ge=0, le=MAX_PERMUTATIONS)
    seed: int = 0
    designs: list[Design] = Field(min_length=1, max_length=MAX_DESIGNS)
    options: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def options_for(self, item: str) -> dict[str, Any]:
        return dict(self.options.get(item, {}))

    @model_validator(mode="after")
    def _design_files_distinct(self) -> Suite:
        clash = slug_clash(design.name for design in self.designs)
        if clash:
            raise ValueError(f"designs {clash}: rename one of them")
        return self


def slug_clash(names: Iterable[str]) -> str | None:
    """A description of the first two names that share a file name (``records.slug``), or of one with none."""
    seen: dict[str, str] = {}
    for name in names:
        key = slug(name)
        if not key:
            return f"{name!r} has no letters or digits, so it cannot name a results folder"
        if key in seen:
            return f"{seen[key]!r} and {name!r} share the file name {key!r} (records/<suite>/<design>/)"
        seen[key] = name
    return None


def default_registry_path() -> Path:
    """``./registry.toml`` when present, else the suites shipped with benchsuite (package data,
    ``benchsuite/inputs/data/registry.toml``), so an installed benchsuite runs from any folder."""
    local = Path.cwd() / REGISTRY_FILE
    if local.exists():
        return local
    return Path(str(resources.files("benchsuite.inputs.data").joinpath(REGISTRY_FILE)))


def load_suites(path: Path | str | None = None) -> dict[str, Suite]:
    """The suites declared in a suites file (default: ``default_registry_path()``), each validated."""
    path = Path(path) if path is not None else default_registry_path()
    raw = parsed_registry(path)
    suites: dict[str, Suite] = {}
    tables = raw.get("suites", {})
    if not isinstance(tables, dict):
        raise BenchsuiteError(f"{path}: suites must be tables [suites.<name>]")
    for name, body in tables.items():
        try:
            if not isinstance(body, dict):
                raise BenchsuiteError(f"suite {name!r} in {path} must be a table [suites.{name}]")
            suites[name] = Suite(name=name, **body)
        except ValidationError as error:
            raise BenchsuiteError(f"suite {name!r} in {path} is invalid: {describe_error(error)}") from None
    if not suites:
        raise BenchsuiteError(f"{path} declares no [suites.<name>] tables")
    clash = slug_clash(suites)
    if clash:
        raise BenchsuiteError(f"suites in {path}: {clash}; rename one of them")
    return suites


def parsed_registry(path: Path) -> dict[str, Any]:
    """A suites file's TOML: read bounded (``registry_text``), nested at most ``MAX_REGISTRY_NESTING`` deep."""
    too_deep = (f"{path} nests tables or arrays more than {MAX_REGISTRY_NESTING} deep; a suites file needs far "
                "fewer (pass the right --registry)")
    try:
        raw = tomllib.loads(registry_text(path))
    except tomllib.TOMLDecodeError as error:
        raise BenchsuiteError(f"{path} is not valid TOML: {error}") from None
    except RecursionError:
        raise BenchsuiteError(too_deep) from None
    if nesting(raw) > MAX_REGISTRY_NESTING:
        raise BenchsuiteError(too_deep)
    return raw


def registry_text(path: Path) -> str:
    """The text of a suites file that is a regular file of at most ``MAX_REGISTRY_BYTES`` (``bounded_bytes``: opened
    without blocking, so a FIFO or device is refused instead of waited on), else a one-line BenchsuiteError."""
    try:
        data = bounded_bytes(path, MAX_REGISTRY_BYTES)
    except FileNotFoundError:
        raise BenchsuiteError(f"registry file {path} not found; pass --registry PATH") from None
    except FileRefused as refused:
        raise BenchsuiteError(f"registry file {path} " + {
            "unreadable": f"cannot be read ({refused.detail}); pass a readable --registry PATH",
            "not regular": "is not a regular file; pass a .toml file as --registry",
            "too large": f"is larger than {MAX_REGISTRY_BYTES} bytes, the most a suites file may hold; pass the "
                         "right --registry",
            "grew": "is longer than its size (still being written, or not a file on disk); pass a .toml file as "
                    "--registry",
        }[refused.reason]) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BenchsuiteError(f"registry file {path} is not UTF-8 text ({error.reason} at byte {error.start})"
                              ) from None


def nesting(value: Any) -> int:
    """How deep tables (dicts) and arrays (lists) nest in ``value`` (a scalar: 0), counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, dict | list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (current.values() if isinstance(current, dict) else current))
    return deepest


def option_value(text: str) -> Any:
    """A ``--set`` value typed as in registry.toml: ``7`` int, ``true`` bool, ``1.5`` float, ``"x"`` string,
    ``[1, 2]`` list; anything that is not one TOML value (a bare path, a date) stays the plain string."""
    try:
        parsed = tomllib.loads(f"value = {text}")
    except tomllib.TOMLDecodeError:
        return text
    value = parsed.get("value")
    if set(parsed) != {"value"} or contains_datetime(value):
        return text
    return value


def contains_datetime(value: Any) -> bool:
    if isinstance(value, datetime.date | datetime.time):
        return True
    if isinstance(value, list):
        return any(contains_datetime(v) for v in value)
    if isinstance(value, dict):
        return any(contains_datetime(v) for v in value.values())
    return False


def parse_overrides(pairs: list[str]) -> dict[str, dict[str, Any]]:
    """``["vgg16.weights=/x.h5", "skipgram.mean_fallback=false"]`` -> ``{"vgg16": {"weights": "/x.h5"},
    "skipgram": {"mean_fallback": False}}`` (values typed by ``option_value``). The key splits at its last dot
    (option names hold none), so ``timm:convnext_tiny.fb_in1k.layers=...`` sets ``layers`` of that model."""
    overrides: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        target, sep, value = pair.partition("=")
        item, dot, option = target.rpartition(".")
        if not (sep and dot and item and option):
            raise BenchsuiteError(f"--set expects ITEM.OPTION=VALUE (e.g. vgg16.weights=/path/file.h5), got {pair!r}")
        overrides.setdefault(item, {})[option] = option_value(value)
    return overrides


def check_suite_run(
    registry: Registry,
    suite: Suite,
    *,
    vision: list[str] | None = None,
    text: list[str] | None = None,
    metrics: list[str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Refuse, before any work starts, what would otherwise be dropped or misapplied silently.

    A metric, image source or concept set no plugin registers (vision and text
    names are reported as skipped rows instead), two vision models whose records
    would share a file name, and an option for an item the run does not use or
    that its loader does not accept (registry.toml's or ``--set``).
    """
    clash = slug_clash(suite.vision if vision is None else vision)
    if clash:
        raise BenchsuiteError(f"vision models {clash.replace('<design>/', '<design>/<model>.json')}: "
                              "run them in separate --out folders")
    for metric in suite.metrics if metrics is None else metrics:
        check_registered(registry, "metrics", metric, f"metric {metric!r} of suite {suite.name!r}")
    check_registered(registry, "images", suite.images, f"image source {suite.images!r} of suite {suite.name!r}")
    check_registered(registry, "concepts", suite.concepts, f"concept set {suite.concepts!r} of suite {suite.name!r}")
    kinds = {
        "vision": [*suite.vision, *(vision or [])],
        "text": [*suite.text, *(text or [])],
        "images": [suite.images],
        "concepts": [suite.concepts],
        "metrics": [*suite.metrics, *(metrics or [])],
    }
    for where, options in ((f"[suites.{suite.name}.options]", suite.options), ("--set", overrides or {})):
        for item, values in options.items():
            for option, value in values.items():
                check_option(registry, kinds, item, option, value, where, suite.name)


def check_registered(registry: Registry, kind: str, name: str, what: str) -> None:
    """A BenchsuiteError naming ``what`` and the registered names, unless ``name`` is registered."""
    if name in registry[kind]:
        return
    broken = registry.problem(kind, name)
    if broken:
        raise BenchsuiteError(f"{what} is broken: {broken}")
    known = ", ".join(sorted(registry[kind].names())) or "none"
    raise BenchsuiteError(f"{what}: {registry.absence(kind, name)}; registered {kind}: {known} "
                          "(install its plugin or fix the name)")


def check_option(registry: Registry, kinds: Mapping[str, list[str]], item: str, option: str, value: Any,
                 where: str, suite: str) -> None:
    """A BenchsuiteError unless ``item`` is one of the run's items and its loader accepts ``option`` with a value
    of ``value``'s type (where the loader annotates the option)."""
    from benchsuite.contract.manager import loader_parameters

    kind = next((k for k, names in kinds.items() if item in names), None)
    if kind is None:
        usable = ", ".join(sorted({name for names in kinds.values() for name in names}))
        raise BenchsuiteError(f"{where} {item}.{option}: {item!r} is not an item of suite {suite!r} or of this run; "
                              f"options can be given to: {usable}")
    if item not in registry[kind]:
        return  # not installed: the run reports it as skipped
    accepted = loader_parameters(registry[kind][item].loader)
    if accepted is not None and option not in accepted:
        listed = ", ".join(sorted(accepted)) or "none"
        raise BenchsuiteError(f"{where} {item}.{option}: the {kind} item {item!r} has no option {option!r}; "
                              f"its loader accepts: {listed}")
    expected = option_annotation(registry[kind][item].loader, option)
    if expected is not None and not accepts(expected, value):
        shown = getattr(expected, "__name__", str(expected))
        raise BenchsuiteError(f"{where} {item}.{option}={value!r}: option {option!r} of the {kind} item {item!r} takes "
                              f"{shown}, not {type(value).__name__}; give a value of that type (text in double quotes: "
                              f"\"{value}\")")


def option_annotation(loader: Callable[..., Any], option: str) -> Any | None:
    """The type ``loader`` declares for keyword ``option`` (a class: its ``__init__``'s); None when it declares
    none or it cannot be resolved."""
    try:
        call: Any = loader
        return typing.get_type_hints(call.__init__ if isinstance(loader, type) else loader).get(option)
    except Exception:  # an annotation naming what the plugin's module cannot resolve: not checked
        return None


def accepts(annotation: Any, value: Any) -> bool:
    """Whether ``value`` validates as ``annotation``: strictly, or by a conversion within its kind (text to a
    path, an array to a tuple), never across kinds (``"no"`` is not a bool, ``1`` not text). An annotation
    pydantic cannot build a check for accepts anything."""
    try:
        adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    except Exception:  # an arbitrary class: nothing to check against
        return True
    for strict in (True, False):
        try:
            converted = adapter.validate_python(value, strict=strict)
        except ValidationError:
            continue
        return strict or value_kind(converted) == value_kind(value)
    return False


def value_kind(value: Any) -> str:
    """What a TOML value is, for ``accepts``: text (paths too), bool, number, array, table or other."""
    kinds: tuple[tuple[type | tuple[type, ...], str], ...] = (
        ((str, os.PathLike), "text"), (bool, "bool"), ((int, float), "number"),
        ((list, tuple, set, frozenset), "array"), (dict, "table"))
    return next((kind for types, kind in kinds if isinstance(value, types)), type(value).__name__)
