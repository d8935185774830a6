"""Model sources: ``PREFIX:NAME`` items resolved through a registered source, failing cleanly, listed and fetched."""

from __future__ import annotations

import sys

import pytest
import toy_sources
from toy_distribution import install_distribution
from typer.testing import CliRunner

from benchsuite.cli import app
from benchsuite.contract.errors import BenchsuiteError, UnknownPlugin
from benchsuite.contract.manager import Registry, make_plugin_manager
from benchsuite.contract.schemas import NAME_PATTERN, PLAIN_NAME_PATTERN, ModelSourceMeta, VisionModelMeta
from benchsuite.inputs.suites import check_suite_run, parse_overrides

runner = CliRunner()


@pytest.fixture
def registry() -> Registry:
    pm = make_plugin_manager(load_entry_points=False)
    pm.register(toy_sources, name="toy_sources")
    return Registry(pm)


def test_a_qualified_name_resolves_through_its_source(registry):
    assert "toy:Net-A" in registry.vision
    meta = registry.vision["toy:Net-A"]
    assert meta.name == "toy:Net-A" and meta.layers == ("early", "middle", "late")
    assert registry.vision.owners["toy:Net-A"] == "toy_sources"
    assert registry.vision["toy:Net-A"] is meta  # cached per registry
    assert meta.load(layers=["late"]).layers == ("late",)


def test_resolution_happens_once_per_registry(monkeypatch):
    calls: list[str] = []
    resolve = toy_sources.resolve

    def counting(rest: str) -> VisionModelMeta:
        calls.append(rest)
        return resolve(rest)

    monkeypatch.setattr(toy_sources, "resolve", counting)
    pm = make_plugin_manager(load_entry_points=False)
    pm.register(toy_sources, name="toy_sources")
    registry = Registry(pm)
    for _ in range(3):
        assert "toy:Net.b/c@1" in registry.vision
        registry.vision["toy:Net.b/c@1"]
    for _ in range(2):
        assert "toy:Nope" not in registry.vision
    assert calls == ["Net.b/c@1", "Nope"]


def test_an_unknown_name_is_broken_with_the_sources_reason(registry):
    assert "toy:Nope" not in registry.vision
    assert registry.problem("vision", "toy:Nope") == (
        "plugin 'toy_sources' (no distribution) source 'toy': ValueError: unknown toy model 'Nope'; "
        "toy offers: Net-A, Net.b/c@1")
    with pytest.raises(UnknownPlugin, match=r"vision item 'toy:Nope' is broken: .*unknown toy model 'Nope'"):
        registry.vision["toy:Nope"]


def test_a_missing_library_is_an_absence_naming_the_extra(registry):
    assert "toy:Missing" not in registry.vision
    assert registry.problem("vision", "toy:Missing") is None
    assert registry.absence("vision", "toy:Missing") == ("toylib is not installed: run "
                                                         "`pip install 'benchsuite[toy]'`")


def test_an_unknown_prefix_lists_the_known_sources(registry):
    assert "keras2:vgg" not in registry.vision
    assert registry.absence("vision", "keras2:vgg") == ("no vision model source 'keras2' is installed (in "
                                                        "'keras2:vgg'); known vision sources: toy:")
    with pytest.raises(UnknownPlugin, match="no vision model source 'nope'; known vision sources: toy"):
        registry.source("vision", "nope")
    assert "toy:Net-A" not in registry.text  # a source serves its own kind only


def test_a_source_returning_the_wrong_record_is_broken(registry):
    source, plugin = registry.vision.sources["toy"]
    registry.vision.sources["toy"] = (source.model_copy(update={"loader": lambda rest: toy_sources.resolve("Net-A")}),
                                      plugin)
    assert "toy:Net-B" not in registry.vision
    assert "returned VisionModelMeta 'toy:Net-A'; expected a VisionModelMeta named 'toy:Net-B'" in (
        registry.problem("vision", "toy:Net-B"))


def test_names_accept_qualified_forms_but_plain_registrations_stay_strict():
    import re

    for name in ("timm:convnext_tiny.fb_in1k", "hf:facebook/dinov2-small", "torchvision:resnet50:IMAGENET1K_V2",
                 "hf:org/model@main", "mobilenet_v2"):
        assert re.fullmatch(NAME_PATTERN, name), name
    for name in ("Timm:x", "timm:", "timm:a b", "timm:a=b", ":x"):
        assert not re.fullmatch(NAME_PATTERN, name), name
    assert not re.fullmatch(PLAIN_NAME_PATTERN, "timm:x")
    with pytest.raises(ValueError, match="a model source's name is its prefix, without ':'"):
        ModelSourceMeta(name="a:b", kind="vision", loader=toy_sources.resolve, names=list, fetch=str, requires="x")


def test_a_hook_registering_a_qualified_name_is_refused():
    class Squatter:
        @staticmethod
        @toy_sources.hookimpl
        def register_vision_models(register):
            register(toy_sources.resolve("Net-A"))

    pm = make_plugin_manager(load_entry_points=False)
    pm.register(Squatter(), name="squatter")
    registry = Registry(pm)
    assert "toy:Net-A" not in registry.vision.items
    assert "names with ':' belong to model sources" in registry.problem("vision", "toy:Net-A")


@pytest.mark.parametrize("pairs, expected", [
    (["timm:convnext_tiny.fb_in1k.layers=['stages.*']"], {"timm:convnext_tiny.fb_in1k": {"layers": ["stages.*"]}}),
    (["hf:org/vit-b.16@main.weights=/x/y.bin"], {"hf:org/vit-b.16@main": {"weights": "/x/y.bin"}}),
    (["vgg16.weights=/a=b.h5"], {"vgg16": {"weights": "/a=b.h5"}}),
])
def test_set_splits_the_key_at_its_last_dot(pairs, expected):
    assert parse_overrides(pairs) == expected


def test_a_set_without_an_option_is_refused():
    with pytest.raises(BenchsuiteError, match="--set expects ITEM.OPTION=VALUE"):
        parse_overrides(["timm:convnext_tiny=3"])


def test_options_of_a_qualified_item_are_checked_against_its_loader(registry):
    from toy_plugins import toy_suite

    suite = toy_suite(vision=["toy:Net-A"], metrics=["two_vs_two"])
    registry_with_metrics = registry
    registry_with_metrics.metrics.add(
        __import__("benchsuite.contract.schemas", fromlist=["MetricMeta"]).MetricMeta(name="two_vs_two",
                                                                                     loader=lambda: None),
        "test")
    registry_with_metrics.images.add(
        __import__("benchsuite.contract.schemas", fromlist=["ImageSourceMeta"]).ImageSourceMeta(
            name="toy_photos", loader=lambda: None), "test")
    registry_with_metrics.concepts.add(
        __import__("benchsuite.contract.schemas", fromlist=["ConceptSetMeta"]).ConceptSetMeta(
            name="toy_concepts", loader=lambda: None), "test")
    check_suite_run(registry, suite, overrides=parse_overrides(["toy:Net-A.layers=['late']"]))
    with pytest.raises(BenchsuiteError, match="the vision item 'toy:Net-A' has no option 'colour'; its loader "
                                              "accepts: device, layers, seed"):
        check_suite_run(registry, suite, overrides=parse_overrides(["toy:Net-A.colour=1"]))


def test_vision_names_sharing_a_records_file_are_refused_before_work(registry):
    from toy_plugins import toy_suite

    with pytest.raises(BenchsuiteError, match=r"vision models 'toy:Net-A' and 'toy:net.a' share the file name "
                                              r"'toy-net-a' \(records/<suite>/<design>/<model>.json\)"):
        check_suite_run(registry, toy_suite(), vision=["toy:Net-A", "toy:net.a"])


@pytest.fixture
def toy_site(tmp_path, monkeypatch):
    """The toy plugins and the toy source installed as a real distribution, with a registry.toml for the toy suite."""
    install_distribution(tmp_path / "site", monkeypatch, "toy-sources-dist",
                         "toy = toy_plugins\ntoy_sources = toy_sources\n")
    monkeypatch.setenv("BENCHSUITE_PLUGINS", "toy,toy_sources,metrics")
    registry = tmp_path / "registry.toml"
    registry.write_text('[suites.toy]\nvision = ["toy:Net-A"]\ntext = ["toy_text_good"]\nimages = "toy_photos"\n'
                        'concepts = "toy_concepts"\nmetrics = ["two_vs_two"]\npermutations = 5\n'
                        '[[suites.toy.designs]]\nname = "one"\n')
    yield tmp_path, registry
    sys.modules.pop("toy_sources_dist", None)


def run_toy(tmp_path, registry, *args):
    base = ["run", "--suite", "toy", "--registry", str(registry), "--out", str(tmp_path / "out"),
            "--cache", str(tmp_path / "cache"), "--leaderboard", str(tmp_path / "board"), "--quiet"]
    return runner.invoke(app, [*base, *args])


def test_a_run_scores_a_qualified_name_and_reports_bad_ones_as_rows(toy_site):
    tmp_path, registry = toy_site
    result = run_toy(tmp_path, registry, "--vision", "toy:Net-A,toy:Nope,toy:Missing,other:x",
                     "--set", "toy:Net-A.layers=['early', 'late']")
    assert result.exit_code == 0, result.output
    assert "3 ok, 1 failed, 2 skipped" in result.output  # 2 layers and the held-out summary
    assert "failed vision toy:Nope" in result.output and "unknown toy model 'Nope'" in result.output
    assert "skipped vision toy:Missing" in result.output and "pip install 'benchsuite[toy]'" in result.output
    assert "skipped vision other:x" in result.output and "known vision sources: toy:" in result.output
    assert (tmp_path / "out" / "records" / "toy" / "one" / "toy-net-a.json").is_file()


def test_list_shows_sources_and_what_one_offers(toy_site):
    result = runner.invoke(app, ["list", "vision"])
    assert result.exit_code == 0, result.output
    assert "toy:NAME" in result.output and "benchsuite list vision --source toy" in result.output
    offered = runner.invoke(app, ["list", "vision", "--source", "toy"])
    assert offered.exit_code == 0, offered.output
    assert offered.stdout.splitlines() == ["toy:Net-A", "toy:Net.b/c@1"]
    for args, message in ((["list", "text", "--source", "toy"], "no text model source 'toy'"),
                          (["list", "--source", "toy"], "needs the kind first: `benchsuite list vision --source toy`")):
        refused = runner.invoke(app, args)
        assert refused.exit_code == 2 and message in refused.output, refused.output


def test_fetch_dispatches_to_the_source(toy_site, monkeypatch):
    monkeypatch.setattr(toy_sources, "FETCHED", [])
    import toy_sources as installed

    result = runner.invoke(app, ["fetch", "--vision", "toy:Net-A,toy:Net.b/c@1"])
    assert result.exit_code == 0, result.output
    assert "toy:Net-A: fetched into /toy-cache/Net-A" in result.output
    assert installed.FETCHED[-2:] == ["Net-A", "Net.b/c@1"]
    for args, message in ((["fetch", "--vision", "vgg16"], "fetch takes a model source's PREFIX:NAME"),
                          (["fetch", "--text", "toy:x"], "no text model source 'toy'")):
        refused = runner.invoke(app, args)
        assert refused.exit_code == 2 and message in refused.output, refused.output


def test_check_takes_qualified_names_with_or_without_their_kind(toy_site):
    for name in ("toy:Net-A", "vision:toy:Net-A"):
        result = runner.invoke(app, ["check", name])
        assert "vision toy:Net-A" in result.output and "loads" in result.output, result.output
    missing = runner.invoke(app, ["check", "toy:Missing"])
    assert missing.exit_code == 2 and "pip install 'benchsuite[toy]'" in missing.output
