"""A broken plugin never blocks anyone else: each misbehaving plugin is a real distribution on sys.path,
discovered through its entry point, and becomes a named problem while the rest loads and runs."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from benchsuite.cli import app
from benchsuite.contract.manager import Registry

GOOD_METRIC = """
from benchsuite.contract.hookspecs import hookimpl
from benchsuite.contract.schemas import MetricMeta


def metric(name):
    return MetricMeta(name=name, chance=0.0, loader=lambda: (lambda a, b: 0.0))
"""

VISION = """
from benchsuite.contract.schemas import VisionModelMeta


def vision(name, layers=("a",)):
    return VisionModelMeta(name=name, framework="numpy", input_size=1, preprocessing="none", weights_source="none",
                           layers=layers, loader=lambda **options: None)
"""


class Site:
    """A folder on sys.path into which tests write distributions by hand (a dist-info with entry_points.txt)."""

    def __init__(self, root: Path):
        self.root = root
        self.modules: list[str] = []

    def install(self, dist: str, version: str, plugins: dict[str, str]) -> None:
        """Distribution ``dist`` declaring one entry point per plugin name, each a module with the given source."""
        info = self.root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        lines = ["[benchsuite]"]
        for plugin, source in plugins.items():
            module = f"bs_test_{dist.replace('-', '_')}_{plugin}"
            (self.root / f"{module}.py").write_text(textwrap.dedent(source))
            lines.append(f"{plugin} = {module}")
            self.modules.append(module)
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        importlib.invalidate_caches()


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHSUITE_PLUGINS", "metrics,pixels,concepts,images,word_vectors,evil,other,twin,good")
    monkeypatch.setenv("COLUMNS", "250")
    root = tmp_path / "site"
    root.mkdir()
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    installed = Site(root)
    yield installed
    sys.path.remove(str(root))
    for module in installed.modules:
        sys.modules.pop(module, None)
    importlib.invalidate_caches()


def only(problems, **fields):
    """The one problem whose fields equal ``fields``."""
    found = [p for p in problems if all(getattr(p, k) == v for k, v in fields.items())]
    assert len(found) == 1, (fields, problems)
    return found[0]


def test_entry_point_that_fails_to_import_is_a_problem_and_the_rest_loads(site):
    site.install("evil-plugin", "2.0", {"evil": "raise RuntimeError('boom at import')\n"})
    registry = Registry()
    assert "pixels" in registry.vision and "two_vs_two" in registry.metrics
    problem = only(registry.problems, plugin="evil")
    assert (problem.distribution, problem.version, problem.kind, problem.item) == ("evil-plugin", "2.0", "plugin", None)
    assert "RuntimeError: boom at import" in problem.error and "\n" not in problem.error
    assert "evil" not in registry.plugin_hooks()
    assert problem.aborted
    assert "plugins that stopped loading early: evil" in registry.absence("vision", "evil_model")


def test_hook_that_raises_keeps_its_earlier_items_and_the_other_hooks(site):
    site.install("evil-plugin", "2.0", {"evil": GOOD_METRIC + VISION + """
@hookimpl
def register_vision_models(register):
    register(vision("evil_first"))
    raise ValueError("hook exploded")


@hookimpl
def register_metrics(register):
    register(metric("evil_metric"))


@hookimpl
def register_text_embeddings(register):
    raise SystemExit("a plugin that exits")
"""})
    registry = Registry()
    assert "evil_first" in registry.vision and "evil_metric" in registry.metrics and "pixels" in registry.vision
    problem = only(registry.problems, plugin="evil", kind="vision")
    assert problem.item is None
    assert "SystemExit: a plugin that exits" in only(registry.problems, plugin="evil", kind="text").error
    assert "register_vision_models raised ValueError: hook exploded" in problem.error
    assert "items it registered before the error are kept" in problem.error


def test_invalid_record_names_the_item_and_its_field(site):
    site.install("evil-plugin", "2.0", {"evil": GOOD_METRIC + VISION + """
@hookimpl
def register_vision_models(register):
    register(vision("evil_first"))
    register(vision("evil_bad", layers=("a", "a")))
    register(vision("evil_never"))
"""})
    registry = Registry()
    assert "evil_first" in registry.vision and "evil_bad" not in registry.vision
    problem = only(registry.problems, plugin="evil")
    assert problem.item == "evil_bad" and problem.kind == "vision"
    message = registry.problem("vision", "evil_bad")
    assert "plugin 'evil' (evil-plugin 2.0)" in message
    assert "invalid VisionModelMeta: layers: Value error, layer names must be unique" in message
    assert registry.problem("vision", "evil_first") is None and registry.problem("vision", "evil_never") is None
    assert "evil_never" not in registry.vision and problem.aborted
    assert "plugins that stopped loading early: evil" in registry.absence("vision", "evil_never")
    assert "stopped loading early" not in registry.absence("text", "evil_never")
    with pytest.raises(KeyError, match="vision item 'evil_bad' is broken: .*layer names must be unique"):
        registry.vision["evil_bad"]


def test_record_of_the_wrong_type_is_refused_and_later_items_still_register(site):
    site.install("evil-plugin", "2.0", {"evil": GOOD_METRIC + """
from benchsuite.contract.schemas import TextEmbeddingMeta


@hookimpl
def register_metrics(register):
    register(TextEmbeddingMeta(name="evil_text", dimension=3, source="x", loader=lambda: None))
    register(42)
    register(metric("evil_after"))
"""})
    registry = Registry()
    assert "evil_after" in registry.metrics and "evil_text" not in registry.metrics
    named = only(registry.problems, plugin="evil", item="evil_text")
    assert named.kind == "metrics"
    assert "registered a TextEmbeddingMeta through register_metrics; expected MetricMeta" in named.error
    assert "registered a int" in only(registry.problems, plugin="evil", item=None).error
    assert "TextEmbeddingMeta" in registry.problem("metrics", "evil_text")


def test_one_name_from_two_distributions_skips_both_and_names_both(site):
    source = GOOD_METRIC + """
@hookimpl
def register_metrics(register):
    register(metric("twin_metric"))
    register(metric("{own}"))
"""
    site.install("twin-a", "1.0", {"twin": source.format(own="only_a")})
    site.install("twin-b", "3.1", {"other": source.format(own="only_b")})
    registry = Registry()
    assert "twin_metric" not in registry.metrics
    assert "only_a" in registry.metrics and "only_b" in registry.metrics and "two_vs_two" in registry.metrics
    message = registry.problem("metrics", "twin_metric")
    for name in ("plugin 'twin' (twin-a 1.0)", "plugin 'other' (twin-b 3.1)", "both are skipped"):
        assert name in message
    assert {(p.plugin, p.distribution) for p in registry.problems} == {("twin", "twin-a"), ("other", "twin-b")}


def test_a_plugin_claiming_a_builtin_name_skips_the_builtin_too(site):
    site.install("evil-plugin", "2.0", {"evil": VISION + """
from benchsuite.contract.hookspecs import hookimpl


@hookimpl
def register_vision_models(register):
    register(vision("pixels"))
"""})
    registry = Registry()
    assert "pixels" not in registry.vision
    assert "plugin 'pixels' (benchsuite" in registry.problem("vision", "pixels")
    assert "plugin 'evil' (evil-plugin 2.0)" in registry.problem("vision", "pixels")


def test_one_entry_point_name_from_two_distributions_loads_neither(site):
    site.install("twin-a", "1.0", {"twin": GOOD_METRIC})
    site.install("twin-b", "2.0", {"twin": GOOD_METRIC})
    registry = Registry()
    assert "twin" not in registry.plugin_hooks()
    problems = [p for p in registry.problems if p.plugin == "twin"]
    assert {p.distribution for p in problems} == {"twin-a", "twin-b"}
    assert all("twin-a 1.0 and twin-b 2.0" in p.error or "twin-b 2.0 and twin-a 1.0" in p.error for p in problems)


def test_plugins_and_list_show_broken_entries_without_a_traceback(site):
    site.install("evil-plugin", "2.0", {"evil": "raise RuntimeError('boom at import')\n"})
    site.install("good-plugin", "1.0", {"good": GOOD_METRIC + VISION + """
@hookimpl
def register_vision_models(register):
    register(vision("good_bad", layers=()))
"""})
    runner = CliRunner()
    shown = runner.invoke(app, ["plugins"])
    assert shown.exit_code == 0, shown.output
    assert "Traceback" not in shown.output
    assert "evil-plugin 2.0" in shown.output and "RuntimeError: boom at import" in shown.output
    assert "a vision model must expose at least one layer" in shown.output
    listed = runner.invoke(app, ["list", "vision"])
    assert listed.exit_code == 0, listed.output
    assert "Traceback" not in listed.output and "pixels" in listed.output
    assert "good_bad" in listed.output and "BROKEN: " in listed.output
    assert "RuntimeError: boom at import" in listed.output


def test_run_records_a_broken_item_as_failed_and_an_absent_one_as_skipped(site, tmp_path):
    from benchsuite.extraction.cache import ArrayCache
    from benchsuite.inputs.suites import Design, Suite
    from benchsuite.run.items import Items
    from benchsuite.run.options import RunOptions

    site.install("good-plugin", "1.0", {"good": GOOD_METRIC + VISION + """
@hookimpl
def register_vision_models(register):
    register(vision("good_bad", layers=("x", "x")))
"""})
    suite = Suite(name="s", vision=["pixels", "good_bad", "not_installed"], text=[], images="pypi_photos",
                  concepts="imagenet1k", metrics=["two_vs_two"], designs=[Design(name="d")])
    run = Items(Registry(), suite, RunOptions(out=tmp_path / "out", cache=ArrayCache(tmp_path / "cache")))
    assert run.selected("vision", suite.vision, None) == ["pixels"]
    failed, skipped = run.problems
    assert (failed.name, failed.status) == ("good_bad", "failed")
    assert "layer names must be unique" in failed.error and "good-plugin 1.0" in failed.error
    assert (skipped.name, skipped.status) == ("not_installed", "skipped")
    assert "no installed plugin registers vision 'not_installed'" in skipped.error


def test_run_seed_reaches_vision_loaders_that_take_it_and_device_only_where_accepted(tmp_path):
    from benchsuite.contract.hookspecs import hookimpl
    from benchsuite.contract.manager import make_plugin_manager
    from benchsuite.contract.schemas import VisionModelMeta
    from benchsuite.extraction.cache import ArrayCache
    from benchsuite.inputs.suites import Design, Suite
    from benchsuite.run.items import Items
    from benchsuite.run.options import RunOptions

    def meta(name, loader):
        return VisionModelMeta(name=name, framework="numpy", input_size=1, preprocessing="none",
                               weights_source="none", layers=("a",), loader=loader)

    class Plugin:
        @hookimpl
        def register_vision_models(self, register):
            register(meta("seeded", lambda seed=0, device="cpu": ("seeded", seed, device)))
            register(meta("bare", lambda: "bare"))
            register(meta("anything", lambda **options: options))

    pm = make_plugin_manager(load_entry_points=False)
    pm.register(Plugin(), name="loaders")
    suite = Suite(name="s", vision=["seeded", "bare", "anything"], text=[], images="x", concepts="y",
                  metrics=["m"], designs=[Design(name="d")], seed=3, options={"anything": {"k": 1}})

    def run(seed=None, overrides=None):
        options = RunOptions(out=tmp_path, cache=ArrayCache(tmp_path / "cache"), seed=seed, overrides=overrides or {})
        return Items(Registry(pm), suite, options)

    assert run().guarded_load("vision", "seeded", device="cuda") == ("seeded", 3, "cuda")
    assert run(seed=11).guarded_load("vision", "seeded", device="cpu") == ("seeded", 11, "cpu")
    assert run(seed=11, overrides={"seeded": {"seed": 5}}).guarded_load("vision", "seeded") == ("seeded", 5, "cpu")
    assert run().guarded_load("vision", "bare", device="cuda") == "bare"
    assert run().guarded_load("vision", "anything", device="cuda") == {"k": 1, "device": "cuda"}


def test_run_refuses_an_unknown_metric_before_any_work(tmp_path):
    from benchsuite.contract.errors import BenchsuiteError
    from benchsuite.extraction.cache import ArrayCache
    from benchsuite.inputs.suites import Design, Suite
    from benchsuite.run.options import RunOptions
    from benchsuite.run.suite_run import run_suite

    suite = Suite(name="s", vision=["pixels"], text=["glove_6b_50d"], images="pypi_photos", concepts="imagenet1k",
                  metrics=["two_vs_two", "rsaa"], designs=[Design(name="d")])
    out = tmp_path / "out"
    with pytest.raises(BenchsuiteError, match="metric 'rsaa' of suite 's'.*registered metrics: .*two_vs_two"):
        run_suite(Registry(), suite, RunOptions(out=out, cache=ArrayCache(tmp_path / "cache")))
    assert not out.exists()


def test_cli_refuses_an_option_the_loader_does_not_take(tmp_path):
    result = CliRunner().invoke(app, ["run", "--vision", "pixels", "--set", "pixels.wieghts=x", "--quiet",
                                      "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"),
                                      "--leaderboard", str(tmp_path / "board")])
    assert result.exit_code == 2, result.output
    assert "pixels.wieghts" in result.output and "accepts: device, seed, weights" in result.output
    assert "Traceback" not in result.output
