"""Convolution chains computed fused when a K.function runs (kcore/_fusion.py): the same bits as
the ops one by one for float32/float64, closer to exact for float16, only where nothing else
reads the intermediates, through the learning phase's switches, for every thread count."""
import math

import numpy as np
import pytest

from kcore import _fusion, _graph
from kcore import backend as K
from kcore._runtime import _core


def _unfused(items, feed):
    return _graph.evaluate(items, feed)  # no fusion cache: op by op


def _chain(kind, x, w, dtype, rng, depthwise=False):
    channels = w.shape[-2] * w.shape[-1] if depthwise else w.shape[-1]
    conv = K.depthwise_conv2d(x, w, padding="same") if depthwise else K.conv2d(x, w, padding="same")
    scale = K.constant(rng.uniform(0.5, 2, channels), dtype=dtype)
    shift = K.constant(rng.standard_normal(channels), dtype=dtype)
    if kind == "bias_relu":
        return K.relu(K.bias_add(conv, shift))
    if kind == "bn_relu6":
        mean = K.constant(rng.standard_normal(channels), dtype=dtype)
        var = K.constant(rng.uniform(0.5, 2, channels), dtype=dtype)
        return K.relu(K.batch_normalization(conv, mean, var, shift, scale, epsilon=1e-3), max_value=6)
    if kind in ("bias_bn_relu", "bias_bn"):  # ResNet50: Conv2D with its bias -> BatchNormalization -> relu
        mean = K.constant(rng.standard_normal(channels), dtype=dtype)
        var = K.constant(rng.uniform(0.5, 2, channels), dtype=dtype)
        bias = K.constant(rng.standard_normal(channels), dtype=dtype)
        bn = K.batch_normalization(K.bias_add(conv, bias), mean, var, shift, scale, epsilon=1e-3)
        return K.relu(bn) if kind == "bias_bn_relu" else bn
    if kind in ("bias_bn_add_relu", "add_first_relu", "bias_bn_add", "add_relu"):
        # ResNet50's residual blocks: Conv2D -> BatchNormalization -> Add(shortcut) -> relu. The
        # shortcut: a value of the result's shape (where x has more channels, a strided view of
        # x, read as a copy; else a 1x1 convolution of x).
        cin = K.int_shape(x)[-1]
        shortcut = ((x * 0.5)[..., :channels] if channels <= cin else
                    K.conv2d(x, K.constant(rng.standard_normal((1, 1, cin, channels)), dtype=dtype)))
        if kind == "add_relu":
            return K.relu(conv + shortcut)
        bn = _chain("bias_bn", x, w, dtype, rng, depthwise)
        if kind == "add_first_relu":
            return K.relu(shortcut + bn)
        return K.relu(bn + shortcut) if kind == "bias_bn_add_relu" else bn + shortcut
    if kind == "bias":
        return K.bias_add(conv, shift)
    if kind == "relu":
        return K.relu(conv)
    if kind == "relu_negative_max":  # (tf.clip_by_value's order: every element 0, NaN kept)
        return K.relu(conv, max_value=-0.5)
    if kind == "clip":
        return K.clip(conv, -0.5, 0.25)
    raise ValueError(kind)


@pytest.fixture
def fused_calls(monkeypatch):
    calls = []
    original = _fusion.runner

    def spy(chain):  # (every fused call, in a recorded schedule or not, is a runner's)
        run = original(chain)

        def counted(value):
            out = run(value)
            calls.append(out is not None)
            return out

        return counted

    monkeypatch.setattr(_fusion, "runner", spy)
    return calls


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", ["bias_relu", "bn_relu6", "bias_bn_relu", "bias_bn", "bias", "relu", "clip",
                                  "bias_bn_add_relu", "add_first_relu", "bias_bn_add", "add_relu"])
@pytest.mark.parametrize("depthwise,ksize", [(False, 3), (False, 1), (True, 3)])
def test_fused_chains_give_the_unfused_bits(kind, dtype, depthwise, ksize, fused_calls, rng):
    x = K.placeholder((None, 9, 11, 6), dtype=dtype)
    w = K.constant((rng.standard_normal((ksize, ksize, 6, 1 if depthwise else 5)) / 3), dtype=dtype)
    y = _chain(kind, x, w, dtype, rng, depthwise)
    f = K.function([x], [y])
    xv = rng.standard_normal((3, 9, 11, 6)).astype(dtype)
    xv[0, 1, 2, 3] = np.nan
    got = f([xv])[0]
    assert fused_calls == [True]
    want = _unfused([y], {x: xv})[0]
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes() == want.tobytes()


def test_relu_with_a_negative_maximum_is_not_fused(fused_calls, rng):
    # tf.clip_by_value's order gives +0 everywhere (NaN kept), where the epilogue's would keep a -0.
    x = K.placeholder((None, 9, 11, 6))
    w = K.constant(rng.standard_normal((3, 3, 6, 5)) / 3)
    y = _chain("relu_negative_max", x, w, "float32", rng)
    xv = rng.standard_normal((3, 9, 11, 6)).astype(np.float32)
    xv[0, 1, 2, 3] = np.nan
    got = K.function([x], [y])([xv])[0]
    assert fused_calls == []
    assert got.tobytes() == _unfused([y], {x: xv})[0].tobytes()
    assert np.all((got == 0) | np.isnan(got)) and not np.signbit(got[got == 0]).any() and np.isnan(got).any()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", ["bias_bn_relu", "clip", "bias_bn_add_relu", "add_first_relu"])
@pytest.mark.parametrize("height,width,channels,filters", [(7, 9, 37, 300), (14, 13, 40, 70)])
def test_fused_chains_over_long_windows_many_filters_and_winograd(kind, dtype, height, width, channels, filters,
                                                                   fused_calls, rng, threads):
    # 7 x 9 x 37: 3 x 3 x 37 = 333 window elements (more than one depth block of the product, the
    # second starting inside a tap) and 300 filters (column blocks: the epilogue's channels start
    # past 0). 14 x 13 x 40: 7 x 7 output tiles per image, Winograd F(2x2, 3x3) (kernels/conv.cpp),
    # whose epilogue runs on each run of output positions of a tile row, for blocks of filters.
    x = K.placeholder((None, height, width, channels), dtype=dtype)
    w = K.constant(rng.standard_normal((3, 3, channels, filters)) / 10, dtype=dtype)
    y = _chain(kind, x, w, dtype, rng)
    f = K.function([x], [y])
    xv = rng.standard_normal((2, height, width, channels)).astype(dtype)
    want = _unfused([y], {x: xv})[0]
    for n in (1, 2, 3):
        threads.set_num_threads(n)
        got = f([xv])[0]
        assert got.tobytes() == want.tobytes()
    assert len(fused_calls) >= 3 and all(fused_calls)  # (add_first_relu: the shortcut's conv too)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_large_1x1_convolution_gets_the_same_bits_fused_or_alone(dtype, fused_calls, rng):
    # A 1x1 unit-stride convolution is a product of x itself; past the small-product size it runs
    # on the packed kernel with or without an epilogue (never an external BLAS for one of them).
    x = K.placeholder((None, 12, 12, 700), dtype=dtype)  # (700: more than one depth block)
    w = K.constant(rng.standard_normal((1, 1, 700, 96)) / 8, dtype=dtype)
    y = _chain("bias", x, w, dtype, rng)
    xv = rng.standard_normal((4, 12, 12, 700)).astype(dtype)
    got = K.function([x], [y])([xv])[0]
    assert fused_calls == [True]
    assert got.tobytes() == _unfused([y], {x: xv})[0].tobytes()


def test_float16_rounds_once(fused_calls, rng):
    x = K.placeholder((None, 8, 8, 16), dtype="float16")
    w = K.constant(rng.standard_normal((3, 3, 16, 8)) / 6, dtype="float16")
    b = rng.standard_normal(8).astype("float16")
    y = K.relu(K.bias_add(K.conv2d(x, w, padding="same"), K.constant(b, dtype="float16")))
    xv = rng.standard_normal((2, 8, 8, 16)).astype("float16")
    got = K.function([x], [y])([xv])[0].astype(np.float64)
    assert fused_calls == [True]
    unfused = _unfused([y], {x: xv})[0].astype(np.float64)
    # The exact value: float64 conv of the float16 values, + bias, relu.
    from kcore import _reference

    exact = np.maximum(_reference.conv_exact(xv, K.eval(w), (1, 1), (1, 1), [(1, 1), (1, 1)]) + b, 0)
    spacing = np.spacing(np.abs(exact).astype(np.float16)).astype(np.float64)
    assert np.all(np.abs(got - exact) <= 0.5 * spacing + 1e-7)  # rounded once
    assert np.all(np.abs(got - exact) <= np.abs(unfused - exact))  # never further than op by op
    assert not np.array_equal(got, unfused)  # (the conv's own rounding, which fusion skips, shows)


def test_an_add_that_broadcasts_or_promotes_is_computed_op_by_op(fused_calls, rng):
    # The residual must be a value of the result's shape and dtype: else the fused call declines
    # and the chain's ops run one by one.
    x = K.placeholder((None, 5, 5, 3))
    w = K.constant(rng.standard_normal((3, 3, 3, 4)).astype("float32"))
    conv = K.conv2d(x, w, padding="same")
    ys = [K.relu(conv + K.constant(np.arange(4.0), dtype="float32")),  # (4,): broadcast
          K.relu(conv + K.constant(np.full((1, 5, 5, 4), 0.5), dtype="float64"))]  # float64: promoted
    xv = rng.standard_normal((2, 5, 5, 3)).astype("float32")
    for y in ys:
        fused_calls.clear()
        got = K.function([x], [y])([xv])[0]
        want = _unfused([y], {x: xv})[0]
        assert fused_calls == [False]
        assert got.dtype == want.dtype and got.shape == want.shape and got.tobytes() == want.tobytes()
    # Behind Keras's BatchNormalization switch: op by op, the chain reads the picked branch.
    K.clear_session()
    x = K.placeholder((None, 5, 5, 3))
    conv = K.conv2d(x, w, padding="same")
    gamma, beta = K.constant(np.full(4, 1.5, np.float32)), K.constant(np.full(4, 0.25, np.float32))
    mean, var = K.constant(np.zeros(4, np.float32)), K.constant(np.ones(4, np.float32))
    train, _, _ = K.normalize_batch_in_training(conv, gamma, beta, [0, 1, 2])
    bn = K.in_train_phase(train, K.batch_normalization(conv, mean, var, beta, gamma))
    y = K.relu(bn + K.constant(np.arange(4.0), dtype="float32"))
    f = K.function([x, K.learning_phase()], [y])
    for _ in range(3):  # (the first call walks the graph, the others replay its schedule)
        fused_calls.clear()
        got = f([xv, 0])[0]
        assert fused_calls == [False]
        assert got.tobytes() == _unfused([y], {x: xv, K.learning_phase(): np.asarray(0)})[0].tobytes()
    K.clear_session()


@pytest.mark.parametrize("batch,channels", [(1, 8), (4, 8), (2, 48)])
def test_float16_residual_rounds_once_at_its_own_position(batch, channels, fused_calls, rng):
    # float16 convolutions run float32 products, the whole batch at once or (batch 4: an im2col
    # larger than kConvWholeBytes) in blocks of rows, or (16 channels and more) by Winograd in
    # blocks of tiles: each block's epilogue reads the residual at its own output positions.
    from kcore import _reference

    x = K.placeholder((None, 64, 64, channels), dtype="float16")
    w = K.constant(rng.standard_normal((3, 3, channels, 8)) / (1.5 * math.sqrt(channels)), dtype="float16")
    r = K.placeholder((None, 64, 64, 8), dtype="float16")
    y = K.relu(K.conv2d(x, w, padding="same") + r)
    xv = rng.standard_normal((batch, 64, 64, channels)).astype("float16")
    rv = rng.standard_normal((batch, 64, 64, 8)).astype("float16")
    got = K.function([x, r], [y])([xv, rv])[0].astype(np.float64)
    assert fused_calls == [True]
    exact = np.maximum(_reference.conv_exact(xv, K.eval(w), (1, 1), (1, 1), [(1, 1), (1, 1)]) + rv, 0)
    # One rounding to float16 (half a spacing) on top of the float32 sum's own error (a few units
    # of float32 rounding of the sum of |x| |w| + |r|): rounding twice would cost up to a spacing.
    bound = _reference.conv_exact(np.abs(xv), np.abs(K.eval(w)), (1, 1), (1, 1), [(1, 1), (1, 1)]) + np.abs(rv)
    spacing = np.spacing(np.abs(exact).astype(np.float16)).astype(np.float64)
    assert np.all(np.abs(got - exact) <= 0.5 * spacing + 4 * np.finfo(np.float32).eps * bound)


def test_intermediates_read_elsewhere_are_not_fused(fused_calls, rng):
    x = K.placeholder((None, 5, 5, 3))
    w = K.constant(rng.standard_normal((3, 3, 3, 4)).astype("float32"))
    conv = K.conv2d(x, w, padding="same")
    y = K.relu(conv)
    f = K.function([x], [y, conv])  # conv is an output too
    xv = rng.standard_normal((2, 5, 5, 3)).astype("float32")
    got_y, got_conv = f([xv])
    assert fused_calls == []
    assert np.array_equal(got_y, np.maximum(got_conv, 0))


def test_chains_behind_the_learning_phase(fused_calls, rng):
    # Keras's BatchNormalization: in_train_phase(batch statistics, moving statistics).
    K.clear_session()  # the learning phase: a placeholder again
    x = K.placeholder((None, 6, 6, 4))
    w = K.constant(rng.standard_normal((3, 3, 4, 4)).astype("float32"))
    conv = K.conv2d(x, w, padding="same")
    gamma, beta = K.constant(np.full(4, 1.5, np.float32)), K.constant(np.full(4, 0.25, np.float32))
    mean, var = K.constant(np.zeros(4, np.float32)), K.constant(np.ones(4, np.float32))
    train, _, _ = K.normalize_batch_in_training(conv, gamma, beta, [0, 1, 2])
    test = K.batch_normalization(conv, mean, var, beta, gamma)
    y = K.relu(K.in_train_phase(train, test), max_value=6)
    f = K.function([x, K.learning_phase()], [y])
    xv = rng.standard_normal((2, 6, 6, 4)).astype("float32")
    for phase in (0, 1, 0):
        got = f([xv, phase])[0]
        want = _unfused([y], {x: xv, K.learning_phase(): np.asarray(phase)})[0]
        assert got.tobytes() == want.tobytes(), phase
    assert fused_calls == [True, True]  # the test phase only: in training conv feeds the statistics too


def test_gradients_see_the_unfused_ops(rng):
    x = K.placeholder((None, 5, 5, 2))
    w = K.variable(rng.standard_normal((3, 3, 2, 3)).astype("float32"))
    b = K.variable(rng.standard_normal(3).astype("float32"))
    y = K.relu(K.bias_add(K.conv2d(x, w, padding="same"), b))
    loss = K.sum(y * y)
    f = K.function([x], [loss] + K.gradients(loss, [w, b]))
    xv = rng.standard_normal((2, 5, 5, 2)).astype("float32")
    got = f([xv])
    want = _unfused([loss] + K.gradients(loss, [w, b]), {x: xv})
    for g, h in zip(got, want, strict=True):
        np.testing.assert_allclose(g, h, rtol=1e-6)


def test_fused_convolution_is_bitwise_identical_for_every_thread_count(threads, rng):
    x = rng.standard_normal((4, 30, 30, 32)).astype("float32")
    outs = []
    for depthwise, w in ((False, rng.standard_normal((3, 3, 32, 48)).astype("float32")),
                         (True, rng.standard_normal((3, 3, 32, 1)).astype("float32"))):
        ch = 32 if depthwise else 48
        scale, shift = rng.uniform(0.5, 2, ch).astype("float32"), rng.standard_normal(ch).astype("float32")
        results = []
        for n in (1, 2, 3, 4):
            threads.set_num_threads(n)
            results.append(_core.conv_nd(x, w, [1, 1], [1, 1], [1, 1, 1, 1], depthwise, scale, shift, 0.0, 6.0)
                           .tobytes())
        assert all(r == results[0] for r in results)
        outs.append(results[0])


def test_epilogue_operands_are_checked(rng):
    x = rng.standard_normal((1, 4, 4, 3)).astype("float32")
    w = rng.standard_normal((1, 1, 3, 2)).astype("float32")
    with pytest.raises(ValueError, match=r"conv: scale must have shape \(2,\)"):
        _core.conv_nd(x, w, [1, 1], [1, 1], [0, 0, 0, 0], False, np.ones(3, np.float32))
    with pytest.raises(TypeError, match="conv: shift must be a C-contiguous array of x's dtype"):
        _core.conv_nd(x, w, [1, 1], [1, 1], [0, 0, 0, 0], False, None, np.ones(2, np.float64))
    with pytest.raises(ValueError, match="conv: the clip bounds must not be NaN"):
        _core.conv_nd(x, w, [1, 1], [1, 1], [0, 0, 0, 0], False, None, None, float("nan"), 1.0)
    with pytest.raises(ValueError, match="conv: residual must have the result's shape"):
        _core.conv_nd(x, w, [1, 1], [1, 1], [0, 0, 0, 0], False, residual=np.ones((1, 4, 4, 3), np.float32))
    with pytest.raises(TypeError, match="conv: residual must be a C-contiguous array of x's dtype"):
        _core.conv_nd(x, w, [1, 1], [1, 1], [0, 0, 0, 0], False, residual=np.ones((1, 4, 4, 2), np.float64))
    with pytest.raises(TypeError, match="conv: residual must be a C-contiguous array of x's dtype"):
        _core.conv_nd(x, w, [1, 1], [1, 1], [0, 0, 0, 0], False, residual=np.ones((1, 4, 4, 4), np.float32)[..., :2])


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_the_numpy_backend_fuses_as_its_ops_round(dtype, fused_calls, rng):
    # Its fused reference rounds the convolution, then x * scale + shift once, then clips: its ops' bits.
    from kcore import numpy_backend as NK

    x = NK.placeholder((None, 6, 7, 3), dtype=dtype)
    w = NK.constant(rng.standard_normal((3, 3, 3, 4)) / 2, dtype=dtype)
    mean, var = NK.constant(rng.standard_normal(4), dtype=dtype), NK.constant(rng.uniform(0.5, 2, 4), dtype=dtype)
    beta, gamma = NK.constant(rng.standard_normal(4), dtype=dtype), NK.constant(rng.uniform(0.5, 2, 4), dtype=dtype)
    y = NK.relu(NK.batch_normalization(NK.conv2d(x, w, padding="same"), mean, var, beta, gamma), max_value=1.5)
    bias = NK.constant(rng.standard_normal(4), dtype=dtype)
    y2 = NK.relu(NK.batch_normalization(NK.bias_add(NK.conv2d(x, w, padding="same"), bias), mean, var, beta, gamma))
    y3 = NK.relu(NK.batch_normalization(NK.conv2d(x, w, padding="same"), mean, var, beta, gamma) + x[..., :1] * 3)
    xv = rng.standard_normal((2, 6, 7, 3)).astype(dtype)
    got = NK.function([x], [y, y2, y3])([xv])
    assert fused_calls == [True, True, False]  # (y3's residual broadcasts: op by op)
    want = _unfused([y, y2, y3], {x: xv})
    assert all(g.tobytes() == h.tobytes() for g, h in zip(got, want, strict=True))
    y4 = NK.relu(NK.batch_normalization(NK.conv2d(x, w, padding="same"), mean, var, beta, gamma) +
                 NK.concatenate([x, x[..., :1]], axis=-1))
    fused_calls.clear()
    got = NK.function([x], [y4])([xv])[0]
    assert fused_calls == [True]
    assert got.tobytes() == _unfused([y4], {x: xv})[0].tobytes()


@pytest.mark.parametrize("depthwise,strides", [(True, 2), (False, 2), (False, 1)])
def test_zero_padding_before_a_valid_convolution_is_absorbed(depthwise, strides, fused_calls, rng):
    # MobileNet's ZeroPadding2D -> strided DepthwiseConv2D('valid') -> BatchNormalization -> ReLU(6).
    x = K.placeholder((None, 12, 13, 4))
    padded = K.spatial_2d_padding(x, ((0, 1), (2, 1)))
    w = K.constant(rng.standard_normal((3, 3, 4, 1 if depthwise else 5)) / 3)
    conv = (K.depthwise_conv2d if depthwise else K.conv2d)(padded, w, strides=(strides, strides), padding="valid")
    ch = 4 if depthwise else 5
    y = K.relu(K.bias_add(conv, K.constant(rng.standard_normal(ch))), max_value=6)
    bare = K.conv2d(K.spatial_2d_padding(x, ((1, 1), (1, 1))), K.constant(rng.standard_normal((3, 3, 4, 2))))
    f = K.function([x], [y, bare])
    xv = rng.standard_normal((2, 12, 13, 4)).astype("float32")
    got = f([xv])
    assert fused_calls == [True, True]
    want = _unfused([y, bare], {x: xv})
    for g, h in zip(got, want, strict=True):
        assert g.shape == h.shape and np.array_equal(g, h)


def test_temporal_padding_before_conv1d(fused_calls, rng):
    x = K.placeholder((None, 9, 3))
    y = K.relu(K.conv1d(K.temporal_padding(x, (2, 0)), K.constant(rng.standard_normal((3, 3, 4))), padding="valid"))
    xv = rng.standard_normal((2, 9, 3)).astype("float32")
    got = K.function([x], [y])([xv])[0]
    assert fused_calls == [True] and got.shape == (2, 9, 4)
    assert np.array_equal(got, _unfused([y], {x: xv})[0])


def test_one_function_called_from_many_threads(rng):
    import threading

    x = K.placeholder((None, 8, 8, 3))
    w = K.constant(rng.standard_normal((3, 3, 3, 4)))
    f = K.function([x], [K.relu(K.bias_add(K.conv2d(x, w, padding="same"), K.constant(np.ones(4))))])
    xs = [rng.standard_normal((2, 8, 8, 3)).astype("float32") for _ in range(8)]
    want = [f([v])[0] for v in xs]
    f._fusion.clear()  # every thread starts on an empty plan cache
    got: dict = {}
    errors = []

    def work(i):
        try:
            for _ in range(5):
                got[i] = f([xs[i]])[0]
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(np.array_equal(got[i], want[i]) for i in range(8))


@pytest.mark.parametrize("bounds,fuses", [
    ((np.float32(0), np.asarray(6.0, np.float32), np.asarray(0.0, np.float32)), True),  # Keras's ReLU(6.) layer
    ((np.asarray(0.0), np.asarray(np.inf), np.asarray(0.0)), True),
    ((np.asarray(0.0), np.asarray(np.nan), np.asarray(0.0)), False),  # NaN bounds stay op by op
    ((np.asarray(0.1), np.asarray(6.0), np.asarray(0.0)), False)])  # alpha: not a clip
def test_relu_parameters_as_keras_layers_keep_them(bounds, fuses, fused_calls, rng):
    # ReLU keeps its parameters as K.cast_to_floatx's 0-d arrays; they fuse as the numbers would.
    alpha, max_value, threshold = bounds
    x = K.placeholder((None, 7, 7, 3))
    w = K.constant(rng.standard_normal((3, 3, 3, 4)) / 3)
    y = K.relu(K.conv2d(x, w, padding="same"), alpha=alpha, max_value=max_value, threshold=threshold)
    xv = rng.standard_normal((2, 7, 7, 3)).astype("float32") * 10
    got = K.function([x], [y])([xv])[0]
    assert fused_calls == ([True] if fuses else [])
    assert got.tobytes() == _unfused([y], {x: xv})[0].tobytes()


# ---------------------------------------------------------------------------------------------
# Elementwise chains (an optimizer's update, an activation's arithmetic) in one native pass.


@pytest.fixture
def chain_calls(monkeypatch):
    """The native elementwise_chain calls a test's functions make: True where it computed one."""
    calls = []
    original = _core.elementwise_chain

    def spy(steps, operands):
        out = original(steps, operands)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(_core, "elementwise_chain", spy)
    return calls


def _adam(dtype, shape):
    p, m, v, g = (K.placeholder(shape, dtype=dtype) for _ in range(4))
    beta_1, lr = K.variable(0.9, dtype=dtype), K.variable(1e-3, dtype=dtype)
    m_t = beta_1 * m + (1.0 - beta_1) * g
    v_t = 0.999 * v + (1.0 - 0.999) * K.square(g)
    p_t = p - lr * m_t / (K.sqrt(v_t) + 1e-7)
    return [p, m, v, g], [m_t, v_t, p_t]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(3, 5), (257,), (64, 300), (2, 0), (1000, 130)])
def test_an_optimizer_update_runs_as_chains_with_the_ops_bits(dtype, shape, chain_calls, rng):
    # m_t and v_t are read twice (outputs and p_t): each chain stops there, and p_t's reads them.
    inputs, outputs = _adam(dtype, shape)
    values = [rng.standard_normal(shape).astype(dtype) for _ in range(4)]
    values[2] = np.abs(values[2])
    values[3].flat[::7] = np.nan if values[3].size else 0
    f = K.function(inputs, outputs)
    first = f(values)  # (records the schedule, op by op)
    assert chain_calls == []
    again = f(values)
    assert chain_calls == [True] * 3
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
        assert b.dtype == np.dtype(dtype) and b.shape == shape and b.flags.c_contiguous
    # Against NumPy's float ops, one rounding each (these ops are exact in IEEE arithmetic).
    t = np.dtype(dtype).type
    p, m, v, g = values
    with np.errstate(all="ignore"):
        m_t = t(0.9) * m + (t(1) - t(0.9)) * g
        v_t = t(0.999) * v + t(1.0 - 0.999) * (g * g)
        want = p - t(1e-3) * m_t / (np.sqrt(v_t) + t(1e-7))
    np.testing.assert_array_equal(again[0], m_t)
    np.testing.assert_array_equal(again[2], want)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_chains_of_functions_give_the_ops_bits(dtype, chain_calls, threads, rng):
    x, y = K.placeholder((None, 37), dtype=dtype), K.placeholder((None, 37), dtype=dtype)
    out = K.log(K.sigmoid(x) + K.exp(-K.abs(y))) * K.tanh(x - y) / K.softplus(y) - K.maximum(K.minimum(x, y), 0.25)
    out = K.round(K.sign(out) * K.softsign(out) * 10.0) + K.hard_sigmoid(x) * K.sqrt(K.abs(y))
    xv = (rng.standard_normal((4099, 37)) * 3).astype(dtype)
    yv = (rng.standard_normal((4099, 37)) * 3).astype(dtype)
    xv.flat[::97], yv.flat[5::89], xv.flat[3::101] = np.nan, np.inf, -np.inf
    f = K.function([x, y], [out])
    (first,) = f([xv, yv])
    for n in (1, 2, 3):
        threads.set_num_threads(n)
        (got,) = f([xv, yv])
        np.testing.assert_array_equal(got, first)
    assert chain_calls == [True] * 6  # (two chains: the first line's value is read twice)


def test_chains_whose_operands_do_not_allow_one_pass_run_op_by_op(chain_calls, rng):
    x = K.placeholder((None, 8))
    fs = {"broadcast": lambda: K.exp(x * K.constant(rng.standard_normal(8))) + 1.0,
          "float16": lambda: K.exp(K.cast(x, "float16") * 2.0) + 1.0,
          "float64 scalar": lambda: K.exp(x * 2.0) + np.float64(1.5)}
    xv = rng.standard_normal((5, 8)).astype(np.float32)
    for name, make in fs.items():
        out = make()
        f = K.function([x], [out])
        first, again = f([xv])[0], f([xv])[0]
        alone = _unfused([out], {x: xv})[0]
        np.testing.assert_array_equal(again, first, err_msg=name)
        np.testing.assert_array_equal(again, alone, err_msg=name)
        assert again.dtype == alone.dtype, name
    assert chain_calls == [False] * 3  # (a NumPy float64 is a value of its own dtype, not a Python number)
    # A transposed view fed in: op by op too.
    f = K.function([x], [K.exp(x) * 3.0])
    f([xv])
    chain_calls.clear()
    np.testing.assert_array_equal(f([xv.T.copy().T])[0], f([xv])[0])
    assert chain_calls[0] is False and chain_calls[1] is True


def test_intermediates_read_elsewhere_stay_nodes(chain_calls, rng):
    x = K.placeholder((None, 16))
    a = K.exp(x) * 2.0
    b = K.sqrt(K.abs(a - 1.0))
    f = K.function([x], [a, b, b * b + a])
    xv = rng.standard_normal((9, 16)).astype(np.float32)
    first = f([xv])
    again = f([xv])
    for u, w in zip(first, again, strict=True):
        np.testing.assert_array_equal(u, w)
    np.testing.assert_array_equal(again[2], again[1] * again[1] + again[0])
    assert chain_calls == [True] * 3  # (exp(x) * 2, sqrt(abs(a - 1)), b * b + a: the outputs are read)


def test_elementwise_chain_declines_what_it_does_not_take():
    E = _core.ElementwiseKind
    x = np.ones((4, 3), np.float32)
    add = (int(E.add), 0, 1)
    assert _core.elementwise_chain(add, (x, x)) is not None
    declined = [((int(E.add), 0, 2), (x, x)), ((int(E.add) + 256, 0, 1), (x, x)), ((-1, 0, 1), (x, x)),
                ((int(E.relu), 0, 0), (x,)), ((int(E.equal), 0, 1), (x, x)),
                (add, (x, x.astype(np.float64))), (add, (x, np.ones((3, 4), np.float32))), (add, (x, x.T)),
                (add, (x, 1e300)), (add, (x, float("nan"))), (add, (x, True)), (add, (x, np.float16(1))),
                (add, (x.astype(np.float16), x.astype(np.float16))), (add, (1.0, 2.0)), (add, (x, "1")),
                ((), (x,)), ((int(E.add), 0), (x, x)), (add, [x, x])]
    for steps, operands in declined:
        assert _core.elementwise_chain(steps, operands) is None, (steps, operands)
    assert _core.elementwise_chain(add, (x, np.float64(2))) is None
    assert _core.elementwise_chain(add, (x.astype(np.float64), np.float64(2))) is not None
    for two in (np.asarray(np.float32(2)), np.float32(2), 2, 2.0):
        np.testing.assert_array_equal(_core.elementwise_chain(add, (x, two)), x + 2)


def test_a_chain_of_many_operands_splits(chain_calls, rng):
    # 24 inputs summed in turn: one pass takes at most 16 operands; the rest of the chain is
    # another pass (every node still computed once, in order).
    xs = [K.placeholder((3, 70)) for _ in range(24)]
    total = xs[0]
    for i, x in enumerate(xs[1:]):
        total = K.exp(total * 0.5) + x if i % 5 == 0 else total + x
    values = [rng.standard_normal((3, 70)).astype(np.float32) for _ in xs]
    f = K.function(xs, [total])
    (first,) = f(values)
    (again,) = f(values)
    np.testing.assert_array_equal(again, first)
    assert chain_calls == [True, True]


def _twice(f, values, reset=None):
    """f's first call (op by op, recording) and second (replayed, chains fused)."""
    if reset:
        reset()
    first = f(values)
    if reset:
        reset()
    return first, f(values)


def test_replayed_chains_match_the_recording_where_values_are_read_around_them(rng):
    # A chain's nodes run where its last node does: the values they read stay until then (the
    # mean and std read x between the chain's steps), convolution chains are not links, a NumPy
    # float64 value meeting float32 keeps its own arithmetic, and a step reading a variable does
    # not move past an update made by a control dependency.
    x = K.placeholder((None, 6))
    xv = rng.standard_normal((5, 6)).astype(np.float32)
    cases = [(K.function([x], [(x - K.mean(x)) / (K.std(x) + 1e-7)]), [xv], None),
             (K.function([x], [x * 2.0 + K.sum(x)]), [xv], None)]
    img, res = K.placeholder((1, 5, 5, 2)), K.placeholder((1, 5, 5, 3))
    conv = K.conv2d(img, K.variable(rng.random((3, 3, 2, 3))), padding="same")
    conv_values = [rng.random((1, 5, 5, 2)).astype(np.float32), rng.random((1, 5, 5, 3)).astype(np.float32)]
    cases += [(K.function([img, res], [(conv + res) * 2.0]), conv_values, None),
              (K.function([img, res], [conv + res * 2.0]), conv_values, None)]
    x64, y = K.placeholder((2,), dtype="float64"), K.placeholder((3,))
    scalar_values = [np.array([0.6066357757671799, 0.2]), np.array([1, 2, 3], np.float32)]
    cases += [(K.function([x64, y], [K.exp(x64[0]) * y]), scalar_values, None),
              (K.function([x64, y], [(x64[0] * 3.0) * y]), scalar_values, None)]
    v = K.variable([1.0, 2.0, 3.0])
    twice_v = v * 2.0
    with K.control_dependencies([K.update_add(v, y)]):
        after = y * 3.0
    cases.append((K.function([y], [twice_v + after]), [np.ones(3, np.float32)],
                  lambda: K.set_value(v, np.array([1.0, 2.0, 3.0], np.float32))))
    for f, values, reset in cases:
        first, again = _twice(f, values, reset)
        for a, b in zip(first, again, strict=True):
            np.testing.assert_array_equal(a, b)
            assert a.dtype == b.dtype
    np.testing.assert_array_equal(_twice(*cases[-1])[1][0], [5.0, 7.0, 9.0])


def test_steps_do_not_move_past_control_dependencies_through_views(rng):
    # The update writes into v's memory: a view of v (reshape, slice) read by a chain step must be
    # read where the recording read it.
    y = K.placeholder((3,))
    v = K.variable([1.0, 2.0, 3.0])
    for view in (K.reshape(v, (3,)), v[0:3], K.stop_gradient(v)):
        twice = view * 2.0
        with K.control_dependencies([K.update_add(v, y)]):
            after = y * 3.0
        f = K.function([y], [twice + after])
        first, again = _twice(f, [np.ones(3, np.float32)], lambda: K.set_value(v, np.array([1.0, 2.0, 3.0])))
        np.testing.assert_array_equal(first[0], [5.0, 7.0, 9.0])
        np.testing.assert_array_equal(again[0], [5.0, 7.0, 9.0])


def test_a_declined_chain_keeps_one_intermediate_at_a_time(rng):
    import tracemalloc

    x, g = K.placeholder((400, 1000)), K.placeholder((1000,))
    t = x
    for _ in range(12):
        t = K.tanh(t * g + 0.5)  # (a broadcast row: op by op)
    f = K.function([x, g], [t])
    values = [rng.standard_normal((400, 1000)).astype(np.float32), rng.standard_normal(1000).astype(np.float32)]
    peaks = []
    for _ in range(2):
        tracemalloc.start()
        f(values)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] <= 2 * peaks[0], peaks
