"""Randomness is an input: same seed, same data, same threads -> the same bits.

Also: different thread counts agree to floating-point tolerance, an unseeded
fit draws a fresh order, and fitting never writes into the caller's arrays.
"""
import numpy as np
import pytest

import fastgd
import fastgd.solver

DTYPES = (np.float64, np.float32)
# Relative max-norm tolerance between thread counts (summation order differs).
THREAD_RTOL = {np.float64: 1e-10, np.float32: 1e-4}
CONFIG = dict(loss="log_loss", optimizer="adam", lr=0.05, penalty="elasticnet", alpha=0.01,
              l1_ratio=0.3, batch_size=16, epochs=4, average=5)


def _ids(dtype):
    return np.dtype(dtype).name


@pytest.fixture
def force_threads(monkeypatch):
    """Let tiny batches use several threads (normally they run on one)."""
    monkeypatch.setattr(fastgd.solver, "MIN_WORK_PER_THREAD", 1)


def _snapshot(trainer):
    return dict(params=trainer.params.copy(), state=trainer.state.copy(),
                avg=trainer.avg.copy(), t=trainer.t, loss=list(trainer.history.loss),
                grad_norm=list(trainer.history.grad_norm), lr=list(trainer.history.lr))


def _assert_bit_identical(a, b):
    for key in ("params", "state", "avg"):
        assert a[key].dtype == b[key].dtype
        assert np.array_equal(a[key], b[key]), key
        assert a[key].tobytes() == b[key].tobytes(), key  # same bits, signs of zero included
    for key in ("t", "loss", "grad_norm", "lr"):
        assert a[key] == b[key], key


@pytest.mark.usefixtures("force_threads")
@pytest.mark.parametrize("n_jobs", [1, pytest.param(2, marks=pytest.mark.needs_threads)])
@pytest.mark.parametrize("dtype", DTYPES, ids=_ids)
def test_same_seed_bit_identical(train, make_problem, dtype, n_jobs):
    X, y = make_problem(200, 9, True, dtype, seed=0)
    snaps = []
    for _ in range(2):
        tr = train("cpu", X, y, random_state=7, n_jobs=n_jobs, **CONFIG)
        assert tr._problem(X, y, None, 1).n_threads == n_jobs
        snaps.append(_snapshot(tr))
    _assert_bit_identical(*snaps)


@pytest.mark.parametrize("dtype", DTYPES, ids=_ids)
@pytest.mark.needs_threads
def test_same_seed_bit_identical_natural_threads(make_problem, dtype):
    # big enough batches that the Trainer shares them between threads by itself
    X, y = make_problem(600, 120, False, dtype, seed=1)
    kwargs = dict(optimizer="sgd", lr=0.005, batch_size=300, random_state=3, n_jobs=2)
    tr = fastgd.Trainer(**kwargs)
    tr.init_model(X.shape[1], X.dtype)
    assert tr._problem(X, y, None, 1).n_threads == 2
    a = fastgd.fit(X, y, epochs=3, **kwargs)
    b = fastgd.fit(X, y, epochs=3, **kwargs)
    assert a.coef_.tobytes() == b.coef_.tobytes()
    assert a.intercept_ == b.intercept_
    assert a.history.loss == b.history.loss


@pytest.mark.usefixtures("force_threads")
@pytest.mark.needs_threads
@pytest.mark.parametrize("dtype", DTYPES, ids=_ids)
def test_thousands_of_two_thread_batches_repeat_bit_for_bit(train, make_problem, dtype):
    # Two barrier crossings per batch (the core's own spin barrier), 3,000
    # batches an epoch: a crossing that let a thread read a half-updated
    # gradient or weight would show as runs that differ, or drift from one
    # thread's result.
    X, y = make_problem(6000, 5, True, dtype, seed=12)
    kwargs = dict(optimizer="adam", lr=0.01, batch_size=2, random_state=2, epochs=2, average=100)
    runs = [_snapshot(train("cpu", X, y, n_jobs=2, **kwargs)) for _ in range(2)]
    tr = fastgd.Trainer(batch_size=2, n_jobs=2)
    tr.init_model(X.shape[1], X.dtype)
    assert tr._problem(X, y, None, 1).n_threads == 2, "the test must run two threads"
    _assert_bit_identical(*runs)
    one = _snapshot(train("cpu", X, y, n_jobs=1, **kwargs))
    assert runs[0]["t"] == one["t"] == 2 * 3000
    a, b = runs[0]["params"].astype(np.float64), one["params"].astype(np.float64)
    assert np.max(np.abs(a - b)) <= THREAD_RTOL[dtype] * np.max(np.abs(b))


@pytest.mark.usefixtures("force_threads")
@pytest.mark.parametrize("dtype", DTYPES, ids=_ids)
def test_thread_counts_agree(train, make_problem, dtype):
    X, y = make_problem(200, 9, True, dtype, seed=2)
    one = _snapshot(train("cpu", X, y, random_state=4, n_jobs=1, **CONFIG))
    two = _snapshot(train("cpu", X, y, random_state=4, n_jobs=2, **CONFIG))
    assert one["t"] == two["t"]
    for key in ("params", "state", "avg", "loss", "grad_norm", "lr"):
        a, b = np.asarray(two[key], np.float64), np.asarray(one[key], np.float64)
        assert np.max(np.abs(a - b)) <= THREAD_RTOL[dtype] * np.max(np.abs(b)), key


def test_seed_objects_and_ints_agree(make_problem):
    X, y = make_problem(100, 5, False, np.float64, seed=3)
    a = fastgd.fit(X, y, random_state=11, epochs=3)
    b = fastgd.fit(X, y, random_state=np.random.RandomState(11), epochs=3)
    np.testing.assert_array_equal(a.coef_, b.coef_)


def test_different_seeds_and_no_seed_give_different_orders(make_problem):
    X, y = make_problem(100, 5, False, np.float64, seed=4)
    kwargs = dict(optimizer="sgd", lr=0.05, batch_size=4, epochs=2)
    seeded = [fastgd.fit(X, y, random_state=s, **kwargs).coef_ for s in (0, 1)]
    assert not np.array_equal(seeded[0], seeded[1])
    unseeded = [fastgd.fit(X, y, random_state=None, **kwargs).coef_ for _ in range(2)]
    assert not np.array_equal(unseeded[0], unseeded[1])  # fails with probability ~2^-63
    # without shuffling the seed does not matter
    fixed = [fastgd.fit(X, y, random_state=s, shuffle=False, **kwargs).coef_ for s in (0, 1)]
    np.testing.assert_array_equal(fixed[0], fixed[1])


def test_epochs_draw_different_orders():
    from fastgd.backends import cpu
    from fastgd.data import epoch_seed

    orders = [cpu.epoch_order(30, epoch_seed(5, e)) for e in range(3)]
    assert not np.array_equal(orders[0], orders[1])
    assert not np.array_equal(orders[1], orders[2])


def _inputs(dtype, classification):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((40, 4)).astype(dtype)
    y = rng.standard_normal(40)
    if classification:
        y = np.where(y > 0, 3, 7)  # labels that are not -1/+1
    sw = rng.uniform(0.0, 2.0, 40)
    coef = rng.standard_normal(4)
    return X, y, sw, coef


@pytest.mark.parametrize("backend", ["cpu", "reference"])
@pytest.mark.parametrize("classification", [False, True], ids=["regression", "classification"])
@pytest.mark.parametrize("dtype", DTYPES, ids=_ids)
def test_fit_does_not_modify_inputs(backend, classification, dtype):
    X, y, sw, coef = _inputs(dtype, classification)
    copies = [a.copy() for a in (X, y, sw, coef)]
    loss = "hinge" if classification else "huber"
    res = fastgd.fit(X, y, loss=loss, optimizer="rmsprop", lr=0.05, batch_size=8, epochs=2,
                     sample_weight=sw, coef_init=coef, intercept_init=0.5, random_state=0,
                     backend=backend)
    for original, copy in zip((X, y, sw, coef), copies):
        np.testing.assert_array_equal(original, copy)
        assert original.dtype == copy.dtype
    assert not np.shares_memory(res.coef_, coef)
    assert not np.array_equal(res.coef_, coef)  # it trained


@pytest.mark.parametrize("backend", ["cpu", "reference"])
@pytest.mark.parametrize("dtype", DTYPES, ids=_ids)
def test_fit_accepts_read_only_inputs(backend, dtype):
    X, y, sw, coef = _inputs(dtype, False)
    expected = fastgd.fit(X, y, sample_weight=sw, coef_init=coef, intercept_init=0.5,
                          random_state=0, backend=backend, epochs=2, optimizer="adagrad")
    for a in (X, y, sw, coef):
        a.flags.writeable = False
    res = fastgd.fit(X, y, sample_weight=sw, coef_init=coef, intercept_init=0.5,
                     random_state=0, backend=backend, epochs=2, optimizer="adagrad")
    np.testing.assert_array_equal(res.coef_, expected.coef_)
    assert res.intercept_ == expected.intercept_
