"""Result records: the one schema the runner writes and the leaderboard reads.

``results.json`` is a JSON list of :class:`Record`; see ``docs/results.md``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, TypeAdapter

from benchsuite.cache import atomic_write_text

Status = Literal["ok", "failed", "skipped"]


def slug(name: str) -> str:
    """A file-name-safe form of a suite, design or model name."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


class Record(BaseModel):
    """One (vision layer, text model, metric) result, or one failed/skipped plugin."""

    model_config = ConfigDict(extra="forbid")

    suite: str
    design: str
    vision: str
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
    n_concepts: int = 0
    n_images: int | None = None
    status: Status = "ok"
    error: str | None = None
    provenance: dict[str, Any] = {}


RECORDS = TypeAdapter(list[Record])


def write_records(path: Path, records: list[Record]) -> None:
    """Write records atomically: a reader sees the old file or the new one, never half."""
    atomic_write_text(path, json.dumps([r.model_dump(mode="json") for r in records], indent=1, allow_nan=False))


def read_records(path: Path) -> list[Record]:
    return RECORDS.validate_json(Path(path).read_bytes())
