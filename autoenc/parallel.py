"""Helpers shared by the places that run joblib/loky workers (the report's stages; not the sweep's
generator, where a save-and-restore of the warning filters would span its yields)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

#: start of loky's warning when it recycles a worker (joblib <= 1.5 words it as a possible leak)
LOKY_RECYCLING_WARNING = "A worker stopped while some jobs were given to the executor"


@contextmanager
def quiet_worker_recycling() -> Iterator[None]:
    """Silence loky's "A worker stopped while some jobs were given to the executor" warning.

    loky replaces a worker whose memory grew by more than 300 MB since its first job (pages of
    memory-mapped images count) and hands the queued jobs to the replacement, so no result is
    lost; a worker that dies raises ``TerminatedWorkerError`` instead. The warning's "memory leak"
    wording only alarms users (joblib/loky#641 gives the recycling its own message). The filter is
    process-wide while the block runs, as it must be: loky warns from its manager thread.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=LOKY_RECYCLING_WARNING, category=UserWarning)
        yield
