"""Plugin discovery, lazy registration, name conflicts and the allowlist."""

import re

import pytest
from import_checks import loaded_after

from benchsuite.contract.errors import UnknownPlugin
from benchsuite.contract.hookspecs import hookimpl
from benchsuite.contract.manager import KINDS, SOURCE_HOOK, Registry, make_plugin_manager
from benchsuite.contract.schemas import MetricMeta, PluginItemMeta, TextEmbeddingMeta

BUILTIN_PLUGINS = {"metrics", "keras", "torch_models", "pixels", "word_vectors", "sentence", "images", "concepts"}


def metric_plugin(name: str):
    class Plugin:
        @hookimpl
        def register_metrics(self, register):
            register(MetricMeta(name=name, chance=0.0, loader=lambda: (lambda a, b: 0.0)))

    return Plugin()


def test_builtin_plugins_are_discovered_through_entry_points():
    registry = Registry()
    assert BUILTIN_PLUGINS <= set(registry.plugin_hooks())
    assert registry.plugin_hooks()["keras"] == ["register_vision_models"]
    assert {"vgg16", "resnet50", "inception_v3", "mobilenet_v2", "pixels"} <= set(registry.vision.names())
    assert {"glove_6b_50d", "minilm", "e5_multilingual", "skipgram"} <= set(registry.text.names())
    assert registry.vision.owners["vgg16"] == "keras"


def test_listing_imports_no_heavy_framework():
    code = "from benchsuite.contract.manager import Registry; assert len(Registry().vision.names()) > 5"
    assert loaded_after(code) == []


def test_same_name_from_two_plugins_skips_both_and_names_both():
    pm = make_plugin_manager(load_entry_points=False)
    pm.register(metric_plugin("twin"), name="first_plugin")
    pm.register(metric_plugin("twin"), name="second_plugin")
    registry = Registry(pm)
    assert "twin" not in registry.metrics
    assert re.search("first_plugin.*second_plugin", registry.problem("metrics", "twin"))
    assert [p.plugin for p in registry.problems] == ["first_plugin", "second_plugin"]


def test_wrong_record_type_is_refused():
    class Plugin:
        @hookimpl
        def register_metrics(self, register):
            register(TextEmbeddingMeta(name="oops", dimension=3, source="x", loader=lambda: None))

    pm = make_plugin_manager(load_entry_points=False)
    pm.register(Plugin(), name="confused")
    registry = Registry(pm)
    assert "oops" not in registry.metrics
    assert re.search("confused.*TextEmbeddingMeta.*MetricMeta", registry.problem("metrics", "oops"))


def test_allowlist_limits_loaded_plugins(monkeypatch):
    monkeypatch.setenv("BENCHSUITE_PLUGINS", "metrics, pixels")
    registry = Registry()
    assert set(registry.plugin_hooks()) == {"metrics", "pixels"}
    assert registry.vision.names() == ["pixels"]
    with pytest.raises(UnknownPlugin, match="no vision item named 'vgg16'.*BENCHSUITE_PLUGINS"):
        registry.vision["vgg16"]


def test_invalid_metadata_is_a_clear_error():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="layer names must be unique"):
        from benchsuite.contract.schemas import VisionModelMeta

        VisionModelMeta(name="dup", framework="numpy", input_size=8, preprocessing="none", weights_source="none",
                        layers=("a", "a"), loader=lambda: None)


def test_every_hook_has_a_kind_and_every_kind_a_hook():
    hooks = {name for name in vars(make_plugin_manager(load_entry_points=False).hook) if not name.startswith("_")}
    assert hooks == {hook for hook, _ in KINDS.values()} | {SOURCE_HOOK[0]}
    assert len(hooks) == 6


def test_metric_records_declare_only_fields_the_harness_reads():
    """``permutable`` was never read (any statistic of two matrices can be tested by relabelling concepts): gone."""
    from pydantic import ValidationError

    assert set(MetricMeta.model_fields) - set(PluginItemMeta.model_fields) == {"chance", "higher_is_better",
                                                                                  "symmetric", "heldout_summary"}
    with pytest.raises(ValidationError, match="permutable"):
        MetricMeta(name="m", permutable=False, loader=lambda: None)
