"""Seconds to publish the leaderboard (page, figures, results copy) of many models, and the refusal above the bound.

Run: python benchmarks/bench_leaderboard.py [--models 250,1000]   (needs the committed leaderboard/results.json)
The results are the committed offline suite's (6 models x 3 designs x 3 text models, ~700 records a model)
cloned into N models: each clone a ``model`` (no extra baselines or controls) whose values, groups, intervals and
bootstrap draws are shifted by its own offset in [-0.06, 0.06], so the models spread over many tiers.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

from benchsuite.contract.errors import BenchsuiteError
from benchsuite.results.leaderboard import MAX_MODELS, publish

COMMITTED = Path(__file__).resolve().parents[1] / "leaderboard" / "results.json"


def shifted(record: dict, vision: str, offset: float) -> dict:
    """A copy of ``record`` for clone ``vision``, its numbers moved by ``offset`` (p-values kept)."""
    moved = {**record, "vision": vision, "role": "model", "twin": None}
    if moved.get("value") is not None:
        moved["value"] = min(1.0, moved["value"] + offset)
        moved["groups"] = [None if g is None else min(1.0, g + offset) for g in moved["groups"]]
    if moved.get("interval"):
        moved["interval"] = sorted(min(1.0, x + offset) for x in moved["interval"])
    if moved.get("summary"):
        summary = moved["summary"]
        moved["summary"] = {**summary, "best_value": min(1.0, summary["best_value"] + offset),
                            "draws": [None if d is None else min(1.0, d + offset) for d in summary["draws"]]}
    return moved


def cloned(models: int, folder: Path) -> Path:
    """results.json of ``models`` vision models cloned from the committed ones (the originals kept first), written
    record by record (a 1000-model file is about 1 GB) in the layout ``write_results`` gives it (``indent=1``)."""
    data = json.loads(COMMITTED.read_text())
    by_model: dict[str, list[dict]] = {}
    for record in data["records"]:
        by_model.setdefault(record["vision"], []).append(record)
    originals = sorted(by_model)
    rng = np.random.default_rng(0)
    path = folder / "results.json"
    with path.open("w") as handle:
        handle.write(f'{{\n "schema_version": {data["schema_version"]},\n "records": [\n')
        first = True
        for index in range(-len(originals), models - len(originals)):
            base = originals[index % len(originals)]
            offset = float(rng.uniform(-0.06, 0.06))
            for record in by_model[base]:
                item = record if index < 0 else shifted(record, f"{base}_clone{index:05d}", offset)
                handle.write(("" if first else ",\n") + textwrap.indent(json.dumps(item, indent=1), "  "))
                first = False
        handle.write('\n ],\n "problems": [],\n "mixed_settings": {}\n}')
    return path


def one_record_each(models: int, folder: Path) -> Path:
    """results.json of ``models`` vision models with one record each (what the bound counts is models)."""
    record = json.loads(COMMITTED.read_text())["records"][0]
    path = folder / "results.json"
    path.write_text(json.dumps({"schema_version": 3, "problems": [], "mixed_settings": {},
                                "records": [{**record, "vision": f"m{i:05d}"} for i in range(models)]}))
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="250,1000")
    counts = [int(n) for n in parser.parse_args().models.split(",")]
    print(f"load average at the start: {os.getloadavg()[0]:.1f}")
    print("| models | records | results.json | publish: wall (CPU) seconds | page |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for models in counts:
            folder = Path(tmp) / str(models)
            folder.mkdir()
            path = cloned(models, folder)
            n_records = path.read_bytes().count(b'"vision": ')
            start, cpu = time.perf_counter(), time.process_time()
            page = publish(path, folder / "board")
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            print(f"| {models} | {n_records:,} | {path.stat().st_size / 2**20:.0f} MiB | {seconds:.1f} s "
                  f"({cpu:.1f} s) | "
                  f"{page.stat().st_size / 2**20:.1f} MiB, {len(list((folder / 'board').rglob('*.png')))} figures |")
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")
        for models in (MAX_MODELS + 1, 20_000):
            folder = Path(tmp) / f"over{models}"
            folder.mkdir()
            path = one_record_each(models, folder)
            start = time.perf_counter()
            try:
                publish(path, folder / "board")
                print(f"\n{models} models: NOT REFUSED")
            except BenchsuiteError as error:
                print(f"\n{models} models: refused in {time.perf_counter() - start:.2f} s: {error}")


if __name__ == "__main__":
    main()
