"""Sparse (CSR) input: validation, the lazy compiled CSR epoch, FTRL, parallel modes.

The CSR path is held to the dense path on the same data densified: after a
few epochs, parameters and the whole optimizer state agree to
``RTOL[dtype] * max|dense|`` (float64 1e-10, float32 1e-4). Problems are
small but really sparse (most features absent from most steps), so every
lazy catch-up mode of ``csrc/lazy.h`` is exercised, and a test checks which
mode each configuration takes.
"""
import itertools
import platform
import sys

import numpy as np
import pytest
import scipy.sparse as sp

import fastgd
import fastgd.schedules
import fastgd.solver
from fastgd.backends.cpu import _sparse
from fastgd.data import check_data, check_sparse, scaled_sample_weight
from fastgd.optim import FTRL, SGD, Adadelta, Adagrad, Adam, AdamW, RMSprop
from fastgd._multinomial import MultinomialTrainer
from fastgd.solver import Trainer, encode_binary

RTOL = {np.float64: 1e-10, np.float32: 1e-4}
DTYPES = (np.float64, np.float32)


def make_sparse(n=80, d=40, density=0.08, dtype=np.float64, seed=0, fmt="csr"):
    """Random sparse rows (some empty), a few all-zero columns, 0/1 labels."""
    rng = np.random.default_rng(seed)
    X = sp.random(n, d, density=density, format="csr", random_state=seed,
                  data_rvs=lambda k: rng.standard_normal(k)).astype(dtype)
    X = X.tolil()
    X[:, 3] = 0          # an all-zero column
    X[5, :] = 0          # an empty row
    X = X.asformat(fmt)
    w = rng.standard_normal(d)
    y = (X.toarray() @ w + 0.2 * rng.standard_normal(n) > 0).astype(float)
    return X, y


def train(X, y, epochs=3, sample_weight=None, run_kwargs=None, **kw):
    """Validate as fastgd.fit does, train a Trainer; return it."""
    trainer = Trainer(**kw)
    X = check_data(X, accept_sparse=True)
    n, d = X.shape
    if trainer.loss.is_classification:
        y, _ = encode_binary(y, n)
    sw = scaled_sample_weight(sample_weight, X)
    trainer.init_model(d, X.dtype)
    trainer.run(X, y, sw, epochs=epochs, **(run_kwargs or {}))
    return trainer


def assert_close(actual, desired, dtype, what):
    a = np.asarray(actual, dtype=np.float64)
    b = np.asarray(desired, dtype=np.float64)
    assert a.shape == b.shape
    err = float(np.max(np.abs(a - b))) if a.size else 0.0
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    assert err <= RTOL[dtype] * scale, f"{what}: {err:.3g} > {RTOL[dtype]:g} * {scale:.3g}"


# (optimizer, lazy mode without penalty, with l2, with l1)
OPTIMIZERS = {
    "sgd": (SGD(lr=0.1), "identity", "scaled", "scaled"),
    "sgd-momentum": (SGD(lr=0.05, momentum=0.9), "momentum", "momentum", "loop"),
    "sgd-nesterov": (SGD(lr=0.05, momentum=0.8, nesterov=True), "momentum", "momentum",
                     "loop"),
    "sgd-dampening": (SGD(lr=0.05, momentum=0.7, dampening=0.3), "momentum", "momentum",
                      "loop"),
    "adagrad": (Adagrad(lr=0.1, lr_decay=0.01), "identity", "adagrad_l2", "adagrad_l1"),
    "rmsprop": (RMSprop(lr=0.01), "decay", "loop", "loop"),
    "rmsprop-centered": (RMSprop(lr=0.01, centered=True), "decay", "loop", "loop"),
    "rmsprop-momentum": (RMSprop(lr=0.01, momentum=0.5, centered=True),
                         "rmsprop_momentum+trunc", "loop", "loop"),
    "adadelta": (Adadelta(lr=1.0), "decay", "loop", "loop"),
    "adam": (Adam(lr=0.05), "adam+trunc", "loop", "loop"),
    "adam-amsgrad": (Adam(lr=0.05, amsgrad=True), "adam+trunc", "loop", "loop"),
    "adamw": (AdamW(lr=0.05, weight_decay=0.0), "adam+trunc", "adam", "loop"),
}
PENALTIES = {"none": (None, 0.0), "l2": ("l2", 0.05), "l1": ("l1", 0.02),
             "elasticnet": ("elasticnet", 0.05)}

# Mini-batches over these small matrices hold many values per column, so on
# their own they would take dense steps (_sparse.STEPS "auto"): the tests of
# the lazy catch-ups force lazy steps, and the tests that take a `steps`
# parameter run both kinds against the dense loop.
BATCH_STEPS = [(1, "lazy"), (6, "lazy"), (6, "dense")]


@pytest.fixture(autouse=True)
def lazy_steps(monkeypatch):
    monkeypatch.setattr(_sparse, "STEPS", "lazy")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_size, steps", BATCH_STEPS)
@pytest.mark.parametrize("penalty", list(PENALTIES))
@pytest.mark.parametrize("opt", list(OPTIMIZERS))
def test_csr_epoch_equals_dense(monkeypatch, opt, penalty, batch_size, steps, dtype):
    monkeypatch.setattr(_sparse, "STEPS", steps)
    X, y = make_sparse(dtype=dtype)
    kind, alpha = PENALTIES[penalty]
    kw = dict(loss="log_loss", optimizer=OPTIMIZERS[opt][0], penalty=kind, alpha=alpha,
              batch_size=batch_size, random_state=3, schedule="invscaling")
    sparse = train(X, y, **kw)
    dense = train(X.toarray(), y, **kw)
    assert sparse.t == dense.t
    assert_close(sparse.params, dense.params, dtype, "params")
    assert_close(sparse.state, dense.state, dtype, "state")
    np.testing.assert_allclose(sparse.history.loss, dense.history.loss, rtol=1e-6)


@pytest.mark.parametrize("opt", list(OPTIMIZERS))
def test_lazy_mode_is_the_documented_one(opt):
    """Which catch-up lazy.h uses: closed forms where documented, not the replay."""
    optimizer, *modes = OPTIMIZERS[opt]
    X, y = make_sparse()
    for (kind, alpha), expected in zip(
            [PENALTIES["none"], PENALTIES["l2"], PENALTIES["l1"]], modes):
        tr = Trainer(loss="log_loss", optimizer=optimizer, penalty=kind, alpha=alpha,
                     batch_size=1)
        tr.init_model(X.shape[1], np.float64)
        name, trunc = _sparse.lazy_mode(tr._problem(X, y, None, 1).c_config(), 0, 10)
        assert name + ("+trunc" if trunc else "") == expected


def test_tables_hold_the_rows_their_mode_writes():
    """A CSR epoch allocates lazy_table_rows(cfg) rows of per-step tables
    (csrc/lazy.h: fgd_lazy_table_rows), not all of them: for every optimizer,
    penalty, schedule and averaging, setting the tables up (plain SGD's
    per-coordinate closed form included) writes no row beyond those, and for
    each row count allocated some configuration writes its last row (no
    slack)."""
    X, y = make_sparse()
    optimizers = {**{k: v[0] for k, v in OPTIMIZERS.items()},
                  "adamw-decay": AdamW(lr=0.05, weight_decay=0.01), "ftrl": "ftrl"}
    tight = {}
    for opt, (kind, alpha), schedule, average in itertools.product(
            optimizers.values(), PENALTIES.values(), ("constant", "invscaling"), (False, True)):
        if (opt == "ftrl" and (kind is not None or average or schedule != "constant")) or (
                isinstance(opt, AdamW) and opt.weight_decay > 0 and kind in ("l2", "elasticnet")):
            continue   # not accepted
        tr = Trainer(loss="log_loss", optimizer=opt, penalty=kind, alpha=alpha, batch_size=1,
                     schedule=schedule, average=average)
        tr.init_model(X.shape[1], np.float64)
        cfg = tr._problem(X, y, None, 1).c_config()
        rows, written = _sparse.lazy_table_rows(cfg), _sparse.lazy_rows_written(cfg, 3, 40)
        assert 5 <= written <= rows <= _sparse.N_TABLES_ALL, (opt, kind, schedule, average)
        tight[rows] = tight.get(rows, False) or written == rows
    # 24: momentum's spans and Adam's five-term tables (csrc/lazy.h)
    assert tight == {5: True, 7: True, 9: True, 12: True, 24: True}, tight


def test_scaled_sgd_folds_the_scale_and_falls_back():
    """Strong L2: the weight scale underflows its bound and is folded back
    many times per epoch; lr * l2 >= 1 (no positive scale) replays instead."""
    X, y = make_sparse(n=200, d=30, density=0.1)
    for lr, alpha, mode in [(0.5, 0.5, "scaled"), (0.9, 1.5, "loop")]:
        kw = dict(loss="squared_error", optimizer=SGD(lr=lr), penalty="elasticnet",
                  alpha=alpha / 0.85, l1_ratio=0.15, batch_size=1, random_state=0)
        tr = Trainer(**kw)
        tr.init_model(30, np.float64)
        assert _sparse.lazy_mode(tr._problem(X, y, None, 1).c_config(), 0, 10)[0] == mode
        yy = y * 0.1
        sparse = train(X, yy, epochs=2, **kw)
        dense = train(X.toarray(), yy, epochs=2, **kw)
        assert_close(sparse.params, dense.params, np.float64, f"params lr={lr}")


def test_truncated_catch_up_error_bound():
    """No penalty, long gaps between touches: Adam's closed form (lazy mode
    ADAM, amsgrad too) and the truncated replay where it refuses each leave
    out at most FGD_LAZY_RTOL (1e-12) * |w| per catch-up; RMSprop momentum's
    closed form is exact."""
    rng = np.random.default_rng(1)
    n, d = 400, 200
    X = sp.random(n, d, density=0.01, format="csr", random_state=1)   # ~100 steps between touches
    y = rng.standard_normal(n)
    for opt in (Adam(lr=0.2, betas=(0.5, 0.9)), Adam(lr=0.2, betas=(0.5, 0.9), amsgrad=True),
                RMSprop(lr=0.05, momentum=0.5)):
        kw = dict(loss="squared_error", optimizer=opt, penalty=None, batch_size=1,
                  random_state=0)
        sparse = train(X, y, epochs=2, **kw)
        dense = train(X.toarray(), y, epochs=2, **kw)
        n_touches = 2 * X.nnz
        # every coordinate's error is at most n_touches * 1e-12 * max|w| (plus rounding)
        err = np.max(np.abs(sparse.params - dense.params))
        assert err <= (n_touches * 1e-12 + 1e-13) * np.max(np.abs(dense.params))
        assert_close(sparse.state, dense.state, np.float64, "state")


@pytest.mark.parametrize("optimizer, penalty", [
    (Adam(lr=0.05), "l2"),                                  # LOOP
    (SGD(lr=0.05, momentum=0.9, nesterov=True), "l2"),     # MOMENTUM
    (Adam(lr=0.05), None),                                  # ADAM
    (AdamW(lr=0.05, weight_decay=0.05), None),              # ADAM with decay
    (RMSprop(lr=0.01, momentum=0.8), None),                 # RMSPROP_MOMENTUM
])
@pytest.mark.parametrize("steps", ["lazy", "dense"])
def test_chunked_epoch_and_continued_training_equal_one_run(monkeypatch, optimizer, penalty,
                                                            steps):
    """Epochs cut into chunks (each with its own tables, from step t0 > 0) and
    training continued over two calls equal one uninterrupted run."""
    monkeypatch.setattr(_sparse, "STEPS", steps)
    X, y = make_sparse(n=90)
    kw = dict(loss="hinge", optimizer=optimizer, penalty=penalty,
              alpha=0.01 if penalty else 0.0, batch_size=4, random_state=0)
    whole = train(X, y, epochs=2, **kw)
    chunked = Trainer(**kw)
    chunked.chunk_rows = 12
    Xc = check_data(X, accept_sparse=True)
    chunked.init_model(X.shape[1], np.float64)
    yy, _ = encode_binary(y, X.shape[0])
    chunked.run(Xc, yy, None, epochs=1)
    chunked.run(Xc, yy, None, epochs=1)     # continues: step counter, state
    assert chunked.t == whole.t
    assert_close(chunked.params, whole.params, np.float64, "params")
    assert_close(chunked.state, whole.state, np.float64, "state")


@pytest.mark.parametrize("steps", ["lazy", "dense"])
def test_sample_weights_and_zero_weight_batches(monkeypatch, steps):
    monkeypatch.setattr(_sparse, "STEPS", steps)
    X, y = make_sparse(n=60)
    sw = np.ones(60)
    sw[:12] = 0.0        # with batch_size=4 and no shuffle: 3 batches take no step
    sw[20:30] = 3.0
    kw = dict(loss="log_loss", optimizer=RMSprop(lr=0.01), penalty="l2", alpha=0.01,
              batch_size=4, shuffle=False)
    sparse = train(X, y, sample_weight=sw, **kw)
    dense = train(X.toarray(), y, sample_weight=sw, **kw)
    assert sparse.t == dense.t == 3 * (15 - 3)
    assert_close(sparse.params, dense.params, np.float64, "params")
    assert_close(sparse.state, dense.state, np.float64, "state")


# ---- input handling --------------------------------------------------------

@pytest.mark.parametrize("container", [sp.csr_matrix, sp.csr_array])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_canonical_csr_is_used_without_copy(container, dtype, index_dtype):
    X, y = make_sparse(dtype=dtype)
    X = container(X)
    # set after construction: scipy's constructor would choose the index dtype itself
    X.indices = X.indices.astype(index_dtype)
    X.indptr = X.indptr.astype(index_dtype)
    assert X.indices.dtype == index_dtype
    checked = check_sparse(X)
    assert checked is X
    res = fastgd.fit(X, y, loss="log_loss", optimizer="adam", lr=0.05, epochs=2,
                     random_state=0, penalty="elasticnet", alpha=0.01)
    ref = fastgd.fit(X.toarray(), y, loss="log_loss", optimizer="adam", lr=0.05, epochs=2,
                     random_state=0, penalty="elasticnet", alpha=0.01)
    assert res.coef_.dtype == dtype
    assert_close(res.coef_, ref.coef_, dtype, "coef")
    np.testing.assert_allclose(res.decision_function(X), ref.decision_function(X.toarray()),
                               rtol=RTOL[dtype], atol=RTOL[dtype])


@pytest.mark.parametrize("fmt", ["coo", "csc", "lil", "dok"])
def test_other_formats_are_converted_once(fmt):
    X, y = make_sparse(fmt=fmt)
    before = X.copy()
    res = fastgd.fit(X, y, loss="log_loss", epochs=2, random_state=0, lr=0.1)
    ref = fastgd.fit(X.toarray(), y, loss="log_loss", epochs=2, random_state=0, lr=0.1)
    assert_close(res.coef_, ref.coef_, np.float64, "coef")
    assert (X != before).nnz == 0 and X.format == fmt


def test_unsorted_and_duplicate_indices_are_canonicalized_on_a_copy():
    # row 0: columns 4, 1, 4 (unsorted, 4 repeated: its value is the sum)
    data = np.array([1.0, 2.0, 0.5, 3.0])
    indices = np.array([4, 1, 4, 0], dtype=np.int32)
    indptr = np.array([0, 3, 3, 4], dtype=np.int32)
    X = sp.csr_matrix((data, indices, indptr), shape=(3, 5))
    saved = (X.data.copy(), X.indices.copy())
    C = check_sparse(X)
    assert C is not X
    np.testing.assert_array_equal(C.indices, [1, 4, 0])
    np.testing.assert_array_equal(C.data, [2.0, 1.5, 3.0])
    np.testing.assert_array_equal(X.data, saved[0])
    np.testing.assert_array_equal(X.indices, saved[1])
    y = np.array([1.0, -1.0, 0.5])
    res = fastgd.fit(X, y, epochs=3, batch_size=1, lr=0.1, random_state=0, alpha=0.1)
    ref = fastgd.fit(X.toarray(), y, epochs=3, batch_size=1, lr=0.1, random_state=0, alpha=0.1)
    assert_close(res.coef_, ref.coef_, np.float64, "coef")


def test_explicit_zeros_empty_rows_and_zero_columns():
    X, y = make_sparse()
    X = X.copy()
    X.data[::3] = 0.0                      # explicit zeros stay stored
    assert np.sum(X.data == 0) > 0
    res = fastgd.fit(X, y, loss="log_loss", optimizer="adagrad", epochs=3, random_state=0,
                     penalty="l1", alpha=0.01)
    ref = fastgd.fit(X.toarray(), y, loss="log_loss", optimizer="adagrad", epochs=3,
                     random_state=0, penalty="l1", alpha=0.01)
    assert_close(res.coef_, ref.coef_, np.float64, "coef")
    assert res.coef_[3] == 0.0             # the all-zero column never moves from 0


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_values_are_refused(bad):
    X, y = make_sparse()
    X = X.copy()
    X.data[7] = bad
    with pytest.raises(ValueError, match="NaN or infinity"):
        fastgd.fit(X, y)


def test_integer_values_become_float64_and_complex_is_refused():
    X, y = make_sparse()
    Xi = (X * 10).astype(np.int64)
    assert check_sparse(Xi).dtype == np.float64
    with pytest.raises(ValueError):
        check_sparse(X.astype(np.complex128))


def test_n_features_mismatch_in_decision_function():
    X, y = make_sparse(d=40)
    res = fastgd.fit(X, y, epochs=1)
    with pytest.raises(ValueError, match="40"):
        res.decision_function(sp.random(3, 39, density=0.5, format="csr"))


def test_reference_backend_handles_csr():
    X, y = make_sparse()
    kw = dict(loss="modified_huber", optimizer="rmsprop", lr=0.01, epochs=2, random_state=0,
              penalty="elasticnet", alpha=0.01, batch_size=5)
    ref_sparse = fastgd.fit(X, y, backend="reference", **kw)
    ref_dense = fastgd.fit(X.toarray(), y, backend="reference", **kw)
    cpu_sparse = fastgd.fit(X, y, **kw)
    assert_close(ref_sparse.coef_, ref_dense.coef_, np.float64, "reference")
    assert_close(cpu_sparse.coef_, ref_sparse.coef_, np.float64, "cpu vs reference")


def test_invalid_structure_is_refused():
    X, y = make_sparse()
    bad = sp.csr_matrix(X)
    bad.indices = bad.indices.copy()
    bad.indices[0] = X.shape[1] + 5          # out of range, bypassing scipy's checks
    with pytest.raises(ValueError, match="out of range"):
        _sparse.check_structure(bad.indices, bad.indptr, X.shape[1])


def _broken_matrices():
    """CSR/CSC/COO matrices whose index arrays do not fit their shape, built
    from raw arrays as SciPy allows without checking, with the message each
    must raise."""
    data = np.array([1.0, 2.0, 3.0])
    yield (sp.csr_matrix((data, np.array([0, 2, 10**9]), np.array([0, 2, 3])), shape=(2, 3)),
           "column index 1000000000 is out of range")
    yield (sp.csr_matrix((data, np.array([0, -1, 1]), np.array([0, 2, 3])), shape=(2, 3)),
           "column index -1 is out of range")
    yield (sp.csr_matrix((data, np.array([0, 1, 2]), np.array([0, 3, 1])), shape=(2, 3)),
           "indptr decreases at row 1")
    yield (sp.csc_matrix((data[:2], np.array([0, 7]), np.array([0, 1, 2, 2])), shape=(2, 3)),
           "row index 7 is out of range")
    coo = sp.coo_matrix((data[:2], (np.array([0, 1]), np.array([0, 1]))), shape=(2, 3))
    coo.col = np.array([0, 5], dtype=coo.col.dtype)
    yield coo, "column index 5 is out of range"


@pytest.mark.parametrize("entry", ["fit", "fit_result.predict", "SGDClassifier.fit",
                                   "SGDClassifier.partial_fit", "SGDClassifier.predict",
                                   "SGDClassifier.predict_proba", "multinomial.fit",
                                   "SGDRegressor.fit", "SGDRegressor.predict"])
def test_index_arrays_that_do_not_fit_the_shape_are_refused(entry):
    # SciPy's products and conversions would read out of bounds with them (a
    # crash, or garbage): every entry point checks first, naming the problem
    good = sp.csr_matrix(np.eye(3)[:2])
    y = np.array([0.0, 1.0])
    fitted = {"fit_result": lambda: fastgd.fit(good, y),
              "SGDClassifier": lambda: fastgd.SGDClassifier(loss="log_loss").fit(good, y),
              "SGDRegressor": lambda: fastgd.SGDRegressor().fit(good, y)}
    owner, method = entry.split(".") if "." in entry else (entry, None)
    for X, message in _broken_matrices():
        before = [a.copy() for a in (X.data, getattr(X, "indices", X.data),
                                     getattr(X, "indptr", X.data))]
        with pytest.raises(ValueError, match=message):
            if entry == "fit":
                fastgd.fit(X, y)
            elif entry == "multinomial.fit":
                fastgd.SGDClassifier(loss="log_loss", multi_class="multinomial").fit(
                    X, np.array([0, 1]))
            elif method in ("fit", "partial_fit"):
                est = fastgd.SGDClassifier() if owner == "SGDClassifier" else fastgd.SGDRegressor()
                kw = {"classes": [0.0, 1.0]} if method == "partial_fit" else {}
                getattr(est, method)(X, y, **kw)
            else:
                getattr(fitted[owner](), method)(X)
        after = (X.data, getattr(X, "indices", X.data), getattr(X, "indptr", X.data))
        assert all(np.array_equal(a, b) for a, b in zip(before, after))


def test_sparse_input_with_no_columns_is_refused():
    with pytest.raises(ValueError, match="0 feature"):
        fastgd.fit(sp.csr_matrix((20, 0)), np.arange(20.0))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_size, steps", BATCH_STEPS)
@pytest.mark.parametrize("penalty", list(PENALTIES))
@pytest.mark.parametrize("opt", list(OPTIMIZERS))
def test_averaged_csr_equals_dense(monkeypatch, opt, penalty, batch_size, steps, dtype):
    """The averaged iterate: the lazy sums of lazy.h (or the dense steps' running
    mean) against the dense mean, step by step."""
    monkeypatch.setattr(_sparse, "STEPS", steps)
    X, y = make_sparse(dtype=dtype)
    kind, alpha = PENALTIES[penalty]
    kw = dict(loss="log_loss", optimizer=OPTIMIZERS[opt][0], penalty=kind, alpha=alpha,
              batch_size=batch_size, random_state=3, schedule="invscaling",
              average=True if batch_size == 1 else 37)   # from the start, or mid-run
    sparse = train(X, y, **kw)
    dense = train(X.toarray(), y, **kw)
    assert not np.array_equal(dense.avg, dense.params)   # averaging did something
    assert_close(sparse.avg, dense.avg, dtype, "avg")
    assert_close(sparse.params, dense.params, dtype, "params")


@pytest.mark.parametrize("direct", [True, False])
@pytest.mark.parametrize("penalty", ["l2", "elasticnet"])
def test_averaged_plain_sgd_long_gaps_and_chunks(monkeypatch, penalty, direct):
    """Plain SGD's closed-form sums over long gaps (2% density: most columns
    skip dozens of steps, past the direct-summing cut-off), over chunked epochs
    and the 'optimal' schedule; short gaps (direct) against the dense loop too."""
    X, y = _data(n=600, d=300) if not direct else make_sparse()
    kw = dict(loss="hinge", optimizer=SGD(lr=0.1), penalty=penalty, alpha=1e-3,
              batch_size=1, random_state=0, schedule="optimal", average=50)
    dense = train(X.toarray(), y, **kw)
    whole = train(X, y, **kw)
    monkeypatch.setattr(Trainer, "chunk_rows", 70)
    chunked = train(X, y, **kw)
    assert_close(whole.avg, dense.avg, np.float64, "avg")
    assert_close(chunked.avg, dense.avg, np.float64, "avg, chunked")


@pytest.mark.parametrize("penalty", ["l2", "elasticnet"])
def test_averaged_sgd_when_the_scale_collapses(penalty):
    # prod(1 - lr l2) = 0.5^n: with L2 the fused loop folds its weight scale
    # (and the sums of Xu's trick) again and again; with L1 too the general
    # loop's per-coordinate closed form is out of range and it replays the
    # skipped steps instead. Both exact.
    X, y = make_sparse(n=1500)
    kw = dict(loss="squared_error", optimizer=SGD(lr=0.5), penalty=penalty, alpha=1.0,
              l1_ratio=0.01, batch_size=1, random_state=0, average=True)
    sparse = train(X, y * 0.1, **kw)
    dense = train(X.toarray(), y * 0.1, **kw)
    assert_close(sparse.avg, dense.avg, np.float64, "avg")


def test_averaged_sgd_on_csr_through_the_estimator():
    X, y = make_sparse(n=200)
    kw = dict(loss="log_loss", average=True, random_state=0, max_iter=5, tol=None)
    sparse = fastgd.SGDClassifier(**kw).fit(X, y)
    dense = fastgd.SGDClassifier(**kw).fit(X.toarray(), y)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(sparse.intercept_, dense.intercept_, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(sparse.predict(X), dense.predict(X.toarray()))


def test_averaging_with_hogwild_is_refused():
    X, y = make_sparse()
    with pytest.raises(ValueError, match="hogwild=True cannot keep an averaged iterate"):
        fastgd.fit(X, y, average=True, hogwild=True, batch_size=1, n_jobs=2, epochs=1)


# ---- FTRL-Proximal -----------------------------------------------------------

def test_ftrl_rule_first_step_matches_the_paper():
    from fastgd.optim import FTRL
    opt = FTRL(lr=0.5, beta=1.0, l1=0.3, l2=0.2)
    g = np.array([2.0, -0.1, -1.0])
    s = np.zeros((3, 3))
    w, eta = opt.rule(np.zeros(3), g, s, 0.5, 1)
    # n = g^2, sigma = |g| / alpha, z = g; w = -(z - sign(z) l1) / ((beta + |g|) / alpha + l2)
    expected = np.where(np.abs(g) <= 0.3, 0.0,
                        -(g - np.sign(g) * 0.3) / ((1.0 + np.abs(g)) / 0.5 + 0.2))
    np.testing.assert_allclose(w, expected, rtol=1e-15)
    assert w[1] == 0.0
    np.testing.assert_allclose(s[0], g)
    np.testing.assert_allclose(s[1], g * g)
    np.testing.assert_allclose(eta, 0.5 / (1.0 + np.abs(g)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_size, steps", [(1, "lazy"), (8, "lazy"), (8, "dense")])
@pytest.mark.parametrize("l1", [0.0, 1.0])
@pytest.mark.parametrize("halved", [False, True])
def test_ftrl_dense_csr_and_reference_agree(monkeypatch, dtype, batch_size, steps, l1,
                                            halved):
    """FTRL (a constant step size) on dense and CSR rows equals the
    reference; ``halved``: a third epoch after the step size is halved, as
    divergence backoff does (the only change of FTRL's step size)."""
    from fastgd.optim import FTRL
    monkeypatch.setattr(_sparse, "STEPS", steps)
    X, y = make_sparse(n=120, d=50, dtype=dtype)
    kw = dict(loss="log_loss", optimizer=FTRL(lr=0.2, beta=1.0, l1=l1, l2=0.5), penalty=None,
              batch_size=batch_size, random_state=2)

    def fit(X, **more):
        tr = train(X, y, epochs=2, **kw, **more)
        if halved:
            tr.lr /= 2.0
        tr.run(check_data(X, accept_sparse=True), encode_binary(y, X.shape[0])[0], epochs=1)
        return tr
    ref = fit(X, backend="reference")
    dense = fit(X.toarray())
    csr = fit(X)
    for tr, what in [(dense, "dense"), (csr, "csr")]:
        assert_close(tr.params, ref.params, dtype, what)
        assert_close(tr.state, ref.state, dtype, what + " state")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("l1", [0.0, 1.0])
@pytest.mark.parametrize("chunk_rows", [None, 20])
def test_ftrl_csr_run_that_starts_at_a_new_step_size(monkeypatch, dtype, l1, chunk_rows):
    """FTRL's fused CSR rows (csr_ftrl_rows: batch 1, a step size constant
    over the run) bring every column's w to the run's step size: after the
    first row's step, whose margin and update read the weights of the step
    before, as the dense step does. Here the step size halves at step 80,
    the start of the second epoch (as divergence backoff halves it; in
    chunks of 20 rows, a chunk starts there too). Before the fix the CSR
    model was 1e-2 off."""
    from fastgd.optim import FTRL

    monkeypatch.setattr(Trainer, "chunk_rows", chunk_rows)
    X, y = make_sparse(n=80, d=40, dtype=dtype)
    kw = dict(loss="log_loss", optimizer=FTRL(lr=0.1, l1=l1), penalty=None, batch_size=1,
              shuffle=False, random_state=0)

    def fit(X, **more):
        tr = train(X, y, epochs=1, **kw, **more)
        tr.lr /= 2.0
        tr.run(check_data(X, accept_sparse=True), encode_binary(y, X.shape[0])[0], epochs=1)
        return tr
    ref = fit(X.toarray(), backend="reference")
    csr = fit(X)
    assert ref.history.lr[0] != ref.history.lr[1]
    assert_close(csr.params, ref.params, dtype, "csr")
    assert_close(csr.state, ref.state, dtype, "csr state")


def test_ftrl_exact_zeros():
    X, y = make_sparse(n=200, d=60)
    res = fastgd.fit(X, y, loss="log_loss", optimizer="ftrl", lr=0.3, penalty=None,
                     batch_size=1, epochs=3, random_state=0)
    sparse_res = fastgd.fit(X, y, loss="log_loss",
                            optimizer=fastgd.optim.FTRL(lr=0.3, l1=2.0), penalty=None,
                            batch_size=1, epochs=3, random_state=0)
    z = sparse_res.optimizer_state_["z"]
    zeros = sparse_res.coef_ == 0.0
    # exactly the coordinates with |z| <= l1 are zero, and L1 makes many of them
    np.testing.assert_array_equal(zeros, np.abs(z) <= 2.0)
    assert zeros.sum() >= np.sum(res.coef_ == 0.0) + 8


@pytest.mark.parametrize("schedule", ["invscaling", "adaptive", "cosine",
                                      fastgd.schedules.Constant(warmup_steps=5)])
def test_ftrl_refuses_a_step_size_that_varies(schedule):
    """FTRL's weights scale with lr itself (w = -z / (sqrt(n) / lr + ...)), so
    a schedule lowering lr shrank the whole model at each change (an
    adaptive run's loss rose from 0.005 to 7). Such schedules are refused,
    and the estimators' default schedule for FTRL is constant: it recovers
    the true weights."""
    X, y = make_sparse()
    with pytest.raises(ValueError, match="FTRL takes a constant step size"):
        fastgd.fit(X, y, loss="log_loss", optimizer="ftrl", penalty=None, schedule=schedule)
    rng = np.random.default_rng(0)
    Xd = rng.standard_normal((2000, 3))
    yd = Xd @ np.array([1.0, 2.0, 3.0])
    est = fastgd.SGDRegressor(optimizer=fastgd.optim.FTRL(lr=0.5), alpha=0.0, penalty=None,
                              random_state=0, max_iter=20).fit(Xd, yd)
    np.testing.assert_allclose(est.coef_, [1.0, 2.0, 3.0], atol=0.05)
    with pytest.raises(ValueError, match="FTRL takes a constant step size"):
        est.set_params(learning_rate="invscaling").partial_fit(Xd, yd)


def test_ftrl_refuses_a_second_penalty():
    X, y = make_sparse()
    with pytest.raises(ValueError, match="own l1/l2"):
        fastgd.fit(X, y, loss="log_loss", optimizer="ftrl", alpha=0.1)


# ---- dense steps: mini-batches that touch most columns -----------------------

def _cfg(X, y, **kw):
    tr = Trainer(**dict(dict(loss="log_loss"), **kw))
    tr.init_model(X.shape[1], X.dtype)
    return tr._problem(check_data(X, accept_sparse=True), encode_binary(y, X.shape[0])[0],
                       None, 1).c_config()


@pytest.mark.parametrize("kw, lazy_below, dense_at", [
    (dict(optimizer=SGD(lr=0.1), penalty="l2", alpha=1e-3), 0.5, 1.5),    # fused loop
    (dict(optimizer=SGD(lr=0.1), penalty="l1", alpha=1e-3), 0.05, 0.2),    # SCALED + L1
    (dict(optimizer=Adagrad(lr=0.1), penalty=None), 0.05, 0.2),            # IDENTITY
    (dict(optimizer=Adam(lr=0.01), penalty=None), 0.01, 0.05),             # ADAM
    (dict(optimizer=RMSprop(lr=0.01), penalty=None), 0.04, 0.08),          # DECAY
    (dict(optimizer=RMSprop(lr=0.01, momentum=0.9), penalty=None), 0.08, 0.12),  # RMSPROP_MOMENTUM
    (dict(optimizer=Adam(lr=0.01), penalty="l2", alpha=1e-3), None, 1e-4),  # LOOP
])
def test_dense_steps_follow_each_modes_crossover(monkeypatch, kw, lazy_below, dense_at):
    monkeypatch.setattr(_sparse, "STEPS", "auto")
    X, y = make_sparse()
    cfg = _cfg(X, y, batch_size=8, **kw)
    assert _sparse.dense_steps(cfg, 0, dense_at)
    if lazy_below is not None:
        assert not _sparse.dense_steps(cfg, 0, lazy_below)
    cfg1 = _cfg(X, y, batch_size=1, **kw)   # batch size 1: never
    assert not _sparse.dense_steps(cfg1, 0, 100.0)
    monkeypatch.setattr(_sparse, "STEPS", "lazy")
    assert not _sparse.dense_steps(cfg, 0, 100.0)
    monkeypatch.setattr(_sparse, "STEPS", "dense")
    assert _sparse.dense_steps(cfg, 0, 0.0) and not _sparse.dense_steps(cfg1, 0, 0.0)


@pytest.mark.parametrize("batch_size", [2, 64])
def test_auto_steps_run_the_chosen_kind(monkeypatch, batch_size):
    """With STEPS "auto" an epoch is, bit for bit, the forced kind that
    dense_steps names for its fill (Adagrad with L2: lazy below 0.025). The
    averaged iterate tells them apart: lazy steps keep sums, dense ones a mean."""
    X, y = make_sparse(n=200, d=400, density=0.01)     # 4 values per row
    kw = dict(loss="log_loss", optimizer=Adagrad(lr=0.1), penalty="l2", alpha=1e-3,
              batch_size=batch_size, random_state=0, average=True)
    fill = _sparse.batch_fill(batch_size, X.nnz, X.shape[0], X.shape[1])
    monkeypatch.setattr(_sparse, "STEPS", "auto")
    expect = "dense" if _sparse.dense_steps(_cfg(X, y, **kw), 0, fill) else "lazy"
    assert expect == ("dense" if batch_size == 64 else "lazy")
    auto = train(X, y, **kw)
    monkeypatch.setattr(_sparse, "STEPS", expect)
    forced = train(X, y, **kw)
    monkeypatch.setattr(_sparse, "STEPS", "lazy" if expect == "dense" else "dense")
    other = train(X, y, **kw)
    np.testing.assert_array_equal(auto.avg, forced.avg)
    assert not np.array_equal(auto.avg, other.avg)   # the kinds round differently
    assert_close(auto.avg, other.avg, np.float64, "dense vs lazy steps")


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_dense_steps_stop_on_overflow_and_leave_their_buffers_zero(monkeypatch,
                                                                    parallel_batches, n_jobs):
    """A non-finite margin stops the epoch (DivergenceError, model restored);
    the reused gradient buffers are zero again, so the next epoch is exact."""
    monkeypatch.setattr(_sparse, "STEPS", "dense")
    X, y = _data(n=200, d=50)
    Xbad = X.copy()
    Xbad.data[Xbad.indptr[150]:] *= 1e200
    kw = dict(loss="log_loss", optimizer=SGD(lr=0.1), batch_size=16, n_jobs=n_jobs,
              random_state=0, shuffle=False)
    tr = train(X, y, epochs=1, **kw)
    with pytest.raises(fastgd.solver.DivergenceError):
        tr.run(check_data(Xbad, accept_sparse=True), encode_binary(y, 200)[0], None, epochs=1)
    tr.run(check_data(X, accept_sparse=True), encode_binary(y, 200)[0], None, epochs=1)
    ref = train(X, y, epochs=2, **kw)
    np.testing.assert_array_equal(tr.params, ref.params)


# ---- threads: deterministic mini-batches, Hogwild! ----------------------------

PARALLEL_CASES = [
    (SGD(lr=0.1), "elasticnet", 1e-3),          # per-coordinate closed form (SGD_CLOSED)
    (SGD(lr=0.05, momentum=0.9), "l2", 1e-3),     # MOMENTUM
    (Adam(lr=0.01), None, 0.0),                    # ADAM
    (AdamW(lr=0.01, weight_decay=0.01), None, 0.0),
    (RMSprop(lr=0.01, momentum=0.5), None, 0.0),   # RMSPROP_MOMENTUM
    (RMSprop(lr=0.01), "l1", 1e-3),
]


@pytest.fixture
def parallel_batches(monkeypatch):
    """Let small test batches use two threads (the default needs more work)."""
    monkeypatch.setattr(fastgd.solver, "MIN_WORK_PER_THREAD", 1)


def _data(n=600, d=300, seed=0):
    X = sp.random(n, d, density=0.02, format="csr", random_state=seed)
    rng = np.random.default_rng(seed)
    y = (X @ rng.standard_normal(d) + 0.1 * rng.standard_normal(n) > 0).astype(float)
    return X, y


@pytest.mark.parametrize("steps", ["lazy", "dense"])
@pytest.mark.parametrize("opt,penalty,alpha", PARALLEL_CASES)
def test_parallel_minibatches_are_deterministic_and_equal_serial(monkeypatch,
                                                                  parallel_batches, opt,
                                                                  penalty, alpha, steps):
    monkeypatch.setattr(_sparse, "STEPS", steps)
    X, y = _data()
    kw = dict(loss="log_loss", optimizer=opt, penalty=penalty, alpha=alpha, batch_size=16,
              random_state=0)
    one = train(X, y, n_jobs=1, **kw)
    two = train(X, y, n_jobs=2, **kw)
    again = train(X, y, n_jobs=2, **kw)
    dense = train(X.toarray(), y, n_jobs=1, **kw)
    np.testing.assert_array_equal(two.params, again.params)     # same threads: same bits
    np.testing.assert_array_equal(two.state, again.state)
    assert_close(two.params, one.params, np.float64, "2 threads vs 1")
    assert_close(two.params, dense.params, np.float64, "2 threads vs dense")
    assert_close(two.state, dense.state, np.float64, "state")
    # averaged SGD keeps its sums in the same two threads
    kw["average"] = 20
    two = train(X, y, n_jobs=2, **kw)
    again = train(X, y, n_jobs=2, **kw)
    dense = train(X.toarray(), y, n_jobs=1, **kw)
    np.testing.assert_array_equal(two.avg, again.avg)
    assert_close(two.avg, dense.avg, np.float64, "avg, 2 threads vs dense")


def test_parallel_closed_form_out_of_range_falls_back_to_serial(parallel_batches):
    # prod(1 - lr l2) = 0.5^1000 over the epoch is out of the closed form's range
    # (lazy.h: log-prefix below -600): the epoch runs on one thread instead
    # (the Trainer keeps plain SGD mini-batches on one thread: the core is
    # asked for two threads directly)
    import dataclasses

    from fastgd.backends.cpu._csr import run_epoch_csr

    X, y = _data(n=2000)
    tr = Trainer(loss="squared_error", optimizer=SGD(lr=0.5), penalty="l2", alpha=1.0,
                 batch_size=2)
    tr.init_model(X.shape[1], np.float64)
    problem = tr._problem(X, y * 0.1, None, 1)
    results = []
    for threads in (1, 2):
        params, state = tr.params.copy(), tr.state.copy()
        gsum = np.zeros_like(params)
        stats = run_epoch_csr(dataclasses.replace(problem, n_threads=threads), params, state,
                              None, 0, gsum)
        assert stats.n_steps == 1000
        results.append(params)
    np.testing.assert_array_equal(results[0], results[1])


@pytest.mark.parametrize("opt,penalty,alpha", PARALLEL_CASES + [
    (fastgd.optim.FTRL(lr=0.1, l1=0.5), None, 0.0)])
def test_hogwild_reaches_a_comparable_loss(opt, penalty, alpha):
    X, y = _data(n=2000, d=500)
    kw = dict(loss="log_loss", optimizer=opt, penalty=penalty, alpha=alpha, batch_size=1,
              random_state=0, epochs=3)
    serial = fastgd.fit(X, y, n_jobs=1, **kw)
    hog = fastgd.fit(X, y, n_jobs=2, hogwild=True, **kw)
    assert np.all(np.isfinite(hog.coef_))
    assert abs(hog.history.loss[-1] - serial.history.loss[-1]) <= 0.1 * serial.history.loss[-1]
    assert hog.t_ == serial.t_


@pytest.mark.parametrize("opt,mrow,vrow", [
    (Adam(lr=0.01), 0, 1), (AdamW(lr=0.01, weight_decay=0.01), 0, 1),
    (Adam(lr=0.01, amsgrad=True), 0, 1), (RMSprop(lr=0.01, centered=True), 1, 0)])
def test_hogwild_repairs_a_torn_moment_pair(opt, mrow, vrow):
    """A Hogwild! thread can read a coordinate's first moment as another
    thread has just written it and its second moment as it was (at the
    coordinate's first step, 0): Adam would step by lr m / eps, centered
    RMSprop take the root of a negative number. Planted in the state, such a
    pair is brought back to the bound the serial iterates keep (|m| <= K
    sqrt(v); grad_avg^2 <= square_avg) before it is used."""
    X, y = _data(n=200, d=40)
    tr = Trainer(loss="log_loss", optimizer=opt, penalty=None, batch_size=1, n_jobs=2,
                 hogwild=True, random_state=0)
    tr.init_model(40, np.float64)
    tr.state[mrow, :40] = 1.0   # first moments as if written...
    tr.state[vrow, :40] = 0.0   # ...with their second moments still zero
    tr.run(X, y, epochs=1)
    # the serial steps of a fresh model move a weight by at most a few lr
    # per step; a torn pair used as read moves it by lr / eps = 1e6
    assert np.all(np.abs(tr.params) < 0.01 * 200 * 10)
    assert np.all(np.isfinite(tr.state))


def _disjoint_thread_rows(n=400, d=60):
    """Rows at even positions on the first half of the columns, odd ones on
    the second: in row order two Hogwild! threads (positions k, k + 2, ...)
    never touch each other's coordinates. +-1 labels."""
    rng = np.random.default_rng(0)
    rows = [np.sort(rng.choice(d // 2, size=5, replace=False)) + d // 2 * (i % 2)
            for i in range(n)]
    X = sp.csr_matrix((rng.standard_normal(5 * n), np.concatenate(rows),
                       np.arange(n + 1) * 5), shape=(n, d))
    return X, np.where(rng.standard_normal(n) > 0, 1.0, -1.0)


@pytest.mark.parametrize("schedule,lr", [("optimal", None), ("constant", 0.05),
                                         ("invscaling", 0.5)])
def test_hogwild_plain_sgd_with_disjoint_threads_equals_serial(schedule, lr):
    """Plain SGD with L2 (csr_hogwild_scaled: w = E[r] v by position). Rows at
    even positions use the first half of the columns, odd ones the second,
    no intercept: each thread (positions k, k + 2, ...) owns its coordinates,
    so no update is lost or seen half-done, and the result is the serial one
    whatever the interleaving."""
    X, y = _disjoint_thread_rows()
    kw = dict(loss="log_loss", optimizer="sgd", lr=lr, schedule=schedule, penalty="l2",
              alpha=0.01, batch_size=1, shuffle=False, fit_intercept=False, random_state=0)
    serial = train(X, y, n_jobs=1, **kw)
    hog = train(X, y, n_jobs=2, hogwild=True, **kw)
    assert_close(hog.params, serial.params, np.float64, "hogwild vs serial")
    np.testing.assert_allclose(hog.history.loss, serial.history.loss, rtol=1e-10)
    np.testing.assert_allclose(hog.history.grad_norm, serial.history.grad_norm, rtol=1e-8)


@pytest.mark.parametrize("penalty", ["l2", "elasticnet"])   # csr_hogwild_scaled, _sgd
def test_hogwild_keeps_every_intercept_step(penalty):
    """Every row writes the intercept: Hogwild! for plain SGD keeps each thread's
    steps and adds them to the shared intercept every few rows, atomically,
    so none is lost to the other thread's write. With hinge loss and every
    margin y p below 1 throughout, each step moves the intercept by exactly
    y lr, so each epoch adds lr sum(y)."""
    rng = np.random.default_rng(0)
    n, d = 4000, 200
    X = sp.random(n, d, density=0.02, random_state=0, format="csr")
    y = np.where(rng.random(n) < 0.75, 1.0, -1.0)
    kw = dict(loss="hinge", optimizer="sgd", lr=1e-4, schedule="constant", penalty=penalty,
              alpha=1e-6, batch_size=1, random_state=0)
    for n_jobs, hogwild in ((1, False), (2, True)):
        tr = train(X, y, epochs=3, n_jobs=n_jobs, hogwild=hogwild, **kw)
        assert tr.params[-1] == pytest.approx(3 * 1e-4 * y.sum(), rel=1e-9)
        assert np.max(np.abs(X @ tr.params[:-1] + tr.params[-1])) < 1.0   # so were all margins


@pytest.mark.parametrize("optimizer,accumulator", [
    (Adagrad(lr=1e-4), 0), (FTRL(lr=1e-4), 1), (RMSprop(lr=2e-5), None), (Adam(lr=2e-5), None),
    (Adadelta(lr=1e-4), None), (SGD(lr=1e-5, momentum=0.9), None)])
def test_hogwild_stateful_intercept_keeps_every_step(optimizer, accumulator):
    """Under a stateful optimizer every Hogwild! row steps the intercept and
    its state under a lock (hog_box): unlocked, two threads lost about half
    of those steps (Adagrad's sum counted 6,224 of 12,000). Hinge loss with
    every margin below 1 gives each step the gradient -y, so the squared
    gradients Adagrad and FTRL sum add up to exactly the number of steps, and
    the intercept differs from the serial one by the order of the steps only."""
    rng = np.random.default_rng(0)
    n, d = 4000, 200
    X = sp.random(n, d, density=0.02, random_state=0, format="csr")
    y = np.where(rng.random(n) < 0.75, 1.0, -1.0)
    kw = dict(loss="hinge", optimizer=optimizer, penalty=None, batch_size=1, random_state=0)
    if not isinstance(optimizer, FTRL):
        kw["schedule"] = "constant"
    serial = train(X, y, epochs=3, n_jobs=1, **kw)
    hog = train(X, y, epochs=3, n_jobs=2, hogwild=True, **kw)
    for tr in (serial, hog):
        assert np.max(np.abs(X @ tr.params[:-1] + tr.params[-1])) < 1.0   # all margins too
        if accumulator is not None:
            assert tr.state[accumulator, -1] == 3 * n
    assert hog.params[-1] == pytest.approx(serial.params[-1], rel=0.02)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n,alpha,scaled", [(400, 0.01, True), (4000, 0.15, False)])
def test_hogwild_elastic_net_with_disjoint_threads_equals_serial(n, alpha, scaled, dtype):
    """Plain SGD with L1 on rows whose threads own disjoint columns: the
    serial model. Where the weight scale stays above FGD_MIN_SCALE over the
    chunk, csr_hogwild_scaled runs, with L1 as a cumulative threshold by
    position: the serial loop's arithmetic, so its gradient norm too, whose
    L2 part (l2 * steps * w_end) is 5-8% off the dense path's exact one here.
    Where the scale would fall below it (4000 steps that shrink w by 0.6%
    each), csr_hogwild_sgd's per-coordinate closed form, which sums the
    skipped steps' L2 gradients as the catch-ups do: within 1% of the dense
    path's here."""
    X, y = _disjoint_thread_rows(n=n)
    X = X.astype(dtype)
    kw = dict(loss="log_loss", optimizer="sgd", lr=0.05, schedule="constant",
              penalty="elasticnet", alpha=alpha, batch_size=1, shuffle=False,
              fit_intercept=False, random_state=0)
    serial = train(X, y, n_jobs=1, **kw)
    train(X, y, n_jobs=2, hogwild=True, epochs=1, **kw)
    # the core's scratch is kept between calls of one shape: NaN in its
    # tables shows a table the epoch reads without filling it
    assert _sparse._fill_kept_scratch(np.nan)
    hog = train(X, y, n_jobs=2, hogwild=True, **kw)
    assert_close(hog.params, serial.params, dtype, "hogwild vs serial")
    np.testing.assert_allclose(hog.history.loss, serial.history.loss,
                               rtol=1e-10 if dtype == np.float64 else 1e-5)
    assert np.any(hog.params == 0.0) and np.any(hog.params != 0.0)
    dense = train(X.toarray(), y, n_jobs=1, **kw)
    if scaled:
        np.testing.assert_allclose(hog.history.grad_norm, serial.history.grad_norm,
                                   rtol=1e-8 if dtype == np.float64 else 1e-4)
        np.testing.assert_allclose(hog.history.grad_norm, dense.history.grad_norm, rtol=0.1)
    else:
        np.testing.assert_allclose(hog.history.grad_norm, dense.history.grad_norm, rtol=0.01)


_TABLE_CASES = [
    (opt, penalty, 0.01, batch, threads, hog)
    for opt in ["sgd", "momentum", "adagrad", "rmsprop", "adadelta", "adam", "ftrl"]
    for penalty in [None, "l2", "elasticnet"]
    for batch, threads, hog in [(1, 1, False), (8, 1, False), (8, 2, False), (1, 2, True)]
    if not (opt == "ftrl" and penalty)] + [
    # plain SGD whose weight scale underflows within the epoch
    ("sgd", "elasticnet", 2.0, batch, threads, hog)
    for batch, threads, hog in [(1, 1, False), (8, 2, False), (1, 2, True)]]


@pytest.mark.parametrize("opt,penalty,alpha,batch,threads,hog", _TABLE_CASES)
def test_no_epoch_reads_a_step_table_it_did_not_fill(opt, penalty, alpha, batch, threads, hog):
    """The core keeps its scratch, step tables included, from one call to the
    next of the same shape; each call must fill every table it reads.
    Filling the kept tables with NaN between two calls changes nothing
    (Hogwild!, not deterministic: a finite model and gradient norm). A
    Hogwild! elastic-net epoch whose scale underflows once read the sums of
    iterates it had not filled (CI saw its gradient norm infinite)."""
    X, y = make_sparse(n=300, d=60, density=0.1)
    optimizer = {"sgd": SGD(lr=0.05), "momentum": SGD(lr=0.05, momentum=0.9),
                 "adagrad": Adagrad(lr=0.1), "rmsprop": RMSprop(lr=0.01),
                 "adadelta": Adadelta(), "adam": Adam(lr=0.01), "ftrl": FTRL(lr=0.1)}[opt]
    kw = dict(loss="log_loss", optimizer=optimizer, penalty=penalty, alpha=alpha,
              batch_size=batch, n_jobs=threads, hogwild=hog, random_state=0)
    if opt != "ftrl":
        kw["schedule"] = "invscaling" if alpha < 1 else "constant"
    results = []
    for poison in (False, True):
        tr = Trainer(**kw)
        ys, _ = encode_binary(y, X.shape[0])
        tr.init_model(X.shape[1], X.dtype)
        tr.run(X, ys, None, epochs=1)
        if poison:
            assert _sparse._fill_kept_scratch(np.nan)
        tr.run(X, ys, None, epochs=2)
        assert np.all(np.isfinite(tr.params)) and np.all(np.isfinite(tr.history.grad_norm))
        results.append(tr)
    if not hog:
        np.testing.assert_array_equal(results[1].params, results[0].params)
        assert results[1].history.grad_norm == results[0].history.grad_norm


@pytest.mark.parametrize("penalty,alpha", [("l2", 1.9), ("l2", 6.0), ("elasticnet", 1.9)])
def test_sums_of_iterates_hold_deep_into_a_strong_decay(penalty, alpha):
    """SGD_CLOSED's sums of iterates over a gap of more than 16 steps were
    prefix-table differences scaled by 1 / prodp[ia]: with the weight scale
    far below 1e-13 within a chunk, rounding noise. Hogwild! (its catch-ups'
    L2 gradients) then reported a gradient norm 1.7x the exact one, and an
    averaged elastic-net model on CSR ended 0.2 off the dense path's. Now
    both equal the dense path's."""
    X, y = _disjoint_thread_rows()
    kw = dict(loss="log_loss", optimizer="sgd", lr=0.05, schedule="constant",
              penalty=penalty, alpha=alpha, batch_size=1, shuffle=False,
              fit_intercept=False, random_state=0)
    dense = train(X.toarray(), y, n_jobs=1, **kw)
    hog = train(X, y, n_jobs=2, hogwild=True, **kw)
    assert_close(hog.params, dense.params, np.float64, "hogwild vs dense")
    np.testing.assert_allclose(hog.history.grad_norm, dense.history.grad_norm,
                               rtol=1e-8, atol=1e-12)
    rng = np.random.default_rng(0)
    Xs = sp.random(400, 60, density=0.08, format="csr", random_state=0,
                   data_rvs=lambda k: rng.standard_normal(k))
    ys = np.where(Xs @ rng.standard_normal(60) > 0, 1.0, -1.0)
    avg = {**kw, "average": True, "fit_intercept": True, "penalty": "elasticnet"}
    csr, dense = (train(data, ys, epochs=2, **avg) for data in (Xs, Xs.toarray()))
    assert_close(csr.avg, dense.avg, np.float64, "averaged CSR vs dense")


@pytest.mark.parametrize("penalty", ["l2", "elasticnet"])
def test_hogwild_takes_no_step_for_rows_of_weight_zero(penalty):
    """The serial loops take no step for a row of weight zero (no penalty, no
    schedule step); Hogwild! took one at its position (a helper's probe: with
    half the weights zero, weights a third smaller than serial). Its order
    now leaves those rows out. Zero weights on pairs of rows keep the
    threads on their own columns, so Hogwild! equals the serial loop."""
    X, y = _disjoint_thread_rows()
    sw = np.ones(X.shape[0])
    sw[np.arange(X.shape[0]) % 8 >= 6] = 0.0   # rows 6, 7 of every 8
    kw = dict(loss="log_loss", optimizer="sgd", lr=0.05, schedule="invscaling",
              penalty=penalty, alpha=0.01, batch_size=1, shuffle=False,
              fit_intercept=False, random_state=0)
    serial = train(X, y, sample_weight=sw, n_jobs=1, **kw)
    hog = train(X, y, sample_weight=sw, n_jobs=2, hogwild=True, **kw)
    assert hog.t == serial.t == 3 * 300
    assert_close(hog.params, serial.params, np.float64, "hogwild vs serial")


def test_multinomial_refuses_hogwild():
    with pytest.raises(ValueError, match="hogwild=True is not available for the multinomial"):
        MultinomialTrainer(3, batch_size=1, n_jobs=2, hogwild=True)


def test_hogwild_needs_batch_size_one():
    X, y = _data()
    with pytest.raises(ValueError, match="batch_size=1"):
        fastgd.fit(X, y, hogwild=True, batch_size=8)


@pytest.mark.parametrize("optimizer,batch_size", [("adagrad", 4), ("sgd", 1)])
def test_grad_norm_owes_nothing_to_an_earlier_run(optimizer, batch_size):
    """Runs keep one gradient-sum buffer per thread (solver._kept_gsum): a
    model's gradient norms are the same whether another model of the same
    size trained just before it or not, on the dense and the CSR paths.
    Plain SGD at batch size 1 on CSR rows is the loop that returns the end
    sums and leaves the buffer zero (run_epoch's end_sums): the next run
    then skips clearing it."""
    from fastgd.backends import cpu

    X, y = make_sparse(n=150, d=300, density=0.05)
    ys, _ = encode_binary(y, X.shape[0])
    end_sums = []
    real = cpu.run_epoch

    def spy(*args, **kwargs):
        stats = real(*args, **kwargs)
        end_sums.append(stats.gsum_sq is not None)
        return stats

    def norms(X, seed, epochs=2):
        # (invscaling: not a constant step, whose exact gradient sums come
        # from the weight change instead, csr_gsum_mode)
        tr = Trainer(loss="log_loss", optimizer=optimizer, lr=0.1, schedule="invscaling",
                     penalty="l2", alpha=0.01, batch_size=batch_size, random_state=seed)
        tr.init_model(X.shape[1], X.dtype)
        tr.run(X, ys, None, epochs=epochs)
        return tr.history.grad_norm

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cpu, "run_epoch", spy)
        for data in (X, X.toarray()):
            alone = norms(data, 0)
            norms(data, 1)   # leaves its last epoch's sums in the kept buffer
            assert norms(data, 0) == alone
            if optimizer == "sgd":
                # a chunk of the epoch leaves its sums in the buffer too
                mp.setattr(Trainer, "chunk_rows", 40)
                norms(data, 1, epochs=1)
                mp.setattr(Trainer, "chunk_rows", None)
                assert norms(data, 0) == alone
    # the CSR runs of plain SGD took the end sums, and only those
    assert any(end_sums) == (optimizer == "sgd")


@pytest.mark.parametrize("batch_size,d,density,alpha", [(1, 50, 0.1, 0.5),
                                                        (4, 2000, 0.005, 0.8)])
def test_averaging_leaves_the_gradient_norm_of_the_iterates_alone(batch_size, d, density,
                                                                  alpha):
    """Averaging does not change the iterates, so it must not change their
    summed gradient. With averaging csr_sgd_rows folds the weight scale into
    the weights from 1e-4 (not 1e-9); the 'optimal' schedule's sums from the
    weight change (csr_gsum_mode 2) must then not be used across a fold
    (here the scale falls below 1e-4 in the epoch: the averaged run's norm
    was 2-7x too large); it adds each value's gradient, with its L2 part,
    exactly (as any run does with gtol set, where the plain run's ratio
    mode would approximate the L2 part). Sparse enough rows that
    mini-batches step lazily."""
    rng = np.random.default_rng(0)
    n = 12000
    X = sp.random(n, d, density=density, format="csr", random_state=1,
                  data_rvs=lambda k: rng.standard_normal(k))
    y = np.sign(X @ rng.standard_normal(d) + 0.5 * rng.standard_normal(n))
    kw = dict(loss="log_loss", batch_size=batch_size, epochs=1, penalty="l2", alpha=alpha,
              schedule="optimal", random_state=0)
    plain = fastgd.fit(X, y, gtol=1e-300, **kw)
    for gtol in (None, 1e-300):
        averaged = fastgd.fit(X, y, average=True, gtol=gtol, **kw)
        np.testing.assert_allclose(averaged.history.grad_norm, plain.history.grad_norm,
                                   rtol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index", [np.int32, np.int64])
@pytest.mark.parametrize("penalty,schedule,d,n,batch_size", [
    ("l2", "optimal", 4000, 60, 1),          # few values: gsum per value, no L1
    ("elasticnet", "optimal", 4000, 60, 1),  # with the L1 catch-up
    ("l2", "optimal", 40, 200, 1),           # many values: gsum's loss part from v
    (None, "invscaling", 4000, 60, 1),       # no L2 part
    ("elasticnet", "invscaling", 4000, 60, 4)])   # L1 mini-batches: the general loop
def test_end_sums_are_those_of_the_model_and_the_gradient(dtype, index, penalty, schedule,
                                                          d, n, batch_size):
    """run_epoch(..., end_sums=True) on plain SGD in SCALED mode (csr_sgd_rows,
    the loop of a wide model's partial_fit chunks, and the general loop's L1
    mini-batches): the EpochStats carry the weights' sum of squares and of
    absolute values and the squared norm of the summed gradient, as NumPy
    takes them after the same epoch run without end_sums (to 1e-12: another
    order of summation), and gsum is left zero; the weights are the same
    bits."""
    from fastgd.backends import cpu

    X, y = make_sparse(n=n, d=d, density=0.08 if d == 40 else 0.003, dtype=dtype)
    X.indices = X.indices.astype(index)
    X.indptr = X.indptr.astype(index)
    ys, _ = encode_binary(y, X.shape[0])
    tr = Trainer(loss="log_loss", optimizer="sgd", schedule=schedule, lr=0.05,
                 penalty=penalty, alpha=0.01, l1_ratio=0.3, batch_size=batch_size,
                 random_state=0)
    tr.init_model(d, dtype)
    tr.run(X, ys, None, epochs=1)   # a model that is not all zero
    problem = tr._problem(X, ys, None, 1)
    problem.schedule = tr._scaled_schedule()
    results = []
    for end_sums in (False, True):
        params, state = tr.params.copy(), tr.state.copy()
        gsum = np.zeros(d + 1)
        stats = cpu.run_epoch(problem, params, state, None, tr.t, None, gsum,
                              end_sums=end_sums)
        results.append((params, gsum, stats))
    (p0, g0, s0), (p1, g1, s1) = results
    assert s0.coef_sq is None and s0.gsum_sq is None
    np.testing.assert_array_equal(p1, p0)
    assert s1.n_steps == s0.n_steps > 0 and s1.loss_sum == s0.loss_sum
    coef = p0[:d].astype(np.float64)
    assert np.any(coef != 0) and np.any(g0 != 0)
    np.testing.assert_allclose(s1.coef_sq, coef @ coef, rtol=1e-12)
    np.testing.assert_allclose(s1.coef_abs, np.abs(coef).sum(), rtol=1e-12)
    np.testing.assert_allclose(s1.gsum_sq, g0 @ g0, rtol=1e-12)
    assert not np.any(g1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("penalty", ["l2", None])
def test_multinomial_end_sums_are_those_of_the_model_and_the_gradient(dtype, penalty):
    """The softmax CSR loop of plain SGD (csr_mn_sgd_rows) takes the end sums
    too, over all d K coefficients and (the gradient's) K intercepts, and
    leaves gsum zero; the weights are the same bits as without them."""
    X, y = make_sparse(n=80, d=30, density=0.1, dtype=dtype)
    y = np.arange(80) % 3
    tr = MultinomialTrainer(3, optimizer="sgd", schedule="invscaling", lr=0.05,
                            penalty=penalty, alpha=0.01, batch_size=1, random_state=0)
    tr.init_model(30, dtype)
    tr.run(X, y.astype(float), None, epochs=1)
    problem = tr._problem(X, y.astype(float), None, 1)
    problem.schedule = tr._scaled_schedule()
    results = []
    for end_sums in (False, True):
        params, state = tr.params.copy(), tr.state.copy()
        gsum = np.zeros(params.size)
        stats = tr.backend.run_epoch(problem, params, state, None, tr.t, None, gsum,
                                     end_sums=end_sums)
        results.append((params, gsum, stats))
    (p0, g0, s0), (p1, g1, s1) = results
    assert s0.coef_sq is None
    np.testing.assert_array_equal(p1, p0)
    coef = p0[:-1].astype(np.float64).ravel()
    assert np.any(g0[:-3] != 0) and np.any(g0[-3:] != 0)
    np.testing.assert_allclose(s1.coef_sq, coef @ coef, rtol=1e-12)
    np.testing.assert_allclose(s1.coef_abs, np.abs(coef).sum(), rtol=1e-12)
    np.testing.assert_allclose(s1.gsum_sq, g0 @ g0, rtol=1e-12)
    assert not np.any(g1)


@pytest.mark.parametrize("chunk_rows,penalty", [(None, "l2"), (7, "l2"), (7, None)])
def test_grad_norm_of_plain_sgd_is_exact_with_a_constant_step(chunk_rows, penalty):
    """batch_size 1, no L1, constant lr: the epoch's summed gradient (loss and
    L2) comes from the weight change, exactly as the dense loop sums it. On
    2000 features chunks of 7 rows hold few values: without L2 they add each
    value's gradient instead (as exact), with L2 they keep the exact form."""
    X, y = make_sparse(n=150, d=2000, density=0.005)
    kw = dict(loss="log_loss", optimizer=SGD(lr=0.05), penalty=penalty, alpha=0.01,
              batch_size=1, random_state=0)
    sparse = Trainer(**kw)
    sparse.chunk_rows = chunk_rows
    ys, _ = encode_binary(y, X.shape[0])
    sparse.init_model(X.shape[1], X.dtype)
    sparse.run(X, ys, None, epochs=3)
    dense = train(X.toarray(), y, **kw)
    np.testing.assert_allclose(sparse.history.grad_norm, dense.history.grad_norm, rtol=1e-9)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("multinomial", [False, True], ids=["binary", "softmax"])
@pytest.mark.parametrize("schedule,lr,alpha", [
    ("invscaling", 0.5, 0.01), ("optimal", None, 0.1), ("constant", 0.05, 0.1),
    # the weight scale folds many times per epoch:
    ("invscaling", 0.9, 1.0), ("exponential", 0.5, 1.0)])
@pytest.mark.parametrize("batch_size", [1, 4])
def test_plain_sgd_csr_grad_norm_is_exact_with_gtol(schedule, lr, alpha, batch_size,
                                                    multinomial, dtype):
    """gtol stops on History.grad_norm: with it set, plain SGD with L2 on CSR
    rows reports the dense path's gradient norm (the L2 part summed exactly,
    at every step's weights; before session 18 l2 * steps * w_end, up to
    2.5x off, so CSR and dense fits stopped at different epochs). So does
    any run whose gradient sums are added per value (not the 'optimal'
    schedule's ratio mode, whose L2 part stays approximate without gtol).
    To 1e-9, or 1e-6 where the scale folds (float32: 1e-5). The sum by parts
    cancels terms up to A / scale (1e9 before a fold) times larger than its
    result (here the norm is small too: the loss and L2 parts nearly cancel
    at strong L2; the dense path's own rounding differs): it takes the changes
    of v as stored, and the end's term from v, not from the stored w (with
    those, float32 rounding came back up to 89x the norm)."""
    rng = np.random.default_rng(4)
    X = sp.random(200, 50, density=0.1, format="csr", random_state=1,
                  data_rvs=lambda k: rng.standard_normal(k)).astype(dtype)
    y = rng.integers(0, 3 if multinomial else 2, 200).astype(float)
    kw = dict(optimizer="sgd", lr=lr, schedule=schedule, penalty="l2", alpha=alpha,
              batch_size=batch_size, random_state=0, shuffle=False)
    for gtol in (1e-300, None):
        if multinomial:
            csr = train_multinomial(X, y, epochs=3, **kw)
            dense = train_multinomial(X.toarray(), y, epochs=3, **kw)
            csr.run(X, y, epochs=1, gtol=gtol)
            dense.run(X.toarray(), y, epochs=1, gtol=gtol)
        else:
            csr = train(X, y, epochs=1, loss="log_loss", run_kwargs=dict(gtol=gtol), **kw)
            dense = train(X.toarray(), y, epochs=1, loss="log_loss",
                          run_kwargs=dict(gtol=gtol), **kw)
        tight = dtype == np.float64
        np.testing.assert_allclose(csr.params, dense.params, rtol=1e-9 if tight else 1e-5,
                                   atol=1e-12 if tight else 1e-6)
        if gtol is not None or schedule != "optimal" or multinomial:
            np.testing.assert_allclose(csr.history.grad_norm, dense.history.grad_norm,
                                       rtol=(1e-9 if alpha < 1 else 1e-6) if tight else 1e-5)


@pytest.mark.parametrize("exact", [False, True], ids=["fast", "gtol"])
@pytest.mark.parametrize("chunk_rows", [None, 7])
@pytest.mark.parametrize("d", [40, 2000])
def test_grad_norm_of_plain_sgd_with_the_optimal_schedule(chunk_rows, d, exact):
    """batch_size 1, L2, the 'optimal' schedule with the penalty's alpha: lr / scale
    is the same at every step, so the loss part of the summed gradient comes
    from the change of the scaled weights (csr_sgd_rows' ratio mode); its L2
    part, per call of the core (chunk), is then the documented approximation
    l2 ((A - Abar) w_end / s_end + Abar w_start), A the sum of the steps'
    weight scales s and Abar the mean of its partial sums (exact for a
    coordinate no row touches; before session 18, l2 * steps * w_end).
    With gtol set (exact), or where chunks of 7 rows of 2000 features hold
    fewer than d / 16 values (csr_gsum_mode), each value's gradient is
    added with its L2 part, and the norm is exact.
    Checked against a NumPy replay of per-sample SGD."""
    X, y = make_sparse(n=150, d=d, density=0.08 if d == 40 else 0.005)
    alpha = 0.01
    tr = Trainer(loss="log_loss", optimizer="sgd", schedule="optimal", penalty="l2",
                 alpha=alpha, batch_size=1, shuffle=False, random_state=0)
    tr.chunk_rows = chunk_rows
    ys, _ = encode_binary(y, X.shape[0])
    tr.init_model(X.shape[1], X.dtype)
    tr.run(X, ys, None, epochs=3, gtol=1e-300 if exact else None)
    approximate = not exact and not (d == 2000 and chunk_rows == 7)
    Xd = X.toarray()
    chunk = chunk_rows or X.shape[0]
    w, b, t, norms = np.zeros(X.shape[1]), 0.0, 0, []
    for _ in range(3):
        g_w, g_b = np.zeros_like(w), 0.0
        s, A, AS, w_start = 1.0, 0.0, 0.0, w.copy()
        for i in range(X.shape[0]):
            lr = tr._bound_schedule.lr_at(None, t)
            dl = -ys[i] / (1.0 + np.exp(ys[i] * (Xd[i] @ w + b)))
            g_w += dl * Xd[i] + (0.0 if approximate else alpha * w)
            g_b += dl
            A += s
            AS += A
            s *= 1.0 - lr * alpha
            w = (1.0 - lr * alpha) * w - lr * dl * Xd[i]
            b -= lr * dl
            t += 1
            if (i + 1) % chunk == 0 or i + 1 == X.shape[0]:
                if approximate:
                    Abar = AS / (i % chunk + 1)
                    g_w += alpha * ((A - Abar) * w / s + Abar * w_start)
                s, A, AS, w_start = 1.0, 0.0, 0.0, w.copy()
        norms.append(np.sqrt(g_w @ g_w + g_b * g_b) / X.shape[0])
    np.testing.assert_allclose(tr.params[:-1], w, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(tr.history.grad_norm, norms, rtol=1e-9)


def test_replay_without_closed_form_warns_on_wide_data(monkeypatch):
    monkeypatch.setattr(_sparse, "STEPS", "auto")
    X = sp.random(50, 12_000, density=0.001, format="csr", random_state=0)
    y = np.arange(50) % 2
    with pytest.warns(RuntimeWarning, match="no closed-form lazy update"):
        fastgd.fit(X, y, loss="log_loss", optimizer="adam", alpha=0.01, epochs=1, batch_size=1)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        for kw in (dict(optimizer="adam", alpha=0.0), dict(optimizer="sgd", alpha=0.01),
                   dict(optimizer="adagrad", alpha=0.01),
                   dict(optimizer=SGD(lr=0.01, momentum=0.9), alpha=0.01)):
            fastgd.fit(X, y, loss="log_loss", epochs=1, batch_size=1, **kw)
        # batches of 32 rows (fill 0.032) take dense steps: nothing is replayed
        tr = Trainer(loss="log_loss", optimizer="adam", alpha=0.01, batch_size=32)
        tr.init_model(X.shape[1], X.dtype)
        cfg = tr._problem(check_data(X, accept_sparse=True), encode_binary(y, 50)[0], None,
                          1).c_config()
        assert _sparse.dense_steps(cfg, 0, _sparse.batch_fill(32, X.nnz, 50, 12_000))
        fastgd.fit(X, y, loss="log_loss", optimizer="adam", alpha=0.01, epochs=1, batch_size=32)
    with pytest.warns(RuntimeWarning, match="no closed-form lazy update"):   # averaging replays
        fastgd.fit(X, y, loss="log_loss", optimizer="adagrad", alpha=0.01, epochs=1,
                   average=True, batch_size=1)
    with pytest.warns(RuntimeWarning, match="no closed-form lazy update"):
        fastgd.fit(X, y, loss="log_loss", optimizer=SGD(lr=0.01, momentum=0.9), alpha=0.01,
                   epochs=1, average=True, batch_size=1)
    with pytest.warns(RuntimeWarning, match="no closed-form lazy update"):   # ADAGRAD_L1
        fastgd.fit(X, y, loss="log_loss", optimizer="adagrad", penalty="l1", alpha=0.01,
                   epochs=1, average=True, batch_size=1)


def test_adagrad_l2_catch_up_within_its_bound_of_the_replay():
    """One coordinate's ADAGRAD_L2 catch-up against the replay of every skipped
    step: w and G within FGD_LAZY_RTOL (1e-12) and the gradient sum within
    FGD_LAZY_GTOL (1e-6) relative, whether the whole gap took one closed form
    or its bound was too large and the gap went in parts (shorter closed forms,
    each held to its share of the bound, and replayed steps); where no closed
    form passes at all the result is the replay's, bit for bit."""
    X, y = make_sparse(n=10, d=5)
    applied = refused = split = 0
    for alpha in (1e-5, 1e-4, 1e-3, 1e-2):
        tr = Trainer(loss="log_loss", optimizer=Adagrad(lr=0.1, lr_decay=1e-3), penalty="l2",
                     alpha=alpha, schedule="invscaling")
        tr.init_model(5, np.float64)
        cfg = tr._problem(X, y, None, 1).c_config()
        for G, w, J in itertools.product((0.05, 0.5, 5.0), (-0.7, 0.01, 0.3, 2.0),
                                         (1, 7, 300, 3000)):
            t0, ta = 100, 120
            got = _sparse.lazy_catch_up(cfg, t0, J + 50, w, [G, 0, 0], ta, ta + J)
            want = _sparse.lazy_catch_up(cfg, t0, J + 50, w, [G, 0, 0], ta, ta + J,
                                         replay=True)
            assert want[0] != w and want[1][0] > G   # the skipped steps did move w and G
            refused += got[3]
            applied += not got[3]
            split += got[3] and got[0] != want[0]
            assert abs(got[0] / want[0] - 1) <= 1e-12, (alpha, G, w, J)
            assert abs(got[1][0] / want[1][0] - 1) <= 1e-12, (alpha, G, w, J)
            assert abs(got[2] / want[2] - 1) <= 1e-6, (alpha, G, w, J)
    assert applied >= 60 and refused >= 5 and split >= 5, (applied, refused, split)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("alpha, lr, batch_size", [(1e-4, 0.1, 1), (1e-3, 0.5, 1),
                                                   (1e-5, 0.05, 4), (1e-2, 0.1, 1)])
def test_adagrad_l2_closed_form_equals_dense(alpha, lr, batch_size, dtype):
    """Adagrad with L2 on CSR (lazy mode ADAGRAD_L2): long gaps (1% density,
    3,000 features), so most catch-ups take the second-order closed form, and
    the strongest L2 here sends some back to the replay. Weights and G to the
    stated tolerance of the dense path, the gradient norms to 1e-8 (float64)."""
    check_wide_csr_against_dense(
        dtype, "adagrad_l2", 1e-8 if dtype == np.float64 else 1e-6,
        optimizer=Adagrad(lr=lr, lr_decay=1e-3), penalty="l2", alpha=alpha,
        batch_size=batch_size)


def check_wide_csr_against_dense(dtype, mode, grad_rtol, **kw):
    """Long gaps between a feature's rows (400 x 3,000 at 1% density): the
    CSR path, in lazy mode ``mode``, against the dense path on the same data:
    weights and state to the stated tolerance, gradient norms to ``grad_rtol``."""
    rng = np.random.default_rng(0)
    X = sp.random(400, 3000, density=0.01, format="csr", random_state=1,
                  data_rvs=lambda k: rng.standard_normal(k)).astype(dtype)
    y = np.where(rng.random(400) < 0.5, 1.0, -1.0)
    kw = {"loss": "log_loss", "random_state": 0, "schedule": "invscaling", **kw}
    tr = Trainer(**kw)
    tr.init_model(X.shape[1], dtype)
    assert _sparse.lazy_mode(tr._problem(X, y, None, 1).c_config(), 0, 10)[0] == mode
    sparse = train(X, y, **kw)
    dense = train(X.toarray(), y, **kw)
    assert_close(sparse.params, dense.params, dtype, "params")
    assert_close(sparse.state, dense.state, dtype, "state")
    np.testing.assert_allclose(sparse.history.grad_norm, dense.history.grad_norm,
                               rtol=grad_rtol)
    # float32: the lazy path rounds w to float32 once per catch-up, the dense
    # path once per step; on a loss near 0.01 (momentum 0.9, constant step)
    # that moved the third epoch's loss by 1.6e-6 relative, with the block
    # walk and the powers alike
    np.testing.assert_allclose(sparse.history.loss, dense.history.loss,
                               rtol=1e-6 if dtype == np.float64 else 1e-5)


def test_adam_catch_up_within_its_bound_of_the_replay():
    """Adam without penalty, and AdamW's decoupled decay (lazy mode ADAM; with
    and without amsgrad): one coordinate's catch-up from the suffix tables
    against the replay of every skipped step, for gaps of 1 to 3,000 steps,
    at the first step of training and later, eps from 1e-300 to 1e-3: where the
    closed form is taken, w within
    FGD_LAZY_RTOL (1e-12) * |w| and the gradient sum within FGD_LAZY_GTOL
    (1e-6) (their bounds), m and v to 1e-12; where its bound is too large it
    refuses and the result is the replay's (truncated without decay)."""
    X, y = make_sparse(n=10, d=5)
    applied = refused = 0
    for optimizer in (Adam(lr=0.01), Adam(lr=0.001, betas=(0.8, 0.99), eps=1e-6),
                      AdamW(lr=0.01, weight_decay=0.0, eps=1e-3), Adam(lr=0.01, eps=1e-300),
                      AdamW(lr=0.01, weight_decay=1e-2), AdamW(lr=0.01, weight_decay=1.0),
                      AdamW(lr=0.001, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
                      Adam(lr=0.01, amsgrad=True),
                      AdamW(lr=0.01, eps=1e-4, weight_decay=1e-2, amsgrad=True)):
        tr = Trainer(loss="log_loss", optimizer=optimizer, penalty=None, alpha=0.0,
                     schedule="invscaling")
        tr.init_model(5, np.float64)
        cfg = tr._problem(X, y, None, 1).c_config()
        decay = optimizer.weight_decay > 0
        assert _sparse.lazy_mode(cfg, 0, 10) == ("adam", not decay)
        for t0, offset, J, w, m, v in itertools.product(
                (0, 100), (0, 3), (1, 2, 7, 64, 300, 3000), (-0.7, 0.03), (0.0, 1e-3, -0.2),
                (1e-6, 1e-3, 0.5)):
            ta = t0 + offset
            # amsgrad's running maximum: above v, or below it (then it moves: refused)
            vmax = (2.0 * v if J % 2 else 0.5 * v) if optimizer.amsgrad else 0.0
            args = (cfg, t0, offset + J + 37, w, [m, v, vmax], ta, ta + J)
            got, want = _sparse.lazy_catch_up(*args), _sparse.lazy_catch_up(*args, replay=True)
            case = (optimizer, t0, offset, J, w, m, v)
            if got[3]:
                refused += 1
                if decay:
                    assert got[0] == want[0] and got[2] == want[2], case
                else:   # truncated: within 1e-12 of |w| where the replay stopped
                    assert abs(got[0] - want[0]) <= 1e-12 * max(abs(w), abs(want[0])), case
            else:
                applied += 1
                assert abs(got[0] - want[0]) <= 1e-12 * abs(w), case
                assert abs(got[2] - want[2]) <= 1e-6 * abs(want[2]), case
                np.testing.assert_allclose(got[1], want[1], rtol=1e-12, atol=0, err_msg=case)
    assert applied >= 2000 and refused >= 500, (applied, refused)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_catch_ups_that_three_terms_could_not_take(amsgrad):
    """Adam without penalty: catch-ups that lazy.h's first three terms leave
    beyond their 1e-12 bound, now taken in closed form rather than replayed
    (each was O(gap); Adam took 10.9 s per epoch on 200,000 x 1,000,000, 5.2 s now):
    a small v (eps / sqrt(v) ~ 1e-3: five terms), and a gap long enough for v
    to decay until eps / sqrt(v) is no longer small, where w stops moving a
    few hundred steps in (fgd_lazy_adam_head; not with amsgrad, whose v
    bound never grows). w within 1e-12 of the larger of |w| before and after,
    the state within the replay's own rounding over the gap."""
    X, y = make_sparse(n=10, d=5)
    tr = Trainer(loss="log_loss", optimizer=Adam(lr=0.001, amsgrad=amsgrad), penalty=None,
                 alpha=0.0, schedule="constant")
    tr.init_model(5, np.float64)
    cfg = tr._problem(X, y, None, 1).c_config()
    cases = [(J, w, m, 1e-10) for J in (40, 300, 700) for w in (0.002, -0.03)
             for m in (3e-5, -3e-5)]   # e0 = 1e-3
    if not amsgrad:   # e0 = 1e-4, but eps / sqrt(v beta2^J) = 2.2 at the gap's end
        cases += [(20_000, w, m, 1e-8) for w in (0.002, -0.5) for m in (3e-4, -3e-4)]
    for J, w, m, v in cases:
        args = (cfg, 1000, J + 37, w, [m, v, 2 * v if amsgrad else 0.0], 1000, 1000 + J)
        got, want = _sparse.lazy_catch_up(*args), _sparse.lazy_catch_up(*args, replay=True)
        case = (J, w, m, v)
        assert not got[3], case   # not replayed
        assert abs(got[0] - want[0]) <= 1e-12 * max(abs(w), abs(want[0])), case
        assert abs(want[0] - w) > 1e-6, case   # w did move
        np.testing.assert_allclose(got[1], want[1], rtol=1e-14 * J, atol=1e-300,
                                   err_msg=str(case))   # m underflows over 20,000 steps


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_size", [1, 4])
@pytest.mark.parametrize("optimizer", [Adam(lr=0.05), AdamW(lr=0.01, weight_decay=0.0,
                                                             betas=(0.8, 0.99), eps=1e-4),
                                       AdamW(lr=0.05, weight_decay=0.05),
                                       Adam(lr=0.05, amsgrad=True)])
def test_adam_closed_form_equals_dense(optimizer, batch_size, dtype):
    """Adam without penalty and AdamW with decay, with and without amsgrad, on
    CSR with long gaps (lazy mode ADAM): weights, m, v and the running
    maximum to the stated tolerance of the dense path."""
    check_wide_csr_against_dense(dtype, "adam", 1e-9 if dtype == np.float64 else 1e-5,
                                 optimizer=optimizer, penalty=None, alpha=0.0,
                                 batch_size=batch_size)


def test_rmsprop_momentum_catch_up_equals_the_replay():
    """RMSprop with momentum, no penalty (lazy mode RMSPROP_MOMENTUM): the
    buffer's geometric decay summed from a suffix table of the step sizes,
    against the replay: w within 1e-13 (|w| + lr |buf|), the state to 1e-13."""
    X, y = make_sparse(n=10, d=5)
    for optimizer in (RMSprop(lr=0.01, momentum=0.9), RMSprop(lr=0.05, momentum=0.5,
                                                             centered=True)):
        tr = Trainer(loss="log_loss", optimizer=optimizer, penalty=None, alpha=0.0,
                     schedule="invscaling")
        tr.init_model(5, np.float64)
        cfg = tr._problem(X, y, None, 1).c_config()
        assert _sparse.lazy_mode(cfg, 0, 10) == ("rmsprop_momentum", True)
        for t0, offset, J, w, buf in itertools.product(
                (0, 100), (0, 3), (1, 2, 7, 64, 300, 3000), (-0.7, 0.03), (0.0, 0.4, -3.0)):
            ta = t0 + offset
            state = [0.2, 0.1, buf] if optimizer.centered else [0.2, buf, 0.0]
            args = (cfg, t0, offset + J + 37, w, state, ta, ta + J)
            got, want = _sparse.lazy_catch_up(*args), _sparse.lazy_catch_up(*args, replay=True)
            case = (optimizer, t0, offset, J, w, buf)
            assert abs(got[0] - want[0]) <= 1e-13 * (abs(w) + abs(buf)), case
            np.testing.assert_allclose(got[1], want[1], rtol=1e-13, atol=1e-300,
                                       err_msg=str(case))
            assert not got[3]


@pytest.mark.parametrize("optimizer,mode", [
    (RMSprop(lr=0.01, alpha=0.97, centered=True), "decay"),
    (Adadelta(lr=1.0, rho=0.8), "decay"),
    (RMSprop(lr=0.01, alpha=0.95, momentum=0.6), "rmsprop_momentum")])
def test_decay_catch_up_powers_equal_pow_up_to_the_whole_epoch(optimizer, mode):
    """DECAY and RMSPROP_MOMENTUM read rate^J from a table of the epoch's
    powers (lazy.h: rpow), J up to the epoch's length: each state row ends
    as state * rate**J, bit for bit as with pow."""
    X, y = make_sparse(n=10, d=5)
    tr = Trainer(loss="log_loss", optimizer=optimizer, penalty=None, alpha=0.0)
    tr.init_model(5, np.float64)
    cfg = tr._problem(X, y, None, 1).c_config()
    nsteps = 500
    assert _sparse.lazy_mode(cfg, 7, nsteps)[0] == mode
    rate = optimizer.rho if isinstance(optimizer, Adadelta) else optimizer.alpha
    for J in (0, 1, 2, 37, nsteps - 1, nsteps):
        state = [0.3, 0.2, 0.1]
        w, got, _, refused = _sparse.lazy_catch_up(cfg, 7, nsteps, 0.5, state, 7, 7 + J)
        assert not refused
        if mode == "decay":   # both of Adadelta's rows; centered RMSprop's averages
            decays = [rate, rate, 1.0]
        else:   # the square average, then the momentum buffer
            decays = [rate, optimizer.momentum, 1.0]
        want = [v * d ** J if d != 1.0 else v for v, d in zip(state, decays)]
        assert got.tolist() == want, (J, got, want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_size", [1, 4])
def test_rmsprop_momentum_closed_form_equals_dense(batch_size, dtype):
    """Centered RMSprop with momentum on CSR with long gaps, against dense."""
    check_wide_csr_against_dense(dtype, "rmsprop_momentum",
                                 1e-9 if dtype == np.float64 else 1e-5,
                                 optimizer=RMSprop(lr=0.01, momentum=0.9, centered=True),
                                 penalty=None, alpha=0.0, batch_size=batch_size)


MOMENTUM_SGD = [SGD(lr=0.05, momentum=0.9), SGD(lr=0.05, momentum=0.8, nesterov=True),
                SGD(lr=0.05, momentum=0.7, dampening=0.3), SGD(lr=0.02, momentum=0.99,
                                                               nesterov=True)]


@pytest.mark.parametrize("schedule", ["invscaling", "constant"])
def test_momentum_catch_up_equals_the_replay(schedule):
    """SGD momentum (lazy mode MOMENTUM): one coordinate's catch-up through the
    products of aligned blocks of steps (a varying step size), or one power
    of the step's map (a constant step size, except at the first step of
    training, where the buffer starts at g), against the replay of every
    skipped step, for gaps of 1 to 3,000 steps that start on and off a block
    boundary, at the first step of training and later, with and without L2.
    Exact to rounding: w and the buffer within (1e-13 + 1e-16 J) (|w| +
    |buf|) (the replay itself rounds at each of its J steps), the gradient
    sum within 1e-13 alpha J (|w| + |buf|)."""
    X, y = make_sparse(n=10, d=5)
    for optimizer, alpha in itertools.product(MOMENTUM_SGD, (0.0, 1e-4, 1e-2)):
        tr = Trainer(loss="log_loss", optimizer=optimizer, penalty="l2", alpha=alpha,
                     schedule=schedule)
        tr.init_model(5, np.float64)
        cfg = tr._problem(X, y, None, 1).c_config()
        assert _sparse.lazy_mode(cfg, 0, 10) == ("momentum", False)
        for t0, offset, J, w, buf in itertools.product(
                (0, 100), (0, 1, 5, 64), (1, 2, 3, 7, 64, 300, 3000), (-0.7, 0.3),
                (0.0, 0.05, -2.0)):
            ta = t0 + offset
            got = _sparse.lazy_catch_up(cfg, t0, offset + J + 37, w, [buf, 0, 0], ta, ta + J)
            want = _sparse.lazy_catch_up(cfg, t0, offset + J + 37, w, [buf, 0, 0], ta,
                                         ta + J, replay=True)
            scale = abs(w) + abs(buf)
            case = (optimizer, alpha, t0, offset, J, w, buf)
            assert abs(got[0] - want[0]) <= (1e-13 + 1e-16 * J) * scale, case
            assert abs(got[1][0] - want[1][0]) <= (1e-13 + 1e-16 * J) * scale, case
            assert abs(got[2] - want[2]) <= 1e-13 * scale * alpha * J, case
            assert got[1][1] == got[1][2] == 0.0 and not got[3]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_size", [1, 4])
@pytest.mark.parametrize("penalty, alpha", [("l2", 1e-3), (None, 0.0)])
@pytest.mark.parametrize("optimizer", MOMENTUM_SGD[:3])
@pytest.mark.parametrize("schedule", ["invscaling", "constant"])
def test_momentum_closed_form_equals_dense(schedule, optimizer, penalty, alpha, batch_size,
                                           dtype):
    """SGD momentum on CSR with long gaps: the block products (a varying step
    size) or the powers of the step's map (a constant one, after the first
    epoch's first step) against the dense path, weights, buffers and
    gradient norms."""
    check_wide_csr_against_dense(dtype, "momentum", 1e-9 if dtype == np.float64 else 1e-5,
                                 optimizer=optimizer, penalty=penalty, alpha=alpha,
                                 batch_size=batch_size, schedule=schedule)


# ---- multinomial (softmax) on CSR -----------------------------------------------

def make_sparse_multiclass(n=120, d=50, K=4, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    X = sp.random(n, d, density=0.06, format="csr", random_state=seed,
                  data_rvs=lambda k: rng.standard_normal(k)).astype(dtype)
    scores = X.toarray() @ rng.standard_normal((d, K)) + 0.3 * rng.standard_normal((n, K))
    return X, np.argmax(scores, axis=1).astype(float)


def train_multinomial(X, y, epochs=3, sample_weight=None, **kw):
    trainer = MultinomialTrainer(int(y.max()) + 1, **kw)
    trainer.init_model(X.shape[1], X.dtype)
    trainer.run(X, y, sample_weight, epochs=epochs)
    return trainer


MULTINOMIAL_OPTIMIZERS = [o for o in OPTIMIZERS if not o.startswith("adam-")]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_size, steps", BATCH_STEPS)
@pytest.mark.parametrize("penalty", list(PENALTIES))
@pytest.mark.parametrize("opt", MULTINOMIAL_OPTIMIZERS)
def test_multinomial_csr_equals_dense(monkeypatch, opt, penalty, batch_size, steps, dtype):
    monkeypatch.setattr(_sparse, "STEPS", steps)
    X, y = make_sparse_multiclass(dtype=dtype)
    kind, alpha = PENALTIES[penalty]
    kw = dict(optimizer=OPTIMIZERS[opt][0], penalty=kind, alpha=alpha,
              batch_size=batch_size, random_state=3, schedule="invscaling",
              average=False if batch_size == 1 else 30)
    sparse = train_multinomial(X, y, **kw)
    dense = train_multinomial(X.toarray(), y, **kw)
    assert sparse.t == dense.t
    assert_close(sparse.params, dense.params, dtype, "params")
    assert_close(sparse.state, dense.state, dtype, "state")
    if batch_size > 1:
        assert_close(sparse.avg, dense.avg, dtype, "avg")
    np.testing.assert_allclose(sparse.history.loss, dense.history.loss, rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_size", [1, 6])
@pytest.mark.parametrize("penalty", ["none", "l2"])
def test_multinomial_csr_fused_plain_sgd_equals_dense(penalty, batch_size, dtype):
    """Plain SGD without L1 or averaging takes the fused softmax loop (weight
    scale, no catch-up); with sample weights, some zero."""
    X, y = make_sparse_multiclass(dtype=dtype)
    sw = np.linspace(0, 2, X.shape[0])
    sw[:12] = 0.0
    kind, alpha = PENALTIES[penalty]
    kw = dict(optimizer=SGD(lr=0.1), penalty=kind, alpha=alpha, batch_size=batch_size,
              random_state=3, schedule="invscaling")
    sparse = train_multinomial(X, y, sample_weight=sw, **kw)
    dense = train_multinomial(X.toarray(), y, sample_weight=sw, **kw)
    assert sparse.t == dense.t
    assert_close(sparse.params, dense.params, dtype, "params")
    np.testing.assert_allclose(sparse.history.loss, dense.history.loss, rtol=1e-6)


@pytest.mark.parametrize("n_classes", [2, 8, 13])
@pytest.mark.parametrize("opt", ["sgd", "adagrad"])
def test_multinomial_csr_equals_dense_for_any_class_count(opt, n_classes):
    """The margins go in blocks of at most 8 classes (mn_margins_impl.h):
    class counts below, at and across the block width, in the fused loop
    (plain SGD) and the general one (Adagrad)."""
    X, y = make_sparse_multiclass(K=n_classes, seed=n_classes)
    y = np.arange(len(y)) % n_classes   # every class present
    kw = dict(optimizer=opt, penalty="l2", alpha=1e-3, batch_size=3, random_state=3)
    sparse = train_multinomial(X, y.astype(float), **kw)
    dense = train_multinomial(X.toarray(), y.astype(float), **kw)
    assert_close(sparse.params, dense.params, np.float64, "params")
    assert np.all(sparse.params[-1] != 0)   # every class's intercept moved


@pytest.mark.parametrize("steps", ["lazy", "dense"])
def test_multinomial_csr_weights_chunks_and_reference(monkeypatch, steps):
    """Sample weights (some zero), an epoch in chunks, and the NumPy reference on CSR."""
    monkeypatch.setattr(_sparse, "STEPS", steps)
    X, y = make_sparse_multiclass(n=150)
    sw = np.linspace(0, 2, X.shape[0])
    sw[:40] = 0.0                                  # whole zero-weight batches too
    kw = dict(optimizer=Adam(lr=0.05), penalty="elasticnet", alpha=0.01, batch_size=5,
              random_state=1, average=10)
    dense = train_multinomial(X.toarray(), y, sample_weight=sw, **kw)
    reference = train_multinomial(X, y, sample_weight=sw, backend="reference", **kw)
    monkeypatch.setattr(Trainer, "chunk_rows", 35)
    chunked = train_multinomial(X, y, sample_weight=sw, **kw)
    for tr, what in ((reference, "reference"), (chunked, "chunked")):
        assert_close(tr.params, dense.params, np.float64, what)
        assert_close(tr.avg, dense.avg, np.float64, what + " avg")


@pytest.mark.parametrize("opt", [Adam(lr=0.05), SGD(lr=0.1)])
def test_multinomial_csr_dense_steps_on_two_threads(monkeypatch, parallel_batches, opt):
    """Softmax mini-batches taking dense steps share the threads: two
    threads give the same bits twice, and the dense softmax loop's model."""
    monkeypatch.setattr(_sparse, "STEPS", "auto")
    X, y = make_sparse_multiclass(n=120)
    kw = dict(optimizer=opt, penalty="l2", alpha=1e-3, batch_size=40, random_state=0,
              average=5)
    tr = MultinomialTrainer(int(y.max()) + 1, n_jobs=2, **kw)
    problem = tr._problem(X, y, None, 1)
    assert problem.n_threads == 2   # dense steps (fill 40 x 3.2 / 40 values per column)
    two = train_multinomial(X, y, n_jobs=2, **kw)
    again = train_multinomial(X, y, n_jobs=2, **kw)
    one = train_multinomial(X, y, n_jobs=1, **kw)
    dense = train_multinomial(X.toarray(), y, n_jobs=1, **kw)
    np.testing.assert_array_equal(two.params, again.params)
    np.testing.assert_array_equal(two.avg, again.avg)
    for other, what in ((one, "one thread"), (dense, "dense")):
        assert_close(two.params, other.params, np.float64, what)
        assert_close(two.state, other.state, np.float64, what + " state")
        assert_close(two.avg, other.avg, np.float64, what + " avg")
    monkeypatch.setattr(_sparse, "STEPS", "lazy")   # lazy softmax steps: one thread
    assert tr._problem(X, y, None, 1).n_threads == 1


def test_multinomial_csr_refuses_bad_labels_before_any_step():
    from fastgd.backends.cpu import _sparse

    X, y = make_sparse_multiclass()
    tr = MultinomialTrainer(4, optimizer="sgd", lr=0.1)
    tr.init_model(X.shape[1], np.float64)
    before = tr.params.copy()
    bad = y.copy()
    bad[7] = 4.0                                   # not a class of 4
    problem = tr._problem(X, bad, None, 1)
    gsum = np.zeros(tr.params.size)
    with pytest.raises(ValueError, match="class label"):
        _sparse.epoch_csr_multinomial(X.data, X.indices, X.indptr, X.shape[1], bad, None,
                                      None, tr.params, tr.state, gsum, problem.c_config(), 0)
    np.testing.assert_array_equal(tr.params, before)


def test_multinomial_estimator_on_csr():
    X, y = make_sparse_multiclass(n=300)
    # alpha=1e-3: with the default 1e-4 the 'optimal' schedule starts at lr 10 on
    # separable data, where a 1e-15 change of X moves the weights by 1e-7 after
    # five epochs; the comparison would measure that chaos, not the CSR path
    kw = dict(loss="log_loss", multi_class="multinomial", random_state=0, max_iter=5,
              tol=None, n_jobs=2, alpha=1e-3)
    sparse = fastgd.SGDClassifier(**kw).fit(X, y)
    dense = fastgd.SGDClassifier(**kw).fit(X.toarray(), y)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(sparse.predict_proba(X), dense.predict_proba(X.toarray()),
                               rtol=1e-9, atol=1e-12)
    assert sparse.score(X, y) > 0.6


@pytest.mark.parametrize("batch_size", [1, 8])
def test_backoff_after_divergence_on_csr_equals_dense(batch_size):
    """Epochs that stop on a non-finite loss leave the reused scratch clean:
    the backed-off fit equals the dense one."""
    X, _ = make_sparse(n=200, d=30, density=0.2)
    y = X @ np.arange(1.0, 31.0) / 10
    kw = dict(lr=5.0 * batch_size, batch_size=batch_size, epochs=8, on_divergence="backoff",
              random_state=0, loss="squared_error")
    sparse = fastgd.fit(X, y, **kw)
    dense = fastgd.fit(X.toarray(), y, **kw)
    assert min(sparse.history.lr) < kw["lr"]          # it did back off
    np.testing.assert_array_equal(sparse.history.lr, dense.history.lr)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-9, atol=1e-12)


def test_plain_sgd_minibatches_run_on_one_thread(parallel_batches):
    """Plain SGD on CSR mini-batches runs the serial loops (faster than the
    general loop on two threads); other optimizers split across threads."""
    X, y = _data()
    for opt, penalty, threads in (("sgd", "l2", 1), ("sgd", None, 1), ("sgd", "elasticnet", 1),
                                  (SGD(lr=0.1, momentum=0.5), "l2", 2), ("adam", None, 2)):
        tr = Trainer(loss="log_loss", optimizer=opt, penalty=penalty, alpha=1e-3,
                     batch_size=16, n_jobs=2)
        tr.init_model(X.shape[1], np.float64)
        assert tr._problem(X, y, None, 1).n_threads == threads, penalty


@pytest.mark.parametrize("dtype", DTYPES)
def test_multinomial_csr_int64_indices_give_the_same_model(dtype):
    X, y = make_sparse_multiclass(dtype=dtype)
    X64 = X.copy()
    # set after construction: scipy's constructor would choose the index dtype itself
    X64.indices = X64.indices.astype(np.int64)
    X64.indptr = X64.indptr.astype(np.int64)
    assert X64.indices.dtype == np.int64
    for opt in ("sgd", "adam"):                    # the fused loop and the general one
        kw = dict(optimizer=opt, lr=0.05, penalty="l2", alpha=1e-3, batch_size=4,
                  random_state=0)
        a = train_multinomial(X, y, **kw)
        b = train_multinomial(X64, y, **kw)
        np.testing.assert_array_equal(a.params, b.params)


@pytest.mark.parametrize("batch_size", [1, 6])
def test_grad_norm_is_exact_under_the_per_coordinate_closed_form(batch_size):
    """Plain SGD with L1 where the per-coordinate closed form (SGD_CLOSED)
    catches up: the skipped steps' L2 gradients are summed exactly (through
    the sums of iterates), so history.grad_norm equals the dense one."""
    X, y = make_sparse_multiclass()
    kw = dict(optimizer=SGD(lr=0.1), penalty="elasticnet", alpha=0.05, batch_size=batch_size,
              random_state=3)
    sparse = train_multinomial(X, y, **kw)
    dense = train_multinomial(X.toarray(), y, **kw)
    np.testing.assert_allclose(sparse.history.grad_norm, dense.history.grad_norm, rtol=1e-9)
    X, y = _data()   # binary, averaged: the general loop in the same mode
    kw = dict(loss="log_loss", optimizer=SGD(lr=0.1), penalty="elasticnet", alpha=0.01,
              batch_size=batch_size, random_state=3, average=5)
    sparse = train(X, y, **kw)
    dense = train(X.toarray(), y, **kw)
    np.testing.assert_allclose(sparse.history.grad_norm, dense.history.grad_norm, rtol=1e-9)


@pytest.mark.skipif(not (sys.platform.startswith("linux") and platform.machine() == "x86_64"),
                    reason="reads the CPU's vendor and family from /proc/cpuinfo (Linux x86-64)")
def test_weight_prefetch_follows_the_cpu_family():
    # Plain SGD's CSR loops skip the weight prefetch on AMD family 1Ah (Zen 5)
    # and later, where it measured slower; every other CPU keeps it.
    from fastgd.backends.cpu import build_info
    fields = {}
    with open("/proc/cpuinfo") as f:
        for line in f:
            if not line.strip():
                break
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
    zen5_or_later = (fields.get("vendor_id") == "AuthenticAMD"
                     and int(fields.get("cpu family", 0)) >= 0x1A)
    assert build_info()["csr_weight_prefetch"] is (not zen5_or_later)


@pytest.mark.parametrize("opt", [fastgd.optim.Adagrad(lr=0.05), fastgd.optim.Adam(lr=0.01)])
def test_batch_one_row_with_a_repeated_column_sums_its_entries(opt):
    # the general loop at batch_size 1 takes each entry's gradient straight
    # from the row; a row that names a column twice (possible in the core's
    # contract, though Python hands it canonical CSR) must fall back to the
    # gradient accumulator so that the column takes one step with the sum
    import dataclasses

    from fastgd.backends.cpu._csr import run_epoch_csr

    X, y = _data(n=300, d=40)
    X = X.tocsr()
    # split each row's first entry in two halves under the same column
    data, indices, indptr = [], [], [0]
    for i in range(X.shape[0]):
        lo, hi = X.indptr[i], X.indptr[i + 1]
        row_d, row_i = list(X.data[lo:hi]), list(X.indices[lo:hi])
        if row_d:
            row_d = [row_d[0] / 2, row_d[0] / 2] + row_d[1:]
            row_i = [row_i[0], row_i[0]] + row_i[1:]
        data += row_d
        indices += row_i
        indptr.append(len(data))
    Xdup = sp.csr_matrix((np.array(data), np.array(indices, dtype=np.int32),
                          np.array(indptr, dtype=np.int32)), shape=X.shape)
    assert Xdup.nnz > X.nnz
    tr = Trainer(loss="log_loss", optimizer=opt, penalty="l2", alpha=1e-3, batch_size=1)
    tr.init_model(X.shape[1], np.float64)
    problem = tr._problem(X, y, None, 1)
    results = []
    for rows in (X, Xdup):
        params, state = tr.params.copy(), tr.state.copy()
        stats = run_epoch_csr(dataclasses.replace(problem, X=rows), params, state, None, 0,
                              np.zeros_like(params))
        assert stats.n_steps == X.shape[0]
        results.append(params)
    # x/2 + x/2 == x exactly, so only the order of the sums differs
    np.testing.assert_allclose(results[1], results[0], rtol=1e-12, atol=1e-15)


def test_csr_of_strided_arrays_trains_as_its_copy():
    """SciPy builds a CSR matrix on strided views (a column of a 2-D buffer);
    the core needs contiguous arrays, so they are copied (the Cython layer's
    "ndarray is not C-contiguous" before)."""
    X, y = make_sparse(n=60, d=20)
    buf = np.stack([X.data, -X.data], axis=1)
    ibuf = np.stack([X.indices, X.indices], axis=1)
    strided = sp.csr_matrix((buf[:, 0], ibuf[:, 0], X.indptr), shape=X.shape)
    assert not strided.data.flags.c_contiguous
    kw = dict(loss="log_loss", batch_size=1, epochs=2, random_state=0)
    np.testing.assert_array_equal(fastgd.fit(strided, y, **kw).coef_,
                                  fastgd.fit(X, y, **kw).coef_)
    assert not strided.data.flags.c_contiguous   # the user's matrix untouched
