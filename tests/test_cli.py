"""The command line: listing, help, errors that name the fix, and a small real run."""

import json

import pytest
from typer.testing import CliRunner

from benchsuite.cli import app

runner = CliRunner()


@pytest.mark.parametrize("command", [[], ["list"], ["plugins"], ["run"], ["leaderboard"], ["fetch"]])
def test_every_command_has_help(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_list_vision_and_suites():
    result = runner.invoke(app, ["list", "vision"])
    assert result.exit_code == 0, result.output
    for name in ("vgg16", "mobilenet_v2", "efficientnet_lite2", "pixels"):
        assert name in result.output
    suites = runner.invoke(app, ["list", "suites"])
    assert "offline" in suites.output and "paper" in suites.output


def test_plugins_lists_hooks():
    result = runner.invoke(app, ["plugins"])
    assert result.exit_code == 0
    assert "register_vision_models" in result.output and "keras" in result.output


def test_unknown_suite_names_the_declared_ones(tmp_path):
    result = runner.invoke(app, ["run", "--all", "--suite", "nope", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "no suite 'nope'" in result.output and "offline" in result.output


def test_bad_set_option_names_the_syntax(tmp_path):
    result = runner.invoke(app, ["run", "--all", "--set", "weights", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "ITEM.OPTION=VALUE" in result.output


def test_weights_needs_one_model(tmp_path):
    result = runner.invoke(app, ["run", "--all", "--weights", "/w.h5", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--weights needs exactly one --vision model" in result.output


def test_leaderboard_without_results_says_what_to_run(tmp_path):
    result = runner.invoke(app, ["leaderboard", "--results", str(tmp_path)])
    assert result.exit_code == 2 and "benchsuite run --all" in result.output


@pytest.mark.slow  # the offline suite from the command line
def test_run_and_rebuild_leaderboard(tmp_path):
    out, board = tmp_path / "results", tmp_path / "board"
    result = runner.invoke(app, [
        "run", "--all", "--vision", "pixels", "--text", "glove_6b_50d", "--permutations", "20", "--quiet",
        "--out", str(out), "--leaderboard", str(board), "--cache", str(tmp_path / "cache"),
    ])
    assert result.exit_code == 0, result.output
    records = json.loads((out / "results.json").read_text())["records"]
    designs = {r["design"] for r in records if r["status"] == "ok"}
    assert designs == {"1 photo x 1 group", "2 photos x 2 groups", "mean over all photos"}
    assert {r["metric"] for r in records} == {"two_vs_two", "rsa", "cka_debiased", "mutual_knn", "two_vs_two_heldout"}
    first = (board / "README.md").read_text()
    (board / "README.md").unlink()
    rebuilt = runner.invoke(app, ["leaderboard", "--results", str(out), "--out", str(board)])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert (board / "README.md").read_text() == first


@pytest.mark.parametrize(("gpu", "device", "message"), [
    (False, "cpu", "--device cuda: no CUDA device is visible to torch; running on the CPU"),
    (True, "cuda", ""),
])
@pytest.mark.needs("torch")
def test_cuda_without_a_gpu_falls_back_with_a_message(monkeypatch, capsys, gpu, device, message):
    import torch

    from benchsuite import cli

    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    assert cli.cuda_or_cpu() == device
    assert " ".join(capsys.readouterr().err.split()) == message


def test_unknown_executor_is_refused(tmp_path):
    result = runner.invoke(app, ["run", "--all", "--executor", "spark", "--vision", "pixels", "--out", str(tmp_path),
                                 "--cache", str(tmp_path / "cache"), "--quiet", "--permutations", "0"])
    assert result.exit_code == 2 and "--executor 'spark' is not known; use local or ray" in result.output
    assert not (tmp_path / "cache" / "vision").exists()
