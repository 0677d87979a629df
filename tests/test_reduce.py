"""Reductions against the float64 oracle: values, dtypes, shapes, NaN/empty rules, errors."""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from kcore import backend as K
from limits import T
from reference import (
    acc_rel,
    argreduce_exact,
    assert_prod_close,
    assert_rounded_close,
    reduce_exact,
    reduce_spread,
)
from strategies import DTYPES, axis_args, views

VALUE_OPS = ["sum", "prod", "mean", "max", "min", "var", "std"]

@given(data=st.data(), dtype=DTYPES, name=st.sampled_from(VALUE_OPS), keepdims=st.booleans())
def test_value_reductions_match_oracle(data, dtype, name, keepdims):
    x = data.draw(views(dtype, max_side=5 if name == "prod" else 6))
    axis = data.draw(axis_args(x.ndim))
    got = getattr(K, name)(x, axis=axis, keepdims=keepdims)
    exact = reduce_exact(name, x, axis, keepdims)
    assert np.asarray(got).dtype == dtype
    assert np.shape(got) == np.shape(exact)
    if name in ("max", "min"):
        np.testing.assert_array_equal(got, exact.astype(dtype))
    elif name == "prod":
        assert_prod_close(got, exact, x, axis, keepdims)
    else:
        through = x.size // max(np.size(exact), 1) if name == "mean" else 1  # (a mean divides a sum)
        assert_rounded_close(got, exact, dtype, reduce_spread(name, x, axis, keepdims), acc_rel(name, dtype), through)


@given(data=st.data(), dtype=DTYPES, name=st.sampled_from(["any", "all"]), keepdims=st.booleans())
def test_any_all(data, dtype, name, keepdims):
    x = data.draw(views(dtype))
    axis = data.draw(axis_args(x.ndim))
    got = getattr(K, name)(x, axis=axis, keepdims=keepdims)
    exact = reduce_exact(name, x, axis, keepdims)
    assert np.asarray(got).dtype == np.bool_
    np.testing.assert_array_equal(got, exact)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_any_all_rows_of_every_length_and_position(dtype):
    # Rows of each length up to a few blocks, with the one element that decides the row at each
    # position in turn: it lands in a whole block, a whole vector after the blocks, or the tail.
    for n in list(range(1, 70)) + [127, 128, 129, 255, 256, 257, 300]:
        only_true = np.zeros((n, n), dtype)
        np.fill_diagonal(only_true, -0.0)  # still false
        only_true[np.arange(n), np.arange(n)[::-1]] = np.nan  # true
        only_false = np.full((n, n), 2.0, dtype)
        only_false[np.arange(n), np.arange(n)] = -0.0
        assert K.any(only_true, axis=1).all(), n
        assert not K.all(only_false, axis=1).any(), n
        assert not K.any(np.zeros((n, n), dtype), axis=1).any(), n
        assert K.all(np.full((n, n), -1.0, dtype), axis=1).all(), n


@given(data=st.data(), dtype=DTYPES, name=st.sampled_from(["argmax", "argmin"]))
def test_arg_reductions(data, dtype, name):
    x = data.draw(views(dtype, min_dims=1, allow_special=True))
    assume(0 not in x.shape)  # an empty axis raises (test_empty_axis_gives_identity)
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    got = getattr(K, name)(x, axis=axis)
    assert np.asarray(got).dtype == np.int64
    np.testing.assert_array_equal(got, argreduce_exact(name, x, axis))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1000,), (3, 5000), (5000, 3), (64, 33, 70), (2, 3, 4, 5, 6)])
def test_larger_shapes_every_axis(dtype, shape, rng):
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    axes = [None, *range(-len(shape), len(shape))]
    if len(shape) >= 3:
        axes += [(0, 2), (-1, 0)]
    for view in (x, x.T, x[..., ::-1]):
        for axis in axes:
            for name in VALUE_OPS:
                got = getattr(K, name)(view, axis=axis)
                exact = reduce_exact(name, view, axis)
                if name in ("max", "min"):
                    np.testing.assert_array_equal(got, exact.astype(dtype))
                elif name == "prod":
                    continue  # products of thousands of normals over/underflow; covered above
                else:
                    assert_rounded_close(got, exact, dtype, reduce_spread(name, view, axis, False),
                                         acc_rel(name, dtype) * 8)
            if axis is not None and not isinstance(axis, tuple):
                for name in ("argmax", "argmin"):
                    np.testing.assert_array_equal(getattr(K, name)(view, axis=axis),
                                                  argreduce_exact(name, view, axis))


# Tall column reductions (at least 2 * split_rows rows, split_bytes in all) are folded in chunks of
# split_rows rows: several chunks and a partial one, of float16 rows that just pass split_bytes.
_ROWS = 4 * T["split_rows"] + 76
_COLS = -(-T["split_bytes"] // (2 * _ROWS)) + 44


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("shape,axis,step", [((_ROWS, _COLS), 0, 1), ((_ROWS, 2 * _COLS), 0, 2),
                                             ((2, _ROWS + 200, 200), 1, 1)])
def test_tall_column_reductions_split_by_rows(dtype, shape, axis, step, rng):
    # Chunks of rows whose partial states are combined in row order: every op must still give
    # the oracle's answer, NaN included.
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    view = x[..., ::step]
    rows = np.moveaxis(view, axis, 0)
    rows[700, ..., 3] = np.nan  # a NaN in a late chunk of one column
    rows[600:, ..., 5] = 0.0    # a column whose last chunks are all zero
    for name in VALUE_OPS:
        got = getattr(K, name)(view, axis=axis)
        exact = reduce_exact(name, view, axis)
        if name in ("max", "min"):
            np.testing.assert_array_equal(got, exact.astype(dtype))
        elif name != "prod":
            assert_rounded_close(got, exact, dtype, reduce_spread(name, view, axis, False), acc_rel(name, dtype) * 8)
        assert np.isnan(np.asarray(got)[..., 3]).all(), name
    for name in ("argmax", "argmin"):
        np.testing.assert_array_equal(getattr(K, name)(view, axis=axis), argreduce_exact(name, view, axis))
    np.testing.assert_array_equal(K.all(view, axis=axis), np.all(view, axis=axis))
    np.testing.assert_array_equal(K.any(view == 0, axis=axis), np.any(view == 0, axis=axis))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("shape,axis", [((40, 500, 30), (0, 2)), ((2, 100, T["leaf"] + 108), -1),
                                        ((2, 100, T["leaf"] + 108), (0, 2))])
def test_outputs_of_several_leaves(dtype, shape, axis, rng, threads):
    # Outputs that combine several leaves (runs of the innermost reduced axis, or pieces of a
    # long one), hundreds of them: computed leaf by leaf across blocks of outputs, each output's
    # leaves then combined in its fixed order. Oracle results, strided leaves too, and the same
    # bits at every thread count.
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    x[1, 7, 3] = np.nan
    for view in (x, x[:, ::-1, ::3]):
        got = {}
        for n in (1, 2, 3):
            threads.set_num_threads(n)
            got[n] = {name: getattr(K, name)(view, axis=axis) for name in VALUE_OPS}
            if not isinstance(axis, tuple):
                got[n].update({name: getattr(K, name)(view, axis=axis) for name in ("argmax", "argmin")})
            for name, value in got[n].items():
                assert np.asarray(value).tobytes() == np.asarray(got[1][name]).tobytes(), (n, name)
        for name in VALUE_OPS:
            exact = reduce_exact(name, view, axis)
            if name in ("max", "min"):
                np.testing.assert_array_equal(got[1][name], exact.astype(dtype))
            elif name != "prod":
                assert_rounded_close(got[1][name], exact, dtype, reduce_spread(name, view, axis, False),
                                     acc_rel(name, dtype) * 8)
        if not isinstance(axis, tuple):
            for name in ("argmax", "argmin"):
                np.testing.assert_array_equal(got[1][name], argreduce_exact(name, view, axis))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_large_products_match_the_oracle(dtype, rng, threads):
    # Products of thousands of factors near 1 stay far from float64's overflow and underflow, so
    # the float64 oracle applies: long rows of several leaves, tall columns split in row chunks,
    # transposed and reversed views, and the same bits at every thread count.
    rows, cols = 2 * T["split_rows"] + 300, T["leaf"] + 500
    x = (1 + rng.standard_normal((rows, cols)) * (2e-3 if dtype == np.float16 else 1e-3)).astype(dtype)
    # Accumulated in the reduction's type (float16's in float64), one rounding error per factor.
    rel = {np.float16: 2.0**-40, np.float32: 2.0**-40, np.float64: 2.0**-50}[dtype]
    for view in (x, x.T, x[::-1, ::3]):
        for axis in (None, 0, 1, -1):
            got = {}
            for n in (1, 2, 3):
                threads.set_num_threads(n)
                got[n] = np.asarray(K.prod(view, axis=axis))
            assert got[1].tobytes() == got[2].tobytes() == got[3].tobytes(), axis
            exact = reduce_exact("prod", view, axis)
            count = view.size if axis is None else view.shape[axis]
            assert np.all(np.isfinite(exact)) and np.all(exact > np.finfo(np.float64).tiny)
            assert_rounded_close(got[1], exact, dtype, np.abs(exact), rel * count)


def test_float16_sums_accumulate_in_float32():
    x = np.full(10000, 0.1, np.float16)
    assert K.sum(x) == np.float16(0.1 * 10000)
    assert K.sum(x.reshape(100, 100), axis=0)[0] == np.float16(0.1 * 100)  # NumPy: 10.08
    assert K.mean(x.reshape(100, 100).T, axis=1)[0] == np.float16(0.1)
    assert np.isinf(K.sum(np.full(4, 60000, np.float16)))  # overflow rounds to inf once


@pytest.mark.parametrize("dtype, wide", [(np.float16, np.float32), (np.float32, np.float64), (np.float64, np.float64)])
@pytest.mark.parametrize("shape, axis", [((1000,), None), ((37, 300), 0), ((300, 37), 1), ((5, 6, 7), (0, 2))])
def test_wide_sums_give_the_accumulator(dtype, wide, shape, axis, rng):
    # kcore.dask merges blocks' sums: they must come unrounded (a float32 block's sum may pass
    # float32's range where the whole mean does not) and round to kcore's own sum.
    from kcore._runtime import _core
    x = (rng.standard_normal(shape) * 100).astype(dtype)
    got = np.asarray(_core.reduce(_core.ReduceKind.sum, x, axis, True, True))
    assert got.dtype == wide
    np.testing.assert_array_equal(got.astype(dtype), K.sum(x, axis=axis, keepdims=True))
    exact = np.sum(x.astype(np.float64), axis=axis, keepdims=True)
    assert np.all(np.abs(got - exact) <= 1e-6 * np.sum(np.abs(x.astype(np.float64)), axis=axis, keepdims=True))
    big = np.full(300, np.finfo(np.float32).max / 100, np.float32)
    assert np.isinf(K.sum(big))
    assert _core.reduce(_core.ReduceKind.sum, big, None, False, True) == 300 * np.float64(big[0])
    with pytest.raises(ValueError, match="sum only"):
        _core.reduce(_core.ReduceKind.mean, x, axis, True, True)


@pytest.mark.parametrize("axis", [None, 0])
def test_float32_sum_at_least_as_accurate_as_pairwise(axis, rng):
    x = rng.uniform(0, 1, (1 << 20, 1) if axis == 0 else 1 << 20).astype(np.float32)
    exact = np.sum(x.astype(np.float64), axis=axis)
    ours = np.abs(K.sum(x, axis=axis).astype(np.float64) - exact)
    numpy_pairwise = np.abs(np.sum(x.reshape(-1)).astype(np.float64) - exact)
    assert np.all(ours <= numpy_pairwise + 0.5 * np.spacing(np.float32(exact)))


@pytest.mark.parametrize("shape, axis", [((1 << 20,), None), ((16, 3 * 8192 + 100), -1), ((3 * 8192 + 100, 16), 0)])
def test_float32_sum_error_grows_like_pairwise_not_with_n(shape, axis):
    # Runs of ones, then a long stretch of 2**-24 (half an ulp of 1): a float32 accumulator that
    # keeps absorbing terms after the ones drops every small term; pairwise summation's bound
    # (log2(n) roundings of at most u * sum|x| each) does not allow that.
    n = shape[0 if axis in (None, 0) else 1]
    pos = np.arange(n) % 8192
    line = np.where(pos < 64, np.float32(1), np.float32(2.0**-24))
    x = np.ascontiguousarray(np.broadcast_to(line[:, None] if axis == 0 else line, shape))
    exact = np.sum(x.astype(np.float64), axis=axis)
    err = np.abs(K.sum(x, axis=axis).astype(np.float64) - exact)
    assert np.all(err <= np.ceil(np.log2(n)) * 2.0**-24 * exact)


@pytest.mark.parametrize("n", [34, 64, 100, 512, 513, 1000])
def test_short_float32_sums_keep_float64_range(n):
    # A leaf of one run is added in float32 to the end; where that overflows (partial sums past
    # float32's range that cancel: lanes 0 and 32 meet first, then lanes 0 and 1), it is redone
    # with float64 totals, as longer leaves are.
    from kcore._runtime import _core
    big = np.float32(0.75) * np.finfo(np.float32).max
    x = np.zeros((3, n), np.float32)
    x[0, [0, 32]] = x[2, [0, 32]] = big
    x[0, [1, 33]] = x[2, [1, 33]] = -big
    x[1] = 1.0
    want = np.array([0.0, n, 0.0])
    np.testing.assert_array_equal(K.sum(x, axis=1), want)
    np.testing.assert_array_equal(K.mean(x, axis=1), (want / n).astype(np.float32))
    np.testing.assert_array_equal(_core.reduce(_core.ReduceKind.sum, x, 1, False, True), want)


@pytest.mark.parametrize("first", [0, 9, 17])
@pytest.mark.parametrize("width", [2, 3, 16, 37, 2048 + 5])
def test_float32_column_sums_keep_float64_range(width, first):
    # Down columns, runs of rows are added in float32 first; a run that overflows (big + big,
    # then -big - big) is added again in float64, lane by lane: its neighbours keep their bits.
    big = np.float32(0.75) * np.finfo(np.float32).max
    rng = np.random.default_rng(width)
    x = rng.standard_normal((21, width)).astype(np.float32)
    cols = np.arange(0, width, 2)
    x[:, cols] = 0
    x[np.ix_([first, first + 1], cols)] = big
    x[np.ix_([first + 2, first + 3], cols)] = -big
    got = K.sum(x, axis=0)
    np.testing.assert_array_equal(got[cols], 0)
    plain = np.delete(np.arange(width), cols)
    calm = x.copy()
    calm[:, cols] = 0
    np.testing.assert_array_equal(got[plain], K.sum(calm, axis=0)[plain])
    x[7, 0] = np.inf
    x[9, 1] = np.nan  # (column 1 is a plain one)
    got = K.sum(x, axis=0)
    assert got[0] == np.inf and np.isnan(got[1])


def test_float32_row_sums_keep_float64_range():
    # Along a row, a lane's run that overflows float32 (big at 0 and 64, -big at 128 and 192:
    # lane 0's run) is added again in float64.
    big = np.float32(0.75) * np.finfo(np.float32).max
    x = np.ones(1000, np.float32)
    x[[0, 64]] = big
    x[[128, 192]] = -big
    assert K.sum(x) == 996.0
    assert K.sum(x.reshape(1000, 1), axis=0)[0] == 996.0
    assert K.sum(np.tile(x, (2, 1)), axis=1).tolist() == [996.0, 996.0]


@pytest.mark.parametrize("n", [2, 5, 8, 16, 32, 100])
def test_short_float32_columns_err_like_pairwise(n):
    # One 1 and n - 1 halves of its ulp down a column: a run added one row after another rounds
    # the 1 (and what it absorbed) once per row; a pairwise tree at most ceil(log2 n) times.
    x = np.full((n, 2), 2.0**-24, np.float32)
    x[0] = 1.0
    exact = np.sum(x.astype(np.float64), axis=0)
    err = np.abs(K.sum(x, axis=0).astype(np.float64) - exact)
    assert np.all(err <= np.ceil(np.log2(n)) * 2.0**-24 * exact)


def test_very_short_float32_rows_reduced_together_keep_float64_range():
    # Rows of at most one vector are summed 16 (8) at a time; lanes 0 and 2 meet first, past
    # float32's range, and such a row is redone with float64 totals.
    big = np.float32(0.75) * np.finfo(np.float32).max
    x = np.tile(np.array([big, -big, big, -big], np.float32), (20, 1))
    x[5] = 1.0
    want = np.zeros(20)
    want[5] = 4.0
    np.testing.assert_array_equal(K.sum(x, axis=1), want)
    np.testing.assert_array_equal(K.sum(x[:, :3], axis=1)[:2], [big, big])


def test_short_float32_rows_of_two_blocks_reduced_together_keep_float64_range():
    # Rows of 65-127 are summed 16 at a time in float32; a row whose lanes meet past float32's
    # range is redone with float64 totals, as when it is summed alone (the ones added to a big
    # lane in float32 are lost: within the float32 bound, 2**-24 per term of sum|x|).
    big = np.float32(0.75) * np.finfo(np.float32).max
    x = np.ones((40, 100), np.float32)
    x[7, [0, 32, 16, 48]] = [big, big, -big, -big]  # (lanes 0 and 32 meet first, then 16 and 48)
    rows = K.sum(x, axis=1)
    np.testing.assert_array_equal(np.delete(rows, 7), 100.0)
    assert rows[7] == K.sum(x[7]) and abs(float(rows[7]) - 96.0) <= 4


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("op", ["sum", "mean", "prod", "max", "min", "var"])
def test_a_row_gives_the_same_bits_by_every_path(dtype, op, rng):
    # One leaf definition (a tail is a partial block) whichever way the engine reaches a row:
    # one row of many contiguous ones (rows of one block, or of two ending in a partial one,
    # reduced 8 or 16 at a time; the rest one by one), a row alone, a strided row gathered first.
    f = getattr(K, op)
    for n in (1, 2, 5, 7, 8, 9, 16, 17, 33, 40, 63, 64, 65, 100, 127, 128, 129, 511, 512, 513, 1000, 8193):
        x = (rng.standard_normal((37, n)) * 0.05 + 1).astype(dtype)
        x[2, n // 2] = -0.0 if op != "prod" else x[2, n // 2]
        x[3, 0] = np.nan
        spaced = np.zeros((37, 2 * n), dtype)
        spaced[:, ::2] = x
        rows = np.asarray(f(x, axis=1))
        np.testing.assert_array_equal(rows, [f(x[i]) for i in range(37)], err_msg=f"n={n}")
        np.testing.assert_array_equal(rows, f(spaced[:, ::2], axis=1), err_msg=f"n={n}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_var_with_a_large_mean(dtype):
    x = (np.array([4, 7, 13, 16], np.float64) + 1e9 if dtype == np.float64 else
         np.array([4, 7, 13, 16], np.float64) + 1e4).astype(dtype)
    assert K.var(x) == pytest.approx(22.5, rel=1e-6)
    assert K.std(np.tile(x, (3, 1)), axis=1)[2] == pytest.approx(np.sqrt(22.5), rel=1e-6)
    assert K.var(np.tile(x, (3, 1)).T, axis=0)[1] == pytest.approx(22.5, rel=1e-6)


@pytest.mark.parametrize("n", [2, 3, 5, 17, 1000, 5000])
def test_var_of_values_whose_sum_overflows(n):
    # The float64 total passes the largest double; the mean must not (NaN from inf - inf), and
    # neither may a variance along rows or down columns. Only NaN or inf in the data give NaN.
    # The spread itself, (0.2 * max)^2, is past the largest double: the variance is +inf.
    x = np.full(n, 0.6 * np.finfo(np.float64).max)
    x[::2] = np.finfo(np.float64).max
    for got in (K.var(x), K.std(x), K.var(np.tile(x, (3, 1)), axis=1)[1], K.var(np.tile(x, (3, 1)).T, axis=0)[2]):
        assert got == np.inf, got
    with np.errstate(all="ignore"):
        assert np.isnan(K.var(np.append(x, np.inf))) == np.isnan(np.var(np.append(x, np.inf)))
    assert np.isnan(K.var(np.append(x, np.nan)))


def test_nan_rules():
    x = np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, np.nan], [-np.inf, np.nan, -np.inf]], np.float32)
    for name in ("sum", "prod", "mean", "max", "min", "var", "std"):
        assert np.isnan(getattr(K, name)(x, axis=1)).all(), name
    np.testing.assert_array_equal(K.argmax(x, axis=1), [2, 0, 0])
    np.testing.assert_array_equal(K.argmin(x, axis=1), [0, 0, 0])
    np.testing.assert_array_equal(K.argmax(x.T, axis=0), [2, 0, 0])
    assert K.any(np.array([0.0, np.nan])) and not K.all(np.array([0.0, np.nan]))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_empty_axis_gives_identity(dtype):
    x = np.zeros((2, 0), dtype)
    assert K.sum(x, axis=1).tolist() == [0, 0]
    assert K.prod(x, axis=1).tolist() == [1, 1]
    assert K.max(x, axis=1).tolist() == [-np.inf] * 2
    assert K.min(x, axis=1).tolist() == [np.inf] * 2
    assert np.isnan(K.mean(x, axis=1)).all() and np.isnan(K.var(x)) and np.isnan(K.std(x))
    assert K.sum(x, axis=0).shape == (0,)
    assert K.sum(x, axis=1, keepdims=True).shape == (2, 1)
    assert not K.any(x) and K.all(x)
    with pytest.raises(ValueError, match="argmax: cannot take the argmax of an empty axis"):
        K.argmax(x, axis=1)


def test_scalars_lists_and_zero_d():
    assert K.sum(3.0) == 3.0 and np.asarray(K.sum(3.0)).dtype == np.float32
    assert K.sum([[1.0, 2.0], [3.0, 4.0]], axis=0).tolist() == [4.0, 6.0]
    assert isinstance(K.sum(np.ones(3)), np.generic)
    assert K.max(np.float64(2.5), axis=()) == 2.5
    assert K.argmax([1, 5, 2]) == 1


def test_keepdims_and_axis_forms():
    x = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    assert K.sum(x, axis=[0, -1], keepdims=True).shape == (1, 3, 1)
    assert K.sum(x, axis=(2, 0)).tolist() == np.sum(x, axis=(2, 0)).tolist()
    assert K.sum(x, axis=np.int64(1)).shape == (2, 4)
    assert K.sum(x, axis=(), keepdims=False).shape == (2, 3, 4)
    assert K.mean(x, axis=None, keepdims=True).shape == (1, 1, 1)
    # A 1-D integer array of axes, as tf.reduce_* takes a tensor of them.
    assert K.sum(x, axis=np.array([0, -1])).tolist() == np.sum(x, axis=(0, 2)).tolist()
    assert K.var(x, axis=np.array([1]), keepdims=True).shape == (2, 1, 4)
    with pytest.raises(TypeError, match="sum: axis must be an int, a list/tuple of ints or None, got ndarray"):
        K.sum(x, axis=np.array([0.0]))  # (integer arrays only, as TensorFlow's axis tensors)
    with pytest.raises(ValueError, match=r"max: repeated axis in \[1, 1\]"):
        K.max(x, axis=np.array([1, 1]))


@pytest.mark.parametrize("dtype,expected", [(np.int32, np.int32), (np.int64, np.int64), (np.uint8, np.uint8)])
def test_integer_inputs_keep_dtype(dtype, expected):
    x = np.array([[1, 2, 3], [4, 5, 7]], dtype)
    assert K.sum(x).dtype == expected and K.sum(x) == 22
    assert K.max(x, axis=1).tolist() == [3, 7] and K.max(x).dtype == expected
    assert K.mean(x, axis=1).tolist() == [2, 5]  # truncating, as TensorFlow
    assert K.prod(x, axis=0).tolist() == [4, 10, 21]
    assert K.var(x).dtype == np.float32
    assert K.argmax(x, axis=1).tolist() == [2, 2]


def test_integer_mean_truncates_toward_zero():
    assert K.mean(np.array([-3, -4], np.int32)) == -3


def test_bool_inputs():
    b = np.array([[True, False], [True, True]])
    assert K.any(b, axis=1).tolist() == [True, True]
    assert K.all(b, axis=1).tolist() == [False, True]
    assert K.mean(b).dtype == np.float32 and K.mean(b) == 0.75
    assert K.max(b).dtype == np.bool_


def test_byteswapped_input():
    x = np.arange(10, dtype=">f4")
    assert K.sum(x) == 45.0
    assert K.argmax(x) == 9


@pytest.mark.parametrize("bad", [np.array([1 + 2j]), np.array(["a"]), np.array([None], dtype=object),
                                 np.array([1.0], dtype=np.longdouble)])
def test_unsupported_dtypes_raise_type_error(bad):
    with pytest.raises(TypeError, match=r"sum: unsupported dtype .*accepted dtypes: float16"):
        K.sum(bad)


def test_bad_inputs():
    with pytest.raises(TypeError, match="sum: expected an array"):
        K.sum("abc")
    with pytest.raises(TypeError, match="sum: expected an array"):
        K.sum(None)
    with pytest.raises(TypeError, match="cannot make an array"):
        K.sum([[1.0], [1.0, 2.0]])


def test_bad_axes():
    x = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"sum: axis 2 is out of bounds for an array of rank 2 \(valid: -2 to 1\)"):
        K.sum(x, axis=2)
    with pytest.raises(ValueError, match="mean: axis -3 is out of bounds"):
        K.mean(x, axis=(0, -3))
    with pytest.raises(ValueError, match=r"max: repeated axis in \[1, -1\]"):
        K.max(x, axis=[1, -1])
    with pytest.raises(TypeError, match="var: axis must be an int"):
        K.var(x, axis=1.5)
    with pytest.raises(TypeError, match="axis must be an int"):
        K.sum(x, axis=True)
    with pytest.raises(TypeError, match="argmax: axis must be a single int"):
        K.argmax(x, axis=(0, 1))
    with pytest.raises(ValueError, match="argmin: needs an array of rank >= 1"):
        K.argmin(np.float32(1))
    with pytest.raises(ValueError, match="axis 0 is out of bounds for a rank-0 array"):
        K.sum(np.float32(1), axis=0)


def test_argmax_default_axis_is_last_and_none_means_zero():
    x = np.array([[1.0, 9.0, 3.0], [7.0, 2.0, 8.0]])
    assert K.argmax(x).tolist() == [1, 2]
    assert K.argmax(x, axis=None).tolist() == [1, 0, 1]
    assert K.argmin(x, axis=0).tolist() == [0, 1, 0]


def test_ties_go_to_first_index():
    x = np.zeros((3, 5000), np.float32)
    x[:, [10, 4000]] = 1
    assert K.argmax(x, axis=1).tolist() == [10, 10, 10]
    assert K.argmax(x.T.copy(), axis=0).tolist() == [10, 10, 10]
    assert K.argmin(-x[:, ::-1], axis=1).tolist() == [999, 999, 999]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min_special_values_in_every_position(dtype, op):
    # The fast max/min paths detect NaN through a sum of the values: cover NaN in each of the
    # four rows folded together and in the leftover rows, and +inf with -inf (a NaN sum without
    # any NaN, which must not turn the result into NaN).
    rng = np.random.default_rng(3)
    ref = getattr(np, op)
    for rows in (300, 131):
        x = rng.standard_normal((rows, 517)).astype(dtype)
        x[0, 3] = np.inf
        x[1, 3] = -np.inf
        x[2, 40] = np.inf
        x[7, 40] = -np.inf
        for r, c in ((4, 10), (5, 11), (6, 12), (7, 13), (rows - 1, 14), (rows - 2, 516)):
            x[r, c] = np.nan
        for v in (x, x.T, x[:, 17:]):
            for axis in (None, 0, 1):
                got = np.asarray(getattr(K, op)(v, axis=axis))
                np.testing.assert_array_equal(got, ref(v, axis=axis))
        clean = np.where(np.isnan(x), 0, x).astype(dtype)
        for axis in (0, 1):
            got = getattr(K, op)(clean, axis=axis)
            np.testing.assert_array_equal(got, ref(clean, axis=axis))
            assert not np.isnan(got).any()


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_logsumexp_is_stable_on_every_axis(dtype):
    # Against float64 math written out here: large and tiny magnitudes (no overflow from the max
    # subtracted first), rows of -inf (-inf), an inf (inf) and a NaN (NaN), keepdims, views.
    rng = np.random.default_rng(5)
    big = {np.float16: 60.0, np.float32: 500.0, np.float64: 5000.0}[dtype]
    x = (rng.standard_normal((6, 37, 11)) * big).astype(dtype)
    x[0, 0, :] = -np.inf
    x[1, 2, 3] = np.inf
    x[2, 4, 5] = np.nan
    for v in (x, x[:, ::-2].transpose(2, 0, 1)):
        for axis in (None, 0, 1, -1, (0, 2)):
            for keepdims in (False, True):
                got = K.logsumexp(v, axis=axis, keepdims=keepdims)
                w = v.astype(np.float64)
                with np.errstate(all="ignore"):
                    m = np.max(w, axis=axis, keepdims=True)
                    m = np.where(np.isfinite(m), m, 0.0)
                    want = np.log(np.sum(np.exp(w - m), axis=axis, keepdims=True)) + m
                if not keepdims:
                    want = np.squeeze(want, axis=axis)
                assert got.dtype == dtype and got.shape == want.shape
                np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
                ok = ~np.isnan(want)
                tol = {np.float16: 2e-3, np.float32: 1e-6, np.float64: 1e-13}[dtype]
                np.testing.assert_allclose(np.asarray(got, np.float64)[ok], want[ok], rtol=tol, atol=tol)
