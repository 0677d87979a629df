"""dot and batch_dot: Keras 2.3 / tf_keras semantics, against float64 tensordot references."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kcore import backend as K

TOL = {np.float16: 2e-3, np.float32: 2e-6, np.float64: 1e-13}


def _check(got, ref, dtype, bound):
    """|got - ref| <= tol * (|x| @ |y|), the natural error bound of a dot product."""
    assert got.dtype == dtype and got.shape == ref.shape
    err = np.abs(got.astype(np.float64) - ref)
    assert np.all(err <= TOL[dtype] * bound + np.finfo(dtype).smallest_subnormal), float(np.max(err / (bound + 1e-300)))


def _ref_batch_dot(x, y, a0, a1):
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    ref = np.stack([np.tensordot(x64[i], y64[i], (a0 - 1, a1 - 1)) for i in range(x.shape[0])])
    bound = np.stack([np.tensordot(np.abs(x64[i]), np.abs(y64[i]), (a0 - 1, a1 - 1)) for i in range(x.shape[0])])
    if ref.ndim == 1:
        ref, bound = ref[:, None], bound[:, None]
    return ref, bound


def test_keras_doc_examples():
    x = np.array([[1, 2], [3, 4]], np.float32)
    y = np.array([[5, 6], [7, 8]], np.float32)
    np.testing.assert_array_equal(K.batch_dot(x, y, axes=1), [[17], [53]])
    assert K.batch_dot(np.ones((32, 20, 1)), np.ones((32, 30, 20)), axes=[1, 2]).shape == (32, 1, 30)
    assert K.dot(np.ones((2, 3)), np.ones((4, 3, 5))).shape == (2, 4, 5)
    assert K.dot(np.ones((32, 28, 3)), np.ones((3, 4))).shape == (32, 28, 4)
    np.testing.assert_array_equal(K.batch_dot(np.ones((32, 20)), np.ones((32, 20)), axes=1), np.full((32, 1), 20.0))


@pytest.mark.parametrize("xs,ys,axes,out", [
    ((4, 2, 3), (4, 5, 3), (2, 2), (4, 2, 5)), ((4, 2, 3), (4, 3), (2, 1), (4, 2)), ((4, 2), (4, 2, 3), (1, 1), (4, 3)),
    ((32, 20), (32, 20), 1, (32, 1)), ((7, 3, 4, 5), (7, 2, 3, 4), (2, 3), (7, 3, 5, 2, 3)),
    ((7, 3, 4, 5), (7, 2, 4), 2, (7, 3, 5, 2)), ((7, 3, 4), (7, 2, 3, 4), (2, 3), (7, 3, 2, 3)),
    ((7, 4, 3), (7, 3, 5), (2, 1), (7, 4, 5)), ((7, 4), (7, 3, 4), (1, 2), (7, 3)), ((7, 4), (7, 4), None, (7, 1)),
    ((2, 3, 4, 5), (2, 5, 6, 7), (3, 1), (2, 3, 4, 6, 7)), ((2, 20, 1), (2, 30, 20), (1, 2), (2, 1, 30)),
    ((3, 4, 5), (3, 5, 6), None, (3, 4, 6)), ((3, 4, 5), (3, 6, 5), (-1, -1), (3, 4, 6)),
])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_batch_dot_shapes_and_values(xs, ys, axes, out, dtype, rng):
    x = rng.standard_normal(xs).astype(dtype)
    y = rng.standard_normal(ys).astype(dtype)
    got = K.batch_dot(x, y, axes=axes)
    assert got.shape == out
    from kcore._linalg import batch_dot_axes
    a0, a1 = batch_dot_axes(axes, x.ndim, y.ndim, x.shape, y.shape)
    ref, bound = _ref_batch_dot(x, y, a0, a1)
    _check(got, ref, dtype, bound)


@given(data=st.data(), dtype=st.sampled_from([np.float16, np.float32, np.float64]))
def test_batch_dot_any_layout(data, dtype):
    batch = data.draw(st.integers(1, 4))
    xr = data.draw(st.integers(2, 4))
    yr = data.draw(st.integers(2, 4))
    xs = [batch] + data.draw(st.lists(st.integers(1, 5), min_size=xr - 1, max_size=xr - 1))
    ys = [batch] + data.draw(st.lists(st.integers(1, 5), min_size=yr - 1, max_size=yr - 1))
    a0 = data.draw(st.integers(1, xr - 1))
    a1 = data.draw(st.integers(1, yr - 1))
    ys[a1] = xs[a0]
    rng = np.random.default_rng(data.draw(st.integers(0, 1000)))
    x = rng.standard_normal(xs).astype(dtype)
    y = rng.standard_normal(ys).astype(dtype)
    if data.draw(st.booleans()):  # non-contiguous views of the same values
        x = np.asfortranarray(x)
        y = np.ascontiguousarray(y[..., ::-1])[..., ::-1]
    got = K.batch_dot(x, y, axes=(a0 - xr if data.draw(st.booleans()) else a0, a1))
    ref, bound = _ref_batch_dot(x, y, a0, a1)
    _check(got, ref, dtype, bound)


@pytest.mark.parametrize("xs,ys", [((2, 3), (3, 4)), ((2, 3), (4, 3, 5)), ((32, 28, 3), (3, 4)), ((3,), (3,)),
                                   ((2, 3), (3,)), ((3,), (3, 4)), ((2, 2, 3), (2, 3, 4)), ((4096, 64), (64, 64))])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_dot(xs, ys, dtype, rng):
    x = rng.standard_normal(xs).astype(dtype)
    y = rng.standard_normal(ys).astype(dtype)
    got = np.asarray(K.dot(x, y))
    ref = np.dot(x.astype(np.float64), y.astype(np.float64))
    bound = np.dot(np.abs(x.astype(np.float64)), np.abs(y.astype(np.float64)))
    _check(got, np.asarray(ref), dtype, np.asarray(bound))


def test_dot_of_transposed_views_and_ints():
    x = np.arange(12.0).reshape(3, 4)
    np.testing.assert_allclose(K.dot(x.T, x), x.T @ x)
    np.testing.assert_array_equal(K.dot(np.array([[1, 2]], np.int32), np.array([[3], [4]], np.int32)), [[11]])
    assert K.dot(np.array([[1, 2]], np.int32), np.array([[3], [4]], np.int32)).dtype == np.int32


def test_float16_accumulates_in_float32():
    x = np.full((1, 4096), 0.1, np.float16)
    y = np.ones((4096, 1), np.float16)
    assert K.dot(x, y)[0, 0] == np.float16(np.float64(np.float16(0.1)) * 4096)


def test_errors():
    with pytest.raises(ValueError, match="batch_dot: cannot do batch_dot on inputs with rank < 2"):
        K.batch_dot(np.ones(3), np.ones((3, 2)))
    with pytest.raises(ValueError, match="different batch sizes"):
        K.batch_dot(np.ones((3, 2)), np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"cannot perform batch_dot over axis 0"):
        K.batch_dot(np.ones((3, 2)), np.ones((3, 2)), axes=0)
    with pytest.raises(ValueError, match="multiple target dimensions are not supported"):
        K.batch_dot(np.ones((3, 2, 2)), np.ones((3, 2, 2)), axes=[[1, 2], [1, 2]])
    with pytest.raises(ValueError, match=r"x.shape\[2\] != y.shape\[1\] \(3 != 4\)"):
        K.batch_dot(np.ones((2, 5, 3)), np.ones((2, 4, 6)), axes=(2, 1))
    with pytest.raises(ValueError, match=r"dot: cannot contract the last axis of shape \(2, 3\)"):
        K.dot(np.ones((2, 3)), np.ones((4, 5)))
    with pytest.raises(TypeError, match="dot: both operands must have the same dtype"):
        K.dot(np.ones((2, 3), np.float32), np.ones((3, 2), np.float64))
    with pytest.raises(TypeError, match="batch_dot: axes must be None, an int or a pair of ints"):
        K.batch_dot(np.ones((2, 3)), np.ones((2, 3)), axes="1")


def test_gemm_thread_invariant(threads, rng):
    x = rng.standard_normal((8, 200, 300)).astype(np.float32)
    y = rng.standard_normal((8, 300, 100)).astype(np.float32)
    out = []
    for n in (1, 2, 3):
        threads.set_num_threads(n)
        out.append(K.batch_dot(x, y, axes=(2, 1)).tobytes())
    assert out[0] == out[1] == out[2]
