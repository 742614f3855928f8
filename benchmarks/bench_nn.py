"""Speed of autoenc.nn against PyTorch CPU, in one run, alternating epochs.

Measures, with 2 BLAS threads (threadpoolctl; ``--threads`` changes it) and
``torch.set_num_threads(2)``:

(a) float32 matmul GFLOP/s: a 4096^3 product (NumPy's BLAS peak) and the matmuls of one
    autoencoder training step at batch 128 (the shapes that actually run);
(b) the Fashion-MNIST autoencoder 784-256-64-256-784 (ReLU hidden, Sigmoid out, Adam lr 1e-3,
    batch 128, float32) on 60,000 images, MSE and BCE, with ``autoenc.nn.fit`` and a plain
    PyTorch loop (``nn.BCELoss`` after ``nn.Sigmoid``; ``nn.BCEWithLogitsLoss`` as an extra
    line); seconds per epoch (median), the ratio autoenc / torch, and achieved GFLOP/s
    (6 x weights x images / time, forward + two backward matmuls per weight);
(c) the original study's Conv1D network (``autoenc.models.conv1d_net()``: Conv1D(3,1,32)-
    MaxPool1D(2,2)-Flatten-Linear(4064,100)-ReLU-Linear(100,10), cross-entropy, Adam, batch 128)
    on the 7,291 USPS training images against ``nn.Conv1d`` (channels first).

Usage::

    python benchmarks/bench_nn.py [--epochs 3] [--quick] [--threads 2] [--json results.json] [--profile] [--no-shapes]

Each epoch reports wall seconds and process CPU seconds (all threads). Timings on a shared
machine are noisy: compare only numbers from the same run, and check the load average the
script prints at the start and the end.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path


def _threads_from_argv(argv: list[str]) -> int:
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
        if arg.startswith("--threads="):
            return int(arg.split("=", 1)[1])
    return 2


THREADS = _threads_from_argv(sys.argv)  # read early: BLAS reads the variables at import
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(THREADS)  # before NumPy/torch load their BLAS (threadpoolctl enforces it again)

import numpy as np  # noqa: E402

FASHION = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
# ../shared/data from the project root (see its README.md)
USPS = Path(__file__).resolve().parents[2] / "shared" / "data" / "usps" / "zip.train.gz"


# --- data -----------------------------------------------------------------------------


def fashion_images(n: int) -> tuple[np.ndarray, str]:
    """(n, 784) float32 in [0, 1]: real Fashion-MNIST when installed, else uniform noise."""
    if FASHION.is_file():
        with gzip.open(FASHION, "rb") as f:
            raw = f.read()
        magic, count, rows, cols = np.frombuffer(raw[:16], dtype=">u4")
        if magic == 2051:
            images = np.frombuffer(raw[16:], dtype=np.uint8).reshape(count, rows * cols)[:n]
            return (images.astype(np.float32) / 255.0), f"Fashion-MNIST ({FASHION})"
    rng = np.random.default_rng(0)
    return rng.random((n, 784), dtype=np.float32), "random uniform (Fashion-MNIST not installed)"


def usps_images(n: int = 7291) -> tuple[np.ndarray, np.ndarray, str]:
    """(n, 256, 1) float32 and int labels: real USPS when found, else random."""
    if USPS.is_file():
        with gzip.open(USPS, "rt") as f:
            table = np.loadtxt(f, dtype=np.float32)[:n]
        return table[:, 1:, None].copy(), table[:, 0].astype(np.int64), f"USPS ({USPS})"
    rng = np.random.default_rng(0)
    return rng.uniform(-1, 1, (n, 256, 1)).astype(np.float32), rng.integers(0, 10, n), "random (USPS not found)"


# --- timing helpers -------------------------------------------------------------------


class Clock:
    """Wall and process CPU seconds of a block (CPU time is less sensitive to other users)."""

    def __enter__(self) -> Clock:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0

    @property
    def seconds(self) -> tuple[float, float]:
        return self.wall, self.cpu


def timings(fn: Callable[[], None], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def matmul_reference(quick: bool) -> dict[str, float]:
    """GFLOP/s of a square float32 product and of one AE training step's matmuls."""
    rng = np.random.default_rng(0)
    size = 2048 if quick else 4096
    a = rng.random((size, size), dtype=np.float32)
    b = rng.random((size, size), dtype=np.float32)
    a @ b  # warm-up
    square = 2 * size**3 / min(timings(lambda: a @ b, 3)) / 1e9

    # The 11 matmuls of a 784-256-64-256-784 step at batch 128 (no input gradient for layer 1).
    layers = [(784, 256), (256, 64), (64, 256), (256, 784)]
    ws = [rng.random(s, dtype=np.float32) for s in layers]
    xs = [rng.random((128, s[0]), dtype=np.float32) for s in layers]
    ds = [rng.random((128, s[1]), dtype=np.float32) for s in layers]

    def step() -> None:
        for i, (w, x, d) in enumerate(zip(ws, xs, ds, strict=True)):
            x @ w
            x.T @ d
            if i:
                d @ w.T

    flops = sum(2 * 128 * i * o * (3 if k else 2) for k, (i, o) in enumerate(layers))
    reps = 50 if quick else 200
    step()
    t = min(timings(lambda: [step() for _ in range(reps)], 3)) / reps
    return {"square_gflops": square, "square_size": size, "ae_step_gflops": flops / t / 1e9}


# --- autoencoder ----------------------------------------------------------------------


def ae_flops_per_image() -> int:
    weights = 784 * 256 + 256 * 64 + 64 * 256 + 256 * 784
    return 6 * weights


def autoenc_ae_epoch(loss_name: str) -> tuple[Callable[[np.ndarray, int], float], object]:
    from autoenc.models import autoencoder
    from autoenc.nn import Adam, BCELoss, MSELoss, fit

    ae = autoencoder(784, 64, depth=2, widths=(256,), seed=0)
    opt = Adam(ae.parameters(), lr=1e-3)
    loss = MSELoss() if loss_name == "mse" else BCELoss()

    def epoch(X: np.ndarray, seed: int) -> tuple[float, float]:
        with Clock() as clock:
            fit(ae, loss, opt, X, epochs=1, batch_size=128, seed=seed)
        return clock.seconds

    return epoch, ae


def torch_ae_epoch(loss_name: str) -> Callable[[np.ndarray, int], float]:
    import torch
    from torch import nn

    torch.manual_seed(0)
    layers: list[nn.Module] = [nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 64), nn.Linear(64, 256), nn.ReLU(),
                               nn.Linear(256, 784)]
    if loss_name == "bce_logits":
        criterion: nn.Module = nn.BCEWithLogitsLoss()
    else:
        layers.append(nn.Sigmoid())
        criterion = nn.MSELoss() if loss_name == "mse" else nn.BCELoss()
    model = nn.Sequential(*layers)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    cache: dict[int, torch.Tensor] = {}

    def epoch(X: np.ndarray, seed: int) -> tuple[float, float]:
        Xt = cache.setdefault(id(X), torch.from_numpy(X))
        gen = torch.Generator().manual_seed(seed)
        with Clock() as clock:
            order = torch.randperm(len(Xt), generator=gen)
            total = 0.0
            for i in range(0, len(Xt), 128):
                xb = Xt[order[i : i + 128]]
                opt.zero_grad(set_to_none=True)
                value = criterion(model(xb), xb)
                value.backward()
                opt.step()
                total += value.item() * len(xb)  # autoenc's fit also sums the loss per batch
        return clock.seconds

    return epoch


# --- Conv1D network -------------------------------------------------------------------


def conv_flops_per_image() -> int:
    conv = 254 * 3 * 32  # multiply-adds of the convolution
    dense = 4064 * 100 + 100 * 10
    # forward + weight gradient for the convolution (no input gradient), forward + 2 for the dense layers
    return 2 * (2 * conv + 3 * dense)


def autoenc_conv_epoch() -> Callable[[np.ndarray, np.ndarray, int], float]:
    from autoenc.models import conv1d_net
    from autoenc.nn import Adam, CrossEntropyLoss, fit

    net = conv1d_net(seed=0)
    opt = Adam(net.parameters(), lr=1e-3)
    loss = CrossEntropyLoss()

    def epoch(X: np.ndarray, y: np.ndarray, seed: int) -> tuple[float, float]:
        with Clock() as clock:
            fit(net, loss, opt, X, y, epochs=1, batch_size=128, seed=seed)
        return clock.seconds

    return epoch


def torch_conv_epoch() -> Callable[[np.ndarray, np.ndarray, int], float]:
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(1, 32, 3), nn.MaxPool1d(2, 2), nn.Flatten(), nn.Linear(4064, 100),
                          nn.ReLU(), nn.Linear(100, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = nn.CrossEntropyLoss()
    cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def epoch(X: np.ndarray, y: np.ndarray, seed: int) -> tuple[float, float]:
        # channels first, as nn.Conv1d wants (N, C, L); converted once, outside the timing
        Xt, yt = cache.setdefault(id(X), (torch.from_numpy(np.ascontiguousarray(X.transpose(0, 2, 1))),
                                          torch.from_numpy(y)))
        gen = torch.Generator().manual_seed(seed)
        with Clock() as clock:
            order = torch.randperm(len(Xt), generator=gen)
            total = 0.0
            for i in range(0, len(Xt), 128):
                idx = order[i : i + 128]
                opt.zero_grad(set_to_none=True)
                value = criterion(model(Xt[idx]), yt[idx])
                value.backward()
                opt.step()
                total += value.item() * len(idx)
        return clock.seconds

    return epoch


# --- main -----------------------------------------------------------------------------


def _row(task: str, ours: list[tuple[float, float]], theirs: list[tuple[float, float]], flops: float) -> dict:
    a = statistics.median(w for w, _ in ours)
    t = statistics.median(w for w, _ in theirs)
    a_cpu = statistics.median(c for _, c in ours)
    t_cpu = statistics.median(c for _, c in theirs)
    return {"task": task, "autoenc_s": a, "torch_s": t, "ratio": a / t, "cpu_ratio": a_cpu / t_cpu,
            "autoenc_gflops": flops / a / 1e9, "torch_gflops": flops / t / 1e9,
            "autoenc_epochs": ours, "torch_epochs": theirs}


def _fmt(times: tuple[float, float]) -> str:
    return f"{times[0]:.2f} s (cpu {times[1]:.2f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per framework and task (default 3)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 1 epoch, 12,000 images, smaller matmul (numbers are indicative only)")
    parser.add_argument("--threads", type=int, default=2, help="BLAS / torch threads (default 2, the bar's setting)")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--profile", action="store_true", help="cProfile one autoenc MSE epoch and print the top")
    parser.add_argument("--no-shapes", action="store_true",
                        help="skip the per-shape table (profile_step.py: every shape of the studies, 1 and 2 "
                             "threads, autoenc vs PyTorch ms/step and the share of the sgemm bound)")
    args = parser.parse_args(argv)

    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    with threadpool_limits(limits=args.threads):
        return _run(args, torch)


def _run(args: argparse.Namespace, torch) -> int:
    from threadpoolctl import threadpool_info

    epochs = 1 if args.quick else args.epochs
    n_images = 12_000 if args.quick else 60_000
    pools = ", ".join(sorted({f"{i['internal_api']} {i.get('version')} ({i['num_threads']} threads)"
                              for i in threadpool_info()}))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), {os.cpu_count()} CPUs, load average {load:.2f}")
    print(f"thread pools: {pools}")
    if args.quick:
        print("--quick: smoke run, numbers are indicative only")
    results: dict[str, object] = {"epochs": epochs, "n_images": n_images, "quick": args.quick,
                                  "threads": args.threads, "load_average_start": load}

    ref = matmul_reference(args.quick)
    results["matmul"] = ref
    print(f"\n(a) float32 matmul: {ref['square_size']}^3 {ref['square_gflops']:.1f} GFLOP/s; "
          f"AE step at batch 128 {ref['ae_step_gflops']:.1f} GFLOP/s")

    X, source = fashion_images(n_images)
    print(f"\n(b) autoencoder 784-256-64-256-784 on {len(X):,} images: {source}")
    rows: list[dict] = []
    flops = ae_flops_per_image() * len(X)
    for loss_name in ("mse", "bce"):
        ours, _ = autoenc_ae_epoch(loss_name)
        contenders = {"torch": torch_ae_epoch(loss_name)}
        if loss_name == "bce":
            contenders["torch BCEWithLogits"] = torch_ae_epoch("bce_logits")
        warm = X[:2048]
        ours(warm, 0)  # warm-up (allocators, thread pools)
        for fn in contenders.values():
            fn(warm, 0)
        t_ours: list[tuple[float, float]] = []
        t_theirs: dict[str, list[tuple[float, float]]] = {k: [] for k in contenders}
        for e in range(epochs):  # alternate, so both see the same machine load
            t_ours.append(ours(X, e + 1))
            for k, fn in contenders.items():
                t_theirs[k].append(fn(X, e + 1))
            print(f"  {loss_name} epoch {e + 1}: autoenc {_fmt(t_ours[-1])}, "
                  + ", ".join(f"{k} {_fmt(v[-1])}" for k, v in t_theirs.items()))
        rows.append(_row(f"AE {loss_name.upper()}", t_ours, t_theirs["torch"], flops))
        if loss_name == "bce":
            rows.append(_row("AE BCE (torch logits)", t_ours, t_theirs["torch BCEWithLogits"], flops))

    Xc, yc, source = usps_images()
    print(f"\n(c) Conv1D net on {len(Xc):,} inputs (256, 1): {source}")
    ours_c, theirs_c = autoenc_conv_epoch(), torch_conv_epoch()
    ours_c(Xc[:512], yc[:512], 0), theirs_c(Xc[:512], yc[:512], 0)
    t_ours, t_conv = [], []
    for e in range(epochs):
        t_ours.append(ours_c(Xc, yc, e + 1))
        t_conv.append(theirs_c(Xc, yc, e + 1))
        print(f"  conv epoch {e + 1}: autoenc {_fmt(t_ours[-1])}, torch {_fmt(t_conv[-1])}")
    rows.append(_row("Conv1D USPS", t_ours, t_conv, conv_flops_per_image() * len(Xc)))
    results["rows"] = rows
    results["load_average_end"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")

    peak = ref["ae_step_gflops"]
    print(f"\nmedians over {epochs} epoch(s), {args.threads} thread(s); ratio = autoenc / torch wall time "
          f"(cpu ratio: process CPU time); GFLOP/s = 6 x weights x images / time, "
          f"% of the AE-step matmul rate ({peak:.0f} GFLOP/s)")
    header = (f"{'task':<22} {'autoenc s/ep':>12} {'torch s/ep':>11} {'ratio':>6} {'cpu ratio':>9} "
              f"{'autoenc GF/s':>13} {'torch GF/s':>11}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['task']:<22} {r['autoenc_s']:>12.2f} {r['torch_s']:>11.2f} {r['ratio']:>6.2f} "
              f"{r['cpu_ratio']:>9.2f} {r['autoenc_gflops']:>6.1f} ({100 * r['autoenc_gflops'] / peak:>3.0f}%) "
              f"{r['torch_gflops']:>5.1f} ({100 * r['torch_gflops'] / peak:>3.0f}%)")
    bar = [r for r in rows if r["task"] in ("AE MSE", "AE BCE")]
    conv_s = rows[-1]["autoenc_s"]
    note = " (quick run: indicative only)" if args.quick else ""
    if args.threads == 1:
        share = min(r["autoenc_gflops"] for r in bar) / peak
        ratios = ", ".join(f"{r['task']} {r['ratio']:.2f}" for r in bar)
        met = all(r["ratio"] <= 0.75 for r in bar) and share >= 0.70
        print(f"\nbar (issue 16, 1 thread): autoenc <= 0.75x torch for MSE and BCE and >= 70% of the matmul rate: "
              f"{'met' if met else 'not met'} ({ratios}; {100 * share:.0f}% of the matmul rate){note}")
    print(f"\nbar (issue 2, 2 threads): autoenc <= 1.0x torch for MSE and BCE: "
          f"{'met' if all(r['ratio'] <= 1.0 for r in bar) else 'not met'}; "
          f"Conv1D <= 5 s/epoch on 7,291 images: {'met' if conv_s <= 5 else 'not met'}{note}")
    print(f"load average at the end: {results['load_average_end']:.2f} (a value above the CPU count means other "
          "processes shared the machine: timings are noisy)")

    if args.profile:
        import cProfile
        import pstats

        ours, _ = autoenc_ae_epoch("mse")
        prof = cProfile.Profile()
        prof.runcall(ours, X, 99)
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)
    if not args.no_shapes:  # per shape, from the same process: phases, sgemm bound, PyTorch step
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import profile_step

        print("\nper shape (profile_step.py), ms per step:")
        profile_step.main(["--threads", "1", "2", "--steps", "100" if args.quick else "200"])
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
