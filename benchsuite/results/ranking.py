"""What the page's tables and figures rank by, from records alone: best layers, held-out headlines and their
bootstrap draws, paired comparisons, significance tiers, per-layer false discovery rate, declared CPU drift."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from benchsuite.inference.comparisons import (
    Difference,
    benjamini_hochberg,
    calibrated_differences,
    difference_draws,
    difference_of,
    tiers,
    unwidened_differences,
    widened_differences,
)
from benchsuite.inference.heldout import SIGNIFICANCE, Calibration, unwidened, widened
from benchsuite.results.records import HEADLINE_METRIC, Record, Summary

Drifts = dict[str, dict[str, float]]
"""text model -> metric -> how far its scores may move on another CPU (only the metrics where that is not 0)."""


def declared_drift(records: Iterable[Record]) -> Drifts:
    """Each text model's CPU drift by metric: the largest ``cpu_drift`` among its records of that metric (the
    runner copies it from the text model's metadata). Tiers count differences within twice it as ties."""
    found: Drifts = defaultdict(dict)
    for record in records:
        if record.text is not None and record.metric is not None and record.cpu_drift > 0:
            found[record.text][record.metric] = max(found[record.text].get(record.metric, 0.0), record.cpu_drift)
    return dict(found)


def drift(drifts: Drifts, text: str | None, metric: str = HEADLINE_METRIC) -> float:
    """The declared CPU drift of a text model's ``metric`` scores (0 where none is declared)."""
    return drifts.get(text or "", {}).get(metric, 0.0)


def cpu_dependent(drifts: Drifts, text: str) -> bool:
    """Whether some metric of ``text`` declares a drift (its columns are marked †)."""
    return bool(drifts.get(text))


def value_of(record: Record) -> float:
    """The value of a record the tables and plots show (ok records with a value: never None)."""
    if record.value is None:
        raise ValueError(f"{record.vision} / {record.text} / {record.layer} / {record.metric} has no value")
    return record.value


def summary_of(record: Record) -> Summary:
    """The summary of a held-out headline record (``headlines`` keeps only those that have one)."""
    if record.summary is None:
        raise ValueError(f"{record.vision} / {record.text}: a {record.metric} record without its summary")
    return record.summary


def depth_of(record: Record) -> int:
    """A layer record's depth (0 = the first layer); -1 for a record of no layer, which no curve plots."""
    return -1 if record.depth is None else record.depth


def best_layers(records: Iterable[Record], metric: str) -> dict[tuple[str, str], Record]:
    """For each (vision, text), the record of the layer with the best value of ``metric``."""
    best: dict[tuple[str, str], Record] = {}
    for record in records:
        if record.metric != metric or record.status != "ok" or record.value is None:
            continue
        key = (record.vision, str(record.text))
        sign = 1 if record.higher_is_better else -1
        if key not in best or sign * record.value > sign * value_of(best[key]):
            best[key] = record
    return best


def fdr_significant(records: list[Record]) -> set[int]:
    """ids of the records whose p stays below SIGNIFICANCE after Benjamini-Hochberg over their model's layers,
    separately for each (vision model, text model, metric)."""
    families: dict[tuple, list[Record]] = defaultdict(list)
    for record in records:
        if record.status == "ok" and record.summary is None:
            families[(record.vision, record.text, record.metric)].append(record)
    significant = set()
    for family in families.values():
        for record, q in zip(family, benjamini_hochberg([r.p_value for r in family]), strict=True):
            if q is not None and q < SIGNIFICANCE:
                significant.add(id(record))
    return significant


def headlines(records: Iterable[Record]) -> dict[tuple[str, str], Record]:
    """For each (vision, text), its held-out summary record (results from before summaries have none)."""
    return {(r.vision, str(r.text)): r for r in records
            if r.metric == HEADLINE_METRIC and r.status == "ok" and r.summary is not None and r.value is not None}


@dataclass(frozen=True)
class Drawn:
    """A summary's draws as a read-only array (a missing draw, None, is NaN) and its calibration (None: schema 3
    and older), with the draws before widening made once for every comparison the model takes part in."""

    summary: Summary
    draws: np.ndarray
    calibration: Calibration | None

    @cached_property
    def unwidened(self) -> np.ndarray:
        """The draws before their widening (``heldout.unwidened``; the draws themselves without a calibration)."""
        if self.calibration is None:
            return self.draws
        raw = unwidened(self.draws, self.calibration.factor)
        raw.flags.writeable = False
        return raw


DRAWS: dict[int, Drawn] = {}
"""Each summary's ``Drawn``, made once while a page is rendered (``render`` empties it)."""


def drawn(record: Record) -> Drawn:
    summary = summary_of(record)
    cached = DRAWS.get(id(summary))
    if cached is None or cached.summary is not summary:
        draws = np.array(summary.draws, dtype=float)
        calibration = None
        if summary.calibration:
            scores = np.array(summary.calibration, dtype=float)
            scores.flags.writeable = False
            calibration = Calibration(scores=scores, factor=summary.spread_factor)
        draws.flags.writeable = False
        cached = DRAWS[id(summary)] = Drawn(summary, draws, calibration)
    return cached


def draws_of(record: Record) -> np.ndarray:
    """A headline's bootstrap draws as floats (a missing draw, None, is NaN); read-only, shared by every caller."""
    return drawn(record).draws


def calibration_of(record: Record) -> Calibration | None:
    """A headline's calibration scores with the factor its draws were widened by (None: schema 3 and older)."""
    return drawn(record).calibration


def calibrations(a: Record, b: Record) -> tuple[Calibration, Calibration] | None:
    """Both headlines' calibrations when they were made on the same halves (the same number of them), else None:
    then their paired difference is the difference of their draws."""
    first, second = calibration_of(a), calibration_of(b)
    if first is None or second is None or first.scores.shape != second.scores.shape:
        return None
    return first, second


def compare(a: Record, b: Record) -> Difference | None:
    """a − b, paired on the same bootstrap draws and calibrated on the difference itself (``difference_draws``);
    None when the two were not drawn alike."""
    if summary_of(a).resampling != summary_of(b).resampling or len(summary_of(a).draws) != len(summary_of(b).draws):
        return None
    first, second = drawn(a), drawn(b)
    if calibrations(a, b) is None:
        differences = difference_draws(first.draws, second.draws)
    else:
        assert first.calibration is not None and second.calibration is not None
        differences = widened_differences(first.unwidened, second.unwidened[None], first.calibration.scores,
                                          second.calibration.scores[None])[0]
    return difference_of(value_of(a) - value_of(b), differences)


def distinct(a: Record, b: Record, margin: float) -> bool:
    """a and b differ: the paired test rejects and the difference exceeds ``margin`` (twice the CPU drift)."""
    difference = compare(a, b)
    if difference is None:
        return bool((a.interval and b.interval) and abs(value_of(a) - value_of(b)) > 2 * margin and
                    (a.interval[0] > b.interval[1] or b.interval[0] > a.interval[1]))
    return difference.p_value < SIGNIFICANCE and abs(difference.value) > 2 * margin


def mean_headline(records: list[Record]) -> Record:
    """One model's headlines averaged over text models, draw by draw (a pseudo-record for the overall rank).

    With every headline's calibration (on the same halves), the mean is of the draws before widening and of the
    calibration scores, with factor 1, so that a paired difference of two means is calibrated on itself."""
    first = records[0]
    keys = {summary_of(r).resampling for r in records}
    found = [calibration_of(r) for r in records]
    shapes = {None if c is None else c.scores.shape for c in found}
    update: dict = {"calibration": []}  # a mean of widened draws is not calibrated again
    if len(keys) != 1:
        draws = np.array([np.nan])
    elif None in shapes or len(shapes) != 1:
        draws = np.mean([draws_of(r) for r in records], axis=0)
    else:
        known = [c for c in found if c is not None]
        draws = np.mean([unwidened(draws_of(r), c.factor) for r, c in zip(records, known, strict=True)], axis=0)
        update = {"spread_factor": 1.0,
                  "calibration": np.mean([c.scores for c in known], axis=0).tolist()}
    lows, highs = [r.interval[0] for r in records if r.interval], [r.interval[1] for r in records if r.interval]
    summary = summary_of(first).model_copy(update={**update, "draws": [float(d) for d in draws],
                                                   "resampling": keys.pop() if len(keys) == 1 else
                                                   f"unpaired: {first.vision}"})
    return first.model_copy(update={"text": None, "value": float(np.mean([value_of(r) for r in records])),
                                    "interval": [float(np.mean(lows)), float(np.mean(highs))]
                                    if len(lows) == len(records) else None, "summary": summary})


def paired_differences(draws: np.ndarray, others: np.ndarray, calibration: Calibration | None = None,
                       other_calibrations: list[Calibration] | None = None) -> np.ndarray:
    """``difference_draws(draws, others[i], ...)`` for every row i at once (calibrated when the leader's and every
    row's calibration are given): the paired draws of a − b, one row per b."""
    if calibration is not None and other_calibrations is not None:
        return calibrated_differences(draws, others, calibration, other_calibrations)
    return draws[None, :] - others


def paired_p_values(differences: np.ndarray, gaps: np.ndarray) -> np.ndarray:
    """``paired_difference``'s two-sided p for every row i of ``differences`` (``paired_differences``, every draw
    finite) whose a − b is ``gaps[i]``: the same operations on a matrix, so the same p-values, bit for bit."""
    centred = differences - np.median(differences, axis=1)[:, None] + gaps[:, None]
    below = (1 + np.count_nonzero(centred <= 0, axis=1)) / (1 + differences.shape[1])
    above = (1 + np.count_nonzero(centred >= 0, axis=1)) / (1 + differences.shape[1])
    return np.minimum(1.0, 2 * np.minimum(below, above))


def row_moments(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's mean and variance (E[x²] − mean², clipped at 0: in one pass each, for bounds, not for values)."""
    mean = rows.mean(axis=1)
    return mean, np.maximum(0.0, np.einsum("ij,ij->i", rows, rows) / rows.shape[1] - mean**2)


def surely_rejected(raw: np.ndarray, factors: np.ndarray, gaps: np.ndarray,
                    level: float = SIGNIFICANCE) -> np.ndarray:
    """Rows whose paired test (``paired_rejections`` of ``widened(raw, factors)``) rejects whatever their median, so
    that it need not be found: every centred draw lies on one side of 0.

    Widening by f > 0 keeps the order of a row's draws d and their median m, so its centred draws are
    f·(d − m) + gap, up to rounding. Any median lies within a standard deviation of the mean, m ≤ mean + sd, so
    where gap > f·(mean + sd − min d) every centred draw is above 0 (and where −gap > f·(max d − mean + sd), below):
    p = 2 / (n + 1), a rejection where that is below ``level``. The bound is taken wide of rounding (relative
    1e-6, absolute 1e-9)."""
    n = raw.shape[1]
    if n == 0 or 2 / (n + 1) >= level:
        return np.zeros(len(raw), dtype=bool)
    mean, variance = row_moments(raw)
    sd = np.sqrt(variance + 1e-15 * (1 + mean**2))
    slack = 1e-9 * (1 + factors)
    above = gaps > factors * (mean + sd - raw.min(axis=1)) * (1 + 1e-6) + slack
    below = -gaps > factors * (raw.max(axis=1) - mean + sd) * (1 + 1e-6) + slack
    return above | below


def paired_rejections(differences: np.ndarray, gaps: np.ndarray, level: float = SIGNIFICANCE) -> np.ndarray:
    """``paired_p_values(differences, gaps) < level`` for every row, bit for bit, mostly without a median.

    The test rejects when fewer than ``needed`` centred draws (draw − median + gap) lie at or below 0, or at or
    above it. Where counting shows a row's median at most ``high`` (its mean plus a quarter of its spread), or at
    least ``low`` (the mean minus that), each centred draw is at least (at most) the same sum taken with ``high``
    (``low``) in the median's place, the same roundings being monotone; counting those bounds settles every row but
    a close call. The close calls, and the rows whose median the bounds miss, get their p-values."""
    n = differences.shape[1]
    needed = int(np.count_nonzero(np.minimum(1.0, 2 * ((1 + np.arange(n + 1)) / (1 + n))) < level))
    mean, variance = row_moments(differences)
    spread = np.sqrt(variance)
    half = spread / 4 + 1e-12 * (1 + np.abs(mean))  # a bracket's width only: the counts below check it
    high = (mean + half)[:, None]
    least = differences - high + gaps[:, None]  # at most each centred draw where the median is at most high
    rejected = (np.count_nonzero(least <= 0, axis=1) < needed) & (np.count_nonzero(differences <= high, axis=1)
                                                                  > n // 2)
    unsure = np.flatnonzero(~rejected)
    if unsure.size:
        rows, least = differences[unsure], least[unsure]
        low = (mean[unsure] - half[unsure])[:, None]
        most = rows - low + gaps[unsure, None]  # at least each centred draw where the median is at least low
        bracketed = ((np.count_nonzero(rows <= high[unsure], axis=1) > n // 2)
                     & (np.count_nonzero(rows < low, axis=1) <= (n - 1) // 2))
        above = np.count_nonzero(most >= 0, axis=1) < needed
        kept = (np.count_nonzero(most <= 0, axis=1) >= needed) & (np.count_nonzero(least >= 0, axis=1) >= needed)
        rejected[unsure] = bracketed & above
        close = unsure[~(bracketed & (above | kept))]
        if close.size:
            rejected[close] = paired_p_values(differences[close], gaps[close]) < level
    return rejected


Kind = tuple[str, int]
"""How a headline's draws were made: its resampling key and number of draws (only such rows pair)."""


class Stacks:
    """One ranking's headlines by kind, each kind's draws, unwidened draws and calibration scores stacked once, so
    that a leader's batch is rows taken out of them."""

    def __init__(self, headlines: list[Drawn], kinds: dict[Kind, list[int]]):
        self.headlines, self.kinds = headlines, kinds
        self.row = {i: j for rows in kinds.values() for j, i in enumerate(rows)}  # a model's row in its kind's
        self.uniform = {kind: len({self.shape(i) for i in rows}) == 1 for kind, rows in kinds.items()}
        self.stacked: dict[tuple[Kind, str], np.ndarray] = {}

    def shape(self, index: int) -> tuple[int, ...] | None:
        calibration = self.headlines[index].calibration
        return None if calibration is None else calibration.scores.shape

    def part(self, index: int, part: str) -> np.ndarray:
        """A headline's ``draws``, ``unwidened`` draws or calibration ``scores``."""
        headline = self.headlines[index]
        if part == "scores":
            assert headline.calibration is not None
            return headline.calibration.scores
        return headline.unwidened if part == "unwidened" else headline.draws

    def rows(self, kind: Kind, part: str, models: list[int]) -> np.ndarray:
        """``part`` of ``models`` (all of ``kind``), from the kind's stack; the scores of a kind whose models are
        not calibrated alike stacked for these models alone."""
        if part == "scores" and not self.uniform[kind]:
            return np.stack([self.part(i, part) for i in models])
        if (kind, part) not in self.stacked:
            self.stacked[(kind, part)] = np.array([self.part(i, part) for i in self.kinds[kind]])
        return self.stacked[(kind, part)][[self.row[i] for i in models]]

    def rejections(self, leader: int, kind: Kind, models: list[int], gaps: np.ndarray) -> np.ndarray:
        """``paired_rejections`` of the leader against ``models`` (of its kind; calibrated like it where it is),
        the sure ones (``surely_rejected``) without their medians."""
        own = self.headlines[leader]
        if own.calibration is None:
            raw = paired_differences(own.draws, self.rows(kind, "draws", models))
            factors = np.ones(len(models))
        else:
            raw, factors = unwidened_differences(own.unwidened, self.rows(kind, "unwidened", models),
                                                 own.calibration.scores, self.rows(kind, "scores", models))
        rejected = surely_rejected(raw, factors, gaps)
        unsure = np.flatnonzero(~rejected)
        if unsure.size:
            rows = raw[unsure] if own.calibration is None else widened(raw[unsure], factors[unsure])
            rejected[unsure] = paired_rejections(rows, gaps[unsure])
        return rejected


def tier_ranks(found: dict[str, Record], margin: float) -> dict[str, int]:
    """``tiers`` of the models in ``found`` by ``distinct``; each leader is compared with the remaining models drawn
    like it (every draw finite) in one batch (``paired_rejections``), with the others one by one."""
    names = list(found)
    values = np.array([value_of(found[n]) for n in names])
    headlines = [drawn(found[n]) for n in names]
    position = {n: i for i, n in enumerate(names)}
    alike: dict[str, Kind] = {n: (summary_of(found[n]).resampling, len(h.draws)) for n, h in zip(names, headlines,
                                                                                                  strict=True)}
    finite = {n: bool(np.isfinite(h.draws).all()) for n, h in zip(names, headlines, strict=True)}
    kinds: dict[Kind, list[int]] = defaultdict(list)  # the models drawn alike
    for i, n in enumerate(names):
        kinds[alike[n]].append(i)
    stacks = Stacks(headlines, kinds)
    shape = {n: stacks.shape(i) for n, i in position.items()}

    def apart(leader: str, others: list[str]) -> list[bool]:
        own = shape[leader]  # batched with the rows calibrated alike (``calibrations``), the others one by one
        batch = [n for n in others if finite[n] and finite[leader] and alike[n] == alike[leader]
                 and own in (None, shape[n])]
        verdicts: dict[str, bool] = {}
        if batch:
            index, rows = position[leader], [position[n] for n in batch]
            rejected = stacks.rejections(index, alike[leader], rows, values[index] - values[rows])
            verdicts = {n: bool(r and abs(values[index] - values[i]) > 2 * margin)
                        for n, i, r in zip(batch, rows, rejected, strict=True)}
        return [verdicts[n] if n in verdicts else distinct(found[leader], found[n], margin) for n in others]

    return tiers({n: float(v) for n, v in zip(names, values, strict=True)}, apart)
