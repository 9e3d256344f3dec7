"""Optimizer.step: the compiled update kernel as a public, in-place step."""
import numpy as np
import pytest

from fastgd import optim

OPTIMIZERS = [
    optim.SGD(lr=0.1),
    optim.SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    optim.Adagrad(lr=0.1, initial_accumulator_value=0.1),
    optim.RMSprop(lr=0.01, centered=True, momentum=0.3),
    optim.Adadelta(weight_decay=0.05),
    optim.Adam(lr=0.01),
    optim.Adam(lr=0.01, amsgrad=True, weight_decay=0.02),
    optim.AdamW(lr=0.01, weight_decay=0.1),
    optim.FTRL(lr=0.1, l1=0.01, l2=0.1),
]


def _reference_steps(opt, w, grads, dtype):
    """Apply opt.rule in float64, rounding to dtype after each step as the kernel stores."""
    w = w.astype(np.float64)
    s = opt.init_state(w.size, np.float64)
    for t, g in enumerate(grads):
        g = g.astype(dtype).astype(np.float64)
        if opt.decoupled_weight_decay:
            w = w * (1 - opt.lr * opt.weight_decay)
        else:
            g = g + opt.weight_decay * w
        w, _ = opt.rule(w, g, s, opt.lr, t + 1)
        w = w.astype(dtype).astype(np.float64)
        s[:] = s.astype(dtype)
    return w


@pytest.mark.parametrize("opt", OPTIMIZERS, ids=repr)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_step_matches_reference_rule(opt, dtype):
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((30, 7)).astype(dtype)
    grads = [rng.standard_normal((30, 7)) for _ in range(5)]
    w = w0.copy()
    state = opt.init_state(w.size, dtype)
    for t, g in enumerate(grads):
        g_user = g.copy()
        out = opt.step(w, g, state, t)
        assert out is w
        np.testing.assert_array_equal(g, g_user)   # the gradient is never written
    expected = _reference_steps(opt, w0.reshape(-1), [g.reshape(-1) for g in grads], dtype)
    # float32 parameters are updated in float32 arithmetic, the reference in float64
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(w.reshape(-1), expected, rtol=rtol,
                               atol=rtol * np.abs(expected).max())
    assert w.dtype == dtype


def test_step_threads_give_the_same_bits():
    rng = np.random.default_rng(1)
    n = 200_003   # above the kernel's threading threshold
    grads = [rng.standard_normal(n).astype(np.float32) for _ in range(3)]
    results = []
    for n_jobs in (1, 2, -1):
        opt = optim.Adam(lr=0.01)
        w = np.linspace(-1, 1, n, dtype=np.float32)
        state = opt.init_state(n, np.float32)
        for t, g in enumerate(grads):
            opt.step(w, g, state, t, n_jobs=n_jobs)
        results.append(w)
    assert all(np.array_equal(results[0], r) for r in results[1:])


def test_step_matches_torch_adam():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    w0 = rng.standard_normal(1000).astype(np.float32)
    grads = [rng.standard_normal(1000).astype(np.float32) for _ in range(10)]
    p = torch.nn.Parameter(torch.from_numpy(w0.copy()))
    topt = torch.optim.Adam([p], lr=0.01, weight_decay=0.01)
    opt = optim.Adam(lr=0.01, weight_decay=0.01)
    w, state = w0.copy(), opt.init_state(w0.size, np.float32)
    for t, g in enumerate(grads):
        p.grad = torch.from_numpy(g.copy())
        topt.step()
        opt.step(w, g, state, t)
    np.testing.assert_allclose(w, p.detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("params, match", [
    (np.zeros(10, dtype=np.int64), "float32 or float64"),
    (np.zeros((10, 4))[:, ::2], "C-contiguous"),
    (np.zeros(10).tolist(), "ndarray"),
])
def test_step_refuses_bad_params(params, match):
    opt = optim.Adam()
    with pytest.raises(TypeError, match=match):
        opt.step(params, np.zeros(5), opt.init_state(5, np.float64), 0)


def test_step_refuses_read_only_params():
    opt = optim.Adam()
    w = np.zeros(5)
    w.setflags(write=False)
    with pytest.raises(TypeError, match="writeable"):
        opt.step(w, np.zeros(5), opt.init_state(5, np.float64), 0)


def test_step_refuses_bad_grad_state_and_t():
    opt = optim.Adam()
    w = np.zeros(5)
    state = opt.init_state(5, np.float64)
    with pytest.raises(ValueError, match="grad has shape"):
        opt.step(w, np.zeros(4), state, 0)
    with pytest.raises(ValueError, match="NaN or infinity"):
        opt.step(w, np.array([0, 1, np.nan, 0, 0.0]), state, 0)
    with pytest.raises(TypeError, match="real numbers"):
        opt.step(w, np.array(["a"] * 5), state, 0)
    with pytest.raises(ValueError, match="state must be"):
        opt.step(w, np.zeros(5), np.zeros((2, 5)), 0)
    with pytest.raises(ValueError, match="state must be"):
        opt.step(w, np.zeros(5), opt.init_state(5, np.float32), 0)
    for t in (-1, 1.5, True):
        with pytest.raises(ValueError, match="t must be"):
            opt.step(w, np.zeros(5), state, t)
    np.testing.assert_array_equal(w, 0)   # nothing was applied


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_step_takes_a_read_only_gradient(dtype):
    # grad is only read: read-only, memory-mapped or broadcast gradients are fine
    opt = optim.Adam(lr=0.1)
    params = np.linspace(-1, 1, 6).astype(dtype)
    ref = params.copy()
    state, ref_state = opt.init_state(6, dtype), opt.init_state(6, dtype)
    grad = np.arange(6, dtype=dtype)
    opt.step(ref, grad.copy(), ref_state, 0)
    grad.flags.writeable = False
    opt.step(params, grad, state, 0)
    np.testing.assert_array_equal(params, ref)
    opt.step(params, np.broadcast_to(dtype(1.0), (6,)), state, 1)
    opt.step(ref, np.ones(6, dtype), ref_state, 1)
    np.testing.assert_array_equal(params, ref)
