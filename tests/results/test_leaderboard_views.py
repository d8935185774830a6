"""The page read at a glance: a narrow headline table, the text models' leaderboard, the figures."""

import re

import numpy as np
import pytest

from benchsuite.results import leaderboard
from benchsuite.results.records import Results, write_results
from tests.results.test_leaderboard import HEADLINES, RECORDS, compact, headline_record, record

WEAK = [headline_record(v, s - 0.1, text="weak", role=r.role, twin=r.twin)
        for v, s, r in [(r.vision, r.value, r) for r in HEADLINES if r.text == "glove"]]


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def test_the_headline_table_holds_rank_model_mean_and_one_score_per_text_model():
    table = compact(leaderboard.main_table(HEADLINES))
    lines = table.splitlines()
    assert cells(lines[0]) == ["rank", "vision model", "held-out 2 vs 2, mean [95% CI]", "e5_multilingual†", "glove"]
    assert cells(lines[2]) == ["1", "lite1", "0.886 [0.846, 0.926]", "0.886", "0.886"]
    assert "best layer in-sample" not in table
    widest = max(len(cell) for line in lines if line.startswith("|") for cell in cells(line))
    assert widest <= len("held-out 2 vs 2, mean [95% CI]")


def test_the_headline_table_drops_the_per_text_columns_past_the_bound():
    many = [r.model_copy(update={"text": f"text{i}"}) for i in range(leaderboard.MAX_HEADLINE_TEXTS + 1)
            for r in HEADLINES if r.text == "glove"]
    header = cells(compact(leaderboard.main_table(many)).splitlines()[0])
    assert header == ["rank", "vision model", "held-out 2 vs 2, mean [95% CI]"]


def test_a_problem_row_of_the_headline_table_names_its_status_only():
    from tests.results.test_leaderboard import PROBLEMS

    table = compact(leaderboard.main_table(HEADLINES, PROBLEMS))
    row = next(line for line in table.splitlines() if "broken" in line)
    assert cells(row)[:3] == ["—", "broken", "failed (below)"] and "RuntimeError" not in row


def test_the_details_table_keeps_intervals_ranks_and_in_sample_layers():
    table = compact(leaderboard.headline_details(HEADLINES + RECORDS))
    assert "glove: best layer in-sample (p, family-wise)" in table.splitlines()[0]
    assert "| 1 | lite1 | **0.886** [0.846, 0.926] (1) | 0.896 (b, 2/3; p 0.001) |" in table


def test_text_models_are_ranked_over_the_trained_vision_models_only():
    table = compact(leaderboard.text_table(HEADLINES + WEAK))
    lines = table.splitlines()
    assert cells(lines[0])[:3] == ["rank", "text model", "held-out 2 vs 2 over 3 vision models, mean [95% CI]"]
    rows = {cells(line)[1]: cells(line) for line in lines[2:] if line.startswith("|")}
    trained = np.mean([0.886, 0.880, 0.85])  # the controls (pixels, the untrained twin) are left out
    assert rows["glove"][2].startswith(f"{trained:.3f} [") and rows["weak"][2].startswith(f"{trained - 0.1:.3f} [")
    assert rows["glove"][0] == rows["e5_multilingual†"][0] == "1" and rows["weak"][0] == "3"
    assert rows["glove"][3] == "lite1 (0.886)"


def test_text_models_per_vision_model_with_intervals_and_tiers():
    table = compact(leaderboard.text_details(HEADLINES + WEAK))
    lines = table.splitlines()
    assert cells(lines[0]) == ["vision model", "e5_multilingual†", "glove", "weak"]
    lite1 = next(cells(line) for line in lines if line.startswith("| lite1 |"))
    assert lite1 == ["lite1", "0.886 [0.846, 0.926] (1)", "0.886 [0.846, 0.926] (1)", "0.786 [0.746, 0.826] (3)"]
    assert not any(line.startswith("| pixels |") for line in lines)


def test_one_text_model_or_no_trained_model_gives_no_text_leaderboard():
    assert leaderboard.text_table([r for r in HEADLINES if r.text == "glove"]) == ""
    assert leaderboard.text_table([r for r in HEADLINES if r.role != "model"]) == ""
