"""Backends: one training loop each, all computing the same mathematics.

A backend exposes two functions:

``epoch_order(n, seed, out=None, block=None)``
    The seeded order in which an epoch visits rows (see :mod:`fastgd.data`):
    a full permutation, or with ``block`` rows per block the block-shuffled
    order of ``shuffle="block"``.
``run_epoch(problem, params, state, order, t, gbuf, gsum, avg=None)``
    One epoch of mini-batch steps over ``problem`` from step ``t``; updates
    ``params``, ``state``, ``gsum`` (and the averaged iterate ``avg``) in
    place and returns an :class:`EpochStats`. A backend whose module sets
    ``TAKES_END_SUMS = True`` also takes ``end_sums=True`` for a run that
    is a whole epoch: it may then return the end sums in the EpochStats
    and leave ``gsum`` zero.

``"cpu"`` is the compiled core (C + OpenMP); ``"reference"`` is plain NumPy,
the specification in code, for stepping through an algorithm and for tests.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

__all__ = ["EpochProblem", "EpochStats", "get_backend", "BACKENDS"]

BACKENDS = ("cpu", "reference")


@dataclass
class EpochProblem:
    """Everything an epoch needs besides the model: data and configuration.

    ``sw`` holds sample weights divided by their mean (None for all ones);
    ``schedule`` is bound (its fit-dependent defaults filled in).
    """

    X: np.ndarray
    y: np.ndarray
    sw: Optional[np.ndarray]
    loss: object
    optimizer: object
    schedule: object
    lr: float
    l2: float
    l1: float
    l2_decoupled: bool
    fit_intercept: bool
    batch_size: int
    n_threads: int
    average_start: int = -1   # averaged SGD after this step number; -1: off
    hogwild: bool = False     # CSR, batch_size 1, n_threads > 1: lock-free (not deterministic)
    # the summed gradient (History.grad_norm) exactly, where a faster CSR mode
    # approximates its L2 part (gtol stops on it)
    exact_gsum: bool = False
    # the cumulative L1 penalty's state (q_j for each coefficient, then u;
    # float64, updated in place: fastgd.penalties.cumulative_l1), or None
    # for the proximal L1
    l1_state: Optional[np.ndarray] = None

    def c_config(self):
        """The configuration as the compiled core's ``fgd_config`` reads it."""
        return dict(
            loss=self.loss.code, loss_param=self.loss.c_param,
            optimizer=self.optimizer.code, hyper=self.optimizer.c_params(),
            schedule=self.schedule.code, lr=self.lr, sched=self.schedule.c_params(),
            warmup_steps=float(self.schedule.warmup_steps),
            l2=self.l2, l1=self.l1, l2_decoupled=int(self.l2_decoupled),
            fit_intercept=int(self.fit_intercept), batch_size=self.batch_size,
            n_threads=self.n_threads, average_start=self.average_start,
            exact_gsum=int(self.exact_gsum),
            l1_state=self.l1_state if self.l1 > 0 else None)


@dataclass
class EpochStats:
    """What one epoch reports."""

    loss_sum: float      # sum of s_i * loss_i at the margins seen
    weight_sum: float    # sum of s_i over the rows visited
    lr_last: float       # step size of the last step
    t: int               # step counter after the epoch
    n_steps: int         # steps taken
    nonfinite: bool      # a margin or loss became NaN/inf; the epoch stopped there
    # The end sums, where the backend took them in its last pass (asked for
    # with run_epoch(..., end_sums=True) on the epoch's only chunk), else
    # None; the backend has then left gsum zero:
    coef_sq: Optional[float] = None    # sum of the squared coefficients (not the intercept)
    coef_abs: Optional[float] = None   # sum of their absolute values
    gsum_sq: Optional[float] = None    # squared norm of the epoch's summed gradient


def get_backend(name):
    """Return the backend module for ``name`` ("cpu" or "reference")."""
    if name in ("cpu", "auto", None):
        from fastgd.backends import cpu
        return cpu
    if name == "reference":
        from fastgd.backends import reference
        return reference
    raise ValueError(f"unknown backend {name!r}; choose one of {BACKENDS}")
