"""Learning-rate schedulers, the one training loop's options, the convergence rule, History CSV."""

from __future__ import annotations

import math

import numpy as np
import pytest

from autoenc.models import autoencoder
from autoenc.nn import Adam, History, Linear, MSELoss, Sequential, fit, load_checkpoint, save
from autoenc.nn.schedulers import (
    ConstantLR,
    CosineAnnealingLR,
    ExponentialLR,
    ReduceLROnPlateau,
    StepLR,
    get_scheduler,
)
from autoenc.nn.train import converged


def _opt(lr: float = 0.1) -> Adam:
    return Adam(Linear(2, 1, seed=np.random.default_rng(0)).parameters(), lr=lr)


def _rates(sched, n: int, metrics=None) -> list[float]:
    out = [sched.optimizer.lr]
    for i in range(n):
        sched.step(None if metrics is None else metrics[i])
        out.append(sched.optimizer.lr)
    return out


def test_schedules_follow_their_formulas():
    assert _rates(ConstantLR(_opt()), 3) == [0.1] * 4
    np.testing.assert_allclose(_rates(ExponentialLR(_opt(), 0.5), 3), [0.1, 0.05, 0.025, 0.0125])
    np.testing.assert_allclose(_rates(StepLR(_opt(), 2, 0.1), 4), [0.1, 0.1, 0.01, 0.01, 0.001])
    cos = _rates(CosineAnnealingLR(_opt(), 4), 5)
    np.testing.assert_allclose(cos, [0.1 * 0.5 * (1 + math.cos(math.pi * min(e, 4) / 4)) for e in range(6)],
                               atol=1e-15)
    warm = _rates(CosineAnnealingLR(_opt(), 5, warmup_epochs=2), 5)
    np.testing.assert_allclose(warm[:3], [0.1 / 3, 0.2 / 3, 0.1])  # linear warm-up, then the cosine
    assert warm[3] < warm[2] and warm[5] == pytest.approx(0.0, abs=1e-15)
    plateau = _rates(ReduceLROnPlateau(_opt(), factor=0.5, patience=1), 5, [1.0, 0.5, 0.5, 0.5, 0.5])
    assert plateau == [0.1, 0.1, 0.1, 0.1, 0.05, 0.05]
    with pytest.raises(ValueError):
        CosineAnnealingLR(_opt(), 3, warmup_epochs=3)
    with pytest.raises(ValueError, match="lr_schedule"):
        get_scheduler("triangle", _opt(), epochs=3)


@pytest.mark.parametrize("make", [lambda o: CosineAnnealingLR(o, 10, warmup_epochs=2),
                                  lambda o: ReduceLROnPlateau(o, factor=0.5, patience=1),
                                  lambda o: StepLR(o, 3, 0.5)])
def test_scheduler_state_resumes_mid_schedule(make):
    metrics = [1.0, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8, 0.7, 0.7]
    full = make(_opt())
    straight = _rates(full, 10, metrics)
    first = make(_opt())
    part = _rates(first, 4, metrics[:4])
    # the state travels inside the optimizer's state dict (what nn.save writes)
    state = first.optimizer.state_dict()
    assert state["scheduler"]["epochs_done"] == 4
    resumed_opt = _opt()
    resumed_opt.load_state_dict(state)
    resumed = make(resumed_opt)  # built after loading: picks up the pending state
    assert resumed.epochs_done == 4 and resumed_opt.lr == pytest.approx(part[-1])
    rest = [resumed_opt.lr] + [(resumed.step(m), resumed_opt.lr)[1] for m in metrics[4:]]
    np.testing.assert_allclose(part + rest[1:], straight)


def test_fit_resumes_from_a_saved_checkpoint_mid_schedule(tmp_path):
    X = np.random.default_rng(0).random((64, 6)).astype(np.float32)

    def run(epochs, model=None, opt=None):
        model = model or autoencoder(6, 2, depth=1, seed=0)
        opt = opt or Adam(model.parameters(), lr=0.01)
        sched = CosineAnnealingLR(opt, 6) if opt.scheduler is None else opt.scheduler
        fit(model, MSELoss(), opt, X, epochs=epochs, batch_size=16, seed=0, shuffle=False, scheduler=sched)
        return model, opt

    straight, straight_opt = run(6)
    half, half_opt = run(3)
    save(tmp_path / "half.npz", half, half_opt)
    ckpt = load_checkpoint(tmp_path / "half.npz")
    opt = Adam(ckpt.module.parameters(), lr=0.01)
    opt.load_state_dict(ckpt.optimizer_state)
    CosineAnnealingLR(opt, 6)  # restored to epoch 3 of 6 from the saved state
    assert opt.lr == pytest.approx(half_opt.lr)
    resumed, _ = run(3, ckpt.module, opt)
    for (_, a), (_, b) in zip(straight.named_parameters(), resumed.named_parameters(), strict=True):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-5, atol=1e-6)


def test_early_stopping_restores_the_best_weights_and_counts_as_converged():
    rng = np.random.default_rng(0)
    X = rng.random((80, 4)).astype(np.float32)
    y = X @ np.array([[1.0], [2.0], [-1.0], [0.5]], np.float32)
    net = Sequential(Linear(4, 1, seed=rng))
    opt = Adam(net.parameters(), lr=0.05)
    h = fit(net, MSELoss(), opt, X[:60], y[:60], validation_data=(X[60:], y[60:] + 5.0), epochs=200,
            patience=3, seed=0)  # a shifted validation target: the validation loss soon stops improving
    assert h.stopped_early and h.converged and len(h.epoch) < 200
    best = min(h.val_loss)
    assert MSELoss().forward(y[60:] + 5.0, net.forward(X[60:])) == pytest.approx(best, rel=1e-5)


def test_epoch_data_and_sampler_are_used_each_epoch():
    X = np.arange(12, dtype=np.float32).reshape(6, 2)
    seen_epochs, orders = [], []

    def epoch_data(epoch, X, y):
        seen_epochs.append(epoch)
        return X * 0 + epoch, y

    def sampler(epoch, n):
        orders.append(epoch)
        return np.arange(n)[::-1]

    net = Sequential(Linear(2, 2, seed=np.random.default_rng(0)))
    fit(net, MSELoss(), Adam(net.parameters()), X, X, epochs=3, batch_size=4, epoch_data=epoch_data, sampler=sampler)
    assert seen_epochs == orders == [1, 2, 3]


def test_divergence_stops_instead_of_raising():
    X = np.random.default_rng(0).random((32, 1)).astype(np.float32) * 1e3
    net = Sequential(Linear(1, 1, seed=np.random.default_rng(0)))
    from autoenc.nn import SGD

    with np.errstate(over="ignore", invalid="ignore"):
        h = fit(net, MSELoss(), SGD(net.parameters(), lr=10.0), X, X * 3, epochs=50, batch_size=32,
                stop_on_divergence=True)
    assert h.diverged and not h.converged and len(h.epoch) < 50


def test_the_convergence_rule():
    assert converged([1.0, 0.5, 0.4, 0.4, 0.4, 0.4, 0.4, 0.399])  # < 0.5% better in the last 5
    assert not converged([1.0, 0.5, 0.4, 0.35, 0.3, 0.25, 0.2])  # still falling
    assert not converged([1.0, 0.9, 0.8])  # too short to show a plateau
    assert not converged([1.0, np.nan, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
    assert converged([1.0, 0.9], stopped_early=True)
    # the monitored curve is the validation loss when there is one
    h = History(epoch=list(range(1, 8)), train_loss=[7, 6, 5, 4, 3, 2, 1], val_loss=[1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
    assert h.converged


def test_the_rule_measures_improvement_above_the_loss_floor():
    from autoenc.nn import BCELoss

    # BCE on grey levels never falls below the targets' entropy: 0.25 here. Above that floor the
    # curve still falls by 10% in the last 5 epochs; on the raw loss that is < 0.5%.
    curve = [0.30, 0.26, 0.2510, 0.2509, 0.2508, 0.2507, 0.2506, 0.2505, 0.2504, 0.2503]
    assert converged(curve)
    assert not converged(curve, floor=0.25)
    y = np.random.default_rng(0).uniform(0.1, 0.9, size=(50, 8))
    floor = BCELoss().floor(y)
    assert floor == pytest.approx(float(-(y * np.log(y) + (1 - y) * np.log1p(-y)).mean()), rel=1e-6)
    assert BCELoss().forward(y, np.clip(y + 0.05, 0, 1)) > floor  # no prediction goes below it
    assert MSELoss().floor(y) == 0.0
    assert BCELoss().floor(np.array([0, 1, 1])) == 0.0  # labels: no grey levels, no floor
    from autoenc.nn import CrossEntropyLoss

    labels = np.array([0, 1, 2, 2])
    assert CrossEntropyLoss().floor(labels) == 0.0
    smoothed = CrossEntropyLoss(label_smoothing=0.3)
    t = np.full(3, 0.1) + np.array([0.7, 0, 0])  # one row of smoothed targets
    assert smoothed.floor(labels) == pytest.approx(float(-(t * np.log(t)).sum()))
    logits = np.log(np.tile(t, (4, 1)))  # predicting exactly the smoothed targets reaches it
    assert smoothed.forward(np.array([0, 0, 0, 0]), logits) == pytest.approx(smoothed.floor(labels))


def test_fit_can_stop_when_the_rule_holds():
    rng = np.random.default_rng(0)
    X = rng.random((400, 6), dtype=np.float32)
    y = (X @ rng.normal(size=(6, 1))).astype(np.float32)
    net = Sequential(Linear(6, 1, seed=0))
    h = fit(net, MSELoss(), Adam(net.parameters(), lr=0.05), X, y, epochs=200, batch_size=50, validation_split=0.2,
            stop_when_converged=True)
    assert h.stopped_converged and h.converged and len(h.epoch) < 200
    assert converged(h.val_loss) and not converged(h.val_loss[:-1])  # the first epoch at which it holds
    net2 = Sequential(Linear(6, 1, seed=0))
    capped = fit(net2, MSELoss(), Adam(net2.parameters(), lr=0.05), X, y, epochs=3, validation_split=0.2,
                 stop_when_converged=True)
    assert not capped.stopped_converged and not capped.converged  # reached the cap first


def test_history_csv_round_trip():
    h = History(epoch=[1, 2], train_loss=[0.5, 0.25], val_loss=[0.6, float("nan")], lr=[0.1, 0.05],
                wall_seconds=[0.1, 0.2], extra={"test_accuracy": [0.9, 0.95]})
    back = History.from_csv(h.to_csv())
    assert back.epoch == [1, 2] and back.train_loss == h.train_loss and back.lr == h.lr
    assert back.extra == {"test_accuracy": [0.9, 0.95]} and math.isnan(back.val_loss[1])
    assert h.to_csv().splitlines()[0] == "epoch,train_loss,val_loss,lr,test_accuracy,wall_seconds"
    for bad in ("", "a,b\n1,2\n", "epoch,train_loss\n1\n", "epoch,train_loss\n1,x\n"):
        with pytest.raises(ValueError):
            History.from_csv(bad)



class _Recorder(ConstantLR):
    """A schedule that keeps the rate and records what ``fit`` hands it."""

    def __init__(self, optimizer) -> None:
        super().__init__(optimizer)
        self.seen: list[float] = []

    def next_lr(self, metric):
        self.seen.append(metric)
        return self.optimizer.lr


def _bce_grey_levels(scheduler=None, **kwargs):
    from autoenc.nn import BCELoss

    rng = np.random.default_rng(0)
    X = rng.uniform(0.1, 0.9, size=(120, 8))
    net = autoencoder(8, 3, depth=1, dtype=np.float64, seed=0)
    opt = Adam(net.parameters(), lr=0.01)
    return fit(net, BCELoss(), opt, X, epochs=8, batch_size=40, seed=0, validation_split=0.25,
               scheduler=scheduler and scheduler(opt), **kwargs)


def _label_smoothed(scheduler=None, **kwargs):
    from autoenc.nn import CrossEntropyLoss

    rng = np.random.default_rng(1)
    X = rng.normal(size=(150, 5))
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0)
    net = Sequential(Linear(5, 3, dtype=np.float64, seed=0))
    opt = Adam(net.parameters(), lr=0.05)
    return fit(net, CrossEntropyLoss(label_smoothing=0.2), opt, X, y, epochs=8, batch_size=50, seed=0,
               validation_split=0.2, scheduler=scheduler and scheduler(opt), **kwargs)


@pytest.mark.parametrize("train", [_bce_grey_levels, _label_smoothed], ids=["bce", "cross-entropy-smoothed"])
def test_every_reader_of_the_loss_reads_it_above_its_floor(train):
    recorders: list[_Recorder] = []
    h = train(scheduler=lambda opt: recorders.append(_Recorder(opt)) or recorders[-1])
    assert h.loss_floor > 0.05  # these targets have a real floor
    seen = np.asarray(recorders[0].seen)
    above = np.asarray(h.val_loss) - h.loss_floor
    np.testing.assert_allclose(seen, above, rtol=0, atol=1e-12)  # the plateau schedule's input
    assert (seen > 0).all()
    # the convergence rule and the end-of-curve movement read the same quantity
    assert h.plateau_improvement == pytest.approx((above[:-5].min() - above[-5:].min()) / above[:-5].min())
    assert h.converged == (h.plateau_improvement <= 0.005)


@pytest.mark.parametrize("train", [_bce_grey_levels, _label_smoothed], ids=["bce", "cross-entropy-smoothed"])
def test_a_plateau_threshold_is_relative_to_the_loss_above_its_floor(train):
    # a threshold between the raw and the above-floor relative gains: a schedule fed the raw loss
    # would cut the rate at every epoch; fed the loss above its floor it keeps it while the model learns
    h = train()
    raw = np.asarray(h.val_loss)
    above = raw - h.loss_floor
    raw_gain = 1 - raw[1:] / np.minimum.accumulate(raw)[:-1]
    above_gain = 1 - above[1:] / np.minimum.accumulate(above)[:-1]
    threshold = float(np.sqrt(raw_gain[:3].max() * above_gain[:3].min()))
    assert raw_gain[:3].max() < threshold < above_gain[:3].min()
    h2 = train(scheduler=lambda opt: ReduceLROnPlateau(opt, factor=0.5, patience=0, threshold=threshold))
    assert h2.lr[:4] == [h2.lr[0]] * 4  # no cut while the loss above its floor still falls fast


def test_keep_best_restores_the_best_validation_epoch_of_a_fixed_budget():
    # validation targets that training moves away from: the best epoch is the first
    from autoenc.nn import SGD

    x = np.random.default_rng(0).uniform(-1, 1, size=(64, 1))
    net = Sequential(Linear(1, 1, bias=False, init="zeros", dtype=np.float64))
    snapshots = []
    h = fit(net, MSELoss(), SGD(net.parameters(), lr=0.05), x, x, epochs=6, batch_size=16,
            validation_data=(x, -x), keep_best=True, callback=lambda e, logs: snapshots.append(net.state_dict()))
    assert h.epoch == [1, 2, 3, 4, 5, 6] and not h.stopped_early and h.best_epoch == 1
    np.testing.assert_array_equal(net.state_dict()["0.weight"], snapshots[0]["0.weight"])
    net2 = Sequential(Linear(1, 1, bias=False, init="zeros", dtype=np.float64))
    fit(net2, MSELoss(), SGD(net2.parameters(), lr=0.05), x, x, epochs=6, batch_size=16, validation_data=(x, -x))
    np.testing.assert_array_equal(net2.state_dict()["0.weight"], snapshots[-1]["0.weight"])  # default: the last
