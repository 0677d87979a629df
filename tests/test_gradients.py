"""K.gradients against central finite differences in float64, op by op."""
import math

import numpy as np
import pytest

from kcore import backend as K

rng = np.random.default_rng(11)


def check_gradient(fn, *shapes, positive=False, h=1e-6):
    """fn(*variables) -> tensor; compares d sum(fn * r) / d v with central differences."""
    values = [rng.uniform(0.5, 2.0, s) if positive else rng.standard_normal(s) for s in shapes]
    variables = [K.variable(v, dtype="float64") for v in values]
    out = fn(*variables)
    r = rng.standard_normal(K.int_shape(out))
    loss = K.sum(out * r)
    grads = K.function([], K.gradients(loss, variables))([])
    for i, (v, g) in enumerate(zip(values, grads, strict=True)):
        fd = np.zeros_like(v)
        for idx in np.ndindex(*v.shape):
            for sign in (1, -1):
                w = v.copy()
                w[idx] += sign * h
                K.set_value(variables[i], w)
                fd[idx] += sign * float(K.eval(loss)) / (2 * h)
            K.set_value(variables[i], v)
        np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-6, err_msg=f"argument {i}")


CASES = {
    "add_broadcast": (lambda x, y: x + y, (3, 4), (4,)),
    "subtract": (lambda x, y: x - y, (3, 1), (3, 4)),
    "multiply": (lambda x, y: x * y, (3, 4), (1, 4)),
    "divide": (lambda x, y: x / y, (3, 4), (4,), True),
    "negative": (lambda x: -x, (2, 3)),
    "power": (lambda x: x ** 3, (2, 3)),
    "pow": (lambda x: K.pow(x, 2.5), (2, 3), True),
    "square": (K.square, (2, 3)),
    "sqrt": (K.sqrt, (2, 3), True),
    "exp": (K.exp, (2, 3)),
    "log": (K.log, (2, 3), True),
    "abs": (K.abs, (2, 3)),
    "sin_cos": (lambda x: K.sin(x) * K.cos(x), (2, 3)),
    "clip": (lambda x: K.clip(x, -0.5, 0.7), (3, 4)),
    "maximum": (lambda x, y: K.maximum(x, y), (3, 4), (3, 4)),
    "minimum": (lambda x, y: K.minimum(x, y), (3, 4), (4,)),
    "sum_axis": (lambda x: K.sum(x, axis=1), (3, 4, 2)),
    "sum_keepdims": (lambda x: K.sum(x, axis=(0, 2), keepdims=True), (3, 4, 2)),
    "mean": (lambda x: K.mean(x, axis=-1), (3, 4)),
    "mean_all": (lambda x: K.mean(x), (3, 4)),
    "max": (lambda x: K.max(x, axis=0), (3, 4)),
    "min_keepdims": (lambda x: K.min(x, axis=1, keepdims=True), (3, 4)),
    "prod": (lambda x: K.prod(x, axis=1), (3, 4), True),
    "var": (lambda x: K.var(x, axis=0), (5, 3)),
    "std": (lambda x: K.std(x, axis=1, keepdims=True), (3, 5)),
    "logsumexp": (lambda x: K.logsumexp(x, axis=1), (3, 4)),
    "dot": (lambda x, y: K.dot(x, y), (3, 4), (4, 2)),
    "dot_3d_2d": (lambda x, y: K.dot(x, y), (2, 3, 4), (4, 2)),
    "dot_2d_3d": (lambda x, y: K.dot(x, y), (3, 4), (2, 4, 5)),
    "dot_vector": (lambda x, y: K.dot(x, y), (3, 4), (4,)),
    "matmul": (lambda x, y: x @ y, (3, 4), (4, 2)),
    "batch_dot": (lambda x, y: K.batch_dot(x, y, axes=(2, 1)), (2, 3, 4), (2, 4, 5)),
    "batch_dot_2d": (lambda x, y: K.batch_dot(x, y, axes=1), (3, 4), (3, 4)),
    "batch_dot_keras_doc": (lambda x, y: K.batch_dot(x, y, axes=(1, 2)), (2, 5, 1), (2, 3, 5)),
    "cumsum": (lambda x: K.cumsum(x, axis=1), (2, 4)),
    "cumprod": (lambda x: K.cumprod(x, axis=-1), (3, 4)),
    "cumprod_axis0": (lambda x: K.cumprod(x, axis=0), (4, 2, 2)),
    "batch_gather": (lambda x: K.batch_gather(x, np.array([[2, 0, 2], [1, 1, 3]])), (2, 4, 3)),
    "ctc_batch_cost": (lambda y: K.ctc_batch_cost(np.array([[0, 1, 1], [2, 0, 0]]), y, np.array([[6], [4]]),
                                                  np.array([[3], [1]])), (2, 6, 4), True),
    "reverse": (lambda x: K.reverse(x, (0, 1)) * 2, (2, 3)),
    "slice": (lambda x: K.slice(x, (1, 0), (2, 2)), (3, 4)),
    "transpose": (K.transpose, (3, 4)),
    "permute": (lambda x: K.permute_dimensions(x, (2, 0, 1)), (2, 3, 4)),
    "reshape": (lambda x: K.reshape(x, (4, 3)), (2, 6)),
    "expand_squeeze": (lambda x: K.squeeze(K.expand_dims(x, 1), 1) * 2, (3, 4)),
    "flatten": (K.flatten, (2, 3)),
    "batch_flatten": (K.batch_flatten, (2, 3, 2)),
    "concatenate": (lambda x, y: K.concatenate([x, y], axis=0), (2, 3), (4, 3)),
    "stack": (lambda x, y: K.stack([x, y], axis=1), (2, 3), (2, 3)),
    "switch": (lambda x, y: K.switch(K.greater(x, 0.0), x * 2, y), (3, 4), (3, 4)),
    "relu": (K.relu, (3, 4)),
    "relu_leaky_clipped": (lambda x: K.relu(x, alpha=0.1, max_value=0.8, threshold=-0.3), (4, 5)),
    "sigmoid": (K.sigmoid, (3, 4)),
    "tanh": (K.tanh, (3, 4)),
    "softmax": (K.softmax, (3, 4)),
    "softmax_axis": (lambda x: K.softmax(x, axis=0), (3, 4)),
    "softmax_axis_none": (lambda x: K.softmax(x, axis=None), (3, 4)),  # (None: the last axis)
    "softmax_rank1": (K.softmax, (5,)),
    "relu_leaky": (lambda x: K.relu(x, alpha=0.2), (4, 5)),
    "softplus": (K.softplus, (3, 4)),
    "softsign": (K.softsign, (3, 4)),
    "elu": (lambda x: K.elu(x, 0.7), (3, 4)),
    "hard_sigmoid": (K.hard_sigmoid, (3, 4)),
    "bias_add": (lambda x, b: K.bias_add(x, b), (2, 3, 4), (4,)),
    "bias_add_channels_first": (lambda x, b: K.bias_add(x, b, "channels_first"), (2, 3, 4, 4), (3,)),
    "cast": (lambda x: K.cast(x, "float64") * 3, (2, 3)),
    "identity": (lambda x: K.identity(x) * 2, (2, 3)),
    "categorical_crossentropy": (lambda t, o: K.categorical_crossentropy(K.softmax(t), K.softmax(o)), (3, 4), (3, 4)),
    "categorical_crossentropy_logits": (lambda t, o: K.categorical_crossentropy(K.softmax(t), o, from_logits=True),
                                        (3, 4), (3, 4)),
    "sparse_categorical_crossentropy": (lambda o: K.sparse_categorical_crossentropy(np.array([0, 3, 1]), K.softmax(o)),
                                        (3, 4)),
    "sparse_categorical_crossentropy_logits": (lambda o: K.sparse_categorical_crossentropy(
        np.array([[1, 2], [0, 1]]), o, from_logits=True, axis=1), (2, 3, 2)),
    "binary_crossentropy": (lambda t, o: K.binary_crossentropy(K.sigmoid(t), K.sigmoid(o)), (3, 4), (3, 4)),
    "binary_crossentropy_logits": (lambda o: K.binary_crossentropy(K.constant(np.eye(3, 4), "float64"), o,
                                                                   from_logits=True), (3, 4)),
    # Probabilities that are not a softmax's or sigmoid's output (nor normalised): the clipped path.
    "categorical_crossentropy_probabilities": (lambda t, o: K.categorical_crossentropy(
        K.softmax(t), K.softmax(o) * 0.9 + 0.02), (3, 4), (3, 4)),
    "sparse_categorical_crossentropy_probabilities": (lambda o: K.sparse_categorical_crossentropy(
        np.array([0, 3, 1]), K.softmax(o) * 0.9 + 0.02), (3, 4)),
    "binary_crossentropy_probabilities": (lambda t, o: K.binary_crossentropy(
        K.sigmoid(t), K.sigmoid(o) * 0.98 + 0.01), (3, 4), (3, 4)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradient_matches_finite_differences(name):
    case = CASES[name]
    fn, shapes = case[0], [s for s in case[1:] if isinstance(s, tuple)]
    positive = case[-1] is True
    check_gradient(fn, *shapes, positive=positive)


def test_stop_gradient_stops_it_and_unrelated_variables_get_none():
    x, y, z = K.variable(np.ones((2, 2))), K.variable(np.ones(3)), K.variable(np.arange(3.0))
    loss = K.sum(K.stop_gradient(x) * x) + K.sum(K.stop_gradient(y)) + K.cast(K.argmax(z), "float32")
    gx, gy, gz = K.gradients(loss, [x, y, z])
    np.testing.assert_array_equal(K.function([], [gx])([])[0], np.ones((2, 2)))  # only d(c * x)/dx = c
    # As TensorFlow's: no gradient for what loss does not depend on, or reaches only through
    # stop_gradient or argmax.
    assert gy is None and gz is None
    assert K.gradients(K.sum(x), y) is None


def test_dropout_gradient_is_its_mask():
    x = K.variable(rng.standard_normal((50, 8)) + 3.0)  # no exact zeros
    out = K.dropout(x, 0.4, seed=3)
    (g,) = K.gradients(K.sum(out), [x])
    value, grad = K.function([], [out, g])([])  # one evaluation: the same mask in both
    np.testing.assert_allclose(grad, (value != 0) / 0.6, rtol=1e-6)


def test_gradients_through_placeholders_and_a_dense_layer():
    x = K.placeholder((None, 3))
    w, b = K.variable(rng.standard_normal((3, 2))), K.variable(np.zeros(2))
    y = K.softmax(K.bias_add(K.dot(x, w), b))
    t = K.placeholder((None, 2))
    loss = K.mean(K.categorical_crossentropy(t, y))
    gw, gb = K.gradients(loss, [w, b])
    xv = rng.standard_normal((5, 3)).astype(np.float32)
    tv = np.eye(2, dtype=np.float32)[[0, 1, 1, 0, 1]]
    gwv, gbv = K.function([x, t], [gw, gb])([xv, tv])
    # softmax + cross-entropy: d loss / d logits = (softmax - target) / batch
    p = np.exp(xv @ K.get_value(w))
    p /= p.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(gwv, xv.T @ (p - tv) / 5, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(gbv, (p - tv).sum(axis=0) / 5, rtol=1e-4, atol=1e-6)


def test_losses_of_a_softmax_or_sigmoid_output_use_its_logits_in_a_graph():
    # As TensorFlow: no clipping, so a saturated wrong prediction still has its full loss and gradient.
    x = K.variable(np.array([[40.0, 0.0, 0.0]]), dtype="float64")
    t = np.array([[0.0, 1.0, 0.0]])
    loss = K.categorical_crossentropy(t, K.softmax(x))
    sparse = K.sparse_categorical_crossentropy(np.array([1]), K.softmax(x))
    binary = K.binary_crossentropy(np.array([[0.0, 1.0, 1.0]]), K.sigmoid(x))
    value, gx, sparse_value, binary_value = K.function([], [loss, K.gradients(K.sum(loss), [x])[0], sparse,
                                                            binary])([])
    np.testing.assert_allclose(value, [40.0], rtol=1e-12)
    np.testing.assert_allclose(gx, [[1.0, -1.0, 0.0]], atol=1e-15)
    np.testing.assert_allclose(sparse_value, [40.0], rtol=1e-12)
    np.testing.assert_allclose(binary_value, [[40.0, np.log(2), np.log(2)]], rtol=1e-12)
    # Eager values are probabilities like any others: clipped to [epsilon, 1 - epsilon].
    np.testing.assert_allclose(K.categorical_crossentropy(t, K.softmax(K.get_value(x))), [-np.log(1e-7)], rtol=1e-6)


def test_sparse_categorical_crossentropy_renormalises_probabilities():
    # TensorFlow takes log(clip(output)) as logits.
    got = K.sparse_categorical_crossentropy(np.array([0, 1]), np.array([[0.2, 0.2, 0.2], [0.5, 0.25, 0.25]]))
    np.testing.assert_allclose(got, [np.log(3.0), np.log(4.0)], rtol=1e-12)


def test_leaky_relu_gradient_is_alpha_where_x_is_not_positive():
    # tf.nn.leaky_relu's gradient (Keras 2.3.1's relu with alpha alone): alpha at 0 and NaN too.
    x = K.variable(np.array([-1.0, 0.0, 1.0, np.nan], np.float32))
    (g,) = K.gradients(K.sum(K.relu(x, alpha=0.2)), [x])
    np.testing.assert_array_equal(K.eval(g), np.array([0.2, 0.2, 1.0, 0.2], np.float32))
    (g,) = K.gradients(K.sum(K.relu(x)), [x])  # (plain relu: 0 at 0, as tf.nn.relu's)
    np.testing.assert_array_equal(K.eval(g), [0.0, 0.0, 1.0, 0.0])


def test_cumprod_gradient_where_the_input_has_zeros():
    check_gradient(lambda x: K.cumprod(x * K.constant(np.array([[1, 0, 1, 1, 1], [1, 1, 1, 1, 1], [1, 0, 1, 0, 1]],
                                                               dtype="float64")), axis=1), (3, 5))


def test_an_op_without_a_rule_is_named():
    # Gradients of gradients are not defined.
    x = K.variable(np.ones((2, 3)))
    (g,) = K.gradients(K.sum(K.relu(x)), [x])
    with pytest.raises(TypeError, match="gradients: op '_relu_grad' has no gradient rule"):
        K.gradients(K.sum(g * g), [x])


CONV_CASES = {
    "conv1d_causal": (lambda x, k: K.conv1d(x, k, 1, "causal", dilation_rate=2), (2, 7, 3), (3, 3, 2)),
    "conv2d_same_strided": (lambda x, k: K.conv2d(x, k, (2, 1), "same"), (2, 5, 4, 2), (3, 2, 2, 3)),
    "conv2d_channels_first": (lambda x, k: K.conv2d(x, k, (1, 1), "valid", "channels_first", (2, 1)),
                              (1, 2, 6, 5), (2, 3, 2, 2)),
    "conv3d": (lambda x, k: K.conv3d(x, k, (1, 2, 1), "same"), (1, 3, 4, 3, 2), (2, 2, 2, 2, 2)),
    "conv2d_pointwise_channels_first": (lambda x, k: K.conv2d(x, k, (1, 1), "same", "channels_first"), (2, 3, 4, 5),
                                        (1, 1, 3, 2)),
    "conv1d_pointwise": (lambda x, k: K.conv1d(x, k, 1, "valid"), (2, 5, 3), (1, 3, 4)),
    "depthwise_conv2d": (lambda x, k: K.depthwise_conv2d(x, k, (1, 1), "same"), (2, 4, 4, 2), (3, 3, 2, 2)),
    "separable_conv2d": (lambda x, d, p: K.separable_conv2d(x, d, p, (2, 1), "same"), (1, 5, 4, 2), (3, 3, 2, 2),
                         (1, 1, 4, 3)),
    "separable_conv1d": (lambda x, d, p: K.separable_conv1d(x, d, p, 1, "valid", dilation_rate=2), (2, 7, 2),
                         (2, 2, 1), (1, 2, 3)),
    "conv2d_transpose": (lambda x, k: K.conv2d_transpose(x, k, (2, 5, 6, 3), (2, 2), "same"), (2, 3, 3, 2),
                         (3, 3, 3, 2)),
    "conv3d_transpose_valid": (lambda x, k: K.conv3d_transpose(x, k, (1, 4, 3, 3, 2), (1, 1, 1), "valid"),
                               (1, 3, 2, 2, 2), (2, 2, 2, 2, 2)),
    "max_pool": (lambda x: K.pool2d(x, (2, 2), (2, 2), "same"), (2, 5, 5, 2)),
    "tile": (lambda x: K.tile(x, (2, 3)), (2, 3)),
    "l2_normalize": (lambda x: K.l2_normalize(x, axis=1), (3, 4)),
    "l2_normalize_all": (lambda x: K.l2_normalize(x), (2, 3)),
    "local_conv1d": (lambda x, k: K.local_conv1d(x, k, (2,), (1,)), (2, 4, 2), (3, 4, 2)),
    "local_conv2d_channels_first": (lambda x, k: K.local_conv2d(x, k, (2, 2), (1, 2), (2, 2), "channels_first"),
                                    (1, 2, 3, 4), (4, 8, 3)),
    "gather_repeated_rows": (lambda x: K.gather(x, np.array([[0, 2], [2, 3]])), (4, 3)),
    "repeat_elements": (lambda x: K.repeat_elements(x, 3, axis=1), (2, 3, 2)),
    "repeat": (lambda x: K.repeat(x, 4), (2, 3)),
    "temporal_padding": (lambda x: K.temporal_padding(x, (1, 2)), (2, 3, 2)),
    "spatial_2d_padding": (lambda x: K.spatial_2d_padding(x, ((1, 0), (2, 1)), "channels_first"), (1, 2, 3, 3)),
    "spatial_3d_padding": (lambda x: K.spatial_3d_padding(x, ((1, 0), (0, 1), (1, 1))), (1, 2, 2, 2, 1)),
    "resize_nearest": (lambda x: K.resize_images(x, 2, 3, "channels_last"), (1, 2, 3, 2)),
    "resize_bilinear": (lambda x: K.resize_images(x, 2, 2, "channels_first", "bilinear"), (1, 2, 3, 3)),
    "resize_volumes": (lambda x: K.resize_volumes(x, 2, 1, 2, "channels_last"), (1, 2, 2, 2, 1)),
    "batch_normalization": (lambda x, m, v: K.batch_normalization(x, m, K.square(v) + 0.5, None, None, axis=1),
                            (2, 3, 4), (3,), (3,)),
    "batch_normalization_scaled": (lambda x, m, g, b: K.batch_normalization(x, m, K.square(m) + 0.5, b, g),
                                   (2, 3, 4), (4,), (4,), (4,)),
    "normalize_batch_in_training": (lambda x, g, b: K.normalize_batch_in_training(x, g, b, (0, 2))[0],
                                    (4, 3, 2), (3,), (3,)),
    "normalize_batch_in_training_plain": (lambda x: K.normalize_batch_in_training(x, None, None, [0, 1, 2])[0],
                                          (2, 3, 2, 3)),
    # The statistics returned beside the normalised x take their own gradients.
    "normalize_batch_in_training_all": (lambda x, g: K.concatenate([
        K.flatten(K.normalize_batch_in_training(x, g, None, [0, 1])[0]),
        K.flatten(K.normalize_batch_in_training(x, g, None, [0, 1])[1]),
        K.flatten(K.normalize_batch_in_training(x, g, None, [0, 1])[2])]), (3, 2, 2), (2,)),
    "avg_pool": (lambda x: K.pool2d(x, (3, 3), (2, 2), "same", pool_mode="avg"), (2, 5, 4, 2)),
    "max_pool3d_channels_first": (lambda x: K.pool3d(x, (2, 2, 2), (1, 1, 1), "valid", "channels_first"),
                                  (1, 2, 3, 3, 3)),
}


@pytest.mark.parametrize("name", sorted(CONV_CASES))
def test_convolution_and_pooling_gradients(name):
    fn, *shapes = CONV_CASES[name]
    check_gradient(fn, *shapes)


KERNEL_GRAD_CASES = [  # (conv, x shape, kernel shape, strides, padding, data_format, dilation)
    (K.conv1d, (2, 9, 3), (3, 3, 4), 1, "causal", "channels_last", 2),
    (K.conv1d, (3, 2, 10), (4, 2, 3), 3, "valid", "channels_first", 1),
    (K.conv2d, (2, 7, 6, 3), (3, 3, 3, 5), (2, 2), "same", "channels_last", (1, 1)),
    (K.conv2d, (2, 8, 7, 3), (3, 2, 3, 4), (1, 1), "same", "channels_last", (2, 3)),
    (K.conv2d, (1, 3, 9, 8), (2, 3, 3, 2), (2, 3), "valid", "channels_first", (1, 1)),
    (K.conv2d, (3, 5, 5, 4), (1, 1, 4, 6), (1, 1), "valid", "channels_last", (1, 1)),  # pointwise: products
    (K.conv2d, (2, 5, 3, 4), (1, 1, 5, 3), (1, 1), "same", "channels_first", (1, 1)),
    (K.conv3d, (2, 3, 2, 4, 3), (1, 1, 1, 3, 2), (1, 1, 1), "valid", "channels_last", (1, 1, 1)),
    (K.conv2d, (2, 6, 5, 3), (1, 1, 3, 4), (2, 2), "valid", "channels_last", (1, 1)),  # strided: not pointwise
    (K.conv2d, (4, 32, 32, 4), (1, 1, 4, 3), (1, 1), "same", "channels_last", (1, 1)),  # positions in 4 chunks
    (K.conv2d, (2, 4, 4, 2), (5, 5, 2, 3), (1, 1), "same", "channels_last", (1, 1)),  # kernel larger than x
    (K.conv2d, (0, 6, 6, 2), (3, 3, 2, 3), (1, 1), "same", "channels_last", (1, 1)),  # empty batch
    (K.conv3d, (2, 4, 5, 3, 2), (2, 3, 2, 2, 3), (1, 2, 1), "same", "channels_last", (1, 1, 1)),
]


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("case", range(len(KERNEL_GRAD_CASES)))
def test_kernel_gradients_match_an_independent_float64_reference(case, dtype):
    # The kernel's gradient runs as a convolution with x's batch and channels swapped; the oracle
    # is the float64 sum over windows, tap by tap (kcore/_reference.py's conv_grads_exact).
    from kcore import _reference as ref
    from kcore._api.conv import conv_plan

    conv, xs, ks, strides, padding, fmt, dilation = KERNEL_GRAD_CASES[case]
    r = np.random.default_rng(case)
    x, k = r.standard_normal(xs).astype(dtype), r.standard_normal(ks).astype(dtype)
    xv, kv = K.variable(x, dtype=dtype), K.variable(k, dtype=dtype)
    out = conv(xv, kv, strides, padding, fmt, dilation)
    g = r.standard_normal(K.int_shape(out)).astype(dtype)
    (got,) = K.function([], K.gradients(K.sum(out * K.constant(g, dtype=dtype)), [kv]))([])
    nd = len(ks) - 2
    p = conv_plan("test", nd, x, k, strides, padding, fmt, dilation, causal=padding == "causal")
    last = (lambda a: np.moveaxis(a, 1, -1)) if fmt == "channels_first" else (lambda a: a)
    _, want = ref.conv_grads_exact(last(x), k, last(g), p.strides, p.dilation, p.pads)
    assert got.dtype == np.dtype(dtype) and got.shape == k.shape
    scale = np.abs(last(x)).astype(np.float64).max(initial=1) * np.abs(g).astype(np.float64).sum(axis=tuple(
        range(g.ndim - 1))).max(initial=1)
    tol = {"float16": 2e-3, "float32": 1e-6, "float64": 1e-14}[dtype]
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=0, atol=tol * scale)


DEPTHWISE_GRAD_CASES = [  # (x shape, kernel shape, strides, padding, data_format, dilation)
    ((2, 7, 9, 5), (3, 3, 5, 1), (1, 1), "same", "channels_last", (1, 1)),  # the reversed-kernel path
    ((2, 8, 8, 16), (3, 3, 16, 1), (2, 2), "same", "channels_last", (1, 1)),
    ((1, 6, 11, 3), (3, 2, 3, 2), (2, 1), "valid", "channels_last", (1, 1)),  # multiplier 2
    ((3, 5, 5, 33), (1, 1, 33, 1), (1, 1), "valid", "channels_last", (1, 1)),
    ((1, 9, 9, 40), (5, 5, 40, 3), (1, 1), "same", "channels_last", (2, 2)),
    ((2, 4, 7, 17), (3, 3, 17, 1), (3, 3), "valid", "channels_last", (1, 1)),  # strides past the kernel
    ((2, 3, 6, 5), (3, 3, 3, 1), (1, 2), "same", "channels_first", (1, 1)),
    ((1, 2, 2, 4), (3, 3, 4, 1), (1, 1), "same", "channels_last", (1, 1)),  # kernel larger than x
    ((0, 5, 5, 4), (3, 3, 4, 1), (1, 1), "same", "channels_last", (1, 1)),  # empty batch
]


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("case", range(len(DEPTHWISE_GRAD_CASES)))
def test_depthwise_gradients_match_the_float64_reference_every_thread_count(threads, case, dtype):
    # Both gradients run natively (the input's as a depthwise transposed convolution, the kernel's
    # as sums along output lines in float64 chunks); the oracle is conv_grads_exact's tap loop.
    from kcore import _reference as ref
    from kcore._api.conv import conv_plan

    xs, ks, strides, padding, fmt, dilation = DEPTHWISE_GRAD_CASES[case]
    r = np.random.default_rng(100 + case)
    x, k = r.standard_normal(xs).astype(dtype), r.standard_normal(ks).astype(dtype)
    xp, kv = K.placeholder(shape=xs, dtype=dtype), K.variable(k, dtype=dtype)
    out = K.depthwise_conv2d(xp, kv, strides, padding, fmt, dilation)
    g = r.standard_normal(K.int_shape(out)).astype(dtype)
    f = K.function([xp], K.gradients(K.sum(out * K.constant(g, dtype=dtype)), [xp, kv]))
    runs = []
    for n in (1, 2, 3):
        threads.set_num_threads(n)
        runs.append(f([x]))
    for gx, gk in runs[1:]:
        assert gx.tobytes() == runs[0][0].tobytes() and gk.tobytes() == runs[0][1].tobytes()
    gx, gk = runs[0]
    p = conv_plan("test", 2, x, k, strides, padding, fmt, dilation, depthwise=True)
    last = (lambda a: np.moveaxis(a, 1, -1)) if fmt == "channels_first" else (lambda a: a)
    want_x, want_k = ref.conv_grads_exact(last(x), k, last(g), p.strides, p.dilation, p.pads, depthwise=True)
    if fmt == "channels_first":
        want_x = np.moveaxis(want_x, -1, 1)
    assert gx.dtype == gk.dtype == np.dtype(dtype) and gx.shape == x.shape and gk.shape == k.shape
    tol = {"float16": 2e-3, "float32": 1e-6, "float64": 1e-14}[dtype]
    g_scale = np.abs(g).astype(np.float64)
    x_scale = np.abs(x).astype(np.float64).max(initial=1) * g_scale.sum(axis=tuple(range(g.ndim - 1))).max(initial=1)
    np.testing.assert_allclose(gk.astype(np.float64), want_k, rtol=0, atol=tol * x_scale)
    k_scale = np.abs(k).astype(np.float64).sum() * g_scale.max(initial=1)
    np.testing.assert_allclose(gx.astype(np.float64), want_x, rtol=0, atol=tol * k_scale)


def test_depthwise_gradients_carry_nan_and_inf_to_what_they_reach():
    x = np.ones((1, 6, 6, 2), np.float32)
    x[0, 2, 3, 1] = np.nan
    k = np.ones((3, 3, 2, 1), np.float32)
    k[1, 1, 0, 0] = np.inf
    xp, kv = K.placeholder(shape=x.shape), K.variable(k)
    gx, gk = K.function([xp], K.gradients(K.sum(K.depthwise_conv2d(xp, kv, padding="same")), [xp, kv]))([x])
    assert np.isnan(gk[:, :, 1]).all() and np.isfinite(gk[:, :, 0]).all()  # every tap of channel 1 read the NaN
    assert np.isinf(gx[..., 0]).all() and np.isfinite(gx[..., 1]).all()  # the centre tap reaches every input


def _pool_grad_case(seed):
    r = np.random.default_rng(seed)
    nd = int(r.integers(1, 4))
    spatial = tuple(int(v) for v in r.integers(1, 7, nd))
    size, strides = tuple(int(v) for v in r.integers(1, 4, nd)), tuple(int(v) for v in r.integers(1, 4, nd))
    pads = [(int(r.integers(0, s)), int(r.integers(0, s))) for s in size]
    channels = int(r.choice([1, 3, 64, 70]))
    x = r.standard_normal((int(r.integers(0, 3)), *spatial, channels))
    if seed % 3 == 0:
        x[r.random(x.shape) < 0.1] = np.nan
    if seed % 4 == 0:
        x[r.random(x.shape) < 0.3] = -np.inf
    if seed % 5 == 0:
        x = np.round(x)  # ties: the first maximum takes it
    return r, x, size, strides, pads


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("seed", range(40))
def test_native_pool_gradients_match_the_float64_reference(seed, mode, dtype, threads):
    # Overlapping and padded windows in 1-3 dims, channel counts across a task's block of 64,
    # NaN (which wins the forward pass), all -inf windows and ties; bitwise the same on 1-3 threads.
    from kcore import _kernels
    from kcore import _reference as ref

    r, x64, size, strides, pads = _pool_grad_case(seed)
    x = x64.astype(dtype)
    g = r.standard_normal(ref.pool_exact(x, size, strides, pads, mode).shape).astype(dtype)
    want = ref.pool_grad_exact(x, g, size, strides, pads, mode)
    got = {}
    for n in (1, 2, 3):
        threads.set_num_threads(n)
        got[n] = _kernels.NATIVE.pool_grad(x, g, size, strides, pads, mode)
    assert got[1].tobytes() == got[2].tobytes() == got[3].tobytes()
    assert got[1].dtype == x.dtype and got[1].shape == x.shape
    tol = {"float16": 2e-3, "float32": 2e-6, "float64": 1e-14}[dtype] * (1 + np.abs(want).max(initial=0))
    np.testing.assert_allclose(got[1].astype(np.float64), want, rtol=0, atol=tol)


def test_max_pool_gradient_routes_to_the_first_maximum_inside_x():
    x = K.variable(np.array([[[[1.0], [3.0], [3.0]], [[np.nan], [2.0], [np.nan]], [[-np.inf], [-np.inf], [0.0]]]]))
    (g,) = K.function([], K.gradients(K.sum(K.pool2d(x, (2, 2), (1, 1), "same")), [x]))([])
    # Windows (2x2, 'same' pads after): NaN wins its windows at its first position (the NaN at
    # (1, 2) takes four); the window of -inf alone keeps its gradient in x, at its first one.
    np.testing.assert_array_equal(g[0, ..., 0], [[0, 0, 0], [2, 0, 4], [1, 0, 2]])
    t = K.variable(np.array([[[[1.0], [3.0], [3.0]], [[3.0], [0.0], [3.0]]]]))
    (g,) = K.function([], K.gradients(K.sum(K.pool2d(t, (2, 2), (1, 1), "valid")), [t]))([])
    np.testing.assert_array_equal(g[0, ..., 0], [[0, 2, 0], [0, 0, 0]])  # ties: the first in row-major order


GETITEM_CASES = {
    "slices": lambda x: x[1:, ::-2],
    "int_and_ellipsis": lambda x: x[..., 1][None],
    "negative_index": lambda x: x[-1, 1:3],
    "mask": lambda x: x[np.array([True, False, True])],
    "repeated_rows": lambda x: x[np.array([0, 2, 0, 0])],
    "rows_and_slice": lambda x: x[np.array([1, 1]), 1:],
    "two_arrays": lambda x: x[np.array([0, 0]), np.array([3, 3])],
    # x read several times (an rnn's time steps): the reads' gradients go into one array.
    "several_reads": lambda x: K.concatenate([x[:, 0], x[:, 1] * 2.0, x[1:, 3], x[np.array([0, 0, 2]), 1],
                                              x[0, ::-1]]),
    # The gradient of those placements (second order).
    "placed_gradients": lambda x: K.gradients(K.sum(x[:, 0] ** 3) + K.sum(x[1:, 1] * x[:-1, 2]), [x])[0],
}


@pytest.mark.parametrize("name", sorted(GETITEM_CASES))
def test_indexing_gradients(name):
    # Basic indexing writes the gradient back once per element; integer arrays add it where an
    # index repeats.
    check_gradient(GETITEM_CASES[name], (3, 4))


def test_reads_of_one_tensor_sum_their_gradients_in_one_array():
    x = K.placeholder((4, 50, 3))
    (g,) = K.gradients(K.sum(K.stack([x[:, t] * float(t) for t in range(50)])), [x])
    assert g.op.name == "_getitem_grad" and len(g.args[0]) == 50
    value = np.random.default_rng(3).standard_normal((4, 50, 3)).astype(np.float32)
    (got,) = K.function([x], [g])([value])
    np.testing.assert_array_equal(got, np.broadcast_to(np.arange(50, dtype=np.float32)[:, None], (4, 50, 3)))
    # Reads whose gradients differ in dtype are added instead.
    h = K.placeholder((4, 3), dtype="float16")
    (gh,) = K.gradients(K.sum(h[0]) + K.sum(K.cast(h[1], "float32")), [h])
    assert gh.op.name != "_getitem_grad"


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("params", [{}, {"alpha": 0.2}, {"max_value": 6.0}, {"alpha": 0.1, "max_value": 6.0},
                                    {"threshold": 0.5}, {"max_value": 1.0}, {"alpha": 0.2, "max_value": 1.0},
                                    {"max_value": 1.0, "threshold": -1.0}, {"alpha": 0.3, "threshold": -1.0}])
def test_relu_gradient_against_its_definition(dtype, params):
    # Reversed views, zeros, NaN and inf in x, NaN in g (it stays NaN where the slope is 0, as
    # TensorFlow's g * (x > 0)). Keras 2.3.1 on TensorFlow: relu6 (max_value 6, no threshold) is
    # strict at 6; other maxima go through tf.clip_by_value (minimum, then maximum with 0), whose
    # gradient passes at the bounds; alpha adds -alpha relu(threshold - x).
    r = np.random.default_rng(5)
    xs = (r.standard_normal((4, 33, 70)) * 4).astype(dtype)
    for start, step, v in ((0, 11, 0.0), (1, 13, np.nan), (2, 17, 6.0), (3, 19, np.inf), (4, 29, -np.inf),
                           (5, 31, 1.0), (6, 37, -1.0)):
        xs.flat[start::step] = v
    gs = r.standard_normal(xs.shape).astype(dtype)
    gs.flat[5::23] = np.nan
    xv, gv = xs[:, ::-1], gs[:, :, ::-1]
    x, g = K.placeholder(xv.shape, dtype=dtype), K.placeholder(xv.shape, dtype=dtype)
    (d,) = K.gradients(K.sum(K.relu(x, **params) * g), [x])
    (got,) = K.function([x, g], [d])([xv, gv])
    alpha, top, thr = params.get("alpha", 0.0), params.get("max_value"), params.get("threshold", 0.0)
    a = xv.astype(np.float64)
    with np.errstate(invalid="ignore"):
        passes = a > thr
        if top is not None:
            passes &= (a >= 0) & ((a < top) if thr == 0 and top == 6 else (a <= top))
        slope = np.where(passes, 1.0, 0.0)
        if alpha:
            below = (a <= 0) | np.isnan(a) if top is None and thr == 0 else a < thr  # (leaky_relu: where x > 0 fails)
            slope = slope + np.where(below, float(np.asarray(alpha, dtype)), 0.0)
        want = (gv.astype(np.float64) * slope).astype(dtype)
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype, offset, tol", [("float32", 1000.0, 2e-4), ("float64", 1e6, 1e-9),
                                                ("float16", 0.0, 3e-2)])
def test_normalize_batch_in_training_gradient_against_float64(dtype, offset, tol):
    # Large means cost no accuracy (x is centred before it meets g); float16 keeps float16.
    r = np.random.default_rng(8)
    xv = (offset + r.standard_normal((64, 5, 5, 8))).astype(dtype)
    gv = r.standard_normal(xv.shape).astype(dtype)
    gamma_v, beta_v = r.uniform(0.5, 2, 8).astype(dtype), r.standard_normal(8).astype(dtype)
    x, gamma, beta = K.placeholder(xv.shape, dtype=dtype), K.variable(gamma_v, dtype), K.variable(beta_v, dtype)
    normed = K.normalize_batch_in_training(x, gamma, beta, [0, 1, 2], epsilon=1e-3)[0]
    grads = K.gradients(K.sum(normed * K.constant(gv, dtype)), [x, gamma, beta])
    got = K.function([x], grads)([xv])
    a, g = xv.astype(np.float64), gv.astype(np.float64)
    c = a - np.array([math.fsum(col) for col in a.reshape(-1, 8).T]) / (a.size // 8)  # (NumPy's mean: 8x the error)
    rs = 1 / np.sqrt(c.var(axis=(0, 1, 2)) + 1e-3)
    want = [gamma_v * rs * (g - g.mean(axis=(0, 1, 2)) - c * rs**2 * (g * c).mean(axis=(0, 1, 2))),
            rs * (g * c).sum(axis=(0, 1, 2)), g.sum(axis=(0, 1, 2))]
    for got_i, want_i in zip(got, want, strict=True):
        assert got_i.dtype == np.dtype(dtype)
        np.testing.assert_allclose(got_i.astype(np.float64), want_i, rtol=0, atol=tol * np.abs(want_i).max())


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("shape, axes", [((6, 4, 5, 3), [0, 1, 2]), ((3, 4, 5, 6), [0, 2, 3]), ((5, 7, 3), [0, 1]),
                                         ((4, 3, 5), [0]), ((4, 3, 5), [1]), ((2, 3, 4), [0, 1, 2])])
def test_normalize_batch_in_training_gradient_layouts_every_thread_count(threads, dtype, shape, axes):
    # Channels last and first, several kept dims, kept dims apart ((4, 3, 5) over axis 1: the
    # reference path), everything reduced; gamma and beta there or not; the same bits for every
    # thread count. The oracle: the float64 formula written from the definition, per kept element.
    r = np.random.default_rng(len(shape) + sum(axes))
    xv = (3 + 2 * r.standard_normal(shape)).astype(dtype)
    gv = r.standard_normal(shape).astype(dtype)
    kept = tuple(1 if d in axes else n for d, n in enumerate(shape))
    gamma_v = r.uniform(0.5, 2, kept).astype(dtype)
    for with_params in (True, False):
        x = K.placeholder(shape, dtype=dtype)
        gamma = K.variable(gamma_v, dtype) if with_params else None
        beta = K.variable(np.zeros(kept, dtype), dtype) if with_params else None
        normed = K.normalize_batch_in_training(x, gamma, beta, axes, epsilon=1e-3)[0]
        targets = [x, gamma, beta] if with_params else [x]
        f = K.function([x], K.gradients(K.sum(normed * K.constant(gv, dtype)), targets))
        runs = []
        for n in (1, 2, 3):
            threads.set_num_threads(n)
            runs.append(f([xv]))
        for run in runs[1:]:
            assert all(a.tobytes() == b.tobytes() for a, b in zip(run, runs[0], strict=True))
        a, g = xv.astype(np.float64), gv.astype(np.float64)
        ax = tuple(axes)
        c = a - a.mean(axis=ax, keepdims=True)
        rs = 1 / np.sqrt((c * c).mean(axis=ax, keepdims=True) + 1e-3)
        s = rs * gamma_v.astype(np.float64) if with_params else rs
        want = [s * (g - g.mean(axis=ax, keepdims=True) - c * rs**2 * (g * c).mean(axis=ax, keepdims=True))]
        if with_params:
            want += [rs * (g * c).sum(axis=ax, keepdims=True), g.sum(axis=ax, keepdims=True)]
        tol = {"float16": 4e-3, "float32": 2e-6, "float64": 1e-12}[dtype]
        for got_i, want_i in zip(runs[0], want, strict=True):
            assert got_i.dtype == np.dtype(dtype) and got_i.shape == want_i.shape
            np.testing.assert_allclose(got_i.astype(np.float64), want_i, rtol=0, atol=tol * np.abs(want_i).max())


def test_float16_reduction_gradients_past_65504_elements():
    # The 1/n of mean, var and std in float64 before rounding: as float16, n itself is inf.
    x = K.placeholder((70000,), dtype="float16")
    v = np.random.default_rng(2).uniform(0, 1, 70000).astype(np.float16)
    a = v.astype(np.float64)
    for f, want in ((K.mean, np.full(a.shape, 1 / a.size)), (K.var, 2 * (a - a.mean()) / a.size),
                    (K.std, (a - a.mean()) / (a.size * a.std()))):
        (got,) = K.function([x], K.gradients(f(x), [x]))([v])
        assert got.dtype == np.float16
        # (1/n lies among float16's subnormals: steps of 2**-24)
        np.testing.assert_allclose(got.astype(np.float64), want, rtol=2e-3, atol=2.0**-24)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_gather_gradient_sums_each_rows_gradients_accurately(dtype):
    # An embedding's gradient: rows gathered ~100 times each; their sums within a few roundings of
    # the exact ones (a pairwise sum's bound; float16 sums in float32).
    r = np.random.default_rng(4)
    idx = r.integers(0, 20, (64, 150))
    gv = (r.standard_normal((64, 150, 5)) * 100).astype(dtype)
    ref = K.placeholder((20, 5), dtype=dtype)
    (d,) = K.gradients(K.sum(K.gather(ref, idx) * K.constant(gv, dtype)), [ref])
    (got,) = K.function([ref], [d])([np.zeros((20, 5), dtype)])
    rows = gv.reshape(-1, 5).astype(np.float64)
    exact = np.array([[math.fsum(rows[idx.ravel() == i, c]) for c in range(5)] for i in range(20)])
    size = np.array([[np.abs(rows[idx.ravel() == i, c]).sum() for c in range(5)] for i in range(20)])
    assert got.dtype == np.dtype(dtype)
    eps = np.finfo(np.float32 if dtype == "float16" else dtype).eps
    bound = 8 * eps * size + np.abs(exact) * np.finfo(dtype).eps
    assert np.all(np.abs(got.astype(np.float64) - exact) <= bound)


def test_float16_normalization_and_std_gradients_for_small_variances():
    # Factors past float16's range in between (gamma / sqrt(var + eps)**3, g / std) stay finite.
    r = np.random.default_rng(6)
    x = K.placeholder((64, 2), dtype="float16")
    gv = r.standard_normal((64, 2)).astype(np.float16)
    normed = K.normalize_batch_in_training(x, None, None, [0], epsilon=1e-4)[0]
    (d,) = K.gradients(K.sum(normed * K.constant(gv, "float16")), [x])
    xv = (r.standard_normal((64, 2)) * 0.01).astype(np.float16)
    (got,) = K.function([x], [d])([xv])
    a, g = xv.astype(np.float64), gv.astype(np.float64)
    c = a - a.mean(axis=0)
    rs = 1 / np.sqrt(c.var(axis=0) + 1e-4)
    want = rs * (g - g.mean(axis=0) - c * rs**2 * (g * c).mean(axis=0))
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=0, atol=2e-3 * np.abs(want).max())
    y = K.placeholder((1000,), dtype="float16")
    yv = (r.standard_normal(1000) * 1e-5).astype(np.float16)
    (got,) = K.function([y], K.gradients(K.std(y), [y]))([yv])
    b = yv.astype(np.float64)
    want = (b - b.mean()) / (b.size * b.std())  # (x itself lies among float16's subnormals: ~3 digits)
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=0, atol=2e-2 * np.abs(want).max())


def test_gradient_with_respect_to_an_intermediate_tensor():
    # (Grad-CAM and saliency read the gradient at a layer's output: it was zeros once passed on.)
    x = K.placeholder((2, 3))
    w = K.variable(np.arange(9, dtype=np.float32).reshape(3, 3) / 10)
    h = K.dot(x, w)
    loss = K.sum(K.square(h))
    gh, gx = K.function([x], K.gradients(loss, [h, x]))([np.ones((2, 3), np.float32)])
    hv = np.ones((2, 3)) @ (np.arange(9).reshape(3, 3) / 10)
    np.testing.assert_allclose(gh, 2 * hv, rtol=1e-6)
    np.testing.assert_allclose(gx, 2 * hv @ (np.arange(9).reshape(3, 3) / 10).T, rtol=1e-6)
    (gl,) = K.function([x], K.gradients(loss, [loss]))([np.ones((2, 3), np.float32)])
    assert gl == 1


def test_power_gradient_for_the_exponent_is_zero_where_x_is_not_positive():
    # d x**p / dp = x**p log x, taken as 0 where x <= 0 (TensorFlow's Pow gradient): at x = 0 the
    # term x**p log x tends to 0 for p > 0, and 0 * -inf would make the whole sum NaN.
    x = K.constant(np.array([0.0, 1.0, 2.0, 4.0], np.float32))
    p = K.variable(3.0)
    for f in (lambda: K.pow(x, p), lambda: x ** p):
        (gp,) = K.function([], K.gradients(K.sum(f()), [p]))([])
        np.testing.assert_allclose(gp, 8 * np.log(2) + 64 * np.log(4), rtol=1e-6)
    (gx,) = K.function([], K.gradients(K.sum(K.pow(x, p)), [x]))([])
    np.testing.assert_allclose(gx, 3 * np.array([0.0, 1.0, 2.0, 4.0]) ** 2, rtol=1e-6)


@pytest.mark.parametrize("axis, keepdims", [(None, False), (1, False), (-1, True), ((0, 2), False)])
def test_prod_gradient_is_the_product_of_the_others_with_zeros_in_x(axis, keepdims):
    r = np.random.default_rng(11)
    xv = r.uniform(0.5, 1.5, (3, 4, 5))
    xv[0, 1, 2] = 0.0
    xv[1, 2, :2] = 0.0  # two zeros in one row: the others' products are 0 there
    xv[2, 0, 3] = -0.0
    x = K.variable(xv, dtype="float64")
    gv = r.standard_normal(np.prod(xv, axis=axis, keepdims=keepdims).shape)
    (got,) = K.function([], K.gradients(K.sum(K.prod(x, axis, keepdims) * K.constant(gv, "float64")), [x]))([])
    axes = tuple(range(3)) if axis is None else tuple(a % 3 for a in np.atleast_1d(axis))
    want = np.empty_like(xv)
    g_full = np.broadcast_to(np.expand_dims(gv, axes) if not keepdims else gv, xv.shape)
    for i in np.ndindex(*xv.shape):  # each element's derivative: the product of the others it meets
        sel = tuple(slice(None) if d in axes else i[d] for d in range(3))
        block = xv[sel].copy()
        pos = tuple(i[d] for d in range(3) if d in axes)
        block[pos] = 1.0
        want[i] = g_full[i] * np.prod(block)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300)


def test_sqrt_gradient_is_zero_below_zero():
    # Keras 2 clips x to [0, inf) before the root: the gradient is 0 below 0 (not g / 0 = inf).
    x = K.constant(np.array([-1.0, -1e-8, 0.25, 4.0, np.nan], np.float32))
    (g,) = K.function([], K.gradients(K.sum(K.sqrt(x)), [x]))([])
    np.testing.assert_array_equal(g, [0.0, 0.0, 1.0, 0.25, 0.0])


def test_clip_gradient_with_open_bounds_and_at_the_bounds():
    x = K.constant(np.array([[-1.0, 0.3, 0.5, 2.0]], np.float32))
    for lo, hi, want in ((None, 0.3, [1, 1, 0, 0]), (-0.5, None, [0, 1, 1, 1]), (None, None, [1, 1, 1, 1]),
                         (0.3, 0.5, [0, 1, 1, 0]), (0.5, 0.3, [0, 0, 1, 0])):  # (max < min: max = min)
        (g,) = K.function([], K.gradients(K.sum(K.clip(x, lo, hi)), [x]))([])
        np.testing.assert_array_equal(g[0], want)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_hard_sigmoid_gradient_at_its_bounds(dtype):
    # clip(0.2 x + 0.5, 0, 1) passes g * 0.2 wherever 0.2 x + 0.5 lies in [0, 1], bounds included
    # (tf.clip_by_value's minimum and maximum), computed as the forward pass computes it.
    t = np.dtype(dtype).type
    near = [t(-2.5), t(2.5), np.nextafter(t(2.5), t(3)), np.nextafter(t(-2.5), t(-3)), t(2.6), t(-2.6), t(0)]
    x = np.array(near, dtype)
    xv = K.constant(x, dtype)
    (g,) = K.function([], K.gradients(K.sum(K.hard_sigmoid(xv)), [xv]))([])
    (y,) = K.function([], [K.hard_sigmoid(xv)])([])
    wide = np.float64 if dtype == "float64" else np.float32
    u = (x.astype(wide) * wide(0.2)).astype(wide) + wide(0.5)
    want = np.where((u >= 0) & (u <= 1), np.asarray(0.2, dtype), np.asarray(0.0, dtype))
    np.testing.assert_array_equal(g, want)
    np.testing.assert_array_equal(y, np.clip(u, 0, 1).astype(dtype))


def test_relu_and_prod_gradients_of_scalars_and_empty_arrays():
    x = K.variable(np.float32(1.0))
    for params in ({"max_value": 5.0}, {"max_value": 6.0}, {"alpha": 0.1, "threshold": 0.5, "max_value": 5.0}):
        (g,) = K.function([], K.gradients(K.relu(x, **params), [x]))([])
        assert float(g) == 1.0, params
    for shape, axis in (((0, 3), 1), ((2, 0), 0), ((0, 3), None)):
        p = K.placeholder((None, None))
        (g,) = K.function([p], K.gradients(K.sum(K.prod(p, axis=axis)), [p]))([np.zeros(shape, np.float32)])
        assert g.shape == shape


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_relu_gradient_rules_follow_the_parameters_as_given(dtype):
    # Which rule applies (leaky_relu, relu6, a threshold) is decided on Keras's parameters before
    # they meet x's dtype: 6.0000001 rounds to 6 in float32 but is not relu6 (inclusive at its
    # maximum); a tiny threshold is a threshold, not leaky_relu; NaN parameters compare as NaN.
    x = K.constant(np.array([6.0, 0.0, 1.0], dtype), dtype)
    cases = [({"max_value": 6.0000001 if dtype == "float32" else 6.001}, [1, 0, 1]),
             ({"alpha": 0.1, "threshold": 1e-50}, [1, 0, 1]), ({"max_value": 6.0, "threshold": 1e-50}, [1, 0, 1]),
             ({"max_value": float("nan")}, [0, 0, 0])]
    for params, want in cases:
        (g,) = K.function([], K.gradients(K.sum(K.relu(x, **params)), [x]))([])
        np.testing.assert_array_equal(g, np.asarray(want, dtype), err_msg=str(params))
    from kcore._kernels import NUMPY, ElementwiseKind
    with pytest.raises(ValueError, match="only relu_grad takes parameters"):
        NUMPY.elementwise(ElementwiseKind.add, np.ones(2), np.ones(2), 1.0)
    slope = NUMPY.elementwise(ElementwiseKind.relu_grad, np.ones(2), np.array([-1.0, 1.0]))  # (relu's defaults)
    np.testing.assert_array_equal(slope, [0, 1])


def test_float16_pointwise_kernel_gradient_sums_once():
    # Partial products rounded to float16 could overflow (+inf, -inf: NaN) where the whole sum is 0.
    xv = np.ones((2, 32, 32, 1), np.float16)
    gv = np.concatenate([np.full((1, 32, 32, 1), 64, np.float16), np.full((1, 32, 32, 1), -64, np.float16)])
    x, k = K.placeholder(xv.shape, dtype="float16"), K.variable(np.ones((1, 1, 1, 1)), dtype="float16")
    (gk,) = K.function([x], K.gradients(K.sum(K.conv2d(x, k) * K.constant(gv, "float16")), [k]))([xv])
    assert gk.ravel().tolist() == [0.0]
