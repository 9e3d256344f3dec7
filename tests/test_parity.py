"""The compiled core ("cpu") against the NumPy reference, case by case.

Every case trains the same small problem with both backends from the same
seed and compares, after a few epochs of mini-batch steps, the parameters
(coefficients and intercept), the whole optimizer state, the averaged
iterate when there is one, the step counter and the per-epoch history.

Tolerance: for each compared array ``a`` (compiled) and ``b`` (reference),
``max|a - b| <= RTOL[dtype] * max|b|`` (relative error in the max-norm of the
array; an all-zero reference must be matched exactly). Problems are small
(60 x 7) and runs short (3 epochs), so that rounding differences (the core
sums in a different order than BLAS) are not amplified chaotically.
"""
import math

import numpy as np
import pytest

import fastgd
import fastgd.solver
from fastgd.backends import EpochProblem
from fastgd.backends import cpu as cpu_backend
from fastgd.backends.cpu import _core
from fastgd.data import epoch_order as reference_epoch_order
from fastgd.losses import LOSSES, Loss
from fastgd.optim import SGD, Adadelta, Adagrad, Adam, AdamW, RMSprop
from fastgd.schedules import (Adaptive, Constant, Cosine, Exponential, InvScaling, Optimal,
                              Step)

# Relative tolerance in the max-norm, per dtype of the trained arrays.
RTOL = {np.float64: 1e-10, np.float32: 1e-4}
DTYPES = (np.float64, np.float32)
N, D, EPOCHS, BATCH = 60, 7, 3, 7


def assert_parity(actual, desired, dtype, what):
    """``max|actual - desired| <= RTOL[dtype] * max|desired|``."""
    a = np.asarray(actual, dtype=np.float64)
    b = np.asarray(desired, dtype=np.float64)
    assert a.shape == b.shape, f"{what}: shapes {a.shape} != {b.shape}"
    assert np.array_equal(np.isfinite(a), np.isfinite(b)), f"{what}: finiteness differs"
    a, b = a[np.isfinite(b)], b[np.isfinite(b)]
    if a.size == 0:
        return
    err = float(np.max(np.abs(a - b)))
    scale = float(np.max(np.abs(b)))
    assert err <= RTOL[dtype] * scale, (
        f"{what}: max abs difference {err:.3g} exceeds {RTOL[dtype]:g} * {scale:.3g}\n"
        f"compiled:  {a}\nreference: {b}")


def assert_trainers_agree(cpu, ref, dtype):
    """Parameters, optimizer state, averaged iterate, step counter and history."""
    assert cpu.params.dtype == ref.params.dtype == dtype
    assert cpu.t == ref.t, "step counters differ"
    assert cpu.epoch == ref.epoch
    assert_parity(cpu.params[:-1], ref.params[:-1], dtype, "coef")
    assert_parity(cpu.params[-1:], ref.params[-1:], dtype, "intercept")
    assert_parity(cpu.state, ref.state, dtype, "optimizer state")
    for name, row in ref.optimizer_state().items():
        assert_parity(cpu.optimizer_state()[name], row, dtype, f"state {name!r}")
    if ref.avg is None:
        assert cpu.avg is None
    else:
        assert_parity(cpu.avg, ref.avg, dtype, "averaged iterate")
    assert len(cpu.history) == len(ref.history)
    assert_parity(cpu.history.loss, ref.history.loss, dtype, "history loss")
    assert_parity(cpu.history.grad_norm, ref.history.grad_norm, dtype, "history grad_norm")
    assert_parity(cpu.history.lr, ref.history.lr, dtype, "history lr")


def run_both(train, X, y, **kwargs):
    """Train with both backends; returns (compiled, reference) trainers."""
    return (train("cpu", X, y, **kwargs), train("reference", X, y, **kwargs))


# --------------------------------------------------------------------------
# The grid: every optimizer x loss x penalty x dtype.
# --------------------------------------------------------------------------

def _adamw(amsgrad):
    # AdamW's weight_decay and the penalty's L2 term are the same term (refused
    # together): exercise weight_decay where the penalty has no L2 part.
    def make(penalty):
        wd = 0.0 if penalty in ("l2", "elasticnet") else 0.05
        return AdamW(lr=0.05, weight_decay=wd, amsgrad=amsgrad)
    return make


OPTIMIZER_CASES = {
    "sgd": lambda penalty: SGD(lr=0.05),
    "sgd_momentum_dampening": lambda penalty: SGD(lr=0.02, momentum=0.9, dampening=0.3),
    "sgd_nesterov": lambda penalty: SGD(lr=0.02, momentum=0.9, nesterov=True),
    "sgd_weight_decay": lambda penalty: SGD(
        lr=0.05, weight_decay=0.0 if penalty in ("l2", "elasticnet") else 0.03),
    "adagrad": lambda penalty: Adagrad(lr=0.2),
    "adagrad_decay_init": lambda penalty: Adagrad(lr=0.2, lr_decay=0.05,
                                                  initial_accumulator_value=0.3),
    "rmsprop": lambda penalty: RMSprop(lr=0.01),
    "rmsprop_centered": lambda penalty: RMSprop(lr=0.01, centered=True),
    "rmsprop_momentum": lambda penalty: RMSprop(lr=0.01, momentum=0.5),
    "rmsprop_centered_momentum": lambda penalty: RMSprop(lr=0.01, centered=True, momentum=0.5),
    "adadelta": lambda penalty: Adadelta(),
    "adam": lambda penalty: Adam(lr=0.05),
    "adam_amsgrad": lambda penalty: Adam(lr=0.05, amsgrad=True),
    "adamw": _adamw(False),
    "adamw_amsgrad": _adamw(True),
}

PENALTY_CASES = {
    None: dict(penalty=None),
    "l2": dict(penalty="l2", alpha=0.05),
    "l1": dict(penalty="l1", alpha=0.05),
    "elasticnet": dict(penalty="elasticnet", alpha=0.05, l1_ratio=0.5),
}


def _dtype_id(dtype):
    return np.dtype(dtype).name


@pytest.mark.parametrize("dtype", DTYPES, ids=_dtype_id)
@pytest.mark.parametrize("penalty", list(PENALTY_CASES), ids=str)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("optimizer", list(OPTIMIZER_CASES))
def test_optimizer_loss_penalty_dtype(train, make_problem, optimizer, loss, penalty, dtype):
    X, y = make_problem(N, D, Loss(loss).is_classification, dtype, seed=1)
    cpu, ref = run_both(train, X, y, epochs=EPOCHS, loss=loss,
                        optimizer=OPTIMIZER_CASES[optimizer](penalty), batch_size=BATCH,
                        random_state=0, **PENALTY_CASES[penalty])
    assert cpu.t == EPOCHS * math.ceil(N / BATCH)
    assert_trainers_agree(cpu, ref, dtype)


def test_l1_grid_produces_zeros(train, make_problem):
    """The L1 cases of the grid are not vacuous: some coefficients hit exactly 0."""
    X, y = make_problem(N, D, False, np.float64, seed=1)
    X[:, 3] *= 0.01  # a feature too weak to survive the penalty
    cpu, ref = run_both(train, X, y, epochs=EPOCHS, optimizer=SGD(lr=0.05), batch_size=BATCH,
                        random_state=0, penalty="l1", alpha=0.3)
    assert np.any(cpu.params[:-1] == 0.0)
    np.testing.assert_array_equal(cpu.params[:-1] == 0.0, ref.params[:-1] == 0.0)


# --------------------------------------------------------------------------
# Schedules (each also with warm-up).
# --------------------------------------------------------------------------

SCHEDULE_CASES = {
    "constant": lambda w: Constant(warmup_steps=w),
    "invscaling": lambda w: InvScaling(power_t=0.4, warmup_steps=w),
    "optimal_default_t0": lambda w: Optimal(warmup_steps=w),  # alpha from the penalty
    "optimal": lambda w: Optimal(alpha=1.0, t0=20.0, warmup_steps=w),
    "step": lambda w: Step(step_size=5, gamma=0.5, warmup_steps=w),
    "exponential": lambda w: Exponential(gamma=0.95, warmup_steps=w),
    "cosine_default_T": lambda w: Cosine(eta_min=0.001, warmup_steps=w),
    "cosine": lambda w: Cosine(T_max=12, eta_min=0.0, warmup_steps=w),
    "adaptive": lambda w: Adaptive(factor=4.0, warmup_steps=w),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=_dtype_id)
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("warmup", [0, 5])
@pytest.mark.parametrize("schedule", list(SCHEDULE_CASES))
def test_schedules(train, make_problem, schedule, warmup, optimizer, dtype):
    X, y = make_problem(N, D, True, dtype, seed=2)
    kwargs = dict(loss="log_loss", optimizer=optimizer, lr=0.1, batch_size=BATCH,
                  random_state=3, penalty="l2", alpha=0.01,
                  schedule=SCHEDULE_CASES[schedule](warmup), epochs=4)
    if schedule == "adaptive":
        # Count every epoch after the first as "no improvement": the step size
        # is divided by the factor after each, in Python, between compiled epochs.
        kwargs["run_kwargs"] = dict(tol=1e6, n_iter_no_change=1)
    cpu, ref = run_both(train, X, y, **kwargs)
    assert_trainers_agree(cpu, ref, dtype)
    lrs = np.array(ref.history.lr)
    if schedule == "adaptive":
        np.testing.assert_allclose(lrs, 0.1 / 4.0 ** np.array([0, 0, 1, 2]), rtol=1e-12)
    elif schedule != "constant":
        assert np.all(np.diff(lrs) <= 0) and lrs[-1] < lrs[0], \
            "the schedule should decrease the step size"


# --------------------------------------------------------------------------
# Batching, order, weights, intercept, initialization, averaging, threads.
# --------------------------------------------------------------------------

def _sample_weight_with_zeros(n):
    rng = np.random.default_rng(7)
    sw = rng.uniform(0.2, 3.0, n)
    sw[[0, 5, 33]] = 0.0
    return sw


def _sample_weight_zero_batch(n):
    sw = _sample_weight_with_zeros(n)
    sw[BATCH:2 * BATCH] = 0.0  # with shuffle=False the second batch has no weight
    return sw


SCENARIOS = {
    "batch_1": dict(batch_size=1),
    "batch_7": dict(batch_size=7),
    "full_batch": dict(batch_size=N),
    "batch_over_n": dict(batch_size=5 * N),
    "no_shuffle": dict(shuffle=False),
    "sample_weight": dict(sample_weight=_sample_weight_with_zeros(N)),
    "sample_weight_zero_batch": dict(sample_weight=_sample_weight_zero_batch(N),
                                     shuffle=False),
    "sample_weight_batch_1": dict(sample_weight=_sample_weight_with_zeros(N), batch_size=1),
    "no_intercept": dict(fit_intercept=False),
    "coef_init": dict(coef_init=np.linspace(-1.0, 1.0, D), intercept_init=0.7),
    "average": dict(average=True),
    "average_from_10": dict(average=10),
    "average_batch_1": dict(average=25, batch_size=1),
    "huber_epsilon": dict(loss="huber", epsilon=0.5),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=_dtype_id)
@pytest.mark.parametrize("optimizer", ["sgd_momentum_dampening", "adagrad_decay_init",
                                       "rmsprop_centered_momentum", "adam"])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_scenarios(train, make_problem, scenario, optimizer, dtype):
    X, y = make_problem(N, D, False, dtype, seed=4)
    kwargs = dict(optimizer=OPTIMIZER_CASES[optimizer]("elasticnet"), penalty="elasticnet",
                  alpha=0.02, l1_ratio=0.3, batch_size=BATCH, random_state=5,
                  epochs=EPOCHS)
    kwargs.update(SCENARIOS[scenario])
    cpu, ref = run_both(train, X, y, **kwargs)
    assert_trainers_agree(cpu, ref, dtype)
    if scenario == "sample_weight_zero_batch":
        # the all-zero batch takes no step
        assert ref.t == EPOCHS * (math.ceil(N / BATCH) - 1)
    if scenario == "no_intercept":
        assert cpu.params[-1] == 0.0 and ref.params[-1] == 0.0


@pytest.mark.parametrize("dtype", DTYPES, ids=_dtype_id)
@pytest.mark.parametrize("batch_size", [7, 16, N])
@pytest.mark.parametrize("optimizer", ["sgd_nesterov", "adam_amsgrad"])
@pytest.mark.needs_threads
def test_two_threads(train, make_problem, monkeypatch, batch_size, optimizer, dtype):
    # Force threads on tiny batches: the Trainer shares a batch only when it
    # has at least MIN_WORK_PER_THREAD multiply-adds.
    monkeypatch.setattr(fastgd.solver, "MIN_WORK_PER_THREAD", 1)
    X, y = make_problem(N, D, True, dtype, seed=6)
    kwargs = dict(loss="modified_huber", optimizer=OPTIMIZER_CASES[optimizer]("l2"),
                  penalty="elasticnet", alpha=0.02, batch_size=batch_size, random_state=8,
                  epochs=EPOCHS, sample_weight=_sample_weight_with_zeros(N), average=3)
    cpu = train("cpu", X, y, n_jobs=2, **kwargs)
    assert cpu._problem(X, y, None, 1).n_threads == 2, "the test must run two threads"
    ref = train("reference", X, y, **kwargs)
    assert_trainers_agree(cpu, ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=_dtype_id)
@pytest.mark.parametrize("shuffle", [True, False])
def test_chunked_epochs(train, make_problem, monkeypatch, shuffle, dtype):
    """An epoch handed to the core in chunks of whole batches takes the same steps."""
    X, y = make_problem(N, D, False, dtype, seed=14)
    kwargs = dict(optimizer="rmsprop", lr=0.01, batch_size=BATCH, random_state=2,
                  shuffle=shuffle, average=4, sample_weight=_sample_weight_with_zeros(N))
    whole = train("cpu", X, y, **kwargs)
    monkeypatch.setattr(fastgd.Trainer, "chunk_rows", 2 * BATCH)
    chunked = train("cpu", X, y, **kwargs)
    ref = train("reference", X, y, **kwargs)
    assert_trainers_agree(chunked, ref, dtype)
    for key in ("params", "state", "avg"):
        np.testing.assert_array_equal(getattr(chunked, key), getattr(whole, key))


@pytest.mark.parametrize("dtype", DTYPES, ids=_dtype_id)
@pytest.mark.parametrize("shape", [(1, 3), (5, 1), (13, 4)], ids=str)
def test_degenerate_shapes(train, shape, dtype):
    rng = np.random.default_rng(9)
    X = rng.standard_normal(shape).astype(dtype)
    X[:, 0] = 0.0  # a feature that is zero everywhere
    y = rng.standard_normal(shape[0])
    cpu, ref = run_both(train, X, y, optimizer="adam", lr=0.1, penalty="l1", alpha=0.01,
                        batch_size=2, random_state=0, epochs=EPOCHS)
    assert_trainers_agree(cpu, ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=_dtype_id)
def test_continued_training(train, make_problem, dtype):
    """A second run continues the step counter, state and schedule identically."""
    X, y = make_problem(N, D, False, dtype, seed=10)
    trainers = []
    for backend in ("cpu", "reference"):
        tr = train(backend, X, y, optimizer="adam", lr=0.05, schedule="invscaling",
                   batch_size=BATCH, random_state=1, epochs=2)
        tr.run(X, y, None, epochs=2)
        trainers.append(tr)
    assert trainers[0].epoch == 4
    assert_trainers_agree(*trainers, dtype)


# The reference's NumPy math warns on the overflow it then detects.
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_divergence_restores_last_good_epoch(train, make_problem, backend):
    X, y = make_problem(N, D, False, np.float64, seed=11)
    X = X * 1e3
    tr = fastgd.Trainer(optimizer="sgd", lr=10.0, batch_size=BATCH, random_state=0,
                        backend=backend)
    tr.init_model(D, X.dtype)
    with pytest.raises(fastgd.DivergenceError, match="diverged"):
        tr.run(X, y, None, epochs=50)
    assert np.all(np.isfinite(tr.params)) and np.all(np.isfinite(tr.state))


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_divergence_same_epoch_in_both_backends(make_problem):
    X, y = make_problem(N, D, False, np.float64, seed=11)
    X = X * 30.0
    trainers = []
    for backend in ("cpu", "reference"):
        tr = fastgd.Trainer(optimizer="sgd", lr=0.01, batch_size=BATCH, random_state=0,
                            backend=backend)
        tr.init_model(D, X.dtype)
        with pytest.raises(fastgd.DivergenceError):
            tr.run(X, y, None, epochs=200)
        trainers.append(tr)
    cpu, ref = trainers
    assert cpu.epoch == ref.epoch
    assert_trainers_agree(cpu, ref, np.float64)


def test_fit_functional_api_parity(make_problem):
    X, y = make_problem(N, D, True, np.float64, seed=12)
    kwargs = dict(loss="log_loss", optimizer="adamw", lr=0.05, batch_size=BATCH, epochs=3,
                  penalty="l1", alpha=0.01, random_state=2, average=5)
    a = fastgd.fit(X, y, backend="cpu", **kwargs)
    b = fastgd.fit(X, y, backend="reference", **kwargs)
    assert_parity(a.coef_, b.coef_, np.float64, "coef_")
    assert_parity([a.intercept_], [b.intercept_], np.float64, "intercept_")
    assert a.t_ == b.t_ and a.n_iter_ == b.n_iter_ == 3
    for name in b.optimizer_state_:
        assert_parity(a.optimizer_state_[name], b.optimizer_state_[name], np.float64, name)
    np.testing.assert_array_equal(a.classes_, b.classes_)


# --------------------------------------------------------------------------
# Epoch order, loss tables, schedule step sizes.
# --------------------------------------------------------------------------

@pytest.mark.parametrize("n", [0, 1, 2, 3, 10, 257, 1000])
@pytest.mark.parametrize("seed", [0, 1, 12345, 2**63 - 1, 2**64 - 1,
                                  fastgd.data.epoch_seed(42, 3)])
def test_epoch_order_matches_reference(n, seed):
    c_order = cpu_backend.epoch_order(n, seed)
    py_order = reference_epoch_order(n, seed)
    assert c_order.dtype == py_order.dtype == np.int64
    np.testing.assert_array_equal(c_order, py_order)
    np.testing.assert_array_equal(np.sort(c_order), np.arange(n))


def test_epoch_order_shuffles():
    orders = [cpu_backend.epoch_order(50, s) for s in range(3)]
    assert not np.array_equal(orders[0], np.arange(50))
    assert not np.array_equal(orders[0], orders[1])
    assert not np.array_equal(orders[1], orders[2])


def _loss_objects():
    return [Loss(name, epsilon=0.3) for name in LOSSES]


SQUARED_OR_BRANCHY = ("squared_error", "squared_epsilon_insensitive", "squared_hinge",
                      "huber", "modified_huber")


def _loss_points(loss):
    """(y, p) pairs: ordinary values, kinks and extremes."""
    if loss.is_classification:
        ys = [-1.0, 1.0]
        kinks = [0.0, 1.0, -1.0]  # kinks of y * p, for y = +-1: p = +-those
    else:
        ys = [-2.0, 0.0, 0.5, 3.0]
        kinks = [0.0, loss.epsilon, -loss.epsilon]  # kinks of p - y
    extremes = [1e300, -1e300, 1e10, -1e10, 750.0, -750.0, 40.0, -40.0]
    ordinary = [-2.5, -0.7, -1e-12, 1e-12, 0.3, 1.9]
    points = []
    for y in ys:
        for p in ordinary + extremes:
            points.append((y, p))
        for k in kinks:
            points.append((y, y * k) if loss.is_classification else (y, y + k))
    return np.array(points)


@pytest.mark.parametrize("loss", _loss_objects(), ids=lambda l: l.name)
def test_loss_tables_match_reference(loss):
    pts = _loss_points(loss)
    y, p = pts[:, 0], pts[:, 1]
    # The squared losses are truly out of range at |p| = 1e300, and the reference
    # evaluates both branches of np.where; the others must not overflow at all.
    overflow = "ignore" if loss.name in SQUARED_OR_BRANCHY else "raise"
    with np.errstate(over=overflow, invalid="raise", divide="raise"):
        ref_value = loss.value(y, p)
        ref_deriv = loss.derivative(y, p)
    c_value = np.array([_core.loss_value(loss.code, loss.c_param, a, b) for a, b in pts])
    c_deriv = np.array([_core.loss_derivative(loss.code, loss.c_param, a, b) for a, b in pts])
    # Same formulas term for term; only libm and NumPy's exp/log1p may differ in the last bit.
    np.testing.assert_allclose(c_value, ref_value, rtol=1e-14, atol=0)
    np.testing.assert_allclose(c_deriv, ref_deriv, rtol=1e-14, atol=0)
    assert np.all(c_value >= 0)
    assert np.all(np.isfinite(c_deriv) | (np.abs(p) > 1e150))
    if loss.name not in ("squared_error", "squared_epsilon_insensitive", "squared_hinge"):
        assert np.all(np.isfinite(c_value)), "a loss with linear tails must stay finite"


def test_log_loss_extremes_do_not_overflow():
    loss = Loss("log_loss")
    for y in (-1.0, 1.0):
        for p in (1e300, -1e300, 1e308, -1e308):
            z = y * p
            expected_value = 0.0 if z > 0 else -z
            expected_deriv = 0.0 if z > 0 else -y
            with np.errstate(over="raise", invalid="raise"):
                assert float(loss.value(y, p)) == expected_value
                assert float(loss.derivative(y, p)) == expected_deriv
            assert _core.loss_value(loss.code, 0.0, y, p) == expected_value
            assert _core.loss_derivative(loss.code, 0.0, y, p) == expected_deriv
    # and it is accurate where exp(-z) is tiny but log1p matters
    np.testing.assert_allclose(_core.loss_value(loss.code, 0.0, 1.0, 40.0), math.exp(-40.0),
                               rtol=1e-14)


def test_log_loss_within_few_ulp_of_numpy_everywhere():
    # The core's exp/log1p for the logistic loss are its own branch-free
    # polynomials (csrc/losses.h), not libm's: hold them to 4 ulp of NumPy's
    # on a dense grid of margins covering every range-reduction branch.
    from scipy.special import expit

    loss = Loss("log_loss")
    mags = np.concatenate([np.logspace(-300, np.log10(700.0), 20000),
                           np.linspace(0.0, 3.0, 20001),
                           math.log(2.0) + np.linspace(-1e-6, 1e-6, 2001)])   # e = 1/2
    z = np.concatenate([mags, -mags])
    value = np.array([_core.loss_value(loss.code, 0.0, 1.0, v) for v in z])
    deriv = np.array([_core.loss_derivative(loss.code, 0.0, 1.0, v) for v in z])
    np.testing.assert_array_max_ulp(value, np.logaddexp(0.0, -z), maxulp=4)
    np.testing.assert_array_max_ulp(deriv, -expit(-z), maxulp=4)
    # beyond |z| = 708 exp(-|z|) is flushed to zero: absolute error below 1e-307
    far = np.array([708.5, 720.0, 745.0, 800.0])
    for v in far:
        assert abs(_core.loss_value(loss.code, 0.0, 1.0, v) - math.exp(-v)) < 1e-307
        assert _core.loss_value(loss.code, 0.0, 1.0, -v) == v
        assert _core.loss_derivative(loss.code, 0.0, 1.0, -v) == -1.0
    assert math.isnan(_core.loss_value(loss.code, 0.0, 1.0, math.nan))


def _distance_to_kink(loss, y, p):
    if loss.is_classification:
        z = y * p
        return min(abs(z), abs(z - 1.0), abs(z + 1.0))
    r = p - y
    return min(abs(r), abs(r - loss.epsilon), abs(r + loss.epsilon))


@pytest.mark.parametrize("loss", _loss_objects(), ids=lambda l: l.name)
def test_loss_derivative_matches_finite_differences(loss):
    rng = np.random.default_rng(13)
    h = 1e-6
    checked = 0
    for _ in range(200):
        y = rng.choice([-1.0, 1.0]) if loss.is_classification else rng.normal(0, 2)
        p = rng.normal(0, 3)
        if _distance_to_kink(loss, y, p) < 1e-3:
            continue
        fd = (_core.loss_value(loss.code, loss.c_param, y, p + h)
              - _core.loss_value(loss.code, loss.c_param, y, p - h)) / (2 * h)
        d = _core.loss_derivative(loss.code, loss.c_param, y, p)
        assert d == pytest.approx(fd, rel=1e-6, abs=1e-6), (y, p)
        checked += 1
    assert checked > 150


def _c_config(schedule, lr):
    return EpochProblem(X=None, y=None, sw=None, loss=Loss(), optimizer=SGD(),
                        schedule=schedule, lr=lr, l2=0.0, l1=0.0, l2_decoupled=False,
                        fit_intercept=True, batch_size=1, n_threads=1).c_config()


@pytest.mark.parametrize("warmup", [0, 1, 7])
@pytest.mark.parametrize("schedule", list(SCHEDULE_CASES))
def test_schedule_lr_matches_reference(schedule, warmup):
    bound = SCHEDULE_CASES[schedule](warmup).bind(0.01, Loss("hinge"), 500)
    lr = 0.3
    cfg = _c_config(bound, lr)
    ts = list(range(0, 40)) + [99, 100, 499, 500, 501, 10**6, 2**40]
    c_lr = np.array([_core.schedule_lr(cfg, t) for t in ts])
    py_lr = np.array([bound.lr_at(lr, t) for t in ts])
    np.testing.assert_allclose(c_lr, py_lr, rtol=1e-14, atol=0)
    assert np.all(c_lr >= 0) and np.all(np.isfinite(c_lr))
    if warmup > 1:
        # linear warm-up: the first step is 1/warmup of the un-warmed step size
        unwarmed = type(bound)(**{**vars(bound), "warmup_steps": 0})
        assert c_lr[0] == pytest.approx(unwarmed.lr_at(lr, 0) / warmup, rel=1e-14)
