"""``clip:REPO``: CLIP's text tower, so a CLIP model can be scored against its own text space.

A concept's vector is CLIP's projected text embedding (``CLIPTextModelWithProjection``'s
``text_embeds``, what ``CLIPModel.get_text_features`` returns; not L2-normalised, which the
correlation-based similarity ignores anyway) of a prompt built from its name: by default
``a photo of a {name}.``, the prompt CLIP's zero-shot classifier uses; option ``prompt=``
sets another, which must contain ``{name}``. The image side is the vision source
``hf:REPO``. Weights come from the Hugging Face cache or a ``save_pretrained`` folder,
never the network.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
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

PREFIX = "clip"
VERSION = "1"
DEFAULT_PROMPT = "a photo of a {name}."


def locate(rest: str) -> ModelFolder:
    """The model's folder on disk (``find_model``)."""
    return find_model(f"{PREFIX}:{rest}", rest, [] if is_local_path(rest) else [check_repo_id(rest, PREFIX)])


def projection_dim(folder: ModelFolder, item: str) -> int:
    """The length of CLIP's projected embeddings, from its config (no weights read)."""
    prepare_transformers()
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(folder.path), local_files_only=True)
    if config.model_type not in ("clip", "clip_text_model"):
        raise ValueError(f"{item} is a {config.model_type!r} model, not CLIP; for a text encoder use "
                         f"hf:{item.split(':', 1)[1]}")
    return int(config.projection_dim)


def text_config(folder: Path):
    """The text tower's config, with the projection size of the whole model (a CLIPConfig keeps it at the top)."""
    prepare_transformers()
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
    if config.model_type != "clip":
        return config
    text = config.text_config
    text.projection_dim = config.projection_dim
    return text


@contextmanager
def quiet_transformers():
    """transformers' logging at error level for the duration (restored after)."""
    from transformers.utils import logging as transformers_logging

    level = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()
    try:
        yield
    finally:
        transformers_logging.set_verbosity(level)


def check_prompt(prompt: str) -> str:
    """``prompt`` when it holds ``{name}``; a one-line ``ValueError`` naming the fix otherwise."""
    if not isinstance(prompt, str) or "{name}" not in prompt:
        raise ValueError(f"the CLIP prompt must contain {{name}} (where the concept's name goes), got {prompt!r}; "
                         f"e.g. --set NAME.prompt='{DEFAULT_PROMPT}'")
    return prompt


class ClipTextEncoder(SentenceEncoder):
    """CLIP's text tower with its projection: each concept's name, in ``prompt``, to a projected embedding."""

    def __init__(self, folder: Path, *, fingerprint: str, prompt: str = DEFAULT_PROMPT, device: str = "cpu"):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        prepare_transformers()
        from transformers import AutoTokenizer, CLIPTextModelWithProjection
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        self.prompt = check_prompt(prompt)
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        with quiet_transformers():  # the skipped vision tower is reported key by key
            self.model = CLIPTextModelWithProjection.from_pretrained(
                str(folder), config=text_config(folder), local_files_only=True
            ).to(device).eval()  # type: ignore[arg-type]  # transformers' @wraps(Module.to) hides the method's self
        self.device = device
        self.dimension = int(self.model.config.projection_dim)
        self.fingerprint = f"{fingerprint}:text_embeds:prompt={prompt!r}"

    def prompts(self, names: list[str]) -> list[str]:
        """The texts CLIP reads: each name in the prompt."""
        return [self.prompt.replace("{name}", name) for name in names]

    def encode(self, texts: list[str]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return np.concatenate([self.model(**batch).text_embeds.float().cpu().numpy()
                                   for batch in token_batches(self.tokenizer, self.prompts(texts), self.device)])


def resolve(rest: str) -> TextEmbeddingMeta:
    """The record of ``clip:REPO`` from its config (no weights, no network)."""
    item = f"{PREFIX}:{rest}"
    folder = locate(rest)
    return folder.text_item(
        item, "CLIP text tower of", how="projected text embeddings",
        dimension=projection_dim(folder, item),
        cased=False,
        version=VERSION,
        description=f"CLIP {folder.repo} text embedding of '{DEFAULT_PROMPT}' per concept (option prompt=, "
        "which must hold {name}); pair with the vision source hf:REPO",
        loader=partial(load, rest),
    )


def load(rest: str, device: str = "cpu", prompt: str = DEFAULT_PROMPT) -> ClipTextEncoder:
    """The runnable text tower; a bad prompt is a ``ValueError``, absent weights a ``ResourceMissing``."""
    check_prompt(prompt)
    folder = require_weights(locate(rest), f"{PREFIX}:{rest}")
    return ClipTextEncoder(folder.path, fingerprint=f"{PREFIX}:{folder.fingerprint()}", prompt=prompt, device=device)


def names() -> list[str]:
    """Repos in the Hugging Face cache whose config says CLIP."""
    clip = []
    for snapshot in cached_snapshots():
        config = snapshot.read_json("config.json")
        if config is not None and config.get("model_type") == "clip":
            clip.append(snapshot.repo)
    return clip


def fetch(rest: str) -> str:
    """Download the repo into the Hugging Face cache; returns its snapshot folder."""
    if is_local_path(rest):
        raise ValueError(f"{PREFIX}:{rest} is a local folder; there is nothing to download")
    return fetch_snapshot(check_repo_id(rest, PREFIX))
