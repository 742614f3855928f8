"""Optimizers that own their state (updated in place, saved with the model) and the
original course's ``Optim`` driver."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .kernels import adam_update
from .losses import BCELoss, Loss, MSELoss
from .module import Module, Parameter


class Optimizer:
    """Base class: holds the parameters and per-parameter state arrays."""

    state_names: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Parameter] | Module, lr: float) -> None:
        if isinstance(params, Module):
            params = params.parameters()
        self.params: list[Parameter] = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got no parameters to optimise")
        if not lr > 0:
            raise ValueError(f"{type(self).__name__}: lr must be > 0, got {lr}")
        self.lr = float(lr)
        self.step_count = 0
        # set by an LRScheduler built on this optimizer: its state is saved with the optimizer's
        self.scheduler: Any = None
        self._pending_scheduler_state: dict[str, Any] | None = None
        # One contiguous buffer for all parameters, one for their gradients and one per state
        # array, the Parameters holding views: an update is a dozen NumPy calls over the whole
        # model instead of a dozen per parameter (same element-wise operations, same numbers).
        self._flat = _FlatBuffers.build(self.params)
        self.state: dict[str, list[np.ndarray]] = {}
        self._flat_state: dict[str, np.ndarray] = {}
        for name in self.state_names:
            if self._flat is not None:
                buf = np.zeros_like(self._flat.data)
                self._flat_state[name] = buf
                self.state[name] = self._flat.split(buf)
            else:
                self.state[name] = [np.zeros_like(p.data) for p in self.params]

    def _buffers(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The flat (data, grad) buffers while every Parameter still views them, else None
        (a parameter replaced since, e.g. by ``Module.astype``: the per-parameter path runs)."""
        flat = self._flat
        if flat is None or not flat.intact(self.params):
            return None
        for p in self.params:
            p.grad  # noqa: B018 - materialise lazily zeroed gradients (a parameter no backward touched)
        return flat.data, flat.grad

    def zero_grad(self) -> None:
        """Zero every gradient (lazily: the next backward pass writes instead of adding)."""
        for p in self.params:
            p.zero()

    def step(self) -> None:
        raise NotImplementedError

    def hyperparameters(self) -> dict[str, Any]:
        return {"lr": self.lr}

    def state_dict(self) -> dict[str, Any]:
        """Hyperparameters, step count and state arrays (``"<name>.<index>"``)."""
        out: dict[str, Any] = {"type": type(self).__name__, "step_count": self.step_count}
        out["hyperparameters"] = self.hyperparameters()
        out["arrays"] = {f"{k}.{i}": a.copy() for k, arrs in self.state.items() for i, a in enumerate(arrs)}
        if self.scheduler is not None:
            out["scheduler"] = self.scheduler.state_dict()
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("type") != type(self).__name__:
            raise ValueError(f"optimizer state is for {state.get('type')}, not {type(self).__name__}")
        for k, v in state.get("hyperparameters", {}).items():
            setattr(self, k, v)
        self.step_count = int(state["step_count"])
        arrays = state["arrays"]
        for name, arrs in self.state.items():
            for i, a in enumerate(arrs):
                key = f"{name}.{i}"
                if key not in arrays or np.shape(arrays[key]) != a.shape:
                    raise ValueError(f"optimizer state '{key}' is missing or has the wrong shape")
                a[...] = arrays[key]
        scheduler_state = state.get("scheduler")
        if scheduler_state is not None:
            if self.scheduler is not None:
                self.scheduler.load_state_dict(scheduler_state)
            else:  # restored when a scheduler is built on this optimizer
                self._pending_scheduler_state = scheduler_state

    def __repr__(self) -> str:
        hp = ", ".join(f"{k}={v}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({hp})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov and L2 weight decay.

    Args:
        params: parameters (or a Module).
        lr: learning rate.
        momentum: heavy-ball momentum (0 disables it).
        nesterov: Nesterov momentum (PyTorch's formulation).
        weight_decay: L2 penalty added to the gradient.
    """

    state_names = ("momentum_buffer",)

    def __init__(
        self,
        params: Iterable[Parameter] | Module,
        lr: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        if nesterov and momentum <= 0:
            raise ValueError("SGD: nesterov needs momentum > 0")
        self.momentum, self.nesterov, self.weight_decay = momentum, nesterov, weight_decay

    def hyperparameters(self) -> dict[str, Any]:
        return {"lr": self.lr, "momentum": self.momentum, "nesterov": self.nesterov, "weight_decay": self.weight_decay}

    def step(self) -> None:
        self.step_count += 1
        buffers = self._buffers()
        if buffers is not None:
            items = [(_Flat(*buffers), self._flat_state["momentum_buffer"])]
        else:
            items = list(zip(self.params, self.state["momentum_buffer"], strict=True))
        for p, buf in items:
            g = p.grad
            if self.weight_decay:
                g = g + self.weight_decay * p.data
            if self.momentum:
                buf *= self.momentum
                buf += g
                g = g + self.momentum * buf if self.nesterov else buf
            p.data -= self.lr * g


class Adam(Optimizer):
    """Adam (Kingma & Ba), bias-corrected, updated in place.

    Args:
        params: parameters (or a Module).
        lr: learning rate.
        betas: decay rates of the first and second moment estimates.
        eps: added to the denominator.
        weight_decay: L2 penalty added to the gradient (as torch.optim.Adam).
    """

    state_names = ("exp_avg", "exp_avg_sq")

    def __init__(
        self,
        params: Iterable[Parameter] | Module,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        self.betas, self.eps, self.weight_decay = (float(betas[0]), float(betas[1])), eps, weight_decay
        self._scratch: list[np.ndarray] | None = None
        self._flat_scratch: np.ndarray | None = None

    def hyperparameters(self) -> dict[str, Any]:
        return {"lr": self.lr, "betas": list(self.betas), "eps": self.eps, "weight_decay": self.weight_decay}

    def step(self) -> None:
        self.step_count += 1
        b1, b2 = self.betas
        t = self.step_count
        # Fold the bias corrections into the step size and eps (same maths, fewer passes).
        c2 = np.sqrt(1 - b2**t)
        step_size = self.lr * c2 / (1 - b1**t)
        eps = self.eps * c2
        buffers = self._buffers()
        if buffers is not None:  # the whole model in one call (one compiled pass with numba)
            if self._flat_scratch is None:
                self._flat_scratch = np.empty_like(buffers[0])
            items: Any = [(*buffers, self._flat_state["exp_avg"], self._flat_state["exp_avg_sq"],
                           self._flat_scratch)]
        else:
            if self._scratch is None:
                self._scratch = [np.empty_like(p.data) for p in self.params]
            items = [(p.data, p.grad, m, v, tmp) for p, m, v, tmp in zip(
                self.params, self.state["exp_avg"], self.state["exp_avg_sq"], self._scratch, strict=True)]
        for data, grad, m, v, tmp in items:
            adam_update(data, grad, m, v, tmp, b1, b2, self.weight_decay, eps, step_size)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.betas = (float(self.betas[0]), float(self.betas[1]))


class _Flat:
    """The whole model as one pseudo-parameter (flat data and grad views) for the update loops."""

    __slots__ = ("data", "grad")

    def __init__(self, data: np.ndarray, grad: np.ndarray) -> None:
        self.data, self.grad = data, grad


class _FlatBuffers:
    """Contiguous data and gradient buffers that the optimizer's Parameters view."""

    def __init__(self, data: np.ndarray, grad: np.ndarray, params: list[Parameter]) -> None:
        self.data, self.grad = data, grad
        self.shapes = [p.data.shape for p in params]
        self.offsets = np.cumsum([0] + [p.data.size for p in params]).tolist()
        self.data_views = self.split(data)
        self.grad_views = self.split(grad)
        for p, d, g in zip(params, self.data_views, self.grad_views, strict=True):
            p.data, p.grad = d, g

    @classmethod
    def build(cls, params: list[Parameter]) -> _FlatBuffers | None:
        """Move ``params`` into flat buffers; None when they cannot share one (mixed dtypes,
        non-float arrays, or a Parameter listed twice, whose updates must stay separate)."""
        dtypes = {p.data.dtype for p in params}
        if len(dtypes) != 1 or next(iter(dtypes)).kind != "f" or len({id(p) for p in params}) != len(params):
            return None
        data = np.concatenate([p.data.ravel() for p in params])
        grad = np.concatenate([np.asarray(p.grad, dtype=data.dtype).ravel() for p in params])
        return cls(data, grad, params)

    def split(self, buf: np.ndarray) -> list[np.ndarray]:
        return [buf[a:b].reshape(shape) for a, b, shape in zip(self.offsets[:-1], self.offsets[1:], self.shapes,
                                                                  strict=True)]

    def intact(self, params: list[Parameter]) -> bool:
        return all(p.data is d and p._grad is g for p, d, g in zip(params, self.data_views, self.grad_views,
                                                                     strict=True))


OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "adam": Adam}


def get_optimizer(name: str, params: Iterable[Parameter] | Module, **kwargs: Any) -> Optimizer:
    """Optimizer by short name (``sgd``, ``adam``)."""
    try:
        cls = OPTIMIZERS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {sorted(OPTIMIZERS)}") from None
    return cls(params, **kwargs)


def output_gradient(net: Module, loss: Loss, y: np.ndarray, yhat: np.ndarray) -> tuple[np.ndarray, int]:
    """dL/d(output of the last module that needs backprop), and how many trailing modules
    that skips. A final Sigmoid followed by BCELoss is fused: dL/dlogits = yhat - y, which
    is exact and does not vanish when the sigmoid saturates (scikit-learn does the same)."""
    from .activations import Sigmoid

    if isinstance(loss, BCELoss) and isinstance(net.final_module(), Sigmoid) and net.final_module() is not net:
        return loss.grad_wrt_logits(y, yhat), 1
    # MSE after a Sigmoid: both backward passes in one (exact types: a subclass may change either)
    if type(loss) is MSELoss and type(net.final_module()) is Sigmoid and net.final_module() is not net:
        return loss.grad_through_sigmoid(y, yhat), 1
    return loss.backward(y, yhat), 0


def backward(net: Module, delta: np.ndarray, skip_last: int = 0, input_grad: bool = False) -> None:
    """Run the backward pass of ``net`` after its forward (any Module)."""
    if hasattr(net, "backward"):
        net.backward(delta, input_grad=input_grad, skip_last=skip_last)  # type: ignore[attr-defined]
    else:
        raise TypeError(f"{type(net).__name__} has no full backward pass; wrap it in Sequential")


class Optim:
    """The original course driver: one call = forward, loss, backward, update.

    Args:
        net: the network (a ``Sequential`` or any module with ``backward``).
        loss: a ``Loss``.
        optimizer: an ``Optimizer``, or a float learning rate for plain gradient steps
            (the original ``Optim(net, loss, eps)``).

    Example:
        >>> opt = Optim(net, MSELoss(), Adam(net.parameters(), lr=1e-3))
        >>> value = opt.step(batch_x, batch_y)
    """

    def __init__(self, net: Module, loss: Loss, optimizer: Optimizer | float) -> None:
        self.net, self.loss = net, loss
        self.optimizer = SGD(net.parameters(), lr=optimizer) if isinstance(optimizer, int | float) else optimizer

    def step(self, batch_x: np.ndarray, batch_y: np.ndarray) -> float:
        """One update on a batch; returns the batch loss (before the update)."""
        self.optimizer.zero_grad()
        yhat = self.net.forward(batch_x)
        value = self.loss.forward(batch_y, yhat, reduction="mean")
        delta, skip = output_gradient(self.net, self.loss, batch_y, yhat)
        backward(self.net, delta, skip_last=skip)
        self.optimizer.step()
        return value
