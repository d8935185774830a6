"""What names a vision source's item: the form of its ``PREFIX:NAME`` (checked before the library is asked about
the name), and the version its record carries (the source's and its library's)."""

from __future__ import annotations

import importlib.metadata
import re

from benchsuite.plugin import BenchsuiteError


class SourceNameError(BenchsuiteError, ValueError):
    """A ``PREFIX:NAME`` whose NAME cannot be one of the source's (a path, a space, an empty part)."""


def checked_name(prefix: str, rest: str, pattern: str, form: str, example: str) -> str:
    """``rest`` when the whole of it matches ``pattern``; else a ``SourceNameError`` naming it and the form."""
    if not re.fullmatch(pattern, rest):
        raise SourceNameError(f"{prefix}:{rest} is not a {prefix} model name; write {prefix}:{form} "
                              f"(e.g. {prefix}:{example}; `benchsuite list vision --source {prefix}` lists them)")
    return rest


def item_version(source_version: str, library: str) -> str:
    """``SOURCE+LIBRARY==VERSION``: the library's code builds the network and its transforms (timm's
    ``pretrained_cfg``, torchvision's weights enums, transformers' models), so its version changes the numbers and
    joins every cache key through the record's ``version``."""
    try:
        installed = importlib.metadata.version(library)
    except importlib.metadata.PackageNotFoundError:
        installed = "absent"
    return f"{source_version}+{library}=={installed}"
