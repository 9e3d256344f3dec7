"""The compiled backend's CSR path: one epoch over sparse rows (see _sparse.pyx)."""
from __future__ import annotations

import warnings
import weakref

import numpy as np

from fastgd.backends import EpochStats
from fastgd.backends.cpu import _sparse

__all__ = ["run_epoch_csr", "check_structure", "dense_steps", "replays_skipped_steps"]

# Index arrays whose structure was checked (O(nnz)) once, so that chunks and
# later epochs do not pay for it again: id -> (weak reference, signature).
_checked = {}


def _signature(X):
    return (X.shape, X.nnz, X.indptr.ctypes.data, X.indices.ctypes.data)


def check_structure(X):
    """Check X's CSR structure once (O(nnz)); later calls on the same arrays are free."""
    key = id(X.indices)
    entry = _checked.get(key)
    if entry is not None and entry[0]() is X.indices and entry[1] == _signature(X):
        return
    if X.indptr.dtype != X.indices.dtype:
        raise ValueError("CSR indptr and indices must have the same dtype")
    _sparse.check_structure(X.indices, X.indptr, X.shape[1])
    try:
        ref = weakref.ref(X.indices, lambda _, key=key: _checked.pop(key, None))
    except TypeError:   # not weak-referenceable: check every time
        return
    _checked[key] = (ref, _signature(X))


def _replays(cfg, t, truncated_too=True):
    """Whether lazy.h's catch-up for ``cfg`` replays the skipped steps one by one.

    Mode "loop" does, and so do the closed forms that cannot give every
    iterate when averaging (lazy.h: fgd_lazy_replays); with
    ``truncated_too=False``, not where the replay can stop early.
    """
    _, truncated = _sparse.lazy_mode(cfg, t, 1)
    return _sparse.lazy_replays(cfg, t, 1) and (truncated_too or not truncated)


def _dense_steps(X, cfg, t):
    """Whether the epoch's mini-batches over X take dense steps (see _sparse.pyx)."""
    fill = _sparse.batch_fill(cfg["batch_size"], X.nnz, X.shape[0], X.shape[1])
    return _sparse.dense_steps(cfg, t, fill)


def dense_steps(problem, t):
    """Whether ``problem``'s CSR mini-batches take dense steps from step ``t``."""
    return _dense_steps(problem.X, problem.c_config(), t)


def replays_skipped_steps(problem, t):
    """Whether a CSR step of ``problem`` costs O(n_features).

    It does where the lazy catch-up replays skipped steps one by one (every
    coordinate then eventually replays every step of an epoch) and where the
    mini-batches take dense steps; ``Trainer`` sizes its chunks by it.
    """
    cfg = problem.c_config()
    return _replays(cfg, t) or _dense_steps(problem.X, cfg, t)


def _scale_factor_message(problem, t, exc, scan=100_000):
    """The refusal of a step whose L2 factor ``1 - eta l2`` is not positive
    (the cumulative L1 penalty on CSR), naming the first such step size."""
    steps = -(-(problem.X.shape[0]) // problem.batch_size)
    for k in range(t, t + min(steps, scan)):
        eta = problem.schedule.lr_at(problem.lr, k)
        if not 1.0 - eta * problem.l2 > 0.0:
            name = getattr(problem.schedule, "name", "the schedule")
            return (f"the cumulative L1 penalty on sparse data needs every step's factor "
                    f"1 - eta * alpha * (1 - l1_ratio) to be positive; the {name!r} "
                    f"schedule's step size eta={eta:g} at step {k} makes it "
                    f"{1.0 - eta * problem.l2:g} (alpha * (1 - l1_ratio) = {problem.l2:g}). "
                    "Take smaller steps (the 'optimal' schedule's first step is "
                    "1/(alpha t0), whatever lr or eta0) or a smaller alpha, or "
                    "l1_method='proximal'")
    return str(exc)


def run_epoch_csr(problem, params, state, order, t, gsum, avg=None, end_sums=False):
    """One epoch (or chunk of one) over CSR rows in the compiled core.

    ``end_sums``: see :func:`fastgd.backends.cpu.run_epoch`.
    """
    X = problem.X
    check_structure(X)
    cfg = problem.c_config()
    cfg["end_sums"] = int(end_sums)
    if X.shape[1] > 10_000 and not _dense_steps(X, cfg, t) and _replays(cfg, t,
                                                                      truncated_too=False):
        warnings.warn(
            f"{type(problem.optimizer).__name__} with an L2/L1 penalty on sparse data has no "
            "closed-form lazy update here: every step a feature skips is replayed when it "
            "next appears, which can cost up to n_features per step. Consider penalty=None "
            "(or weight_decay=0), a larger batch_size, or an optimizer with a closed form "
            "here: SGD (with or without momentum), FTRL, Adagrad with L2 alone, or AdamW's "
            "decoupled weight decay, without L1 and without averaging.",
            RuntimeWarning, stacklevel=4)
    hogwild = bool(getattr(problem, "hogwild", False))
    if hogwild and problem.sw is not None:
        # Hogwild! takes a step at every position of the order, while the
        # serial loops take none for a row of weight zero (no gradient, no
        # penalty, no schedule step): leave those rows out of its order
        keep = (problem.sw if order is None else problem.sw[order]) != 0
        if not keep.all():
            order = np.flatnonzero(keep) if order is None else np.asarray(order)[keep]
    try:
        stats = _sparse.epoch_csr(X.data, X.indices, X.indptr, X.shape[1], problem.y,
                                  problem.sw, order, params, state, gsum, cfg, t, hogwild, avg)
    except _sparse.ScaleFactorError as exc:
        raise ValueError(_scale_factor_message(problem, t, exc)) from None
    if stats is None:   # the threaded mode cannot run this configuration
        cfg["n_threads"] = 1
        stats = _sparse.epoch_csr(X.data, X.indices, X.indptr, X.shape[1], problem.y,
                                  problem.sw, order, params, state, gsum, cfg, t, False, avg)
    return EpochStats(loss_sum=stats["loss_sum"], weight_sum=stats["weight_sum"],
                      lr_last=stats["lr_last"], t=stats["t"], n_steps=stats["n_steps"],
                      nonfinite=bool(stats["nonfinite"]), coef_sq=stats.get("coef_sq"),
                      coef_abs=stats.get("coef_abs"), gsum_sq=stats.get("gsum_sq"))
