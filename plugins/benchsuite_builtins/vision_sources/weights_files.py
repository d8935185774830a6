"""Where the vision sources find weights offline, what they say when a file is absent, and the download paths.

Offline first: every loader reads a file that is already on disk (the library's own cache, or ``--set
NAME.weights=PATH``); only ``fetch`` (``benchsuite fetch --vision NAME``) calls the download functions here.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from benchsuite.plugin import ResourceMissing


def fetch_command(name: str) -> str:
    """The one command that fills the cache for vision model ``name`` on a connected machine."""
    return f"benchsuite fetch --vision {name}"


def missing_weights(name: str, looked_at: Path | str, cache: str, alternative: str | None = None) -> ResourceMissing:
    """The ``ResourceMissing`` for weights absent from disk: the path looked at, the cache variable, the fix
    (``alternative`` replaces the default hint, ``--set NAME.weights=PATH``)."""
    alternative = alternative or f"pass --set {name}.weights=PATH to a local weights file"
    return ResourceMissing(
        f"{name}: no weights at {looked_at} ({cache}); on a connected machine run `{fetch_command(name)}`, "
        f"or {alternative}"
    )


def local_weights(name: str, weights: str) -> Path:
    """The file ``--set NAME.weights=PATH`` names; ``ResourceMissing`` naming it when it does not exist."""
    path = Path(weights).expanduser()
    if not path.is_file():
        raise ResourceMissing(f"{name}: weights file {path} does not exist; pass --set {name}.weights=PATH to an "
                              f"existing file, or leave it unset to use the library's cache ({fetch_command(name)})")
    return path


def torch_hub_checkpoint(url: str) -> Path:
    """Where torch hub keeps the file downloaded from ``url``: ``<TORCH_HOME or ~/.cache/torch>/hub/checkpoints``."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name


def download_url(url: str, path: Path) -> Path:
    """Download ``url`` to ``path`` (torch hub's downloader, checking the hash prefix in the file name)."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    stem = path.name.rsplit(".", 1)[0]
    prefix = stem.rsplit("-", 1)[-1] if "-" in stem else None
    torch.hub.download_url_to_file(url, str(path), hash_prefix=prefix if prefix and len(prefix) >= 8 else None)
    return path


def download_hub_file(repo: str, filename: str, cache_dir: Path) -> Path:
    """Download ``filename`` of Hugging Face repo ``repo`` into the hub cache at ``cache_dir``."""
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(repo, filename, cache_dir=str(cache_dir)))


HUB_SNAPSHOT_FILES = ["*.json", "*.txt", "*.safetensors", "pytorch_model*.bin"]
"""What ``hf:`` fetches of a repo: configs, processor files and PyTorch weights (no TensorFlow/Flax copies)."""


def download_hub_snapshot(repo: str, cache_dir: Path) -> Path:
    """Download Hugging Face repo ``repo``'s configs and PyTorch weights into the hub cache at ``cache_dir``."""
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(repo, cache_dir=str(cache_dir), allow_patterns=HUB_SNAPSHOT_FILES))
