"""Two runs' records side by side, key by key: are they the same numbers?

    python benchmarks/compare_records.py BEFORE/results.json AFTER/results.json [--ignore FIELD ...]

A record's key is (suite, design, vision, text, layer, metric). Every other field must be equal, except
``provenance.time`` (when it ran) and the fields named with ``--ignore`` (dotted, e.g. ``provenance.versions``
or ``role``); floats may differ by at most ``--tolerance`` (default 1e-9, the exactness rule of the layer
matrices); the rules are ``benchsuite.results.agreement``'s, which also verify contributions. Prints the largest
float difference per metric and every mismatch; exits 1 on any mismatch.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from benchsuite.results.agreement import ALWAYS_IGNORED, TOLERANCE, compare, record_key


def by_key(path: Path) -> dict[tuple, dict[str, Any]]:
    records = json.loads(path.read_text())["records"]
    keyed = {record_key(record): record for record in records}
    if len(keyed) != len(records):
        raise SystemExit(f"{path}: {len(records) - len(keyed)} records share a key")
    return keyed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--ignore", action="append", default=[], help="a dotted field to leave out (repeatable)")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE)
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
