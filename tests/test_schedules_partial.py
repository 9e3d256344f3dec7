"""Schedules over several training calls (partial_fit, Trainer.run again).

A schedule is bound once, by the first training call on a model, and later
calls continue it from the step counter. ``cosine`` without ``T_max`` takes
its horizon from that first call: a later call that would run past it is
refused (it used to train silently at ``eta_min=0``, i.e. not at all), and
an explicit ``T_max`` makes k ``partial_fit`` calls on k chunks equal one
``fit`` on their concatenation.
"""
import numpy as np
import pytest
from sklearn.datasets import make_classification

import fastgd
from fastgd.schedules import Cosine
from fastgd.solver import DivergenceError, Trainer


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(400, 8, random_state=0)
    return X, y


def _trainer(X, **kw):
    kw.setdefault("random_state", 0)
    tr = Trainer(loss="log_loss", optimizer="sgd", penalty="l2", alpha=1e-4, **kw)
    tr.init_model(X.shape[1], X.dtype)
    return tr


def test_partial_fit_cosine_without_t_max_refuses_to_go_past_its_horizon(data):
    X, y = data
    clf = fastgd.SGDClassifier(loss="log_loss", learning_rate="cosine", eta0=0.1,
                               random_state=0)
    clf.partial_fit(X, y, classes=[0, 1])
    coef = clf.coef_.copy()
    # the first call annealed to eta_min=0; the second used to run at step size 0
    with pytest.raises(ValueError, match=r"'cosine' schedule without T_max.*T_max=400.*"
                                         r"Cosine\(T_max=\.\.\.\)"):
        clf.partial_fit(X, y)
    np.testing.assert_array_equal(clf.coef_, coef)


def test_multinomial_partial_fit_cosine_without_t_max_refused(data):
    X, y = data
    y3 = np.digitize(X[:, 0], [-0.5, 0.5])
    clf = fastgd.SGDClassifier(loss="log_loss", multi_class="multinomial",
                               learning_rate="cosine", eta0=0.1, random_state=0)
    clf.partial_fit(X, y3, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="T_max"):
        clf.partial_fit(X, y3)


def test_partial_fit_chunks_with_explicit_t_max_equal_one_fit(data):
    X, y = data
    chunks = np.array_split(np.arange(len(y)), 4)
    kw = dict(loss="log_loss", learning_rate=Cosine(T_max=2 * len(y)), eta0=0.1,
              shuffle=False, tol=None, random_state=0)
    one = fastgd.SGDClassifier(max_iter=2, **kw).fit(X, y)
    online = fastgd.SGDClassifier(**kw)
    lrs = []
    for _ in range(2):
        for idx in chunks:
            online.partial_fit(X[idx], y[idx], classes=[0, 1])
            lrs.append(online.history_.lr[-1])
    np.testing.assert_allclose(online.coef_, one.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(online.intercept_, one.intercept_, rtol=1e-10, atol=1e-12)
    # every call trained, with decreasing step sizes, down to that of step
    # T_max - 1 at the end of the last
    T = 2 * len(y)
    assert np.all(np.diff(lrs) < 0) and lrs[-1] > 0
    assert lrs[-1] == pytest.approx(0.05 * (1 + np.cos(np.pi * (T - 1) / T)), rel=1e-9)


@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_trainer_run_continues_within_the_horizon_then_refuses(data, backend):
    X, y = data
    y = np.where(y == 1, 1.0, -1.0)
    batch = 40                                 # 10 steps per epoch
    whole = _trainer(X, schedule=Cosine(), lr=0.1, batch_size=batch, backend=backend)
    whole.run(X, y, epochs=4)
    tr = _trainer(X, schedule=Cosine(), lr=0.1, batch_size=batch, backend=backend)
    assert tr.run(X, y, epochs=4, gtol=1e9) == "gtol"   # stops after one epoch of four
    tr.run(X, y, epochs=3)                     # the rest of the first call's horizon
    np.testing.assert_allclose(tr.history.lr, whole.history.lr, rtol=1e-12)
    np.testing.assert_allclose(tr.params, whole.params, rtol=1e-10, atol=1e-12)
    assert tr.history.lr[-1] == pytest.approx(0.05 * (1 + np.cos(np.pi * 39 / 40)), rel=1e-9)
    with pytest.raises(ValueError, match=r"T_max=40 steps\), and 40 of them"):
        tr.run(X, y, epochs=1)
    assert tr.t == 40 and tr.epoch == 4       # nothing ran


def test_cosine_binds_to_the_first_call_that_trains(data):
    # a first call that trained no epoch (here: diverged at once) does not
    # fix the horizon: the next call's epochs make it
    X, y = data
    y = np.where(y == 1, 1.0, -1.0)
    tr = _trainer(X, schedule=Cosine(), lr=0.1, batch_size=40)
    with pytest.raises(DivergenceError):
        tr.run(X * 1e200, y, epochs=1)
    assert tr.epoch == 0 and tr.t == 0
    tr.run(X, y, epochs=3)
    assert tr._bound_schedule.T_max == 30
    assert tr.history.lr[0] > 0.05            # not annealed over the failed call's 10 steps


def test_explicit_t_max_is_never_refused(data):
    X, y = data
    y = np.where(y == 1, 1.0, -1.0)
    tr = _trainer(X, schedule=Cosine(T_max=5, eta_min=0.01), lr=0.1, batch_size=40)
    tr.run(X, y, epochs=1)
    tr.run(X, y, epochs=1)                     # past T_max: step size eta_min, as documented
    assert tr.history.lr[-1] == pytest.approx(0.01)
