"""Multinomial (softmax cross-entropy) epochs: dense and CSR rows, by class count.

An epoch here is ``MultinomialTrainer.run(epochs=1)``: plain SGD with L2,
shuffled rows, one thread. Dense data is 10,000 x 100 (8 MB of float64);
CSR data is 20,000 x 20,000 with 50 stored values per row.
"""
import numpy as np

from .common import ALPHA, VALUES


def _trainer(n_classes, d, dtype, batch, optimizer="sgd"):
    from fastgd._multinomial import MultinomialTrainer

    tr = MultinomialTrainer(n_classes, optimizer=optimizer, lr=0.01, penalty="l2",
                            alpha=ALPHA, batch_size=batch, random_state=0)
    tr.init_model(d, dtype)
    return tr


def _labels(n, n_classes, seed=0):
    return np.random.default_rng(seed).integers(0, n_classes, n).astype(np.float64)


class MultinomialDenseEpoch:
    """One softmax epoch over dense rows, d = 100."""

    params = (["float32", "float64"], [3, 10, 20], [1, 256])
    param_names = ["dtype", "classes", "batch"]
    timeout = 120

    def setup(self, dtype, classes, batch):
        rng = np.random.default_rng(0)
        self.X = rng.standard_normal((VALUES // 100, 100)).astype(dtype)
        self.y = _labels(self.X.shape[0], classes)
        self.tr = _trainer(classes, 100, self.X.dtype, batch)
        self.tr.run(self.X, self.y, None, epochs=1)   # warm up

    def time_epoch(self, dtype, classes, batch):
        self.tr.run(self.X, self.y, None, epochs=1)


class MultinomialSparseEpoch:
    """One softmax epoch over CSR rows (plain SGD: the fused loop; Adagrad: the
    general loop with its lazy catch-up)."""

    params = ([3, 10], ["sgd", "adagrad"])
    param_names = ["classes", "optimizer"]
    timeout = 120

    def setup(self, classes, optimizer):
        from fastgd.bench import make_sparse_data

        self.X, _ = make_sparse_data(20_000, 20_000, 50)
        self.y = _labels(self.X.shape[0], classes)
        self.tr = _trainer(classes, self.X.shape[1], self.X.dtype, 32, optimizer)
        self.tr.run(self.X, self.y, None, epochs=1)   # warm up

    def time_epoch(self, classes, optimizer):
        self.tr.run(self.X, self.y, None, epochs=1)
