"""Hyperparameters: validation with clear errors, and torch.optim's names and defaults.

Every invalid value raises ValueError with a message naming the parameter.
The optimizers take torch.optim's names, order and defaults; their first
step is checked against the formulas of the torch.optim documentation
written out here independently, and, where PyTorch is installed, several
steps are compared with torch.optim itself.
"""
import inspect
import math
import re

import numpy as np
import pytest

import fastgd
from fastgd.optim import SGD, Adadelta, Adagrad, Adam, AdamW, RMSprop
from fastgd.schedules import Adaptive, Cosine, Exponential, InvScaling, Optimal, Step

ALL_OPTIMIZERS = (SGD, Adagrad, RMSprop, Adadelta, Adam, AdamW)
NOT_FINITE = (math.nan, math.inf, -math.inf)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.2 * rng.standard_normal(30)
    return X, y


def _raises(name, fn, *args, **kwargs):
    """fn(*args, **kwargs) raises ValueError naming ``name``."""
    with pytest.raises(ValueError, match=re.escape(name)):
        fn(*args, **kwargs)


# --------------------------------------------------------------------------
# Optimizer objects
# --------------------------------------------------------------------------

@pytest.mark.parametrize("cls", ALL_OPTIMIZERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("lr", [0.0, -1e-3, *NOT_FINITE, True, "0.1", None])
def test_lr_must_be_positive_finite(cls, lr):
    _raises("lr", cls, lr=lr)


@pytest.mark.parametrize("cls", ALL_OPTIMIZERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("wd", [-1e-4, *NOT_FINITE])
def test_weight_decay_nonnegative(cls, wd):
    _raises("weight_decay", cls, weight_decay=wd)


INVALID = [
    # (class, parameter, bad values)
    (SGD, "momentum", [-0.1, math.nan]),
    (SGD, "dampening", [math.nan, math.inf]),
    (Adagrad, "lr_decay", [-0.1, math.inf]),
    (Adagrad, "initial_accumulator_value", [-0.1, math.nan]),
    (Adagrad, "eps", [-1e-10, math.nan]),
    (RMSprop, "alpha", [-0.01, 1.01, math.nan]),
    (RMSprop, "eps", [-1e-8, math.inf]),
    (RMSprop, "momentum", [-0.5, math.nan]),
    (Adadelta, "rho", [-0.1, 1.1, math.nan]),
    (Adadelta, "eps", [-1e-6, math.nan]),
    (Adam, "eps", [-1e-8, math.inf]),
    (AdamW, "eps", [-1e-8]),
]


@pytest.mark.parametrize("cls,name,bad", [(c, n, b) for c, n, bs in INVALID for b in bs],
                         ids=lambda v: getattr(v, "__name__", str(v)))
def test_invalid_hyperparameter(cls, name, bad):
    _raises(name, cls, **{name: bad})


@pytest.mark.parametrize("cls", [Adam, AdamW])
@pytest.mark.parametrize("betas,name", [
    ((1.0, 0.999), "betas[0]"), ((-0.1, 0.999), "betas[0]"), ((math.nan, 0.999), "betas[0]"),
    ((0.9, 1.0), "betas[1]"), ((0.9, 1.5), "betas[1]"), ((0.9, -1e-3), "betas[1]"),
    ((0.9,), "betas"), ((0.9, 0.99, 0.9), "betas"), (0.9, "betas"), (None, "betas"),
])
def test_betas_in_unit_interval(cls, betas, name):
    _raises(name, cls, betas=betas)


def test_betas_boundaries_allowed():
    assert Adam(betas=(0.0, 0.0)).betas == (0.0, 0.0)


@pytest.mark.parametrize("kwargs", [dict(nesterov=True), dict(nesterov=True, momentum=0.0),
                                    dict(nesterov=True, momentum=0.9, dampening=0.1)])
def test_nesterov_needs_momentum_and_no_dampening(kwargs):
    _raises("esterov", SGD, **kwargs)


@pytest.mark.parametrize("kwargs", [
    dict(momentum=0.9, nesterov=True), dict(momentum=0.0, dampening=0.5),
    dict(lr=10.0, momentum=0.99, weight_decay=0.1),
])
def test_valid_sgd(kwargs):
    opt = SGD(**kwargs)
    for k, v in kwargs.items():
        assert getattr(opt, k) == v


@pytest.mark.parametrize("cls,name,value", [
    (RMSprop, "alpha", 0.0), (RMSprop, "alpha", 1.0), (Adadelta, "rho", 0.0),
    (Adadelta, "rho", 1.0), (Adagrad, "eps", 1e-300), (Adam, "eps", 1e-300),
])
def test_closed_interval_boundaries_allowed(cls, name, value):
    assert getattr(cls(**{name: value}), name) == value


def test_with_params_validates_again():
    opt = Adam(lr=0.1)
    assert opt.with_params(lr=0.2).lr == 0.2 and opt.lr == 0.1
    _raises("lr", opt.with_params, lr=-1.0)


# --------------------------------------------------------------------------
# torch.optim names, order and defaults
# --------------------------------------------------------------------------

TORCH_SIGNATURES = {
    # torch.optim's constructor arguments after ``params``, up to its
    # keyword-only switches (maximize, foreach, ...), with their defaults.
    SGD: dict(lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False),
    Adagrad: dict(lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                  eps=1e-10),
    RMSprop: dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False),
    Adadelta: dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0),
    Adam: dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False),
    AdamW: dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False),
}


@pytest.mark.parametrize("cls", ALL_OPTIMIZERS, ids=lambda c: c.__name__)
def test_torch_names_order_and_defaults(cls):
    expected = TORCH_SIGNATURES[cls]
    sig = inspect.signature(cls)
    assert list(sig.parameters) == list(expected)
    for name, default in expected.items():
        assert sig.parameters[name].default == default, name
    assert cls().get_params() == expected
    # the name fastgd.fit takes is the lower-case class name
    assert fastgd.optim.get_optimizer(cls.__name__.lower()) == cls()


@pytest.mark.parametrize("name,lr", [("sgd", 1e-3), ("adagrad", 1e-2), ("rmsprop", 1e-2),
                                     ("adadelta", 1.0), ("adam", 1e-3), ("adamw", 1e-3)])
def test_named_optimizer_default_lr(data, name, lr):
    X, y = data
    tr = fastgd.Trainer(optimizer=name, penalty=None)
    assert tr.lr == lr
    res = fastgd.fit(X, y, optimizer=name, epochs=1, penalty=None, random_state=0)
    assert res.t_ == 1  # default batch_size 32 >= 30 rows: one step


def _first_step(opt, g, lr):
    """The first update of a zero parameter, from the torch.optim documentation."""
    if isinstance(opt, SGD):
        return -lr * (g + opt.momentum * g if opt.nesterov else g)
    if isinstance(opt, Adagrad):
        return -lr * g / (np.sqrt(opt.initial_accumulator_value + g * g) + opt.eps)
    if isinstance(opt, RMSprop):
        v = (1 - opt.alpha) * g * g
        a = (1 - opt.alpha) * g if opt.centered else 0.0
        return -lr * g / (np.sqrt(v - a * a) + opt.eps)
    if isinstance(opt, Adadelta):
        v = (1 - opt.rho) * g * g
        return -lr * np.sqrt(opt.eps) / np.sqrt(v + opt.eps) * g
    b1, b2 = opt.betas  # Adam, AdamW: m_hat = g, v_hat = g^2
    m = (1 - b1) * g / (1 - b1)
    v = (1 - b2) * g * g / (1 - b2)
    return -lr * m / (np.sqrt(v) + opt.eps)


FIRST_STEP_CASES = [
    SGD(lr=0.1), SGD(lr=0.1, momentum=0.9, dampening=0.5), SGD(lr=0.1, momentum=0.9,
                                                               nesterov=True),
    Adagrad(lr=0.1), Adagrad(lr=0.1, lr_decay=0.5, initial_accumulator_value=0.3),
    RMSprop(lr=0.01), RMSprop(lr=0.01, centered=True), RMSprop(lr=0.01, momentum=0.5),
    Adadelta(), Adadelta(lr=0.5, rho=0.5, eps=1e-3),
    Adam(lr=0.01), Adam(lr=0.01, betas=(0.5, 0.9), amsgrad=True), AdamW(lr=0.01,
                                                                         weight_decay=0.0),
]


@pytest.mark.parametrize("backend", ["cpu", "reference"])
@pytest.mark.parametrize("opt", FIRST_STEP_CASES, ids=repr)
def test_first_step_is_torch_formula(data, opt, backend):
    # From zero weights the full-batch squared-error gradient is -mean([x, 1] y).
    X, y = data
    g = -np.r_[X.T @ y, y.sum()] / X.shape[0]
    res = fastgd.fit(X, y, optimizer=opt, batch_size=X.shape[0], epochs=1, penalty=None,
                     shuffle=False, backend=backend)
    np.testing.assert_allclose(np.r_[res.coef_, res.intercept_], _first_step(opt, g, opt.lr),
                               rtol=1e-12, atol=1e-15)


# --------------------------------------------------------------------------
# fit / Trainer options
# --------------------------------------------------------------------------

BAD_FIT_OPTIONS = [
    (dict(loss="squared_loss"), "loss"),
    (dict(loss="logistic"), "loss"),
    (dict(optimizer="adamax"), "optimizer"),
    (dict(optimizer="Adam "), "optimizer"),
    (dict(schedule="linear"), "schedule"),
    (dict(penalty="l3"), "penalty"),
    (dict(penalty="L1 "), "penalty"),
    (dict(batch_size=0), "batch_size"),
    (dict(batch_size=-5), "batch_size"),
    (dict(batch_size=2.5), "batch_size"),
    (dict(batch_size=32.0), "batch_size"),
    (dict(batch_size="32"), "batch_size"),
    (dict(batch_size=True), "batch_size"),
    (dict(epochs=0), "epochs"),
    (dict(epochs=-1), "epochs"),
    (dict(epochs=1.5), "epochs"),
    (dict(epochs=None), "epochs"),
    (dict(alpha=-0.1), "alpha"),
    (dict(alpha=math.nan), "alpha"),
    (dict(alpha=math.inf), "alpha"),
    (dict(penalty="elasticnet", l1_ratio=1.5), "l1_ratio"),
    (dict(penalty="elasticnet", l1_ratio=-0.1), "l1_ratio"),
    (dict(penalty="elasticnet", l1_ratio=math.nan), "l1_ratio"),
    (dict(lr=0.0), "lr"),
    (dict(lr=-0.1), "lr"),
    (dict(lr=math.nan), "lr"),
    (dict(optimizer=SGD(lr=0.1), lr=0.1), "lr"),
    (dict(optimizer=SGD(weight_decay=0.1), penalty="l2", alpha=0.1), "weight_decay"),
    (dict(optimizer=AdamW(), penalty="l2", alpha=0.1), "weight_decay"),
    (dict(optimizer=Adam(weight_decay=0.1), penalty="elasticnet", alpha=0.1), "weight_decay"),
    (dict(epsilon=-0.1, loss="huber"), "epsilon"),
    (dict(n_jobs=0), "n_jobs"),
    (dict(n_jobs=1.5), "n_jobs"),
    (dict(schedule="optimal", alpha=0.0), "alpha"),
    (dict(average=-1), "average"),
    (dict(on_divergence="ignore"), "on_divergence"),
    (dict(backend="gpu-ish"), "backend"),
    (dict(tol=math.nan), "tol"),
    (dict(n_iter_no_change=0), "n_iter_no_change"),
]


@pytest.mark.parametrize("kwargs,name", BAD_FIT_OPTIONS, ids=lambda v: str(v))
def test_fit_rejects(data, kwargs, name):
    X, y = data
    _raises(name, fastgd.fit, X, y, **kwargs)


def test_fit_rejects_a_non_optimizer_object(data):
    X, y = data
    with pytest.raises(TypeError, match="optimizer"):
        fastgd.fit(X, y, optimizer=object())


@pytest.mark.parametrize("loss", [l for l in fastgd.losses.LOSSES
                                  if fastgd.losses.Loss(l).is_classification])
def test_classification_loss_needs_two_classes(data, loss):
    X, _ = data
    three = np.arange(X.shape[0]) % 3
    _raises("two classes", fastgd.fit, X, three, loss=loss)
    _raises("two classes", fastgd.fit, X, np.zeros(X.shape[0]), loss=loss)


@pytest.mark.parametrize("kwargs", [
    dict(optimizer=SGD(lr=0.01, weight_decay=0.1), penalty="l1", alpha=0.1),
    dict(optimizer=SGD(lr=0.01, weight_decay=0.1), penalty="l2", alpha=0.0),
    dict(optimizer=SGD(lr=0.01, weight_decay=0.1), penalty=None, alpha=0.5),
    dict(optimizer=AdamW(lr=0.01, weight_decay=0.0), penalty="l2", alpha=0.1),
    dict(optimizer="adamw", penalty="l1", alpha=0.1),
])
def test_one_l2_spelling_is_fine(data, kwargs):
    X, y = data
    res = fastgd.fit(X, y, epochs=2, random_state=0, **kwargs)
    assert np.all(np.isfinite(res.coef_))


def test_weight_decay_is_the_l2_penalty(data):
    # the two spellings of the same L2 term train the same model
    X, y = data
    a = fastgd.fit(X, y, optimizer=SGD(lr=0.05, weight_decay=0.3), penalty=None, epochs=3,
                   random_state=0)
    b = fastgd.fit(X, y, optimizer=SGD(lr=0.05), penalty="l2", alpha=0.3, epochs=3,
                   random_state=0)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert a.history.loss == b.history.loss


SCHEDULE_INVALID = [
    (InvScaling, "power_t", math.nan), (Optimal, "alpha", 0.0), (Optimal, "t0", -1.0),
    (Step, "step_size", 0), (Step, "step_size", 2.5), (Step, "gamma", 0.0),
    (Exponential, "gamma", -0.5), (Cosine, "T_max", 0), (Cosine, "eta_min", -1e-3),
    (Adaptive, "factor", 1.0), (Step, "warmup_steps", -1), (Cosine, "warmup_steps", 1.5),
]


@pytest.mark.parametrize("cls,name,bad", SCHEDULE_INVALID, ids=str)
def test_schedule_rejects(cls, name, bad):
    _raises(name, cls, **{name: bad})


SCALED_SCHEDULES = [
    InvScaling(power_t=0.3), Optimal(alpha=1e-3, t0=50.0), Optimal(), Step(step_size=7, gamma=0.5),
    Exponential(gamma=0.99), Cosine(), Cosine(T_max=30, eta_min=0.02, warmup_steps=5),
    Adaptive(),
]


@pytest.mark.parametrize("schedule", SCALED_SCHEDULES, ids=repr)
@pytest.mark.parametrize("factor", [0.5, 2.0 ** -10])
def test_scaled_schedule_scales_every_step_size(data, schedule, factor):
    # divergence backoff halves lr and trains with schedule.scaled(factor):
    # every step size must scale, including what does not come from lr
    # ("optimal" ignores lr; cosine's eta_min), in the compiled core too
    from fastgd.backends.cpu import _core

    X, y = data
    tr = fastgd.Trainer(loss="log_loss", schedule=schedule, lr=0.1, alpha=1e-4, batch_size=10)
    tr.init_model(X.shape[1], X.dtype)
    problem = tr._problem(X, np.where(y > np.median(y), 1.0, -1.0), None, 2)
    bound = problem.schedule
    base = [bound.lr_at(0.1, t) for t in range(40)]
    problem.schedule, problem.lr = bound.scaled(factor), 0.1 * factor
    cfg = problem.c_config()
    for t in range(40):
        want = factor * base[t]
        assert problem.schedule.lr_at(problem.lr, t) == pytest.approx(want, rel=1e-14)
        assert _core.schedule_lr(cfg, t) == pytest.approx(want, rel=1e-14)
    assert bound.scaled(1.0) is bound


# --------------------------------------------------------------------------
# Step for step against torch.optim (optional: only where PyTorch is installed)
# --------------------------------------------------------------------------

TORCH_CASES = [
    SGD(lr=0.05), SGD(lr=0.05, momentum=0.9, dampening=0.2, weight_decay=0.1),
    SGD(lr=0.05, momentum=0.9, nesterov=True),
    Adagrad(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.2, weight_decay=0.1),
    RMSprop(lr=0.01), RMSprop(lr=0.01, centered=True, momentum=0.5, weight_decay=0.1),
    Adadelta(weight_decay=0.1), Adam(lr=0.05), Adam(lr=0.05, amsgrad=True, weight_decay=0.1),
    AdamW(lr=0.05, weight_decay=0.1), AdamW(lr=0.05, amsgrad=True),
]


@pytest.mark.parametrize("opt", TORCH_CASES, ids=repr)
def test_steps_match_torch_optim(data, opt):
    torch = pytest.importorskip(
        "torch", reason="PyTorch is an optional dependency, only used to compare with "
                        "torch.optim step for step")
    X, y = data
    n, d = X.shape
    params = opt.get_params()
    wd = params.pop("weight_decay")
    w = torch.zeros(d, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    # weight decay on the coefficients only: fastgd never penalizes the intercept
    topt = getattr(torch.optim, type(opt).__name__)(
        [{"params": [w], "weight_decay": wd}, {"params": [b], "weight_decay": 0.0}], **params)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    trainer = fastgd.Trainer(optimizer=opt, penalty=None, batch_size=n, shuffle=False)
    trainer.init_model(d, np.float64)
    for _ in range(6):
        topt.zero_grad()
        loss = 0.5 * ((Xt @ w + b - yt) ** 2).mean()   # squared_error, full batch
        loss.backward()
        topt.step()
        trainer.run(X, y, None, epochs=1)
        np.testing.assert_allclose(trainer.params[:d], w.detach().numpy(), rtol=1e-10,
                                   atol=1e-13)
        np.testing.assert_allclose(trainer.params[d], b.detach().numpy()[0], rtol=1e-10,
                                   atol=1e-13)
        for name, row in trainer.optimizer_state().items():
            np.testing.assert_allclose(row, topt.state[w][name].numpy(), rtol=1e-10,
                                       atol=1e-13, err_msg=name)


def test_adaptive_with_tol_none_keeps_its_step_size_and_runs_every_epoch():
    # scikit-learn treats tol=None as -inf: no decay, no early stop
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4))
    y = (X[:, 0] > 0).astype(float)
    res = fastgd.fit(X, y, loss="log_loss", schedule="adaptive", lr=0.05, epochs=60,
                     tol=None, random_state=0)
    assert res.n_iter_ == 60 and res.stop_reason == "max_epochs"
    assert res.history.lr == [0.05] * 60
    est = fastgd.SGDClassifier(loss="log_loss", learning_rate="adaptive", eta0=0.5, tol=None,
                               max_iter=60, random_state=0).fit(X, y)
    assert est.n_iter_ == 60 and set(est.history_.lr) == {0.5}
    # with a tol it still decays
    res = fastgd.fit(X, y, loss="log_loss", schedule="adaptive", lr=0.05, epochs=60,
                     tol=10.0, n_iter_no_change=2, random_state=0)
    assert res.history.lr[-1] < 0.05


def test_init_model_restarts_the_step_size():
    # the adaptive schedule lowered lr during the first training: a new
    # model starts from the optimizer's lr again, as a new Trainer does
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4))
    y = X @ [1.0, 2.0, 3.0, 4.0]
    tr = fastgd.Trainer(optimizer="sgd", lr=0.05, schedule="adaptive", batch_size=8,
                        random_state=0)
    tr.init_model(4, X.dtype)
    tr.run(X, y, epochs=60, tol=1e-3)
    assert tr.lr < 0.05
    tr.init_model(4, X.dtype)
    tr.run(X, y, epochs=3, tol=1e-3)
    fresh = fastgd.Trainer(optimizer="sgd", lr=0.05, schedule="adaptive", batch_size=8,
                           random_state=0)
    fresh.init_model(4, X.dtype)
    fresh.run(X, y, epochs=3, tol=1e-3)
    assert tr.history.lr == fresh.history.lr
    np.testing.assert_array_equal(tr.params, fresh.params)
