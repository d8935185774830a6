"""benchsuite: where does word meaning emerge inside vision networks?

Reproduces Dharmaretnam & Fyshe (NAACL 2018) as a pluggable benchmark suite.
In a notebook: ``benchsuite.evaluate(vision=..., text=...)`` runs a suite and returns its ``Results``
(``.to_pandas()``, ``.leaderboard()``); ``benchsuite.load_results(path)`` reads a results.json.
"""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchsuite.api import evaluate, load_results

try:
    __version__ = metadata.version("benchsuite")
    """The version, written once (pyproject.toml) and read from the installed distribution's metadata."""
except metadata.PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
__all__ = ["evaluate", "load_results"]


def __getattr__(name: str) -> Any:
    """``evaluate`` and ``load_results``, imported on first use so ``import benchsuite`` stays light."""
    if name in __all__:
        from benchsuite import api

        return getattr(api, name)
    raise AttributeError(f"module 'benchsuite' has no attribute {name!r}")
