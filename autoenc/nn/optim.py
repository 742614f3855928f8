"""Optimizers that own their state (updated in place, saved with the model) and the
original course's ``Optim`` driver."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .losses import BCELoss, Loss
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
        self.state: dict[str, list[np.ndarray]] = {
            name: [np.zeros_like(p.data) for p in self.params] for name in self.state_names
        }

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad.fill(0)

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
        for p, buf in zip(self.params, self.state["momentum_buffer"], strict=True):
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
        self._scratch = [np.empty_like(p.data) for p in self.params]

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
        state = zip(self.params, self.state["exp_avg"], self.state["exp_avg_sq"], self._scratch, strict=True)
        for p, m, v, tmp in state:
            g = p.grad
            if self.weight_decay:
                g = g + self.weight_decay * p.data
            # m += (1 - b1) * (g - m); v += (1 - b2) * (g*g - v), all in place
            np.subtract(g, m, out=tmp)
            tmp *= 1 - b1
            m += tmp
            np.multiply(g, g, out=tmp)
            tmp -= v
            tmp *= 1 - b2
            v += tmp
            np.sqrt(v, out=tmp)
            tmp += eps
            np.divide(m, tmp, out=tmp)
            tmp *= step_size
            p.data -= tmp

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.betas = (float(self.betas[0]), float(self.betas[1]))


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
