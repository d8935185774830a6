"""Suites declared in ``registry.toml``: which plugins, data and designs a run uses."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from benchsuite.errors import BenchsuiteError

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


def default_registry_path() -> Path:
    """``./registry.toml`` when present, else the checkout's own (beside the ``benchsuite`` package)."""
    local = Path.cwd() / REGISTRY_FILE
    if local.exists():
        return local
    return Path(__file__).resolve().parents[1] / REGISTRY_FILE


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
    return suites


def parse_overrides(pairs: list[str]) -> dict[str, dict[str, Any]]:
    """``["vgg16.weights=/x.h5"]`` -> ``{"vgg16": {"weights": "/x.h5"}}``."""
    overrides: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        target, sep, value = pair.partition("=")
        item, dot, option = target.partition(".")
        if not (sep and dot and item and option):
            raise BenchsuiteError(f"--set expects ITEM.OPTION=VALUE (e.g. vgg16.weights=/path/file.h5), got {pair!r}")
        overrides.setdefault(item, {})[option] = value
    return overrides
