"""The fastgd command: demo, fit, predict, config."""
import numpy as np
import pytest

from fastgd.cli import DEMO_OPTIMIZERS, main
from fastgd.io import load_data, load_model


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
    assert main(args + ["--average", "10"]) == 0
    ref = fastgd.fit(X_loaded, y_loaded, loss="log_loss", lr=0.05, batch_size=1, epochs=3,
                     random_state=0, penalty="l2", average=10)
    np.testing.assert_allclose(load_model(str(model)).coef_, ref.coef_, rtol=1e-12)
    assert main(args + ["--hogwild", "--n-jobs", "2"]) == 0
    assert np.mean(load_model(str(model)).predict(X_loaded) == y_loaded) > 0.9
    assert main(args + ["--hogwild", "--average"]) == 2
    assert "hogwild=True cannot keep an averaged iterate" in capsys.readouterr().err


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
