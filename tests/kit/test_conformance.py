"""The conformance kit: built-in items pass it, and each contract violation is caught with a message that names it."""

import re

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from benchsuite.cli import app
from benchsuite.contract.errors import UnknownPlugin
from benchsuite.contract.manager import Registry, make_plugin_manager
from benchsuite.kit.conformance import check_item, find_item, registration_imports
from benchsuite.plugin import (
    ConceptVector,
    ImageSourceMeta,
    MetricMeta,
    ResourceMissing,
    TextEmbeddingMeta,
    VisionModelMeta,
    hookimpl,
    match_concept_names,
)
from benchsuite.testing import parametrize_with_checks

slow = pytest.mark.slow
BUILTIN_METRICS = ["two_vs_two", "rsa", "rsa_pearson", "rsa_kendall_tau_a", "cka", "cka_debiased", "mutual_knn"]


# -- built-in items ------------------------------------------------------------------------------------------


@parametrize_with_checks(["pixels", *BUILTIN_METRICS, "imagenet1k", "pypi_photos"], registration=False)
def test_builtin_items_conform(case):
    case.check()


@parametrize_with_checks(
    [
        pytest.param("glove_6b_50d", marks=slow),
        *(pytest.param(name, marks=slow) for name in (
            "mobilenet_v2", "mobilenet_v2_untrained", "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2",
            "minilm", "e5_multilingual", "vgg16_untrained", "resnet50_untrained", "inception_v3_untrained")),
    ],
    registration=False,
)
def test_builtin_models_conform(case):
    case.check()


@slow
@pytest.mark.parametrize("name", ["vgg16", "resnet50", "inception_v3", "skipgram", "glove", "rnn", "crosslingual"])
def test_items_without_their_files_are_skipped_with_the_reason(name, tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHSUITE_CACHE", str(tmp_path))
    option = {"weights": str(tmp_path / "absent.h5")} if name in ("vgg16", "resnet50", "inception_v3") else {}
    results = check_item(name, option, registration=False)
    assert [(r.check, r.status) for r in results] == [("loads", "skipped")]
    assert re.search(r"absent\.h5|vectors", results[0].detail)


@slow
@pytest.mark.parametrize("plugin", ["metrics", "keras", "torch_models", "pixels", "word_vectors", "sentence",
                                    "images", "concepts"])
def test_every_builtin_plugin_registers_without_a_framework(plugin):
    assert registration_imports(plugin) == ()


@slow
@pytest.mark.parametrize("plugin", ["word_vectors", "sentence"])
def test_builtin_text_plugins_register_without_the_packages_their_items_declare(plugin):
    from benchsuite.contract.manager import Registry

    text = Registry().text
    declared = tuple(sorted({package.replace("-", "_") for name, owner in text.owners.items() if owner == plugin
                             for package in text[name].packages}))
    assert declared  # every built-in text model says which packages reach its vectors
    assert registration_imports(plugin, declared) == ()


def test_registration_check_sees_what_registration_imports():
    heavy = ("benchsuite_builtins.pixels", "benchsuite.metrics")
    assert registration_imports("metrics", heavy) == ("benchsuite.metrics",)


def test_folder_source_conforms(tmp_path):
    for label in ("cat", "dog"):
        (tmp_path / label).mkdir()
        Image.new("RGB", (20, 30), (10, 200, 30)).save(tmp_path / label / "1.png")
    results = check_item("images:folder", {"root": str(tmp_path)}, registration=False)
    assert {r.status for r in results} == {"passed"}
    assert "2 images of 2 concepts" in results[1].detail


def test_example_plugin_conforms(installed_example):  # the fixture is in tests/conftest.py
    results = check_item("color_histogram")
    assert [r.check for r in results if r.status == "failed"] == []
    statuses = {r.check: r.status for r in results}
    assert statuses["registration imports no framework"] == "passed"
    assert statuses["forward: shapes, finite activations"] == "passed"
    assert statuses["weights_hash changes when an option changes the numbers"] == "skipped"  # **options only


# -- contract violations -------------------------------------------------------------------------------------


class Pixels:
    """A well-behaved vision model: two layers of the images' mean colour, scaled by a seeded factor."""

    layers = ("colour", "scaled")
    predicts_imagenet = False

    def __init__(self, seed=0):
        self.factor = 1.0 + seed
        self.weights_hash = f"seed{seed}"

    def preprocess(self, images):
        return np.stack([np.asarray(im, dtype=np.float32).mean(axis=(0, 1)) for im in images])

    def activations(self, batch):
        return {"colour": batch, "scaled": batch * self.factor}

    def forward(self, batch, layers, on_layer):
        values = self.activations(batch)
        for name in layers:
            on_layer(name, values[name])
        return np.zeros(len(batch), dtype=np.int64) if self.predicts_imagenet else None


def vision_registry(model_class, predicts_imagenet=False, layers=Pixels.layers):
    class Plugin:
        @hookimpl
        def register_vision_models(self, register):
            register(VisionModelMeta(name="probe", framework="numpy", input_size=1, preprocessing="mean colour",
                                     weights_source="none", layers=layers, predicts_imagenet=predicts_imagenet,
                                     loader=lambda device="cpu", seed=0: model_class(seed)))

    pm = make_plugin_manager(load_entry_points=False)
    pm.register(Plugin(), name="probe_plugin")
    return Registry(pm)


def failures(registry, name="probe"):
    return {r.check: r.detail for r in check_item(name, registry=registry, registration=False) if r.status == "failed"}


def test_a_well_behaved_model_passes_every_check():
    results = check_item("probe", registry=vision_registry(Pixels), registration=False)
    assert [(r.check, r.status) for r in results] == [
        ("loads", "passed"),
        ("layer order", "passed"),
        ("forward: shapes, finite activations", "passed"),
        ("predictions", "passed"),
        ("same options and seed -> same numbers and weights_hash", "passed"),
        ("weights_hash changes when an option changes the numbers", "passed"),
    ]
    assert results[-1].detail == "{'seed': 1}: new numbers, new fingerprint"


class Reversed(Pixels):
    def forward(self, batch, layers, on_layer):
        return super().forward(batch, list(reversed(layers)), on_layer)


class NotANumber(Pixels):
    def activations(self, batch):
        return {**super().activations(batch), "scaled": np.full_like(batch, np.nan)}


class OneRowShort(Pixels):
    def activations(self, batch):
        return {**super().activations(batch), "colour": batch[1:]}


class Noisy(Pixels):
    def activations(self, batch):
        return {**super().activations(batch), "scaled": batch * np.random.default_rng().random()}


class SameHashForEverySeed(Pixels):
    def __init__(self, seed=0):
        super().__init__(seed)
        self.weights_hash = "fixed"


class Predicting(Pixels):
    predicts_imagenet = True


class OutOfRange(Pixels):
    def forward(self, batch, layers, on_layer):
        super().forward(batch, layers, on_layer)
        return np.full(len(batch), 1000)


class OtherLayers(Pixels):
    layers = ("scaled", "colour")


FORWARD = "forward: shapes, finite activations"


@pytest.mark.parametrize(
    ("model_class", "predicts", "check", "message"),
    [
        (Reversed, False, FORWARD, r"expected each of \['colour', 'scaled'\] once, in order"),
        (NotANumber, False, FORWARD, "layer 'scaled' has non-finite"),
        (OneRowShort, False, FORWARD, r"layer 'colour' gave shape \(3, 3\); expected \(4"),
        (Noisy, False, "same options and seed -> same numbers and weights_hash", "gives different activations"),
        (SameHashForEverySeed, False, "weights_hash changes when an option changes the numbers",
         r"option \{'seed': 1\} changes the numbers but not the fingerprint 'fixed'"),
        (Predicting, False, "predictions", "returned predictions but predicts_imagenet=False"),
        (Pixels, True, "predictions", "predicts_imagenet=True but forward returned None"),
        (OutOfRange, True, "predictions", r"outside the ImageNet-1k indices \[0, 1000\)"),
        (OtherLayers, False, "layer order", r"loaded layers \('scaled', 'colour'\) differ from the registered"),
    ],
)
def test_vision_contract_violations_are_named(model_class, predicts, check, message):
    failed = failures(vision_registry(model_class, predicts_imagenet=predicts))
    assert check in failed
    assert re.search(message, failed[check])


class Words:
    """A tiny word-vector model: one-hot vectors for a few words, optionally with a mean for phrases."""

    vocabulary = ("dog", "tabby", "apple", "ice", "cream", "icecream")

    def __init__(self, mean_fallback=True):
        self.mean_fallback = mean_fallback
        self.fingerprint = f"words:mean={mean_fallback}"

    def lookup(self, name):
        words = name.split()
        if len(words) == 1 and name in self.vocabulary:
            return ConceptVector(vector=np.eye(len(self.vocabulary))[self.vocabulary.index(name)], matched=name,
                                 how="word")
        if self.mean_fallback and len(words) > 1 and all(w in self.vocabulary for w in words):
            vectors = [np.eye(len(self.vocabulary))[self.vocabulary.index(w)] for w in words]
            return ConceptVector(vector=np.mean(vectors, axis=0), matched=name, how="mean")
        return None

    def embed(self, concepts):
        return match_concept_names(concepts, self.lookup)


def text_registry(model_class, dimension=6):
    class Plugin:
        @hookimpl
        def register_text_embeddings(self, register):
            register(TextEmbeddingMeta(name="probe", dimension=dimension, source="six words",
                                       loader=lambda device="cpu", mean_fallback=True: model_class(mean_fallback)))

    pm = make_plugin_manager(load_entry_points=False)
    pm.register(Plugin(), name="probe_plugin")
    return Registry(pm)


class Unfingerprinted(Words):
    def __init__(self, mean_fallback=True):
        super().__init__(mean_fallback)
        del self.fingerprint


class FingerprintIgnoresOptions(Words):
    def __init__(self, mean_fallback=True):
        super().__init__(mean_fallback)
        self.fingerprint = "words"


class WrongMatch(Words):
    def lookup(self, name):
        found = super().lookup(name)
        return found.model_copy(update={"matched": "something else"}) if found and name == "apple" else found


def test_a_well_behaved_text_model_passes_every_check():
    results = check_item("probe", registry=text_registry(Words), registration=False)
    assert {r.status for r in results} == {"passed"}
    assert "4/6 covered: dog (word), tabby (word), ice cream (mean), apple (word)" in results[2].detail


@pytest.mark.parametrize(
    ("model_class", "dimension", "check", "message"),
    [
        (Words, 7, "embed: covered concepts, declared dimension, finite vectors",
         r"vector shape \(6,\), but the registered dimension is 7"),
        (WrongMatch, 6, "embed: covered concepts, declared dimension, finite vectors",
         r"c_apple: matched 'something else' is none of its names \('apple',\)"),
        (Unfingerprinted, 6, "fingerprint", "has no `fingerprint` string"),
        (FingerprintIgnoresOptions, 6, "fingerprint changes when an option changes the vectors",
         r"option \{'mean_fallback': False\} changes the numbers but not the fingerprint 'words'"),
    ],
)
def test_text_contract_violations_are_named(model_class, dimension, check, message):
    failed = failures(text_registry(model_class, dimension))
    assert check in failed
    assert re.search(message, failed[check])


def metric_registry(statistic, **fields):
    class Plugin:
        @hookimpl
        def register_metrics(self, register):
            register(MetricMeta(name="probe", loader=lambda: statistic, **fields))

    pm = make_plugin_manager(load_entry_points=False)
    pm.register(Plugin(), name="probe_plugin")
    return Registry(pm)


def upper_correlation(a, b):
    upper = np.triu_indices_from(a, k=1)
    return float(np.corrcoef(a[upper], b[upper])[0, 1])


@pytest.mark.parametrize(
    ("statistic", "fields", "check", "message"),
    [
        (lambda a, b: upper_correlation(a, b) + a[0, 1], {"chance": 0.0}, "symmetric as declared",
         r"f\(A, B\) = .*, f\(B, A\) = .*; fix it or register symmetric=False"),
        (upper_correlation, {"chance": 0.0, "higher_is_better": False},
         "identical beats unrelated; unrelated near chance", "does not beat unrelated pairs"),
        (upper_correlation, {"chance": 0.5}, "identical beats unrelated; unrelated near chance",
         r"far from chance=0\.5"),
        (lambda a, b: float("nan"), {}, "f(A, B) is a finite float", "returned nan; expected a finite float"),
    ],
)
def test_metric_contract_violations_are_named(statistic, fields, check, message):
    failed = failures(metric_registry(statistic, **fields))
    assert check in failed
    assert re.search(message, failed[check])


def test_an_asymmetric_metric_that_says_so_is_not_failed():
    results = check_item("probe", registry=metric_registry(lambda a, b: upper_correlation(a, b) + a[0, 1] / 100,
                                                           chance=0.0, symmetric=False), registration=False)
    assert {r.check: r.status for r in results}["symmetric as declared"] == "skipped"
    assert "failed" not in {r.status for r in results}


def test_missing_resources_skip_and_other_load_errors_fail():
    def absent(**options):
        raise ResourceMissing("probe needs /data/probe.bin: download it there or pass --set probe.path=FILE")

    def broken(**options):
        raise RuntimeError("bug")

    for loader, status, detail in [(absent, "skipped", "probe needs /data/probe.bin"),
                                   (broken, "failed", "RuntimeError: bug")]:
        class Plugin:
            @hookimpl
            def register_image_sources(self, register, _loader=loader):
                register(ImageSourceMeta(name="probe", loader=_loader))

        pm = make_plugin_manager(load_entry_points=False)
        pm.register(Plugin(), name="probe_plugin")
        results = check_item("probe", registry=Registry(pm), registration=False)
        assert [(r.check, r.status) for r in results] == [("loads", status)]
        assert detail in results[0].detail


def test_an_item_registered_twice_fails_its_registration_naming_both_plugins():
    pm = make_plugin_manager(load_entry_points=False)
    for plugin_name in ("first_plugin", "second_plugin"):
        class Plugin:
            @hookimpl
            def register_metrics(self, register):
                register(MetricMeta(name="twin", loader=lambda: upper_correlation))

        pm.register(Plugin(), name=plugin_name)
    (result,) = check_item("twin", registry=Registry(pm), registration=False)
    assert (result.item, result.check, result.status) == ("metrics twin", "registers", "failed")
    assert "first_plugin" in result.detail and "second_plugin" in result.detail


def test_names_must_be_registered_and_unambiguous():
    registry = Registry()
    with pytest.raises(UnknownPlugin, match="'folder' names items of several kinds .*e.g. images:folder"):
        find_item(registry, "folder")
    with pytest.raises(UnknownPlugin, match="no registered item named 'nope'; `benchsuite list`"):
        find_item(registry, "nope")
    assert find_item(registry, "concepts:folder")[0] == "concepts"


# -- the command -------------------------------------------------------------------------------------------


def test_check_command_prints_a_line_per_check_and_exits_zero(monkeypatch):
    monkeypatch.setattr("benchsuite.kit.conformance.registration_imports", lambda plugin, heavy=(): ())
    result = CliRunner().invoke(app, ["check", "pixels", "rsa"])
    assert result.exit_code == 0, result.output
    assert "passed  vision pixels: layer order (1 layers)" in result.output
    assert "passed  metrics rsa: symmetric as declared" in result.output
    assert "0 failed" in result.output


def test_check_command_exits_non_zero_on_a_failed_check(monkeypatch):
    monkeypatch.setattr("benchsuite.contract.manager.Registry", lambda: vision_registry(Noisy))
    monkeypatch.setattr("benchsuite.kit.conformance.registration_imports", lambda plugin, heavy=(): ())
    result = CliRunner().invoke(app, ["check", "probe"])
    assert result.exit_code == 1
    assert "failed  vision probe: same options and seed -> same numbers and weights_hash" in result.output


def test_check_command_names_an_unknown_item():
    result = CliRunner().invoke(app, ["check", "nope"])
    assert result.exit_code == 2
    assert "no registered item named 'nope'" in result.output
