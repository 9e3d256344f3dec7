"""Interrupts: an epoch runs in chunks, Ctrl-C is honoured between them.

``Trainer.run`` hands each epoch to the backend in chunks of whole
mini-batches of a fixed amount of work (``CHUNK_BYTES``). These tests check that
chunking does not change the result (bit for bit), that an interrupt
between chunks leaves the model at the last completed epoch, and -- in a
subprocess sent a real SIGINT -- that Ctrl-C during a long compiled epoch
is honoured within a second or two and the weights are usable.
"""
import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from _subprocess import CHILD_CWD, child_env

from fastgd.backends import cpu as cpu_backend
from fastgd.data import check_data
from fastgd.solver import Trainer, encode_binary



def _problem(n=1000, d=6, seed=0, dtype=np.float64, classification=False):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(dtype)
    y = X.astype(np.float64) @ rng.standard_normal(d) + 0.3 + 0.1 * rng.standard_normal(n)
    if classification:
        y, _ = encode_binary(y > 0, n)
    return X, y


def _trained(X, y, chunk_rows, sw=None, epochs=3, backend="cpu", **kw):
    tr = Trainer(backend=backend, **kw)
    tr.chunk_rows = chunk_rows
    X = check_data(X)
    tr.init_model(X.shape[1], X.dtype)
    tr.run(X, y, sw, epochs=epochs)
    return tr


CASES = [
    dict(optimizer="sgd", lr=0.01, batch_size=7),
    dict(optimizer="sgd", lr=0.01, batch_size=1, shuffle=False),
    dict(optimizer="adam", lr=0.01, batch_size=16, average=True),
    dict(optimizer="rmsprop", lr=0.001, batch_size=5, penalty="elasticnet", alpha=0.01,
         schedule="invscaling", shuffle=False),
    dict(optimizer="adagrad", lr=0.05, batch_size=3, loss="log_loss"),
    # batches big enough to be split across 2 threads
    dict(optimizer="sgd", lr=0.001, batch_size=400, n_jobs=2, loss="hinge"),
    dict(optimizer="adamw", lr=0.01, batch_size=400, n_jobs=2, shuffle=False),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
@pytest.mark.parametrize("weighted", [False, True])
def test_chunking_is_bit_identical(case, dtype, weighted):
    case = dict(case)
    classification = case.get("loss") in ("log_loss", "hinge")
    n, d = (1200, 40) if case["batch_size"] >= 400 else (300, 6)
    X, y = _problem(n, d, dtype=dtype, classification=classification)
    sw = np.random.default_rng(2).uniform(0.2, 2.0, n) if weighted else None
    if sw is not None:
        sw = sw / sw.mean()
    whole = _trained(X, y, chunk_rows=10**9, sw=sw, random_state=1, **case)
    # a chunk of one batch, and chunks of several batches
    for rows in (case["batch_size"], 3 * case["batch_size"] + 1):
        parts = _trained(X, y, chunk_rows=rows, sw=sw, random_state=1, **case)
        np.testing.assert_array_equal(parts.params, whole.params)
        np.testing.assert_array_equal(parts.state, whole.state)
        if whole.avg is not None:
            np.testing.assert_array_equal(parts.avg, whole.avg)
        assert parts.t == whole.t
        # Only the loss *sum* is added up in another order.
        np.testing.assert_allclose(parts.history.loss, whole.history.loss, rtol=1e-12)
        np.testing.assert_array_equal(parts.history.lr, whole.history.lr)


def test_chunking_reference_backend_identical():
    X, y = _problem(200, 4)
    whole = _trained(X, y, chunk_rows=10**9, backend="reference", optimizer="adam", lr=0.01,
                     batch_size=8, random_state=0)
    parts = _trained(X, y, chunk_rows=24, backend="reference", optimizer="adam", lr=0.01,
                     batch_size=8, random_state=0)
    np.testing.assert_array_equal(parts.params, whole.params)


def test_automatic_chunks_are_whole_batches(monkeypatch):
    # Record every chunk the automatic sizing hands to the core.
    sizes = []
    real = cpu_backend.run_epoch

    def spy(problem, params, state, order, *args, **kwargs):
        sizes.append(problem.X.shape[0] if order is None else order.shape[0])
        return real(problem, params, state, order, *args, **kwargs)

    monkeypatch.setattr(cpu_backend, "run_epoch", spy)
    monkeypatch.setattr("fastgd.solver.CHUNK_BYTES", 64 * 1024)   # several chunks
    X, y = _problem(20000, 10)
    tr = _trained(X, y, chunk_rows=None, optimizer="sgd", lr=0.001, batch_size=24,
                  random_state=0, epochs=2)
    assert len(sizes) > 2
    assert sum(sizes) == 2 * 20000
    # every chunk but an epoch's last is a whole number of batches
    epoch_ends = np.cumsum(sizes) % 20000 == 0
    assert all(s % 24 == 0 for s, end in zip(sizes, epoch_ends) if not end)
    # the partition depends on the shapes only: both epochs were cut alike
    half = len(sizes) // 2
    assert sizes[:half] == sizes[half:]
    assert tr.epoch == 2


def _csr_row_bytes(X):
    """Trainer's bytes per CSR row: float64 values, int32 indices, a row pointer."""
    return X.nnz * 12 // X.shape[0] + 8


def _csr_chunks(monkeypatch, X, y, optimizer, batch_size, ratio=32, max_bytes=1 << 30,
                chunk_bytes=64 * 1024, table_min_bytes=None):
    """The rows of each chunk of one epoch over CSR X, with CHUNK_BYTES 64 KB
    (``chunk_bytes``; None: the default), and the problem the chunks were run on."""
    sizes, problems = [], []
    real = cpu_backend.run_epoch

    def spy(problem, params, state, order, *args, **kwargs):
        sizes.append(order.shape[0])
        problems.append(problem)
        return real(problem, params, state, order, *args, **kwargs)

    monkeypatch.setattr(cpu_backend, "run_epoch", spy)
    if chunk_bytes is not None:
        monkeypatch.setattr("fastgd.solver.CHUNK_BYTES", chunk_bytes)
    if table_min_bytes is not None:
        monkeypatch.setattr("fastgd.solver.TABLE_MIN_BYTES", table_min_bytes)
    monkeypatch.setattr("fastgd.solver.CATCHUP_RATIO", ratio)
    monkeypatch.setattr("fastgd.solver.CHUNK_MAX_BYTES", max_bytes)
    tr = Trainer(loss="log_loss", optimizer=optimizer, lr=0.1, batch_size=batch_size,
                 random_state=0)
    tr.init_model(X.shape[1], np.float64)
    tr.run(X, y, epochs=1)
    assert sum(sizes) == X.shape[0]
    return sizes, problems[0]


@pytest.mark.parametrize("optimizer, ratio, max_bytes, work", [
    ("sgd", 0, 1 << 30, 64 * 1024),         # without the rule: CHUNK_BYTES (64 KB) of rows
    ("sgd", 32, 1 << 30, None),             # the catch-up of 100,001 coordinates: one chunk
    ("sgd", 32, 128 * 1024, 128 * 1024),    # ... but never more than CHUNK_MAX_BYTES of work
    ("adagrad", 32, 1 << 30, 64 * 1024),    # costlier lazy updates: CHUNK_BYTES
])
def test_sparse_chunks_amortize_the_catch_up(monkeypatch, optimizer, ratio, max_bytes, work):
    # A CSR chunk of plain SGD's lazy updates ends with O(n_features) passes
    # that cost about as much as its rows, so with many features its chunks
    # are sized by those passes, not CHUNK_BYTES.
    from fastgd.bench import make_sparse_data
    n, batch = 6000, 8
    X, y = make_sparse_data(n, 100_000, 20)
    sizes, _ = _csr_chunks(monkeypatch, X, y, optimizer, batch, ratio, max_bytes)
    rows = n if work is None else work // _csr_row_bytes(X) // batch * batch
    assert rows < n or work is None
    assert sizes == [rows] * (n // rows) + ([n % rows] if n % rows else [])


def test_softmax_csr_chunks_keep_chunk_bytes_and_bound_their_tables(monkeypatch):
    # The softmax model's rows cost once per class: no catch-up rule, but
    # its step tables bound its chunks as the binary model's do.
    from fastgd._multinomial import MultinomialTrainer
    from fastgd.bench import make_sparse_data
    X, y = make_sparse_data(6000, 100_000, 3)
    y = (y > 0) + (np.arange(y.size) % 2)          # three classes
    sizes, problems = [], []
    real = MultinomialTrainer._make_backend

    def spying_backend(self):
        backend = real(self)
        run = backend.run_epoch

        def spy(problem, params, state, order, *args, **kwargs):
            sizes.append(order.shape[0])
            problems.append(problem)
            return run(problem, params, state, order, *args, **kwargs)

        backend.run_epoch = spy
        return backend

    monkeypatch.setattr(MultinomialTrainer, "_make_backend", spying_backend)
    monkeypatch.setattr("fastgd.solver.CHUNK_BYTES", 64 * 1024)
    tr = MultinomialTrainer(3, optimizer="sgd", lr=0.1, batch_size=1, random_state=0)
    tr.init_model(X.shape[1], np.float64)
    tr.run(X, y.astype(float), epochs=1)
    table_bytes = tr.backend.sparse_table_bytes(problems[0])
    assert table_bytes > 0
    assert sum(sizes) == 6000 and len(sizes) > 1
    assert max(sizes) == min(64 * 1024 // table_bytes, 64 * 1024 // _csr_row_bytes(X))


def test_sparse_chunk_tables_stay_within_chunk_bytes(monkeypatch):
    # Rows shorter than a step's tables: the tables, not the rows, bound the
    # chunk, so that its memory stays within CHUNK_BYTES.
    from fastgd.bench import make_sparse_data
    X, y = make_sparse_data(6000, 100_000, 3)
    sizes, problem = _csr_chunks(monkeypatch, X, y, "sgd", 1)
    table_bytes = cpu_backend.sparse_table_bytes(problem)
    assert table_bytes > _csr_row_bytes(X)
    assert len(sizes) > 1
    assert max(sizes) == 64 * 1024 // table_bytes


def test_sparse_chunk_tables_stay_within_a_share_of_x(monkeypatch):
    # Rows of three values: chunks of CHUNK_BYTES of tables would be a
    # multiple of X itself; they stay within TABLE_SHARE (10%) of X's bytes
    from fastgd.bench import make_sparse_data
    X, y = make_sparse_data(6000, 100_000, 3)
    # CHUNK_BYTES as shipped; no 1 MB floor, as X is small here
    sizes, problem = _csr_chunks(monkeypatch, X, y, "sgd", 1, chunk_bytes=None,
                                 table_min_bytes=1024)
    table_bytes = cpu_backend.sparse_table_bytes(problem)
    x_bytes = X.shape[0] * _csr_row_bytes(X)
    assert len(sizes) > 1
    assert max(sizes) == int(0.1 * x_bytes) // table_bytes
    assert max(sizes) * table_bytes <= 0.1 * x_bytes


def test_interrupt_between_chunks_restores_last_epoch(monkeypatch):
    X, y = _problem(800, 5)
    tr = Trainer(optimizer="adam", lr=0.01, batch_size=10, random_state=0)
    tr.chunk_rows = 100
    tr.init_model(5, X.dtype)
    tr.run(X, y, epochs=2)
    good = (tr.params.copy(), tr.state.copy(), tr.t, tr.epoch, len(tr.history))
    calls = []
    real = cpu_backend.run_epoch

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:        # as if Ctrl-C arrived during the fourth chunk
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(cpu_backend, "run_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tr.run(X, y, epochs=5)
    np.testing.assert_array_equal(tr.params, good[0])
    np.testing.assert_array_equal(tr.state, good[1])
    assert (tr.t, tr.epoch, len(tr.history)) == good[2:]
    assert all(len(v) in (0, good[4]) for v in vars(tr.history).values())
    # and training continues exactly as if never interrupted
    monkeypatch.setattr(cpu_backend, "run_epoch", real)
    tr.run(X, y, epochs=1)
    ref = Trainer(optimizer="adam", lr=0.01, batch_size=10, random_state=0)
    ref.init_model(5, X.dtype)
    ref.run(X, y, epochs=3)
    np.testing.assert_array_equal(tr.params, ref.params)


def test_interrupt_in_monitor_keeps_history_consistent():
    X, y = _problem(200, 3)
    tr = Trainer(lr=0.01, random_state=0)
    tr.init_model(3, X.dtype)
    seen = []

    def monitor(coef, b):
        seen.append(coef.copy())
        if len(seen) == 3:
            raise KeyboardInterrupt
        return 0.0

    with pytest.raises(KeyboardInterrupt):
        tr.run(X, y, epochs=10, monitor=monitor)
    assert tr.epoch == 2 and len(tr.history) == 2 and len(tr.history.validation) == 2
    np.testing.assert_array_equal(tr.params[:-1], seen[1])


def test_trainer_interrupt_from_another_thread():
    X, y = _problem(200000, 8)
    tr = Trainer(optimizer="adam", lr=1e-3, batch_size=1, random_state=0, n_jobs=1)
    tr.chunk_rows = 5000
    tr.init_model(8, X.dtype)
    started = threading.Event()

    def work():
        started.set()
        tr.run(X, y, epochs=1000)

    with ThreadPoolExecutor(1) as pool:
        fut = pool.submit(work)
        started.wait()
        time.sleep(0.3)
        tic = time.perf_counter()
        tr.interrupt()
        exc = fut.exception(timeout=10)
        latency = time.perf_counter() - tic
    assert isinstance(exc, KeyboardInterrupt)
    assert latency < 2.0
    assert np.all(np.isfinite(tr.params))
    assert len(tr.history) == tr.epoch


# -- a real Ctrl-C, in a subprocess --------------------------------------------
CHILD = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    from fastgd.backends import cpu
    from fastgd.solver import Trainer

    # count the rows the core gets through, to know how long an epoch takes
    progress = {"rows": 0, "since": None}
    real = cpu.run_epoch

    def counting(problem, params, state, order, *args, **kwargs):
        progress["since"] = progress["since"] or time.perf_counter()
        st = real(problem, params, state, order, *args, **kwargs)
        progress["rows"] += problem.X.shape[0] if order is None else order.shape[0]
        return st

    cpu.run_epoch = counting

    n, d, shuffle, epochs = sys.argv[1], 2, sys.argv[2] == "1", int(sys.argv[3])
    rng = np.random.default_rng(0)
    if n == "auto":
        # rows for an epoch of about 2.5 s on this machine (at most 16M)
        Xc = rng.standard_normal((200_000, d), dtype=np.float32)
        tc = Trainer(optimizer="adam", lr=1e-3, batch_size=1, shuffle=shuffle, n_jobs=1)
        tc.init_model(d, Xc.dtype)
        tic = time.perf_counter()
        tc.run(Xc, np.zeros(200_000), epochs=1)
        n = min(16_000_000, int(200_000 * 2.5 / (time.perf_counter() - tic)))
    n = int(n)
    X = rng.standard_normal((n, d), dtype=np.float32)
    y = (X @ np.ones(d, dtype=np.float32)).astype(np.float64) + 0.5
    tr = Trainer(optimizer="adam", lr=1e-3, batch_size=1, shuffle=shuffle, random_state=0,
                 n_jobs=1)
    tr.init_model(d, X.dtype)
    seen = []

    def monitor(coef, b):
        seen.append(np.append(coef, b))
        print("epoch", len(seen), flush=True)
        return 0.0

    print("ready", flush=True)
    try:
        tr.run(X, y, epochs=epochs, monitor=monitor)
    except KeyboardInterrupt:
        pred = X[:100] @ tr.params[:-1] + tr.params[-1]
        last = seen[tr.epoch - 1] if tr.epoch else np.zeros(d + 1)
        print("INTERRUPTED " + json.dumps(dict(
            epoch=tr.epoch, history=len(tr.history), t=tr.t,
            finite=bool(np.all(np.isfinite(tr.params))),
            pred_finite=bool(np.all(np.isfinite(pred))),
            last_epoch_weights=bool(np.array_equal(last, tr.params)),
            epoch_seconds=n * (time.perf_counter() - progress["since"])
                          / max(1, progress["rows"]))), flush=True)
        raise
    print("FINISHED", flush=True)
""")


class _Child:
    def __init__(self, *args):
        self.proc = subprocess.Popen([sys.executable, "-c", CHILD, *map(str, args)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=child_env(), cwd=CHILD_CWD)
        self.buf = b""

    def readline(self, timeout):
        """The next stdout line, or None after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                return None
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def wait_for(self, prefix, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.readline(deadline - time.monotonic())
            if line is None:
                break
            if line.startswith(prefix):
                return line
        self.proc.kill()
        raise AssertionError(f"child never printed {prefix!r}; stderr: "
                             f"{self.proc.stderr.read().decode()[-2000:]}")

    def finish(self):
        try:
            rc = self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        return rc, self.proc.stderr.read().decode()


@pytest.mark.parametrize("shuffle", [False, True])
def test_sigint_during_one_long_epoch(shuffle):
    # One epoch at batch_size=1 sized to take seconds here; Ctrl-C must not
    # wait for its end.
    child = _Child("auto", int(shuffle), 1)
    child.wait_for("ready", 60)
    time.sleep(0.8)
    tic = time.monotonic()
    child.proc.send_signal(signal.SIGINT)
    line = child.wait_for("INTERRUPTED", 10)
    latency = time.monotonic() - tic
    rc, err = child.finish()
    info = json.loads(line.split(" ", 1)[1])
    assert latency < 2.0, latency
    assert info["epoch_seconds"] > 1.0, "the epoch was too short to show anything"
    assert info["epoch"] == 0 and info["history"] == 0 and info["t"] == 0
    assert info["finite"] and info["pred_finite"]
    assert rc == -signal.SIGINT and "KeyboardInterrupt" in err


def test_sigint_after_some_epochs_keeps_the_last_one():
    child = _Child(200_000, 1, 10_000)
    for _ in range(3):
        child.wait_for("epoch", 60)
    tic = time.monotonic()
    child.proc.send_signal(signal.SIGINT)
    line = child.wait_for("INTERRUPTED", 10)
    latency = time.monotonic() - tic
    rc, err = child.finish()
    info = json.loads(line.split(" ", 1)[1])
    assert latency < 2.0, latency
    # SIGINT may land before the third epoch is committed: then it is undone
    assert info["epoch"] >= 2 and info["history"] == info["epoch"]
    assert info["t"] == info["epoch"] * 200_000          # batch_size=1: one step per row
    assert info["finite"] and info["pred_finite"] and info["last_epoch_weights"]
    assert rc == -signal.SIGINT and "KeyboardInterrupt" in err


@pytest.mark.parametrize("make", ["classifier-ovr", "classifier-binary", "regressor"])
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_estimator_interrupted_keeps_last_completed_epochs(monkeypatch, make, method):
    """Ctrl-C inside an estimator's fit leaves a usable model of the last whole epoch."""
    import fastgd
    from fastgd import solver

    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 4))
    if make == "regressor":
        est, y = fastgd.SGDRegressor(max_iter=10, tol=None, random_state=0), X @ [1, 2, 3, 4]
    else:
        n_classes = 3 if make == "classifier-ovr" else 2
        y = rng.integers(n_classes, size=300)
        est = fastgd.SGDClassifier(max_iter=10, tol=None, random_state=0, n_jobs=1)
    kwargs = {"classes": np.unique(y)} if method == "partial_fit" and make != "regressor" else {}
    if method == "partial_fit":
        getattr(est, method)(X, y, **kwargs)      # one whole epoch first
        before = est.coef_.copy()
    original = solver.Trainer.run
    n_problems = 3 if make == "classifier-ovr" else 1
    calls = []

    def run_then_interrupt(self, *args, **kw):
        # one-vs-rest trains its problems one after another (n_jobs=1): the
        # interrupt comes in the last one, after every problem has whole epochs
        calls.append(self)
        if method == "fit":
            kw["epochs"] = 2
            reason = original(self, *args, **kw)
            if len(calls) < n_problems:
                return reason
        raise KeyboardInterrupt

    monkeypatch.setattr(solver.Trainer, "run", run_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        getattr(est, method)(X, y, **kwargs)
    monkeypatch.undo()
    assert len(est._trainers) == n_problems
    assert all(tr.epoch == (2 if method == "fit" else 1) for tr in est._trainers)
    if method == "partial_fit":
        np.testing.assert_array_equal(est.coef_, before)
    assert np.all(np.isfinite(est.coef_))
    assert est.predict(X).shape == (300,)


def test_estimator_interrupted_before_every_problem_trained_stays_unfitted(monkeypatch):
    """No model of whole epochs exists yet: the estimator is left unfitted."""
    import fastgd
    from fastgd import solver
    from sklearn.exceptions import NotFittedError

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((100, 3)), rng.integers(3, size=100)

    def interrupt(self, *args, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(solver.Trainer, "run", interrupt)
    est = fastgd.SGDClassifier(n_jobs=1)
    with pytest.raises(KeyboardInterrupt):
        est.fit(X, y)
    with pytest.raises(NotFittedError):
        est.predict(X)


def test_a_request_made_after_the_last_chunk_boundary_ends_with_its_run():
    """interrupt() while the last epoch is judged (here from the monitor)
    finds no chunk boundary left: the run ends normally, and the request
    ends with it instead of stopping the next run before its first epoch.
    A request made while no run is active still stops the next one."""
    from fastgd.solver import Trainer

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((200, 5)), rng.standard_normal(200)
    tr = Trainer(loss="squared_error", lr=0.01, random_state=0)
    tr.init_model(5, np.float64)
    calls = []

    def monitor(coef, intercept):
        calls.append(1)
        if len(calls) == 3:
            tr.interrupt()
        return 0.0

    assert tr.run(X, y, epochs=3, monitor=monitor) == "max_epochs"
    assert tr.run(X, y, epochs=1) == "max_epochs"
    assert tr.epoch == 4
    tr.interrupt()
    with pytest.raises(KeyboardInterrupt):
        tr.run(X, y, epochs=1)
    assert tr.epoch == 4
    assert tr.run(X, y, epochs=1) == "max_epochs"
