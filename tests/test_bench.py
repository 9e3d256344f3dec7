"""The benchmark tooling: compiled optimizer step, streaming read, `fastgd bench`.

No timing is asserted here (speed is checked by benchmarks, never by unit
tests); these tests check that the benchmark kernels compute the right
thing and that the bench command runs end to end.
"""
import numpy as np
import pytest

from fastgd import optim
from fastgd.backends.cpu import _core
from fastgd.penalties import soft_threshold

OPTIMIZERS = [
    optim.SGD(lr=0.1),
    optim.SGD(lr=0.1, momentum=0.9, nesterov=True),
    optim.Adagrad(lr=0.1),
    optim.RMSprop(lr=0.01, centered=True, momentum=0.3),
    optim.Adadelta(),
    optim.Adam(lr=0.01),
    optim.Adam(lr=0.01, amsgrad=True),
    optim.AdamW(lr=0.01, weight_decay=0.1),
    optim.FTRL(lr=0.1, l1=0.01, l2=0.1),
]


def _config(opt, l2, l1):
    return dict(loss=0, loss_param=0.0, optimizer=opt.code, hyper=opt.c_params(), schedule=0,
                lr=opt.lr, sched=[], warmup_steps=0.0, l2=l2, l1=l1,
                l2_decoupled=int(opt.decoupled_weight_decay), fit_intercept=0, batch_size=1,
                n_threads=1)


@pytest.mark.parametrize("opt", OPTIMIZERS, ids=repr)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_optimizer_step_matches_reference_rule(opt, dtype, n_threads):
    # n above the kernel's threading threshold, so two threads really split it
    rng = np.random.default_rng(0)
    n = 70_000
    l2 = 0.1 if opt.decoupled_weight_decay else 0.05
    l1 = 0.01
    w = rng.standard_normal(n).astype(dtype)
    state = opt.init_state(n, dtype)
    w_ref, s_ref = w.astype(np.float64), state.astype(np.float64)
    for t in range(4):
        g = rng.standard_normal(n).astype(dtype)
        _core.optimizer_step(w, g, state, _config(opt, l2, l1), t, n_threads)
        gg = g.astype(np.float64)
        if opt.decoupled_weight_decay:
            w_ref = w_ref * (1 - opt.lr * l2)
        else:
            gg = gg + l2 * w_ref
        w_ref, eta = opt.rule(w_ref, gg, s_ref, opt.lr, t + 1)
        w_ref = soft_threshold(w_ref, l1 * eta)
        if dtype == np.float32:  # the kernel stores float32 after every step
            w_ref = w_ref.astype(dtype).astype(np.float64)
            s_ref[:] = s_ref.astype(dtype)
    # float32 parameters are updated in float32 arithmetic (as torch.optim
    # does), the reference in float64 rounded to float32 after every step
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(w, w_ref, rtol=rtol, atol=rtol * np.abs(w_ref).max())
    assert np.any(w == 0)  # the L1 prox produced exact zeros


def test_optimizer_step_same_bits_for_any_thread_count():
    rng = np.random.default_rng(1)
    n = 100_003
    opt = optim.Adam(lr=0.01)
    g = rng.standard_normal(n)
    results = []
    for threads in (1, 2, 3):
        w = np.linspace(-1, 1, n)
        state = opt.init_state(n, np.float64)
        for t in range(3):
            _core.optimizer_step(w, g, state, _config(opt, 0.01, 0.0), t, threads)
        results.append(w)
    assert all(np.array_equal(results[0], r) for r in results[1:])


def test_optimizer_step_rejects_bad_shapes():
    opt = optim.Adam()
    w = np.zeros(10)
    with pytest.raises(ValueError, match="differ in length"):
        _core.optimizer_step(w, np.zeros(9), opt.init_state(10, np.float64),
                             _config(opt, 0, 0), 0, 1)
    with pytest.raises(ValueError, match="state"):
        _core.optimizer_step(w, np.zeros(10), np.zeros((2, 10)), _config(opt, 0, 0), 0, 1)


@pytest.mark.parametrize("n_threads", [1, 2])
def test_stream_read_reads_every_word(n_threads):
    words = np.arange(1, 100_001, dtype=np.uint64) * np.uint64(3)
    assert _core.stream_read(words.view(np.uint8), n_threads) == int(words.sum())
    # a tail shorter than a word is not read
    data = np.concatenate([words.view(np.uint8), np.full(5, 255, dtype=np.uint8)])
    assert _core.stream_read(data, n_threads) == int(words.sum())


def test_bench_run_small_problem_end_to_end():
    from fastgd import bench

    rows, info = bench.run(n=3000, d=8, repeat=1, adam_params=5000, saga=False,
                           dtypes=("float64",), batches=(1, 64), max_epochs=3,
                           budget_s=2.0, methods=1)
    cases = [r["case"] for r in rows]
    assert any("batch 1," in c for c in cases) and any("batch 64," in c for c in cases)
    epochs = [r for r in rows if r["case"].startswith("SGD epoch")]
    assert all(r["fastgd_s"] > 0 and r["peer_s"] > 0 for r in epochs)
    assert all(np.isclose(r["speedup"], r["peer_s"] / r["fastgd_s"]) for r in epochs)
    assert info["bandwidth_1_thread"] > 0 and info["f_star"] > 0
    assert 0 <= info["fit_extra_bytes"]
    text = bench.format_table(rows, info)
    assert "streaming read bandwidth" in text and cases[1] in text
    md = bench.format_table(rows, info, markdown=True)
    assert md.count("\n|") == len(rows) + 2


def test_bench_times_batch_256_in_order_on_all_threads_for_each_dtype():
    from fastgd import bench
    from fastgd.backends.cpu import max_threads

    if max_threads() < 2:
        pytest.skip("the all-threads cases need two threads")
    rows, _ = bench.run(n=3000, d=8, repeat=1, adam_params=5000, saga=False,
                        dtypes=("float64", "float32"), batches=(256,), max_epochs=3,
                        budget_s=2.0, methods=1)
    for dt in ("float64", "float32"):
        [row] = [r for r in rows if r["case"].startswith(f"SGD epoch, {dt}, batch 256, n_jobs=")
                 and r["case"].endswith("rows in order")]
        assert row["peer"] == "sklearn SGDClassifier, shuffle=False"
        assert row["fastgd_s"] > 0 and row["bandwidth_fraction"] > 0


def test_objective_and_optimum_agree_with_scikit_learn():
    from sklearn.linear_model import LogisticRegression

    from fastgd import bench

    X, y = bench.make_data(2000, 5, random_state=3)
    f_star = bench.optimum(X, y)
    m = LogisticRegression(C=1.0 / (bench.ALPHA * X.shape[0]), tol=1e-12, max_iter=1000)
    m.fit(X, y)
    f_sk = bench.objective(X, y, m.coef_, m.intercept_[0])
    assert f_star <= f_sk + 1e-9
    assert abs(f_star - f_sk) / f_star < 1e-7


def test_cli_bench_options():
    from fastgd.cli import build_parser

    args = build_parser().parse_args(["bench", "--quick", "--repeat", "2", "--markdown"])
    assert args.quick and args.repeat == 2 and args.markdown


def test_make_sparse_data_is_canonical_csr():
    from fastgd import bench

    X, y = bench.make_sparse_data(500, 300, 7, dtype=np.float32, random_state=1)
    assert X.format == "csr" and X.dtype == np.float32 and X.shape == (500, 300)
    assert X.has_canonical_format and X.indices.dtype == np.int32
    assert np.all(np.diff(X.indptr) <= 7) and X.nnz > 0.9 * 500 * 7
    assert set(np.unique(y)) == {-1.0, 1.0}


def test_bench_sparse_cases_small_problem():
    from fastgd import bench
    from fastgd.backends.cpu import max_threads

    rows, info = bench.run_sparse(n=20_000, d=500, nnz_row=10, repeat=1, epochs=2, batch=64,
                                  large=dict(n=3000, d=800, nnz_row=5))
    assert len(info["problems"]) == 2
    cases = [r["case"] for r in rows]
    text = bench.format_table(rows, {"sparse": info})
    assert sum("scikit-learn SGDClassifier epoch" in c for c in cases) == 2
    one = [r for r in rows if r["case"].endswith("batch 1, 1 thread")]
    assert len(one) == 2 and all(r["fastgd_s"] > 0 and r["peer_s"] > 0 for r in one)
    assert all(np.isclose(r["speedup"], r["peer_s"] / r["fastgd_s"]) for r in one)
    # both models trained the same number of epochs from zero, same settings:
    # their objectives are close (same schedule; row orders differ)
    for p in info["problems"]:
        assert p["epochs"] == 2
        assert np.isfinite(p["objective_fastgd"]) and p["objective_sklearn"] > 0
        assert f"{p['objective_fastgd']:.6f}" in text
        # the bandwidth the % column divides by is printed, and gives the column
        assert f"{p['bandwidth_1_thread'] / 1e9:.1f} GB/s" in text
    r = one[0]
    # float64 values and int32 indices: 12 bytes per stored value
    bound = info["problems"][0]["nnz"] * 12 / info["problems"][0]["bandwidth_1_thread"]
    assert r["bandwidth_fraction"] == pytest.approx(bound / r["fastgd_s"], rel=1e-12)
    first = info["problems"][0]
    assert first["objective_fastgd"] < np.log(2)     # better than the zero model
    assert abs(first["objective_fastgd"] / first["objective_sklearn"] - 1) < 0.1
    assert any("batch 64, 1 thread" in c for c in cases)   # mini-batches: first problem only
    assert sum('shuffle="block"' in c for c in cases) == 2   # both problems
    assert abs(first["objective_fastgd_block"] / first["objective_sklearn"] - 1) < 0.1
    # (the second, 3,000 rows after 2 epochs, is too early in training for
    # either shuffle's objective to be near scikit-learn's)
    assert f"{info['problems'][1]['objective_fastgd_block']:.6f}" in text
    if max_threads() > 1:
        assert sum("hogwild=True" in c for c in cases) == 2
        assert any("(deterministic)" in c for c in cases)
    assert "log-loss SGD" in text and cases[0] in text


def test_bench_main_quick_sparse_only(monkeypatch, tmp_path, capsys):
    import json

    from fastgd import bench
    from fastgd.cli import build_parser

    monkeypatch.setitem(bench.SPARSE_QUICK, "n", 1500)
    monkeypatch.setitem(bench.SPARSE_QUICK, "d", 400)
    monkeypatch.setattr(bench, "SPARSE_BATCH", 32)
    out = tmp_path / "bench.json"
    args = build_parser().parse_args(["bench", "--quick", "--sparse-only", "--repeat", "1",
                                      "--json", str(out)])
    assert bench.main(args) == 0
    text = capsys.readouterr().out
    assert "CSR 1.5k x 0.4k" in text and "streaming read" not in text   # no dense cases
    saved = json.loads(out.read_text())
    assert saved["info"]["sparse"]["problems"][0]["nnz"] > 0
    with pytest.raises(SystemExit):   # one or the other
        build_parser().parse_args(["bench", "--sparse-only", "--no-sparse"])


def test_table_warns_of_rows_above_the_measured_bandwidth():
    """On a loaded machine the bandwidth yardstick can come out low and epoch
    rows read above 100% of it (a probe saw 109-159%): said under the table,
    except for rows whose note explains it (arrays that stay in the caches)."""
    from fastgd import bench

    rows = [bench._row("SGD epoch, batch 1", 0.01, "scikit-learn", 0.05, bound_s=0.015),
            bench._row("Adam step", 0.001, bound_s=0.002,
                       note="x; above 100%: the arrays partly stay in the caches")]
    text = bench.format_table(rows, {})
    assert "warning: 1 row(s) above 100%" in text and "SGD epoch, batch 1" in text
    rows[0] = bench._row("SGD epoch, batch 1", 0.02, "scikit-learn", 0.05, bound_s=0.015)
    assert "warning" not in bench.format_table(rows, {})
