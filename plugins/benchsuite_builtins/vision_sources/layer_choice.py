"""Choosing a model's layers: its default blocks, or the names and glob patterns of ``--set NAME.layers=...``."""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Sequence


def as_patterns(layers: Sequence[str] | str) -> list[str]:
    """``layers`` as a list of patterns: a list as given, a string split at commas (``"stages.*,head"``)."""
    if isinstance(layers, str):
        return [part.strip() for part in layers.split(",") if part.strip()]
    if not all(isinstance(part, str) for part in layers):
        raise ValueError(f"layers must be a list of layer names or glob patterns, got {list(layers)!r}")
    return list(layers)


def choose_layers(model: str, available: Sequence[str], default: Sequence[str],
                  layers: Sequence[str] | str | None) -> tuple[str, ...]:
    """``default`` when ``layers`` is None; else every available name that a name or glob pattern of ``layers``
    matches, in ``available``'s (network) order. A pattern matching nothing is a one-line ``ValueError`` naming
    the closest available names."""
    if layers is None:
        return tuple(default)
    patterns = as_patterns(layers)
    if not patterns:
        raise ValueError(f"{model}: layers is empty; give layer names or glob patterns, e.g. --set {model}.layers="
                         f"[{', '.join(repr(name) for name in list(default)[:2])}]")
    chosen: set[str] = set()
    for pattern in patterns:
        matched = fnmatch.filter(available, pattern)
        if not matched:
            close = difflib.get_close_matches(pattern, available, n=5, cutoff=0.3) or list(available[:5])
            raise ValueError(f"{model}: layers pattern {pattern!r} matches none of its {len(available)} layers; "
                             f"close ones: {', '.join(close)} (default: {', '.join(list(default)[:3])}, ...)")
        chosen.update(matched)
    return tuple(name for name in available if name in chosen)
