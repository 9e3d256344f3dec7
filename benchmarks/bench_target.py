"""Time to reach the L2-regularized logistic optimum to a relative 1e-4.

The optimum is computed once per process in setup (tight L-BFGS, untimed).
``track_`` benchmarks report the training seconds fastgd needed (timed
inside, the per-epoch scoring excluded) and, for reference, scikit-learn's
L-BFGS at the smallest iteration count that reaches the same target.
"""
from .common import make_data

N, D = 100_000, 100


class TimeToTarget:
    # Adam at batch 4096 (in fastgd bench's 1M-row run) takes 24 steps an
    # epoch here and, at a constant lr 0.01, hovers at a gap of 4e-4 to 9e-4
    # for 12-80 epochs: it never reached the target (the series was nan).
    params = (["asgd-256", "asgd-1024"],)
    param_names = ["method"]
    unit = "seconds"
    number = 1
    repeat = 1
    timeout = 300

    def setup(self, method):
        from fastgd import bench

        self.X, self.y = make_data(N, D)
        self.f_star = bench.optimum(self.X, self.y)

    def track_fastgd_seconds(self, method):
        from fastgd import bench

        kwargs = dict(bench.FASTGD_METHODS)[{
            "asgd-256": "averaged SGD, batch 256, lr 0.5",
            "asgd-1024": "averaged SGD, batch 1024, lr 1"}[method]]
        seconds, _, _ = bench.fastgd_to_target(self.X, self.y, self.f_star, kwargs, 12, 3)
        return float("nan") if seconds is None else seconds


class SklearnTimeToTarget:
    unit = "seconds"
    number = 1
    repeat = 1
    timeout = 300

    def setup(self):
        from fastgd import bench

        self.X, self.y = make_data(N, D)
        self.f_star = bench.optimum(self.X, self.y)

    def track_lbfgs_seconds(self):
        from fastgd import bench

        seconds, _, _ = bench.sklearn_to_target(self.X, self.y, self.f_star, "lbfgs", 3, 60.0)
        return float("nan") if seconds is None else seconds
