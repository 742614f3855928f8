"""Speed of the latent codec (``autoenc.codec.LatentCodec``) against Pillow's JPEG and WebP,
measured in the same run on the same Fashion-MNIST test images (images per second, medians).

The codec wraps a trained autoencoder of the study store (``--run``; default: the depth-2,
k = 64, MSE-trained, seed-0 run of ``runs/fashion_ae``), or an untrained one of the same shape
when no store is there (speed does not depend on the weights). Encode = encoder forward pass +
quantization + range coding of each image; decode = range decoding + decoder forward pass.
JPEG/WebP: Pillow encode / decode of each 28 x 28 grayscale image at quality 50.

Usage::

    python benchmarks/bench_codec.py [--images 2000] [--repeats 3] [--step-scale 0.25] [--run RUN_DIR]
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits


def _timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _find_run(root: Path) -> Path | None:
    import json

    for run in sorted((root / "runs").glob("*")) if root.is_dir() else []:
        try:
            c = json.loads((run / "config.json").read_text())
        except OSError:
            continue
        if (run / "DONE").is_file() and c["model"].get("depth") == 2 and c["model"].get("latent_size") == 64 \
                and c["train"].get("loss") == "mse" and c["seed"] == 0:
            return run
    return None


def main() -> None:
    from PIL import Image

    from autoenc import datasets
    from autoenc.codec import LatentCodec
    from autoenc.models import autoencoder

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--step-scale", type=float, default=0.25)
    p.add_argument("--run", default=None, help="a run directory of an autoencoder study")
    p.add_argument("--threads", type=int, default=1, help="BLAS threads (the studies use 1)")
    args = p.parse_args()

    X_train, _ = datasets.load("fashion_mnist", "train")
    X_test, _ = datasets.load("fashion_mnist", "test")
    X_train = X_train.reshape(len(X_train), -1).astype(np.float32)
    X = X_test.reshape(len(X_test), -1)[: args.images].astype(np.float32)
    run = Path(args.run) if args.run else _find_run(Path("runs/fashion_ae"))
    with threadpool_limits(args.threads):
        if run is not None:
            codec = LatentCodec.from_run(run, X_train, step_scale=args.step_scale)
            what = f"trained run {run.name}"
        else:
            codec = LatentCodec.from_autoencoder(autoencoder(784, 64, depth=2, widths=(256,), seed=0), X_train,
                                                 step_scale=args.step_scale)
            what = "untrained 784-256-64 autoencoder (no store found)"
        blobs = codec.encode(X)
        encode = _timed(lambda: codec.encode(X), args.repeats)
        decode = _timed(lambda: codec.decode(blobs), args.repeats)
        bpp = float(codec.payload_bits(blobs).mean()) / X.shape[1]  # the range-coded words, without the header
        pixels = np.rint(X.reshape(-1, 28, 28) * 255).astype(np.uint8)
        rows = [("latent codec", encode, decode, bpp)]
        for fmt in ("JPEG", "WEBP"):
            files = []

            def enc(fmt: str = fmt, files: list = files) -> None:
                files.clear()
                for img in pixels:
                    buf = io.BytesIO()
                    Image.fromarray(img, mode="L").save(buf, format=fmt, quality=50)
                    files.append(buf.getvalue())

            def dec(files: list = files) -> None:
                for data in files:
                    with Image.open(io.BytesIO(data)) as im:
                        np.asarray(im.convert("L"))

            t_enc = _timed(enc, args.repeats)
            t_dec = _timed(dec, args.repeats)
            rows.append((f"{fmt} q50 (Pillow)", t_enc, t_dec, 8 * np.mean([len(f) for f in files]) / X.shape[1]))
    n = len(X)
    print(f"{n} Fashion-MNIST test images, {args.threads} BLAS thread(s), step scale {args.step_scale}, {what}")
    print(f"{'codec':<22}{'encode img/s':>14}{'decode img/s':>14}{'bpp':>8}{'enc vs JPEG':>13}{'dec vs JPEG':>13}")
    jpeg = rows[1]
    for name, e, d, bits in rows:
        print(f"{name:<22}{n / e:>14,.0f}{n / d:>14,.0f}{bits:>8.3f}{jpeg[1] / e:>13.2f}{jpeg[2] / d:>13.2f}")


if __name__ == "__main__":
    main()
