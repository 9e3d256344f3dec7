"""Multinomial logistic regression (softmax cross-entropy) on the Trainer.

One model of ``K`` columns instead of ``K`` one-vs-rest problems: for a row
``x`` with class ``c`` and margins ``p = x W + b`` (``K`` of them)::

    loss(x, c) = logsumexp(p) - p_c
    d loss / d p_k = softmax(p)_k - [k == c]

The model is held as one ``(n_features + 1, K)`` array (coefficients, then
the intercepts in the last row) and the optimizer state as ``(3, (d+1) K)``
over the same flat layout, so the per-coordinate optimizer rules, schedules,
penalties, averaging and the epoch bookkeeping of :class:`Trainer` apply
unchanged. Two backends: the compiled one (``csrc/epoch_multinomial.c``;
CSR rows with lazy updates: ``csrc/csr_multinomial_impl.h``) and
:func:`reference_epoch`, plain NumPy (dense or CSR), its specification and
test oracle.
"""
from __future__ import annotations

import math

import numpy as np

from fastgd.backends import EpochProblem, EpochStats
from fastgd.optim import get_optimizer
from fastgd.penalties import soft_threshold
from fastgd import solver
from fastgd.solver import Trainer, _store_init

__all__ = ["MultinomialTrainer", "softmax_loss", "reference_epoch"]

_SUPPORTED = ("sgd", "adagrad", "rmsprop", "adadelta", "adam", "adamw")


def softmax_loss(P, y):
    """Per-row softmax cross-entropy and its derivative in the margins.

    Parameters
    ----------
    P : ndarray of shape (m, K)
        Margins (float64).
    y : ndarray of shape (m,)
        Class indices.

    Returns
    -------
    loss : ndarray of shape (m,)
        ``logsumexp(P_i) - P_i[y_i]``, without overflow.
    dloss : ndarray of shape (m, K)
        ``softmax(P_i) - onehot(y_i)``.
    """
    P = np.asarray(P, dtype=np.float64)
    idx = np.asarray(y).astype(np.int64)
    mx = P.max(axis=1, keepdims=True)
    lse = mx + np.log(np.exp(P - mx).sum(axis=1, keepdims=True))
    rows = np.arange(P.shape[0])
    loss = lse[:, 0] - P[rows, idx]
    dloss = np.exp(P - lse)
    dloss[rows, idx] -= 1.0
    return loss, dloss


def reference_epoch(problem, params, state, order, t, gbuf=None, gsum=None, avg=None):
    """One multinomial epoch in plain NumPy; updates its arguments in place.

    The same steps as :func:`fastgd.backends.reference.run_epoch` with ``K``
    margins per row: for each mini-batch ``B`` (rows of weight 0 skipped)::

        P   = X_B W + b                                 (m x K margins)
        G   = X_B^T (s * dloss) / |B|,  g_b = sum (s * dloss) / |B|
        G  += l2 W                                      (not for AdamW)
        W,b = optimizer rule on the flat (d+1) K vector, step k = t + 1
        W   = soft_threshold(W, l1 * eta)
    """
    X, y, sw = problem.X, problem.y, problem.sw
    n, d = X.shape
    K = params.shape[1]
    dtype = params.dtype
    opt = problem.optimizer
    rows = np.arange(n) if order is None else order
    loss_sum = weight_sum = lr_last = 0.0
    t_start = t
    DK = d * K
    for start in range(0, n, problem.batch_size):
        batch = rows[start:start + problem.batch_size]
        m = batch.shape[0]
        s = np.ones(m) if sw is None else sw[batch]
        active = s != 0
        Xb, yb, sb = X[batch[active]], y[batch[active]], s[active]

        P = (Xb @ params[:d]).astype(np.float64) + params[d].astype(np.float64)
        losses, dl = softmax_loss(P, yb) if len(yb) else (np.zeros(0), np.zeros((0, K)))
        if not (np.all(np.isfinite(losses)) and np.all(np.isfinite(P))):
            return EpochStats(loss_sum, weight_sum, lr_last, t, t - t_start, True)
        loss_sum += float(np.sum(sb * losses))
        weight_sum += float(np.sum(sb))
        dl = (sb[:, None] * dl).astype(dtype)
        if not s.sum() > 0:
            continue

        g = np.empty((d + 1) * K)
        inv_m = 1.0 / m
        g[:DK] = (Xb.T @ dl).astype(np.float64).ravel() * inv_m
        g[DK:] = dl.sum(axis=0, dtype=dtype).astype(np.float64) * inv_m
        w = params.astype(np.float64).ravel()
        st = state.astype(np.float64)
        lr = problem.schedule.lr_at(problem.lr, t)

        gsum[:DK] += g[:DK] + problem.l2 * w[:DK]
        if problem.fit_intercept:
            gsum[DK:] += g[DK:]
        if problem.l2_decoupled:
            w[:DK] *= 1.0 - lr * problem.l2
        else:
            g[:DK] += problem.l2 * w[:DK]
        new_w, eta = opt.rule(w, g, st, lr, t + 1)
        if problem.l1 > 0:
            new_w[:DK] = soft_threshold(new_w[:DK], problem.l1 * eta[:DK])
        if not problem.fit_intercept:
            new_w[DK:] = params[d]
            st[:, DK:] = state[:, DK:]
        params[...] = new_w.reshape(d + 1, K).astype(dtype)
        state[...] = st.astype(dtype)
        t += 1
        lr_last = lr
        a0 = problem.average_start
        if avg is not None and a0 >= 0 and t > a0:
            a = avg.astype(np.float64)
            avg[...] = (a + (params.astype(np.float64) - a) * (1.0 / (t - a0))).astype(dtype)
    return EpochStats(loss_sum, weight_sum, lr_last, t, t - t_start, False)


class _CompiledBackend:
    """The Trainer's backend interface over the compiled multinomial epoch."""

    # run_epoch takes end_sums (the CSR fused loop of plain SGD takes them)
    TAKES_END_SUMS = True

    def __init__(self, base):
        self._base = base

    def epoch_order(self, n, seed, out=None, block=None):
        return self._base.epoch_order(n, seed, out=out, block=block)

    def sparse_step_is_dense(self, problem, t):
        base = getattr(self._base, "sparse_step_is_dense", None)
        return bool(base and base(problem, t))

    def sparse_dense_steps(self, problem, t):
        base = getattr(self._base, "sparse_dense_steps", None)
        return bool(base and base(problem, t))

    def sparse_table_bytes(self, problem):
        base = getattr(self._base, "sparse_table_bytes", None)
        return base(problem) if base else 0

    def run_epoch(self, problem, params, state, order, t, gbuf, gsum, avg=None,
                  end_sums=False):
        from fastgd.backends.cpu import _multinomial

        if hasattr(problem.X, "indptr"):   # CSR rows: lazy updates (_sparse.pyx)
            from fastgd.backends.cpu import _csr, _sparse

            X = problem.X
            _csr.check_structure(X)
            cfg = problem.c_config()
            cfg["end_sums"] = int(end_sums)
            st = _sparse.epoch_csr_multinomial(
                X.data, X.indices, X.indptr, X.shape[1], problem.y, problem.sw, order,
                params, state, gsum, cfg, t, avg)
            return EpochStats(loss_sum=st["loss_sum"], weight_sum=st["weight_sum"],
                              lr_last=st["lr_last"], t=st["t"], n_steps=st["n_steps"],
                              nonfinite=bool(st["nonfinite"]), coef_sq=st.get("coef_sq"),
                              coef_abs=st.get("coef_abs"), gsum_sq=st.get("gsum_sq"))
        K = params.shape[1]
        pbuf = np.zeros((problem.n_threads, K))
        st = _multinomial.epoch_multinomial(
            problem.X, problem.y, problem.sw, order, params, state,
            gbuf.reshape(gbuf.shape[0], -1), pbuf, gsum, problem.c_config(), t, avg)
        return EpochStats(loss_sum=st["loss_sum"], weight_sum=st["weight_sum"],
                          lr_last=st["lr_last"], t=st["t"], n_steps=st["n_steps"],
                          nonfinite=bool(st["nonfinite"]))


class _ReferenceBackend(_CompiledBackend):
    TAKES_END_SUMS = False

    def run_epoch(self, problem, params, state, order, t, gbuf, gsum, avg=None):
        return reference_epoch(problem, params, state, order, t, gbuf, gsum, avg)


class MultinomialTrainer(Trainer):
    """A :class:`Trainer` of one softmax cross-entropy model over ``n_classes``.

    Targets given to :meth:`run` are class indices ``0..n_classes-1`` (as
    float64). ``params`` has shape ``(n_features + 1, n_classes)``: the
    coefficients (transposed, as ``X @ W``) and then the intercepts.

    Parameters
    ----------
    n_classes : int
    **kwargs
        Those of :class:`Trainer` except ``loss`` (always softmax
        cross-entropy; the "optimal" schedule takes its start from the
        binary log loss) and ``epsilon``.
    """

    def __init__(self, n_classes, **kwargs):
        if "loss" in kwargs:
            raise TypeError("MultinomialTrainer's loss is always softmax cross-entropy")
        if kwargs.get("hogwild"):
            # refused rather than ignored: the softmax epochs have no lock-free mode
            raise ValueError("hogwild=True is not available for the multinomial (softmax) "
                             "model: its CSR epochs run deterministically (mini-batches "
                             "on n_jobs threads)")
        # the optimizer first: its own checks (FTRL's penalty) would give
        # advice that leads to this refusal
        name = get_optimizer(kwargs.get("optimizer", "sgd")).name
        if name not in _SUPPORTED:
            raise ValueError(f"the multinomial core supports the optimizers {_SUPPORTED}, "
                             f"not {name!r}")
        super().__init__(loss="log_loss", **kwargs)
        if int(n_classes) < 2:
            raise ValueError(f"n_classes must be >= 2, got {n_classes!r}")
        self.n_classes = int(n_classes)
        self.backend = self._make_backend()

    def _check_l1_method(self, penalty):
        if penalty.cumulative:
            raise ValueError("l1_method='cumulative' is not available for the multinomial "
                             "(softmax) model; use l1_method='proximal', or "
                             "multi_class='ovr'")

    def _make_backend(self):
        if self.backend_name == "reference":
            return _ReferenceBackend(self.backend)
        return _CompiledBackend(self.backend)

    def __setstate__(self, state):
        super().__setstate__(state)
        self.backend = self._make_backend()

    def init_model(self, n_features, dtype, coef_init=None, intercept_init=None):
        """Zero weights, or copies of ``coef_init`` (K, d) / ``intercept_init`` (K,)."""
        K = self.n_classes
        params = np.zeros((n_features + 1, K), dtype=dtype)
        if coef_init is not None:
            coef = np.asarray(coef_init, dtype=np.float64)
            if coef.shape != (K, n_features):
                raise ValueError(f"coef_init must have shape ({K}, {n_features}), got "
                                 f"{coef.shape}")
            if not np.all(np.isfinite(coef)):
                raise ValueError("coef_init contains NaN or infinity")
            _store_init(params[:n_features], coef.T, "coef_init")
        if intercept_init is not None:
            b = np.asarray(intercept_init, dtype=np.float64).reshape(-1)
            if b.shape != (K,) or not np.all(np.isfinite(b)):
                raise ValueError(f"intercept_init must be {K} finite numbers")
            _store_init(params[n_features], b, "intercept_init")
        self.params = params
        self.avg = params.copy() if self.average_start >= 0 else None
        self.state = self.optimizer.init_state(params.size, dtype)
        self._start_training()

    @property
    def coef_(self):
        """Coefficients, shape (n_classes, n_features)."""
        return self.params[:-1].T

    @property
    def intercept_(self):
        return self.params[-1].copy()

    def optimizer_state(self):
        names = self.optimizer.state_names
        d = self.params.shape[0] - 1
        K = self.n_classes
        return {name: self.state[k, :d * K].reshape(d, K).T.copy()
                for k, name in enumerate(names)}

    def _sample_loss(self, Xs, ys, ws):
        """The weighted mean softmax cross-entropy of the current model on ``Xs``
        (the divergence test's reference, as Trainer's for one weight vector)."""
        d = Xs.shape[1]
        W = self.params[:d]
        P = Xs @ W if hasattr(Xs, "nnz") else np.einsum("ij,jk->ik", Xs, W)
        loss, _ = softmax_loss(np.asarray(P, dtype=np.float64) + self.params[d], ys)
        return float(ws @ loss) / float(ws.sum())

    def _zero_model_loss(self, ys, ws, y, sw, block=1 << 16):
        """log K: the all-zero model gives every class probability 1/K."""
        return math.log(self.n_classes)

    def _problem(self, X, y, sw, epochs, n_rows=None):
        n, d = X.shape
        n = n if n_rows is None else n_rows      # rows an epoch visits
        K = self.n_classes
        batch = min(self.batch_size, max(n, 1))
        self._bind_schedule(n, batch, epochs)
        work = batch * max(d, 1) * K
        if hasattr(X, "nnz"):   # a step's work is K times the batch's non-zeros
            work = batch * max(1, X.nnz // max(n, 1)) * K
        threads = max(1, min(self.n_threads, batch, work // solver.MIN_WORK_PER_THREAD))
        problem = EpochProblem(
            X=X, y=y, sw=sw, loss=self.loss, optimizer=self.optimizer,
            schedule=self._bound_schedule, lr=self.lr, l2=self.l2, l1=self.penalty.l1,
            l2_decoupled=self.optimizer.decoupled_weight_decay,
            fit_intercept=self.fit_intercept, batch_size=batch, n_threads=threads,
            average_start=self.average_start)
        if hasattr(X, "nnz") and threads > 1 and not getattr(
                self.backend, "sparse_dense_steps", lambda p, t: False)(problem, self.t):
            problem.n_threads = 1   # the lazy CSR softmax epoch runs on one thread
        return problem
