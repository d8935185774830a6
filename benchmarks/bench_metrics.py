"""Speed and memory of the metrics engine against the paper's own 2 vs 2 loop, and each permutation
null's cost per draw against its floor on this machine.

Run: python benchmarks/bench_metrics.py [--quick] [--nulls-only] [--kendall-only]
Prints markdown tables for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
from scipy.stats import kendalltau, pearsonr
from threadpoolctl import threadpool_limits

from benchsuite.metrics import STATISTICS, permutation_test, permutation_tests, two_vs_two
from benchsuite.metrics.permutation import concept_permutations, default_batch_size, permutation_p_value
from benchsuite.metrics.rsa import upper_triangle
from benchsuite.metrics.similarity import correlation_matrix


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


def cpu_seconds(run: Callable[[], object], minimum: float = 1.0) -> float:
    """CPU seconds (this process, all threads) per call of ``run``, over at least ``minimum`` seconds."""
    run()
    calls, start = 0, time.process_time()
    while time.process_time() - start < minimum:
        run()
        calls += 1
    return (time.process_time() - start) / calls


def machine_peaks() -> tuple[float, float]:
    """One core's float64 matrix-product rate (flop/s) and memory copy rate (bytes/s, read + write)."""
    x, y = np.random.default_rng(0).random((2000, 2000)), np.random.default_rng(1).random((2000, 2000))
    out = np.empty((2000, 2000))
    flops = 2 * 2000**3 / cpu_seconds(lambda: np.matmul(x, y, out=out))
    big = np.random.default_rng(2).random(2**25)  # 256 MiB, far beyond the caches
    copy = np.empty_like(big)
    bandwidth = 2 * big.nbytes / cpu_seconds(lambda: np.copyto(copy, big))
    return flops, bandwidth


NULL_FLOORS = {
    "two_vs_two": ("2k³ flops (the relabelled product)", lambda k, layers: 2 * k**3, "flops"),
    "rsa": ("2k² flops per layer + one k² relabelled copy shared", lambda k, layers: 2 * k**2, "flops"),
    "rsa_pearson": ("as rsa", lambda k, layers: 2 * k**2, "flops"),
    "cka": ("as rsa", lambda k, layers: 2 * k**2, "flops"),
    "cka_debiased": ("as rsa, plus 2k flops", lambda k, layers: 2 * k**2 + 2 * k, "flops"),
    "mutual_knn": ("as rsa", lambda k, layers: 2 * k**2, "flops"),
}


def null_costs(k: int = 166, n_layers: int = 20) -> tuple[str, list[tuple[str, ...]]]:
    """Each statistic's null cost per draw and layer (``n_layers`` layers against one text matrix, one core),
    next to its floor: the arithmetic at this core's measured product rate, or the relabelled copy's
    bytes (shared by the layers) at its copy rate, whichever is larger."""
    flops, bandwidth = machine_peaks()
    layers = [related(k, seed)[0] for seed in range(n_layers)]
    text = related(k, 99)[1]
    rows = []
    with threadpool_limits(1):
        for name, (basis, work, _) in NULL_FLOORS.items():
            n = 50 if name == "two_vs_two" else 500
            per_draw = cpu_seconds(lambda s=name, n=n: permutation_tests(layers, text, statistic=s, n_permutations=n),
                                   minimum=2.0) / (n * n_layers)
            copy_bytes = 0 if name == "two_vs_two" else 2 * 8 * k**2 / n_layers
            floor = max(work(k, n_layers) / flops, copy_bytes / bandwidth)
            rows.append((f"`{name}`", f"{per_draw * 1e6:.1f} µs", f"{floor * 1e6:.2f} µs", f"{per_draw / floor:.1f}×",
                         basis))
    header = (f"One core: float64 product {flops / 1e9:.1f} GFLOP/s, copy {bandwidth / 1e9:.1f} GB/s; "
              f"{n_layers} layers against one text matrix at k = {k}, cost per draw and layer")
    return header, rows


def scipy_tau_a_null(A: np.ndarray, B: np.ndarray, n_permutations: int) -> np.ndarray:
    """scipy's compiled Kendall tau per relabelling (the peer's plain loop), on the same relabellings as
    ``permutation_test`` (seed 0). On untied triangles scipy's tau-b is tau-a (checked)."""
    x, y = upper_triangle(A), upper_triangle(B)
    assert np.unique(x).size == x.size and np.unique(y).size == y.size, "tau-b equals tau-a only without ties"
    return np.array([kendalltau(x, upper_triangle(B[np.ix_(p, p)])).statistic
                     for batch in concept_permutations(A.shape[0], n_permutations) for p in batch])


def kendall_side_by_side(k: int, n_permutations: int) -> tuple[str, str, str]:
    """``rsa_kendall_tau_a``'s null against scipy's per relabelling: same relabellings, values within 1e-12 (the
    p-value rule's tie tolerance), the same p-value; wall seconds of each."""
    A, B = related(k)
    permutation_test(A, B, statistic="rsa_kendall_tau_a", n_permutations=1)  # compiled once, outside the timing
    start = time.perf_counter()
    ours = permutation_test(A, B, statistic="rsa_kendall_tau_a", n_permutations=n_permutations)
    fast = time.perf_counter() - start
    start = time.perf_counter()
    peer = scipy_tau_a_null(A, B, n_permutations)
    slow = time.perf_counter() - start
    observed = kendalltau(upper_triangle(A), upper_triangle(B)).statistic
    gap = max(abs(observed - ours.observed), np.abs(peer - ours.null).max())
    assert gap <= 1e-12 and permutation_p_value(observed, peer) == ours.p_value, gap
    return (f"Kendall tau-a null, {n_permutations} relabellings, k={k}: scipy `kendalltau` per relabelling "
            f"{slow:.2f} s, `permutation_test` rsa_kendall_tau_a", f"{fast:.2f} s",
            f"{slow / fast:.1f}× faster (target ≥ 3×); largest gap {gap:.1e}, same p-value {ours.p_value:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip the 1000-permutation run at k=1000")
    parser.add_argument("--nulls-only", action="store_true", help="only the null cost per draw against its floor")
    parser.add_argument("--kendall-only", action="store_true",
                        help="only the Kendall tau-a null side by side with scipy's per relabelling")
    args = parser.parse_args()
    load_start = os.getloadavg()[0]
    if args.kendall_only:
        print_kendall(load_start)
        return
    header, null_rows = null_costs()
    print(header + "\n")
    print("| statistic | null cost per draw and layer | floor | ratio | floor basis |\n|---|---|---|---|---|")
    for row in null_rows:
        print("| " + " | ".join(row) + " |")
    print()
    if args.nulls_only:
        return
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


def print_kendall(load_start: float) -> None:
    rows = [kendall_side_by_side(166, 1000), kendall_side_by_side(1000, 100)]
    print(f"Load average (1 min) {load_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end\n")
    print("| measurement | time | note |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
