"""Peak memory of fastgd.fit on data of a known size (no copies of X).

``peakmem_`` is the peak resident size of the whole benchmark process, so it
includes X itself (160 MB here) and the interpreter with its imports;
``track_extra_fraction`` is what fit allocates through NumPy/Python beyond
X, as a fraction of X's size (target: <= 0.2).
"""
import numpy as np

from .common import make_data

N, D = 200_000, 100   # 160 MB of float64, 80 MB of float32


def _fit(X, y, batch):
    import fastgd

    fastgd.fit(X, y, loss="log_loss", optimizer="sgd", lr=0.01, batch_size=batch, epochs=1,
               penalty="l2", alpha=1e-4, random_state=0)


class FitMemory:
    params = (["float32", "float64"], [1, 256])
    param_names = ["dtype", "batch"]

    def setup(self, dtype, batch):
        self.X, self.y = make_data(N, D, np.dtype(dtype).type)

    def peakmem_fit(self, dtype, batch):
        _fit(self.X, self.y, batch)

    def track_extra_fraction(self, dtype, batch):
        from fastgd.bench import fit_extra_memory

        return fit_extra_memory(self.X, self.y, lambda X, y: _fit(X, y, batch)) / self.X.nbytes

    track_extra_fraction.unit = "fraction of X"
