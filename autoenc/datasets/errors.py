"""Exceptions raised by :mod:`autoenc.datasets`."""

from __future__ import annotations

from ..errors import InputError


class DatasetNotFoundError(InputError, FileNotFoundError):
    """No usable source holds the requested data set.

    The message lists every place that was looked at and how to get the data.
    """


class DatasetFormatError(InputError, ValueError):
    """A data file exists but is truncated, corrupt, mislabelled or of the wrong shape.

    The message names the file and the problem.
    """
