"""Records scored on different inputs are never ranked or paired together, whatever results.json claims."""

from __future__ import annotations

from benchsuite.results.leaderboard import render
from benchsuite.results.records import Provenance, Record, Results


def record(vision, value, *, inputs=None, matrix=None, seed=0, text="glove"):
    return Record(suite="s", design="d", vision=vision, text=text, layer="l", depth=0, n_layers=1,
                  metric="two_vs_two", value=value, groups=[value], p_value=0.01, n_concepts=10,
                  provenance=Provenance(seed=seed, permutations=100, inputs=inputs, text_matrix=matrix))


def headings(page: str) -> list[str]:
    return [line for line in page.splitlines() if line.startswith("## ")]


def test_other_photos_get_their_own_section_even_when_the_file_says_nothing_is_mixed():
    results = Results(records=[record("a", 0.7, inputs="p1"), record("b", 0.9, inputs="p2")], mixed_settings={})
    page = render(results, None)
    assert headings(page) == ["## Suite `s`, design: d (seed 0, 100 permutations, photos and concepts p1)",
                              "## Suite `s`, design: d (seed 0, 100 permutations, photos and concepts p2)"]
    first, second = page.split("\n## ")[1:]
    assert "### a" in first and "### b" not in first and "### b" in second


def test_other_seeds_too_and_unrecorded_inputs_apart_from_recorded_ones():
    page = render(Results(records=[record("a", 0.7, seed=1), record("b", 0.9, seed=2),
                                   record("c", 0.8, seed=1, inputs="p1")]), None)
    assert headings(page) == ["## Suite `s`, design: d (seed 1, 100 permutations)",
                              "## Suite `s`, design: d (seed 1, 100 permutations, photos and concepts p1)",
                              "## Suite `s`, design: d (seed 2, 100 permutations)"]


def test_a_text_model_whose_matrix_differs_gets_one_column_per_matrix():
    page = render(Results(records=[record("a", 0.7, inputs="p", matrix="m1"),
                                   record("b", 0.9, inputs="p", matrix="m2"),
                                   record("c", 0.8, inputs="p", matrix="m1")]), None)
    assert len(headings(page)) == 1
    header = page.split("\n## ")[1].splitlines()[2]
    assert "glove (text matrix m1): 2 vs 2" in header and "glove (text matrix m2): 2 vs 2" in header


def test_the_same_inputs_share_one_section():
    page = render(Results(records=[record("a", 0.7, inputs="p", matrix="m"),
                                   record("b", 0.9, inputs="p", matrix="m")]), None)
    assert headings(page) == ["## Suite `s`, design: d"] and "Some suites mix" not in page
