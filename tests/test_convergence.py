"""Convergence to known optima, with the compiled core.

The objective is DESIGN.md's: weighted mean loss + alpha * R(w), with
R(w) = (1 - l1_ratio)/2 ||w||^2 + l1_ratio ||w||_1 and the intercept not
penalized. Full-batch runs (or decreasing step sizes) make the convergence
tight enough to compare with closed forms and reference solvers:

- least squares: numpy.linalg.lstsq on [X, 1];
- L2-regularized logistic regression: scipy's L-BFGS-B on the same objective;
- lasso / elastic net: scikit-learn's coordinate descent, whose objective
  ``1/(2n) ||y - Xw - b||^2 + alpha l1_ratio ||w||_1 + alpha (1 - l1_ratio)/2 ||w||^2``
  is fastgd's with ``squared_error`` (p - y)^2 / 2.
"""
import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.linear_model import ElasticNet, Lasso

import fastgd
from fastgd.schedules import Cosine

# Max-norm distance to the optimum, per dtype of the data.
TOL = {np.float64: 1e-9, np.float32: 1e-4}
DTYPES = (np.float64, np.float32)


def _ids(dtype):
    return np.dtype(dtype).name


def _params(res):
    return np.r_[res.coef_.astype(np.float64), res.intercept_]


@pytest.fixture(scope="module")
def regression():
    rng = np.random.default_rng(0)
    n, d = 200, 5
    X = rng.standard_normal((n, d))
    w = rng.standard_normal(d)
    y = X @ w + 1.5 + 0.3 * rng.standard_normal(n)
    return X, y, w


def _lstsq(X, y, intercept=True):
    A = np.hstack([X, np.ones((X.shape[0], 1))]) if intercept else X
    return np.linalg.lstsq(A, y, rcond=None)[0]


@pytest.mark.parametrize("dtype", DTYPES, ids=_ids)
def test_least_squares_full_batch_gd(regression, dtype):
    X, y, _ = regression
    Xd = X.astype(dtype)
    res = fastgd.fit(Xd, y, optimizer="sgd", lr=0.5, batch_size=X.shape[0], epochs=300,
                     penalty=None, random_state=0)
    assert res.coef_.dtype == dtype
    expected = _lstsq(Xd.astype(np.float64), y)
    np.testing.assert_allclose(_params(res), expected, rtol=0, atol=TOL[dtype])
    assert res.history.grad_norm[-1] < 10 * TOL[dtype]


def test_least_squares_without_intercept(regression):
    X, y, _ = regression
    res = fastgd.fit(X, y, optimizer=fastgd.optim.SGD(lr=0.3, momentum=0.5),
                     batch_size=X.shape[0], epochs=300, penalty=None, fit_intercept=False)
    assert res.intercept_ == 0.0
    np.testing.assert_allclose(res.coef_, _lstsq(X, y, intercept=False), rtol=0,
                               atol=TOL[np.float64])


@pytest.mark.parametrize("dtype", DTYPES, ids=_ids)
def test_least_squares_adam(regression, dtype):
    X, y, _ = regression
    Xd = X.astype(dtype)
    res = fastgd.fit(Xd, y, optimizer="adam", lr=0.1, batch_size=X.shape[0], epochs=2000,
                     penalty=None, schedule="cosine", random_state=0)
    np.testing.assert_allclose(_params(res), _lstsq(Xd.astype(np.float64), y), rtol=0,
                               atol=TOL[dtype])


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_least_squares_minibatch_noiseless(regression, optimizer):
    # Without noise every per-sample gradient vanishes at the solution, so
    # constant-step mini-batch descent converges to it exactly.
    X, _, w = regression
    y = X @ w + 1.5
    lr = {"sgd": 0.1, "adam": 0.01}[optimizer]
    schedule = None if optimizer == "sgd" else Cosine()
    res = fastgd.fit(X, y, optimizer=optimizer, lr=lr, batch_size=10, epochs=200,
                     penalty=None, random_state=0, schedule=schedule)
    np.testing.assert_allclose(_params(res), np.r_[w, 1.5], rtol=0, atol=1e-8)


def test_weighted_least_squares(regression):
    # the objective is the weighted mean: weighted lstsq, and a weight of 2 is a duplicated row
    X, y, _ = regression
    sw = np.random.default_rng(5).integers(0, 3, X.shape[0]).astype(float)
    res = fastgd.fit(X, y, sample_weight=sw, optimizer="sgd", lr=0.5, batch_size=X.shape[0],
                     epochs=400, penalty=None)
    root = np.sqrt(sw)
    expected = np.linalg.lstsq(np.hstack([X, np.ones((X.shape[0], 1))]) * root[:, None],
                               y * root, rcond=None)[0]
    np.testing.assert_allclose(_params(res), expected, rtol=0, atol=TOL[np.float64])
    rows = np.repeat(np.arange(X.shape[0]), sw.astype(int))
    dup = fastgd.fit(X[rows], y[rows], optimizer="sgd", lr=0.5, batch_size=rows.shape[0],
                     epochs=400, penalty=None)
    np.testing.assert_allclose(_params(dup), _params(res), rtol=0, atol=TOL[np.float64])


def test_least_squares_minibatch_averaged(regression):
    # With noise a constant step leaves SGD jittering around the solution;
    # averaging the iterates removes most of the jitter.
    X, y, _ = regression
    expected = _lstsq(X, y)
    last = fastgd.fit(X, y, optimizer="sgd", lr=0.05, batch_size=10, epochs=300,
                      penalty=None, random_state=0)
    avg = fastgd.fit(X, y, optimizer="sgd", lr=0.05, batch_size=10, epochs=300,
                     penalty=None, random_state=0, average=1000)
    err_last = np.max(np.abs(_params(last) - expected))
    err_avg = np.max(np.abs(_params(avg) - expected))
    assert err_avg < 2e-3
    assert err_avg < err_last / 3


# --------------------------------------------------------------------------
# L2-regularized logistic regression against L-BFGS-B.
# --------------------------------------------------------------------------

ALPHA_LOG = 0.05


@pytest.fixture(scope="module")
def logistic():
    rng = np.random.default_rng(1)
    n, d = 300, 6
    X = rng.standard_normal((n, d))
    w = rng.standard_normal(d)
    labels = np.where(X @ w + 0.5 + rng.standard_normal(n) > 0, "yes", "no")
    ys = np.where(labels == "yes", 1.0, -1.0)   # "yes" > "no": the +1 class

    def objective(v):
        """mean log(1 + exp(-y p)) + alpha/2 ||w||^2, intercept unpenalized."""
        coef, b = v[:-1], v[-1]
        z = ys * (X @ coef + b)
        f = np.mean(np.logaddexp(0.0, -z)) + 0.5 * ALPHA_LOG * coef @ coef
        dz = -ys * expit(-z) / n
        return f, np.r_[X.T @ dz + ALPHA_LOG * coef, dz.sum()]

    opt = minimize(objective, np.zeros(d + 1), jac=True, method="L-BFGS-B",
                   options=dict(gtol=1e-12, ftol=1e-15, maxiter=10000, maxcor=30))
    grad = objective(opt.x)[1]
    assert np.max(np.abs(grad)) < 1e-8, "the L-BFGS-B reference is not tightly converged"
    return X, labels, opt.x, opt.fun


LOGISTIC_RUNS = {
    "gd": dict(optimizer="sgd", lr=2.0, epochs=1000),
    "nesterov": dict(optimizer=fastgd.optim.SGD(lr=0.5, momentum=0.8, nesterov=True),
                     epochs=500),
    "adam_cosine": dict(optimizer="adam", lr=0.1, epochs=2000, schedule="cosine"),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=_ids)
@pytest.mark.parametrize("run", list(LOGISTIC_RUNS))
def test_logistic_l2_matches_lbfgs(logistic, run, dtype):
    X, labels, expected, fun = logistic
    res = fastgd.fit(X.astype(dtype), labels, loss="log_loss", penalty="l2", alpha=ALPHA_LOG,
                     batch_size=X.shape[0], random_state=0, **LOGISTIC_RUNS[run])
    assert list(res.classes_) == ["no", "yes"]
    # |w - w*| <= |grad| / mu with mu >= alpha: 1e-8 of gradient is ~2e-7 of distance
    atol = {np.float64: 1e-6, np.float32: 1e-4}[dtype]
    np.testing.assert_allclose(_params(res), expected, rtol=0, atol=atol)
    assert res.history.loss[-1] == pytest.approx(fun, rel=1e-6)


def test_logistic_minibatch_gets_close(logistic):
    X, labels, expected, _ = logistic
    res = fastgd.fit(X, labels, loss="log_loss", penalty="l2", alpha=ALPHA_LOG,
                     optimizer="sgd", lr=0.5, batch_size=10, epochs=300, random_state=0,
                     average=1000)
    np.testing.assert_allclose(_params(res), expected, rtol=0, atol=0.05)


# --------------------------------------------------------------------------
# L1 and elastic net: exact zeros, and the lasso / elastic-net optimum.
# --------------------------------------------------------------------------

ALPHA_L1 = 0.2  # every irrelevant feature well inside the threshold at the optimum
L1_RATIO = 0.8  # of the elastic net
N_RELEVANT = 3


@pytest.fixture(scope="module")
def sparse_problem():
    rng = np.random.default_rng(2)
    n, d = 300, 8
    X = rng.standard_normal((n, d))
    y = X[:, :N_RELEVANT] @ np.array([2.0, -1.5, 1.0]) + 0.7 + 0.5 * rng.standard_normal(n)
    return X, y


def _sklearn_solution(X, y, penalty):
    if penalty == "l1":
        model = Lasso(alpha=ALPHA_L1, tol=1e-14, max_iter=100000)
    else:
        model = ElasticNet(alpha=ALPHA_L1, l1_ratio=L1_RATIO, tol=1e-14, max_iter=100000)
    model.fit(X, y)
    # the premise of the tests: the optimum ignores exactly the irrelevant features
    assert np.all(model.coef_[N_RELEVANT:] == 0) and np.all(model.coef_[:N_RELEVANT] != 0)
    return np.r_[model.coef_, model.intercept_]


L1_RUNS = {
    "sgd_full_batch": dict(optimizer="sgd", lr=0.5, epochs=500),
    "adam_full_batch": dict(optimizer="adam", lr=0.05, epochs=2000, schedule="cosine"),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=_ids)
@pytest.mark.parametrize("penalty", ["l1", "elasticnet"])
@pytest.mark.parametrize("run", list(L1_RUNS))
def test_l1_exact_zeros_and_optimum(sparse_problem, run, penalty, dtype):
    X, y = sparse_problem
    res = fastgd.fit(X.astype(dtype), y, penalty=penalty, alpha=ALPHA_L1, l1_ratio=L1_RATIO,
                     batch_size=X.shape[0], random_state=0, **L1_RUNS[run])
    # the irrelevant features are exactly zero, the relevant ones are not
    assert np.all(res.coef_[N_RELEVANT:] == 0.0), res.coef_
    assert np.all(res.coef_[:N_RELEVANT] != 0.0)
    expected = _sklearn_solution(X, y, penalty)
    np.testing.assert_allclose(_params(res), expected, rtol=0, atol=TOL[dtype])


@pytest.mark.parametrize("penalty", ["l1", "elasticnet"])
def test_l1_exact_zeros_minibatch_adam(sparse_problem, penalty):
    # The threshold is scaled by Adam's own step of the coordinate, so a
    # coordinate at zero stays there while |exp_avg| <= l1: the moving
    # average of the gradients damps the mini-batch noise.
    X, y = sparse_problem
    res = fastgd.fit(X, y, optimizer="adam", lr=0.01, batch_size=10, epochs=100,
                     penalty=penalty, alpha=ALPHA_L1, l1_ratio=L1_RATIO, random_state=0)
    assert np.all(res.coef_[N_RELEVANT:] == 0.0), res.coef_
    np.testing.assert_allclose(_params(res), _sklearn_solution(X, y, penalty), rtol=0,
                               atol=0.03)


def test_l1_exact_zeros_logistic(logistic):
    X, labels, _, _ = logistic
    rng = np.random.default_rng(3)
    Xn = np.hstack([X, rng.standard_normal((X.shape[0], 4))])  # 4 pure-noise features
    res = fastgd.fit(Xn, labels, loss="log_loss", optimizer="sgd", lr=2.0,
                     batch_size=X.shape[0], epochs=500, penalty="l1", alpha=0.05)
    assert np.all(res.coef_[X.shape[1]:] == 0.0), res.coef_
    assert np.count_nonzero(res.coef_) >= 2
