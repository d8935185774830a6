"""The verified records of a contribution kept on disk, so that a publish recomputes only what changed.

An entry lives in the run's cache (``<cache>/contributions/<digest>.json``) under a key of everything the
recomputation depends on: the contribution's manifest (which holds every file's sha256), this benchsuite's and
its core packages' versions, the suite's inputs as prepared here (photos, concepts, text matrices, seed,
permutations, metrics) and the agreement rules. A hit skips the recomputation alone: the contribution's files are
still read and checked against its manifest (``read_bundle``), and its comparability with the suite here checked,
at every publish. A corrupt or mismatching entry is ignored and recomputed; a cache that cannot be written warns.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import platform
from pathlib import Path
from typing import Any

from benchsuite.contract.errors import describe_error
from benchsuite.contributions import verify
from benchsuite.contributions.bundle import Bundle
from benchsuite.extraction.cache import ArrayCache, atomic_write_text, key_digest
from benchsuite.extraction.layers import package_version
from benchsuite.results import agreement
from benchsuite.results.records import Record
from benchsuite.run.keys import CORE_PACKAGES

log = logging.getLogger("benchsuite")
FOLDER = "contributions"
"""The cache's subfolder of verified contributions."""
FORMAT = 1


def memo_key(bundle: Bundle, local: verify.LocalSuite) -> dict[str, Any]:
    """Everything a contribution's recomputation here depends on."""
    settings = local.items.settings
    return {
        "format": FORMAT,
        "manifest": key_digest(bundle.manifest.model_dump(mode="json")),
        "versions": {"python": platform.python_version(),  # benchsuite's own among its core packages'
                     **{name: package_version(name) for name in CORE_PACKAGES}},
        "suite": local.items.suite.name,
        "inputs": {design: dataclasses.asdict(inputs) for design, inputs in sorted(local.inputs.items())},
        "photos": local.digests,
        "settings": {"seed": settings.seed, "permutations": settings.permutations,
                     "metrics": list(settings.metrics)},
        "agreement": {"ignored": list(verify.IGNORED), "tolerance": agreement.TOLERANCE, "key": list(agreement.KEY)},
    }


def memo_path(cache: ArrayCache, key: dict[str, Any]) -> Path:
    return cache.root / FOLDER / f"{key_digest(key)}.json"


def remembered(path: Path, key: dict[str, Any]) -> list[Record] | None:
    """The records stored at ``path`` under ``key``; None where absent, unreadable, corrupt or another key's."""
    try:
        entry = json.loads(path.read_text())
        if entry["key"] != json.loads(json.dumps(key)):
            log.warning("verified contribution %s holds another key; recomputing it", path)
            return None
        return [Record.model_validate(record) for record in entry["records"]]
    except FileNotFoundError:
        return None
    except Exception as error:  # any failure to read or parse a stored entry means recomputing it
        log.warning("verified contribution %s is unreadable (%s); recomputing it", path, describe_error(error)[:200])
        return None


def remember(path: Path, key: dict[str, Any], records: list[Record]) -> None:
    """Store ``records`` under ``key``; a cache that cannot be written is warned about, never fatal."""
    entry = {"key": key, "records": [r.model_dump(mode="json") for r in records]}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(entry, allow_nan=False))
    except (OSError, ValueError) as error:
        log.warning("could not keep the verified contribution in %s (%s); it is recomputed at the next publish. "
                    "Check the permissions and free space of the cache folder, or use another --cache", path, error)


def cached_verified_records(bundle: Bundle, local: verify.LocalSuite, cache: ArrayCache) -> list[Record]:
    """``verify.verified_records``' records of the contribution, from ``cache`` where it verified them before under
    the same inputs (its comparability is checked again either way), else recomputed and kept there."""
    key = memo_key(bundle, local)
    path = memo_path(cache, key)
    found = remembered(path, key)
    if found is not None:
        verify.check_comparable(bundle, local)
        return found
    records, _ = verify.verified_records(bundle, local)
    remember(path, key, records)
    return records
