"""When two records are the same numbers: every field equal but the ignored ones, floats within a tolerance.

The rules ``benchmarks/compare_records.py`` applies to two runs' records and a contribution's verification to
its records against the ones recomputed here. A record's key is (suite, design, vision, text, layer, metric);
``provenance.time`` (when it ran) is always ignored; floats may differ by at most ``TOLERANCE``, the exactness
rule of the layer matrices.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

KEY = ("suite", "design", "vision", "text", "layer", "metric")
ALWAYS_IGNORED = ("provenance.time",)
TOLERANCE = 1e-9


def flat(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(dotted path, leaf)`` for every leaf of a JSON value (list items by index)."""
    if isinstance(value, dict):
        for name, item in value.items():
            yield from flat(item, f"{prefix}.{name}" if prefix else name)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from flat(item, f"{prefix}[{index}]")
    else:
        yield prefix, value


def ignored(path: str, fields: tuple[str, ...]) -> bool:
    return any(path == field or path.startswith(field + ".") or path.startswith(field + "[") for field in fields)


def record_key(record: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(record.get(field) for field in KEY)


def compare(before: dict[str, Any], after: dict[str, Any], fields: tuple[str, ...] = ALWAYS_IGNORED,
            tolerance: float = TOLERANCE) -> tuple[list[str], float]:
    """The mismatching paths of one record (as JSON data), and its largest float difference."""
    left = {p: v for p, v in flat(before) if not ignored(p, fields)}
    right = {p: v for p, v in flat(after) if not ignored(p, fields)}
    mismatches = [f"{p}: only in {'before' if p in left else 'after'}" for p in sorted(set(left) ^ set(right))]
    largest = 0.0
    for path in sorted(set(left) & set(right)):
        a, b = left[path], right[path]
        if isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
            difference = abs(a - b) if math.isfinite(a) and math.isfinite(b) else (0.0 if a == b else math.inf)
            largest = max(largest, difference)
            if difference > tolerance:
                mismatches.append(f"{path}: {a!r} != {b!r}")
        elif a != b:
            mismatches.append(f"{path}: {a!r} != {b!r}")
    return mismatches, largest
