"""The fastgd command: demo, fit, predict, config."""
import numpy as np
import pytest

from fastgd.cli import DEMO_OPTIMIZERS, main
from fastgd.io import load_data, load_model, load_model_info, load_svmlight


@pytest.fixture
def binary_data(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4))
    y = (X @ np.array([1.0, 2.0, -1.0, 0.5]) > 0).astype(int)
    return X, y


def test_demo_prints_every_optimizer(capsys):
    assert main(["demo", "--epochs", "3"]) == 0
    out = capsys.readouterr().out
    for label, _ in DEMO_OPTIMIZERS:
        assert label in out
    # each optimizer's row has a test accuracy well above chance
    rows = [line.split() for line in out.splitlines() if line.split()[:1] in
            ([label] for label, _ in DEMO_OPTIMIZERS)]
    assert len(rows) == len(DEMO_OPTIMIZERS)
    assert all(float(r[4]) > 0.8 for r in rows)


def test_config_reports_openmp_and_simd(capsys):
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    for key in ("fastgd", "numpy", "openmp", "openmp threads", "simd",
                "sparse weight prefetch", "blas", "cuda"):
        assert key in out


@pytest.mark.parametrize("fmt", ["csv", "npz"])
def test_fit_then_predict_round_trip(tmp_path, binary_data, capsys, fmt):
    X, y = binary_data
    data = tmp_path / f"train.{fmt}"
    if fmt == "csv":
        np.savetxt(data, np.column_stack([y, X]), delimiter=",", header="y,a,b,c,d",
                   comments="")
    else:
        np.savez(data, X=X, y=y)
    model = tmp_path / "model.npz"
    assert main(["fit", str(data), "--loss", "log_loss", "--optimizer", "adam", "--lr", "0.05",
                 "--seed", "0", "-o", str(model)]) == 0
    assert "training accuracy" in capsys.readouterr().out
    res = load_model(str(model))
    X_loaded, y_loaded = load_data(str(data))
    assert np.mean(res.predict(X_loaded) == y_loaded) > 0.95
    preds = tmp_path / "pred.txt"
    assert main(["predict", str(model), str(data), "-o", str(preds)]) == 0
    assert np.loadtxt(preds).shape == (X.shape[0],)


def test_svmlight_file_trains_on_csr_without_densifying(tmp_path, binary_data, capsys):
    from sklearn.datasets import dump_svmlight_file

    X, y = binary_data
    data = tmp_path / "train.svm"
    dump_svmlight_file(X, y, str(data))
    model = tmp_path / "model.npz"
    assert main(["fit", str(data), "--loss", "log_loss", "--optimizer", "adam", "--lr", "0.05",
                 "--seed", "0", "-o", str(model)]) == 0
    assert "csr_matrix" in capsys.readouterr().out
    X_loaded, y_loaded = load_data(str(data))
    assert X_loaded.format == "csr"
    assert np.mean(load_model(str(model)).predict(X_loaded) == y_loaded) > 0.95
    preds = tmp_path / "pred.txt"
    assert main(["predict", str(model), str(data), "-o", str(preds)]) == 0
    assert np.loadtxt(preds).shape == (X.shape[0],)


def test_averaged_and_hogwild_fits_from_the_command(tmp_path, binary_data, capsys):
    from sklearn.datasets import dump_svmlight_file

    import fastgd

    X, y = binary_data
    data = tmp_path / "train.svm"
    dump_svmlight_file(X, y, str(data))
    X_loaded, y_loaded = load_data(str(data))
    model = tmp_path / "model.npz"
    args = ["fit", str(data), "--loss", "log_loss", "--lr", "0.05", "--batch-size", "1",
            "--seed", "0", "--epochs", "3", "-o", str(model)]
    assert main(args + ["--average-start", "10"]) == 0
    ref = fastgd.fit(X_loaded, y_loaded, loss="log_loss", lr=0.05, batch_size=1, epochs=3,
                     random_state=0, penalty="l2", average=10)
    np.testing.assert_allclose(load_model(str(model)).coef_, ref.coef_, rtol=1e-12)
    assert main(args + ["--hogwild", "--n-jobs", "2"]) == 0
    assert np.mean(load_model(str(model)).predict(X_loaded) == y_loaded) > 0.9
    assert main(args + ["--hogwild", "--average"]) == 2
    assert "hogwild=True cannot keep an averaged iterate" in capsys.readouterr().err
    # the cumulative L1 penalty: the same model as fastgd.fit's
    assert main(args + ["--penalty", "l1", "--alpha", "0.01", "--l1-method", "cumulative"]) == 0
    ref = fastgd.fit(X_loaded, y_loaded, loss="log_loss", lr=0.05, batch_size=1, epochs=3,
                     random_state=0, penalty="l1", alpha=0.01, l1_method="cumulative")
    np.testing.assert_allclose(load_model(str(model)).coef_, ref.coef_, rtol=1e-12)
    assert main(args + ["--l1-method", "cumulative", "--penalty", "l1", "--alpha", "0.01",
                        "--optimizer", "adam"]) == 2
    assert "l1_method='cumulative'" in capsys.readouterr().err


def test_bad_file_is_a_clear_error(tmp_path, capsys):
    assert main(["fit", str(tmp_path / "missing.csv")]) == 2
    assert "no such data file" in capsys.readouterr().err
    bad = tmp_path / "data.xyz"
    bad.write_text("1,2\n")
    assert main(["fit", str(bad)]) == 2
    assert "unknown data format" in capsys.readouterr().err


def test_bad_hyperparameter_is_a_clear_error(tmp_path, binary_data, capsys):
    X, y = binary_data
    data = tmp_path / "train.npz"
    np.savez(data, X=X, y=y)
    assert main(["fit", str(data), "--lr", "-1"]) == 2
    assert "lr must be" in capsys.readouterr().err


@pytest.mark.parametrize("content, message", [
    ("1,0.5,nan\n0,0.1,0.2\n", "NaN"),                      # NaN in X
    ("1,0.5,0.3\n1,0.1,0.2\n", "two classes"),               # one class, log_loss
    ("1,0.5,0.3\n0,0.1,0.2,0.7\n", ""),                     # ragged rows
    ("label,a\n", ""),                                      # header only: no rows
])
def test_bad_data_file_is_a_clear_error(tmp_path, capsys, content, message):
    data = tmp_path / "bad.csv"
    data.write_text(content)
    assert main(["fit", str(data), "--loss", "log_loss"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fastgd fit: error:") and message in err


def test_predict_with_a_model_of_other_width_is_a_clear_error(tmp_path, binary_data, capsys):
    X, y = binary_data
    train, other = tmp_path / "train.npz", tmp_path / "other.npz"
    np.savez(train, X=X, y=y)
    np.savez(other, X=X[:, :3], y=y)
    model = tmp_path / "model.npz"
    assert main(["fit", str(train), "--loss", "hinge", "-o", str(model)]) == 0
    assert main(["predict", str(model), str(other)]) == 2
    assert "features" in capsys.readouterr().err


# -- svmlight feature indexing: predict reads as the training file was read --
# Every row of TRAIN_ZERO_BASED is one feature with value 1, the target its
# index plus 1: a model fitted on it predicts 1, 2, 3 for indices 0, 1, 2.
TRAIN_ZERO_BASED = "1 0:1\n2 1:1\n3 2:1\n" * 2


def _fit_svmlight(tmp_path, text, *options):
    data = tmp_path / "train.svm"
    data.write_text(text)
    model = tmp_path / "model.npz"
    assert main(["fit", str(data), "--lr", "0.1", "--epochs", "200", "--batch-size", "1",
                 "--seed", "0", "--alpha", "0", "-o", str(model), *options]) == 0
    return model


def _predict_svmlight(tmp_path, model, text, *options):
    data = tmp_path / "test.svm"
    data.write_text(text)
    return main(["predict", str(model), str(data), *options])


def _printed_numbers(out):
    return [float(line) for line in out.splitlines()]


def test_predict_reads_a_test_file_without_index_0_as_the_training_file(tmp_path, capsys):
    # The test file has no index 0, which scikit-learn's per-file guess took
    # for one-based: every feature moved one column to the left.
    model = _fit_svmlight(tmp_path, TRAIN_ZERO_BASED)
    capsys.readouterr()
    assert _predict_svmlight(tmp_path, model, "0 1:1\n0 2:1\n") == 0
    np.testing.assert_allclose(_printed_numbers(capsys.readouterr().out), [2.0, 3.0],
                               atol=1e-6)


def test_one_based_training_file_is_recorded_and_index_0_refused(tmp_path, capsys):
    # No index 0: read as one-based (index 1 is column 0), and said so.
    model = _fit_svmlight(tmp_path, "1 1:1\n2 2:1\n3 3:1\n" * 2)
    out = capsys.readouterr().out
    assert "read as one-based (the file has no index 0" in out and "--zero-based yes" in out
    assert load_model(str(model)).coef_.shape == (3,)
    assert load_model_info(str(model))["zero_based"] is False
    assert _predict_svmlight(tmp_path, model, "0 2:1\n0 3:1\n") == 0
    np.testing.assert_allclose(_printed_numbers(capsys.readouterr().out), [2.0, 3.0],
                               atol=1e-6)
    assert _predict_svmlight(tmp_path, model, "0 0:1\n") == 2
    assert "feature index 0 in a file read as one-based" in capsys.readouterr().err


def test_zero_based_option_for_a_zero_based_file_without_index_0(tmp_path, capsys):
    # Zero-based, but index 0 never occurs: --zero-based yes keeps column 0
    # (its weight stays 0) instead of shifting every feature.
    model = _fit_svmlight(tmp_path, "2 1:1\n3 2:1\n" * 3, "--zero-based", "yes")
    assert "read as" not in capsys.readouterr().out  # nothing guessed
    assert load_model_info(str(model))["zero_based"] is True
    coef = load_model(str(model)).coef_
    assert coef.shape == (3,) and coef[0] == 0
    assert _predict_svmlight(tmp_path, model, "0 0:1\n0 2:1\n") == 0
    np.testing.assert_allclose(_printed_numbers(capsys.readouterr().out),
                               [load_model(str(model)).intercept_, 3.0], atol=1e-6)
    # and a one-based reading of a file with index 0 is a clear error
    data = tmp_path / "train.svm"
    data.write_text(TRAIN_ZERO_BASED)
    assert main(["fit", str(data), "--zero-based", "no"]) == 2
    assert "feature index 0" in capsys.readouterr().err


def test_model_without_recorded_indexing_falls_back_to_guessing(tmp_path, capsys):
    # Model files saved before the indexing was recorded have no
    # "zero_based": predict guesses per file, as it did, unless told.
    model = _fit_svmlight(tmp_path, TRAIN_ZERO_BASED)
    assert "read as zero-based (the file uses index 0)" in capsys.readouterr().out
    with np.load(model) as archive:
        arrays = {k: archive[k] for k in archive.files if k != "zero_based"}
    np.savez(model, **arrays)
    assert load_model_info(str(model))["zero_based"] is None
    capsys.readouterr()
    assert _predict_svmlight(tmp_path, model, "0 0:1\n0 2:1\n") == 0
    np.testing.assert_allclose(_printed_numbers(capsys.readouterr().out), [1.0, 3.0],
                               atol=1e-6)
    assert _predict_svmlight(tmp_path, model, "0 1:1\n0 2:1\n", "--zero-based", "yes") == 0
    np.testing.assert_allclose(_printed_numbers(capsys.readouterr().out), [2.0, 3.0],
                               atol=1e-6)


def test_load_svmlight_reports_and_applies_the_indexing(tmp_path):
    data = tmp_path / "d.svm"
    data.write_text("1 1:5\n0 3:7\n")
    X, y, zero_based = load_svmlight(str(data))
    assert zero_based is False and X.shape == (2, 3)
    np.testing.assert_array_equal(X.toarray(), [[5, 0, 0], [0, 0, 7]])
    X, _, _ = load_svmlight(str(data), n_features=5)
    assert X.shape == (2, 5) and X.format == "csr"
    X, _, zero_based = load_svmlight(str(data), zero_based=True)
    assert zero_based is True
    np.testing.assert_array_equal(X.toarray(), [[0, 5, 0, 0], [0, 0, 0, 7]])
    with pytest.raises(ValueError, match="has 3 features, but n_features is 2"):
        load_svmlight(str(data), n_features=2)
    with pytest.raises(ValueError, match="zero_based must be"):
        load_svmlight(str(data), zero_based="no")


# -- other command-line errors ------------------------------------------------
def test_diverging_fit_is_a_one_line_error(tmp_path, capsys):
    data = tmp_path / "train.svm"
    data.write_text(TRAIN_ZERO_BASED)
    assert main(["fit", str(data), "--lr", "1e6"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fastgd fit: error: training diverged")
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("command", ["fit", "predict"])
def test_label_column_out_of_range_is_a_clear_error(tmp_path, capsys, command):
    data = tmp_path / "d.csv"
    data.write_text("y,a,b\n1,0.5,1\n0,1.5,0\n")
    args = ["fit", str(data)]
    if command == "predict":
        model = tmp_path / "model.npz"
        assert main(args + ["-o", str(model)]) == 0
        args = ["predict", str(model), str(data)]
    for column in (5, 3, -4):
        capsys.readouterr()
        assert main(args + ["--label-column", str(column)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"fastgd {command}: error:")
        assert f"label column {column} is out of range" in err and "3 columns" in err


def test_negative_label_column_counts_from_the_end(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("a,b,y\n0.5,1,7\n1.5,0,8\n")
    X, y = load_data(str(data), label_column=-1)
    np.testing.assert_array_equal(y, [7, 8])
    np.testing.assert_array_equal(X, [[0.5, 1], [1.5, 0]])
    assert main(["fit", str(data), "--label-column", "-1"]) == 0


def test_model_is_saved_at_exactly_the_given_path(tmp_path, binary_data, capsys):
    X, y = binary_data
    data = tmp_path / "train.npz"
    np.savez(data, X=X, y=y)
    model = tmp_path / "model"  # no .npz
    assert main(["fit", str(data), "--loss", "hinge", "-o", str(model)]) == 0
    assert f"model saved to {model}\n" in capsys.readouterr().out
    assert model.is_file() and not (tmp_path / "model.npz").exists()
    assert main(["predict", str(model), str(data)]) == 0
    printed = capsys.readouterr().out.split()
    np.testing.assert_array_equal(np.array(printed, dtype=int),
                                  load_model(str(model)).predict(X))


def test_average_flag_does_not_take_the_data_file(tmp_path, binary_data):
    from sklearn.datasets import dump_svmlight_file

    import fastgd

    X, y = binary_data
    data = tmp_path / "train.svm"
    dump_svmlight_file(X, y, str(data))
    X_loaded, y_loaded = load_data(str(data))
    model = tmp_path / "model.npz"
    common = dict(loss="log_loss", lr=0.05, batch_size=1, epochs=2, random_state=0,
                  penalty="l2")
    options = ["--loss", "log_loss", "--lr", "0.05", "--batch-size", "1", "--epochs", "2",
               "--seed", "0", "-o", str(model)]
    # --average before the data file: a flag, the file stays the data
    assert main(["fit", "--average", str(data)] + options) == 0
    ref = fastgd.fit(X_loaded, y_loaded, average=True, **common)
    np.testing.assert_allclose(load_model(str(model)).coef_, ref.coef_, rtol=1e-12)
    last = fastgd.fit(X_loaded, y_loaded, **common)
    assert not np.allclose(ref.coef_, last.coef_)  # the flag did average
    assert main(["fit", "--average-start", "50", str(data)] + options) == 0
    ref = fastgd.fit(X_loaded, y_loaded, average=50, **common)
    np.testing.assert_allclose(load_model(str(model)).coef_, ref.coef_, rtol=1e-12)


@pytest.mark.parametrize("option,kwargs", [
    (["--shuffle", "false"], dict(shuffle=False)),
    (["--shuffle", "block", "--shuffle-block", "8"], dict(shuffle="block", shuffle_block=8)),
    (["--no-intercept"], dict(fit_intercept=False)),
    (["--loss", "huber", "--epsilon", "0.5"], dict(loss="huber", epsilon=0.5)),
    (["--tol", "10", "--n-iter-no-change", "1"], dict(tol=10.0, n_iter_no_change=1)),
    (["--gtol", "0.5"], dict(gtol=0.5)),
    (["--backend", "reference"], dict(backend="reference")),
])
def test_fit_options_are_fastgd_fit_parameters(tmp_path, binary_data, option, kwargs):
    # each option of 'fastgd fit' reaches fastgd.fit's parameter of that name
    from sklearn.datasets import dump_svmlight_file

    import fastgd

    X, y = binary_data
    data = tmp_path / "train.svm"
    dump_svmlight_file(X, y, str(data))
    X_loaded, y_loaded = load_data(str(data))
    model = tmp_path / "model.npz"
    common = dict(loss="log_loss", lr=0.05, batch_size=4, epochs=6, random_state=0)
    common.update(kwargs)
    assert main(["fit", str(data), "--loss", "log_loss", "--lr", "0.05", "--batch-size", "4",
                 "--epochs", "6", "--seed", "0", "-o", str(model)] + option) == 0
    ref = fastgd.fit(X_loaded, y_loaded, **common)
    got = load_model(str(model))
    np.testing.assert_allclose(got.coef_, ref.coef_, rtol=1e-12)
    assert got.intercept_ == pytest.approx(ref.intercept_, rel=1e-12, abs=1e-300)
    # and differs from the default, so the option did something
    default = fastgd.fit(X_loaded, y_loaded, **{k: v for k, v in common.items()
                                               if k not in kwargs or k == "loss"})
    assert not (np.array_equal(default.coef_, ref.coef_) and
                default.intercept_ == ref.intercept_ and default.n_iter_ == ref.n_iter_)


def test_on_divergence_backoff_option(tmp_path, binary_data, capsys):
    from sklearn.datasets import dump_svmlight_file

    X, y = binary_data
    data = tmp_path / "train.svm"
    dump_svmlight_file(X * 100, y, str(data))
    args = ["fit", str(data), "--loss", "squared_error", "--lr", "0.01", "--epochs", "2",
            "--seed", "0"]
    assert main(args) == 2
    assert "diverged" in capsys.readouterr().err
    assert main(args + ["--on-divergence", "backoff"]) == 0


def _error(capsys, argv):
    """Run the command; assert exit status 2 and return its one-line error."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


def test_unreadable_model_files_are_one_line_errors(tmp_path, capsys):
    train = tmp_path / "train.svm"
    train.write_text("1 1:0.5 2:1\n-1 1:-0.5 3:2\n")
    model = tmp_path / "model.npz"
    assert main(["fit", str(train), "-o", str(model)]) == 0
    raw = model.read_bytes()
    (tmp_path / "trunc.npz").write_bytes(raw[:100])
    (tmp_path / "empty.npz").write_bytes(b"")
    flipped = bytearray(raw)
    flipped[200] ^= 255
    (tmp_path / "crc.npz").write_bytes(bytes(flipped))
    np.savez(tmp_path / "noint.npz", coef=np.ones(3), intercept=np.array([]),
             loss=np.array("log_loss"))
    np.savez(tmp_path / "onecls.npz", coef=np.ones(3), intercept=np.array([0.0]),
             loss=np.array("log_loss"), classes=np.array([1]))
    np.savez(tmp_path / "nancoef.npz", coef=np.array([1.0, np.nan, 0.0]),
             intercept=np.array([0.0]), loss=np.array("log_loss"))
    for name in ("trunc", "empty", "crc", "noint", "onecls", "nancoef"):
        err = _error(capsys, ["predict", str(tmp_path / f"{name}.npz"), str(train)])
        assert "not a fastgd model file" in err, err
    # arguments swapped: a text file as the model, without NumPy's advice to
    # load it unsafely as a pickle
    err = _error(capsys, ["predict", str(train), str(model)])
    assert "not a fastgd model file" in err and "pickle" not in err
    err = _error(capsys, ["fit", str(tmp_path / "trunc.npz")])
    assert "not a .npz data file" in err


def test_a_huge_svmlight_index_is_a_one_line_error(tmp_path, capsys):
    data = tmp_path / "big.svm"
    data.write_text("1 2147483648:1\n-1 1:2\n")
    assert "a feature index is too large" in _error(capsys, ["fit", str(data)])


@pytest.mark.parametrize("kind", ["complex", "bool", "datetime"])
def test_npz_data_keeps_the_dtype_policy(tmp_path, capsys, kind):
    """X of a .npz file meets fastgd.fit's dtype checks before any cast (the
    cast made numbers of complex, bool and datetime X, which trained)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 3))
    X = {"complex": X + 1j * X, "bool": X > 0,
         "datetime": np.arange(60).reshape(20, 3).astype("datetime64[s]")}[kind]
    np.savez(tmp_path / "d.npz", X=X, y=np.arange(20) % 2)
    assert "X" in _error(capsys, ["fit", str(tmp_path / "d.npz")])


def test_csv_with_a_byte_order_mark_keeps_its_first_row(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf1,0.5,1\n0,1,2\n1,2,0\n")
    X, y = load_data(str(path))
    assert X.shape == (3, 2)
    np.testing.assert_array_equal(y, [1, 0, 1])


def test_predict_reads_a_csv_with_the_training_files_label_column(tmp_path, capsys):
    """The model records the training CSV file's label column; predict uses it
    unless told otherwise (with column 0 the columns were silently permuted)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    y = (X @ [1.0, -2.0, 0.5] > 0).astype(int)
    path = tmp_path / "last.csv"
    np.savetxt(path, np.column_stack([X, y]), delimiter=",")
    model = tmp_path / "m.npz"
    assert main(["fit", str(path), "--label-column", "-1", "--loss", "log_loss", "--seed", "0",
                 "-o", str(model)]) == 0
    assert load_model_info(str(model))["label_column"] == -1
    capsys.readouterr()
    assert main(["predict", str(model), str(path)]) == 0
    implied = capsys.readouterr().out
    assert main(["predict", str(model), str(path), "--label-column", "-1"]) == 0
    assert capsys.readouterr().out == implied
    expected = load_model(str(model)).predict(X)
    assert implied.split() == [str(v) for v in expected]


@pytest.mark.parametrize("where", ["missing_dir", "a_dir"])
def test_an_unwritable_output_is_refused_before_the_work(tmp_path, capsys, where):
    train = tmp_path / "train.svm"
    train.write_text("1 1:0.5 2:1\n-1 1:-0.5 3:2\n")
    out = tmp_path / "nope" / "m.npz" if where == "missing_dir" else tmp_path
    err = _error(capsys, ["fit", str(train), "-o", str(out)])
    assert "cannot write" in err
    assert "fitted" not in capsys.readouterr().out   # refused before the fit
    model = tmp_path / "m.npz"
    assert main(["fit", str(train), "-o", str(model)]) == 0
    capsys.readouterr()
    assert "cannot write" in _error(capsys, ["predict", str(model), str(train), "-o", str(out)])


def test_a_closed_pipe_stops_predict_quietly(tmp_path):
    import subprocess
    import sys

    from _subprocess import CHILD_CWD, child_env

    rng = np.random.default_rng(0)
    X = rng.standard_normal((20000, 2))
    path = tmp_path / "d.csv"
    np.savetxt(path, np.column_stack([(X[:, 0] > 0).astype(int), X]), delimiter=",")
    model = tmp_path / "m.npz"
    assert main(["fit", str(path), "--loss", "log_loss", "--epochs", "1", "-o", str(model)]) == 0
    cmd = (f"{sys.executable} -m fastgd predict {model} {path} | head -1")
    done = subprocess.run(["bash", "-c", cmd], env=child_env(), cwd=CHILD_CWD,
                          capture_output=True, text=True, timeout=120)
    assert len(done.stdout.split()) == 1
    assert "error" not in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_svmlight_without_features_says_so(tmp_path, capsys):
    path = tmp_path / "nofeat.svm"
    path.write_text("1\n-1\n")
    main(["fit", str(path)])
    out = capsys.readouterr().out
    assert "the file has no feature" in out and "uses index 0" not in out


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.DataConversionWarning")
def test_cli_faults_from_a_probe(tmp_path, capsys):
    """A column y (accepted, as by fastgd.fit) made the printed training
    accuracy compare a (n,) with an (n, 1) array; a 1-D X, an empty CSV, a
    bad seed and an empty -o path gave many-line or nameless errors, or
    nothing at all."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    y = (X @ np.array([1.0, -1.0, 2.0]) > 0).astype(float)
    column = tmp_path / "col.npz"
    np.savez(column, X=X, y=y.reshape(-1, 1))
    plain = tmp_path / "plain.npz"
    np.savez(plain, X=X, y=y)
    accuracies = []
    for path in (column, plain):
        assert main(["fit", str(path), "--loss", "log_loss", "--seed", "0"]) == 0
        out = capsys.readouterr().out
        accuracies.append(float(out.split("training accuracy ")[1].split()[0]))
    assert accuracies[0] == accuracies[1] > 0.8
    flat = tmp_path / "flat.npz"
    np.savez(flat, X=X[:, 0], y=y)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    for argv, match in [
            (["fit", str(flat)], "X must be 2-D"),
            (["fit", str(empty)], "empty.csv"),
            (["fit", str(plain), "--seed", "-1"], "random_state"),
            (["fit", str(plain), "-o", ""], "the output path is empty")]:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert match in err and len(err.strip().splitlines()) == 1, (argv, err)
