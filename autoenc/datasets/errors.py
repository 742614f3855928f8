"""Exceptions raised by :mod:`autoenc.datasets`."""

from __future__ import annotations


class DatasetNotFoundError(FileNotFoundError):
    """No usable source holds the requested data set.

    The message lists every place that was looked at and how to get the data.
    """


class DatasetFormatError(ValueError):
    """A data file exists but is truncated, corrupt, mislabelled or of the wrong shape.

    The message names the file and the problem.
    """
