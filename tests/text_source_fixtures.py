"""Tiny random-weight text models and word-vector files, written by tests into temporary folders.

Models are saved the way their library saves them (``save_pretrained``, ``SentenceTransformer.save``)
and, for the hub-cache tests, placed in the cache's own layout
(``models--ORG--NAME/snapshots/COMMIT`` plus ``refs/main``), so the sources read them exactly as
they would read a real download. Nothing here touches the network.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "photo", "of", "cat", "dog", "tabby", ".", "great", "white",
         "shark", "tench", "lantern"]
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def word_tokenizer():
    """A whitespace word-level tokenizer over ``WORDS`` that adds [CLS] ... [SEP], as BERT's does."""
    from benchsuite_builtins._shared.sentence_encoders import prepare_transformers

    prepare_transformers()  # transformers imports torchvision, which needs the vision sources' workaround
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {word: index for index, word in enumerate(WORDS)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])]
    )
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]")


def save_bert(folder: Path, seed: int = 0) -> Path:
    """A 2-layer BERT with hidden size 32 and its tokenizer, saved with ``save_pretrained``."""
    import torch

    tokenizer = word_tokenizer()
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(WORDS), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=37, max_position_embeddings=32)
    BertModel(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def save_clip(folder: Path, projection_dim: int = 24, seed: int = 0) -> Path:
    """A tiny CLIP (text and vision towers, hidden 32, projection ``projection_dim``) and a word-level tokenizer."""
    import torch

    tokenizer = word_tokenizer()
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(seed)
    text = dict(vocab_size=len(WORDS), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                num_attention_heads=4, max_position_embeddings=32, pad_token_id=0, bos_token_id=2, eos_token_id=3)
    vision = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, image_size=8,
                  patch_size=4)
    CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=projection_dim)).eval().save_pretrained(
        folder
    )
    tokenizer.save_pretrained(folder)
    return folder


def save_sentence_transformer(folder: Path, bert_folder: Path) -> Path:
    """A sentence-transformers model (the BERT above, mean pooling, a Dense layer to 16) saved in ``folder``."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense, Pooling, Transformer

    torch.manual_seed(1)
    transformer = Transformer(str(bert_folder))
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    dense = Dense(in_features=32, out_features=16)
    SentenceTransformer(modules=[transformer, pooling, dense], device="cpu").save(str(folder))
    return folder


def into_hub_cache(cache: Path, repo: str, folder: Path) -> Path:
    """Copy a saved model into the hub cache's layout for ``repo``; returns the snapshot folder."""
    root = cache / ("models--" + repo.replace("/", "--"))
    snapshot = root / "snapshots" / COMMIT
    shutil.copytree(folder, snapshot)
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(COMMIT)
    return snapshot


def save_fasttext_bin(path: Path, dimension: int = 8) -> Path:
    """A fastText model trained on a toy corpus, saved in Facebook's binary format (with subword buckets)."""
    from gensim.models import FastText
    from gensim.models.fasttext import save_facebook_model

    corpus = [["tabby", "cat", "great", "white", "shark"], ["tench", "dog", "cat", "lantern"]] * 20
    model = FastText(vector_size=dimension, window=2, min_count=1, min_n=2, max_n=3, bucket=200, seed=0, workers=1)
    model.build_vocab(corpus_iterable=corpus)
    model.train(corpus_iterable=corpus, total_examples=len(corpus), epochs=2)
    save_facebook_model(model, str(path))
    return path


def fixed_vectors(words: list[str], dimension: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Word -> float32 vector with values exactly representable in 6 decimals (text files round-trip them)."""
    rng = np.random.default_rng(seed)
    return {word: np.round(rng.standard_normal(dimension), 4).astype(np.float32) for word in words}


def save_static_sentence_transformer(folder: Path, dimension: int = 8) -> Path:
    """A static-embedding sentence-transformers model (no module config states its dimension)."""
    import torch

    tokenizer = word_tokenizer()
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding

    torch.manual_seed(2)
    module = StaticEmbedding(tokenizer.backend_tokenizer, embedding_dim=dimension)
    SentenceTransformer(modules=[module], device="cpu").save(str(folder))
    return folder
