"""Where ``benchsuite run`` publishes: the whole suite to leaderboard/, a partial run beside its --out, and never
over a leaderboard whose rows it would drop."""

from __future__ import annotations

import json
import sys

import pytest
from toy_distribution import install_distribution
from typer.testing import CliRunner

from benchsuite.cli import app
from benchsuite.results.records import Record, Results, read_results, write_results

runner = CliRunner()

REGISTRY = """
[suites.toy]
vision = ["toy_net", "toy_classifier"]
text = ["toy_text_good"]
images = "toy_photos"
concepts = "toy_concepts"
metrics = ["two_vs_two"]
permutations = 5
[[suites.toy.designs]]
name = "one"
"""


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """The toy plugins as an installed distribution, a suite of two models, runs started in ``tmp_path``."""
    install_distribution(tmp_path / "site", monkeypatch, "toy-plugins-dist", "toy = toy_plugins\n")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "registry.toml").write_text(REGISTRY)

    def run(*args: str):
        return runner.invoke(app, ["run", "--suite", "toy", "--registry", "registry.toml", "--cache", "cache",
                                   "--quiet", *args])

    yield run
    sys.modules.pop("toy_plugins_dist", None)


def published(tmp_path, *models: str) -> str:
    """A leaderboard/ folder as a full run left it: a page and the results of ``models``."""
    board = tmp_path / "leaderboard"
    board.mkdir()
    write_results(board / "results.json", Results(records=[
        Record(suite="toy", design="one", vision=m, text="toy_text_good", layer="late", depth=2, n_layers=3,
               metric="two_vs_two", value=0.7, groups=[0.7], p_value=0.1, n_concepts=12) for m in models]))
    (board / "README.md").write_text("the published page\n")
    return (board / "results.json").read_text()


def test_a_partial_run_publishes_beside_its_out_and_leaves_leaderboard_alone(toy, tmp_path):
    before = published(tmp_path, "toy_net", "toy_classifier", "elsewhere")
    result = toy("--vision", "toy_net", "--out", "part")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "leaderboard" / "README.md").read_text() == "the published page\n"
    assert (tmp_path / "leaderboard" / "results.json").read_text() == before
    page = (tmp_path / "part" / "leaderboard" / "README.md").read_text()
    assert "### toy_net" in page and "toy_classifier" not in page
    assert "leaderboard at part/leaderboard/README.md" in result.output


@pytest.mark.parametrize("args", [["--text", "toy_text_good"], ["--metrics", "two_vs_two"]])
def test_naming_text_models_or_metrics_is_partial_too(toy, tmp_path, args):
    published(tmp_path, "toy_net")
    assert toy(*args, "--out", "part").exit_code == 0
    assert (tmp_path / "leaderboard" / "README.md").read_text() == "the published page\n"
    assert (tmp_path / "part" / "leaderboard" / "README.md").is_file()


def test_the_whole_suite_still_publishes_leaderboard(toy, tmp_path):
    published(tmp_path, "toy_net", "elsewhere")
    result = toy("--all", "--out", "full")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "leaderboard" / "README.md").read_text()
    assert "### toy_net" in page and "### toy_classifier" in page
    assert {r.vision for r in read_results(tmp_path / "leaderboard" / "results.json").records} == {
        "toy_net", "toy_classifier"}
    assert not (tmp_path / "full" / "leaderboard").exists()


def test_a_partial_run_refuses_before_any_work_a_leaderboard_whose_rows_it_would_drop(toy, tmp_path):
    before = published(tmp_path, "toy_net", "toy_classifier", "elsewhere")
    result = toy("--vision", "toy_net", "--out", "part", "--leaderboard", "leaderboard")
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert "--leaderboard leaderboard holds the leaderboard of other results: 3 models these results lack" in message
    assert "leave --leaderboard out" in message
    assert not (tmp_path / "cache" / "vision").exists() and not (tmp_path / "part" / "results.json").exists()
    assert (tmp_path / "leaderboard" / "results.json").read_text() == before


def test_a_partial_run_may_add_to_a_leaderboard_it_keeps_every_row_of(toy, tmp_path):
    assert toy("--vision", "toy_classifier", "--out", "acc").exit_code == 0
    assert toy("--vision", "toy_classifier", "--out", "acc", "--leaderboard", "board").exit_code == 0
    result = toy("--vision", "toy_net", "--out", "acc", "--leaderboard", "board")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "board" / "results.json").read_text())
    assert {r["vision"] for r in data["records"]} == {"toy_net", "toy_classifier"}
