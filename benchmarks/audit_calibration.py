"""Audit of the held-out headline's intervals and paired comparisons on real matrices, by subsampling concepts.

    python benchmarks/audit_calibration.py capture MATRICES       # once: the offline suite's matrices, from the cache
    python benchmarks/audit_calibration.py audit MATRICES [--n 60] [--samples 200] [--text glove_6b_50d]

``capture`` reruns the offline suite without permutations (its layer and text matrices come from the cache a
``benchsuite run --all`` filled) and saves, per (design, vision model, text model), the matrices the held-out
summary is computed from. ``audit`` treats the design's k concepts as the population: it draws ``--samples``
subsets of n concepts without replacement and computes every model's headline on each, as if the subset were the
benchmark. The truth is known from the population: each model's (and each pair's difference's) expected
held-out score at n is the mean over the subsets. The subsets are drawn without replacement from a finite
population, so their scores spread less than samples of n from an unbounded population of concepts would: by the
first-order finite-population correction, the variance is (1/n − 1/k)·σ² instead of σ²/n, so the observed
deviations are divided by sqrt(1 − n/k) before they are compared with the intervals (coverage), the p-values
(false rejections of the true difference) and the intervals' widths (2 × 1.96 × the corrected spread). Prints
one table per text model; docs/methods.md and benchmarks/RESULTS.md quote them.
"""

from __future__ import annotations

import argparse
import pickle
import re
import sys
import tempfile
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

DESIGN = "1 photo x 1 group"


def file_name(*parts: str) -> str:
    return "__".join(re.sub(r"[^A-Za-z0-9_.-]", "_", part) for part in parts) + ".npz"


def capture(folder: Path) -> None:
    """Save the inputs of every held-out summary of the offline suite (from the cache, no permutations)."""
    import benchsuite.run.assemble as assemble
    from benchsuite.api import evaluate

    folder.mkdir(parents=True, exist_ok=True)
    real = assemble.headline

    def saving(layers: Any, text_matrix: Any, **options: Any) -> Any:
        work, text = saving.current  # type: ignore[attr-defined]
        np.savez(folder / file_name(work.data.design.name, work.meta.name, text.name),
                 layers=np.asarray(layers, dtype=float), text=np.asarray(text_matrix, dtype=float))
        return real(layers, text_matrix, **options)

    real_summaries = assemble.summary_records

    def summaries(items: Any, work: Any, records: Any, metric: Any, scores: Any) -> Any:
        out = []
        for text in work.text_models:
            saving.current = (work, text)  # type: ignore[attr-defined]
            out.extend(real_summaries(items, assemble.ModelOnDesign(**{**vars(work), "text_models": [text]}),
                                      records, metric, scores))
        return out

    assemble.headline = saving  # type: ignore[assignment]
    assemble.summary_records = summaries  # type: ignore[assignment]
    with tempfile.TemporaryDirectory() as out:
        evaluate(suite="offline", permutations=0, metrics="two_vs_two", out=out, progress=False)
    print(f"{len(list(folder.glob('*.npz')))} summaries' matrices in {folder}")


def load(folder: Path, design: str, text: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Every vision model's layer matrices (layers × groups × k × k) against ``text`` on ``design``, and the text
    matrix (the same for every model: the models are scored on the same concepts)."""
    models, texts = {}, []
    for path in sorted(folder.glob("*.npz")):
        first, vision, last = path.name.split("__")
        if file_name(first, vision, last.removesuffix(".npz")) != file_name(design, vision, text):
            continue
        with np.load(path) as stored:
            models[vision], matrix = stored["layers"], stored["text"]
        texts.append(matrix)
    if not models:
        raise SystemExit(f"no matrices for {design!r} and {text!r} in {folder}; run `capture` first")
    if any(not np.array_equal(texts[0], other) for other in texts[1:]):
        raise SystemExit("the models were scored on different concepts")
    return models, texts[0]


def previous_factor(layers: np.ndarray, text: np.ndarray, best: int, seed: int) -> float:
    """The calibration this audit replaced: subsampling's spread of the in-sample best layer's score on 100
    random halves, times sqrt(m / k), over the pair bootstrap's spread of that layer's score."""
    from benchsuite.inference.heldout import (
        N_BOOTSTRAP,
        bootstrap_weights,
        calibration_halvings,
        pair_outcomes,
        restricted,
        weighted_accuracies,
    )

    k = len(text)
    m = k // 2
    halves = [np.flatnonzero(half) for half in calibration_halvings(k, 100, seed)]
    scores = [pair_outcomes(restricted([layers[best]], half), text[np.ix_(half, half)]).mean(axis=1).sum()
              / (m * (m - 1)) for half in halves]
    weights, _ = bootstrap_weights(k, layers.shape[1], N_BOOTSTRAP, seed)
    outcomes = pair_outcomes([layers[best]], text)
    draws = weighted_accuracies(outcomes, weights, np.ones((len(weights), layers.shape[1]), dtype=np.float32))
    return float(np.sqrt(m / k) * np.std(scores) / np.std(draws))


def sample_headlines(models: dict[str, np.ndarray], text: np.ndarray, n: int, sample: int) -> dict[str, Any]:
    """Every model's headline on one random subset of n concepts (seed ``sample``), with the previous factor."""
    from benchsuite.inference.heldout import headline, unwidened

    rng = np.random.default_rng((2024, sample))
    subset = np.sort(rng.choice(len(text), n, replace=False))
    cut = np.ix_(subset, subset)
    found = {}
    for vision, layers in models.items():
        sub = layers[:, :, subset][:, :, :, subset]
        h = headline([list(groups) for groups in sub], text[cut], seed=sample, n_permutations=0)
        found[vision] = {"estimate": h.heldout, "interval": h.interval, "calibration": h.calibration,
                         "raw": unwidened(h.draws, h.spread_factor), "factor": h.spread_factor,
                         "previous": previous_factor(sub, text[cut], h.best_layer, sample)}
    return found


def rates(estimates: np.ndarray, truth: float, correction: float, draws: list[np.ndarray]) -> tuple[float, ...]:
    """(coverage of the truth, false rejections of it at 0.05, mean width over 2 × 1.96 × the true spread) of the
    intervals and p-values that ``draws`` give each estimate, deviations divided by ``correction``."""
    from benchsuite.inference.comparisons import paired_difference

    found = [paired_difference(truth + (e - truth) / correction, truth, d, np.zeros_like(d))
             for e, d in zip(estimates, draws, strict=True)]
    covered = np.mean([f.low <= 0 <= f.high for f in found])
    rejected = np.mean([f.p_value < 0.05 for f in found])
    spread = np.std(estimates) / correction
    width = np.mean([f.high - f.low for f in found]) / (2 * 1.96 * spread)
    return float(covered), float(rejected), float(width)


def audit(folder: Path, design: str, text_name: str, n: int, samples: int, skip: list[str]) -> None:
    """Coverage, false rejections and widths of the headlines' and paired differences' intervals over
    ``samples`` subsets of n concepts, for the calibration in use and the previous one (each subset's headlines
    are kept in MATRICES, so that a stopped audit resumes)."""
    models, text = load(folder, design, text_name)
    models = {name: models[name] for name in models if name not in skip}
    k = len(text)
    saved = folder / f"audit {file_name(design, text_name, str(n))}.pickle"
    runs = pickle.loads(saved.read_bytes()) if saved.exists() else []  # a stopped audit resumes
    for sample in range(len(runs), samples):
        runs.append(sample_headlines(models, text, n, sample))
        saved.write_bytes(pickle.dumps(runs))
        print(f"subset {sample + 1} of {samples}", file=sys.stderr, flush=True)
    report(runs[:samples], design, text_name, n, k)


def report(runs: list[dict[str, Any]], design: str, text_name: str, n: int, k: int) -> None:
    """The audit's table from its subsets' headlines."""
    from benchsuite.inference.comparisons import calibrated_differences
    from benchsuite.inference.heldout import widened

    models = list(runs[0])
    samples = len(runs)
    correction = float(np.sqrt(1 - n / k))
    print(f"{design}, {text_name}: {samples} subsets of n = {n} of the k = {k} concepts "
          f"(deviations / sqrt(1 - n/k) = / {correction:.3f})")
    print("| model or pair | truth | true sd | factor (now; previous) | coverage now | coverage previous "
          "| false rejections now | previous | width now | previous |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for vision in models:
        estimates = np.array([run[vision]["estimate"] for run in runs])
        truth = float(estimates.mean())
        now = rates(estimates, truth, correction, [widened(run[vision]["raw"], run[vision]["factor"])
                                                   for run in runs])
        before = rates(estimates, truth, correction, [widened(run[vision]["raw"], run[vision]["previous"])
                                                      for run in runs])
        factors = (np.mean([run[vision]["factor"] for run in runs]), np.mean([run[vision]["previous"] for run in runs]))
        print(f"| {vision} | {truth:.3f} | {np.std(estimates) / correction:.4f} | {factors[0]:.2f}; {factors[1]:.2f} "
              f"| {now[0]:.3f} | {before[0]:.3f} | {now[1]:.3f} | {before[1]:.3f} | {now[2]:.2f} | {before[2]:.2f} |")
    for a, b in combinations(models, 2):
        estimates = np.array([run[a]["estimate"] - run[b]["estimate"] for run in runs])
        truth = float(estimates.mean())
        now = rates(estimates, truth, correction, [
            calibrated_differences(widened(run[a]["raw"], run[a]["factor"]), widened(run[b]["raw"], run[b]["factor"])
                                   [None], run[a]["calibration"], [run[b]["calibration"]])[0] for run in runs])
        before = rates(estimates, truth, correction, [
            widened(run[a]["raw"], run[a]["previous"]) - widened(run[b]["raw"], run[b]["previous"]) for run in runs])
        print(f"| {a} - {b} | {truth:+.3f} | {np.std(estimates) / correction:.4f} | | {now[0]:.3f} | {before[0]:.3f} "
              f"| {now[1]:.3f} | {before[1]:.3f} | {now[2]:.2f} | {before[2]:.2f} |")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["capture", "audit"])
    parser.add_argument("matrices", type=Path)
    parser.add_argument("--design", default=DESIGN)
    parser.add_argument("--text", default="glove_6b_50d")
    parser.add_argument("--n", type=int, default=60, help="concepts per subset")
    parser.add_argument("--samples", type=int, default=200, help="subsets")
    parser.add_argument("--skip", default="", help="comma-separated vision models to leave out")
    arguments = parser.parse_args(argv)
    if arguments.action == "capture":
        capture(arguments.matrices)
    else:
        audit(arguments.matrices, arguments.design, arguments.text, arguments.n, arguments.samples,
              [name for name in arguments.skip.split(",") if name])


if __name__ == "__main__":
    main(sys.argv[1:])
