"""The reference tables of docs/plugins.md, generated from the plugin API itself so that they cannot drift.

``python -m benchsuite.kit.plugin_docs`` rewrites every block between
``<!-- api:NAME:start -->`` and ``<!-- api:NAME:end -->`` in docs/plugins.md;
``--check`` only reports blocks that are out of date (exit status 1).
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
import textwrap
import typing
from collections.abc import Callable
from functools import partial
from pathlib import Path

from pydantic import BaseModel

from benchsuite import plugin
from benchsuite.contract import hookspecs
from benchsuite.contract.manager import KINDS, SOURCE_HOOK

DOCS_PATH = Path("docs") / "plugins.md"
"""The plugin guide, relative to the folder the tool runs in (a checkout's root): an installed benchsuite has no
docs folder, so ``main`` is a maintainer's tool, given paths or run from the checkout."""
BLOCK = re.compile(r"(<!-- api:(?P<name>[A-Za-z_]+):start -->\n)(?P<body>.*?)(<!-- api:(?P=name):end -->)", re.S)
BASE_FIELDS = frozenset(plugin.PluginItemMeta.model_fields)


def type_name(annotation: object) -> str:
    """A field's type as a reader writes it: ``int | None``, ``"word" | "phrase"``, ``tuple[str, ...]``."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " | ".join(f'"{value}"' for value in typing.get_args(annotation))
    if isinstance(annotation, type) and origin is None:
        return f"numpy.{annotation.__name__}" if annotation.__module__.startswith("numpy") else annotation.__name__
    text = str(annotation)
    return re.sub(r"\b(typing|collections\.abc)\.", "", text).replace("NoneType", "None")


def field_table(model: type[BaseModel], skip: frozenset[str] = frozenset()) -> str:
    """Markdown table of a model's fields (type, default, description); a field without a description is an error."""
    rows = ["| field | type | default | description |", "|---|---|---|---|"]
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        if not info.description:
            raise ValueError(
                f"field {model.__name__}.{name} has no description; add Field(description=...) in "
                "benchsuite/contract/schemas.py"
            )
        default = "required" if info.is_required() else f"`{info.default!r}`"
        cell = info.description.replace("|", "\\|")
        kind = type_name(info.annotation).replace("|", "\\|")
        rows.append(f"| `{name}` | `{kind}` | {default} | {cell} |")
    return "\n".join(rows) + "\n"


def attribute_docs(cls: type) -> dict[str, str]:
    """Docstrings written under annotated class attributes (``x: int`` then ``\"\"\"...\"\"\"``), by attribute name."""
    definition = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0]
    if not isinstance(definition, ast.ClassDef):
        raise TypeError(f"{cls!r}'s source is not a class statement")
    body = definition.body
    docs = {}
    for node, following in zip(body, body[1:], strict=False):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)):
            docs[node.target.id] = " ".join(str(following.value.value).split())
    return docs


def protocol_table(protocol: type) -> str:
    """Markdown table of every attribute and method a loaded item offers, with what each must do."""
    rows = ["| member | what the runner expects |", "|---|---|"]
    attributes = attribute_docs(protocol)
    for name in typing.get_type_hints(protocol):
        if name not in attributes:
            raise ValueError(f"attribute {protocol.__name__}.{name} has no docstring in benchsuite/contract/schemas.py")
        rows.append(f"| `{name}` | {attributes[name]} |")
    for name, member in vars(protocol).items():
        if not inspect.isfunction(member) or (name.startswith("_") and name != "__call__"):
            continue
        doc = " ".join((inspect.getdoc(member) or "").split())
        if not doc:
            raise ValueError(f"method {protocol.__name__}.{name} has no docstring in benchsuite/contract/schemas.py")
        parameters = list(inspect.signature(member).parameters)[1:]
        rows.append(f"| `{name}({', '.join(parameters)})` | {doc} |")
    return "\n".join(rows) + "\n"


PROTOCOLS = (plugin.VisionModel, plugin.TextEmbedding, plugin.ImageSource, plugin.ConceptSet, plugin.Metric)


LOADED = dict(zip(KINDS, PROTOCOLS, strict=True))
"""Each kind's protocol: what its ``loader`` returns."""


def hook_doc(hook: str) -> str:
    """The docstring of hook spec ``hook``, on one line."""
    doc = inspect.getdoc(getattr(hookspecs, hook))
    if not doc:
        raise ValueError(f"hook {hook} has no docstring in benchsuite/contract/hookspecs.py")
    return " ".join(doc.split())


def hook_table() -> str:
    """Markdown table: each hook, the record it registers, and the protocol its loader's result satisfies."""
    rows = ["| hook | registers | its loader returns a | the hook |", "|---|---|---|---|"]
    for kind, (hook, meta) in KINDS.items():
        doc = hook_doc(hook)
        rows.append(f"| `{hook}(register)` | `{meta.__name__}` | `{LOADED[kind].__name__}` | {doc} |")
    hook, meta = SOURCE_HOOK
    doc = hook_doc(hook)
    rows.append(f"| `{hook}(register)` | `{meta.__name__}` | `VisionModelMeta` or `TextEmbeddingMeta` (resolved "
                f"from `PREFIX:NAME`) | {doc} |")
    return "\n".join(rows) + "\n"


GENERATORS: dict[str, Callable[[], str]] = {
    "PluginItemMeta": lambda: field_table(plugin.PluginItemMeta),
    **{
        meta.__name__: partial(field_table, meta, skip=BASE_FIELDS)
        for meta in (plugin.VisionModelMeta, plugin.TextEmbeddingMeta, plugin.MetricMeta, plugin.ModelSourceMeta)
    },
    **{model.__name__: partial(field_table, model)
       for model in (plugin.Concept, plugin.ImageRecord, plugin.ConceptVector)},
    **{protocol.__name__: partial(protocol_table, protocol) for protocol in PROTOCOLS},
    "hooks": hook_table,
}
"""Block name in docs/plugins.md -> the text it must hold."""


def render(text: str) -> str:
    """``text`` with every generated block rewritten; an unknown block name is an error."""

    def fill(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in GENERATORS:
            raise ValueError(f"docs block {name!r} has no generator; use one of {', '.join(GENERATORS)}")
        return f"{match.group(1)}{GENERATORS[name]()}{match.group(4)}"

    return BLOCK.sub(fill, text)


def stale_blocks(text: str) -> list[str]:
    """Names of the generated blocks whose text differs from what the code says."""
    return [m["name"] for m in BLOCK.finditer(text) if m["body"] != GENERATORS[m["name"]]()]


def missing_blocks(text: str) -> list[str]:
    """Generators with no block in ``text``: every model and protocol must be documented."""
    present = {m["name"] for m in BLOCK.finditer(text)}
    return [name for name in GENERATORS if name not in present]


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [Path(a) for a in argv if not a.startswith("--")] or [DOCS_PATH]
    status = 0
    for path in paths:
        text = path.read_text()
        problems = stale_blocks(text) + [f"{name} (no block)" for name in missing_blocks(text)]
        if check:
            if problems:
                print(f"{path}: out of date: {', '.join(problems)}; run `python -m benchsuite.kit.plugin_docs {path}`")
                status = 1
        elif render(text) != text:
            path.write_text(render(text))
            print(f"{path}: regenerated {', '.join(stale_blocks(text))}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
