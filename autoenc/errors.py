"""The one error type of bad input, at the bottom of the package so every layer can raise it.

Every error that means "the input is wrong, here is what to do" (a study file, an argument,
a damaged or crafted model, codec, history, metrics or per-image file, a bitstream, a store
path of the wrong kind, a data folder) derives from :class:`InputError`. The command line
prints such an error as one line and exits with status 2; a library user catches one type.
Each subclass also derives from the built-in type callers caught before (``ValueError``,
``FileNotFoundError``), so existing ``except`` clauses keep working.
"""

from __future__ import annotations

__all__ = ["FileFormatError", "InputError"]


class InputError(Exception):
    """Bad input: the message names the file or setting, the problem, and what to do."""


class FileFormatError(InputError, ValueError):
    """A file exists but cannot be trusted: truncated, damaged, crafted, of the wrong kind,
    or larger than the memory budget for reading it."""
