"""Two runs' records side by side, key by key: are they the same numbers?

    python benchmarks/compare_records.py BEFORE/results.json AFTER/results.json [--ignore FIELD ...]

A record's key is (suite, design, vision, text, layer, metric). Every other field must be equal, except
``provenance.time`` (when it ran) and the fields named with ``--ignore`` (dotted, e.g. ``provenance.versions``
or ``role``); floats may differ by at most ``--tolerance`` (default 1e-9, the exactness rule of the layer
matrices). Prints the largest float difference per metric and every mismatch; exits 1 on any mismatch.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

KEY = ("suite", "design", "vision", "text", "layer", "metric")
ALWAYS_IGNORED = ("provenance.time",)


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


def by_key(path: Path) -> dict[tuple, dict[str, Any]]:
    records = json.loads(path.read_text())["records"]
    keyed = {tuple(record.get(field) for field in KEY): record for record in records}
    if len(keyed) != len(records):
        raise SystemExit(f"{path}: {len(records) - len(keyed)} records share a key")
    return keyed


def ignored(path: str, fields: tuple[str, ...]) -> bool:
    return any(path == field or path.startswith(field + ".") or path.startswith(field + "[") for field in fields)


def compare(before: dict[str, Any], after: dict[str, Any], fields: tuple[str, ...],
            tolerance: float) -> tuple[list[str], float]:
    """The mismatching paths of one record, and its largest float difference."""
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


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--ignore", action="append", default=[], help="a dotted field to leave out (repeatable)")
    parser.add_argument("--tolerance", type=float, default=1e-9)
    args = parser.parse_args(argv)
    fields = (*ALWAYS_IGNORED, *args.ignore)
    before, after = by_key(args.before), by_key(args.after)
    problems = [f"only before: {key}" for key in sorted(set(before) - set(after), key=str)]
    problems += [f"only after: {key}" for key in sorted(set(after) - set(before), key=str)]
    largest: dict[str, float] = {}
    for key in sorted(set(before) & set(after), key=str):
        mismatches, difference = compare(before[key], after[key], fields, args.tolerance)
        largest[str(key[-1])] = max(largest.get(str(key[-1]), 0.0), difference)
        problems += [f"{key}: {m}" for m in mismatches]
    print(f"{len(set(before) & set(after))} records in both; {len(before)} before, {len(after)} after; "
          f"ignored: {', '.join(fields)}")
    for metric, difference in sorted(largest.items()):
        print(f"  {metric}: largest float difference {difference:.3g}")
    for problem in problems[:50]:
        print("MISMATCH", problem)
    if len(problems) > 50:
        print(f"... and {len(problems) - 50} more")
    print("identical within the rules" if not problems else f"{len(problems)} mismatches")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
