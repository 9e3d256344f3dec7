"""Step-size schedules: specs and reference math.

A schedule maps the optimizer step ``t`` (counted from 0 over the whole fit)
and the base step size ``lr`` (eta0) to the step size of that step. Every
schedule takes an optional linear warm-up: over the first ``warmup_steps``
steps the step size is multiplied by ``(t + 1) / warmup_steps``.

``adaptive`` is decided between epochs, in Python: the step size stays
constant while the monitored loss improves and is divided by ``factor``
after ``n_iter_no_change`` epochs without improvement (scikit-learn's rule).

Divergence backoff (``on_divergence="backoff"``) halves every step size of
any schedule: the Trainer halves ``lr`` and trains with
``schedule.scaled(factor)``, which scales the parts of the step size that do
not come from ``lr`` (``optimal``'s whole rate, ``cosine``'s ``eta_min``).
"""
from __future__ import annotations

import math

from fastgd._checks import check_real

__all__ = ["Schedule", "Constant", "InvScaling", "Optimal", "Step", "Exponential", "Cosine",
           "Adaptive", "SCHEDULES", "get_schedule"]


class Schedule:
    """Base class. ``code`` and ``c_params`` are what the compiled core reads."""

    name = ""
    code = -1
    adaptive = False
    uses_lr = True   # whether the step size depends on lr (eta0); "optimal"'s does not

    def __init__(self, warmup_steps=0):
        self.warmup_steps = check_real("warmup_steps", warmup_steps, low=0, integer=True)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self):
        return hash((type(self), tuple(sorted(vars(self).items()))))

    def c_params(self):
        """Parameters in the order the compiled core reads them."""
        return []

    def bind(self, alpha, loss, total_steps):
        """A copy with the defaults that depend on the fit filled in.

        ``total_steps`` is the number of optimizer steps of the training call
        that binds it (the Trainer binds once, at its first :meth:`run`
        after ``init_model``; later calls continue on the same binding).
        """
        return self

    def check_horizon(self, bound, t, steps):
        """Refuse a later training call that ``bound`` (this schedule bound
        by :meth:`bind` for the first call) cannot schedule: ``steps`` more
        steps from step ``t``. Raises ValueError; the base class accepts all."""

    def scaled(self, factor):
        """This (bound) schedule with every step size multiplied by ``factor``
        once ``lr`` is multiplied by ``factor`` too:
        ``s.scaled(f).lr_at(f * lr, t) == f * s.lr_at(lr, t)``.

        Schedules whose step size is proportional to ``lr`` return
        themselves; the others scale the part that does not come from
        ``lr``. Divergence backoff uses it to halve every schedule's steps.
        """
        return self

    def _base(self, lr, t):
        raise NotImplementedError

    def lr_at(self, lr, t):
        """Reference: the step size at step ``t`` for base step size ``lr``."""
        value = self._base(lr, t)
        if self.warmup_steps > 0 and t + 1.0 < self.warmup_steps:
            value *= (t + 1.0) / self.warmup_steps
        return value


class Constant(Schedule):
    """``lr`` at every step."""

    name = "constant"
    code = 0

    def _base(self, lr, t):
        return lr


class InvScaling(Schedule):
    """``lr / (t + 1) ** power_t`` (scikit-learn's ``invscaling``)."""

    name = "invscaling"
    code = 1

    def __init__(self, power_t=0.5, warmup_steps=0):
        super().__init__(warmup_steps)
        self.power_t = check_real("power_t", power_t)

    def c_params(self):
        return [self.power_t]

    def _base(self, lr, t):
        return lr / math.pow(t + 1.0, self.power_t)


class Optimal(Schedule):
    """``1 / (alpha (t0 + t))``: Bottou's schedule, as scikit-learn's ``optimal``.

    ``lr`` is ignored. ``alpha`` defaults to the penalty's strength and
    ``t0`` to scikit-learn's heuristic for the loss. A smaller first step
    ``1 / (alpha t0)`` takes a larger ``t0``. Divergence backoff multiplies
    the step size by 1/2 per halving (:meth:`scaled`).
    """

    name = "optimal"
    code = 2
    uses_lr = False

    def __init__(self, alpha=None, t0=None, warmup_steps=0):
        super().__init__(warmup_steps)
        self.alpha = None if alpha is None else check_real("alpha", alpha, low=0.0, low_open=True)
        self.t0 = None if t0 is None else check_real("t0", t0, low=0.0, low_open=True)

    def bind(self, alpha, loss, total_steps):
        a = self.alpha if self.alpha is not None else alpha
        if a is None or a <= 0:
            raise ValueError("the 'optimal' schedule needs alpha > 0 (it steps as 1/(alpha t)); "
                             "it takes the penalty's alpha, which penalty=None makes 0: give "
                             "a penalty or fastgd.schedules.Optimal(alpha=...)")
        t0 = self.t0
        if t0 is None:
            typw = math.sqrt(1.0 / math.sqrt(a))
            eta0 = typw / max(1.0, float(loss.derivative(1.0, -typw)))
            t0 = 1.0 / (eta0 * a)
        return Optimal(alpha=a, t0=t0, warmup_steps=self.warmup_steps)

    def scaled(self, factor):
        # factor / (alpha (t0 + t)) = 1 / ((alpha / factor) (t0 + t)): the
        # compiled core reads alpha from c_params (exact for powers of two)
        if factor == 1.0:
            return self
        return Optimal(alpha=self.alpha / factor, t0=self.t0, warmup_steps=self.warmup_steps)

    def c_params(self):
        return [self.alpha, self.t0]

    def _base(self, lr, t):
        return 1.0 / (self.alpha * (self.t0 + t))


class Step(Schedule):
    """``lr * gamma ** floor(t / step_size)``, with ``step_size`` in optimizer steps."""

    name = "step"
    code = 3

    def __init__(self, step_size=1000, gamma=0.1, warmup_steps=0):
        super().__init__(warmup_steps)
        self.step_size = check_real("step_size", step_size, low=1, integer=True)
        self.gamma = check_real("gamma", gamma, low=0.0, low_open=True)

    def c_params(self):
        return [self.step_size, self.gamma]

    def _base(self, lr, t):
        return lr * math.pow(self.gamma, math.floor(t / self.step_size))


class Exponential(Schedule):
    """``lr * gamma ** t``."""

    name = "exponential"
    code = 4

    def __init__(self, gamma=0.999, warmup_steps=0):
        super().__init__(warmup_steps)
        self.gamma = check_real("gamma", gamma, low=0.0, low_open=True)

    def c_params(self):
        return [self.gamma]

    def _base(self, lr, t):
        return lr * math.pow(self.gamma, t)


class Cosine(Schedule):
    """``eta_min + (lr - eta_min) (1 + cos(pi min(t, T_max) / T_max)) / 2``.

    Anneals from ``lr`` at step 0 to ``eta_min`` at step ``T_max`` and stays
    at ``eta_min`` after it (with ``eta_min=0`` steps past ``T_max`` do not
    move the model).

    ``T_max=None`` (the default) is the number of steps of the training call
    that binds the schedule: the whole fit (``fastgd.fit``, an estimator's
    ``fit``, a Trainer's first ``run`` after ``init_model``), all of its
    epochs. A later call on the same model (``partial_fit``, ``run`` again,
    e.g. after a ``tol`` stop) continues on that horizon, and one that would
    take steps past it raises ValueError instead of training at ``eta_min``:
    a horizon cannot be known in advance for a sequence of calls, so give
    ``T_max`` (the total number of steps of all the calls) for online
    learning. With an explicit ``T_max``, ``k`` ``partial_fit`` calls on
    ``k`` chunks equal one ``fit`` on their concatenation.
    """

    name = "cosine"
    code = 5

    def __init__(self, T_max=None, eta_min=0.0, warmup_steps=0):
        super().__init__(warmup_steps)
        self.T_max = None if T_max is None else check_real("T_max", T_max, low=1, integer=True)
        self.eta_min = check_real("eta_min", eta_min, low=0.0)

    def bind(self, alpha, loss, total_steps):
        if self.T_max is not None:
            return self
        return Cosine(T_max=max(int(total_steps), 1), eta_min=self.eta_min,
                      warmup_steps=self.warmup_steps)

    def check_horizon(self, bound, t, steps):
        if self.T_max is not None or t + steps <= bound.T_max:
            return
        raise ValueError(
            f"the 'cosine' schedule without T_max anneals over the steps of the first training "
            f"call on this model (T_max={bound.T_max} steps), and {t} of them have been taken: "
            f"this call's {steps} steps would run past T_max at the step size "
            f"eta_min={bound.eta_min:g}"
            + (", which does not train" if bound.eta_min == 0 else "")
            + ". For partial_fit or repeated runs give T_max, the total number of steps of all "
            "the calls: fastgd.schedules.Cosine(T_max=...) as learning_rate= (SGDClassifier, "
            "SGDRegressor) or schedule= (Trainer); or fit again from the start.")

    def scaled(self, factor):
        # lr - eta_min and eta_min both scale: the whole step size does
        if factor == 1.0:
            return self
        return Cosine(T_max=self.T_max, eta_min=self.eta_min * factor,
                      warmup_steps=self.warmup_steps)

    def c_params(self):
        return [self.T_max, self.eta_min]

    def _base(self, lr, t):
        tt = min(t, self.T_max)
        return self.eta_min + (lr - self.eta_min) * 0.5 * (1.0 + math.cos(math.pi * tt / self.T_max))


class Adaptive(Constant):
    """Constant ``lr`` divided by ``factor`` after ``n_iter_no_change``
    epochs without improvement of the monitored loss by ``tol``."""

    name = "adaptive"
    adaptive = True

    def __init__(self, factor=5.0, warmup_steps=0):
        super().__init__(warmup_steps)
        self.factor = check_real("factor", factor, low=1.0, low_open=True)


SCHEDULES = {cls.name: cls for cls in (Constant, InvScaling, Optimal, Step, Exponential, Cosine,
                                       Adaptive)}


def get_schedule(schedule, **params):
    """Return a :class:`Schedule` from a name (with ``params``), an object or None (constant)."""
    if schedule is None:
        return Constant(**params)
    if isinstance(schedule, Schedule):
        if params:
            raise ValueError("schedule is an object: set its parameters on it")
        return schedule
    if not isinstance(schedule, str):
        raise TypeError(f"schedule must be a name or a fastgd.schedules.Schedule, got "
                        f"{type(schedule).__name__}")
    try:
        cls = SCHEDULES[schedule]
    except KeyError:
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {sorted(SCHEDULES)}") \
            from None
    return cls(**params)
