"""The one plugin manager: discovery through the ``benchsuite`` entry-point group.

Built-in plugins are ordinary entry points of this distribution, registered the
same way a third party's would be. ``BENCHSUITE_PLUGINS`` (comma-separated
plugin names) limits which plugins load.
"""

from __future__ import annotations

import importlib.metadata
import os
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import pluggy

from benchsuite import hookspecs
from benchsuite.errors import PluginConflict, UnknownPlugin
from benchsuite.schemas import (
    ConceptSetMeta,
    ImageSourceMeta,
    MetricMeta,
    PluginItemMeta,
    TextEmbeddingMeta,
    VisionModelMeta,
)

ENTRY_POINT_GROUP = "benchsuite"
ALLOWLIST_ENV = "BENCHSUITE_PLUGINS"

M = TypeVar("M", bound=PluginItemMeta)

# kind -> (hook name, metadata class)
KINDS: dict[str, tuple[str, type[PluginItemMeta]]] = {
    "vision": ("register_vision_models", VisionModelMeta),
    "text": ("register_text_embeddings", TextEmbeddingMeta),
    "images": ("register_image_sources", ImageSourceMeta),
    "concepts": ("register_concept_sets", ConceptSetMeta),
    "metrics": ("register_metrics", MetricMeta),
}


@dataclass
class Catalogue(Generic[M]):
    """Registered items of one kind, by name, remembering which plugin gave each."""

    kind: str
    items: dict[str, M] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)

    def add(self, meta: M, plugin: str) -> None:
        expected = KINDS[self.kind][1]
        if not isinstance(meta, expected):
            raise TypeError(
                f"plugin {plugin!r} registered a {type(meta).__name__} as a {self.kind} item; "
                f"expected {expected.__name__}"
            )
        if meta.name in self.items:
            raise PluginConflict(
                f"{self.kind} name {meta.name!r} is registered by both plugin "
                f"{self.owners[meta.name]!r} and plugin {plugin!r}; rename one of them "
                f"or limit loading with {ALLOWLIST_ENV}"
            )
        self.items[meta.name] = meta
        self.owners[meta.name] = plugin

    def __getitem__(self, name: str) -> M:
        try:
            return self.items[name]
        except KeyError:
            known = ", ".join(sorted(self.items)) or "none"
            raise UnknownPlugin(
                f"no {self.kind} item named {name!r}; registered: {known}. "
                f"Install the plugin that provides it, or check {ALLOWLIST_ENV}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self.items

    def names(self) -> list[str]:
        return list(self.items)


def allowlist() -> set[str] | None:
    raw = os.environ.get(ALLOWLIST_ENV, "").strip()
    if not raw:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def make_plugin_manager(load_entry_points: bool = True) -> pluggy.PluginManager:
    """A plugin manager with every allowed entry-point plugin registered."""
    pm = pluggy.PluginManager("benchsuite")
    pm.add_hookspecs(hookspecs)
    if not load_entry_points:
        return pm
    allowed = allowlist()
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if allowed is not None and entry_point.name not in allowed:
            continue
        if pm.get_plugin(entry_point.name) is not None:
            continue
        pm.register(entry_point.load(), name=entry_point.name)
    return pm


class Registry:
    """Every item the loaded plugins register, by kind."""

    def __init__(self, pm: pluggy.PluginManager | None = None):
        self.pm = pm if pm is not None else make_plugin_manager()
        self.catalogues: dict[str, Catalogue] = {kind: Catalogue(kind) for kind in KINDS}
        for kind, (hook_name, _) in KINDS.items():
            hook = getattr(self.pm.hook, hook_name)
            for impl in hook.get_hookimpls():
                plugin = impl.plugin_name
                impl.function(register=lambda meta, _p=plugin, _k=kind: self.catalogues[_k].add(meta, _p))

    def __getitem__(self, kind: str) -> Catalogue:
        return self.catalogues[kind]

    @property
    def vision(self) -> Catalogue[VisionModelMeta]:
        return self.catalogues["vision"]

    @property
    def text(self) -> Catalogue[TextEmbeddingMeta]:
        return self.catalogues["text"]

    @property
    def images(self) -> Catalogue[ImageSourceMeta]:
        return self.catalogues["images"]

    @property
    def concepts(self) -> Catalogue[ConceptSetMeta]:
        return self.catalogues["concepts"]

    @property
    def metrics(self) -> Catalogue[MetricMeta]:
        return self.catalogues["metrics"]

    def plugin_hooks(self) -> dict[str, list[str]]:
        """Each loaded plugin and the hooks it implements."""
        table: dict[str, list[str]] = {}
        for name, plugin in self.pm.list_name_plugin():
            table[name] = sorted(impl.name for impl in self.pm.get_hookcallers(plugin) or [])
        return table
