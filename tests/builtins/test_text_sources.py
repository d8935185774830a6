"""Text model sources by name (st:, hf:, clip:, gensim:, vectors:), offline: tiny random models saved locally,
vector files written here; vectors equal what each library returns directly."""

from __future__ import annotations

import gzip
import importlib.util
import re

import numpy as np
import pytest
import toy_plugins
from import_checks import loaded_after
from text_fixtures import write_binary_vectors, write_text_vectors
from text_source_fixtures import (
    COMMIT,
    fixed_vectors,
    into_hub_cache,
    save_bert,
    save_clip,
    save_fasttext_bin,
    save_sentence_transformer,
    save_static_sentence_transformer,
)

import benchsuite
from benchsuite.contract.errors import ResourceMissing
from benchsuite.contract.hookspecs import hookimpl
from benchsuite.contract.manager import Registry, make_plugin_manager
from benchsuite.contract.schemas import Concept, ModelSourceMeta, TextEmbeddingMeta

CAT = Concept(id="n02123045", names=("tabby", "tabby cat"))
SHARK = Concept(id="n01484850", names=("great white shark",))
DOG = Concept(id="n02084071", names=("dog",))
ZEBU = Concept(id="n02403003", names=("zebu",))
CONCEPTS = [CAT, SHARK, DOG]


@pytest.fixture
def registry(monkeypatch, tmp_path):
    """A registry of the text sources alone, with every cache pointed into ``tmp_path``."""
    monkeypatch.setenv("BENCHSUITE_PLUGINS", "text_sources")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("GENSIM_DATA_DIR", str(tmp_path / "gensim-data"))
    monkeypatch.setenv("BENCHSUITE_CACHE", str(tmp_path / "benchsuite"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return Registry()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Tiny models saved once per module: BERT, CLIP, a sentence-transformers model over the BERT (the hf extra)."""
    if importlib.util.find_spec("sentence_transformers") is None:  # importing it first needs prepare_transformers
        pytest.skip("the hf extra: pip install 'benchsuite[hf]'")
    root = tmp_path_factory.mktemp("models")
    bert = save_bert(root / "bert")
    return {"bert": bert, "clip": save_clip(root / "clip"), "st": save_sentence_transformer(root / "st", bert)}


def resolved(registry: Registry, name: str) -> TextEmbeddingMeta:
    assert name in registry.text, registry.text.missing.get(name) or registry.text.broken.get(name)
    return registry.text[name]


def test_the_five_sources_register_for_text_and_import_nothing_heavy(monkeypatch):
    env = {"BENCHSUITE_PLUGINS": "text_sources"}
    monkeypatch.setenv("BENCHSUITE_PLUGINS", env["BENCHSUITE_PLUGINS"])
    sources = Registry().catalogues["text"].sources
    assert sorted(sources) == ["clip", "gensim", "hf", "st", "vectors"]
    assert {prefix: meta.requires for prefix, (meta, _) in sources.items()} == {
        "st": "hf", "hf": "hf", "clip": "hf", "gensim": "", "vectors": ""}  # gensim is in the core install
    heavy = ("gensim", "torch", "transformers", "sentence_transformers", "huggingface_hub")
    assert loaded_after("from benchsuite.contract.manager import Registry; Registry()", heavy, env) == []


# -- st: ----------------------------------------------------------------------------------------------


def test_st_from_the_hub_cache_equals_sentence_transformers(registry, saved, tmp_path):
    from sentence_transformers import SentenceTransformer

    snapshot = into_hub_cache(tmp_path / "hub", "sentence-transformers/tiny-st", saved["st"])
    for name in ("st:sentence-transformers/tiny-st", "st:tiny-st"):  # a bare name means sentence-transformers/NAME
        meta = resolved(registry, name)
        assert meta.dimension == 16 and COMMIT in meta.source
        model = meta.load()
        vectors = model.embed(CONCEPTS)
        expected = SentenceTransformer(str(snapshot), device="cpu").encode(["tabby", "great white shark", "dog"])
        np.testing.assert_allclose(np.stack([vectors[c.id].vector for c in CONCEPTS]), expected, atol=1e-6)
        assert [vectors[c.id].how for c in CONCEPTS] == ["sentence"] * 3
        assert model.fingerprint.startswith(f"st:sentence-transformers/tiny-st@{COMMIT}:config-sha256:")


def test_st_from_a_saved_folder_and_its_centring(registry, saved):
    meta = resolved(registry, f"st:{saved['st']}")
    plain = meta.load().embed(CONCEPTS)
    centred = meta.load(centre=True).embed(CONCEPTS)
    stacked = np.stack([plain[c.id].vector for c in CONCEPTS])
    np.testing.assert_allclose(np.stack([centred[c.id].vector for c in CONCEPTS]), stacked - stacked.mean(axis=0),
                               atol=1e-6)


def test_st_static_model_whose_configs_omit_the_dimension(registry, saved, tmp_path):
    from sentence_transformers import SentenceTransformer

    folder = save_static_sentence_transformer(tmp_path / "static")
    meta = resolved(registry, f"st:{folder}")
    assert meta.dimension == 8
    vectors = meta.load().embed([CAT, DOG])
    expected = SentenceTransformer(str(folder), device="cpu").encode(["tabby", "dog"])
    np.testing.assert_allclose(np.stack([vectors[CAT.id].vector, vectors[DOG.id].vector]), expected, atol=1e-6)


def test_st_absent_names_the_cache_paths_and_the_fetch_command(registry, tmp_path):
    assert "st:all-mpnet-base-v2" not in registry.text
    message = registry.text.missing["st:all-mpnet-base-v2"]
    assert str(tmp_path / "hub" / "models--sentence-transformers--all-mpnet-base-v2") in message
    assert str(tmp_path / "hub" / "models--all-mpnet-base-v2") in message
    assert message.endswith("benchsuite fetch --text st:all-mpnet-base-v2")


def test_st_weights_deleted_after_resolving_name_the_snapshot(registry, saved, tmp_path):
    snapshot = into_hub_cache(tmp_path / "hub", "org/tiny-st", saved["st"])
    meta = resolved(registry, "st:org/tiny-st")
    for weights in snapshot.rglob("*.safetensors"):
        weights.unlink()
    with pytest.raises(ResourceMissing, match=rf"st:org/tiny-st: no weight files .* at {snapshot}.*"
                                              r"benchsuite fetch --text st:org/tiny-st$"):
        meta.load()


def test_st_fetch_downloads_into_the_hub_cache(registry, saved, tmp_path, monkeypatch):
    import huggingface_hub

    asked = []

    def fake_download(repo, cache_dir):
        asked.append((repo, cache_dir))
        return str(into_hub_cache(tmp_path / "hub", repo, saved["st"]))

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    source = registry.source("text", "st")
    where = source.fetch("tiny-st")
    assert asked == [("sentence-transformers/tiny-st", str(tmp_path / "hub"))]
    assert where.endswith(COMMIT)
    assert source.names() == ["sentence-transformers/tiny-st"]
    assert resolved(registry, "st:tiny-st").dimension == 16


@pytest.mark.parametrize("rest", ["a/b/c", "org/", "x@main"])
def test_st_malformed_names_are_one_line_errors(registry, rest):
    assert f"st:{rest}" not in registry.text
    assert "neither a Hugging Face repo id (ORG/NAME) nor a folder path" in registry.text.broken[f"st:{rest}"]


# -- hf: ----------------------------------------------------------------------------------------------


def test_hf_mean_pools_the_last_hidden_state_over_the_tokens(registry, saved, tmp_path):
    import torch
    from transformers import AutoModel, AutoTokenizer

    snapshot = into_hub_cache(tmp_path / "hub", "org/tiny-bert", saved["bert"])
    meta = resolved(registry, "hf:org/tiny-bert")
    assert meta.dimension == 32
    vectors = meta.load().embed(CONCEPTS)
    tokenizer = AutoTokenizer.from_pretrained(str(snapshot))
    model = AutoModel.from_pretrained(str(snapshot)).eval()
    for concept, text in zip(CONCEPTS, ["tabby", "great white shark", "dog"], strict=True):
        with torch.no_grad():
            hidden = model(**tokenizer(text, return_tensors="pt")).last_hidden_state[0]
        np.testing.assert_allclose(vectors[concept.id].vector, hidden.mean(dim=0).numpy(), atol=1e-5)
    # padding never counts: a name embedded beside a longer one gives the same vector as alone
    alone = meta.load().embed([DOG])[DOG.id].vector
    np.testing.assert_allclose(alone, vectors[DOG.id].vector, atol=1e-5)


def test_hf_refuses_a_clip_checkpoint_and_names_clip(registry, saved, tmp_path):
    into_hub_cache(tmp_path / "hub", "org/tiny-clip", saved["clip"])
    into_hub_cache(tmp_path / "hub", "org/tiny-bert", saved["bert"])
    assert registry.source("text", "hf").names() == ["org/tiny-bert", "org/tiny-clip"]
    assert registry.source("text", "clip").names() == ["org/tiny-clip"]
    assert "hf:org/tiny-clip" not in registry.text
    assert "score its text tower as clip:org/tiny-clip" in registry.text.broken["hf:org/tiny-clip"]


def test_hf_absent_names_the_path_and_fetch(registry, tmp_path):
    assert "hf:bert-base-uncased" not in registry.text
    message = registry.text.missing["hf:bert-base-uncased"]
    assert str(tmp_path / "hub" / "models--bert-base-uncased") in message
    assert message.endswith("benchsuite fetch --text hf:bert-base-uncased")


# -- clip: --------------------------------------------------------------------------------------------


def test_clip_text_tower_equals_clip_get_text_features_of_the_prompt(registry, saved, tmp_path):
    import torch
    from transformers import AutoTokenizer, CLIPModel

    snapshot = into_hub_cache(tmp_path / "hub", "org/tiny-clip", saved["clip"])
    meta = resolved(registry, "clip:org/tiny-clip")
    assert meta.dimension == 24
    tokenizer = AutoTokenizer.from_pretrained(str(snapshot))
    clip = CLIPModel.from_pretrained(str(snapshot)).eval()
    for prompt, texts in [(None, ["a photo of a tabby.", "a photo of a dog."]), ("{name}", ["tabby", "dog"])]:
        model = meta.load(**({"prompt": prompt} if prompt else {}))
        vectors = model.embed([CAT, DOG])
        with torch.no_grad():
            features = clip.get_text_features(**tokenizer(texts, padding=True, return_tensors="pt"))
        expected = getattr(features, "pooler_output", features).numpy()
        np.testing.assert_allclose(np.stack([vectors[CAT.id].vector, vectors[DOG.id].vector]), expected, atol=1e-5)
        assert vectors[CAT.id].matched == "tabby"


def test_clip_prompt_without_name_is_refused(registry, saved, tmp_path):
    into_hub_cache(tmp_path / "hub", "org/tiny-clip", saved["clip"])
    with pytest.raises(ValueError, match=r"must contain \{name\}.*--set NAME.prompt="):
        resolved(registry, "clip:org/tiny-clip").load(prompt="a photo")


def test_clip_refuses_a_text_encoder(registry, saved, tmp_path):
    into_hub_cache(tmp_path / "hub", "org/tiny-bert", saved["bert"])
    assert "clip:org/tiny-bert" not in registry.text
    assert "not CLIP; for a text encoder use hf:org/tiny-bert" in registry.text.broken["clip:org/tiny-bert"]


# -- gensim: ------------------------------------------------------------------------------------------


def test_gensim_reads_gensim_data_folder_offline(registry, tmp_path):
    vectors = fixed_vectors(["tabby", "great", "white", "shark", "dog"], 12)
    folder = tmp_path / "gensim-data" / "glove-wiki-gigaword-12"
    folder.mkdir(parents=True)
    text = write_text_vectors(tmp_path / "plain.txt", vectors, header=True)
    (folder / "glove-wiki-gigaword-12.gz").write_bytes(gzip.compress(text.read_bytes()))
    (folder / "__init__.py").write_text("")
    meta = resolved(registry, "gensim:glove-wiki-gigaword-12")
    assert meta.dimension == 12 and "word2vec_text" in meta.source
    embedded = meta.load().embed([CAT, SHARK, ZEBU])
    assert ZEBU.id not in embedded, "a name missing from the vocabulary leaves its concept out"
    np.testing.assert_allclose(embedded[CAT.id].vector, vectors["tabby"], atol=1e-6)
    assert embedded[SHARK.id].how == "mean"
    np.testing.assert_allclose(embedded[SHARK.id].vector,
                               np.mean([vectors[w] for w in ("great", "white", "shark")], axis=0), atol=1e-6)
    assert registry.source("text", "gensim").names() == ["glove-wiki-gigaword-12"]


def test_gensim_absent_names_the_folder_and_fetch(registry, tmp_path):
    assert "gensim:glove-wiki-gigaword-300" not in registry.text
    message = registry.text.missing["gensim:glove-wiki-gigaword-300"]
    expected = tmp_path / "gensim-data" / "glove-wiki-gigaword-300" / "glove-wiki-gigaword-300.gz"
    assert f"no gensim-data file at {expected}" in message
    assert message.endswith("benchsuite fetch --text gensim:glove-wiki-gigaword-300")


@pytest.mark.needs("gensim")
def test_gensim_fetch_goes_through_gensim_downloader(registry, tmp_path, monkeypatch):
    import gensim.downloader

    asked = []
    monkeypatch.setattr(gensim.downloader, "load", lambda name, return_path: asked.append((name, return_path))
                        or f"/somewhere/{name}/{name}.gz")
    assert registry.source("text", "gensim").fetch("word2vec-google-news-300") == (
        "/somewhere/word2vec-google-news-300/word2vec-google-news-300.gz")
    assert asked == [("word2vec-google-news-300", True)]
    with pytest.raises(ValueError, match="not a gensim-data name"):
        registry.source("text", "gensim").fetch("Bad Name")


# -- vectors: -----------------------------------------------------------------------------------------

VECTOR_WORDS = ["tabby", "cat", "great", "white", "shark", "dog", "tench"]


def write_format(tmp_path, fmt, vectors):
    if fmt == "word2vec_binary":
        return write_binary_vectors(tmp_path / "v.bin", vectors)
    if fmt == "fasttext_vec":
        return write_text_vectors(tmp_path / "v.vec", vectors, header=True)
    return write_text_vectors(tmp_path / "v.txt", vectors, header=fmt == "word2vec_text")


@pytest.mark.parametrize("fmt", ["word2vec_text", "word2vec_binary", "glove_text", "fasttext_vec"])
@pytest.mark.needs("gensim")
def test_vector_files_of_every_text_format_detected_or_forced(registry, tmp_path, fmt):
    from gensim.models import KeyedVectors

    vectors = fixed_vectors(VECTOR_WORDS, 10)
    path = write_format(tmp_path, fmt, vectors)
    meta = resolved(registry, f"vectors:{path}")
    assert meta.dimension == 10
    direct = KeyedVectors.load_word2vec_format(str(path), binary=fmt == "word2vec_binary",
                                               no_header=fmt == "glove_text")
    for options in ({}, {"format": fmt}):
        embedded = meta.load(**options).embed([CAT, DOG, ZEBU])
        assert sorted(embedded) == sorted([CAT.id, DOG.id])
        np.testing.assert_array_equal(embedded[CAT.id].vector, direct["tabby"])
        np.testing.assert_array_equal(embedded[DOG.id].vector, direct["dog"])


@pytest.mark.needs("gensim")
def test_fasttext_bin_gives_subword_vectors_to_unknown_words(registry, tmp_path):
    from gensim.models.fasttext import load_facebook_vectors

    path = save_fasttext_bin(tmp_path / "toy.bin")
    meta = resolved(registry, f"vectors:{path}")
    assert meta.dimension == 8 and "fasttext_bin" in meta.source
    direct = load_facebook_vectors(str(path))
    assert "zebu" not in direct.key_to_index
    embedded = meta.load().embed([CAT, ZEBU])
    np.testing.assert_allclose(embedded[CAT.id].vector, direct["tabby"], atol=1e-6)
    np.testing.assert_allclose(embedded[ZEBU.id].vector, direct["zebu"], atol=1e-6)
    assert (embedded[ZEBU.id].matched, embedded[ZEBU.id].how) == ("zebu", "word")
    strict = meta.load(subwords=False).embed([CAT, ZEBU])
    assert list(strict) == [CAT.id]


CORRUPT = {
    "ragged": ("2 3\ntabby 1 2 3\ndog 1 2\n", r"line 3: 2 values after the word, expected 3"),
    "ragged_glove": ("tabby 1 2 3\ndog 1 2\n", r"line 2: 2 values after the word, expected 3"),
    "nan": ("tabby 1 nan 3\ndog 1 2 3\n", r"line 1: the vector of 'tabby' holds NaN or infinite values"),
    "inf_with_header": ("2 3\ntabby 1 2 3\ndog 1 inf 3\n", r"line 3: the vector of 'dog' holds NaN"),
    "not_a_number": ("2 3\ntabby 1 x 3\ndog 1 2 3\n", r"line 2: could not convert string to float: 'x'"),
    "short": ("3 3\ntabby 1 2 3\ndog 1 2 3\n", r"line 4: the header promises 3 vectors, the file holds 2"),
    "empty": ("", r"is empty \(0 bytes\)"),
}


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_corrupt_vector_files_are_one_line_errors_naming_file_and_line(registry, tmp_path, case):
    from benchsuite_builtins._shared.vector_files import VectorFileError

    content, expected = CORRUPT[case]
    path = tmp_path / f"{case}.txt"
    path.write_text(content)
    meta = registry.text[f"vectors:{path}"] if f"vectors:{path}" in registry.text else None
    if meta is None:  # a start that does not parse fails already when the name is resolved
        message = registry.text.broken[f"vectors:{path}"]
    else:
        with pytest.raises(VectorFileError) as raised:
            meta.load()
        message = str(raised.value)
    assert str(path) in message and "\n" not in message
    assert re.search(expected, message), message


def test_nan_in_a_binary_file_names_the_entry(registry, tmp_path):
    from benchsuite_builtins._shared.vector_files import VectorFileError

    vectors = fixed_vectors(VECTOR_WORDS, 4)
    vectors["dog"][2] = np.nan
    path = write_binary_vectors(tmp_path / "v.bin", vectors)
    with pytest.raises(VectorFileError, match=rf"{path}: entry 6 \('dog'\) holds NaN or infinite values"):
        resolved(registry, f"vectors:{path}").load()


@pytest.mark.needs("gensim")
def test_absent_vector_file_and_pickles(registry, tmp_path):
    assert f"vectors:{tmp_path}/none.txt" not in registry.text
    assert f"no word-vector file at {tmp_path}/none.txt" in registry.text.missing[f"vectors:{tmp_path}/none.txt"]
    from gensim.models import KeyedVectors

    keyed = KeyedVectors(4)
    keyed.add_vectors(["cat"], np.ones((1, 4), dtype=np.float32))
    keyed.save(str(tmp_path / "v.kv"))
    assert f"vectors:{tmp_path}/v.kv" not in registry.text
    assert "convert it with KeyedVectors.save_word2vec_format" in registry.text.broken[f"vectors:{tmp_path}/v.kv"]


class VisionHfSource:
    """A stand-in for the vision ``hf`` source: the same prefix, the other kind."""

    @staticmethod
    @hookimpl
    def register_model_sources(register):
        register(ModelSourceMeta(name="hf", kind="vision", loader=lambda rest: None, names=lambda: [],
                                 fetch=lambda rest: "", requires="hf"))


def test_a_prefix_may_name_one_vision_and_one_text_source(monkeypatch):
    monkeypatch.setenv("BENCHSUITE_PLUGINS", "text_sources")
    pm = make_plugin_manager()
    pm.register(VisionHfSource, name="vision_hf")
    registry = Registry(pm=pm)
    assert registry.source("text", "hf").kind == "text"
    assert registry.source("vision", "hf").kind == "vision"
    assert not [p for p in registry.problems if p.item == "hf"]


def test_a_suite_runs_with_a_vector_file_by_name_and_skips_an_absent_model(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHSUITE_PLUGINS", "metrics,text_sources")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    pm = make_plugin_manager()
    pm.register(toy_plugins, name="toy_plugin")
    path = write_text_vectors(tmp_path / "toy.txt", fixed_vectors([f"word{i}" for i in range(toy_plugins.K)], 6),
                              header=False)
    suite = toy_plugins.toy_suite(text=[f"vectors:{path}", "st:absent-model"], designs=toy_plugins.toy_suite()
                                  .designs[:1], metrics=["two_vs_two"], permutations=3)
    results = benchsuite.evaluate(suite=suite, plugins=Registry(pm), out=tmp_path / "out", cache=tmp_path / "cache",
                                  progress=False)
    ran = [r for r in results.records if r.text == f"vectors:{path}" and r.summary is None]
    assert ran and all(r.status == "ok" and r.n_concepts == toy_plugins.K for r in ran)
    assert not [r for r in results.records if r.text == "st:absent-model" and r.status == "ok"]
    skipped = [p for p in results.problems if "st:absent-model" in str(p)]
    assert skipped and "benchsuite fetch --text st:absent-model" in str(skipped[0]), results.problems


def test_source_items_pass_the_conformance_checks(registry, saved, tmp_path):
    from benchsuite.kit.conformance import check_item

    into_hub_cache(tmp_path / "hub", "org/tiny-st", saved["st"])
    into_hub_cache(tmp_path / "hub", "org/tiny-bert", saved["bert"])
    into_hub_cache(tmp_path / "hub", "org/tiny-clip", saved["clip"])
    text = write_text_vectors(tmp_path / "v.txt", fixed_vectors(["dog", "tabby", "ice", "cream", "car"], 5),
                              header=False)
    fasttext = save_fasttext_bin(tmp_path / "toy.bin")
    for name in ("st:org/tiny-st", "hf:org/tiny-bert", "clip:org/tiny-clip", f"vectors:{text}", f"vectors:{fasttext}"):
        results = {r.check: r for r in check_item(f"text:{name}", registry=registry)}
        varied = results.pop("fingerprint changes when an option changes the vectors")
        assert len(results) == 5 and all(r.status == "passed" for r in results.values()), (name, results)
        if name.startswith("clip:"):  # its one option, the prompt, is a string: nothing to flip
            assert varied.status == "skipped"
        else:
            assert varied.status == "passed", (name, varied)


def test_vectors_source_matches_names_as_the_built_in_word_vectors_do(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHSUITE_PLUGINS", "text_sources,word_vectors")
    words = ["tabby", "great", "white", "shark", "Tinca_tinca", "tench", "jack", "o", "lantern", "dog"]
    path = write_text_vectors(tmp_path / "v.txt", fixed_vectors(words, 300), header=False)
    registry = Registry()
    concepts = [CAT, SHARK, DOG, ZEBU, Concept(id="n01440764", names=("Tinca tinca", "tench")),
                Concept(id="n03590841", names=("jack-o'-lantern",))]
    for builtin, options in (("glove", {"cased": False, "phrase_joiner": None}), ("skipgram", {})):
        expected = registry.text[builtin].load(path=str(path)).embed(concepts)
        found = registry.text[f"vectors:{path}"].load(**options).embed(concepts)
        assert {c: (v.matched, v.how) for c, v in found.items()} == {c: (v.matched, v.how) for c, v in expected.items()}
        for concept_id, vector in expected.items():
            np.testing.assert_array_equal(found[concept_id].vector, vector.vector)


def test_hub_cache_folder_follows_the_environment_at_each_call(tmp_path, monkeypatch):
    from benchsuite_builtins._shared.hub_cache import hub_cache_dir, repo_folder

    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert hub_cache_dir() == tmp_path / "home" / ".cache" / "huggingface" / "hub"
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert repo_folder("org/name") == tmp_path / "hf" / "hub" / "models--org--name"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert hub_cache_dir() == tmp_path / "hub"
