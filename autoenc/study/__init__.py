"""The study engine: spec -> grid -> runs -> store (see ``python -m autoenc.study --help``)."""

from .grid import RunConfig, expand
from .spec import SpecError, StudySpec, list_studies, load_spec
from .store import Run, RunStore, StudyResults

__all__ = ["Run", "RunConfig", "RunStore", "SpecError", "StudyResults", "StudySpec", "expand", "list_studies",
           "load_spec"]


def open_study(study: str, out: str = "runs", preset: str | None = None) -> StudyResults:
    """Results of a study's grid from its store: ``open_study("fashion_ae").to_frame()``."""
    from pathlib import Path

    spec = load_spec(study, preset)
    return RunStore(Path(out) / spec.name).results(expand(spec))
