"""dot and batch_dot: Keras 2.3 / tf_keras semantics, against float64 tensordot references."""
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kcore import backend as K
from limits import T

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
    from kcore._runtime import _core
    a0, a1 = _core.batch_dot_axes(axes, x.shape, y.shape)
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


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("m", [1, 2, 3, 7])
def test_small_products_every_column_width(dtype, m, rng):
    # Tiny batched products take register tiles by the number of column vectors (1 to 8) and
    # rows accumulated in memory past that: widths past 8 vectors on every level, with tails;
    # B's rows read in place and (through a reversed view) copied, to the same bits.
    for n in [*range(1, 40), 47, 48, 57, 63, 64, 65, 96, 127, 128, 129, 144]:
        x = rng.standard_normal((3, m, 5)).astype(dtype)
        y = rng.standard_normal((3, 5, n)).astype(dtype)
        ref, bound = _ref_batch_dot(x, y, 2, 1)
        got = K.batch_dot(x, y, axes=(2, 1))
        _check(got, ref, dtype, bound)
        yr = np.ascontiguousarray(y[:, :, ::-1])[:, :, ::-1]
        assert K.batch_dot(x, yr, axes=(2, 1)).tobytes() == got.tobytes(), n


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


def test_gemm_thread_invariant(gemm_route, threads, rng):
    x = rng.standard_normal((8, 200, 300)).astype(np.float32)
    y = rng.standard_normal((8, 300, 100)).astype(np.float32)
    out = []
    for n in (1, 2, 3):
        threads.set_num_threads(n)
        out.append(K.batch_dot(x, y, axes=(2, 1)).tobytes())
    assert out[0] == out[1] == out[2]


# --- large float32/float64 products: the external BLAS route and the native packed kernel ----

@pytest.fixture(params=["blas", "native"])
def gemm_route(request):
    """Runs a test on both routes for large products (when OpenBLAS is loaded). The BLAS route
    normally takes only products whose every dimension passes blas_min_dim; here it takes all
    that are not small."""
    from kcore._runtime import _core

    if request.param == "blas" and _core.blas_path() is None:
        pytest.skip("no BLAS loaded")
    min_dim = _core.blas_min_dim()
    _core.set_blas_enabled(request.param == "blas")
    _core.set_blas_min_dim(0)
    yield request.param
    _core.set_blas_enabled(True)
    _core.set_blas_min_dim(min_dim)


@pytest.fixture
def native_route():
    """kcore's own kernels for every product, whatever this CPU's rule sends to the BLAS."""
    from kcore._runtime import _core

    _core.set_blas_enabled(False)
    yield
    _core.set_blas_enabled(True)


def _aligned_copy_off_by_one(a):
    """The same values in an array whose data pointer is not aligned to the itemsize."""
    buf = np.empty(a.nbytes + 1, np.uint8)
    out = np.frombuffer(buf.data, dtype=a.dtype, count=a.size, offset=1).reshape(a.shape)
    out[...] = a
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["C", "A^T", "B^T", "both^T", "strided", "reversed", "unaligned", "broadcast"])
def test_large_products_every_layout(gemm_route, dtype, layout, rng):
    b, m, k, n = 3, 70, 90, 80
    assert m * k * n > T["gemm_small_work"]  # packed (or BLAS), not the small-product kernel
    x = rng.standard_normal((b, m, k)).astype(dtype)
    y = rng.standard_normal((b, k, n)).astype(dtype)
    if layout in ("A^T", "both^T"):
        x = np.ascontiguousarray(x.transpose(0, 2, 1)).transpose(0, 2, 1)
    if layout in ("B^T", "both^T"):
        y = np.ascontiguousarray(y.transpose(0, 2, 1)).transpose(0, 2, 1)
    if layout == "strided":
        x = np.repeat(x, 2, axis=2)[:, :, ::2]
        y = np.repeat(y, 3, axis=1)[:, ::3, :]
    if layout == "reversed":
        x, y = x[:, ::-1, ::-1], y[:, ::-1, :]
    if layout == "unaligned":
        x, y = _aligned_copy_off_by_one(x), _aligned_copy_off_by_one(y)
    if layout == "broadcast":
        y = np.broadcast_to(y[:1], y.shape)
    got = K.batch_dot(x, y, axes=(2, 1))
    ref, bound = _ref_batch_dot(x, y, 2, 1)
    _check(got, ref, dtype, bound)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,k,n", [(1, 300, 200), (300, 200, 1), (400, 1, 300), (1, 40000, 1), (600, 33, 17)])
def test_large_products_thin_shapes(gemm_route, dtype, m, k, n, rng):
    x = rng.standard_normal((m, k)).astype(dtype)
    y = rng.standard_normal((k, n)).astype(dtype)
    got = K.dot(x, y)
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    _check(got, x64 @ y64, dtype, np.abs(x64) @ np.abs(y64))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_large_products_thread_invariant(gemm_route, threads, dtype, rng):
    # K beyond OpenBLAS's K-block and several of the packed kernel's, M over several row blocks
    # and not a whole number of micro-tiles; one thread takes whole items, more share each item.
    k = 5 * T["gemm_kc"] + 220
    x = rng.standard_normal((2, 701, k)).astype(dtype)
    y = rng.standard_normal((2, k, 90)).astype(dtype)
    out = []
    for n in (1, 2, 3, 4):
        threads.set_num_threads(n)
        out.append(K.batch_dot(x, y, axes=(2, 1)).tobytes())
    assert out[0] == out[1] == out[2] == out[3]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_products_split_in_row_and_column_blocks(gemm_route, threads, dtype, rng):
    # One product, cut into more blocks the more threads there are (rows and columns, partial
    # micro-tiles at both edges, B transposed): the bits must not change, and must be right.
    x = rng.standard_normal((200, 300)).astype(dtype)
    y = np.ascontiguousarray(rng.standard_normal((700, 300)).astype(dtype)).T
    out = []
    for n in (1, 2, 3, 8):
        threads.set_num_threads(n)
        out.append(K.dot(x, y))
    assert all(o.tobytes() == out[0].tobytes() for o in out)
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    _check(out[0], x64 @ y64, dtype, np.abs(x64) @ np.abs(y64))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("m,k", [(45, 37), (30, 300), (129, 64), (28, 48)])
def test_row_major_x_packs_as_any_layout(native_route, dtype, m, k, rng):
    # x with rows contiguous along K is packed by in-register transposes (whole micro-panels,
    # K in whole vectors, then a scalar tail); a strided x holding the same values takes the
    # element-by-element copy. The packed values, and so the bits, must be the same.
    x = rng.standard_normal((m, k)).astype(dtype)
    y = rng.standard_normal((k, 70)).astype(dtype)
    strided = np.empty((m, 2 * k), dtype)[:, ::2]
    strided[...] = x
    got = K.dot(x, y)
    assert got.tobytes() == K.dot(strided, y).tobytes()
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    _check(got, x64 @ y64, dtype, np.abs(x64) @ np.abs(y64))


def test_large_float16_products_in_passes_of_rows(threads, rng):
    # float16 results accumulate in float32 over all of K, in passes of rows when a task's float32
    # buffer would pass gemm_wide_bytes: every pass must give what one pass gives, on one thread
    # (whole items) and on four (about a task per thread: the two items cut in column blocks).
    n = 4100
    m = 2 * T["gemm_wide_bytes"] // (4 * n) + 50  # over two passes' worth of rows per item
    x = rng.standard_normal((2, m, 64)).astype(np.float16)
    y = rng.standard_normal((2, 64, n)).astype(np.float16)
    out = []
    for n in (1, 4):
        threads.set_num_threads(n)
        out.append(K.batch_dot(x, y, axes=(2, 1)))
    assert out[0].tobytes() == out[1].tobytes()
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    _check(out[0], np.matmul(x32, y32), np.float16, np.matmul(np.abs(x32), np.abs(y32)))


def _products_on_blas(f):
    from kcore._runtime import _core

    before = _core.blas_products()
    out = f()
    return out, _core.blas_products() - before


def test_blas_min_dim_routes_by_shape(rng):
    # The BLAS takes a float32/float64 product only when M, N and K all exceed blas_min_dim (the
    # threshold in use, which show_config reports); both routes give the reference's answer.
    from kcore._runtime import _core, config_report

    if _core.blas_path() is None:
        pytest.skip("no BLAS loaded")
    assert _core.blas_min_dim() == _core.tuning()["blas_min_dim"]  # the default until set
    x = rng.standard_normal((300, 200))
    y = rng.standard_normal((200, 100))
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    min_dim = _core.blas_min_dim()
    try:
        for threshold, on_blas in ((99, 1), (100, 0)):
            _core.set_blas_min_dim(threshold)
            for dtype in (np.float32, np.float64):
                xd, yd = x.astype(dtype), y.astype(dtype)
                got, calls = _products_on_blas(lambda: K.dot(xd, yd))  # noqa: B023 - called at once
                assert calls == on_blas, (threshold, dtype)
                _check(got, x64 @ y64, dtype, np.abs(x64) @ np.abs(y64))
            got, calls = _products_on_blas(lambda: K.dot(x.astype(np.float16), y.astype(np.float16)))
            assert calls == 0  # float16 products never go to the BLAS
        _core.set_blas_min_dim(99)
        _core.set_blas_enabled(False)
        assert _core.blas_path() is None
        assert _products_on_blas(lambda: K.dot(x, y))[1] == 0
        _core.set_blas_enabled(True)
        _core.set_blas_min_dim(300)
        assert "M, N and K all over 300, set at run time" in config_report()  # in use, not at import
    finally:
        _core.set_blas_enabled(True)
        _core.set_blas_min_dim(min_dim)
    with pytest.raises(ValueError, match="set_blas_min_dim: n must be >= 0, got -1"):
        _core.set_blas_min_dim(-1)


def test_blas_environment_switch():
    import subprocess
    import sys

    code = "import kcore, kcore._runtime as r; print(r._core.blas_path()); kcore.show_config()"
    env = dict(os.environ, KCORE_BLAS="0")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "None"
    assert "blas:              off (KCORE_BLAS=0)" in r.stdout
    env["KCORE_BLAS"] = "yes"
    r = subprocess.run([sys.executable, "-c", "import kcore"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "KCORE_BLAS must be 0 or 1; got 'yes'" in r.stderr


def test_blas_min_dim_is_the_default_unless_the_environment_sets_it():
    import subprocess
    import sys

    from kcore._runtime import _core

    if _core.blas_path() is None:
        pytest.skip("no BLAS loaded")
    code = "import kcore, kcore._runtime as r; print(r._core.blas_min_dim()); kcore.show_config()"
    r = subprocess.run([sys.executable, "-c", code], env={k: v for k, v in os.environ.items()
                                                          if k != "KCORE_BLAS_MIN_DIM"},
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout.splitlines()[0]) == _core.default_blas_min_dim()
    assert f"all over {_core.default_blas_min_dim()}, the default" in r.stdout
    env = dict(os.environ, KCORE_BLAS_MIN_DIM="512")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "512" and "all over 512, KCORE_BLAS_MIN_DIM" in r.stdout
    env["KCORE_BLAS_MIN_DIM"] = "-3"
    r = subprocess.run([sys.executable, "-c", "import kcore"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "KCORE_BLAS_MIN_DIM must be a whole number >= 0; got '-3'" in r.stderr


def test_the_blas_stays_single_threaded_when_threadpoolctl_raises_it(rng):
    # threadpoolctl's threadpool_limits sets every OpenBLAS in the process, kcore's too; each of
    # kcore's threads then started the library's own pool on the same cores (a 512^3 float32 dot
    # took 16 ms instead of 1.4 at two threads). A product sets it back to one thread.
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from kcore._runtime import _core

    if _core.blas_path() is None:
        pytest.skip("no BLAS loaded")
    min_dim = _core.blas_min_dim()
    _core.set_blas_min_dim(0)  # (this product on the BLAS whatever this CPU's rule)
    try:
        _single_threaded_blas_check(threadpoolctl, _core, rng)
    finally:
        _core.set_blas_min_dim(min_dim)


def _single_threaded_blas_check(threadpoolctl, _core, rng):
    x = rng.standard_normal((200, 150)).astype(np.float32)
    y = rng.standard_normal((150, 120)).astype(np.float32)
    path = os.path.realpath(_core.blas_path())

    def threads_of_ours():
        return [m["num_threads"] for m in threadpoolctl.threadpool_info() if m["filepath"] == path]

    assert threads_of_ours() == [1]
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        assert threads_of_ours() == [2]
        before = _core.blas_products()
        got = K.dot(x, y)
        assert _core.blas_products() == before + 1
        assert threads_of_ours() == [1]
    _check(got, x.astype(np.float64) @ y.astype(np.float64), np.float32,
           np.abs(x).astype(np.float64) @ np.abs(y).astype(np.float64))
