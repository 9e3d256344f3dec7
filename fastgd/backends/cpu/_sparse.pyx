# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Cython entry point of the CSR epoch (csrc/epoch_csr.c).

Checks the shapes of the arrays it is handed, allocates the epoch's scratch
(O(n_features + n_batches), once per epoch, never inside the loop) and runs
one whole epoch with the GIL released.
"""
from libc.stdint cimport int32_t, int64_t
from cython cimport floating

import threading

import numpy as np

from fastgd.backends.cpu._core cimport fgd_config, fgd_stats, _make_config
from fastgd.backends.cpu._core import _check_l1_state
from fastgd.backends.cpu._sparse cimport *

ctypedef fused index_t:
    int32_t
    int64_t

# Rows of the per-step tables of lazy.h (an epoch allocates lazy_table_rows).
cdef int N_TABLES = FGD_LAZY_TABLES
N_TABLES_ALL = FGD_LAZY_TABLES

LAZY_MODES = ("identity", "scaled", "decay", "adagrad_l1", "last", "loop", "sgd_closed",
              "adagrad_l2", "momentum", "adam", "rmsprop_momentum")


def lazy_mode(dict cfg, int64_t t0, int64_t nsteps):
    """The catch-up mode lazy.h picks for ``cfg``: (name, truncated)."""
    cdef fgd_config c = _make_config(cfg)
    cdef double[::1] tables = np.empty(N_TABLES * (nsteps + 1))
    cdef int code = fgd_csr_lazy_mode(&c, t0, nsteps, &tables[0])
    return LAZY_MODES[code // 2], bool(code % 2)


# Which steps CSR mini-batches take (binary and softmax models): "auto"
# (dense_steps decides), or "lazy" / "dense" everywhere (the tests hold both
# to the dense loop whatever the data's fill).
STEPS = "auto"


def batch_fill(int64_t batch_size, int64_t nnz, int64_t n_rows, int64_t n_features):
    """A mini-batch's mean non-zeros per column: batch_size x nnz / n_rows / n_features."""
    if n_rows <= 0:
        return 0.0
    return <double>batch_size * nnz / n_rows / max(n_features, 1)


def dense_steps(dict cfg, int64_t t0, double fill):
    """Whether a CSR epoch of ``cfg`` from step ``t0`` takes dense steps.

    A mini-batch holding ``fill`` non-zeros per column (:func:`batch_fill`)
    touches most columns when ``fill`` is large; from the crossover of its
    lazy mode on (csrc/lazy.h: fgd_lazy_dense_fill), every column takes the
    optimizer step at every step, as in the dense loop, instead of the
    touched columns' catch-ups.
    """
    cdef fgd_config c = _make_config(cfg)
    cdef double[::1] tables = np.empty(N_TABLES * 2)
    if STEPS != "auto":
        return STEPS == "dense" and c.batch_size > 1
    return bool(fgd_csr_dense_steps(&c, t0, 1, &tables[0], fill))


def weight_prefetch():
    """Whether plain SGD's CSR loops prefetch the weights of the rows ahead
    on this CPU (csrc/epoch_csr.c: not on AMD Zen 5, where it measured slower)."""
    return bool(fgd_csr_weight_prefetch())


def lazy_table_rows(dict cfg):
    """The rows of per-step tables (each ``n_steps + 1`` doubles) a CSR epoch
    with ``cfg`` allocates."""
    cdef fgd_config c = _make_config(cfg)
    return fgd_csr_lazy_table_rows(&c)


def lazy_rows_written(dict cfg, int64_t t0, int64_t nsteps):
    """For tests: how many rows of the tables (from row 0) setting up a CSR
    epoch with ``cfg`` writes, the per-coordinate closed form of plain SGD
    (Hogwild!, averaging) included: the highest row with an entry changed,
    plus one, in tables of every row filled with a sentinel first."""
    cdef fgd_config c = _make_config(cfg)
    tables = np.full(N_TABLES * (nsteps + 1), -7.25e300)
    cdef double[::1] view = tables
    fgd_csr_lazy_setup_closed(&c, t0, nsteps, &view[0])
    changed = np.flatnonzero((tables != -7.25e300).reshape(N_TABLES, nsteps + 1).any(axis=1))
    return int(changed.max()) + 1 if changed.size else 0


def lazy_replays(dict cfg, int64_t t0, int64_t nsteps):
    """Whether the catch-ups of that mode replay every skipped step (when
    averaging too: ``cfg["average_start"] >= 0``)."""
    cdef fgd_config c = _make_config(cfg)
    cdef double[::1] tables = np.empty(N_TABLES * (nsteps + 1))
    return bool(fgd_csr_lazy_replays(&c, t0, nsteps, &tables[0]))


def lazy_catch_up(dict cfg, int64_t t0, int64_t nsteps, double w, state, int64_t ta,
                  int64_t tb, bint replay=False):
    """One coordinate's catch-up from step ``ta`` to ``tb`` as the CSR epoch does it.

    For tests. ``state`` holds the coordinate's 3 optimizer state values.
    Returns ``(w, state, gsum, refused)``: the coordinate after the skipped
    steps, the smooth gradient they add to the gradient sum, and whether the
    approximate closed form of mode ``adagrad_l2`` or ``adam`` refused (its error bound
    too large), so that the steps were replayed (``adagrad_l2``: some of them, the
    rest in shorter closed forms). ``replay=True`` replays every step whatever the
    mode.
    """
    cdef fgd_config c = _make_config(cfg)
    cdef double[::1] tables = np.empty(N_TABLES * (nsteps + 1))
    cdef double[::1] s = np.array(state, dtype=np.float64).reshape(3).copy()
    cdef double gs = 0.0
    if not (t0 <= ta <= tb <= t0 + nsteps):
        raise ValueError(f"need t0 <= ta <= tb <= t0 + nsteps, got {t0}, {ta}, {tb}, {nsteps}")
    cdef int applied = fgd_csr_lazy_catch_up(&c, t0, nsteps, &tables[0], &w, &s[0], &gs,
                                             ta, tb, replay)
    return w, np.asarray(s), gs, not applied


class ScaleFactorError(ValueError):
    """A step's L2 factor 1 - eta * l2 is not positive: the weight-scale loops
    of the cumulative L1 penalty cannot take it (see _csr.run_epoch_csr)."""


cdef class _Scratch:
    """The epoch's scratch of fastgd_csr.h, owned by Python (freed with it)."""
    cdef fgd_csr_scratch s
    cdef object _keep
    cdef public object key

    def __cinit__(self, int64_t nb, int64_t d, int64_t per_feature, bint averaged,
                  int64_t n_coords, int n_threads, bint hogwild, int64_t batch_size,
                  int table_rows, object dense_dtype=None):
        cdef double[::1] tables = np.empty(table_rows * (nb + 1))
        cdef int64_t[::1] last = np.empty(max(d, 1), dtype=np.int64)
        cdef int64_t[::1] cols = np.empty(max(d, 1), dtype=np.int64)
        cdef double[::1] gacc = np.zeros(max(d * per_feature, 1))
        cdef double[::1] snap = np.empty(max(d, 1))
        cdef double[::1] asum, tbuf, rowbuf
        cdef unsigned char[::1] gbytes
        cdef int64_t[::1] prev
        self._keep = [tables, last, cols, gacc, snap]
        self.s.tables = &tables[0]
        self.s.nsteps = nb
        self.s.table_rows = table_rows
        self.s.last = &last[0]
        self.s.cols = &cols[0]
        self.s.gacc = &gacc[0]
        self.s.snap = &snap[0]
        self.s.tbuf = NULL
        self.s.prev = NULL
        self.s.hogwild = hogwild
        self.s.asum = NULL
        self.s.rowbuf = NULL
        self.s.gbuf = NULL
        if dense_dtype is not None:   # dense steps: n_threads x n_coords gradients
            # written here, so that its pages are not first touched by the
            # epoch's threads (page faults inside the parallel rows phase
            # serialize the threads on the kernel's locks)
            gbytes = np.empty(max(n_threads, 1) * n_coords, dtype=dense_dtype).view(np.uint8)
            gbytes[:] = 0
            self._keep.append(gbytes)
            self.s.gbuf = <void *>&gbytes[0]
        if batch_size > 1:
            rowbuf = np.empty(batch_size * per_feature)
            self._keep.append(rowbuf)
            self.s.rowbuf = &rowbuf[0]
        if averaged:
            asum = np.empty(n_coords)
            self._keep.append(asum)
            self.s.asum = &asum[0]
        if n_threads > 1 and dense_dtype is None:   # lazy parallel steps
            tbuf = np.zeros(max(d, 1) * n_threads)
            prev = np.empty(max(d, 1), dtype=np.int64)
            self._keep += [tbuf, prev]
            self.s.tbuf = &tbuf[0]
            self.s.prev = &prev[0]


# The last scratch each thread used: reused by the next epoch (or chunk) of
# the same shape, since fresh buffers cost page faults every epoch (measured:
# 4-7% of a 200k-step batch-1 epoch on 100k features). Per thread, as two
# threads may train at once. Only scratch up to REUSE_BYTES is kept between
# calls, so that what stays allocated after a fit is bounded; above that the
# faults are a small part of an epoch over that much data.
_reuse = threading.local()
REUSE_BYTES = 32 << 20


cdef _Scratch _scratch(int64_t nb, int64_t d, int64_t per_feature, bint averaged,
                       int64_t n_coords, int n_threads, bint hogwild, int64_t batch_size,
                       int table_rows, object dense_dtype=None):
    """A scratch for these sizes (gacc, tbuf and gbuf are left zero by every
    epoch) with table_rows rows of per-step tables; with dense_dtype, the
    gradient buffers of dense steps."""
    key = (d, per_feature, averaged, n_coords, n_threads, batch_size, dense_dtype)
    cdef _Scratch s = getattr(_reuse, "scratch", None)
    # fewer steps or table rows fit (a last chunk, a configuration needing fewer)
    if s is None or s.key != key or s.s.nsteps < nb or s.s.table_rows < table_rows:
        _reuse.scratch = None   # free the old one first
        s = _Scratch(nb, d, per_feature, averaged, n_coords, n_threads, hogwild, batch_size,
                     table_rows, dense_dtype)
        s.key = key
        if sum(a.nbytes for a in s._keep) <= REUSE_BYTES:
            _reuse.scratch = s
    s.s.hogwild = hogwild
    return s


def _fill_kept_scratch(double value):
    """Fill the per-step tables of this thread's kept scratch with ``value``;
    return whether there was one. For tests: an epoch that reads a table it
    did not fill then shows it (NaN), whatever the memory happened to hold.
    """
    cdef _Scratch s = getattr(_reuse, "scratch", None)
    if s is None:
        return False
    np.asarray(s._keep[0])[...] = value
    return True


def _check_rows(int64_t n_rows, int64_t nnz, n_indices, indptr0, indptr_last, n_y, sw, order):
    """Check the CSR arrays' lengths, y, sw and order; return the rows to visit."""
    if n_rows < 0:
        raise ValueError("indptr must have n_samples + 1 entries")
    if n_indices != nnz or indptr0 != 0 or indptr_last != nnz:
        raise ValueError("data, indices and indptr are not a valid CSR matrix")
    if n_y != n_rows:
        raise ValueError("y has %d rows, X has %d" % (n_y, n_rows))
    if sw is not None and len(sw) != n_rows:
        raise ValueError("sample_weight has the wrong length")
    if order is None:
        return n_rows
    # the rows to visit; may be a chunk of the epoch (whole mini-batches)
    n = len(order)
    if n and (np.asarray(order).min() < 0 or np.asarray(order).max() >= n_rows):
        raise ValueError("order lists a row that is not in X")
    return n


def epoch_csr(const floating[::1] data, const index_t[::1] indices,
              const index_t[::1] indptr, int64_t n_features, const double[::1] y, sw,
              order, floating[::1] params, floating[:, ::1] state, double[::1] gsum,
              dict cfg, int64_t t0, bint hogwild=False, avg=None):
    """Run one epoch over CSR rows; update params, state and gsum in place.

    The structure (indptr monotone, indices in range) must have been checked
    once with :func:`check_structure`. ``order`` lists the rows to visit; it
    may be a chunk of the epoch (whole mini-batches).

    With ``cfg["n_threads"] > 1``: deterministic mini-batch parallelism for
    batch_size > 1, or Hogwild! (lock-free, not deterministic) for
    batch_size 1 with ``hogwild=True`` (see csrc/fastgd_csr.h).

    ``avg`` (averaged SGD, with ``cfg["average_start"] >= 0``) holds the mean
    of the iterates after step ``average_start`` and is updated in place.

    ``cfg["end_sums"]`` true: this run ends an epoch, whose gsum serves
    only its norm; the loop may then take the end sums in its last pass and
    leave gsum zero.

    Returns a dict with loss_sum, weight_sum, lr_last, t, n_steps, nonfinite
    (and coef_sq, coef_abs, gsum_sq where the end sums were taken),
    or None when the threaded mode cannot run this configuration (the
    caller then runs it single-threaded; nothing was changed).
    """
    cdef int64_t n_rows = indptr.shape[0] - 1, d = n_features, nnz = data.shape[0]
    cdef int64_t n
    cdef fgd_config c = _make_config(cfg)
    cdef fgd_stats st
    cdef const double[::1] sw_view
    cdef const int64_t[::1] order_view
    cdef const double *sw_ptr = NULL
    cdef const int64_t *order_ptr = NULL
    cdef int64_t B = c.batch_size
    cdef floating[::1] avg_view
    cdef floating *avg_ptr = NULL
    cdef _Scratch scratch
    cdef int rc, is_f32 = 0, is_i64 = 0

    n = _check_rows(n_rows, nnz, indices.shape[0], indptr[0] if n_rows >= 0 else 0,
                    indptr[n_rows] if n_rows >= 0 else 0, y.shape[0], sw, order)
    if params.shape[0] != d + 1 or gsum.shape[0] != d + 1:
        raise ValueError("params and gsum need n_features + 1 entries")
    _check_l1_state(cfg, d)
    if state.shape[0] != 3 or state.shape[1] != d + 1:
        raise ValueError("state must have shape (3, n_features + 1)")
    if B <= 0:
        raise ValueError("batch_size must be positive")
    if avg is not None:
        avg_view = avg   # same dtype as params, or a ValueError
        if avg_view.shape[0] != d + 1:
            raise ValueError("avg needs n_features + 1 entries")
        avg_ptr = &avg_view[0]
    if n == 0:
        return dict(loss_sum=0.0, weight_sum=0.0, lr_last=0.0, t=t0, n_steps=0,
                    nonfinite=0)
    if sw is not None:
        sw_view = sw
        sw_ptr = &sw_view[0]
    if order is not None:
        order_view = order
        order_ptr = &order_view[0]
    fill = batch_fill(min(B, n), nnz, n_rows, d)
    scratch = _scratch((n + B - 1) // B, d, 1, avg is not None, d + 1,
                       c.n_threads if (B > 1 or hogwild) else 1, hogwild, min(B, n),
                       fgd_csr_lazy_table_rows(&c),
                       (np.float32 if floating is float else np.float64)
                       if not hogwild and dense_steps(cfg, t0, fill) else None)
    scratch.s.fill = np.inf if STEPS == "dense" else fill

    if floating is float:
        is_f32 = 1
    if index_t is int64_t:
        is_i64 = 1
    with nogil:
        rc = fgd_epoch_csr_any(is_f32, is_i64, <const void *>&data[0] if nnz else NULL,
                               <const void *>&indices[0] if nnz else NULL,
                               <const void *>&indptr[0], n, d, &y[0], sw_ptr, order_ptr,
                               <void *>&params[0], <void *>&state[0, 0], &gsum[0],
                               <void *>avg_ptr, &c, t0, &scratch.s, &st)
    if rc == -2:
        return None
    if rc == -3:
        raise ScaleFactorError(
            "the cumulative L1 penalty on sparse data needs every step's factor "
            "1 - eta * alpha * (1 - l1_ratio) to be positive (eta: the step size); take "
            "smaller steps or a smaller alpha")
    if rc != 0:
        raise ValueError("invalid configuration for the compiled CSR core: %r" % cfg)
    out = dict(loss_sum=st.loss_sum, weight_sum=st.weight_sum,
               lr_last=st.lr_last, t=st.t, n_steps=st.n_steps,
               nonfinite=st.nonfinite)
    if st.end_sums:
        out.update(coef_sq=st.coef_sq, coef_abs=st.coef_abs, gsum_sq=st.gsum_sq)
    return out


def epoch_csr_multinomial(const floating[::1] data, const index_t[::1] indices,
                          const index_t[::1] indptr, int64_t n_features, const double[::1] y,
                          sw, order, floating[:, ::1] params, floating[:, ::1] state,
                          double[::1] gsum, dict cfg, int64_t t0, avg=None):
    """One softmax cross-entropy epoch over CSR rows.

    On one thread, except where the mini-batches take dense steps
    (:func:`dense_steps`): those run on ``cfg["n_threads"]`` threads,
    deterministically.

    ``params`` is the (n_features + 1, K) model, ``state`` (3, (n_features +
    1) K), ``gsum`` and ``avg`` (when averaging) of the model's size; ``y``
    holds class indices. The structure must have been checked once with
    :func:`check_structure`. Updates its arguments in place and returns the
    dict of :func:`epoch_csr`.
    """
    cdef int64_t n_rows = indptr.shape[0] - 1, d = n_features, nnz = data.shape[0]
    cdef int64_t K = params.shape[1], P = (n_features + 1) * params.shape[1], n
    cdef fgd_config c = _make_config(cfg)
    cdef fgd_stats st
    cdef const double[::1] sw_view
    cdef const int64_t[::1] order_view
    cdef const double *sw_ptr = NULL
    cdef const int64_t *order_ptr = NULL
    cdef int64_t B = c.batch_size
    cdef floating[:, ::1] avg_view
    cdef floating *avg_ptr = NULL
    cdef double[::1] pbuf = np.zeros(max(2 * K, max(c.n_threads, 1) * K, 1))
    cdef _Scratch scratch
    cdef int rc, is_f32 = 0, is_i64 = 0

    n = _check_rows(n_rows, nnz, indices.shape[0], indptr[0] if n_rows >= 0 else 0,
                    indptr[n_rows] if n_rows >= 0 else 0, y.shape[0], sw, order)
    if params.shape[0] != d + 1 or gsum.shape[0] != P:
        raise ValueError("params must have shape (n_features + 1, n_classes) and gsum "
                         "(n_features + 1) * n_classes entries")
    if state.shape[0] != 3 or state.shape[1] != P:
        raise ValueError("state must have shape (3, (n_features + 1) * n_classes)")
    if B <= 0:
        raise ValueError("batch_size must be positive")
    if avg is not None:
        avg_view = avg   # same dtype as params, or a ValueError
        if avg_view.shape[0] != d + 1 or avg_view.shape[1] != K:
            raise ValueError("avg must have the shape of params")
        avg_ptr = &avg_view[0, 0]
    if n == 0:
        return dict(loss_sum=0.0, weight_sum=0.0, lr_last=0.0, t=t0, n_steps=0,
                    nonfinite=0)
    if sw is not None:
        sw_view = sw
        sw_ptr = &sw_view[0]
    if order is not None:
        order_view = order
        order_ptr = &order_view[0]
    fill = batch_fill(min(B, n), nnz, n_rows, d)
    dense = dense_steps(cfg, t0, fill)
    scratch = _scratch((n + B - 1) // B, d, K, avg is not None, P,
                       c.n_threads if dense else 1, False, min(B, n),
                       fgd_csr_lazy_table_rows(&c),
                       (np.float32 if floating is float else np.float64) if dense else None)
    scratch.s.fill = np.inf if STEPS == "dense" else fill

    if floating is float:
        is_f32 = 1
    if index_t is int64_t:
        is_i64 = 1
    with nogil:
        rc = fgd_epoch_csr_multinomial_any(
            is_f32, is_i64, <const void *>&data[0] if nnz else NULL,
            <const void *>&indices[0] if nnz else NULL, <const void *>&indptr[0], n, d, K,
            &y[0], sw_ptr, order_ptr, <void *>&params[0, 0], <void *>&state[0, 0],
            &gsum[0], <void *>avg_ptr, &c, t0, &scratch.s, &pbuf[0], &st)
    if rc != 0:
        raise ValueError("invalid configuration or class label for the multinomial CSR core "
                         "(labels must be integers in [0, n_classes); optimizers: sgd, "
                         "adagrad, rmsprop, adadelta, adam, adamw)")
    out = dict(loss_sum=st.loss_sum, weight_sum=st.weight_sum, lr_last=st.lr_last,
               t=st.t, n_steps=st.n_steps, nonfinite=st.nonfinite)
    if st.end_sums:
        out.update(coef_sq=st.coef_sq, coef_abs=st.coef_abs, gsum_sq=st.gsum_sq)
    return out


def check_structure(const index_t[::1] indices, const index_t[::1] indptr, int64_t n_features):
    """Raise ValueError unless indptr is monotone from 0 to nnz and every
    column index is in [0, n_features). O(n_rows + nnz)."""
    cdef int64_t n = indptr.shape[0] - 1, nnz = indices.shape[0], i, bad_row = -1, bad_q = -1
    if n < 0 or indptr[0] != 0 or indptr[n] != nnz:
        raise ValueError("indptr must run from 0 to the number of stored entries")
    with nogil:
        for i in range(n):
            if indptr[i + 1] < indptr[i]:
                bad_row = i
                break
        for i in range(nnz):
            if indices[i] < 0 or indices[i] >= n_features:
                bad_q = i
                break
    if bad_row >= 0:
        raise ValueError("indptr decreases at row %d" % bad_row)
    if bad_q >= 0:
        raise ValueError("column index %d is out of range [0, %d)" % (indices[bad_q], n_features))
