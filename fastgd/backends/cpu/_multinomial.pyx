# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Cython entry point of the multinomial (softmax cross-entropy) core.

Checks the shapes of the buffers it is handed, fills the C config (with
_core's builder) and runs one whole epoch with the GIL released.
"""
from libc.stdint cimport int64_t
from cython cimport floating

from fastgd.backends.cpu._core cimport (fgd_config, fgd_stats, _make_config,
                                         _first_out_of_range)


cdef extern from "epoch_multinomial.h" nogil:
    int fgd_epoch_multinomial_f64(const double *X, int64_t n, int64_t d, int64_t K,
                                  const double *y, const double *sw, const int64_t *order,
                                  double *params, double *state, double *gbuf, double *pbuf,
                                  double *gsum, double *avg, const fgd_config *cfg, int64_t t0,
                                  fgd_stats *stats)
    int fgd_epoch_multinomial_f32(const float *X, int64_t n, int64_t d, int64_t K,
                                  const double *y, const double *sw, const int64_t *order,
                                  float *params, float *state, float *gbuf, double *pbuf,
                                  double *gsum, float *avg, const fgd_config *cfg, int64_t t0,
                                  fgd_stats *stats)


def epoch_multinomial(const floating[:, ::1] X, const double[::1] y, sw, order,
                      floating[:, ::1] params, floating[:, ::1] state,
                      floating[:, ::1] gbuf, double[:, ::1] pbuf, double[::1] gsum,
                      dict cfg, int64_t t0, floating[:, ::1] avg=None):
    """One softmax cross-entropy epoch; updates params (d+1, K), state, gsum, avg in place.

    Returns a dict with loss_sum, weight_sum, lr_last, t, n_steps, nonfinite.
    """
    cdef int64_t n = X.shape[0], d = X.shape[1], K = params.shape[1], n_visit = n, bad
    cdef int64_t P = (d + 1) * K
    cdef fgd_config c = _make_config(cfg)
    cdef fgd_stats st
    cdef const double[::1] sw_view
    cdef const int64_t[::1] order_view
    cdef const double *sw_ptr = NULL
    cdef const int64_t *order_ptr = NULL
    cdef floating *avg_ptr = NULL
    cdef int rc
    cdef int nt = max(c.n_threads, 1)

    if y.shape[0] != n:
        raise ValueError("y has %d rows, X has %d" % (y.shape[0], n))
    if params.shape[0] != d + 1 or gsum.shape[0] != P:
        raise ValueError("params must have shape (n_features + 1, n_classes) and gsum "
                         "(n_features + 1) * n_classes entries")
    if state.shape[0] != 3 or state.shape[1] != P:
        raise ValueError("state must have shape (3, (n_features + 1) * n_classes)")
    if gbuf.shape[0] < nt or gbuf.shape[1] != P:
        raise ValueError("gbuf must have shape (n_threads, (n_features + 1) * n_classes)")
    if pbuf.shape[0] < nt or pbuf.shape[1] != K:
        raise ValueError("pbuf must have shape (n_threads, n_classes)")
    if sw is not None:
        sw_view = sw
        if sw_view.shape[0] != n:
            raise ValueError("sample_weight has the wrong length")
        sw_ptr = &sw_view[0] if n > 0 else NULL
    if order is not None:
        # order may list a subset of the rows (an epoch run in chunks)
        order_view = order
        n_visit = order_view.shape[0]
        order_ptr = &order_view[0] if n_visit > 0 else NULL
        with nogil:
            bad = _first_out_of_range(order_ptr, n_visit, n)
        if bad >= 0:
            raise ValueError("order[%d] = %d is not a row of X (%d rows)"
                             % (bad, order_view[bad], n))
    if avg is not None:
        if avg.shape[0] != d + 1 or avg.shape[1] != K:
            raise ValueError("avg must have the shape of params")
        avg_ptr = &avg[0, 0]
    if n_visit == 0:
        return dict(loss_sum=0.0, weight_sum=0.0, lr_last=0.0, t=t0, n_steps=0, nonfinite=0)

    with nogil:
        if floating is double:
            rc = fgd_epoch_multinomial_f64(&X[0, 0], n_visit, d, K, &y[0], sw_ptr, order_ptr,
                                           &params[0, 0], &state[0, 0], &gbuf[0, 0],
                                           &pbuf[0, 0], &gsum[0], avg_ptr, &c, t0, &st)
        else:
            rc = fgd_epoch_multinomial_f32(&X[0, 0], n_visit, d, K, &y[0], sw_ptr, order_ptr,
                                           &params[0, 0], &state[0, 0], &gbuf[0, 0],
                                           &pbuf[0, 0], &gsum[0], avg_ptr, &c, t0, &st)
    if rc != 0:
        raise ValueError("invalid configuration or class label for the multinomial core "
                         "(labels must be integers in [0, n_classes); optimizers: sgd, "
                         "adagrad, rmsprop, adadelta, adam, adamw)")
    return dict(loss_sum=st.loss_sum, weight_sum=st.weight_sum, lr_last=st.lr_last,
                t=st.t, n_steps=st.n_steps, nonfinite=st.nonfinite)
