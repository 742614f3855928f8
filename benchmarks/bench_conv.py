"""Speed of autoenc.nn's image layers against PyTorch CPU, on the fashion_rd study's shapes.

For each BLAS/torch thread count (default 1 and 2, set at run time with threadpoolctl and
``torch.set_num_threads``), it times, alternating autoenc and PyTorch calls so that both see
the same machine load:

- each layer of a convolutional autoencoder for 28x28x1 images at batch ``--batch`` (default
  128): ``Conv2D(1, C, 5, stride 2, padding 2)`` 28 -> 14, ``Conv2D(C, M, 5, 2, 2)`` 14 -> 7,
  ``ConvTranspose2D(M, C, 5, 2, 2, output_padding 1)`` 7 -> 14 and ``ConvTranspose2D(C, 1, ...)``
  14 -> 28 (C = ``--channels``, M = ``--latent-channels``), forward + backward (weight, bias and
  input gradients; the first layer skips its input gradient, as training does);
- the whole training step of that autoencoder (ReLU between layers, Sigmoid output, MSE, Adam;
  autoenc's takes flat images through ``Reshape`` and ``Flatten``, as the studies do).

autoenc runs channels last (NHWC), PyTorch its native NCHW (``nn.Conv2d``, ``nn.ConvTranspose2d``)
on tensors converted once outside the timing. It prints medians in milliseconds and the ratio
autoenc / PyTorch measured in the same run (below 1: autoenc faster).

Usage::

    python benchmarks/bench_conv.py [--threads 1 2] [--batch 128] [--channels 32] [--latent-channels 64]
                                    [--repeats 30] [--quick]

Timings on a shared machine are noisy: the load average is printed at the start and the end;
compare only numbers from one run on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np


def _time_ms(fn: Callable[[], object], times: list[tuple[float, float]]) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    times.append((1e3 * (time.perf_counter() - wall), 1e3 * (time.process_time() - cpu)))


def alternate(ours: Callable[[], object], theirs: Callable[[], object], repeats: int) -> tuple[float, ...]:
    """Median wall and process CPU milliseconds of ``ours`` and ``theirs`` (called in turn after two
    warm-up calls each): (ours wall, theirs wall, ours cpu, theirs cpu)."""
    for _ in range(2):
        ours(), theirs()
    a: list[tuple[float, float]] = []
    t: list[tuple[float, float]] = []
    for _ in range(repeats):
        _time_ms(ours, a)
        _time_ms(theirs, t)
    return tuple(statistics.median(x[i] for x in times) for i in (0, 1) for times in (a, t))


def layer_cases(batch: int, channels: int, latent: int) -> list[tuple[str, dict, tuple[int, int, int]]]:
    """(name, layer arguments, input (H, W, C)) of the four layers."""
    down = {"kernel_size": 5, "stride": 2, "padding": 2}
    up = {**down, "output_padding": 1}
    return [
        (f"Conv2D 1->{channels} 28->14", {"kind": "conv", "cin": 1, "cout": channels, **down}, (28, 28, 1)),
        (f"Conv2D {channels}->{latent} 14->7", {"kind": "conv", "cin": channels, "cout": latent, **down},
         (14, 14, channels)),
        (f"ConvT {latent}->{channels} 7->14", {"kind": "convT", "cin": latent, "cout": channels, **up},
         (7, 7, latent)),
        (f"ConvT {channels}->1 14->28", {"kind": "convT", "cin": channels, "cout": 1, **up}, (14, 14, channels)),
    ]


def autoenc_layer(spec: dict, shape: tuple[int, int, int], batch: int, input_grad: bool) -> Callable[[], object]:
    from autoenc.nn import Conv2D, ConvTranspose2D

    args = {k: v for k, v in spec.items() if k not in ("kind", "cin", "cout")}
    layer = (Conv2D if spec["kind"] == "conv" else ConvTranspose2D)(spec["cin"], spec["cout"], seed=0, **args)
    rng = np.random.default_rng(0)
    X = rng.random((batch, *shape), dtype=np.float32)
    D = rng.standard_normal(layer.forward(X).shape, dtype=np.float32)

    def step() -> None:
        layer.zero_grad()
        layer.forward(X)
        layer.backward_update_gradient(X, D)
        if input_grad:
            layer.backward_delta(X, D)

    return step


def torch_layer(spec: dict, shape: tuple[int, int, int], batch: int, input_grad: bool, torch) -> Callable[[], object]:
    from torch import nn

    args = {k: v for k, v in spec.items() if k not in ("kind", "cin", "cout")}
    layer = (nn.Conv2d if spec["kind"] == "conv" else nn.ConvTranspose2d)(spec["cin"], spec["cout"], **args)
    h, w, c = shape
    X = torch.rand(batch, c, h, w).requires_grad_(input_grad)
    D = torch.randn_like(layer(X))

    def step() -> None:
        layer.zero_grad(set_to_none=True)
        layer(X).backward(D)

    return step


def autoenc_ae(batch: int, channels: int, latent: int) -> Callable[[], object]:
    from autoenc.nn import Adam, Conv2D, ConvTranspose2D, Flatten, MSELoss, ReLU, Reshape, Sequential, Sigmoid
    from autoenc.nn.optim import Optim

    net = Sequential(
        Reshape((28, 28, 1)),  # the studies feed flat images and compare flat reconstructions
        Conv2D(1, channels, 5, stride=2, padding=2, init="he", seed=0), ReLU(),
        Conv2D(channels, latent, 5, stride=2, padding=2, seed=1),
        ConvTranspose2D(latent, channels, 5, stride=2, padding=2, output_padding=1, init="he", seed=2), ReLU(),
        ConvTranspose2D(channels, 1, 5, stride=2, padding=2, output_padding=1, seed=3), Flatten(), Sigmoid(),
    )
    trainer = Optim(net, MSELoss(), Adam(net.parameters(), lr=1e-3))
    X = np.random.default_rng(0).random((batch, 784), dtype=np.float32)

    def step() -> None:
        trainer.step(X, X)

    return step


def torch_ae(batch: int, channels: int, latent: int, torch) -> Callable[[], object]:
    from torch import nn

    net = nn.Sequential(
        nn.Conv2d(1, channels, 5, stride=2, padding=2), nn.ReLU(),
        nn.Conv2d(channels, latent, 5, stride=2, padding=2),
        nn.ConvTranspose2d(latent, channels, 5, stride=2, padding=2, output_padding=1), nn.ReLU(),
        nn.ConvTranspose2d(channels, 1, 5, stride=2, padding=2, output_padding=1), nn.Sigmoid(),
    )
    opt, loss = torch.optim.Adam(net.parameters(), lr=1e-3), nn.MSELoss()
    X = torch.rand(batch, 1, 28, 28)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss(net(X), X).backward()
        opt.step()

    return step


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts (default 1 2)")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--channels", type=int, default=32, help="channels of the 14x14 maps (default 32)")
    parser.add_argument("--latent-channels", type=int, default=64, help="channels of the 7x7 latent map (default 64)")
    parser.add_argument("--repeats", type=int, default=30, help="timed calls per contender and row (default 30)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 5 repeats (indicative only)")
    args = parser.parse_args(argv)
    repeats = 5 if args.quick else args.repeats

    import torch
    from threadpoolctl import threadpool_limits

    load = os.getloadavg()[0]
    print(f"python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}, "
          f"{os.cpu_count()} CPUs, load average {load:.2f}; batch {args.batch}, float32, medians of {repeats} "
          "calls; ratio = autoenc / torch wall time (below 1: autoenc faster); cpu ratio: the same for process CPU "
          "time (all threads), which moves less when other programs share the machine")
    header = (f"{'threads':>7}  {'what (forward + backward)':<28} {'autoenc ms':>10} {'torch ms':>9} {'ratio':>6} "
              f"{'cpu ratio':>9}")
    print(header + "\n" + "-" * len(header))
    for threads in args.threads:
        torch.set_num_threads(threads)
        with threadpool_limits(limits=threads):
            cases = layer_cases(args.batch, args.channels, args.latent_channels)
            rows = []
            for i, (name, spec, shape) in enumerate(cases):
                first = i == 0  # the first layer needs no input gradient in training
                ours = autoenc_layer(spec, shape, args.batch, input_grad=not first)
                theirs = torch_layer(spec, shape, args.batch, not first, torch)
                rows.append((name + (" (no dX)" if first else ""), *alternate(ours, theirs, repeats)))
            ae = alternate(autoenc_ae(args.batch, args.channels, args.latent_channels),
                           torch_ae(args.batch, args.channels, args.latent_channels, torch), repeats)
            rows.append(("AE training step (Adam)", *ae))
            for name, a, t, a_cpu, t_cpu in rows:
                print(f"{threads:>7}  {name:<28} {a:>10.2f} {t:>9.2f} {a / t:>6.2f} {a_cpu / t_cpu:>9.2f}")
    load, cpus = os.getloadavg()[0], os.cpu_count() or 1
    note = ("above the CPU count: other processes shared the machine and the timings are noisy; rerun on a quiet "
            "machine") if load > cpus else "the benchmark's own threads count in it"
    print(f"load average at the end: {load:.2f} ({note})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
