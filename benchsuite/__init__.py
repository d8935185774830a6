"""benchsuite: where does word meaning emerge inside vision networks?

Reproduces Dharmaretnam & Fyshe (NAACL 2018) as a pluggable benchmark suite.
In a notebook: ``benchsuite.evaluate(vision=..., text=...)`` runs a suite and returns its ``Results``
(``.to_pandas()``, ``.leaderboard()``); ``benchsuite.load_results(path)`` reads a results.json.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchsuite.api import evaluate, load_results

__version__ = "0.1.0"
__all__ = ["evaluate", "load_results"]


def __getattr__(name: str) -> Any:
    """``evaluate`` and ``load_results``, imported on first use so ``import benchsuite`` stays light."""
    if name in __all__:
        from benchsuite import api

        return getattr(api, name)
    raise AttributeError(f"module 'benchsuite' has no attribute {name!r}")
