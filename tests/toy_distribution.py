"""Test plugins installed as a real distribution: a ``.dist-info`` folder with entry points, put on ``sys.path``, so
that plugin discovery finds them exactly as it finds a pip-installed plugin."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest


def install_distribution(site: Path, monkeypatch: pytest.MonkeyPatch, name: str, entry_points: str) -> None:
    """``name`` 1.0 in ``site`` with ``entry_points`` (the ``[benchsuite]`` lines), on ``sys.path`` for the test; the
    console is made wide so that tables print whole."""
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[benchsuite]\n{entry_points}")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    monkeypatch.setenv("COLUMNS", "250")
