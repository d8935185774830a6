"""Seconds to publish the leaderboard (page, figures, results copy) of many models, and the refusal above the bound.

Run: python benchmarks/bench_leaderboard.py [--models 250,1000]   (needs the committed leaderboard/results.json)
The results are the committed offline suite's (6 models x 3 designs x 3 text models, ~700 records a model)
cloned into N models: each clone a ``model`` (no extra baselines or controls) whose values, groups, intervals and
bootstrap draws are shifted by its own offset in [-0.06, 0.06], so the models spread over many tiers.
"""

from __future__ import annotations

import argparse
import json
import tempfile
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
    """results.json of ``models`` vision models cloned from the committed ones (the originals kept first)."""
    data = json.loads(COMMITTED.read_text())
    by_model: dict[str, list[dict]] = {}
    for record in data["records"]:
        by_model.setdefault(record["vision"], []).append(record)
    originals = sorted(by_model)
    rng = np.random.default_rng(0)
    records = [r for name in originals for r in by_model[name]]
    for index in range(models - len(originals)):
        base = originals[index % len(originals)]
        offset = float(rng.uniform(-0.06, 0.06))
        records += [shifted(r, f"{base}_clone{index:05d}", offset) for r in by_model[base]]
    path = folder / "results.json"
    path.write_text(json.dumps({**data, "records": records}))
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="250,1000")
    counts = [int(n) for n in parser.parse_args().models.split(",")]
    print(f"| models | records | results.json | publish (page, figures, copy) | page |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for models in counts:
            folder = Path(tmp) / str(models)
            folder.mkdir()
            path = cloned(models, folder)
            n_records = len(json.loads(path.read_text())["records"])
            start = time.perf_counter()
            page = publish(path, folder / "board")
            seconds = time.perf_counter() - start
            print(f"| {models} | {n_records:,} | {path.stat().st_size / 2**20:.0f} MiB | {seconds:.1f} s | "
                  f"{page.stat().st_size / 2**20:.1f} MiB, {len(list((folder / 'board').rglob('*.png')))} figures |")
        folder = Path(tmp) / "over"
        folder.mkdir()
        path = cloned(MAX_MODELS + 1, folder)
        start = time.perf_counter()
        try:
            publish(path, folder / "board")
            print("NOT REFUSED")
        except BenchsuiteError as error:
            print(f"\n{MAX_MODELS + 1} models: refused in {time.perf_counter() - start:.1f} s: {error}")


if __name__ == "__main__":
    main()
