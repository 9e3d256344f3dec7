"""Threads: the compiled core releases the GIL, concurrent fits agree with
sequential ones, and the thread count obeys OpenMP limits.
"""
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from _subprocess import CHILD_CWD, child_env

import fastgd
from fastgd.backends import cpu as cpu_backend
from fastgd.solver import Trainer, effective_n_threads

threadpoolctl = pytest.importorskip("threadpoolctl")



def _problem(n, d, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = X @ rng.standard_normal(d) + 0.1 * rng.standard_normal(n)
    return X, y


# -- thread counts ---------------------------------------------------------------
def test_threadpool_limits_are_respected():
    limit = cpu_backend.max_threads()
    with threadpoolctl.threadpool_limits(1, "openmp"):
        assert effective_n_threads(None) == 1
        assert effective_n_threads(-1) == 1
        assert effective_n_threads(8) == 1      # an explicit n_jobs does not override it
        assert Trainer(n_jobs=4).n_threads == 1
    assert effective_n_threads(-1) == limit
    assert effective_n_threads(None) == 1       # scikit-learn's convention: opt in to threads


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one CPU: the limit changes nothing")
def test_threadpool_limits_hold_for_a_process_first_fit():
    """threadpoolctl limits only the OpenMP runtimes already loaded: `import
    fastgd` loads the core's, so a limit entered right after it holds for
    the process's first fit (the core loaded inside the block before, and
    that fit ran on every CPU)."""
    code = ("import fastgd\n"
            "from threadpoolctl import threadpool_limits\n"
            "with threadpool_limits(1, user_api='openmp'):\n"
            "    from fastgd.backends.cpu import max_threads\n"
            "    from fastgd.solver import effective_n_threads\n"
            "    print(max_threads(), effective_n_threads(-1))\n")
    out = subprocess.run([sys.executable, "-c", code], env=child_env(), cwd=CHILD_CWD,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.split() == ["1", "1"]


def test_n_jobs_never_above_the_openmp_limit():
    limit = cpu_backend.max_threads()
    assert effective_n_threads(10**6) == limit
    assert effective_n_threads(1) == 1
    assert effective_n_threads(-1) == limit
    assert effective_n_threads(-10**6) == 1
    assert 1 <= limit <= (os.cpu_count() or 1)


@pytest.mark.parametrize("n_jobs", [0, 1.0, True, "2"])
def test_bad_n_jobs(n_jobs):
    with pytest.raises(ValueError, match="n_jobs must be None or a non-zero integer"):
        effective_n_threads(n_jobs)


def test_omp_num_threads_is_respected():
    code = ("import numpy as np, fastgd\n"
            "from fastgd.solver import effective_n_threads, Trainer\n"
            "from fastgd.backends.cpu import max_threads\n"
            "print(max_threads(), effective_n_threads(None), effective_n_threads(-1),\n"
            "      effective_n_threads(16), Trainer(n_jobs=16).n_threads)\n")
    out = subprocess.run([sys.executable, "-c", code], env=child_env(OMP_NUM_THREADS="1"),
                         cwd=CHILD_CWD, capture_output=True, text=True, timeout=120,
                         check=True).stdout
    assert out.split() == ["1"] * 5


def test_batch_split_never_uses_more_threads_than_allowed(monkeypatch):
    # What the core is asked for: at most the Trainer's thread count.
    asked = []
    real = cpu_backend.run_epoch

    def spy(problem, *args, **kwargs):
        asked.append(problem.n_threads)
        return real(problem, *args, **kwargs)

    monkeypatch.setattr(cpu_backend, "run_epoch", spy)
    X, y = _problem(4000, 64)
    with threadpoolctl.threadpool_limits(1, "openmp"):
        fastgd.fit(X, y, lr=0.001, batch_size=2000, n_jobs=-1, epochs=1, random_state=0)
    fastgd.fit(X, y, lr=0.001, batch_size=2000, n_jobs=10**4, epochs=1, random_state=0)
    assert asked[0] == 1
    assert 1 <= asked[-1] <= cpu_backend.max_threads()


# -- the GIL ---------------------------------------------------------------------
def test_compiled_epoch_releases_the_gil():
    # While one compiled call (one long epoch, no chunks) runs in the main
    # thread, a pure-Python thread keeps counting. With the GIL held it could
    # not run at all during the call.
    X, y = _problem(1_000_000, 4)
    tr = Trainer(optimizer="adam", lr=1e-4, batch_size=1, n_jobs=1, random_state=0)
    tr.init_model(4, X.dtype)
    problem = tr._problem(X, y, None, 1)
    gbuf = np.zeros((1, 5))
    gsum = np.zeros(5)
    ticks = []
    stop = threading.Event()

    def count():
        while not stop.is_set():
            ticks.append(time.perf_counter())

    th = threading.Thread(target=count)
    th.start()
    time.sleep(0.05)
    try:
        start = time.perf_counter()
        cpu_backend.run_epoch(problem, tr.params, tr.state, None, 0, gbuf, gsum)
        end = time.perf_counter()
    finally:
        stop.set()
        th.join()
    during = [t for t in ticks if start < t < end]
    assert end - start > 0.05, "epoch too short to tell"
    assert len(during) > 1000
    # and the counter kept going through the whole call, not just its start
    assert max(during) - min(during) > 0.5 * (end - start)


# -- concurrent fits -------------------------------------------------------------
CONFIGS = [
    dict(optimizer="sgd", lr=0.01, batch_size=8, random_state=0),
    dict(optimizer="adam", lr=0.01, batch_size=16, random_state=1, average=True),
    dict(optimizer="rmsprop", lr=0.001, batch_size=4, random_state=2, alpha=0.01,
         penalty="elasticnet"),
    dict(optimizer="adagrad", lr=0.1, batch_size=1, random_state=3, loss="huber"),
    dict(optimizer="sgd", lr=0.001, batch_size=500, random_state=4, n_jobs=2),
    dict(optimizer="adamw", lr=0.01, batch_size=32, random_state=5, shuffle=False),
]


@pytest.mark.parametrize("chunked", [False, True])
def test_concurrent_fits_equal_sequential(chunked, monkeypatch):
    if chunked:   # many chunks: Python and the core hand over often
        monkeypatch.setattr(Trainer, "chunk_rows", 500)
    X, y = _problem(6000, 24)
    Xs = X.astype(np.float32)

    def one(k):
        cfg = dict(CONFIGS[k % len(CONFIGS)])
        cfg.setdefault("n_jobs", 1)
        data = Xs if k >= len(CONFIGS) else X
        return fastgd.fit(data, y, epochs=4, **cfg)

    jobs = range(2 * len(CONFIGS))
    sequential = [one(k) for k in jobs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(one, jobs))
    for a, b in zip(sequential, concurrent):
        np.testing.assert_array_equal(a.coef_, b.coef_)
        assert a.intercept_ == b.intercept_
        assert a.t_ == b.t_
        for name in a.optimizer_state_:
            np.testing.assert_array_equal(a.optimizer_state_[name], b.optimizer_state_[name])


def test_concurrent_trainers_share_read_only_data():
    X, y = _problem(3000, 10)
    X.flags.writeable = False
    trainers = [Trainer(optimizer="adam", lr=0.01, batch_size=8, random_state=s, n_jobs=1)
                for s in range(4)]
    for tr in trainers:
        tr.init_model(10, X.dtype)
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda tr: tr.run(X, y, epochs=3), trainers))
    for s, tr in enumerate(trainers):
        ref = Trainer(optimizer="adam", lr=0.01, batch_size=8, random_state=s, n_jobs=1)
        ref.init_model(10, X.dtype)
        ref.run(X, y, epochs=3)
        np.testing.assert_array_equal(tr.params, ref.params)
