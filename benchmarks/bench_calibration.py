"""Coverage of the held-out headline's intervals and false rejections of the paired comparison, on REAL layer
matrices: the offline suite's cached 166-concept design (one photo each), read from the layer cache a
``benchsuite run`` leaves (``$BENCHSUITE_CACHE`` or ~/.cache/benchsuite), and glove_6b_50d's text matrix.

Run: OMP_NUM_THREADS=1 python benchmarks/bench_calibration.py [--reps 10] [--models mobilenet_v2 pixels]
(about 4-5 minutes on the shared 2-core machine: 10 repetitions, 200 bootstrap draws instead of 1000)

The finite population: the 166 concepts are the population. Each repetition splits them at random into two
disjoint halves of 83 (sampling without replacement) and scores one model on each half with the same seed,
so the two headlines are drawn alike (same bootstrap weights and calibration subsets, position by position)
and can be paired, yet rest on disjoint concepts: an exchangeable pair whose true difference is 0. For
disjoint halves that exhaust the population, Var(h1 - h2) is 2 Var(h) of an infinite population up to
N / (N - 1) (the finite-population corrections of the two halves cancel), so the spread of h1 - h2 over
repetitions is the yardstick: an interval is calibrated when its width is 2 × 1.96 × sd(h1 - h2) / sqrt(2)
and when h2 falls within sqrt(2) × its half-width of h1 95% of the time ("replicate coverage"); the paired
interval is calibrated when its width is 2 × 1.96 × sd(h1 - h2) and its test rejects 5% of the time.
Few repetitions (the machine is shared): read the rates with their binomial error.
"""

from __future__ import annotations

import argparse
import json
import re
import time

import numpy as np

from benchsuite.extraction.cache import default_cache_dir
from benchsuite.inference.comparisons import paired_difference
from benchsuite.inference.heldout import Headline, headline, restricted

TEXT, FIRST_CONCEPT, K = "glove_6b_50d", "n01443537", 166


def natural(name: str) -> list[object]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def cached_layers(model: str) -> list[list[np.ndarray]]:
    """The model's layer matrices on the 166-image design, in layer order (one group each)."""
    found: dict[str, np.ndarray] = {}
    for sidecar in sorted((default_cache_dir() / "vision").glob("*/*.json")):
        key = json.loads(sidecar.read_text())["key"]
        if key.get("item") == "layer" and key["model"]["name"] == model and len(key["images"]) == K \
                and "members" not in key:
            found.setdefault(key["layer"], np.load(sidecar.with_suffix(".npz"))["matrix"])
    if not found:
        raise SystemExit(f"no cached layers of {model} on the {K}-concept design; run the offline suite first")
    return [[found[name]] for name in sorted(found, key=natural)]


def cached_text() -> np.ndarray:
    for sidecar in sorted((default_cache_dir() / "text").glob("*/*.json")):
        key = json.loads(sidecar.read_text())["key"]
        if key["text"] == TEXT and len(key["concepts"]) == K and key["concepts"][0] == FIRST_CONCEPT:
            return np.load(sidecar.with_suffix(".npz"))["matrix"]
    raise SystemExit(f"no cached {TEXT} matrix on the {K}-concept design; run the offline suite first")


def halves_scored(layers: list[list[np.ndarray]], text: np.ndarray, rep: int, n_bootstrap: int,
                  n_calibration: int) -> tuple[Headline, Headline]:
    order = np.random.default_rng((2026, rep)).permutation(K)
    scored = []
    for half in (np.sort(order[: K // 2]), np.sort(order[K // 2:])):
        scored.append(headline(restricted(layers, half), text[np.ix_(half, half)], seed=0, n_permutations=0,
                               n_bootstrap=n_bootstrap, n_calibration=n_calibration))
    return scored[0], scored[1]


def report(model: str, pairs: list[tuple[Headline, Headline]]) -> None:
    gaps = np.array([a.heldout - b.heldout for a, b in pairs])
    truth = gaps.std(ddof=1)  # sd of an exchangeable difference, mean 0
    widths = np.array([[h.interval[1] - h.interval[0] for h in pair] for pair in pairs])
    covered = np.mean([abs(gap) <= np.sqrt(2) * w / 2 for gap, pair in zip(gaps, widths, strict=True) for w in pair])
    rows = {}
    for label, calibrate in (("difference calibrated on its own spread", True),
                             ("difference of the widened marginals", False)):
        found = [paired_difference(a.heldout, b.heldout, a.draws, b.draws,
                                   calibrations=(a.calibration, b.calibration) if calibrate else None)
                 for a, b in pairs if a.calibration is not None and b.calibration is not None]
        rows[label] = (np.mean([d.p_value < 0.05 for d in found]),
                       np.mean([d.high - d.low for d in found]) / (2 * 1.96 * truth))
    factor = np.mean([h.spread_factor for pair in pairs for h in pair])
    mean = np.mean([a.heldout for a, _ in pairs])
    print(f"{model}: {len(pairs)} pairs of disjoint halves (k = {K // 2}); mean headline {mean:.3f}; "
          f"sd(h1 - h2) {truth:.4f}; mean calibration factor {factor:.2f}")
    ratio = widths.mean() / (2 * 1.96 * truth / np.sqrt(2))
    print(f"  interval width / (2 x 1.96 x sd(h1 - h2) / sqrt 2): {ratio:.2f}; replicate coverage {covered:.2f}")
    for label, (rejected, ratio) in rows.items():
        print(f"  {label}: rejects {rejected:.2f} at 0.05; width / (2 x 1.96 x sd(h1 - h2)) {ratio:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--models", nargs="+", default=["mobilenet_v2", "pixels"])
    parser.add_argument("--n-bootstrap", type=int, default=200)
    parser.add_argument("--n-calibration", type=int, default=50)
    args = parser.parse_args()
    text = cached_text()
    for model in args.models:
        layers = cached_layers(model)
        start = time.perf_counter()
        pairs = [halves_scored(layers, text, rep, args.n_bootstrap, args.n_calibration) for rep in range(args.reps)]
        report(model, pairs)
        print(f"  ({len(layers)} layers, {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
