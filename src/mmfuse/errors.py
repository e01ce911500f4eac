"""One exception family for mmfuse.

Every error a user can cause (a missing file, a corrupt image, mismatched sizes, a bad option)
is raised as :class:`InputError` or a subclass, with a one-line message that names the file or
value and the problem. The CLI turns these into ``error: <message>`` on stderr and exit code 2;
anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

__all__ = ["MMFuseError", "InputError", "ImageReadError", "ShapeError", "ConfigError", "OutputExistsError"]


class MMFuseError(Exception):
    """Base class of all errors raised on purpose by mmfuse."""


class InputError(MMFuseError, ValueError):
    """Bad user input: a file, a folder, an image or an option that cannot be used."""


class ImageReadError(InputError):
    """An image file is missing, unreadable, truncated, empty or not an image."""


class ShapeError(InputError):
    """Arrays or tensors whose shape, channel count or size does not fit the operation."""


class ConfigError(InputError):
    """A configuration file or key that is unknown, misspelled or of the wrong type."""


class OutputExistsError(InputError):
    """An output file already exists and ``overwrite`` was not requested."""
