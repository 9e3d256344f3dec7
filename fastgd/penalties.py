"""Penalties: L2, L1 and elastic net, their spec and reference math.

The objective's penalty is ``alpha * R(w)`` with::

    R(w) = (1 - l1_ratio) / 2 * ||w||_2^2 + l1_ratio * ||w||_1

on the coefficients only (the intercept is not penalized). The L2 part enters
the gradient as ``l2 * w`` with ``l2 = alpha * (1 - l1_ratio)`` (as decoupled
weight decay with AdamW); the L1 part is a soft-threshold by
``l1 * eta`` after each update, ``l1 = alpha * l1_ratio`` and ``eta`` the step
the coordinate took, so it produces exact zeros.

With ``l1_method="cumulative"`` the L1 part is instead the cumulative penalty
of Tsuruoka, Tsujii and Ananiadou (2009), the one scikit-learn's SGD applies,
for plain SGD (no momentum): after each step every weight is moved towards
zero by what the penalty has been due in total, ``u = sum_k l1 * lr_k``,
minus what it has received so far, ``q_j``, and never past zero::

    w_j > 0:  w_j = max(0, w_j - (u + q_j))
    w_j < 0:  w_j = min(0, w_j + (u - q_j))
    q_j      += (the change)

A weight that the penalty clipped at zero owes the rest and pays it as soon
as a step moves it away, so per-sample steps leave many exact zeros where the
proximal step (each step's threshold alone) leaves few.
"""
from __future__ import annotations

import numpy as np

from fastgd._checks import check_real

__all__ = ["Penalty", "PENALTIES", "L1_METHODS", "get_penalty", "soft_threshold",
           "cumulative_l1"]

PENALTIES = ("l2", "l1", "elasticnet", None)
L1_METHODS = ("proximal", "cumulative")


class Penalty:
    """A penalty ``alpha * R(w)``.

    Parameters
    ----------
    kind : {"l2", "l1", "elasticnet"} or None
        None (or "none") means no penalty.
    alpha : float, default=0.0
        Strength, >= 0.
    l1_ratio : float, default=0.15
        Mixing of L1 in ``elasticnet`` (0 = L2, 1 = L1); fixed to 0 for
        ``l2`` and 1 for ``l1``.
    l1_method : {"proximal", "cumulative"}, default="proximal"
        How the L1 part is applied after each step: a soft-threshold by
        ``l1 * eta`` (any optimizer), or scikit-learn's cumulative penalty
        (plain SGD without momentum; see the module docstring).
    """

    l1_method = "proximal"   # (penalties pickled before the option)

    def __init__(self, kind="l2", alpha=0.0, l1_ratio=0.15, l1_method="proximal"):
        if isinstance(kind, str) and kind.lower() == "none":
            kind = None
        if kind not in PENALTIES:
            raise ValueError(f"unknown penalty {kind!r}; choose one of 'l2', 'l1', "
                             "'elasticnet' or None")
        check_real("alpha", alpha, low=0.0)
        check_real("l1_ratio", l1_ratio)
        if not 0.0 <= l1_ratio <= 1.0:
            raise ValueError(f"l1_ratio must be in [0, 1], got {l1_ratio!r}")
        if l1_method not in L1_METHODS:
            raise ValueError(f"l1_method must be 'proximal' or 'cumulative', got {l1_method!r}")
        self.l1_method = l1_method
        self.kind = kind
        self.alpha = float(alpha) if kind is not None else 0.0
        self.l1_ratio = {"l2": 0.0, "l1": 1.0, None: 0.0}.get(kind, float(l1_ratio))

    def __repr__(self):
        method = "" if self.l1_method == "proximal" else f", l1_method={self.l1_method!r}"
        return f"Penalty({self.kind!r}, alpha={self.alpha}, l1_ratio={self.l1_ratio}{method})"

    @property
    def l2(self):
        """Coefficient of the L2 gradient term, ``alpha * (1 - l1_ratio)``."""
        return self.alpha * (1.0 - self.l1_ratio)

    @property
    def cumulative(self):
        """Whether the L1 part (``l1 > 0``) is the cumulative penalty."""
        return self.l1_method == "cumulative" and self.l1 > 0

    @property
    def l1(self):
        """Coefficient of the L1 soft-threshold, ``alpha * l1_ratio``."""
        return self.alpha * self.l1_ratio

    def value(self, coef):
        """``alpha * R(coef)`` in float64."""
        coef = np.asarray(coef, dtype=np.float64).ravel()
        # einsum, not a BLAS dot: see fastgd.solver._sum_squares
        return 0.5 * self.l2 * float(np.einsum("i,i->", coef, coef)) \
            + self.l1 * float(np.abs(coef).sum())


def soft_threshold(w, threshold):
    """Proximal operator of ``threshold * |w|``: shrink towards 0, exact zeros."""
    return np.where(w > threshold, w - threshold, np.where(w < -threshold, w + threshold, 0.0))


def cumulative_l1(w, u, q):
    """The cumulative L1 penalty's step, in place (reference math).

    Parameters
    ----------
    w : ndarray of float64
        The coefficients after the step's update; moved towards zero.
    u : float
        The threshold every weight has been due so far, this step's
        ``l1 * lr`` included.
    q : ndarray of float64
        What each weight has received so far (signed); updated.
    """
    z = w.copy()
    pos, neg = z > 0, z < 0
    w[pos] = np.maximum(0.0, z[pos] - (u + q[pos]))
    w[neg] = np.minimum(0.0, z[neg] + (u - q[neg]))
    q += w - z


def get_penalty(penalty, alpha, l1_ratio=0.15, l1_method="proximal"):
    """Return a :class:`Penalty` from its parts, or pass one through."""
    if isinstance(penalty, Penalty):
        return penalty
    return Penalty(penalty, alpha=alpha, l1_ratio=l1_ratio, l1_method=l1_method)
