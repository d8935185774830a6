"""A page for many models: bounded figures and pairwise matrices, a refused excess, and fast paths that give
exactly what the plain ones give."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tabulate import tabulate

from benchsuite.contract.errors import BenchsuiteError
from benchsuite.inference.comparisons import paired_difference, tiers
from benchsuite.inference.heldout import SIGNIFICANCE, widened
from benchsuite.results import leaderboard, tables
from benchsuite.results import records as records_module
from benchsuite.results.leaderboard import publish, render
from benchsuite.results.ranking import (
    distinct,
    draws_of,
    paired_differences,
    paired_p_values,
    paired_rejections,
    surely_rejected,
    tier_ranks,
    value_of,
)
from benchsuite.results.records import Record, Results, Summary, read_results, write_results
from benchsuite.results.tables import markdown_table


def headline(vision: str, value: float, draws: np.ndarray, resampling: str = "k") -> Record:
    return Record(suite="s", design="d", vision=vision, text="t", layer="l", depth=0, n_layers=1,
                  metric="two_vs_two_heldout", value=value, interval=[value - 0.05, value + 0.05], p_value=0.01,
                  n_concepts=20, summary=Summary(best_value=value, n_splits=2, n_bootstrap=len(draws),
                                                 resampling=resampling, draws=[float(d) for d in draws]))


def models(n: int, seed: int = 0) -> list[Record]:
    rng = np.random.default_rng(seed)
    common = rng.normal(0, 0.03, size=200).round(3)  # rounded: ties between draws, as in rounded results
    found = []
    for i in range(n):
        value = float(rng.uniform(0.55, 0.85))
        found.append(headline(f"m{i:03d}", value, value + common + rng.normal(0, 0.01, size=200).round(3)))
    return found


def test_markdown_tables_are_tabulates_github_tables():
    rng = np.random.default_rng(1)
    words = ["", "—", "0.800", "**0.8** [0.1, 0.2] (1)", "a|b", "p ≤0.001 †", "mobilenet_v2", "x" * 30, "  spaced  "]
    for _ in range(50):
        columns, n_rows = int(rng.integers(1, 6)), int(rng.integers(0, 5))
        header = [str(rng.choice(words)) for _ in range(columns)]
        rows = [[str(rng.choice(words)) for _ in range(columns)] for _ in range(n_rows)]
        expected = tabulate([[tables.table_cell(c) for c in row] for row in rows],
                            headers=[tables.table_cell(h) for h in header], tablefmt="github",
                            disable_numparse=True)
        assert markdown_table(header, rows) == expected


def test_batched_paired_p_values_are_the_plain_ones_bit_for_bit():
    found = models(30)
    differences = paired_differences(draws_of(found[0]), np.array([draws_of(b) for b in found[1:]]))
    batched = paired_p_values(differences, value_of(found[0]) - np.array([value_of(b) for b in found[1:]]))
    plain = [paired_difference(value_of(found[0]), value_of(b), draws_of(found[0]), draws_of(b)).p_value
             for b in found[1:]]
    assert batched.tolist() == plain


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 300), digits=st.sampled_from([2, 3, 6, 17]),
       shift=st.floats(0.0, 0.2), spread=st.floats(0.0, 0.05))
def test_rejections_are_the_p_values_verdicts_bit_for_bit(seed, n, digits, shift, spread):
    """Rows near and far from rejection, skewed, tied (rounded draws), constant and offset: every verdict is
    the p-value's."""
    rng = np.random.default_rng(seed)
    rows = 40
    differences = (rng.normal(0, spread, size=(rows, n)) * rng.choice([1.0, 0.2], size=(rows, 1))
                   + rng.exponential(spread, size=(rows, n)) * rng.choice([0.0, 1.0], size=(rows, 1))
                   + rng.normal(0, shift, size=(rows, 1))).round(digits)
    differences[:4] = differences[:4, :1]  # constant rows
    gaps = np.r_[rng.uniform(-shift, shift, rows - 4), 0.0, 1e-15, -1e-15, shift]
    rejected = paired_rejections(differences, gaps)
    assert rejected.tolist() == (paired_p_values(differences, gaps) < SIGNIFICANCE).tolist()
    assert [bool(r) for r in rejected] == [paired_difference(g, 0.0, d, np.zeros(n)).p_value < SIGNIFICANCE
                                           for d, g in zip(differences, gaps, strict=True)]


def test_batched_tiers_are_the_plain_ones():
    found = models(40, seed=3)
    found.append(headline("unpaired", 0.7, np.full(200, 0.7), resampling="other"))
    found.append(headline("gappy", 0.71, np.r_[np.full(199, 0.71), np.nan]))
    by_name = {r.vision: r for r in found}
    for margin in (0.0, 0.004):
        plain = tiers({v: value_of(r) for v, r in by_name.items()},
                      lambda a, others, m=margin: [distinct(by_name[a], by_name[b], m) for b in others])
        assert tier_ranks(by_name, margin) == plain


def test_the_pairwise_matrix_shows_the_best_models_only(monkeypatch):
    monkeypatch.setattr(tables, "MAX_PAIRED", 5)
    page = render(Results(records=models(8)), None)
    matrix = page.split("row − column, two-sided p")[1].split("</details>")[0]
    assert matrix.startswith(" (the 5 best of 8 models)")
    assert len([line for line in matrix.splitlines() if line.startswith("| m")]) == 5


def per_layer(vision: str, value: float) -> list[Record]:
    return [Record(suite="s", design="d", vision=vision, text="t", layer=f"l{depth}", depth=depth, n_layers=2,
                   metric="two_vs_two", value=value + depth / 100, groups=[value], p_value=0.01, n_concepts=20)
            for depth in range(2)]


def test_figures_are_drawn_for_the_best_models_of_a_section(tmp_path, monkeypatch):
    monkeypatch.setattr(leaderboard, "MAX_FIGURES", 2)
    records = [r for i, value in enumerate([0.6, 0.9, 0.7, 0.8]) for r in per_layer(f"v{i}", value)]
    results = tmp_path / "results.json"
    write_results(results, Results(records=records))
    page = publish(results, tmp_path / "board").read_text()
    assert sorted(p.name for p in (tmp_path / "board").rglob("*.png")) == ["d-emergence.png", "v1.png", "v3.png"]
    assert "Figures are drawn for the 2 best of these 4 models" in page
    assert all(f"### v{i}" in page for i in range(4))


def test_more_models_than_a_page_ranks_are_refused_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setattr(leaderboard, "MAX_MODELS", 3)
    results = tmp_path / "results.json"
    write_results(results, Results(records=[r for i in range(4) for r in per_layer(f"v{i}", 0.7)]))
    with pytest.raises(BenchsuiteError, match=r"results.json holds 4 vision models; one leaderboard page ranks at "
                                              r"most 3: publish them in parts"):
        publish(results, tmp_path / "board")
    assert not (tmp_path / "board").exists()
    with pytest.raises(BenchsuiteError, match="these results holds 4 vision models"):
        render(Results(records=[r for i in range(4) for r in per_layer(f"v{i}", 0.7)]), None)


@given(st.integers(1, 6), st.integers(1, 1200), st.integers(0, 2**32 - 1),
       st.sampled_from(["normal", "heavy", "rounded", "constant", "skewed"]), st.booleans())
@settings(max_examples=200, deadline=None)
def test_a_sure_rejection_is_the_tests_rejection(rows, width, seed, shape, calibrated):
    """``surely_rejected`` names only rows that ``paired_rejections`` rejects: gaps at random and at its bound."""
    rng = np.random.default_rng(seed)
    raw = {"normal": lambda: rng.normal(0.02, 0.01, (rows, width)),
           "heavy": lambda: rng.standard_t(1.5, (rows, width)) * 0.01,
           "rounded": lambda: rng.normal(0, 0.01, (rows, width)).round(3),
           "constant": lambda: np.full((rows, width), 0.013),
           "skewed": lambda: rng.exponential(0.01, (rows, width)) * rng.choice([-1, 1])}[shape]()
    factors = rng.uniform(0.2, 4, rows) if calibrated else np.ones(rows)
    mean, sd = raw.mean(axis=1), raw.std(axis=1)
    edge = factors * (mean + sd - raw.min(axis=1))
    gaps = np.where(rng.random(rows) < 0.5, edge * (1 + rng.uniform(-1e-3, 1e-3, rows)),
                    rng.uniform(-0.1, 0.1, rows))
    differences = widened(raw, factors) if calibrated else raw
    sure = surely_rejected(raw, factors, gaps)
    assert (paired_p_values(differences, gaps)[sure] < SIGNIFICANCE).all()
    assert not surely_rejected(raw[:, :30], factors, gaps).any()  # 30 draws: p = 2/31 is never below 0.05


def test_the_records_are_frozen_out_of_the_collector_while_a_page_is_built_and_only_then(tmp_path, monkeypatch):
    import gc

    results = tmp_path / "results.json"
    write_results(results, Results(records=[r for i, v in enumerate([0.6, 0.8]) for r in per_layer(f"v{i}", v)]))
    seen = []
    real = leaderboard.render
    monkeypatch.setattr(leaderboard, "render",
                        lambda shown, out: seen.append(gc.get_freeze_count()) or real(shown, out))
    before = gc.get_freeze_count()
    assert before <= records_module.FROZEN_AT_START  # what the interpreter itself freezes (Python 3.12: some)
    publish(results, tmp_path / "board")
    assert seen[0] > before and gc.get_freeze_count() <= before and gc.isenabled()  # frozen while rendering, then not
    before = gc.get_freeze_count()
    read_results(results)
    assert gc.get_freeze_count() == before  # reading alone freezes nothing
    gc.freeze()  # the caller's own frozen objects: left frozen, and nothing of the page's added to them
    try:
        own = gc.get_freeze_count()
        seen.clear()
        publish(results, tmp_path / "again")
        assert seen[0] <= own and gc.get_freeze_count() <= own  # (some of them freed meanwhile)
    finally:
        gc.unfreeze()
