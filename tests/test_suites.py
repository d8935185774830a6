"""registry.toml parsing and --set overrides."""

from pathlib import Path

import pytest

from benchsuite.errors import BenchsuiteError
from benchsuite.suites import load_suites, parse_overrides

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_registry_declares_offline_and_paper():
    suites = load_suites(ROOT / "registry.toml")
    offline, paper = suites["offline"], suites["paper"]
    assert offline.images == "pypi_photos" and [d.groups for d in offline.designs] == [1, 2, 1]
    assert [d.aggregate for d in offline.designs] == ["groups", "groups", "concept_mean"]
    assert {"mobilenet_v2", "mobilenet_v2_untrained", "pixels"} <= set(offline.vision)
    assert set(offline.text) == {"glove_6b_50d", "minilm", "e5_multilingual"}
    assert {"vgg16", "resnet50", "inception_v3"} <= set(paper.vision)
    assert set(paper.text) == {"skipgram", "glove", "rnn", "crosslingual"}
    assert paper.designs[0].groups == 5 and paper.images == "imagenet_val"
    assert paper.options_for("skipgram") == {"gensim_name": "word2vec-google-news-300"}


def test_registry_names_all_exist():
    from benchsuite.plugins import Registry

    registry = Registry()
    for suite in load_suites(ROOT / "registry.toml").values():
        for name in suite.vision:
            assert name in registry.vision
        for name in suite.text:
            assert name in registry.text
        for name in suite.metrics:
            assert name in registry.metrics
        assert suite.images in registry.images and suite.concepts in registry.concepts


def test_invalid_suite_names_the_suite_and_file(tmp_path):
    path = tmp_path / "registry.toml"
    path.write_text('[suites.bad]\nvision = ["pixels"]\ntext = []\nimages = "x"\nconcepts = "y"\nmetrics = []\n')
    with pytest.raises(BenchsuiteError, match="suite 'bad' in .*registry.toml is invalid"):
        load_suites(path)


def test_overrides():
    assert parse_overrides(["vgg16.weights=/w.h5", "skipgram.path=/v.bin"]) == {
        "vgg16": {"weights": "/w.h5"}, "skipgram": {"path": "/v.bin"}}
    with pytest.raises(BenchsuiteError, match="ITEM.OPTION=VALUE"):
        parse_overrides(["weights=/w.h5"])


def test_default_registry_is_found_from_any_folder(tmp_path, monkeypatch):
    from benchsuite.suites import default_registry_path

    monkeypatch.chdir(tmp_path)
    assert default_registry_path() == ROOT / "registry.toml"
    (tmp_path / "registry.toml").write_text("")
    assert default_registry_path() == tmp_path / "registry.toml"
