"""Contributions onto the page: every contribution found is verified here, and only its recomputed records join
the results the leaderboard ranks; a refused one is reported in one line and changes nothing else.

The published ``results.json`` stays the local runs' alone: a contribution's numbers are recomputed here, never
stored as if they had been run here (the recomputed records are kept in the cache, ``contributions.memo``, under a
key of everything their recomputation depends on, and taken from there at the next publish).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchsuite.contract.errors import BenchsuiteError, describe_error, one_line
from benchsuite.contract.manager import Registry
from benchsuite.contract.schemas import slug
from benchsuite.contributions.bundle import MANIFEST, Bundle, Refused, read_bundle, refuse
from benchsuite.contributions.memo import cached_verified_records
from benchsuite.contributions.verify import LocalSuite
from benchsuite.extraction.cache import ArrayCache
from benchsuite.inputs.suites import Suite, load_suites
from benchsuite.results.records import Record, Results, mixed_settings

log = logging.getLogger("benchsuite")
MAX_CONTRIBUTIONS = 200
"""The most contribution folders one publish verifies (each costs a model's scoring)."""


def shown_name(bundle: Bundle) -> str:
    """The contributed row's name on the page: the model, who contributed it, and how it was checked."""
    return f"{bundle.manifest.model.name} (contributed by {bundle.manifest.by}, verified from matrices)"


def found_in(folders: Sequence[Path]) -> list[tuple[Path, bool]]:
    """Every ``<suite>/<model>`` folder under ``folders``, and whether it was found by that layout (so its name
    must be its suite's and model's); a folder given that holds a manifest itself is one contribution."""
    found: list[tuple[Path, bool]] = []
    for root in folders:
        if (root / MANIFEST).exists():
            found.append((root, False))
        elif root.is_dir():
            found += [(model, True) for suite in sorted(root.iterdir()) if suite.is_dir() and not suite.is_symlink()
                      for model in sorted(suite.iterdir()) if not model.name.startswith(".")]
    return found


@dataclass
class Merger:
    """Verifies contributions against suites prepared here (each suite once) and merges the verified ones."""

    registry: Callable[[], Registry]
    suites: Callable[[], dict[str, Suite]]
    cache: ArrayCache
    say: Callable[[str], object] = log.warning
    local: dict[str, LocalSuite | str] = field(default_factory=dict)  # suite -> prepared here, or why not
    verified: dict[Path, list[Record]] = field(default_factory=dict)  # folder -> its recomputed records

    def local_suite(self, bundle: Bundle) -> LocalSuite:
        name = bundle.manifest.suite
        if name not in self.local:
            try:
                suites = self.suites()
                if name not in suites:
                    raise BenchsuiteError(f"no suite {name!r} in the registry here")
                self.local[name] = LocalSuite.of(self.registry(), suites[name], self.cache)
            except Exception as error:  # a suite that cannot be prepared refuses its contributions alone
                self.local[name] = one_line(str(error) if isinstance(error, BenchsuiteError)
                                            else describe_error(error))
        found = self.local[name]
        if isinstance(found, str):
            raise refuse(bundle.folder, f"suite {name!r} cannot be prepared here to verify it: {found[:300]}")
        return found

    def accepted(self, folder: Path, placed: bool, results: Results,
                 seen: dict[tuple[str, str], Path]) -> list[Record]:
        """The verified records of the contribution in ``folder``, else a ``Refused`` naming why. ``placed``: found
        as ``<suite>/<model>`` under a contributions folder, so its folder names must be its suite's and model's."""
        bundle = read_bundle(folder)
        manifest = bundle.manifest
        expected = (slug(manifest.suite), slug(manifest.model.name))
        if placed and (folder.parent.name, folder.name) != expected:
            raise refuse(folder, f"model {manifest.model.name!r} on suite {manifest.suite!r} belongs in a folder "
                                 f"{'/'.join(expected)}, not {folder.parent.name}/{folder.name}")
        key = (manifest.suite, slug(manifest.model.name))
        if key in seen:
            raise refuse(folder, f"a duplicate: {seen[key]} already contributes {manifest.model.name!r} to suite "
                                 f"{manifest.suite!r}")
        clash = sorted({r.vision for r in results.records if r.suite == manifest.suite
                        and slug(r.vision) == key[1]})
        if clash:
            raise refuse(folder, f"model {manifest.model.name!r} clashes with {clash[0]!r}, run here on suite "
                                 f"{manifest.suite!r} (the same name or file name): a contribution adds a model the "
                                 "leaderboard does not run; rename it")
        seen[key] = folder
        if folder.resolve() not in self.verified:  # the page and the README block verify each folder once
            records = cached_verified_records(bundle, self.local_suite(bundle), self.cache)
            name = shown_name(bundle)
            self.verified[folder.resolve()] = [r.model_copy(update={"vision": name}) for r in records]
        return self.verified[folder.resolve()]

    def merged(self, results: Results, folders: Sequence[Path]) -> Results:
        """``results`` with the verified records of every contribution under ``folders``; each refused one is
        reported (``say``) in one line."""
        found = found_in(folders)
        if len(found) > MAX_CONTRIBUTIONS:
            raise BenchsuiteError(f"{len(found)} contributions found under {', '.join(map(str, folders))}; one "
                                  f"publish verifies at most {MAX_CONTRIBUTIONS}")
        added: list[Record] = []
        seen: dict[tuple[str, str], Path] = {}
        for folder, placed in found:
            try:
                added += self.accepted(folder, placed, results, seen)
            except Refused as error:
                self.say(f"refused {error}")
        if not added:
            return results
        records = [*results.records, *added]
        return results.model_copy(update={"records": records, "mixed_settings": mixed_settings(records)})


def merging(folders: Sequence[Path], *, registry: Path | None = None, cache: ArrayCache | None = None,
            plugins: Registry | None = None, suite: Suite | None = None,
            say: Callable[[str], object] = log.warning) -> Callable[[Results], Results]:
    """The leaderboard's contributions step (``publish(contributions=...)``): the contributions under ``folders``
    verified against ``suite`` or the suites of the suites file ``registry``, with the installed plugins (or
    ``plugins``); plugins are loaded and a suite prepared only when a contribution needs them."""

    def suites() -> dict[str, Suite]:
        return {**load_suites(registry), **({suite.name: suite} if suite is not None else {})}

    merger = Merger(registry=lambda: plugins if plugins is not None else Registry(), suites=suites,
                    cache=cache if cache is not None else ArrayCache(None), say=say)
    return lambda results: merger.merged(results, folders)
