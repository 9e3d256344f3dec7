"""Penalties: L2, L1 and elastic net, their spec and reference math.

The objective's penalty is ``alpha * R(w)`` with::

    R(w) = (1 - l1_ratio) / 2 * ||w||_2^2 + l1_ratio * ||w||_1

on the coefficients only (the intercept is not penalized). The L2 part enters
the gradient as ``l2 * w`` with ``l2 = alpha * (1 - l1_ratio)`` (as decoupled
weight decay with AdamW); the L1 part is a soft-threshold by
``l1 * eta`` after each update, ``l1 = alpha * l1_ratio`` and ``eta`` the step
the coordinate took, so it produces exact zeros.
"""
from __future__ import annotations

import numpy as np

from fastgd._checks import check_real

__all__ = ["Penalty", "PENALTIES", "get_penalty", "soft_threshold"]

PENALTIES = ("l2", "l1", "elasticnet", None)


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
    """

    def __init__(self, kind="l2", alpha=0.0, l1_ratio=0.15):
        if isinstance(kind, str) and kind.lower() == "none":
            kind = None
        if kind not in PENALTIES:
            raise ValueError(f"unknown penalty {kind!r}; choose one of 'l2', 'l1', "
                             "'elasticnet' or None")
        check_real("alpha", alpha, low=0.0)
        check_real("l1_ratio", l1_ratio)
        if not 0.0 <= l1_ratio <= 1.0:
            raise ValueError(f"l1_ratio must be in [0, 1], got {l1_ratio!r}")
        self.kind = kind
        self.alpha = float(alpha) if kind is not None else 0.0
        self.l1_ratio = {"l2": 0.0, "l1": 1.0, None: 0.0}.get(kind, float(l1_ratio))

    def __repr__(self):
        return f"Penalty({self.kind!r}, alpha={self.alpha}, l1_ratio={self.l1_ratio})"

    @property
    def l2(self):
        """Coefficient of the L2 gradient term, ``alpha * (1 - l1_ratio)``."""
        return self.alpha * (1.0 - self.l1_ratio)

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


def get_penalty(penalty, alpha, l1_ratio=0.15):
    """Return a :class:`Penalty` from its parts, or pass one through."""
    if isinstance(penalty, Penalty):
        return penalty
    return Penalty(penalty, alpha=alpha, l1_ratio=l1_ratio)
