"""The page read at a glance: a narrow headline table, the text models' leaderboard, the figures."""

import re

import numpy as np
import pytest
from leaderboard_fixtures import HEADLINES, PROBLEMS, RECORDS, compact, headline_record, record

from benchsuite.results import leaderboard, tables
from benchsuite.results.ranking import declared_drift
from benchsuite.results.records import Results, write_results

WEAK = [headline_record(v, s - 0.1, text="weak", role=r.role, twin=r.twin)
        for v, s, r in [(r.vision, r.value, r) for r in HEADLINES if r.text == "glove"]]


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def test_the_headline_table_holds_rank_model_mean_and_one_score_per_text_model():
    table = compact(tables.main_table(HEADLINES))
    lines = table.splitlines()
    assert cells(lines[0]) == ["rank", "vision model", "held-out 2 vs 2, mean [95% CI]", "e5_multilingual†", "glove"]
    assert cells(lines[2]) == ["1", "lite1", "0.886 [0.846, 0.926]", "0.886", "0.886"]
    assert "best layer in-sample" not in table
    widest = max(len(cell) for line in lines if line.startswith("|") for cell in cells(line))
    assert widest <= len("held-out 2 vs 2, mean [95% CI]")


def test_the_headline_table_drops_the_per_text_columns_past_the_bound():
    many = [r.model_copy(update={"text": f"text{i}"}) for i in range(tables.MAX_HEADLINE_TEXTS + 1)
            for r in HEADLINES if r.text == "glove"]
    header = cells(compact(tables.main_table(many)).splitlines()[0])
    assert header == ["rank", "vision model", "held-out 2 vs 2, mean [95% CI]"]


def test_a_problem_has_one_row_on_the_page_the_headline_tables():

    table = compact(tables.main_table(HEADLINES, PROBLEMS))
    row = next(line for line in table.splitlines() if "broken" in line)
    assert cells(row) == ["—", "broken (vision, plugin brokenpkg)", "failed: RuntimeError: no", "", ""]
    assert "broken" not in leaderboard.headline_sections(HEADLINES, {})[2]  # one row for it, not two


def test_the_details_table_keeps_intervals_ranks_and_in_sample_layers():
    table = compact(tables.headline_details(HEADLINES + RECORDS))
    assert "glove: best layer in-sample (p, family-wise)" in table.splitlines()[0]
    assert "| 1 | lite1 | **0.886** [0.846, 0.926] (1) | 0.896 (b, 2/3; p 0.001) |" in table


def test_text_models_are_ranked_over_the_trained_vision_models_only():
    table = compact(tables.text_table(HEADLINES + WEAK))
    lines = table.splitlines()
    assert cells(lines[0])[:3] == ["rank", "text model", "held-out 2 vs 2 over 3 vision models, mean [95% CI]"]
    rows = {cells(line)[1]: cells(line) for line in lines[2:] if line.startswith("|")}
    trained = np.mean([0.886, 0.880, 0.85])  # the controls (pixels, the untrained twin) are left out
    assert rows["glove"][2].startswith(f"{trained:.3f} [") and rows["weak"][2].startswith(f"{trained - 0.1:.3f} [")
    assert rows["glove"][0] == rows["e5_multilingual†"][0] == "1" and rows["weak"][0] == "3"
    assert rows["glove"][3] == "lite1 (0.886)"


def test_text_models_per_vision_model_with_intervals_and_tiers():
    table = compact(tables.text_details(HEADLINES + WEAK))
    lines = table.splitlines()
    assert cells(lines[0]) == ["vision model", "e5_multilingual†", "glove", "weak"]
    lite1 = next(cells(line) for line in lines if line.startswith("| lite1 |"))
    assert lite1 == ["lite1", "0.886 [0.846, 0.926] (1)", "0.886 [0.846, 0.926] (1)", "0.786 [0.746, 0.826] (3)"]
    assert not any(line.startswith("| pixels |") for line in lines)


def test_one_text_model_or_no_trained_model_gives_no_text_leaderboard():
    assert tables.text_table([r for r in HEADLINES if r.text == "glove"]) == ""
    assert tables.text_table([r for r in HEADLINES if r.role != "model"]) == ""


def test_layer_bands_come_from_groups_images_or_the_headline():
    from benchsuite.results.figures import layer_band

    groups = record("big", "b", 1, 0.80, groups=[0.78, 0.82])
    assert layer_band(groups) == pytest.approx((0.80 - 1.959964 * 0.02, 0.80 + 1.959964 * 0.02))
    one_vs_two = record("big", "b", 1, 0.75, metric="one_vs_two").model_copy(update={"n_images": 100})
    low, high = layer_band(one_vs_two)
    assert (round(low, 3), round(high, 3)) == (0.657, 0.825)  # Wilson, 75 of 100
    single = record("lite1", "b", 1, 0.80)
    assert layer_band(single) is None
    headline = headline_record("lite1", 0.886)  # interval 0.886 ± 0.04
    assert layer_band(single, headline) == pytest.approx((0.76, 0.84))


def figure_page(tmp_path):
    layers = [record(v, layer, depth, s - 0.05 * (2 - depth), text=t, groups=[s - 0.05 * (2 - depth)],
                     p=0.001).model_copy(update={"role": r.role, "twin": r.twin})
              for r in HEADLINES for v, s, t in [(r.vision, r.value, r.text)]
              for layer, depth in (("a", 0), ("b", 1), ("c", 2))]
    one_vs_two = [r.model_copy(update={"metric": "one_vs_two", "n_images": 60}) for r in layers]
    results = tmp_path / "results.json"
    write_results(results, Results(records=HEADLINES + WEAK + layers + one_vs_two))
    return leaderboard.publish(results, tmp_path / "board")


def test_the_page_embeds_emergence_forest_and_banded_curves(tmp_path):
    page = figure_page(tmp_path).read_text()
    board = tmp_path / "board"
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page)
    assert "plots/s/d-emergence.png" in images and "plots/s/d-forest.png" in images
    assert "plots/s/d/lite1.png" in images and "plots/s/d/lite1-1v2.png" in images
    assert all((board / image).stat().st_size > 10_000 for image in images)
    assert page.index("d-forest.png") < page.index("d-emergence.png") < page.index("### Text models")


def test_the_readme_block_follows_the_headline_table(tmp_path):
    results = tmp_path / "results.json"
    write_results(results, Results(records=HEADLINES + RECORDS))
    readme = tmp_path / "README.md"
    readme.write_text("<!-- leaderboard:start -->\nold\n<!-- leaderboard:end -->\n")
    leaderboard.update_readme(readme, results)
    text = compact(readme.read_text())
    assert "| rank | vision model | held-out 2 vs 2, mean [95% CI] | e5_multilingual† | glove |" in text
    assert "| 1 | lite1 | 0.886 [0.846, 0.926] | 0.886 | 0.886 |" in text and "best layer in-sample (p" not in text
    assert "On the page: the text models' ranking, the figures and the details." in text


def test_the_forest_plot_ranks_rows_as_the_headline_with_each_panels_tiers():
    panels = leaderboard.forest_panels(HEADLINES, declared_drift(HEADLINES))
    assert list(panels) == ["mean over text models", "e5_multilingual", "glove"]
    mean, glove = panels["mean over text models"], panels["glove"]
    assert [row.name for row in mean] == ["lite1", "lite0", "mobilenet_v2", "mobilenet_v2_untrained", "pixels"]
    assert [row.control for row in mean] == [False, False, False, True, True]
    assert [row.tier for row in glove] == [1, 2, 3, 4, 5] and glove[0].interval == pytest.approx((0.846, 0.926))
    assert [row.tier for row in panels["e5_multilingual"]][:2] == [1, 1]  # within twice e5's declared drift


def test_an_emergence_figure_needs_two_vs_two_records(tmp_path):
    from benchsuite.results.figures import plot_emergence

    assert plot_emergence([r for r in HEADLINES], ["lite1"], "t", tmp_path / "e.png") is False
    assert not (tmp_path / "e.png").exists()
