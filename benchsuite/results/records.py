"""Result records: the one schema the runner writes and the leaderboard reads.

``results.json`` is a :class:`Results` document (``schema_version``, score
:class:`Record` s, plugin :class:`Problem` s); see ``docs/results.md``. Files
written before the schema had a version (a bare JSON list of records, plugin
problems as records with ``"*"`` placeholders), version 2 files (records
without ``role``, ``twin`` and ``cpu_drift``) and version 3 files (summaries without calibration scores) are
upgraded on read.
"""

from __future__ import annotations

import fcntl
import gc
import json
import logging
import math
import os
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from benchsuite.contract.errors import one_line
from benchsuite.contract.files import FileRefused, bounded_bytes
from benchsuite.contract.schemas import VisionRole
from benchsuite.extraction.cache import atomic_write_text

log = logging.getLogger("benchsuite")

SCHEMA_VERSION = 4
"""1: a bare list of records (problems as ``"*"`` records); 2: a document with problems; 3: records carry
``role``, ``twin`` and ``cpu_drift``; 4: summaries carry their calibration halvings' scores (``calibration``), which
calibrate paired differences. Older versions are upgraded on read."""
UPGRADABLE_VERSIONS = (2, 3)
"""Document versions whose records read as current ones, a missing field taking its default."""
Status = Literal["ok", "failed", "skipped"]
ProblemKind = Literal["plugin", "vision", "text", "images", "concepts", "metrics"]

HEADLINE_SOURCE = "two_vs_two"
"""The per-layer metric the headline summarises: the 2 vs 2 test (its ``MetricMeta.heldout_summary`` is True)."""
HEADLINE_METRIC = f"{HEADLINE_SOURCE}_heldout"
"""The metric of a summary record: 2 vs 2 of a layer chosen on held-out concepts (docs/methods.md)."""
ONE_VS_TWO = "one_vs_two"
"""The metric of a 1 vs 2 record: the paper's test for misclassified images, which the run computes itself."""


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Provenance(BaseModel):
    """Where a score came from: library versions, weights, settings, and what it was scored on: ``inputs`` (a
    digest of the design's photos by content and its concepts) and ``text_matrix`` (of the text model's k×k
    matrix); records whose digests differ are never ranked together (None: written before them)."""

    model_config = ConfigDict(extra="forbid")

    versions: dict[str, str] = {}
    weights_hash: str | None = None
    weights_source: str | None = None
    seed: int | None = None
    permutations: int | None = None
    device: str | None = None
    text_fingerprint: str | None = None
    time: str | None = None
    inputs: str | None = None
    text_matrix: str | None = None


class Summary(BaseModel):
    """How a summary record's headline was estimated, and the bootstrap draws that pair it with others."""

    model_config = ConfigDict(extra="forbid")

    best_value: float
    selected: dict[str, float] = {}
    n_splits: int
    n_bootstrap: int
    spread_factor: float = 1.0
    resampling: str
    draws: list[float | None]
    permutations_used: int | None = None
    calibration: list[list[float]] = []


class Record(BaseModel):
    """One (vision layer, text model, metric) result; ``status="failed"`` when that metric or layer failed.

    ``role`` and ``twin`` are the vision model's metadata (a model to rank, a baseline, or an untrained control
    and the trained model it is the twin of); ``cpu_drift`` is the text model's declared drift for ``metric``.
    The leaderboard reads the controls and the tie margins from them, never from the items' names."""

    model_config = ConfigDict(extra="forbid")

    suite: str
    design: str
    vision: str
    role: VisionRole = "model"
    twin: str | None = None
    text: str | None = None
    layer: str | None = None
    depth: int | None = None
    n_layers: int | None = None
    metric: str | None = None
    value: float | None = None
    groups: list[float | None] = []
    p_value: float | None = None
    chance: float | None = None
    higher_is_better: bool = True
    cpu_drift: float = 0.0
    n_concepts: int = 0
    n_images: int | None = None
    status: Status = "ok"
    error: str | None = None
    excluded: dict[str, str] = Field(default_factory=dict)
    concept_scope: Literal["suite", "text_model"] = "suite"
    provenance: Provenance = Field(default_factory=Provenance)
    interval: list[float] | None = None
    summary: Summary | None = None


class Problem(BaseModel):
    """A plugin item that was skipped (resources absent) or failed (it raised or returned bad data)."""

    model_config = ConfigDict(extra="forbid")

    suite: str
    kind: ProblemKind
    name: str
    plugin: str | None = None
    design: str | None = None
    status: Literal["failed", "skipped"]
    error: str
    time: str = Field(default_factory=utc_now)


FRAME_COLUMNS: dict[str, str] = {
    "suite": "str", "design": "str", "vision": "str", "role": "str", "twin": "str", "text": "str", "layer": "str",
    "depth": "Int64", "n_layers": "Int64", "metric": "str", "value": "float64", "interval_low": "float64",
    "interval_high": "float64", "p_value": "float64", "chance": "float64", "higher_is_better": "bool",
    "cpu_drift": "float64", "n_concepts": "int64",
    "n_images": "Int64", "status": "str", "error": "str", "concept_scope": "str", "groups": "object",
    "excluded": "object", "provenance.weights_hash": "str", "provenance.weights_source": "str",
    "provenance.seed": "Int64", "provenance.permutations": "Int64", "provenance.device": "str",
    "provenance.text_fingerprint": "str", "provenance.time": "str", "provenance.inputs": "str",
    "provenance.text_matrix": "str", "summary.best_value": "float64",
    "summary.n_splits": "Int64", "summary.n_bootstrap": "Int64", "summary.spread_factor": "float64",
    "summary.permutations_used": "Int64",
}
"""``Results.to_pandas`` columns in order, with their dtypes; ``provenance.versions.<package>`` columns follow."""


def frame_row(record: Record) -> dict[str, Any]:
    """One record as flat columns: ``interval`` split in two, ``excluded`` as its concept ids, scalars of
    ``provenance`` and ``summary`` (the bootstrap draws and layer shares stay on the record)."""
    row = record.model_dump(exclude={"interval", "excluded", "provenance", "summary"})
    low, high = record.interval or (None, None)
    row.update(interval_low=low, interval_high=high, excluded=sorted(record.excluded))
    provenance = record.provenance.model_dump(exclude={"versions"})
    row.update({f"provenance.{key}": value for key, value in provenance.items()})
    summary = record.summary.model_dump() if record.summary is not None else {}
    row.update({column: summary.get(column.removeprefix("summary.")) for column in FRAME_COLUMNS
                if column.startswith("summary.")})
    row.update({f"provenance.versions.{package}": version for package, version in record.provenance.versions.items()})
    return row


class Results(BaseModel):
    """The whole of ``results.json``."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    records: list[Record] = []
    problems: list[Problem] = []
    mixed_settings: dict[str, list[str]] = Field(default_factory=dict)

    def to_pandas(self) -> Any:
        """A ``pandas.DataFrame`` with one row per record, in record order, for filtering and plotting.

        Columns, always in this order: ``FRAME_COLUMNS`` (the record's fields; ``interval`` as
        ``interval_low``/``interval_high``; ``groups`` the per-group values and ``excluded`` the left-out
        concept ids, as lists; ``provenance.*`` and ``summary.*`` scalars), then ``provenance.versions.<package>``
        sorted by package. Missing numbers are NaN (floats) or <NA> (nullable Int64 counts), missing text NaN.
        Plugin problems are not records: see ``problems``.
        """
        import pandas as pd

        rows = [frame_row(record) for record in self.records]
        versions = sorted({column for row in rows for column in row if column.startswith("provenance.versions.")})
        columns = {**FRAME_COLUMNS, **dict.fromkeys(versions, "str")}
        return pd.DataFrame({column: pd.Series([row.get(column) for row in rows], dtype=dtype)
                             for column, dtype in columns.items()})


RECORDS = TypeAdapter(list[Record])
LEGACY = TypeAdapter(list[dict[str, Any]])


def finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def count_problem(name: str, value: int | None, least: int) -> str | None:
    """``name value is ...`` when a count is below ``least`` (0: negative; 1: not a positive count)."""
    if value is None or value >= least:
        return None
    return f"{name} {value} is negative" if least == 0 else f"{name} {value} is not a positive count"


def summary_problem(summary: Summary) -> str | None:
    """What makes a summary impossible: a non-finite best value or draw, a negative count or spread."""
    if not finite(summary.best_value):
        return f"summary.best_value {summary.best_value} is not finite"
    bad_draw = next((d for d in summary.draws if d is not None and not math.isfinite(d)), None)
    if bad_draw is not None:
        return f"summary.draws holds {bad_draw}"
    if not (finite(summary.spread_factor) and summary.spread_factor > 0):
        return f"summary.spread_factor {summary.spread_factor} is not a positive number"
    if summary.calibration and (len(summary.calibration) != 2 or len(set(map(len, summary.calibration))) != 1):
        return "summary.calibration is not two rows (halves, other halves) of one length"
    if not all(finite(score) for row in summary.calibration for score in row):
        return "summary.calibration holds a non-finite score"
    if any(not (finite(share) and 0 <= share <= 1) for share in summary.selected.values()):
        return "summary.selected holds a share outside [0, 1]"
    counts = {"n_splits": summary.n_splits, "n_bootstrap": summary.n_bootstrap,
              "permutations_used": summary.permutations_used}
    return next(filter(None, (count_problem(f"summary.{k}", v, 0) for k, v in counts.items())), None)


def number_problem(record: Record) -> str | None:
    """What makes a record's numbers impossible: p outside [0, 1], a non-finite value, group, chance or interval."""
    if record.p_value is not None and not (0 <= record.p_value <= 1):
        return f"p_value {record.p_value} is outside [0, 1]"
    if record.value is None and record.status == "ok":
        return "an ok record has no value"
    for name in ("value", "chance"):
        number = getattr(record, name)
        if number is not None and not math.isfinite(number):
            return f"{name} {number} is not finite"
    bad_group = next((v for v in record.groups if v is not None and not math.isfinite(v)), None)
    if bad_group is not None:
        return f"groups holds {bad_group}"
    if not (finite(record.cpu_drift) and record.cpu_drift >= 0):
        return f"cpu_drift {record.cpu_drift} is negative or not finite"
    if record.interval is not None:
        if len(record.interval) != 2:
            return f"interval {record.interval} is not [low, high]"
        low, high = record.interval
        if not (math.isfinite(low) and math.isfinite(high) and low <= high):
            return f"interval {record.interval} is reversed or not finite"
    return None


def record_problem(record: Record) -> str | None:
    """Why ``record`` cannot be what the runner wrote (a hand edit or a broken writer), or None when it can be:
    its numbers (``number_problem``), its counts (concepts positive on an ok record, depth inside the model) and
    its summary."""
    problem = number_problem(record) or count_problem("n_concepts", record.n_concepts,
                                                      1 if record.status == "ok" else 0)
    problem = problem or count_problem("n_images", record.n_images, 0) or count_problem("n_layers",
                                                                                       record.n_layers, 1)
    if problem is None and record.depth is not None and not (
            0 <= record.depth < (record.n_layers if record.n_layers is not None else record.depth + 1)):
        problem = f"depth {record.depth} is outside 0..{(record.n_layers or 0) - 1} (n_layers {record.n_layers})"
    problem = problem or count_problem("provenance.permutations", record.provenance.permutations, 0)
    return problem or (summary_problem(record.summary) if record.summary is not None else None)


def check_records(records: list[Record], where: Path | str) -> None:
    """A one-line ValueError naming the first impossible record of ``where`` (its index and names) and why."""
    for index, record in enumerate(records):
        problem = record_problem(record)
        if problem is not None:
            names = " / ".join(str(name) for name in (record.vision, record.text, record.layer, record.metric))
            raise ValueError(one_line(f"{where}: record {index} ({names}): {problem}; fix or remove that record, "
                                      "or rerun that model"))


def write_records(path: Path, records: list[Record]) -> None:
    """Write one model's records atomically: a reader sees the old file or the new one, never half."""
    atomic_write_text(path, json.dumps([r.model_dump(mode="json") for r in records], indent=1, allow_nan=False))


def read_records(path: Path) -> list[Record]:
    """One model's records file (a JSON list of records), each record checked (``check_records``)."""
    records = RECORDS.validate_json(regular_bytes(Path(path)))
    check_records(records, path)
    return records


def upgrade_legacy(items: list[dict[str, Any]]) -> Results:
    """A results file from before ``schema_version``: problems were records with ``"*"`` placeholders."""
    records, problems = [], []
    for item in items:
        if item.get("status", "ok") != "ok" and (item.get("design") == "*" or item.get("layer") is None):
            kind = item.get("provenance", {}).get("kind") or ("text" if item.get("vision") == "*" else "vision")
            name = item.get("text") if kind == "text" else item.get("vision")
            problems.append(Problem(suite=item["suite"], kind=kind, name=name or "?", status=item["status"],
                                    error=one_line(item.get("error") or ""),
                                    design=None if item.get("design") == "*" else item.get("design"),
                                    time=item.get("provenance", {}).get("time") or utc_now()))
        else:
            records.append(Record.model_validate(item))
    return Results(records=records, problems=problems, mixed_settings=mixed_settings(records))


FREEZING = {"depth": 0, "on": False}
"""Whether objects made while the collector is paused are frozen: only inside ``frozen_meanwhile``, which hands
them back, and only where the process had frozen nothing of its own (changed under ``FREEZING_LOCK``: a page built
in one thread never freezes objects after another thread's outermost block handed them back)."""
FREEZING_LOCK = threading.Lock()
FROZEN_AT_START = gc.get_freeze_count()
"""What the interpreter itself keeps frozen (Python 3.12 starts with a few hundred objects frozen, 3.11 and 3.13
with none): more than that at a page's start are the caller's own."""


@contextmanager
def collection_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a large file's objects are made (none of them is garbage; each
    collection would walk them all again: a third of the time of reading 700,000 records). Inside
    ``frozen_meanwhile``, what was made is frozen on leaving (``gc.freeze``: reference counting still frees it, no
    collection walks it; the first collection after the pause would otherwise walk all of it, seconds for a large
    file)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            with FREEZING_LOCK:
                if FREEZING["on"]:
                    gc.freeze()
            gc.enable()


@contextmanager
def frozen_meanwhile() -> Iterator[None]:
    """Within the block, ``collection_paused`` freezes what it made; the frozen objects go back to the collector
    when the outermost block ends (their owners gone by then, most were freed already). Nothing is frozen where
    the process had frozen objects of its own (``gc.freeze`` by the caller), which this never unfreezes."""
    with FREEZING_LOCK:
        outermost = FREEZING["depth"] == 0
        if outermost:
            FREEZING["on"] = gc.get_freeze_count() <= FROZEN_AT_START
        FREEZING["depth"] += 1
    try:
        yield
    finally:
        with FREEZING_LOCK:
            FREEZING["depth"] -= 1
            if outermost:
                if FREEZING["on"]:
                    gc.unfreeze()
                FREEZING["on"] = False


MAX_RESULTS_BYTES = 4 << 30
"""The largest results file read: a page ranks at most 1,000 vision models, about 1.2 GB at the offline suite's size."""


def regular_bytes(path: Path, limit: int | None = None) -> bytes:
    """The bytes of a file the leaderboard reads (results, records, concept inventories, the README it refreshes)
    that is a regular file of at most ``limit`` bytes (``MAX_RESULTS_BYTES`` when not given; ``bounded_bytes``: a
    FIFO or a device is refused instead of waited on or read without end); else a one-line ValueError naming it."""
    limit = MAX_RESULTS_BYTES if limit is None else limit
    try:
        return bounded_bytes(path, limit)
    except FileNotFoundError as error:
        raise ValueError(f"{path} cannot be read ({error.strerror or error})") from None
    except FileRefused as refused:
        raise ValueError(f"{path} " + {
            "unreadable": f"cannot be read ({refused.detail})",
            "not regular": "is not a regular file; pass the file benchsuite wrote",
            "too large": f"is {refused.detail} bytes, more than the {limit} such a file may hold (a results file: "
                         f"{MAX_RESULTS_BYTES}; publish its models in parts)",
            "grew": f"is longer than its size of {refused.detail} bytes (it grew while it was read, or is not a "
                    "file on disk); read it when its run is done",
        }[refused.reason]) from None


RECORDS_OPEN, RECORDS_CLOSE, RECORD_SEPARATOR = b'\n "records": [', b'\n ],\n "problems": ', b'\n  },\n  {'
"""How ``write_results`` lays out the records array (``indent=1``): JSON strings hold no raw newline, so these byte
runs are whitespace between values, and the separator (a record's closing brace at two spaces) lies between
records."""
CHUNK_BYTES = 32 * 2**20
"""About how much of a large records array pydantic parses at once: it builds a whole document's JSON tree before
validating it, so one 1 GB document takes 1.7x the time of the same records in 32 MB parts, and several GB more."""


def chunked_document(raw: bytes) -> Results | None:
    """A document laid out as ``write_results`` writes it, its records parsed in parts of about ``CHUNK_BYTES``;
    None where the layout is another, or a part or the rest does not validate (the whole is then parsed at once,
    whose error says what is wrong). Where every part and the rest (the document with its records array emptied)
    validate, the whole document is valid JSON with these records: each part is a list of values, and so is their
    concatenation in the array's place."""
    start, end = raw.find(RECORDS_OPEN), raw.find(RECORDS_CLOSE)
    if len(raw) < 2 * CHUNK_BYTES or start < 0 or end < start:
        return None
    begin, end = start + len(RECORDS_OPEN), end + 3  # after the array's "[", and after its "]"
    rest = raw[:begin - 1] + b"[]" + raw[end:]
    records: list[Record] = []
    try:
        results = Results.model_validate_json(rest)
        while begin < end - 3:
            cut = raw.find(RECORD_SEPARATOR, begin + CHUNK_BYTES, end)
            stop = end - 3 if cut < 0 else cut + 4  # after the last record's "}", or after the part's
            records += RECORDS.validate_json(b"".join((b"[", memoryview(raw)[begin:stop], b"]")))
            begin = stop + 1  # past the comma
    except ValidationError:
        return None
    if results.records or rest.count(b'"records"') != 1:
        return None
    results.records = records
    return results


def current_document(raw: bytes) -> Results | None:
    """A current (or version 2 or 3) document parsed in one pass (pydantic's JSON parser: the fast path for large
    files; in parts where the file is laid out as ``write_results`` writes it); None for anything else, which
    ``parse_document`` reads or refuses."""
    try:
        results = chunked_document(raw) or Results.model_validate_json(raw)
    except ValidationError:
        return None
    if results.schema_version == SCHEMA_VERSION:
        return results
    return results.model_copy(update={"schema_version": SCHEMA_VERSION}) if (
        results.schema_version in UPGRADABLE_VERSIONS) else None


def parse_document(raw: bytes) -> Results:
    """A results document of any version this benchsuite reads, else a ValueError or ValidationError saying why."""
    data = json.loads(raw)
    if isinstance(data, list):
        return upgrade_legacy(LEGACY.validate_python(data))
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version in UPGRADABLE_VERSIONS:
        data = {**data, "schema_version": SCHEMA_VERSION}
    elif version != SCHEMA_VERSION:
        raise ValueError(f"schema_version {version!r}, this benchsuite reads versions up to {SCHEMA_VERSION} "
                         "and lists (version 1)")
    return Results.model_validate(data)


def read_results(path: Path, raw: bytes | None = None) -> Results:
    """``results.json`` of any schema version, upgraded to the current one; a ValueError names a bad file, or the
    first impossible record in it (``record_problem``: p outside [0, 1], an infinite value, a reversed interval...).
    ``raw``: the file's bytes, where the caller has read them already.

    Version 1 (a bare list) is rebuilt by :func:`upgrade_legacy`; a version 2 document's records lack ``role``,
    ``twin`` and ``cpu_drift``, which take their defaults (``"model"``, None, 0.0); a version 3 document's summaries
    lack the calibration scores (empty: their paired differences are the difference of their draws)."""
    raw = regular_bytes(Path(path)) if raw is None else raw
    try:
        with collection_paused():
            results = current_document(raw) or parse_document(raw)
    except (ValueError, ValidationError) as error:
        raise ValueError(f"{path} is not a valid results file: {one_line(str(error))[:300]}") from None
    check_records(results.records, path)
    return results


def write_results(path: Path, results: Results) -> None:
    atomic_write_text(path, json.dumps(results.model_dump(mode="json"), indent=1, allow_nan=False))


def seed_setting(record: Record) -> str:
    return f"seed={record.provenance.seed}, permutations={record.provenance.permutations}"


def setting(record: Record) -> str:
    """What besides the model a record's numbers depend on and records must share to be ranked together: the
    seed and permutation count, and (where recorded) the digest of the photos and concepts it was scored on."""
    return seed_setting(record) + (f", inputs={record.provenance.inputs}" if record.provenance.inputs else "")


def mixed_settings(records: list[Record]) -> dict[str, list[str]]:
    """For each suite whose records were computed under different seeds or permutation counts, or one of whose
    designs was scored on different photos or concepts (``setting``), the settings found."""
    ok = [record for record in records if record.status == "ok"]
    seeds: dict[str, set[tuple[int | None, int | None]]] = defaultdict(set)
    for suite, seed, permutations in {(r.suite, r.provenance.seed, r.provenance.permutations) for r in ok}:
        seeds[suite].add((seed, permutations))
    inputs: dict[tuple[str, str], set[str | None]] = defaultdict(set)
    for suite, design, digest in {(r.suite, r.design, r.provenance.inputs) for r in ok}:
        inputs[(suite, design)].add(digest)
    mixed = {suite for suite, found in seeds.items() if len(found) > 1}
    mixed |= {suite for (suite, _), digests in inputs.items() if len(digests) > 1}
    return {suite: sorted({setting(r) for r in records if r.suite == suite and r.status == "ok"})
            for suite in sorted(mixed)}


def move_aside(path: Path, why: str) -> Path:
    """Rename a bad file to ``<name>.corrupt-<time>`` (kept for inspection) and warn, naming both."""
    target = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")
    os.replace(path, target)
    log.warning("%s: %s; moved it aside to %s and rebuilding it", path, one_line(why), target)
    return target


def read_results_or_move_aside(path: Path) -> Results:
    """The results file, or empty results when it is absent; an unreadable one is moved aside, never fatal."""
    if not path.exists():
        return Results()
    try:
        return read_results(path)
    except ValueError as error:
        move_aside(path, str(error))
        return Results()


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``<path>.lock`` while a read-modify-write of ``path`` runs (other runs wait)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def merge_results(path: Path, suite: str, records: list[Record], problems: list[Problem]) -> Results:
    """Replace ``suite``'s records and problems in ``path``, keeping every other suite's, under a lock."""
    with locked(path):
        current = read_results_or_move_aside(path)
        kept = [r for r in current.records if r.suite != suite] + records
        merged = Results(records=kept, problems=[p for p in current.problems if p.suite != suite] + problems,
                         mixed_settings=mixed_settings(kept))
        write_results(path, merged)
    for name, settings in merged.mixed_settings.items():
        log.warning("%s mixes records of suite %r computed under different settings or on different photos (%s); "
                    "the leaderboard ranks each separately", path, name, "; ".join(settings))
    return merged
