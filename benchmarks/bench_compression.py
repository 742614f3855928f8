"""Training speed of the fashion_rd study's models, and the full study's time from it.

For each architecture of ``studies/fashion_rd.toml`` (its full grid), in one process, with one
BLAS thread (the study runs ``--jobs 2`` with one thread each), on Fashion-MNIST training images:

- ``train``: CPU ms per image of one training epoch (the study's batch size, Adam, rate +
  lambda x distortion, the compression task's loss);
- ``validate``: CPU ms per image of the validation pass the task runs after every epoch;
- ``epoch``: the task's cost per training image of an epoch (train + validate x n_val / n_train);
- ``matmul``: CPU ms per image of the same step's matrix products alone, on the same shapes
  (what the step cannot beat), and ``x matmul``: the step's time over it (the reference of the
  same run: the ratio moves less with the machine's load than the times do).

Then the full study's training time: per run, ``epoch`` x training images x epochs plus the final
evaluation passes, summed over the grid and divided by ``--jobs`` (two runs share the L3 cache
and the memory bus, so two jobs take somewhat longer than half; the report adds its own minutes).

Usage::

    python benchmarks/bench_compression.py [--images 3000] [--jobs 2]

CPU times, not wall times, so that other programs on the machine change them less; still, run
it on a quiet machine before quoting a figure, and quote the load average it prints.
"""

from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import time  # noqa: E402

import numpy as np  # noqa: E402


def _matmul_shapes(model, X: np.ndarray) -> list[tuple[int, int, int]]:
    """(m, k, n) of every matrix product of one training step of ``model`` on batch ``X``."""
    from autoenc.nn import Linear
    from autoenc.nn.conv import Conv2D, ConvTranspose2D

    model.train()
    model.forward(X)
    shapes, first = [], True
    for seq in (model.encoder, model.decoder):
        for m, inp in zip(seq.modules, seq._inputs, strict=True):  # noqa: SLF001 - the inputs of this forward
            if isinstance(m, Linear):
                b, i, o = inp.shape[0], m.weight.data.shape[0], m.weight.data.shape[1]
                prods = [(b, i, o), (i, b, o)] + ([] if first else [(b, o, i)])
            elif isinstance(m, Conv2D):
                ho, wo = m.output_shape(inp.shape[1], inp.shape[2])
                rows, k = inp.shape[0] * ho * wo, m.kernel_size[0] * m.kernel_size[1] * m.chan_in
                prods = [(rows, k, m.chan_out), (k, rows, m.chan_out)] + ([] if first else [(rows, m.chan_out, k)])
            elif isinstance(m, ConvTranspose2D):
                rows, k = inp.shape[0] * inp.shape[1] * inp.shape[2], m.kernel_size[0] * m.kernel_size[1] * m.chan_out
                prods = [(rows, m.chan_in, k), (m.chan_in, rows, k), (rows, k, m.chan_in)]
            else:
                continue
            shapes += prods
            first = False
    return shapes


def _matmul_seconds(shapes: list[tuple[int, int, int]], repeats: int = 20) -> float:
    rng = np.random.default_rng(0)
    pairs = [(rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32)) for m, k, n in shapes]
    for a, b in pairs:
        a @ b
    start = time.process_time()
    for _ in range(repeats):
        for a, b in pairs:
            a @ b
    return (time.process_time() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=3000, help="training images per timed epoch")
    parser.add_argument("--jobs", type=int, default=2, help="parallel runs of the full study (for its time)")
    args = parser.parse_args()

    from autoenc.datasets import load
    from autoenc.nn import evaluate, fit
    from autoenc.study.grid import expand, resolve
    from autoenc.study.spec import load_spec
    from autoenc.study.tasks import build_optimizer
    from autoenc.study.tasks.compression import EVAL_BATCH, _RecordingLoss, build, rate_distortion

    configs = [resolve(c) for c in expand(load_spec("fashion_rd"))]
    n_total = 60_000
    n_val = int(round(n_total * float(configs[0].train["validation_split"])))
    n_train, n_test = n_total - n_val, 10_000
    n, n_v = args.images, max(EVAL_BATCH, args.images // 9)
    X = load("fashion_mnist", "train")[0][: n + n_v].reshape(n + n_v, -1).astype(np.float32)
    if X.max() > 1.5:
        X /= 255
    X_train, X_val = X[:n], X[n:]
    print(f"load average at the start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores); 1 BLAS thread")
    print(f"{'variant':8s} {'train':>7s} {'validate':>9s} {'epoch':>7s} {'matmul':>7s} {'x matmul':>8s}"
          "  (CPU ms per image)")
    per_image: dict[str, tuple[float, float]] = {}
    for config in configs:
        variant = config.params.get("variant", config.model["architecture"])
        if variant in per_image:
            continue
        model = build(config, X.shape[1])
        loss = _RecordingLoss(model.bottleneck, float(config.train["rd_lambda"]))
        optimizer = build_optimizer(config.train, model)
        batch = int(config.train["batch_size"])
        fit(model, loss, optimizer, X_train[: 2 * batch], epochs=1, batch_size=batch)  # compile, warm up
        start = time.process_time()
        fit(model, loss, optimizer, X_train, epochs=1, batch_size=batch)
        train = (time.process_time() - start) / n
        start = time.process_time()
        evaluate(model, loss, X_val, X_val, EVAL_BATCH)
        validate = (time.process_time() - start) / n_v
        loss.recorded.clear()
        start = time.process_time()
        rate_distortion(model, X_val)
        final = (time.process_time() - start) / n_v
        epoch = train + validate * n_val / n_train
        matmul = _matmul_seconds(_matmul_shapes(model, X_train[:batch])) / batch
        per_image[variant] = (epoch, final)
        print(f"{variant:8s} {train * 1e3:7.3f} {validate * 1e3:9.3f} {epoch * 1e3:7.3f} {matmul * 1e3:7.3f} "
              f"{train / matmul:8.2f}")
    total = 0.0
    for config in configs:
        epoch, final = per_image[config.params.get("variant", config.model["architecture"])]
        total += epoch * n_train * int(config.train["epochs"]) + final * (n_test + n_val)
    print(f"full study ({len(configs)} runs, {n_train:,} training images): {total / 3600:.2f} CPU hours of training, "
          f"{total / args.jobs / 3600:.2f} h on --jobs {args.jobs} (plus the report, plus what two jobs cost "
          "each other)")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
