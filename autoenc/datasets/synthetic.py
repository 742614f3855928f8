"""The original study's synthetic data, deterministic given a seed.

The 2-D classification sets follow the course generator
``gen_arti(centerx=1, centery=1, sigma=0.1, nbex=1000, data_type=0|1|2, epsilon=0.02)``:

- ``gaussians`` (data_type 0): two Gaussian blobs centred at ``(c, c)`` (label +1) and
  ``(-c, -c)`` (label -1), linearly separable.
- ``xor`` (data_type 1): four Gaussians; ``(c, c)`` and ``(-c, -c)`` are +1, ``(-c, c)`` and
  ``(c, -c)`` are -1.
- ``checkerboard`` (data_type 2): points uniform on [-4, 4]^2, label +1 where
  ``ceil(x1) + ceil(x2)`` is odd (unit squares alternate).

As in the original, ``sigma`` is passed as the *covariance* ``diag(sigma, sigma)`` (so the
standard deviation per coordinate is ``sqrt(sigma)`` ~= 0.32 by default, although the
original comment calls it "ecart type"), ``centery`` is unused there and is not offered here,
Gaussian noise of standard deviation ``epsilon`` is added to both coordinates after the
labels are drawn, and the rows are shuffled. Labels +1/-1 are returned as 1/0.

``linear`` is the regression set ``y = a x + b + noise``, ``x ~ U(low, high)``.

Streams come from ``numpy.random.default_rng`` seeded by ``(seed, split, data set)``, so
train and test are independent draws and the same call always returns the same arrays.
"""

from __future__ import annotations

import zlib

import numpy as np

CLASSIFICATION = {"gaussians": 0, "xor": 1, "checkerboard": 2}
DEFAULTS = {
    "gaussians": {"n": 1000, "center": 1.0, "sigma": 0.1, "noise": 0.02},
    "xor": {"n": 1000, "center": 1.0, "sigma": 0.1, "noise": 0.02},
    "checkerboard": {"n": 1000, "noise": 0.02},
    "linear": {"n": 1000, "a": -20.0, "b": -10.0, "noise": 1.0, "low": -1.0, "high": 1.0},
}
#: Parameter names of the original ``gen_arti``, accepted as aliases.
ALIASES = {"nbex": "n", "centerx": "center", "epsilon": "noise"}
_SPLITS = {"train": 0, "test": 1}


def rng_for(name: str, split: str, seed: int) -> np.random.Generator:
    """The generator of one (data set, split, seed): independent streams per split."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return np.random.default_rng([int(seed), _SPLITS[split], zlib.crc32(name.encode())])


def resolve_params(name: str, params: dict) -> dict:
    """Defaults updated with ``params`` (original names accepted); rejects unknown names."""
    out = dict(DEFAULTS[name])
    for key, value in params.items():
        canonical = ALIASES.get(key, key)
        if canonical not in out:
            raise ValueError(
                f"unknown parameter {key!r} for data set {name!r}; accepted: "
                f"{', '.join(sorted(out))}"
                + (" (and the original names nbex, centerx, epsilon)" if name != "linear" else "")
            )
        out[canonical] = value
    n = out["n"]
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    for key in ("sigma", "noise"):
        if key in out and not out[key] >= 0:
            raise ValueError(f"{key} must be >= 0, got {out[key]!r}")
    return out


def _counts(n: int, parts: int) -> list[int]:
    return [n // parts + (i < n % parts) for i in range(parts)]


def gen_arti(
    rng: np.random.Generator,
    *,
    n: int = 1000,
    data_type: int = 0,
    center: float = 1.0,
    sigma: float = 0.1,
    noise: float = 0.02,
) -> tuple[np.ndarray, np.ndarray]:
    """The course generator; returns ``X`` (n, 2) float64 and ``y`` in {-1, +1}."""
    std = np.sqrt(sigma)
    c = center
    if data_type in (0, 1):
        if data_type == 0:
            centres, signs = [(c, c), (-c, -c)], [1, -1]
        else:
            centres, signs = [(c, c), (-c, -c), (-c, c), (c, -c)], [1, 1, -1, -1]
        sizes = _counts(n, len(centres))
        X = np.vstack([rng.normal(m, std, size=(k, 2)) for m, k in zip(centres, sizes, strict=True)])
        y = np.concatenate([np.full(k, s, dtype=np.int64) for s, k in zip(signs, sizes, strict=True)])
    elif data_type == 2:
        X = rng.uniform(-4, 4, size=(n, 2))
        y = np.where((np.ceil(X[:, 0]) + np.ceil(X[:, 1])) % 2 == 1, 1, -1).astype(np.int64)
    else:
        raise ValueError(f"data_type must be 0, 1 or 2, got {data_type!r}")
    X += rng.normal(0.0, noise, size=X.shape)
    order = rng.permutation(n)
    return X[order], y[order]


def generate(name: str, split: str, seed: int = 0, **params) -> tuple[np.ndarray, np.ndarray]:
    """One split of a synthetic data set.

    Returns
    -------
    X : float32 (n, 2) for the classification sets, (n, 1) for ``linear``.
    y : int64 labels in {0, 1} (0 = the original's -1), or float32 (n, 1) targets.
    """
    p = resolve_params(name, params)
    rng = rng_for(name, split, seed)
    if name == "linear":
        x = rng.uniform(p["low"], p["high"], size=(p["n"], 1))
        y = p["a"] * x + p["b"] + rng.normal(0.0, p["noise"], size=x.shape)
        return x.astype(np.float32), y.astype(np.float32)
    X, y = gen_arti(rng, data_type=CLASSIFICATION[name], **p)
    return X.astype(np.float32), (y > 0).astype(np.int64)


def describe(name: str) -> str:
    """One line on what the generator draws with its default parameters."""
    p = DEFAULTS[name]
    if name == "linear":
        sign = "-" if p["b"] < 0 else "+"
        return (f"generated: y = {p['a']:g} x {sign} {abs(p['b']):g} + N(0, {p['noise']:g}^2), "
                f"x ~ U({p['low']:g}, {p['high']:g}), n = {p['n']} per split")
    what = {
        "gaussians": "two Gaussians at (1, 1) [label 1] and (-1, -1) [label 0]",
        "xor": "four Gaussians at (+-1, +-1), label 1 where both signs agree (XOR)",
        "checkerboard": "checkerboard on [-4, 4]^2 with unit squares, label 1 where "
                        "ceil(x1) + ceil(x2) is odd",
    }[name]
    cov = f", covariance {p['sigma']:g} I" if "sigma" in p else ""
    return (f"generated (course gen_arti data_type={CLASSIFICATION[name]}): {what}{cov}, "
            f"noise sd {p['noise']:g}, n = {p['n']} per split; label 1/0 = original +1/-1")
