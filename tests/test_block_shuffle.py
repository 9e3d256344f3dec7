"""shuffle="block": one shared definition of the block-shuffled epoch order.

The C order (fgd_epoch_order_blocks) must equal the plain-Python reference
(fastgd.data.epoch_order_blocks) index for index, and the Trainer must visit
rows in exactly that order, on dense and CSR data alike.
"""
import numpy as np
import pytest
import scipy.sparse as sp

import fastgd
from fastgd.backends import cpu, reference
from fastgd.data import (DEFAULT_SHUFFLE_BLOCK, base_seed, epoch_order, epoch_order_blocks,
                         epoch_seed)
from fastgd.solver import Trainer

SEEDS = (0, 1, 12345, 2**63 + 7, 2**64 - 1)


@pytest.mark.parametrize("n", [0, 1, 2, 7, 64, 65, 100, 1000, 1023])
@pytest.mark.parametrize("block", [1, 2, 3, 8, 64, 999, 5000])
def test_c_order_equals_reference(n, block):
    for seed in SEEDS:
        ref = epoch_order_blocks(n, block, seed)
        c = cpu.epoch_order(n, seed, block=block)
        out = np.full(n, -1, dtype=np.int64)
        cpu.epoch_order(n, seed, out=out, block=block)
        assert c.dtype == np.int64 and c.shape == (n,)
        np.testing.assert_array_equal(c, ref)
        np.testing.assert_array_equal(out, ref)
        np.testing.assert_array_equal(reference.epoch_order(n, seed, block=block), ref)


@pytest.mark.parametrize("n,block", [(1000, 64), (1001, 64), (10, 3), (5, 7), (130, 1)])
def test_every_row_once_in_contiguous_blocks(n, block):
    nb = -(-n // block)
    for seed in SEEDS:
        order = cpu.epoch_order(n, seed, block=block)
        np.testing.assert_array_equal(np.sort(order), np.arange(n))
        # cut the order at block boundaries: each piece is one whole block, in order
        starts = order[np.r_[0, np.cumsum([min(block, n - k * block)
                                           for k in epoch_order(nb, seed)])[:-1]]]
        assert np.all(starts % block == 0)
        assert sorted((starts // block).tolist()) == list(range(nb))
        # the blocks follow the seeded block permutation
        np.testing.assert_array_equal(starts // block, epoch_order(nb, seed))
        steps = np.diff(order)
        assert np.sum(steps != 1) <= nb - 1     # sequential within a block


def test_seeded_and_deterministic():
    a = cpu.epoch_order(10_000, 42, block=64)
    np.testing.assert_array_equal(a, cpu.epoch_order(10_000, 42, block=64))
    assert not np.array_equal(a, cpu.epoch_order(10_000, 43, block=64))
    assert not np.array_equal(a, np.arange(10_000))
    # a Trainer draws a different block order every epoch, the same for the same seed
    s = base_seed(0)
    orders = [cpu.epoch_order(10_000, epoch_seed(s, e), block=64) for e in range(3)]
    assert not np.array_equal(orders[0], orders[1])
    assert not np.array_equal(orders[1], orders[2])


def test_limits_block_one_and_block_at_least_n():
    for seed in SEEDS:
        np.testing.assert_array_equal(cpu.epoch_order(257, seed, block=1),
                                      cpu.epoch_order(257, seed))
        np.testing.assert_array_equal(cpu.epoch_order(257, seed, block=257), np.arange(257))


def _data(n=300, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.where(X @ rng.standard_normal(d) + 0.1 * rng.standard_normal(n) > 0, 1.0, -1.0)
    return X, y


@pytest.mark.parametrize("batch_size", [1, 8])
def test_trainer_visits_the_block_order(batch_size):
    """One block-shuffled epoch == one in-order epoch over the rows in that order."""
    X, y = _data(301)
    kw = dict(loss="log_loss", optimizer="sgd", lr=0.05, batch_size=batch_size, epochs=1,
              alpha=1e-3)
    res = fastgd.fit(X, y, shuffle="block", shuffle_block=16, random_state=3, **kw)
    order = epoch_order_blocks(301, 16, epoch_seed(base_seed(3), 0))
    ref = fastgd.fit(X[order], y[order], shuffle=False, **kw)
    np.testing.assert_array_equal(res.coef_, ref.coef_)
    full = fastgd.fit(X, y, shuffle=True, random_state=3, **kw)
    assert not np.allclose(res.coef_, full.coef_)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("optimizer,batch_size", [("sgd", 1), ("adam", 1), ("sgd", 16)])
def test_compiled_matches_reference(dtype, optimizer, batch_size):
    X, y = _data(257)
    X = X.astype(dtype)
    kw = dict(loss="log_loss", optimizer=optimizer, lr=0.02, batch_size=batch_size, epochs=3,
              alpha=1e-3, shuffle="block", shuffle_block=10, random_state=7)
    c = fastgd.fit(X, y, backend="cpu", **kw)
    r = fastgd.fit(X, y, backend="reference", **kw)
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(c.coef_, r.coef_, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(c.history.loss, r.history.loss, rtol=rtol)


def test_csr_uses_the_same_block_order():
    X, y = _data(203, d=8)
    X[np.abs(X) < 0.8] = 0.0
    Xs = sp.csr_matrix(X)
    kw = dict(loss="log_loss", optimizer="sgd", lr=0.05, batch_size=1, epochs=1, alpha=0.0)
    res = fastgd.fit(Xs, y, shuffle="block", shuffle_block=8, random_state=1, **kw)
    order = epoch_order_blocks(203, 8, epoch_seed(base_seed(1), 0))
    ref = fastgd.fit(Xs[order], y[order], shuffle=False, **kw)
    np.testing.assert_allclose(res.coef_, ref.coef_, rtol=1e-12, atol=1e-14)
    dense = fastgd.fit(X, y, shuffle="block", shuffle_block=8, random_state=1, **kw)
    np.testing.assert_allclose(res.coef_, dense.coef_, rtol=1e-9, atol=1e-12)


def test_default_block_and_mode_reach_the_backend(monkeypatch):
    calls = []
    real = cpu.epoch_order

    def recording(n, seed, out=None, block=None):
        calls.append(block)
        return real(n, seed, out=out, block=block)

    monkeypatch.setattr(cpu, "epoch_order", recording)
    X, y = _data(200)
    fastgd.fit(X, y, loss="log_loss", shuffle="block", epochs=2, random_state=0)
    assert calls == [DEFAULT_SHUFFLE_BLOCK] * 2
    calls.clear()
    fastgd.fit(X, y, loss="log_loss", shuffle=True, epochs=1, random_state=0)
    assert calls == [None]
    calls.clear()
    fastgd.fit(X, y, loss="log_loss", shuffle=False, epochs=1, random_state=0)
    assert calls == []


def test_estimators_pass_block_shuffle_through(monkeypatch):
    calls = []
    real = cpu.epoch_order

    def recording(n, seed, out=None, block=None):
        calls.append(block)
        return real(n, seed, out=out, block=block)

    monkeypatch.setattr(cpu, "epoch_order", recording)
    X, y = _data(200)
    a = fastgd.SGDClassifier(shuffle="block", max_iter=3, tol=None, random_state=0).fit(X, y)
    assert calls == [DEFAULT_SHUFFLE_BLOCK] * 3
    b = fastgd.SGDClassifier(shuffle="block", max_iter=3, tol=None, random_state=0).fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    calls.clear()
    fastgd.SGDRegressor(shuffle="block", max_iter=2, tol=None, random_state=0).fit(X, y)
    assert calls == [DEFAULT_SHUFFLE_BLOCK] * 2
    calls.clear()
    y3 = np.digitize(X[:, 0], [-0.5, 0.5])
    fastgd.SGDClassifier(loss="log_loss", shuffle="block", max_iter=2, tol=None, random_state=0,
                         multi_class="multinomial").fit(X, y3)
    assert calls == [DEFAULT_SHUFFLE_BLOCK] * 2


@pytest.mark.parametrize("kwargs", [dict(shuffle="blocks"), dict(shuffle=2),
                                    dict(shuffle="block", shuffle_block=0),
                                    dict(shuffle="block", shuffle_block=2.5),
                                    dict(shuffle="block", shuffle_block=True)])
def test_bad_shuffle_arguments(kwargs):
    with pytest.raises(ValueError, match="shuffle"):
        Trainer(**kwargs)
    X, y = _data(50)
    with pytest.raises(ValueError, match="shuffle"):
        fastgd.fit(X, y, **kwargs)


def test_estimator_bad_shuffle():
    X, y = _data(50)
    with pytest.raises(ValueError, match="shuffle"):
        fastgd.SGDClassifier(shuffle="random").fit(X, y)
