"""Reading training data and saving models for the ``fastgd`` command.

Data files, by extension:

``.svm``, ``.svmlight``, ``.libsvm``, ``.txt``
    svmlight/libsvm text (``label index:value ...``), loaded as a CSR matrix
    with scikit-learn's ``load_svmlight_file`` (never densified). Feature
    indices are zero-based (index 0 is column 0) or one-based (index 1 is
    column 0); ``zero_based="auto"`` takes a file as zero-based exactly when
    it uses index 0 (scikit-learn's rule), which is a guess per file: a
    model's test files must be read with the convention its training file was
    read with, so :func:`load_svmlight` reports the one it used and
    :func:`save_model` records it.
``.csv``
    Comma-separated numbers, one row per sample, the label in column
    ``label_column`` (default 0; negative counts from the end, as in Python);
    an optional header line is skipped.
``.npz``
    NumPy archive with arrays ``X`` and ``y``.
"""
from __future__ import annotations

import os
import warnings

import numpy as np

__all__ = ["load_data", "load_svmlight", "is_svmlight", "is_csv", "save_model",
           "load_model", "load_model_info"]

SVMLIGHT_EXTENSIONS = (".svm", ".svmlight", ".libsvm", ".txt")


def is_csv(path):
    """Whether ``path`` names a CSV file (by its extension)."""
    return os.path.splitext(path)[1].lower() == ".csv"


def _open_npz(path, what):
    """``np.load(path)`` of an archive; a ValueError saying the file is not
    ``what`` where it is not a readable NumPy archive (empty, truncated,
    corrupted, or another kind of file, which NumPy would take for a pickle)."""
    import zipfile

    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, EOFError, zipfile.BadZipFile) as exc:
        # (NumPy's ValueError takes any other file for a pickle, and suggests
        # loading it unsafely: not repeated here)
        detail = "" if isinstance(exc, ValueError) else f": {exc}"
        raise ValueError(f"{path}: not {what} (not a readable .npz archive{detail})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):   # a bare .npy array
        raise ValueError(f"{path}: not {what} (a .npy array, not a .npz archive)")
    return archive


def _read_arrays(archive, path, what, keys):
    """The archive's arrays ``keys`` (those present), read in full; a ValueError
    naming ``what`` where one is corrupted."""
    import zipfile

    try:
        return {k: archive[k] for k in keys if k in archive}
    except (ValueError, EOFError, OSError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: not {what} (a corrupted array: {exc})") from None


def is_svmlight(path):
    """Whether ``path`` names an svmlight/libsvm text file (by its extension)."""
    return os.path.splitext(path)[1].lower() in SVMLIGHT_EXTENSIONS


def _check_exists(path):
    """Raise a short OSError for a missing data file."""
    if not os.path.exists(path):
        raise OSError(f"no such data file: {path!r}")


def load_data(path, label_column=0, dtype=np.float64, n_features=None, zero_based="auto"):
    """Load ``(X, y)`` from a data file; see the module docstring for formats.

    Parameters
    ----------
    path : str
    label_column : int, default=0
        Column of the label in a CSV file (negative counts from the end).
    dtype : {numpy.float64, numpy.float32}
    n_features : int, optional
        For svmlight files: the number of features (else the largest index seen).
    zero_based : {"auto", True, False}, default="auto"
        For svmlight files: how feature indices are numbered; see
        :func:`load_svmlight`.
    """
    ext = os.path.splitext(path)[1].lower()
    _check_exists(path)
    if ext in SVMLIGHT_EXTENSIONS:
        X, y, _ = load_svmlight(path, dtype=dtype, n_features=n_features,
                                zero_based=zero_based)
        return X, y
    if ext == ".csv":
        return _load_csv(path, label_column, dtype)
    if ext == ".npz":
        from fastgd.data import check_numeric_dtype

        with _open_npz(path, "a .npz data file") as archive:
            if "X" not in archive or "y" not in archive:
                raise ValueError(f"{path}: a .npz data file needs arrays named 'X' and 'y'")
            # the library's dtype policy before the cast, which would turn
            # complex, bool, datetime or string X into numbers
            X = check_numeric_dtype(archive["X"], "X")
            if X.ndim != 2:
                # (scikit-learn's message would print the whole array)
                raise ValueError(f"{path}: X must be 2-D (rows x features), got shape "
                                 f"{X.shape}")
            return X.astype(dtype, copy=False), archive["y"]
    raise ValueError(f"{path}: unknown data format {ext!r}; use .svm/.svmlight/.libsvm/.txt, "
                     ".csv or .npz")


def load_svmlight(path, dtype=np.float64, n_features=None, zero_based="auto"):
    """Load an svmlight/libsvm file and say how its feature indices were read.

    Parameters
    ----------
    path : str
    dtype : {numpy.float64, numpy.float32}
    n_features : int, optional
        The number of features (else the largest index seen).
    zero_based : {"auto", True, False}, default="auto"
        True: index 0 is column 0. False: index 1 is column 0 (and index 0 is
        an error). "auto": zero-based exactly when the file uses index 0 (or
        has no feature at all), as scikit-learn guesses.

    Returns
    -------
    X : scipy.sparse.csr_matrix
    y : ndarray
    zero_based : bool
        The convention used, so that other files can be read the same way.
    """
    from sklearn.datasets import load_svmlight_file

    if zero_based not in ("auto", True, False):
        raise ValueError(f"zero_based must be 'auto', True or False, got {zero_based!r}")
    _check_exists(path)
    if zero_based != "auto":
        zero_based = bool(zero_based)
        try:
            X, y = _read_svmlight(load_svmlight_file, path, dtype=dtype, n_features=n_features,
                                  zero_based=zero_based)
        except ValueError as exc:
            if "Invalid index 0" not in str(exc):
                raise
            raise ValueError(f"{path}: feature index 0 in a file read as one-based (feature "
                             "indices from 1)") from None
        return X, y, zero_based
    # scikit-learn's "auto" does not say what it chose: read the indices as
    # written, choose by the same rule and shift in place (no second parse).
    X, y = _read_svmlight(load_svmlight_file, path, dtype=dtype, zero_based=True)
    zero_based = not (X.nnz and X.indices.min() > 0)
    width = X.shape[1]
    if not zero_based:
        X.indices -= 1
        width -= 1
    if n_features is not None:
        if width > n_features:
            raise ValueError(f"{path}: has {width} features, but n_features is {n_features}")
        width = n_features
    X = type(X)((X.data, X.indices, X.indptr), shape=(X.shape[0], width))
    return X, y, zero_based


def _read_svmlight(load_svmlight_file, path, **kwargs):
    """scikit-learn's reader, with an index beyond its int32/int64 range
    (OverflowError there) as a ValueError naming the file."""
    try:
        return load_svmlight_file(path, **kwargs)
    except OverflowError:
        raise ValueError(f"{path}: a feature index is too large") from None


def _load_csv(path, label_column, dtype):
    """``(X, y)`` from a CSV file, the label in column ``label_column``."""
    # utf-8-sig: a byte-order mark would make the first row look like a header
    with open(path, encoding="utf-8-sig") as f:
        first = f.readline()
    try:
        [float(v) for v in first.strip().split(",") if v.strip()]
        skip = 0
    except ValueError:
        skip = 1  # a header line
    with warnings.catch_warnings():
        # an empty file: NumPy's warning, then the error below (one line)
        warnings.simplefilter("ignore", UserWarning)
        try:
            data = np.loadtxt(path, delimiter=",", skiprows=skip, dtype=np.float64, ndmin=2,
                              encoding="utf-8-sig")
        except ValueError as exc:   # NumPy's message names no file
            raise ValueError(f"{path}: {exc}") from None
    n_columns = data.shape[1]
    if n_columns < 2:
        raise ValueError(f"{path}: a CSV data file needs a label column and at least one "
                         "feature column")
    # Python-style negative indices count from the end; anything else out of
    # range would be numpy's bare IndexError.
    if not -n_columns <= label_column < n_columns:
        raise ValueError(f"{path}: label column {label_column} is out of range: the file has "
                         f"{n_columns} columns (0 to {n_columns - 1}, or -{n_columns} to -1 "
                         "from the end)")
    y = data[:, label_column]
    X = np.delete(data, label_column % n_columns, axis=1)
    return np.ascontiguousarray(X, dtype=dtype), y


def save_model(path, result, loss, zero_based=None, label_column=None):
    """Save a :class:`fastgd.FitResult` to an ``.npz`` archive at exactly ``path``.

    Parameters
    ----------
    path : str
        The file to write; no ``.npz`` is appended.
    result : fastgd.FitResult
    loss : str
    zero_based : bool, optional
        How the training file's svmlight feature indices were read (see
        :func:`load_svmlight`); not recorded when None (data that had none).
    label_column : int, optional
        The training CSV file's label column; not recorded when None.
    """
    arrays = dict(coef=result.coef_, intercept=np.array([result.intercept_]),
                  loss=np.array(loss))
    if result.classes_ is not None:
        arrays["classes"] = np.asarray(result.classes_)
    if zero_based is not None:
        arrays["zero_based"] = np.array(bool(zero_based))
    if label_column is not None:
        arrays["label_column"] = np.array(int(label_column))
    # np.savez appends ".npz" to a file name without it; through an open file
    # it writes where it is told, so the path printed is the path written.
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def load_model(path):
    """Load a model saved by :func:`save_model` as a :class:`fastgd.FitResult`.

    A file that is not such a model (not an archive, a corrupted one, arrays
    missing or of the wrong shapes, non-finite weights) is a ValueError.
    """
    from fastgd.solver import FitResult, History

    what = "a fastgd model file"
    with _open_npz(path, what) as archive:
        arrays = _read_arrays(archive, path, what, ("coef", "intercept", "loss", "classes"))
    for key in ("coef", "intercept", "loss"):
        if key not in arrays:
            raise ValueError(f"{path}: not {what} (no {key!r})")
    coef, intercept, classes = arrays["coef"], arrays["intercept"], arrays.get("classes")
    if coef.ndim != 1 or coef.dtype.kind != "f" or not np.all(np.isfinite(coef)):
        raise ValueError(f"{path}: not {what} (coef must be a 1-D array of finite floats)")
    if intercept.shape != (1,) or intercept.dtype.kind != "f" or \
            not np.isfinite(intercept[0]):
        raise ValueError(f"{path}: not {what} (intercept must be one finite float)")
    if classes is not None and (classes.ndim != 1 or classes.shape[0] != 2):
        raise ValueError(f"{path}: not {what} (classes must hold the two labels of a "
                         "binary model)")
    return FitResult(coef_=coef, intercept_=float(intercept[0]), n_iter_=0, t_=0,
                     history=History(), classes_=classes)


def load_model_info(path):
    """What a model file records besides the model: ``{"loss", "zero_based",
    "label_column"}``.

    ``zero_based`` is how the training file's svmlight feature indices were
    read (bool), ``label_column`` the training CSV file's label column (int);
    each None for models fitted on other data and for files saved before it
    was recorded.
    """
    what = "a fastgd model file"
    with _open_npz(path, what) as archive:
        arrays = _read_arrays(archive, path, what, ("loss", "zero_based", "label_column"))
    if "loss" not in arrays:
        raise ValueError(f"{path}: not {what} (no 'loss')")
    zero_based = bool(arrays["zero_based"]) if "zero_based" in arrays else None
    label_column = int(arrays["label_column"]) if "label_column" in arrays else None
    return dict(loss=str(arrays["loss"]), zero_based=zero_based, label_column=label_column)
