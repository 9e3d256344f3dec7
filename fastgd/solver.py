"""The training driver: Python decides, a backend iterates.

:class:`Trainer` owns a model (parameters, optimizer state, step counter)
across epochs and across calls, so online learning continues exactly where
it stopped. Per epoch it draws the seeded row order, hands one whole epoch
to a backend, then does the bookkeeping in Python: history, divergence,
stopping, the ``adaptive`` schedule. :func:`fit` is the functional API
over it.
"""
from __future__ import annotations

import contextlib
import copy
import math
import numbers
import threading
import time
from dataclasses import dataclass, field, replace

import numpy as np

from fastgd._checks import check_bool, check_real
from fastgd.backends import EpochProblem, EpochStats, get_backend
from fastgd.data import (DEFAULT_SHUFFLE_BLOCK, astype_in_range, base_seed, check_data,
                         check_labels, check_shuffle, check_targets, epoch_seed,
                         scaled_sample_weight)
from fastgd.losses import get_loss
from fastgd.optim import get_optimizer
from fastgd.penalties import get_penalty
from fastgd.schedules import get_schedule

__all__ = ["fit", "Trainer", "FitResult", "History", "DivergenceError", "effective_n_threads"]

# Below this many multiply-adds per batch, a second thread costs more in
# barriers than it saves (BASELINES.md: a barrier per 32 rows halves speed;
# batch 256 at d = 100 measured 1.5-1.65x faster on two free cores, batch 128 not
# reliably).
MIN_WORK_PER_THREAD = 8192
# scikit-learn's floor for the adaptive schedule.
ADAPTIVE_MIN_LR = 1e-6
# An epoch whose mean training loss exceeds this many times the loss of the
# starting model (or of the all-zero model, whichever is larger) counts as
# diverged even while every number is still finite: a stable step never
# gets there, and an unstable one can take hundreds of epochs to overflow.
EXPLOSION_FACTOR = 1e6
# The reference loss for that test is taken on at most this many rows.
REFERENCE_ROWS = 1024
# Python gets control back after about this many bytes of work during an
# epoch (Ctrl-C, other threads, progress; a few tens of milliseconds): the
# compiled core runs an epoch in chunks of whole mini-batches. The size is a
# function of the shapes only, never of measured speed: each chunk sums its
# losses on its own, so a partition that varied from run to run would change
# the last bits of the history of a seeded fit.
CHUNK_BYTES = 1 << 25
# A CSR chunk of lazy updates ends with passes over every coordinate (the
# weight scale folded into the weights, the skipped updates caught up, the
# gradient sums). Plain SGD's CSR loop costs little more than reading its
# rows, so there a chunk holds at least CATCHUP_RATIO times the bytes those
# passes touch, and at most CHUNK_MAX_BYTES of rows, so that they stay a few
# percent of the epoch: 2M x 1M rows with 100 values each took 72 chunks of
# 32 MB, and a quarter of the epoch went to these passes. (Elsewhere a
# stored value costs more -- Adagrad about 11 ns without a penalty and
# 35-130 ns with L2, against 2 ns for plain SGD; the softmax model once per
# class -- so chunks of CHUNK_BYTES already take long enough to amortize the
# passes better, and 1 GB chunks kept Ctrl-C waiting 9-11 s.)
CATCHUP_RATIO = 32
CHUNK_MAX_BYTES = 1 << 30
# A sparse chunk's per-step tables (lazy catch-ups: 7 to 24 doubles a step)
# take at most this share of X's bytes (or TABLE_MIN_BYTES, for small X),
# and at most CHUNK_BYTES: on rows of a few values each, chunks of
# CHUNK_BYTES of tables made them 40% of X, against the 20% that a fit may
# add to X's memory.
TABLE_SHARE = 0.1
TABLE_MIN_BYTES = 1 << 20
# A thread keeps its runs' gradient-sum buffer from one run to the next up
# to this size (as the core keeps its scratch, _sparse.REUSE_BYTES): a fresh
# one per run cost page faults on every page at every call, which on a wide
# model dominate a short partial_fit (2M features, 100-row chunks: 8.3-8.5
# -> 6.4-6.6 ms per call when kept).
GSUM_KEEP_BYTES = 1 << 25
_gsum_reuse = threading.local()


class _GradientSums:
    """A run's gradient-sum buffer, ``array``, and whether it is all zero
    now (``zero``): the backend may leave it zero (EpochStats.gsum_sq), and a
    buffer known to be zero needs no pass to clear it."""

    __slots__ = ("array", "zero")

    def __init__(self, size):
        self.array = np.zeros(size)
        self.zero = True

    def clear(self):
        """Make ``array`` zero, with a pass over it only where it is not."""
        if not self.zero:
            self.array.fill(0.0)
            self.zero = True


@contextlib.contextmanager
def _kept_gsum(size):
    """A :class:`_GradientSums` of ``size`` doubles: the one this thread's
    last run gave back where it fits GSUM_KEEP_BYTES, else a new one. Taken
    out while in use, so that no two runs in progress can share it."""
    sums = getattr(_gsum_reuse, "sums", None)
    _gsum_reuse.sums = None
    if sums is None or sums.array.size != size:
        sums = _GradientSums(size)
    try:
        yield sums
    finally:
        if sums.array.nbytes <= GSUM_KEEP_BYTES:
            _gsum_reuse.sums = sums


def _store_init(dest, values, name):
    """``dest[...] = values`` (finite float64) in the model's dtype; a
    ValueError naming ``name`` where a value is beyond that dtype's range."""
    dest[...] = astype_in_range(values, dest.dtype, name, "the model's dtype (that of X)")


class ModelCopy(tuple):
    """What :meth:`Trainer.copy_model` returns: a tuple of copies of the
    model's arrays (params, the state rows in use, avg or None,
    l1_state or None), with
    ``coef_sq`` and ``coef_abs``, the sums of the copied coefficients'
    squares and absolute values (None where not taken): the penalty of the
    model the copy restores, without another pass over it."""

    def __new__(cls, arrays, coef_sq=None, coef_abs=None):
        self = super().__new__(cls, arrays)
        self.coef_sq, self.coef_abs = coef_sq, coef_abs
        return self


class DivergenceError(FloatingPointError):
    """Training diverged: the loss or the weights became NaN or infinite.

    Attributes
    ----------
    result : FitResult or None
        Set by :func:`fit`: the model of the last good epoch (its
        ``stop_reason`` is ``"diverged"``; ``n_iter_ == 0`` where the first
        epoch diverged). A :class:`Trainer` keeps that model itself.
    """

    result = None


@dataclass
class History:
    """Per-epoch record of a fit.

    Attributes
    ----------
    loss : list of float
        Mean training loss over the epoch (at the margins seen while
        training) plus the penalty at the end of the epoch.
    grad_norm : list of float
        Euclidean norm of the average mini-batch gradient of the smooth part
        of the objective (loss and L2) over the epoch. For full-batch
        gradient descent, the exact gradient norm. On CSR rows with plain
        SGD, its L2 part is approximated in two cases (README, "Gradient
        norm on sparse data"): with L1, and with the ``optimal`` schedule
        and L2 at batch size 1 unless ``gtol`` is set.
    lr : list of float
        Step size of the epoch's last step.
    seconds : list of float
        Wall-clock time of the epoch.
    validation : list of float
        The monitored validation score, when one was given.
    """

    loss: list = field(default_factory=list)
    grad_norm: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    validation: list = field(default_factory=list)

    def __len__(self):
        return len(self.loss)

    def as_dict(self):
        """The history as a dict of NumPy arrays."""
        return {k: np.asarray(v, dtype=float) for k, v in vars(self).items()}


def effective_n_threads(n_jobs):
    """Threads for ``n_jobs`` under the current OpenMP limits.

    The limit is OpenMP's current maximum, which follows ``OMP_NUM_THREADS``,
    threadpoolctl's ``threadpool_limits`` (in the calling thread) and the
    CPUs this process may run on. None: 1, as in scikit-learn; -1: the
    limit; -k: the limit less k-1 (at least 1); k > 0: k, but never more
    than the limit, so fastgd does not oversubscribe the machine or override
    a limit set by the user.

    One thread is the default because threads synchronize twice per
    mini-batch: on a machine whose cores are busy with other work, a waiting
    thread loses its core and two threads were measured 7-15x slower than
    one (benchmarks/README.md). Ask for threads where cores are free.
    """
    from fastgd.backends.cpu import max_threads

    limit = max(1, max_threads())
    if n_jobs is None:
        return 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0:
        raise ValueError(f"n_jobs must be None or a non-zero integer, got {n_jobs!r}")
    if n_jobs < 0:
        return max(1, limit + 1 + int(n_jobs))
    return min(int(n_jobs), limit)


def _all_finite(a, total=None):
    """Whether every value of ``a`` is finite, in one pass without a temporary.

    A finite sum has no NaN or infinity among its terms (either would make
    it NaN or infinite); only a sum that overflowed needs the exact test.
    ``total``: such a sum already taken (of the values or of their squares),
    which saves the pass where it is finite.
    """
    if total is None:
        with np.errstate(over="ignore", invalid="ignore"):
            total = float(np.sum(a, dtype=np.float64))
    return math.isfinite(total) or bool(np.all(np.isfinite(a)))


def _sum_squares(v):
    """``v . v`` in float64 without BLAS.

    A BLAS dot product of a long vector wakes OpenBLAS's threads, which then
    spin for a while: on a machine whose cores are busy (or are hyperthreads
    of one core) that slowed the next compiled epoch by up to 2x (a 200k x
    100k CSR epoch: 0.155 s after such a dot, 0.082 s without). einsum sums
    in NumPy's own loop, on this thread.
    """
    v = np.asarray(v, dtype=np.float64).reshape(-1)
    return float(np.einsum("i,i->", v, v))


def _check_int(name, value, low=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _check_optional_real(name, value, low=0.0):
    if value is None:
        return None
    try:
        return check_real(name, value, low=low)
    except ValueError:
        bound = "" if low == -math.inf else f" >= {low}"
        raise ValueError(f"{name} must be None or a finite number{bound}, got "
                         f"{value!r}") from None


def _check_schedule(optimizer, schedule):
    """``schedule``, refused for an optimizer that needs a constant step size
    (:class:`fastgd.optim.FTRL`)."""
    if getattr(optimizer, "constant_lr", False) and not (
            schedule.name == "constant" and schedule.warmup_steps == 0):
        raise ValueError(
            f"{type(optimizer).__name__} takes a constant step size (the 'constant' schedule "
            f"without warm-up), got {schedule!r}: its weights scale with lr itself, so a "
            "schedule that lowers lr would shrink the whole model at each change")
    return schedule


class Trainer:
    """A model in training: configuration, parameters, optimizer state, history.

    Parameters
    ----------
    loss : str or Loss
    optimizer : str or Optimizer
        A name (with ``lr``) or an object from :mod:`fastgd.optim`.
    lr : float, optional
        Step size for a named optimizer (default: the optimizer's).
    schedule : str, Schedule or None
        None means constant.
    penalty : str, Penalty or None
    alpha, l1_ratio : float
        Penalty strength and L1 mixing.
    l1_method : {"proximal", "cumulative"}
        How L1 is applied (:class:`fastgd.penalties.Penalty`); "cumulative"
        needs plain SGD without momentum, and no ``average`` or ``hogwild``.
    fit_intercept : bool
    batch_size : int
        1 is pure SGD; ``batch_size >= n_samples`` is full-batch descent.
    n_jobs : int or None
        Upper bound on threads (None: 1, -1: all allowed); see
        :func:`effective_n_threads`. Batches too small to share run on one
        thread.
    backend : {"cpu", "reference"}
    shuffle : bool or "block"
        True: a fresh seeded permutation of the rows every epoch; False:
        rows in order; "block": contiguous blocks of ``shuffle_block`` rows
        in a fresh seeded order, rows in order within a block
        (:func:`fastgd.data.epoch_order_blocks`).
    random_state : None, int or RandomState
    epsilon : float
        Hyperparameter of the epsilon-insensitive and Huber losses.
    on_divergence : {"raise", "backoff"}
        When an epoch diverges -- a NaN/inf loss or weight, or a mean loss
        more than ``EXPLOSION_FACTOR`` times that of the starting (or the
        all-zero) model -- raise :class:`DivergenceError` (weights stay at
        the last good epoch), or restore the last good epoch, halve the step
        size and repeat the epoch (up to ``max_backoffs`` halvings per
        :meth:`run` call). A halving
        halves every step size of every schedule: ``lr`` and ``rate_scale``
        are halved, and the epochs run with ``schedule.scaled(rate_scale)``
        (which scales what does not come from ``lr``: the whole step size of
        ``"optimal"``, ``eta_min`` of ``"cosine"``). Both carry over to later
        calls, as the step counter does.

    Notes
    -----
    :meth:`run` hands each epoch to the backend in chunks of whole
    mini-batches of about ``CHUNK_BYTES`` of work, so Ctrl-C is honoured
    within a fraction of a second: the interrupted epoch is undone (weights,
    optimizer state, step counter, history are those of the last completed
    epoch) and KeyboardInterrupt propagates.
    average : bool or int
        Averaged SGD: keep the running mean of the iterates after step
        number ``average`` (True: from the first step) in ``avg``.
    hogwild : bool, default=False
        Sparse (CSR) input with ``batch_size=1`` and ``n_jobs > 1`` only:
        run Hogwild! (Niu et al., 2011), lock-free asynchronous SGD in which
        the threads update the shared weights without locks. Fast, but NOT
        deterministic (results vary from run to run). Without it, threads
        are used deterministically: CSR mini-batches (``batch_size > 1``) are
        split across threads with per-thread gradient buffers summed in a
        fixed order (same seed, data and thread count: same bits), and
        ``batch_size=1`` runs on one thread.
    shuffle_block : int or None, default=None
        Rows per block when ``shuffle="block"`` (None:
        :data:`fastgd.data.DEFAULT_SHUFFLE_BLOCK`, 64).
    """

    def __init__(self, loss="squared_error", optimizer="sgd", lr=None, schedule=None,
                 penalty="l2", alpha=0.0, l1_ratio=0.15, fit_intercept=True, batch_size=32,
                 n_jobs=None, backend="cpu", shuffle=True, random_state=None, epsilon=0.1,
                 on_divergence="raise", max_backoffs=10, average=False, hogwild=False,
                 shuffle_block=None, l1_method="proximal"):
        self.loss = get_loss(loss, epsilon=epsilon)
        # a copy of an optimizer object: its hyperparameters are this
        # trainer's from now on, whatever the caller later sets on theirs
        # (e.g. an estimator's set_params(optimizer__lr=...) before a refit)
        self.optimizer = copy.copy(get_optimizer(optimizer, lr=lr))
        self.schedule = _check_schedule(self.optimizer, get_schedule(schedule))
        self._set_penalty(get_penalty(penalty, alpha=alpha, l1_ratio=l1_ratio,
                                      l1_method=l1_method))
        self.fit_intercept = check_bool("fit_intercept", fit_intercept)
        self.batch_size = _check_int("batch_size", batch_size)
        self.n_threads = effective_n_threads(n_jobs)
        self.backend_name = backend
        self.backend = get_backend(backend)
        self.shuffle, self.shuffle_block = check_shuffle(shuffle, shuffle_block)
        self.seed = base_seed(random_state)
        if on_divergence not in ("raise", "backoff"):
            raise ValueError(f"on_divergence must be 'raise' or 'backoff', got {on_divergence!r}")
        self.on_divergence = on_divergence
        self.max_backoffs = _check_int("max_backoffs", max_backoffs, low=0)
        self.hogwild = check_bool("hogwild", hogwild)
        if self.hogwild and self.batch_size != 1:
            raise ValueError("hogwild=True takes lock-free per-row steps: it needs batch_size=1 "
                             f"(got {self.batch_size}); larger CSR batches are split across "
                             "threads deterministically without it")
        if average is None or isinstance(average, (bool, np.bool_)):
            self.average_start = 0 if average else -1
        else:
            # (a start past 2**62 steps is never reached: the same, in int64)
            self.average_start = min(_check_int("average", average, low=0), 2**62)
        if self.hogwild and self.average_start >= 0:
            raise ValueError("hogwild=True cannot keep an averaged iterate (average=...): the "
                             "lock-free threads have no common step order to average over; "
                             "use hogwild=False (a batch_size > 1 still runs on n_jobs threads)")
        self._check_l1_method(self.penalty)
        self.lr = self.optimizer.lr
        # Divergence backoff's factor on every step size (1/2 per halving),
        # kept apart from lr for the schedules whose steps do not all come
        # from lr (see Schedule.scaled).
        self.rate_scale = 1.0
        self.avg = None
        self.params = None
        self.state = None
        self.l1_state = None
        self.t = 0
        self.epoch = 0
        self.history = History()
        self._bound_schedule = None

    def __getstate__(self):
        # the backend is a module: pickle its name and look it up again
        state = self.__dict__.copy()
        state["backend"] = None
        return state

    def __setstate__(self, state):
        # trainers pickled before divergence backoff scaled every schedule
        # have no rate_scale: theirs was 1
        self.__dict__.update({"rate_scale": 1.0, **state})
        self.backend = get_backend(self.backend_name)

    def _set_penalty(self, penalty):
        """Take ``penalty`` (a :class:`Penalty`) after checking it against the optimizer."""
        wd = self.optimizer.weight_decay
        if wd > 0 and penalty.l2 > 0:
            raise ValueError(
                f"both the optimizer's weight_decay={wd} and the penalty's L2 term "
                f"(alpha * (1 - l1_ratio) = {penalty.l2}) are set; they are the same "
                "term: give one of them (e.g. alpha=0 or weight_decay=0)")
        if getattr(self.optimizer, "own_penalty", False) and penalty.alpha > 0:
            raise ValueError(
                f"{type(self.optimizer).__name__} has its own l1/l2 regularization; set it "
                f"there and use alpha=0 (got alpha={penalty.alpha})")
        self.penalty = penalty
        self.l2 = wd if wd > 0 else penalty.l2

    def _check_l1_method(self, penalty):
        """Refuse the cumulative L1 penalty where it is not defined (where
        there is an L1 part: ``l1_method`` alone changes nothing)."""
        if not penalty.cumulative:
            return
        opt = self.optimizer
        if not (opt.name == "sgd" and opt.momentum == 0 and not opt.decoupled_weight_decay):
            raise ValueError(
                "l1_method='cumulative' is scikit-learn's penalty for plain SGD: it needs "
                f"optimizer='sgd' without momentum (got {type(opt).__name__}); other "
                "optimizers take l1_method='proximal'")
        if self.average_start >= 0:
            raise ValueError("l1_method='cumulative' cannot be combined with average: use "
                             "l1_method='proximal' to average the iterates")
        if self.hogwild:
            raise ValueError("l1_method='cumulative' needs one order of steps: use "
                             "hogwild=False (sparse data then trains on one thread)")

    def retune(self, lr=None, schedule=None, penalty=None, epsilon=None):
        """Change the step size, schedule, penalty or loss width of a model in
        training; the weights, optimizer state and step counter carry on.

        What :meth:`run` then continues with is what a training started with
        these settings would do at the current step: the schedule is bound
        as the first call bound it (the same number of steps, the new
        penalty's ``alpha`` and loss), so ``"optimal"`` takes the ``t0`` of
        the new ``alpha``. Everything is checked before anything changes.

        Parameters
        ----------
        lr : float, optional
            The new base step size. It replaces the one that the adaptive
            schedule or divergence backoff has lowered, and ends backoff's
            scaling of the schedule's other step sizes (``rate_scale``).
        schedule : str or Schedule, optional
        penalty : Penalty, optional
        epsilon : float, optional
            The width of the epsilon-insensitive and Huber losses.

        None leaves a setting as it is.
        """
        opt, loss, sched = self.optimizer, self.loss, self.schedule
        new_lr = lr is not None
        if new_lr and lr != self.lr:
            if getattr(opt, "constant_lr", False):
                raise ValueError(f"{type(opt).__name__} takes a constant step size: its weights "
                                 "scale with lr itself, so a new lr would shrink or grow the "
                                 "whole model rather than its steps; call fit to train with it")
            opt = copy.copy(opt)    # its own copy: a snapshot keeps the old one
            opt.lr = check_real("lr", lr, low=0.0, low_open=True)
        else:
            lr = None
        if epsilon is not None and loss.uses_epsilon:
            loss = get_loss(loss.name, epsilon=epsilon)
        if schedule is not None:
            sched = _check_schedule(opt, get_schedule(schedule))
        if penalty is not None:
            if penalty.l1_method != self.penalty.l1_method:
                raise ValueError(f"l1_method cannot change in training (from "
                                 f"{self.penalty.l1_method!r} to {penalty.l1_method!r}): its "
                                 "state starts with the model; call fit to train with it")
            self._check_l1_method(penalty)
        old = (self.optimizer, self.penalty, self.l2)
        self.optimizer = opt
        try:
            if penalty is not None:
                self._set_penalty(penalty)
            bound = self._bound_schedule
            if bound is not None and (sched is not self.schedule or loss is not self.loss
                                      or self.penalty is not old[1]):
                # (a trainer pickled before _bind_steps was kept: the steps so far)
                steps = getattr(self, "_bind_steps", max(self.t, 1))
                bound = sched.bind(self.penalty.alpha, loss, steps)
        except BaseException:
            self.optimizer, self.penalty, self.l2 = old
            raise
        if (penalty is not None and getattr(self, "l1_state", None) is not None
                and (self.penalty.l1, self.l2) != (old[1].l1, old[2])):
            # the cumulative penalty's account starts afresh with a new
            # penalty: what a weight at zero still owed was owed to the old one
            self.l1_state[...] = 0.0
        self.loss, self.schedule, self._bound_schedule = loss, sched, bound
        if lr is not None:
            self.lr = opt.lr
        if new_lr:   # the user's step size as given: backoff's halvings end
            self.rate_scale = 1.0

    def _bind_schedule(self, n_rows, batch, epochs):
        """Bind the schedule to the first training call (``epochs`` epochs of
        ``n_rows`` rows in batches of ``batch``) unless it is bound already."""
        if self._bound_schedule is None:
            self._bind_steps = epochs * max(1, -(-n_rows // batch))
            self._bound_schedule = self.schedule.bind(self.penalty.alpha, self.loss,
                                                      self._bind_steps)

    def _order_block(self):
        """Rows per block of the epoch order: None for a full permutation."""
        if self.shuffle == "block":
            return getattr(self, "shuffle_block", DEFAULT_SHUFFLE_BLOCK)
        return None

    # -- model ----------------------------------------------------------
    def init_model(self, n_features, dtype, coef_init=None, intercept_init=None):
        """Start from zero weights, or from copies of ``coef_init``/``intercept_init``."""
        params = np.zeros(n_features + 1, dtype=dtype)
        if coef_init is not None:
            coef = np.asarray(coef_init, dtype=np.float64).reshape(-1)
            if coef.shape[0] != n_features:
                raise ValueError(f"coef_init has {coef.shape[0]} values, X has {n_features} "
                                 "features")
            if not np.all(np.isfinite(coef)):
                raise ValueError("coef_init contains NaN or infinity")
            _store_init(params[:n_features], coef, "coef_init")
        if intercept_init is not None:
            b = np.asarray(intercept_init, dtype=np.float64).reshape(-1)
            if b.shape[0] != 1 or not np.isfinite(b[0]):
                raise ValueError("intercept_init must be one finite number")
            _store_init(params[n_features:], b, "intercept_init")
        self.params = params
        self.avg = params.copy() if self.average_start >= 0 else None
        self.state = self.optimizer.init_state(n_features + 1, dtype)
        # the cumulative L1 penalty's q_j and u (float64 whatever the model's
        # dtype: u sums a step size per step)
        self.l1_state = (np.zeros(n_features + 1)
                         if self.penalty.l1_method == "cumulative" else None)
        self._start_training()

    def _start_training(self):
        """Reset what training moves besides the weights: the step counter,
        epochs, history, the schedule's binding, and the step size that the
        adaptive schedule and divergence backoff lower, so a re-initialized
        model trains as a new one does."""
        self.t = 0
        self.epoch = 0
        self.history = History()
        self._bound_schedule = None
        self.lr = self.optimizer.lr
        self.rate_scale = 1.0

    @property
    def coef_(self):
        return self.params[:-1]

    @property
    def intercept_(self):
        return float(self.params[-1])

    def final_params(self, t=None):
        """The model to report after step ``t`` (default: the current step).

        The averaged iterate once averaging has started (``t`` past
        ``average_start``), else the last iterate: an ``average`` start that
        training never reached reports the weights it trained, as
        scikit-learn's SGD does.
        """
        t = self.t if t is None else t
        if self.avg is not None and t > self.average_start:
            return self.avg
        return self.params

    def optimizer_state(self):
        """The optimizer's state rows in use, by their torch.optim names."""
        names = self.optimizer.state_names
        return {name: self.state[k, :-1].copy() for k, name in enumerate(names)}

    def penalty_value(self, coef, sum_squares=None, sum_abs=None):
        """``l2/2 ||coef||^2 + l1 ||coef||_1`` (L2 from the penalty or weight_decay).

        ``sum_squares``, ``sum_abs``: ``||coef||^2`` and ``||coef||_1`` where
        the caller has them already.
        """
        coef = np.asarray(coef, dtype=np.float64)
        # The L2 term always, even at l2 = 0: weights whose squares overflow
        # make it NaN, and training reports that as divergence. The L1 term
        # only where l1 > 0 (its |coef| is a temporary as large as the model,
        # and its overflow implies the L2 term's).
        if sum_squares is None:
            sum_squares = _sum_squares(coef)
        value = 0.5 * self.l2 * sum_squares
        if self.penalty.l1:
            if sum_abs is None:
                sum_abs = float(np.abs(coef).sum())
            value += self.penalty.l1 * sum_abs
        return value

    # -- training -------------------------------------------------------
    def _sparse_sgd_serial(self):
        """Whether CSR mini-batches are plain SGD (no momentum), which the
        core runs fastest on one thread (see :meth:`_problem`)."""
        opt = self.optimizer
        return opt.name == "sgd" and opt.momentum == 0 and not opt.decoupled_weight_decay

    def _problem(self, X, y, sw, epochs, n_rows=None):
        n, d = X.shape
        n = n if n_rows is None else n_rows      # rows an epoch visits
        batch = min(self.batch_size, max(n, 1))
        self._bind_schedule(n, batch, epochs)
        threads = max(1, min(self.n_threads, batch, (batch * max(d, 1)) // MIN_WORK_PER_THREAD))
        sparse = hasattr(X, "nnz")
        if sparse:   # CSR: a step's work is the batch's non-zeros, not batch * d
            work = batch * max(1, X.nnz // max(n, 1))
            threads = max(1, min(self.n_threads, batch, work // MIN_WORK_PER_THREAD))
            if self.hogwild:
                threads = self.n_threads
        problem = EpochProblem(
            X=X, y=y, sw=sw, loss=self.loss, optimizer=self.optimizer,
            schedule=self._bound_schedule, lr=self.lr, l2=self.l2, l1=self.penalty.l1,
            l2_decoupled=self.optimizer.decoupled_weight_decay,
            fit_intercept=self.fit_intercept, batch_size=batch, n_threads=threads,
            average_start=self.average_start, hogwild=self.hogwild and sparse,
            l1_state=getattr(self, "l1_state", None))
        if (sparse and threads > 1 and not self.hogwild and self._sparse_sgd_serial()
                and not getattr(self.backend, "sparse_dense_steps", lambda p, t: False)(
                    problem, self.t)):
            # plain SGD's lazy CSR mini-batches are fastest on one thread: the
            # fused loop without L1 (margins, then each row's update from the
            # row, csr_impl.h) took 0.09 s per epoch on 200k x 100k at batch 256
            # against 0.5 s for the general loop split over two threads, and
            # with L1 the serial weight-scale loop 0.72 s against 1.04 s. Dense
            # steps (batches that touch most columns) share the threads.
            problem.n_threads = 1
        return problem

    # Rows per chunk when an epoch is handed to the backend; None: about
    # CHUNK_BYTES of work. Chunks hold whole mini-batches, so the weights do
    # not depend on it (tests set it to force chunking); the history's loss
    # may differ in its last bits.
    chunk_rows = None

    def interrupt(self):
        """Ask a running :meth:`run` (e.g. in another thread) to stop.

        The run stops at its next chunk boundary as if Ctrl-C had been
        pressed: it restores the last completed epoch and raises
        KeyboardInterrupt in the thread that runs it. A request made while
        no run is active stops the next one before its first epoch (so that
        work queued to a thread pool stops too); the run it stops clears it.
        A request made during a run that had no chunk boundary left (it
        finished normally) ends with that run.
        """
        self._interrupt_requested = True
        if getattr(self, "_runs_active", 0) > 0:
            self._interrupt_in_run = True

    # the attributes whose arrays training changes (see _model_arrays)
    MODEL_ATTRS = ("params", "state", "avg", "l1_state")

    def _model_arrays(self):
        """``(params, state, avg, l1_state)`` as training changes them: the
        state rows the optimizer uses (training never writes the others:
        plain SGD uses none of its three), ``avg`` None where there is no
        average, ``l1_state`` None without the cumulative L1 penalty."""
        return (self.params, self.state[:len(self.optimizer.state_names)], self.avg,
                getattr(self, "l1_state", None))

    def copy_model(self):
        """Copies of the arrays training changes (:meth:`_model_arrays`).

        :meth:`restore_model` puts them back. A :class:`ModelCopy`: the
        tuple of copies, with the sums of the coefficients' squares and
        absolute values taken in the copy's pass.
        """
        params, state, avg, l1_state = self._model_arrays()
        coef_sq = coef_abs = None
        if params.flags.c_contiguous and params.dtype in (np.float32, np.float64):
            from fastgd.backends.cpu._core import copy_sums

            params_copy = np.empty_like(params)
            # the coefficients are all but the last row (the intercepts)
            coef_sq, coef_abs = copy_sums(params.reshape(-1), params_copy.reshape(-1),
                                          params[:-1].size)
        else:
            params_copy = params.copy()
        return ModelCopy((params_copy, state.copy(), None if avg is None else avg.copy(),
                          None if l1_state is None else l1_state.copy()), coef_sq, coef_abs)

    def restore_model(self, saved):
        """Put back, in place, a :meth:`copy_model` taken with this optimizer."""
        self.params[...] = saved[0]
        self.state[:saved[1].shape[0]] = saved[1]
        if self.avg is not None:
            self.avg[...] = saved[2]
        if saved[3] is not None:
            self.l1_state[...] = saved[3]

    def _restore(self, saved, gbuf):
        """Put back the model saved before an epoch; zero the gradient buffers."""
        self.restore_model(saved)
        gbuf[...] = 0

    def _scaled_schedule(self):
        """The bound schedule with divergence backoff's ``rate_scale`` applied."""
        return self._bound_schedule.scaled(self.rate_scale)

    def _step_size_text(self, problem, t_first, stats):
        """The step sizes an epoch from step ``t_first`` used, in words."""
        sched = problem.schedule
        first = sched.lr_at(problem.lr, t_first)
        last = stats.lr_last if stats is not None and stats.n_steps else None
        if sched.uses_lr:
            text = f"step size lr={problem.lr:g} (schedule {self.schedule.name!r}"
            if self.schedule.name not in ("constant", "adaptive") or sched.warmup_steps:
                text += f": {first:g} at the epoch's first step"
                if last is not None:
                    text += f", {last:g} at its last"
            return text + ")"
        text = (f"the {self.schedule.name!r} schedule's step size {first:g} at the epoch's "
                "first step")
        if last is not None:
            text += f" and {last:g} at its last"
        return text

    def _divergence_message(self, problem, what, t_first, stats, backoffs):
        scale = self.rate_scale
        msg = (f"training diverged in epoch {self.epoch + 1}: {what} with "
               f"{self._step_size_text(problem, t_first, stats)}")
        if scale != 1.0:
            halvings = -math.log2(scale)
            if halvings == round(halvings):
                msg += (f", every step size halved {round(halvings)} times by divergence "
                        f"backoff (factor {scale:g}; ")
            else:
                msg += f", every step size scaled by {scale:g} by divergence backoff ("
            msg += (f"{backoffs} halving{'s' if backoffs > 1 else ''} in this call)"
                    if backoffs else "in earlier calls)")
        msg += ". "
        if self._bound_schedule.uses_lr:
            smaller = problem.lr / 10
            msg += (f"Try a smaller step size, e.g. lr={smaller:g} (on the optimizer object "
                    f"where one was passed; eta0={smaller:g} in SGDClassifier/SGDRegressor), "
                    "or standardize the features")
        elif self._bound_schedule.name != "optimal":
            msg += (f"Standardize the features, or give the {self.schedule.name!r} schedule "
                    "smaller steps (its step size does not depend on lr or eta0)")
        else:
            b = self._bound_schedule
            msg += ("Standardize the features, or start with smaller steps: the 'optimal' "
                    f"schedule's step size 1/(alpha (t0 + t)) does not depend on lr or eta0; "
                    f"its first step without backoff, 1/(alpha t0), is "
                    f"{1.0 / (b.alpha * b.t0):g} (alpha={b.alpha:g}, t0={b.t0:g}), smaller "
                    "with a larger t0: "
                    "fastgd.schedules.Optimal(t0=...) as schedule= (fastgd.fit, Trainer) or "
                    "learning_rate= (SGDClassifier/SGDRegressor); or take a schedule from a "
                    "small lr/eta0, e.g. 'invscaling'")
        if self.on_divergence == "raise":
            msg += ", or pass on_divergence='backoff'"
        return msg + ". The weights are those of the last good epoch."

    def _reference_loss(self, X, y, sw, copy=None):
        """The loss the explosion test compares an epoch with, or None.

        ``copy``: a :meth:`copy_model` of the model as it is now, whose sums
        give the penalty without a pass over the coefficients.

        The larger of the mean loss of the current model on an evenly
        strided sample of at most REFERENCE_ROWS rows (and about 4 MB of X)
        and of the all-zero model on every row, plus the current penalty.
        The all-zero model needs only y, so it sees every row: a few rows of
        large targets that the sample missed would otherwise make an epoch
        that merely fits them look like an explosion. (A classification
        loss at margin 0 is the same for every row, so there the sample
        gives it exactly, without a pass over y.) None where that is
        not a positive finite number; a ValueError where the all-zero model's
        loss is infinite (targets whose squares overflow: bad input, not a
        step size to lower). The model's own losses come from
        :meth:`_sample_loss` and :meth:`_zero_model_loss` (the multinomial
        trainer has its own). Margins are taken in the data's dtype: X is not
        copied or cast.
        """
        if not hasattr(self.loss, "value"):
            return None
        n, d = X.shape
        if n == 0:
            return None
        row_bytes = max(1, d * getattr(getattr(X, "dtype", None), "itemsize", 8))
        m = max(1, min(REFERENCE_ROWS, (4 << 20) // row_bytes))
        rows = slice(0, n, -(-n // m))
        ys = np.asarray(y[rows], dtype=np.float64)
        ws = np.ones_like(ys) if sw is None else np.asarray(sw[rows], dtype=np.float64)
        if not ws.sum() > 0:
            return None
        with np.errstate(all="ignore"):
            current = self._sample_loss(X[rows], ys, ws)
            zero = self._zero_model_loss(ys, ws if self.loss.is_classification else None,
                                         y, sw)
        if zero == math.inf:
            # the targets alone overflow the loss: no step size can help
            raise ValueError(
                f"the {self.loss.name} loss of these targets is not finite even at the all-zero "
                f"model (|y| up to {float(np.max(np.abs(y))):.3g}: its squares overflow "
                "float64); rescale y")
        with np.errstate(all="ignore"):
            ref = max(current, zero) + self.penalty_value(
                self.params[:d], getattr(copy, "coef_sq", None),
                getattr(copy, "coef_abs", None))
        return ref if math.isfinite(ref) and ref > 0 else None

    def _sample_loss(self, Xs, ys, ws):
        """The weighted mean loss of the current model on the rows ``Xs``."""
        d = Xs.shape[1]
        coef = self.params[:d]
        # dense: einsum rather than a BLAS gemv, whose threads would spin
        # into the next epoch (see _sum_squares)
        margins = Xs @ coef if hasattr(Xs, "nnz") else np.einsum("ij,j->i", Xs, coef)
        p = np.asarray(margins, dtype=np.float64).reshape(-1) + float(self.params[d])
        return float(ws @ self.loss.value(ys, p)) / float(ws.sum())

    def _zero_model_loss(self, ys, ws, y, sw, block=1 << 16):
        """The weighted mean loss of the all-zero model: on ``ys``/``ws``
        where given (a classification loss: the same value at every row),
        else on every row of ``y``, a block of rows at a time (no O(n)
        temporaries). NaN where the weights sum to zero (max() then
        ignores it)."""
        if ws is not None:
            return float(ws @ self.loss.value(ys, np.zeros_like(ys))) / float(ws.sum())
        total = weight = 0.0
        for lo in range(0, y.shape[0], block):
            yb = np.asarray(y[lo:lo + block], dtype=np.float64)
            lb = self.loss.value(yb, np.zeros_like(yb))
            if sw is None:
                total += float(lb.sum())
                weight += yb.shape[0]
            else:
                wb = np.asarray(sw[lo:lo + block], dtype=np.float64)
                total += float(wb @ lb)
                weight += float(wb.sum())
        return total / weight if weight > 0 else math.nan

    def _chunk_size(self, n, row_bytes, batch, sparse=False, table_bytes=0):
        """Rows for the next chunk: whole batches, about CHUNK_BYTES of work.

        Deterministic (see CHUNK_BYTES): a row is read once, and each step
        reads and writes the parameters and three rows of state (dense), or
        only the batch's columns (sparse: lazy updates, with one
        O(n_features) catch-up per chunk, which CATCHUP_RATIO amortizes for
        plain SGD). A sparse chunk's per-step tables (``table_bytes`` per
        step) stay within CHUNK_BYTES and TABLE_SHARE of X's bytes (or
        TABLE_MIN_BYTES), however short its rows.
        """
        if self.chunk_rows is not None:
            rows = int(self.chunk_rows)
        elif sparse:
            work = CHUNK_BYTES
            if (self.optimizer.name == "sgd" and not self.optimizer.momentum
                    and self.params.ndim == 1):   # one weight per feature
                # the catch-up reads and writes the weights, the optimizer
                # state, the gradient sums and the core's copy of the weights
                catchup = self.params.nbytes + self.state.nbytes + 16 * self.params.size
                work = max(work, min(CHUNK_MAX_BYTES, CATCHUP_RATIO * catchup))
            rows = int(work / max(1, row_bytes))
            if table_bytes > 0:
                cap = min(CHUNK_BYTES, max(TABLE_MIN_BYTES, TABLE_SHARE * n * row_bytes))
                rows = min(rows, int(cap * batch / table_bytes))
        else:
            step_bytes = 4 * self.params.size * self.params.itemsize
            rows = int(CHUNK_BYTES / (max(1, row_bytes) + step_bytes / batch))
        return max(batch, rows - rows % batch)

    def _run_epoch_chunks(self, problem, order, gbuf, gsum):
        """One epoch in chunks of whole mini-batches; the summed EpochStats.

        Between chunks Python runs signal handlers (Ctrl-C raises
        KeyboardInterrupt here) and checks :meth:`interrupt`. Every chunk
        starts at a batch boundary and continues the step counter, so the
        steps, and hence the weights, are those of one uninterrupted epoch.
        Shuffled: a slice of ``order``; unshuffled dense data: a row-slice
        view of X, y and the weights; otherwise a slice of ``0..n-1``.
        None of these copies X.
        """
        X, y, sw = problem.X, problem.y, problem.sw
        n = X.shape[0] if order is None else order.shape[0]   # positions in the epoch
        batch = problem.batch_size
        itemsize = getattr(getattr(X, "dtype", None), "itemsize", 8)
        if hasattr(X, "nnz"):   # sparse: bytes of values and column indices per row
            row_bytes = (X.nnz * (itemsize + X.indices.itemsize)) // max(1, n) + 8
        else:
            row_bytes = X.shape[1] * itemsize + 8
        dense_rows = order is None and isinstance(X, np.ndarray)
        # a sparse step costs the batch's non-zeros, unless the lazy catch-up
        # replays skipped steps or the batches take dense steps: then it
        # costs about a dense step
        sparse_cheap = hasattr(X, "nnz") and not getattr(
            self.backend, "sparse_step_is_dense", lambda p, t: False)(problem, self.t)
        table_bytes = getattr(self.backend, "sparse_table_bytes",
                              lambda p: 0)(problem) if hasattr(X, "nnz") else 0
        # a backend that can return the end sums from its last pass (and
        # leave gsum zero) is asked to where one run is the whole epoch
        end_sums = getattr(self.backend, "TAKES_END_SUMS", False)
        total = None
        r0 = 0
        while True:
            if getattr(self, "_interrupt_requested", False):
                self._interrupt_requested = False
                raise KeyboardInterrupt("Trainer.interrupt() was called")
            r1 = min(n, r0 + self._chunk_size(n, row_bytes, batch, sparse_cheap,
                                                      table_bytes))
            if r0 == 0 and r1 == n:
                part, part_order = problem, order                      # one chunk
            elif order is not None:
                part, part_order = problem, order[r0:r1]
            elif dense_rows:
                part = replace(problem, X=X[r0:r1], y=y[r0:r1],
                               sw=None if sw is None else sw[r0:r1])
                part_order = None
            else:
                part, part_order = problem, np.arange(r0, r1, dtype=np.int64)
            t = self.t if total is None else total.t
            whole = {"end_sums": True} if end_sums and r0 == 0 and r1 == n else {}
            st = self.backend.run_epoch(part, self.params, self.state, part_order, t,
                                        gbuf, gsum, self.avg, **whole)
            if total is None:
                total = st
            else:
                total = EpochStats(
                    loss_sum=total.loss_sum + st.loss_sum,
                    weight_sum=total.weight_sum + st.weight_sum,
                    lr_last=st.lr_last if st.n_steps else total.lr_last,
                    t=st.t, n_steps=total.n_steps + st.n_steps,
                    nonfinite=st.nonfinite)
            r0 = r1
            if st.nonfinite or r0 >= n:
                return total

    def run(self, X, y, sample_weight=None, epochs=1, tol=None, n_iter_no_change=5, gtol=None,
            monitor=None, verbose=False, rows=None, start_copy=None):
        """Train for up to ``epochs`` epochs on validated data.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            C-contiguous, dtype of the model.
        y : ndarray of float64 of shape (n_samples,)
            Targets (-1/+1 for classification losses).
        sample_weight : ndarray of float64 or None
            Already divided by its mean (see ``data.scaled_sample_weight``).
        epochs : int
        tol : float or None
            Stop when the monitored value has not improved by ``tol`` for
            ``n_iter_no_change`` epochs (scikit-learn's rule; the "adaptive"
            schedule divides the step size there instead, until it is below
            1e-6). None: never, and "adaptive" keeps its step size, as
            scikit-learn does with ``tol=None``.
        gtol : float or None
            Stop when the epoch's gradient norm falls to ``gtol``.
        monitor : callable or None
            ``monitor(coef, intercept) -> float`` to minimize instead of the
            training loss (e.g. a validation loss); recorded in history.
            Called after each epoch with the model :meth:`final_params` gives
            at the epoch's end (the averaged iterate once averaging has
            started), before the epoch is committed.
        rows : ndarray of int64 or None
            Train on these rows of X only (e.g. all but a validation split),
            without copying X: each epoch visits ``rows`` in order, or a
            seeded shuffle of them. ``y`` and ``sample_weight`` stay indexed
            like X; the weights of these rows must have mean 1.
        start_copy : tuple or None
            A :meth:`copy_model` of the model as it is now that the caller
            keeps unchanged, e.g. its own rollback point. The first epoch
            restores it if it fails, instead of taking a copy of its own (on
            a wide model trained in short chunks the copies are much of a
            call).

        Returns
        -------
        stop_reason : str
        """
        # (attributes only while set: a trainer's state compares equal
        # before and after a run)
        self._runs_active = getattr(self, "_runs_active", 0) + 1
        try:
            return self._run(X, y, sample_weight, epochs, tol, n_iter_no_change, gtol, monitor,
                             verbose, rows, start_copy)
        finally:
            self._runs_active -= 1
            if not self._runs_active:
                del self._runs_active
                if getattr(self, "_interrupt_in_run", False):
                    # asked during this run, after its last chunk boundary:
                    # spent with it, not carried over to stop the next run
                    self._interrupt_requested = False
                    del self._interrupt_in_run

    def _check_run_data(self, X, y, sample_weight):
        """Clear errors for data :meth:`run` cannot take (it takes validated
        data: :func:`fastgd.data.check_data` makes it so), rather than the
        compiled core's buffer errors or NumPy's broadcast errors."""
        if self.params is None:
            raise ValueError("the model has no weights yet: call init_model first")
        d = self.params.shape[0] - 1
        if getattr(X, "ndim", None) != 2 or X.shape[1] != d:
            raise ValueError(f"X must be 2-D with the model's {d} features, got shape "
                             f"{getattr(X, 'shape', None)}")
        if X.dtype != self.params.dtype:
            raise ValueError(f"X has dtype {X.dtype}, the model {self.params.dtype}: give X in "
                             "the model's dtype (init_model took it)")
        if not hasattr(X, "nnz") and not X.flags.c_contiguous:
            raise ValueError("X must be C-contiguous (np.ascontiguousarray, or "
                             "fastgd.data.check_data)")
        n = X.shape[0]
        for name, a in (("y", y), ("sample_weight", sample_weight)):
            if a is not None and np.shape(a) != (n,):
                raise ValueError(f"{name} must have shape ({n},) like X's rows, got "
                                 f"{np.shape(a)}")

    def _run(self, X, y, sample_weight, epochs, tol, n_iter_no_change, gtol, monitor, verbose,
             rows, start_copy):
        self._check_run_data(X, y, sample_weight)
        n, d = X.shape
        epochs = _check_int("epochs", epochs)
        n_iter_no_change = _check_int("n_iter_no_change", n_iter_no_change)
        tol = _check_optional_real("tol", tol, low=-math.inf)
        gtol = _check_optional_real("gtol", gtol)
        if rows is not None:
            rows = np.asarray(rows)
            if rows.ndim != 1 or rows.dtype.kind not in "iu" or rows.size == 0 or \
                    rows.min() < 0 or rows.max() >= n:
                raise ValueError(f"rows must be a non-empty 1-D array of row indices in "
                                 f"[0, {n})")
            rows = rows.astype(np.int64, copy=False)
        n_rows = n if rows is None else rows.shape[0]
        if start_copy is not None:
            model = self._model_arrays()
            if len(start_copy) != len(model) or any(
                    (a is None) != (b is None) or a is not None and (
                        a.shape != b.shape or a.dtype != b.dtype)
                    for a, b in zip(start_copy, model)):
                raise ValueError("start_copy must be a copy_model() of this trainer: "
                                 "(params, state rows in use, avg, l1_state), of their "
                                 "shapes and dtypes")
        if self.epoch == 0 and self.t == 0:
            # nothing trained on an earlier binding (e.g. a first call that
            # was interrupted): bind the schedule to this call
            self._bound_schedule = None
        elif self._bound_schedule is not None:
            # a later call continues the schedule bound by the first one;
            # refuse one it cannot schedule (e.g. a cosine without T_max
            # past its horizon) rather than train with step size 0
            batch = min(self.batch_size, max(n_rows, 1))
            self.schedule.check_horizon(self._bound_schedule, self.t,
                                        epochs * max(1, -(-n_rows // batch)))
        problem = self._problem(X, y, sample_weight, epochs,
                                None if rows is None else rows.shape[0])
        problem.schedule = self._scaled_schedule()
        # gtol stops on the gradient norm: no approximation of it then
        problem.exact_gsum = gtol is not None
        # sized by params, not d + 1: a model may hold several rows of weights
        # (the multinomial trainer's params are (n_features + 1, n_classes))
        gbuf = np.zeros((problem.n_threads, self.params.size), dtype=self.params.dtype)
        with _kept_gsum(self.params.size) as sums:
            gsum = sums.array
            perm = np.empty(n_rows, dtype=np.int64) if self.shuffle else None
            order = rows if rows is not None and not self.shuffle else perm
            ref_loss = self._reference_loss(X, y, sample_weight, start_copy)
            best = math.inf
            no_improvement = 0
            backoffs = 0
            adaptive = self.schedule.adaptive
            h = self.history
            e = 0
            while e < epochs:
                # Everything an interrupted or diverged epoch must give back.
                if start_copy is not None:
                    saved, start_copy = start_copy, None
                else:
                    saved = self.copy_model()
                saved_len = {k: len(v) for k, v in vars(h).items()}
                t0, epoch0 = self.t, self.epoch
                committed = exploded = False
                stats = None
                try:
                    if self.shuffle:
                        self.backend.epoch_order(n_rows, epoch_seed(self.seed, self.epoch),
                                                 out=perm, block=self._order_block())
                        order = perm if rows is None else rows[perm]
                    sums.clear()
                    sums.zero = False
                    start = time.perf_counter()
                    stats = self._run_epoch_chunks(problem, order, gbuf, gsum)
                    seconds = time.perf_counter() - start
                    # the end sums: from the backend's last pass where it took
                    # them (and left gsum zero), else one pass over the weights,
                    # whose squares give the penalty's L2 term and, where their
                    # sum is finite, the finiteness test
                    sums.zero = stats.gsum_sq is not None
                    coef = self.params[:d]
                    coef_ss = stats.coef_sq
                    if coef_ss is None:
                        with np.errstate(over="ignore", invalid="ignore"):
                            coef_ss = _sum_squares(coef)
                    diverged = stats.nonfinite or not (_all_finite(coef, coef_ss) and
                                                       _all_finite(self.params[d:]))
                    if not diverged:
                        with np.errstate(over="ignore", invalid="ignore"):
                            loss = (stats.loss_sum / stats.weight_sum if stats.weight_sum > 0
                                    else 0.0)
                            loss += self.penalty_value(coef, coef_ss, stats.coef_abs)
                            gsum_sq = (stats.gsum_sq if stats.gsum_sq is not None
                                       else _sum_squares(gsum))
                            grad_norm = (math.sqrt(gsum_sq) / stats.n_steps
                                         if stats.n_steps else 0.0)
                        exploded = not math.isfinite(loss) or (
                            ref_loss is not None and loss > EXPLOSION_FACTOR * ref_loss)
                    if diverged or exploded:
                        self._restore(saved, gbuf)
                        if self.on_divergence == "backoff" and backoffs < self.max_backoffs:
                            backoffs += 1
                            # halve every step size: lr, and through rate_scale
                            # what the schedule does not take from lr (the whole
                            # step of "optimal", which ignores lr)
                            self.rate_scale = self.rate_scale / 2.0
                            self.lr = problem.lr = problem.lr / 2.0
                            problem.schedule = self._scaled_schedule()
                            # The restored epoch may itself have been on its way
                            # up: judge the retry against where it starts from.
                            ref_loss = self._reference_loss(X, y, sample_weight, saved)
                            if verbose:
                                if problem.schedule.uses_lr:
                                    print(f"Epoch {self.epoch + 1}: diverged; halving lr to "
                                          f"{self.lr:g}")
                                else:
                                    print(f"Epoch {self.epoch + 1}: diverged; halving the step "
                                          f"size to "
                                          f"{problem.schedule.lr_at(problem.lr, self.t):g} at "
                                          f"step {self.t} (scale {self.rate_scale:g})")
                            continue
                        blew = diverged or not math.isfinite(loss)
                        what = ("the loss or the weights became NaN or infinite" if blew else
                                f"the mean training loss grew to {loss:.3g}, more than "
                                f"{EXPLOSION_FACTOR:.0e} times the loss {ref_loss:.3g} of the "
                                "starting (or the all-zero) model")
                        raise DivergenceError(self._divergence_message(problem, what, t0, stats,
                                                                       backoffs))
                    lr_now = (stats.lr_last if stats.n_steps else
                              problem.schedule.lr_at(problem.lr, stats.t))
                    watched = loss
                    if monitor is not None:
                        # the model this epoch would report: the average once
                        # its start step is behind (stats.t, the steps the epoch
                        # really took: zero-weight rows take none)
                        final = self.final_params(stats.t)
                        b = final[d]
                        watched = float(monitor(final[:d], float(b) if b.ndim == 0 else b))
                    # Commit the epoch: counters and history move together.
                    self.t = stats.t
                    self.epoch += 1
                    h.loss.append(loss)
                    h.grad_norm.append(grad_norm)
                    h.lr.append(lr_now)
                    h.seconds.append(seconds)
                    if monitor is not None:
                        h.validation.append(watched)
                    committed = True
                except BaseException:
                    # Ctrl-C (seen between chunks), a failing monitor, divergence:
                    # keep the last completed epoch, consistently.
                    if not committed:
                        self._restore(saved, gbuf)
                        self.t, self.epoch = t0, epoch0
                        for k, length in saved_len.items():
                            del getattr(h, k)[length:]
                    raise
                e += 1
                if verbose:
                    print(f"-- Epoch {self.epoch}: loss {loss:.6g}, |grad| {grad_norm:.3g}, "
                          f"lr {lr_now:.3g}, {seconds:.3g} s")
                if gtol is not None and grad_norm <= gtol:
                    return "gtol"
                # tol=None: no stopping and no adaptive decay either, as
                # scikit-learn treats it (as -inf)
                if tol is not None:
                    if watched > best - tol:
                        no_improvement += 1
                    else:
                        no_improvement = 0
                    best = min(best, watched)
                    if no_improvement >= n_iter_no_change:
                        if adaptive and self.lr > ADAPTIVE_MIN_LR:
                            self.lr = problem.lr = self.lr / self.schedule.factor
                            no_improvement = 0
                        else:
                            return "tol"
            return "max_epochs"


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
    intercept_ : float
    n_iter_ : int
        Epochs run.
    t_ : int
        Optimizer steps taken.
    history : History
    classes_ : ndarray or None
        The two labels of a classification fit (``classes_[1]`` is +1).
    optimizer_state_ : dict
        The optimizer's state of the coefficients, by torch.optim's names.
    stop_reason : str
        "max_epochs", "tol" or "gtol" ("diverged" in a
        :class:`DivergenceError`'s ``result``).
    """

    coef_: np.ndarray
    intercept_: float
    n_iter_: int
    t_: int
    history: History
    classes_: object = None
    optimizer_state_: dict = field(default_factory=dict)
    stop_reason: str = "max_epochs"

    def decision_function(self, X):
        """Margins ``X @ coef_ + intercept_``."""
        X = check_data(X, dtype=[self.coef_.dtype.type, np.float64, np.float32],
                       accept_sparse=True)
        if X.shape[1] != self.coef_.shape[0]:
            raise ValueError(f"X has {X.shape[1]} features, the model {self.coef_.shape[0]}")
        return X @ self.coef_ + self.intercept_

    def predict(self, X):
        """Predicted targets, or labels for a classification fit."""
        p = self.decision_function(X)
        if self.classes_ is None:
            return p
        return self.classes_[(p > 0).astype(int)]


def encode_binary(y, n_samples):
    """Map two labels to -1/+1 (the larger to +1); return (y_encoded, classes)."""
    y = check_labels(y, n_samples)
    classes = np.unique(y)
    if classes.shape[0] != 2:
        raise ValueError(
            f"a classification loss needs exactly two classes in y, got {classes.shape[0]}"
            + ("; use fastgd.SGDClassifier for more than two" if classes.shape[0] > 2 else ""))
    return np.where(y == classes[1], 1.0, -1.0), classes


def fit(X, y, loss="squared_error", optimizer="sgd", lr=None, batch_size=32, epochs=10,
        penalty="l2", alpha=0.0, l1_ratio=0.15, schedule=None, shuffle=True, random_state=None,
        n_jobs=None, coef_init=None, intercept_init=None, sample_weight=None, fit_intercept=True,
        epsilon=0.1, tol=None, n_iter_no_change=5, gtol=None, backend="cpu",
        on_divergence="raise", average=False, verbose=False, hogwild=False,
        shuffle_block=None, l1_method="proximal"):
    """Fit a linear model by first-order optimization.

    Minimizes ``sum_i s_i loss(y_i, x_i . w + b) / sum_i s_i + alpha R(w)``
    (README.md, "Numerical conventions") with mini-batch steps of ``optimizer``.

    Parameters
    ----------
    X : array-like or scipy.sparse matrix/array of shape (n_samples, n_features)
        float32 stays float32; C-contiguous float input is not copied.
        Sparse input is trained as CSR without densifying: canonical CSR
        (sorted, unique indices; int32 or int64) is used as is, other
        formats are converted once (see :func:`fastgd.data.check_sparse`).
        Features absent from a step are updated lazily (``csrc/lazy.h``),
        and the end-of-epoch model equals the dense one: exactly (to
        rounding) in closed form for plain SGD (weight scale and cumulative
        L1), SGD momentum with L2 or no penalty (products of blocks of
        steps), Adagrad without L2, RMSprop (with or without momentum) and
        Adadelta without penalty, FTRL; within a bound of 1e-12 of each
        weight checked at every catch-up for Adagrad with L2 and for
        Adam/AdamW (no penalty, or AdamW's decoupled decay); by replaying
        the skipped steps, whose cost grows with the gaps, for the other
        optimizers with a penalty (the README's table lists every case).
        Averaged SGD keeps its sums lazily too (exactly). Mini-batches that
        touch most columns (batch_size x non-zeros per row large against
        n_features, from a crossover per optimizer and penalty) update every
        coordinate at every step instead, as on dense data.
    y : array-like of shape (n_samples,)
        Targets, or two class labels for a classification loss.
    loss : str, default="squared_error"
        One of :data:`fastgd.losses.LOSSES`.
    optimizer : str or fastgd.optim.Optimizer, default="sgd"
    lr : float, optional
        Step size of a named optimizer; default the optimizer's (as in
        torch.optim). With an optimizer object, set it there.
    batch_size : int, default=32
        1: pure SGD; >= n_samples: full-batch gradient descent.
    epochs : int, default=10
    penalty : {"l2", "l1", "elasticnet"} or None, default="l2"
    alpha : float, default=0.0
    l1_ratio : float, default=0.15
    l1_method : {"proximal", "cumulative"}, default="proximal"
        How the L1 part is applied after each step: the soft-threshold by
        ``l1 * eta`` (any optimizer), or scikit-learn's cumulative penalty
        (Tsuruoka et al. 2009; plain SGD without momentum, no ``average``,
        no ``hogwild``), which leaves many more exact zeros at small
        batch sizes (:mod:`fastgd.penalties`).
    schedule : str or fastgd.schedules.Schedule, optional
        Default constant, so an optimizer object behaves as in torch.optim.
        Defaults that depend on the fit (``cosine``'s ``T_max``: the steps
        of all ``epochs``) are taken from this call.
    shuffle : bool or "block", default=True
        True: every epoch visits the rows in a fresh seeded permutation.
        False: rows in order. "block": contiguous blocks of
        ``shuffle_block`` rows in a fresh seeded order, rows in order within
        a block (:func:`fastgd.data.epoch_order_blocks`). Block shuffling
        reads memory sequentially within a block, so pure SGD
        (``batch_size=1``) on large dense data runs at close to the speed of
        rows in order, but it is less random: rows near each other in X
        always meet in the same block. Use it when neighbouring rows are
        not related (X not sorted by label, time or group), or shuffle X
        once beforehand; see benchmarks/README.md, "Block shuffle".
    shuffle_block : int or None, default=None
        Rows per block of ``shuffle="block"`` (None: 64). Larger blocks
        read memory more sequentially and mix less.
    random_state : int, RandomState or None
        Fixes the row order of every epoch.
    n_jobs : int or None
        Threads (upper bound): None means 1, -1 every CPU OpenMP allows
        (``OMP_NUM_THREADS``, threadpoolctl).
    coef_init, intercept_init : array-like, optional
    sample_weight : array-like of shape (n_samples,), optional
    fit_intercept : bool, default=True
    epsilon : float, default=0.1
        For the Huber and epsilon-insensitive losses.
    tol : float or None, default=None
        Stop when the training loss has not improved by ``tol`` for
        ``n_iter_no_change`` epochs.
    n_iter_no_change : int, default=5
    gtol : float or None, default=None
        Stop when the epoch's gradient norm is <= ``gtol``.
    backend : {"cpu", "reference"}, default="cpu"
    on_divergence : {"raise", "backoff"}, default="raise"
        What a diverged epoch (NaN/inf, or a loss blown up by more than
        ``EXPLOSION_FACTOR``) does: raise :class:`DivergenceError`, or
        restore the last good epoch, halve the step size and go on (every
        step size of any schedule, "optimal" included; up to 10 halvings,
        then :class:`DivergenceError`).
    average : bool or int, default=False
        Averaged SGD: return the mean of the iterates after step number
        ``average`` (True: all of them) instead of the last iterate.
    hogwild : bool, default=False
        Sparse (CSR) input with ``batch_size=1`` and ``n_jobs > 1`` only:
        run Hogwild! (Niu et al., 2011), lock-free asynchronous SGD in which
        the threads update the shared weights without locks. Fast, but NOT
        deterministic (results vary from run to run). Without it, threads
        are used deterministically: CSR mini-batches (``batch_size > 1``) are
        split across threads with per-thread gradient buffers summed in a
        fixed order (same seed, data and thread count: same bits), and
        ``batch_size=1`` runs on one thread.
    verbose : bool, default=False

    Returns
    -------
    FitResult
        ``coef_``, ``intercept_``, ``n_iter_``, ``t_`` and ``history``
        (per-epoch ``loss``, ``grad_norm``, ``lr``, ``seconds``).

    Examples
    --------
    >>> import numpy as np, fastgd
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((1000, 5)); y = X @ np.arange(5.0) + 1.0
    >>> res = fastgd.fit(X, y, optimizer="adam", lr=0.05, epochs=50, random_state=0)
    >>> np.round(res.coef_, 2)
    array([0., 1., 2., 3., 4.])
    """
    trainer = Trainer(loss=loss, optimizer=optimizer, lr=lr, schedule=schedule, penalty=penalty,
                      alpha=alpha, l1_ratio=l1_ratio, fit_intercept=fit_intercept,
                      batch_size=batch_size, n_jobs=n_jobs, backend=backend, shuffle=shuffle,
                      random_state=random_state, epsilon=epsilon, on_divergence=on_divergence,
                      average=average, hogwild=hogwild, shuffle_block=shuffle_block,
                      l1_method=l1_method)
    X = check_data(X, accept_sparse=True)
    n, d = X.shape
    classes = None
    if trainer.loss.is_classification:
        y, classes = encode_binary(y, n)
    else:
        y = check_targets(y, n)
    sw = scaled_sample_weight(sample_weight, X)
    trainer.init_model(d, X.dtype, coef_init, intercept_init)
    try:
        reason = trainer.run(X, y, sw, epochs=epochs, tol=tol,
                             n_iter_no_change=n_iter_no_change, gtol=gtol, verbose=verbose)
    except DivergenceError as exc:
        # the trainer holds the last good epoch: hand it to the caller
        exc.result = _fit_result(trainer, classes, "diverged")
        raise
    return _fit_result(trainer, classes, reason)


def _fit_result(trainer, classes, reason):
    """The :class:`FitResult` of ``trainer``'s model as it is now."""
    final = trainer.final_params()
    return FitResult(coef_=final[:-1].copy(), intercept_=float(final[-1]),
                     n_iter_=trainer.epoch, t_=trainer.t, history=trainer.history,
                     classes_=classes, optimizer_state_=trainer.optimizer_state(),
                     stop_reason=reason)
