"""Executing a sweep: every pending run once, on joblib/loky (default) or dask.distributed.

Workers get the store path and the run config (plain dicts), never arrays; they load data
themselves (cached per worker). Each run uses a fixed number of BLAS threads
(``threads_per_run``, default 1) so that a run's numbers do not depend on how many
workers run beside it: ``--jobs 1`` and ``--jobs 2`` give bit-identical results.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
import time
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..fileio import atomic_write_json
from .grid import RunConfig
from .store import RunStore


@dataclass
class RunOutcome:
    run_id: str
    status: str  # done | failed | skipped | busy
    wall_seconds: float = 0.0
    error: str = ""
    params: dict[str, Any] = field(default_factory=dict)


def versions() -> dict[str, str]:
    import numpy

    from .. import __version__

    return {"autoenc": __version__, "numpy": numpy.__version__, "python": platform.python_version()}


def execute_run(store_root: str, config_dict: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """Train one run (in a worker). Returns a plain dict (see ``RunOutcome``); never raises
    for a failing run: the traceback goes to the run's ``FAILED`` file."""
    from threadpoolctl import threadpool_limits

    from .registry import task
    from .tasks import RunContext, get_task

    if options.get("data_dir"):
        os.environ["AUTOENC_DATA_DIR"] = options["data_dir"]
    if options.get("data_dir_only"):  # --data-dir: that folder and nothing else (datasets.locate)
        os.environ["AUTOENC_DATA_DIR_ONLY"] = options["data_dir_only"]
    config = RunConfig.from_dict(config_dict)
    store = RunStore(store_root)
    run_id = config.run_id
    with store.lock(run_id, blocking=bool(options.get("wait_for_lock"))) as acquired:
        if not acquired:
            return {"run_id": run_id, "status": "busy"}
        status = store.status(run_id)
        force_since = options.get("force_since")
        # --force: a run done before this forced sweep started is retrained beside the old one
        redo = force_since is not None and status == "done" and store.done_time(run_id) < force_since
        retry = options.get("retry_failed") or force_since is not None
        if not redo and (status == "done" or (status == "failed" and not retry)):
            return {"run_id": run_id, "status": "skipped" if status == "done" else "failed", "error": "earlier failure"}
        run_dir = store.prepare(config, staging=redo)
        label = " ".join(f"{k}={v}" for k, v in config.params.items())
        ctx = RunContext(run_dir, verbose=int(options.get("verbose", 0)), label=label)
        start = time.perf_counter()
        try:
            with threadpool_limits(int(options.get("threads_per_run", 1))):
                metrics = get_task(config.task)(config, ctx)
            # the store is the hand-off to the analysis: every file the task declares must be there
            missing = [f for f in task(config.task).files if not (run_dir / f).is_file()]
            if missing:
                raise RuntimeError(f"task {config.task!r} finished without writing {', '.join(missing)} "
                                   "(declared in autoenc.study.registry); the run is marked failed")
            wall = time.perf_counter() - start
            metrics.update(
                wall_seconds=wall,
                threads_per_run=int(options.get("threads_per_run", 1)),
                versions=versions(),
                host=platform.node(),
            )
            atomic_write_json(run_dir / "metrics.json", metrics)
            store.mark_done(run_id, run_dir)
            if redo:
                store.promote(run_id)
            return {"run_id": run_id, "status": "done", "wall_seconds": wall}
        except Exception as e:  # a failing run must not stop the sweep
            text = "".join(traceback.format_exception(e))
            store.mark_failed(run_id, text, run_dir)
            return {"run_id": run_id, "status": "failed", "error": f"{type(e).__name__}: {e}",
                    "wall_seconds": time.perf_counter() - start}


def _joblib_results(tasks: list[tuple[str, dict, dict]], jobs: int) -> Iterator[dict[str, Any]]:
    from joblib import Parallel, delayed

    if jobs == 1:  # in-process: simplest to debug and to interrupt
        for t in tasks:
            yield execute_run(*t)
        return
    # inner_max_num_threads caps BLAS in loky workers before numpy loads
    from joblib import parallel_config

    with parallel_config(backend="loky", inner_max_num_threads=int(tasks[0][2].get("threads_per_run", 1))):
        yield from Parallel(n_jobs=jobs, return_as="generator_unordered")(delayed(execute_run)(*t) for t in tasks)


#: seconds to reach an external Dask scheduler before giving up with one line
DASK_CONNECT_TIMEOUT = 10.0
#: seconds a sweep waits while its cluster has no worker before it stops with one line
DASK_NO_WORKERS_TIMEOUT = 60.0


class ClusterError(RuntimeError):
    """The Dask cluster cannot be used (unreachable, no workers, store not writable there)."""


def _dask_results(tasks: list[tuple[str, dict, dict]], jobs: int, scheduler: str | None) -> Iterator[dict[str, Any]]:
    try:
        from dask.distributed import Client, LocalCluster, wait
    except ImportError as e:
        raise RuntimeError("the dask backend needs dask.distributed: pip install 'autoenc[dask]'") from e
    threads = int(tasks[0][2].get("threads_per_run", 1))
    if scheduler:
        try:
            client = Client(scheduler, timeout=DASK_CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as e:
            raise ClusterError(f"cannot reach the Dask scheduler at {scheduler} within {DASK_CONNECT_TIMEOUT:.0f} s "
                               f"({type(e).__name__}); check the address (tcp://HOST:8786) and that `dask scheduler` "
                               "runs there") from None
        cluster = None
    else:
        cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None,
                               env={"OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads),
                                    "MKL_NUM_THREADS": str(threads)})
        client = Client(cluster)
    try:
        if scheduler and client.scheduler_info().get("workers"):  # workers elsewhere must write into this store
            store_root = tasks[0][0]
            writable = client.run(os.access, store_root, os.W_OK)  # {worker address: bool}
            if not writable or not all(writable.values()):
                bad = [w for w, ok in writable.items() if not ok] or ["(no workers)"]
                raise ClusterError(f"the run store {store_root} is not writable from worker(s) {', '.join(bad)}: "
                                   "give --out a path on storage every worker mounts at the same place")
        pending = {client.submit(execute_run, *t, pure=False) for t in tasks}
        no_workers_since: float | None = None
        while pending:
            try:
                done, pending = wait(pending, timeout=5.0, return_when="FIRST_COMPLETED")
            except TimeoutError:  # nothing finished in 5 s (dask raises rather than returning empty)
                done = set()
            for fut in done:
                yield fut.result()
            if done:
                no_workers_since = None
                continue
            if client.scheduler_info().get("workers"):
                no_workers_since = None
            elif no_workers_since is None:
                no_workers_since = time.monotonic()
            elif time.monotonic() - no_workers_since > DASK_NO_WORKERS_TIMEOUT:
                raise ClusterError(f"the Dask cluster has had no workers for {DASK_NO_WORKERS_TIMEOUT:.0f} s; start "
                                   "workers (or check why they died) and run the same command: finished runs "
                                   "are kept")
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_all(
    store: RunStore,
    configs: Iterable[RunConfig],
    *,
    jobs: int = 1,
    backend: str = "loky",
    scheduler: str | None = None,
    threads_per_run: int = 1,
    retry_failed: bool = False,
    force: bool = False,
    verbose: int = 0,
    progress: bool = True,
    data_dir: str | None = None,
) -> list[RunOutcome]:
    """Run every config not yet done; returns one outcome per config.

    Busy runs (locked by another sweep on the same store) are retried at the end, waiting
    for the lock, so both sweeps finish with every run done exactly once.
    """
    configs = list(configs)
    # --force retrains each run in place, one at a time; an interrupted --force sweep is continued
    force_since = store.force_since(start=True) if force else None
    options = {
        "force_since": force_since,
        "threads_per_run": threads_per_run,
        "retry_failed": retry_failed,
        "verbose": verbose,
        "data_dir": data_dir,
        "data_dir_only": os.environ.get("AUTOENC_DATA_DIR_ONLY") or None,
        "wait_for_lock": False,
    }
    params = {c.run_id: c.params for c in configs}
    outcomes: dict[str, RunOutcome] = {}
    pending = []
    for c in configs:
        s = store.status(c.run_id)
        if force_since is not None and s in ("done", "failed") and (s == "failed" or
                                                                    store.done_time(c.run_id) < force_since):
            pending.append(c)
        elif s == "done":
            outcomes[c.run_id] = RunOutcome(c.run_id, "skipped", params=c.params)
        elif s == "failed" and not retry_failed:
            outcomes[c.run_id] = RunOutcome(c.run_id, "failed", error="earlier failure (use --retry-failed)",
                                            params=c.params)
        else:
            pending.append(c)
    bar = None
    if progress and pending:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(configs), initial=len(configs) - len(pending), unit="run", desc=store.root.name,
                   file=sys.stderr, dynamic_ncols=True)
    n_failed = sum(o.status == "failed" for o in outcomes.values())
    errors_shown: set[str] = set()  # an error shared by many runs (e.g. missing data) is printed once
    for attempt in range(2):
        if not pending:
            break
        options = dict(options, wait_for_lock=attempt == 1)
        tasks = [(str(store.root), c.to_dict(), options) for c in pending]
        if backend == "dask":
            results = _dask_results(tasks, jobs, scheduler)
        elif backend == "loky":
            results = _joblib_results(tasks, min(jobs, len(tasks)))
        else:
            raise ValueError(f"unknown backend {backend!r}; use loky or dask")
        busy = []
        for r in results:
            outcome = RunOutcome(r["run_id"], r["status"], r.get("wall_seconds", 0.0), r.get("error", ""),
                                 params[r["run_id"]])
            if outcome.status == "busy":
                busy.append(r["run_id"])
                continue
            outcomes[outcome.run_id] = outcome
            if outcome.status == "failed":
                n_failed += 1
                same = outcome.error in errors_shown
                errors_shown.add(outcome.error)
                msg = f"FAILED {outcome.run_id} ({_label(outcome.params)}): " + (
                    f"{outcome.error.splitlines()[0][:120]} (same error as above)" if same else outcome.error)
                (bar.write if bar else print)(msg, file=sys.stderr)
            if bar is not None:  # one refresh per run (set_postfix would print a second line into logs)
                bar.set_postfix(failed=n_failed, refresh=False)
                bar.update(1)
        pending = [c for c in pending if c.run_id in busy]
    if bar is not None:
        bar.close()
    if force_since is not None and all(c.run_id in outcomes for c in configs):
        store.finish_force()
    return [outcomes[c.run_id] for c in configs if c.run_id in outcomes]


def log_failures(store: RunStore, outcomes: list[RunOutcome]) -> None:
    """One warning per distinct error: a cause shared by every run (missing data, a bad
    setting) is said once, with the runs it stopped, not once per run."""
    log = logging.getLogger("autoenc")
    by_error: dict[str, list[RunOutcome]] = {}
    for o in (o for o in outcomes if o.status == "failed"):
        by_error.setdefault(o.error, []).append(o)
    for error, group in by_error.items():
        first = group[0]
        if len(group) == 1:
            log.warning(f"  failed: {first.run_id} ({_label(first.params)}): {error}; traceback in "
                        f"{store.run_dir(first.run_id) / 'FAILED'}")
        else:
            ids = ", ".join(o.run_id for o in group[:5]) + (", ..." if len(group) > 5 else "")
            log.warning(f"  {len(group)} runs failed with the same error ({ids}): "
                        f"{error.splitlines()[0][:200]}; tracebacks in {store.runs_dir}/<run-id>/FAILED")


def _label(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def data_dir_from_env() -> str | None:
    d = os.environ.get("AUTOENC_DATA_DIR")
    return str(Path(d).resolve()) if d else None
