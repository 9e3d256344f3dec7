"""Losses of the margin ``p = x . w + b``: their specs and reference math.

Each loss is named as in scikit-learn's SGD. Classification losses see labels
encoded as -1/+1. ``value`` and ``derivative`` are the reference: plain NumPy,
one formula per line, the same terms in the same order as ``csrc/losses.h``.
"""
from __future__ import annotations

import numbers

import numpy as np

from fastgd._checks import check_real

__all__ = ["Loss", "LOSSES", "get_loss"]


def _sign(v):
    return np.sign(v)


def _log1pexp_neg(z):
    """log(1 + exp(-z)) without overflow: log1p(exp(-z)) for z > 0, else -z + log1p(exp(z))."""
    z = np.asarray(z, dtype=float)
    pos = z > 0
    out = np.empty_like(z)
    out[pos] = np.log1p(np.exp(-z[pos]))
    out[~pos] = -z[~pos] + np.log1p(np.exp(z[~pos]))
    return out


def _sigmoid_neg(z):
    """1 / (1 + exp(z)) without overflow."""
    z = np.asarray(z, dtype=float)
    pos = z > 0
    out = np.empty_like(z)
    e = np.exp(-z[pos])
    out[pos] = e / (1.0 + e)
    out[~pos] = 1.0 / (1.0 + np.exp(z[~pos]))
    return out


class Loss:
    """A loss of the margin: its name, C code, kind and hyperparameter.

    Parameters
    ----------
    name : str
        One of ``LOSSES``.
    epsilon : float, default=0.1
        The width of the insensitive zone (epsilon-insensitive losses) or the
        switch point to linear (``huber``). Ignored by the other losses.
    """

    _TABLE = {
        # name: (C code, is_classification, uses epsilon)
        "squared_error": (0, False, False),
        "huber": (1, False, True),
        "epsilon_insensitive": (2, False, True),
        "squared_epsilon_insensitive": (3, False, True),
        "log_loss": (4, True, False),
        "hinge": (5, True, False),
        "squared_hinge": (6, True, False),
        "modified_huber": (7, True, False),
        "perceptron": (8, True, False),
    }

    def __init__(self, name="squared_error", epsilon=0.1):
        if name not in self._TABLE:
            raise ValueError(
                f"unknown loss {name!r}; choose one of {sorted(self._TABLE)}")
        if isinstance(epsilon, (bool, np.bool_)) or not isinstance(epsilon, numbers.Real) \
                or check_real("epsilon", epsilon) < 0:
            raise ValueError(f"epsilon must be a finite number >= 0, got {epsilon!r}")
        self.name = name
        self.code, self.is_classification, self.uses_epsilon = self._TABLE[name]
        self.epsilon = float(epsilon)

    def __repr__(self):
        extra = f", epsilon={self.epsilon}" if self.uses_epsilon else ""
        return f"Loss({self.name!r}{extra})"

    @property
    def c_param(self):
        """The loss's hyperparameter as the compiled core takes it."""
        return self.epsilon if self.uses_epsilon else 0.0

    def value(self, y, p):
        """Loss at margins ``p`` for targets ``y`` (arrays, float64 math)."""
        # np.where evaluates both branches; the one not taken may overflow
        # at huge margins without affecting the result.
        with np.errstate(over="ignore", invalid="ignore"):
            return self._value(np.asarray(y, dtype=float), np.asarray(p, dtype=float))

    def _value(self, y, p):
        eps = self.epsilon
        name = self.name
        if name == "squared_error":
            return 0.5 * (p - y) ** 2
        if name == "huber":
            r = p - y
            a = np.abs(r)
            return np.where(a <= eps, 0.5 * r * r, eps * a - 0.5 * eps * eps)
        if name == "epsilon_insensitive":
            return np.maximum(np.abs(y - p) - eps, 0.0)
        if name == "squared_epsilon_insensitive":
            return np.maximum(np.abs(y - p) - eps, 0.0) ** 2
        if name == "log_loss":
            return _log1pexp_neg(y * p)
        if name == "hinge":
            return np.maximum(1.0 - y * p, 0.0)
        if name == "squared_hinge":
            return np.maximum(1.0 - y * p, 0.0) ** 2
        if name == "modified_huber":
            z = y * p
            return np.where(z >= 1.0, 0.0, np.where(z >= -1.0, (1.0 - z) ** 2, -4.0 * z))
        # perceptron
        return np.maximum(-y * p, 0.0)

    def derivative(self, y, p):
        """Derivative of the loss in the margin ``p``."""
        with np.errstate(over="ignore", invalid="ignore"):
            return self._derivative(np.asarray(y, dtype=float), np.asarray(p, dtype=float))

    def _derivative(self, y, p):
        eps = self.epsilon
        name = self.name
        if name == "squared_error":
            return p - y
        if name == "huber":
            r = p - y
            return np.where(np.abs(r) <= eps, r, eps * _sign(r))
        if name == "epsilon_insensitive":
            r = y - p
            return np.where(np.abs(r) > eps, -_sign(r), 0.0)
        if name == "squared_epsilon_insensitive":
            r = y - p
            return np.where(r > eps, -2.0 * (r - eps), np.where(r < -eps, -2.0 * (r + eps), 0.0))
        if name == "log_loss":
            return -y * _sigmoid_neg(y * p)
        if name == "hinge":
            return np.where(y * p <= 1.0, -y, 0.0)
        if name == "squared_hinge":
            z = 1.0 - y * p
            return np.where(z > 0, -2.0 * y * z, 0.0)
        if name == "modified_huber":
            z = y * p
            return np.where(z >= 1.0, 0.0, np.where(z >= -1.0, -2.0 * y * (1.0 - z), -4.0 * y))
        # perceptron
        return np.where(y * p <= 0.0, -y, 0.0)


LOSSES = tuple(Loss._TABLE)


def get_loss(loss, epsilon=0.1):
    """Return a :class:`Loss` from a name or pass a :class:`Loss` through."""
    if isinstance(loss, Loss):
        return loss
    if not isinstance(loss, str):
        raise TypeError(f"loss must be a string or a fastgd.losses.Loss, got {type(loss).__name__}")
    return Loss(loss, epsilon=epsilon)
