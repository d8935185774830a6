"""The plugin API is one public module; built-in and example plugins import nothing else from benchsuite."""

import ast
import inspect
import re
import tomllib
from pathlib import Path

import pytest
from import_checks import loaded_after
from packaging.specifiers import SpecifierSet
from packaging.version import Version

import benchsuite
from benchsuite import plugin
from benchsuite.kit import plugin_docs

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_FILES = sorted([*ROOT.glob("plugins/benchsuite_builtins/**/*.py"), *ROOT.glob("docs/example_plugin/*/*.py")])
EXAMPLE_PYPROJECT = ROOT / "docs" / "example_plugin" / "pyproject.toml"
PLUGINS_GUIDE = ROOT / plugin_docs.DOCS_PATH


def foreign_imports(source: str) -> list[str]:
    """Every ``benchsuite`` module other than ``benchsuite.plugin`` that the source imports, anywhere in it."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
            if node.module == "benchsuite":
                modules = [f"benchsuite.{alias.name}" for alias in node.names]
        else:
            continue
        found += [m for m in modules if (m == "benchsuite" or m.startswith("benchsuite.")) and m != "benchsuite.plugin"]
    return found


def test_foreign_imports_are_found_at_any_depth():
    source = (
        "from benchsuite.plugin import hookimpl\n"
        "import benchsuite.extraction.cache\n"
        "def load():\n    from benchsuite.contract.schemas import Concept\n"
        "    from benchsuite.run.suite_run import run_suite\n"
    )
    assert foreign_imports(source) == ["benchsuite.extraction.cache", "benchsuite.contract.schemas",
                                       "benchsuite.run.suite_run"]


def test_there_are_plugin_files_to_check():
    assert len(PLUGIN_FILES) >= 15
    assert any(path.parts[-3] == "example_plugin" for path in PLUGIN_FILES)


@pytest.mark.parametrize("path", PLUGIN_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_plugins_import_only_the_public_module(path):
    assert foreign_imports(path.read_text()) == [], f"{path.relative_to(ROOT)}: import these from benchsuite.plugin"


def test_all_names_exist_once_and_are_documented():
    assert len(plugin.__all__) == len(set(plugin.__all__))
    for name in plugin.__all__:
        value = getattr(plugin, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), f"benchsuite.plugin.{name} has no docstring"


def test_public_module_offers_what_plugins_need():
    expected = {"hookimpl", "VisionModelMeta", "TextEmbeddingMeta", "ImageSourceMeta", "ConceptSetMeta", "MetricMeta",
                "VisionModel", "TextEmbedding", "ImageSource", "ConceptSet", "Metric", "Concept", "ConceptVector",
                "ImageRecord", "ResourceMissing", "ImageUnreadable", "BenchsuiteError", "API_VERSION"}
    assert expected <= set(plugin.__all__)


def test_api_version_is_major_minor():
    assert re.fullmatch(r"[1-9]\d*\.\d+", plugin.API_VERSION)


def test_example_plugin_declares_a_compatible_benchsuite_range():
    dependencies = tomllib.loads(EXAMPLE_PYPROJECT.read_text())["project"]["dependencies"]
    declared = [d for d in dependencies if re.match(r"benchsuite\b", d) and not d.startswith("benchsuite-")]
    assert len(declared) == 1, f"{EXAMPLE_PYPROJECT}: declare one benchsuite requirement with a version range"
    specifier = SpecifierSet(declared[0].removeprefix("benchsuite").strip())
    installed = Version(benchsuite.__version__)
    assert installed in specifier
    assert Version(f"{installed.major + 1}.0") not in specifier, "the range must stop before the next major"


def test_importing_the_public_module_loads_no_framework():
    assert loaded_after("import benchsuite.plugin") == []


def test_plugin_guide_tables_match_the_code():
    text = PLUGINS_GUIDE.read_text()
    assert plugin_docs.missing_blocks(text) == []
    assert plugin_docs.stale_blocks(text) == [], "run `python -m benchsuite.kit.plugin_docs` and commit docs/plugins.md"


def test_a_changed_description_makes_the_guide_stale(monkeypatch):
    text = PLUGINS_GUIDE.read_text()
    field = plugin.VisionModelMeta.model_fields["predicts_imagenet"]
    monkeypatch.setattr(field, "description", "something else")
    assert plugin_docs.stale_blocks(text) == ["VisionModelMeta"]
    assert plugin_docs.main(["--check", str(PLUGINS_GUIDE)]) == 1


def test_an_undocumented_field_is_refused():
    class Undocumented(plugin.PluginItemMeta):
        colour: str = "red"

    with pytest.raises(ValueError, match=r"field Undocumented.colour has no description; add Field\(description=...\)"):
        plugin_docs.field_table(Undocumented)


def test_every_metadata_field_is_in_the_guide():
    text = PLUGINS_GUIDE.read_text()
    for model in (plugin.VisionModelMeta, plugin.TextEmbeddingMeta, plugin.MetricMeta, plugin.Concept,
                  plugin.ImageRecord, plugin.ConceptVector):
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name}"
            assert f"| `{name}` |" in text, f"{model.__name__}.{name} is missing from docs/plugins.md"


def test_every_protocol_member_is_in_the_guide():
    text = PLUGINS_GUIDE.read_text()
    for member in ("`layers`", "`weights_hash`", "`preprocess(images)`", "`forward(batch, layers, on_layer)`",
                   "`embed(concepts)`", "`fingerprint`", "`images()`", "`read(record)`", "`concepts()`",
                   "`__call__(a, b)`"):
        assert f"| {member} |" in text


def test_the_slow_tier_is_marked_in_the_slow_files_themselves_with_a_reason():
    """``tox -e fast`` leaves out what is marked ``slow``; each slow file (or test) says so and why, in place."""
    marked = {}
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        for line in path.read_text().splitlines():
            if re.match(r"(pytestmark = .*pytest\.mark\.slow|@pytest\.mark\.slow)", line):
                marked[path.relative_to(ROOT / "tests").as_posix()] = line
    assert {"run/test_runner.py", "run/test_paper_suite.py", "builtins/test_vision_torch.py"} <= set(marked)
    assert all("  # " in line for line in marked.values()), marked
    assert "slow" not in (ROOT / "tests" / "conftest.py").read_text()


def shell_commands(markdown: str) -> list[str]:
    """The commands of every bash block, continuation lines joined."""
    blocks = re.findall(r"```bash\n(.*?)```", markdown, flags=re.S)
    return [line.split("#")[0].strip() for block in blocks for line in block.replace("\\\n", " ").splitlines()]


def test_guide_commands_write_nothing_into_the_checkout():
    commands = shell_commands(PLUGINS_GUIDE.read_text())
    runs = [c for c in commands if re.search(r"benchsuite\"? run\b", c)]
    installs = [c for c in commands if re.search(r"pip\"? install\b", c)]
    assert runs and installs
    for command in runs:
        assert '--out "$work/' in command and '--leaderboard "$work/' in command, command
    for command in installs:
        assert " -e " not in command and command.endswith('"$work/example_plugin"'), command
    assert not any(".venv/bin" in c and "$BENCHSUITE" not in c for c in commands), "use paths that work from anywhere"


def test_shell_commands_are_read_from_bash_blocks():
    text = "```bash\nbenchsuite run --vision x \\\n    --out o  # note\npip install y\n```\n"
    assert shell_commands(text) == ["benchsuite run --vision x      --out o", "pip install y"]
