"""Fits whose bits must not depend on the instruction set the core runs.

The compiled core is built for baseline x86-64 with AVX2 and AVX-512 clones
of its hot loops picked at run time (``csrc/dispatch.h``); their summation
order does not depend on the vector width, so every clone must give the same
bits. ``.ci/simd`` builds the core three ways and runs this script on each:

    python .ci/simd_fits.py save OUT.npz      # every fit's parameters and losses
    python .ci/simd_fits.py compare A.npz B.npz

``compare`` fails, naming the fits, where any value differs in any bit.
"""
import itertools
import sys

import numpy as np
import scipy.sparse as sp

import fastgd
from fastgd.estimators import SGDClassifier


def _data(dtype, n=600, d=37, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.where(X @ rng.standard_normal(d) + 0.5 * rng.standard_normal(n) > 0, 1.0, -1.0)
    return X.astype(dtype), y


def _optimizer(name, penalty):
    """fastgd.fit's optimizer, lr, penalty and alpha for an optimizer and a penalty."""
    if name == "ftrl":  # its own L1 and L2
        return dict(optimizer=fastgd.optim.FTRL(lr=0.05, l1=1e-3, l2=1e-3), penalty="none",
                    alpha=0.0)
    if name == "adamw":  # its decay is the L2 term
        return dict(optimizer=name, lr=0.05, penalty="l1" if penalty == "elasticnet" else "none",
                    alpha=1e-3)
    return dict(optimizer=name, lr=0.01 if name == "sgd" else 0.05, penalty=penalty, alpha=1e-3)


def _fits():
    """Yield (name, arrays) for a grid over what the clones compute."""
    optimizers = ["sgd", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "ftrl"]
    for dtype, d in itertools.product([np.float64, np.float32], [3, 37, 100]):
        X, y = _data(dtype, d=d)
        for loss, opt, penalty, batch, jobs in itertools.product(
                ["log_loss", "squared_error", "hinge", "modified_huber"], optimizers,
                ["l2", "elasticnet"], [1, 8, 256], [1, 2]):
            if opt == "ftrl" and penalty == "elasticnet":
                continue
            res = fastgd.fit(X, y, loss=loss, batch_size=batch, epochs=2, random_state=1,
                             n_jobs=jobs, **_optimizer(opt, penalty))
            yield (f"dense {np.dtype(dtype).name} d={d} {loss} {opt} {penalty} "
                   f"batch={batch} jobs={jobs}",
                   [res.coef_, np.atleast_1d(res.intercept_), np.asarray(res.history.loss)])
        # the softmax model (dense and CSR) and binary CSR rows
        rng = np.random.default_rng(2)
        y3 = rng.integers(0, 4, size=X.shape[0])
        mask = rng.random(X.shape) < 0.2
        Xs = sp.csr_matrix(np.where(mask, X, 0).astype(dtype))
        for opt, batch, sparse in itertools.product(["sgd", "adam"], [1, 16], [False, True]):
            clf = SGDClassifier(loss="log_loss", optimizer=opt, batch_size=batch, max_iter=2,
                                tol=None, random_state=1, multi_class="multinomial",
                                learning_rate="constant", eta0=0.02, alpha=1e-3)
            clf.fit(Xs if sparse else X, y3)
            yield (f"softmax {np.dtype(dtype).name} d={d} {opt} batch={batch} "
                   f"{'csr' if sparse else 'dense'}", [clf.coef_, clf.intercept_])
        for opt, batch in itertools.product(optimizers, [1, 64]):
            res = fastgd.fit(Xs, y, loss="log_loss", batch_size=batch, epochs=2,
                             random_state=1, **_optimizer(opt, "elasticnet"))
            yield (f"csr {np.dtype(dtype).name} d={d} {opt} batch={batch}",
                   [res.coef_, np.atleast_1d(res.intercept_)])
        # the cumulative L1 penalty: dense rows (batch 1, mini-batches on two
        # threads) and CSR rows (its fused loop, the general loop)
        for batch, sparse in itertools.product([1, 8, 256], [False, True]):
            res = fastgd.fit(Xs if sparse else Xs.toarray(), y, loss="log_loss",
                             batch_size=batch, epochs=2, random_state=1, n_jobs=2,
                             penalty="elasticnet", alpha=1e-2, l1_method="cumulative",
                             lr=0.05)
            yield (f"cumulative L1 {np.dtype(dtype).name} d={d} batch={batch} "
                   f"{'csr' if sparse else 'dense'}",
                   [res.coef_, np.atleast_1d(res.intercept_)])


def save(path):
    arrays = {}
    for name, values in _fits():
        for k, v in enumerate(values):
            arrays[f"{name} [{k}]"] = np.asarray(v)
    np.savez(path, **arrays)
    print(f"{len(arrays)} arrays saved to {path}")


def compare(path_a, path_b):
    a, b = np.load(path_a), np.load(path_b)
    if sorted(a.files) != sorted(b.files):
        sys.exit(f"{path_a} and {path_b} hold different fits")
    differ = [name for name in a.files
              if a[name].shape != b[name].shape
              or a[name].tobytes() != b[name].tobytes()]
    for name in differ[:20]:
        print(f"differs: {name}: max |a - b| = "
              f"{np.max(np.abs(a[name].astype(float) - b[name].astype(float)))}")
    if differ:
        sys.exit(f"{len(differ)} of {len(a.files)} arrays differ between {path_a} and {path_b}")
    print(f"{len(a.files)} arrays: the same bits in {path_a} and {path_b}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "save":
        save(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        compare(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
