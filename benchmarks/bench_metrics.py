"""Speed and memory of the metrics engine against the paper's own 2 vs 2 loop.

Run: python benchmarks/bench_metrics.py [--quick]
Prints a markdown table for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
from scipy.stats import pearsonr

from benchsuite.metrics import STATISTICS, permutation_test, two_vs_two
from benchsuite.metrics.permutation import default_batch_size
from benchsuite.similarity import correlation_matrix


def paper_loop(A: np.ndarray, B: np.ndarray) -> float:
    """The paper's 2 vs 2: for each pair, scipy's pearsonr on the four masked row pairs."""
    k = A.shape[0]
    passed = 0
    for i in range(k):
        for j in range(i + 1, k):
            S = [z for z in range(k) if z != i and z != j]
            matched = pearsonr(A[i, S], B[i, S])[0] + pearsonr(A[j, S], B[j, S])[0]
            mismatched = pearsonr(A[i, S], B[j, S])[0] + pearsonr(A[j, S], B[i, S])[0]
            passed += matched > mismatched
    return passed / (k * (k - 1) / 2)


def related(k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(k, 64))
    return (correlation_matrix(Z + 2 * rng.normal(size=Z.shape)),
            correlation_matrix(Z + 2 * rng.normal(size=Z.shape)))


def seconds(run: Callable[[], object], repeat: int = 1) -> float:
    """Best wall time of ``repeat`` runs."""
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def peak_mib(run: Callable[[], object]) -> float:
    tracemalloc.start()
    run()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip the 1000-permutation run at k=1000")
    args = parser.parse_args()
    load_start = os.getloadavg()[0]
    rows: list[tuple[str, str, str]] = []
    A, B = related(166)
    baseline = seconds(lambda: paper_loop(A, B))
    assert abs(paper_loop(A, B) - two_vs_two(A, B).accuracy) < 1e-12
    rows.append(("paper loop (scipy pearsonr per pair), one 2 vs 2, k=166", f"{baseline:.2f} s", "baseline"))
    fast = seconds(lambda: two_vs_two(A, B), repeat=20)
    rows.append(("`two_vs_two`, k=166", f"{fast * 1e3:.2f} ms",
                 f"{baseline / fast:,.0f}× faster (target ≥ 5000×)"))
    perm = seconds(lambda: permutation_test(A, B, statistic="two_vs_two", n_permutations=1000))
    rows.append(("`permutation_test` two_vs_two, 1000 perms, k=166", f"{perm:.2f} s",
                 f"{perm / baseline:.3f} of one baseline run (target < 0.25)"))
    for name in STATISTICS:
        if name != "two_vs_two":
            t = seconds(lambda n=name: permutation_test(A, B, statistic=n, n_permutations=1000))
            rows.append((f"`permutation_test` {name}, 1000 perms, k=166", f"{t:.2f} s", ""))
    A, B = related(1000)
    one = seconds(lambda: two_vs_two(A, B), repeat=3)
    rows.append(("`two_vs_two`, k=1000", f"{one:.3f} s", "target < 0.5 s"))
    batch = default_batch_size(1000, 1000)
    peak = peak_mib(lambda: permutation_test(A, B, n_permutations=2 * batch))
    rows.append((f"peak traced memory, 2 vs 2 permutations, k=1000, batch {batch}", f"{peak:.0f} MiB",
                 f"{peak / (batch * 1000 * 1000 * 8 / 2**20):.1f} × batch·k² float64"))
    if not args.quick:
        thousand = seconds(lambda: permutation_test(A, B, n_permutations=1000))
        rows.append(("`permutation_test` two_vs_two, 1000 perms, k=1000", f"{thousand:.1f} s", "target < 180 s"))
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}, CPU backend (numpy); "
          f"load average (1 min) {load_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end\n")
    print("| measurement | time | note |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
