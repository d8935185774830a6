"""GPU against CPU: extraction images/s and permutation-test throughput.

Sized to finish in under 4 minutes on one H100 (the CPU side is kept small).
Run on a machine with a GPU:

    KERAS_BACKEND=torch .venv/bin/python benchmarks/gpu.py

Prints a markdown table for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import os
import platform
import time

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402

from benchsuite.contract.manager import Registry  # noqa: E402
from benchsuite.extraction.layers import extract_group  # noqa: E402
from benchsuite.metrics import permutation_test, permutation_tests  # noqa: E402
from benchsuite.metrics.similarity import correlation_matrix  # noqa: E402


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


def time_it(fn, repeat: int = 1) -> float:
    fn()  # warm-up (CUDA context, kernels, caches)
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def main() -> None:
    import torch

    gpu = torch.cuda.is_available()
    devices = ["cpu", "cuda"] if gpu else ["cpu"]
    print(f"machine: {platform.node()}, torch {torch.__version__}, "
          f"GPU: {torch.cuda.get_device_name(0) if gpu else 'none'}")
    print("| measure | " + " | ".join(devices) + " |")
    print("|---|" + "---|" * len(devices))
    registry = Registry()
    for name, n_images in (("mobilenet_v2", 64), ("vgg16_untrained", 32)):
        images = photos(n_images)
        cells = []
        for device in devices:
            model = registry.vision[name].load(device=device)
            seconds = time_it(lambda m=model, i=images: extract_group(m, i, batch_size=16))
            cells.append(f"{n_images / seconds:.1f}")
        print(f"| {name}: extraction, images/s ({n_images} images, all layers) | " + " | ".join(cells) + " |")
    for k, n_cpu in ((166, 1000), (1000, 50)):
        a, b = similarity_pair(k)
        cells = []
        for device in devices:
            n = n_cpu if device == "cpu" else 1000
            seconds = time_it(lambda d=device, n=n, a=a, b=b: permutation_test(a, b, statistic="two_vs_two",
                                                                      n_permutations=n, device=d))
            cells.append(f"{n / seconds:.0f}")
        print(f"| 2 vs 2 permutations/s at k = {k} | " + " | ".join(cells) + " |")
    layers = [similarity_pair(166, seed)[0] for seed in range(20)]
    text = similarity_pair(166, 99)[1]
    for statistic in ("two_vs_two", "rsa", "cka_debiased", "mutual_knn"):
        cells = []
        for device in devices:
            n = 1000 if device != "cpu" else (100 if statistic == "two_vs_two" else 1000)
            seconds = time_it(lambda d=device, n=n, s=statistic: permutation_tests(layers, text, statistic=s,
                                                                                   n_permutations=n, device=d))
            cells.append(f"{n * len(layers) / seconds:,.0f}")
        print(f"| {statistic} nulls, 20 layers at k = 166: layer-permutations/s | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
