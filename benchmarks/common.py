"""Shared helpers of the asv suite: data of a known size, thread counts."""
import math

import numpy as np

# Values per data set in the epoch benchmarks (8 MB of float64): rows = VALUES // d.
VALUES = 1_000_000
ALPHA = 1e-4


def make_data(n, d, dtype=np.float64, seed=0):
    """Standard normal X of ``dtype`` and +-1 labels of a noisy logistic model."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d), dtype=np.float64 if dtype == np.float64 else np.float32)
    w = rng.standard_normal(d) * (3.0 / math.sqrt(d))
    p = 1.0 / (1.0 + np.exp(-(X @ w.astype(X.dtype))))
    y = np.where(rng.random(n) < p, 1.0, -1.0)
    return X, y


def all_threads():
    """OpenMP's thread limit of the compiled core."""
    from fastgd.backends.cpu import max_threads

    return max(1, max_threads())


def n_jobs_of(threads):
    """'1' -> 1, 'all' -> every thread OpenMP allows."""
    return 1 if threads == "1" else all_threads()
