"""What crosses the boundary of ``autoenc.codec``, checked: the stream container (what one
image's bytes carry besides the range coder's words, so that a decoder can refuse a foreign or
damaged stream before decoding it) and the images a codec is given (``check_pixels``).

Layout (little endian)::

    offset  size  field
    0       1     magic 0xAE
    1       1     stream format version (1)
    2       2     codec tag: the first 16 bits of the codec's id (a hash of its tables)
    4       2     latent size of the codec that wrote the stream
    6       2     payload length in 32-bit words
    8       4     CRC-32 of the codec's full 8-byte id, bytes 0-7 and the payload
    12      4 n   payload: the range coder's words

The checksum covers the codec's whole id without carrying it, so a stream of another codec
fails it even where the 16-bit tag happens to agree. The header is container overhead (12
bytes per image); rates (``payload_bits``) count the payload, like the payload rates of JPEG
and WebP beside their file sizes.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import InputError

__all__ = ["HEADER_BYTES", "MAX_LATENT", "CodecError", "check_pixels", "frame", "payload_bits", "unframe"]

_HEADER = struct.Struct("<BBHHHI")
HEADER_BYTES = _HEADER.size
MAGIC = 0xAE
VERSION = 1
#: Widest latent a stream header can name (16 bits).
MAX_LATENT = 0xFFFF
#: Slack on the [0, input_max] range of input pixels (float rounding of scaled images).
RANGE_TOLERANCE = 1e-4


class CodecError(InputError, ValueError):
    """A codec file, a bitstream or an input is invalid; the message says which and what to do.
    Every error of the range coder surfaces as this one type."""


def _tag(codec_id: bytes) -> int:
    return int.from_bytes(codec_id[:2], "little")


def _crc(codec_id: bytes, head: bytes, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(head, zlib.crc32(codec_id)))


def frame(codec_id: bytes, latent_size: int, words: np.ndarray) -> bytes:
    """One stream: header + ``words`` (the range coder's output)."""
    if len(words) > 0xFFFF or not 0 < latent_size <= MAX_LATENT:
        raise CodecError(f"a payload of {len(words)} words (latent size {latent_size}) does not fit the stream "
                         "header")
    payload = np.asarray(words, "<u4").tobytes()
    head = _HEADER.pack(MAGIC, VERSION, _tag(codec_id), latent_size, len(words), 0)[:-4]
    return head + struct.pack("<I", _crc(codec_id, head, payload)) + payload


def unframe(i: int, stream: Any, codec_id: bytes, latent_size: int) -> np.ndarray:
    """The payload words of stream ``i`` after every check of its header against the codec
    (``codec_id``, ``latent_size``) that is to decode it.

    Raises
    ------
    CodecError
        Not bytes, empty, shorter than its header, another magic or version, another codec or
        latent size, a payload of another length than the header says, a failed checksum.
    """
    if not isinstance(stream, bytes | bytearray | memoryview):
        raise CodecError(f"stream {i} is a {type(stream).__name__}, not bytes")
    stream = bytes(stream)
    if len(stream) < HEADER_BYTES:
        raise CodecError(f"stream {i} has {len(stream)} bytes, fewer than its {HEADER_BYTES}-byte header: "
                         "it is empty or truncated")
    magic, version, tag, latent, n_words, crc = _HEADER.unpack_from(stream)
    if magic != MAGIC:
        raise CodecError(f"stream {i} is not an autoenc latent stream (no 0x{MAGIC:X} magic byte)")
    if version != VERSION:
        raise CodecError(f"stream {i} has stream format version {version}; this autoenc reads {VERSION}")
    if latent != latent_size:
        raise CodecError(f"stream {i} was written by a codec of latent size {latent}; this codec has "
                         f"{latent_size}: decode it with the codec that wrote it")
    if tag != _tag(codec_id):
        raise CodecError(f"stream {i} was written by another codec (tag {tag:04x}, this codec's is "
                         f"{_tag(codec_id):04x}): decode it with the codec that wrote it")
    if len(stream) != HEADER_BYTES + 4 * n_words:
        raise CodecError(f"stream {i} has {len(stream) - HEADER_BYTES} payload bytes where its header says "
                         f"{4 * n_words}: it was truncated or extended")
    payload = stream[HEADER_BYTES:]
    if _crc(codec_id, stream[:HEADER_BYTES - 4], payload) != crc:
        raise CodecError(f"stream {i} fails its checksum: it is damaged or was written by another codec")
    return np.frombuffer(payload, dtype="<u4").astype(np.uint32)


def payload_bits(streams: Sequence[bytes]) -> np.ndarray:
    """Bits of each stream's range-coded payload (whole 32-bit words, without the header)."""
    return np.array([8 * (len(s) - HEADER_BYTES) for s in streams], np.float64)


def check_pixels(images: np.ndarray, input_max: float | None, size: int | None = None) -> np.ndarray:
    """Images (n, ...) as float32 rows (n, size) in the codec's range: ``uint8`` scaled to [0, 1]
    when the codec expects [0, 1]; anything else outside [0, input_max] refused. A single image
    of ``size`` values, flat (784,) or square (28, 28), is a batch of one."""
    X = np.asarray(images)
    if X.dtype.kind not in "fiub":
        raise CodecError(f"images must be a numeric array (n, ...), got dtype {X.dtype}")
    if size is not None and X.size == size and (X.ndim == 1 or (X.ndim == 2 and X.shape[0] == X.shape[1] > 1)):
        X = X.reshape(1, size)
    if X.ndim < 2 or not X.size:
        raise CodecError(f"images must be a non-empty array (n, ...) of n images, or one image of {size or 'd'} "
                         f"values; got shape {X.shape}")
    scaled = X.dtype == np.uint8 and input_max == 1.0
    X = X.reshape(len(X), -1).astype(np.float32)
    if size is not None and X.shape[1] != size:
        raise CodecError(f"images have {X.shape[1]} values each, the codec's encoder takes {size}")
    if scaled:
        X /= 255.0
    if not np.isfinite(X).all():
        raise CodecError("images contain NaN or inf")
    if input_max is not None:
        low, high = float(X.min()), float(X.max())
        if low < -RANGE_TOLERANCE or high > input_max + RANGE_TOLERANCE:
            hint = " (8-bit pixels? pass them as uint8 or divide by 255)" if high > 1.5 and input_max == 1.0 else ""
            raise CodecError(f"image pixels span [{low:g}, {high:g}]; this codec codes pixels in "
                             f"[0, {input_max:g}]{hint}")
    return X
