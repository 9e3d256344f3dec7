"""The ``fastgd`` command: ``demo``, ``fit``, ``predict``, ``config``."""
from __future__ import annotations

import argparse
import os
import sys
import time

__all__ = ["main", "demo"]

# Optimizers the demo compares, with step sizes that suit standardized data.
# The L2 term (1e-4) is given as each optimizer's weight_decay (decoupled for
# AdamW), and as FTRL's own l2 (it takes no weight_decay).
DEMO_OPTIMIZERS = (
    ("sgd", dict(lr=0.1)),
    ("sgd+nesterov", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("adagrad", dict(lr=0.5)),
    ("rmsprop", dict(lr=0.01)),
    ("adadelta", dict(lr=1.0)),
    ("adam", dict(lr=0.01)),
    ("adamw", dict(lr=0.01)),
    ("ftrl", dict(lr=0.5, l2=1e-4)),
)


def demo(epochs=30, batch_size=32, random_state=0, backend="cpu", file=None):
    """Fit logistic regression with every optimizer on a built-in data set and print a table.

    The data is scikit-learn's breast-cancer set (569 x 30), standardized,
    split 75/25. Prints, per optimizer: final training objective, gradient
    norm, train and test accuracy, and the fit's wall-clock time.
    """
    import numpy as np
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    from fastgd import optim
    from fastgd.solver import fit

    out = file or sys.stdout
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=random_state, stratify=y)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    print(f"fastgd demo: logistic regression (log_loss, L2 1e-4) on breast cancer "
          f"{X_train.shape[0]} train / {X_test.shape[0]} test rows, {X.shape[1]} features, "
          f"{epochs} epochs, batch {batch_size}, backend {backend!r}", file=out)
    header = f"{'optimizer':<14} {'loss':>9} {'|grad|':>9} {'train acc':>9} {'test acc':>9} {'ms':>8}"
    print(header, file=out)
    print("-" * len(header), file=out)
    for label, params in DEMO_OPTIMIZERS:
        name = label.split("+")[0]
        opt = optim.OPTIMIZERS[name](**({} if name == "ftrl" else {"weight_decay": 1e-4}),
                                     **params)
        start = time.perf_counter()
        res = fit(X_train, y_train, loss="log_loss", optimizer=opt, batch_size=batch_size,
                  epochs=epochs, penalty=None, random_state=random_state,
                  backend=backend)
        ms = 1000 * (time.perf_counter() - start)
        acc_train = np.mean(res.predict(X_train) == y_train)
        acc_test = np.mean(res.predict(X_test) == y_test)
        print(f"{label:<14} {res.history.loss[-1]:>9.4f} {res.history.grad_norm[-1]:>9.2e} "
              f"{acc_train:>9.3f} {acc_test:>9.3f} {ms:>8.1f}", file=out)
    return 0


def _config(args):
    from fastgd import show_config

    show_config()
    return 0


def _bench(args):
    from fastgd.bench import main as bench_main

    if args.json is not None:
        _check_writable(args.json)
    return bench_main(args)


def _demo(args):
    return demo(epochs=args.epochs, batch_size=args.batch_size, random_state=args.seed,
                backend=args.backend)


# --zero-based's choices, as load_svmlight's zero_based.
ZERO_BASED = {"auto": "auto", "yes": True, "no": False}


def _load_training_data(args, dtype):
    """``(X, y, zero_based)`` of ``fastgd fit``'s data file.

    ``zero_based`` is how svmlight feature indices were read, saved with the
    model so that ``fastgd predict`` reads its files the same way; for other
    formats it is what ``--zero-based`` said (None for "auto").
    """
    from fastgd.io import is_svmlight, load_data, load_svmlight

    zero_based = ZERO_BASED[args.zero_based]
    if not is_svmlight(args.data):
        X, y = load_data(args.data, label_column=args.label_column, dtype=dtype)
        return X, y, None if zero_based == "auto" else zero_based
    X, y, used = load_svmlight(args.data, dtype=dtype, zero_based=zero_based)
    if zero_based == "auto":
        # The guess is per file: say what it was, and how to overrule it.
        how = ("the file has no feature" if X.nnz == 0 else
               "the file uses index 0" if used else
               "the file has no index 0; pass --zero-based yes if it is zero-based")
        print(f"svmlight feature indices read as {'zero' if used else 'one'}-based ({how})")
    return X, y, used


def _average(args):
    """fastgd.fit's ``average`` from ``--average`` and ``--average-start``."""
    if args.average_start is not None:
        return args.average_start
    return args.average


def _check_writable(path):
    """An OSError now, before the work, where ``path`` cannot be written later."""
    if path == "":
        raise OSError("the output path is empty")
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise OSError(f"cannot write {path!r}: it is a directory")
    if not os.path.isdir(parent):
        raise OSError(f"cannot write {path!r}: no such directory {parent!r}")
    if not os.access(parent, os.W_OK) or (os.path.exists(path) and
                                          not os.access(path, os.W_OK)):
        raise OSError(f"cannot write {path!r}: permission denied")


def _fit(args):
    import numpy as np

    from fastgd.io import save_model
    from fastgd.solver import fit

    if args.output is not None:
        _check_writable(args.output)
    dtype = np.float32 if args.float32 else np.float64
    X, y, zero_based = _load_training_data(args, dtype)
    start = time.perf_counter()
    res = fit(X, y, loss=args.loss, optimizer=args.optimizer, lr=args.lr,
              batch_size=args.batch_size, epochs=args.epochs, penalty=args.penalty,
              alpha=args.alpha, l1_ratio=args.l1_ratio, l1_method=args.l1_method,
              schedule=args.schedule,
              random_state=args.seed, n_jobs=args.n_jobs, tol=args.tol,
              n_iter_no_change=args.n_iter_no_change, gtol=args.gtol,
              shuffle={"true": True, "false": False, "block": "block"}[args.shuffle],
              shuffle_block=args.shuffle_block, fit_intercept=not args.no_intercept,
              epsilon=args.epsilon, on_divergence=args.on_divergence, backend=args.backend,
              average=_average(args), hogwild=args.hogwild, verbose=args.verbose)
    seconds = time.perf_counter() - start
    print(f"fitted {X.shape[0]} x {X.shape[1]} ({type(X).__name__}, {X.dtype}) in "
          f"{seconds:.3f} s: {res.n_iter_} epochs, {res.t_} steps, final loss "
          f"{res.history.loss[-1]:.6g}, gradient norm {res.history.grad_norm[-1]:.3g}")
    if res.classes_ is not None:
        # (a column y: fit took it as a vector, and so must the comparison)
        accuracy = np.mean(res.predict(X) == np.asarray(y).reshape(-1))
        print(f"training accuracy {accuracy:.4f}")
    if args.output:
        from fastgd.io import is_csv

        save_model(args.output, res, args.loss, zero_based=zero_based,
                   label_column=args.label_column if is_csv(args.data) else None)
        print(f"model saved to {args.output}")
    return 0


def _predict(args):
    import numpy as np

    from fastgd.io import load_data, load_model, load_model_info

    if args.output is not None:
        _check_writable(args.output)
    model = load_model(args.model)
    info = load_model_info(args.model)
    if args.zero_based is not None:
        zero_based = ZERO_BASED[args.zero_based]
    else:
        # The training file's convention; models saved before it was recorded
        # (or fitted on CSV/.npz data) fall back to guessing per file.
        zero_based = info["zero_based"]
        if zero_based is None:
            zero_based = "auto"
    # the training CSV file's label column unless told: with another one the
    # columns would be silently permuted
    label_column = args.label_column
    if label_column is None:
        label_column = 0 if info["label_column"] is None else info["label_column"]
    X, y = load_data(args.data, label_column=label_column,
                     n_features=model.coef_.shape[0], zero_based=zero_based)
    pred = model.predict(X)
    if args.output:
        np.savetxt(args.output, pred, fmt="%s" if model.classes_ is not None else "%.17g")
        print(f"{pred.shape[0]} predictions written to {args.output}")
    else:
        for value in pred:
            print(value)
    return 0


def build_parser():
    """The argument parser of the ``fastgd`` command."""
    from fastgd import __version__

    parser = argparse.ArgumentParser(
        prog="fastgd", description="fastgd: compiled gradient descent for linear models.")
    parser.add_argument("--version", action="version", version=f"fastgd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("demo", help="fit a model with every optimizer on built-in data")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", choices=("cpu", "reference"), default="cpu")
    p.set_defaults(func=_demo)

    p = sub.add_parser("fit", help="fit a linear model to a data file and save it")
    p.add_argument("data", help="training data: .svm/.svmlight/.libsvm/.txt (sparse), .csv "
                   "(label in --label-column) or .npz (arrays X, y)")
    p.add_argument("--loss", default="squared_error")
    p.add_argument("--optimizer", default="sgd")
    p.add_argument("--lr", type=float, default=None, help="step size (default: the optimizer's)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--penalty", default="l2", help="l2, l1, elasticnet or none")
    p.add_argument("--alpha", type=float, default=0.0)
    p.add_argument("--l1-ratio", type=float, default=0.15)
    p.add_argument("--l1-method", choices=("proximal", "cumulative"), default="proximal",
                   help="how L1 is applied: the soft-threshold of each step, or "
                        "scikit-learn's cumulative penalty (plain SGD; more exact zeros "
                        "at small batch sizes)")
    p.add_argument("--schedule", default=None)
    p.add_argument("--tol", type=float, default=None)
    p.add_argument("--n-iter-no-change", type=int, default=5, metavar="N",
                   help="epochs without an improvement of --tol before stopping (default 5)")
    p.add_argument("--gtol", type=float, default=None,
                   help="stop when the epoch's mean gradient norm falls below this")
    p.add_argument("--shuffle", choices=("true", "false", "block"), default="true",
                   help="row order of each epoch: a seeded permutation (true), rows in order "
                   "(false) or a seeded order of contiguous blocks (block)")
    p.add_argument("--shuffle-block", type=int, default=None, metavar="ROWS",
                   help="rows per block with --shuffle block")
    p.add_argument("--no-intercept", action="store_true", help="fit no intercept")
    p.add_argument("--epsilon", type=float, default=0.1,
                   help="the epsilon of the huber and epsilon-insensitive losses")
    p.add_argument("--on-divergence", choices=("raise", "backoff"), default="raise",
                   help="on a diverged epoch: stop with an error, or halve the step sizes "
                   "and repeat it")
    p.add_argument("--backend", choices=("cpu", "reference"), default="cpu")
    p.add_argument("--n-jobs", type=int, default=None)
    # A flag, not an option with an optional value: "--average train.svm"
    # would take the data file for the start step.
    p.add_argument("--average", action="store_true",
                   help="averaged SGD: report the average of the iterates")
    p.add_argument("--average-start", type=int, default=None, metavar="STEP",
                   help="averaged SGD over the iterates from step STEP on (implies --average)")
    p.add_argument("--hogwild", action="store_true",
                   help="lock-free asynchronous steps on --n-jobs threads (CSR data, "
                   "--batch-size 1; not deterministic)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--label-column", type=int, default=0, metavar="COLUMN",
                   help="CSV: the label's column (default 0; negative counts from the end)")
    p.add_argument("--zero-based", choices=tuple(ZERO_BASED), default="auto",
                   help="svmlight: feature indices start at 0 (yes) or 1 (no); auto (default): "
                   "at 0 when the file uses index 0. Saved with the model for 'predict'")
    p.add_argument("--float32", action="store_true", help="train in float32")
    p.add_argument("--output", "-o", help="save the model to this file (.npz format, written "
                   "to exactly this name)")
    p.add_argument("--verbose", "-v", action="store_true")
    p.set_defaults(func=_fit)

    p = sub.add_parser("predict", help="predict with a saved model")
    p.add_argument("model", help="a model saved by 'fastgd fit -o'")
    p.add_argument("data", help="data file, as for 'fastgd fit', with its label column (the "
                   "labels are not used)")
    p.add_argument("--label-column", type=int, default=None, metavar="COLUMN",
                   help="CSV: the label's column (negative counts from the end; default: the "
                   "model's training file's, 0 for models that did not record it)")
    p.add_argument("--zero-based", choices=tuple(ZERO_BASED), default=None,
                   help="svmlight: feature indices start at 0 (yes) or 1 (no) or, auto, at 0 "
                   "when the file uses index 0 (default: as the model's training file; auto "
                   "for models that did not record it)")
    p.add_argument("--output", "-o", help="write predictions here, one per line")
    p.set_defaults(func=_predict)

    p = sub.add_parser("bench", help="time fastgd against scikit-learn (and PyTorch) and "
                       "the memory bandwidth, in one process")
    from fastgd.bench import add_arguments as _bench_arguments
    _bench_arguments(p)
    p.set_defaults(func=_bench)

    p = sub.add_parser("config", help="show versions, OpenMP, SIMD, BLAS and CUDA status")
    p.set_defaults(func=_config)
    return parser


def main(argv=None):
    """Entry point of the ``fastgd`` command."""
    from fastgd.solver import DivergenceError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:
        # the reader went away (`fastgd predict ... | head`): stop quietly, and
        # keep Python's flush at exit from failing again (as its docs advise)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    # A diverging fit is bad input too (a step size too large for the data):
    # DivergenceError is a FloatingPointError, not a ValueError.
    except (ValueError, TypeError, OSError, OverflowError, DivergenceError) as exc:
        print(f"fastgd {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"fastgd {args.command}: error: out of memory (a very large number of "
              "features, e.g. from a huge svmlight feature index?)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
