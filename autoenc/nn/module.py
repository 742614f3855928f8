"""Module, Parameter and Sequential: the contract of the original course library, plus
the PyTorch-style conveniences (named parameters, state dicts, train/eval)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from copy import deepcopy
from typing import Any

import numpy as np

# Every Module subclass registers here by class name so that saved architectures (JSON)
# can be rebuilt without pickle.
MODULE_REGISTRY: dict[str, type[Module]] = {}


class Parameter:
    """A trainable array and its gradient (same shape and dtype).

    Optimizers update ``data`` in place from ``grad``; backward passes *add* to ``grad``.
    ``zero()`` zeroes the gradient lazily: the first layer to write it after that stores its
    product straight into the buffer (``add_matmul``, ``add_sum``) instead of zero-filling and
    adding a temporary, and reading ``grad`` before any write gives zeros, as ``fill(0)`` would.
    """

    __slots__ = ("data", "_grad", "_zeroed")

    def __init__(self, data: np.ndarray) -> None:
        self.data = data
        self._grad = np.zeros_like(data)
        self._zeroed = False  # True: the gradient is zero, whatever _grad holds

    @property
    def grad(self) -> np.ndarray:
        if self._zeroed:
            self._grad.fill(0)
            self._zeroed = False
        return self._grad

    @grad.setter
    def grad(self, value: np.ndarray) -> None:
        self._grad, self._zeroed = value, False

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    def zero(self) -> None:
        """Set the gradient to zero (lazily: see the class docstring)."""
        self._zeroed = True

    def add_matmul(self, a: np.ndarray, b: np.ndarray) -> None:
        """``grad += a @ b`` (reshaped to the gradient's shape); written in place after ``zero()``."""
        if self._zeroed:
            out = self._grad.reshape(a.shape[0], b.shape[1])
            np.matmul(a, b, out=out)
            if not np.shares_memory(out, self._grad):  # pragma: no cover - reshape of a non-contiguous grad
                self._grad[...] = out.reshape(self._grad.shape)
            self._zeroed = False
        else:
            self._grad += (a @ b).reshape(self._grad.shape)

    def add_sum(self, a: np.ndarray, axis: int = 0) -> None:
        """``grad += a.sum(axis)``; written in place after ``zero()``."""
        if self._zeroed:
            np.sum(a, axis=axis, out=self._grad)
            self._zeroed = False
        else:
            self._grad += a.sum(axis=axis)

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class of every layer, activation and container.

    Subclasses implement ``forward(X)`` and ``backward_delta(input, delta)``; layers with
    parameters also implement ``backward_update_gradient(input, delta)``, which **adds**
    dL/dparams to each parameter's ``grad``.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        MODULE_REGISTRY[cls.__name__] = cls

    def __init__(self) -> None:
        self._parameters: dict[str, Parameter] = {}
        self._modules: dict[str, Module] = {}
        self.training = True

    # --- the original contract -------------------------------------------------------
    def forward(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return self.forward(X)

    def backward_update_gradient(self, input: np.ndarray, delta: np.ndarray) -> None:
        """Add dL/dparams to the gradients (no-op for modules without parameters)."""

    def backward_delta(self, input: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """Return dL/dinput given dL/doutput (``delta``)."""
        raise NotImplementedError

    def update_parameters(self, gradient_step: float = 1e-3) -> None:
        """Plain gradient step on every parameter: ``data -= gradient_step * grad``."""
        for p in self.parameters():
            p.data -= gradient_step * p.grad

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.zero()

    # --- parameters and state -------------------------------------------------------
    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        for name, p in self._parameters.items():
            yield prefix + name, p
        for name, m in self._modules.items():
            yield from m.named_parameters(prefix + name + ".")

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        yield prefix.rstrip("."), self
        for name, m in self._modules.items():
            yield from m.named_modules(prefix + name + ".")

    def n_parameters(self) -> int:
        return int(sum(p.data.size for p in self.parameters()))

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter array, keyed by dotted name."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, np.ndarray], strict: bool = True) -> None:
        """Copy arrays into the parameters (shapes must match; dtype is cast to the module's)."""
        own = dict(self.named_parameters())
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if strict and (missing or unexpected):
            raise KeyError(
                f"{type(self).__name__}.load_state_dict: missing keys {missing}, "
                f"unexpected keys {unexpected}; the state does not belong to this architecture"
            )
        for name, p in own.items():
            if name not in state:
                continue
            value = np.asarray(state[name])
            if value.shape != p.data.shape:
                raise ValueError(
                    f"{type(self).__name__}.load_state_dict: '{name}' has shape {value.shape}, "
                    f"the module expects {p.data.shape}"
                )
            p.data[...] = value

    def astype(self, dtype: Any, copy: bool = False) -> Module:
        """Convert every parameter (and gradient) to ``dtype`` in place and return self, or
        (``copy=True``) return a converted copy and leave this module as it is."""
        dtype = np.dtype(dtype)
        if copy:
            return deepcopy(self).astype(dtype)
        for _, m in self.named_modules():
            if hasattr(m, "dtype"):
                m.dtype = dtype
            for p in m._parameters.values():
                p.data = p.data.astype(dtype)
                p.grad = np.zeros_like(p.data)
        return self

    @property
    def param_dtype(self) -> np.dtype | None:
        params = self.parameters()
        if params:
            return params[0].data.dtype
        return getattr(self, "dtype", None)

    def train(self, mode: bool = True) -> Module:
        for _, m in self.named_modules():
            m.training = mode
        return self

    def eval(self) -> Module:
        return self.train(False)

    def final_module(self) -> Module:
        """The module that produces the output (containers delegate to their last child)."""
        return self

    # --- architecture as JSON ---------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this module (JSON-serialisable)."""
        return {}

    def to_config(self) -> dict[str, Any]:
        return {"type": type(self).__name__, "args": self.get_config()}

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    # --- helpers for subclasses -------------------------------------------------------
    def _check_input(self, X: np.ndarray, ndim: int, expected: str, last: int | None = None) -> None:
        if not isinstance(X, np.ndarray):
            raise TypeError(f"{self!r}: expected a NumPy array of shape {expected}, got {type(X).__name__}")
        if X.ndim != ndim or (last is not None and X.shape[-1] != last):
            raise ValueError(f"{self!r}: expected input of shape {expected}, got {X.shape}")
        dtype = self.param_dtype
        if dtype is not None and X.dtype != dtype:
            raise TypeError(
                f"{self!r}: input dtype {X.dtype} does not match the parameters' {dtype}; "
                f"convert the data (X.astype(np.{dtype})) or the model (model.astype(np.{X.dtype}))"
            )


def module_from_config(config: Mapping[str, Any]) -> Module:
    """Rebuild a module (without trained weights) from ``Module.to_config()`` output."""
    name = config.get("type")
    cls = MODULE_REGISTRY.get(str(name))
    if cls is None:  # model classes outside autoenc.nn register when their package is imported
        raise ValueError(f"unknown module type {name!r} in saved architecture")
    # Containers get their children positionally, then their own arguments.
    children = [module_from_config(c) for c in config.get("children", [])]
    return cls(*children, **dict(config.get("args", {})))


class Sequential(Module):
    """A chain of modules; ``backward`` runs the whole backward pass.

    Args:
        *modules: modules applied in order.

    Shape:
        Input: whatever the first module takes. Output: what the last module returns.

    Example:
        >>> net = Sequential(Linear(2, 10), TanH(), Linear(10, 1), Sigmoid())
        >>> yhat = net.forward(X)
        >>> dx = net.backward(loss.backward(y, yhat))
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: item {i} is {type(m).__name__}, not a Module")
            self._modules[str(i)] = m
        self._inputs: list[np.ndarray] = []

    @property
    def modules(self) -> list[Module]:
        return list(self._modules.values())

    def __len__(self) -> int:
        return len(self._modules)

    def __getitem__(self, i: int) -> Module:
        return self.modules[i]

    def final_module(self) -> Module:
        return self.modules[-1] if self._modules else self

    def forward(self, X: np.ndarray) -> np.ndarray:
        # Keep every module's input: the backward pass needs them.
        inputs = []
        for m in self._modules.values():
            inputs.append(X)
            X = m.forward(X)
        self._inputs = inputs
        return X

    def backward(
        self, delta: np.ndarray, *, input_grad: bool = True, skip_last: int = 0
    ) -> np.ndarray | None:
        """Backward pass after ``forward``: accumulate gradients, return dL/dinput.

        ``skip_last`` starts from an earlier module (``delta`` is then dL/d(its output)),
        which the fused Sigmoid+BCE path uses. ``input_grad=False`` skips the input gradients
        of the first module with parameters and of the modules before it (saves a matmul, or
        a convolution's col2im, per step in training) and returns None.
        """
        if not self._inputs:
            raise RuntimeError("Sequential.backward called before forward")
        mods = self.modules[: len(self._modules) - skip_last]
        # without the input gradient, the modules below the first one with parameters need no
        # delta (e.g. a Reshape before a first convolution: its input gradient is a wasted col2im)
        first = 0 if input_grad else next((i for i, m in enumerate(mods) if m.parameters()), max(len(mods) - 1, 0))
        for i in range(len(mods) - 1, first - 1, -1):
            m, inp = mods[i], self._inputs[i]
            m.backward_update_gradient(inp, delta)
            if i == first and not input_grad:
                return None
            delta = m.backward_delta(inp, delta)
        return delta

    def backward_update_gradient(self, input: np.ndarray, delta: np.ndarray) -> None:
        self._ensure_inputs(input)
        mods = self.modules
        for i in range(len(mods) - 1, -1, -1):
            mods[i].backward_update_gradient(self._inputs[i], delta)
            if i:
                delta = mods[i].backward_delta(self._inputs[i], delta)

    def backward_delta(self, input: np.ndarray, delta: np.ndarray) -> np.ndarray:
        self._ensure_inputs(input)
        mods = self.modules
        for i in range(len(mods) - 1, -1, -1):
            delta = mods[i].backward_delta(self._inputs[i], delta)
        return delta

    def _ensure_inputs(self, input: np.ndarray) -> None:
        if not self._inputs or self._inputs[0] is not input:
            self.forward(input)

    def to_config(self) -> dict[str, Any]:
        return {"type": "Sequential", "args": {}, "children": [m.to_config() for m in self.modules]}

    def __repr__(self) -> str:
        inner = "\n".join(f"  ({k}): {m!r}" for k, m in self._modules.items())
        return f"Sequential(\n{inner}\n)"
