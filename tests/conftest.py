"""Shared test settings (no network, Keras on torch, small thread counts) and fixtures used across folders."""

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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
