"""scikit-learn compatible linear models trained by the compiled core.

:class:`SGDClassifier` and :class:`SGDRegressor` accept scikit-learn's SGD
parameters wherever the concept coincides, with the same defaults, so that
swapping the import is enough; they add fastgd's own ``optimizer``,
``batch_size``, ``n_jobs``, ``device`` and (classifier) ``multi_class``.

Each binary problem (or the regression, or the multinomial model) is one
:class:`fastgd.solver.Trainer`, which keeps the parameters, the optimizer
state, the step counter and the schedule across calls: that is what makes
``partial_fit`` continue exactly where the previous call stopped.

Step sizes
----------
``learning_rate="auto"`` and ``eta0="auto"`` (the defaults) mean:

* with ``optimizer="sgd"`` (plain SGD, scikit-learn's algorithm):
  scikit-learn's defaults, ``"optimal"`` for the classifier and
  ``"invscaling"`` for the regressor, and the installed scikit-learn's
  default ``eta0`` for an explicit ``"constant"``, ``"invscaling"`` or
  ``"adaptive"`` (0.01 for both estimators since scikit-learn 1.8; before,
  the classifier's was 0.0, which those schedules refuse, there as here);
* with any other optimizer: scikit-learn's ``"adaptive"`` schedule (the
  step size stays constant while the stopping criterion improves, and is
  divided by 5 after ``n_iter_no_change`` epochs without improvement) from
  ``eta0`` when given, else from 1e-2 for Adam and AdamW and from the
  optimizer's torch.optim default for the others (Adagrad and RMSprop
  1e-2, Adadelta 1.0). Measured on scikit-learn's bundled datasets with
  standardized features, a constant 1e-3 (torch's Adam default) stops too
  early at ``batch_size=1``, a constant 1e-2 ends noisy; adaptive from 1e-2
  does both well (tests/test_estimators.py compares with scikit-learn).
  FTRL takes ``"constant"`` (it refuses a varying step size: see
  :class:`fastgd.optim.FTRL`). ``partial_fit`` runs one epoch per call, so
  there the step size stays at its start, as in scikit-learn.

An explicit ``learning_rate`` (any name of :mod:`fastgd.schedules` or a
schedule object) is used with any optimizer.

Failed calls
------------
A ``fit`` or ``partial_fit`` that raises (invalid input found after
scikit-learn's validation has reset ``n_features_in_``, a
:class:`fastgd.DivergenceError`, an error in one of several one-vs-rest
problems, ...) leaves every fitted attribute (``coef_``, ``intercept_``,
``classes_``, ``n_features_in_``, ``feature_names_in_``, ``t_``,
``n_iter_``, ``history_``) and the internal trainers exactly as they were
before the call; an estimator that was not fitted stays unfitted. The one
exception is Ctrl-C (KeyboardInterrupt): when every problem has completed
an epoch (and, for ``partial_fit``, one did in this call), the model of the
last completed epochs is kept, a usable one, and the interrupt re-raised.

Divergence
----------
When an epoch produces NaN/inf or an exploding loss, the estimators undo it,
halve the step size and repeat it (the Trainer's ``on_divergence="backoff"``,
up to 10 times) instead of failing: on unscaled data (e.g. features around
100) scikit-learn's default ``eta0`` is too large for per-sample steps.
scikit-learn clips the loss derivative there and returns a finite but
meaningless model; fastgd returns a fit with a smaller step size, or raises
:class:`fastgd.DivergenceError` when ten halvings do not help (every
schedule's steps are halved, "optimal"'s ``1/(alpha (t0 + t))`` too).

Where fastgd differs from scikit-learn on purpose
-------------------------------------------------
* Plain SGD with an L2 penalty (or none) takes scikit-learn's steps: with
  the same row order (``shuffle=False``) the weights agree to rounding
  (tests/test_estimators.py) on dense data, and on sparse data without an
  intercept: on sparse data scikit-learn damps the intercept's steps by
  0.01 (its ``SPARSE_INTERCEPT_DECAY``), fastgd takes the same intercept
  step on sparse and dense data (sparse and dense fits agree). The row
  order of ``shuffle=True`` is fastgd's own seeded order, so shuffled fits
  differ by seed, not on average.
* L1 and elastic net are by default a proximal soft-threshold after each
  step, scaled by the step taken (exact zeros; README.md, "Numerical
  conventions"), not scikit-learn's cumulative truncated-gradient penalty.
  At ``batch_size=1`` few weights stay exactly zero (each row's step exceeds
  one step's threshold); ``l1_method="cumulative"`` applies scikit-learn's
  penalty (plain SGD; with rows in order its weights equal scikit-learn's,
  exact zeros included), and larger batches give sparse models with either.
  The cumulative penalty's state carries across ``partial_fit`` calls
  (scikit-learn starts it afresh at each call).
* The ``optimal`` schedule counts optimizer steps: with ``batch_size > 1``
  its step size falls ``batch_size`` times more slowly per sample.
* The objective is a weighted *average*: sample weights are divided by
  their mean (per call for ``partial_fit``). With unit weights, or weights
  of mean 1 such as ``class_weight="balanced"``, steps equal
  scikit-learn's.
* ``tol`` watches the full training objective, penalty included, not the
  loss alone; with ``early_stopping`` the weights of the best epoch are
  restored at the end.
* ``class_weight`` with more than two classes weights every sample by its
  class's weight in every one-vs-rest problem.
* ``t_`` counts optimizer steps (plus one); zero-weight samples take none.
* ``learning_rate="pa1"``/``"pa2"`` are not supported.
"""
from __future__ import annotations

import copy
import functools
import inspect
import math
import numbers
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model._base import LinearClassifierMixin, SparseCoefMixin
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit
from sklearn.utils import assert_all_finite, check_random_state, compute_class_weight
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import _check_partial_fit_first_call, check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from fastgd._checks import check_bool
from fastgd.data import (astype_in_range, check_numeric_dtype, check_shuffle, check_sparse,
                         check_sparse_structure, extreme_weights, scaled_sample_weight,
                         weights_of_mean_one)
from fastgd.optim import OPTIMIZERS, Optimizer, get_optimizer
from fastgd.penalties import get_penalty
from fastgd.schedules import SCHEDULES, InvScaling, Optimal, Schedule, get_schedule
from fastgd.solver import Trainer, effective_n_threads

__all__ = ["SGDClassifier", "SGDRegressor", "DEVICES"]

DEVICES = ("cpu",)
CLASSIFICATION_LOSSES = ("hinge", "log_loss", "modified_huber", "squared_hinge", "perceptron",
                         "squared_error", "huber", "epsilon_insensitive",
                         "squared_epsilon_insensitive")
REGRESSION_LOSSES = ("squared_error", "huber", "epsilon_insensitive",
                     "squared_epsilon_insensitive")
_MAX_SEED = np.iinfo(np.int32).max
# Starting step sizes of named optimizers when eta0 is not given, where
# torch.optim's default is too small for per-sample steps with a tolerance
# stop (Adam's 1e-3 stops before converging on small data). Other optimizers
# start from their torch.optim default.
_AUTO_LR = {"adam": 1e-2, "adamw": 1e-2}


# Early stopping scores the validation rows this many bytes of X at a time.
_SCORE_BLOCK_BYTES = 1 << 22


def _row_margins(X, rows, coef):
    """``X[rows] @ coef``, a block of rows at a time.

    The validation split is scored in place: ``X[rows]`` whole would copy
    its rows (half of X at ``validation_fraction=0.5``).
    """
    if hasattr(X, "nnz"):
        row_bytes = (X.data.itemsize + X.indices.itemsize) * X.nnz // max(1, X.shape[0])
    else:
        row_bytes = X.shape[1] * X.dtype.itemsize
    step = max(1, _SCORE_BLOCK_BYTES // max(1, row_bytes))
    parts = [np.asarray(safe_sparse_dot(X[rows[i:i + step]], coef, dense_output=True))
             for i in range(0, rows.shape[0], step)]
    return np.concatenate(parts) if parts else np.zeros((0,) + np.shape(coef)[1:])


def _trainer_accepts_sparse():
    """Whether fastgd's data layer and Trainer take CSR input (fastgd.data.check_sparse)."""
    import fastgd.data as data

    return hasattr(data, "check_sparse")


def _sklearn_default(estimator, name, fallback):
    """The default of parameter ``name`` of ``sklearn.linear_model.<estimator>``.

    Read from the installed scikit-learn, so that ``"auto"`` follows it
    across versions (SGDClassifier's ``eta0`` was 0.0 before 1.8, 0.01
    since); ``fallback`` where it cannot be read.
    """
    import sklearn.linear_model

    try:
        value = inspect.signature(getattr(sklearn.linear_model, estimator)).parameters[name]
    except (AttributeError, KeyError, TypeError, ValueError):
        return fallback
    return fallback if value.default is inspect.Parameter.empty else value.default


class _TrainerSnapshot:
    """A trainer's attributes and the contents of its arrays and history.

    :meth:`restore` puts them back in place: the trainer keeps its identity,
    and so do its arrays and its History (which ``history_`` shares).
    """

    def __init__(self, trainer):
        self.trainer = trainer
        self.attrs = dict(vars(trainer))
        self.model = trainer.copy_model() if trainer.params is not None else None
        self.arrays = {k: v.copy() for k, v in self.attrs.items()
                       if isinstance(v, np.ndarray)
                       and not (self.model is not None and k in Trainer.MODEL_ATTRS)}
        # epochs are only ever appended to a history: remember the lengths
        self.history = {k: (v, len(v)) for k, v in vars(trainer.history).items()
                        if isinstance(v, list)}

    def restore(self):
        tr = self.trainer
        for k in [k for k in vars(tr) if k not in self.attrs]:
            delattr(tr, k)
        for k, v in self.attrs.items():
            setattr(tr, k, v)
        for k, a in self.arrays.items():
            self.attrs[k][...] = a
        if self.model is not None:
            tr.restore_model(self.model)
        h = self.attrs["history"]
        for k, (values, n) in self.history.items():
            setattr(h, k, values)
            del values[n:]


@functools.lru_cache(maxsize=None)
def _param_names(cls):
    """The constructor parameters of an estimator class (as ``get_params``
    names them), read from its signature once rather than at every call."""
    return frozenset(cls._get_param_names())


class _AllOrNothing:
    """Context manager making a ``fit``/``partial_fit`` call all or nothing.

    On entry it saves the estimator's fitted state: every attribute that is
    not a constructor parameter (``n_features_in_``, ``feature_names_in_``,
    ``classes_``, ``coef_``, ``intercept_``, ``t_``, ``n_iter_``,
    ``history_``, the trainers, ...) and, with ``trainers=True``
    (``partial_fit``, which continues them), the trainers' own state. If the
    call raises before :meth:`commit`, that state is put back exactly:
    scikit-learn's validation sets ``n_features_in_`` and
    ``feature_names_in_`` before training starts, and a failing one-vs-rest
    problem may come after others have trained. An estimator that was
    unfitted stays unfitted.
    """

    def __init__(self, est, trainers=False):
        self.est = est
        self.params = _param_names(type(est))
        self.saved = {k: v for k, v in vars(est).items() if k not in self.params}
        self.trainers = ([_TrainerSnapshot(tr) for tr in self.saved.get("_trainers", ())]
                         if trainers else [])
        self.committed = False

    def start_copies(self, trainers):
        """For each of ``trainers``, its saved model (unchanged since this
        guard was made: the trainers change only in training), or None."""
        saved = {id(snap.trainer): snap.model for snap in self.trainers}
        return [saved.get(id(tr)) for tr in trainers]

    def commit(self, record):
        """``record()`` the new fitted state; from then on it stays, whatever follows."""
        record()
        self.committed = True

    def restore(self):
        est = self.est
        for k in [k for k in vars(est) if k not in self.params and k not in self.saved]:
            delattr(est, k)
        for k, v in self.saved.items():
            setattr(est, k, v)
        for snap in self.trainers:
            snap.restore()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and not self.committed:
            self.restore()
        return False


# The parameters a later partial_fit call may change: fit's own loop
# (max_iter, tol, n_iter_no_change, early_stopping, validation_fraction,
# warm_start), those each call reads anew (class_weight, verbose, n_jobs),
# and random_state, which seeds a model's start only. _RETUNABLE_PARAMS are
# applied to the model in training (Trainer.retune), as scikit-learn's
# partial_fit reads them at every call; they are recorded with the others.
# A change of any other (the loss, optimizer, model shape, batches, ...) is
# refused (_BaseSGD._continue_training) rather than silently ignored.
_PER_CALL_PARAMS = frozenset({"max_iter", "tol", "n_iter_no_change", "early_stopping",
                              "validation_fraction", "warm_start", "class_weight", "verbose",
                              "n_jobs", "random_state"})
_RETUNABLE_PARAMS = frozenset({"eta0", "learning_rate", "power_t", "alpha", "l1_ratio",
                               "penalty", "epsilon"})


def _same_param(a, b):
    """Whether two values of a parameter are the same setting (1 and 1.0 are;
    True and 1 are not)."""
    if isinstance(a, numbers.Real) and isinstance(b, numbers.Real) and \
            isinstance(a, (bool, np.bool_)) == isinstance(b, (bool, np.bool_)):
        return a == b
    try:
        return type(a) is type(b) and bool(a == b)
    except (TypeError, ValueError):
        return a is b


class _BaseSGD(SparseCoefMixin, BaseEstimator):
    """Parameter handling and the training loop shared by both estimators."""

    _default_schedule = "optimal"
    _default_eta0 = 0.01

    # -- parameters -----------------------------------------------------
    def set_params(self, **params):
        """Set parameters, as scikit-learn's ``set_params`` (nested
        ``optimizer__lr``-style keys set an optimizer object's parameters).

        Returns
        -------
        self
        """
        nested = sorted(k for k in params if k.startswith("optimizer__"))
        opt = params.get("optimizer", self.optimizer)
        if nested and isinstance(opt, str):
            # (scikit-learn's own message: "'str' object has no attribute 'set_params'")
            raise ValueError(
                f"{nested[0]}: optimizer is the name {opt!r}, which has no parameters to set; "
                "give its step size as eta0, or pass an optimizer object (e.g. "
                "fastgd.optim.Adam(lr=0.01)) whose parameters optimizer__* then set")
        return super().set_params(**params)

    def _check_params(self):
        if self.device not in DEVICES:
            raise ValueError(f"device={self.device!r} is not available: fastgd's estimators run "
                             f"on {', '.join(repr(d) for d in DEVICES)} for now")
        losses = CLASSIFICATION_LOSSES if isinstance(self, ClassifierMixin) else REGRESSION_LOSSES
        if self.loss not in losses:
            raise ValueError(f"loss={self.loss!r} is not supported; choose one of {losses}")
        for name in ("fit_intercept", "early_stopping", "warm_start"):
            check_bool(name, getattr(self, name))
        v = self.verbose
        if not isinstance(v, (bool, np.bool_)) and not (
                isinstance(v, numbers.Integral) and v >= 0):
            raise ValueError(f"verbose must be an integer >= 0 or a bool, got {v!r}")
        for name in ("max_iter", "n_iter_no_change", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        if self.tol is not None and (isinstance(self.tol, bool)
                                     or not isinstance(self.tol, numbers.Real)
                                     or math.isnan(self.tol)):
            raise ValueError(f"tol must be None or a number, got {self.tol!r}")
        vf = self.validation_fraction
        if isinstance(vf, bool) or not isinstance(vf, numbers.Real) or not 0.0 < vf < 1.0:
            raise ValueError(f"validation_fraction must be in (0, 1), got {vf!r}")
        avg = self.average
        if not isinstance(avg, (bool, np.bool_)) and (
                not isinstance(avg, numbers.Integral) or avg < 0):
            raise ValueError(f"average must be a bool or an integer >= 0, got {avg!r}")
        if self.penalty not in ("l2", "l1", "elasticnet", None):
            raise ValueError(f"penalty must be 'l2', 'l1', 'elasticnet' or None, got "
                             f"{self.penalty!r}")
        for name in ("alpha", "l1_ratio", "epsilon", "power_t"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
                raise ValueError(f"{name} must be a finite number, got {v!r}")
        if self.alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {self.alpha!r}")
        if self.n_jobs is not None:
            effective_n_threads(self.n_jobs)
        check_shuffle(self.shuffle)

    def _average_arg(self):
        # scikit-learn's average=k (an int) averages the iterates from step k
        # on (1-based), i.e. after the Trainer's step number k - 1.
        avg = self.average
        if isinstance(avg, (bool, np.bool_)):
            return bool(avg)
        return False if avg == 0 else int(avg) - 1

    def _optimizer_and_schedule(self):
        """Resolve ``optimizer``, ``learning_rate`` and ``eta0`` to Trainer arguments.

        Returns (optimizer, lr, schedule); see the module docstring.
        """
        opt = self.optimizer
        if isinstance(opt, str):
            plain = opt.lower() == "sgd"
        elif isinstance(opt, Optimizer):
            plain = False
        else:
            raise TypeError("optimizer must be a name or a fastgd.optim.Optimizer, got "
                            f"{type(opt).__name__}")
        eta0 = self.eta0
        if isinstance(eta0, str) and eta0 == "auto":
            eta0 = self._default_eta0 if plain else None
        elif isinstance(eta0, bool) or not isinstance(eta0, numbers.Real) \
                or not math.isfinite(eta0) or eta0 < 0:
            raise ValueError(f"eta0 must be 'auto' or a finite number >= 0, got {eta0!r}")
        lr_name = self.learning_rate
        if isinstance(lr_name, str) and lr_name == "auto":
            # (the class says it: no optimizer built to ask)
            constant = getattr(type(opt) if isinstance(opt, Optimizer)
                               else OPTIMIZERS.get(opt.lower()), "constant_lr", False)
            lr_name = self._default_schedule if plain else (
                "constant" if constant else "adaptive")
        if lr_name in ("pa1", "pa2"):
            raise ValueError(f"learning_rate={lr_name!r} (scikit-learn's passive-aggressive "
                             "steps, which depend on each row's norm) is not supported by "
                             "fastgd; use e.g. 'optimal' or 'adaptive'")
        if isinstance(lr_name, Schedule):
            schedule = lr_name
        elif lr_name == "optimal":
            # Bottou's 1/(alpha (t0 + t)) uses alpha even without a penalty, as scikit-learn.
            if not self.alpha > 0:
                raise ValueError("learning_rate='optimal' needs alpha > 0")
            schedule = Optimal(alpha=self.alpha)
        elif lr_name == "invscaling":
            schedule = InvScaling(power_t=self.power_t)
        elif isinstance(lr_name, str) and lr_name in SCHEDULES:
            schedule = get_schedule(lr_name)
        else:
            raise ValueError(f"learning_rate must be 'auto', one of {sorted(SCHEDULES)} or a "
                             f"fastgd.schedules.Schedule, got {lr_name!r}")
        uses_lr = schedule.name != "optimal"
        if isinstance(opt, Optimizer):
            if eta0 is not None:
                raise ValueError("optimizer is an object: set its step size on it "
                                 f"({type(opt).__name__}(lr=...)) rather than with eta0")
            return opt, None, schedule
        if uses_lr and eta0 is not None and not eta0 > 0:
            raise ValueError(f"eta0 must be > 0 with learning_rate={schedule.name!r}, got "
                             f"{self.eta0!r}")
        lr = eta0 if uses_lr and eta0 is not None else _AUTO_LR.get(opt.lower())
        # The penalty (alpha, l1_ratio) is the estimators' one L2 term: a named
        # AdamW gets weight_decay=0 and applies alpha's L2 part decoupled.
        extra = {"weight_decay": 0.0} if opt.lower() == "adamw" else {}
        return get_optimizer(opt, lr=lr, **extra), None, schedule

    def _new_trainer(self, loss, seed, n_jobs, n_classes=None):
        opt, lr, schedule = self._optimizer_and_schedule()
        kwargs = dict(optimizer=opt, lr=lr, schedule=schedule, penalty=self.penalty,
                      alpha=self.alpha, l1_ratio=self.l1_ratio, l1_method=self.l1_method,
                      fit_intercept=self.fit_intercept,
                      batch_size=self.batch_size, n_jobs=n_jobs, backend=self.device,
                      shuffle=self.shuffle, random_state=seed, average=self._average_arg(),
                      on_divergence="backoff")
        if n_classes is not None:
            from fastgd._multinomial import MultinomialTrainer

            return MultinomialTrainer(n_classes=n_classes, **kwargs)
        return Trainer(loss=loss, epsilon=self.epsilon, **kwargs)

    # -- data -----------------------------------------------------------
    def _validate(self, X, y, reset):
        sparse_ok = _trainer_accepts_sparse()
        if sp.issparse(X) and not sparse_ok:
            raise TypeError(f"{type(self).__name__} does not take sparse input yet: pass a "
                            "dense array (e.g. X.toarray())")
        # fastgd's dtype policy, as in fastgd.fit: bool, string, complex and
        # datetime input is refused rather than guessed at (check_numeric_dtype).
        check_numeric_dtype(X, "X")
        if sp.issparse(X):
            # canonical CSR (sorted, unique indices; never densified), its
            # index arrays checked before scikit-learn's validation, whose
            # conversions and reads would trust them
            X = check_sparse(X)
        if y is not None and not isinstance(self, ClassifierMixin):
            check_numeric_dtype(y, "y", bool_hint=" (for class labels use SGDClassifier)")
        X, y = validate_data(self, X, y, accept_sparse="csr" if sparse_ok else False,
                             dtype=[np.float64, np.float32], order="C", reset=reset,
                             y_numeric=not isinstance(self, ClassifierMixin))
        if not reset and hasattr(self, "_trainers"):
            dtype = self._trainers[0].params.dtype
            if X.dtype != dtype:  # partial_fit keeps the dtype of its first call
                X = astype_in_range(X, dtype, "X",
                                    "the dtype of this model (from its first call's X)")
        return X, y

    def _sample_weight(self, sample_weight, X):
        if sample_weight is None:
            return np.ones(X.shape[0])
        check_numeric_dtype(sample_weight, "sample_weight")
        sw = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True,
                                  allow_all_zero_weights=True)
        if not np.all(np.isfinite(sw)):
            # arrays were checked above; a scalar is broadcast unchecked
            assert_all_finite(sw, input_name="sample_weight")
        if np.any(sw > 0) and extreme_weights(sw):
            # sums of these would overflow (or their mean is subnormal): only
            # the ratios matter, so rescale them here, once, for the training
            # and the validation scores alike
            sw = weights_of_mean_one(sw)
        return sw

    def _warm_start_init(self, coef_init, intercept_init):
        """scikit-learn's warm start: the fitted ``coef_`` and ``intercept_``
        stand in for ``coef_init`` and ``intercept_init``, each where it is not
        given. Returns them, and whether either came from the fitted model."""
        if not (self.warm_start and hasattr(self, "coef_")):
            return coef_init, intercept_init, None
        warm = (coef_init is None, intercept_init is None)
        if coef_init is None:
            coef_init = self.coef_.toarray() if sp.issparse(self.coef_) else self.coef_
        if intercept_init is None:
            intercept_init = self.intercept_
        return coef_init, intercept_init, warm if any(warm) else None

    def _check_warm_start(self, coef_init, intercept_init, warm, rows, n_features):
        """Refuse a warm start from a fitted model of another shape (``rows``
        weight vectors of ``n_features``) by what the user can change.
        ``warm``: which of (coef_init, intercept_init) came from the model
        (a shape the user gave is checked, and named, as without it)."""
        if warm is None:
            return
        from_coef, from_intercept = warm
        if (from_coef and np.size(coef_init) != rows * n_features) or (
                from_intercept and np.size(intercept_init) != rows):
            raise ValueError(
                f"warm_start=True starts from the fitted model, whose coef_ has shape "
                f"{np.shape(self.coef_)}, but this data needs {rows} weight vector(s) of "
                f"{n_features} features: fit with warm_start=False, or pass coef_init and "
                "intercept_init")

    def _split(self, X, y, sw, stratify):
        """Hold out ``validation_fraction`` of the rows (stratified for classifiers)."""
        n = X.shape[0]
        cls = StratifiedShuffleSplit if stratify else ShuffleSplit
        splitter = cls(n_splits=1, test_size=self.validation_fraction,
                       random_state=self.random_state)
        try:
            train, val = next(splitter.split(np.zeros((n, 1)), y if stratify else None))
        except ValueError as e:
            raise ValueError(f"early_stopping: cannot hold out validation_fraction="
                             f"{self.validation_fraction} of {n} samples ({e}); use more data "
                             "or a larger validation_fraction") from None
        if len(train) == 0 or len(val) == 0:
            raise ValueError(f"early_stopping: validation_fraction={self.validation_fraction} "
                             f"of {n} samples leaves an empty training or validation set")
        # the training rows in the order they have in X, as scikit-learn
        # keeps them: shuffle=False must mean that order (time-ordered data)
        train.sort()
        if not np.any(sw[val] > 0):
            raise ValueError("The sample weights for validation set are all zero, consider "
                             "using a different random state.")
        return train, val

    # -- training -------------------------------------------------------
    def _run(self, trainers, X, ys, sw, epochs, tol, scorers, n_workers, rows=None,
             start_copies=None):
        """Train every trainer on its targets, in ``n_workers`` threads.

        ``scorers[k]`` is None or ``score(coef, intercept) -> float`` on held-out
        data (maximized); with one, the best epoch's weights are restored.
        ``rows``: train on these rows of X only (the rest is the validation
        split), without copying X. ``start_copies[k]``: the ``start_copy`` of
        trainer k's run (see :meth:`Trainer.run`). Returns the stop reasons.
        """
        if rows is None:
            swn = scaled_sample_weight(sw, X) if sw is not None else None
        else:   # weights of mean 1 over the training rows, indexed like X
            sub = None if sw is None else scaled_sample_weight(sw[rows], rows)
            # the same division as scaled_sample_weight, so the same bits as
            # training on a copy of the rows
            swn = None if sub is None else weights_of_mean_one(sw, rows)

        def one(k):
            tr = trainers[k]
            monitor, best = None, None
            if scorers[k] is not None:
                best = {"score": -math.inf, "params": None, "avg": None, "l1_state": None}
                score = scorers[k]

                def monitor(coef, intercept, tr=tr, best=best, score=score):
                    # the model the epoch would report (Trainer.final_params at
                    # its last step): the average once it has started
                    value = score(coef, intercept)
                    if value > best["score"]:
                        best["score"] = value
                        best["params"] = tr.params.copy()
                        # the cumulative L1 penalty's account of these weights
                        l1_state = getattr(tr, "l1_state", None)
                        best["l1_state"] = None if l1_state is None else l1_state.copy()
                        # the model scored, restored into avg too, as that is
                        # what is reported
                        best["avg"] = None if tr.avg is None else np.concatenate(
                            [coef, np.reshape(intercept, (1,) + coef.shape[1:])])
                    return -value
            n_val = len(tr.history.validation)
            reason = tr.run(X, ys[k], swn, epochs=epochs, tol=tol,
                            n_iter_no_change=self.n_iter_no_change, monitor=monitor,
                            verbose=bool(self.verbose), rows=rows,
                            start_copy=start_copies[k] if start_copies else None)
            # the Trainer records what it minimized; report the score itself
            val = tr.history.validation
            val[n_val:] = [-v for v in val[n_val:]]
            if best is not None and best["params"] is not None:
                tr.params[...] = best["params"]
                if tr.avg is not None:
                    tr.avg[...] = best["avg"]
                if best["l1_state"] is not None:
                    tr.l1_state[...] = best["l1_state"]
            return reason

        if n_workers <= 1 or len(trainers) == 1:
            return [one(k) for k in range(len(trainers))]
        pool = ThreadPoolExecutor(max_workers=n_workers)
        try:
            return list(pool.map(one, range(len(trainers))))
        except KeyboardInterrupt:
            # Ctrl-C reaches the main thread only: stop the workers at their
            # next chunk boundary (each keeps its last completed epoch), and
            # clear the request of those that had already finished.
            for tr in trainers:
                tr.interrupt()
            pool.shutdown(wait=True)
            for tr in trainers:
                tr._interrupt_requested = False
            raise
        finally:
            pool.shutdown(wait=True)

    def _run_or_keep_progress(self, guard, record, trainers, epochs_before, *args):
        """:meth:`_run`; on Ctrl-C, commit the last completed epochs, then re-raise.

        Each trainer undoes its interrupted epoch, so what ``record()`` stores
        is a usable model (for predict) as of the last epoch each problem
        completed. It is committed through ``guard`` (an :class:`_AllOrNothing`)
        when every problem has a model of whole epochs and at least one
        completed an epoch in this call (``epochs_before``: their epoch counts
        when the call started). Otherwise, and on any other exception, the
        guard puts back the fitted state from before the call.
        """
        try:
            # the guard's copies of the trainers' models are the first
            # epoch's rollback point too: one copy of each model, not two
            return self._run(trainers, *args, start_copies=guard.start_copies(trainers))
        except KeyboardInterrupt:
            if all(tr.epoch > 0 for tr in trainers) and any(
                    tr.epoch > e0 for tr, e0 in zip(trainers, epochs_before)):
                guard.commit(record)
            raise

    def _training_params(self):
        """Copies of the parameters the trainers are built from: those a
        ``partial_fit`` continues with (every parameter but _PER_CALL_PARAMS)."""
        return copy.deepcopy({k: v for k, v in self.get_params(deep=False).items()
                              if k not in _PER_CALL_PARAMS})

    def _continue_training(self, trainers):
        """A later ``partial_fit``: refuse parameters changed since the model
        was built (or last retuned), except _RETUNABLE_PARAMS, which are
        applied to ``trainers``; apply those each call reads (n_jobs).

        Returns the parameters to record as the model's: those recorded,
        with the retuned ones' new values.
        """
        built = getattr(self, "_built_params", None)
        if built is None:   # unpickled from a version that recorded none
            built = self._training_params()
        # (the attributes themselves: get_params and a copy cost a tenth of a
        # short call)
        now = {k: getattr(self, k) for k in built}
        changed = [k for k in now if not _same_param(now[k], built[k])]
        refused = [k for k in changed if k not in _RETUNABLE_PARAMS]
        if refused:
            what = ", ".join(f"{k} changed from {built[k]!r} to {now[k]!r}" for k in refused)
            raise ValueError(
                f"{what} since the model was built (by fit or the first partial_fit): "
                "partial_fit continues that training, with its loss, optimizer, model "
                "and batches, and cannot apply this change to it (it applies a change of "
                f"{', '.join(sorted(_RETUNABLE_PARAMS))}). Set it back, or call fit to "
                "train with it (with warm_start=True, or coef_init and intercept_init, "
                "from the current weights)")
        if changed:
            self._check_params()
            self._retune(trainers, changed)
            built = {**built, **copy.deepcopy({k: now[k] for k in changed})}
        _, omp = self._thread_split(len(trainers))
        for tr in trainers:
            tr.n_threads = omp
        return built

    def _retune(self, trainers, changed):
        """Apply the changed _RETUNABLE_PARAMS to the trainers (see
        :meth:`fastgd.solver.Trainer.retune`)."""
        opt, _, schedule = self._optimizer_and_schedule()
        # a new eta0, or a new schedule (which starts from eta0), sets the
        # step size; otherwise the one the trainers have lowered stays
        new_lr = "eta0" in changed or "learning_rate" in changed
        penalty = get_penalty(self.penalty, alpha=self.alpha, l1_ratio=self.l1_ratio,
                              l1_method=self.l1_method)
        new_schedule = {"learning_rate", "power_t", "alpha"} & set(changed)
        for tr in trainers:
            tr.retune(lr=opt.lr if new_lr and opt.lr is not None else None,
                      schedule=schedule if new_schedule else None, penalty=penalty,
                      epsilon=self.epsilon)

    def _thread_split(self, n_problems):
        """(Python threads over problems, OpenMP threads inside each)."""
        total = effective_n_threads(self.n_jobs)
        workers = max(1, min(total, n_problems))
        return workers, max(1, total // workers)

    def _warn_convergence(self, reasons, tol, epochs):
        if tol is not None and epochs > 1 and any(r == "max_epochs" for r in reasons):
            warnings.warn("Maximum number of iteration reached before convergence. Consider "
                          "increasing max_iter to improve the fit.", ConvergenceWarning)

    def _record(self, trainers, epochs_before):
        """Copy the trainers' models into scikit-learn's fitted attributes."""
        finals = [tr.final_params() for tr in trainers]
        self.n_iter_ = max(tr.epoch - e0 for tr, e0 in zip(trainers, epochs_before))
        # t_: optimizer steps taken + 1. At batch_size=1 with non-zero weights
        # that is scikit-learn's "samples seen + 1".
        self.t_ = float(max(tr.t for tr in trainers) + 1)
        return finals

    def _tol(self):
        return None if self.tol is None else float(self.tol)

    def __sklearn_is_fitted__(self):
        # only a model (coef_) means fitted: n_features_in_ alone (set by
        # validation before training) never outlives a failed call, but
        # tells nothing about a model either
        return hasattr(self, "coef_")

    def _more_tags_sparse(self, tags):
        tags.input_tags.sparse = _trainer_accepts_sparse()
        return tags


class SGDClassifier(LinearClassifierMixin, _BaseSGD):
    """Linear classifier trained by stochastic gradient methods in the compiled core.

    A drop-in for :class:`sklearn.linear_model.SGDClassifier`: the same
    parameters and defaults where the concept coincides (with
    ``optimizer="sgd"``, ``batch_size=1`` it runs scikit-learn's algorithm),
    plus ``optimizer``, ``batch_size``, ``n_jobs``, ``device`` and
    ``multi_class``.

    The objective is ``sum_i s_i loss(y_i, x_i . w + b) / sum_i s_i +
    alpha R(w)`` (``R`` as in scikit-learn; sample weights enter as a
    weighted average, so only their ratios matter).

    Parameters
    ----------
    loss : str, default="hinge"
        "hinge", "log_loss", "modified_huber", "squared_hinge", "perceptron",
        or a regression loss ("squared_error", "huber", "epsilon_insensitive",
        "squared_epsilon_insensitive") on -1/+1 targets.
    penalty : {"l2", "l1", "elasticnet", None}, default="l2"
    alpha : float, default=1e-4
    l1_ratio : float, default=0.15
    l1_method : {"proximal", "cumulative"}, default="proximal"
        How the L1 part of ``penalty`` is applied after each step: a
        soft-threshold by ``alpha * l1_ratio`` times the step size (any
        optimizer), or "cumulative": scikit-learn's cumulative penalty
        (Tsuruoka et al. 2009), which leaves as many exact zeros as
        scikit-learn's SGD at ``batch_size=1`` (plain SGD without momentum;
        not with ``average`` or ``multi_class="multinomial"``).
    fit_intercept : bool, default=True
    max_iter : int, default=1000
        Epochs (passes over the data) of ``fit``.
    tol : float or None, default=1e-3
        Stop when the training objective (loss plus penalty), or with
        ``early_stopping`` the validation accuracy, has not improved by
        ``tol`` for ``n_iter_no_change`` epochs. None: run ``max_iter``.
    shuffle : bool or "block", default=True
        As in scikit-learn, plus "block": each epoch visits contiguous
        blocks of 64 rows in a seeded random order, rows in order within a
        block -- faster for ``batch_size=1`` on large dense data, less
        random (see :func:`fastgd.fit`; fine unless X is sorted by label,
        time or group).
    verbose : int, default=0
    epsilon : float, default=0.1
    n_jobs : int or None, default=None
        Threads: one-vs-rest problems run in parallel Python threads (at most
        ``n_jobs``); inside a problem the compiled core splits a mini-batch
        over OpenMP threads when it is large enough (``batch_size * n_features``
        of at least 8192 multiply-adds per thread), so ``n_jobs`` can also
        speed up a single binary fit with large batches on free cores. None:
        1 thread, as in scikit-learn; -1: every CPU OpenMP allows.
    random_state : int, RandomState or None, default=None
        Fixes every epoch's row order and the validation split.
    learning_rate : str or Schedule, default="auto"
        "constant", "optimal", "invscaling", "adaptive" (scikit-learn's) or
        any :mod:`fastgd.schedules` name or object. "auto": "optimal" for
        plain SGD, "constant" for FTRL, "adaptive" for other optimizers (see
        the module docs).
    eta0 : float or "auto", default="auto"
        Base step size. "auto": for plain SGD, scikit-learn's default (0.01
        since scikit-learn 1.8, 0.0 before; read from the installed
        version), used by "constant", "invscaling" and "adaptive", not by
        "optimal"; 1e-2 for Adam/AdamW and the torch.optim default ``lr``
        for other optimizers.
    power_t : float, default=0.5
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` (stratified, seeded by
        ``random_state``), stop on its accuracy and restore the weights of
        the best epoch. The other rows train in their order in X (with
        ``shuffle=False``, as scikit-learn's).
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=5
    class_weight : dict, "balanced" or None, default=None
        Multiplies each sample's weight by the weight of its class (in every
        one-vs-rest problem; scikit-learn weights only the positive class of
        each problem when there are more than two classes).
    warm_start : bool, default=False
        ``fit`` starts from the fitted ``coef_`` where no ``coef_init`` is
        given, and from the fitted ``intercept_`` where no
        ``intercept_init`` is (a new model: new optimizer state and schedule).
    average : bool or int, default=False
        Report the average of the iterates (after step ``average`` if an int).
    optimizer : str or fastgd.optim.Optimizer, default="sgd"
        "sgd" (plain SGD, scikit-learn's), "adagrad", "rmsprop", "adadelta",
        "adam", "adamw", or an object such as ``fastgd.optim.Adam(lr=1e-2)``.
    batch_size : int, default=1
        Rows per step; 1 is scikit-learn's per-sample SGD.
    device : str, default="cpu"
    multi_class : {"ovr", "multinomial"}, default="ovr"
        One-vs-rest binary problems, or one softmax cross-entropy model over
        all classes (needs ``loss="log_loss"``; with two classes it is the
        binary logistic model).

    Attributes
    ----------
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        In the dtype of X (float32 stays float32).
    intercept_ : ndarray of shape (1,) or (n_classes,)
    classes_ : ndarray of shape (n_classes,)
    n_iter_ : int
        Epochs run by the last ``fit`` or ``partial_fit`` call (the most of
        any one-vs-rest problem).
    t_ : float
        Optimizer steps taken over all calls, plus one; with
        ``batch_size=1`` and non-zero weights this is scikit-learn's
        number of samples seen plus one.
    history_ : fastgd.History or list of History
        Per-epoch training objective (``loss``: mean loss plus penalty),
        ``validation`` score (accuracy on the held-out fraction, with
        ``early_stopping``), ``grad_norm``, ``lr`` and ``seconds``, over all
        ``partial_fit`` calls since the last ``fit``; one per one-vs-rest
        problem for more than two classes.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        When X has string feature names (pandas).
    """

    _default_schedule = "optimal"
    # eta0 "auto" with plain SGD: the installed scikit-learn's default
    _default_eta0 = _sklearn_default("SGDClassifier", "eta0", 0.01)

    def __init__(self, loss="hinge", *, penalty="l2", alpha=0.0001, l1_ratio=0.15,
                 fit_intercept=True, max_iter=1000, tol=1e-3, shuffle=True, verbose=0,
                 epsilon=0.1, n_jobs=None, random_state=None, learning_rate="auto", eta0="auto",
                 power_t=0.5, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=5, class_weight=None, warm_start=False, average=False,
                 optimizer="sgd", batch_size=1, device="cpu", multi_class="ovr",
                 l1_method="proximal"):
        self.loss = loss
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.shuffle = shuffle
        self.verbose = verbose
        self.epsilon = epsilon
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.power_t = power_t
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.average = average
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.device = device
        self.multi_class = multi_class
        self.l1_method = l1_method

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        return self._more_tags_sparse(tags)

    # -- helpers --------------------------------------------------------
    def _check_multi_class(self):
        if self.multi_class not in ("ovr", "multinomial"):
            raise ValueError(f"multi_class must be 'ovr' or 'multinomial', got "
                             f"{self.multi_class!r}")
        if self.multi_class == "multinomial" and self.loss != "log_loss":
            raise ValueError("multi_class='multinomial' trains softmax cross-entropy: it needs "
                             f"loss='log_loss', got loss={self.loss!r}")

    def _class_sample_weight(self, y, sw, classes):
        """Multiply each sample's weight by the weight of its class."""
        if self.class_weight is None:
            return sw
        cw = compute_class_weight(self.class_weight, classes=classes, y=y)
        if not (np.all(np.isfinite(cw)) and np.all(cw >= 0)):
            # (else reported as a sample_weight fault, which the user did not pass)
            raise ValueError(f"class_weight must hold finite weights >= 0, got "
                             f"{self.class_weight!r}")
        return sw * cw[np.searchsorted(classes, y)]

    def _multinomial(self, n_classes):
        return self.multi_class == "multinomial" and n_classes > 2

    def _targets(self, y, classes):
        """Targets for each trainer: -1/+1 per problem, or class indices."""
        idx = np.searchsorted(classes, y)
        if len(classes) == 2:
            return [np.where(idx == 1, 1.0, -1.0)]
        if self._multinomial(len(classes)):
            return [idx.astype(np.float64)]
        return [np.where(idx == k, 1.0, -1.0) for k in range(len(classes))]

    def _make_trainers(self, n_classes, n_features, dtype, coef_init, intercept_init):
        rng = check_random_state(self.random_state)
        if self._multinomial(n_classes):
            workers, omp = 1, effective_n_threads(self.n_jobs)
            tr = self._new_trainer("log_loss", rng.randint(_MAX_SEED), omp, n_classes=n_classes)
            tr.init_model(n_features, dtype, coef_init, intercept_init)
            return [tr]
        n_problems = 1 if n_classes == 2 else n_classes
        workers, omp = self._thread_split(n_problems)
        trainers = []
        for k in range(n_problems):
            tr = self._new_trainer(self.loss, rng.randint(_MAX_SEED), omp)
            ci = None if coef_init is None else coef_init[k]
            ii = None if intercept_init is None else intercept_init[k]
            tr.init_model(n_features, dtype, ci, ii)
            trainers.append(tr)
        return trainers

    def _check_init(self, coef_init, intercept_init, n_classes, n_features):
        rows = 1 if n_classes == 2 else n_classes
        if coef_init is not None:
            coef_init = np.asarray(coef_init, dtype=np.float64)
            if rows == 1 and coef_init.size == n_features:
                # one weight vector: (d,), (1, d) or (d, 1), as scikit-learn takes it
                coef_init = coef_init.reshape(1, -1)
            if coef_init.shape != (rows, n_features):
                raise ValueError(f"coef_init must have shape ({rows}, {n_features}), got "
                                 f"{coef_init.shape}")
        if intercept_init is not None:
            intercept_init = np.asarray(intercept_init, dtype=np.float64).reshape(-1)
            if intercept_init.shape != (rows,):
                raise ValueError(f"intercept_init must have shape ({rows},), got "
                                 f"{intercept_init.shape}")
            if not np.all(np.isfinite(intercept_init)):
                raise ValueError(f"intercept_init must be {rows} finite number"
                                 f"{'s' if rows > 1 else ''}")
        return coef_init, intercept_init

    def _scorers(self, X, val, yv_list, swv, classes):
        """Accuracy on the validation rows ``val`` of X (not copied), per problem."""
        if self._multinomial(len(classes)):
            yv = yv_list[0]

            def acc_multi(coef, intercept):
                pred = np.argmax(_row_margins(X, val, coef) + intercept, axis=1)
                return float(np.average(pred == yv, weights=swv))
            return [acc_multi]

        def make(yv):
            def acc(coef, intercept):
                pred = np.where(_row_margins(X, val, coef) + intercept > 0, 1.0, -1.0)
                return float(np.average(pred == yv, weights=swv))
            return acc
        return [make(yv) for yv in yv_list]

    def _store(self, trainers, epochs_before):
        finals = self._record(trainers, epochs_before)
        if len(trainers) == 1 and finals[0].ndim == 2:  # multinomial: (d+1, K)
            # a copy: with one feature the transpose is already C-contiguous
            self.coef_ = np.array(finals[0][:-1].T, order="C")
            self.intercept_ = finals[0][-1].copy()
        else:
            self.coef_ = np.stack([f[:-1] for f in finals])
            self.intercept_ = np.array([f[-1] for f in finals], dtype=finals[0].dtype)
        hist = [tr.history for tr in trainers]
        self.history_ = hist[0] if len(hist) == 1 else hist

    # -- public API -----------------------------------------------------
    def fit(self, X, y, coef_init=None, intercept_init=None, sample_weight=None):
        """Fit the linear model by stochastic gradient steps.

        A call that raises leaves the estimator as it was (module docs,
        "Failed calls"), except that Ctrl-C keeps the epochs every problem
        completed.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        coef_init : ndarray of shape (n_classes, n_features), optional
            Initial coefficients (``(1, n_features)`` for two classes).
        intercept_init : ndarray of shape (n_classes,), optional
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        with _AllOrNothing(self) as guard:
            return self._fit(guard, X, y, coef_init, intercept_init, sample_weight)

    def _fit(self, guard, X, y, coef_init, intercept_init, sample_weight):
        self._check_params()
        self._check_multi_class()
        coef_init, intercept_init, warm = self._warm_start_init(coef_init, intercept_init)
        X, y = self._validate(X, y, reset=True)
        check_classification_targets(y)
        classes = np.unique(y)
        if len(classes) < 2:
            raise ValueError(f"The number of classes has to be greater than one; got "
                             f"{len(classes)} class")
        self._check_warm_start(coef_init, intercept_init, warm,
                               1 if len(classes) == 2 else len(classes), X.shape[1])
        coef_init, intercept_init = self._check_init(coef_init, intercept_init, len(classes),
                                                     X.shape[1])
        sw = self._sample_weight(sample_weight, X)
        sw = self._class_sample_weight(y, sw, classes)
        ys = self._targets(y, classes)
        scorers = [None] * (1 if self._multinomial(len(classes)) or len(classes) == 2
                            else len(classes))
        train = None     # early stopping trains on these rows of X, without a copy
        if self.early_stopping:
            train, val = self._split(X, y, sw, stratify=True)
            scorers = self._scorers(X, val, [t[val] for t in ys], sw[val], classes)
        if not np.any((sw if train is None else sw[train]) > 0):
            raise ValueError("sample_weight sums to zero: there is nothing to fit")
        trainers = self._make_trainers(len(classes), X.shape[1], X.dtype, coef_init,
                                       intercept_init)
        workers, _ = self._thread_split(len(trainers))
        tol = self._tol()
        built = self._training_params()

        def record():
            self._built_params = built
            self.classes_ = classes
            self._trainers = trainers
            self._store(trainers, [0] * len(trainers))

        reasons = self._run_or_keep_progress(guard, record, trainers, [0] * len(trainers), X,
                                             ys, sw, self.max_iter, tol, scorers, workers, train)
        # the fitted state changes only once training has succeeded (or was
        # interrupted after whole epochs: then it is the last completed one)
        guard.commit(record)
        self._warn_convergence(reasons, tol, self.max_iter)
        return self

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over ``(X, y)``, continuing the previous calls exactly.

        The optimizer state, step counter and schedule carry over from the
        previous call, so k calls over k chunks equal one ``fit`` over their
        concatenation with ``shuffle=False`` (up to rounding) when every
        chunk's length is a multiple of ``batch_size``. Sample weights
        are normalized by their mean within each call.

        A call that raises leaves the estimator as it was, its training state
        included (Ctrl-C keeps the epochs completed, as in :meth:`fit`); a
        failed first call leaves it unfitted.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : array-like of shape (n_classes,)
            All classes; required on the first call, ignored afterwards
            unless it disagrees with ``classes_``.
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        with _AllOrNothing(self, trainers=True) as guard:
            return self._partial_fit(guard, X, y, classes, sample_weight)

    def _partial_fit(self, guard, X, y, classes, sample_weight):
        first = not hasattr(self, "_trainers")
        if first:
            self._check_params()
            self._check_multi_class()
        if isinstance(self.class_weight, str) and self.class_weight == "balanced":
            # (every call: class_weight is read anew by each)
            raise ValueError("class_weight 'balanced' is not supported for partial_fit: "
                             "compute the weights on the full data with "
                             "sklearn.utils.compute_class_weight and pass them as a dict")
        if _check_partial_fit_first_call(self, classes) and not first:
            first = True
        built = self._training_params() if first else self._continue_training(self._trainers)
        X, y = self._validate(X, y, reset=first)
        if first:
            # later calls need not: a label outside classes_ is refused below
            # (type_of_target was a fifth of a short call's time)
            check_classification_targets(y)
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if unknown.size:
            raise ValueError(f"y contains labels {unknown.tolist()} that are not in classes "
                             f"{self.classes_.tolist()}")
        if len(self.classes_) < 2:
            raise ValueError("classes must hold at least two labels")
        sw = self._sample_weight(sample_weight, X)
        sw = self._class_sample_weight(y, sw, self.classes_)
        if not np.any(sw > 0):
            raise ValueError("sample_weight sums to zero: there is nothing to fit")
        if first:
            trainers = self._make_trainers(len(self.classes_), X.shape[1], X.dtype, None, None)
        else:
            trainers = self._trainers
        before = [tr.epoch for tr in trainers]
        workers, _ = self._thread_split(len(trainers))

        def record():
            self._built_params = built
            self._trainers = trainers
            self._store(trainers, before)

        self._run_or_keep_progress(guard, record, trainers, before, X,
                                   self._targets(y, self.classes_), sw, 1, None,
                                   [None] * len(trainers), workers)
        guard.commit(record)
        return self

    def _check_proba(self):
        if self.loss not in ("log_loss", "modified_huber"):
            raise AttributeError(f"probability estimates are not available for "
                                 f"loss={self.loss!r}")
        return True

    def decision_function(self, X):
        """Signed distances to the hyperplanes: ``X @ coef_.T + intercept_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Same dtype policy as ``fit`` (bool, string, complex refused).

        Returns
        -------
        ndarray of shape (n_samples,) for two classes, else (n_samples, n_classes)
        """
        check_numeric_dtype(X, "X")
        if sp.issparse(X):   # before scikit-learn's unchecked sparse product reads it
            check_sparse_structure(X)
        return super().decision_function(X)

    @available_if(_check_proba)
    def predict_proba(self, X):
        """Class probabilities (log_loss: logistic/softmax; modified_huber: clipped margins).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        # what the model was trained as, whatever set_params changed since
        built = getattr(self, "_built_params", None) or {}
        loss = built.get("loss", self.loss)
        if loss not in ("log_loss", "modified_huber"):
            raise AttributeError(f"probability estimates are not available for this model: it "
                                 f"was trained with loss={loss!r} (loss is now {self.loss!r}; "
                                 "fit again to train with it)")
        scores = np.asarray(self.decision_function(X), dtype=np.float64)
        if loss == "log_loss":
            if scores.ndim == 2 and built.get("multi_class", self.multi_class) == "multinomial":
                z = scores - scores.max(axis=1, keepdims=True)
                e = np.exp(z)
                return e / e.sum(axis=1, keepdims=True)
            return self._predict_proba_lr(X)
        # modified_huber, as scikit-learn: (clip(f, -1, 1) + 1) / 2, rows normalized.
        if scores.ndim == 1:
            p = (np.clip(scores, -1, 1) + 1.0) / 2.0
            return np.column_stack([1.0 - p, p])
        prob = (np.clip(scores, -1, 1) + 1.0) / 2.0
        norm = prob.sum(axis=1)
        zero = norm == 0
        prob[zero] = 1.0
        norm[zero] = prob.shape[1]
        return prob / norm[:, None]

    @available_if(_check_proba)
    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))


class SGDRegressor(RegressorMixin, _BaseSGD):
    """Linear regression trained by stochastic gradient methods in the compiled core.

    A drop-in for :class:`sklearn.linear_model.SGDRegressor`, plus
    ``optimizer``, ``batch_size``, ``n_jobs``, ``device`` and ``l1_method``. Parameters are
    those of :class:`SGDClassifier` (without ``class_weight`` and
    ``multi_class``), with scikit-learn's regression defaults: loss
    "squared_error", learning_rate "auto" (plain SGD: "invscaling" with
    eta0=0.01, power_t=0.25), early stopping on the validation R^2.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
    intercept_ : ndarray of shape (1,)
    n_iter_ : int
    t_ : float
        Optimizer steps taken over all calls, plus one.
    history_ : fastgd.History
        As for :class:`SGDClassifier`; ``validation`` holds the R^2.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
    """

    _default_schedule = "invscaling"
    _default_eta0 = _sklearn_default("SGDRegressor", "eta0", 0.01)

    def __init__(self, loss="squared_error", *, penalty="l2", alpha=0.0001, l1_ratio=0.15,
                 fit_intercept=True, max_iter=1000, tol=1e-3, shuffle=True, verbose=0,
                 epsilon=0.1, random_state=None, learning_rate="auto", eta0="auto",
                 power_t=0.25, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=5, warm_start=False, average=False, optimizer="sgd",
                 batch_size=1, n_jobs=None, device="cpu", l1_method="proximal"):
        self.loss = loss
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.shuffle = shuffle
        self.verbose = verbose
        self.epsilon = epsilon
        self.random_state = random_state
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.power_t = power_t
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.warm_start = warm_start
        self.average = average
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.device = device
        self.l1_method = l1_method

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        return self._more_tags_sparse(tags)

    def _make_trainer(self, n_features, dtype, coef_init, intercept_init):
        seed = check_random_state(self.random_state).randint(_MAX_SEED)
        tr = self._new_trainer(self.loss, seed, effective_n_threads(self.n_jobs))
        tr.init_model(n_features, dtype, coef_init, intercept_init)
        return tr

    def _store(self, trainer, epoch_before):
        final = self._record([trainer], [epoch_before])[0]
        self.coef_ = final[:-1].copy()
        self.intercept_ = final[-1:].copy()
        self.history_ = trainer.history

    def fit(self, X, y, coef_init=None, intercept_init=None, sample_weight=None):
        """Fit the linear model by stochastic gradient steps.

        A call that raises leaves the estimator as it was (module docs,
        "Failed calls"), except that Ctrl-C keeps the epochs completed.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        coef_init : ndarray of shape (n_features,), optional
        intercept_init : ndarray of shape (1,), optional
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        with _AllOrNothing(self) as guard:
            return self._fit(guard, X, y, coef_init, intercept_init, sample_weight)

    def _fit(self, guard, X, y, coef_init, intercept_init, sample_weight):
        self._check_params()
        coef_init, intercept_init, warm = self._warm_start_init(coef_init, intercept_init)
        X, y = self._validate(X, y, reset=True)
        self._check_warm_start(coef_init, intercept_init, warm, 1, X.shape[1])
        y = np.asarray(y, dtype=np.float64)
        sw = self._sample_weight(sample_weight, X)
        scorers = [None]
        if self.early_stopping:
            train, val = self._split(X, y, sw, stratify=False)
            yv, swv = y[val], sw[val]

            def r2(coef, intercept):
                pred = _row_margins(X, val, coef) + intercept
                ybar = np.average(yv, weights=swv)
                ss_res = float(np.sum(swv * (yv - pred) ** 2))
                ss_tot = float(np.sum(swv * (yv - ybar) ** 2))
                return 1.0 - ss_res / ss_tot if ss_tot > 0 else (1.0 if ss_res == 0 else 0.0)
            scorers = [r2]
        else:
            train = None
        if not np.any((sw if train is None else sw[train]) > 0):
            raise ValueError("sample_weight sums to zero: there is nothing to fit")
        trainer = self._make_trainer(X.shape[1], X.dtype, coef_init, intercept_init)
        tol = self._tol()
        built = self._training_params()

        def record():
            self._built_params = built
            self._trainers = [trainer]
            self._store(trainer, 0)

        reasons = self._run_or_keep_progress(guard, record, [trainer], [0], X, [y], sw,
                                             self.max_iter, tol, scorers, 1, train)
        guard.commit(record)
        self._warn_convergence(reasons, tol, self.max_iter)
        return self

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over ``(X, y)``, continuing the previous calls exactly.

        Optimizer state, step counter and schedule carry over, so k calls
        over k chunks equal one ``fit`` over their concatenation with
        ``shuffle=False`` when every chunk's length is a multiple of
        ``batch_size``. Sample weights are normalized within each call.

        A call that raises leaves the estimator as it was, its training state
        included (Ctrl-C keeps the epoch if completed); a failed first call
        leaves it unfitted.

        Returns
        -------
        self
        """
        with _AllOrNothing(self, trainers=True) as guard:
            return self._partial_fit(guard, X, y, sample_weight)

    def _partial_fit(self, guard, X, y, sample_weight):
        first = not hasattr(self, "_trainers")
        if first:
            self._check_params()
            built = self._training_params()
        else:
            built = self._continue_training(self._trainers)
        X, y = self._validate(X, y, reset=first)
        y = np.asarray(y, dtype=np.float64)
        sw = self._sample_weight(sample_weight, X)
        if not np.any(sw > 0):
            raise ValueError("sample_weight sums to zero: there is nothing to fit")
        if first:
            trainer = self._make_trainer(X.shape[1], X.dtype, None, None)
        else:
            trainer = self._trainers[0]
        before = trainer.epoch

        def record():
            self._built_params = built
            self._trainers = [trainer]
            self._store(trainer, before)

        self._run_or_keep_progress(guard, record, [trainer], [before], X, [y], sw, 1, None,
                                   [None], 1)
        guard.commit(record)
        return self

    def _decision_function(self, X):
        check_is_fitted(self)
        check_numeric_dtype(X, "X")
        if sp.issparse(X):   # before scikit-learn's unchecked sparse product reads it
            check_sparse_structure(X)
        X = validate_data(self, X, accept_sparse="csr", reset=False,
                          dtype=[np.float64, np.float32])
        # (a sparsified coef_ is a 1-D sparse matrix here, which SciPy's
        # product with a CSR X refuses: use its values)
        coef = self.coef_.toarray().ravel() if sp.issparse(self.coef_) else self.coef_
        return np.asarray(safe_sparse_dot(X, coef.T, dense_output=True)).ravel() \
            + self.intercept_[0]

    def predict(self, X):
        """Predicted targets.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return self._decision_function(X)
