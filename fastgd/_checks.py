"""Checks of scalar hyperparameters, shared by every module that takes them.

One rule for every number a user passes: a real number (not a bool),
finite, within its bounds, or a ValueError naming the parameter; a flag is
True or False (or 0 or 1), else a TypeError naming it.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["check_real", "check_bool"]


def check_real(name, value, low=None, high=None, low_open=False, high_open=False,
               integer=False):
    """``value`` as a float (an int where ``integer``), checked.

    Parameters
    ----------
    name : str
        The parameter's name, for the message.
    value : object
    low, high : float, optional
        Bounds, inclusive unless ``low_open`` / ``high_open``.
    integer : bool, default=False
        Require a whole number and return an int.

    Returns
    -------
    float or int

    Raises
    ------
    ValueError
        Not a finite real number (bools, and integers beyond float's range,
        included), not whole where ``integer``, or out of bounds.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    try:
        as_float = float(value)
    except OverflowError:   # an int beyond float's range
        as_float = math.inf
    if not math.isfinite(as_float):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if integer and as_float != int(as_float):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if low is not None and (as_float < low or (low_open and as_float == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and (as_float > high or (high_open and as_float == high)):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {value!r}")
    return int(as_float) if integer else as_float


def check_bool(name, value):
    """``value`` as a bool: True, False (NumPy's too), or the integers 0 and 1.

    Raises
    ------
    TypeError
        Anything else (a string such as ``"False"``, which ``bool()`` would
        take for True, or a float).
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral) and value in (0, 1):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {value!r}")
