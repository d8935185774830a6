"""Shared test settings (no network, Keras on torch, small thread counts) and fixtures used across folders."""

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from optional_packages import installed, missing_for

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "2")

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "example_plugin"


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory):
    """docs/example_plugin pip-installed into a folder put on sys.path (for the test module's duration)."""
    target = tmp_path_factory.mktemp("site")
    source = shutil.copytree(EXAMPLE, tmp_path_factory.mktemp("src") / EXAMPLE.name)  # the build writes beside it
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(source)],
        check=True,
    )
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    yield target
    sys.path.remove(str(target))
    sys.modules.pop("benchsuite_color_histogram", None)


SKIPPED_FILES: dict[str, list[str]] = {}


def pytest_ignore_collect(collection_path: Path) -> bool | None:
    """A test file that imports a package this environment lacks (the core runs: no torch) is not collected; the
    summary lists it."""
    if collection_path.suffix == ".py" and collection_path.name.startswith("test_"):
        if missing := missing_for(collection_path):
            SKIPPED_FILES[str(collection_path.relative_to(Path(__file__).parent))] = missing
            return True
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``@pytest.mark.needs("torch", ...)``: skipped where one of those modules is not installed."""
    for item in items:
        for marker in item.iter_markers("needs"):
            if absent := [name for name in marker.args if not installed(name)]:
                item.add_marker(pytest.mark.skip(reason=f"needs {', '.join(absent)} (not installed here)"))


def pytest_terminal_summary(terminalreporter) -> None:
    if SKIPPED_FILES:
        terminalreporter.write_line(f"{len(SKIPPED_FILES)} test files not collected, for want of optional packages:")
        for name, missing in sorted(SKIPPED_FILES.items()):
            terminalreporter.write_line(f"  {name}: {', '.join(missing)}")
