"""Hugging Face models on disk: the hub cache's layout, a repo's local snapshot, and the one download path.

The cache folder is read from the environment at each call (``HF_HUB_CACHE``, else
``HF_HOME/hub``, else ``~/.cache/huggingface/hub``), as huggingface_hub does at import,
so that a test or a user can point it elsewhere at any time. Finding a snapshot
reads only folder names and ``refs/main``; it imports nothing and never touches the
network. ``fetch_snapshot`` is the only function here that downloads.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchsuite.plugin import BenchsuiteError, ResourceMissing, TextEmbeddingMeta, file_sha256

WEIGHT_FILES = ("*.safetensors", "pytorch_model*.bin")
"""The file patterns that hold a model's weights (sharded or not) in a snapshot or a saved folder."""
SNAPSHOT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
"""What a ``refs/main`` may name: one snapshot folder (a commit), never a path."""
MAX_REF_BYTES = 256
REPO_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
"""An org or a name in a hub repo id (the hub's own rule: letters, digits, '_', '.', '-'; no '--' or '..')."""
CONFIG_FILES = ("*.json", "*.txt", "*.model")
"""The files a loader reads besides the weights (model, processor and tokenizer configs, vocabularies, merges,
sentencepiece models): part of a folder's identity, since editing one (``hidden_act``) changes the numbers."""
MAX_CONFIG_BYTES = 64 * 2**20
"""The most a JSON configuration file read here may hold (tokenizer.json files run to a few MiB)."""


class HubCacheError(BenchsuiteError, ValueError):
    """A hub cache entry that would lead outside the cache: a ref naming a path, a snapshot or file linked elsewhere."""


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache folder, as huggingface_hub would choose it now."""
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(variable):
            return Path(os.environ[variable]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    cache_home = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(cache_home).expanduser() / "huggingface" / "hub"


def repo_folder(repo: str) -> Path:
    """Where the hub cache keeps ``repo`` (``models--org--name``), whether or not it exists."""
    return hub_cache_dir() / ("models--" + repo.replace("/", "--"))


def is_local_path(rest: str) -> bool:
    """True when a source's REST is a folder path (``/abs``, ``./rel``, ``../rel``) rather than a hub repo id."""
    return rest.startswith(("/", "./", "../"))


def check_repo_id(rest: str, prefix: str) -> str:
    """``rest`` when it reads as a hub repo id (``name`` or ``org/name``); a one-line ``ValueError`` otherwise."""
    parts = rest.split("/")
    if len(parts) > 2 or not all(REPO_PART.fullmatch(part) for part in parts) or ".." in rest or "--" in rest:
        raise ValueError(
            f"{prefix}:{rest} is neither a Hugging Face repo id (ORG/NAME) nor a folder path (/abs or ./rel); "
            f"write e.g. {prefix}:sentence-transformers/all-MiniLM-L6-v2 or {prefix}:/path/to/saved/model"
        )
    return rest


def files_digest(root: Path, files: list[Path]) -> str:
    """The sha256 of ``files``' paths (relative to ``root``) and bytes, in order."""
    digest = hashlib.sha256()
    for file in files:
        digest.update(f"{file.relative_to(root)}:{file_sha256(file)}\n".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelFolder:
    """A model's files on disk: a hub snapshot (``revision`` = its commit) or a folder the user saved."""

    path: Path
    repo: str
    revision: str | None

    def read_json(self, name: str) -> dict | None:
        """The JSON file ``name`` inside the folder, or None when absent; a ``HubCacheError`` when it is not a
        regular file or holds more than ``MAX_CONFIG_BYTES``."""
        file = self.path / name
        if not file.exists():
            return None
        size = file.stat().st_size
        if not file.is_file() or size > MAX_CONFIG_BYTES:
            what = f"is {size} bytes, over the {MAX_CONFIG_BYTES} a configuration file may hold" if file.is_file() \
                else "is not a regular file"
            raise HubCacheError(f"{self.repo}: {file} {what}; replace it with the model's own {name}")
        with open(file, "rb") as handle:
            return json.loads(handle.read(MAX_CONFIG_BYTES + 1).decode("utf-8"))

    def license(self) -> str:
        """The ``license:`` of the model card's front matter (README.md), else "unknown"."""
        card = self.path / "README.md"
        lines = card.read_text(encoding="utf-8", errors="replace").splitlines() if card.is_file() else []
        if not lines or lines[0].strip() != "---":
            return "unknown"
        for line in lines[1:]:
            if line.strip() == "---":
                break
            key, _, value = line.partition(":")
            if key.strip() == "license" and value.strip():
                return value.strip().strip("'\"")
        return "unknown"

    def text_item(self, name: str, what: str, *, how: str = "", **fields: Any) -> TextEmbeddingMeta:
        """The record of text item ``name`` read from this folder: its source says "WHAT REPO [@ commit], read
        from PATH[; HOW]" and its licence is the model card's; ``fields`` give the rest."""
        revision = f" @ {self.revision}" if self.revision else ""
        source = f"{what} {self.repo}{revision}, read from {self.path}" + (f"; {how}" if how else "")
        return TextEmbeddingMeta(name=name, source=source, license=self.license(), **fields)

    def weight_files(self) -> list[Path]:
        """The folder's weight files (any depth), sorted."""
        return sorted({file for pattern in WEIGHT_FILES for file in self.path.rglob(pattern)})

    def config_files(self) -> list[Path]:
        """The folder's configuration files (``CONFIG_FILES``, any depth), sorted."""
        return sorted({file for pattern in CONFIG_FILES for file in self.path.rglob(pattern) if file.is_file()})

    def content_digest(self) -> str:
        """The sha256 of every weight and configuration file's path (in the folder) and bytes: what a loader reads."""
        return files_digest(self.path, [*self.weight_files(), *self.config_files()])

    def fingerprint(self) -> str:
        """``repo@commit`` and the configuration files' digest for a snapshot (the commit names the weights, a
        config may have been edited since); the content digest for a saved folder (no commit names it)."""
        if self.revision is not None:
            return f"{self.repo}@{self.revision}:config-sha256:{files_digest(self.path, self.config_files())}"
        return f"{self.path}:sha256:{self.content_digest()}"


def local_snapshot(repo: str) -> ModelFolder | None:
    """The cached snapshot of ``repo`` that ``refs/main`` names (else the newest one), or None; a
    ``HubCacheError`` when the ref names a path or the snapshot (or a file in it) resolves outside the cache."""
    folder = repo_folder(repo)
    snapshots = folder / "snapshots"
    ref = folder / "refs" / "main"
    if ref.is_file():
        commit = read_ref(ref, repo)
        if (snapshots / commit).is_dir():
            return confined(ModelFolder(snapshots / commit, repo, commit))
    candidates = sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime) if snapshots.is_dir() else []
    candidates = [p for p in candidates if p.is_dir()]
    return confined(ModelFolder(candidates[-1], repo, candidates[-1].name)) if candidates else None


def read_ref(ref: Path, repo: str) -> str:
    """The snapshot name ``ref`` holds (its first bytes only); a ``HubCacheError`` when it is not one folder name."""
    with open(ref, "rb") as handle:
        commit = handle.read(MAX_REF_BYTES + 1).decode("utf-8", errors="replace").strip()
    if len(commit) > MAX_REF_BYTES or not SNAPSHOT_NAME.fullmatch(commit):
        raise HubCacheError(f"{repo}: {ref} names {commit[:80]!r}, not a snapshot of the hub cache; delete {ref} "
                            f"(or the whole {ref.parent.parent}) and run {fetch_command(repo)} again")
    return commit


def confined(snapshot: ModelFolder) -> ModelFolder:
    """``snapshot`` when its folder and everything in it resolve inside the hub cache; else a ``HubCacheError``
    naming the first entry that leads out (the loaders read whatever the folder holds)."""
    root = hub_cache_dir().resolve()
    entries = [snapshot.path]
    for parent, folders, files in os.walk(snapshot.path):
        entries.extend(Path(parent) / name for name in [*folders, *files])
    for entry in entries:
        real = entry.resolve()
        if not real.is_relative_to(root):
            raise HubCacheError(f"{snapshot.repo}: {entry} resolves to {real}, outside the hub cache {root}; "
                                f"delete {repo_folder(snapshot.repo)} and run {fetch_command(snapshot.repo)} again")
    return snapshot


def saved_folder(rest: str) -> ModelFolder | None:
    """A model folder the user saved (``save_pretrained``/``save``) at path ``rest``, or None when absent."""
    path = Path(rest).expanduser()
    return ModelFolder(path.resolve(), str(path), None) if path.is_dir() else None


def fetch_command(item: str) -> str:
    """The one command that fills the cache for ``item`` on a connected machine."""
    return f"benchsuite fetch --text {item}"


def missing_model(item: str, looked_at: Path | list[Path], what: str = "model files") -> ResourceMissing:
    """The ``ResourceMissing`` for a model absent from disk: every path looked at, and the fetch command."""
    paths = looked_at if isinstance(looked_at, list) else [looked_at]
    where = " or ".join(str(p) for p in paths)
    return ResourceMissing(
        f"{item}: no {what} at {where} (offline: the Hugging Face cache, HF_HUB_CACHE/HF_HOME); on a connected "
        f"machine run: {fetch_command(item)}"
    )


def require_weights(folder: ModelFolder, item: str) -> ModelFolder:
    """``folder`` when it holds weight files; a ``ResourceMissing`` naming it and the fetch command otherwise."""
    if not folder.weight_files():
        raise missing_model(item, folder.path, "weight files (" + ", ".join(WEIGHT_FILES) + ")")
    return folder


def find_model(item: str, rest: str, repos: list[str]) -> ModelFolder:
    """The folder ``rest`` names (a path) or the first of ``repos`` cached; else a ``ResourceMissing`` naming
    every place looked at and the fetch command."""
    if is_local_path(rest):
        folder = saved_folder(rest)
        if folder is None:
            raise ResourceMissing(f"{item}: no folder {rest}; save a model there (save_pretrained / "
                                  "SentenceTransformer.save) or name a Hugging Face repo instead")
        return folder
    for repo in repos:
        if (found := local_snapshot(repo)) is not None:
            return found
    raise missing_model(item, [repo_folder(repo) for repo in repos])


def fetch_snapshot(repo: str) -> str:
    """Download ``repo`` into the hub cache (the only network path here) and return its snapshot folder."""
    from huggingface_hub import snapshot_download

    return str(snapshot_download(repo, cache_dir=str(hub_cache_dir())))


def cached_snapshots() -> list[ModelFolder]:
    """The snapshot of every repo in the hub cache (``org/name``), sorted; a refused one (``HubCacheError``) is left
    out of the listing (resolving its name reports why)."""
    root = hub_cache_dir()
    found = []
    for folder in sorted(root.glob("models--*")) if root.is_dir() else []:
        repo = folder.name.removeprefix("models--").replace("--", "/", 1)
        try:
            snapshot = local_snapshot(repo)
        except HubCacheError:
            continue
        if snapshot is not None:
            found.append(snapshot)
    return found


TOKEN_BATCH = 64
"""Texts per forward pass of a hub text model."""


def token_batches(tokenizer: Any, texts: list[str], device: str) -> Iterator[Any]:
    """``texts`` tokenized ``TOKEN_BATCH`` at a time (padded, truncated, torch tensors on ``device``)."""
    for start in range(0, len(texts), TOKEN_BATCH):
        yield tokenizer(texts[start:start + TOKEN_BATCH], padding=True, truncation=True, return_tensors="pt").to(device)
