"""The one plugin manager: discovery through the ``benchsuite`` entry-point group.

Built-in plugins are ordinary entry points of this distribution, registered the
same way a third party's would be. ``BENCHSUITE_PLUGINS`` (comma-separated
plugin names) limits which plugins load.

A broken plugin never blocks the others: an entry point that fails to import, a
hook that raises, a registration of the wrong record type and a name claimed by
two plugins each become a :class:`PluginProblem` in ``Registry.problems``, and the
rest loads.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import os
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

import pluggy
from pydantic import BaseModel, ValidationError

from benchsuite.contract import hookspecs
from benchsuite.contract.errors import ResourceMissing, UnknownPlugin, describe_error, one_line
from benchsuite.contract.schemas import (
    ConceptSetMeta,
    ImageSourceMeta,
    MetricMeta,
    ModelSourceMeta,
    PluginItemMeta,
    TextEmbeddingMeta,
    VisionModelMeta,
)

ENTRY_POINT_GROUP = "benchsuite"
ALLOWLIST_ENV = "BENCHSUITE_PLUGINS"
PLUGIN_KIND = "plugin"

M = TypeVar("M", bound=PluginItemMeta)

# kind -> (hook name, metadata class)
KINDS: dict[str, tuple[str, type[PluginItemMeta]]] = {
    "vision": ("register_vision_models", VisionModelMeta),
    "text": ("register_text_embeddings", TextEmbeddingMeta),
    "images": ("register_image_sources", ImageSourceMeta),
    "concepts": ("register_concept_sets", ConceptSetMeta),
    "metrics": ("register_metrics", MetricMeta),
}
SOURCE_KIND = "sources"
SOURCE_HOOK: tuple[str, type[PluginItemMeta]] = ("register_model_sources", ModelSourceMeta)
"""Model sources resolve ``PREFIX:REST`` names in the vision and text catalogues; they are not an item kind."""


@dataclass(frozen=True)
class PluginProblem:
    """A plugin, or one item it registers, that could not be loaded; its neighbours load regardless.

    ``kind`` is ``"plugin"`` for an entry point that failed to import or register,
    else the item kind (``vision``, ``text``...) whose hook or registration failed;
    ``item`` names the item when it is known; ``error`` is one line; ``aborted`` is
    True when the plugin stopped there (an import error, a hook that raised), so
    items it would have registered afterwards are missing.
    """

    plugin: str
    distribution: str | None
    version: str | None
    kind: str
    item: str | None
    error: str
    aborted: bool = False

    def origin(self) -> str:
        """``plugin 'x' (distribution 1.0)``: who to blame, as messages name it."""
        return describe_origin(self.plugin, self.distribution, self.version)


def describe_origin(plugin: str, distribution: str | None, version: str | None) -> str:
    where = f" ({distribution} {version})" if distribution else " (no distribution)"
    return f"plugin {plugin!r}{where}"


def failed_item_name(error: BaseException) -> str | None:
    """The ``name`` given to the metadata record whose validation raised ``error``, when it is one."""
    if not isinstance(error, ValidationError):
        return None
    name = None
    frame_tb = error.__traceback__
    while frame_tb is not None:
        if frame_tb.tb_frame.f_code is BaseModel.__init__.__code__:
            data = frame_tb.tb_frame.f_locals.get("data")
            if isinstance(data, dict) and isinstance(data.get("name"), str):
                name = data["name"]
        frame_tb = frame_tb.tb_next
    return name


@dataclass
class Catalogue(Generic[M]):
    """Registered items of one kind, by name, remembering which plugin gave each.

    ``broken`` maps a name that some plugin tried to register but could not (invalid
    record, name claimed twice), or a qualified name its source could not resolve, to
    the one-line reason. ``sources`` maps a model source's prefix to its record and
    plugin: a qualified name ``PREFIX:REST`` is resolved through it on first use
    (``name in catalogue``, ``catalogue[name]``), once, and then kept in ``items``;
    ``missing`` holds the names whose library is not installed or whose prefix no
    source claims (the runner skips those), with the reason.
    """

    kind: str
    items: dict[str, M] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)
    sources: dict[str, tuple[ModelSourceMeta, str]] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)

    def add(self, meta: M, plugin: str) -> None:
        self.items[meta.name] = meta
        self.owners[meta.name] = plugin

    def resolve(self, name: str) -> bool:
        """Whether ``name`` is (now) in ``items``: a qualified name is resolved through its source, once.

        A resolve error goes to ``broken``, a missing library or unknown prefix to ``missing``; never raises.
        """
        if name in self.items:
            return True
        prefix, colon, rest = name.partition(":")
        if not colon or name in self.broken or name in self.missing:
            return False
        if prefix not in self.sources:
            known = ", ".join(f"{p}:" for p in sorted(self.sources)) or "none"
            self.missing[name] = (f"no {self.kind} model source {prefix!r} is installed (in {name!r}); "
                                  f"known {self.kind} sources: {known}")
            return False
        source, plugin = self.sources[prefix]
        expected = KINDS[self.kind][1]
        try:
            meta = source.loader(rest)
            if not isinstance(meta, expected) or meta.name != name:
                got = getattr(meta, "name", None)
                raise TypeError(f"source {prefix!r} returned {type(meta).__name__} {got!r}; expected a "
                                f"{expected.__name__} named {name!r}")
        except ResourceMissing as error:
            self.missing[name] = one_line(str(error))
            return False
        except Exception as error:  # a source that cannot resolve a name fails that item alone
            self.broken[name] = f"{describe_origin(plugin, None, None)} source {prefix!r}: {describe_error(error)}"
            return False
        self.add(cast(M, meta), plugin)  # an instance of KINDS[self.kind]'s class, this catalogue's M (checked above)
        return True

    def __getitem__(self, name: str) -> M:
        if name in self:
            return self.items[name]
        if name in self.broken:
            raise UnknownPlugin(f"{self.kind} item {name!r} is broken: {self.broken[name]}")
        if name in self.missing:
            raise UnknownPlugin(f"{self.kind} item {name!r} is unavailable: {self.missing[name]}")
        known = ", ".join(sorted(self.items)) or "none"
        raise UnknownPlugin(
            f"no {self.kind} item named {name!r}; registered: {known}. "
            f"Install the plugin that provides it, or check {ALLOWLIST_ENV}"
        )

    def __contains__(self, name: object) -> bool:
        return name in self.items or (isinstance(name, str) and self.resolve(name))

    def names(self) -> list[str]:
        return list(self.items)


class PluginManager(pluggy.PluginManager):
    """pluggy's manager, remembering each plugin's distribution and the entry points that failed to load."""

    def __init__(self) -> None:
        super().__init__("benchsuite")
        self.add_hookspecs(hookspecs)
        self.distributions: dict[str, tuple[str | None, str | None]] = {}
        self.load_problems: list[PluginProblem] = []


def allowlist() -> set[str] | None:
    raw = os.environ.get(ALLOWLIST_ENV, "").strip()
    if not raw:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def distribution_of(entry_point: importlib.metadata.EntryPoint) -> tuple[str | None, str | None]:
    """The (name, version) of the distribution that declares ``entry_point``."""
    dist = getattr(entry_point, "dist", None)
    if dist is None:
        return None, None
    return dist.name, dist.version


def make_plugin_manager(load_entry_points: bool = True) -> PluginManager:
    """A plugin manager with every allowed entry-point plugin registered; failures go to ``load_problems``."""
    pm = PluginManager()
    if not load_entry_points:
        return pm
    allowed = allowlist()
    claims: dict[str, list[importlib.metadata.EntryPoint]] = defaultdict(list)
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if allowed is None or entry_point.name in allowed:
            claims[entry_point.name].append(entry_point)
    for name, entry_points in claims.items():
        origins = [distribution_of(entry_point) for entry_point in entry_points]
        pm.distributions[name] = origins[0]
        if len(entry_points) > 1:
            both = " and ".join(f"{dist} {version}" for dist, version in origins)
            for dist, version in origins:
                pm.load_problems.append(PluginProblem(
                    name, dist, version, PLUGIN_KIND, None,
                    f"entry point {name!r} is declared by {both}; neither is loaded: uninstall one of them", True,
                ))
            continue
        try:
            pm.register(entry_points[0].load(), name=name)
        except (Exception, SystemExit) as error:  # a plugin that cannot load must not stop the others
            pm.load_problems.append(PluginProblem(
                name, *origins[0], PLUGIN_KIND, None,
                f"cannot load entry point {entry_points[0].value!r}: {describe_error(error)}", True,
            ))
    return pm


class Registry:
    """Every item the loaded plugins register, by kind.

    ``problems`` (a list of :class:`PluginProblem`, read by ``benchsuite plugins``,
    ``benchsuite list`` and the runner) holds everything that could not be registered:
    - an entry point that failed to import or register (kind ``"plugin"``);
    - a hook that raised: the items it registered before raising are kept, the rest
      are missing; when the error is an invalid metadata record its ``name`` is
      recovered, so that item is reported as broken;
    - a registration of the wrong record type;
    - a name claimed twice (by two plugins, or twice by one): every claimant is
      skipped, never first-come-wins.
    ``problem(kind, name)`` gives the reason an item is broken.
    """

    def __init__(self, pm: pluggy.PluginManager | None = None):
        self.pm = pm if pm is not None else make_plugin_manager()
        self.problems: list[PluginProblem] = list(getattr(self.pm, "load_problems", []))
        self.catalogues: dict[str, Catalogue] = {kind: self._catalogue(kind) for kind in KINDS}
        claims = self._claims(SOURCE_KIND)
        self.sources: dict[str, Catalogue[ModelSourceMeta]] = {}  # by the kind they serve: one prefix per kind
        for kind in ("vision", "text"):
            served = [c for c in claims if isinstance(c[1], ModelSourceMeta) and c[1].kind == kind]
            self.sources[kind] = self._catalogue(SOURCE_KIND, served)
            for prefix, source in self.sources[kind].items.items():
                self.catalogues[kind].sources[prefix] = (source, self.sources[kind].owners[prefix])

    def distribution(self, plugin: str) -> tuple[str | None, str | None]:
        """The (distribution, version) a plugin came from; (None, None) for one registered by hand."""
        return getattr(self.pm, "distributions", {}).get(plugin, (None, None))

    def _problem(self, plugin: str, kind: str, item: str | None, error: str, aborted: bool = False) -> PluginProblem:
        problem = PluginProblem(plugin, *self.distribution(plugin), kind, item, one_line(error), aborted)
        self.problems.append(problem)
        return problem

    def _claims(self, kind: str) -> list[tuple[str, PluginItemMeta]]:
        """(plugin, record) for every valid registration of ``kind``, in plugin order; failures become problems."""
        hook_name, expected = KINDS[kind] if kind in KINDS else SOURCE_HOOK
        claims: list[tuple[str, PluginItemMeta]] = []
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            plugin = impl.plugin_name

            def register(meta: Any, _plugin: str = plugin) -> None:
                name = getattr(meta, "name", None)
                if isinstance(meta, expected) and ":" in meta.name and expected is not ModelSourceMeta:
                    self._problem(_plugin, kind, name, f"registered {name!r} through {hook_name}: names with ':' "
                                  "belong to model sources (register_model_sources); use a plain name")
                    return
                if isinstance(meta, expected):
                    claims.append((_plugin, meta))
                    return
                self._problem(_plugin, kind, name if isinstance(name, str) else None,
                              f"registered a {type(meta).__name__} through {hook_name}; expected {expected.__name__}")

            try:
                impl.function(**{arg: register for arg in impl.argnames})
            except (Exception, SystemExit) as error:  # one plugin's hook must not stop the others
                item = failed_item_name(error)
                kept = "items it registered before the error are kept"
                self._problem(plugin, kind, item, f"{hook_name} raised {describe_error(error)} ({kept})", True)
        return claims

    def _catalogue(self, kind: str, claims: list[tuple[str, PluginItemMeta]] | None = None) -> Catalogue:
        """The catalogue of ``kind`` from its hook's registrations (or the ``claims`` given), names claimed twice
        refused."""
        catalogue: Catalogue = Catalogue(kind)
        by_name: dict[str, list[str]] = defaultdict(list)
        claims = self._claims(kind) if claims is None else claims
        for plugin, meta in claims:
            by_name[meta.name].append(plugin)
        for plugin, meta in claims:
            claimants = by_name[meta.name]
            if len(claimants) == 1:
                catalogue.add(meta, plugin)
            elif plugin == claimants[0] and meta.name not in catalogue.broken:
                origins = " and ".join(describe_origin(p, *self.distribution(p)) for p in claimants)
                message = (f"{kind} name {meta.name!r} is registered by {origins}; both are skipped: rename one "
                           f"of them, uninstall one, or limit loading with {ALLOWLIST_ENV}")
                catalogue.broken[meta.name] = message
                for claimant in dict.fromkeys(claimants):
                    self._problem(claimant, kind, meta.name, message)
        for problem in self.problems:
            if problem.kind == kind and problem.item and problem.item not in catalogue:
                catalogue.broken.setdefault(problem.item, f"{problem.origin()}: {problem.error}")
        return catalogue

    def problem(self, kind: str, name: str) -> str | None:
        """Why item ``name`` of ``kind`` is broken (invalid record, name claimed twice, unresolvable), or None."""
        catalogue = self.catalogues[kind]
        catalogue.resolve(name)
        return catalogue.broken.get(name)

    def absence(self, kind: str, name: str) -> str:
        """Why ``name`` is not registered: its source's library is missing, or no plugin provides it (naming
        plugins that failed to load and might have)."""
        if name in self.catalogues[kind].missing:
            return self.catalogues[kind].missing[name]
        message = f"no installed plugin registers {kind} {name!r}"
        failed = sorted({p.plugin for p in self.problems if p.aborted and p.kind in (PLUGIN_KIND, kind)})
        if failed:
            message += f" (plugins that stopped loading early: {', '.join(failed)}; see `benchsuite plugins`)"
        return message

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

    def source(self, kind: str, prefix: str) -> ModelSourceMeta:
        """The model source of ``kind`` registered under ``prefix``; an UnknownPlugin listing the known ones."""
        found = self.catalogues[kind].sources.get(prefix)
        if found is None:
            known = ", ".join(sorted(self.catalogues[kind].sources)) or "none"
            raise UnknownPlugin(f"no {kind} model source {prefix!r}; known {kind} sources: {known}")
        return found[0]

    def plugin_hooks(self) -> dict[str, list[str]]:
        """Each loaded plugin and the hooks it implements."""
        table: dict[str, list[str]] = {}
        for name, plugin in self.pm.list_name_plugin():
            table[name] = sorted(impl.name for impl in self.pm.get_hookcallers(plugin) or [])
        return table


def loader_parameters(loader: Callable[..., Any]) -> set[str] | None:
    """The keyword options ``loader`` accepts; None when it takes any (``**kwargs``) or cannot be inspected.

    Parameters whose names start with ``_`` are the plugin's own (bound by default values), not options.
    """
    try:
        parameters = inspect.signature(loader).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {p.name for p in parameters if p.kind in keyword and not p.name.startswith("_")}
