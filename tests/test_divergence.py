"""Divergence: too large a step stops with a clear error or backs off.

Two ways an epoch counts as diverged (see ``Trainer``):
- a margin, loss or weight became NaN/inf (the compiled core stops the
  epoch at once);
- the epoch's mean training loss is finite but more than
  ``EXPLOSION_FACTOR`` times the loss of the starting (or all-zero) model:
  with few steps per epoch, weights can grow by 1e6 per step for many
  epochs before anything overflows, and a silently huge model is as wrong
  as a NaN one.
Either way the weights go back to the last good epoch.
"""
import numpy as np
import pytest

import fastgd
from fastgd.data import check_data, check_targets
from fastgd.solver import EXPLOSION_FACTOR, DivergenceError, Trainer

BACKENDS = ["cpu", "reference"]
DTYPES = [np.float64, np.float32]


def _problem(n=200, d=5, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(dtype)
    y = X.astype(np.float64) @ np.arange(1.0, d + 1) + 0.5 + 0.01 * rng.standard_normal(n)
    return X, y


def _trainer(X, y, **kw):
    kw.setdefault("random_state", 0)
    tr = Trainer(**kw)
    X = check_data(X)
    tr.init_model(X.shape[1], X.dtype)
    return tr, X, check_targets(y, X.shape[0])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_huge_step_raises_naming_the_step(backend, dtype):
    X, y = _problem(dtype=dtype)
    with pytest.raises(DivergenceError,
                       match=r"lr=1e\+06.*Try a smaller step size, e.g. lr=100000"):
        fastgd.fit(X, y, lr=1e6, epochs=5, backend=backend, random_state=0)


def test_divergence_error_is_a_floating_point_error():
    # so `except FloatingPointError` (and ArithmeticError) catch it too
    assert issubclass(DivergenceError, FloatingPointError)


@pytest.mark.parametrize("where,value", [("coef", np.nan), ("coef", -np.inf), ("coef", 1e200),
                                         ("intercept", np.nan), ("intercept", np.inf)])
def test_nonfinite_weights_after_an_epoch_are_caught(monkeypatch, where, value):
    """The check after an epoch takes the weights' sum of squares (the
    penalty's L2 term) as its finiteness test where that sum is finite, and
    looks at the intercept on its own: a NaN or infinity in either, with an
    epoch whose margins and losses stayed finite, is divergence; so is a
    finite weight whose square overflows (the objective is then infinite)."""
    X, y = _problem()
    tr, X, y = _trainer(X, y, lr=0.01, penalty="l2", alpha=1e-4)
    run_epoch = tr.backend.run_epoch

    def poisoned(problem, params, *args, **kwargs):
        stats = run_epoch(problem, params, *args, **kwargs)
        params[0 if where == "coef" else X.shape[1]] = value
        return stats

    monkeypatch.setattr(tr.backend, "run_epoch", poisoned)
    start = tr.params.copy()
    with pytest.raises(DivergenceError):
        tr.run(X, y, None, epochs=1)
    np.testing.assert_array_equal(tr.params, start)   # the epoch is given back


@pytest.mark.parametrize("backend", BACKENDS)
def test_overflow_to_nan_is_caught(backend):
    # Features of 1e150: the second step's margins overflow to inf.
    X, y = _problem()
    with pytest.raises(DivergenceError, match="became NaN or infinite with step size lr=0.01"):
        fastgd.fit(X * 1e150, y, lr=0.01, backend=backend, random_state=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_finite_explosion_is_caught(backend):
    # 50 rows, 2 steps per epoch: weights grow ~1e6-fold per step yet stay
    # finite for ~50 epochs. Without the explosion test this "fit" returned
    # coefficients around 1e120.
    X, y = _problem(n=50, d=3)
    with pytest.raises(DivergenceError, match=r"mean training loss grew to .* more than 1e\+06 "
                                              r"times .* with step size lr=1e\+06"):
        fastgd.fit(X, y, lr=1e6, batch_size=32, epochs=10, backend=backend, random_state=0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_weights_stay_at_last_good_epoch(backend, dtype):
    X, y = _problem(dtype=dtype)
    tr, X, y = _trainer(X, y, lr=0.01, backend=backend)
    tr.run(X, y, epochs=3)
    good = (tr.params.copy(), tr.state.copy(), tr.t, tr.epoch, list(tr.history.loss))
    tr.lr = 1e6          # the next run steps far too far
    with pytest.raises(DivergenceError, match="epoch 4"):
        tr.run(X, y, epochs=3)
    np.testing.assert_array_equal(tr.params, good[0])
    np.testing.assert_array_equal(tr.state, good[1])
    assert (tr.t, tr.epoch, tr.history.loss) == good[2:]
    assert np.all(np.isfinite(tr.params))


def test_mid_epoch_divergence_with_chunks_restores_epoch_start(monkeypatch):
    # The epoch runs in several chunks; divergence in a later chunk must
    # still undo the chunks before it.
    X, y = _problem(n=400)
    monkeypatch.setattr(Trainer, "chunk_rows", 64)
    tr, X, y = _trainer(X, y, lr=0.01, batch_size=16)
    tr.run(X, y, epochs=1)
    good = tr.params.copy()
    Xbad = X.copy()
    Xbad[300:] *= 1e200    # rows met only in the fifth chunk
    with pytest.raises(DivergenceError):
        tr.run(Xbad, y, epochs=1)
    np.testing.assert_array_equal(tr.params, good)


@pytest.mark.parametrize("backend", BACKENDS)
def test_backoff_halves_and_continues_to_a_good_model(backend):
    X, y = _problem()
    res = fastgd.fit(X, y, lr=40.0, batch_size=32, epochs=30, on_divergence="backoff",
                     backend=backend, random_state=0)
    assert np.all(np.isfinite(res.coef_))
    # the least-squares solution is recovered
    np.testing.assert_allclose(res.coef_, np.arange(1.0, 6.0), atol=0.05)
    # the step used is 40 halved a whole number of times, and small enough
    lrs = np.asarray(res.history.lr)
    halvings = np.log2(40.0 / lrs)
    np.testing.assert_allclose(halvings, np.round(halvings))
    assert 1 <= halvings.min() and halvings.max() <= 10
    assert len(res.history) == 30


def test_backoff_gives_up_after_max_backoffs():
    X, y = _problem()
    tr, X, y = _trainer(X, y, lr=1e6, on_divergence="backoff", max_backoffs=3)
    with pytest.raises(DivergenceError, match="lr=125000"):   # 1e6 / 2**3
        tr.run(X, y, epochs=2)
    assert np.all(tr.params == 0)   # never got past the first epoch


def test_backoff_verbose_says_so(capsys):
    X, y = _problem()
    fastgd.fit(X, y, lr=40.0, epochs=2, on_divergence="backoff", verbose=True, random_state=0)
    assert "diverged; halving lr to 20" in capsys.readouterr().out


@pytest.mark.parametrize("loss", ["hinge", "log_loss", "modified_huber", "squared_hinge"])
def test_classification_large_step_is_finite_or_clear(loss):
    X, y = _problem()
    labels = (y > np.median(y)).astype(int)
    try:
        res = fastgd.fit(X, labels, loss=loss, lr=1e3, epochs=5, random_state=0)
    except DivergenceError as exc:
        assert "lr=1000" in str(exc)
    else:
        assert np.all(np.isfinite(res.coef_))


# -- no false alarms ----------------------------------------------------------
def test_no_false_alarm_on_rescaled_new_data():
    # Online learning on data of a very different scale: the reference is
    # taken on the data of the current call, so this is not "divergence".
    X, y = _problem()
    tr, X, y = _trainer(X, y, lr=0.01)
    tr.run(X, y, epochs=2)
    tr.run(X, 1e5 * y, epochs=2)
    assert np.all(np.isfinite(tr.params))


def test_no_false_alarm_from_perfect_start_with_penalty():
    # Starting at a perfect fit (loss 0), an L2 penalty makes the loss grow
    # from zero: not divergence, since the all-zero model is the yardstick too.
    rng = np.random.default_rng(1)
    X = rng.standard_normal((100, 4))
    w = np.array([3.0, -2.0, 1.0, 4.0])
    y = X @ w
    res = fastgd.fit(X, y, coef_init=w, intercept_init=0.0, lr=0.05, alpha=0.5, epochs=20,
                     random_state=0)
    assert np.all(np.isfinite(res.coef_))
    assert res.history.loss[-1] > 0.0


def test_explosion_factor_is_large():
    # a stable step never grows the mean loss by anything near this
    assert EXPLOSION_FACTOR >= 1e6


def test_all_zero_targets_stay_zero():
    X, _ = _problem()
    res = fastgd.fit(X, np.zeros(len(X)), lr=0.1, epochs=3, random_state=0)
    np.testing.assert_array_equal(res.coef_, 0.0)


def test_no_false_alarm_from_rare_large_targets_the_sample_misses():
    # the reference's current-model loss is taken on a strided sample of rows;
    # five rows with large targets, none in that sample, dominate the epoch's
    # loss (about 50, the all-zero model's loss on all the rows) while the
    # model barely moves: not an explosion
    rng = np.random.default_rng(0)
    n = 50_000
    X = rng.standard_normal((n, 5))
    y = 1e-4 * rng.standard_normal(n)
    y[[1, 2, 3, 5, 6]] = 1e3
    res = fastgd.fit(X, y, lr=1e-8, epochs=1, random_state=0)
    assert 49 < res.history.loss[-1] < 51
    assert np.all(np.abs(res.coef_) < 1e-3)


# -- backoff halves the step size of every schedule ---------------------------
def _separable(n=300, d=4):
    X = np.random.default_rng(0).standard_normal((n, d))
    return X, (X[:, 0] > 0).astype(int)


def test_estimator_default_optimal_schedule_backs_off_to_a_fitted_model():
    # 'optimal' ignores eta0/lr: halving lr used to repeat the same diverging
    # epoch ten times and raise. scikit-learn fits this (accuracy 0.987).
    X, y = _separable()
    clf = fastgd.SGDClassifier(loss="squared_hinge", random_state=0).fit(X, y)
    assert np.all(np.isfinite(clf.coef_))
    assert clf.score(X, y) > 0.95
    assert clf._trainers[0].rate_scale < 1.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_backoff_halves_the_optimal_schedule(backend):
    from fastgd.losses import get_loss
    from fastgd.schedules import Optimal

    X, y = _separable()
    res = fastgd.fit(X, y, loss="squared_hinge", schedule="optimal", alpha=1e-4,
                     batch_size=1, epochs=3, on_divergence="backoff", backend=backend,
                     random_state=0)
    assert np.all(np.isfinite(res.coef_))
    unscaled = Optimal().bind(1e-4, get_loss("squared_hinge"), 0)   # starts at 10
    for e, lr in enumerate(res.history.lr):   # the epoch's last step, t = 300 (e + 1) - 1
        halvings = np.log2(unscaled.lr_at(None, 300 * (e + 1) - 1) / lr)
        assert halvings == pytest.approx(round(halvings), abs=1e-9) and halvings >= 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_backoff_halves_cosine_eta_min_too(backend):
    # a cosine from lr to eta_min = lr is the constant lr; halving lr alone
    # left its later steps at eta_min = 40, which diverges
    from fastgd.schedules import Cosine

    X, y = _problem()
    res = fastgd.fit(X, y, lr=40.0, schedule=Cosine(eta_min=40.0), batch_size=32, epochs=10,
                     on_divergence="backoff", backend=backend, random_state=0)
    np.testing.assert_allclose(res.coef_, np.arange(1.0, 6.0), atol=0.05)
    halvings = np.log2(40.0 / np.asarray(res.history.lr))
    np.testing.assert_allclose(halvings, np.round(halvings), atol=1e-12)
    assert halvings.min() >= 1


def test_optimal_divergence_message_names_the_step_taken():
    X, y = _separable()
    with pytest.raises(DivergenceError) as info:
        fastgd.fit(X * 1e100, y, loss="squared_hinge", schedule="optimal", alpha=1e-4,
                   batch_size=1, random_state=0)
    msg = str(info.value)
    # the step size 1/(alpha (t0 + t)) it took, not the unused lr
    assert "the 'optimal' schedule's step size 10 at the epoch's first step" in msg
    assert "lr=" not in msg
    assert "Optimal(t0=...)" in msg and "on_divergence='backoff'" in msg


def test_estimator_gives_up_naming_the_halved_step_and_its_own_options():
    X, y = _separable()
    with pytest.raises(DivergenceError) as info:
        fastgd.SGDClassifier(loss="squared_hinge", random_state=0).fit(X * 1e100, y)
    msg = str(info.value)
    assert "step size 0.00976562 at the epoch's first step" in msg   # 10 / 2**10
    assert "halved 10 times by divergence backoff" in msg
    assert "on_divergence" not in msg     # the estimators always back off
    assert "learning_rate=" in msg


def test_backoff_verbose_names_the_optimal_step(capsys):
    X, y = _separable()
    fastgd.fit(X, y, loss="squared_hinge", schedule="optimal", alpha=1e-4, batch_size=1,
               epochs=1, on_divergence="backoff", verbose=True, random_state=0)
    assert "diverged; halving the step size to 5 at step 0" in capsys.readouterr().out


def test_multinomial_explosion_is_caught_like_one_vs_rest():
    # a finite but blown-up softmax loss (X scaled by 100, eta0=1e3): backoff
    # halves the step as for one-vs-rest, and raise mode raises
    from fastgd._multinomial import MultinomialTrainer

    rng = np.random.default_rng(0)
    X = rng.standard_normal((500, 5)) * 100
    y = rng.integers(0, 3, 500)
    est = fastgd.SGDClassifier(loss="log_loss", multi_class="multinomial",
                               learning_rate="constant", eta0=1e3, max_iter=3, tol=None,
                               random_state=0).fit(X, y)
    assert est.history_.lr[0] < 1e3
    tr = MultinomialTrainer(3, optimizer=fastgd.optim.SGD(lr=1e3), random_state=0)
    tr.init_model(5, np.float64)
    with pytest.raises(DivergenceError, match="grew to"):
        tr.run(X, y.astype(float), epochs=1)


def test_a_diverged_epoch_restores_the_callers_start_copy():
    """Trainer.run(start_copy=...) takes the caller's copies of the model as the
    first epoch's rollback point (the estimators pass their own, so a call
    copies the model once): a diverged epoch puts back exactly those
    values, and the copies themselves are left unchanged."""
    X, y = _problem()
    tr, Xc, yc = _trainer(X, y, lr=0.01)
    tr.run(Xc, yc, epochs=1)
    before = tr.params.copy()
    start = tr.copy_model()
    tr.lr = 1e6
    with pytest.raises(DivergenceError):
        tr.run(Xc, yc, epochs=1, start_copy=start)
    np.testing.assert_array_equal(tr.params, before)
    np.testing.assert_array_equal(start[0], before)
    assert tr.epoch == 1 and len(tr.history.loss) == 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("penalty", ["l2", "elasticnet"])
@pytest.mark.parametrize("multinomial", [False, True])
def test_a_model_copy_carries_its_penalty(dtype, penalty, multinomial):
    """copy_model takes the copied coefficients' sums of squares and of
    absolute values in the copy's pass (the intercepts left out), and the
    explosion test's reference loss is the same with the copy's sums as
    with its own pass over the model (to 1e-12: another order of
    summation)."""
    from fastgd._multinomial import MultinomialTrainer

    X, y = _problem(d=7, dtype=dtype)
    kw = dict(optimizer=fastgd.optim.SGD(lr=0.01), penalty=penalty, alpha=0.01,
              random_state=0)
    if multinomial:
        tr = MultinomialTrainer(3, **kw)
        yc = (np.arange(X.shape[0]) % 3).astype(float)
    else:
        tr = Trainer(**kw)
        yc = check_targets(y, X.shape[0])
    Xc = check_data(X)
    tr.init_model(X.shape[1], Xc.dtype)
    tr.run(Xc, yc, epochs=1)
    copy = tr.copy_model()
    coef = tr.params[:-1].astype(np.float64)
    assert np.any(coef != 0)
    np.testing.assert_array_equal(copy[0], tr.params)
    np.testing.assert_allclose(copy.coef_sq, np.sum(coef ** 2), rtol=1e-12)
    np.testing.assert_allclose(copy.coef_abs, np.sum(np.abs(coef)), rtol=1e-12)
    np.testing.assert_allclose(tr._reference_loss(Xc, yc, None, copy),
                               tr._reference_loss(Xc, yc, None), rtol=1e-12)


def test_copy_sums_checks_its_arguments():
    from fastgd.backends.cpu._core import copy_sums

    src = np.arange(5.0)
    dst = np.empty(5)
    assert copy_sums(src, dst, 3) == (5.0, 3.0)
    np.testing.assert_array_equal(dst, src)
    assert copy_sums(src[:0], dst[:0], 0) == (0.0, 0.0)
    with pytest.raises(ValueError, match="same length"):
        copy_sums(src, np.empty(4), 3)
    with pytest.raises(ValueError, match="m must be"):
        copy_sums(src, dst, 6)
    with pytest.raises(ValueError):   # dtypes differ
        copy_sums(src, np.empty(5, dtype=np.float32), 3)


def test_a_start_copy_of_another_shape_is_refused():
    X, y = _problem()
    tr, Xc, yc = _trainer(X, y, lr=0.01)
    with pytest.raises(ValueError, match="start_copy must be"):
        tr.run(Xc, yc, epochs=1, start_copy=(np.zeros(3), tr.state[:0].copy(), None))
    with pytest.raises(ValueError, match="start_copy must be"):
        tr.run(Xc, yc, epochs=1, start_copy=tr.copy_model()[:2])


@pytest.mark.parametrize("optimizer", [
    fastgd.optim.SGD(lr=0.01), fastgd.optim.SGD(lr=0.01, momentum=0.9),
    fastgd.optim.Adagrad(lr=0.1), fastgd.optim.RMSprop(lr=0.01),
    fastgd.optim.RMSprop(lr=0.01, momentum=0.5), fastgd.optim.Adadelta(),
    fastgd.optim.Adam(lr=0.01), fastgd.optim.FTRL(lr=0.1)])
@pytest.mark.parametrize("backend,sparse", [("cpu", False), ("cpu", True),
                                            ("reference", False)])
def test_training_leaves_unused_state_rows_alone(optimizer, backend, sparse):
    """copy_model keeps only the state rows the optimizer uses, so a rollback
    relies on training never writing the others."""
    import scipy.sparse as sp

    X, y = _problem(d=6)
    X[np.abs(X) < 0.8] = 0.0
    ftrl = isinstance(optimizer, fastgd.optim.FTRL)
    tr = Trainer(optimizer=optimizer, lr=None, backend=backend, batch_size=4, random_state=0,
                 penalty=None if ftrl else "l2", alpha=0.0 if ftrl else 1e-3)
    Xc = check_data(sp.csr_matrix(X) if sparse else X, accept_sparse=True)
    yc = check_targets(y / 10, X.shape[0])
    tr.init_model(X.shape[1], Xc.dtype)
    rows = len(optimizer.state_names)
    sentinel = np.arange(tr.state[rows:].size, dtype=float).reshape(tr.state[rows:].shape) + 7
    tr.state[rows:] = sentinel
    tr.run(Xc, yc, epochs=2)
    tr.run(Xc, yc, epochs=1)
    np.testing.assert_array_equal(tr.state[rows:], sentinel)
    assert rows == 0 or np.any(tr.state[:rows] != 0)


def test_fit_hands_the_last_good_epoch_to_the_divergence_error():
    """fastgd.fit's DivergenceError carries the model of the last good epoch
    (its message says the weights are those: a Trainer keeps them, and a
    fit caller had no way to them)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4))
    y = X @ np.arange(1.0, 5.0)
    kw = dict(loss="squared_error", optimizer="sgd", schedule="exponential", batch_size=1,
              random_state=0, shuffle=False)
    # the step size grows 2% a step: one good epoch, then the loss explodes
    sched = fastgd.schedules.Exponential(gamma=1.02)
    with pytest.raises(fastgd.DivergenceError) as info:
        fastgd.fit(X, y, lr=0.02, epochs=100, **{**kw, "schedule": sched})
    res = info.value.result
    assert res.stop_reason == "diverged" and res.n_iter_ >= 1
    again = fastgd.fit(X, y, lr=0.02, epochs=res.n_iter_, **{**kw, "schedule": sched})
    np.testing.assert_array_equal(res.coef_, again.coef_)
    assert res.t_ == again.t_
