"""Shared helpers for the test suite: small random problems and a training driver.

The helpers are fixtures so that test modules do not import each other.
"""
import numpy as np
import pytest

from fastgd.data import check_data, check_targets, scaled_sample_weight
from fastgd.solver import Trainer, encode_binary


def _make_problem(n=60, d=7, classification=False, dtype=np.float64, seed=0):
    """A small random linear problem: X standard normal, y from a noisy linear model.

    Classification targets are the two labels 0/1 (encoded to -1/+1 by training).
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(dtype)
    w = rng.standard_normal(d)
    margin = X.astype(np.float64) @ w + 0.3 + 0.5 * rng.standard_normal(n)
    y = (margin > 0).astype(np.float64) if classification else margin
    return X, y


def _train(backend, X, y, sample_weight=None, epochs=3, coef_init=None, intercept_init=None,
           run_kwargs=None, **trainer_kwargs):
    """Validate the data as :func:`fastgd.fit` does and train a :class:`Trainer`.

    Returns the trainer, whose ``params``, ``state``, ``avg``, ``t`` and
    ``history`` the tests inspect.
    """
    trainer = Trainer(backend=backend, **trainer_kwargs)
    X = check_data(X)
    n, d = X.shape
    if trainer.loss.is_classification:
        y, _ = encode_binary(y, n)
    else:
        y = check_targets(y, n)
    sw = scaled_sample_weight(sample_weight, X)
    trainer.init_model(d, X.dtype, coef_init, intercept_init)
    trainer.run(X, y, sw, epochs=epochs, **(run_kwargs or {}))
    return trainer


@pytest.fixture
def make_problem():
    """``make_problem(n, d, classification, dtype, seed) -> (X, y)``."""
    return _make_problem


@pytest.fixture
def train():
    """``train(backend, X, y, sample_weight=None, epochs=3, ..., **Trainer kwargs) -> Trainer``."""
    return _train


def pytest_collection_modifyitems(config, items):
    """Skip tests marked ``needs_threads`` where the compiled core runs one thread.

    That is a real condition, not missing work: a build without OpenMP
    (``FASTGD_NO_OPENMP=1``, or a compiler without it) or a one-CPU limit.
    """
    from fastgd.backends.cpu import build_info

    info = build_info()
    if info["openmp"] and info["max_threads"] >= 2:
        return
    why = ("the compiled core was built without OpenMP" if not info["openmp"]
           else "OpenMP allows one thread here")
    skip = pytest.mark.skip(reason=f"needs two threads: {why}")
    for item in items:
        if "needs_threads" in item.keywords:
            item.add_marker(skip)

