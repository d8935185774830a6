"""Real photos: those shipped inside the installed ``foolbox`` package, for building image trees in tests, and the
pypi_photos set fetched into the default cache."""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

import benchsuite_builtins.images.pypi_photos as pypi_photos
import pytest
from text_fixtures import registry

from benchsuite.extraction.cache import default_cache_dir
from benchsuite.inputs.imagenet import concept_by_index, val_labels


def foolbox_photos() -> dict[Path, int]:
    """The 20 foolbox ImageNet JPEGs and their ImageNet-1k indices (found without importing foolbox)."""
    spec = importlib.util.find_spec("foolbox")
    if spec is None or spec.origin is None:  # setup.sh installs it; the core's test runs have no photos
        pytest.skip("needs foolbox's labelled photos (setup.sh installs foolbox with --no-deps)")
    folder = Path(spec.origin).parent / "data"
    photos = {}
    for path in sorted(folder.glob("imagenet_*.jpg")):
        photos[path] = int(re.search(r"_(\d+)\.jpg$", path.name).group(1))
    return photos


def val_names_by_index() -> dict[int, list[str]]:
    """Validation file names per class index, sorted."""
    names: dict[int, list[str]] = {}
    for name, index in sorted(val_labels().items()):
        names.setdefault(index, []).append(name)
    return names


def build_val_tree(root: Path, copies: int, layout: str) -> dict[str, str]:
    """An ImageNet-validation-style tree of real photos; returns {file name: wnid}.

    Each foolbox photo is copied ``copies`` times under real validation file
    names of its class, flat or in one folder per wnid.
    """
    names = val_names_by_index()
    expected = {}
    for photo, index in foolbox_photos().items():
        wnid = concept_by_index(index).id
        for name in names[index][:copies]:
            if name in expected:
                continue
            target = root / name if layout == "flat" else root / wnid / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(photo, target)
            expected[name] = wnid
    return expected


def fetched_photos():
    """The pypi_photos source over the real photos in the default cache (fetched by `benchsuite fetch` before the
    tests); skips the test when they are not there."""
    folder = default_cache_dir() / "photos" / pypi_photos.PHOTOS_FOLDER
    if not (folder / pypi_photos.MANIFEST).exists():
        pytest.skip(f"pypi_photos not fetched into {folder}: run `benchsuite fetch` first")
    return registry().images["pypi_photos"].load()
