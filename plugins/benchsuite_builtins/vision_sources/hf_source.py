"""``hf:REPO``: a Hugging Face vision encoder (ViT, DINOv2, CLIP's or SigLIP's vision tower), one layer per block.

The layers are the encoder's hidden states (``output_hidden_states``): ``hidden_states.0`` (the embeddings)
then one per transformer block, in order; ``pooled`` (the model's pooled output) can be chosen with
``--set NAME.layers=...``. Preprocessing is the repo's own ``AutoImageProcessor``. Files come from the hub
cache (``HF_HUB_CACHE``/``HF_HOME``), read with ``local_files_only``, or from a saved folder
(``hf:/path/to/folder``). These encoders have no ImageNet head, so they make no predictions.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from benchsuite.plugin import ResourceMissing, VisionModelMeta, check_rgb_uint8, import_extra
from benchsuite_builtins._shared.torchvision_import import import_torchvision

from .layer_choice import choose_layers
from .source_names import item_version
from .weights_files import download_hub_snapshot, missing_weights

PREFIX = "hf"
SOURCE_VERSION = "1"
POOLED = "pooled"
VISION_TOWERS = {"clip": "CLIPVisionModel", "siglip": "SiglipVisionModel", "siglip2": "Siglip2VisionModel"}
"""Model types whose repos hold a text and a vision tower: the vision tower's class."""
CACHE = "the Hugging Face hub cache: HF_HUB_CACHE or HF_HOME, default ~/.cache/huggingface"


def model_folder(rest: str) -> Any:
    """The saved folder ``rest`` names, or the cached snapshot of repo ``rest``, holding a ``config.json``;
    ``ResourceMissing`` naming the path looked at and the fetch command otherwise."""
    from benchsuite_builtins._shared.hub_cache import (
        check_repo_id,
        is_local_path,
        local_snapshot,
        repo_folder,
        saved_folder,
    )

    name = f"{PREFIX}:{rest}"
    looked_at: Path | str
    if is_local_path(rest):
        folder = saved_folder(rest)
        looked_at = rest
    else:
        folder = local_snapshot(check_repo_id(rest, PREFIX))
        looked_at = repo_folder(rest)
    if folder is None or not (folder.path / "config.json").is_file() or not folder.weight_files():
        raise missing_weights(name, looked_at, CACHE, "name a folder saved with save_pretrained: hf:/path/to/folder")
    return folder


def vision_config(config: dict[str, Any]) -> dict[str, Any]:
    """The vision tower's config inside a two-tower (CLIP-like) config, else the config itself."""
    return config.get("vision_config") or config


def layer_names(config: dict[str, Any]) -> tuple[str, ...]:
    """``hidden_states.0`` (embeddings) to ``hidden_states.N`` (block N's output)."""
    blocks = vision_config(config).get("num_hidden_layers")
    if not isinstance(blocks, int) or blocks < 1:
        raise ValueError(f"config.json gives no num_hidden_layers ({blocks!r}); hf: takes transformer vision encoders")
    return tuple(f"hidden_states.{index}" for index in range(blocks + 1))


def resolve(rest: str) -> VisionModelMeta:
    """The record of ``hf:REST`` from the cached folder's config and processor files (no weights read)."""
    import_extra("transformers", "hf")
    folder = model_folder(rest)
    config = folder.read_json("config.json")
    processor_config = folder.read_json("preprocessor_config.json")
    if processor_config is None:
        raise ValueError(f"{PREFIX}:{rest} has no preprocessor_config.json (in {folder.path}): not an image model")
    processor = json.dumps(processor_config, sort_keys=True, separators=(",", ":"))
    size = vision_config(config).get("image_size", 224)
    return VisionModelMeta(
        name=f"{PREFIX}:{rest}",
        framework="torch",
        input_size=int(size if isinstance(size, int) else max(size)),
        preprocessing=f"transformers AutoImageProcessor of the repo (preprocessor_config.json {processor}); "
                      "NCHW float32",
        weights_source=f"Hugging Face {folder.repo} at {folder.path} ({CACHE}), downloaded by `benchsuite fetch`",
        layers=layer_names(config),
        predicts_imagenet=False,
        license=folder.license(),
        version=item_version(SOURCE_VERSION, "transformers"),
        description=f"Hugging Face {config.get('model_type', 'vision')} encoder {folder.repo}, hidden state per block",
        loader=partial(load, rest),
    )


class HiddenStatesModel:
    """A transformers vision encoder reporting its hidden states (and pooled output) as layers."""

    def __init__(self, network: Any, processor: Callable[..., Any], layers: Sequence[str], weights_hash: str,
                 device: str):
        self.network = network.to(device).eval()
        self.processor = processor
        self.layers = tuple(layers)
        self.weights_hash = weights_hash
        self.device = device

    def preprocess(self, images: Sequence[np.ndarray]) -> np.ndarray:
        checked = [check_rgb_uint8(image, position) for position, image in enumerate(images)]
        if not checked:
            raise ValueError("no images to preprocess")
        return np.ascontiguousarray(self.processor(images=checked, return_tensors="np")["pixel_values"],
                                    dtype=np.float32)

    def forward(self, batch: np.ndarray, layers: Sequence[str], on_layer: Callable[[str, np.ndarray], None]) -> None:
        import torch

        wanted = set(layers)
        with torch.inference_mode():
            output = self.network(pixel_values=torch.from_numpy(batch).to(self.device), output_hidden_states=True)
        values = {f"hidden_states.{index}": state for index, state in enumerate(output.hidden_states)}
        if getattr(output, "pooler_output", None) is not None:
            values[POOLED] = output.pooler_output
        for name in self.layers:
            if name in wanted:
                on_layer(name, values[name].detach().cpu().numpy())
        return None


def load(rest: str, layers: list[str] | str | None = None, device: str = "cpu") -> HiddenStatesModel:
    """The encoder and its processor from the cached or saved folder, with ``local_files_only`` (no network)."""
    import_torchvision()  # transformers' image processors import torchvision
    transformers = import_extra("transformers", "hf")
    transformers.utils.logging.disable_progress_bar()
    name = f"{PREFIX}:{rest}"
    folder = model_folder(rest)
    config = folder.read_json("config.json")
    model_class = getattr(transformers, VISION_TOWERS.get(config.get("model_type"), "AutoModel"))
    network = model_class.from_pretrained(str(folder.path), local_files_only=True)
    processor = transformers.AutoImageProcessor.from_pretrained(str(folder.path), local_files_only=True)
    default = layer_names(config)
    chosen = choose_layers(name, [*default, POOLED], default, layers)
    return HiddenStatesModel(network, processor, chosen, folder.content_digest(), device)


def offered() -> list[str]:
    """The repos in the hub cache that hold an image processor (what ``hf:`` can load offline now)."""
    from benchsuite_builtins._shared.hub_cache import cached_snapshots

    return [found.repo for found in cached_snapshots() if (found.path / "preprocessor_config.json").is_file()]


def fetch(rest: str) -> str:
    """Download repo ``rest``'s configs, processor and PyTorch weights into the hub cache; returns the snapshot."""
    from benchsuite_builtins._shared.hub_cache import check_repo_id, hub_cache_dir, is_local_path

    if is_local_path(rest):
        raise ResourceMissing(f"{PREFIX}:{rest} is a local folder; there is nothing to fetch")
    return str(download_hub_snapshot(check_repo_id(rest, PREFIX), hub_cache_dir()))
