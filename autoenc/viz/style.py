"""Shared look of every figure: one class palette, pyplot-free figures, atomic PNG writing.

Figures are built as ``matplotlib.figure.Figure`` objects without pyplot, so nothing is
kept in a global figure registry and nothing can pop up a window; callers save them with
:func:`save_figure` (or display them in a notebook as they are).
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

import matplotlib

# No backend switch here: figures are pyplot-free ``Figure`` objects that render to files with
# the backend of their format, so importing autoenc.viz never changes a user's notebook backend.
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

__all__ = [
    "CLASS_PALETTE",
    "DEFAULT_DPI",
    "class_colors",
    "class_cmap",
    "new_figure",
    "save_figure",
]

# seaborn's "tab10" palette is matplotlib's tab10 (Tableau 10); taken from matplotlib so
# seaborn is not needed to draw. Class i always gets CLASS_PALETTE[i].
CLASS_PALETTE: tuple[tuple[float, float, float], ...] = tuple(
    tuple(float(c) for c in rgb[:3]) for rgb in matplotlib.colormaps["tab10"].colors
)
DEFAULT_DPI = 120


def class_colors(labels: Sequence[int]) -> list[tuple[float, float, float]]:
    """Palette colour of each integer class label (labels >= 10 wrap around)."""
    return [CLASS_PALETTE[int(c) % len(CLASS_PALETTE)] for c in labels]


def class_cmap(n_classes: int = 10) -> ListedColormap:
    """Discrete colormap with the first ``n_classes`` palette colours."""
    return ListedColormap([CLASS_PALETTE[i % len(CLASS_PALETTE)] for i in range(n_classes)])


def new_figure(width: float, height: float) -> Figure:
    """A pyplot-free figure of ``width`` x ``height`` inches, constrained layout."""
    return Figure(figsize=(width, height), layout="constrained")


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: int = DEFAULT_DPI) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically, then close it.

    The PNG goes to a temporary file in the target directory and is moved into place with
    ``os.replace``, so readers never see a half-written image. Parent directories are
    created.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        Figure to write.
    path : path-like
        Destination (``.png``).
    dpi : int
        Resolution.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # a unique name opened with "x" (not mkstemp, which forces mode 0600): the PNG gets the
    # usual umask permissions, so a report directory can be served or shared as is
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as fh:
            fig.savefig(fh, format="png", dpi=dpi)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        if "matplotlib.pyplot" in sys.modules:  # figure may have been made with pyplot
            sys.modules["matplotlib.pyplot"].close(fig)
    return path
