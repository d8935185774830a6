"""Offline text models loaded once per test process, and small vector files written by tests."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from benchsuite.contract.manager import Registry
from benchsuite.inputs.imagenet import imagenet_concepts

OFFLINE_TEXT_MODELS = ("glove_6b_50d", "minilm", "e5_multilingual")


@functools.cache
def registry() -> Registry:
    return Registry()


@functools.cache
def offline_model(name: str):
    return registry().text[name].load()


@functools.cache
def imagenet_vectors(name: str) -> dict:
    """The model's vectors for all 1000 ImageNet-1k classes (embedded once per process)."""
    return dict(offline_model(name).embed(imagenet_concepts()))


def toy_vectors(words: list[str], dimension: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {word: rng.standard_normal(dimension).astype(np.float32) for word in words}


def write_text_vectors(path: Path, vectors: dict[str, np.ndarray], header: bool) -> Path:
    """word2vec text (header) or GloVe text (no header)."""
    dimension = len(next(iter(vectors.values())))
    lines = [f"{len(vectors)} {dimension}"] if header else []
    lines += [" ".join([word, *(f"{value:.6f}" for value in vector)]) for word, vector in vectors.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_binary_vectors(path: Path, vectors: dict[str, np.ndarray]) -> Path:
    """word2vec binary: text header, then word, space, float32 bytes per entry."""
    dimension = len(next(iter(vectors.values())))
    with open(path, "wb") as handle:
        handle.write(f"{len(vectors)} {dimension}\n".encode())
        for word, vector in vectors.items():
            handle.write(word.encode() + b" " + np.asarray(vector, dtype="<f4").tobytes() + b"\n")
    return path
