"""``hf:REPO``: a Hugging Face text encoder (BERT, RoBERTa, DeBERTa, E5, T5's encoder, ...), mean-pooled.

A concept's vector is the mean of the encoder's last hidden state over the name's tokens,
weighted by the attention mask (so padding never counts; the special tokens the tokenizer
adds, such as [CLS] and [SEP], do), as sentence-transformers' mean pooling does. The
text is the concept's name as for ``minilm``. Weights come from the Hugging Face cache
(``REPO`` as on the hub) or a folder written by ``save_pretrained`` (``/abs`` or ``./rel``),
never the network. CLIP checkpoints are refused here: their text side is ``clip:REPO``.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import numpy as np

from benchsuite.plugin import TextEmbeddingMeta
from benchsuite_builtins._shared.hub_cache import (
    ModelFolder,
    cached_snapshots,
    check_repo_id,
    fetch_snapshot,
    find_model,
    is_local_path,
    require_weights,
    token_batches,
)
from benchsuite_builtins._shared.sentence_encoders import SentenceEncoder, prepare_transformers

PREFIX = "hf"
VERSION = "1"
TWO_TOWER_TYPES = ("clip", "siglip", "siglip2", "chinese_clip", "altclip")


def locate(rest: str) -> ModelFolder:
    """The model's folder on disk (``find_model``)."""
    return find_model(f"{PREFIX}:{rest}", rest, [] if is_local_path(rest) else [check_repo_id(rest, PREFIX)])


def hidden_size(folder: ModelFolder, item: str) -> int:
    """The encoder's hidden size from its config (no weights read); a ``ValueError`` for a two-tower model."""
    prepare_transformers()
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(folder.path), local_files_only=True)
    if config.model_type in TWO_TOWER_TYPES:
        raise ValueError(f"{item} is a {config.model_type} model: score its text tower as clip:{item.split(':', 1)[1]}")
    size = getattr(config, "hidden_size", None) or getattr(config, "d_model", None)
    if not size:
        raise ValueError(f"{item}: {folder.path}/config.json gives no hidden_size; is it a text encoder?")
    return int(size)


class MeanPooledEncoder(SentenceEncoder):
    """A transformers encoder: mask-weighted mean of the last hidden state over each name's tokens."""

    def __init__(self, folder: Path, *, fingerprint: str, device: str = "cpu", centre: bool = False):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        prepare_transformers()
        from transformers import AutoModel, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        model = AutoModel.from_pretrained(str(folder), local_files_only=True)
        self.model = (model.get_encoder() if model.config.is_encoder_decoder else model).to(device).eval()
        self.device = device
        self.dimension = int(getattr(model.config, "hidden_size", None) or model.config.d_model)
        self.centre = centre
        self.fingerprint = fingerprint + ":mean-pooled" + (":mean-centred" if centre else "")

    def encode(self, texts: list[str]) -> np.ndarray:
        import torch

        pooled = []
        for batch in token_batches(self.tokenizer, texts, self.device):
            with torch.inference_mode():
                hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
            pooled.append(mean.float().cpu().numpy())
        return np.concatenate(pooled)


def resolve(rest: str) -> TextEmbeddingMeta:
    """The record of ``hf:REPO`` from its config (no weights, no network)."""
    item = f"{PREFIX}:{rest}"
    folder = locate(rest)
    return folder.text_item(
        item, "Hugging Face encoder", how="mean of the last hidden state over the tokens (attention-mask weighted)",
        dimension=hidden_size(folder, item),
        cased=True,
        version=VERSION,
        description=f"{folder.repo}: mask-weighted mean of the last hidden state over each name's tokens "
        "(option centre=true subtracts the mean vector over the concepts)",
        loader=partial(load, rest),
    )


def load(rest: str, device: str = "cpu", centre: bool = False) -> MeanPooledEncoder:
    """The runnable encoder; weights absent from the folder are a ``ResourceMissing`` with the fetch command."""
    folder = require_weights(locate(rest), f"{PREFIX}:{rest}")
    return MeanPooledEncoder(folder.path, fingerprint=f"{PREFIX}:{folder.fingerprint()}", device=device,
                             centre=centre is True)


def names() -> list[str]:
    """Every repo in the Hugging Face cache (which of them are text encoders shows when one is resolved)."""
    return [snapshot.repo for snapshot in cached_snapshots()]


def fetch(rest: str) -> str:
    """Download the repo into the Hugging Face cache; returns its snapshot folder."""
    if is_local_path(rest):
        raise ValueError(f"{PREFIX}:{rest} is a local folder; there is nothing to download")
    return fetch_snapshot(check_repo_id(rest, PREFIX))
