"""Bad input to the functional API: every case ends in a clear exception.

And the inputs that are fine but unusual (memory-mapped, read-only,
Fortran-ordered, strided, one sample) train without being written to and,
for C-contiguous float data, without being copied.
"""
import numpy as np
import pytest
import scipy.sparse as sp

import fastgd
from fastgd.backends import cpu as cpu_backend
from fastgd.data import check_data, check_labels, check_targets, scaled_sample_weight
from fastgd.optim import Adagrad, Adam, AdamW, RMSprop, SGD

BACKENDS = ["cpu", "reference"]


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1
    return X, y


def _fit(X, y, **kw):
    kw.setdefault("lr", 0.01)
    kw.setdefault("epochs", 2)
    kw.setdefault("random_state", 0)
    return fastgd.fit(X, y, **kw)


# -- NaN / inf ---------------------------------------------------------------
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("backend", BACKENDS)
def test_nonfinite_X(data, bad, backend):
    X, y = data
    X = X.copy()
    X[3, 1] = bad
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        _fit(X, y, backend=backend)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nonfinite_y_regression(data, bad):
    X, y = data
    y = y.copy()
    y[0] = bad
    with pytest.raises(ValueError, match="Input y contains (NaN|infinity)"):
        _fit(X, y)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nonfinite_labels_classification(data, bad):
    # A NaN label must not silently become a class of its own.
    X, _ = data
    y = np.zeros(40)
    y[:10] = bad
    with pytest.raises(ValueError, match="class labels must be finite"):
        _fit(X, y, loss="hinge")


def test_none_in_object_labels(data):
    X, _ = data
    y = np.array(["a", "b"] * 19 + [None, "a"], dtype=object)
    with pytest.raises(ValueError, match="missing label"):
        _fit(X, y, loss="log_loss")


def test_labels_of_mixed_types_are_a_clear_error(data):
    X, _ = data
    y = np.array([1, "b"] * 20, dtype=object)
    with pytest.raises(ValueError, match="mixes label types"):
        _fit(X, y, loss="hinge")


def test_string_labels_are_fine(data):
    X, y = data
    labels = np.where(y > 0, "pos", "neg")
    res = _fit(X, labels, loss="log_loss")
    assert list(res.classes_) == ["neg", "pos"]
    assert set(res.predict(X)) <= {"neg", "pos"}


@pytest.mark.parametrize("bad", [np.nan, np.inf, -1.0])
def test_bad_sample_weight_values(data, bad):
    X, y = data
    sw = np.ones(40)
    sw[5] = bad
    with pytest.raises(ValueError, match="sample_weight|Input sample_weight"):
        _fit(X, y, sample_weight=sw)


def test_sample_weight_all_zero(data):
    X, y = data
    with pytest.raises(ValueError, match="at least one non-zero"):
        _fit(X, y, sample_weight=np.zeros(40))


@pytest.mark.parametrize("scale", [1e307, 1e-310])
def test_only_the_ratios_of_sample_weights_matter(data, scale):
    # weights whose sum overflows or whose mean is subnormal train as the
    # same weights near 1 (they were all zero after the sum overflowed)
    X, y = data
    sw = np.random.default_rng(0).uniform(0.5, 1.5, 40)
    scaled = scaled_sample_weight(sw * scale, X)
    np.testing.assert_allclose(scaled, scaled_sample_weight(sw, X), rtol=1e-12)
    ref = _fit(X, y, sample_weight=sw)
    big = _fit(X, y, sample_weight=sw * scale)
    np.testing.assert_allclose(big.coef_, ref.coef_, rtol=1e-9, atol=1e-12)
    assert np.any(big.coef_ != 0)


@pytest.mark.parametrize("weight", [2.0, 3, np.float32(0.5), np.array(2.0)])
def test_a_number_as_sample_weight_weighs_every_row_alike(data, weight):
    X, y = data
    np.testing.assert_array_equal(_fit(X, y, sample_weight=weight).coef_, _fit(X, y).coef_)


@pytest.mark.parametrize("weight", [float("nan"), -1.0, 0.0])
def test_a_bad_number_as_sample_weight_is_named(data, weight):
    X, y = data
    with pytest.raises(ValueError, match="(?i)sample.weight"):
        _fit(X, y, sample_weight=weight)


def test_sample_weight_wrong_length(data):
    X, y = data
    with pytest.raises(ValueError, match=r"sample_weight.shape == \(39,\), expected \(40,\)"):
        _fit(X, y, sample_weight=np.ones(39))


def test_sample_weight_2d(data):
    X, y = data
    with pytest.raises(ValueError, match="Sample weights must be 1D"):
        _fit(X, y, sample_weight=np.ones((40, 1)))


# -- shapes ------------------------------------------------------------------
def test_X_1d(data):
    X, y = data
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        _fit(X[:, 0], y)


def test_X_3d(data):
    X, y = data
    with pytest.raises(ValueError, match="Found array with dim 3"):
        _fit(X[:, :, None], y)


def test_X_scalar():
    with pytest.raises(ValueError, match="Expected 2D array, got scalar"):
        _fit(3.0, [1.0])


@pytest.mark.parametrize("loss", ["squared_error", "hinge"])
def test_y_length_mismatch(data, loss):
    X, y = data
    y = (y > 0).astype(float) if loss == "hinge" else y
    with pytest.raises(ValueError, match="X has 40 samples but y has 39"):
        _fit(X, y[:39], loss=loss)


def test_y_2d_regression(data):
    X, y = data
    with pytest.raises(ValueError, match=r"y should be a 1d array, got an array of shape \(40, 2\)"):
        _fit(X, np.c_[y, y])


def test_y_column_vector_warns_and_trains(data):
    # scikit-learn's convention: a (n, 1) column is raveled with a warning.
    X, y = data
    from sklearn.exceptions import DataConversionWarning

    with pytest.warns(DataConversionWarning):
        res = _fit(X, y[:, None])
    np.testing.assert_array_equal(res.coef_, _fit(X, y).coef_)


def test_empty_rows(data):
    X, y = data
    with pytest.raises(ValueError, match=r"0 sample\(s\)"):
        _fit(X[:0], y[:0])


def test_empty_features(data):
    X, y = data
    with pytest.raises(ValueError, match=r"0 feature\(s\)"):
        _fit(X[:, :0], y)


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_sample_trains(data, backend):
    X, y = data
    res = _fit(X[:1], y[:1], backend=backend, epochs=50, lr=0.1)
    assert np.all(np.isfinite(res.coef_))
    # one sample can be fitted exactly
    assert abs(res.predict(X[:1])[0] - y[0]) < 1e-3 * (1 + abs(y[0]))


def test_one_class(data):
    X, _ = data
    with pytest.raises(ValueError, match="needs exactly two classes in y, got 1"):
        _fit(X, np.ones(40), loss="log_loss")


def test_three_classes_functional(data):
    X, _ = data
    with pytest.raises(ValueError, match="got 3; use fastgd.SGDClassifier"):
        _fit(X, np.arange(40) % 3, loss="hinge")


# -- n_features changing -----------------------------------------------------
def test_decision_function_wrong_width(data):
    X, y = data
    res = _fit(X, y)
    with pytest.raises(ValueError, match="X has 2 features, the model 3"):
        res.decision_function(X[:, :2])
    with pytest.raises(ValueError, match="X has 4 features, the model 3"):
        res.predict(np.c_[X, X[:, 0]])


def test_decision_function_nan(data):
    X, y = data
    res = _fit(X, y)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        res.predict(np.where(X > 1, np.nan, X))


def test_coef_init_wrong_width(data):
    X, y = data
    with pytest.raises(ValueError, match="coef_init has 2 values, X has 3 features"):
        _fit(X, y, coef_init=[0.0, 1.0])


def test_coef_init_nan(data):
    X, y = data
    with pytest.raises(ValueError, match="coef_init contains NaN"):
        _fit(X, y, coef_init=[0.0, np.nan, 1.0])


# -- dtypes ------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint8, np.uint64, np.float16])
def test_integer_and_small_float_X_become_float64(data, dtype):
    X, y = data
    Xi = (np.abs(X) * 3).astype(dtype)
    res = _fit(Xi, y)
    assert res.coef_.dtype == np.float64
    ref = _fit(Xi.astype(np.float64), y)
    np.testing.assert_array_equal(res.coef_, ref.coef_)


def test_numeric_object_X_is_converted(data):
    # scikit-learn (and its check_estimator) treat numbers in object arrays as numbers.
    X, y = data
    res = _fit(X.astype(object), y)
    np.testing.assert_array_equal(res.coef_, _fit(X, y).coef_)


def test_bool_X_refused(data):
    X, y = data
    # scikit-learn's check_array would silently turn this into 0.0/1.0.
    with pytest.raises(TypeError, match="X has boolean dtype.*convert it explicitly"):
        _fit(X > 0, y)


def test_bool_list_refused(data):
    _, y = data
    with pytest.raises(TypeError, match="X has boolean dtype"):
        _fit([[True, False]] * 40, y)


def test_complex_X_refused(data):
    X, y = data
    with pytest.raises(ValueError, match="Complex data not supported: X has dtype complex128"):
        _fit(X + 1j, y)


@pytest.mark.parametrize("kind", ["U", "S"])
def test_string_X_refused(data, kind):
    # check_array would parse numeric strings; fastgd refuses them outright.
    X, y = data
    with pytest.raises(TypeError, match="X has string dtype"):
        _fit(X.astype(kind), y)


def test_object_X_with_strings_refused(data):
    X, y = data
    Xo = X.astype(object)
    Xo[2, 1] = "1.5"
    with pytest.raises(TypeError, match=r"X is an object array holding str values \(e.g. '1.5'\)"):
        _fit(Xo, y)


def test_object_X_with_bools_refused(data):
    X, y = data
    Xo = X.astype(object)
    Xo[0, 0] = True
    with pytest.raises(TypeError, match="holding bool values"):
        _fit(Xo, y)


def test_object_X_with_dict_refused(data):
    # the message scikit-learn's check_dtype_object expects
    X, y = data
    Xo = X.astype(object)
    Xo[0, 0] = {"foo": "bar"}
    with pytest.raises(TypeError, match="argument must be .* string.* number"):
        _fit(Xo, y)


def test_datetime_X_refused(data):
    _, y = data
    X = np.arange(80).reshape(40, 2).astype("datetime64[s]")
    with pytest.raises(TypeError, match="X has dtype datetime64.*needs real numbers"):
        _fit(X, y)


def test_bool_y_regression_refused(data):
    X, y = data
    with pytest.raises(TypeError, match="y has boolean dtype.*classification loss"):
        _fit(X, y > 0)


def test_bool_y_classification_is_labels(data):
    X, y = data
    res = _fit(X, y > 0, loss="log_loss")
    assert list(res.classes_) == [False, True]


@pytest.mark.parametrize("bad, exc, msg", [
    (lambda y: y + 1j, ValueError, "Complex data not supported: y"),
    (lambda y: y.astype(str), TypeError, "y has string dtype"),
])
def test_bad_y_dtypes(data, bad, exc, msg):
    X, y = data
    with pytest.raises(exc, match=msg):
        _fit(X, bad(y))


def test_complex_labels_refused(data):
    X, y = data
    with pytest.raises(ValueError, match="Complex data not supported: y"):
        check_labels((y > 0) + 0j, 40)


@pytest.mark.parametrize("bad, exc, msg", [
    (np.ones(40, dtype=bool), TypeError, "sample_weight has boolean dtype"),
    (np.ones(40) + 0j, ValueError, "Complex data not supported: sample_weight"),
    (np.array(["1"] * 40), TypeError, "sample_weight has string dtype"),
])
def test_bad_sample_weight_dtypes(data, bad, exc, msg):
    X, y = data
    with pytest.raises(exc, match=msg):
        _fit(X, y, sample_weight=bad)


def test_integer_sample_weight_is_fine(data):
    X, y = data
    sw = np.arange(40) % 3
    res = _fit(X, y, sample_weight=sw)
    ref = _fit(X, y, sample_weight=sw.astype(float))
    np.testing.assert_array_equal(res.coef_, ref.coef_)


def test_float32_kept(data):
    X, y = data
    res = _fit(X.astype(np.float32), y)
    assert res.coef_.dtype == np.float32


def test_pandas_dataframe_dtypes():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"a": rng.standard_normal(20), "b": np.arange(20)})
    y = rng.standard_normal(20)
    assert np.all(np.isfinite(_fit(df, y).coef_))
    df["c"] = df["a"] > 0
    with pytest.raises(TypeError, match="X has boolean dtype"):
        _fit(df, y)


# -- hyperparameters ---------------------------------------------------------
@pytest.mark.parametrize("lr", [0.0, -1.0, np.nan, np.inf])
def test_bad_lr(data, lr):
    X, y = data
    with pytest.raises(ValueError, match="lr must be"):
        _fit(X, y, lr=lr)


@pytest.mark.parametrize("cls", [SGD, Adam, Adagrad, RMSprop])
def test_bad_lr_optimizer_object(cls):
    with pytest.raises(ValueError, match=r"lr must be > 0.0, got -0.1"):
        cls(lr=-0.1)


@pytest.mark.parametrize("batch_size", [0, -3, 2.5, "8", True])
def test_bad_batch_size(data, batch_size):
    X, y = data
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        _fit(X, y, batch_size=batch_size)


@pytest.mark.parametrize("epochs", [0, -1, 1.5, None])
def test_bad_epochs(data, epochs):
    X, y = data
    with pytest.raises(ValueError, match="epochs must be an integer >= 1"):
        _fit(X, y, epochs=epochs)


@pytest.mark.parametrize("betas, msg", [
    ((1.0, 0.999), r"betas\[0\] must be < 1.0"),
    ((0.9, 1.0), r"betas\[1\] must be < 1.0"),
    ((-0.1, 0.999), r"betas\[0\] must be >= 0.0"),
    ((0.9, 1.5), r"betas\[1\] must be < 1.0"),
    ((0.9, np.nan), r"betas\[1\] must be a finite number"),
    ((0.9,), "betas must be a pair of numbers"),
])
@pytest.mark.parametrize("cls", [Adam, AdamW])
def test_bad_betas(cls, betas, msg):
    with pytest.raises(ValueError, match=msg):
        cls(betas=betas)


def test_betas_zero_is_allowed(data):
    X, y = data
    res = _fit(X, y, lr=None, optimizer=Adam(lr=0.01, betas=(0.0, 0.0)))
    assert np.all(np.isfinite(res.coef_))


@pytest.mark.parametrize("cls", [Adam, AdamW, Adagrad, RMSprop])
def test_negative_eps(cls):
    with pytest.raises(ValueError, match=r"eps must be > 0.0, got -1e-08"):
        cls(eps=-1e-8)


@pytest.mark.parametrize("kw, msg", [
    (dict(n_jobs=0), "n_jobs must be None or a non-zero integer"),
    (dict(n_jobs=1.5), "n_jobs must be None or a non-zero integer"),
    (dict(on_divergence="ignore"), "on_divergence must be 'raise' or 'backoff'"),
    (dict(backend="gpu9"), "unknown backend 'gpu9'"),
    (dict(tol=-1.0, n_iter_no_change=0), "n_iter_no_change must be an integer >= 1"),
    (dict(gtol=-1.0), "gtol must be None or a finite number >= 0"),
    (dict(gtol=np.nan), "gtol must be None or a finite number >= 0"),
])
def test_bad_options(data, kw, msg):
    X, y = data
    with pytest.raises(ValueError, match=msg):
        _fit(X, y, **kw)


# -- layouts: trained on without writes and without needless copies ----------
@pytest.fixture
def captured(monkeypatch):
    """Record the X and y every compiled epoch (chunk) receives."""
    seen = []
    real = cpu_backend.run_epoch

    def spy(problem, *args, **kwargs):
        seen.append((problem.X, problem.y))
        return real(problem, *args, **kwargs)

    monkeypatch.setattr(cpu_backend, "run_epoch", spy)
    return seen


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shuffle", [True, False])
def test_c_contiguous_float_not_copied(data, captured, dtype, shuffle):
    X, y = data
    X = np.ascontiguousarray(X, dtype=dtype)
    _fit(X, y, shuffle=shuffle)
    assert captured
    assert all(np.shares_memory(Xc, X) for Xc, _ in captured)


def test_chunked_epoch_not_copied(data, captured, monkeypatch):
    # Forced small chunks: each chunk is a row-slice view of X, never a copy.
    X, y = data
    monkeypatch.setattr(fastgd.Trainer, "chunk_rows", 8)
    _fit(X, y, shuffle=False, batch_size=4)
    assert len(captured) == 2 * 5   # 2 epochs x 40/8 chunks
    assert all(np.shares_memory(Xc, X) for Xc, _ in captured)


def _readonly(a):
    a = a.copy()
    a.flags.writeable = False
    return a


@pytest.mark.parametrize("backend", BACKENDS)
def test_read_only_arrays(data, captured, backend):
    X, y = data
    X, y = _readonly(X), _readonly(y)
    sw = _readonly(np.linspace(0.5, 2.0, 40))
    res = _fit(X, y, sample_weight=sw, backend=backend)
    assert np.all(np.isfinite(res.coef_))
    if backend == "cpu":
        assert all(np.shares_memory(Xc, X) for Xc, _ in captured)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_memmap_np_load(tmp_path, data, captured, dtype):
    X, y = data
    path = tmp_path / "X.npy"
    np.save(path, X.astype(dtype))
    Xm = np.load(path, mmap_mode="r")
    res = _fit(Xm, y)
    ref = _fit(X.astype(dtype), y)
    np.testing.assert_array_equal(res.coef_, ref.coef_)
    assert all(np.shares_memory(Xc, Xm) for Xc, _ in captured[: len(captured) // 2])
    np.testing.assert_array_equal(np.load(path), X.astype(dtype))   # file untouched


def test_np_memmap_readonly(tmp_path, data, captured):
    X, y = data
    path = tmp_path / "X.dat"
    X.tofile(path)
    Xm = np.memmap(path, dtype=np.float64, mode="r", shape=X.shape)
    res = _fit(Xm, y)
    np.testing.assert_array_equal(res.coef_, _fit(X, y).coef_)
    assert np.shares_memory(captured[0][0], Xm)


@pytest.mark.parametrize("layout", ["fortran", "strided_rows", "strided_cols", "negative"])
def test_other_layouts_train_and_are_not_written(data, layout):
    X, y = data
    big = np.repeat(X, 2, axis=0)
    big_y = np.repeat(y, 2)
    Xl, yl = {
        "fortran": (np.asfortranarray(X), y),
        "strided_rows": (big[::2], big_y[::2]),
        "strided_cols": (np.repeat(X, 2, axis=1)[:, ::2], y),
        "negative": (X[::-1], y[::-1]),
    }[layout]
    before = Xl.copy()
    Xl.flags.writeable = False if layout != "negative" else Xl.flags.writeable
    res = _fit(Xl, yl)
    ref = _fit(np.ascontiguousarray(Xl), yl)
    np.testing.assert_array_equal(res.coef_, ref.coef_)
    np.testing.assert_array_equal(Xl, before)


def test_inputs_never_modified(data):
    X, y = data
    sw = np.linspace(0.1, 3.0, 40)
    coef0 = np.array([0.5, 0.5, 0.5])
    copies = [a.copy() for a in (X, y, sw, coef0)]
    for backend in BACKENDS:
        _fit(X, y, sample_weight=sw, coef_init=coef0, backend=backend, optimizer="adam")
    for a, b in zip((X, y, sw, coef0), copies):
        np.testing.assert_array_equal(a, b)


# -- the validation helpers directly -----------------------------------------
def test_check_data_no_copy_for_c_float():
    X = np.ones((5, 2), dtype=np.float32)
    assert check_data(X) is X or np.shares_memory(check_data(X), X)


def test_check_targets_length():
    with pytest.raises(ValueError, match="X has 3 samples but y has 2"):
        check_targets([1.0, 2.0], 3)


def test_scaled_sample_weight_list_of_bools():
    with pytest.raises(TypeError, match="sample_weight has boolean dtype"):
        scaled_sample_weight([True, False], np.ones((2, 1)))


# -- the estimators ------------------------------------------------------------
def _reg(**kw):
    kw.setdefault("max_iter", 3)
    kw.setdefault("tol", None)
    kw.setdefault("random_state", 0)
    return fastgd.SGDRegressor(**kw)


def _clf(**kw):
    kw.setdefault("max_iter", 3)
    kw.setdefault("tol", None)
    kw.setdefault("random_state", 0)
    return fastgd.SGDClassifier(**kw)


@pytest.fixture
def labels(data):
    X, y = data
    return (y > 0).astype(int)


@pytest.mark.parametrize("make", [_reg, _clf], ids=["regressor", "classifier"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_estimator_nonfinite_X(data, labels, make, bad):
    X, y = data
    X = X.copy()
    X[1, 1] = bad
    target = y if make is _reg else labels
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        make().fit(X, target)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_estimator_nonfinite_y(data, bad):
    X, y = data
    y = y.copy()
    y[4] = bad
    with pytest.raises(ValueError, match="Input y contains (NaN|infinity)"):
        _reg().fit(X, y)
    with pytest.raises(ValueError, match="Input y contains (NaN|infinity)"):
        _clf().fit(X, y)


@pytest.mark.parametrize("make", [_reg, _clf], ids=["regressor", "classifier"])
@pytest.mark.parametrize("bad, msg", [(np.nan, "NaN"), (-1.0, "Negative values")])
def test_estimator_bad_sample_weight(data, labels, make, bad, msg):
    X, y = data
    sw = np.ones(40)
    sw[0] = bad
    with pytest.raises(ValueError, match=msg):
        make().fit(X, y if make is _reg else labels, sample_weight=sw)


@pytest.mark.parametrize("make", [_reg, _clf], ids=["regressor", "classifier"])
@pytest.mark.parametrize("Xbad, exc, msg", [
    (lambda X: X[:, 0], ValueError, "Expected 2D array, got 1D array"),
    (lambda X: X[:, :, None], ValueError, "Found array with dim 3"),
    (lambda X: X[:0], ValueError, r"0 sample\(s\)"),
    (lambda X: X[:, :0], ValueError, r"0 feature\(s\)"),
    (lambda X: X > 0, TypeError, "X has boolean dtype"),
    (lambda X: X.astype(str), TypeError, "X has string dtype"),
    (lambda X: X + 1j, ValueError, "Complex data not supported"),
])
def test_estimator_bad_X(data, labels, make, Xbad, exc, msg):
    X, y = data
    target = y if make is _reg else labels
    Xb = Xbad(X)
    with pytest.raises(exc, match=msg):
        make().fit(Xb, target[: Xb.shape[0]] if Xb.ndim else target)


@pytest.mark.parametrize("make", [_reg, _clf], ids=["regressor", "classifier"])
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_estimator_scalar_sample_weight(data, labels, make, method):
    # A scalar weighs every sample alike: as weights are divided by their
    # mean, any positive one is the unweighted fit, bit for bit.
    X, y = data
    target = y if make is _reg else labels
    kw = {"classes": [0, 1]} if method == "partial_fit" and make is _clf else {}
    ref = getattr(make(), method)(X, target, **kw)
    for w in (2.0, 3, np.float32(0.5), 1e300):
        est = getattr(make(), method)(X, target, sample_weight=w, **kw)
        np.testing.assert_array_equal(est.coef_, ref.coef_)
        np.testing.assert_array_equal(est.intercept_, ref.intercept_)
        assert est.t_ == ref.t_
    # a scalar is broadcast without scikit-learn's finiteness check: NaN was
    # reported as "sums to zero"
    for w, exc, msg in ((np.nan, ValueError, "Input sample_weight contains NaN"),
                        (np.inf, ValueError, "Input sample_weight contains infinity"),
                        (0.0, ValueError, "sample_weight sums to zero"),
                        (-1.0, ValueError, "Negative values"),
                        (True, TypeError, "sample_weight has boolean dtype")):
        with pytest.raises(exc, match=msg):
            getattr(make(), method)(X, target, sample_weight=w, **kw)


@pytest.mark.parametrize("make", [_reg, _clf], ids=["regressor", "classifier"])
def test_estimator_numeric_object_X_is_converted(data, labels, make):
    # As scikit-learn (check_estimator's check_dtype_object): numbers in an
    # object array are numbers; strings and booleans in one are refused.
    X, y = data
    target = y if make is _reg else labels
    a = make().fit(X.astype(object), target)
    b = make().fit(X, target)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    np.testing.assert_array_equal(a.predict(X.astype(object)), b.predict(X))


def test_estimator_object_X_with_strings(data):
    X, y = data
    Xo = X.astype(object)
    Xo[3, 2] = "2.0"
    with pytest.raises(TypeError, match="object array holding str values"):
        _reg().fit(Xo, y)


def test_estimator_y_length_and_shape(data):
    X, y = data
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        _reg().fit(X, y[:30])
    with pytest.raises(ValueError, match=r"y should be a 1d array, got an array of shape \(40, 2\)"):
        _reg().fit(X, np.c_[y, y])


def test_estimator_bool_targets(data):
    X, y = data
    with pytest.raises(TypeError, match="y has boolean dtype.*use SGDClassifier"):
        _reg().fit(X, y > 0)
    clf = _clf().fit(X, y > 0)        # booleans are fine as class labels
    assert list(clf.classes_) == [False, True]


def test_estimator_bool_sample_weight(data):
    X, y = data
    with pytest.raises(TypeError, match="sample_weight has boolean dtype"):
        _reg().fit(X, y, sample_weight=np.ones(40, dtype=bool))


def test_estimator_integer_X_converted(data):
    X, y = data
    Xi = (np.abs(X) * 5).astype(np.int32)
    a = _reg(optimizer="adam").fit(Xi, y)
    b = _reg(optimizer="adam").fit(Xi.astype(np.float64), y)
    np.testing.assert_array_equal(a.coef_, b.coef_)


def test_estimator_one_sample_and_one_class(data, labels):
    X, y = data
    reg = _reg().fit(X[:1], y[:1])
    assert np.all(np.isfinite(reg.coef_))
    with pytest.raises(ValueError, match="number of classes has to be greater than one"):
        _clf().fit(X, np.zeros(40, dtype=int))


def test_estimator_partial_fit_labels(data, labels):
    X, _ = data
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        _clf().partial_fit(X, labels)
    clf = _clf().partial_fit(X, labels, classes=[0, 1])
    with pytest.raises(ValueError, match=r"y contains labels \[2\] that are not in classes"):
        clf.partial_fit(X, np.where(labels == 1, 2, 0))
    # later calls skip type_of_target: continuous targets are refused as labels
    # outside classes_, and the model is left as it was
    coef = clf.coef_.copy()
    with pytest.raises(ValueError, match=r"y contains labels \[0.25, 0.5\] that are not in"):
        clf.partial_fit(X, np.where(labels == 1, 0.5, 0.25))
    with pytest.raises(ValueError, match="Unknown label type"):
        _clf().partial_fit(X, np.where(labels == 1, 0.5, 0.25), classes=[0.25, 0.5, 0.75])
    np.testing.assert_array_equal(clf.coef_, coef)


@pytest.mark.parametrize("make", [_reg, _clf], ids=["regressor", "classifier"])
def test_estimator_n_features_change(data, labels, make):
    X, y = data
    target = y if make is _reg else labels
    kw = {} if make is _reg else dict(classes=[0, 1])
    est = make().partial_fit(X, target, **kw)
    with pytest.raises(ValueError, match="X has 2 features, but .* is expecting 3 features"):
        est.partial_fit(X[:, :2], target)
    with pytest.raises(ValueError, match="X has 4 features, but .* is expecting 3 features"):
        est.predict(np.c_[X, X[:, :1]])


@pytest.mark.parametrize("make", [_reg, _clf], ids=["regressor", "classifier"])
def test_estimator_predict_follows_the_dtype_policy_of_fit(data, labels, make):
    X, y = data
    est = make().fit(X, y if make is _reg else labels)
    for method in ("predict",) if make is _reg else ("predict", "decision_function"):
        with pytest.raises(TypeError, match="X has boolean dtype"):
            getattr(est, method)(X > 0)
        with pytest.raises(ValueError, match="Complex data not supported"):
            getattr(est, method)(X.astype(complex))


@pytest.mark.parametrize("params, exc, msg", [
    (dict(learning_rate="constant", eta0=0.0), ValueError, "eta0 must be > 0"),
    (dict(learning_rate="constant", eta0=-1.0), ValueError, "eta0 must be"),
    (dict(batch_size=0), ValueError, "batch_size must be an integer >= 1"),
    (dict(max_iter=0), ValueError, "max_iter"),
    (dict(optimizer=Adam(betas=(0.9, 0.5)), alpha=0.0), None, None),
])
def test_estimator_bad_hyperparameters(data, params, exc, msg):
    X, y = data
    if exc is None:         # a valid corner: finite model
        assert np.all(np.isfinite(_reg(**params).fit(X, y).coef_))
        return
    with pytest.raises(exc, match=msg):
        _reg(**params).fit(X, y)


def test_estimator_bad_optimizer_objects():
    # invalid hyperparameters are refused when the optimizer is built
    with pytest.raises(ValueError, match=r"betas\[1\] must be < 1.0"):
        Adam(betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="eps must be > 0.0"):
        RMSprop(eps=-1.0)


def test_estimator_divergence_names_the_step(data):
    X, y = data
    # (the estimators back off first: the message names the last step tried)
    with pytest.raises(fastgd.DivergenceError,
                       match=r"with step size lr=[0-9.e+]+ .*Try a smaller step size"):
        _reg(learning_rate="constant", eta0=1e6).fit(X, y)


@pytest.mark.parametrize("make", [_reg, _clf], ids=["regressor", "classifier"])
def test_estimator_memmap_read_only_no_copy(tmp_path, data, labels, captured, make):
    X, y = data
    path = tmp_path / "X.npy"
    np.save(path, X)
    Xm = np.load(path, mmap_mode="r")
    target = y if make is _reg else labels
    est = make().fit(Xm, target)
    assert np.all(np.isfinite(est.coef_))
    assert captured and all(np.shares_memory(Xc, Xm) for Xc, _ in captured)
    np.testing.assert_array_equal(np.load(path), X)


def test_estimator_inputs_never_modified(data, labels):
    X, y = data
    sw = np.linspace(0.5, 2.0, 40)
    copies = [a.copy() for a in (X, y, labels, sw)]
    _reg(optimizer="adam").fit(X, y, sample_weight=sw)
    _clf(optimizer="adam").fit(X, labels, sample_weight=sw)
    _clf().partial_fit(X, labels, classes=[0, 1], sample_weight=sw)
    for a, b in zip((X, y, labels, sw), copies):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("make", [_reg, _clf], ids=["regressor", "classifier"])
@pytest.mark.parametrize("sparse", [False, True])
def test_partial_fit_refuses_values_beyond_the_models_float32(data, labels, make, sparse):
    """A float32 model's later partial_fit casts float64 X to float32: a
    finite value beyond float32's range is refused as such (it became inf and
    read as a diverged model's 'smaller steps' before), the model unchanged."""
    X, y = data
    target = y if make is _reg else labels
    kw = {} if make is _reg else dict(classes=[0, 1])
    est = make().partial_fit(X.astype(np.float32), target, **kw)
    coef = est.coef_.copy()
    big = X.copy()
    big[3, 1] = 1e39
    with pytest.raises(ValueError, match="X holds values beyond the range of float32"):
        est.partial_fit(sp.csr_matrix(big) if sparse else big, target)
    np.testing.assert_array_equal(est.coef_, coef)


@pytest.mark.parametrize("multi_class", ["ovr", "multinomial"])
@pytest.mark.parametrize("what", ["coef_init", "intercept_init"])
def test_init_values_beyond_float32_are_refused(data, multi_class, what):
    X, _ = data
    y = np.arange(X.shape[0]) % 3
    init = dict(coef_init=np.zeros((3, 3)), intercept_init=np.zeros(3))
    init[what][1] = 1e39
    with pytest.raises(ValueError, match=f"{what} holds values beyond the range of float32"):
        _clf(multi_class=multi_class, loss="log_loss").fit(X.astype(np.float32), y,
                                                           **{what: init[what]})
    # float64 holds them: a fit, however large its start
    _clf(multi_class=multi_class, loss="log_loss").fit(X, y, **{what: init[what]})


@pytest.mark.parametrize("make", [lambda: fastgd.optim.Adam(eps=0.0),
                                  lambda: fastgd.optim.AdamW(eps=0.0),
                                  lambda: fastgd.optim.Adagrad(eps=0.0),
                                  lambda: fastgd.optim.RMSprop(eps=0.0),
                                  lambda: fastgd.optim.Adadelta(eps=0.0)])
def test_eps_zero_is_refused(make):
    """eps=0 made an all-zero feature's step 0 / 0: a NaN reported as a
    divergence that a smaller step size cannot cure. Refused by name."""
    with pytest.raises(ValueError, match="eps must be > 0"):
        make()


@pytest.mark.parametrize("call", [
    lambda: fastgd.optim.Adam(lr=10**400), lambda: fastgd.optim.SGD(momentum=10**400),
    lambda: fastgd.penalties.Penalty("l2", alpha=10**400),
    lambda: fastgd.losses.Loss("huber", epsilon=10**400),
    lambda: fastgd.schedules.Step(step_size=10**400),
    lambda: fastgd.fit(np.ones((4, 2)), np.arange(4.0), tol=10**400)])
def test_huge_integers_are_refused_by_name(call):
    """An int beyond float's range met NumPy's isfinite (a TypeError about
    ufuncs) or float() (a bare OverflowError); now each check names it."""
    with pytest.raises(ValueError, match="must be"):
        call()


def test_huge_average_start_and_shuffle_block_are_accepted():
    """average=10**20 (a start never reached) and shuffle_block=10**20 (one
    block) are valid: they overflowed the core's int64 before."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 3)), rng.standard_normal(40)
    kw = dict(loss="squared_error", batch_size=4, epochs=2, random_state=0)
    plain = fastgd.fit(X, y, **kw)
    np.testing.assert_array_equal(fastgd.fit(X, y, average=10**20, **kw).coef_, plain.coef_)
    one_block = fastgd.fit(X, y, shuffle="block", shuffle_block=40, **kw)
    np.testing.assert_array_equal(
        fastgd.fit(X, y, shuffle="block", shuffle_block=10**20, **kw).coef_, one_block.coef_)


@pytest.mark.parametrize("call", [
    lambda: fastgd.optim.RMSprop(centered="no"), lambda: fastgd.optim.Adam(amsgrad=np.nan),
    lambda: fastgd.optim.SGD(momentum=0.9, nesterov="yes"),
    lambda: fastgd.SGDClassifier(fit_intercept="False").fit(np.eye(4), [0, 1, 0, 1]),
    lambda: fastgd.fit(np.eye(4), np.arange(4.0), fit_intercept="False")])
def test_flags_must_be_booleans(call):
    """bool() took the string "False" and NaN for True, silently."""
    with pytest.raises(TypeError, match="must be True or False"):
        call()


def test_numpy_bool_average_is_a_bool():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 3)), rng.standard_normal(40)
    kw = dict(loss="squared_error", batch_size=4, epochs=2, random_state=0)
    np.testing.assert_array_equal(fastgd.fit(X, y, average=np.True_, **kw).coef_,
                                  fastgd.fit(X, y, average=True, **kw).coef_)


@pytest.mark.parametrize("loss", ["squared_error", "squared_epsilon_insensitive"])
def test_targets_whose_loss_overflows_are_refused_as_input(loss):
    """y = 1e300 under a squared loss is infinite at any model: a
    DivergenceError advised ever smaller step sizes, which cannot help."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 3))
    y = np.full(50, 1e300)
    with pytest.raises(ValueError, match="not finite even at the all-zero model"):
        fastgd.fit(X, y, loss=loss, epochs=1)
    with pytest.raises(ValueError, match="rescale y"):
        fastgd.SGDRegressor(loss=loss).fit(X, y)


def test_trainer_run_says_what_is_wrong_with_its_data():
    """Trainer.run takes validated data; data it cannot take gets a message
    naming the problem, not the core's buffer or NumPy's broadcast errors."""
    from fastgd.solver import Trainer

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, 3)), rng.standard_normal(20)
    tr = Trainer(loss="squared_error")
    with pytest.raises(ValueError, match="call init_model first"):
        tr.run(X, y)
    tr.init_model(3, np.float32)
    with pytest.raises(ValueError, match="X has dtype float64, the model float32"):
        tr.run(X, y)
    tr.init_model(3, np.float64)
    for args, match in [((X[:, :2], y), "model's 3 features"),
                        ((np.asfortranarray(X), y), "C-contiguous"),
                        ((X, y[:-1]), r"y must have shape \(20,\)"),
                        ((X, y, np.ones(19)), r"sample_weight must have shape \(20,\)")]:
        with pytest.raises(ValueError, match=match):
            tr.run(*args)
    assert tr.epoch == 0 and tr.run(X, y) == "max_epochs"


def test_estimator_messages_name_what_the_user_gave():
    """A negative or NaN class_weight was reported as a sample_weight fault;
    verbose took any truthy object; tol=inf was 'a finite number >= -inf'."""
    X = np.random.default_rng(0).standard_normal((20, 3))
    y = np.arange(20) % 2
    with pytest.raises(ValueError, match="class_weight must hold finite weights"):
        fastgd.SGDClassifier(class_weight={0: -1.0, 1: 1.0}).fit(X, y)
    with pytest.raises(ValueError, match="class_weight must hold finite weights"):
        fastgd.SGDClassifier(class_weight={0: np.nan, 1: 1.0}).fit(X, y)
    with pytest.raises(ValueError, match="verbose must be an integer"):
        fastgd.SGDClassifier(verbose="yes please").fit(X, y)
    with pytest.raises(ValueError, match=r"tol must be None or a finite number, got inf"):
        fastgd.SGDClassifier(tol=np.inf).fit(X, y)


def test_sparsified_regressor_predicts_on_csr():
    """sparsify() makes the regressor's coef_ a 1-D sparse matrix, whose
    product with CSR rows SciPy refuses ("shape must have length in (2,)";
    scikit-learn's regressor fails the same way)."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((30, 3)), rng.standard_normal(30)
    est = fastgd.SGDRegressor(penalty="l1", alpha=0.1, random_state=0).fit(X, y)
    dense = est.predict(X)
    est.sparsify()
    np.testing.assert_allclose(est.predict(sp.csr_matrix(X)), dense, rtol=1e-12)
    np.testing.assert_allclose(est.predict(X), dense, rtol=1e-12)
