"""The executors' unit of scoring work: one (text model, metric) pair over every layer and group of a model.

Self-contained (matrices, the metric and its settings), so any executor can run it, here or on a Ray worker.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from benchsuite.inference.pooled import Score, checked, score_layers
from benchsuite.results.timings import TIMINGS


@dataclass(frozen=True)
class ScoreTask:
    """One (text model, metric) evaluation of a model's layers: self-contained, so any executor can run it.

    ``layers[l][g]`` is layer l's matrix in image group g. Every layer is tested with the same
    relabellings of the text matrix, computed once for all of them (``permutation_tests``).
    """

    layers: Sequence[Sequence[np.ndarray]]
    text_matrix: np.ndarray
    metric: str
    statistic: Callable[[np.ndarray, np.ndarray], float]
    n_permutations: int
    seed: int
    device: str = "cpu"
    higher_is_better: bool = True

    def run(self) -> list[Score]:
        """Each layer's score, never an exception: a metric that raises or returns NaN/inf on a layer fails that
        layer's score alone (when the joint computation raises, each layer is retried on its own to find which)."""
        with TIMINGS(f"metric: {self.metric}"):
            return self.scores()

    def scores(self) -> list[Score]:
        try:
            return [checked(score) for score in self.compute(self.layers)]
        except Exception as error:  # a plugin metric may raise anything; it fails only its own records
            if len(self.layers) == 1:
                return [Score.failure(f"{type(error).__name__}: {error}")]
        return [self.run_one(layer) for layer in self.layers]

    def run_one(self, layer: Sequence[np.ndarray]) -> Score:
        try:
            return checked(self.compute([layer])[0])
        except Exception as error:  # as in run
            return Score.failure(f"{type(error).__name__}: {error}")

    def compute(self, layers: Sequence[Sequence[np.ndarray]]) -> list[Score]:
        return score_layers(layers, self.text_matrix, metric=self.metric, statistic=self.statistic,
                            n_permutations=self.n_permutations, seed=self.seed, device=self.device,
                            higher_is_better=self.higher_is_better)
