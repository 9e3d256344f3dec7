"""Memory: a fit on C-contiguous float input of N bytes peaks at <= 1.2 N.

Two measurements, because each has a blind spot:

* resident memory (the issue's bound), in a fresh subprocess: the peak
  resident set size (``VmHWM``, reset just before the fit through
  ``/proc/self/clear_refs`` where Linux allows it) minus the resident size
  before X was allocated. This sees every allocation, NumPy's or C's or
  OpenMP's, but also unrelated interpreter growth, so X is made large
  (200 MB) to make that noise negligible;
* NumPy's allocations traced by ``tracemalloc`` during the fit, in this
  process: exact and deterministic, but blind to memory allocated outside
  NumPy and Python.

Beyond X, a fit needs the targets as float64 (8 bytes a row), the epoch
order (8 bytes a row, when shuffling) and O(n_features) for the model: with
100 features that is 2-4% of N.
"""
import json
import subprocess
import sys
import textwrap
import tracemalloc

import numpy as np
import pytest
from _subprocess import CHILD_CWD, child_env

import fastgd

LINUX = sys.platform.startswith("linux")

CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np
    import fastgd

    def status(key):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
        raise KeyError(key)

    dtype = np.dtype(sys.argv[1])
    mbytes, d = int(sys.argv[2]), 100
    shuffle, weighted = sys.argv[3] == "1", sys.argv[4] == "1"
    # warm up: imports, the compiled core, OpenMP's thread pool
    fastgd.fit(np.ones((64, d), dtype=dtype), np.ones(64), lr=0.01, epochs=1, random_state=0)
    base = status("VmRSS")
    n = mbytes * 2**20 // (d * dtype.itemsize)
    X = np.empty((n, d), dtype=dtype)
    rng = np.random.default_rng(0)
    for r in range(0, n, 8192):          # filled in blocks: no full-size temporary
        X[r:r + 8192] = rng.standard_normal((min(8192, n - r), d))
    y = X[:, :5].astype(np.float64).sum(axis=1)
    sw = rng.uniform(0.5, 1.5, n) if weighted else None
    try:                                 # reset the peak to the current size
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        reset = True
    except OSError:
        reset = False
    before = status("VmRSS")
    res = fastgd.fit(X, y, lr=1e-3, batch_size=64, epochs=2, shuffle=shuffle,
                     sample_weight=sw, random_state=0)
    print(json.dumps(dict(N=X.nbytes, base=base, before=before, peak=status("VmHWM"),
                          reset=reset, n=n, aux=y.nbytes + (sw.nbytes if weighted else 0),
                          finite=bool(np.all(np.isfinite(res.coef_))))))
""")


@pytest.mark.skipif(not LINUX, reason="reads /proc/self/status (Linux)")
@pytest.mark.parametrize("dtype, shuffle, weighted", [
    ("float64", True, False),
    ("float32", False, True),
])
def test_peak_resident_memory(dtype, shuffle, weighted):
    out = subprocess.run([sys.executable, "-c", CHILD, dtype, "200", str(int(shuffle)),
                          str(int(weighted))], env=child_env(), cwd=CHILD_CWD,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    m = json.loads(out.stdout.strip().splitlines()[-1])
    assert m["finite"]
    # everything the process holds at its peak beyond what it held before X
    # existed: X itself, y, the weights and whatever the fit allocated
    used = m["peak"] - m["base"]
    assert used <= 1.2 * m["N"], (used / m["N"], m)
    # and the fit's own share (beyond X, y and sw, which the caller made)
    extra = m["peak"] - m["before"]
    assert extra <= 0.2 * m["N"], (extra / m["N"], m)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shuffle", [True, False])
def test_numpy_allocations_during_fit(dtype, shuffle):
    n, d = 50_000, 100
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d)).astype(dtype)
    y = rng.standard_normal(n)
    tracemalloc.start()
    try:
        res = fastgd.fit(X, y, lr=1e-3, batch_size=32, epochs=2, shuffle=shuffle,
                         random_state=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert np.all(np.isfinite(res.coef_))
    # the order (8 bytes a row) and small change: far below a copy of X
    assert peak <= 0.2 * X.nbytes, peak / X.nbytes
    assert peak <= 8 * n + 2**20


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("estimator", ["classifier", "regressor"])
def test_early_stopping_scores_the_validation_rows_in_place(sparse, estimator):
    # X[val] whole would copy half of X at validation_fraction=0.5: the rows
    # are scored a block at a time instead
    import scipy.sparse as sp

    n, d = 40_000, 100
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d))
    if sparse:
        X[rng.random((n, d)) < 0.8] = 0.0
        X = sp.csr_matrix(X)
    nbytes = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes if sparse else X.nbytes
    y = (rng.standard_normal(n) > 0).astype(float)
    est = (fastgd.SGDClassifier if estimator == "classifier" else fastgd.SGDRegressor)(
        batch_size=256, max_iter=2, tol=None, early_stopping=True, validation_fraction=0.5,
        random_state=0)
    tracemalloc.start()
    try:
        est.fit(X, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert np.all(np.isfinite(est.coef_))
    # per-row arrays of the split (a few of 8 bytes) and 4 MB blocks of rows
    assert peak <= 0.2 * nbytes + 48 * n + (4 << 20), peak / nbytes
