"""Broadcasting over short rows (few channels, channels_last): the engine merges them into long
runs and reads the broadcast operand as a repeating row (elementwise_plan.cpp). Results must be
NumPy's, at every phase where a thread's run starts, for every thread count."""
import numpy as np
import pytest

from kcore import backend as K
from kcore._kernels import ElementwiseKind as E
from kcore._runtime import _core

SHAPES = [((4, 5, 7, 3), (3,)), ((2, 9, 11, 1), (1,)), ((3, 6, 5, 7), (5, 7)), ((1, 300001, 3), (3,)),
          ((2, 40000, 5), (1, 5)), ((6, 2, 2), (2, 1)), ((5, 3, 2), (3, 2)), ((7, 2, 3, 4), (2, 1, 4))]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("xs,bs", SHAPES)
def test_binary_ops_with_short_broadcast_rows(xs, bs, dtype, rng, threads):
    x = rng.standard_normal(xs).astype(dtype)
    b = (rng.standard_normal(bs) + 2).astype(dtype)
    for kind, f in ((E.add, np.add), (E.subtract, np.subtract), (E.multiply, np.multiply), (E.divide, np.divide),
                    (E.maximum, np.maximum)):
        with np.errstate(all="ignore"):
            want, want_swapped = f(x, b), f(b, x)
        for n in (1, 3):
            threads.set_num_threads(n)
            got = _core.elementwise(kind, x, b)
            assert got.tobytes() == want.tobytes(), (kind, n)
            assert _core.elementwise(kind, b, x).tobytes() == want_swapped.tobytes(), (kind, n)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,bs", SHAPES)
def test_ternary_ops_with_short_broadcast_rows(xs, bs, dtype, rng):
    x = rng.standard_normal(xs).astype(dtype)
    scale = rng.uniform(0.5, 2, bs).astype(dtype)
    shift = rng.standard_normal(bs).astype(dtype)
    got = _core.elementwise3(E.multiply_add, x, scale, shift)
    assert got.tobytes() == ((x * scale) + shift).tobytes()
    lo, hi = -np.abs(shift), np.abs(scale)
    assert _core.elementwise3(E.clip, x, lo, hi).tobytes() == np.minimum(np.maximum(x, lo), hi).tobytes()


def test_the_preprocessing_pipeline_with_three_channels(rng):
    img = rng.integers(0, 256, (4, 31, 29, 3), dtype=np.uint8)
    x = K.cast(img, "float32")
    m, v = K.mean(x, axis=(0, 1, 2)), K.var(x, axis=(0, 1, 2))
    y = K.cast(K.permute_dimensions(K.batch_normalization(x, m, v, None, None, epsilon=0.0), (0, 3, 1, 2)), "float16")
    x64 = img.astype(np.float64)
    want = ((x64 - x64.mean((0, 1, 2))) / x64.std((0, 1, 2))).transpose(0, 3, 1, 2)
    assert y.dtype == np.float16 and y.shape == (4, 3, 31, 29)
    np.testing.assert_allclose(y.astype(np.float64), want, rtol=1e-3, atol=2e-3)


COMPARISONS = ("equal", "not_equal", "greater", "greater_equal", "less", "less_equal")


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_comparisons_are_native_and_numpys(dtype, rng, threads):
    special = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0], dtype)
    x = rng.choice(special, (37, 5, 3)) if dtype != np.float64 else rng.standard_normal((37, 5, 3)).round(1)
    x = x.astype(dtype)
    for name in COMPARISONS:
        f, ref = getattr(K, name), getattr(np, name)
        xt = x.transpose(2, 0, 1)
        for a, b in ((x, x[::-1]), (x, x[:, :1, :]), (x, special[:3]), (xt, xt[..., ::-1]),
                     (special[:, None], special[None, :]), (dtype(1.0), x)):
            want = ref(a, b)
            for n in (1, 2):
                threads.set_num_threads(n)
                got = f(a, b)
                assert np.asarray(got).dtype == np.bool_ and np.array_equal(got, want), (name, n)
        assert isinstance(f(special[0], special[1]), np.bool_)


# Long lines with one operand constant along them (a scalar, a broadcast column) or read backwards
# (a reversed view): laid out once per line, or read in reverse, in the engine's L1 buffer. The
# 2200-wide rows cross the buffer's 256 elements; 1100 x 2048 float32 results (9 MB) are streamed.
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("rows", [3, 1100])
def test_scalars_columns_and_reversed_lines(rows, dtype, rng, threads):
    x = rng.standard_normal((rows, 2200 if rows == 3 else 2048)).astype(dtype)
    others = {"scalar": np.asarray(dtype(1.75)), "column": (rng.standard_normal((rows, 1)) + 3).astype(dtype),
              "reversed": x[::-1, ::-1], "reversed column": x[:, ::-1][:, :1]}
    for what, b in others.items():
        for kind, f in ((E.multiply, np.multiply), (E.divide, np.divide), (E.subtract, np.subtract)):
            with np.errstate(all="ignore"):
                want, want_swapped = f(x, b), f(b, x)
            for n in (1, 2):
                threads.set_num_threads(n)
                assert _core.elementwise(kind, x, b).tobytes() == want.tobytes(), (what, kind, n)
                assert _core.elementwise(kind, b, x).tobytes() == want_swapped.tobytes(), (what, kind, n)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int32])
def test_reverse_and_slice_copy_views(dtype, rng):
    x = (rng.standard_normal((5, 300, 7)) * 100).astype(dtype)
    for axes in (0, 1, 2, -1, (0, 2), (0, 1, 2)):
        got = K.reverse(x, axes)
        assert got.flags.c_contiguous and got.dtype == dtype
        assert np.array_equal(got, np.flip(x, axes))
    got = K.slice(x[:, ::-1], (1, 3, 0), (3, 290, -1))
    assert got.flags.c_contiguous and np.array_equal(got, x[:, ::-1][1:4, 3:293, :])


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_switch_selects_branch_values_unchanged(dtype, rng, threads):
    # K.switch of tensors: the native select (the condition as 0/1 in the branches' dtype), bit for
    # bit NumPy's where, conditions of lower rank expanded at the end (Keras's rule), NaN in a
    # branch kept, float conditions true where nonzero or NaN.
    t = rng.standard_normal((40, 300, 3)).astype(dtype)
    e = rng.standard_normal((40, 300, 3)).astype(dtype)
    t[0, :5, 0] = [np.nan, np.inf, -np.inf, -0.0, 0.0]
    for cond in (rng.random((40, 300, 3)) > 0.5, rng.random((40, 300)) > 0.3, rng.random(40) > 0.5,
                 np.where(rng.random((40, 300, 3)) > 0.5, rng.choice([np.nan, np.inf, -1.0, 2.0], (40, 300, 3)),
                          rng.choice([0.0, -0.0], (40, 300, 3))).astype(dtype),
                 rng.integers(-2, 3, (40, 300, 1)).astype(np.int32)):
        c = cond.astype(bool)
        while c.ndim < t.ndim:
            c = c[..., None]
        want = np.where(c, t, e)
        for n in (1, 2):
            threads.set_num_threads(n)
            got = K.switch(cond, t, e)
            assert got.dtype == dtype and got.tobytes() == want.tobytes()
            assert K.switch(cond, t[::-1], e[:, ::2].repeat(2, axis=1)).tobytes() == \
                np.where(c, t[::-1], e[:, ::2].repeat(2, axis=1)).tobytes()
    assert K.switch(np.array([True, False]), np.int32([1, 2]), np.int32([3, 4])).tolist() == [1, 4]  # NumPy's where
    assert K.switch(np.array([True, False]), np.float32([1, 2]), np.float64([3, 4])).dtype == np.float64
    c = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-300], np.float64)
    assert _core.elementwise3(E.select, c, np.ones(6), np.zeros(6)).tolist() == [1, 1, 1, 0, 0, 1]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_python_numbers_convert_to_the_tensors_dtype_once(dtype, rng):
    # A Python number meets a float tensor as float(v) rounded to its dtype (the fast path where
    # v lies in range; scalar_as's checks beyond it); the oracle: NumPy on that 0-d array.
    x = rng.standard_normal(37).astype(dtype)
    top = float(np.finfo(dtype).max)
    numbers = [0.5, -0.0, 3, -7, 0.1, 1 / 3, top, -top, top * 1.5, 2**53 + 1, float("inf"), float("nan"), 10**20]
    for v in numbers:
        with np.errstate(all="ignore"):
            s = np.asarray(float(v), dtype)
            wants = (x * s, s - x, x + s, s / x)
        for got, want in zip((K._multiply(x, v), K._subtract(v, x), K._add(x, v), K._divide(v, x)), wants,
                             strict=True):
            assert got.dtype == dtype
            np.testing.assert_array_equal(got, want, err_msg=f"{v!r}")
