"""Sparse (CSR) epochs of the compiled core, and scikit-learn's SGDClassifier on the same data.

Data: the issue's headline problem, 200,000 x 100,000 CSR at 0.1% density
(100 stored values per row, 20M in all; ~240 MB in float64 + int32
indices), labels from a noisy linear model. An epoch is ``Trainer.run
(epochs=1)`` on validated data (log-loss, small L2, shuffled rows), so the
timing is the compiled epoch plus the seeded shuffle and the per-epoch
bookkeeping; scikit-learn's is ``SGDClassifier(max_iter=1).fit`` (its
validation included). ``track_ratio_vs_sklearn`` times both in the same
process, interleaved, and reports the median of 3 ratios (> 1: fastgd is
faster).
"""
import time

import numpy as np

from .common import all_threads, n_jobs_of

N, D, NNZ_ROW = 200_000, 100_000, 100
ALPHA = 1e-5


def make_sparse(n=N, d=D, nnz_row=NNZ_ROW, dtype=np.float64, seed=0):
    """CSR rows with about ``nnz_row`` random columns each, and +-1 labels."""
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    indices = np.sort(rng.integers(0, d, size=(n, nnz_row), dtype=np.int32), axis=1).ravel()
    indptr = np.arange(n + 1, dtype=np.int32) * nnz_row
    data = rng.standard_normal(n * nnz_row).astype(dtype)
    X = sp.csr_matrix((data, indices, indptr), shape=(n, d))
    X.sum_duplicates()
    w = rng.standard_normal(d) / np.sqrt(nnz_row)
    y = np.where(X @ w + 0.3 * rng.standard_normal(n) > 0, 1.0, -1.0)
    return X, y


def _trainer(X, optimizer="sgd", lr=0.01, batch=1, n_jobs=1, penalty="l2", alpha=ALPHA,
             hogwild=False):
    from fastgd.solver import Trainer

    tr = Trainer(loss="log_loss", optimizer=optimizer, lr=lr, penalty=penalty, alpha=alpha,
                 batch_size=batch, n_jobs=n_jobs, random_state=0, hogwild=hogwild)
    tr.init_model(X.shape[1], X.dtype)
    return tr


def _sklearn(X, y):
    from sklearn.linear_model import SGDClassifier

    return SGDClassifier(loss="log_loss", alpha=ALPHA, max_iter=1, tol=None, random_state=0,
                         learning_rate="constant", eta0=0.01).fit(X, y)


class SparseEpoch:
    """One epoch over the CSR data: dtype x batch x threads."""

    params = (["float32", "float64"], [1, 256, 4096], ["1", "all"])
    param_names = ["dtype", "batch", "threads"]
    timeout = 300

    def setup(self, dtype, batch, threads):
        if batch == 1 and threads == "all":
            raise NotImplementedError("batch 1 is single-threaded unless hogwild (SparseHogwild)")
        self.X, self.y = make_sparse(dtype=np.dtype(dtype).type)
        self.tr = _trainer(self.X, batch=batch, n_jobs=n_jobs_of(threads))
        self.tr.run(self.X, self.y, None, epochs=1)   # warm up

    def time_epoch(self, dtype, batch, threads):
        self.tr.run(self.X, self.y, None, epochs=1)


class SparseOptimizers:
    """One epoch per optimizer at batch 1 (their lazy catch-up modes differ)."""

    params = (["sgd", "sgd-l1", "adagrad", "ftrl", "adam-b256"],)
    param_names = ["optimizer"]
    timeout = 300

    def setup(self, name):
        from fastgd.optim import FTRL

        self.X, self.y = make_sparse()
        kw = {"sgd": dict(optimizer="sgd", lr=0.01),
              "sgd-l1": dict(optimizer="sgd", lr=0.01, penalty="elasticnet"),
              "adagrad": dict(optimizer="adagrad", lr=0.05, alpha=0.0),
              "ftrl": dict(optimizer=FTRL(lr=0.1, l1=1.0), lr=None, penalty=None, alpha=0.0),
              "adam-b256": dict(optimizer="adam", lr=0.001, alpha=0.0, batch=256)}[name]
        self.tr = _trainer(self.X, **kw)
        self.tr.run(self.X, self.y, None, epochs=1)

    def time_epoch(self, name):
        self.tr.run(self.X, self.y, None, epochs=1)


class SparseHogwild:
    """Hogwild! (lock-free, batch 1) on every thread, against one thread."""

    params = (["1", "all"],)
    param_names = ["threads"]
    timeout = 300

    def setup(self, threads):
        self.X, self.y = make_sparse()
        self.tr = _trainer(self.X, n_jobs=n_jobs_of(threads), hogwild=threads != "1")
        self.tr.run(self.X, self.y, None, epochs=1)

    def time_epoch(self, threads):
        self.tr.run(self.X, self.y, None, epochs=1)


class SparseVsSklearn:
    """Per-epoch ratio to scikit-learn's SGDClassifier (log_loss), same process."""

    timeout = 600
    number = 1
    repeat = 1

    def setup(self):
        self.X, self.y = make_sparse()
        self.tr = _trainer(self.X)
        self.tr.run(self.X, self.y, None, epochs=1)

    def time_fastgd(self):
        self.tr.run(self.X, self.y, None, epochs=1)

    def time_sklearn(self):
        _sklearn(self.X, self.y)

    def track_ratio_vs_sklearn(self):
        ratios = []
        for _ in range(3):
            t0 = time.perf_counter()
            self.tr.run(self.X, self.y, None, epochs=1)
            t1 = time.perf_counter()
            _sklearn(self.X, self.y)
            t2 = time.perf_counter()
            ratios.append((t2 - t1) / (t1 - t0))
        return float(np.median(ratios))

    track_ratio_vs_sklearn.unit = "x"

    def track_hogwild_speedup(self):
        """Hogwild! on all threads over one thread (same data, batch 1)."""
        if all_threads() < 2:
            raise NotImplementedError("one thread")
        hog = _trainer(self.X, n_jobs=all_threads(), hogwild=True)
        hog.run(self.X, self.y, None, epochs=1)
        ratios = []
        for _ in range(3):
            t0 = time.perf_counter()
            self.tr.run(self.X, self.y, None, epochs=1)
            t1 = time.perf_counter()
            hog.run(self.X, self.y, None, epochs=1)
            t2 = time.perf_counter()
            ratios.append((t1 - t0) / (t2 - t1))
        return float(np.median(ratios))

    track_hogwild_speedup.unit = "x"
