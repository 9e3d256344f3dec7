"""Training on a subset of rows (the estimators' early-stopping split) without copying X."""
import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp

import fastgd
from fastgd.data import check_data
from fastgd.solver import Trainer


def _trainer(**kw):
    return Trainer(loss="log_loss", optimizer="adam", lr=0.01, batch_size=4, random_state=3, **kw)


@pytest.mark.parametrize("shuffle", [True, False, "block"])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rows_equal_training_on_the_copied_rows(shuffle, sparse, dtype):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 5)).astype(dtype)
    y = np.where(rng.standard_normal(120) + X[:, 0] > 0, 1.0, -1.0)
    sw = rng.uniform(0.5, 2.0, 120)
    rows = rng.permutation(120)[:90]          # unsorted, like a ShuffleSplit
    Xs = sp.csr_matrix(X) if sparse else X
    sub_w = sw[rows] / sw[rows].mean()
    full_w = sw / (sw[rows].sum() / rows.size)   # the estimators' scaling

    a = _trainer(shuffle=shuffle)
    a.init_model(5, dtype)
    a.run(Xs[rows] if sparse else check_data(X[rows]), y[rows], sub_w, epochs=3)
    b = _trainer(shuffle=shuffle)
    b.init_model(5, dtype)
    b.run(Xs, y, full_w, epochs=3, rows=rows)
    np.testing.assert_array_equal(a.params, b.params)
    np.testing.assert_array_equal(a.state, b.state)
    assert a.t == b.t
    np.testing.assert_allclose(a.history.loss, b.history.loss, rtol=1e-12)


@pytest.mark.parametrize("rows", [np.array([], dtype=np.int64), np.array([0, 120]),
                                  np.array([-1, 2]), np.array([[1, 2]]), np.array([0.0, 1.0])])
def test_bad_rows_are_refused(rows):
    X = np.zeros((120, 2))
    tr = _trainer()
    tr.init_model(2, X.dtype)
    with pytest.raises(ValueError, match="rows must be"):
        tr.run(X, np.ones(120), rows=rows)


@pytest.mark.parametrize("make", [fastgd.SGDClassifier, fastgd.SGDRegressor])
def test_early_stopping_does_not_copy_the_training_rows(make):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100_000, 50))   # 40 MB
    y = (X[:, 0] > 0).astype(int)
    est = make(max_iter=2, tol=None, early_stopping=True, random_state=0)
    tracemalloc.start()
    est.fit(X, y)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # the validation split (10%) is copied for scoring; the training rows are not
    assert peak < 0.3 * X.nbytes, peak / X.nbytes
