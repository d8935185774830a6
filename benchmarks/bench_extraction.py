"""Extraction speed and memory: overhead over a bare forward pass, peak RSS under a budget, images per second.

    python benchmarks/bench_extraction.py overhead --model vgg16_untrained --images 32
    python benchmarks/bench_extraction.py overhead --model vgg16_untrained --images 24 --skip-spill
    python benchmarks/bench_extraction.py store --model vgg16_untrained --images 24
    python benchmarks/bench_extraction.py memory --model vgg16_untrained --images 166 --budget 2GiB --budget 8GiB
    python benchmarks/bench_extraction.py throughput --images 16

Each prints a markdown table for benchmarks/RESULTS.md. ``memory`` runs every
budget in a fresh interpreter so that each peak RSS is its own.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from skimage import data  # noqa: E402

from benchsuite.contract.errors import ResourceMissing  # noqa: E402
from benchsuite.contract.manager import Registry  # noqa: E402
from benchsuite.extraction.layers import extract_group, parse_size  # noqa: E402
from benchsuite.extraction.store import LayerGram, MemoryPlan, as_rows, current_rss  # noqa: E402

GiB = 2**30


def photos() -> list[np.ndarray]:
    """Real photos: the foolbox ImageNet JPEGs when installed, and scikit-image's colour photos."""
    found = [data.chelsea(), data.coffee(), data.rocket(), data.astronaut()]
    spec = importlib.util.find_spec("foolbox")
    if spec is not None and spec.origin is not None:
        for path in sorted((Path(spec.origin).parent / "data").glob("imagenet_*.jpg")):
            found.append(np.asarray(Image.open(path).convert("RGB")))
    return found


def benchmark_images(count: int) -> list[np.ndarray]:
    """``count`` distinct images: the photos cycled with shifted crops and mirror flips."""
    base = photos()
    images = []
    for index in range(count):
        photo = base[index % len(base)]
        round_ = index // len(base)
        shift = 7 * round_
        crop = photo[shift:, shift:] if min(photo.shape[:2]) > shift + 64 else photo
        images.append(np.ascontiguousarray(crop[:, ::-1] if round_ % 2 else crop))
    return images


def bare_forward(model, images: list[np.ndarray], batch_size: int) -> None:
    """Preprocessing and the forward pass alone, no layer reported."""
    for start in range(0, len(images), batch_size):
        model.forward(model.preprocess(images[start : start + batch_size]), [], lambda *_: None)


def timed(function, *args, **kwargs) -> tuple[float, float]:
    """Wall-clock and CPU seconds (all threads) of one call; CPU time is steadier on a shared machine."""
    wall, cpu = time.perf_counter(), time.process_time()
    function(*args, **kwargs)
    return time.perf_counter() - wall, time.process_time() - cpu


def overhead(args: argparse.Namespace) -> None:
    model = Registry().vision[args.model].load()
    images = benchmark_images(args.images)
    bare_forward(model, images[: args.batch_size], args.batch_size)
    runs: dict[str, list[tuple[float, float]]] = {"bare forward": [], "in memory": []}
    if not args.skip_spill:
        runs["chunked (spill)"] = []
    with tempfile.TemporaryDirectory() as spill:
        for _ in range(args.repeats):
            runs["bare forward"].append(timed(bare_forward, model, images, args.batch_size))
            runs["in memory"].append(timed(extract_group, model, images, batch_size=args.batch_size))
            if not args.skip_spill:
                runs["chunked (spill)"].append(timed(
                    extract_group, model, images, batch_size=args.batch_size, memory_budget=1, spill_dir=Path(spill)
                ))
    best = {name: (min(w for w, _ in times), min(c for _, c in times)) for name, times in runs.items()}
    bare_wall, bare_cpu = best["bare forward"]
    print(
        f"\n{args.model}, {args.images} images, batch {args.batch_size}, all {len(model.layers)} layers, "
        f"best of {args.repeats} (interleaved)\n"
    )
    print("| path | wall s | overhead (wall) | CPU s | overhead (CPU) |\n|---|---|---|---|---|")
    for name, (wall, cpu) in best.items():
        wall_overhead, cpu_overhead = 100 * (wall / bare_wall - 1), 100 * (cpu / bare_cpu - 1)
        print(f"| {name} | {wall:.1f} | {wall_overhead:+.1f}% | {cpu:.1f} | {cpu_overhead:+.1f}% |")


def store_arithmetic(layers: dict[str, np.ndarray], n_images: int) -> None:
    """What extraction adds to a forward pass: every layer's rows centred into a LayerGram and its matrix taken."""
    plan = MemoryPlan(None, 8)
    for name, batch in layers.items():
        gram = LayerGram(name, n_images, plan)
        for start in range(0, n_images, len(batch)):
            gram.add(batch[: n_images - start])
        gram.matrix()


def store(args: argparse.Namespace) -> None:
    """The centring and Gram arithmetic alone, on one batch of real activations reused for every batch."""
    model = Registry().vision[args.model].load()
    images = benchmark_images(args.images)
    layers: dict[str, np.ndarray] = {}
    batch = model.preprocess(images[: args.batch_size])
    model.forward(batch, model.layers, lambda name, values: layers.setdefault(name, as_rows(values).copy()))
    bare = min(timed(bare_forward, model, images, args.batch_size)[1] for _ in range(args.repeats))
    arithmetic = min(timed(store_arithmetic, layers, args.images)[1] for _ in range(args.repeats))
    print(f"\n{args.model}, {args.images} images, batch {args.batch_size}, all {len(layers)} layers, "
          f"best of {args.repeats}\n")
    print("| part | CPU s | share of the bare forward |\n|---|---|---|")
    print(f"| bare forward | {bare:.2f} | |\n| centring and Gram (in memory) | {arithmetic:.2f} | "
          f"{100 * arithmetic / bare:+.1f}% |")


def memory_one(args: argparse.Namespace) -> None:
    """One budget in this interpreter; prints a JSON line."""
    model = Registry().vision[args.model].load()
    images = benchmark_images(args.images)
    loaded = current_rss()
    with tempfile.TemporaryDirectory() as spill:
        start = time.perf_counter()
        result = extract_group(
            model, images, batch_size=args.batch_size, memory_budget=parse_size(args.budget[0]), spill_dir=Path(spill)
        )
        seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        json.dumps(
            {
                "budget": args.budget[0],
                "seconds": seconds,
                "peak_rss": peak,
                "rss_after_load": loaded,
                "layers": len(result.matrices),
                "images": len(images),
            }
        )
    )


def memory(args: argparse.Namespace) -> None:
    rows = []
    for budget in args.budget:
        command = [
            sys.executable,
            __file__,
            "memory-one",
            "--model",
            args.model,
            "--images",
            str(args.images),
            "--batch-size",
            str(args.batch_size),
            "--budget",
            budget,
        ]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(output.strip().splitlines()[-1]))
    print(f"\n{args.model}, {args.images} images, batch {args.batch_size}, all layers\n")
    print(
        "| --memory-budget | peak RSS | within budget + 1 GiB | RSS after model load | seconds |\n|---|---|---|---|---|"
    )
    for row in rows:
        limit = parse_size(row["budget"]) + GiB
        print(
            f"| {row['budget']} | {row['peak_rss'] / GiB:.2f} GiB | {'yes' if row['peak_rss'] <= limit else 'NO'} "
            f"| {row['rss_after_load'] / GiB:.2f} GiB | {row['seconds']:.0f} |"
        )


def throughput(args: argparse.Namespace) -> None:
    registry = Registry()
    images = benchmark_images(args.images)
    print(f"\n{args.images} images, batch {args.batch_size}, every layer, in memory\n")
    print("| model | layers | images/s (wall) | images per CPU-second |\n|---|---|---|---|")
    for name in args.models or registry.vision.names():
        try:
            model = registry.vision[name].load()
        except ResourceMissing:
            print(
                f"| {name} | {len(registry.vision[name].layers)} | weights not installed (same cost as untrained) | |"
            )
            continue
        extract_group(model, images[:2], batch_size=args.batch_size)
        wall, cpu = timed(extract_group, model, images, batch_size=args.batch_size)
        print(f"| {name} | {len(model.layers)} | {len(images) / wall:.1f} | {len(images) / cpu:.1f} |", flush=True)
        del model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["overhead", "store", "memory", "memory-one", "throughput"])
    parser.add_argument("--model", default="vgg16_untrained")
    parser.add_argument("--models", nargs="*")
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--budget", action="append", default=None)
    parser.add_argument("--skip-spill", action="store_true", help="overhead: time only the bare and in-memory paths")
    args = parser.parse_args()
    if args.command != "memory-one":
        print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    commands = {"overhead": overhead, "store": store, "memory": memory, "memory-one": memory_one,
                "throughput": throughput}
    commands[args.command](args)


if __name__ == "__main__":
    main()
