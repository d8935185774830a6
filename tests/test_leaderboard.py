"""Leaderboard tables from records alone."""

import pytest

from benchsuite.leaderboard import best_layers, main_table, model_table, publish
from benchsuite.records import Record, write_records


def record(vision, layer, depth, value, text="glove", metric="two_vs_two", groups=None, p=0.01):
    return Record(suite="s", design="d", vision=vision, text=text, layer=layer, depth=depth, n_layers=3,
                  metric=metric, value=value, groups=groups or [value], p_value=p, chance=0.5, n_concepts=42)


RECORDS = [
    record("small", "a", 0, 0.61), record("small", "b", 1, 0.70), record("small", "c", 2, 0.66),
    record("big", "a", 0, 0.62, groups=[0.60, 0.64]), record("big", "b", 1, 0.80, groups=[0.78, 0.82], p=0.0009),
    record("big", "c", 2, 0.79), record("big", "b", 1, 0.3, metric="rsa"),
    Record(suite="s", design="*", vision="broken", status="failed", error="RuntimeError: no"),
]


def test_best_layer_per_model_and_text():
    best = best_layers(RECORDS, "two_vs_two")
    assert best[("big", "glove")].layer == "b" and best[("small", "glove")].value == 0.70


def test_main_table_ranks_by_best_layer_and_lists_failures():
    table = main_table(RECORDS)
    lines = table.splitlines()
    assert lines[2].startswith("| 1 | big | **0.800 ± 0.028** (b, 2/3; p <0.001)")
    assert lines[3].startswith("| 2 | small | **0.700** (b, 2/3; p 0.010)")
    assert "failed: RuntimeError: no" in lines[4]
    assert lines[2].endswith("| 42 |")


def test_model_table_marks_significance():
    table = model_table([r for r in RECORDS if r.vision == "big"])
    assert "| 1 | b | 0.800* | 0.300* |" in table


def test_publish_writes_page_and_plots(tmp_path):
    results = tmp_path / "results.json"
    write_records(results, RECORDS)
    page = publish(results, tmp_path / "board")
    text = page.read_text()
    assert "## Suite `s`, design: d" in text and "![2 vs 2 by layer for big](plots/s/d/big.png)" in text
    assert (tmp_path / "board" / "plots" / "s" / "d" / "big.png").stat().st_size > 5000


def test_readme_block_is_refreshed(tmp_path):
    from benchsuite.leaderboard import update_readme

    results = tmp_path / "results.json"
    write_records(results, RECORDS)
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- leaderboard:start -->\nold\n<!-- leaderboard:end -->\nrest\n")
    update_readme(readme, results)
    text = readme.read_text()
    assert "old" not in text and "| 1 | big |" in text and text.startswith("intro") and text.endswith("rest\n")
    readme.write_text("no markers")
    with pytest.raises(ValueError, match="leaderboard:start"):
        update_readme(readme, results)
