"""Reading training data and saving models for the ``fastgd`` command.

Data files, by extension:

``.svm``, ``.svmlight``, ``.libsvm``, ``.txt``
    svmlight/libsvm text (``label index:value ...``), loaded as a CSR matrix
    with scikit-learn's ``load_svmlight_file`` (never densified).
``.csv``
    Comma-separated numbers, one row per sample, the label in column
    ``label_column`` (default 0); an optional header line is skipped.
``.npz``
    NumPy archive with arrays ``X`` and ``y``.
"""
from __future__ import annotations

import os

import numpy as np

__all__ = ["load_data", "save_model", "load_model"]

SVMLIGHT_EXTENSIONS = (".svm", ".svmlight", ".libsvm", ".txt")


def load_data(path, label_column=0, dtype=np.float64, n_features=None):
    """Load ``(X, y)`` from a data file; see the module docstring for formats.

    Parameters
    ----------
    path : str
    label_column : int, default=0
        Column of the label in a CSV file (negative counts from the end).
    dtype : {numpy.float64, numpy.float32}
    n_features : int, optional
        For svmlight files: the number of features (else the largest index seen).
    """
    ext = os.path.splitext(path)[1].lower()
    if not os.path.exists(path):
        raise OSError(f"no such data file: {path!r}")
    if ext in SVMLIGHT_EXTENSIONS:
        from sklearn.datasets import load_svmlight_file

        X, y = load_svmlight_file(path, dtype=dtype, n_features=n_features)
        return X, y
    if ext == ".csv":
        with open(path) as f:
            first = f.readline()
        try:
            [float(v) for v in first.strip().split(",") if v.strip()]
            skip = 0
        except ValueError:
            skip = 1  # a header line
        data = np.loadtxt(path, delimiter=",", skiprows=skip, dtype=np.float64, ndmin=2)
        if data.shape[1] < 2:
            raise ValueError(f"{path}: a CSV data file needs a label column and at least one "
                             "feature column")
        y = data[:, label_column]
        X = np.delete(data, label_column % data.shape[1], axis=1)
        return np.ascontiguousarray(X, dtype=dtype), y
    if ext == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            if "X" not in archive or "y" not in archive:
                raise ValueError(f"{path}: a .npz data file needs arrays named 'X' and 'y'")
            return archive["X"].astype(dtype, copy=False), archive["y"]
    raise ValueError(f"{path}: unknown data format {ext!r}; use .svm/.svmlight/.libsvm/.txt, "
                     ".csv or .npz")


def save_model(path, result, loss):
    """Save a :class:`fastgd.FitResult` (coefficients, intercept, classes, loss) to ``.npz``."""
    arrays = dict(coef=result.coef_, intercept=np.array([result.intercept_]),
                  loss=np.array(loss))
    if result.classes_ is not None:
        arrays["classes"] = np.asarray(result.classes_)
    np.savez(path, **arrays)


def load_model(path):
    """Load a model saved by :func:`save_model` as a :class:`fastgd.FitResult`."""
    from fastgd.solver import FitResult, History

    with np.load(path, allow_pickle=False) as archive:
        for key in ("coef", "intercept", "loss"):
            if key not in archive:
                raise ValueError(f"{path}: not a fastgd model file (no {key!r})")
        classes = archive["classes"] if "classes" in archive else None
        return FitResult(coef_=archive["coef"], intercept_=float(archive["intercept"][0]),
                         n_iter_=0, t_=0, history=History(), classes_=classes)
