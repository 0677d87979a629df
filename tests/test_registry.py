"""The op registry and the backends built from it: each op's native entry is tried once per
call, its eager function runs only for what the entry declines, and graph nodes keep the op."""
import types

import numpy as np
import pytest

from kcore import _kernels, backends
from kcore._ops import REGISTRY


@pytest.fixture
def counting():
    """A provider whose entries count their calls and then do what the native ones do."""
    calls = {}

    def counted(name):
        entry = getattr(_kernels.NATIVE, name)

        def fn(*args):
            calls[name] = calls.get(name, 0) + 1
            return entry(*args)

        return fn

    names = ("reduce", "scan", "cast", "transpose", "permute_dimensions", "dot", "batch_dot", "elementwise")
    kern = types.SimpleNamespace(name="counting", **{n: counted(n) for n in names})
    return kern, calls


CASES = {"sum": ("reduce", lambda f, x: f(x, 1)), "cumsum": ("scan", lambda f, x: f(x, 0)),
         "transpose": ("transpose", lambda f, x: f(x)), "cast": ("cast", lambda f, x: f(x, "float64")),
         "_add": ("elementwise", lambda f, x: f(x, x)), "batch_dot": ("batch_dot", lambda f, x: f(x, x, 1))}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("x,expected_calls", [
    (np.ones((2, 3), np.float32), 1),   # taken at once
    (np.ones((2, 3), np.int32), 1),     # declined, and not tried again: NumPy's route
    ([[1.0, 2.0], [3.0, 4.0]], 2),      # declined, converted to an array, taken
    (np.ones((2, 3), ">f4"), 2),        # declined, converted to native byte order, taken
])
def test_each_entry_is_tried_once_per_argument_set(counting, name, x, expected_calls):
    import kcore.numpy_backend as KN

    kern, calls = counting
    entry, call = CASES[name]
    got = call(backends.bind(REGISTRY[name], kern), x)
    np.testing.assert_allclose(np.asarray(got, np.float64), np.asarray(call(getattr(KN, name), x), np.float64))
    assert calls == {entry: expected_calls}, calls


def test_eager_binds_keywords_for_the_entry(counting):
    kern, calls = counting
    got = REGISTRY["sum"].eager(kern, np.ones((2, 3), np.float16), axis=1, keepdims=True)
    assert got.shape == (2, 1) and got.dtype == np.float16 and calls == {"reduce": 1}
