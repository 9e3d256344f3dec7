"""The cumulative L1 penalty (``l1_method="cumulative"``, Tsuruoka et al. 2009).

scikit-learn's SGD applies L1 this way; fastgd's default is the proximal
soft-threshold. Checked here: the estimators take scikit-learn's steps (rows
in order) and so leave its exact zeros; the compiled dense and CSR loops equal
the NumPy reference (fastgd.penalties.cumulative_l1) at every batch size and
thread count, including CSR's lazy catch-ups across skipped steps, weight-scale
folds and chunks; the penalty's state carries across partial_fit calls and
rolls back with the model; and what it cannot do is refused by name.

Tolerance, as in test_parity.py: ``max|a - b| <= RTOL[dtype] * max|b|``.
"""
import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import linear_model as sk
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.preprocessing import StandardScaler

import fastgd
from fastgd import SGDClassifier, SGDRegressor
from fastgd.penalties import Penalty, cumulative_l1
from fastgd.solver import Trainer

RTOL = {np.float64: 1e-10, np.float32: 1e-4}


def assert_close(actual, desired, dtype, what):
    a = np.asarray(actual, dtype=np.float64)
    b = np.asarray(desired, dtype=np.float64)
    err = float(np.max(np.abs(a - b)))
    scale = float(np.max(np.abs(b)))
    assert err <= RTOL[dtype] * scale, f"{what}: {err:.3g} > {RTOL[dtype]:g} * {scale:.3g}"


def _standardized(loader):
    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def sparse_truth():
    """500 x 30 standardized rows, 3 informative features."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((500, 30))
    w = np.zeros(30)
    w[:3] = [2.0, -1.0, 1.5]
    y = np.where(X @ w + 0.3 * rng.standard_normal(500) > 0, 1, -1)
    return X, y


@pytest.fixture(scope="module")
def wide_csr():
    """600 x 400 at 2%: most columns skip many steps between uses."""
    rng = np.random.default_rng(2)
    X = sp.random(600, 400, density=0.02, random_state=3, format="csr") * 3
    w = rng.standard_normal(400) * (rng.random(400) < 0.1)
    y = np.where(X @ w + 0.1 * rng.standard_normal(600) > 0, 1, -1)
    return X, y


# -- scikit-learn's algorithm ---------------------------------------------------
@pytest.mark.parametrize("kwargs", [
    {"penalty": "l1"},
    {"penalty": "elasticnet", "l1_ratio": 0.5},
    {"penalty": "l1", "loss": "log_loss", "learning_rate": "constant", "eta0": 0.05},
    {"penalty": "elasticnet", "learning_rate": "invscaling", "eta0": 0.1},
    {"penalty": "l1", "fit_intercept": False},
])
def test_classifier_takes_scikit_learns_steps(kwargs):
    X, y = _standardized(load_breast_cancer)
    common = dict(shuffle=False, tol=None, max_iter=4, alpha=1e-3, **kwargs)
    ours = SGDClassifier(l1_method="cumulative", **common).fit(X, y)
    ref = sk.SGDClassifier(**common).fit(X, y)
    scale = np.abs(ref.coef_).max()
    # log_loss: scikit-learn's dloss cuts exp() off at |z| > 18
    rtol = 1e-7 if kwargs.get("loss") == "log_loss" else 1e-10
    assert np.abs(ours.coef_ - ref.coef_).max() <= rtol * scale
    assert np.abs(ours.intercept_ - ref.intercept_).max() <= rtol * max(scale, 1)
    np.testing.assert_array_equal(ours.coef_ == 0, ref.coef_ == 0)


def test_multiclass_and_regressor_take_scikit_learns_steps():
    X, y = _standardized(load_iris)
    common = dict(shuffle=False, tol=None, max_iter=3, penalty="l1", alpha=0.01)
    ours = SGDClassifier(l1_method="cumulative", **common).fit(X, y)
    ref = sk.SGDClassifier(**common).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=0, atol=1e-10)
    X, y = _standardized(load_diabetes)
    common = dict(shuffle=False, tol=None, max_iter=4, penalty="elasticnet", alpha=0.05)
    ours = SGDRegressor(l1_method="cumulative", **common).fit(X, y)
    ref = sk.SGDRegressor(**common).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(ours.coef_ == 0, ref.coef_ == 0)


@pytest.mark.parametrize("learning_rate", ["optimal", "constant"])
@pytest.mark.parametrize("penalty", ["l1", "elasticnet"])
def test_csr_takes_scikit_learns_dense_steps(wide_csr, penalty, learning_rate):
    # On CSR rows fastgd's catch-ups give the dense steps exactly, so a CSR
    # fit equals scikit-learn's fit of the dense array (scikit-learn's own
    # sparse loop applies the penalty at each touch, with the margin of the
    # weight before it: up to 4.0 away from its dense fit here, not tested)
    X, y = wide_csr
    kw = dict(penalty=penalty, alpha=1e-3, shuffle=False, max_iter=5, tol=None,
              learning_rate=learning_rate, eta0=0.1)
    ours = SGDClassifier(l1_method="cumulative", **kw).fit(X, y)
    ref = sk.SGDClassifier(**kw).fit(X.toarray(), y)
    scale = np.abs(ref.coef_).max()
    assert np.abs(ours.coef_ - ref.coef_).max() <= 1e-10 * scale
    assert np.abs(ours.intercept_ - ref.intercept_).max() <= 1e-10 * max(scale, 1)
    np.testing.assert_array_equal(ours.coef_ == 0, ref.coef_ == 0)


def test_leaves_the_exact_zeros_the_proximal_step_does_not(sparse_truth):
    # The README's example: per-sample proximal steps leave almost no exact
    # zeros here, the cumulative penalty as many as scikit-learn's SGD.
    X, y = sparse_truth
    common = dict(penalty="l1", alpha=0.01, random_state=0)
    cum = SGDClassifier(l1_method="cumulative", **common).fit(X, y)
    prox = SGDClassifier(**common).fit(X, y)
    zeros_cum = int((cum.coef_ == 0).sum())
    assert zeros_cum >= 20 > int((prox.coef_ == 0).sum())
    assert np.all(cum.coef_[0, :3] != 0)   # the informative features stay
    assert cum.score(X, y) >= 0.9


# -- compiled loops against the reference ---------------------------------------
def _fit(X, y, backend, dtype, loss="log_loss", **kwargs):
    X = X.astype(dtype)
    res = fastgd.fit(X, y, loss=loss, l1_method="cumulative", epochs=3,
                     random_state=0, backend=backend, **kwargs)
    return np.r_[res.coef_.ravel(), res.intercept_]


# (alpha, l1_ratio, lr, schedule): the second and third shrink the weight
# scale past 1e-9 within an epoch, so CSR folds it back mid-epoch
CASES = [(0.01, 1.0, 1.0, "invscaling"), (0.05, 0.3, 0.5, "constant"),
         (0.2, 0.05, 0.8, "constant")]


@pytest.mark.parametrize("loss", ["log_loss", "hinge"])   # hinge: rows of derivative 0
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch_size", [1, 2, 5, 600])
@pytest.mark.parametrize("case", CASES)
def test_dense_and_csr_match_the_reference(wide_csr, case, batch_size, dtype, loss):
    X, y = wide_csr
    alpha, l1_ratio, lr, schedule = case
    kw = dict(penalty="elasticnet", alpha=alpha, l1_ratio=l1_ratio, lr=lr, schedule=schedule,
              batch_size=batch_size, loss=loss)
    ref = _fit(X.toarray(), y, "reference", dtype, **kw)
    assert 0 < np.count_nonzero(ref[:-1]) < 400   # zeros and non-zeros both
    assert_close(_fit(X.toarray(), y, "cpu", dtype, **kw), ref, dtype, "dense")
    assert_close(_fit(X, y, "cpu", dtype, **kw), ref, dtype, "CSR")
    # threads: dense mini-batches split over two, CSR runs on one
    assert_close(_fit(X.toarray(), y, "cpu", dtype, n_jobs=2, **kw), ref, dtype, "dense 2")
    assert_close(_fit(X, y, "cpu", dtype, n_jobs=2, **kw), ref, dtype, "CSR n_jobs=2")


def test_dense_batches_on_threads_match_the_reference(sparse_truth):
    # mini-batches large enough to be split over two threads
    rng = np.random.default_rng(5)
    X = rng.standard_normal((512, 300))
    y = np.where(X[:, :5].sum(axis=1) > 0, 1, -1)
    kw = dict(penalty="l1", alpha=0.02, lr=0.5, batch_size=256)
    ref = _fit(X, y, "reference", np.float64, **kw)
    assert_close(_fit(X, y, "cpu", np.float64, n_jobs=2, **kw), ref, np.float64, "2 threads")


def test_reference_penalty_step():
    w = np.array([0.5, -0.5, 0.05, 0.0, -0.02])
    q = np.array([-0.1, 0.1, 0.0, 0.0, 0.0])
    cumulative_l1(w, 0.12, q)
    # 0.5 - (0.12 - 0.1); -0.5 + (0.12 - 0.1); 0.05 and -0.02 clip at 0
    np.testing.assert_allclose(w, [0.48, -0.48, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(q, [-0.12, 0.12, -0.05, 0.0, 0.02])


# -- state across calls and rollbacks --------------------------------------------
@pytest.mark.parametrize("sparse", [False, True])
def test_state_carries_across_chunks_and_calls(wide_csr, sparse):
    X, y = wide_csr
    X = X if sparse else X.toarray()
    one = SGDClassifier(penalty="elasticnet", alpha=0.01, l1_method="cumulative", shuffle=False,
                        max_iter=1, tol=None).fit(X, y)
    parts = SGDClassifier(penalty="elasticnet", alpha=0.01, l1_method="cumulative",
                          shuffle=False)
    for lo in range(0, 600, 150):
        parts.partial_fit(X[lo:lo + 150], y[lo:lo + 150], classes=[-1, 1])
    np.testing.assert_allclose(parts.coef_, one.coef_, rtol=0, atol=1e-12)
    # an epoch in chunks of 7 rows equals it in one
    X2 = sp.csr_matrix(X)
    results = []
    for chunk in (None, 7):
        tr = Trainer(loss="hinge", penalty="l1", alpha=0.01, l1_method="cumulative", lr=0.2,
                     batch_size=1, random_state=0)
        tr.chunk_rows = chunk
        tr.init_model(400, np.float64)
        tr.run(X2, y.astype(float), epochs=2)
        results.append((tr.params.copy(), tr.l1_state.copy()))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-12)


def test_state_is_part_of_the_model(sparse_truth):
    X, y = sparse_truth
    tr = Trainer(loss="hinge", penalty="l1", alpha=0.01, l1_method="cumulative", lr=0.1,
                 batch_size=1, random_state=0)
    tr.init_model(30, np.float64)
    tr.run(X, y.astype(float), epochs=1)
    # u: l1 * lr per step
    assert tr.l1_state[-1] == pytest.approx(0.01 * 0.1 * 500)
    saved = tr.copy_model()
    state = tr.l1_state.copy()
    tr.run(X, y.astype(float), epochs=1)
    assert not np.array_equal(tr.l1_state, state)
    tr.restore_model(saved)
    np.testing.assert_array_equal(tr.l1_state, state)
    clone = pickle.loads(pickle.dumps(tr))
    np.testing.assert_array_equal(clone.l1_state, state)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_early_stopping_restores_the_state_with_the_weights(sparse_truth):
    X, y = sparse_truth
    common = dict(penalty="l1", alpha=0.003, l1_method="cumulative", shuffle=False,
                  learning_rate="constant", eta0=0.5, early_stopping=True,
                  validation_fraction=0.25, n_iter_no_change=3, tol=1e-9, max_iter=30,
                  random_state=0)
    clf = SGDClassifier(**common).fit(X, y)
    best = int(np.argmax(clf.history_.validation)) + 1
    assert best < clf.n_iter_   # the weights go back
    # the same training, stopped at the best epoch
    ref = SGDClassifier(**{**common, "max_iter": best, "n_iter_no_change": 100}).fit(X, y)
    np.testing.assert_array_equal(clf.coef_, ref.coef_)
    np.testing.assert_array_equal(clf._trainers[0].l1_state, ref._trainers[0].l1_state)


def test_a_new_penalty_starts_the_account_afresh(sparse_truth):
    X, y = sparse_truth
    clf = SGDClassifier(penalty="l1", alpha=0.05, l1_method="cumulative", shuffle=False)
    clf.partial_fit(X, y, classes=[-1, 1])
    state = clf._trainers[0].l1_state
    assert state[-1] > 0
    clf.partial_fit(X, y)   # nothing changed: the state carries on
    assert state[-1] > 0 and np.any(state[:-1] != 0)
    clf.set_params(alpha=0.001)
    clf.partial_fit(X[:1], y[:1])
    # what weights at zero owed under alpha=0.05 is not collected under 0.001:
    # the account restarted, then took one step
    assert state[-1] == pytest.approx(0.001 * clf._trainers[0].history.lr[-1])


def test_l1_method_alone_changes_nothing_without_l1(sparse_truth):
    X, y = sparse_truth
    kw = dict(penalty="l2", alpha=0.01, optimizer="adam", random_state=0)
    a = SGDClassifier(l1_method="cumulative", **kw).fit(X, y)
    b = SGDClassifier(**kw).fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    with pytest.raises(ValueError, match="plain SGD"):
        a.set_params(penalty="l1").partial_fit(X, y)
    y3 = np.arange(500) % 3
    SGDClassifier(loss="log_loss", multi_class="multinomial", l1_method="cumulative",
                  max_iter=2, tol=None).fit(X, y3)


# -- what it refuses --------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    ({"optimizer": "adam"}, "plain SGD"),
    ({"optimizer": fastgd.optim.SGD(lr=0.1, momentum=0.9)}, "without momentum"),
    ({"average": True}, "average"),
    ({"hogwild": True, "batch_size": 1}, "hogwild"),
])
def test_refused_where_undefined(sparse_truth, kwargs, match):
    X, y = sparse_truth
    with pytest.raises(ValueError, match=match):
        fastgd.fit(X, y, loss="hinge", penalty="l1", alpha=0.01, l1_method="cumulative",
                   **kwargs)


def test_refusals_in_the_estimators(sparse_truth):
    X, y = sparse_truth
    with pytest.raises(ValueError, match="l1_method must be"):
        SGDClassifier(penalty="l1", l1_method="truncated").fit(X, y)
    y3 = np.arange(500) % 3
    with pytest.raises(ValueError, match="multinomial"):
        SGDClassifier(loss="log_loss", penalty="l1", multi_class="multinomial",
                      l1_method="cumulative").fit(X, y3)
    clf = SGDClassifier(penalty="l1", l1_method="cumulative").partial_fit(X, y, classes=[-1, 1])
    clf.set_params(l1_method="proximal")
    with pytest.raises(ValueError, match="l1_method"):
        clf.partial_fit(X, y)
    tr = Trainer(penalty="l1", alpha=0.01, l1_method="cumulative", batch_size=1)
    with pytest.raises(ValueError, match="l1_method cannot change"):
        tr.retune(penalty=Penalty("l1", alpha=0.01))


def test_csr_needs_positive_scale_factors(wide_csr):
    # lr * alpha * (1 - l1_ratio) = 1: the weight scale would be 0
    X, y = wide_csr
    with pytest.raises(ValueError, match=r"'constant' schedule's step size eta=1 at step 0"):
        fastgd.fit(X, y, penalty="elasticnet", alpha=2.0, l1_ratio=0.5, lr=1.0,
                   l1_method="cumulative", batch_size=1, epochs=1)
    # 'optimal' ignores lr: the message names its own step size
    with pytest.raises(ValueError, match=r"'optimal' schedule's step size eta=.* at step 0"):
        fastgd.fit(X, y, penalty="elasticnet", alpha=20.0, l1_ratio=0.1, lr=0.01,
                   schedule="optimal", l1_method="cumulative", batch_size=1, epochs=1)
    # the dense loop takes it
    fastgd.fit(X.toarray(), y, penalty="elasticnet", alpha=2.0, l1_ratio=0.5, lr=1.0,
               l1_method="cumulative", batch_size=1, epochs=1)
