"""Trained networks for other runtimes: ONNX files and PyTorch ``state_dict`` arrays.

``to_onnx`` writes a fully connected network (``Linear`` layers and element-wise activations,
e.g. a study's encoder, decoder or whole autoencoder) as an ONNX graph that onnxruntime, or
any ONNX runtime, runs with a free batch size; ``torch_state_dict`` gives the same weights in
the layout of ``torch.nn.Sequential`` of ``torch.nn.Linear`` layers (weights as (out, in):
autoenc stores them as (in, out)). Both back ``autoenc export --to X.onnx``.

Example
-------
>>> from autoenc.features import AutoencoderTransformer
>>> model = AutoencoderTransformer.load("encoder.npz").model_
>>> to_onnx(part(model, "encoder"), "encoder.onnx")                # doctest: +SKIP
>>> import onnxruntime                                               # doctest: +SKIP
>>> codes = onnxruntime.InferenceSession("encoder.onnx").run(None, {"input": X})[0]  # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .nn import Linear, Module

__all__ = ["PARTS", "ExportFormatError", "layers", "part", "to_onnx", "torch_state_dict"]

#: what ``part`` can take out of an autoencoder
PARTS = ("encoder", "decoder", "autoencoder")
#: element-wise activations and their ONNX operators (Dropout is the identity at inference)
_ONNX_OPS = {"ReLU": "Relu", "TanH": "Tanh", "Sigmoid": "Sigmoid", "Softmax": "Softmax", "LogSoftmax": "LogSoftmax",
             "Dropout": "Identity"}
#: ONNX opset written (Softmax over the last axis since opset 13)
OPSET = 17


class ExportFormatError(ValueError):
    """The network has a layer the export cannot write; the message names it."""


def part(model: Any, which: str = "encoder") -> Module:
    """The ``encoder``, ``decoder`` or whole ``autoencoder`` of an ``autoenc.models.AutoEncoder``."""
    if which not in PARTS:
        raise ExportFormatError(f"part must be one of {list(PARTS)}, got {which!r}")
    if which == "autoencoder":
        return model
    if not hasattr(model, which):
        raise ExportFormatError(f"a {type(model).__name__} has no {which}; only autoencoders have parts")
    return getattr(model, which)


def layers(net: Module) -> list[Module]:
    """The network's layers in order: the leaves of its containers (``Sequential``, and an
    autoencoder's encoder then decoder), which run one after the other."""
    return [m for _, m in net.named_modules() if len(list(m.named_modules())) == 1]


def _check(net: Module) -> list[Module]:
    containers = [type(m).__name__ for _, m in net.named_modules() if len(list(m.named_modules())) > 1]
    if any(name not in ("Sequential", "AutoEncoder") for name in containers):
        raise ExportFormatError(f"cannot export a network built of {sorted(set(containers))}: the export writes "
                                "chains of layers (Sequential, an autoencoder's encoder and decoder)")
    flat = layers(net)
    for m in flat:
        if not isinstance(m, Linear) and type(m).__name__ not in _ONNX_OPS:
            raise ExportFormatError(f"cannot export a {type(m).__name__} layer: the export writes fully connected "
                                    f"networks (Linear and {', '.join(sorted(_ONNX_OPS))})")
    if not any(isinstance(m, Linear) for m in flat):
        raise ExportFormatError("the network has no Linear layer: nothing to export")
    return flat


def torch_state_dict(net: Module) -> dict[str, np.ndarray]:
    """Weights keyed as ``torch.nn.Sequential`` names them when its layers are those of
    ``layers(net)`` in order (``"0.weight"`` of shape (out, in), ``"0.bias"``, ...): the arrays
    ``torch.nn.Sequential.load_state_dict`` takes (through ``torch.from_numpy``)."""
    out: dict[str, np.ndarray] = {}
    for i, m in enumerate(_check(net)):
        if isinstance(m, Linear):
            params = dict(m.named_parameters())
            out[f"{i}.weight"] = np.ascontiguousarray(params["weight"].data.T)
            if "bias" in params:
                out[f"{i}.bias"] = params["bias"].data.copy()
    return out


def to_onnx(net: Module, path: str | os.PathLike[str], *, producer: str = "autoenc") -> Path:
    """Write ``net`` (float32 weights) as an ONNX model with input ``"input"`` of shape
    (batch, in_features) and output ``"output"``; the batch size is free.

    Raises
    ------
    ExportFormatError
        A layer that is not ``Linear`` or an element-wise activation (e.g. a convolution).
    ImportError
        The ``onnx`` package is missing (``pip install 'autoenc[onnx]'``).
    """
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as e:
        raise ImportError("writing ONNX needs the onnx package: pip install 'autoenc[onnx]'") from e
    from . import __version__
    from .fileio import atomic_write_bytes

    flat = _check(net)
    linears = [m for m in flat if isinstance(m, Linear)]
    nodes, initializers, current = [], [], "input"
    for i, m in enumerate(flat):
        out = "output" if i == len(flat) - 1 else f"h{i}"
        if isinstance(m, Linear):
            params = dict(m.named_parameters())
            weight = f"layer{i}.weight"  # (in, out): Gemm's B without transposing
            initializers.append(numpy_helper.from_array(params["weight"].data.astype(np.float32), weight))
            inputs = [current, weight]
            if "bias" in params:
                initializers.append(numpy_helper.from_array(params["bias"].data.astype(np.float32), f"layer{i}.bias"))
                inputs.append(f"layer{i}.bias")
            nodes.append(helper.make_node("Gemm", inputs, [out], name=f"layer{i}_linear"))
        else:
            op = _ONNX_OPS[type(m).__name__]
            attrs = {"axis": -1} if op in ("Softmax", "LogSoftmax") else {}
            nodes.append(helper.make_node(op, [current], [out], name=f"layer{i}_{op.lower()}", **attrs))
        current = out
    graph = helper.make_graph(
        nodes, "autoenc",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", linears[0].in_features])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", linears[-1].out_features])],
        initializers)
    model = helper.make_model(graph, producer_name=producer, producer_version=__version__,
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = min(model.ir_version, 10)  # readable by onnxruntime releases of the last years
    onnx.checker.check_model(model)
    path = Path(path)
    atomic_write_bytes(path, model.SerializeToString())
    return path


def export_run(spec: Any, store: Any, cell: dict[str, Any], to: str | os.PathLike[str],
               which: str = "encoder") -> Path:
    """Backs ``autoenc export``: the run of ``cell`` as ONNX (``to`` ends in ``.onnx``; ``which``
    part) or as an ``AutoencoderTransformer`` file (.npz: encoder and decoder, for
    ``AutoencoderTransformer.load``).

    Raises
    ------
    autoenc.features.ExportError
        No or several matching runs, an unreadable model, a layer ONNX cannot take, onnx not
        installed, or an unwritable destination (one line and exit code 2 in the CLI).
    """
    from .features import AutoencoderTransformer, ExportError, export_encoder, find_run

    to = Path(to)
    if to.suffix.lower() != ".onnx":
        if which != "encoder":
            raise ExportError(f"--part {which} applies to ONNX files; a .npz export holds the whole autoencoder")
        return export_encoder(spec, store, cell, to)
    try:
        model = AutoencoderTransformer.from_run(find_run(spec, store, cell).path).model_
        return to_onnx(part(model, which), to)
    except (ExportFormatError, ImportError, OSError, ValueError) as e:
        raise ExportError(str(e)) from e
