"""What a run will need, estimated from its resolved config before anything is allocated:
memory (train data, weights with their gradients and optimizer moments, the activations of
one batch) and a rough time, so that a study that cannot fit the machine is refused at
``show``/``sweep`` instead of dying with MemoryError after training for a while.

The estimate counts the networks of the builders from their config: the fully connected
autoencoders, MLPs and the learned-compression models (``fc``: layer sizes; ``conv``: feature
maps of the two 5x5 stride-2 convolutions each way, see ``models.compression``); other
architectures (Conv1D classifiers) get no memory bound and are not refused. The limit is the machine's
physical memory times ``MEMORY_FRACTION``; ``$AUTOENC_MAX_MEMORY_GB`` (or ``sweep
--max-memory-gb``) sets another for a bigger machine, or to run anyway.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import InputError
from .grid import RunConfig, expand, resolve

if TYPE_CHECKING:
    from .spec import StudySpec

__all__ = ["MEMORY_FRACTION", "ResourceError", "RunEstimate", "check_resources", "describe_resources", "estimate",
           "memory_limit"]

#: the share of physical memory all parallel runs together may take
MEMORY_FRACTION = 0.8
#: float32 throughput (FLOP/s) of one run on one BLAS thread, two runs sharing the 2-core machine
#: (measured 2026-12-05, the runs' wall times against their multiply-adds): dense networks
#: (autoencoders, MLPs) 9.5e10 on fashion_ae's large layers; the learned-compression fc model
#: 4.1e10 (its entropy bottleneck costs per image); the conv model 2.5e10 (im2col and col2im)
FLOPS = {"conv": 2.5e10, "fc": 4.1e10}
DENSE_FLOPS = 9.5e10
#: seconds per dense layer per training batch that the FLOP count misses (Python, activations,
#: the optimiser step; fashion_ae depth 1 at k = 16: 13 s measured, 4.4 s by FLOPs alone)
LAYER_BATCH_SECONDS = 2.2e-4
_BYTES = 4  # float32


class ResourceError(InputError, ValueError):
    """A study needs more memory than the machine has (the message gives the estimate and the override)."""


@dataclass(frozen=True)
class RunEstimate:
    """Peak memory (bytes) and time (seconds) of one run; ``None`` where unknown."""

    memory_bytes: int | None
    seconds: float | None
    parameters: int | None


def _layer_sizes(config: RunConfig, input_size: int, classes: int) -> list[int] | None:
    from ..models import hidden_widths

    m = config.model
    arch = m.get("architecture")
    if arch == "autoencoder":
        # the widths the network really has (grid.resolve records them, min_width_factor applied)
        hidden = [int(w) for w in m["hidden_widths"]] if "hidden_widths" in m else \
            hidden_widths(int(m["depth"]), int(m["latent_size"]), [int(w) for w in m["widths"]])
        return [input_size, *hidden, int(m["latent_size"]), *reversed(hidden), input_size]
    if arch == "fc":  # learned compression: one hidden layer each way (models.compression)
        hidden = int((m.get("widths") or [256])[0])
        return [input_size, hidden, int(m["latent_size"]), hidden, input_size]
    if arch in ("mlp", "linear"):
        out = classes if config.task == "classifier" else 1
        return [input_size, *[int(h) for h in (m.get("hidden") or [])], out] if arch == "mlp" else [input_size, out]
    return None


def _conv_compression(config: RunConfig, input_size: int) -> tuple[list[int], int, int]:
    """Per-image feature-map sizes, parameters and multiply-adds per image of the ``conv``
    compression model: 5x5 stride-2 convolutions side -> side/2 -> side/4 and back (their im2col
    matrices are made in ~1 MB chunks of the batch, so they add no per-image term)."""
    m = config.model
    hidden, latent = int((m.get("widths") or [32])[0]), int(m["latent_size"])
    side = max(4, math.isqrt(input_size))
    half, quarter = math.ceil(side / 2), math.ceil(side / 4)
    sizes = [input_size, half * half * hidden, quarter * quarter * latent, half * half * hidden, input_size]
    params = 2 * (25 * hidden + 25 * hidden * latent) + 2 * hidden + latent + 1
    macs = 25 * (2 * half * half * hidden + 2 * quarter * quarter * hidden * latent)
    return sizes, params, macs


def estimate(config: RunConfig) -> RunEstimate:
    """Memory and time of one run of ``config`` (resolved here)."""
    from ..datasets.specs import REGISTRY

    config = resolve(config)
    data, train = config.data, config.train
    spec = REGISTRY.get(str(data.get("dataset", "")).lower().replace("-", "_"))
    if spec is None:
        return RunEstimate(None, None, None)
    input_size = math.prod(spec.sample_shape)
    n_train = int(data.get("n_train") or spec.counts.get("train", 0) or 0)
    n_test = int(data.get("n_test") or spec.counts.get("test", 0) or 0)
    arch = str(config.model.get("architecture"))
    if arch == "conv":
        sizes, params, macs = _conv_compression(config, input_size)
    else:
        sizes = _layer_sizes(config, input_size, max(2, len(spec.class_names)))
        if sizes is None:
            return RunEstimate(None, None, None)
        params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=False))
        macs = params
    batch = n_train if train.get("full_batch") else int(train.get("batch_size", 128))
    per_batch = max(min(batch, max(n_train, 1)), 1)  # images per step
    data_bytes = (n_train + n_test) * input_size * _BYTES * 3  # raw, scaled and the working copy
    weight_bytes = params * _BYTES * 5  # weights, gradients, two Adam moments, the best checkpoint
    activation_bytes = per_batch * sum(sizes) * _BYTES * 4  # forward values and deltas
    evaluation_bytes = min(n_test, 10_000) * max(sizes) * _BYTES * 2
    epochs = int(train.get("epochs", 1))
    batches = epochs * math.ceil(max(n_train, 1) / per_batch)
    seconds = 6.0 * macs * (n_train * epochs + n_test) / FLOPS.get(arch, DENSE_FLOPS) \
        + (0.0 if arch == "conv" else LAYER_BATCH_SECONDS * (len(sizes) - 1) * batches)
    return RunEstimate(data_bytes + weight_bytes + activation_bytes + evaluation_bytes, seconds, params)


def memory_limit() -> int | None:
    """Bytes all runs together may take: ``$AUTOENC_MAX_MEMORY_GB``, else a share of the
    machine's physical memory (None where it cannot be read)."""
    value = os.environ.get("AUTOENC_MAX_MEMORY_GB", "").strip()
    if value:
        try:
            return int(float(value) * 2**30)
        except ValueError:
            raise ResourceError(f"AUTOENC_MAX_MEMORY_GB={value!r} is not a number of GB") from None
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") * MEMORY_FRACTION)
    except (ValueError, OSError, AttributeError):
        return None


def check_resources(configs: list[RunConfig], jobs: int = 1, where: str = "") -> list[RunEstimate]:
    """Estimates of every run; ResourceError when the ``jobs`` largest runs together would
    exceed :func:`memory_limit`."""
    estimates = [estimate(c) for c in configs]
    limit = memory_limit()
    known = sorted((e.memory_bytes for e in estimates if e.memory_bytes is not None), reverse=True)
    if limit is None or not known:
        return estimates
    peak = sum(known[:max(1, jobs)])
    if peak > limit:
        worst = max(range(len(estimates)), key=lambda i: estimates[i].memory_bytes or 0)
        params = dict(configs[worst].params)
        raise ResourceError(f"{where}the largest run ({params}) needs about {known[0] / 2**30:.1f} GB "
                            f"({estimates[worst].parameters:,} parameters), {min(jobs, len(known))} in parallel "
                            f"about {peak / 2**30:.1f} GB, over the limit of {limit / 2**30:.1f} GB; "
                            "use smaller settings or fewer --jobs, or set AUTOENC_MAX_MEMORY_GB for a bigger machine")
    return estimates


def describe_resources(spec: StudySpec, jobs: int = 1) -> str:
    """One line: the memory of the study's largest run and the CPU time of all its runs;
    ResourceError when ``jobs`` runs at a time would not fit (``show`` and ``sweep`` call it
    before anything trains)."""
    where = f"{spec.path}" + (f" (preset {spec.preset!r})" if spec.preset != "full" else "") + ": "
    estimates = check_resources(expand(spec), jobs=jobs, where=where)
    memory = [e.memory_bytes for e in estimates if e.memory_bytes is not None]
    seconds = [e.seconds for e in estimates if e.seconds is not None]
    if not memory:
        return "resources: no estimate for this architecture"
    return (f"resources: largest run about {max(memory) / 2**20:,.0f} MB; all {len(estimates)} runs about "
            f"{sum(seconds) / 60:,.0f} CPU minutes (a rough figure from the multiply-adds, calibrated on this "
            "project's 2-core machine)")
