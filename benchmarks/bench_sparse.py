"""Sparse (CSR) epochs of the compiled core, and scikit-learn's SGDClassifier on the same data.

Data (``fastgd.bench.make_sparse_data``): the issue's headline problem,
200,000 x 100,000 CSR at 0.1% density (100 stored values per row, 20M in
all; ~240 MB in float64 + int32 indices), labels from a noisy linear model;
``SparseLarge``: 2,000,000 x 1,000,000 at 0.01% (200M values, 2.4 GB). An
epoch is ``Trainer.run(epochs=1)`` on validated data (log-loss, L2, shuffled
rows), so the timing is the compiled epoch plus the seeded shuffle and the
per-epoch bookkeeping; scikit-learn's is ``SGDClassifier(max_iter=1).fit``
(its validation included). The ``track_ratio_*`` benchmarks time both in the
same process, interleaved (``fastgd.bench.interleaved_medians``), with the
settings of ``fastgd bench``: alpha 1e-4, the 'optimal' schedule on both
sides, BLAS held to one thread (``fastgd.bench.run_sparse`` says why), and
report the ratio of the medians (> 1: fastgd is faster).
"""
import numpy as np

from .common import all_threads, n_jobs_of

N, D, NNZ_ROW = 200_000, 100_000, 100
ALPHA = 1e-5


def make_sparse(n=N, d=D, nnz_row=NNZ_ROW, dtype=np.float64, seed=0):
    """CSR rows with about ``nnz_row`` random columns each, and +-1 labels."""
    from fastgd.bench import make_sparse_data

    return make_sparse_data(n, d, nnz_row, dtype=dtype, random_state=seed)


def _trainer(X, optimizer="sgd", lr=0.01, batch=1, n_jobs=1, penalty="l2", alpha=ALPHA,
             hogwild=False, average=False, schedule=None, l1_method="proximal"):
    from fastgd.solver import Trainer

    tr = Trainer(loss="log_loss", optimizer=optimizer, lr=lr, penalty=penalty, alpha=alpha,
                 batch_size=batch, n_jobs=n_jobs, random_state=0, hogwild=hogwild,
                 average=average, schedule=schedule, l1_method=l1_method)
    tr.init_model(X.shape[1], X.dtype)
    return tr


def _ratio_of_medians(X, y, key, repeat=3, **fastgd_kwargs):
    """scikit-learn's epoch over fastgd's (``key``: "sklearn") or one thread
    over ``fastgd_kwargs`` (``key``: "one thread"), as fastgd bench times them."""
    from fastgd import bench

    with bench._blas_one_thread():
        sched = dict(schedule="optimal")
        fns = {"fastgd": bench.fastgd_epoch_runner(X, y, 1, 1, **sched)[0]}
        if key == "sklearn":
            fns["peer"] = bench.sklearn_epoch_runner(X, y)
            med = bench.interleaved_medians(fns, repeat)
            return med["peer"] / med["fastgd"]
        fns["other"] = bench.fastgd_epoch_runner(X, y, **fastgd_kwargs, **sched)[0]
        med = bench.interleaved_medians(fns, repeat)
        return med["fastgd"] / med["other"]


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
    """One epoch per optimizer at batch 1 (their lazy catch-up modes differ), and
    two at batch 256 (dense steps)."""

    params = (["sgd", "sgd-l1", "sgd-l1-cumulative", "sgd-averaged", "adagrad", "adagrad-l2", "sgd-momentum-l2",
                "sgd-momentum-l2-invscaling", "adam", "ftrl", "rmsprop-momentum", "adam-b256",
                "rmsprop-l2-b256"],)
    param_names = ["optimizer"]
    timeout = 300

    def setup(self, name):
        from fastgd.optim import FTRL, SGD, RMSprop

        self.X, self.y = make_sparse()
        kw = {"sgd": dict(optimizer="sgd", lr=0.01),
              "sgd-l1": dict(optimizer="sgd", lr=0.01, penalty="elasticnet"),
              # scikit-learn's cumulative L1: the general loop's weight scale,
              # catch-ups by bisection over per-step tables (session 19)
              "sgd-l1-cumulative": dict(optimizer="sgd", lr=0.01, penalty="elasticnet",
                                        l1_method="cumulative"),
              "sgd-averaged": dict(optimizer="sgd", lr=0.01, average=True),
              "adagrad": dict(optimizer="adagrad", lr=0.05, alpha=0.0),
              # lazy mode ADAGRAD_L2: the closed-form catch-up of lazy.h
              "adagrad-l2": dict(optimizer="adagrad", lr=0.05, alpha=1e-4),
              # lazy mode MOMENTUM: at a constant step size the powers M^J of
              # the step's map, from a table (session 10) ...
              "sgd-momentum-l2": dict(optimizer=SGD(lr=0.01, momentum=0.9), lr=None),
              # ... at a varying one, products of blocks of skipped steps
              "sgd-momentum-l2-invscaling": dict(optimizer=SGD(lr=0.01, momentum=0.9), lr=None,
                                                 schedule="invscaling"),
              # lazy mode ADAM: the expansion in eps / sqrt(v) (no penalty;
              # the gap's powers from a table since session 10)
              "adam": dict(optimizer="adam", lr=0.001, alpha=0.0),
              "ftrl": dict(optimizer=FTRL(lr=0.1, l1=1.0), lr=None, penalty=None, alpha=0.0),
              # lazy mode RMSPROP_MOMENTUM: decay powers from a table (session 8)
              "rmsprop-momentum": dict(optimizer=RMSprop(lr=0.001, momentum=0.5), lr=None,
                                       penalty=None, alpha=0.0),
              # batches of 256 rows touch 23% of the columns: dense steps
              # (since session 7; before, ADAM's catch-ups and LOOP's replay in lanes)
              "adam-b256": dict(optimizer="adam", lr=0.001, alpha=0.0, batch=256),
              "rmsprop-l2-b256": dict(optimizer="rmsprop", lr=0.001, batch=256)}[name]
        self.tr = _trainer(self.X, **kw)
        self.tr.run(self.X, self.y, None, epochs=1)

    def time_epoch(self, name):
        self.tr.run(self.X, self.y, None, epochs=1)


class SparseMultinomial:
    """One softmax epoch over the CSR data, 10 classes (K weights per feature)."""

    params = ([1, 256],)
    param_names = ["batch"]
    timeout = 300

    def setup(self, batch):
        from fastgd._multinomial import MultinomialTrainer

        self.X, _ = make_sparse()
        rng = np.random.default_rng(0)
        self.y = rng.integers(0, 10, self.X.shape[0]).astype(float)
        self.tr = MultinomialTrainer(10, optimizer="sgd", lr=0.01, penalty="l2", alpha=ALPHA,
                                     batch_size=batch, random_state=0)
        self.tr.init_model(self.X.shape[1], self.X.dtype)
        self.tr.run(self.X, self.y, None, epochs=1)

    def time_epoch(self, batch):
        self.tr.run(self.X, self.y, None, epochs=1)


class SparseHogwild:
    """Hogwild! (lock-free, batch 1) on every thread, against one thread:
    plain SGD with L2 and with elastic net (csr_hogwild_scaled), and Adagrad
    (csr_hogwild, the intercept under a lock)."""

    params = (["1", "all"], ["sgd-l2", "sgd-elasticnet", "adagrad"])
    param_names = ["threads", "case"]
    timeout = 300

    def setup(self, threads, case):
        self.X, self.y = make_sparse()
        kw = {"sgd-l2": {}, "sgd-elasticnet": dict(penalty="elasticnet"),
              "adagrad": dict(optimizer="adagrad", lr=0.05, penalty=None)}[case]
        self.tr = _trainer(self.X, n_jobs=n_jobs_of(threads), hogwild=threads != "1", **kw)
        self.tr.run(self.X, self.y, None, epochs=1)

    def time_epoch(self, threads, case):
        self.tr.run(self.X, self.y, None, epochs=1)


class SparseVsSklearn:
    """Per-epoch ratio to scikit-learn's SGDClassifier (log_loss), same process."""

    timeout = 600
    number = 1
    repeat = 1

    def setup(self):
        self.X, self.y = make_sparse()

    def track_ratio_vs_sklearn(self):
        return _ratio_of_medians(self.X, self.y, "sklearn")

    track_ratio_vs_sklearn.unit = "x"

    def track_hogwild_speedup(self):
        """Hogwild! on all threads over one thread (same data, batch 1)."""
        if all_threads() < 2:
            raise NotImplementedError("one thread")
        return _ratio_of_medians(self.X, self.y, "one thread", batch_size=1,
                                 n_jobs=all_threads(), hogwild=True)

    track_hogwild_speedup.unit = "x"


class SparseLarge:
    """The larger problem (2.4 GB of CSR): fastgd's epoch over scikit-learn's.

    Generating the data takes ~10 s and one epoch 1.5-2.5 s here, so the
    three interleaved rounds, warm-up epochs included, fit the timeout.
    Needs about 3 GB of memory.
    """

    timeout = 900
    number = 1
    repeat = 1

    def setup(self):
        self.X, self.y = make_sparse(2_000_000, 1_000_000, 100)

    def track_ratio_vs_sklearn(self):
        return _ratio_of_medians(self.X, self.y, "sklearn")

    track_ratio_vs_sklearn.unit = "x"


class SparseWidePartialFit:
    """``partial_fit`` of 100-row chunks on a 2,000,000-feature model (hashed
    features, 20 values per row): the per-call cost that does not scale with
    the chunk's values (the rollback copy of the model, the weight-scale
    fold, the epoch's gradient norm and objective). ``time_`` is one
    estimator call; ``track_`` fastgd's call over scikit-learn's, same
    process, interleaved (< 1: scikit-learn's call is faster)."""

    timeout = 300
    N_FEATURES, ROWS, VALUES = 2_000_000, 100, 20
    CLASSES = [-1, 1]
    EXTRA = {}   # fastgd's own parameters (scikit-learn takes the rest)

    def _chunks(self, k):
        import scipy.sparse as sp

        rng = np.random.default_rng(0)
        out = []
        for _ in range(k):
            idx = np.sort(rng.choice(self.N_FEATURES, size=(self.ROWS, self.VALUES)), axis=1)
            X = sp.csr_matrix((rng.standard_normal(self.ROWS * self.VALUES), idx.ravel(),
                               np.arange(self.ROWS + 1) * self.VALUES),
                              shape=(self.ROWS, self.N_FEATURES))
            X.sum_duplicates()
            y = (np.where(rng.random(self.ROWS) < 0.5, 1, -1) if len(self.CLASSES) == 2
                 else rng.integers(0, len(self.CLASSES), self.ROWS))
            out.append((X, y))
        return out

    def setup(self):
        import fastgd

        self.chunks = self._chunks(4)
        self.est = fastgd.SGDClassifier(loss="log_loss", random_state=0, **self.EXTRA)
        self.est.partial_fit(*self.chunks[0], classes=self.CLASSES)

    def time_partial_fit(self):
        self.est.partial_fit(*self.chunks[1])

    def track_ratio_vs_sklearn(self):
        import warnings

        from sklearn.linear_model import SGDClassifier

        from fastgd.bench import interleaved_medians

        sk = SGDClassifier(loss="log_loss", random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sk.partial_fit(*self.chunks[0], classes=self.CLASSES)
        calls = {"fastgd": lambda: self.est.partial_fit(*self.chunks[1]),
                 "sklearn": lambda: sk.partial_fit(*self.chunks[1])}
        med = interleaved_medians(calls, 9)
        return med["sklearn"] / med["fastgd"]

    track_ratio_vs_sklearn.unit = "x"


class SparseNarrowPartialFit(SparseWidePartialFit):
    """The same calls on a 1,000-feature model: what a call costs besides
    its rows where no pass over the model weighs (input validation, label
    checks, the explosion test's reference loss, bookkeeping)."""

    N_FEATURES = 1_000


class SparseWideMultinomialPartialFit(SparseWidePartialFit):
    """The same calls on a softmax model of 400,000 features x 5 classes
    (2M weights): its fused loop's one-pass end with the end sums, and
    coef_'s transposed copy. The peer is scikit-learn's one-vs-rest
    SGDClassifier (it has no softmax SGD)."""

    N_FEATURES = 400_000
    CLASSES = [0, 1, 2, 3, 4]
    EXTRA = {"multi_class": "multinomial"}
