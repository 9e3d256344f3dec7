"""The compiled backend: whole epochs in C with OpenMP, the GIL released."""
from __future__ import annotations

import numpy as np

from fastgd.backends import EpochStats
from fastgd.backends.cpu import _core

__all__ = ["epoch_order", "run_epoch", "build_info", "max_threads"]


def epoch_order(n, seed, out=None, block=None):
    """The seeded row order of an epoch, computed by the compiled core.

    Parameters
    ----------
    n : int
        Number of rows.
    seed : int
        The epoch's seed (:func:`fastgd.data.epoch_seed`).
    out : ndarray of int64, shape (n,), optional
        Filled in place when given.
    block : int or None, default=None
        None: a full permutation (C implementation of
        :func:`fastgd.data.epoch_order`). An int >= 1: contiguous blocks of
        ``block`` rows in a seeded order (C implementation of
        :func:`fastgd.data.epoch_order_blocks`).

    Returns
    -------
    order : ndarray of int64, shape (n,)
    """
    if out is None:
        out = np.empty(n, dtype=np.int64)
    if block is None:
        _core.epoch_order(out, seed & ((1 << 64) - 1))
    else:
        _core.epoch_order_blocks(out, int(block), seed & ((1 << 64) - 1))
    return out


# run_epoch takes end_sums (the Trainer asks only backends that say so)
TAKES_END_SUMS = True


def run_epoch(problem, params, state, order, t, gbuf, gsum, avg=None, end_sums=False):
    """One epoch in the compiled core; see :mod:`fastgd.backends`.

    ``end_sums=True``: the run is a whole epoch whose ``gsum`` the caller
    reads only for its norm. Where the loop's last pass over the model can
    take them (plain SGD at batch size 1 on CSR rows, the loop that a wide
    model trained in short ``partial_fit`` chunks runs), the returned
    EpochStats then carries the end sums and ``gsum`` is left zero: three
    passes over the model fewer. Elsewhere the argument changes nothing.
    """
    if hasattr(problem.X, "indptr"):   # CSR rows: the sparse core (_sparse.pyx)
        from fastgd.backends.cpu._csr import run_epoch_csr
        return run_epoch_csr(problem, params, state, order, t, gsum, avg, end_sums)
    stats = _core.epoch_dense(problem.X, problem.y, problem.sw, order, params, state, gbuf,
                              gsum, problem.c_config(), t, avg)
    return EpochStats(loss_sum=stats["loss_sum"], weight_sum=stats["weight_sum"],
                      lr_last=stats["lr_last"], t=stats["t"], n_steps=stats["n_steps"],
                      nonfinite=bool(stats["nonfinite"]))


def sparse_step_is_dense(problem, t):
    """Whether a CSR step of ``problem`` costs about as much as a dense step.

    True where the lazy catch-up replays skipped steps (stateful optimizers
    under a penalty, see csrc/lazy.h) and where the mini-batches take dense
    steps (:func:`sparse_dense_steps`); the Trainer then sizes epoch chunks
    as for dense data so that Ctrl-C stays prompt.
    """
    from fastgd.backends.cpu._csr import replays_skipped_steps
    return replays_skipped_steps(problem, t)


def sparse_table_bytes(problem):
    """Bytes of the per-step tables (lazy.h) a CSR chunk of ``problem``
    allocates for each of its steps; the Trainer bounds its chunks by them."""
    from fastgd.backends.cpu._sparse import lazy_table_rows
    return 8 * lazy_table_rows(problem.c_config())


def sparse_dense_steps(problem, t):
    """Whether ``problem``'s CSR mini-batches update every coordinate at every
    step (as the dense loop does) rather than lazily; see csrc/fastgd_csr.h."""
    from fastgd.backends.cpu._csr import dense_steps
    return dense_steps(problem, t)


def build_info():
    """OpenMP, thread count and SIMD dispatch of the compiled core, and
    whether its CSR loops prefetch weights on this CPU."""
    from fastgd.backends.cpu._sparse import weight_prefetch
    return dict(_core.build_info(), csr_weight_prefetch=weight_prefetch())


def max_threads():
    """OpenMP's current thread limit (OMP_NUM_THREADS, threadpoolctl)."""
    return _core.build_info()["max_threads"]
