"""Optimizers: torch.optim's algorithms, names, hyperparameters and defaults.

Each class validates its hyperparameters, says how the compiled core takes
them (``code``, ``c_params``), and holds the reference update rule in plain
NumPy (``rule``), written as the torch.optim documentation writes it. The
rule is applied per coordinate to the gradient ``g`` of the objective (the
L2 term already added, except for :class:`AdamW`, whose weight decay is
decoupled) at the 1-based step number ``k``.

Every rule also returns the *effective step* ``eta`` of each coordinate: the
factor that multiplies the gradient estimate in the update. The L1 penalty is
a soft-threshold by ``l1 * eta`` after the update, so adaptive methods take a
proximal step in their own metric and produce exact zeros.

Optimizer state lives in a ``(3, n_params)`` array; ``state_names`` names
the rows in use, as torch names them in ``optimizer.state``.

Unlike torch, ``eps`` must be > 0: with ``eps=0`` a coordinate whose
gradients have all been zero so far (an all-zero feature) takes ``0 / 0``,
a NaN that ended the fit as a "divergence" that no smaller step size cures.
Flags (``nesterov``, ``centered``, ``amsgrad``) must be booleans.
"""
from __future__ import annotations

import numbers

import numpy as np

from fastgd._checks import check_bool, check_real

__all__ = ["Optimizer", "SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW",
           "OPTIMIZERS", "get_optimizer"]

N_STATE_ROWS = 3


class Optimizer:
    """Base class: hyperparameters, state layout and reference rule.

    Subclasses set ``name``, ``code`` and ``_hyper`` (the names of the
    hyperparameters in the order the compiled core takes them).
    """

    name = ""
    code = -1
    _hyper: tuple = ()
    decoupled_weight_decay = False

    def __init__(self, lr, weight_decay=0.0):
        self.lr = check_real("lr", lr, low=0.0, low_open=True)
        self.weight_decay = check_real("weight_decay", weight_decay, low=0.0)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and self.get_params() == other.get_params()

    def __hash__(self):
        # Hyperparameters can change (set_params): as for any mutable value,
        # do not change an optimizer while it is a dict key or in a set.
        return hash((type(self), tuple(sorted(self.get_params().items()))))

    # -- scikit-learn's parameter protocol ------------------------------
    # Optimizers are plain objects, not sklearn.base.BaseEstimator: they
    # have no fit, and set_params validates (as the constructor does) and is
    # all-or-nothing. get_params and set_params follow scikit-learn's
    # signatures, so that clone(), GridSearchCV (``optimizer`` and
    # ``optimizer__lr``-style keys) and cross_val_score take an estimator
    # whose ``optimizer`` is an object.

    @classmethod
    def _get_param_names(cls):
        """The constructor's argument names, in order."""
        import inspect

        names = []
        for p in inspect.signature(cls.__init__).parameters.values():
            if p.name == "self":
                continue
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise RuntimeError(f"{cls.__name__}.__init__ must name its hyperparameters "
                                   f"(no *args or **kwargs), as scikit-learn requires")
            names.append(p.name)
        return names

    def get_params(self, deep=True):
        """The constructor's arguments, as a dict (scikit-learn's ``get_params``).

        The values are those stored (validated: floats, bools, ``betas`` a
        tuple), so ``type(opt)(**opt.get_params()) == opt`` and
        ``sklearn.base.clone`` works. ``deep`` is accepted for scikit-learn
        and changes nothing: no hyperparameter is itself an estimator.
        """
        return {k: getattr(self, k) for k in self._get_param_names()}

    def set_params(self, **params):
        """Change hyperparameters in place and return ``self`` (scikit-learn's ``set_params``).

        The new values are validated together, as the constructor validates
        them: an unknown name or an invalid value raises ``ValueError`` and
        leaves the optimizer unchanged. This is what
        ``estimator.set_params(optimizer__lr=0.1)`` calls; it takes effect at
        the estimator's next ``fit`` (a ``Trainer`` keeps its own copy of the
        optimizer it was built with). :meth:`with_params` gives a changed copy
        instead.
        """
        if not params:
            return self
        current = self.get_params()
        unknown = [k for k in params if k not in current]
        if unknown:
            raise ValueError(f"Invalid parameter {unknown[0]!r} for optimizer "
                             f"{type(self).__name__}. Valid parameters are: {list(current)!r}.")
        # with_params validates (raises) before anything here is changed
        vars(self).update(vars(self.with_params(**params)))
        return self

    def with_params(self, **changes):
        """A copy with some hyperparameters changed (validated again)."""
        params = self.get_params()
        params.update(changes)
        return type(self)(**params)

    @property
    def state_names(self):
        """Names of the state rows this configuration uses."""
        return ()

    def c_params(self):
        """Hyperparameters in the order the compiled core reads them."""
        return [float(getattr(self, k)) for k in self._hyper]

    def init_state(self, n_params, dtype):
        """Fresh state: a zero ``(3, n_params)`` array of ``dtype``."""
        return np.zeros((N_STATE_ROWS, n_params), dtype=dtype)

    def step(self, params, grad, state, t, n_jobs=None, check_finite=True):
        """One update of ``params`` and ``state``, in place, by the compiled kernel.

        The optimizer's step as ``torch.optim``'s ``step()`` takes it, for a
        parameter array and its gradient computed elsewhere (a small neural
        net in NumPy, say): ``weight_decay`` is added to the gradient (or
        decays the weights first, for :class:`AdamW`), then the rule is
        applied at the constant step size ``lr``. float32 parameters are
        updated in float32 arithmetic, as torch does.

        Parameters
        ----------
        params : ndarray of float32 or float64
            Writeable and C-contiguous, any shape; updated in place.
        grad : array-like of the same shape
            The gradient of the objective at ``params``; converted to
            ``params``' dtype if needed (never modified).
        state : ndarray of shape (3, params.size)
            The optimizer's state, from :meth:`init_state` with
            ``params.size`` and ``params.dtype``; updated in place.
        t : int
            Steps taken before this one (0 for the first): sets the bias
            corrections of Adam and the first-step momentum of SGD.
        n_jobs : int or None, default=None
            Threads (None: one; -1: all that OpenMP allows). Vectors under
            65,536 parameters always use one.
        check_finite : bool, default=True
            Refuse a gradient with NaN or infinity (costs one read of it).

        Returns
        -------
        params : ndarray
            The same array, updated.
        """
        from fastgd.backends.cpu import _core
        from fastgd.solver import effective_n_threads

        if (not isinstance(params, np.ndarray) or params.dtype not in (np.float32, np.float64)
                or not params.flags.c_contiguous or not params.flags.writeable):
            raise TypeError("params must be a writeable C-contiguous float32 or float64 "
                            "ndarray (it is updated in place)")
        grad = np.asarray(grad)
        if grad.shape != params.shape:
            raise ValueError(f"grad has shape {grad.shape}, params {params.shape}")
        if grad.dtype.kind not in "fiu":
            raise TypeError(f"grad must be real numbers, got dtype {grad.dtype}")
        grad = np.ascontiguousarray(grad, dtype=params.dtype)
        if check_finite and not np.isfinite(grad).all():
            raise ValueError("grad contains NaN or infinity")
        n = params.size
        if (not isinstance(state, np.ndarray) or state.shape != (N_STATE_ROWS, n)
                or state.dtype != params.dtype or not state.flags.c_contiguous
                or not state.flags.writeable):
            raise ValueError(f"state must be a writeable C-contiguous ({N_STATE_ROWS}, {n}) "
                             f"array of {params.dtype} (see init_state)")
        if isinstance(t, bool) or not isinstance(t, numbers.Integral) or t < 0:
            raise ValueError(f"t must be an integer >= 0 (steps taken before), got {t!r}")
        cfg = dict(loss=0, loss_param=0.0, optimizer=self.code, hyper=self.c_params(),
                   schedule=0, lr=self.lr, sched=[], warmup_steps=0.0,
                   l2=self.weight_decay, l1=0.0,
                   l2_decoupled=int(self.decoupled_weight_decay), fit_intercept=0,
                   batch_size=1, n_threads=1)
        _core.optimizer_step(params.reshape(-1), grad.reshape(-1), state, cfg, int(t),
                             effective_n_threads(n_jobs))
        return params

    def rule(self, w, g, s, lr, k):
        """Reference update of parameters ``w`` with gradient ``g``.

        ``s`` is the ``(3, n)`` float64 state, updated in place; ``lr`` the
        step size of this step and ``k`` its 1-based number. Returns the new
        parameters and the effective step of each coordinate.
        """
        raise NotImplementedError


class SGD(Optimizer):
    r"""Stochastic gradient descent, with optional (Nesterov) momentum.

    As torch.optim.SGD::

        b_k = g_k                                   if k == 1
        b_k = momentum * b_{k-1} + (1 - dampening) g_k  otherwise
        g   = g_k + momentum * b_k  (nesterov)  or  b_k
        w  <- w - lr * g

    Parameters
    ----------
    lr : float, default=1e-3
    momentum : float, default=0
    dampening : float, default=0
    weight_decay : float, default=0
        L2 coefficient added to the gradient (the same term as
        ``penalty="l2"`` with ``alpha``; give one or the other).
    nesterov : bool, default=False
    """

    name = "sgd"
    code = 0
    _hyper = ("momentum", "dampening", "nesterov")

    def __init__(self, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(lr, weight_decay)
        self.momentum = check_real("momentum", momentum, low=0.0)
        self.dampening = check_real("dampening", dampening)
        self.nesterov = check_bool("nesterov", nesterov)
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum > 0 and zero dampening")

    @property
    def state_names(self):
        return ("momentum_buffer",) if self.momentum != 0 else ()

    def rule(self, w, g, s, lr, k):
        if self.momentum != 0:
            if k == 1:
                s[0] = g
            else:
                s[0] = self.momentum * s[0] + (1.0 - self.dampening) * g
            g = g + self.momentum * s[0] if self.nesterov else s[0]
        return w - lr * g, np.full_like(w, lr)


class Adagrad(Optimizer):
    r"""Adagrad, as torch.optim.Adagrad::

        clr = lr / (1 + (k - 1) * lr_decay)
        G  <- G + g^2
        eta = clr / (sqrt(G) + eps)
        w  <- w - eta * g

    Parameters
    ----------
    lr : float, default=1e-2
    lr_decay : float, default=0
    weight_decay : float, default=0
    initial_accumulator_value : float, default=0
    eps : float, default=1e-10
    """

    name = "adagrad"
    code = 1
    _hyper = ("lr_decay", "eps")

    def __init__(self, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                 eps=1e-10):
        super().__init__(lr, weight_decay)
        self.lr_decay = check_real("lr_decay", lr_decay, low=0.0)
        self.initial_accumulator_value = check_real(
            "initial_accumulator_value", initial_accumulator_value, low=0.0)
        self.eps = check_real("eps", eps, low=0.0, low_open=True)

    @property
    def state_names(self):
        return ("sum",)

    def init_state(self, n_params, dtype):
        state = super().init_state(n_params, dtype)
        state[0] = self.initial_accumulator_value
        return state

    def rule(self, w, g, s, lr, k):
        clr = lr / (1.0 + (k - 1) * self.lr_decay)
        s[0] = s[0] + g * g
        eta = clr / (np.sqrt(s[0]) + self.eps)
        return w - eta * g, eta


class RMSprop(Optimizer):
    r"""RMSprop, as torch.optim.RMSprop::

        v  <- alpha v + (1 - alpha) g^2
        a  <- alpha a + (1 - alpha) g                 (centered)
        d   = sqrt(v - a^2) + eps  (centered)  or  sqrt(v) + eps
        b  <- momentum b + g / d ;  w <- w - lr b     (momentum > 0)
        w  <- w - lr g / d                            (otherwise)

    Parameters
    ----------
    lr : float, default=1e-2
    alpha : float, default=0.99
    eps : float, default=1e-8
    weight_decay : float, default=0
    momentum : float, default=0
    centered : bool, default=False
    """

    name = "rmsprop"
    code = 2
    _hyper = ("alpha", "eps", "momentum", "centered")

    def __init__(self, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False):
        super().__init__(lr, weight_decay)
        self.alpha = check_real("alpha", alpha, low=0.0, high=1.0)
        self.eps = check_real("eps", eps, low=0.0, low_open=True)
        self.momentum = check_real("momentum", momentum, low=0.0)
        self.centered = check_bool("centered", centered)

    @property
    def state_names(self):
        names = ("square_avg",)
        if self.centered:
            names += ("grad_avg",)
        if self.momentum > 0:
            names += ("momentum_buffer",)
        return names

    def rule(self, w, g, s, lr, k):
        a = self.alpha
        s[0] = a * s[0] + (1.0 - a) * g * g
        if self.centered:
            s[1] = a * s[1] + (1.0 - a) * g
            avg = np.sqrt(s[0] - s[1] * s[1]) + self.eps
        else:
            avg = np.sqrt(s[0]) + self.eps
        eta = lr / avg
        if self.momentum > 0:
            row = 1 + int(self.centered)
            s[row] = self.momentum * s[row] + g / avg
            return w - lr * s[row], eta
        return w - lr * g / avg, eta


class Adadelta(Optimizer):
    r"""Adadelta, as torch.optim.Adadelta::

        v  <- rho v + (1 - rho) g^2
        dx  = sqrt(u + eps) / sqrt(v + eps) * g
        u  <- rho u + (1 - rho) dx^2
        w  <- w - lr dx

    Parameters
    ----------
    lr : float, default=1.0
    rho : float, default=0.9
    eps : float, default=1e-6
    weight_decay : float, default=0
    """

    name = "adadelta"
    code = 3
    _hyper = ("rho", "eps")

    def __init__(self, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.rho = check_real("rho", rho, low=0.0, high=1.0)
        self.eps = check_real("eps", eps, low=0.0, low_open=True)

    @property
    def state_names(self):
        return ("square_avg", "acc_delta")

    def rule(self, w, g, s, lr, k):
        rho = self.rho
        s[0] = rho * s[0] + (1.0 - rho) * g * g
        scale = np.sqrt(s[1] + self.eps) / np.sqrt(s[0] + self.eps)
        delta = scale * g
        s[1] = rho * s[1] + (1.0 - rho) * delta * delta
        return w - lr * delta, lr * scale


class Adam(Optimizer):
    r"""Adam, as torch.optim.Adam (bias-corrected; optional AMSGrad)::

        m  <- beta1 m + (1 - beta1) g
        v  <- beta2 v + (1 - beta2) g^2
        v' = max(v'_prev, v)  (amsgrad)  or  v
        d   = sqrt(v') / sqrt(1 - beta2^k) + eps
        eta = lr / ((1 - beta1^k) d)
        w  <- w - eta m

    ``eta`` is computed as ``(lr sqrt(1 - beta2^k) / (1 - beta1^k)) /
    (sqrt(v') + eps sqrt(1 - beta2^k))``: the same value, with one division
    per coordinate.

    Parameters
    ----------
    lr : float, default=1e-3
    betas : tuple of float, default=(0.9, 0.999)
    eps : float, default=1e-8
    weight_decay : float, default=0
    amsgrad : bool, default=False
    """

    name = "adam"
    code = 4
    _hyper = ("beta1", "beta2", "eps", "amsgrad")

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
        super().__init__(lr, weight_decay)
        try:
            beta1, beta2 = betas
        except (TypeError, ValueError):
            raise ValueError(f"betas must be a pair of numbers, got {betas!r}") from None
        checked = (
            check_real("betas[0]", beta1, low=0.0, high=1.0, high_open=True),
            check_real("betas[1]", beta2, low=0.0, high=1.0, high_open=True),
        )
        # A tuple of floats is kept as given (the same object), as
        # scikit-learn's clone() checks that the constructor stores each
        # argument unchanged; other pairs (lists, ints) become a float tuple.
        if type(betas) is tuple and all(a is b for a, b in zip(checked, betas)):
            checked = betas
        self.betas = checked
        self.eps = check_real("eps", eps, low=0.0, low_open=True)
        self.amsgrad = check_bool("amsgrad", amsgrad)

    @property
    def beta1(self):
        return self.betas[0]

    @property
    def beta2(self):
        return self.betas[1]

    @property
    def state_names(self):
        names = ("exp_avg", "exp_avg_sq")
        return names + ("max_exp_avg_sq",) if self.amsgrad else names

    def rule(self, w, g, s, lr, k):
        b1, b2 = self.betas
        bc1 = 1.0 - b1 ** k
        bc2_sqrt = np.sqrt(1.0 - b2 ** k)
        s[0] = b1 * s[0] + (1.0 - b1) * g
        s[1] = b2 * s[1] + (1.0 - b2) * g * g
        v = s[1]
        if self.amsgrad:
            s[2] = np.maximum(s[2], v)
            v = s[2]
        # lr / (bc1 (sqrt(v) / bc2_sqrt + eps)) with one division per
        # coordinate, as the compiled kernels compute it
        eta = lr * bc2_sqrt / bc1 / (np.sqrt(v) + self.eps * bc2_sqrt)
        return w - eta * s[0], eta


class AdamW(Adam):
    r"""AdamW: Adam with decoupled weight decay, as torch.optim.AdamW::

        w <- w (1 - lr * weight_decay)     then the Adam step

    Parameters
    ----------
    lr : float, default=1e-3
    betas : tuple of float, default=(0.9, 0.999)
    eps : float, default=1e-8
    weight_decay : float, default=1e-2
        Decoupled decay. ``penalty="l2"`` with ``alpha`` is applied the same
        (decoupled) way with this optimizer; give one or the other.
    amsgrad : bool, default=False
    """

    name = "adamw"
    code = 5
    decoupled_weight_decay = True

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
        super().__init__(lr, betas, eps, weight_decay, amsgrad)


OPTIMIZERS = {cls.name: cls for cls in (SGD, Adagrad, RMSprop, Adadelta, Adam, AdamW)}


def get_optimizer(optimizer, lr=None, **params):
    """Return an :class:`Optimizer` from a name (with ``lr`` and ``params``) or an object.

    Parameters
    ----------
    optimizer : str or Optimizer
        A name from ``OPTIMIZERS`` or an instance.
    lr : float, optional
        Step size for a named optimizer; ``None`` takes the optimizer's
        default. Refused with an object, whose own ``lr`` is used.
    **params
        Other hyperparameters for a named optimizer.
    """
    if isinstance(optimizer, Optimizer):
        if lr is not None or params:
            raise ValueError(
                "optimizer is an object: set lr and its hyperparameters on it "
                f"(e.g. {type(optimizer).__name__}(lr=...)) rather than here")
        return optimizer
    if not isinstance(optimizer, str):
        raise TypeError("optimizer must be a name or a fastgd.optim.Optimizer, got "
                        f"{type(optimizer).__name__}")
    try:
        cls = OPTIMIZERS[optimizer.lower()]
    except KeyError:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {sorted(OPTIMIZERS)}") \
            from None
    if lr is not None:
        params["lr"] = lr
    return cls(**params)


class FTRL(Optimizer):
    r"""FTRL-Proximal (McMahan et al., 2013, "Ad Click Prediction", Algorithm 1).

    Per coordinate, with the gradient ``g`` of the loss and ``lr`` the
    paper's ``alpha``::

        sigma = (sqrt(n + g^2) - sqrt(n)) / lr
        z    <- z + g - sigma * w
        n    <- n + g^2
        w     = 0                                     if |z| <= l1
        w     = -(z - sign(z) l1) / ((beta + sqrt(n)) / lr + l2)   otherwise

    The weight is a function of the state ``(z, n)``, so the L1 term gives
    exact zeros, and a step with zero gradient changes nothing: on sparse
    data the lazy update is exact and free. FTRL carries its own L1/L2 terms
    (``l1``, ``l2``), which act on every coordinate including the intercept
    (the paper treats the bias as a feature that is always 1); combine it
    with ``penalty=None`` / ``alpha=0``. A schedule other than constant
    varies ``lr`` (alpha) from step to step. As in the paper, the state
    alone determines the model: ``coef_init`` is not used after the first
    step.

    FTRL takes a constant ``lr`` (the ``"constant"`` schedule without
    warm-up): its weights scale with ``lr`` through ``sqrt(n) / lr``, so a
    schedule that lowered it would shrink every weight at each change, not
    take smaller steps. Trainers refuse other schedules; the estimators'
    default schedule for it is ``"constant"``. (Divergence backoff, which
    halves ``lr``, halves the weights it restarts from with it.)

    Parameters
    ----------
    lr : float, default=0.1
        The per-coordinate learning-rate scale (``alpha`` in the paper).
    beta : float, default=1.0
    l1 : float, default=0.0
    l2 : float, default=0.0
    """

    name = "ftrl"
    code = 6
    _hyper = ("beta", "l1", "l2")
    #: FTRL's regularization is its own (l1, l2): the penalty must be off.
    own_penalty = True
    #: Its weights depend on lr itself, not only its steps: lr must not vary.
    constant_lr = True

    def __init__(self, lr=0.1, beta=1.0, l1=0.0, l2=0.0):
        super().__init__(lr, 0.0)
        self.beta = check_real("beta", beta, low=0.0)
        self.l1 = check_real("l1", l1, low=0.0)
        self.l2 = check_real("l2", l2, low=0.0)

    @property
    def alpha(self):
        """The paper's name for ``lr``."""
        return self.lr

    @property
    def state_names(self):
        return ("z", "n")

    def rule(self, w, g, s, lr, k):
        n_new = s[1] + g * g
        sq = np.sqrt(n_new)
        s[0] = s[0] + g - (sq - np.sqrt(s[1])) / lr * w
        s[1] = n_new
        eta = lr / (self.beta + sq)
        shrunk = s[0] - np.sign(s[0]) * self.l1
        new_w = np.where(np.abs(s[0]) <= self.l1, 0.0,
                         -shrunk / ((self.beta + sq) / lr + self.l2))
        return new_w, eta


OPTIMIZERS[FTRL.name] = FTRL
__all__.append("FTRL")
