# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Cython entry points of the compiled core (csrc/).

Python decides, the core iterates: these functions check the shapes of the
buffers they are handed, fill the C config struct and run one whole epoch
with the GIL released.
"""
from libc.stdint cimport int64_t, uint64_t
cimport cython
from cython cimport floating

import numpy as np

from fastgd.backends.cpu._core cimport *


cdef fgd_config _make_config(dict cfg) except *:
    cdef fgd_config c
    cdef int k
    c.loss = cfg["loss"]
    c.loss_param = cfg["loss_param"]
    c.optimizer = cfg["optimizer"]
    hyper = cfg["hyper"]
    sched = cfg["sched"]
    if len(hyper) > FGD_N_HYPER or len(sched) > FGD_N_HYPER:
        raise ValueError("too many hyperparameters for the compiled core")
    for k in range(FGD_N_HYPER):
        c.hyper[k] = hyper[k] if k < len(hyper) else 0.0
        c.sched[k] = sched[k] if k < len(sched) else 0.0
    c.schedule = cfg["schedule"]
    c.lr = cfg["lr"]
    c.warmup_steps = cfg["warmup_steps"]
    c.l2 = cfg["l2"]
    c.l1 = cfg["l1"]
    c.l2_decoupled = cfg["l2_decoupled"]
    c.fit_intercept = cfg["fit_intercept"]
    c.batch_size = cfg["batch_size"]
    c.n_threads = cfg["n_threads"]
    c.average_start = cfg.get("average_start", -1)
    c.end_sums = cfg.get("end_sums", 0)
    c.exact_gsum = cfg.get("exact_gsum", 0)
    c.l1_cum = NULL
    l1_state = cfg.get("l1_state")
    if l1_state is not None:
        # the cumulative L1 penalty's state (fastgd.h), updated in place: a
        # C-contiguous, writeable float64 array that cfg keeps alive while the
        # config is in use; its length is checked by the epoch functions
        c.l1_cum = _l1_state_ptr(l1_state)
    return c


cdef double *_l1_state_ptr(double[::1] state) except NULL:
    if state.shape[0] < 1:
        raise ValueError("l1_state needs n_features + 1 entries")
    return &state[0]


def _check_l1_state(cfg, int64_t d):
    """Refuse an ``l1_state`` (cumulative L1 penalty) in ``cfg`` whose length is not d + 1."""
    l1_state = cfg.get("l1_state")
    if l1_state is not None and l1_state.shape != (d + 1,):
        raise ValueError("l1_state needs n_features + 1 = %d entries, got shape %r"
                         % (d + 1, l1_state.shape))


cdef int64_t _first_out_of_range(const int64_t *idx, int64_t m, int64_t n) noexcept nogil:
    """Position of the first index outside [0, n), or -1."""
    cdef int64_t k
    for k in range(m):
        if idx[k] < 0 or idx[k] >= n:
            return k
    return -1


def epoch_dense(const floating[:, ::1] X, const double[::1] y, sw, order,
                floating[::1] params, floating[:, ::1] state,
                floating[:, ::1] gbuf, double[::1] gsum, dict cfg, int64_t t0,
                floating[::1] avg=None):
    """Run one epoch over dense rows; update params, state, gsum (and avg) in place.

    X is only read (read-only and memory-mapped arrays work). ``order``
    lists the row indices to visit; it may be shorter than X, so a caller
    can hand an epoch over in chunks of whole mini-batches.

    Returns a dict with loss_sum, weight_sum, lr_last, t, n_steps, nonfinite.
    """
    cdef int64_t n = X.shape[0], d = X.shape[1]
    cdef int64_t n_visit = n, bad
    cdef fgd_config c = _make_config(cfg)
    cdef fgd_stats st
    cdef const double[::1] sw_view
    cdef const int64_t[::1] order_view
    cdef const double *sw_ptr = NULL
    cdef const int64_t *order_ptr = NULL
    cdef int rc
    cdef floating *avg_ptr = NULL

    if y.shape[0] != n:
        raise ValueError("y has %d rows, X has %d" % (y.shape[0], n))
    if params.shape[0] != d + 1 or gsum.shape[0] != d + 1:
        raise ValueError("params and gsum need n_features + 1 entries")
    _check_l1_state(cfg, d)
    if state.shape[0] != 3 or state.shape[1] != d + 1:
        raise ValueError("state must have shape (3, n_features + 1)")
    if gbuf.shape[0] < max(c.n_threads, 1) or gbuf.shape[1] != d + 1:
        raise ValueError("gbuf must have shape (n_threads, n_features + 1)")
    if sw is not None:
        sw_view = sw
        if sw_view.shape[0] != n:
            raise ValueError("sample_weight has the wrong length")
        sw_ptr = &sw_view[0] if n > 0 else NULL
    if order is not None:
        order_view = order
        n_visit = order_view.shape[0]
        order_ptr = &order_view[0] if n_visit > 0 else NULL
        # One sequential pass over 8 bytes per visited row (X costs 8*d):
        # cheap insurance against reading outside X.
        with nogil:
            bad = _first_out_of_range(order_ptr, n_visit, n)
        if bad >= 0:
            raise ValueError("order[%d] = %d is not a row of X (%d rows)"
                             % (bad, order_view[bad], n))
    if avg is not None:
        if avg.shape[0] != d + 1:
            raise ValueError("avg needs n_features + 1 entries")
        avg_ptr = &avg[0]
    if n_visit == 0:
        return dict(loss_sum=0.0, weight_sum=0.0, lr_last=0.0, t=t0, n_steps=0,
                    nonfinite=0)

    with nogil:
        if floating is double:
            rc = fgd_epoch_dense_f64(&X[0, 0], n_visit, d, &y[0], sw_ptr, order_ptr,
                                     &params[0], &state[0, 0], &gbuf[0, 0],
                                     &gsum[0], avg_ptr, &c, t0, &st)
        else:
            rc = fgd_epoch_dense_f32(&X[0, 0], n_visit, d, &y[0], sw_ptr, order_ptr,
                                     &params[0], &state[0, 0], &gbuf[0, 0],
                                     &gsum[0], avg_ptr, &c, t0, &st)
    if rc != 0:
        raise ValueError("invalid configuration for the compiled core: %r" % cfg)
    return dict(loss_sum=st.loss_sum, weight_sum=st.weight_sum,
                lr_last=st.lr_last, t=st.t, n_steps=st.n_steps,
                nonfinite=st.nonfinite)


def optimizer_step(floating[::1] params, const floating[::1] grad, floating[:, ::1] state,
                   dict cfg, int64_t t, int n_threads=1):
    """One optimizer step over a flat parameter vector, in place (all penalized).

    ``state`` has one row per state value of the rule (3 always suffice);
    ``cfg`` as for :func:`epoch_dense` (the loss and batch fields unused).
    """
    cdef int64_t n = params.shape[0]
    cdef fgd_config c = _make_config(cfg)
    cdef int rc
    if grad.shape[0] != n:
        raise ValueError("grad and params differ in length")
    if state.shape[0] != 3 or state.shape[1] != n:
        raise ValueError("state must have shape (3, n_params)")
    if n == 0:
        return
    with nogil:
        if floating is double:
            rc = fgd_optimizer_step_f64(&params[0], &grad[0], &state[0, 0], n, n, &c, t,
                                        n_threads)
        else:
            rc = fgd_optimizer_step_f32(&params[0], &grad[0], &state[0, 0], n, n, &c, t,
                                        n_threads)
    if rc != 0:
        raise ValueError("invalid configuration for the compiled core: %r" % cfg)


def stream_read(const unsigned char[::1] data, int n_threads=1):
    """Read the bytes of ``data`` once on ``n_threads`` threads (bandwidth yardstick).

    Returns a checksum; only whole 8-byte words are read.
    """
    cdef int64_t nbytes = data.shape[0]
    cdef uint64_t total = 0
    if nbytes < 8:
        return 0
    with nogil:
        total = fgd_stream_read(&data[0], nbytes - nbytes % 8, n_threads)
    return total


def copy_sums(const floating[::1] src, floating[::1] dst, int64_t m):
    """``dst[:] = src``; returns ``(sum(src[:m]**2), sum(abs(src[:m])))`` in
    float64, taken in the same pass (one read of ``src`` instead of three)."""
    cdef double sq = 0.0, sabs = 0.0
    cdef int64_t n = src.shape[0]
    if dst.shape[0] != n:
        raise ValueError("src and dst must have the same length")
    if not 0 <= m <= n:
        raise ValueError(f"m must be in [0, {n}], got {m}")
    if n == 0:
        return 0.0, 0.0
    with nogil:
        if floating is float:
            fgd_copy_sums_f32(&src[0], &dst[0], n, m, &sq, &sabs)
        else:
            fgd_copy_sums_f64(&src[0], &dst[0], n, m, &sq, &sabs)
    return sq, sabs


def epoch_order(int64_t[::1] out, uint64_t seed):
    """Fill ``out`` with the seeded permutation of 0..n-1 (see fastgd.data)."""
    with nogil:
        fgd_epoch_order(&out[0] if out.shape[0] > 0 else NULL, out.shape[0], seed)


def epoch_order_blocks(int64_t[::1] out, int64_t block, uint64_t seed):
    """Fill ``out`` with the seeded block-shuffled order of 0..n-1 (see fastgd.data)."""
    if block < 1:
        raise ValueError(f"block must be >= 1, got {block}")
    with nogil:
        fgd_epoch_order_blocks(&out[0] if out.shape[0] > 0 else NULL, out.shape[0], block,
                               seed)


def schedule_lr(dict cfg, int64_t t):
    """Step size at step ``t`` as the compiled core computes it."""
    cdef fgd_config c = _make_config(cfg)
    return fgd_schedule_lr(&c, t)


def loss_value(int code, double param, double y, double p):
    """Loss value as the compiled core computes it."""
    return fgd_loss_value(code, param, y, p)


def loss_derivative(int code, double param, double y, double p):
    """Loss derivative in the margin as the compiled core computes it."""
    return fgd_loss_deriv(code, param, y, p)


def code_tables():
    """Names of the C enums, indexed by code: {'loss': [...], ...}."""
    return {
        "loss": [fgd_loss_name(k).decode() for k in range(FGD_N_LOSSES)],
        "optimizer": [fgd_optimizer_name(k).decode() for k in range(FGD_N_OPTIMIZERS)],
        "schedule": [fgd_schedule_name(k).decode() for k in range(FGD_N_SCHEDULES)],
    }


def build_info():
    """Facts about the compiled core for fastgd.show_config()."""
    return {
        "openmp": bool(fgd_have_openmp()),
        "max_threads": fgd_max_threads(),
        "simd": fgd_simd_dispatch().decode(),
    }
