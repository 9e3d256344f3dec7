"""The dense kernel's batch-1 fast path against its general loop, bit for bit.

On one thread at batch_size=1 the compiled core takes a separate loop
(fgd_epoch_single) that feeds each row's gradient straight to the optimizer
rule. It promises the same floating-point operations in the same order as
the general mini-batch loop, which the core runs when asked for two threads
(one of them then has no rows). Parity with the NumPy reference is tested
elsewhere (to a tolerance); here the two compiled paths must agree exactly.
"""
import itertools

import numpy as np
import pytest

from fastgd import optim
from fastgd.backends import EpochProblem
from fastgd.backends.cpu import _core
from fastgd.data import epoch_order
from fastgd.losses import get_loss
from fastgd.schedules import get_schedule

OPTIMIZERS = [
    optim.SGD(lr=0.01),
    optim.SGD(lr=0.01, momentum=0.9, nesterov=True),
    optim.Adagrad(lr=0.05),
    optim.RMSprop(lr=0.005, centered=True, momentum=0.5),
    optim.Adadelta(),
    optim.Adam(lr=0.01, amsgrad=True),
    optim.AdamW(lr=0.01, weight_decay=0.05),
]


def _epoch(X, y, sw, order, opt, loss, l1, average_start, n_threads, schedule):
    d = X.shape[1]
    prob = EpochProblem(
        X=X, y=y, sw=sw, loss=get_loss(loss), optimizer=opt,
        schedule=get_schedule(schedule).bind(0.01, get_loss(loss), 1000), lr=opt.lr,
        l2=opt.weight_decay if opt.weight_decay else 0.01, l1=l1,
        l2_decoupled=opt.decoupled_weight_decay, fit_intercept=True, batch_size=1,
        n_threads=n_threads, average_start=average_start)
    params = np.linspace(-0.5, 0.5, d + 1).astype(X.dtype)
    state = opt.init_state(d + 1, X.dtype)
    avg = params.copy() if average_start >= 0 else None
    gbuf = np.zeros((n_threads, d + 1), dtype=X.dtype)
    gsum = np.zeros(d + 1)
    t = 0
    for _ in range(2):
        stats = _core.epoch_dense(X, y, sw, order, params, state, gbuf, gsum,
                                  prob.c_config(), t, avg)
        t = stats["t"]
    return params, state, gsum, avg, stats


@pytest.mark.parametrize("opt", OPTIMIZERS, ids=repr)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_batch1_fast_path_same_bits_as_general_loop(opt, dtype):
    rng = np.random.default_rng(0)
    n, d = 120, 37     # d not a multiple of the vector width: tails are exercised
    X = rng.standard_normal((n, d)).astype(dtype)
    X[5, 3] = -0.0
    y_reg = X @ rng.standard_normal(d).astype(dtype) + 0.1
    y_cls = np.where(y_reg > 0, 1.0, -1.0)
    sw = rng.uniform(0, 2, n)
    sw[7] = 0.0
    order = epoch_order(n, 3)
    cases = itertools.product(["log_loss", "hinge", "squared_error"], [0.0, 0.01],
                              [None, sw], [-1, 10], [None, order], ["constant", "invscaling"])
    for loss, l1, weights, average_start, rows, schedule in cases:
        y = y_reg.astype(np.float64) if loss == "squared_error" else y_cls
        fast = _epoch(X, y, weights, rows, opt, loss, l1, average_start, 1, schedule)
        general = _epoch(X, y, weights, rows, opt, loss, l1, average_start, 2, schedule)
        for a, b in zip(fast[:4], general[:4]):
            if a is not None:
                assert np.array_equal(a, b), (loss, l1, weights is None, average_start)
        assert fast[4] == general[4]
        assert fast[4]["n_steps"] == n - (weights is not None)   # steps of the last epoch


@pytest.mark.parametrize("opt", [optim.SGD(lr=0.01), optim.Adam(lr=0.01)], ids=repr)
@pytest.mark.parametrize("d", [3, 37, 100])
@pytest.mark.parametrize("batch", [2, 8])
def test_row_groups_same_bits_as_one_row_per_thread(opt, d, batch):
    """The mini-batch loop's groups of 8 rows against one row per group.

    fgd_batch_rows takes a thread's rows in groups of 8: the group's margins,
    its losses in one SIMD loop, and one pass adding the group's gradients
    (fgd_axpy8, a whole-vector tail). With as many threads as the
    batch has rows, every thread holds one row, in a group padded with seven
    empty slots. In float64 both sum the same products in the same order
    (the threads' buffers are added in thread order, row order here), so the
    weights must agree bit for bit; d = 3, 37, 100 cover vectors with and
    without scalar tails, and below one vector. (The epoch's loss and weight
    sums are added per thread across batches: only they may differ, in
    rounding.)
    """
    rng = np.random.default_rng(1)
    n = 96
    X = rng.standard_normal((n, d))
    X[4, 1] = -0.0
    y = np.where(X @ rng.standard_normal(d) > 0, 1.0, -1.0)
    sw = rng.uniform(0, 2, n)
    sw[[3, 9, 10]] = 0.0
    for loss, weights, rows in itertools.product(["log_loss", "hinge"], [None, sw],
                                                 [None, epoch_order(n, 5)]):
        results = []
        for threads in (1, batch):
            prob = EpochProblem(
                X=X, y=y, sw=weights, loss=get_loss(loss), optimizer=opt,
                schedule=get_schedule("constant").bind(0.01, get_loss(loss), 1000), lr=opt.lr,
                l2=0.01, l1=0.0, l2_decoupled=False, fit_intercept=True, batch_size=batch,
                n_threads=threads, average_start=-1)
            params = np.linspace(-0.5, 0.5, d + 1)
            state = opt.init_state(d + 1, X.dtype)
            gbuf = np.zeros((threads, d + 1))
            gsum = np.zeros(d + 1)
            stats = _core.epoch_dense(X, y, weights, rows, params, state, gbuf, gsum,
                                      prob.c_config(), 0, None)
            results.append((params, state, gsum, stats))
        (p1, s1, g1, st1), (pn, sn, gn, stn) = results
        assert np.array_equal(p1, pn), (loss, weights is None, rows is None)
        assert np.array_equal(s1, sn) and np.array_equal(g1, gn)
        for key in ("loss_sum", "weight_sum"):
            assert st1[key] == pytest.approx(stn[key], rel=1e-12), key
        for key in ("t", "n_steps", "nonfinite", "lr_last"):
            assert st1[key] == stn[key], key
