"""The study engine: spec -> grid -> runs -> store (see ``python -m autoenc.study --help``)."""

from .grid import RunConfig, expand
from .spec import SpecError, StudySpec, list_studies, load_spec
from .store import Run, RunStore, StudyResults

__all__ = ["Run", "RunConfig", "RunStore", "SpecError", "StudyResults", "StudySpec", "expand", "list_studies",
           "load_spec", "open_study"]


def open_study(study: str, out: str = "runs", preset: str | None = None) -> StudyResults:
    """Results of a study's grid from its store, for notebooks and scripts.

    Parameters
    ----------
    study : a study name in the studies folder, or a ``.toml`` path.
    out : the run store root (the CLI's ``--out``).
    preset : the preset whose grid to read (default: the full study).

    Returns
    -------
    StudyResults
        Done, failed and missing runs; ``.to_frame()`` gives one row per done run (grid values
        and metrics), e.g. ``open_study("fashion_ae").to_frame()``.
    """
    from pathlib import Path

    spec = load_spec(study, preset)
    return RunStore(Path(out) / spec.name).results(expand(spec))
