"""Generated inputs: a clear exception or a finite model, nothing else.

Hypothesis draws data (shapes, dtypes, layouts, values including NaN, inf,
huge and subnormal numbers, labels, sample weights) and hyperparameters
(valid and invalid) and calls ``fastgd.fit`` and the estimators. Every call
must either

- raise ValueError, TypeError or DivergenceError with a message, or
- return a model whose coefficients, intercept, history and predictions on
  the training data are finite,

and must never write to its inputs, crash the process or hang (a timer
interrupts a call that runs past HANG_SECONDS). The number of examples is
fixed (``max_examples``) and each has a deadline, so the file runs in well
under a minute; ``pytest --hypothesis-show-statistics`` reports the counts.
"""
import signal
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import fastgd
from fastgd.losses import LOSSES
from fastgd.optim import OPTIMIZERS
from fastgd.solver import DivergenceError

CLEAR = (ValueError, TypeError, DivergenceError)
HANG_SECONDS = 20
REGRESSION = [loss for loss in LOSSES if not fastgd.losses.get_loss(loss).is_classification]

TAME = st.floats(-3, 3)
# Values that are valid input but extreme: they may train, diverge or not.
EXTREME = st.sampled_from([0.0, -0.0, 1e-300, 5e-324, -1e-310, 1e30, -1e30, 1e300, 3.4e38])
NONFINITE = st.sampled_from([np.nan, np.inf, -np.inf])
# Faults, each injected into about one example in ten or so (several may
# meet in one example); about half the examples have none.
DATA_FAULTS = ["empty", "nonfinite_X", "extreme_X", "bad_dtype", "bad_ndim", "y_length", "nonfinite_y",
               "extreme_y", "bool_y", "one_class", "three_classes", "bad_sample_weight",
               "sample_weight_length"]
HP_FAULTS = ["lr", "batch_size", "epochs", "alpha", "betas", "eps", "n_jobs"]
BAD_DTYPES = ["bool", "complex128", "object_str", "str", "datetime64[s]"]
GOOD_DTYPES = ["float64", "float32", "float16", "int64", "int8", "uint8", "object"]
class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang(f"a call ran for more than {HANG_SECONDS} s")


@pytest.fixture(autouse=True)
def hang_guard():
    """SIGALRM interrupts a call that hangs (Python regains control between chunks)."""
    old = signal.signal(signal.SIGALRM, _alarm)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, old)


def _call(f):
    signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with np.errstate(all="ignore"):
                out = f()
        event("trained a model")
        return out, None
    except CLEAR as exc:
        assert str(exc), f"{type(exc).__name__} without a message"
        event(f"raised {type(exc).__name__}")
        return None, exc
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _faults(draw, names):
    chosen = draw(st.one_of(st.just(frozenset()),
                            st.frozensets(st.sampled_from(names), min_size=1, max_size=2)))
    for f in sorted(chosen):
        event(f"fault: {f}")
    if not chosen:
        event("fault: none")
    return chosen


def _inject(draw, a, values):
    """Put a few drawn values at drawn positions of the float array ``a``."""
    if a.size:
        for _ in range(draw(st.integers(1, 3))):
            a.flat[draw(st.integers(0, a.size - 1))] = draw(values)
    return a


def _as_dtype(kind, base):
    with np.errstate(all="ignore"):
        if kind == "object":
            return base.astype(object)
        if kind == "object_str":
            X = base.astype(object)
            if X.size:
                X.flat[0] = "1.0"
            return X
        if kind == "str":
            return base.astype(str)
        if kind in ("int64", "int8", "uint8"):
            return np.nan_to_num(base, posinf=0, neginf=0).clip(0, 100).astype(kind)
        if kind.startswith("datetime"):
            return np.zeros(base.shape, dtype=kind)
        return base.astype(kind)


@st.composite
def problems(draw):
    """(X, y, sample_weight, loss) with a few faults injected."""
    faults = _faults(draw, DATA_FAULTS)
    n = draw(st.integers(1, 25))
    d = draw(st.integers(1, 5))
    if "empty" in faults:
        n, d = draw(st.sampled_from([(0, d), (n, 0), (0, 0)]))
    shape = (n, d)
    if "bad_ndim" in faults:
        shape = draw(st.sampled_from([(n,), (n, d, 1), ()]))
    size = int(np.prod(shape))
    X = np.array(draw(st.lists(TAME, min_size=size, max_size=size)), dtype=np.float64)
    X = X.reshape(shape)
    if "nonfinite_X" in faults:
        _inject(draw, X, NONFINITE)
    if "extreme_X" in faults:
        _inject(draw, X, EXTREME)
    kind = draw(st.sampled_from(BAD_DTYPES if "bad_dtype" in faults else GOOD_DTYPES))
    X = _as_dtype(kind, X)
    layout = draw(st.sampled_from(["C", "F", "strided", "readonly"]))
    if layout == "F":
        X = np.asfortranarray(X)
    elif layout == "strided" and X.ndim >= 2:
        X = np.repeat(X, 2, axis=1)[:, ::2]
    elif layout == "readonly" and X.ndim:
        X = X.copy()
        X.flags.writeable = False

    loss = draw(st.sampled_from(LOSSES))
    m = n
    if "y_length" in faults:
        m = draw(st.integers(0, 26).map(lambda k: k if k != n else n + 1))
    if fastgd.losses.get_loss(loss).is_classification:
        k = 1 if "one_class" in faults else 3 if "three_classes" in faults else 2
        y = np.array([draw(st.integers(0, k - 1)) for _ in range(m)])
        if m >= 2 and k == 2:
            y[:2] = [0, 1]           # both classes present
        if "nonfinite_y" in faults:
            y = _inject(draw, y.astype(float), NONFINITE)
    else:
        y = np.array(draw(st.lists(TAME, min_size=m, max_size=m)), dtype=np.float64)
        if "nonfinite_y" in faults:
            _inject(draw, y, NONFINITE)
        if "extreme_y" in faults:
            _inject(draw, y, EXTREME)
        if "bool_y" in faults:
            y = y > 0
    sw = draw(st.one_of(st.none(), st.lists(st.floats(0.1, 3.0), min_size=n, max_size=n)
                        .map(np.array)))
    if "bad_sample_weight" in faults:
        sw = _inject(draw, np.ones(n), st.sampled_from([-1.0, np.nan, np.inf]))
        if n and draw(st.booleans()):
            sw[:] = 0.0
    if "sample_weight_length" in faults:
        sw = np.ones(draw(st.integers(0, 26).map(lambda k: k if k != n else n + 1)))
    return X, y, sw, loss


@st.composite
def hyperparameters(draw):
    faults = _faults(draw, HP_FAULTS)
    name = draw(st.sampled_from(sorted(OPTIMIZERS)))
    lr = draw(st.sampled_from([None, 1e-3, 0.01, 0.1, 1.0, 1e6, 1e-12]))   # 1e6: diverges
    if "lr" in faults:
        lr = draw(st.sampled_from([0.0, -0.1, np.nan, np.inf]))
    optimizer = name
    if draw(st.booleans()) or "betas" in faults or "eps" in faults:
        # an optimizer object, with drawn (possibly invalid) hyperparameters
        cls = OPTIMIZERS[name] if not {"betas", "eps"} & faults else OPTIMIZERS["adam"]
        kwargs = dict(lr=lr if lr is not None and "lr" not in faults else 0.01)
        if "lr" in faults:
            kwargs["lr"] = lr
        if cls in (OPTIMIZERS["adam"], OPTIMIZERS["adamw"]):
            kwargs["betas"] = (draw(st.sampled_from([0.0, 0.5, 0.9])),
                               draw(st.sampled_from([0.0, 0.99, 0.999])))
            if "betas" in faults:
                kwargs["betas"] = draw(st.sampled_from([(1.0, 0.999), (0.9, 1.0), (-0.1, 0.9),
                                                        (0.9, np.nan), (0.9,)]))
            kwargs["eps"] = -1e-8 if "eps" in faults else draw(st.sampled_from([0.0, 1e-8]))
        optimizer = lambda: cls(**kwargs)   # noqa: E731 -- invalid values raise when called
        lr = None
    return dict(
        optimizer=optimizer, lr=lr,
        batch_size=draw(st.sampled_from([0, -2, 2.5] if "batch_size" in faults
                                        else [1, 3, 32, 1000])),
        epochs=draw(st.sampled_from([0, -1] if "epochs" in faults else [1, 2, 3])),
        penalty=draw(st.sampled_from(["l2", "l1", "elasticnet", None])),
        alpha=draw(st.sampled_from([-1.0, np.nan] if "alpha" in faults
                                   else [0.0, 1e-4, 0.1, 10.0])),
        schedule=draw(st.sampled_from([None, "invscaling", "optimal", "cosine", "adaptive"])),
        shuffle=draw(st.booleans()),
        backend=draw(st.sampled_from(["cpu", "cpu", "cpu", "reference"])),
        on_divergence=draw(st.sampled_from(["raise", "backoff"])),
        average=draw(st.sampled_from([False, True, 2])),
        fit_intercept=draw(st.booleans()),
        n_jobs=draw(st.sampled_from([0, 1.5] if "n_jobs" in faults else [None, 1, 2, -1])),
        random_state=0,
    )


def _snapshot(*arrays):
    return [None if a is None else np.array(a, copy=True) for a in arrays]


def _unchanged(before, after):
    for a, b in zip(before, after):
        if a is not None:
            assert a.dtype == b.dtype and a.shape == b.shape
            if a.dtype.kind == "O":     # the same objects in the same places
                assert a.tobytes() == b.tobytes(), "an input was modified"
            else:
                assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"), \
                    "an input was modified"


@settings(max_examples=1000, deadline=5000, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(problem=problems(), hp=hyperparameters())
def test_fit_clear_error_or_finite_model(problem, hp):
    X, y, sw, loss = problem
    before = _snapshot(X, y, sw)

    def run():
        kw = dict(hp)
        if callable(kw["optimizer"]):
            kw["optimizer"] = kw["optimizer"]()   # invalid hyperparameters raise here
        return fastgd.fit(X, y, loss=loss, sample_weight=sw, **kw)

    res, exc = _call(run)
    _unchanged(before, [X, y, sw])
    if exc is not None:
        return
    assert np.all(np.isfinite(res.coef_)) and np.isfinite(res.intercept_)
    assert all(np.isfinite(v) for v in res.history.loss)
    assert all(np.isfinite(v) for v in res.history.grad_norm)
    assert res.n_iter_ == hp["epochs"] or res.stop_reason != "max_epochs"
    Xf = np.asarray(X, dtype=np.float64)
    assert np.all(np.isfinite(res.decision_function(Xf)))


@settings(max_examples=300, deadline=5000, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(problem=problems(), hp=hyperparameters(), classifier=st.booleans(),
       partial=st.booleans())
def test_estimators_clear_error_or_finite_model(problem, hp, classifier, partial):
    X, y, sw, _ = problem
    if classifier and np.asarray(y).dtype.kind == "f" and np.all(np.isfinite(y)):
        y = (y > 0).astype(int)    # labels, mostly
    before = _snapshot(X, y, sw)
    optimizer = hp["optimizer"] if isinstance(hp["optimizer"], str) else "adam"
    params = dict(optimizer=optimizer, batch_size=hp["batch_size"], max_iter=hp["epochs"],
                  alpha=hp["alpha"], penalty=hp["penalty"], shuffle=hp["shuffle"],
                  average=hp["average"], fit_intercept=hp["fit_intercept"],
                  n_jobs=hp["n_jobs"], tol=None, random_state=0)
    if hp["lr"] is not None:
        params.update(learning_rate="constant", eta0=hp["lr"])
    if classifier:
        est = fastgd.SGDClassifier(loss="log_loss", **params)
    else:
        est = fastgd.SGDRegressor(**params)

    def run():
        if partial:
            kw = dict(classes=np.unique(y)) if classifier and y.dtype.kind in "iub" else {}
            est.partial_fit(X, y, sample_weight=sw, **kw)
            return est.partial_fit(X, y, sample_weight=sw)
        return est.fit(X, y, sample_weight=sw)

    res, exc = _call(run)
    _unchanged(before, [X, y, sw])
    if exc is not None:
        return
    assert np.all(np.isfinite(res.coef_)) and np.all(np.isfinite(res.intercept_))
    Xf = np.asarray(X, dtype=np.float64)
    out = res.decision_function(Xf) if classifier else res.predict(Xf)
    assert np.all(np.isfinite(out))
