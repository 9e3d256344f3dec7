"""The compiled core's enum codes agree with the Python specs' ``code`` attributes.

The C side names its codes through ``fgd_*_name`` (``_core.code_tables()``);
the Python side gives every Loss, Optimizer and Schedule a ``code``. A code
that means one thing in C and another in Python would silently train the
wrong model, so both tables are checked in both directions.
"""
import numpy as np
import pytest

from fastgd.backends import EpochProblem
from fastgd.backends.cpu import _core
from fastgd.losses import LOSSES, Loss
from fastgd.optim import OPTIMIZERS, SGD
from fastgd.schedules import SCHEDULES, Constant


@pytest.fixture(scope="module")
def tables():
    return _core.code_tables()


def test_tables_have_no_blank_or_duplicate_names(tables):
    for kind in ("loss", "optimizer", "schedule"):
        names = tables[kind]
        assert names, kind
        assert all(names), f"{kind}: a code without a name in C"
        assert len(set(names)) == len(names), f"{kind}: duplicate names in C"


def test_loss_codes(tables):
    python = {name: Loss(name).code for name in LOSSES}
    assert sorted(python.values()) == list(range(len(tables["loss"])))
    for name, code in python.items():
        assert tables["loss"][code] == name


def test_optimizer_codes(tables):
    python = {name: cls.code for name, cls in OPTIMIZERS.items()}
    assert sorted(python.values()) == list(range(len(tables["optimizer"])))
    for name, code in python.items():
        assert tables["optimizer"][code] == name
        assert OPTIMIZERS[name]().name == name


def test_schedule_codes(tables):
    c_names = tables["schedule"]
    for name, cls in SCHEDULES.items():
        assert cls.name == name
        if cls.adaptive:
            # decided between epochs in Python; the core runs it as constant
            assert c_names[cls.code] == "constant"
        else:
            assert c_names[cls.code] == name
    # every C schedule has a Python spec
    assert set(c_names) <= set(SCHEDULES)


def test_table_sizes(tables):
    assert len(tables["loss"]) == len(LOSSES)
    assert len(tables["optimizer"]) == len(OPTIMIZERS)


@pytest.mark.parametrize("field", ["loss", "optimizer", "schedule"])
def test_core_refuses_codes_outside_its_tables(tables, field):
    problem = EpochProblem(X=np.zeros((2, 1)), y=np.zeros(2), sw=None, loss=Loss(),
                           optimizer=SGD(), schedule=Constant(), lr=0.1, l2=0.0, l1=0.0,
                           l2_decoupled=False, fit_intercept=True, batch_size=1, n_threads=1)
    cfg = problem.c_config()
    cfg[field] = len(tables[field])
    params, state = np.zeros(2), np.zeros((3, 2))
    with pytest.raises(ValueError, match="invalid configuration"):
        _core.epoch_dense(problem.X, problem.y, None, None, params, state, np.zeros((1, 2)),
                          np.zeros(2), cfg, 0)
