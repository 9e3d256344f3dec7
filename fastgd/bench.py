"""``fastgd bench``: the headline speed comparisons, measured in one process.

Everything is timed in the same process on the same data, so the ratios
hold even where absolute times drift (a shared or busy machine). Each time
is the median of ``repeat`` runs, taken in interleaved rounds (every case
once per round) so that all cases see the same drift in load; data
generation, warm-up runs and the reference optimum are never timed. The yardstick is the streaming read bandwidth measured
here by the compiled core (:func:`fastgd.backends.cpu._core.stream_read`):
an epoch over dense data cannot take less than ``bytes(X) / bandwidth``.

Cases (see benchmarks/README.md for the reasoning and the latest table):

* dense logistic-regression epochs (SGD, L2, shuffled rows) at several batch
  sizes on one thread and on all threads, float64 and float32, against
  scikit-learn's ``SGDClassifier(loss="log_loss")`` epoch; also with
  ``shuffle="block"`` (batch 1 and 256, one thread; batch 256 on all
  threads), with the objective its model reaches next to that of the fully
  shuffled one; and with rows in order (batch 1 and 256 on one thread,
  float64; batch 256 on all threads, each dtype), against scikit-learn's
  ``shuffle=False`` epoch;
* time to reach the L2-regularized logistic optimum to a relative 1e-4,
  against scikit-learn's ``LogisticRegression`` (lbfgs, saga) and
  ``SGDClassifier``;
* one Adam step over many float32 parameters, against NumPy and, when it is
  installed, ``torch.optim.Adam`` (foreach and fused);
* memory that ``fastgd.fit`` allocates beyond X, relative to X;
* sparse (CSR) epochs, 200,000 x 100,000 at 0.1% density (--quick: 100,000
  rows; --n and --d size the dense data only): per-sample log-loss SGD on
  one thread against scikit-learn's epoch, with the objective each reaches
  after the same number of epochs; Hogwild! and deterministic mini-batches
  on all threads against one thread; in the full run also a larger problem
  of about 2.4 GB (:func:`run_sparse`).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
import tracemalloc
import warnings

import numpy as np

__all__ = ["run", "run_sparse", "make_data", "make_sparse_data", "stream_bandwidth",
           "format_table", "main"]

#: Full run: the issue's problem size (1,000,000 x 100 float64 = 800 MB).
FULL = dict(n=1_000_000, d=100, repeat=3, adam_params=10_000_000, saga=True,
            max_epochs=12, budget_s=60.0, methods=3)
#: --quick: the same cases on a small problem, in well under a minute.
QUICK = dict(n=200_000, d=100, repeat=3, adam_params=2_000_000, saga=False,
             max_epochs=6, budget_s=4.0, methods=1)

ALPHA = 1e-4          # L2 strength of every logistic-regression case
SGD_LR = 0.01         # constant step size of the fastgd SGD epochs
TARGET_GAP = 1e-4     # time-to-target: relative gap to the optimal objective


def _median_time(fn, repeat):
    """Median wall-clock seconds of ``repeat`` calls of ``fn``."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def make_data(n, d, random_state=0):
    """Synthetic logistic-regression data: standard normal X, labels +-1.

    Labels follow a logistic model with weights of norm about 3, so the
    classes overlap and the optimum is well defined.
    """
    rng = np.random.default_rng(random_state)
    X = rng.standard_normal((n, d))
    w = rng.standard_normal(d) * (3.0 / math.sqrt(d))
    p = 1.0 / (1.0 + np.exp(-(X @ w + 0.25)))
    y = np.where(rng.random(n) < p, 1.0, -1.0)
    return X, y


def stream_bandwidth(X, n_threads, repeat=3):
    """Bytes per second at which the core reads the bytes of X once."""
    from fastgd.backends.cpu import _core

    data = X.reshape(-1).view(np.uint8)
    _core.stream_read(data, n_threads)        # fault in, warm up
    seconds = _median_time(lambda: _core.stream_read(data, n_threads), max(repeat, 3))
    return X.nbytes / seconds


def _all_threads():
    from fastgd.backends.cpu import max_threads

    return max(1, max_threads())


# ---- dense epochs ----------------------------------------------------------

def fastgd_epoch_runner(X, y, batch_size, n_jobs, optimizer="sgd", lr=SGD_LR, shuffle=True,
                        penalty="l2", alpha=ALPHA, **trainer_kwargs):
    """A function running one epoch of ``Trainer.run`` (data validated once).

    Returns (function, threads the epoch actually uses). One warm-up epoch
    has run (pages touched, buffers allocated). The function's ``trainer``
    attribute is the Trainer, whose model the epochs advance.
    ``trainer_kwargs`` (e.g. ``schedule``, ``hogwild``) go to the Trainer.
    """
    from fastgd.solver import Trainer

    tr = Trainer(loss="log_loss", optimizer=optimizer, lr=lr, penalty=penalty, alpha=alpha,
                 batch_size=batch_size, n_jobs=n_jobs, random_state=0, shuffle=shuffle,
                 **trainer_kwargs)
    tr.init_model(X.shape[1], X.dtype)
    threads = tr._problem(X, y, None, 1).n_threads

    def epoch():
        tr.run(X, y, None, epochs=1)

    epoch()
    epoch.trainer = tr
    return epoch, threads


def sklearn_epoch_runner(X, y, shuffle=True):
    """A function running ``SGDClassifier(log_loss).fit`` with ``max_iter=1``."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import SGDClassifier

    clf = SGDClassifier(loss="log_loss", alpha=ALPHA, max_iter=1, tol=None, shuffle=shuffle,
                        random_state=0)

    def epoch():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)

    epoch()
    return epoch


def interleaved_medians(functions, repeat):
    """Median seconds of each function, timed in rounds that call each once.

    On a shared machine the load drifts over seconds; calling every case
    once per round, in the same order, lets all of them see the same drift,
    so their ratios hold better than with one case timed after the other.
    """
    times = {key: [] for key in functions}
    for _ in range(repeat):
        for key, fn in functions.items():
            start = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - start)
    return {key: float(np.median(v)) for key, v in times.items()}


# ---- time to a target objective -------------------------------------------

def objective(X, y, coef, intercept, alpha=ALPHA):
    """Mean log-loss plus ``alpha/2 ||coef||^2`` (intercept not penalized)."""
    coef = np.asarray(coef, dtype=np.float64).reshape(-1)
    z = y * (X @ coef + float(intercept))
    return float(np.mean(np.logaddexp(0.0, -z))) + 0.5 * alpha * float(coef @ coef)


def optimum(X, y, alpha=ALPHA):
    """The optimal objective, by a tightly converged L-BFGS (not timed)."""
    from scipy.optimize import minimize

    n, d = X.shape

    def fg(v):
        z = y * (X @ v[:d] + v[d])
        value = np.mean(np.logaddexp(0.0, -z)) + 0.5 * alpha * v[:d] @ v[:d]
        s = -y * np.exp(-np.logaddexp(0.0, z)) / n     # -y sigmoid(-z) / n
        grad = np.empty(d + 1)
        grad[:d] = X.T @ s + alpha * v[:d]
        grad[d] = s.sum()
        return value, grad

    res = minimize(fg, np.zeros(d + 1), jac=True, method="L-BFGS-B",
                   options=dict(maxiter=1000, gtol=1e-12, ftol=1e-15))
    return float(res.fun)


def _first_to_target(fit_at, steps, f_star, budget_s, repeat):
    """Smallest setting in ``steps`` whose fit reaches the target; its median time.

    ``fit_at(k)`` fits with setting k and returns the objective reached.
    Returns (seconds, k, gap) or (None, k_tried, gap) when none reached it
    within ``budget_s`` seconds of searching.
    """
    spent, gap, k = 0.0, math.inf, None
    for k in steps:
        start = time.perf_counter()
        value = fit_at(k)
        seconds = time.perf_counter() - start
        spent += seconds
        gap = (value - f_star) / abs(f_star)
        if gap <= TARGET_GAP:
            if repeat > 1:
                seconds = min(seconds, _median_time(lambda: fit_at(k), repeat - 1))
            return seconds, k, gap
        if spent > budget_s:
            break
    return None, k, gap


def sklearn_to_target(X, y, f_star, solver, repeat, budget_s):
    """Time for a scikit-learn solver to reach the target objective."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression, SGDClassifier

    n = X.shape[0]

    def fit_at(k):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if solver == "sgd":
                m = SGDClassifier(loss="log_loss", alpha=ALPHA, max_iter=k, tol=None,
                                  random_state=0).fit(X, y)
            else:
                m = LogisticRegression(C=1.0 / (ALPHA * n), solver=solver, tol=1e-12,
                                       max_iter=k, random_state=0).fit(X, y)
        return objective(X, y, m.coef_, m.intercept_[0])

    del ConvergenceWarning
    steps = {"lbfgs": (3, 5, 7, 9, 11, 13, 16, 20, 25, 30, 40, 60, 100),
             "saga": (1, 2, 3, 4, 6, 8, 12, 16, 24, 32),
             "sgd": (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)}[solver]
    return _first_to_target(fit_at, steps, f_star, budget_s, repeat)


#: fastgd methods tried for time-to-target: (label, Trainer keyword arguments).
FASTGD_METHODS = (
    ("averaged SGD, batch 256, lr 0.5", dict(optimizer="sgd", lr=0.5, batch_size=256,
                                             average=True)),
    ("averaged SGD, batch 1024, lr 1", dict(optimizer="sgd", lr=1.0, batch_size=1024,
                                            average=True)),
    ("Adam, batch 4096, lr 0.01", dict(optimizer="adam", lr=0.01, batch_size=4096)),
)


def fastgd_to_target(X, y, f_star, kwargs, max_epochs, repeat):
    """Time for a fastgd Trainer to reach the target, epoch by epoch.

    The model (the averaged iterate when averaging) is scored after every
    epoch, outside the timing; the time is that of the training run up to
    the first epoch that reaches the target, median of ``repeat`` runs.
    """
    from fastgd.solver import Trainer

    def attempt():
        tr = Trainer(loss="log_loss", penalty="l2", alpha=ALPHA, random_state=0,
                     n_jobs=None, **kwargs)
        tr.init_model(X.shape[1], X.dtype)
        spent, gap = 0.0, math.inf
        for epoch in range(1, max_epochs + 1):
            start = time.perf_counter()
            tr.run(X, y, None, epochs=1)
            spent += time.perf_counter() - start
            model = tr.avg if tr.avg is not None else tr.params
            gap = (objective(X, y, model[:-1], model[-1]) - f_star) / abs(f_star)
            if gap <= TARGET_GAP:
                return spent, epoch, gap
        return None, max_epochs, gap

    first = attempt()
    if first[0] is None:
        return first
    runs = [first[0]] + [attempt()[0] for _ in range(repeat - 1)]
    if any(r is None for r in runs):     # a rerun of the same seed missed: report that
        return None, first[1], first[2]
    return float(np.median(runs)), first[1], first[2]


# ---- optimizer update kernels ----------------------------------------------

def fastgd_adam_stepper(n_params, n_threads, dtype=np.float32):
    """A function that takes one ``fastgd.optim.Adam().step`` over ``n_params`` parameters.

    The public step, as a user calls it (without the finiteness check of the
    gradient, which torch does not make either).
    """
    from fastgd.optim import Adam

    rng = np.random.default_rng(0)
    w = rng.standard_normal(n_params).astype(dtype)
    g = rng.standard_normal(n_params).astype(dtype)
    opt = Adam(lr=1e-3)
    state = opt.init_state(n_params, dtype)
    step = [0]

    def one():
        opt.step(w, g, state, step[0], n_jobs=n_threads, check_finite=False)
        step[0] += 1

    return one


def numpy_adam_stepper(n_params, dtype=np.float32, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    """A function that takes one in-place NumPy Adam step (a vectorized peer)."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal(n_params).astype(dtype)
    g = rng.standard_normal(n_params).astype(dtype)
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    tmp = np.empty_like(w)
    step = [0]

    def one():
        step[0] += 1
        k = step[0]
        np.multiply(m, b1, out=m)
        np.multiply(g, 1 - b1, out=tmp)
        np.add(m, tmp, out=m)
        np.multiply(g, g, out=tmp)
        np.multiply(tmp, 1 - b2, out=tmp)
        np.multiply(v, b2, out=v)
        np.add(v, tmp, out=v)
        np.sqrt(v, out=tmp)
        np.divide(tmp, math.sqrt(1 - b2 ** k), out=tmp)
        np.add(tmp, eps, out=tmp)
        np.divide(m, tmp, out=tmp)
        np.multiply(tmp, lr / (1 - b1 ** k), out=tmp)
        np.subtract(w, tmp, out=w)

    return one


def torch_adam_stepper(n_params, mode, n_threads=None):
    """A function that takes one ``torch.optim.Adam`` step (``mode``: foreach or fused).

    With ``n_threads``, torch's intra-op thread count is set to it before each
    step, so that it is compared with fastgd on as many threads.
    """
    import torch

    p = torch.nn.Parameter(torch.randn(n_params, dtype=torch.float32))
    p.grad = torch.randn(n_params, dtype=torch.float32)
    opt = torch.optim.Adam([p], lr=1e-3, **{mode: True})
    if n_threads is None:
        return opt.step

    def step():
        torch.set_num_threads(n_threads)
        opt.step()

    return step


# ---- memory -----------------------------------------------------------------

def fit_extra_memory(X, y, fit):
    """Peak bytes traced by tracemalloc (NumPy and Python allocations) during ``fit``."""
    tracemalloc.start()
    try:
        fit(X, y)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# ---- sparse (CSR) epochs ----------------------------------------------------

#: The issue's sparse problem, 200,000 x 100,000 at 0.1% density (20M stored
#: values), and a larger one of about 2.4 GB (2,000,000 x 1,000,000 at 0.01%).
SPARSE_FULL = dict(n=200_000, d=100_000, nnz_row=100, epochs=3,
                   large=dict(n=2_000_000, d=1_000_000, nnz_row=100))
#: --quick: half the rows, the same columns (so the weights' cache footprint is
#: that of the full case), no larger problem.
SPARSE_QUICK = dict(n=100_000, d=100_000, nnz_row=100, epochs=1, large=None)
#: Mini-batch size of the deterministic parallel mode's rows.
SPARSE_BATCH = 4096


def make_sparse_data(n, d, nnz_row, dtype=np.float64, random_state=0):
    """CSR rows with about ``nnz_row`` random columns each (int32 indices), labels +-1.

    Values are standard normal; labels are the sign of a linear model plus
    noise. Columns drawn twice in a row are summed, so rows hold slightly
    fewer than ``nnz_row`` entries.
    """
    import scipy.sparse as sp

    rng = np.random.default_rng(random_state)
    indices = np.sort(rng.integers(0, d, size=(n, nnz_row), dtype=np.int32), axis=1).ravel()
    indptr = np.arange(n + 1, dtype=np.int64) * nnz_row
    indptr = indptr.astype(np.int32) if n * nnz_row < 2 ** 31 else indptr
    data = rng.standard_normal(n * nnz_row).astype(dtype, copy=False)
    X = sp.csr_matrix((data, indices, indptr), shape=(n, d))
    X.sum_duplicates()
    w = rng.standard_normal(d) / np.sqrt(nnz_row)
    y = np.where(X @ w + 0.3 * rng.standard_normal(n) > 0, 1.0, -1.0)
    return X, y


def _csr_bytes(X):
    return X.data.nbytes + X.indices.nbytes + X.indptr.nbytes


def _blas_one_thread():
    """A context in which BLAS (OpenBLAS, MKL) runs on the calling thread only.

    After a BLAS call on a long vector, OpenBLAS's worker threads spin for a
    while; on two cores (or hyperthreads) that halved the speed of whatever
    ran next, scikit-learn's epoch or fastgd's (measured here: fastgd's CSR
    epoch 0.159 s right after one, 0.085 s without; scikit-learn's 0.214 s
    and 0.156 s). Every sparse case runs without them, so that no case pays
    for another's threads. A no-op without threadpoolctl.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def run_sparse(n, d, nnz_row, repeat=3, epochs=1, large=None, batch=SPARSE_BATCH, log=None):
    """The CSR cases; return ``(rows, info)`` (rows as in :func:`run`).

    See :func:`_sparse_cases`; BLAS is held to one thread meanwhile
    (:func:`_blas_one_thread`).
    """
    with _blas_one_thread():
        return _sparse_cases(n, d, nnz_row, repeat, epochs, large, batch, log)


def _sparse_cases(n, d, nnz_row, repeat, epochs, large, batch, log):
    """The CSR cases (see :func:`run_sparse`).

    Per-sample log-loss SGD with L2 (``ALPHA``) and scikit-learn's
    ``optimal`` schedule on shuffled rows, so that fastgd and
    ``SGDClassifier`` take the same steps (up to the row order and
    scikit-learn's damped intercept on sparse data, see benchmarks/README.md):
    fastgd on one thread against scikit-learn's epoch, with the objective each
    reaches after ``epochs`` epochs from zero (also with ``shuffle="block"``,
    which reads rows in runs of 64); ``n_jobs`` = all threads
    (Hogwild! at batch 1; deterministic mini-batches of ``batch`` rows, which
    take dense steps, with plain SGD and with Adagrad) against one thread.
    ``large`` (a dict of n, d, nnz_row) adds the batch-1 cases (scikit-learn,
    full and block shuffle, Hogwild!) on a larger problem. Epochs are timed in
    interleaved rounds, medians of
    ``repeat``. Returns ``(rows, info)``.
    """
    from fastgd.solver import Trainer

    say = log if log is not None else (lambda msg: None)
    n_all = _all_threads()
    rows, info = [], dict(threads=n_all, problems=[])
    problems = [("", dict(n=n, d=d, nnz_row=nnz_row), True)]
    if large:
        problems.append(("larger problem, ", large, False))
    for prefix, size, full in problems:
        say(f"generating {size['n']:,} x {size['d']:,} CSR data, {size['nnz_row']} "
            "values per row ...")
        X, y = make_sparse_data(**size)
        name = f"CSR {X.shape[0] / 1e3:g}k x {X.shape[1] / 1e3:g}k"
        info["problems"].append(dict(name=(f"{name} = {prefix}{X.shape[0]:,} x "
                                           f"{X.shape[1]:,}, {X.nnz / 1e6:.1f}M values, "
                                           f"{_csr_bytes(X) / 1e9:.2f} GB"),
                                     nnz=X.nnz, bytes=_csr_bytes(X)))
        bw1 = stream_bandwidth(X.data, 1)
        info["problems"][-1]["bandwidth_1_thread"] = bw1   # the % column's, printed
        bound = (X.data.nbytes + X.indices.nbytes) / bw1     # read every value and index once
        sched = dict(schedule="optimal")
        say(f"{name}: preparing the epoch cases (one warm-up epoch each) ...")
        fns = {"sklearn": sklearn_epoch_runner(X, y),
               "b1": fastgd_epoch_runner(X, y, 1, 1, **sched)[0]}
        if n_all > 1:
            fns["hogwild"], used_hog = fastgd_epoch_runner(X, y, 1, n_all, hogwild=True, **sched)
        fns["block"], _ = fastgd_epoch_runner(X, y, 1, 1, shuffle="block", **sched)
        if full:
            fns["batch1"] = fastgd_epoch_runner(X, y, batch, 1, **sched)[0]
            if n_all > 1:
                # batches this large take dense steps (csrc/fastgd_csr.h), which
                # share the threads: plain SGD, and Adagrad without penalty
                fns["batchn"], used_sgd = fastgd_epoch_runner(X, y, batch, n_all, **sched)
                ada = dict(optimizer="adagrad", lr=0.1, penalty=None, alpha=0.0)
                fns["ada1"] = fastgd_epoch_runner(X, y, batch, 1, **ada)[0]
                fns["adan"], used_b = fastgd_epoch_runner(X, y, batch, n_all, **ada)
        say(f"{name}: timing {len(fns)} cases in {repeat} interleaved rounds ...")
        med = interleaved_medians(fns, repeat)
        tag = name
        rows.append(_row(f"{tag}: scikit-learn SGDClassifier epoch", None, "",
                         med["sklearn"], bound))
        # the same number of epochs from zero, same settings: the objectives reached
        say(f"{name}: objectives after {epochs} epoch(s) (not timed) ...")

        def objective_after(**kwargs):
            tr = Trainer(loss="log_loss", optimizer="sgd", penalty="l2", alpha=ALPHA,
                         batch_size=1, n_jobs=1, random_state=0, **sched, **kwargs)
            tr.init_model(X.shape[1], X.dtype)
            tr.run(X, y, None, epochs=epochs)
            return objective(X, y, tr.params[:-1], tr.params[-1]), tr

        f_fg, tr = objective_after()
        from sklearn.linear_model import SGDClassifier

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf = SGDClassifier(loss="log_loss", alpha=ALPHA, max_iter=epochs, tol=None,
                                random_state=0).fit(X, y)
        f_sk = objective(X, y, clf.coef_, clf.intercept_[0])
        info["problems"][-1].update(epochs=epochs, objective_fastgd=f_fg,
                                    objective_sklearn=f_sk)
        rows.append(_row(f"{tag}: SGD epoch, batch 1, 1 thread", med["b1"],
                         "sklearn SGDClassifier epoch", med["sklearn"], bound,
                         note=f"objective after {epochs} epoch(s) {f_fg:.6f}, "
                              f"scikit-learn {f_sk:.6f}"))
        if "hogwild" in fns:
            f1, fh = (objective(X, y, fns[k].trainer.params[:-1], fns[k].trainer.params[-1])
                      for k in ("b1", "hogwild"))
            rows.append(_row(f"{tag}: SGD epoch, batch 1, {used_hog} threads, hogwild=True",
                             med["hogwild"], "fastgd, 1 thread", med["b1"], bound,
                             note=f"objective after {repeat + 1} epochs {fh:.6f}, "
                                  f"1 thread {f1:.6f}; not deterministic"))
        if "block" in fns:
            f_block, tr_block = objective_after(shuffle="block")
            info["problems"][-1]["objective_fastgd_block"] = f_block
            rows.append(_row(f'{tag}: SGD epoch, batch 1, 1 thread, shuffle="block" '
                             f"({tr_block.shuffle_block} rows)", med["block"],
                             "sklearn SGDClassifier epoch", med["sklearn"], bound,
                             note=f"objective after {epochs} epoch(s) {f_block:.6f}"))
        if "batch1" in fns:
            rows.append(_row(f"{tag}: SGD epoch, batch {batch}, 1 thread", med["batch1"],
                             "sklearn SGDClassifier epoch", med["sklearn"], bound))
        if "batchn" in fns:
            rows.append(_row(f"{tag}: SGD epoch, batch {batch}, {used_sgd} threads "
                             "(deterministic)", med["batchn"],
                             f"fastgd SGD batch {batch}, 1 thread", med["batch1"], bound))
        if "adan" in fns:
            rows.append(_row(f"{tag}: Adagrad epoch, batch {batch}, {used_b} threads "
                             "(deterministic)", med["adan"],
                             f"fastgd Adagrad batch {batch}, 1 thread", med["ada1"], bound))
        del X, y, fns, tr, clf
    return rows, info


# ---- the report -------------------------------------------------------------

def _row(case, fastgd_s, peer="", peer_s=None, bound_s=None, note=""):
    ratio = peer_s / fastgd_s if (peer_s and fastgd_s) else None
    frac = bound_s / fastgd_s if (bound_s and fastgd_s) else None
    return dict(case=case, fastgd_s=fastgd_s, peer=peer, peer_s=peer_s, speedup=ratio,
                bandwidth_fraction=frac, note=note)


def run(n, d, repeat=3, adam_params=10_000_000, saga=True, dtypes=("float64", "float32"),
        batches=(1, 32, 256, 4096), max_epochs=12, budget_s=60.0, methods=len(FASTGD_METHODS),
        log=None):
    """Run every case; return ``(rows, info)`` (see :func:`format_table`).

    ``max_epochs`` caps each fastgd time-to-target run, ``budget_s`` the
    seconds each scikit-learn solver may spend searching for its
    time-to-target setting, and ``methods`` how many of
    :data:`FASTGD_METHODS` are tried.
    """
    from fastgd.backends.cpu import build_info

    t_start = time.perf_counter()

    def say(msg):
        if log is not None:
            print(f"[{time.perf_counter() - t_start:6.1f} s] {msg}", file=log, flush=True)

    n_all = _all_threads()
    say(f"generating {n} x {d} logistic data ...")
    X64, y = make_data(n, d)
    info = dict(n=n, d=d, repeat=repeat, threads=n_all, build=build_info())
    from fastgd.backends.cpu import _core

    raw = X64.reshape(-1).view(np.uint8)
    say("preparing the epoch cases (one warm-up epoch each) ...")
    fns = {"read1": lambda: _core.stream_read(raw, 1),
           "readn": lambda: _core.stream_read(raw, n_all)}
    data = {"float64": X64}
    cases = []
    for dt in dtypes:
        if dt not in data:
            data[dt] = X64.astype(dt)
        X = data[dt]
        fns[("sklearn", dt)] = sklearn_epoch_runner(X, y)
        for batch in batches:
            for n_jobs in ((1,) if batch == 1 or n_all == 1 else (1, n_all)):
                fn, used = fastgd_epoch_runner(X, y, batch, n_jobs)
                fns[(dt, batch, n_jobs)] = fn
                cases.append((dt, batch, n_jobs, used))
        # block shuffle: sequential reads within blocks of rows (data.epoch_order_blocks)
        for batch in (1, 256):
            if batch in batches:
                fns[(dt, batch, "block")] = fastgd_epoch_runner(X, y, batch, 1,
                                                                shuffle="block")[0]
        if 256 in batches and n_all > 1:
            fn, used = fastgd_epoch_runner(X, y, 256, n_all, shuffle="block")
            fns[(dt, 256, "block", n_all)] = fn
            cases.append((dt, 256, ("block", n_all), used))
    # rows in order: what the random row access of a shuffled epoch costs
    fns[("sklearn", "in order")] = sklearn_epoch_runner(X64, y, shuffle=False)
    for batch in (1, 256):
        if batch in batches:
            fns[("in order", batch)] = fastgd_epoch_runner(X64, y, batch, 1, shuffle=False)[0]
    if 256 in batches and n_all > 1:
        for dt in dtypes:
            fn, used = fastgd_epoch_runner(data[dt], y, 256, n_all, shuffle=False)
            fns[(dt, 256, "in order", n_all)] = fn
            cases.append((dt, 256, ("in order", n_all), used))
    say(f"timing {len(fns)} cases in {repeat} interleaved rounds ...")
    # BLAS held to one thread: its spinning workers would slow the next case
    with _blas_one_thread():
        med = interleaved_medians(fns, repeat)
    bw1, bwn = X64.nbytes / med["read1"], X64.nbytes / med["readn"]
    info.update(bandwidth_1_thread=bw1, bandwidth_all_threads=bwn)
    say(f"streaming read: {bw1 / 1e9:.1f} GB/s on 1 thread, {bwn / 1e9:.1f} GB/s on {n_all}")
    rows = []
    for dt in dtypes:
        rows.append(_row(f"scikit-learn SGDClassifier(log_loss) epoch, {dt}", None, "",
                         med[("sklearn", dt)], data[dt].nbytes / bwn,
                         note="" if dt == "float64" else "converts X to float64"))
    for dt, batch, n_jobs, used in cases:
        bw = bw1 if used == 1 else bwn
        if isinstance(n_jobs, tuple):     # (row order, threads asked)
            order, n_jobs = n_jobs
            key = (dt, batch, order, n_jobs)
            what = 'shuffle="block"' if order == "block" else "rows in order"
            peer = ("sklearn SGDClassifier epoch", med[("sklearn", dt)]) if order == "block" \
                else ("sklearn SGDClassifier, shuffle=False", med[("sklearn", "in order")])
        else:
            key, what = (dt, batch, n_jobs), ""
            peer = ("sklearn SGDClassifier epoch", med[("sklearn", dt)])
        rows.append(_row(f"SGD epoch, {dt}, batch {batch}, n_jobs={n_jobs} ({used} thread(s))"
                         + (f", {what}" if what else ""),
                         med[key], peer[0], peer[1], data[dt].nbytes / bw,
                         note="" if used == n_jobs else "batch too small to split"))
        if n_jobs == 1 and (dt, batch, "block") in fns:
            # same seed, settings and number of epochs: compare the objectives reached
            full_tr, block_tr = fns[(dt, batch, 1)].trainer, fns[(dt, batch, "block")].trainer
            f_full, f_block = (objective(X64, y, tr.params[:-1], tr.params[-1])
                               for tr in (full_tr, block_tr))
            rows.append(_row(f"SGD epoch, {dt}, batch {batch}, 1 thread(s), "
                             f'shuffle="block" ({block_tr.shuffle_block} rows)',
                             med[(dt, batch, "block")], "sklearn SGDClassifier epoch",
                             med[("sklearn", dt)], data[dt].nbytes / bw1,
                             note=f"objective after {block_tr.epoch} epochs {f_block:.6f}, "
                                  f"full shuffle {f_full:.6f}"))
    for batch in (1, 256):
        if ("in order", batch) in med:
            rows.append(_row(f"SGD epoch, float64, batch {batch}, 1 thread(s), rows in order",
                             med[("in order", batch)], "sklearn SGDClassifier, shuffle=False",
                             med[("sklearn", "in order")], X64.nbytes / bw1))
    del data, fns

    say("optimum by L-BFGS (not timed) ...")
    f_star = optimum(X64, y)
    info["f_star"] = f_star
    best = None
    for label, kwargs in FASTGD_METHODS[:methods]:
        say(f"fastgd to target: {label} ...")
        seconds, epochs, gap = fastgd_to_target(X64, y, f_star, kwargs, max_epochs, repeat)
        if seconds is not None and (best is None or seconds < best[0]):
            best = (seconds, label, epochs)
    peers = [("lbfgs", "LogisticRegression lbfgs"), ("sgd", "SGDClassifier")]
    if saga:
        peers.insert(1, ("saga", "LogisticRegression saga"))
    peer_times = {}
    for solver, name in peers:
        say(f"scikit-learn to target: {name} ...")
        seconds, k, gap = sklearn_to_target(X64, y, f_star, solver, repeat, budget_s)
        peer_times[name] = (seconds, k, gap)
    reached = {k: v for k, v in peer_times.items() if v[0] is not None}
    fastest = min(reached.items(), key=lambda kv: kv[1][0]) if reached else None
    for name, (seconds, k, gap) in peer_times.items():
        unit = "epochs" if "lbfgs" not in name else "iterations"
        rows.append(_row(f"time to {TARGET_GAP:g} of optimum: {name}", None, "",
                         seconds, note=(f"{k} {unit}" if seconds is not None else
                                        f"not reached in {k} {unit} (gap {gap:.1e})")))
    if best is not None:
        rows.append(_row(f"time to {TARGET_GAP:g} of optimum: fastgd {best[1]}", best[0],
                         f"fastest scikit-learn ({fastest[0]})" if fastest else "",
                         fastest[1][0] if fastest else None, note=f"{best[2]} epochs"))
    else:
        rows.append(_row(f"time to {TARGET_GAP:g} of optimum: fastgd", None,
                         note=f"no fastgd method reached the target in {max_epochs} epochs"))

    nb = adam_params * 4 * 7    # float32: read w, g, m, v; write w, m, v
    say(f"Adam step over {adam_params} float32 parameters ...")
    steps = {"numpy": numpy_adam_stepper(adam_params)}
    for threads in sorted({1, n_all}):
        steps[threads] = fastgd_adam_stepper(adam_params, threads)
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
    if have_torch:
        import torch

        torch_threads = torch.get_num_threads()
        for mode in ("foreach", "fused"):
            for threads in sorted({1, n_all}):
                steps[(mode, threads)] = torch_adam_stepper(adam_params, mode, threads)
    for fn in steps.values():
        fn()
    med = interleaved_medians(steps, max(repeat, 5))
    if have_torch:
        torch.set_num_threads(torch_threads)
    for threads in sorted({1, n_all}):
        bw = bw1 if threads == 1 else bwn
        rows.append(_row(f"Adam step, {adam_params:,} float32 params, {threads} thread(s)",
                         med[threads], "NumPy in-place Adam", med["numpy"], nb / bw,
                         note="bound: 7 x 4 bytes per parameter at the read bandwidth"
                         + ("; above 100%: the arrays partly stay in the caches"
                            if med[threads] < nb / bw else "")))
        if have_torch:
            for mode in ("foreach", "fused"):
                rows.append(_row(
                    f"Adam step, {adam_params:,} float32 params, {threads} thread(s), "
                    f"vs torch {mode}", med[threads], f"torch.optim.Adam({mode}=True)",
                    med[(mode, threads)], nb / bw,
                    note=f"torch {torch.__version__} on {threads} thread(s)"))
    info["torch"] = have_torch
    del steps

    say("memory of fit ...")
    import fastgd

    def fg_fit(X, y):
        fastgd.fit(X, y, loss="log_loss", optimizer="sgd", lr=SGD_LR, batch_size=256,
                   epochs=1, penalty="l2", alpha=ALPHA, random_state=0)

    extra = fit_extra_memory(X64, y, fg_fit)
    rows.append(_row("memory: fastgd.fit allocates beyond X (tracemalloc peak)", None,
                     note=f"{extra / 1e6:.1f} MB = {100 * extra / X64.nbytes:.1f}% of X"))
    info["fit_extra_bytes"] = extra
    return rows, info


def _fmt(v, fmt):
    return "" if v is None else format(v, fmt)


def format_table(rows, info, markdown=False):
    """The rows as an aligned text table (or Markdown)."""
    head = ("case", "fastgd s", "peer", "peer s", "peer/fastgd", "% of bandwidth", "note")
    body = [(r["case"], _fmt(r["fastgd_s"], ".4f"), r["peer"], _fmt(r["peer_s"], ".4f"),
             _fmt(r["speedup"], ".1f"),
             _fmt(None if r["bandwidth_fraction"] is None else 100 * r["bandwidth_fraction"],
                  ".0f"), r["note"]) for r in rows]
    lines = []
    if "n" in info:    # the dense cases ran
        lines += [f"fastgd bench: {info['n']:,} x {info['d']} synthetic logistic data, "
                  f"median of {info['repeat']} runs, {info['threads']} threads available, "
                  f"SIMD {info['build'].get('simd')}",
                  f"streaming read bandwidth: {info['bandwidth_1_thread'] / 1e9:.1f} GB/s "
                  f"(1 thread), {info['bandwidth_all_threads'] / 1e9:.1f} GB/s "
                  f"({info['threads']} threads); % of bandwidth = bytes / bandwidth / time"]
    if "sparse" in info:
        probs = info["sparse"]["problems"]
        lines.append(f"sparse: {'; '.join(p['name'] for p in probs)}; "
                     f"log-loss SGD, L2 {ALPHA:g}, optimal schedule, shuffled rows; "
                     "% of bandwidth = bytes of values and indices / 1-thread read "
                     "bandwidth of the problem's values (" +
                     ", ".join(f"{p['bandwidth_1_thread'] / 1e9:.1f} GB/s" for p in probs
                               if "bandwidth_1_thread" in p) + ") / time")
    if "n" in info and info["bandwidth_all_threads"] < info["bandwidth_1_thread"]:
        lines.append(f"warning: the {info['threads']}-thread read bandwidth measured below the "
                     "1-thread one (other work on the machine?): the all-threads % column is "
                     "not meaningful in this run")
    # an epoch cannot read its bytes faster than the bandwidth: a row above
    # 100% (but the noted cache-resident ones) means the yardstick came out low
    over = [r["case"] for r in rows if (r["bandwidth_fraction"] or 0.0) > 1.0
            and "above 100%" not in (r["note"] or "")]
    if over:
        lines.append(f"warning: {len(over)} row(s) above 100% of the bandwidth measured in this "
                     f"run (first: {over[0]}): the bandwidth measured low (other work on the "
                     "machine?), so their % is not meaningful")
    if markdown:
        lines.append("")
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        lines += ["| " + " | ".join(b) + " |" for b in body]
    else:
        widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
        lines.append("  ".join(h.ljust(w) for h, w in zip(head, widths)))
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(c.ljust(w) for c, w in zip(b, widths)) for b in body]
    return "\n".join(lines)


def add_arguments(parser):
    """The options of ``fastgd bench`` (shared by the CLI and ``python -m``)."""
    parser.add_argument("--quick", action="store_true",
                        help=f"small problem ({QUICK['n']:,} rows), no saga: under a minute")
    parser.add_argument("--n", type=int, default=None,
                        help=f"rows of the dense data (default {FULL['n']:,}; --quick "
                        f"{QUICK['n']:,}); the sparse problems have fixed sizes")
    parser.add_argument("--d", type=int, default=None,
                        help=f"features of the dense data (default {FULL['d']})")
    parser.add_argument("--repeat", type=int, default=None, help="runs per timing (median)")
    parser.add_argument("--float64-only", action="store_true", help="skip the float32 cases")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--no-sparse", action="store_true", help="skip the sparse (CSR) cases")
    which.add_argument("--sparse-only", action="store_true", help="only the sparse (CSR) cases")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    return parser


def main(args):
    """Run the benchmark for parsed ``args``; print the table."""
    opts = dict(QUICK if args.quick else FULL)
    for key in ("n", "d", "repeat"):
        if getattr(args, key) is not None:
            if getattr(args, key) < 1:
                raise ValueError(f"--{key} must be >= 1")
            opts[key] = getattr(args, key)
    dtypes = ("float64",) if args.float64_only else ("float64", "float32")
    rows, info = [], {}
    if not getattr(args, "sparse_only", False):
        rows, info = run(opts["n"], opts["d"], opts["repeat"], opts["adam_params"],
                         opts["saga"], dtypes=dtypes, max_epochs=opts["max_epochs"],
                         budget_s=opts["budget_s"], methods=opts["methods"], log=sys.stderr)
    if not getattr(args, "no_sparse", False):
        t_start = time.perf_counter()

        def say(msg):
            print(f"[{time.perf_counter() - t_start:6.1f} s] {msg}", file=sys.stderr, flush=True)

        sparse = dict(SPARSE_QUICK if args.quick else SPARSE_FULL)
        srows, info["sparse"] = run_sparse(repeat=opts["repeat"], log=say, **sparse)
        rows += srows
    print(format_table(rows, info, markdown=args.markdown))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(info=info, rows=rows), f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main(add_arguments(argparse.ArgumentParser(prog="fastgd bench")).parse_args()))
