"""Streams and codec files that must be refused (issue 22): foreign, damaged or crafted input
gives one CodecError before anything is decoded or allocated; awkward fits work or say why."""

from __future__ import annotations

import json
import struct
import zipfile

import numpy as np
import pytest

pytest.importorskip("constriction")

from autoenc.bitstream import frame  # noqa: E402
from autoenc.codec import HEADER_BYTES, CodecError, LatentCodec  # noqa: E402
from autoenc.errors import InputError  # noqa: E402
from autoenc.models import autoencoder  # noqa: E402


def _images(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, size=(n, 16)).astype(np.float32)


@pytest.fixture(scope="module")
def codec():
    model = autoencoder(16, 4, depth=1, seed=0)
    return LatentCodec.from_autoencoder(model, _images(200), step_scale=0.25)


@pytest.fixture(scope="module")
def streams(codec):
    return codec.encode(_images(5, seed=1))


def _forge(codec: LatentCodec, words: np.ndarray) -> bytes:
    """A stream with a valid header and checksum around arbitrary payload words."""
    return frame(codec.codec_id, codec.latent_size, np.asarray(words, np.uint32))


@pytest.mark.parametrize("damage", [
    lambda s: b"",                                  # empty
    lambda s: s[:-4],                               # missing its last word
    lambda s: s[:-1],                               # missing a byte
    lambda s: s + b"\0\0\0\0",                      # an extra word
    lambda s: s[:HEADER_BYTES],                     # header only
    lambda s: s[:5],                                # part of the header
    lambda s: s[:-1] + bytes([s[-1] ^ 1]),          # one bit flipped in the payload
    lambda s: bytes([s[0] ^ 0xFF]) + s[1:],         # not our magic
    lambda s: s[:1] + b"\x09" + s[2:],              # another stream format version
    lambda s: b"\xff" * len(s),                     # 0xFF words
    lambda s: s[:8] + b"\0\0\0\0" + s[12:],         # checksum zeroed
])
def test_damaged_streams_are_refused(codec, streams, damage):
    bad = damage(streams[2])
    with pytest.raises(CodecError, match="stream 1"):
        codec.decode([streams[0], bad, streams[1]])


def test_streams_of_another_codec_are_refused(codec, streams):
    wider = LatentCodec.from_autoencoder(autoencoder(16, 6, depth=1, seed=1), _images(200), step_scale=0.25)
    with pytest.raises(CodecError, match="latent size 6"):
        codec.decode(wider.encode(_images(2)))
    # same architecture and latent size, other tables: refused by the tag or the checksum
    finer = LatentCodec.from_autoencoder(codec.model["module"], _images(200), step_scale=0.1)
    with pytest.raises(CodecError, match="another codec"):
        codec.decode(finer.encode(_images(2)))


def test_coder_errors_become_codec_errors(codec):
    """A stream whose header and checksum are right but whose words no encoder wrote: the
    range coder's AssertionError surfaces as CodecError (one error type, an InputError)."""
    with pytest.raises(CodecError, match="cannot be decoded") as info:
        codec.decode([_forge(codec, np.full(3, 0xFFFFFFFF))])
    assert isinstance(info.value, InputError)
    with pytest.raises(CodecError, match="list of streams"):
        codec.decode(b"\xae" * 16)
    with pytest.raises(CodecError, match="not bytes"):
        codec.decode([None])
    with pytest.raises(CodecError, match="outside the codec's tables"):
        codec.encode_symbols(np.full((1, 4), 10**6))


@pytest.mark.parametrize("step_scale", [1e6, 1e300])
def test_one_symbol_tables_work(step_scale):
    """A huge step (or a codec fitted on one image) leaves one symbol per dimension: the
    streams carry no payload and decode to the one reconstruction."""
    model = autoencoder(16, 4, depth=1, seed=0)
    X = _images(20)
    codec = LatentCodec.from_autoencoder(model, X, step_scale=step_scale)
    assert codec.probabilities.shape[1] == 1 and codec.coded.size == 0
    streams = codec.encode(X)
    assert all(len(s) == HEADER_BYTES for s in streams) and not codec.payload_bits(streams).any()
    np.testing.assert_array_equal(codec.decode(streams), codec.reconstruct(X))
    single = LatentCodec.from_autoencoder(model, X[:1], step_scale=0.5)
    np.testing.assert_array_equal(single.decode(single.encode(X)), single.reconstruct(X))


@pytest.mark.parametrize("step_scale", [float("inf"), float("nan"), -1.0, 0.0, "0.5", None])
def test_unusable_step_scales_are_refused(step_scale):
    model = autoencoder(16, 4, depth=1, seed=0)
    with pytest.raises(CodecError, match="step"):
        LatentCodec.from_autoencoder(model, _images(20), step_scale=step_scale)


@pytest.mark.parametrize("step_scale, codes", [(1e300, [[0.0], [1e10]]), (1e-300, [[0.0], [1.0]])])
def test_steps_that_overflow_are_refused(step_scale, codes):
    """Infinite steps, or quantized codes beyond the symbol range: a clear error, never inf or nan."""
    with pytest.raises(CodecError, match="step"):
        LatentCodec.fit(lambda X: X, lambda Z: Z, None, step_scale=step_scale, codes=np.array(codes))


def test_input_ranges_are_checked(codec):
    X = _images(4, seed=3)
    eight_bit = np.rint(X * 255).astype(np.uint8)
    # uint8 images are scaled for a codec of [0, 1] images: the same streams as the scaled floats
    assert codec.encode(eight_bit) == codec.encode(eight_bit.astype(np.float32) / 255)
    with pytest.raises(CodecError, match="divide by 255"):
        codec.encode(eight_bit.astype(np.float32))
    with pytest.raises(CodecError, match=r"\[0, 1\]"):
        codec.encode(X - 0.5)
    with pytest.raises(CodecError, match="non-empty"):
        codec.encode(np.zeros((0, 16), np.float32))
    raw = LatentCodec.from_autoencoder(codec.model["module"], _images(50) * 255, step_scale=0.5, input_max=None)
    assert len(raw.encode(eight_bit)) == 4  # a codec of raw pixels takes them as they are


# ---------------------------------------------------------------- crafted codec files
def _arrays(path):
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return json.loads(str(arrays.pop("__header__"))), arrays


def _rewrite(path, header, arrays):
    np.savez(path, __header__=np.array(json.dumps(header)), **arrays)
    return path


@pytest.mark.parametrize("edit, message", [
    (lambda h, a: a.update(step=a["step"][:3], offset=a["offset"][:3], probabilities=a["probabilities"][:3]),
     "code dimensions"),
    (lambda h, a: a.update(offset=np.full_like(a["offset"], 2**62)), "out of range"),
    (lambda h, a: a.update(offset=a["offset"].astype(np.float64)), "integer offsets"),
    (lambda h, a: a.__setitem__("param/encoder.0.weight", a["param/encoder.0.weight"] * np.nan), "NaN"),
    (lambda h, a: a.update(probabilities=a["probabilities"] * np.nan), "finite"),
    (lambda h, a: a.update(step=-a["step"]), "steps"),
    (lambda h, a: h.update(architecture=h["architecture"]["children"][0]), "architecture"),
    (lambda h, a: h.update(format_version=1), "version"),
    (lambda h, a: h.update(input_max="255"), "input_max"),
    (lambda h, a: a.pop("probabilities"), "probabilities"),
])
def test_crafted_autoencoder_codec_files_are_refused(codec, tmp_path, edit, message):
    header, arrays = _arrays(codec.save(tmp_path / "c.npz"))
    edit(header, arrays)
    with pytest.raises(CodecError, match=message):
        LatentCodec.load(_rewrite(tmp_path / "crafted.npz", header, arrays))


def test_a_sequential_model_is_not_a_codec(codec, tmp_path):
    """A non-autoencoder architecture with weights that fit it is still refused."""
    header, arrays = _arrays(codec.save(tmp_path / "c.npz"))
    header["architecture"] = header["architecture"]["children"][0]
    arrays = {k.replace("param/encoder.", "param/"): v for k, v in arrays.items() if not k.startswith("param/dec")}
    with pytest.raises(CodecError, match="not an autoencoder"):
        LatentCodec.load(_rewrite(tmp_path / "seq.npz", header, arrays))


@pytest.mark.parametrize("edit, message", [
    (lambda h, a: a.update(mean=a["mean"] * np.nan), "NaN"),
    (lambda h, a: a.update(components=a["components"][:, :-1]), "do not fit"),
    (lambda h, a: h.update(clip="yes"), "clip"),
])
def test_crafted_pca_codec_files_are_refused(tmp_path, edit, message):
    pca = LatentCodec.from_pca(_images(100), 3)
    header, arrays = _arrays(pca.save(tmp_path / "p.npz"))
    edit(header, arrays)
    with pytest.raises(CodecError, match=message):
        LatentCodec.load(_rewrite(tmp_path / "crafted.npz", header, arrays))


def test_size_budget_before_allocation(codec, tmp_path, monkeypatch):
    """A small file declaring big arrays (a zip bomb, or a header whose shape lies) is refused
    before np.load reads it."""
    bomb = tmp_path / "bomb.npz"
    header, arrays = _arrays(codec.save(tmp_path / "c.npz"))
    arrays["padding"] = np.zeros(2**21)  # 16 MB of zeros, a few KB deflated
    np.savez_compressed(bomb, __header__=np.array(json.dumps(header)), **arrays)
    assert bomb.stat().st_size < 200_000
    monkeypatch.setenv("AUTOENC_MAX_FILE_BYTES", str(2**20))
    with pytest.raises(CodecError, match="budget"):
        LatentCodec.load(bomb)
    monkeypatch.delenv("AUTOENC_MAX_FILE_BYTES")
    liar = tmp_path / "liar.npz"
    with zipfile.ZipFile(liar, "w") as zf:  # a header declaring 10**12 float64 values, 8 bytes of data
        head = b"{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }"
        head += b" " * (118 - len(head)) + b"\n"
        zf.writestr("step.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(head)) + head + b"\0" * 8)
    with pytest.raises(CodecError, match="truncated or crafted|budget"):
        LatentCodec.load(liar)


@pytest.mark.parametrize("edit, message", [
    (lambda h, a: h.update(latent_shape=[5]), "latent shape"),
    (lambda h, a: h.update(input_size=10**12), "input_size"),
    (lambda h, a: h.update(architecture={"type": "AutoEncoder", "args": {},
                                         "children": [h["architecture"]["children"][0],
                                                      h["architecture"]["children"][2]]}), "architecture"),
])
def test_crafted_learned_codec_files_are_refused(tmp_path, edit, message):
    from autoenc.models import compression_autoencoder

    model = compression_autoencoder("fc", 16, latent=4, hidden=8, seed=0)
    X = _images(50)
    codec = LatentCodec.from_learned(model, 16, model.encode(X) if hasattr(model, "encode") else None)
    streams = codec.encode(X[:3])
    again = LatentCodec.load(codec.save(tmp_path / "l.npz"))
    assert again.encode(X[:3]) == streams
    header, arrays = _arrays(tmp_path / "l.npz")
    edit(header, arrays)
    with pytest.raises(CodecError, match=message):
        LatentCodec.load(_rewrite(tmp_path / "crafted.npz", header, arrays))
