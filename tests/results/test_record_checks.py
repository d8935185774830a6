"""Hand-edited records are refused by name, never shown as they are (p = -0.5 as "p <0.001", inf ranked first)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from benchsuite.cli import app
from benchsuite.results.records import Record, Results, read_records, read_results, record_problem, write_results

runner = CliRunner()


def good(**changes) -> Record:
    fields = dict(suite="s", design="d", vision="m", text="t", layer="l", depth=0, n_layers=2, metric="two_vs_two",
                  value=0.7, groups=[0.7], p_value=0.01, chance=0.5, n_concepts=12, n_images=12)
    return Record(**{**fields, **changes})


def summary(**changes) -> dict:
    return {"best_value": 0.8, "n_splits": 2, "n_bootstrap": 2, "resampling": "k", "draws": [0.7, 0.71],
            **changes}


@pytest.mark.parametrize("changes,problem", [
    ({"p_value": -0.5}, "p_value -0.5 is outside [0, 1]"),
    ({"p_value": 7.0}, "p_value 7.0 is outside [0, 1]"),
    ({"p_value": float("nan")}, "p_value nan is outside [0, 1]"),
    ({"value": float("inf")}, "value inf is not finite"),
    ({"value": None}, "an ok record has no value"),
    ({"groups": [0.7, float("-inf")]}, "groups holds -inf"),
    ({"interval": [0.8, 0.6]}, "interval [0.8, 0.6] is reversed or not finite"),
    ({"interval": [0.6]}, "interval [0.6] is not [low, high]"),
    ({"n_concepts": -3}, "n_concepts -3 is not a positive count"),
    ({"n_concepts": 0}, "n_concepts 0 is not a positive count"),
    ({"n_images": -1}, "n_images -1 is negative"),
    ({"depth": 5}, "depth 5 is outside 0..1 (n_layers 2)"),
    ({"n_layers": 0}, "n_layers 0 is not a positive count"),
    ({"cpu_drift": -0.1}, "cpu_drift -0.1 is negative or not finite"),
    ({"chance": float("inf")}, "chance inf is not finite"),
    ({"summary": summary(draws=[0.7, float("inf")])}, "summary.draws holds inf"),
    ({"summary": summary(n_bootstrap=-2)}, "summary.n_bootstrap -2 is negative"),
    ({"summary": summary(best_value=float("nan"))}, "summary.best_value nan is not finite"),
])
def test_each_impossible_field_is_named(changes, problem):
    assert record_problem(good(**changes)) == problem


def test_valid_records_and_failed_ones_without_values_pass():
    assert record_problem(good()) is None
    assert record_problem(good(status="failed", value=None, p_value=None, n_concepts=0, error="x")) is None
    assert record_problem(good(p_value=None, interval=[0.6, 0.8], summary=summary())) is None


def hand_edited(tmp_path, **changes):
    records = [good(vision="a"), good(vision="b", value=0.6)]
    path = tmp_path / "results.json"
    write_results(path, Results(records=records))
    data = json.loads(path.read_text())
    data["records"][1].update(changes)
    path.write_text(json.dumps(data).replace('"INF"', "Infinity"))
    return path


def test_read_results_refuses_a_hand_edited_file_naming_the_record(tmp_path):
    path = hand_edited(tmp_path, p_value=-0.5)
    with pytest.raises(ValueError, match=r"results.json: record 1 \(b / t / l / two_vs_two\): p_value -0.5 is "
                                         r"outside \[0, 1\]; fix or remove that record, or rerun that model"):
        read_results(path)


def test_read_records_refuses_one_too(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps([good().model_dump(mode="json") | {"n_concepts": -4}]))
    with pytest.raises(ValueError, match=r"record 0 \(m / t / l / two_vs_two\): n_concepts -4"):
        read_records(path)


@pytest.mark.parametrize("changes,named", [
    ({"p_value": -0.5}, "p_value -0.5"), ({"p_value": 7}, "p_value 7"), ({"value": "INF"}, "value inf"),
    ({"interval": [0.9, 0.1]}, "interval [0.9, 0.1]"), ({"n_concepts": -2}, "n_concepts -2"),
])
def test_the_leaderboard_command_refuses_it_with_exit_2_and_writes_nothing(tmp_path, changes, named):
    path = hand_edited(tmp_path, **changes)
    result = runner.invoke(app, ["leaderboard", "--results", str(path), "--out", str(tmp_path / "board")])
    assert result.exit_code == 2
    assert named in result.output and "record 1 (b / t / l / two_vs_two)" in result.output
    assert not (tmp_path / "board" / "README.md").exists()


def test_the_api_refuses_a_page_of_impossible_records_in_memory_too():
    from benchsuite.api import with_leaderboard
    from benchsuite.contract.errors import BenchsuiteError

    results = with_leaderboard(Results(records=[good(), good(vision="b", p_value=1.5)]))
    with pytest.raises(BenchsuiteError, match=r"these results: record 1 \(b / t / l / two_vs_two\): p_value 1.5"):
        results.leaderboard()
