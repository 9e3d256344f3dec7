"""fastgd: gradient descent at the speed of the hardware.

Every classic first-order method (SGD, momentum, Nesterov, Adagrad, RMSprop,
Adadelta, Adam, AdamW), learning-rate schedules and L1/L2/elastic-net
penalties behind one small API, computed by a compiled core (C + OpenMP)
and checked against a plain-NumPy reference.
"""
from fastgd import losses, optim, penalties, schedules
# The compiled core, and with it its OpenMP runtime, loads with fastgd:
# threadpoolctl limits only the runtimes loaded when its block starts, so
# `import fastgd` then `with threadpool_limits(1): est.fit(...)` must find
# this one loaded (a first fit that loaded it inside the block ran on every
# CPU).
from fastgd.backends import cpu as _cpu  # noqa: F401
from fastgd._config import show_config
from fastgd.solver import DivergenceError, FitResult, History, Trainer, fit
from fastgd.estimators import SGDClassifier, SGDRegressor

__version__ = "0.1.0"

__all__ = ["fit", "Trainer", "SGDClassifier", "SGDRegressor", "FitResult", "History",
           "DivergenceError", "show_config", "losses", "optim", "penalties", "schedules", "__version__"]
