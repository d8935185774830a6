"""Leaderboard tables from records alone."""

import json

import pytest
from leaderboard_fixtures import E5_DRIFT, HEADLINES, PROBLEMS, RECORDS, compact, headline_record, record

from benchsuite.results import tables
from benchsuite.results.leaderboard import publish
from benchsuite.results.ranking import best_layers
from benchsuite.results.records import Problem, Results, write_results


def main_table(*args) -> str:
    return compact(tables.main_table(*args))


def details(*args) -> str:
    return compact(tables.headline_details(*args))


def model_table(*args) -> str:
    return compact(tables.model_table(*args))



def test_best_layer_per_model_and_text():
    best = best_layers(RECORDS, "two_vs_two")
    assert best[("big", "glove")].layer == "b" and best[("small", "glove")].value == 0.70


def test_main_table_ranks_by_best_layer_and_lists_failures():
    table = main_table(RECORDS, PROBLEMS)
    lines = table.splitlines()
    assert lines[2].startswith("| 1 | big | **0.800 ± 0.028** (b, 2/3; p <0.001)")
    assert lines[3].startswith("| 2 | small | **0.700** (b, 2/3; p 0.010)")
    assert lines[4].startswith("| — | broken (vision, plugin brokenpkg) |") and "failed: RuntimeError: no" in lines[4]
    assert lines[2].endswith("| 42 |")


def test_model_table_marks_significance():
    table = model_table([r for r in RECORDS if r.vision == "big"])
    assert "| 1 | b | 0.800* | 0.300* |" in table


def test_publish_writes_page_and_plots(tmp_path):
    results = tmp_path / "results.json"
    write_results(results, Results(records=RECORDS, problems=PROBLEMS))
    page = publish(results, tmp_path / "board")
    text = compact(page.read_text())
    assert "## Suite `s`, design: d" in text and "![2 vs 2 by layer for big](plots/s/d/big.png)" in text
    assert (tmp_path / "board" / "plots" / "s" / "d" / "big.png").stat().st_size > 5000


def test_readme_block_is_refreshed(tmp_path):
    from benchsuite.results.leaderboard import update_readme

    results = tmp_path / "results.json"
    write_results(results, Results(records=RECORDS, problems=PROBLEMS))
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- leaderboard:start -->\nold\n<!-- leaderboard:end -->\nrest\n")
    update_readme(readme, results)
    text = compact(readme.read_text())
    assert "old" not in text and "| 1 | big |" in text and text.startswith("intro") and text.endswith("rest\n")
    readme.write_text("no markers")
    with pytest.raises(ValueError, match="leaderboard:start"):
        update_readme(readme, results)


def test_legacy_results_files_still_publish(tmp_path):
    """A results.json from before schema_version: a bare list, problems as records with "*" placeholders."""
    results = tmp_path / "results.json"
    legacy = [r.model_dump(mode="json") for r in RECORDS] + [
        {"suite": "s", "design": "*", "vision": "broken", "status": "failed", "error": "RuntimeError: no",
         "provenance": {"kind": "vision", "time": "2026-01-01T00:00:00Z"}}]
    results.write_text(json.dumps(legacy))
    text = compact(publish(results, tmp_path / "board").read_text())
    assert "| 1 | big |" in text and "| — | broken (vision) |" in text and "failed: RuntimeError: no" in text


def test_multi_line_errors_and_failed_cells_keep_tables_intact():
    problem = Problem(suite="s", kind="text", name="t", status="failed", error="Line one\nline two | three")
    failed = record("big", "d", 3, None).model_copy(update={"status": "failed", "error": "x", "value": None})
    table = main_table(RECORDS, [problem])
    assert "failed: Line one line two \\| three |" in table  # an escaped pipe, shown as | by markdown
    rows = [line.replace("\\|", "") for line in table.splitlines() if line.startswith("|")]
    assert len(rows) == 5 and all(line.count("|") == rows[0].count("|") for line in rows)
    assert "| 3 | d | failed |" in model_table([*RECORDS, failed])


def test_an_all_failed_run_says_so(tmp_path):
    results = tmp_path / "results.json"
    write_results(results, Results(problems=PROBLEMS))
    text = compact(publish(results, tmp_path / "board").read_text())
    assert "**Nothing was scored**" in text and "failed: RuntimeError: no" in text


def test_records_under_different_settings_are_never_ranked_together(tmp_path):
    other = [r.model_copy(update={"vision": r.vision + "_seed7", "provenance": r.provenance.model_copy(
        update={"seed": 7, "permutations": 100})}) for r in RECORDS]
    same = [r.model_copy(update={"provenance": r.provenance.model_copy(update={"seed": 0, "permutations": 1000})})
            for r in RECORDS]
    from benchsuite.results.records import mixed_settings

    results = tmp_path / "results.json"
    write_results(results, Results(records=same + other, mixed_settings=mixed_settings(same + other)))
    text = compact(publish(results, tmp_path / "board").read_text())
    first = text.index("(seed 0, 1000 permutations)")
    second = text.index("(seed 7, 100 permutations)")
    assert "| 1 | big |" in text[first:second] and "big_seed7" not in text[first:second]
    assert "| 1 | big_seed7 |" in text[second:]


def test_a_bounded_familywise_p_is_shown_as_a_bound():
    bounded = headline_record("lite1", 0.886, p=0.013)
    bounded.summary.permutations_used = 0
    assert "p ≤0.013)" in details([bounded])


E5_LAYERS = [record("big", "b", 1, 0.81, text="e5_multilingual", metric=metric).model_copy(update={"cpu_drift": value})
             for metric, value in E5_DRIFT.items() if metric != "two_vs_two_heldout"]


def cell_rank(table, vision, column):
    row = next(line for line in table.splitlines() if line.startswith("| ") and f" {vision} |" in line)
    return row.split(" | ")[column]


def test_headline_table_ranks_in_tiers_and_ties_within_cpu_drift():
    table = details(RECORDS + HEADLINES + E5_LAYERS)
    lines = table.splitlines()
    assert "e5_multilingual†: held-out 2 vs 2 [95% CI] (rank)" in lines[0]
    assert "glove: best layer in-sample (p, family-wise)" in lines[0]
    assert lines[2].startswith("| 1 | lite1 | **0.886** [0.846, 0.926] (1) | 0.896 (b, 2/3; p 0.001) |")
    # 0.006 apart with tiny noise: distinct for glove, a tie within twice e5's declared 0.004 drift
    assert cell_rank(table, "lite0", 2).endswith("(1)") and cell_rank(table, "lite0", 4).endswith("(2)")
    assert cell_rank(table, "mobilenet_v2", 0) == "| 3"
    assert cell_rank(table, "pixels", 0) == cell_rank(table, "mobilenet_v2_untrained", 0) == "| 4"
    assert "† CPU-dependent: scores against e5_multilingual (2 vs 2 ±0.004, 1 vs 2 ±0.031)" in table
    # only the headlines' drift on record: the note names what was declared for them
    assert "scores against e5_multilingual (held-out 2 vs 2 ±0.004) may differ" in details(HEADLINES)


def test_paired_comparisons_and_gains_over_twin_and_pixels(tmp_path):
    from benchsuite.results.tables import comparison_sections

    text = compact("\n".join(comparison_sections(HEADLINES)))
    assert "**glove**: row − column, two-sided p" in text
    glove = text[text.index("**glove**"):]
    row = next(line for line in glove.splitlines() if line.startswith("| lite1 |"))
    assert row.split(" | ")[2].startswith("+0.006 (p ")
    gains = next(line for line in text.splitlines() if line.startswith("| mobilenet_v2 |") and "[" in line)
    assert "+0.270 [" in gains and "+0.272 [" in gains
    results = tmp_path / "results.json"
    write_results(results, Results(records=RECORDS + HEADLINES, problems=PROBLEMS))
    page = compact(publish(results, tmp_path / "board").read_text())
    assert "paired comparisons" in page and "Benjamini-Hochberg" in page and "| 1 | lite1 |" in page


def test_draws_from_other_concepts_are_never_paired():
    from benchsuite.results.ranking import compare

    other = headline_record("lite0", 0.880, key="another concept set")
    assert compare(HEADLINES[0], other) is None
    assert compare(HEADLINES[0], HEADLINES[2]).value == pytest.approx(0.006)


def test_layer_stars_control_the_false_discovery_rate():
    rows = [record("m", name, depth, 0.6, p=p) for depth, (name, p) in enumerate([("a", 0.04), ("b", 0.5),
                                                                                  ("c", 0.6)])]
    assert "| 0 | a | 0.600 |" in model_table(rows)  # p 0.04, but q = 0.04 · 3 / 1 = 0.12
    rows[1:] = [record("m", "b", 1, 0.6, p=0.001), record("m", "c", 2, 0.6, p=0.02)]
    table = model_table(rows)
    assert "| 0 | a | 0.600* |" in table and "| 2 | c | 0.600* |" in table  # q = 0.04 · 3 / 3, 0.02 · 3 / 2


def test_results_without_summaries_still_name_the_cpu_dependent_columns():
    table = main_table(RECORDS + E5_LAYERS)
    assert "e5_multilingual†: 2 vs 2 (best layer, p)" in table.splitlines()[0] and "(not corrected" in table
    assert "† CPU-dependent: scores against e5_multilingual (2 vs 2 ±0.004, 1 vs 2 ±0.031)" in table


def test_a_pipe_in_a_model_name_is_escaped_not_a_new_column():
    table = tables.main_table([record("a|b", "x", 0, 0.7), record("c", "x", 0, 0.6)])
    assert "| a\\|b " in table and all(line.replace("\\|", "").count("|") == 5 for line in table.splitlines()[:4])


RENAMED = {"pixels": "noise", "mobilenet_v2": "foo", "mobilenet_v2_untrained": "foo_random"}


def renamed(records):
    """The same records (same draws) under other names: baseline "noise", untrained "foo_random" twin of "foo"."""
    out = []
    for r in records:
        update = {"vision": RENAMED.get(r.vision, r.vision)}
        if r.twin is not None:
            update["twin"] = RENAMED[r.twin]
        out.append(r.model_copy(update=update))
    return out


def gains_by_model(lines):
    text = compact("\n".join(lines))
    block = text[text.index("**Gains**"):]
    rows = [line.strip("|").split(" | ") for line in block.splitlines() if line.startswith("| ")]
    return [cell.strip() for cell in rows[0]], {row[0].strip(): [c.strip() for c in row[1:]] for row in rows[1:]}


def test_gains_follow_the_recorded_roles_not_the_names():
    from benchsuite.results.ranking import headlines
    from benchsuite.results.tables import comparison_sections, gain_rows

    header, gains = gains_by_model(comparison_sections(HEADLINES))
    assert header == ["vision model", "e5_multilingual: gain over untrained twin", "e5_multilingual: gain over pixels",
                      "glove: gain over untrained twin", "glove: gain over pixels"]
    assert set(gains) == {"lite0", "lite1", "mobilenet_v2"}
    assert gains["mobilenet_v2"][2].startswith("+0.270 [") and gains["mobilenet_v2"][3].startswith("+0.272 [")
    assert gains["lite1"][0] == gains["lite1"][2] == "—"  # no untrained twin of lite1 was scored
    new_header, new_gains = gains_by_model(comparison_sections(renamed(HEADLINES)))
    assert new_header == [cell.replace("pixels", "noise") for cell in header]
    assert new_gains == {RENAMED.get(name, name): cells for name, cells in gains.items()}
    texts = ["e5_multilingual", "glove"]
    assert sorted(gain_rows(headlines(renamed(HEADLINES)), texts)) == sorted(
        [RENAMED.get(row[0], row[0]), *row[1:]] for row in gain_rows(headlines(HEADLINES), texts))


def test_every_baseline_gets_a_gain_column_and_a_missing_twin_column_is_left_out():
    from benchsuite.results.tables import comparison_sections

    records = [r.model_copy(update={"role": "model", "twin": None}) if r.role == "untrained" else r
               for r in HEADLINES]
    records += [headline_record("blank", 0.5, text=t, role="baseline") for t in ("glove", "e5_multilingual")]
    header, gains = gains_by_model(comparison_sections(records))
    assert header == ["vision model", "e5_multilingual: gain over blank", "e5_multilingual: gain over pixels",
                      "glove: gain over blank", "glove: gain over pixels"]
    assert "mobilenet_v2_untrained" in gains and "blank" not in gains and "pixels" not in gains
    assert gains["mobilenet_v2"][3].startswith("+0.272 [") and gains["mobilenet_v2"][2].startswith("+0.350 [")


def test_records_without_roles_give_no_gains():
    from benchsuite.results.ranking import headlines
    from benchsuite.results.tables import comparison_sections, gain_rows

    plain = [r.model_copy(update={"role": "model", "twin": None}) for r in HEADLINES]
    text = "\n".join(comparison_sections(plain))
    assert "**Gains**" not in text and "gain over" not in text
    assert "**glove**: row − column" in text  # the pairwise matrices stay
    assert gain_rows(headlines(plain), ["glove", "e5_multilingual"]) == []


def test_cpu_drift_comes_from_the_records_whatever_the_text_model_is_called():
    close = {"lite1": 0.886, "lite0": 0.880}
    drifting = [headline_record(v, s, text="vecs", cpu_drift=0.004) for v, s in close.items()]
    steady = [headline_record(v, s, text="e5_multilingual") for v, s in close.items()]
    per_layer = [record("lite1", "b", 1, 0.9, text="vecs", metric=m).model_copy(update={"cpu_drift": d})
                 for m, d in (("two_vs_two", 0.004), ("one_vs_two", 0.031), ("rsa", 0.0))]
    table = details(drifting + steady + per_layer)
    header = table.splitlines()[0]
    assert "vecs†: held-out 2 vs 2 [95% CI] (rank)" in header
    assert "e5_multilingual: held-out" in header and "e5_multilingual†" not in header
    # 0.006 apart with tiny noise: distinct for e5_multilingual (no drift recorded), tied within twice 0.004 for vecs
    assert cell_rank(table, "lite0", 2).endswith("(2)") and cell_rank(table, "lite0", 4).endswith("(1)")
    assert table.endswith("\n\n† CPU-dependent: scores against vecs (2 vs 2 ±0.004, 1 vs 2 ±0.031) may differ by "
                          "up to that much on another CPU; tiers count differences within twice that as ties.")
    assert "†" not in main_table(steady)


def test_the_largest_recorded_drift_of_a_metric_counts():
    from benchsuite.results.ranking import declared_drift

    records = [record("a", "x", 0, 0.6, text="t", metric="two_vs_two").model_copy(update={"cpu_drift": d})
               for d in (0.001, 0.003, 0.0)] + [record("a", "x", 0, 0.6, text="u", metric="rsa")]
    assert declared_drift(records) == {"t": {"two_vs_two": 0.003}}


def test_the_readme_names_the_controls_found_in_the_records(tmp_path):
    from benchsuite.results.leaderboard import update_readme

    results = tmp_path / "results.json"
    readme = tmp_path / "README.md"
    for records, controls in [
        (renamed(HEADLINES), "; the controls are the untrained network foo_random and the baseline noise):"),
        (HEADLINES + [headline_record("blank", 0.5, role="baseline")],
         "; the controls are the untrained network mobilenet_v2_untrained and the baselines blank, pixels):"),
        ([r.model_copy(update={"role": "model", "twin": None}) for r in HEADLINES], ", chance 0.5):"),
    ]:
        write_results(results, Results(records=records))
        readme.write_text("<!-- leaderboard:start -->\n<!-- leaderboard:end -->\n")
        update_readme(readme, results)
        assert readme.read_text().splitlines()[1].endswith(controls)
