"""The reference backend: the training loop in plain NumPy.

This is the specification in code. One epoch visits the rows in the given
order, in mini-batches B of ``batch_size`` consecutive positions, and for
each batch takes one step::

    p_i   = x_i . w + b                              margins
    g     = (1/|B|) sum_{i in B} s_i dloss(y_i, p_i) [x_i, 1]
    g_w  += l2 * w                                   (not for AdamW: decoupled)
    w, b  = optimizer rule at step size lr_t         (step k = t + 1)
    w     = soft_threshold(w, l1 * eta)              (L1 prox, exact zeros)
            or, with the cumulative L1 penalty (problem.l1_state = [q, u]):
    u    += l1 * lr_t
    w     = cumulative_l1(w, u, q)                   (fastgd.penalties)
    avg  += (w - avg) / (k - average_start)          (averaged SGD, k > average_start)

where ``s_i`` are the sample weights divided by their mean over the data
set. Rows of weight zero are skipped, and a batch whose weights are all zero
takes no step. All optimizer arithmetic is done in float64 and stored in the
parameters' dtype, as the compiled core does.

Slow on purpose: use it to read or step through an algorithm
(``fastgd.fit(..., backend="reference")``), and as the oracle the compiled
core is tested against.
"""
from __future__ import annotations

import numpy as np

from fastgd.backends import EpochStats
from fastgd.data import epoch_order as _epoch_order
from fastgd.data import epoch_order_blocks as _epoch_order_blocks
from fastgd.penalties import cumulative_l1, soft_threshold

__all__ = ["epoch_order", "run_epoch"]


def epoch_order(n, seed, out=None, block=None):
    """The seeded row order of an epoch, in plain Python.

    Parameters
    ----------
    n : int
        Number of rows.
    seed : int
        The epoch's seed (:func:`fastgd.data.epoch_seed`).
    out : ndarray of int64, shape (n,), optional
        Filled in place when given.
    block : int or None, default=None
        None: :func:`fastgd.data.epoch_order` (a full permutation). An
        int >= 1: :func:`fastgd.data.epoch_order_blocks` (contiguous blocks
        of ``block`` rows in a seeded order).

    Returns
    -------
    order : ndarray of int64, shape (n,)
    """
    order = _epoch_order(n, seed) if block is None else _epoch_order_blocks(n, block, seed)
    if out is not None:
        out[:] = order
        return out
    return order


def run_epoch(problem, params, state, order, t, gbuf=None, gsum=None, avg=None):
    """One epoch of mini-batch steps; updates ``params``, ``state``, ``gsum``, ``avg`` in place.

    ``gbuf`` (the compiled core's scratch) is unused here.
    """
    X, y, sw = problem.X, problem.y, problem.sw
    n, d = X.shape
    dtype = params.dtype
    loss, opt = problem.loss, problem.optimizer
    rows = np.arange(n) if order is None else order
    loss_sum = weight_sum = lr_last = 0.0
    t_start = t

    for start in range(0, rows.shape[0], problem.batch_size):  # order may list a subset
        batch = rows[start:start + problem.batch_size]
        m = batch.shape[0]
        s = np.ones(m) if sw is None else sw[batch]
        active = s != 0
        Xb, yb, sb = X[batch[active]], y[batch[active]], s[active]

        # Forward: margins, losses, loss derivatives (rows of weight 0 skipped).
        p = (Xb @ params[:d]).astype(np.float64) + float(params[d])
        losses = loss.value(yb, p)
        if not (np.all(np.isfinite(losses)) and np.all(np.isfinite(p))):
            return EpochStats(loss_sum, weight_sum, lr_last, t, t - t_start, True)
        loss_sum += float(np.sum(sb * losses))
        weight_sum += float(np.sum(sb))
        dl = (sb * loss.derivative(yb, p)).astype(dtype)

        if not s.sum() > 0:
            continue  # all weights zero: no step

        # Mini-batch gradient of the loss, in float64 from here on.
        g = np.empty(d + 1)
        inv_m = 1.0 / m
        g[:d] = (Xb.T @ dl).astype(np.float64) * inv_m
        g[d] = float(dl.sum(dtype=dtype)) * inv_m
        w = params.astype(np.float64)
        st = state.astype(np.float64)
        lr = problem.schedule.lr_at(problem.lr, t)

        # Penalty: L2 in the gradient (or decoupled decay), recorded in gsum.
        gsum[:d] += g[:d] + problem.l2 * w[:d]
        if problem.fit_intercept:
            gsum[d] += g[d]
        if problem.l2_decoupled:
            w[:d] *= 1.0 - lr * problem.l2
        else:
            g[:d] += problem.l2 * w[:d]

        new_w, eta = opt.rule(w, g, st, lr, t + 1)
        if problem.l1 > 0 and problem.l1_state is not None:
            q = problem.l1_state
            q[d] += problem.l1 * lr
            cumulative_l1(new_w[:d], q[d], q[:d])
        elif problem.l1 > 0:
            new_w[:d] = soft_threshold(new_w[:d], problem.l1 * eta[:d])
        if not problem.fit_intercept:  # the intercept is not a parameter
            new_w[d] = params[d]
            st[:, d] = state[:, d]
        params[:] = new_w.astype(dtype)
        state[:] = st.astype(dtype)
        t += 1
        lr_last = lr
        start_avg = problem.average_start
        if avg is not None and start_avg >= 0 and t > start_avg:
            a = avg.astype(np.float64)
            avg[:] = (a + (params.astype(np.float64) - a) * (1.0 / (t - start_avg))).astype(dtype)

    return EpochStats(loss_sum, weight_sum, lr_last, t, t - t_start, False)
