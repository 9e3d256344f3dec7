"""Input validation and the seeded order in which an epoch visits rows.

The epoch order is one shared definition, so that every backend visits rows
index for index in the same order: a Fisher-Yates shuffle driven by the
splitmix64 generator, with ``j = floor(r * (i + 1) / 2**64)`` for the swap
partner of position ``i``. :func:`epoch_order` is the plain-Python
reference; the compiled core implements the same algorithm in C
(``fgd_epoch_order``) and a test checks they agree.

The block-shuffled order (``shuffle="block"``) is defined the same way:
:func:`epoch_order_blocks` is the reference of ``fgd_epoch_order_blocks``.
"""
from __future__ import annotations

import math
from numbers import Integral as numbers_Integral
from numbers import Real as numbers_Real

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import _check_sample_weight, column_or_1d

__all__ = ["check_data", "check_sparse", "check_sparse_structure", "check_targets",
           "check_labels", "check_numeric_dtype", "scaled_sample_weight",
           "weights_of_mean_one", "extreme_weights", "base_seed", "epoch_seed", "epoch_order",
           "epoch_order_blocks", "check_shuffle", "DEFAULT_SHUFFLE_BLOCK"]

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _mix64(z):
    """The splitmix64 finalizer on a Python int."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def base_seed(random_state):
    """One 63-bit seed from ``random_state`` (None, int or RandomState)."""
    try:
        rng = check_random_state(random_state)
    except ValueError as exc:   # NumPy's message does not name the parameter
        raise ValueError(f"random_state: {exc}") from None
    return int(rng.randint(np.iinfo(np.int64).max, dtype=np.int64))


def epoch_seed(seed, epoch):
    """The seed of epoch ``epoch`` (0-based) of a fit seeded with ``seed``."""
    return _mix64((seed ^ _mix64((epoch + 1) & _MASK)) & _MASK)


def epoch_order(n, seed):
    """Reference: the seeded permutation of ``0..n-1`` that an epoch visits.

    Fisher-Yates from the last position down; the generator is splitmix64
    started at ``seed``.
    """
    order = list(range(n))
    state = seed & _MASK
    for i in range(n - 1, 0, -1):
        state = (state + _GOLDEN) & _MASK
        j = (_mix64(state) * (i + 1)) >> 64
        order[i], order[j] = order[j], order[i]
    return np.asarray(order, dtype=np.int64)


#: Rows per block of ``shuffle="block"`` when ``shuffle_block`` is not given:
#: 51 KB of a 100-feature float64 row block, long enough for sequential reads
#: to run at streaming speed (benchmarks/README.md, "Block shuffle").
DEFAULT_SHUFFLE_BLOCK = 64


def epoch_order_blocks(n, block, seed):
    """Reference: the seeded block-shuffled order of ``0..n-1``.

    The rows are cut into ``nb = ceil(n / block)`` contiguous blocks
    ``[k * block, min((k + 1) * block, n))`` (only the last one may be
    shorter). The blocks are visited in the order :func:`epoch_order` gives
    to ``0..nb-1`` with the same seed, and the rows of a block in
    increasing order, so that an epoch reads memory sequentially within a
    block.

    Parameters
    ----------
    n : int
        Number of rows.
    block : int
        Rows per block, >= 1. ``block=1`` gives :func:`epoch_order`;
        ``block >= n`` gives the rows in order.
    seed : int
        Seed of the block permutation (one per epoch, see :func:`epoch_seed`).

    Returns
    -------
    order : ndarray of int64, shape (n,)
        A permutation of ``0..n-1``.
    """
    block = int(block)
    if block < 1:
        raise ValueError(f"block must be >= 1, got {block}")
    if n <= 0:
        return np.empty(0, dtype=np.int64)
    nb = -(-n // block)
    order = []
    for k in epoch_order(nb, seed).tolist():
        order.extend(range(k * block, min((k + 1) * block, n)))
    return np.asarray(order, dtype=np.int64)


def check_shuffle(shuffle, shuffle_block=None):
    """Validate ``shuffle`` and ``shuffle_block``; return ``(mode, block)``.

    Parameters
    ----------
    shuffle : bool or "block"
        True: every epoch visits the rows in a fresh seeded permutation
        (:func:`epoch_order`). False: rows in order. "block": contiguous
        blocks of rows in a fresh seeded order, rows in order within a block
        (:func:`epoch_order_blocks`).
    shuffle_block : int or None
        Rows per block in "block" mode (None: :data:`DEFAULT_SHUFFLE_BLOCK`);
        checked in every mode, used only in "block" mode.

    Returns
    -------
    mode : {True, False, "block"}
    block : int
        Rows per block (:data:`DEFAULT_SHUFFLE_BLOCK` when not given).
    """
    if isinstance(shuffle, str):
        if shuffle != "block":
            raise ValueError(f"shuffle must be True, False or 'block', got {shuffle!r}")
        mode = "block"
    elif isinstance(shuffle, (bool, np.bool_)) or (
            isinstance(shuffle, numbers_Integral) and shuffle in (0, 1)):
        mode = bool(shuffle)
    else:
        raise ValueError(f"shuffle must be True, False or 'block', got {shuffle!r}")
    if shuffle_block is None:
        return mode, DEFAULT_SHUFFLE_BLOCK
    if (isinstance(shuffle_block, (bool, np.bool_))
            or not isinstance(shuffle_block, numbers_Integral) or shuffle_block < 1):
        raise ValueError(f"shuffle_block must be an integer >= 1 (rows per block), "
                         f"got {shuffle_block!r}")
    # (blocks of more than 2**62 rows are one block, as any block > n is; the
    # compiled core takes an int64)
    return mode, min(int(shuffle_block), 2**62)


def _dtype_kinds(a):
    """The dtype(s) of an array-like: one per column for a DataFrame."""
    dtypes = getattr(a, "dtypes", None)      # pandas DataFrame
    if dtypes is not None and not isinstance(dtypes, np.dtype) and hasattr(dtypes, "__iter__"):
        return list(dtypes)
    dtype = getattr(a, "dtype", None)
    return [dtype if dtype is not None else np.asarray(a).dtype]


def _is_text_or_bool(v):
    return isinstance(v, (str, bytes, bool, np.bool_, np.str_, np.bytes_))


def astype_in_range(a, dtype, name, whose):
    """``a`` (an array or a sparse matrix) as ``dtype``, a copy; a ValueError
    naming ``name`` where a value is beyond that dtype's range, which the
    cast would make infinite after the finiteness checks (``whose``: whose
    dtype it is, for the message)."""
    try:
        with np.errstate(over="raise"):
            return a.astype(dtype)
    except FloatingPointError:
        raise ValueError(f"{name} holds values beyond the range of {np.dtype(dtype).name}, "
                         f"{whose}") from None


def check_numeric_dtype(a, name="X", bool_hint=""):
    """Refuse the dtypes fastgd does not convert; return ``a`` unchanged.

    The policy, for X, regression targets and sample weights alike:

    - float32 and float64 are used as they are; other real floating types
      and signed or unsigned integers are converted to float64 later;
    - an object array is converted to float64 when it holds real numbers
      (as scikit-learn does, e.g. for pandas object columns); one holding
      strings or booleans is refused, like the dtypes below;
    - bool is refused with a TypeError: scikit-learn's ``check_array``
      silently turns it into 0.0/1.0, but a boolean array is as likely a
      mask or a set of labels as a feature, so the conversion is left to
      the caller;
    - strings (``U``/``S``), datetimes and structured dtypes: TypeError;
    - complex: ValueError "Complex data not supported", the message and
      type scikit-learn uses.

    Parameters
    ----------
    a : array-like or sparse matrix
    name : str
        The argument's name for messages.
    bool_hint : str
        Extra advice appended to the message for a boolean array.

    Returns
    -------
    a : the input, unchanged.
    """
    for dt in _dtype_kinds(a):
        kind = getattr(dt, "kind", "O")
        if kind in "fiu":
            continue
        if kind == "b":
            raise TypeError(
                f"{name} has boolean dtype; fastgd does not guess a numeric encoding for "
                f"booleans: convert it explicitly, e.g. {name}.astype(np.float64){bool_hint}")
        if kind == "c":
            raise ValueError(f"Complex data not supported: {name} has dtype {dt}; fastgd "
                             "fits real-valued models only")
        if kind in "US":
            raise TypeError(
                f"{name} has string dtype {dt}; fastgd needs numbers: encode the strings "
                f"first (e.g. sklearn.preprocessing.OrdinalEncoder) or convert them with "
                f"{name}.astype(np.float64)")
        if kind == "O":
            if sp.issparse(a):
                continue
            values = np.asarray(a, dtype=object).reshape(-1)
            hits = np.flatnonzero(np.frompyfunc(_is_text_or_bool, 1, 1)(values).astype(bool))
            if hits.size:
                v = values[hits[0]]
                raise TypeError(
                    f"{name} is an object array holding {type(v).__name__} values (e.g. "
                    f"{v!r}); fastgd needs real numbers: encode or convert them first")
            continue   # numbers in an object array: converted by check_array
        raise TypeError(f"{name} has dtype {dt}; fastgd needs real numbers "
                        "(float32, float64 or integers)")
    return a


def check_data(X, dtype=None, accept_sparse=False):
    """Validate X as a finite, C-contiguous float32/float64 2-D array.

    With ``accept_sparse=True`` a scipy.sparse matrix or array is validated
    by :func:`check_sparse` instead (CSR, never densified).

    float32 and float64 input keeps its dtype; integers (and numbers in an
    object array) become float64; bool, string, complex and other dtypes
    are refused (see :func:`check_numeric_dtype`). C-contiguous float input
    is used as is, never copied or written to: read-only and memory-mapped
    arrays are fine. Non-contiguous or Fortran-ordered input is copied once
    into C order, which the compiled core needs.
    """
    if dtype is None:
        dtype = [np.float64, np.float32]
    if accept_sparse and sp.issparse(X):
        return check_sparse(X, dtype)
    if not hasattr(X, "dtype") and not hasattr(X, "dtypes"):
        X = np.asarray(X)   # a list: look at the dtype NumPy gives it
    check_numeric_dtype(X, "X")
    X = check_array(X, dtype=dtype, order="C", ensure_all_finite=True,
                    input_name="X", accept_sparse=False)
    return X


def check_targets(y, n_samples):
    """Validate regression targets: finite float64 of length ``n_samples``."""
    if not hasattr(y, "dtype") and not hasattr(y, "dtypes"):
        y = np.asarray(y)
    check_numeric_dtype(y, "y", bool_hint=" (for class labels use a classification loss)")
    y = column_or_1d(y, warn=True)
    y = check_array(y, ensure_2d=False, dtype=np.float64, ensure_all_finite=True, input_name="y")
    if y.shape[0] != n_samples:
        raise ValueError(f"X has {n_samples} samples but y has {y.shape[0]}")
    return y


def check_labels(y, n_samples):
    """Validate class labels: 1-D, ``n_samples`` long, no NaN, inf or None.

    Any hashable, sortable labels are fine (numbers, strings, booleans);
    a missing value would otherwise silently become a class of its own.
    """
    dtype = y.dtype if hasattr(y, "dtype") else np.asarray(y).dtype
    if getattr(dtype, "kind", "") == "c":
        raise ValueError("Complex data not supported: y has complex class labels")
    y = column_or_1d(y, warn=True)
    if y.shape[0] != n_samples:
        raise ValueError(f"X has {n_samples} samples but y has {y.shape[0]}")
    kind = y.dtype.kind
    if kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError("Input y contains NaN or infinity: class labels must be finite")
    if kind == "O":
        for v in y:
            if v is None or (isinstance(v, numbers_Real) and not isinstance(v, numbers_Integral)
                             and not math.isfinite(v)):
                raise ValueError(f"Input y contains a missing label ({v!r}): class labels "
                                 "must be finite numbers or strings")
        try:
            np.unique(y)   # the classes are sorted: labels must compare with each other
        except TypeError:
            kinds = sorted({type(v).__name__ for v in y})
            raise ValueError(f"Input y mixes label types ({', '.join(kinds)}) that cannot be "
                             "sorted into classes: use labels of one type") from None
    return y


def scaled_sample_weight(sample_weight, X):
    """Sample weights divided by their mean (float64), or None for all ones.

    Raises if any weight is negative or non-finite, or if all are zero.
    """
    if sample_weight is None:
        return None
    if not hasattr(sample_weight, "dtype"):
        sample_weight = np.asarray(sample_weight)
    check_numeric_dtype(sample_weight, "sample_weight")
    if sample_weight.ndim == 0:   # a number: every row's weight, as scikit-learn takes it
        sample_weight = float(sample_weight)
    if (isinstance(sample_weight, np.ndarray) and sample_weight.dtype == np.float64
            and sample_weight.shape == (X.shape[0],) and sample_weight.flags.c_contiguous
            and np.any(sample_weight > 0)):
        # already what scikit-learn's check returns (the estimators' weights,
        # validated once per call); all-zero weights get its message below
        sw = sample_weight
    else:
        sw = _check_sample_weight(sample_weight, X, dtype=np.float64)
    if not np.all(np.isfinite(sw)):
        raise ValueError("sample_weight contains NaN or infinity")
    if np.any(sw < 0):
        raise ValueError("sample_weight must be non-negative")
    peak = sw.max() if sw.shape[0] else 0.0
    if not peak > 0:
        raise ValueError("sample_weight sums to zero: there is nothing to fit")
    if np.all(sw == sw[0]):
        return None
    return weights_of_mean_one(sw)


def weights_of_mean_one(sw, over=None):
    """``sw`` divided by the mean of ``sw[over]`` (default: of all of it).

    Only the ratios of sample weights matter; where their sum overflows
    (weights near the float64 maximum) or their mean is subnormal, they are
    divided by the largest of ``sw[over]`` first. Both ways, ``sw[over]`` of
    the result equals what this gives for ``sw[over]`` alone, bit for bit
    (a training subset weighs its rows as a copy of them would). ``sw`` is
    non-negative and finite, ``sw[over]`` not all zero.
    """
    ref = sw if over is None else sw[over]
    if extreme_weights(ref):
        peak = ref.max()
        sw, ref = sw / peak, ref / peak
    return sw / (ref.sum() / ref.shape[0])


def extreme_weights(sw):
    """Whether the sum of the weights ``sw`` overflows or their mean is subnormal."""
    with np.errstate(over="ignore"):
        mean = sw.sum() / sw.shape[0]
    return not (math.isfinite(mean) and mean >= np.finfo(np.float64).tiny)


def check_sparse_structure(X):
    """Refuse a sparse matrix whose index arrays do not describe its shape.

    SciPy builds matrices from raw arrays without checking them by default,
    and its compiled products and conversions index memory with them
    unchecked: a column index past ``n_features`` or a decreasing ``indptr``
    would read outside the arrays (a crash, or garbage margins). This check
    runs before any such use, in O(nnz) vectorized passes, and never
    modifies X. CSR and CSC (their compressed axis) and COO (row and column
    coordinates) are checked; other formats are converted by SciPy's own
    checked code paths.

    Raises
    ------
    ValueError
        Naming the first inconsistency found.
    """
    fmt = X.format
    if fmt in ("csr", "csc"):
        n_major, n_minor = X.shape if fmt == "csr" else X.shape[::-1]
        major, minor = ("row", "column") if fmt == "csr" else ("column", "row")
        indptr, indices = np.asarray(X.indptr), np.asarray(X.indices)
        if indptr.ndim != 1 or indptr.shape[0] != n_major + 1:
            raise ValueError(f"sparse X ({fmt}) of shape {X.shape} needs an indptr of length "
                             f"{n_major + 1}, got shape {indptr.shape}")
        nnz = int(indptr[-1])
        if int(indptr[0]) != 0 or nnz > min(indices.shape[0], np.asarray(X.data).shape[0]):
            raise ValueError("sparse X: indptr must run from 0 to the number of stored entries")
        if n_major and np.any(indptr[1:] < indptr[:-1]):
            bad = int(np.argmax(indptr[1:] < indptr[:-1]))
            raise ValueError(f"sparse X: indptr decreases at {major} {bad}")
        _check_coordinates(indices[:nnz], n_minor, minor)
    elif fmt == "coo":
        _check_coordinates(np.asarray(X.row), X.shape[0], "row")
        _check_coordinates(np.asarray(X.col), X.shape[1], "column")


def _check_coordinates(idx, bound, what):
    """Every entry of ``idx`` in [0, bound), or a ValueError naming the first not."""
    if idx.shape[0] == 0:
        return
    lo, hi = idx.min(), idx.max()
    if lo < 0 or hi >= bound:
        bad = int(np.argmax((idx < 0) | (idx >= bound)))
        raise ValueError(f"sparse X: {what} index {int(idx[bad])} is out of range "
                         f"[0, {bound})")


def check_sparse(X, dtype=None):
    """Validate a scipy.sparse matrix or array as canonical CSR for training.

    * CSR with sorted, unique column indices, float32/float64 values and
      int32/int64 indices is used as is: not copied, not densified.
    * Other formats (COO, CSC, LIL, ...) are converted to CSR once.
    * Unsorted indices are sorted and duplicate entries summed, on a copy
      (the user's matrix is never modified). The compiled core would give the
      same mathematics on non-canonical CSR, but canonical CSR makes the
      result independent of how equal matrices happen to be stored.
    * Other value dtypes become float64 (a copy); integer indices of other
      widths become int64; arrays that are strided views are copied.
    * Explicit zeros, empty rows and all-zero columns are fine.
    * NaN or infinity among the stored values raises ValueError, and so do
      index arrays that do not fit the shape (:func:`check_sparse_structure`)
      and a matrix with no rows or no columns.

    Parameters
    ----------
    X : scipy.sparse matrix or array of shape (n_samples, n_features)
    dtype : dtype or list of dtypes, optional
        Accepted value dtypes, first one the conversion target; default
        float64 and float32.

    Returns
    -------
    X : scipy.sparse CSR matrix or array (the input's kind is kept)
    """
    if dtype is None:
        dtype = [np.float64, np.float32]
    dtypes = [np.dtype(t) for t in (dtype if isinstance(dtype, (list, tuple)) else [dtype])]
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, got a sparse array of shape {X.shape}")
    if X.dtype.kind not in "fiu" or X.dtype.kind == "b":
        raise ValueError(f"sparse X must have numeric values, got dtype {X.dtype}")
    check_sparse_structure(X)   # before SciPy's unchecked conversions and products use it
    if X.format != "csr":
        X = X.tocsr()       # one conversion (a new object: the input is untouched)
    if not all(a.flags.c_contiguous for a in (X.data, X.indices, X.indptr)):
        X = X.copy()        # arrays that are strided views (SciPy allows them): contiguous
    if X.dtype not in dtypes:
        X = X.astype(dtypes[0])
    idx = X.indices.dtype
    if idx not in (np.int32, np.int64) or X.indptr.dtype != idx:
        X = X.copy()
        X.indices = X.indices.astype(np.int64)
        X.indptr = X.indptr.astype(np.int64)
    if not np.all(np.isfinite(X.data)):
        raise ValueError("Input X contains NaN or infinity among its stored values")
    if not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()   # sorts the indices too
    if X.shape[0] == 0:
        raise ValueError("Found array with 0 sample(s) (shape=%r) while a minimum of 1 is "
                         "required." % (X.shape,))
    if X.shape[1] == 0:
        raise ValueError("Found array with 0 feature(s) (shape=%r) while a minimum of 1 is "
                         "required." % (X.shape,))
    return X
