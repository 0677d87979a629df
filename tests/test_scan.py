"""cumsum and cumprod against float64 and long-double oracles."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kcore import backend as K
from limits import T
from reference import ACC_REL, assert_cumprod_close, assert_rounded_close, cumprod_oracles
from strategies import DTYPES, views

SCAN_ACC = {np.float16: np.float32, np.float32: np.float64, np.float64: np.float64}


@given(data=st.data(), dtype=DTYPES)
def test_cumsum_matches_oracle(data, dtype):
    x = data.draw(views(dtype, min_dims=1))
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    got = K.cumsum(x, axis=axis)
    assert got.dtype == dtype and got.shape == x.shape
    with np.errstate(over="ignore", invalid="ignore"):  # the oracle overflows too, and inf - inf is NaN
        exact = np.cumsum(x.astype(np.float64), axis=axis)
        spread = np.cumsum(np.abs(x.astype(np.float64)), axis=axis)
    assert_rounded_close(got, exact, dtype, spread, ACC_REL[dtype] * 64)


@given(data=st.data(), dtype=DTYPES)
def test_cumprod_matches_oracle(data, dtype):
    x = data.draw(views(dtype, min_dims=1, max_side=5))
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    got = K.cumprod(x, axis=axis)
    assert_cumprod_close(got, cumprod_oracles(x, axis), dtype)


_LONG = 2 * T["segment"] + 1808  # lines of several segments, the last one partial


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(_LONG,), (3, _LONG), (_LONG, 3), (64, 33, 70)])
def test_scans_long_axes_every_layout(dtype, shape, rng):
    x = (rng.standard_normal(shape) * 0.1 + 1).astype(dtype)
    for view in (x, x.T, x[..., ::-1], x[::2]):
        for axis in range(view.ndim):
            got = K.cumsum(view, axis)
            exact = np.cumsum(view.astype(np.float64), axis=axis)
            spread = np.cumsum(np.abs(view.astype(np.float64)), axis=axis)
            assert_rounded_close(got, exact, dtype, spread, ACC_REL[dtype] * 64)


def test_float16_cumsum_accumulates_in_float32():
    x = np.full(5000, 0.1, np.float16)
    got = K.cumsum(x)
    assert got[-1] == np.float16(np.float64(np.float16(0.1)) * 5000)  # NumPy saturates at 256
    assert K.cumsum(x.reshape(50, 100), axis=0)[-1, 0] == np.float16(np.float64(np.float16(0.1)) * 50)


@pytest.mark.parametrize("shape", [(37, 1000), (5, 17, 333), (64, 4096)])
def test_float16_cumsum_is_the_float32_running_sum_rounded_once(shape, rng):
    # Lines of up to one segment are summed in order in float32 (the vectorised path transposes
    # blocks of lines, and must keep exactly these additions), each output rounded once.
    x = (rng.standard_normal(shape) * 50).astype(np.float16)
    x.flat[7] = np.inf
    expected = np.cumsum(x.astype(np.float32), axis=-1).astype(np.float16)
    np.testing.assert_array_equal(K.cumsum(x, axis=-1).view(np.uint16), expected.view(np.uint16))
    np.testing.assert_array_equal(K.cumsum(np.moveaxis(x, -1, 0), axis=0), np.moveaxis(expected, -1, 0))


def test_default_axis_is_zero_and_dtype_kept():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(K.cumsum(x), [[0, 1, 2], [3, 5, 7]])
    np.testing.assert_array_equal(K.cumprod(x, axis=1), [[0, 0, 0], [3, 12, 60]])
    assert K.cumsum(np.array([1, 2, 3], np.int32)).dtype == np.int32
    np.testing.assert_array_equal(K.cumprod(np.array([[1, 2], [3, 4]], np.int64), axis=-1), [[1, 2], [3, 12]])


def test_nan_and_empty():
    x = np.array([1.0, np.nan, 2.0], np.float32)
    got = K.cumsum(x)
    assert got[0] == 1 and np.isnan(got[1:]).all()
    assert K.cumsum(np.zeros((0, 3), np.float32), axis=0).shape == (0, 3)
    assert K.cumprod(np.zeros((2, 0), np.float64), axis=1).shape == (2, 0)


def test_scan_errors():
    with pytest.raises(ValueError, match="cumsum: needs an array of rank >= 1"):
        K.cumsum(np.float32(1))
    with pytest.raises(ValueError, match="cumprod: axis 2 is out of bounds"):
        K.cumprod(np.ones((2, 2)), axis=2)
    with pytest.raises(ValueError, match="cumsum: axis must be an int"):
        K.cumsum(np.ones(3), axis=None)
    with pytest.raises(TypeError, match="cumsum: axis must be a single int"):
        K.cumsum(np.ones((2, 2)), axis=(0, 1))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_scans_thread_invariant(dtype, threads, rng):
    x = rng.standard_normal((3, 70 * T["segment"] + 13)).astype(dtype)
    y = rng.standard_normal((1024, 1024)).astype(dtype)
    out = {}
    for n in (1, 2, 3):
        threads.set_num_threads(n)
        out[n] = [K.cumsum(x, 1).tobytes(), K.cumsum(y, 0).tobytes(), K.cumprod(y.T, 0).tobytes(),
                  K.cumsum(x[0]).tobytes()]
    assert out[1] == out[2] == out[3]


# Rows of 1031 items start at many offsets within a line; the first shapes stream even in float16,
# the last is written without streaming even in float64.
_STREAMED = T["stream_bytes"] // (2 * 1031) + 50
_SMALL = (T["stream_bytes"] // (8 * 2000) - 2, 2000)


@pytest.mark.parametrize("dtype,acc", [(np.float16, np.float32), (np.float32, np.float64), (np.float64, np.float64)])
@pytest.mark.parametrize("shape", [(_STREAMED, 1031), (1031, _STREAMED), (2, 600, 700), _SMALL])
def test_large_scans_stream_exactly(shape, dtype, acc, rng):
    # Large results are streamed out of L1 buffers, a piece behind, in chunks that end on
    # destination lines: every element must still be the running sum in the accumulator type,
    # rounded once.
    x = rng.standard_normal(shape).astype(dtype)
    for axis in range(len(shape)):
        expected = np.cumsum(x.astype(acc), axis=axis).astype(dtype)
        np.testing.assert_array_equal(K.cumsum(x, axis=axis), expected)
        y = (1 + x.astype(acc) * 1e-3).astype(dtype)  # products that stay near 1
        expected = np.cumprod(y.astype(acc), axis=axis).astype(dtype)
        np.testing.assert_array_equal(K.cumprod(y, axis=axis), expected)


def _underflowing_products(rng, shape, dtype):
    # Factors that drive running products through the subnormal range of double (and of the
    # output type), with values that later grow again, zeros, infs, NaN, negatives.
    x = rng.uniform(0.05, 1.2, shape) * rng.choice([-1.0, 1.0], shape)
    if dtype == np.float64:
        x *= rng.choice([1.0, 1e-30, 1e-200, 1e150], shape, p=[0.7, 0.1, 0.1, 0.1])
    else:
        x *= rng.choice([1.0, 1e-10, 1e-30, 1e20], shape, p=[0.7, 0.1, 0.1, 0.1])
    flat = x.reshape(-1)
    flat[rng.integers(0, flat.size, 8)] = 0.0
    flat[rng.integers(0, flat.size, 4)] = np.inf
    flat[rng.integers(0, flat.size, 2)] = np.nan
    with np.errstate(over="ignore"):  # float16: 1e20 factors become inf
        return x.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("shape,axis", [((64, 3000), -1), ((3000, 64), 0), ((7, 500, 9), 1), ((2000, 1031), 0)])
def test_cumprod_through_subnormals_is_exact(dtype, shape, axis):
    # Products accumulate in the scan's accumulator (float32 for float16, else float64), one
    # rounding per step as the hardware does, also where the running value is subnormal (computed
    # there without the hardware's slow path): bit for bit NumPy's sequential cumprod in that
    # type, rounded once to the dtype.
    rng = np.random.default_rng(sum(shape))
    x = _underflowing_products(rng, shape, dtype)
    with np.errstate(all="ignore"):
        expected = np.cumprod(x.astype(SCAN_ACC[dtype]), axis=axis).astype(dtype)
    got = K.cumprod(x, axis=axis)
    both_nan = np.isnan(got) & np.isnan(expected)
    np.testing.assert_array_equal(np.where(both_nan, 0, got), np.where(both_nan, 0, expected))
    tiny = (np.abs(expected) > 0) & (np.abs(expected) < np.finfo(dtype).tiny)
    assert tiny.any() or dtype == np.float16  # the case really reaches the subnormal outputs


@pytest.mark.parametrize("axis", [0, -1])
def test_cumprod_steps_below_the_normal_range_round_as_the_hardware(axis):
    # One step from a running value below 2^-1008 (normal or subnormal) to products all over the
    # subnormal range, with factors of few bits so that thousands land exactly half way between
    # two subnormals: the exact path must round every one as the hardware multiply does.
    rng = np.random.default_rng(5)
    n = 1 << 18
    a = np.ldexp(rng.uniform(1, 2, n), rng.integers(-1074, -1009, n)) * rng.choice([-1, 1], n)
    x = np.ldexp(rng.uniform(1, 2, n), rng.integers(-60, 60, n)) * rng.choice([-1, 1], n)
    few_bits = rng.random(n) < 0.4
    x[few_bits] = np.ldexp(rng.integers(1, 16, few_bits.sum()).astype(float), rng.integers(-40, 20, few_bits.sum()))
    x[:4] = [0.0, -0.0, np.inf, np.nan]
    with np.errstate(all="ignore"):
        expected = a * x
        pairs = np.stack([a, x], axis=0 if axis == 0 else 1)
        got = K.cumprod(pairs, axis=axis)
    got = got[1] if axis == 0 else got[:, 1]
    assert ((np.abs(expected) < np.finfo(np.float64).tiny) & (expected != 0)).sum() > n // 4
    np.testing.assert_array_equal(got.view(np.int64)[3:], expected.view(np.int64)[3:])
    assert np.isnan(got[3])


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("axis", [0, -1])
def test_cumprod_random_walks_are_numpys_float64_products(dtype, axis):
    # N(1, 1) factors: running products drift down through the whole subnormal range of the
    # accumulator over a few thousand steps. 27 lines take every grouping of lines the kernel has.
    rng = np.random.default_rng(9)
    x = (rng.standard_normal((27, 4096)) + 1).astype(dtype)
    if axis == 0:
        x = np.ascontiguousarray(x.T)
    acc = SCAN_ACC[dtype]
    with np.errstate(all="ignore"):
        expected = np.cumprod(x.astype(acc), axis=axis)
    assert ((expected != 0) & (np.abs(expected) < np.finfo(acc).tiny)).any()
    np.testing.assert_array_equal(K.cumprod(x, axis=axis), expected.astype(dtype))


@pytest.mark.parametrize("axis", [0, -1])
def test_float16_cumprod_is_the_float32_running_product_rounded_once(axis, rng):
    x = rng.uniform(0.98, 1.02, (37, 3000)).astype(np.float16)
    if axis == 0:
        x = np.ascontiguousarray(x.T)
    expected = np.cumprod(x.astype(np.float32), axis=axis).astype(np.float16)
    assert (expected != np.cumprod(x.astype(np.float64), axis=axis).astype(np.float16)).any()
    np.testing.assert_array_equal(K.cumprod(x, axis=axis), expected)


@pytest.mark.parametrize("axis", [0, -1])
def test_float16_cumprod_through_float32_subnormals_and_back(axis):
    # Lines that fall deep into float32's subnormal range, wander there (rounding to its coarse
    # grid, with ties), then climb back with large factors, so that every rounding made down
    # there shows in the float16 outputs at the end.
    rng = np.random.default_rng(3)
    lines = 67
    down = np.ldexp(rng.uniform(1, 2, (lines, 12)), rng.integers(-13, -9, (lines, 12)))
    wander = rng.uniform(0.6, 1.6, (lines, 40))
    up = np.ldexp(rng.uniform(1, 2, (lines, 9)), rng.integers(13, 15, (lines, 9)))
    calm = rng.uniform(0.9, 1.1, (lines, 20))
    x = np.concatenate([down, wander, up, calm], axis=1).astype(np.float16)
    with np.errstate(all="ignore"):
        running = np.cumprod(x.astype(np.float32), axis=1)
    assert ((running != 0) & (np.abs(running) < np.finfo(np.float32).tiny)).sum() > lines * 20
    assert (running[:, -1] > np.finfo(np.float16).tiny).mean() > 0.5  # the climb is visible
    expected = running.astype(np.float16)
    if axis == 0:
        x, expected = np.ascontiguousarray(x.T), expected.T
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(K.cumprod(x, axis=axis), expected)


# Per dtype: a factor that takes the running value (in the accumulator) below the normal range in
# 9-12 steps without reaching zero, and one so large that a block run scaled up there overflows
# (float32: none is, in the 8 steps of a block; inf does it).
_PLUNGE = {np.float16: (2.0**-12, 60000.0), np.float32: (2.0**-95, 2.0**127), np.float64: (2.0**-95, 2.0**600)}


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("axis", [0, -1])
def test_cumprod_climbs_out_of_the_subnormal_range_within_a_block(dtype, axis):
    # Running values that plunge below the normal range and then meet huge factors (or inf, NaN
    # or zero) within the few steps the kernel runs scaled up in one go: where the scaled values
    # would overflow it redoes the block step by step. Bit for bit the sequential product in the
    # accumulator, rounded once; the plunge starts at a different place on every line, so every
    # position in a block and every group of lines sees it.
    rng = np.random.default_rng(21)
    lines, n = 53, 301
    down, up = _PLUNGE[dtype]
    x = rng.uniform(0.9, 1.1, (lines, n))
    for line in range(lines):
        at = rng.integers(0, 120)
        depth = rng.integers(9, 13) if dtype == np.float16 else rng.integers(10, 12)
        x[line, at:at + depth] = down * rng.uniform(1, 1.5, depth)
        x[line, at + depth:at + depth + 20] = rng.uniform(0.5, 1.5, 20)  # wander down there
        x[line, at + depth + 20:at + depth + 60] = up * rng.uniform(0.5, 1, 40)
        if line % 5 == 0:
            x[line, at + depth + 20 + line % 7] = [np.inf, np.nan, 0.0, -np.inf, np.inf, -0.0, np.nan][line % 7]
    with np.errstate(all="ignore"):
        x = x.astype(dtype)
        expected = np.cumprod(x.astype(SCAN_ACC[dtype]), axis=1).astype(dtype)
    if axis == 0:
        x, expected = np.ascontiguousarray(x.T), expected.T
    with np.errstate(all="ignore"):
        got = K.cumprod(x, axis=axis)
    both_nan = np.isnan(got) & np.isnan(expected)
    np.testing.assert_array_equal(np.where(both_nan, 0, got), np.where(both_nan, 0, expected))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_lines_of_every_short_length_are_sequential_scans(dtype, rng):
    # Short lines are scanned one at a time, longer ones in register blocks with a column tail:
    # at every length both give the sequential scan in the accumulator, rounded once.
    acc = SCAN_ACC[dtype]
    short = T["short_line"]
    for n in sorted({1, 2, 7, 8, 9, 15, 16, 17, short - 1, short, short + 1, short + 8, short + 15}):
        x = (rng.standard_normal((37, n)) * 0.3 + 1).astype(dtype)
        for view in (x, x[::-1]):
            np.testing.assert_array_equal(K.cumsum(view, axis=-1), np.cumsum(view.astype(acc), axis=-1).astype(dtype))
            np.testing.assert_array_equal(K.cumprod(view, axis=-1), np.cumprod(view.astype(acc), axis=-1).astype(dtype))
