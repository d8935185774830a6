"""Paired comparisons and tiers from records that carry their calibration halvings (schema 4), and from older
records that do not."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchsuite.inference.comparisons import paired_difference, tiers
from benchsuite.inference.heldout import spread_factors, unwidened, widened
from benchsuite.results.ranking import (
    calibration_of,
    compare,
    distinct,
    draws_of,
    mean_headline,
    paired_differences,
    paired_p_values,
    tier_ranks,
    value_of,
)
from benchsuite.results.records import SCHEMA_VERSION, Record, Summary, read_results, record_problem


def headline(vision: str, value: float, raw: np.ndarray, halves: np.ndarray | None, text: str = "t") -> Record:
    """A summary record as the runner writes it: draws widened by the factor its calibration gives."""
    factor = 1.0 if halves is None else float(spread_factors(halves, raw))
    draws = widened(raw, factor)
    summary = Summary(best_value=value, n_splits=10, n_bootstrap=len(draws), resampling="k", spread_factor=factor,
                      draws=[round(float(d), 6) for d in draws],
                      calibration=[] if halves is None else [[round(float(s), 6) for s in row] for row in halves])
    return Record(suite="s", design="d", vision=vision, text=text, layer="l", depth=0, n_layers=1,
                  metric="two_vs_two_heldout", value=value, interval=[value - 0.05, value + 0.05], n_concepts=40,
                  summary=summary)


def models(n: int, seed: int = 0, text: str = "t", calibrated: bool = True) -> list[Record]:
    rng = np.random.default_rng(seed)
    concepts = rng.normal(0, 0.02, size=300)
    shared = rng.normal(0, 0.03, size=(2, 60))
    shared[1] = -shared[0]
    found = []
    for i in range(n):
        value = float(rng.uniform(0.6, 0.8))
        halves = value + shared * rng.uniform(0.5, 1.5) + rng.normal(0, 0.01, size=(2, 60))
        found.append(headline(f"m{i:02d}", value, value + concepts + rng.normal(0, 0.01, size=300),
                              halves if calibrated else None, text))
    return found


def test_a_comparison_is_calibrated_on_the_difference():
    a, b = models(2)
    found = compare(a, b)
    calibrations = (calibration_of(a), calibration_of(b))
    assert found == paired_difference(value_of(a), value_of(b), draws_of(a), draws_of(b), calibrations=calibrations)
    plain = paired_difference(value_of(a), value_of(b), draws_of(a), draws_of(b))
    assert found is not None and found.high - found.low != pytest.approx(plain.high - plain.low, rel=1e-3)


def test_batched_calibrated_p_values_are_the_plain_ones_bit_for_bit():
    found = models(25, seed=1)
    leader, rest = found[0], found[1:]
    differences = paired_differences(draws_of(leader), np.array([draws_of(b) for b in rest]), calibration_of(leader),
                                     [calibration_of(b) for b in rest])
    batched = paired_p_values(differences, value_of(leader) - np.array([value_of(b) for b in rest]))
    assert batched.tolist() == [compare(leader, b).p_value for b in rest]  # type: ignore[union-attr]


@pytest.mark.parametrize("mixed", [False, True])
def test_batched_tiers_are_the_plain_ones_with_calibrations(mixed):
    found = models(30, seed=2) + (models(5, seed=3, calibrated=False) if mixed else [])
    by_name = {f"{r.vision}{i}": r for i, r in enumerate(found)}
    for margin in (0.0, 0.004):
        plain = tiers({v: value_of(r) for v, r in by_name.items()},
                      lambda a, others, m=margin: [distinct(by_name[a], by_name[b], m) for b in others])
        assert tier_ranks(by_name, margin) == plain


def test_a_mean_over_text_models_pairs_the_means_draws_before_widening():
    first, second = models(3, seed=4, text="t1"), models(3, seed=5, text="t2")
    means = [mean_headline([a, b]) for a, b in zip(first, second, strict=True)]
    mean = means[0]
    expected = np.mean([unwidened(draws_of(r), r.summary.spread_factor) for r in (first[0], second[0])], axis=0)
    assert mean.summary.spread_factor == 1.0 and np.allclose(draws_of(mean), expected)
    assert np.allclose(calibration_of(mean).scores, (calibration_of(first[0]).scores
                                                     + calibration_of(second[0]).scores) / 2)
    assert compare(means[0], means[1]) is not None
    unpaired = mean_headline([first[0], models(1, seed=6, text="t3", calibrated=False)[0]])
    assert unpaired.summary.calibration == [] and calibration_of(unpaired) is None


def test_records_of_schema_3_compare_by_their_draws(tmp_path):
    old = models(2, calibrated=False)
    assert calibration_of(old[0]) is None
    assert compare(*old) == paired_difference(value_of(old[0]), value_of(old[1]), draws_of(old[0]), draws_of(old[1]))
    mixed = compare(models(1)[0], old[1])
    assert mixed is not None
    path = tmp_path / "results.json"
    data = [r.model_dump(mode="json") for r in old]
    for record in data:
        del record["summary"]["calibration"]
    path.write_text(json.dumps({"schema_version": 3, "records": data, "problems": [], "mixed_settings": {}}))
    results = read_results(path)
    assert results.schema_version == SCHEMA_VERSION == 4 and results.records == old


def test_an_impossible_calibration_is_named():
    record = models(1)[0]
    ragged = record.model_copy(update={"summary": record.summary.model_copy(update={"calibration": [[0.5], []]})})
    assert "two rows" in record_problem(ragged)
    infinite = record.model_copy(update={"summary": record.summary.model_copy(
        update={"calibration": [[0.5, float("inf")], [0.5, 0.5]]})})
    assert "non-finite" in record_problem(infinite)
