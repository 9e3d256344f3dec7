"""Dense epochs of the compiled core: dtype x d x batch x threads, and each optimizer.

An epoch here is ``Trainer.run(epochs=1)`` on validated data: the seeded
shuffle in C plus one pass over the rows (log-loss, L2, shuffled). Data is
about 8 MB, so it may sit in cache on large-L3 machines: the
bandwidth-bound numbers are those of ``fastgd bench`` (800 MB).
"""
import numpy as np

from .common import ALPHA, VALUES, make_data, n_jobs_of


def _trainer(X, optimizer, lr, batch, n_jobs, shuffle=True):
    from fastgd.solver import Trainer

    # an optimizer object that carries its own weight decay (AdamW) takes the L2 term
    alpha = 0.0 if getattr(optimizer, "weight_decay", 0.0) > 0 else ALPHA
    tr = Trainer(loss="log_loss", optimizer=optimizer, lr=lr, penalty="l2", alpha=alpha,
                 batch_size=batch, n_jobs=n_jobs, random_state=0, shuffle=shuffle)
    tr.init_model(X.shape[1], X.dtype)
    return tr


class DenseEpoch:
    """One SGD epoch over shuffled rows."""

    params = (["float32", "float64"], [10, 100, 1000], [1, 32, 256, 4096], ["1", "all"])
    param_names = ["dtype", "d", "batch", "threads"]
    timeout = 120

    def setup(self, dtype, d, batch, threads):
        if batch == 1 and threads == "all":
            raise NotImplementedError("batch 1 always runs on one thread")
        self.X, self.y = make_data(VALUES // d, d, np.dtype(dtype).type)
        self.tr = _trainer(self.X, "sgd", 0.01, batch, n_jobs_of(threads))
        self.tr.run(self.X, self.y, None, epochs=1)   # warm up

    def time_epoch(self, dtype, d, batch, threads):
        self.tr.run(self.X, self.y, None, epochs=1)


class RowOrder:
    """One SGD epoch, d = 100, one thread, by row order: full shuffle, blocks, in order."""

    params = (["shuffle", "block", "in-order"], ["float32", "float64"], [1, 256])
    param_names = ["order", "dtype", "batch"]
    timeout = 120

    def setup(self, order, dtype, batch):
        shuffle = {"shuffle": True, "block": "block", "in-order": False}[order]
        self.X, self.y = make_data(VALUES // 100, 100, np.dtype(dtype).type)
        self.tr = _trainer(self.X, "sgd", 0.01, batch, 1, shuffle=shuffle)
        self.tr.run(self.X, self.y, None, epochs=1)   # warm up

    def time_epoch(self, order, dtype, batch):
        self.tr.run(self.X, self.y, None, epochs=1)


OPTIMIZERS = {
    "sgd": ("sgd", 0.01),
    "sgd-momentum": (None, None),
    "adagrad": ("adagrad", 0.1),
    "rmsprop": ("rmsprop", 0.001),
    "adadelta": ("adadelta", 1.0),
    "adam": ("adam", 0.001),
    "adamw": (None, None),
}


class DenseOptimizers:
    """One epoch with each optimizer, d = 100, batch 1 (one thread) and 256 (all threads)."""

    params = (list(OPTIMIZERS), ["float32", "float64"], [1, 256])
    param_names = ["optimizer", "dtype", "batch"]
    timeout = 120

    def setup(self, optimizer, dtype, batch):
        from fastgd import optim

        self.X, self.y = make_data(VALUES // 100, 100, np.dtype(dtype).type)
        name, lr = OPTIMIZERS[optimizer]
        if optimizer == "sgd-momentum":
            name = optim.SGD(lr=0.01, momentum=0.9)
        elif optimizer == "adamw":
            name = optim.AdamW(lr=0.001, weight_decay=ALPHA)
        self.tr = _trainer(self.X, name, lr, batch, 1 if batch == 1 else n_jobs_of("all"))
        self.tr.run(self.X, self.y, None, epochs=1)

    def time_epoch(self, optimizer, dtype, batch):
        self.tr.run(self.X, self.y, None, epochs=1)


class BandwidthFraction:
    """Fraction of the streaming read bandwidth that a batch-256 epoch reaches.

    Both measured in the same call (medians of 3), on 100 MB of float64: the
    ratio is what the issue's target is stated in, and it is steadier than
    either time on a shared machine.
    """

    params = (["float32", "float64"],)
    param_names = ["dtype"]
    unit = "fraction"
    number = 1
    repeat = 1
    timeout = 300

    def setup(self, dtype):
        dt = np.dtype(dtype).type
        self.X, self.y = make_data(12_500_000 // 100, 100, dt)
        self.tr = _trainer(self.X, "sgd", 0.01, 256, n_jobs_of("all"))
        self.tr.run(self.X, self.y, None, epochs=1)

    def track_batch256_all_threads(self, dtype):
        from fastgd.bench import _median_time, stream_bandwidth

        bw = stream_bandwidth(self.X, n_jobs_of("all"))
        seconds = _median_time(lambda: self.tr.run(self.X, self.y, None, epochs=1), 3)
        return self.X.nbytes / bw / seconds
