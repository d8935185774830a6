"""docs/notebook.md runs as written: its python blocks, top to bottom, in one namespace."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "docs" / "notebook.md"


def python_blocks(markdown: str) -> list[str]:
    """The source of every fenced ```python block, in order."""
    return re.findall(r"^```python\n(.*?)^```$", markdown, flags=re.S | re.M)


def test_the_blocks_are_found_and_the_readme_links_the_walkthrough():
    blocks = python_blocks(NOTEBOOK.read_text())
    assert len(blocks) >= 6 and "benchsuite.evaluate(" in blocks[0]
    assert any("load_results(" in block for block in blocks)
    assert python_blocks("x\n```python\na = 1\n```\n```bash\nno\n```\n```python\nb = 2\n```\n") == ["a = 1\n",
                                                                                                  "b = 2\n"]
    assert "docs/notebook.md" in (ROOT / "README.md").read_text()


@pytest.mark.slow  # the offline suite with pixels and GloVe, then the committed results (~25 s)
def test_every_block_runs_and_shows_what_it_says(tmp_path, monkeypatch):
    """About 25 s: pixels against GloVe on the offline suite (20 permutations), then the committed results."""
    from benchsuite import api

    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "leaderboard").symlink_to(ROOT / "leaderboard")
    # layer matrices into a temporary cache; the photos are still read from where the suite keeps them
    monkeypatch.setattr(api, "evaluate", functools.partial(api.evaluate, cache=tmp_path / "cache"))
    namespace: dict = {}
    for number, block in enumerate(python_blocks(NOTEBOOK.read_text()), 1):
        exec(compile(block, f"docs/notebook.md block {number}", "exec"), namespace)  # noqa: S102
    results, frame = namespace["results"], namespace["frame"]
    assert not results.problems and len(frame) == len(results.records) == 3 * 5  # 3 designs, 4 metrics + held-out
    assert set(frame.vision) == {"pixels"} and (tmp_path / "walkthrough" / "results.json").exists()
    heldout = namespace["heldout"]
    assert len(heldout) == 3 and (heldout.interval_low < heldout.value).all()
    assert namespace["scores"].shape == (3, 5)
    gain, trained, untrained = namespace["gain"], namespace["trained"], namespace["untrained"]
    assert gain.value == pytest.approx(trained.value - untrained.value) and gain.low < gain.value < gain.high
    assert (tmp_path / "layer_curves.png").stat().st_size > 10_000
    assert namespace["page"].startswith("# benchsuite leaderboard")
