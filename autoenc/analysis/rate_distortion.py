"""Rate-distortion of trained encoders as codecs, against PCA, JPEG, WebP and PNG.

Rates are real bitstream sizes: the range-coded codes of :class:`autoenc.codec.LatentCodec`,
and the file bytes Pillow writes for JPEG/WebP/PNG (also without their container headers,
which dominate on 28 x 28 images). Distortion per image: MSE (pixels in [0, 1]), PSNR
(10 log10(1 / MSE)) and SSIM (7 x 7 uniform window, as ``skimage.metrics.structural_similarity``
with ``data_range=1``, computed for a whole batch at once; tested against scikit-image).
Summaries follow CompressAI's conventions: mean bits per pixel, mean per-image PSNR and SSIM;
BD-rate (Bjontegaard delta rate) between two curves over their shared PSNR range.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

__all__ = ["BEST_SETTINGS", "MIN_OVERLAP_DB", "STEP_SCALES", "BDRate", "bd_rate", "bd_rate_overlap", "codec_curve",
           "codec_point", "designed_curves", "distortion", "fewest_bits", "pillow_curve", "rate_at_psnr",
           "side_information", "ssim_batch", "upper_envelope", "validation_point"]

#: Scales of every quantizer design (for "scaled": multiples of each code dimension's train-split
#: standard deviation); 8 and 4 reach the rates where every dimension but a few is dropped.
STEP_SCALES = (8.0, 4.0, 2.0, 1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125)
JPEG_QUALITIES = (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95)
WEBP_QUALITIES = (0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95)
#: Each library codec at its best standard settings for small grayscale images (Pillow; mode "L",
#: so JPEG and WebP carry no chroma): optimized Huffman tables for JPEG (quality 5: 2.2 bpp
#: instead of 3.9 with Pillow's defaults; progressive JPEG measured larger on 28 x 28 images),
#: WebP's slowest, smallest method. PNG: ``optimize`` measured no smaller, left at the default.
BEST_SETTINGS: dict[str, dict[str, Any]] = {"JPEG": {"optimize": True}, "WEBP": {"method": 6}}
MAX_PSNR = 100.0  # a perfect reconstruction (MSE 0) counts as 100 dB


def _box_means(a: np.ndarray, w: int) -> np.ndarray:
    """Means of every ``w`` x ``w`` window lying wholly inside each image of ``a`` (n, h, w'),
    from a summed-area table (the windows SSIM averages over, without any border)."""
    n, h, v = a.shape
    sat = np.zeros((n, h + 1, v + 1))
    np.cumsum(a, axis=1, out=sat[:, 1:, 1:])
    np.cumsum(sat[:, 1:, 1:], axis=2, out=sat[:, 1:, 1:])
    return (sat[:, w:, w:] - sat[:, :-w, w:] - sat[:, w:, :-w] + sat[:, :-w, :-w]) / (w * w)


def _ssim_numpy(x: np.ndarray, y: np.ndarray, w: int) -> np.ndarray:
    """Per-image SSIM (float64 batches (n, h, w')), NumPy, in cache-sized blocks."""
    block = max(1, 2**14 // (x.shape[1] * x.shape[2]))
    if len(x) > block:
        return np.concatenate([_ssim_numpy(x[i:i + block], y[i:i + block], w) for i in range(0, len(x), block)])
    cov_norm = w * w / (w * w - 1)
    ux, uy = _box_means(x, w), _box_means(y, w)
    uxx, uyy, uxy = _box_means(x * x, w), _box_means(y * y, w), _box_means(x * y, w)
    vx, vy, vxy = cov_norm * (uxx - ux * ux), cov_norm * (uyy - uy * uy), cov_norm * (uxy - ux * uy)
    s = ((2 * ux * uy + _C1) * (2 * vxy + _C2)) / ((ux * ux + uy * uy + _C1) * (vx + vy + _C2))
    return s.mean(axis=(1, 2))


_C1, _C2 = (0.01 * 1.0) ** 2, (0.03 * 1.0) ** 2  # K1, K2 of SSIM at data_range 1
_KERNELS: dict[str, Any] = {}  # name -> compiled kernel or None, filled on first use


def _kernel(name: str) -> Any:
    """``"ssim"`` (``ssim_batch``, 10x faster on the report's 10,000-image batches) or ``"mse"``
    (``distortion``: one pass, no temporaries) compiled with numba; None where numba is missing
    or disabled (``AUTOENC_NUMBA=0``)."""
    if not _KERNELS:
        _KERNELS.update(_compile())
    return _KERNELS.get(name)


def _compile() -> dict[str, Any]:
    from ..nn.kernels import numba_enabled

    if not numba_enabled():
        return {"ssim": None, "mse": None}
    import numba

    @numba.njit(cache=True, nogil=True)
    def ssim(x, y, w, c1, c2, clip, out):  # pragma: no cover - compiled
        n, h, v = x.shape
        sats = np.zeros((5, h + 1, v + 1))
        cov_norm = w * w / (w * w - 1.0)
        area = float(w * w)
        for i in range(n):
            for r in range(h):
                s0 = s1 = s2 = s3 = s4 = 0.0  # running sums along the row
                for c in range(v):
                    a, b = x[i, r, c], np.float64(y[i, r, c])
                    if clip:  # as np.clip (NaN stays NaN)
                        if b < 0.0:
                            b = 0.0
                        elif b > 1.0:
                            b = 1.0
                    s0 += a
                    s1 += b
                    s2 += a * a
                    s3 += b * b
                    s4 += a * b
                    sats[0, r + 1, c + 1] = sats[0, r, c + 1] + s0
                    sats[1, r + 1, c + 1] = sats[1, r, c + 1] + s1
                    sats[2, r + 1, c + 1] = sats[2, r, c + 1] + s2
                    sats[3, r + 1, c + 1] = sats[3, r, c + 1] + s3
                    sats[4, r + 1, c + 1] = sats[4, r, c + 1] + s4
            total = 0.0
            for r in range(h - w + 1):
                for c in range(v - w + 1):
                    r1, c1_ = r + w, c + w
                    mx = (sats[0, r1, c1_] - sats[0, r, c1_] - sats[0, r1, c] + sats[0, r, c]) / area
                    my = (sats[1, r1, c1_] - sats[1, r, c1_] - sats[1, r1, c] + sats[1, r, c]) / area
                    mxx = (sats[2, r1, c1_] - sats[2, r, c1_] - sats[2, r1, c] + sats[2, r, c]) / area
                    myy = (sats[3, r1, c1_] - sats[3, r, c1_] - sats[3, r1, c] + sats[3, r, c]) / area
                    mxy = (sats[4, r1, c1_] - sats[4, r, c1_] - sats[4, r1, c] + sats[4, r, c]) / area
                    vx = cov_norm * (mxx - mx * mx)
                    vy = cov_norm * (myy - my * my)
                    vxy = cov_norm * (mxy - mx * my)
                    total += ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
            out[i] = total / ((h - w + 1) * (v - w + 1))

    @numba.njit(cache=True, nogil=True)
    def mse(x, y, out):  # pragma: no cover - compiled
        # mean over each row of (clip(y, 0, 1) - x)**2, in float64; NaN stays NaN as in np.clip
        n, d = x.shape
        for i in range(n):
            total = 0.0
            for j in range(d):
                v = np.float64(y[i, j])
                if v < 0.0:
                    v = 0.0
                elif v > 1.0:
                    v = 1.0
                e = v - x[i, j]
                total += e * e
            out[i] = total / d

    return {"ssim": ssim, "mse": mse}


def ssim_batch(X: np.ndarray, Y: np.ndarray, side: int, *, win_size: int = 7, clip: bool = False) -> np.ndarray:
    """Per-image SSIM of two batches of square images with pixels in [0, 1] (``clip``: ``Y``
    clipped to [0, 1] first).

    Same definition as ``skimage.metrics.structural_similarity(x, y, data_range=1.0)`` with
    its defaults (uniform ``win_size`` window, K1 = 0.01, K2 = 0.03, sample covariance, mean
    over the image without a border of ``win_size // 2``), vectorised over the batch. The mean
    covers exactly the windows that lie inside the image, so window sums come from a
    summed-area table (compiled with numba where available; tested against scikit-image).
    """
    x = np.ascontiguousarray(np.asarray(X, np.float64).reshape(-1, side, side))
    y = np.asarray(Y)
    y = np.ascontiguousarray((y if y.dtype in (np.float32, np.float64) else y.astype(np.float64))
                             .reshape(-1, side, side))  # float32 read as it is (the kernel converts)
    if side < win_size:
        raise ValueError(f"images of side {side} are smaller than the SSIM window ({win_size})")
    kernel = _kernel("ssim")
    if kernel is None or not len(x):
        y = y.astype(np.float64)
        return _ssim_numpy(x, np.clip(y, 0.0, 1.0) if clip else y, win_size)
    out = np.empty(len(x))
    kernel(x, y, win_size, _C1, _C2, clip, out)
    return out


def distortion(X: np.ndarray, X_hat: np.ndarray, side: int, *, ssim: bool = True) -> dict[str, np.ndarray]:
    """Per-image MSE, PSNR (dB) and SSIM (nan without ``ssim``) of reconstructions ``X_hat`` of
    ``X`` (pixels in [0, 1])."""
    X = np.asarray(X, np.float64).reshape(len(X), -1)
    X_hat = np.asarray(X_hat).reshape(len(X), -1)
    kernel = _kernel("mse")
    if kernel is not None and X_hat.dtype in (np.float32, np.float64) and len(X):
        mse = np.empty(len(X))
        kernel(X, X_hat, mse)
    else:
        X_hat = np.array(X_hat, np.float64)  # a copy, clipped in place
        np.clip(X_hat, 0.0, 1.0, out=X_hat)
        diff = np.subtract(X_hat, X)
        diff *= diff
        mse = diff.mean(axis=1)
    with np.errstate(divide="ignore"):
        psnr = np.minimum(10 * np.log10(1.0 / mse), MAX_PSNR)
    return {"mse": mse, "psnr": psnr,
            "ssim": ssim_batch(X, X_hat, side, clip=True) if ssim else np.full(len(X), math.nan)}


def _summary(bits: np.ndarray, d: dict[str, np.ndarray], n_pixels: int) -> dict[str, float]:
    return {"bpp": float(np.mean(bits) / n_pixels), "mse": float(d["mse"].mean()),
            "psnr": float(d["psnr"].mean()), "ssim": float(d["ssim"].mean())}


def _decoded_distortion(codec: Any, symbols: np.ndarray, X: np.ndarray, side: int, ssim: bool,
                        memo: dict[bytes, dict[str, np.ndarray]] | None) -> dict[str, np.ndarray]:
    """``distortion`` of the decoded ``symbols``, the decoder in its own dtype (``decode_values``,
    ``exact=False``: PSNR within ~1e-5 dB of the float64 decoder's, tested); without SSIM and with
    a ``memo`` (one codec's decoder, the same images ``X``) the decoder runs once per distinct set
    of code values: a design's validation curve and its real operating points decode the same codes."""
    values = codec.code_values(symbols)
    if ssim or memo is None:
        return distortion(X, codec.decode_values(values, exact=False), side, ssim=ssim)
    key = hashlib.sha256(values.tobytes()).digest()
    if key not in memo:
        memo[key] = distortion(X, codec.decode_values(values, exact=False), side, ssim=False)
    return memo[key]



def codec_point(codec: Any, X: np.ndarray, side: int, codes: np.ndarray | None = None, *, ssim: bool = True,
                memo: dict[bytes, dict[str, np.ndarray]] | None = None) -> dict[str, float]:
    """One operating point of a ``LatentCodec`` on images ``X``: real bitstream rate (and the
    ideal information content) and distortion of ``decode(encode(X))``; ``codes``: the
    encoder's codes of ``X`` when already computed (several steps, one encoder pass); ``memo``:
    distortions already measured on ``X`` with the same decoder (without SSIM)."""
    symbols = codec.quantize(X) if codes is None else codec.quantize_codes(codes)
    bits = codec.coded_bits(symbols)  # the range-coded words, without the stream header
    d = _decoded_distortion(codec, symbols, X, side, ssim, memo)
    out = _summary(bits, d, X[0].size)
    if not ssim:
        del out["ssim"]
    out["ideal_bpp"] = float(codec.ideal_bits(symbols).mean() / X[0].size)
    return out


def codec_curve(codec: Any, X_train: np.ndarray, X: np.ndarray, side: int,
                step_scales: Sequence[float] = STEP_SCALES, *, train_codes: np.ndarray | None = None,
                design: str = "scaled", statistics: Any = None) -> list[dict[str, float]]:
    """Operating points of one encoder/decoder pair (any ``LatentCodec``) with quantizer ``design``
    at each step scale, with one encoder pass over the train split (for the tables; ``train_codes``
    and their ``statistics`` when already computed) and one over ``X``."""
    codes = codec.train_codes(X)
    if train_codes is None:
        train_codes = codec.train_codes(X_train)
    return [codec_point(codec.refit(s, train_codes, design=design, statistics=statistics), X, side, codes)
            for s in step_scales]


def _jpeg_payload(data: bytes) -> int:
    """Bytes of the entropy-coded scan: from the end of the SOS segment to EOI (exclusive)."""
    sos = data.find(b"\xff\xda")
    if sos < 0:
        return len(data)
    start = sos + 2 + int.from_bytes(data[sos + 2:sos + 4], "big")
    end = data.rfind(b"\xff\xd9")
    return max(0, (end if end > start else len(data)) - start)


def _webp_payload(data: bytes) -> int:
    """Bytes of the VP8/VP8L bitstream: the first chunk's payload after the RIFF and chunk headers."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return len(data)
    return int.from_bytes(data[16:20], "little")


def _png_payload(data: bytes) -> int:
    """Bytes of the IDAT chunks' data."""
    total, pos = 0, 8
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        if data[pos + 4:pos + 8] == b"IDAT":
            total += length
        pos += 12 + length
    return total


def pillow_curve(X: np.ndarray, side: int, fmt: str, qualities: Sequence[int | None], *, ssim: bool = True
                 ) -> list[dict[str, float]]:
    """Operating points of a Pillow codec (``"JPEG"``, ``"WEBP"``, ``"PNG"``) on 8-bit grayscale
    versions of ``X`` (pixels in [0, 1] times 255, rounded: exact for Fashion-MNIST), at its best
    settings (``BEST_SETTINGS``). Rates: whole files (``bpp``) and without container headers
    (``payload_bpp``)."""
    from PIL import Image

    pixels = np.rint(np.asarray(X, np.float64).reshape(-1, side, side) * 255).astype(np.uint8)
    payload_of = {"JPEG": _jpeg_payload, "WEBP": _webp_payload, "PNG": _png_payload}[fmt]
    points = []
    for q in qualities:
        sizes, payloads, decoded = [], [], np.empty(pixels.shape, np.float64)
        for i, img in enumerate(pixels):
            buf = io.BytesIO()
            kwargs: dict[str, Any] = {**BEST_SETTINGS.get(fmt, {}), **({} if q is None else {"quality": int(q)})}
            Image.fromarray(img, mode="L").save(buf, format=fmt, **kwargs)
            data = buf.getvalue()
            sizes.append(len(data))
            payloads.append(payload_of(data))
            with Image.open(io.BytesIO(data)) as im:
                decoded[i] = np.asarray(im.convert("L"), np.float64) / 255.0
        d = distortion(X, decoded.reshape(len(X), -1), side, ssim=ssim)
        n = side * side
        point = _summary(8 * np.asarray(sizes, float), d, n)
        if not ssim:
            del point["ssim"]
        point.update(quality=q if q is not None else -1, payload_bpp=float(8 * np.mean(payloads) / n))
        points.append(point)
    return points


def upper_envelope(points: Sequence[dict[str, float]], rate: str = "bpp", quality: str = "psnr"
                   ) -> list[dict[str, float]]:
    """The points not beaten by a cheaper point: sorted by rate, quality strictly increasing."""
    out: list[dict[str, float]] = []
    for p in sorted(points, key=lambda p: (p[rate], -p[quality])):
        if not out or p[quality] > out[-1][quality]:
            out.append(p)
    return out


#: BD-rates over a shared PSNR range narrower than this (dB) are refused ("overlap < 2 dB"): over
#: a narrower range both fits extrapolate, and the classic and piecewise-cubic fits can disagree
#: by tens of points and in sign (docs/codecs.md).
MIN_OVERLAP_DB = 2.0


def _rd_curve(rate: Sequence[float], psnr: Sequence[float]) -> tuple[np.ndarray, np.ndarray] | None:
    """(PSNR, log rate) of the upper envelope of a curve, or None with fewer than 2 points."""
    pts = upper_envelope([{"bpp": r, "psnr": p} for r, p in zip(rate, psnr, strict=True)
                          if r > 0 and math.isfinite(r) and math.isfinite(p)])
    if len(pts) < 2:
        return None
    return np.array([p["psnr"] for p in pts]), np.log(np.array([p["bpp"] for p in pts]))


def _mean_log_rate(curve: tuple[np.ndarray, np.ndarray], lo: float, hi: float, method: str, n: int = 200) -> float:
    """Mean of the log rate over PSNR in [lo, hi]: a monotone piecewise cubic (PCHIP) through the
    points, or the classic Bjontegaard cubic polynomial fitted to them (degree below 3 with fewer
    than 4 points), integrated exactly."""
    psnr, log_rate = curve
    if method == "cubic":
        poly = np.polynomial.Polynomial.fit(psnr, log_rate, min(3, len(psnr) - 1)).integ()
        return float((poly(hi) - poly(lo)) / (hi - lo))
    from scipy.interpolate import PchipInterpolator

    grid = np.linspace(lo, hi, n)
    return float(np.trapezoid(PchipInterpolator(psnr, log_rate)(grid), grid) / (hi - lo))


@dataclass(frozen=True)
class BDRate:
    """A Bjontegaard delta rate of A against B with the PSNR range it rests on.

    Attributes:
        pchip: percent, log rate interpolated as a monotone piecewise cubic of PSNR (current tools).
        cubic: percent, the classic fit (a cubic polynomial of PSNR per curve).
        low, high: the shared PSNR range (dB); nan when there is none.
    """

    pchip: float
    cubic: float
    low: float
    high: float

    @property
    def overlap_db(self) -> float:
        return self.high - self.low if math.isfinite(self.low) else 0.0

    def refused(self, min_overlap_db: float = MIN_OVERLAP_DB) -> bool:
        """True when the curves share less than ``min_overlap_db`` of PSNR (or nothing)."""
        return not self.overlap_db >= min_overlap_db

    @property
    def fits_disagree(self) -> bool:
        """The classic and piecewise-cubic fits give opposite signs."""
        return bool(self.pchip * self.cubic < 0)

    def text(self, min_overlap_db: float = MIN_OVERLAP_DB) -> str:
        """"-12.3% (over 5.1 dB)", both fits when they disagree in sign, or the refusal."""
        if self.refused(min_overlap_db):
            # one more digit where one would print the threshold itself ("overlap 2.0 dB < 2 dB")
            digits = 2 if float(f"{self.overlap_db:.1f}") >= min_overlap_db else 1
            return f"overlap {self.overlap_db:.{digits}f} dB < {min_overlap_db:g} dB"
        both = f" (classic cubic {self.cubic:+.1f}%)" if self.fits_disagree else ""
        return f"{self.pchip:+.1f}%{both} over {self.overlap_db:.1f} dB"


def bd_rate_overlap(rate_a: Sequence[float], psnr_a: Sequence[float], rate_b: Sequence[float],
                    psnr_b: Sequence[float]) -> BDRate:
    """Bjontegaard delta rate of A against B (percent; negative: A needs fewer bits for the same
    PSNR) over the PSNR range both curves' upper envelopes cover, by both fits, with that range."""
    a, b = _rd_curve(rate_a, psnr_a), _rd_curve(rate_b, psnr_b)
    if a is None or b is None:
        return BDRate(math.nan, math.nan, math.nan, math.nan)
    lo, hi = max(a[0].min(), b[0].min()), min(a[0].max(), b[0].max())
    if not hi > lo:
        return BDRate(math.nan, math.nan, math.nan, math.nan)
    values = [(math.exp(_mean_log_rate(a, lo, hi, m) - _mean_log_rate(b, lo, hi, m)) - 1) * 100
              for m in ("pchip", "cubic")]
    return BDRate(values[0], values[1], float(lo), float(hi))


def bd_rate(rate_a: Sequence[float], psnr_a: Sequence[float], rate_b: Sequence[float], psnr_b: Sequence[float]
            ) -> float:
    """Bjontegaard delta rate of A against B, in percent (negative: A needs fewer bits for
    the same PSNR), over the PSNR range both curves cover. Log-rate is interpolated as a
    monotone piecewise cubic (PCHIP) function of PSNR, as in current BD-rate tools; nan when
    the curves share no PSNR range or have fewer than 2 points. ``bd_rate_overlap`` also gives
    the classic cubic fit and the shared range (check it before quoting the number)."""
    return bd_rate_overlap(rate_a, psnr_a, rate_b, psnr_b).pchip


def rate_at_psnr(points: Sequence[dict[str, float]], psnr: float, key: str = "bpp") -> float:
    """The rate (``key``) a curve needs for ``psnr``: log rate interpolated linearly in PSNR on the
    curve's upper envelope (the rate itself on a segment from a zero-rate point, where the log has
    no value); nan outside the PSNR range it covers."""
    env = upper_envelope(points, rate=key)
    if not env or not env[0]["psnr"] <= psnr <= env[-1]["psnr"]:
        return math.nan
    psnrs, rates = np.array([p["psnr"] for p in env]), np.array([p[key] for p in env], np.float64)
    if rates[0] <= 0 and psnr <= psnrs[min(1, len(env) - 1)]:
        return float(np.interp(psnr, psnrs[:2], rates[:2]))
    positive = rates > 0
    return float(np.exp(np.interp(psnr, psnrs[positive], np.log(rates[positive]))))


def validation_point(codec: Any, X: np.ndarray, codes: np.ndarray, side: int | None = None, *,
                     memo: dict[bytes, dict[str, np.ndarray]] | None = None) -> dict[str, float]:
    """A cheap operating point on held-out images for choosing a design: the information content
    of the symbols under the codec's tables (the range coder's word overhead is about the same
    for every design at a given rate) and the mean per-image PSNR (no SSIM; ``memo`` as in
    ``codec_point``)."""
    symbols = codec.quantize_codes(codes)
    X = np.asarray(X, np.float64).reshape(len(X), -1)
    d = _decoded_distortion(codec, symbols, X, side or math.isqrt(X.shape[1]), False, memo)
    return {"bpp": float(codec.ideal_bits(symbols).mean() / X.shape[1]), "psnr": float(d["psnr"].mean())}


def fewest_bits(curves: dict[Any, list[dict[str, float]]]) -> tuple[Any, dict[Any, float]]:
    """The curve (a quantizer design, a codec) that needs the fewest bits: the lowest mean log rate
    over the PSNR range every curve covers (PCHIP fit), meant for validation curves. Returns its
    name and each curve's BD-rate (percent) against the first one (the reference, which also wins
    ties and overlaps under ``MIN_OVERLAP_DB``, where the other values are nan)."""
    names = list(curves)
    fitted = {d: _rd_curve([p["bpp"] for p in pts], [p["psnr"] for p in pts]) for d, pts in curves.items()}
    if any(c is None for c in fitted.values()):
        return names[0], {d: math.nan for d in names}
    lo = max(c[0].min() for c in fitted.values() if c is not None)
    hi = min(c[0].max() for c in fitted.values() if c is not None)
    if not hi - lo >= MIN_OVERLAP_DB:
        return names[0], {d: math.nan for d in names}
    mean = {d: _mean_log_rate(c, lo, hi, "pchip") for d, c in fitted.items() if c is not None}
    delta = {d: (math.exp(mean[d] - mean[names[0]]) - 1) * 100 for d in names}
    best = min(names, key=lambda d: (round(delta[d], 9), names.index(d)))
    return best, delta


def side_information(codec: Any) -> dict[str, int]:
    """What a decoder of ``codec`` must hold besides each image's stream, in bytes: the decoder's
    weights (autoencoder decoder layers, or PCA components and mean) at 32 bits each, and the
    codec's tables (one 32-bit probability per symbol of every dimension's alphabet, plus its step,
    center and offset)."""
    model = codec.model
    if model.get("kind") == "autoencoder":
        weights = sum(int(v.size) for k, v in model["module"].state_dict().items() if k.startswith("decoder"))
    elif model.get("kind") == "pca":
        weights = int(model["components"].size + model["mean"].size)
    else:
        weights = 0
    return {"weights_bytes": 4 * weights, "table_bytes": int(4 * (codec.support.sum() + 3 * codec.latent_size))}


def designed_curves(codec: Any, train_codes: np.ndarray, X_val: np.ndarray, X_test: np.ndarray, side: int, *,
                    designs: Sequence[str] | None = None, step_scales: Sequence[float] = STEP_SCALES
                    ) -> dict[str, Any]:
    """One latent codec at its best quantizer: every design's curve on the validation images
    ``X_val`` (information content of the symbols, tables from a sample of the train codes: cheap),
    the design needing the fewest bits there (``fewest_bits``), then that design's real operating
    points on the validation images (no SSIM) and on the test images ``X_test``.

    Returns ``{"design", "design_bd" (each design's validation BD-rate against "scaled"),
    "validation", "test" (lists of points), "weights_bytes", "table_bytes" (per point)}``.
    """
    from ..quantizer import DESIGNS, CodeStatistics

    designs = list(designs or DESIGNS)
    # the decoder gains with the decoder in float32: central differences of 0.1 sd, far above its rounding
    stats = CodeStatistics.measure(train_codes, partial(codec.decode_values, exact=False)
                                   if "lagrangian" in designs else None)
    val_codes, test_codes = codec.train_codes(X_val), codec.train_codes(X_test)
    X_val, X_test = (np.asarray(X, np.float64).reshape(len(X), -1) for X in (X_val, X_test))  # converted once
    # the validation tables span every train code (``stats``' extremes) as the full tables do: the chosen
    # design's real validation points then decode the same codes, and the decoder runs once for both
    memo: dict[bytes, dict[str, np.ndarray]] = {}
    curves = {d: [validation_point(codec.refit(s, stats.sample, design=d, statistics=stats), X_val, val_codes,
                                   side, memo=memo) for s in step_scales] for d in designs}
    best, delta = fewest_bits(curves)
    out: dict[str, Any] = {"design": best, "design_bd": delta, "validation": [], "test": [], "table_bytes": []}
    for s in step_scales:
        fitted = codec.refit(s, train_codes, design=best, statistics=stats)
        out["validation"].append(codec_point(fitted, X_val, side, val_codes, ssim=False, memo=memo))
        out["test"].append({**codec_point(fitted, X_test, side, test_codes), "scale": float(s)})
        info = side_information(fitted)
        out["weights_bytes"] = info["weights_bytes"]
        out["table_bytes"].append(info["table_bytes"])
    return out
