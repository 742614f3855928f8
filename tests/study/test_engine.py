"""End-to-end tests of the sweep engine on real Fashion-MNIST subsets (tiny networks)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from autoenc.study import RunStore, expand, load_spec

pytestmark = pytest.mark.needs_fashion


def store_of(out: Path) -> RunStore:
    return RunStore(out / "tiny_ae")


def arrays_by_run(out: Path) -> dict[str, dict[str, np.ndarray]]:
    store = store_of(out)
    res = {}
    for run in store.results().done:
        res[run.run_id] = run.arrays()
        model = run.load_model()
        res[run.run_id].update({f"w:{k}": v for k, v in model.state_dict().items()})
    return res


def assert_same_results(a: Path, b: Path) -> None:
    ra, rb = arrays_by_run(a), arrays_by_run(b)
    assert sorted(ra) == sorted(rb) and ra
    for run_id in ra:
        for key in ra[run_id]:
            np.testing.assert_array_equal(ra[run_id][key], rb[run_id][key], err_msg=f"{run_id} {key}")


def test_sweep_writes_a_complete_store(tiny_study, tmp_path, run_cli):
    study = tiny_study()
    out = tmp_path / "out"
    proc = run_cli("sweep", str(study), "--out", str(out), "--jobs", "1", "--no-report")
    assert "4 trained" in proc.stderr
    store = store_of(out)
    configs = expand(load_spec(study))
    for c in configs:
        d = store.run_dir(c.run_id)
        assert store.status(c.run_id) == "done"
        for name in ("config.json", "model.npz", "history.csv", "metrics.json", "per_image.npz", "DONE"):
            assert (d / name).is_file(), name
        per_image = store.run(c.run_id).arrays()
        assert per_image["test_mse"].shape == (300,) and per_image["test_bce"].shape == (300,)
        assert np.all(per_image["test_mse"] > 0) and np.all(per_image["test_bce"] > 0)
        metrics = json.loads((d / "metrics.json").read_text())
        assert metrics["test_mse_mean"] == pytest.approx(per_image["test_mse"].mean())
        assert metrics["test_sse_mean"] == pytest.approx(784 * per_image["test_mse"].mean())
        assert metrics["versions"]["autoenc"]
        assert set(json.loads((d / "DONE").read_text())["files"]) >= {"model.npz", "per_image.npz", "metrics.json"}
    import pandas as pd

    df = pd.read_csv(out / "tiny_ae" / "results.csv")
    assert len(df) == 4 and {"param_depth", "param_latent_size", "param_loss", "param_seed"} <= set(df.columns)
    sweeps = store.sweeps()
    assert len(sweeps) == 1 and sweeps[0]["done"] == 4
    assert sweeps[0]["command"].startswith("python -m autoenc.study sweep ")  # as typed
    # a second sweep trains nothing
    assert "0 trained, 4 already done" in run_cli("sweep", str(study), "--out", str(out), "--no-report").stderr
    status = run_cli("status", str(study), "--out", str(out)).stdout
    assert "done: 4" in status and "pending: 0" in status


def test_corrupted_model_is_detected_and_rerun(tiny_study, tmp_path, run_cli):
    study = tiny_study()
    out = tmp_path / "out"
    run_cli("sweep", str(study), "--out", str(out), "--jobs", "1", "--no-report")
    store = store_of(out)
    victim = expand(load_spec(study))[1].run_id
    model = store.run_dir(victim) / "model.npz"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    assert store.status(victim) == "partial"
    assert "model.npz does not match its checksum" in run_cli("status", str(study), "--out", str(out)).stdout
    proc = run_cli("sweep", str(study), "--out", str(out), "--jobs", "1", "--no-report")
    assert "1 trained, 3 already done" in proc.stderr
    assert store.status(victim) == "done"


def test_failed_run_does_not_stop_the_sweep(tiny_study, tmp_path, run_cli):
    study = tiny_study()
    out = tmp_path / "out"
    proc = run_cli("sweep", str(study), "--out", str(out), "--jobs", "1", "--no-report",
                   "--set", 'grid.dataset=["fashion_mnist", "no_such_dataset"]', check=False)
    assert proc.returncode == 1
    assert "4 trained" in proc.stderr and "4 failed" in proc.stderr
    assert "FAILED" in proc.stderr and "no_such_dataset" in proc.stderr
    store = store_of(out)
    failed = [c for c in expand(load_spec(study, None, ['grid.dataset=["fashion_mnist", "no_such_dataset"]']))
              if c.data["dataset"] == "no_such_dataset"]
    assert all(store.status(c.run_id) == "failed" for c in failed)
    assert "Traceback" in (store.run_dir(failed[0].run_id) / "FAILED").read_text()
    # failed runs are not retried unless asked
    again = run_cli("sweep", str(study), "--out", str(out), "--no-report",
                    "--set", 'grid.dataset=["fashion_mnist", "no_such_dataset"]', check=False)
    assert "0 trained" in again.stderr and "4 failed" in again.stderr
    retry = run_cli("sweep", str(study), "--out", str(out), "--no-report", "--retry-failed", "--jobs", "1",
                    "--set", 'grid.dataset=["fashion_mnist", "no_such_dataset"]', check=False)
    assert "4 failed" in retry.stderr and "Traceback" in (store.run_dir(failed[0].run_id) / "FAILED").read_text()


def test_jobs_1_and_jobs_2_give_identical_results(tiny_study, tmp_path, run_cli):
    study = tiny_study()
    run_cli("sweep", str(study), "--out", str(tmp_path / "a"), "--jobs", "1", "--no-report")
    run_cli("sweep", str(study), "--out", str(tmp_path / "b"), "--jobs", "2", "--no-report")
    assert_same_results(tmp_path / "a", tmp_path / "b")


@pytest.mark.slow
def test_resume_after_sigkill_gives_identical_results(tiny_study, tmp_path, run_cli):
    study = tiny_study(epochs=6)
    ref = tmp_path / "ref"
    run_cli("sweep", str(study), "--out", str(ref), "--jobs", "1", "--no-report")
    out = tmp_path / "out"
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "autoenc.study", "sweep", str(study), "--out", str(out),
                             "--jobs", "1", "--no-report"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    store = store_of(out)
    deadline = time.time() + 120
    # kill while the second run is being written: one run done, one partial
    while time.time() < deadline:
        dirs = store.run_ids()
        if len(dirs) >= 2 and any(store.status(r) == "done" for r in dirs):
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    statuses = [store.status(r) for r in store.run_ids()]
    n_done = statuses.count("done")
    assert 1 <= n_done < 4, statuses
    resumed = run_cli("sweep", str(study), "--out", str(out), "--jobs", "1", "--no-report")
    assert f"{4 - n_done} trained, {n_done} already done" in resumed.stderr
    assert_same_results(ref, out)


@pytest.mark.slow
def test_two_concurrent_sweeps_train_each_run_once(tiny_study, tmp_path, run_cli):
    study = tiny_study(epochs=3)
    out = tmp_path / "out"
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "autoenc.study", "sweep", str(study), "--out", str(out), "--jobs", "1",
           "--no-report"]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    trained = [int(e.split(" trained")[0].split()[-1]) for _, e in outputs]
    assert sum(trained) == 4, outputs
    store = store_of(out)
    assert all(store.status(r) == "done" for r in store.run_ids()) and len(store.run_ids()) == 4
    ref = tmp_path / "ref"
    run_cli("sweep", str(study), "--out", str(ref), "--jobs", "1", "--no-report")
    assert_same_results(ref, out)


@pytest.mark.slow
def test_dask_backend_on_a_local_cluster(tiny_study, tmp_path, run_cli):
    pytest.importorskip("dask.distributed")
    study = tiny_study()
    run_cli("sweep", str(study), "--out", str(tmp_path / "dask"), "--backend", "dask", "--jobs", "2",
            "--no-report", "--preset", "quick")
    run_cli("sweep", str(study), "--out", str(tmp_path / "loky"), "--jobs", "1", "--no-report", "--preset", "quick")
    assert_same_results(tmp_path / "dask", tmp_path / "loky")


def test_dask_bad_scheduler_address_is_one_line_within_the_timeout(tiny_study, tmp_path, run_cli):
    pytest.importorskip("dask.distributed")
    start = time.monotonic()
    proc = run_cli("sweep", str(tiny_study()), "--out", str(tmp_path / "o"), "--backend", "dask", "--scheduler",
                   "tcp://127.0.0.1:9", "--no-report", "--preset", "quick", check=False, timeout=120)
    assert proc.returncode == 1
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert time.monotonic() - start < 60


@pytest.mark.slow
def test_dask_external_cluster_relative_out_and_lost_workers(tiny_study, tmp_path, run_cli, monkeypatch):
    distributed = pytest.importorskip("dask.distributed")
    from autoenc.cli import main
    from autoenc.study import runner

    study = tiny_study()
    # a scheduler with one worker process, started from another folder: a relative --out must
    # still land in the client's folder
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                                  env={"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}) as cluster:
        (tmp_path / "client").mkdir()
        monkeypatch.chdir(tmp_path / "client")
        assert main(["sweep", str(study), "--out", "runs", "--backend", "dask", "--scheduler",
                     cluster.scheduler_address, "--no-report", "--preset", "quick"]) == 0
    run_cli("sweep", str(study), "--out", str(tmp_path / "loky"), "--jobs", "1", "--no-report", "--preset", "quick")
    assert_same_results(tmp_path / "client" / "runs", tmp_path / "loky")
    # a cluster whose workers are all gone: one line after the stated wait, not a hang
    monkeypatch.setattr(runner, "DASK_NO_WORKERS_TIMEOUT", 1.0)
    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=None) as empty:
        start = time.monotonic()
        rc = main(["sweep", str(study), "--out", str(tmp_path / "empty"), "--backend", "dask", "--scheduler",
                   empty.scheduler_address, "--no-report", "--preset", "quick"])
        assert rc == 1 and time.monotonic() - start < 60
