"""loky's worker-recycling warning is silenced where autoenc runs workers, nothing else is."""

import threading
import warnings

from autoenc.parallel import LOKY_RECYCLING_WARNING, quiet_worker_recycling

LOKY_TEXT = (f"{LOKY_RECYCLING_WARNING}. This can be caused by a too short worker timeout or by a "
             "memory leak.")


def _warn_from_thread(message: str) -> None:
    # loky warns from its executor's manager thread, not the caller's
    t = threading.Thread(target=warnings.warn, args=(message, UserWarning))
    t.start()
    t.join()


def test_recycling_warning_silenced_inside_only():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with quiet_worker_recycling():
            _warn_from_thread(LOKY_TEXT)
            _warn_from_thread("another warning")
        _warn_from_thread(LOKY_TEXT)
    assert [str(w.message) for w in seen] == ["another warning", LOKY_TEXT]
