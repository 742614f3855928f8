"""Where one training step of each study's network spends its time.

For the shapes the studies train (fashion_ae depths 1-3 at k = 16 and 400, the MNIST and
USPS MLPs, the Conv1D network on USPS), batch 128, float32, Adam, it times in one process:

- the phases of ``autoenc.nn``'s step: zero_grad, forward, loss (value + output gradient),
  backward, optimizer (ms per step, median of ``--steps`` steps after a warm-up);
- the sgemm bound: the same matrix products, on the same shapes, with nothing else
  (the step cannot be faster than that), and the step's share of it;
- the same network as a plain PyTorch loop (``torch.nn`` layers, same loss, ``torch.optim.Adam``,
  ``torch.set_num_threads`` = the BLAS threads) when torch is installed (``pip install
  torch==2.13.0``, the CPU wheel), and the ratio autoenc / PyTorch.

Usage::

    python benchmarks/profile_step.py [--threads 1 2] [--steps 200] [--markdown]

Nothing else should run on the machine meanwhile (see README.md in this folder).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time


def _threads_from_argv(argv: list[str]) -> list[int]:
    if "--threads" in argv:
        i = argv.index("--threads") + 1
        out = []
        while i < len(argv) and argv[i].isdigit():
            out.append(int(argv[i]))
            i += 1
        return out or [1]
    return [1, 2]


THREADS = _threads_from_argv(sys.argv)
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, str(max(THREADS)))

import numpy as np  # noqa: E402

BATCH = 128


def networks() -> list[tuple[str, object, object, tuple[int, ...], str]]:
    """(name, net, loss, input shape, target kind) for every shape the studies train."""
    from autoenc.models import autoencoder, conv1d_net, mlp
    from autoenc.nn import BCELoss, CrossEntropyLoss, MSELoss

    out = []
    for depth in (1, 2, 3):
        for k in (400, 16):
            for loss_name, loss in (("mse", MSELoss()), ("bce", BCELoss())):
                if k == 16 and loss_name == "bce":
                    continue  # the loss only changes the output delta; k = 400 shows it
                out.append((f"AE d{depth} k{k} {loss_name}", autoencoder(784, k, depth=depth, seed=0), loss,
                            (784,), "self"))
    out.append(("MLP MNIST 784-128-64-10", mlp([784, 128, 64, 10], activation="relu", seed=0),
                CrossEntropyLoss(), (784,), "labels"))
    out.append(("MLP USPS 256-64-32-16-10", mlp([256, 64, 32, 16, 10], activation="relu", seed=0),
                CrossEntropyLoss(), (256,), "labels"))
    out.append(("Conv1D USPS", conv1d_net(seed=0), CrossEntropyLoss(), (256, 1), "labels"))
    return out


def _matmul_shapes(net: object) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """The (a, b) operand shapes of the step's matrix products (forward, weight grad, input grad)."""
    from autoenc.nn import Conv1D, Linear

    shapes = []
    rows = BATCH
    first = True
    for _, m in net.named_modules():  # type: ignore[attr-defined]
        if isinstance(m, Linear):
            i, o = m.in_features, m.out_features
            r = rows
        elif isinstance(m, Conv1D):
            i, o = m.k_size * m.chan_in, m.chan_out
            r = BATCH * 254
        else:
            continue
        shapes.append(((r, i), (i, o)))  # forward
        shapes.append(((i, r), (r, o)))  # weight gradient
        if not first:
            shapes.append(((r, o), (o, i)))  # input gradient
        first = False
    return shapes


def sgemm_bound(net: object, steps: int) -> float:
    """Seconds per step of the step's matrix products alone."""
    rng = np.random.default_rng(0)
    pairs = [(rng.random(a, dtype=np.float32), rng.random(b, dtype=np.float32)) for a, b in _matmul_shapes(net)]
    outs = [np.empty((a.shape[0], b.shape[1]), np.float32) for a, b in pairs]

    def run() -> None:
        for (a, b), o in zip(pairs, outs, strict=True):
            np.matmul(a, b, out=o)

    for _ in range(10):
        run()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def profile(net: object, loss: object, shape: tuple[int, ...], target: str, steps: int) -> dict[str, float]:
    from autoenc.nn import Adam
    from autoenc.nn.optim import backward, output_gradient

    rng = np.random.default_rng(0)
    X = rng.random((BATCH * 8, *shape), dtype=np.float32)
    y = X if target == "self" else rng.integers(0, 10, len(X))
    opt = Adam(net.parameters(), lr=1e-4)  # type: ignore[attr-defined]
    phases: dict[str, list[float]] = {k: [] for k in ("zero_grad", "forward", "loss", "backward", "optimizer")}
    for s in range(steps + 20):
        i = (s % 8) * BATCH
        xb, yb = X[i : i + BATCH], y[i : i + BATCH]
        t0 = time.perf_counter()
        opt.zero_grad()
        t1 = time.perf_counter()
        yhat = net.forward(xb)  # type: ignore[attr-defined]
        t2 = time.perf_counter()
        loss.forward(yb, yhat, reduction="sum")  # type: ignore[attr-defined]
        delta, skip = output_gradient(net, loss, yb, yhat)  # type: ignore[arg-type]
        t3 = time.perf_counter()
        backward(net, delta, skip_last=skip)  # type: ignore[arg-type]
        t4 = time.perf_counter()
        opt.step()
        t5 = time.perf_counter()
        if s >= 20:
            for k, a, b in (("zero_grad", t0, t1), ("forward", t1, t2), ("loss", t2, t3), ("backward", t3, t4),
                            ("optimizer", t4, t5)):
                phases[k].append(b - a)
    out = {k: statistics.median(v) for k, v in phases.items()}
    out["step"] = sum(out.values())
    return out


def torch_step(net: object, loss: object, shape: tuple[int, ...], target: str, steps: int) -> float | None:
    """Median seconds per training step of the same network in PyTorch (None without torch)."""
    try:
        import torch
        from torch import nn
    except ImportError:
        return None
    from autoenc.nn import Conv1D, Flatten, Linear, MaxPool1D, MSELoss, ReLU, Sigmoid, TanH

    layers: list[nn.Module] = []
    for _, m in net.named_modules():  # type: ignore[attr-defined]
        if isinstance(m, Linear):
            layers.append(nn.Linear(m.in_features, m.out_features))
        elif isinstance(m, Conv1D):  # channels first in torch: (N, C, L)
            layers.append(nn.Conv1d(m.chan_in, m.chan_out, m.k_size, m.stride))
        elif isinstance(m, MaxPool1D):
            layers.append(nn.MaxPool1d(m.k_size, m.stride))
        elif isinstance(m, Flatten):
            layers.append(nn.Flatten())
        elif isinstance(m, ReLU):
            layers.append(nn.ReLU())
        elif isinstance(m, Sigmoid):
            layers.append(nn.Sigmoid())
        elif isinstance(m, TanH):
            layers.append(nn.Tanh())
    model = nn.Sequential(*layers)
    if target == "labels":
        criterion: nn.Module = nn.CrossEntropyLoss()
    else:
        criterion = nn.MSELoss() if isinstance(loss, MSELoss) else nn.BCELoss()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(0)
    X = torch.rand((BATCH * 8, *shape[::-1]), generator=g)  # (N, 1, L) for the convolution
    y = X.reshape(len(X), -1) if target == "self" else torch.randint(0, 10, (len(X),), generator=g)
    times = []
    for s in range(steps + 20):
        i = (s % 8) * BATCH
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        value = criterion(model(X[i : i + BATCH]), y[i : i + BATCH])
        value.backward()
        opt.step()
        value.item()
        if s >= 20:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="BLAS thread counts (default 1 2)")
    parser.add_argument("--steps", type=int, default=200, help="timed steps per network (default 200)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--only", help="profile only networks whose name contains this text")
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits

    load = os.getloadavg()[0]
    print(f"numpy {np.__version__}, {os.cpu_count()} CPUs, load average {load:.2f}, batch {BATCH}, float32, Adam")
    cols = ["zero_grad", "forward", "loss", "backward", "optimizer", "step", "sgemm", "share", "torch", "ratio"]
    sep = " | " if args.markdown else "  "
    header = sep.join([f"{'network':<26}", "thr", *[f"{c:>9}" for c in cols]])
    print(("| " + header + " |") if args.markdown else header)
    if args.markdown:
        print("|" + "|".join(["---"] * (len(cols) + 2)) + "|")
    try:
        import torch
    except ImportError:
        torch = None
        print("torch not installed: no PyTorch columns (pip install torch==2.13.0)")
    for threads in args.threads:
        if torch is not None:
            torch.set_num_threads(threads)
        with threadpool_limits(limits=threads):
            for name, net, loss, shape, target in networks():
                if args.only and args.only not in name:
                    continue
                p = profile(net, loss, shape, target, args.steps)
                bound = sgemm_bound(net, args.steps)
                cells = [f"{1e3 * p[c]:>9.3f}" for c in cols[:6]]
                cells += [f"{1e3 * bound:>9.3f}", f"{100 * bound / p['step']:>8.0f}%"]
                ref = torch_step(net, loss, shape, target, args.steps)
                if ref is None:
                    cells += [f"{'-':>9}", f"{'-':>9}"]
                else:
                    cells += [f"{1e3 * ref:>9.3f}", f"{p['step'] / ref:>9.2f}"]
                line = sep.join([f"{name:<26}", f"{threads:>3}", *cells])
                print(("| " + line + " |") if args.markdown else line, flush=True)
    print(f"ms per step (median); share = sgemm bound / step; ratio = autoenc step / PyTorch step. "
          f"Load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
