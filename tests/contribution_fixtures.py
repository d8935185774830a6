"""Two "machines" for the contribution tests: A, where a vision model that only A has is run and packed with the
real command line, and B, where the toy suite's own models are run and the contribution is published.

Each machine has its own HOME, cache and installed plugins (``toy_distribution``): only A's site holds the
``lab_vision`` plugin, so B can verify the contribution from its matrices alone, never by running the model.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from toy_distribution import install_distribution
from typer.testing import CliRunner

from benchsuite.cli import app

REGISTRY = """
[suites.toy]
vision = ["toy_net", "toy_classifier"]
text = ["toy_text_good"]
images = "toy_photos"
concepts = "toy_concepts"
metrics = ["two_vs_two", "rsa"]
permutations = 20
seed = 0
[[suites.toy.designs]]
name = "one"
[[suites.toy.designs]]
name = "two"
groups = 2
"""

LAB_PLUGIN = '''
"""A lab's own vision model, installed on one machine only."""
import numpy as np

from benchsuite.plugin import VisionModelMeta, hookimpl


class LabNet:
    layers = ("conv", "pool", "fc")
    weights_hash = "lab-weights-1"

    def __init__(self):
        weights = np.random.default_rng(7)
        self.projections = [weights.standard_normal((192, 48)), weights.standard_normal((48, 24)),
                            weights.standard_normal((24, 16))]
        self.seen = 0

    def preprocess(self, images):
        return np.stack([np.asarray(im, dtype=np.float64).reshape(-1) / 255.0 for im in images])

    def forward(self, batch, layers, on_layer):
        values = batch
        for name, projection in zip(self.layers, self.projections):
            values = np.tanh(values @ projection)
            if name in layers:
                on_layer(name, values.astype(np.float32))
        positions = np.arange(self.seen, self.seen + len(batch))
        self.seen += len(batch)
        concept = positions % 12  # a classifier right on two concepts in three
        return np.where(concept % 3 == 0, (concept + 1) % 12, concept)


@hookimpl
def register_vision_models(register):
    register(VisionModelMeta(name="lab_net", framework="numpy", input_size=8, preprocessing="/255",
                             weights_source="the lab's own", layers=LabNet.layers, predicts_imagenet=True,
                             loader=lambda device="cpu", seed=0, **options: LabNet()))
'''

CONTRIBUTOR = "Jane Doe (Lab X)"
SHOWN = f"lab_net (contributed by {CONTRIBUTOR}, verified from matrices)"
runner = CliRunner()


@dataclass
class Machine:
    """One machine's folder (its HOME, cache, results and leaderboard live there) and installed plugins."""

    root: Path
    entry_points: str
    calls: int = 0

    @contextmanager
    def here(self) -> Iterator[None]:
        """Code run as on this machine: its HOME, cache and plugins, in its folder."""
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("HOME", str(self.root / "home"))
            patch.setenv("BENCHSUITE_CACHE", str(self.root / "cache"))
            patch.chdir(self.root)
            self.calls += 1  # a site per call: install_distribution writes a fresh one
            install_distribution(self.root / "sites" / str(self.calls), patch, f"plugins-of-{self.root.name}",
                                 self.entry_points)
            patch.syspath_prepend(str(self.root / "code"))
            try:
                yield
            finally:
                sys.modules.pop("lab_vision", None)
                importlib.invalidate_caches()

    def cli(self, *args: str) -> str:
        """``benchsuite ARGS`` on this machine (its HOME, cache, plugins; run in its folder); the output."""
        with self.here():
            result = runner.invoke(app, list(args))
        assert result.exit_code == 0, result.output
        return result.output


def machine(root: Path, entry_points: str, with_lab: bool) -> Machine:
    (root / "home").mkdir(parents=True)
    (root / "code").mkdir()
    if with_lab:
        (root / "code" / "lab_vision.py").write_text(LAB_PLUGIN)
    (root / "registry.toml").write_text(REGISTRY)
    return Machine(root, entry_points)


def machines(base: Path) -> tuple[Machine, Machine]:
    """Machine A (toy plugins and ``lab_vision``) and machine B (toy plugins only)."""
    a = machine(base / "a", "toy = toy_plugins\nlab = lab_vision\n", with_lab=True)
    b = machine(base / "b", "toy = toy_plugins\n", with_lab=False)
    return a, b


def reseal(folder: Path) -> None:
    """Rewrite the manifest's sizes and digests to the files as they are now (a tamperer covering tracks)."""
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    for name in manifest["files"]:
        data = (folder / name).read_bytes()
        manifest["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    path.write_text(json.dumps(manifest, indent=1))


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=1))


def sparse(path: Path, size: int) -> None:
    """A file of ``size`` bytes that takes no disk space (a huge file, cheaply)."""
    with open(path, "wb") as handle:
        handle.truncate(size)
    assert os.path.getsize(path) == size
