"""A contribution folder: one vision model's finished run as exactly what scoring consumes.

``leaderboard/contributions/<suite>/<model>/`` holds ``manifest.json`` (provenance, the inputs the run was scored
on, and each other file's sha256 and size), ``records.json`` (the run's own records, which verification checks
and never copies) and per design ``matrices-<design>.npz``: each group's layer matrices as float64 upper triangles
(diagonal included, exact) and its top-1 predictions (for the 1 vs 2 test). Every read is bounded: a file's size
is checked against the manifest and the limits below before it is parsed, and arrays are read without pickle.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from benchsuite.contract.errors import BenchsuiteError, describe_error, one_line
from benchsuite.contract.files import FileRefused, bounded_bytes
from benchsuite.contract.schemas import NAME_PATTERN, slug
from benchsuite.extraction.layers import GroupExtraction, LayerFailure
from benchsuite.results.records import RECORDS, Record, check_records

FORMAT: Literal[1] = 1
"""The contribution format this benchsuite writes and reads."""
MANIFEST = "manifest.json"
RECORDS_FILE = "records.json"
MAX_MANIFEST_BYTES = 8 << 20
"""A manifest lists every photo's digest: about 200 kB for the offline suite; anything past 8 MiB is refused."""
MAX_FILE_BYTES = 256 << 20
"""No file of a contribution is read past 256 MiB (a 20-layer model on the offline suite needs under 10 MB)."""
MAX_NAME = 120
BY_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._@+()-]{0,79}")
"""Who contributed: letters, digits, spaces and ``._@+()-``, at most 80 characters (it is shown on the page)."""
FILE_PATTERN = re.compile(r"[a-z0-9][a-z0-9.-]{0,150}")
DIAGONAL_TOLERANCE = 1e-6
NPY_HEADER = 256
"""Bytes an .npy header takes at most in these files (numpy pads it to 64 or 128)."""


class Refused(BenchsuiteError):
    """A contribution that the leaderboard does not take, with the one-line reason (and fix)."""


class Failure(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str
    image: int | None = None


class GroupInputs(BaseModel):
    """One image group of a design: its photos in group order, their content digests, the layers it broke."""

    model_config = ConfigDict(extra="forbid")

    images: list[str]
    digests: list[str]
    failures: dict[str, Failure] = {}


class DesignInputs(BaseModel):
    """What one design's records were scored on, and the file with its matrices."""

    model_config = ConfigDict(extra="forbid")

    name: str
    photos: str  # Provenance.inputs: the design, its concepts and photos by content
    concepts: list[str]
    groups: list[GroupInputs]
    text_matrices: dict[str, str]  # text model -> sha256 of its k×k matrix (array_digest)
    file: str


class ModelInputs(BaseModel):
    """The contributed vision model: its name, weights and metadata (as in its layer cache keys)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    layers: list[str]
    weights_hash: str
    metadata: dict[str, Any]


class FileEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


class Manifest(BaseModel):
    """``manifest.json``: the contribution's provenance and inputs, and each of its files' digest and size."""

    model_config = ConfigDict(extra="forbid")

    format: Literal[1] = FORMAT
    suite: str
    by: str
    benchsuite: str
    seed: int
    permutations: int
    metrics: list[str]
    model: ModelInputs
    designs: list[DesignInputs]
    versions: dict[str, str]
    machine: dict[str, str]
    created: str
    files: dict[str, FileEntry]


@dataclass
class Bundle:
    """A contribution read and checked as data (``read_bundle``): not yet compared with anything here."""

    folder: Path
    manifest: Manifest
    records: list[Record]
    extractions: dict[str, list[GroupExtraction]]  # design -> its groups' matrices and predictions


def refuse(folder: Path, why: str) -> Refused:
    return Refused(one_line(f"contribution {folder}: {why}"))


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a contributed model's name (path characters, markdown, length), or None."""
    if len(name) > MAX_NAME or not re.fullmatch(NAME_PATTERN, name):
        return (f"model name {name[:MAX_NAME]!r} is not a benchsuite item name (lower case letters, digits, `_.-`, "
                f"or PREFIX:REST; at most {MAX_NAME} characters)")
    if ".." in name or "//" in name or name.endswith("/"):
        return f"model name {name!r} holds a path step ('..', '//' or a trailing '/')"
    return None


def upper(matrix: np.ndarray) -> np.ndarray:
    """The upper triangle of a symmetric k×k matrix, diagonal included, row by row."""
    return np.ascontiguousarray(matrix[np.triu_indices(len(matrix))], dtype=np.float64)


def full(triangle: np.ndarray, k: int) -> np.ndarray:
    """The symmetric k×k matrix of an upper triangle (``upper``)."""
    matrix = np.empty((k, k), dtype=np.float64)
    rows, columns = np.triu_indices(k)
    matrix[rows, columns] = triangle
    matrix[columns, rows] = triangle
    return matrix


def array_name(group: int, layer: int | None) -> str:
    """An array's name in a design's .npz: ``g<group>.l<layer index>`` or ``g<group>.predictions``."""
    return f"g{group}.predictions" if layer is None else f"g{group}.l{layer}"


def design_file(design: str) -> str:
    return f"matrices-{slug(design) or 'design'}.npz"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def bounded_read(folder: Path, name: str, limit: int) -> bytes:
    """The bytes of regular file ``folder/name`` (never a link), refused past ``limit`` bytes before reading."""
    path = folder / name
    if path.is_symlink():
        raise refuse(folder, f"{name} is missing or not a regular file (a link or folder)")
    try:
        return bounded_bytes(path, limit)
    except FileNotFoundError:
        raise refuse(folder, f"{name} is missing or not a regular file (a link or folder)") from None
    except FileRefused as refused:
        raise refuse(folder, {
            "unreadable": f"{name} cannot be read ({refused.detail})",
            "not regular": f"{name} is missing or not a regular file (a link or folder)",
            "too large": f"{name} is {refused.detail} bytes, more than the {limit} a contribution's {name} may be",
            "grew": f"{name} grew past its size of {refused.detail} bytes while it was read",
        }[refused.reason]) from None


def read_manifest(folder: Path) -> Manifest:
    """The folder's manifest, its names checked (model, contributor, files)."""
    if folder.is_symlink() or not folder.is_dir():
        raise refuse(folder, "not a folder (a contribution is a folder, never a link)")
    raw = bounded_read(folder, MANIFEST, MAX_MANIFEST_BYTES)
    try:
        manifest = Manifest.model_validate_json(raw)
    except ValidationError as error:
        raise refuse(folder, f"{MANIFEST} is not a contribution manifest ({describe_error(error)[:300]}); "
                             "make it again with `benchsuite contribute`") from None
    problem = name_problem(manifest.model.name)
    if problem is None and not BY_PATTERN.fullmatch(manifest.by):
        problem = (f"contributor {manifest.by[:80]!r} is not letters, digits, spaces and ._@+()- "
                   "(at most 80 characters)")
    bad_file = next((name for name in manifest.files if not FILE_PATTERN.fullmatch(name)), None)
    if problem is None and bad_file is not None:
        problem = f"file name {bad_file[:80]!r} is not lower case letters, digits, '.' and '-'"
    if problem is not None:
        raise refuse(folder, problem)
    return manifest


def checked_files(folder: Path, manifest: Manifest) -> dict[str, bytes]:
    """Every file the manifest lists, read (bounded) and matched to its size and sha256; no other file allowed."""
    present = sorted(path.name for path in folder.iterdir() if path.name != MANIFEST)
    expected = {RECORDS_FILE, *(design.file for design in manifest.designs)}
    extra = sorted((set(present) - set(manifest.files)) | (set(manifest.files) - expected))
    if extra:
        raise refuse(folder, f"{extra[0]} is not a file of this contribution (its manifest lists "
                             f"{', '.join(sorted(expected))}); remove it")
    found = {}
    for name in sorted(expected):
        entry = manifest.files.get(name)
        if entry is None:
            raise refuse(folder, f"its manifest lists no digest for {name}")
        data = bounded_read(folder, name, min(entry.size, MAX_FILE_BYTES))
        if len(data) != entry.size:
            raise refuse(folder, f"{name} is {len(data)} bytes, its manifest says {entry.size} (truncated or edited)")
        if sha256_of(data) != entry.sha256:
            raise refuse(folder, f"{name} does not match its sha256 in the manifest (edited after it was packed)")
        found[name] = data
    return found


def parsed_records(folder: Path, manifest: Manifest, raw: bytes) -> list[Record]:
    """The contribution's own records, each checked (``check_records``) and of its suite, model and designs."""
    try:
        records = RECORDS.validate_json(raw)
        check_records(records, RECORDS_FILE)
    except (ValueError, ValidationError) as error:
        raise refuse(folder, f"{RECORDS_FILE} is not a list of valid records ({describe_error(error)[:300]})") from None
    designs = {design.name for design in manifest.designs}
    for record in records:
        if (record.suite, record.vision) != (manifest.suite, manifest.model.name) or record.design not in designs:
            raise refuse(folder, f"{RECORDS_FILE} holds a record of model {record.vision!r} on suite {record.suite!r}, "
                                 f"design {record.design!r}, which the manifest does not describe")
    return records


def group_arrays(folder: Path, design: DesignInputs, layers: list[str], raw: bytes,
                 predicts: bool) -> list[GroupExtraction]:
    """One design's group extractions from its .npz: the member names and sizes checked before any is read, every
    matrix float64, finite, within [-1, 1] with a unit diagonal, predictions ImageNet-1k indices."""
    k = len(design.concepts)
    triangle = k * (k + 1) // 2
    expected: dict[str, tuple[str, tuple[int, ...]]] = {}
    for g, group in enumerate(design.groups):
        for index, layer in enumerate(layers):
            if layer not in group.failures:
                expected[f"{array_name(g, index)}.npy"] = ("float64", (triangle,))
        if predicts:
            expected[f"{array_name(g, None)}.npy"] = ("int64", (len(group.images),))
    where = f"{design.file} (design {design.name!r})"
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        members = {info.filename: info for info in archive.infolist()}
    except (zipfile.BadZipFile, ValueError) as error:
        raise refuse(folder, f"{where} is not an .npz archive ({one_line(str(error))})") from None
    if set(members) != set(expected):
        odd = sorted(set(members) ^ set(expected))[0]
        raise refuse(folder, f"{where}: array {odd} is {'unexpected' if odd in members else 'missing'} (wrong "
                             f"layers or groups for {len(layers)} layers and {len(design.groups)} groups)")
    arrays: dict[str, np.ndarray] = {}
    for name, (dtype, shape) in expected.items():
        limit = NPY_HEADER + int(np.prod(shape)) * 8
        if members[name].file_size > limit:
            raise refuse(folder, f"{where}: array {name} unpacks to {members[name].file_size} bytes, more than "
                                 f"its shape {shape} takes")
        try:
            with archive.open(name) as handle:
                data = handle.read(limit + 1)
            found_dtype, found_shape = npy_header(data)
            if found_dtype != np.dtype(dtype) or found_shape != shape:  # checked before any array is made
                raise refuse(folder, f"{where}: array {name} is {found_dtype} of shape {found_shape}, not {dtype} "
                                     f"of shape {shape} ({k} concepts)")
            array = np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
        except (ValueError, OSError, zipfile.BadZipFile) as error:
            raise refuse(folder, f"{where}: array {name} cannot be read ({one_line(str(error))[:200]})") from None
        problem = matrix_problem(array, k) if dtype == "float64" else prediction_problem(array)
        if problem is not None:
            raise refuse(folder, f"{where}: array {name} {problem}")
        arrays[name.removesuffix(".npy")] = array
    return [GroupExtraction(
        matrices={layer: full(arrays[array_name(g, index)], k) for index, layer in enumerate(layers)
                  if layer not in group.failures},
        predictions=arrays[array_name(g, None)] if predicts else None,
        failures={layer: LayerFailure(failure.reason, failure.image) for layer, failure in group.failures.items()})
        for g, group in enumerate(design.groups)]


def npy_header(data: bytes) -> tuple[np.dtype, tuple[int, ...]]:
    """The dtype and shape an .npy file declares, read from its header alone (a hostile header could declare an
    array of terabytes: nothing is allocated before its shape is checked)."""
    buffer = io.BytesIO(data[:NPY_HEADER * 4])
    version = np.lib.format.read_magic(buffer)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read(buffer)
    return np.dtype(dtype), tuple(int(n) for n in shape)


def matrix_problem(triangle: np.ndarray, k: int) -> str | None:
    if not np.isfinite(triangle).all():
        return "holds NaN or inf (a contributed matrix must be finite everywhere)"
    if np.abs(triangle).max(initial=0.0) > 1.0:
        return "holds a correlation outside [-1, 1]"
    diagonal = triangle[np.r_[0, np.cumsum(np.arange(k, 1, -1))]] if k else triangle
    if np.abs(diagonal - 1.0).max(initial=0.0) > DIAGONAL_TOLERANCE:
        return "has a diagonal that is not 1 (not a correlation matrix)"
    return None


def prediction_problem(predictions: np.ndarray) -> str | None:
    if predictions.size and (predictions.min() < 0 or predictions.max() > 999):
        return "holds predictions outside 0..999 (ImageNet-1k indices)"
    return None


def read_bundle(folder: Path) -> Bundle:
    """A contribution folder read and checked as data, or a ``Refused`` naming the first problem."""
    manifest = read_manifest(folder)
    files = checked_files(folder, manifest)
    records = parsed_records(folder, manifest, files[RECORDS_FILE])
    names = [design.name for design in manifest.designs]
    if len(set(names)) != len(names) or len({d.file for d in manifest.designs}) != len(names):
        raise refuse(folder, "its manifest names a design (or a design's file) twice")
    predicts = bool(manifest.model.metadata.get("predicts_imagenet"))
    extractions = {design.name: group_arrays(folder, design, manifest.model.layers, files[design.file], predicts)
                   for design in manifest.designs}
    return Bundle(folder, manifest, records, extractions)


def write_bundle(folder: Path, manifest: Manifest, records: list[Record],
                 extractions: dict[str, list[GroupExtraction]]) -> None:
    """Write a contribution into the (new, empty) ``folder``: its files, then the manifest listing their digests."""
    files: dict[str, bytes] = {RECORDS_FILE: json.dumps([r.model_dump(mode="json") for r in records], indent=1,
                                                        allow_nan=False).encode()}
    for design in manifest.designs:
        arrays: dict[str, Any] = {}  # Any: numpy's stubs type savez's keyword arguments
        for g, extraction in enumerate(extractions[design.name]):
            for index, layer in enumerate(manifest.model.layers):
                if layer in extraction.matrices:
                    arrays[array_name(g, index)] = upper(extraction.matrices[layer])
            if extraction.predictions is not None:
                arrays[array_name(g, None)] = np.asarray(extraction.predictions, dtype=np.int64)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        files[design.file] = buffer.getvalue()
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    listed = manifest.model_copy(update={"files": {name: FileEntry(sha256=sha256_of(data), size=len(data))
                                                   for name, data in files.items()}})
    (folder / MANIFEST).write_text(json.dumps(listed.model_dump(mode="json"), indent=1, allow_nan=False))
