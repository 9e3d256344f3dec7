"""Input validation and the seeded order in which an epoch visits rows.

The epoch order is one shared definition, so that every backend visits rows
index for index in the same order: a Fisher-Yates shuffle driven by the
splitmix64 generator, with ``j = floor(r * (i + 1) / 2**64)`` for the swap
partner of position ``i``. :func:`epoch_order` is the plain-Python
reference; the compiled core implements the same algorithm in C
(``fgd_epoch_order``) and a test checks they agree.
"""
from __future__ import annotations

import numpy as np
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import _check_sample_weight, column_or_1d

__all__ = ["check_data", "check_targets", "scaled_sample_weight", "base_seed", "epoch_seed",
           "epoch_order"]

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _mix64(z):
    """The splitmix64 finalizer on a Python int."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def base_seed(random_state):
    """One 63-bit seed from ``random_state`` (None, int or RandomState)."""
    rng = check_random_state(random_state)
    return int(rng.randint(np.iinfo(np.int64).max, dtype=np.int64))


def epoch_seed(seed, epoch):
    """The seed of epoch ``epoch`` (0-based) of a fit seeded with ``seed``."""
    return _mix64((seed ^ _mix64((epoch + 1) & _MASK)) & _MASK)


def epoch_order(n, seed):
    """Reference: the seeded permutation of ``0..n-1`` that an epoch visits.

    Fisher-Yates from the last position down; the generator is splitmix64
    started at ``seed``.
    """
    order = list(range(n))
    state = seed & _MASK
    for i in range(n - 1, 0, -1):
        state = (state + _GOLDEN) & _MASK
        j = (_mix64(state) * (i + 1)) >> 64
        order[i], order[j] = order[j], order[i]
    return np.asarray(order, dtype=np.int64)


def check_data(X, dtype=None):
    """Validate X as a finite, C-contiguous float32/float64 2-D array.

    float32 and float64 input keeps its dtype; other numeric dtypes become
    float64. C-contiguous float input is used as is, never copied.
    """
    if dtype is None:
        dtype = [np.float64, np.float32]
    X = check_array(X, dtype=dtype, order="C", ensure_all_finite=True,
                    input_name="X", accept_sparse=False)
    return X


def check_targets(y, n_samples):
    """Validate regression targets: finite float64 of length ``n_samples``."""
    y = column_or_1d(y, warn=True)
    y = check_array(y, ensure_2d=False, dtype=np.float64, ensure_all_finite=True, input_name="y")
    if y.shape[0] != n_samples:
        raise ValueError(f"X has {n_samples} samples but y has {y.shape[0]}")
    return y


def scaled_sample_weight(sample_weight, X):
    """Sample weights divided by their mean (float64), or None for all ones.

    Raises if any weight is negative or non-finite, or if all are zero.
    """
    if sample_weight is None:
        return None
    sw = _check_sample_weight(sample_weight, X, dtype=np.float64)
    if not np.all(np.isfinite(sw)):
        raise ValueError("sample_weight contains NaN or infinity")
    if np.any(sw < 0):
        raise ValueError("sample_weight must be non-negative")
    total = sw.sum()
    if not total > 0:
        raise ValueError("sample_weight sums to zero: there is nothing to fit")
    if np.all(sw == sw[0]):
        return None
    return sw / (total / sw.shape[0])
