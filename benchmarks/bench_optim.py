"""Optimizer update kernels alone: one step over a flat parameter vector."""
import numpy as np

from .common import n_jobs_of


def _config(opt):
    # the optimizer's own weight decay, as Optimizer.step passes it (AdamW's
    # decoupled default 1e-2: without it the "adamw" case timed Adam)
    return dict(loss=0, loss_param=0.0, optimizer=opt.code, hyper=opt.c_params(),
                schedule=0, lr=opt.lr, sched=[], warmup_steps=0.0, l2=opt.weight_decay,
                l1=0.0, l2_decoupled=int(opt.decoupled_weight_decay), fit_intercept=0,
                batch_size=1, n_threads=1)


class OptimizerStep:
    """One compiled step of each optimizer over 10M parameters (Adam's bound: 7 x 4 bytes each)."""

    params = (["sgd", "sgd-momentum", "adagrad", "rmsprop", "adadelta", "adam", "adamw"],
              ["float32", "float64"], ["1", "all"])
    param_names = ["optimizer", "dtype", "threads"]
    n_params = 10_000_000

    def setup(self, optimizer, dtype, threads):
        from fastgd import optim

        if optimizer == "sgd-momentum":
            opt = optim.SGD(lr=0.01, momentum=0.9)
        else:
            opt = optim.get_optimizer(optimizer)
        rng = np.random.default_rng(0)
        self.w = rng.standard_normal(self.n_params).astype(dtype)
        self.g = rng.standard_normal(self.n_params).astype(dtype)
        self.state = opt.init_state(self.n_params, np.dtype(dtype))
        self.cfg = _config(opt)
        self.threads = n_jobs_of(threads)
        self.t = 0

    def time_step(self, optimizer, dtype, threads):
        from fastgd.backends.cpu import _core

        _core.optimizer_step(self.w, self.g, self.state, self.cfg, self.t, self.threads)
        self.t += 1


class AdamPeers:
    """Adam over 10M float32 parameters: fastgd, NumPy in place, torch.optim when installed."""

    params = (["fastgd-1", "fastgd-all", "numpy", "torch-foreach", "torch-fused"],)
    param_names = ["implementation"]
    n_params = 10_000_000

    def setup(self, implementation):
        from fastgd import bench

        if implementation.startswith("torch"):
            try:
                import torch  # noqa: F401
            except ImportError:
                raise NotImplementedError("torch is not installed")
            self.step = bench.torch_adam_stepper(self.n_params, implementation.split("-")[1])
        elif implementation == "numpy":
            self.step = bench.numpy_adam_stepper(self.n_params)
        else:
            threads = n_jobs_of(implementation.split("-")[1])
            self.step = bench.fastgd_adam_stepper(self.n_params, threads)
        self.step()

    def time_step(self, implementation):
        self.step()
