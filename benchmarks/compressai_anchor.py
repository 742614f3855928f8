"""The CompressAI anchor of a learned-compression study (e.g. ``studies/fashion_rd.toml``).

Trains CompressAI 1.2.8's ``EntropyBottleneck`` (filters (3, 3, 3), as autoenc's) with the same
encoder/decoder layers, data, lambdas, optimiser, batch size and epochs as the study's runs, on CPU,
and writes its rate-distortion points (bpp from the real compressed strings, PSNR of the decoded
images) and per-epoch times to ``<store>/compressai_anchor.json``, which the study's report reads
("BD-rate vs CompressAI").

Two steps, because CompressAI needs NumPy < 2 and PyTorch (its own venv, ``.venv-compressai``):

    python benchmarks/compressai_anchor.py export fashion_rd [--preset P] [--out runs]   # project venv
    .venv-compressai/bin/python benchmarks/compressai_anchor.py train runs/fashion_rd     # CompressAI venv

``make compressai-anchor`` runs both (``ANCHOR_ARGS``, by default ``--seeds 0``, go to ``export``:
``--preset``, ``--lambdas``, ``--epochs``, ``--seeds``, ``--variants``; ``ANCHOR_JOBS``, by default 2, to
``train``). ``train`` runs ``--jobs`` runs at once with one torch thread each, as the study sweeps with
``--jobs 2`` and one BLAS thread per run, and validates every epoch on the study's validation images as
the runs do, so the per-epoch times compare at the same load and work. Finished runs are kept in
``<store>/compressai_anchor.runs/``: an interrupted anchor resumes. ``export`` reads the study file
through autoenc (the same data loader as the runs, the validation images held out the same way) and writes
``<store>/anchor_data.npz`` and ``anchor_settings.json``; ``train`` imports only torch, CompressAI and
NumPy. Both optimisers are Adam at the study's rate: the main one for the networks and the density,
CompressAI's auxiliary one for the quantiles (autoenc adds the auxiliary gradient to the quantiles in
its single Adam, which is the same update). After training, ``update(force=True, update_quantiles=True)``
sets the quantiles by bisection, as autoenc's task does.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def export(args: argparse.Namespace) -> None:
    """Study file -> the anchor's data and settings (project venv)."""
    import numpy as np

    from autoenc.datasets import load_settings
    from autoenc.fileio import atomic_savez, atomic_write_json
    from autoenc.study.grid import expand
    from autoenc.study.spec import load_spec

    spec = load_spec(args.study, preset=args.preset)
    configs = expand(spec)
    if spec.task != "compression":
        sys.exit(f"{args.study}: task {spec.task!r}; the anchor is for compression studies")
    data = configs[0].data
    X_all, _ = load_settings(data, "train")
    X_test, _ = load_settings(data, "test")
    t = configs[0].train
    n_val = int(round(len(X_all) * float(t["validation_split"])))
    runs = []
    for c in configs:
        lam, variant = float(c.train["rd_lambda"]), str(c.model.get("variant", c.model["architecture"]))
        if (args.lambdas and lam not in args.lambdas) or (args.seeds is not None and c.seed not in args.seeds) \
                or (args.variants and variant not in args.variants):
            continue
        runs.append({"lambda": lam, "seed": c.seed, "variant": variant, "architecture": c.model["architecture"],
                     "latent_size": int(c.model["latent_size"]), "hidden": int(c.model["widths"][0]),
                     "lr": float(c.train["lr"]), "batch_size": int(c.train["batch_size"]),
                     "epochs": int(args.epochs or c.train["epochs"]), "optimizer": c.train["optimizer"]})
    if not runs:
        sys.exit("no runs left after --lambdas/--seeds/--variants")
    store = Path(args.out) / spec.name
    store.mkdir(parents=True, exist_ok=True)
    atomic_savez(store / "anchor_data.npz", {"X_train": np.asarray(X_all[:len(X_all) - n_val], np.float32),
                                             "X_val": np.asarray(X_all[len(X_all) - n_val:], np.float32),
                                             "X_test": np.asarray(X_test, np.float32)})
    atomic_write_json(store / "anchor_settings.json", {"study": spec.name, "preset": spec.preset, "data": data,
                                                       "runs": runs})
    print(f"{len(runs)} anchor runs, {len(X_all) - n_val} training and {len(X_test)} test images -> {store}")


def _import_compressai():
    """CompressAI imports torchvision only for a registry of transform names; the torchvision wheel
    installed beside the CPU torch may not load its compiled operators, so stand in an empty
    ``torchvision.transforms`` when the real one does not import."""
    import types

    try:
        import torchvision.transforms  # noqa: F401
    except Exception:  # noqa: BLE001 - any failure: CUDA build, missing ops
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        stub = types.ModuleType("torchvision")
        stub.transforms = types.ModuleType("torchvision.transforms")  # type: ignore[attr-defined]
        sys.modules["torchvision"], sys.modules["torchvision.transforms"] = stub, stub.transforms
    import compressai
    from compressai.entropy_models import EntropyBottleneck

    return compressai, EntropyBottleneck


def _model(run: dict, EntropyBottleneck, torch):  # noqa: N803 - the class, as CompressAI names it
    nn = torch.nn
    k, h = run["latent_size"], run["hidden"]

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            if run["architecture"] == "fc":
                self.encoder = nn.Sequential(nn.Linear(784, h), nn.ReLU(), nn.Linear(h, k))
                self.decoder = nn.Sequential(nn.Linear(k, h), nn.ReLU(), nn.Linear(h, 784), nn.Sigmoid())
            else:
                self.encoder = nn.Sequential(nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, h, 5, 2, 2), nn.ReLU(),
                                             nn.Conv2d(h, k, 5, 2, 2))
                self.decoder = nn.Sequential(nn.ConvTranspose2d(k, h, 5, 2, 2, output_padding=1), nn.ReLU(),
                                             nn.ConvTranspose2d(h, 1, 5, 2, 2, output_padding=1), nn.Sigmoid(),
                                             nn.Flatten())
            self.entropy_bottleneck = EntropyBottleneck(k, filters=(3, 3, 3))

        def forward(self, x):
            y_hat, likelihoods = self.entropy_bottleneck(self.encoder(x))
            return self.decoder(y_hat), likelihoods

    return Model()


def _point_name(run: dict) -> str:
    return f"{run['variant']}-lambda{run['lambda']:g}-seed{run['seed']}-epochs{run['epochs']}.json"


def _train_one(run: dict, data_path: str, threads: int) -> dict:
    """One anchor run (in a worker process): train, update the tables, compress the test images."""
    import numpy as np
    import torch

    _, EntropyBottleneck = _import_compressai()  # noqa: N806
    torch.set_num_threads(threads)
    with np.load(data_path, allow_pickle=False) as z:
        X_train, X_test = torch.from_numpy(z["X_train"]), torch.from_numpy(z["X_test"])
        X_val = torch.from_numpy(z["X_val"]) if "X_val" in z.files else None
    torch.manual_seed(run["seed"])
    model = _model(run, EntropyBottleneck, torch)
    aux = {n for n, _ in model.named_parameters() if n.endswith(".quantiles")}
    main = torch.optim.Adam([p for n, p in model.named_parameters() if n not in aux], lr=run["lr"])
    aux_opt = torch.optim.Adam([p for n, p in model.named_parameters() if n in aux], lr=run["lr"])
    gen = torch.Generator().manual_seed(run["seed"])

    def rd_loss(x, x_hat, lik):
        # CompressAI's RateDistortionLoss: lambda * 255^2 * MSE + bits per pixel
        bpp = torch.log(lik).sum() / (-np.log(2) * x.numel())
        return run["lambda"] * 255**2 * torch.nn.functional.mse_loss(x_hat, x) + bpp

    epoch_seconds, val_losses = [], []
    for _ in range(run["epochs"]):
        start = time.perf_counter()
        model.train()
        for idx in torch.randperm(len(X_train), generator=gen).split(run["batch_size"]):
            x = X_train[idx]
            main.zero_grad()
            aux_opt.zero_grad()
            x_hat, lik = model(x)
            rd_loss(x, x_hat, lik).backward()
            main.step()
            aux_loss = model.entropy_bottleneck.loss()
            aux_loss.backward()
            aux_opt.step()
        if X_val is not None:  # the study's runs validate every epoch (timed with the epoch): so does the anchor
            model.eval()
            with torch.no_grad():
                val_losses.append(float(sum(rd_loss(xv, *model(xv)) * len(xv) for xv in X_val.split(1024))
                                        / len(X_val)))
        epoch_seconds.append(time.perf_counter() - start)
    model.eval()
    model.entropy_bottleneck.update(force=True, update_quantiles=True)
    with torch.no_grad():
        y = model.encoder(X_test)
        strings = model.entropy_bottleneck.compress(y if y.ndim > 2 else y[:, :, None])
        size = y.shape[2:] if y.ndim > 2 else (1,)
        y_hat = model.entropy_bottleneck.decompress(strings, size)
        x_hat = model.decoder(y_hat if y.ndim > 2 else y_hat[:, :, 0])
        mse = ((x_hat - X_test) ** 2).mean(dim=1).double().clamp_min(1e-10)
        _, lik = model.entropy_bottleneck(y)
    n_pixels = X_test.shape[1]
    return {**{k: run[k] for k in ("variant", "architecture", "lambda", "seed", "epochs")},
            "bpp": float(8 * np.mean([len(s) for s in strings]) / n_pixels),
            "bpp_likelihood": float(-torch.log2(lik).sum() / (len(X_test) * n_pixels)),
            "psnr": float((10 * torch.log10(1 / mse)).mean()),
            "final_val_loss": val_losses[-1] if val_losses else None,
            "seconds_per_epoch": float(np.mean(epoch_seconds))}


def train(args: argparse.Namespace) -> None:
    """Train every anchor run and write ``compressai_anchor.json`` (CompressAI venv). Each finished run
    is kept in ``<store>/compressai_anchor.runs/``, so an interrupted anchor resumes where it stopped."""
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    import numpy as np
    import torch

    compressai, _ = _import_compressai()
    store = Path(args.store)
    settings = json.loads((store / "anchor_settings.json").read_text())
    data_path = str(store / "anchor_data.npz")
    done_dir = store / "compressai_anchor.runs"
    done_dir.mkdir(exist_ok=True)
    points, todo = [], []
    for run in settings["runs"]:
        path = done_dir / _point_name(run)
        try:
            points.append(json.loads(path.read_text()))
        except (OSError, ValueError):  # not run yet, or cut while writing: train it
            todo.append(run)
    print(f"{len(settings['runs'])} anchor runs ({len(points)} already done), {args.jobs} jobs x {args.threads} "
          "torch threads", flush=True)
    # longest first (conv), so that the workers finish together
    todo.sort(key=lambda r: (r["architecture"] != "conv", r["lambda"], r["seed"]))
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(_train_one, run, data_path, args.threads): run for run in todo}
        for future in as_completed(futures):
            point = future.result()
            path = done_dir / _point_name(futures[future])
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(point))
            tmp.replace(path)
            points.append(point)
            print(json.dumps(point), flush=True)
    with np.load(data_path, allow_pickle=False) as z:
        n_train, n_test = len(z["X_train"]), len(z["X_test"])
    out = {"settings": {"study": settings["study"], "preset": settings["preset"], "threads": args.threads,
                        "jobs": args.jobs, "n_train": n_train, "n_test": n_test, "torch": torch.__version__,
                        "compressai": compressai.__version__},
           "points": sorted(points, key=lambda p: (p["variant"], p["lambda"], p["seed"]))}
    tmp = store / "compressai_anchor.json.tmp"
    tmp.write_text(json.dumps(out, indent=1))
    tmp.replace(store / "compressai_anchor.json")
    print(f"-> {store / 'compressai_anchor.json'}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    e = sub.add_parser("export", help="the study's data and settings for the anchor (project venv)")
    e.add_argument("study", nargs="?", default="fashion_rd")
    e.add_argument("--preset", default=None)
    e.add_argument("--out", default="runs", help="run store root (the report reads <out>/<study>/)")
    e.add_argument("--lambdas", type=float, nargs="*", default=None, help="only these lambdas")
    e.add_argument("--seeds", type=int, nargs="*", default=None, help="only these seeds")
    e.add_argument("--variants", nargs="*", default=None, help="only these variants (fc, conv)")
    e.add_argument("--epochs", type=int, default=None, help="override the study's epochs (a short check)")
    t = sub.add_parser("train", help="train the anchor runs (CompressAI venv)")
    t.add_argument("store", nargs="?", default="runs/fashion_rd")
    t.add_argument("--threads", type=int, default=1, help="torch threads per job (the study's runs use 1 BLAS thread)")
    t.add_argument("--jobs", type=int, default=2, help="runs trained at once (the study sweeps with --jobs 2: the "
                   "per-epoch times compare at the same load)")
    t.add_argument("--check", action="store_true", help="only check that CompressAI imports")
    args = parser.parse_args(argv)
    if args.command == "export":
        export(args)
    elif args.check:
        compressai, _ = _import_compressai()
        import torch

        print(f"compressai {compressai.__version__}, torch {torch.__version__} (cuda: {torch.version.cuda})")
    else:
        train(args)


if __name__ == "__main__":
    main()
