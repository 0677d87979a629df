"""The Keras 2 backend API: the native families against the `numpy` backend (kcore's NumPy
reference: different code), the other ops against hand-written formulas and Keras examples."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import kcore
import kcore.numpy_backend as KN
from kcore import backend as K
from strategies import DTYPES, elements, views

rng = np.random.default_rng(3)
X = (rng.random((4, 2)) - 0.5).astype(np.float32)
X3 = (rng.random((4, 2, 3)) - 0.5).astype(np.float32)
X4 = (rng.random((4, 5, 3, 10)) - 0.5).astype(np.float32)


def same(a, b, exact=False):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
    if exact or a.dtype.kind not in "f":
        np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


# Ops with a native kernel in the `kcore` backend and NumPy code in the `numpy` one.
NATIVE_UNARY = ["transpose", "cumsum", "cumprod"]


@pytest.mark.parametrize("name", NATIVE_UNARY)
def test_native_unary_matches_numpy_backend(name):
    for x in (X, X3):
        same(getattr(K, name)(x), getattr(KN, name)(x))


REDUCTIONS = ["max", "min", "sum", "prod", "mean", "var", "std", "any", "all"]


@pytest.mark.parametrize("name", REDUCTIONS)
def test_reductions_match_numpy_backend(name):
    for x, kw in ((X, {}), (X, {"axis": 1, "keepdims": True}), (X3, {"axis": [1, -1]}), (X3, {"axis": 0})):
        same(getattr(K, name)(x, **kw), getattr(KN, name)(x, **kw))


@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_arg_reductions_match_numpy_backend(name):
    for kw in ({}, {"axis": 1}, {"axis": 0}):
        same(getattr(K, name)(X, **kw), getattr(KN, name)(X, **kw), exact=True)


ARITHMETIC = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.divide}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_results_written_with_streaming_stores_are_numpys(dtype, threads):
    # Operands past KCORE_STREAM_BYTES (1 MiB under the tests) go out with streaming stores from
    # the first vector-aligned element of each run; inputs at every offset within a vector, odd
    # lengths, a ternary op and maximum's NaN rule.
    rng = np.random.default_rng(3)
    base = rng.standard_normal(300_011).astype(dtype)
    base[::1001] = np.nan
    other = rng.standard_normal(300_011).astype(dtype)
    for n in (1, 2):
        threads.set_num_threads(n)
        for off in range(0, 17, 3):
            x, y = base[off:], other[:base.size - off]
            for name, ref in (("_add", np.add), ("_multiply", np.multiply), ("_divide", np.divide),
                              ("maximum", np.maximum)):
                with np.errstate(all="ignore"):
                    assert getattr(K, name)(x, y).tobytes() == ref(x, y).tobytes(), (name, off, n)
            got = K.clip(x, -0.5, 0.5 + y * 0) if off % 2 else K.clip(x, -0.5, 0.5)
            assert got.tobytes() == np.clip(x, -0.5, 0.5).tobytes()


@given(data=st.data(), dtype=DTYPES, name=st.sampled_from(sorted(ARITHMETIC)))
def test_arithmetic_is_numpys_bit_for_bit(data, dtype, name):
    # The native elementwise engine on two operands of one float dtype, any layout, broadcast
    # against each other: every element is NumPy's (correctly rounded; float16 computed in
    # float32 and rounded once, which is exact for +, -, *, /).
    x = data.draw(views(dtype, allow_special=True, max_dims=4))
    drop = data.draw(st.integers(0, x.ndim))
    shape = tuple(1 if data.draw(st.booleans()) else n for n in x.shape[drop:])
    y = data.draw(hnp.arrays(dtype, shape, elements=elements(dtype, True)))
    if y.ndim and data.draw(st.booleans()):
        y = y[..., ::-1]
    if data.draw(st.booleans()):
        x, y = y, x
    with np.errstate(all="ignore"):
        expected = np.asarray(ARITHMETIC[name](x, y))
        got = np.asarray(getattr(K, "_" + name)(x, y))
    assert got.dtype == expected.dtype and got.shape == expected.shape
    nan = np.isnan(expected)
    np.testing.assert_array_equal(np.isnan(got), nan)
    bits = f"u{expected.dtype.itemsize}"
    np.testing.assert_array_equal(got[~nan].view(bits), expected[~nan].view(bits))


def test_keras_doc_examples():
    assert K.int_shape(K.batch_dot(K.placeholder((32, 20, 1)), K.placeholder((32, 30, 20)), axes=[1, 2])) == (32, 1, 30)
    np.testing.assert_array_equal(K.batch_dot(np.array([[1, 2], [3, 4]], np.float32),
                                              np.array([[5, 6], [7, 8]], np.float32), axes=1), [[17], [53]])
    np.testing.assert_array_equal(K.eval(K.eye((2, 3))), [[1, 0, 0], [0, 1, 0]])
    K.reset_uids()
    assert K.get_uid("dense") == 1 and K.get_uid("dense") == 2 and K.get_uid("conv") == 1
    K.reset_uids()
    assert K.get_uid("dense") == 1
    assert K.dtype(K.placeholder(shape=(2, 4, 5), dtype="float64")) == "float64"
    assert K.int_shape(K.placeholder(shape=(2, 4, 5))) == (2, 4, 5)
    assert K.int_shape(K.variable(np.zeros((2, 2)))) == (2, 2)
    assert K.ndim(K.placeholder(shape=(2, 4, 5))) == 3
    assert K.count_params(K.zeros((2, 3))) == 6
    assert K.eval(K.zeros((2, 3))).tolist() == [[0] * 3] * 2
    np.testing.assert_array_equal(K.eval(K.variable(np.array([[1, 2], [3, 4]]))), [[1, 2], [3, 4]])


def test_variables():
    v = K.variable(np.array([[1, 2], [3, 4]]), name="w")
    assert v.name == "w" and v.dtype == "float32" and v.shape == (2, 2)  # floatx even for ints
    assert K.variable(1, dtype="float64").dtype == "float64"
    for d in ("float16", "float32", "float64", "int16", "bool"):
        assert K.dtype(K.variable(1, dtype=d)) == d
    with pytest.raises(TypeError, match="variable: unsupported dtype 'complex64'"):
        K.variable(1, dtype="complex64")
    # Python floats go straight to the dtype asked for (as tf.Variable(0.9, dtype=tf.float64)), not
    # through floatx first.
    assert K.get_value(K.variable(0.9, dtype="float64")) == 0.9
    np.testing.assert_array_equal(K.eval(K.constant([0.1, 1 / 3], dtype="float64")), [0.1, 1 / 3])
    assert K.eval(K.constant(1 / 3, dtype="float16")) == np.float16(1 / 3)
    assert K.get_value(K.variable(0.9)) == np.float32(0.9)
    np.testing.assert_array_equal(np.asarray(v), [[1, 2], [3, 4]])
    np.testing.assert_array_equal(v + 1, [[2, 3], [4, 5]])
    np.testing.assert_array_equal(2 * v, [[2, 4], [6, 8]])
    K.update(v, np.ones((2, 2)))
    np.testing.assert_array_equal(K.eval(v), np.ones((2, 2)))
    K.update_add(v, np.full((2, 2), 2.0))
    K.update_sub(v, np.full((2, 2), 0.5))
    np.testing.assert_array_equal(K.get_value(v), np.full((2, 2), 2.5))
    K.set_value(v, np.zeros((2, 2)))
    assert K.batch_get_value([v])[0].sum() == 0
    K.batch_set_value([(v, np.full((2, 2), 7.0))])
    assert K.eval(v)[0, 0] == 7
    with pytest.raises(ValueError, match="set_value: shape"):
        K.set_value(v, np.zeros(3))
    m = K.variable(np.array([1.0, 2.0]))
    K.moving_average_update(m, np.array([3.0, 4.0]), 0.9)
    np.testing.assert_allclose(K.eval(m), [1.2, 2.2], rtol=1e-6)
    ro = np.asarray(v)
    with pytest.raises(ValueError):
        ro[0, 0] = 1  # the view handed out is read-only: the variable owns its data


def test_creation_functions():
    assert K.ones((2, 3)).dtype == K.floatx() and K.zeros((3,), dtype="int32").dtype == "int32"
    assert K.zeros((0, 2)).shape == (0, 2)
    assert K.eye(3).shape == (3, 3)
    assert K.zeros_like(np.ones(3, np.int32)).dtype == np.int32
    assert K.ones_like(np.ones(3, np.float16), dtype="float64").dtype == np.float64
    assert K.random_uniform_variable((2, 3), 0, 1).shape == (2, 3)
    assert K.random_normal_variable((2, 3), 0, 1, seed=1).shape == (2, 3)
    u = K.random_uniform((1000,), -1, 1, seed=0)
    assert u.dtype == np.float32 and u.min() >= -1 and u.max() < 1
    t = K.truncated_normal((10000,), mean=1.0, stddev=2.0, seed=0)
    assert np.all(np.abs(t - 1.0) <= 4.0)
    assert K.random_normal((3, 4), seed=2).shape == (3, 4)
    c = K.constant(2.0, shape=(2, 2))
    assert K.dtype(c) == "float32" and K.eval(c).tolist() == [[2, 2], [2, 2]]
    assert K.is_tensor(c) and not K.is_keras_tensor(c) and np.asarray(c + 1).tolist() == [[3, 3], [3, 3]]


def test_shape_ops():
    assert K.reshape(X, (8, 1)).shape == (8, 1)
    assert K.permute_dimensions(X3, (2, 0, 1)).shape == (3, 4, 2)
    assert K.expand_dims(np.ones((4, 3))).shape == (4, 3, 1)
    assert K.expand_dims(np.ones((4, 3, 2)), 1).shape == (4, 1, 3, 2)
    assert K.squeeze(np.ones((4, 3, 1)), 2).shape == (4, 3)
    with pytest.raises(ValueError, match="squeeze: cannot squeeze axis 1"):
        K.squeeze(np.ones((4, 3)), 1)
    assert K.concatenate([np.ones((5, 2)), np.ones((7, 2))], axis=0).shape == (12, 2)
    assert K.concatenate([np.ones((5, 4, 6, 3)), np.ones((5, 4, 6, 2))]).shape == (5, 4, 6, 5)
    assert K.stack([np.ones((2, 3)), np.ones((2, 3))], axis=1).shape == (2, 2, 3)
    assert K.tile(np.ones((3, 4)), 2).shape == (3, 8)
    assert K.tile(np.ones((3, 4)), (2, 1)).shape == (6, 4)
    assert K.tile(np.ones((3, 4, 5)), (1, 2)).shape == (3, 4, 10)
    with pytest.raises(ValueError, match="tile: n"):
        K.tile(np.ones(3), (1, 2))
    assert K.repeat(np.ones((2, 3)), 4).shape == (2, 4, 3)
    assert K.repeat_elements(np.arange(3.0), 2, 0).tolist() == [0, 0, 1, 1, 2, 2]
    assert K.temporal_padding(np.ones((4, 3, 3))).shape == (4, 5, 3)
    assert K.temporal_padding(np.ones((2, 3, 4)), (1, 2)).shape == (2, 6, 4)
    assert K.spatial_2d_padding(np.ones((1, 2, 2, 3))).shape == (1, 4, 4, 3)
    assert K.spatial_2d_padding(np.ones((1, 3, 2, 2)), data_format="channels_first").shape == (1, 3, 4, 4)
    assert K.reverse(np.arange(6.0).reshape(2, 3), 1).tolist() == [[2, 1, 0], [5, 4, 3]]
    assert K.slice(np.arange(12).reshape(3, 4), (1, 1), (2, -1)).tolist() == [[5, 6, 7], [9, 10, 11]]
    ref = np.arange(60.0).reshape(10, 2, 3)
    np.testing.assert_array_equal(K.gather(ref, np.array([1, 3, 7, 9])), ref[[1, 3, 7, 9]])
    with pytest.raises(ValueError, match="gather: indices must be in"):
        K.gather(ref, np.array([10]))
    np.testing.assert_array_equal(K.batch_gather(np.arange(6).reshape(2, 3), np.array([[2, 0], [1, 1]])),
                                  [[2, 0], [4, 4]])


def test_arange():
    for args, kw, expected in [((-20,), {}, []), ((0,), {}, []), ((1,), {}, [0]), ((10,), {}, list(range(10))),
                               ((0, 5, 1), {}, [0, 1, 2, 3, 4]), ((-5, 5, 2), {}, [-5, -3, -1, 1, 3]),
                               ((0, 1, 2), {}, [0])]:
        assert K.arange(*args, **kw).tolist() == expected
    for d in ("int32", "int64", "float32", "float64"):
        assert K.dtype(K.arange(0, 3, dtype=d)) == d
    assert K.arange(1.5).dtype == np.float32
    assert len(K.arange(K.constant(1))) == 1 and len(K.arange(K.constant(-1))) == 0


def test_one_hot():
    idx = rng.integers(0, 20, (30, 10)).astype(np.int32)
    oh = K.one_hot(idx, 20)
    assert oh.shape == (30, 10, 20) and oh.dtype == np.float32
    np.testing.assert_array_equal(oh.argmax(-1), idx)
    assert K.one_hot(np.array([-1, 5]), 3).tolist() == [[0, 0, 0], [0, 0, 0]]


def test_elementwise_rules():
    assert K.sqrt(np.array([-4.0, 4.0])).tolist() == [0.0, 2.0]  # Keras clips negatives
    assert K.round(np.array([0.5, 1.5, 2.5])).tolist() == [0, 2, 2]
    assert K.clip(np.array([-2.0, 0.5, 3.0]), 0.0, 1.0).tolist() == [0.0, 0.5, 1.0]
    assert K.clip(np.array([5.0]), 2.0, 1.0).tolist() == [2.0]
    assert K.clip(np.array([3, -4, 9]), 0, 5).tolist() == [3, 0, 5]  # ints keep their dtype
    assert K.clip(np.array([3, -4, 9]), 0, 5).dtype.kind == "i"


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_clip_relu6_and_batch_normalization_on_the_native_elementwise_kernels(dtype):
    # One pass each (elementwise3: clip, multiply_add), against NumPy written here.
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((4, 5, 6, 7)) * 5).astype(dtype)
    x[0, 0, 0, :3] = [np.nan, np.inf, -np.inf]
    want = np.clip(x.astype(np.float64), -1.5, 2.25)
    got = K.clip(x, -1.5, 2.25)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got.astype(np.float64), want.astype(dtype).astype(np.float64))
    relu6 = K.relu(x, max_value=6.0)
    np.testing.assert_array_equal(relu6.astype(np.float64), np.clip(x.astype(np.float64), 0, 6))
    m, v, b, g = (rng.standard_normal(7).astype(dtype) for _ in range(4))
    v = np.abs(v) + dtype(0.5)
    got = K.batch_normalization(x[1:], m, v, b, g, epsilon=1e-3)
    x64, m64, v64, b64, g64 = (a.astype(np.float64) for a in (x[1:], m, v, b, g))
    want = (x64 - m64) / np.sqrt(v64 + 1e-3) * g64 + b64
    assert got.dtype == dtype
    np.testing.assert_allclose(got.astype(np.float64), want, rtol={np.float16: 4e-3, np.float32: 2e-6,
                                                                   np.float64: 1e-13}[dtype],
                               atol={np.float16: 1e-2, np.float32: 1e-5, np.float64: 1e-12}[dtype])
    assert K.pow(np.array([2.0], np.float32), 3).dtype == np.float32
    assert K.switch(np.array(True), np.ones(2), np.zeros(2)).tolist() == [1, 1]
    assert K.switch(np.array([True, False]), np.ones(2), np.zeros(2)).tolist() == [1, 0]
    assert K.maximum(np.array([1, 5]), 3).tolist() == [3, 5]


RELU_CASES = [(0.0, None, 0.0), (0.1, None, 0.0), (0.0, 6.0, 0.0), (0.1, 6.0, 0.0), (0.0, None, 0.5),
              (0.1, None, 0.5), (0.0, 6.0, 0.5), (0.1, 6.0, 0.5), (0.0, 0.3, 0.0), (0.2, 0.3, 0.25), (0.5, None, -0.5),
              (0.1, 5.0, -2.8), (0.0, 5.0, -1.0)]


@pytest.mark.parametrize("alpha,max_value,threshold", RELU_CASES)
def test_relu(alpha, max_value, threshold):
    # Keras 2.3.1 on TensorFlow: x * (x > threshold), clipped by tf.clip_by_value(., 0, max_value)
    # when max_value is given (so a negative threshold lets negative values through only without
    # max_value), minus alpha * relu(threshold - x).
    x = np.linspace(-4, 8, 49).astype(np.float32).reshape(-1, 1)
    expected = np.where(x > threshold, x, 0.0)
    if max_value is not None:
        expected = np.maximum(np.minimum(expected, max_value), 0)
    expected = expected - alpha * np.maximum(threshold - x, 0)
    np.testing.assert_allclose(K.relu(x, alpha, max_value, threshold), expected, rtol=1e-6, atol=1e-6)


def test_relu_keeps_integer_dtypes():
    out = K.relu(np.array([-3, 0, 4, 9], np.int32), max_value=6)
    assert out.dtype == np.int32 and out.tolist() == [0, 0, 4, 6]
    # Bounds outside the dtype's range clip to it (never wrap); NaN is no maximum, as the kernel's.
    assert K.relu(np.array([0, 5, 100], np.uint8), max_value=-1).tolist() == [0, 0, 0]
    assert K.relu(np.array([0, 5, 100], np.int8), max_value=300).tolist() == [0, 5, 100]
    assert K.relu(np.array([-1, 5], np.int32), max_value=float("nan")).tolist() == [0, 5]
    assert K.relu(np.array([3, 5], np.int32), max_value=2.7).tolist() == [2, 2]
    # alpha alone is tf.nn.leaky_relu, which casts integers to float32 (Keras 2.3.1's relu calls it)
    out = K.relu(np.array([-2, 3], np.int32), alpha=0.5)
    assert out.dtype == np.float32 and out.tolist() == [-1.0, 3.0]
    with pytest.raises(TypeError, match=r"relu: alpha \(with max_value or threshold\) and threshold need a float"):
        K.relu(np.array([1, 2], np.int32), alpha=0.1, max_value=6)
    with pytest.raises(TypeError, match=r"relu: .* need a float tensor, got int64"):
        K.relu(np.array([1, 2], np.int64), threshold=1.0)


def test_concatenate_refuses_mixed_dtypes():
    with pytest.raises(TypeError, match=r"concatenate: the tensors' dtypes differ \(float32, float64\)"):
        K.concatenate([np.ones((2, 2), np.float32), np.ones((2, 2))])
    assert K.concatenate([np.ones(2, np.float32), [3.0]]).dtype == np.float32  # lists take the tensors' dtype


def test_numpy_backend_batch_dot_of_empty_batches():
    from kcore import numpy_backend as KN

    for B in (K, KN):
        out = B.batch_dot(np.zeros((0, 3, 4), np.float32), np.zeros((0, 4, 2), np.float32))
        assert out.shape == (0, 3, 2) and out.dtype == np.float32


def test_activations():
    np.testing.assert_allclose(K.elu(np.array([-1.0, 2.0]), 0.5), [0.5 * (np.exp(-1) - 1), 2.0], rtol=1e-6)
    s = K.softmax(X4, axis=2)
    np.testing.assert_allclose(np.sum(s, axis=2), 1, rtol=1e-5)
    np.testing.assert_allclose(K.softmax(X3, 1), KN.softmax(X3, 1), rtol=1e-6)
    with pytest.raises(ValueError, match="softmax: cannot apply softmax to a tensor of rank 0"):
        K.softmax(np.float64(1))
    np.testing.assert_allclose(K.softmax(np.ones(4)), 0.25)  # rank 1: one row, as tf.nn.softmax
    np.testing.assert_allclose(K.sigmoid(np.array([0.0, 1000.0, -1000.0])), [0.5, 1.0, 0.0])
    assert K.hard_sigmoid(np.array([-10.0, 0.0, 10.0])).tolist() == [0.0, 0.5, 1.0]


def test_losses():
    t = np.array([[1, 0], [0, 1], [1, 0], [0, 1]], np.float32)
    p = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], np.float32)
    np.testing.assert_allclose(K.categorical_crossentropy(t, p), -np.log([0.9, 0.8, 0.6, 0.7]), rtol=1e-5)
    logits = np.log(p)
    np.testing.assert_allclose(K.categorical_crossentropy(t, logits, from_logits=True),
                               -np.log([0.9, 0.8, 0.6, 0.7]), rtol=1e-5)
    np.testing.assert_allclose(K.sparse_categorical_crossentropy(np.array([0, 1, 0, 1]), p),
                               -np.log([0.9, 0.8, 0.6, 0.7]), rtol=1e-5)
    np.testing.assert_allclose(K.binary_crossentropy(np.array([1.0, 0.0]), np.array([0.9, 0.2])),
                               [-np.log(0.9), -np.log(0.8)], rtol=1e-4)
    np.testing.assert_allclose(K.l2_normalize(np.array([[3.0, 4.0]]), axis=1), [[0.6, 0.8]])
    np.testing.assert_array_equal(K.bias_add(np.zeros((2, 3)), np.array([1.0, 2.0, 3.0])), [[1, 2, 3]] * 2)
    assert K.bias_add(np.zeros((2, 3, 4, 4)), np.ones(3), data_format="channels_first").sum() == 96


def test_state_functions():
    K.set_learning_phase(1)
    assert K.learning_phase() == 1
    with pytest.raises(ValueError, match=r"Expected learning phase to be 0 or 1\."):
        K.set_learning_phase(2)
    K.clear_session()
    # Unset, the learning phase is a boolean placeholder that is 0 when not fed (Keras on TF).
    assert K.is_placeholder(K.learning_phase()) and not K.eval(K.learning_phase())
    K.manual_variable_initialization(True)
    K.manual_variable_initialization(False)
    assert K.symbolic(len)([1, 2]) == 2 and K.eager(len)([1]) == 1
    assert K.image_dim_ordering() in ("tf", "th")
    old = K.image_data_format()
    K.set_image_dim_ordering("th")
    assert K.image_data_format() == "channels_first"
    K.set_image_data_format(old)
    assert K.normalize_data_format(None) == old and K.normalize_data_format("Channels_Last") == "channels_last"
    with pytest.raises(ValueError):
        K.normalize_data_format("nhwc")
    with pytest.raises(ValueError):
        K.set_image_dim_ordering("xx")


def test_predicates():
    v, p = K.variable(1.0), K.placeholder((2,))
    assert K.is_variable(v) and not K.is_variable(p)
    assert K.is_placeholder(p) and not K.is_placeholder(v)
    assert K.is_tensor(v) and K.is_tensor(p) and not K.is_tensor(np.ones(2))
    assert K.is_keras_tensor(v) is False and K.is_keras_tensor(p) is False
    with pytest.raises(ValueError, match="Expected a symbolic tensor instance"):
        K.is_keras_tensor(np.ones(2))
    assert K.is_sparse(K.placeholder((2, 2), sparse=True)) and not K.is_sparse(np.ones(2))
    x = np.ones(3)
    assert K.to_dense(x) is x


def test_scipy_sparse_inputs():
    sp = pytest.importorskip("scipy.sparse")
    m = sp.csr_matrix(np.eye(3))
    assert K.is_sparse(m)
    np.testing.assert_array_equal(K.to_dense(m), np.eye(3))


def test_size_and_shape():
    assert K.shape(np.ones((2, 3))).tolist() == [2, 3] and K.shape(np.ones((2, 3))).dtype == np.int32
    assert K.size(np.ones((2, 3))) == 6


@pytest.mark.parametrize("name,ref", [
    ("abs", np.abs), ("exp", np.exp), ("log", lambda v: np.log(np.abs(v) + 1)), ("sign", np.sign), ("sin", np.sin),
    ("cos", np.cos), ("tanh", np.tanh), ("square", np.square), ("identity", lambda v: v),
    ("softplus", lambda v: np.log1p(np.exp(v))), ("softsign", lambda v: v / (1 + np.abs(v))),
    ("flatten", lambda v: v.reshape(-1)), ("sigmoid", lambda v: 1 / (1 + np.exp(-v))),
    ("sqrt", lambda v: np.sqrt(np.maximum(v, 0))), ("round", np.round),
    ("hard_sigmoid", lambda v: np.clip(0.2 * v + 0.5, 0, 1)), ("elu", lambda v: np.where(v > 0, v, np.expm1(v))),
    ("batch_flatten", lambda v: v.reshape(v.shape[0], -1)), ("zeros_like", np.zeros_like), ("ones_like", np.ones_like),
    ("l2_normalize", lambda v: v / np.sqrt(np.sum(v * v))), ("negative", lambda v: -v),
])
def test_elementwise_against_formulas(name, ref):
    x = X3.astype(np.float64)
    arg = np.abs(x) + 1 if name == "log" else x
    f = K._negative if name == "negative" else getattr(K, name)
    got = f(arg)
    np.testing.assert_allclose(got, ref(x), rtol=1e-12, atol=1e-12)
    assert got.dtype == np.float64 and f(X3).dtype == np.float32


def test_comparisons_against_formulas():
    y = np.roll(X, 1)
    for name, f in (("equal", np.equal), ("not_equal", np.not_equal), ("greater", np.greater),
                    ("greater_equal", np.greater_equal), ("less", np.less), ("less_equal", np.less_equal),
                    ("maximum", np.maximum), ("minimum", np.minimum)):
        np.testing.assert_array_equal(getattr(K, name)(X, y), f(X, y))
    assert K.equal(X, X).dtype == np.bool_


def test_bad_inputs_name_the_function():
    with pytest.raises(ValueError, match="sum: axis 100000000000000000000 is out of bounds"):
        K.sum(np.ones(3), axis=10**20)
    with pytest.raises(ValueError, match="out of range"):
        K.batch_dot(np.ones((2, 3)), np.ones((2, 3)), axes=10**20)
    with pytest.raises(TypeError, match="variable: expected an array, a number or a nested list of numbers for value, "
                                        "got str"):
        K.variable("abc")
    with pytest.raises(ValueError,
                       match=r"reshape: cannot reshape an array of shape \(6,\) \(6 elements\) into \(4, -1\)"):
        K.reshape(np.ones(6), (4, -1))


X234 = np.ones((2, 3, 4), np.float32)


@pytest.mark.parametrize("call,error,match", [
    (lambda: K.reshape(X234, (-2, 3)), ValueError,
     r"reshape: shape's dims must be in \[0, 2\*\*63\) or one -1 \(a size to infer\), got -2"),
    (lambda: K.reshape(X234, (-1, -1)), ValueError, r"reshape: shape may hold one -1 \(a size to infer\)"),
    (lambda: K.reshape(X234, (2.5, 3)), TypeError, r"reshape: shape's dims must be an int, got 2.5"),
    (lambda: K.reshape(X234, (2 ** 64,)), ValueError, r"reshape: shape's dims must be in \[0, 2\*\*63\)"),
    (lambda: K.reshape(None, (1,)), TypeError, "reshape: expected an array, a number or a nested list"),
    (lambda: K.expand_dims(None), TypeError, "expand_dims: expected an array, a number or a nested list"),
    (lambda: K.expand_dims(X234, 2 ** 63), ValueError, r"expand_dims: axis 9223372036854775808 is out of range for "
                                                       r"a tensor of rank 3 \(valid: -4 to 3\)"),
    (lambda: K.expand_dims(X234, 1.0), TypeError, "expand_dims: axis must be an int, got 1.0"),
    (lambda: K.one_hot(np.array([0, 1]), -1), ValueError, r"one_hot: num_classes must be in \[0, 2\*\*31\), got -1"),
    (lambda: K.one_hot(np.array([0, 1]), 2 ** 63), ValueError, r"one_hot: num_classes must be in \[0, 2\*\*31\)"),
    (lambda: K.one_hot(np.array([0, 1]), "3"), TypeError, "one_hot: num_classes must be an int, got '3'"),
    (lambda: K.one_hot(np.array([0, 1]), True), TypeError, "one_hot: num_classes must be an int, got True"),
    (lambda: K.concatenate([X234, X234], axis=3), ValueError, "concatenate: axis 3 is out of bounds for an array "
                                                             "of rank 3"),
    (lambda: K.concatenate([X234, X234], axis=2 ** 63), ValueError, "concatenate: axis 9223372036854775808 is out"),
    (lambda: K.concatenate([X234, X234[0]]), ValueError, r"concatenate: the tensors' ranks differ \(3, 2\)"),
    (lambda: K.concatenate([np.float32(1), np.float32(2)]), ValueError, "concatenate: cannot join rank-0 tensors"),
    (lambda: K.concatenate([X234, None]), TypeError, "concatenate: expected an array"),
    (lambda: K.variable(np.ones(2, complex)), TypeError, "variable: complex values are not supported"),
    (lambda: K.variable([1j, 2]), TypeError, "variable: complex values are not supported"),
    (lambda: K.eval(None), TypeError, "eval: expected an array, a number or a nested list"),
    (lambda: K.eval(object()), TypeError, "eval: expected an array, a number or a nested list of numbers, got object"),
    (lambda: K.zeros((2.5, 2)), TypeError, "zeros: shape's dims must be an int, got 2.5"),
    (lambda: K.ones((2 ** 63,)), ValueError, r"ones: shape's dims must be in \[0, 2\*\*63\)"),
    (lambda: K.random_normal((2.5,)), TypeError, "random_normal: shape's dims must be an int"),
    (lambda: K.eye("3"), TypeError, "eye: size must be an int, got '3'"),
    (lambda: K.eye(-1), ValueError, r"eye: size must be in \[0, 2\*\*63\), got -1"),
    (lambda: K.tile(X234, (1.5, 2)), TypeError, "tile: n's dims must be an int, got 1.5"),
    (lambda: K.repeat(X234[0], 2.0), TypeError, "repeat: n must be an int, got 2.0"),
    (lambda: K.repeat_elements(X234, 2, 5), ValueError, "repeat_elements: axis 5 is out of bounds"),
    (lambda: K.stack([X234, X234], axis=9), ValueError, "stack: axis 9 is out of bounds for an array of rank 4"),
    (lambda: K.l2_normalize(X234, axis=9), ValueError, "l2_normalize: axis 9 is out of bounds"),
    (lambda: K.slice(X234, (0, 0, 0), (1.5, 2, 2)), TypeError, "slice: size must be a tuple of ints >= 0"),
    (lambda: K.flatten(None), TypeError, "flatten: expected an array"),
    (lambda: K.batch_flatten(None), TypeError, "batch_flatten: expected an array"),
    (lambda: K.gather(None, [0]), TypeError, "gather: expected an array"),
    (lambda: K.placeholder(shape=(2.5,)), TypeError, "placeholder: shape's dims must be an int, got 2.5"),
    (lambda: K.placeholder(ndim=-1), ValueError, r"placeholder: ndim must be in \[0, 2\*\*63\), got -1"),
])
def test_shape_and_value_functions_reject_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_shape_functions_take_what_keras_passes():
    assert K.reshape(X234, (-1, 4)).shape == (6, 4) and K.reshape(X234, 24).shape == (24,)
    assert K.reshape(np.ones(1), ()).shape == () and K.reshape(X234, np.array([4, 6])).shape == (4, 6)
    assert K.expand_dims(X234, -4).shape == (1, 2, 3, 4) and K.expand_dims(X234, np.int64(3)).shape == (2, 3, 4, 1)
    assert K.one_hot(np.array([0, 2]), np.int32(3)).tolist() == [[1, 0, 0], [0, 0, 1]]
    assert K.concatenate([X234, X234], axis=np.int64(-2)).shape == (2, 6, 4)
    assert K.eval(3.0) == 3.0 and K.eval([1, 2]).tolist() == [1, 2]
    assert K.zeros((2, np.int64(3))).shape == (2, 3) and K.eye((2, 3)).shape == (2, 3)
    assert K.tile(X234, np.array([2, 1, 1])).shape == (4, 3, 4) and K.tile(X234, np.array(2)).shape == (2, 3, 8)
    assert K.slice(X234, (0, 1, 0), (-1, 2, 4)).shape == (2, 2, 4) and K.placeholder((None, 3)).shape == (None, 3)


def test_more_backend_functions(capsys):
    x = np.array([[1.0, 2.0, 3.0], [1000.0, 1000.0, -np.inf]], np.float32)
    expected = [np.log(np.sum(np.exp([1.0, 2.0, 3.0]))), 1000 + np.log(2)]
    np.testing.assert_allclose(K.logsumexp(x, axis=1), expected, rtol=1e-6)
    assert K.logsumexp(x, axis=1, keepdims=True).shape == (2, 1) and K.logsumexp(X).shape == ()
    np.testing.assert_array_equal(K.stop_gradient(X), X)
    np.testing.assert_array_equal(K.print_tensor(X, "value:"), X)
    assert "value:" in capsys.readouterr().out
    K.set_learning_phase(1)
    assert K.in_train_phase(1, 2) == 1 and K.in_test_phase(1, 2) == 2
    K.set_learning_phase(0)
    assert K.in_train_phase(lambda: 1, lambda: 2) == 2 and K.in_train_phase(1, 2, training=True) == 1
    d = K.dropout(np.ones((1000,), np.float32), 0.5, seed=0)
    assert set(np.unique(d).tolist()) <= {0.0, 2.0} and 350 < (d == 0).sum() < 650
    with pytest.raises(ValueError, match="dropout: level"):
        K.dropout(np.ones(3), 1.5)
    assert K.get_variable_shape(K.variable(np.ones((2, 3)))) == (2, 3)
    p = K.placeholder(shape=(None, 3))
    assert K.int_shape(K.logsumexp(p, axis=1)) == (None,)


def test_native_entries_check_their_arguments():
    from kcore._runtime import _core

    for fn, args, n in [(_core.dot, (1,), "2"), (_core.batch_dot, (), "3"), (_core.cast, (1, 2, 3), "2"),
                        (_core.reduce, (0,), "3 to 5"), (_core.scan, (0, 1), "3")]:
        with pytest.raises(TypeError, match=rf"{fn.__name__}\(\) takes {n} positional arguments"):
            fn(*args)
    # Anything they do not take is declined (None), for the Python layer to convert or route.
    assert _core.reduce(_core.ReduceKind.sum, [1.0, 2.0], None, False) is None
    assert _core.dot([1.0], [1.0]) is None
    assert _core.cast(np.ones(2), "int32") is None
    assert _core.reduce(_core.ReduceKind.sum, np.ones(3, np.float32), None, False) == 3.0
    with pytest.raises(ValueError, match="reduce: unknown kind 11"):
        _core.reduce(11, np.ones(3), None, False)


def test_numpy_backend_copies_like_the_kcore_backend():
    for backend in (K, KN):
        x = np.arange(3.0, dtype=np.float32)
        assert not np.shares_memory(backend.transpose(x), x)
        assert not np.shares_memory(backend.permute_dimensions(X, (0, 1)), X)
        assert backend.transpose(np.float32(3)).shape == ()
        assert not np.shares_memory(backend.transpose(np.arange(3)), np.arange(3))


def test_backend_functions_pickle_by_reference():
    import pickle

    for backend in (K, KN):
        for name in ("sum", "batch_dot", "_add", "variable"):
            assert pickle.loads(pickle.dumps(getattr(backend, name))) is getattr(backend, name)


def test_argument_errors_of_the_native_entries():
    with pytest.raises(ValueError, match="dot: the result would have 78 dimensions; NumPy arrays have at most 64"):
        K.dot(np.ones((1,) * 40, np.float32), np.ones((1,) * 40, np.float32))
    with pytest.raises(TypeError, match="sum: axis must be an int, a list/tuple of ints or None, got ndarray"):
        K.sum(np.ones((2, 3)), axis=np.array([[0, 1]]))  # (a 1-D array of axes is taken, as tf.reduce_sum)
    with pytest.raises(ValueError, match="sum: axis 5 is out of bounds"):
        K.sum(np.ones((2, 3)), axis=[0, 0, 5])  # every axis is checked before repeats
    with pytest.raises(TypeError, match="cast: unsupported dtype <class 'float'>"):
        K.cast(np.ones(2), float)  # NumPy reads float as float64, TensorFlow as float32
    assert K.cast(np.ones(2), np.float16).dtype == np.float16

    class Shrinking:
        # An axis whose __index__ empties the list that holds it: the list is read from a copy.
        def __index__(self):
            axes.clear()
            return 0

    axes = [Shrinking(), 1]
    assert K.sum(np.ones((2, 3), np.float32), axis=axes) == 6


@pytest.mark.parametrize("dtype,name", [(np.float16, "float16"), (np.dtype(">f4"), "float32"),
                                        (np.dtype("f8"), "float64"), (np.longlong, "int64"), (np.intc, "int32"),
                                        (np.uint16, "uint16"), (np.bool_, "bool"), (np.dtype("u1"), "uint8")])
def test_dtypes_given_as_numpy_types_or_dtypes(dtype, name):
    # Read by kind and size (numpy's dtype.name is computed in Python): the same names as numpy's.
    x = np.arange(6, dtype=np.float32).reshape(2, 3) - 2
    got = K.cast(x, dtype)
    assert got.dtype == np.dtype(name) and np.array_equal(got, x.astype(name))
    assert K.zeros((2, 2), dtype=dtype).dtype == np.dtype(name)


@pytest.mark.parametrize("dtype", [np.complex64, np.longdouble, np.dtype("U3"), np.object_, np.dtype([("a", "f4")])])
def test_unsupported_numpy_dtypes_raise_type_errors(dtype):
    with pytest.raises(TypeError, match=r"cast: unsupported dtype .*; accepted: float16, float32, float64"):
        K.cast(np.ones(3, np.float32), dtype)


def test_python_ints_past_int32_keep_their_value():
    # TensorFlow converts Python ints to int32, or to int64 where a value needs it.
    assert K.sum(2 ** 40) == 2 ** 40 and K.sum([2 ** 31]) == 2 ** 31 and K.sum([-2 ** 31 - 1]) == -2 ** 31 - 1
    assert K.sum([1, 2]).dtype == np.int32 and K.sum([1, 2 ** 40]).dtype == np.int64
    assert K.cast([2 ** 40], "float32").tolist() == [2.0 ** 40]
    assert K.one_hot([2 ** 32 + 1], 3).tolist() == [[0, 0, 0]]  # out of range: a zero row
    with pytest.raises(ValueError, match=r"gather: indices must be in \[0, 3\)"):
        K.gather(np.zeros((3, 2)), [2 ** 40])
    for big in (2 ** 70, [2 ** 63], [1, -2 ** 80]):
        with pytest.raises(ValueError, match="sum: a Python int is out of the int64 range"):
            K.sum(big)


def test_clip_keeps_an_integer_dtype():
    # Keras's TensorFlow backend converts the bounds to x's dtype (0.5 does not convert to int32).
    x = np.array([1, 5, -3], np.int32)
    for got, want in ((K.clip(x, 0, 2), [1, 2, 0]), (K.clip(x, 0.0, None), [1, 5, 0]),
                      (K.clip(np.array([1, 200], np.uint8), -5, 1e9), [1, 200])):
        assert got.dtype == (x.dtype if len(got) == 3 else np.uint8) and got.tolist() == want
    with pytest.raises(TypeError, match=r"clip: min_value 0\.5 is not a whole number, for x of dtype int32"):
        K.clip(x, 0.5, 2.5)
    for dt in (np.int64, np.uint64):  # (float(2**63 - 1) is 2**63: no round trip through float)
        for lo, hi, want in ((0, None, [0, 3]), (0, np.inf, [0, 3]), (2 ** 70, 2 ** 71, [np.iinfo(dt).max] * 2)):
            got = K.clip(np.array([0, 3], dt), lo, hi)
            assert got.dtype == dt and got.tolist() == want, (dt, lo, hi, got)


def test_function_feeds_and_to_dense_take_numbers_only():
    p = K.placeholder((None,), dtype="float64")
    f = K.function([p], [K.sum(p)])
    assert f([[0.1, 0.2]])[0] == 0.1 + 0.2  # Python floats straight to float64
    for bad, msg in (([np.array([1 + 5j, 2], np.complex64)], "unsupported dtype complex64"),
                     (["abc"], "cannot make an array"), ([[[1, 2], [3]]], "cannot make an array")):
        with pytest.raises(TypeError, match=f"function: {msg}"):
            f(bad)
    assert K.to_dense([1, 2]).tolist() == [1, 2] and K.to_dense(p) is p and K.to_dense(None) is None
    sparse = K.ctc_label_dense_to_sparse(np.array([[1, 2], [3, 0]]), np.array([2, 1]))
    assert K.to_dense(sparse).tolist() == [[1, 2], [3, 0]]
    # Numbers held as objects or strings (a mixed-dtype DataFrame's values) still convert.
    assert f([np.array([1, 2.5], dtype=object)])[0] == 3.5 and f([np.array(["1.5", "2"])])[0] == 3.5
    with pytest.raises(TypeError, match="to_dense: unsupported dtype object"):
        K.to_dense(np.array([1, "a"], dtype=object))


def test_random_ops_take_reversed_ranges_and_negative_scales():
    # As TensorFlow computes them: minval + (maxval - minval) * U, mean + stddev * N.
    u = K.random_uniform((1000,), minval=1, maxval=0, seed=1)
    assert u.min() > 0 and u.max() < 1
    np.testing.assert_array_equal(K.random_normal((5,), stddev=-1.0, seed=2), -K.random_normal((5,), seed=2))
    np.testing.assert_array_equal(K.random_uniform((5,), 2, 5, seed=3),
                                  np.random.default_rng(3).uniform(2, 5, 5).astype(np.float32))


def test_batch_normalization_axis_must_be_an_int():
    x = np.ones((2, 3, 4), np.float32)
    for axis in (1.0, True):
        with pytest.raises(TypeError, match="batch_normalization: axis must be an int"):
            K.batch_normalization(x, 0.0, 1.0, 0.0, 1.0, axis=axis)


def test_joins_follow_tensorflow_dtype_and_axis_rules():
    with pytest.raises(TypeError, match=r"stack: the tensors' dtypes differ \(float16, float32\)"):
        K.stack([np.zeros((2, 3), np.float16), np.zeros((2, 3), np.float32)])
    for f in (lambda: K.concatenate([[[1.5, 2]], np.zeros((1, 2), np.int32)], axis=0),
              lambda: K.stack([[1.5, 2], np.zeros(2, np.int32)]),
              lambda: K.stack([[1, 0], np.zeros(2, bool)]),
              lambda: K.concatenate([[300, 1], np.zeros(2, np.int8)])):
        with pytest.raises(TypeError, match=r"a Python list of \w+ values cannot join"):
            f()
    assert K.stack([[1, 2], np.zeros(2, np.float32)]).dtype == np.float32
    a = np.arange(6.0).reshape(2, 3)
    # Keras 2.3.1 (TensorFlow backend): a negative axis counts modulo the rank.
    assert K.concatenate([a, a], axis=-3).tolist() == np.concatenate([a, a], axis=1).tolist()
    assert K.concatenate([a, a], axis=-100).shape == (4, 3)
    assert K.concatenate([a, a], axis=np.int64(-3)).shape == (2, 6)
    with pytest.raises(ValueError, match="concatenate: axis 2 is out of bounds"):
        K.concatenate([a, a], axis=2)
    assert K.slice(np.arange(12).reshape(3, 4), np.array([1, 1]), np.array([2, 2])).tolist() == [[5, 6], [9, 10]]


def test_unary_ops_refuse_bool_and_unsigned_negation():
    for f in (K.square, K.abs, K.sign, K.round, kcore.backend._negative):
        with pytest.raises(TypeError, match=r"cannot compute on bool tensors"):
            f(np.array([True, False]))
    with pytest.raises(TypeError, match=r"negative: cannot compute on uint8 tensors"):
        kcore.backend._negative(np.array([1, 2], np.uint8))
    assert K.abs(np.array([3], np.uint8)).tolist() == [3] and K.sign(np.array([3, 0], np.uint8)).tolist() == [1, 0]
