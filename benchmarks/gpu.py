"""GPU against CPU: extraction images/s beside the bare forward pass, and permutation-test throughput.

Sized to finish in under 4 minutes on one H100 (the CPU side is kept small). Run on a machine with a GPU:

    KERAS_BACKEND=torch .venv/bin/python benchmarks/gpu.py            # the CPU and, where torch sees one, the GPU
    .venv/bin/python benchmarks/gpu.py --device cpu                   # the CPU alone, small (8 images)

The bare forward pass is the same model's ``forward`` on the same preprocessed batches (batch size 16) with
no layer tapped: extraction's rate over it is what centring and the Gram products cost. Prints markdown
tables for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from functools import partial
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402

from benchsuite.contract.manager import Registry  # noqa: E402
from benchsuite.extraction.layers import extract_group, full_float32  # noqa: E402
from benchsuite.metrics import permutation_test, permutation_tests  # noqa: E402
from benchsuite.metrics.similarity import correlation_matrix  # noqa: E402

BATCH_SIZE = 16
MODELS = (("mobilenet_v2", 1), ("vgg16_untrained", 2))
"""The models timed, each with the divisor of ``--images`` it runs on (VGG16 costs about 5x MobileNetV2)."""


def photos(n: int, size: int = 256) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    from skimage import data

    base = [data.chelsea(), data.coffee(), data.astronaut(), data.rocket()]
    out = []
    for i in range(n):
        image = base[i % len(base)]
        y, x = rng.integers(0, 40, size=2)
        out.append(np.ascontiguousarray(image[y : y + size, x : x + size]))
    return out


def similarity_pair(k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    shared = rng.normal(size=(k, 64))
    a = correlation_matrix(shared + rng.normal(size=(k, 64)))
    b = correlation_matrix(shared + rng.normal(size=(k, 64)))
    return a, b


def time_it(fn: Callable[[], object], repeat: int = 1) -> float:
    fn()  # warm-up (CUDA context, kernels, caches)
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def bare_forward(model: Any, images: list[np.ndarray]) -> None:
    """The model's forward pass over ``images`` in batches of ``BATCH_SIZE`` (preprocessing included), no layer
    tapped."""
    for start in range(0, len(images), BATCH_SIZE):
        model.forward(model.preprocess(images[start : start + BATCH_SIZE]), [], lambda name, values: None)


def extraction_rows(registry: Registry, devices: list[str], n_images: int) -> list[str]:
    """Per model and device: bare forward and extraction images/s, and their ratio (a markdown row each)."""
    rows = []
    for name, divisor in MODELS:
        images = photos(max(n_images // divisor, 2))
        for device in devices:
            model = registry.vision[name].load(device=device)
            full_float32()  # both passes in float32, never TF32
            forward = time_it(partial(bare_forward, model, images))
            extraction = time_it(partial(extract_group, model, images, batch_size=BATCH_SIZE))
            rows.append(f"| {name} | {len(images)} | {device} | {len(images) / forward:.1f} | "
                        f"{len(images) / extraction:.1f} | {forward / extraction:.2f} |")
    return rows


def permutation_rows(devices: list[str]) -> list[str]:
    """Permutations/s of one pair and of 20 layers' stacked nulls, one column per device (markdown rows)."""
    rows = []
    for k, n_cpu in ((166, 1000), (1000, 50)):
        a, b = similarity_pair(k)
        cells = []
        for device in devices:
            n = n_cpu if device == "cpu" else 1000
            seconds = time_it(partial(permutation_test, a, b, statistic="two_vs_two", n_permutations=n, device=device))
            cells.append(f"{n / seconds:,.0f}")
        rows.append(f"| 2 vs 2 permutations/s at k = {k} (one pair) | " + " | ".join(cells) + " |")
    layers = [similarity_pair(166, seed)[0] for seed in range(20)]
    text = similarity_pair(166, 99)[1]
    for statistic in ("two_vs_two", "rsa", "cka_debiased", "mutual_knn"):
        cells = []
        for device in devices:
            n = 1000 if device != "cpu" else (100 if statistic == "two_vs_two" else 1000)
            seconds = time_it(partial(permutation_tests, layers, text, statistic=statistic, n_permutations=n,
                                      device=device))
            cells.append(f"{n * len(layers) / seconds:,.0f}")
        rows.append(f"| {statistic} nulls, 20 layers at k = 166: layer-permutations/s | " + " | ".join(cells) + " |")
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="auto: the CPU, and the GPU where torch sees one")
    parser.add_argument("--images", type=int, help="MobileNetV2's images, VGG16 runs half as many (default: 64 where "
                        "a GPU is timed, else 8)")
    parser.add_argument("--no-permutations", action="store_true", help="time extraction alone")
    args = parser.parse_args(argv)
    import torch

    gpu = torch.cuda.is_available()
    devices = {"auto": ["cpu", "cuda"] if gpu else ["cpu"], "cpu": ["cpu"], "cuda": ["cuda"]}[args.device]
    if "cuda" in devices and not gpu:
        raise SystemExit("--device cuda: torch sees no CUDA device here; use --device cpu")
    print(f"machine: {platform.node()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"GPU: {torch.cuda.get_device_name(0) if gpu else 'none'}")
    print("\n| model | images | device | bare forward, images/s | extraction, images/s (all layers) | "
          "extraction / forward |\n|---|---|---|---|---|---|")
    print("\n".join(extraction_rows(Registry(), devices, args.images or (64 if "cuda" in devices else 8))))
    if not args.no_permutations:
        print("\n| measure | " + " | ".join(devices) + " |\n|---|" + "---|" * len(devices))
        print("\n".join(permutation_rows(devices)))


if __name__ == "__main__":
    main()
