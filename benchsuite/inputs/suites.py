"""Suites declared in ``registry.toml``: which plugins, data and designs a run uses."""

from __future__ import annotations

import datetime
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from benchsuite.contract.errors import BenchsuiteError
from benchsuite.contract.schemas import slug

if TYPE_CHECKING:
    from benchsuite.contract.manager import Registry

REGISTRY_FILE = "registry.toml"


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
    permutations: int = Field(default=1000, ge=0)
    seed: int = 0
    designs: list[Design] = Field(min_length=1)
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
    """``./registry.toml`` when present, else the checkout's own (beside the ``benchsuite`` package)."""
    local = Path.cwd() / REGISTRY_FILE
    if local.exists():
        return local
    return Path(__file__).resolve().parents[2] / REGISTRY_FILE


def load_suites(path: Path | str | None = None) -> dict[str, Suite]:
    path = Path(path) if path is not None else default_registry_path()
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise BenchsuiteError(f"registry file {path} not found; pass --registry PATH") from None
    except tomllib.TOMLDecodeError as error:
        raise BenchsuiteError(f"{path} is not valid TOML: {error}") from None
    suites: dict[str, Suite] = {}
    for name, body in raw.get("suites", {}).items():
        try:
            suites[name] = Suite(name=name, **body)
        except ValidationError as error:
            raise BenchsuiteError(f"suite {name!r} in {path} is invalid:\n{error}") from None
    if not suites:
        raise BenchsuiteError(f"{path} declares no [suites.<name>] tables")
    clash = slug_clash(suites)
    if clash:
        raise BenchsuiteError(f"suites in {path}: {clash}; rename one of them")
    return suites


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
            for option in values:
                check_option(registry, kinds, item, option, where, suite.name)


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


def check_option(registry: Registry, kinds: Mapping[str, list[str]], item: str, option: str, where: str,
                 suite: str) -> None:
    """A BenchsuiteError unless ``item`` is one of the run's items and its loader accepts ``option``."""
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
