"""Errors the runner treats specially (each message names the fix), and the one-line form every message takes."""

from __future__ import annotations

from pydantic import ValidationError


class BenchsuiteError(Exception):
    """Base class for the suite's own errors."""


class ResourceMissing(BenchsuiteError):
    """A plugin's resources (weights, vector files, images) are absent.

    The runner skips the plugin and prints the message, which must say exactly
    which file to provide and where to put it.
    """


class PluginConflict(BenchsuiteError):
    """Two plugins registered the same name."""


class UnknownPlugin(BenchsuiteError, KeyError):
    """A name that no loaded plugin registered."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown plugin"


class ImageUnreadable(BenchsuiteError):
    """An image file that cannot be decoded; the runner skips and lists it."""


class PluginDataError(BenchsuiteError):
    """A plugin returned data that breaks its contract (NaN or ragged vectors, changing coverage).

    The runner fails that item alone, with the message naming the item and what was wrong.
    """


def one_line(text: str) -> str:
    """A message on one line (tables and logs stay intact): whitespace runs become one space."""
    return " ".join(str(text).split())


def describe_error(error: BaseException) -> str:
    """One line: a pydantic error as ``invalid Model: field: message; ...``, anything else as ``Type: message``."""
    if isinstance(error, ValidationError):
        fields = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(record)'}: {e['msg']}" for e in error.errors())
        return one_line(f"invalid {error.title}: {fields}")
    return one_line(f"{type(error).__name__}: {error}")
