"""exp, log, the activations, softmax, maximum and minimum on the native elementwise kernels:
accuracy in ulps against the extended-precision oracle (kcore/_reference.py), special values,
Keras's parameters, every layout, thread counts, and bad input."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import kcore
from kcore import _reference
from kcore import backend as K
from kcore import numpy_backend as NK
from reference import FLOATS, FLOOR, HALF_ULPS, SOFTMAX_TOL, ulp_bound, ulp_error
from strategies import DTYPES, views

# Input ranges that cover each function's whole behaviour: overflow, underflow, subnormal results.
RANGES = {"exp": (-110, 90), "log": (0, 1e30), "tanh": (-12, 12), "sigmoid": (-110, 40), "softplus": (-110, 100),
          "softsign": (-100, 100), "elu": (-30, 5), "hard_sigmoid": (-4, 4), "relu": (-5, 5)}
UNARY = list(RANGES)


def _inputs(name, dtype, rng, n=60000):
    lo, hi = RANGES[name]
    if name == "log":
        x = np.exp(rng.uniform(np.log(1e-45), np.log(hi), n))
    else:
        x = rng.uniform(lo, hi, n)
    with np.errstate(over="ignore"):
        x = np.concatenate([x, rng.uniform(-1, 1, n // 4) * 1e-3, rng.uniform(-1, 1, n // 8) * 1e-30]).astype(dtype)
    return np.abs(x) if name == "log" else x


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", UNARY)
def test_unary_accuracy_in_ulps(name, dtype, rng):
    x = _inputs(name, dtype, rng)
    got = getattr(K, name)(x)
    assert got.dtype == dtype and got.shape == x.shape
    exact = _reference.unary_exact(name, x)
    assert ulp_error(got, exact, dtype, FLOOR.get(name, 0)) <= ulp_bound(name, dtype)


ALL_HALVES = np.arange(1 << 16, dtype=np.uint16).view(np.float16)  # every float16, NaN payloads included


@pytest.mark.parametrize("name", ["exp", "log", "tanh", "sigmoid", "softplus"])
def test_float16_tables_are_the_float32_kernels_rounded(name):
    # float16 reads these from tables of its 65536 results; they must be the float32 vector
    # code's results rounded once, for every input, and within HALF_ULPS of the exact values.
    with np.errstate(all="ignore"):
        got = getattr(K, name)(ALL_HALVES)
        want = getattr(K, name)(ALL_HALVES.astype(np.float32)).astype(np.float16)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert got[~np.isnan(got)].tobytes() == want[~np.isnan(want)].tobytes()
    x = ALL_HALVES[~np.isnan(ALL_HALVES) & ((ALL_HALVES >= 0) if name == "log" else True)]
    assert ulp_error(getattr(K, name)(x), _reference.unary_exact(name, x), np.float16) <= HALF_ULPS
    view = ALL_HALVES[::-3]  # the table read through a strided view
    np.testing.assert_array_equal(getattr(K, name)(view).view(np.uint16), got[::-3].view(np.uint16))


def test_float32_tanh_within_one_ulp_everywhere():
    # Per-interval polynomials (tanh_table.hpp): every 997th float32 up to where tanh rounds to 1,
    # each quarter binade's first value and the one before it, and the exact 1 from there on.
    top = int(np.float32(9.02).view(np.int32))
    bits = np.arange(0, top + 1, 997, dtype=np.int32)
    starts = ((np.arange(491, (top >> 21) + 1, dtype=np.int32)) << 21)
    bits = np.concatenate([bits, starts, starts - 1, [top]])
    x = bits.view(np.float32)
    x = np.concatenate([x, -x])
    got = K.tanh(x)
    assert ulp_error(got, np.tanh(x.astype(np.float64)), np.float32) <= 1.0
    assert (K.tanh(np.float32([9.02, 9.0110, 1e4, 3e38])) == 1).all()
    assert np.array_equal(got[: len(x) // 2], -got[len(x) // 2:])  # odd, bit for bit


SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-300, -1e-300, 5e-324, 1.0, -1.0, 700.0, -750.0])


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", UNARY)
def test_unary_special_values(name, dtype):
    with np.errstate(all="ignore"):
        x = SPECIAL.astype(dtype)
        want = _reference.unary_exact(name, x).astype(dtype)
    got = getattr(K, name)(x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    with np.errstate(all="ignore"):
        ok = np.isnan(want) | (got == want) | (np.abs(got.astype(np.float64) - want) <= 2 * np.spacing(np.abs(want)))
    assert ok.all(), (x[~ok], got[~ok], want[~ok])
    # Signs of zero where they are defined: tanh(-0) = -0, relu(-0) keeps x.
    if name in ("tanh", "softsign", "relu", "elu"):
        assert np.signbit(got[4]) and not np.signbit(got[3])


def test_values_keras_users_rely_on():
    f = np.float32
    assert K.exp(np.array([0.0, 1.0], f)).tolist() == [1.0, np.float32(np.e)]
    assert K.log(np.array([1.0, 0.0], f)).tolist() == [0.0, -np.inf]
    assert np.isnan(K.log(np.array(-1.0, f)))
    assert K.sigmoid(np.array([0.0, -200.0, 200.0], f)).tolist() == [0.5, 0.0, 1.0]
    assert K.sigmoid(np.array(-100.0, f)) > 0  # subnormal, not flushed
    assert K.softplus(np.array([1000.0, -1000.0], f)).tolist() == [1000.0, 0.0]
    assert K.hard_sigmoid(np.array([-3.0, 0.0, 3.0], f)).tolist() == [0.0, 0.5, 1.0]
    assert K.tanh(np.array([np.inf, -np.inf, 30.0], f)).tolist() == [1.0, -1.0, 1.0]
    assert K.elu(np.array([-np.inf, 2.0], f), 0.5).tolist() == [-0.5, 2.0]


RELU_PARAMS = [{}, {"max_value": 6}, {"alpha": 0.3}, {"threshold": 1.5}, {"threshold": -1.0},
               {"alpha": 0.1, "max_value": 2.5, "threshold": 0.5}, {"alpha": 0.2, "threshold": -0.5, "max_value": 1},
               {"max_value": -1.0}, {"alpha": 0.2, "max_value": -0.5}]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("params", RELU_PARAMS)
def test_relu_parameters_follow_keras(params, dtype, rng):
    x = np.concatenate([rng.uniform(-5, 8, 5000), [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.5, 0.5, -1.0]]).astype(dtype)
    with np.errstate(all="ignore"):
        # Keras 2.3.1's relu on TensorFlow, step by step in float64.
        a = x.astype(np.float64)
        t = params.get("threshold", 0.0)
        y = a * (a > t) if t != 0 else np.where(a < 0, 0.0, a)
        if "max_value" in params:  # tf.clip_by_value: min with the maximum, then max with 0
            y = np.maximum(np.minimum(y, params["max_value"]), 0.0)
        if params.get("alpha"):
            y = y - params["alpha"] * np.maximum(t - a, 0.0)
    got = K.relu(x, **params)
    assert got.dtype == dtype
    np.testing.assert_allclose(got.astype(np.float64), y.astype(dtype).astype(np.float64),
                               rtol=2 * float(np.finfo(dtype).eps), atol=0)


def test_integer_and_list_inputs():
    assert K.relu(np.array([-2, 3], np.int32)).tolist() == [0, 3]
    assert K.relu(np.array([-2, 3, 9], np.int64), max_value=6).dtype == np.int64
    assert K.relu(np.array([-2, 3, 9], np.int32), max_value=-1).tolist() == [0, 0, 0]
    out = K.exp([0.0, 1.0])
    assert out.dtype == np.float32  # a list converts as TensorFlow converts it: floatx
    assert K.sigmoid(np.array([0, 0], np.int32)).dtype == np.float32


@given(st.data())
def test_activations_take_every_layout(data):
    dtype = data.draw(DTYPES)
    x = data.draw(views(dtype))
    name = data.draw(st.sampled_from(UNARY))
    got = getattr(K, name)(x)
    assert np.shape(got) == x.shape and np.asarray(got).dtype == dtype
    with np.errstate(all="ignore"):
        exact = _reference.unary_exact(name, np.ascontiguousarray(x))
    assert ulp_error(got, exact, dtype, FLOOR.get(name, 0)) <= ulp_bound(name, dtype)
    # The same values from the contiguous copy: a layout never changes a bit of an elementwise result.
    assert np.asarray(got).tobytes() == np.asarray(getattr(K, name)(np.ascontiguousarray(x))).tobytes()


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,axis", [((7, 10), -1), ((3, 1000), 1), ((5, 4, 33), 1), ((6, 5), 0),
                                        ((2, 3, 4, 5), -3), ((4, 0), -1), ((0, 3), -1), ((3, 1), -1)])
def test_softmax_rows(shape, axis, dtype, rng):
    x = (rng.standard_normal(shape) * 8).astype(dtype)
    got = K.softmax(x, axis=axis)
    assert got.dtype == dtype and got.shape == x.shape and got.flags.c_contiguous
    exact = np.moveaxis(_reference.softmax_exact(np.moveaxis(x, axis, -1)), -1, axis)
    tol = SOFTMAX_TOL[dtype]
    np.testing.assert_allclose(got.astype(np.float64), exact.astype(np.float64), rtol=tol * 4, atol=tol * 1e-3)
    if x.size:
        np.testing.assert_allclose(np.sum(got.astype(np.float64), axis=axis), 1.0, rtol=tol * x.shape[axis])


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("width", [3, 21, 40])
def test_softmax_large_and_special_logits(dtype, width):
    big = np.finfo(dtype).max / 2
    x = np.full((4, width), -np.inf)
    x[:, :3] = [[big, big, -np.inf], [1.0, np.nan, 2.0], [-big, 0.0, -big], [np.inf, 1.0, 2.0]]
    got = K.softmax(x.astype(dtype))
    assert got.dtype == dtype
    assert got[0].tolist() == [0.5, 0.5] + [0.0] * (width - 2)
    assert np.isnan(got[1]).all()  # a NaN makes its row NaN, as the reference
    assert got[2].tolist() == [0.0, 1.0] + [0.0] * (width - 2)
    assert np.isnan(got[3]).all()
    with pytest.raises(ValueError, match="softmax: cannot apply softmax to a tensor of rank 0"):
        K.softmax(np.float32(1))
    # Rank 1 is one row, as tf.nn.softmax (Keras's softmax activation is what refuses it).
    e = np.exp([1.0, 2.0, 3.0])
    np.testing.assert_allclose(K.softmax(np.array([1.0, 2.0, 3.0], np.float32)), e / e.sum(), rtol=4e-7)
    with pytest.raises((ValueError, IndexError), match="softmax"):
        K.softmax(np.ones((2, 3), np.float32), axis=2)


@pytest.mark.parametrize("dtype", FLOATS)
def test_maximum_minimum_native(dtype, rng):
    x = rng.standard_normal((31, 17)).astype(dtype)
    y = rng.standard_normal((17,)).astype(dtype)
    x[3, 4], y[5] = np.nan, np.nan
    for f, ref in ((K.maximum, np.maximum), (K.minimum, np.minimum)):
        got = f(x, y)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, ref(x, y))
        np.testing.assert_array_equal(f(x.T, x.T[::-1]), ref(x.T, x.T[::-1]))
        assert f(np.array([1, 5]), 3).tolist() == ref(np.array([1, 5]), 3).tolist()


@pytest.mark.parametrize("name", UNARY + ["softmax"])
def test_bitwise_identical_for_every_thread_count(name, threads, rng):
    x = rng.uniform(-8, 8, (257, 4099)).astype(np.float32)
    results = []
    for n in (1, 2, 3, 4):
        threads.set_num_threads(n)
        results.append(getattr(K, name)(x).tobytes())
    assert all(r == results[0] for r in results)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(30000, 10), (5000, 37), (64, 3000)])
def test_softmax_rows_bitwise_identical_for_every_thread_count(dtype, shape, threads, rng):
    # Short rows share a thread's range by the dozen; every row is still its own fixed computation.
    x = rng.uniform(-30, 30, shape).astype(dtype)
    results = []
    for n in (1, 2, 3):
        threads.set_num_threads(n)
        results.append(K.softmax(x).tobytes())
    assert all(r == results[0] for r in results)
    exact = _reference.softmax_exact(x)
    np.testing.assert_allclose(np.frombuffer(results[0], dtype).reshape(shape).astype(np.float64), exact,
                               rtol=SOFTMAX_TOL[dtype] * 4, atol=SOFTMAX_TOL[dtype] * 1e-3)


@pytest.mark.parametrize("dtype", FLOATS)
def test_numpy_backend_rounds_the_reference(dtype, rng):
    # The numpy backend is the reference rounded once; the native kernels stay within their ulps of it.
    x = rng.uniform(-6, 6, 2000).astype(dtype)
    for name in UNARY:
        ref = getattr(NK, name)(x)
        got = getattr(K, name)(x)
        bound = ulp_bound(name, dtype) + 0.5
        with np.errstate(all="ignore"):
            spacing = np.spacing(np.maximum(np.abs(ref), dtype(FLOOR.get(name, 0)))).astype(np.float64)
            err = np.abs(got.astype(np.float64) - ref.astype(np.float64)) / spacing
        assert np.nanmax(err) <= bound, name
    x2 = rng.standard_normal((5, 9)).astype(dtype)
    np.testing.assert_allclose(K.softmax(x2).astype(np.float64), NK.softmax(x2).astype(np.float64),
                               rtol=4 * float(np.finfo(dtype).eps))


def test_bad_input_is_a_clear_error():
    with pytest.raises(TypeError, match="exp: expected an array"):
        K.exp(None)
    with pytest.raises(TypeError, match="tanh: unsupported dtype complex128"):
        K.tanh(np.ones(2, np.complex128))
    with pytest.raises(TypeError, match="elu: alpha must be a real number, got str"):
        K.elu(np.ones(2, np.float32), "1")
    with pytest.raises(TypeError, match="relu: max_value must be a real number, got list"):
        K.relu(np.ones(2, np.float32), max_value=[6])
    with pytest.raises(TypeError, match="sigmoid: expected an array"):
        K.sigmoid("x")
    assert kcore.backend.exp(np.float32(0.0)) == 1.0


# square, abs, sqrt, sign, round and negation round at most once: every float16, and float32 and
# float64 values of every kind, bit for bit as NumPy computes them in the input's dtype (sqrt of
# x clipped at 0 first, as Keras's TensorFlow backend; NaN compared as NaN).
EXACT = {"square": np.square, "abs": np.abs, "sign": np.sign, "round": np.round,
         "sqrt": lambda a: np.sqrt(np.where(a > 0, a, np.where(np.isnan(a), a, 0)).astype(a.dtype)),
         "negative": np.negative}


def _exact_op(name):
    return (lambda x: kcore.backend._negative(x)) if name == "negative" else getattr(K, name)


def _exact_inputs(dtype, rng):
    if dtype == np.float16:
        return ALL_HALVES
    info = np.finfo(dtype)
    edges = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 0.5, -0.5, 1.5, 2.5, -2.5, 3.5, info.max, -info.max,
                      info.tiny, info.smallest_subnormal, -info.smallest_subnormal,
                      2.0 ** (info.nmant - 1) + 0.5, 2.0 ** info.nmant - 0.5, 2.0 ** info.nmant + 1], dtype)
    bits = rng.integers(0, 2 ** (8 * np.dtype(dtype).itemsize), 40001, dtype=np.uint64 if dtype == np.float64
                        else np.uint32).astype(f"u{np.dtype(dtype).itemsize}").view(dtype)
    return np.concatenate([edges, bits, rng.uniform(-1e4, 1e4, 5000).astype(dtype)])


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", list(EXACT))
def test_exact_functions_match_numpy_bit_for_bit(name, dtype, rng):
    x = _exact_inputs(dtype, rng)
    with np.errstate(all="ignore"):
        want = EXACT[name](x)
        for v in (x, x[::-3], x[::2]):
            got = _exact_op(name)(v)
            w = EXACT[name](v)
            assert got.dtype == dtype and got.shape == v.shape
            nan = np.isnan(w)
            np.testing.assert_array_equal(np.isnan(got), nan)
            bits = f"u{np.dtype(dtype).itemsize}"
            np.testing.assert_array_equal(got[~nan].view(bits), w[~nan].view(bits))
    assert want.dtype == dtype


@pytest.mark.parametrize("name", list(EXACT))
def test_exact_functions_keep_integer_dtypes(name):
    x = np.array([-7, -1, 0, 3, 100], np.int32)
    got = _exact_op(name)(x)
    if name == "sqrt":  # (integers become floatx first)
        np.testing.assert_array_equal(got, np.sqrt(np.maximum(x, 0)).astype(np.float32))
        assert got.dtype == np.float32
    else:
        np.testing.assert_array_equal(got, EXACT[name](x))
        assert got.dtype == np.int32


def test_exact_functions_values_keras_users_rely_on():
    f = np.float32
    assert K.round(np.array([0.5, 1.5, 2.5, -0.5, -2.5, 2.6], f)).tolist() == [0.0, 2.0, 2.0, -0.0, -2.0, 3.0]
    assert K.sqrt(np.array([-4.0, 4.0, 0.0], f)).tolist() == [0.0, 2.0, 0.0]
    assert K.sign(np.array([-3.0, 0.0, -0.0, 2.0], f)).tolist() == [-1.0, 0.0, 0.0, 1.0]
    assert np.isnan(K.sign(np.array(np.nan, f))) and np.isnan(K.sqrt(np.array(np.nan, f)))
    assert K.abs(np.array([-np.inf, -0.0], f)).tolist() == [np.inf, 0.0] and not np.signbit(K.abs(f(-0.0)))
    assert K.square(np.array([3e19, -2.0], f)).tolist() == [np.inf, 4.0]
