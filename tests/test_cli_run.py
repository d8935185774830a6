"""``benchsuite run`` on the command line: options refused before work, plain-text errors, honest exit status."""

from __future__ import annotations

import json

import pytest
from toy_distribution import install_distribution
from typer.testing import CliRunner

from benchsuite.cli import app
from benchsuite.results.records import SCHEMA_VERSION

runner = CliRunner()

TOY_REGISTRY = """
[suites.toy]
vision = ["toy_net"]
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
    """The toy plugins installed as a real distribution, a registry.toml declaring their suite, and a run command."""
    import sys

    install_distribution(tmp_path / "site", monkeypatch, "toy-plugins-dist", "toy = toy_plugins\n")
    registry = tmp_path / "registry.toml"
    registry.write_text(TOY_REGISTRY)

    def run(*args: str):
        base = ["run", "--suite", "toy", "--registry", str(registry), "--out", str(tmp_path / "out"),
                "--cache", str(tmp_path / "cache"), "--leaderboard", str(tmp_path / "board"), "--quiet"]
        return runner.invoke(app, [*base, *args])

    yield run
    sys.modules.pop("toy_plugins_dist", None)


def test_a_run_that_scores_prints_counts_and_exits_zero(toy):
    result = toy()
    assert result.exit_code == 0, result.output
    assert "4 ok, 0 failed, 0 skipped" in result.output  # 3 layers and the held-out summary


def test_a_run_where_nothing_scored_exits_one_with_the_reasons(toy):
    result = toy("--vision", "toy_net_missing,also_missing")
    assert result.exit_code == 1, result.output
    assert "0 ok, 0 failed, 2 skipped" in result.output
    assert "skipped vision toy_net_missing" in result.output and "nothing was scored" in result.output


def test_failed_metrics_are_counted_and_listed(toy):
    result = toy("--metrics", "two_vs_two,raising_metric")
    assert result.exit_code == 0, result.output
    assert "4 ok, 3 failed, 0 skipped" in result.output  # 3 layers and the held-out summary
    assert "metric 'raising_metric' (plugin 'toy')" in result.output


@pytest.mark.parametrize("args, message", [
    (["--permutations", "-1"], "--permutations must be a whole number of at least 0, got -1"),
    (["--seed", "-1"], "--seed must be a whole number of at least 0, got -1"),
    (["--device", "tpu"], "--device 'tpu' is not supported; use cpu, cuda or cuda:N"),
    (["--batch-size", "0"], "--batch-size must be a whole number of at least 1, got 0"),
    (["--memory-budget", "12XB"], "--memory-budget: cannot read '12XB' as a memory size"),
    (["--memory-budget", "0"], "--memory-budget: memory size '0' must be more than zero bytes"),
    (["--executor", "slurm"], "--executor 'slurm' is not known; use local or ray"),
    (["--metrics", ","], "--metrics names no metric"),
])
def test_bad_options_are_refused_before_any_work(toy, tmp_path, args, message):
    result = toy(*args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "cache" / "vision").exists()  # nothing was extracted


@pytest.mark.parametrize("option", ["--out", "--cache", "--leaderboard"])
def test_unusable_folders_are_refused_naming_the_option(toy, tmp_path, option):
    (tmp_path / "a_file").write_text("x")
    result = toy(option, str(tmp_path / "a_file"))
    assert result.exit_code == 2 and f"{option} " in result.output and "is a file, not a folder" in result.output
    result = toy(option, str(tmp_path / "a_file" / "below"))  # cannot be created, even by root
    assert result.exit_code == 2 and f"{option} " in result.output and "not writable" in result.output
    assert not (tmp_path / "cache" / "vision").exists()


def test_error_text_is_never_read_as_console_markup(tmp_path):
    result = runner.invoke(app, ["run", "--suite", "[/]", "--out", str(tmp_path / "o[x]")])
    assert result.exit_code == 2, result.output
    assert "no suite '[/]'" in result.output


def test_results_json_from_the_cli_is_versioned(toy, tmp_path):
    assert toy().exit_code == 0
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert data["schema_version"] == SCHEMA_VERSION and len(data["records"]) == 4  # 3 layers and the held-out summary


def test_leaderboard_from_a_corrupt_results_file_is_a_one_line_error(tmp_path):
    results = tmp_path / "results.json"
    results.write_text("[{truncated")
    result = runner.invoke(app, ["leaderboard", "--results", str(results), "--out", str(tmp_path / "board")])
    assert result.exit_code == 2, result.output
    assert "is not a valid results file" in result.output and "Traceback" not in result.output
    assert results.read_text() == "[{truncated"  # an input is reported, never moved or rewritten
