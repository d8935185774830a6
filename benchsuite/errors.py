"""Errors the runner treats specially: each message names the fix."""


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
