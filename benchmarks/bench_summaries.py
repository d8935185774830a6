"""Seconds per held-out 2 vs 2 summary (one design, vision model and text model) at the offline suite's size.

Run: OMP_NUM_THREADS=1 python benchmarks/bench_summaries.py   (one core; synthetic matrices, k=166, 20 layers)
Cases: a trained model (every layer's per-layer p at its floor but one), a trained model with 12 layers
just above the floor (forces the family-wise null through those layers), and an untrained-like model
(weak signal in every layer, so the family-wise null runs until it stops early).
"""

from __future__ import annotations

import time

import numpy as np

from benchsuite.inference.heldout import headline
from benchsuite.metrics.similarity import correlation_matrix

K, LAYERS, PERMUTATIONS = 166, 20, 1000


def matrices(strength: float, groups: int, seed: int) -> tuple[list[list[np.ndarray]], np.ndarray]:
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(K, 10))
    text = correlation_matrix(latent @ rng.normal(size=(10, 50)) + 8 * rng.normal(size=(K, 50)))
    layers = [[correlation_matrix(strength * (depth + 1) / LAYERS * latent @ rng.normal(size=(10, 64))
                                  + 3 * rng.normal(size=(K, 64))) for _ in range(groups)] for depth in range(LAYERS)]
    return layers, text


def main() -> None:
    floor = 1 / (PERMUTATIONS + 1)
    cases = {
        "trained, one layer above the p floor": (0.5, [0.002] + [floor] * (LAYERS - 1)),
        "trained, 12 layers above the p floor": (0.5, [0.002] * 12 + [floor] * (LAYERS - 12)),
        "untrained-like, every layer weak": (0.05, [0.2] * LAYERS),
    }
    for groups in (1, 2):
        for name, (strength, p_values) in cases.items():
            layers, text = matrices(strength, groups, seed=groups)
            start = time.perf_counter()
            found = headline(layers, text, seed=0, n_permutations=PERMUTATIONS, layer_p_values=p_values)
            seconds = time.perf_counter() - start
            print(f"groups={groups} {name}: {seconds:.2f} s (held-out {found.heldout:.3f} "
                  f"[{found.interval[0]:.3f}, {found.interval[1]:.3f}], best {found.layer_values.max():.3f}, "
                  f"family-wise p {found.familywise_p:.3f} from {found.permutations_used} relabellings)")


if __name__ == "__main__":
    main()
