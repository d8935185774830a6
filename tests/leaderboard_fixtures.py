"""Records the leaderboard's tests build pages from: per-layer records, held-out summaries with shared bootstrap
draws, and the markdown compaction the tables are compared in."""

import re
import zlib

import numpy as np

from benchsuite.results.records import Problem, Record


def compact(text: str) -> str:
    """Markdown with tabulate's alignment padding taken out: one space around each cell, ``---`` rules."""
    return re.sub(r"\|-{3,}(?=\|)", "|---", re.sub(r" {2,}", " ", text))


def record(vision, layer, depth, value, text="glove", metric="two_vs_two", groups=None, p=0.01):
    return Record(suite="s", design="d", vision=vision, text=text, layer=layer, depth=depth, n_layers=3,
                  metric=metric, value=value, groups=groups or [value], p_value=p, chance=0.5, n_concepts=42)


RECORDS = [
    record("small", "a", 0, 0.61), record("small", "b", 1, 0.70), record("small", "c", 2, 0.66),
    record("big", "a", 0, 0.62, groups=[0.60, 0.64]), record("big", "b", 1, 0.80, groups=[0.78, 0.82], p=0.0009),
    record("big", "c", 2, 0.79), record("big", "b", 1, 0.3, metric="rsa"),
]
def headline_record(vision, value, text="glove", noise=0.0005, p=0.001, seed=0, key="k1", **fields):
    """A summary record whose bootstrap draws share one concept-level component with every other model's;
    ``fields`` (role, twin, cpu_drift) as the runner fills them from the items' metadata."""
    from benchsuite.results.records import Summary

    shared = np.random.default_rng(0).normal(0, 0.02, 400)
    draws = value + shared + np.random.default_rng(zlib.crc32(f"{vision}/{text}".encode())).normal(0, noise, 400)
    return Record(suite="s", design="d", vision=vision, text=text, layer="b", depth=1, n_layers=3,
                  metric="two_vs_two_heldout", value=value, p_value=p, chance=0.5, n_concepts=42,
                  interval=[value - 0.04, value + 0.04],
                  summary=Summary(best_value=value + 0.01, n_splits=10, n_bootstrap=400, resampling=key,
                                  draws=list(draws)), **fields)


SCORES = {"lite1": 0.886, "lite0": 0.880, "mobilenet_v2": 0.85, "mobilenet_v2_untrained": 0.58, "pixels": 0.578}
ROLES = {"mobilenet_v2_untrained": {"role": "untrained", "twin": "mobilenet_v2"}, "pixels": {"role": "baseline"}}
E5_DRIFT = {"two_vs_two": 0.004, "two_vs_two_heldout": 0.004, "one_vs_two": 0.031}  # what e5's metadata declares
HEADLINES = [headline_record(v, s, text=t, **ROLES.get(v, {}),
                             cpu_drift=E5_DRIFT["two_vs_two_heldout"] if t == "e5_multilingual" else 0.0)
             for v, s in SCORES.items() for t in ("glove", "e5_multilingual")]

PROBLEMS = [Problem(suite="s", kind="vision", name="broken", plugin="brokenpkg", status="failed",
                    error="RuntimeError: no")]
