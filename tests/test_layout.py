"""The test tree: each test file passes run alone, so none imports another; what tests share is in helper modules
at ``tests/`` top (on ``sys.path`` through pytest's ``pythonpath``) or in a ``conftest.py``."""

from __future__ import annotations

import ast
import collections
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
TEST_FILES = sorted(TESTS.rglob("test_*.py"))


def imported_modules(path: Path) -> list[str]:
    """Every module ``path`` imports, those inside functions included."""
    modules = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.append(node.module)
    return modules


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda path: str(path.relative_to(TESTS)))
def test_no_test_file_imports_another_or_goes_through_the_tests_package(path):
    wrong = [module for module in imported_modules(path)
             if module.split(".")[0] == "tests"
             or (module.split(".")[0].startswith("test_") and module.split(".")[0] != path.stem)]
    assert wrong == [], f"move what {path.name} shares into a helper module at tests/ top or a conftest.py"


def test_test_file_names_are_unique_and_folders_are_not_packages():
    # pytest imports each test file by its basename (no __init__.py): two files of one name would clash
    names = collections.Counter(path.name for path in TEST_FILES)
    assert [name for name, count in names.items() if count > 1] == []
    assert [str(path.relative_to(TESTS)) for path in TESTS.rglob("__init__.py")] == []


def test_helper_modules_are_not_collected_as_tests():
    helpers = [path.name for path in TESTS.glob("*.py") if not path.name.startswith("test_")]
    assert "conftest.py" in helpers and "metric_fixtures.py" in helpers
    for name in helpers:
        tests = [node.name for node in ast.parse((TESTS / name).read_text(encoding="utf-8")).body
                 if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")]
        assert tests == [], f"{name} holds tests that would never run: {tests}"
