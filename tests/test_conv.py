"""Convolutions, pooling, resizing, batch normalization and in_top_k against oracles written here:
loops over output positions that skip out-of-range taps (no padded copies, unlike kcore's
reference), adjoint identities for the transposed convolutions, and hand-worked values."""
import itertools
import math

import numpy as np
import pytest

from kcore import backend as K
from kcore import numpy_backend as KN
from reference import tf_out_and_start

BACKENDS = [pytest.param(K, id="kcore"), pytest.param(KN, id="numpy")]
rng = np.random.default_rng(7)


def naive_conv(x, w, strides, dilation, padding, depthwise=False):
    """x (batch, *spatial, channels), w (*kernel, channels, out|multiplier), channels_last."""
    nd = x.ndim - 2
    ksize = w.shape[:nd]
    geo = [tf_out_and_start(x.shape[1 + i], ksize[i], strides[i], dilation[i], padding) for i in range(nd)]
    c, m = x.shape[-1], w.shape[-1]
    out = np.zeros((x.shape[0], *(g[0] for g in geo), c * m if depthwise else m))
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    for o in np.ndindex(*out.shape[1:-1]):
        for k in np.ndindex(*ksize):
            pos = tuple(o[i] * strides[i] + geo[i][1] + k[i] * dilation[i] for i in range(nd))
            if all(0 <= p < x.shape[1 + i] for i, p in enumerate(pos)):
                v = x64[(slice(None), *pos)]
                out[(slice(None), *o)] += (v[:, :, None] * w64[k]).reshape(len(v), -1) if depthwise else v @ w64[k]
    return out


def naive_pool(x, size, strides, padding, mode):
    nd = x.ndim - 2
    geo = [tf_out_and_start(x.shape[1 + i], size[i], strides[i], 1, padding) for i in range(nd)]
    out = np.zeros((x.shape[0], *(g[0] for g in geo), x.shape[-1]))
    for o in np.ndindex(*out.shape[1:-1]):
        lo = [max(o[i] * strides[i] + geo[i][1], 0) for i in range(nd)]
        hi = [min(o[i] * strides[i] + geo[i][1] + size[i], x.shape[1 + i]) for i in range(nd)]
        win = x[(slice(None), *(slice(a, b) for a, b in zip(lo, hi, strict=True)))].astype(np.float64)
        flat = win.reshape(x.shape[0], -1, x.shape[-1])
        out[(slice(None), *o)] = flat.max(axis=1) if mode == "max" else flat.mean(axis=1)
    return out


def tol(dtype):
    return {np.float16: 2e-3, np.float32: 1e-5, np.float64: 1e-12}[np.dtype(dtype).type]


def channels_first(a):
    return np.ascontiguousarray(np.moveaxis(a, -1, 1))


def check(got, want, dtype, scale=1.0):
    got = np.asarray(got)
    assert got.dtype == np.dtype(dtype) and got.shape == want.shape
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=tol(dtype), atol=tol(dtype) * scale)


CONV_CASES = [  # (nd, spatial, kernel, strides, dilation, padding)
    (1, (9,), (3,), (1,), (1,), "valid"), (1, (9,), (3,), (2,), (1,), "same"), (1, (10,), (3,), (1,), (2,), "causal"),
    (1, (7,), (4,), (3,), (1,), "causal"), (2, (7, 6), (3, 3), (1, 1), (1, 1), "same"),
    (2, (7, 6), (3, 2), (2, 3), (1, 1), "same"), (2, (8, 8), (3, 3), (1, 1), (2, 2), "valid"),
    (2, (5, 4), (1, 1), (2, 2), (1, 1), "valid"), (2, (4, 4), (5, 5), (1, 1), (1, 1), "same"),
    (3, (5, 4, 6), (2, 3, 2), (1, 2, 1), (1, 1, 2), "same"), (3, (4, 4, 4), (3, 3, 3), (1, 1, 1), (1, 1, 1), "valid"),
]
CONV_FN = {1: "conv1d", 2: "conv2d", 3: "conv3d"}


@pytest.mark.parametrize("B", BACKENDS)
@pytest.mark.parametrize("nd,spatial,ksize,strides,dilation,padding", CONV_CASES)
@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_matches_the_loop(B, nd, spatial, ksize, strides, dilation, padding, fmt, dtype):
    x = rng.standard_normal((2, *spatial, 3)).astype(dtype)
    w = rng.standard_normal((*ksize, 3, 4)).astype(dtype)
    want = naive_conv(x, w, strides, dilation, padding)
    xin = channels_first(x) if fmt == "channels_first" else x
    got = getattr(B, CONV_FN[nd])(xin, w, strides=strides if nd > 1 else strides[0], padding=padding,
                                  data_format=fmt, dilation_rate=dilation if nd > 1 else dilation[0])
    check(got, channels_first(want) if fmt == "channels_first" else want, dtype, scale=10)


def test_conv_float16_accumulates_wide():
    x = rng.standard_normal((1, 16, 16, 32)).astype(np.float16)
    w = rng.standard_normal((3, 3, 32, 8)).astype(np.float16)
    want = naive_conv(x, w, (1, 1), (1, 1), "same")
    bound = naive_conv(np.abs(x), np.abs(w), (1, 1), (1, 1), "same")
    got = K.conv2d(x, w, padding="same")
    assert got.dtype == np.float16
    # float32 sums of the 288 taps, rounded once to float16: within half a float16 ulp of the exact
    # value plus the float32 sum's error (float16 sums would be off by many float16 ulps).
    half_ulp = np.spacing(np.abs(want).astype(np.float16)).astype(np.float64) / 2
    err = np.abs(got.astype(np.float64) - want)
    assert np.all(err <= half_ulp + 288 * 2.0 ** -24 * bound)


@pytest.mark.parametrize("B", BACKENDS)
@pytest.mark.parametrize("strides,padding,dilation", [((1, 1), "same", (1, 1)), ((2, 2), "same", (1, 1)),
                                                      ((2, 1), "valid", (1, 1)), ((1, 1), "same", (2, 2))])
def test_depthwise_and_separable(B, strides, padding, dilation):
    x = rng.standard_normal((2, 7, 6, 3))
    dw = rng.standard_normal((3, 3, 3, 2))
    pw = rng.standard_normal((1, 1, 6, 5))
    want = naive_conv(x, dw, strides, dilation, padding, depthwise=True)
    check(B.depthwise_conv2d(x, dw, strides, padding, dilation_rate=dilation), want, np.float64, 10)
    sep = naive_conv(want, pw, (1, 1), (1, 1), "valid")
    check(B.separable_conv2d(x, dw, pw, strides, padding, dilation_rate=dilation), sep, np.float64, 10)
    got = B.separable_conv2d(channels_first(x), dw, pw, strides, padding, "channels_first", dilation)
    check(got, channels_first(sep), np.float64, 10)
    x1 = rng.standard_normal((2, 9, 3))
    want1 = naive_conv(naive_conv(x1, dw[0], strides[:1], dilation[:1], padding, depthwise=True), pw[0],
                       (1,), (1,), "valid")
    check(B.separable_conv1d(x1, dw[0], pw[0], strides[0], padding, dilation_rate=dilation[0]), want1, np.float64, 10)


@pytest.mark.parametrize("B", BACKENDS)
@pytest.mark.parametrize("out_sp,ksize,strides,padding", [
    ((8, 8), (3, 3), (2, 2), "same"), ((7, 7), (3, 3), (2, 2), "same"), ((9, 7), (3, 2), (2, 1), "valid"),
    ((6, 6), (1, 1), (1, 1), "valid"), ((10, 10), (4, 4), (3, 3), "same")])
@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
def test_conv2d_transpose_is_the_adjoint_of_conv2d(B, out_sp, ksize, strides, padding, fmt):
    # <conv(y, w), x> == <y, conv_transpose(x, w)> for every y and x: the definition of a transpose.
    w = rng.standard_normal((*ksize, 4, 3))  # (kh, kw, out channels of the transpose = conv's in, in)
    y = rng.standard_normal((2, *out_sp, 4))
    cy = naive_conv(y, w, strides, (1, 1), padding)
    x = rng.standard_normal(cy.shape)
    shape = (None, *out_sp, 4)
    if fmt == "channels_first":
        got = B.conv2d_transpose(channels_first(x), w, (2, 4, *out_sp), strides, padding, fmt)
        got = np.moveaxis(got, 1, -1)
    else:
        got = B.conv2d_transpose(x, w, shape, strides, padding, fmt)
    assert got.shape == y.shape
    np.testing.assert_allclose(np.sum(got * y), np.sum(cy * x), rtol=1e-10)


@pytest.mark.parametrize("B", BACKENDS)
def test_conv3d_transpose_is_the_adjoint_of_conv3d(B):
    w = rng.standard_normal((2, 3, 3, 2, 3))
    y = rng.standard_normal((1, 5, 6, 7, 2))
    cy = naive_conv(y, w, (2, 2, 1), (1, 1, 1), "same")
    x = rng.standard_normal(cy.shape)
    got = B.conv3d_transpose(x, w, (1, 5, 6, 7, 2), (2, 2, 1), "same")
    np.testing.assert_allclose(np.sum(got * y), np.sum(cy * x), rtol=1e-10)


@pytest.mark.parametrize("B", BACKENDS)
@pytest.mark.parametrize("nd,spatial,size,strides,padding", [
    (2, (7, 6), (2, 2), (2, 2), "valid"), (2, (7, 6), (3, 3), (2, 2), "same"), (2, (5, 5), (3, 2), (1, 1), "same"),
    (3, (4, 5, 6), (2, 2, 3), (2, 2, 2), "same"), (3, (4, 4, 4), (2, 2, 2), (1, 1, 1), "valid")])
@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
def test_pooling_matches_the_loop(B, nd, spatial, size, strides, padding, mode, fmt):
    x = rng.standard_normal((2, *spatial, 3)).astype(np.float32)
    want = naive_pool(x, size, strides, padding, mode)
    fn = B.pool2d if nd == 2 else B.pool3d
    if fmt == "channels_first":
        check(fn(channels_first(x), size, strides, padding, fmt, mode), channels_first(want), np.float32)
    else:
        check(fn(x, size, strides, padding, fmt, mode), want, np.float32)


def test_max_pool_keeps_nan_and_negative_values():
    x = -np.ones((1, 3, 3, 1), np.float32) * np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3, 1)
    out = K.pool2d(x, (2, 2), (2, 2), "same", pool_mode="max")
    np.testing.assert_array_equal(out[0, :, :, 0], [[-1, -3], [-7, -9]])  # padding never wins
    x[0, 0, 0, 0] = np.nan
    assert np.isnan(K.pool2d(x, (2, 2), (2, 2), "same")[0, 0, 0, 0])


def test_taps_that_read_only_padding_are_dropped_not_padded_for(monkeypatch):
    # 'same' at a dilation past x's size: only the centre tap reads x (x was once padded to
    # 32773 x 32773 for it, 8 GB).
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 5, 5, 2)).astype(np.float32)
    w = rng.standard_normal((3, 3, 2, 4)).astype(np.float32)
    got = K.conv2d(x, w, padding="same", dilation_rate=(16384, 16384))
    np.testing.assert_allclose(got, x @ w[1, 1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(K.conv1d(x[0], w[0], padding="causal", dilation_rate=2 ** 31 - 1), x[0] @ w[0, 2],
                               rtol=1e-5, atol=1e-6)
    # Geometries where some taps drop, against the same convolutions with every tap (x padded).
    from kcore._api import conv as plans

    cases = [((5, 7), (3, 3), (1, 2), (4, 9)), ((4, 5), (3, 3), (1, 1), (10, 11)), ((8, 2), (2, 2), (3, 1), (6, 3)),
             ((4, 6), (3, 3), (1, 2), (9, 3))]
    inputs = [(rng.standard_normal((2, *n, 3)).astype(np.float32), rng.standard_normal((*k, 3, 2)).astype(np.float32))
              for n, k, _, _ in cases]

    def run():
        plans._PLANS.clear()
        return [(K.conv2d(xx, ww, s, "same", dilation_rate=d),
                 K.depthwise_conv2d(xx, ww[..., :1], s, "same", dilation_rate=d))
                for (xx, ww), (_, _, s, d) in zip(inputs, cases, strict=True)]

    assert all(plans.conv_plan("conv2d", 2, xx, ww, s, "same", None, d).taps is not None
               for (xx, ww), (_, _, s, d) in zip(inputs, cases, strict=True))
    trimmed = run()
    monkeypatch.setattr(plans, "_taps_inside", lambda *args: None)
    for got, want in zip(trimmed, run(), strict=True):
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    plans._PLANS.clear()


def test_pool_windows_far_larger_than_the_input_visit_only_the_input():
    # A window of 2**31 - 1 positions ('same' pads by ~2**30) once looped over every tap.
    import subprocess
    import sys

    code = """
import numpy as np
from kcore import backend as K
x = np.arange(50, dtype=np.float32).reshape(1, 5, 5, 2)
big = (2 ** 31 - 1,) * 2
print(K.pool2d(x, big, padding="same").max(), K.pool2d(x, big, padding="same", pool_mode="avg")[0, 2, 2].tolist(),
      K.pool3d(x[..., None, :], big + (10 ** 8,), padding="same", pool_mode="avg")[0, 0, 0, 0].tolist())
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["49.0", "[24.0,", "25.0]", "[24.0,", "25.0]"]


def test_average_pools_of_wide_windows_keep_their_accuracy():
    # float32 sums of 1e6 values drifted by ~1%; wide windows sum in float64.
    got = K.pool2d(np.full((1, 1000, 1000, 1), 0.1, np.float32), (1000, 1000), pool_mode="avg")
    assert got.dtype == np.float32 and got.item() == np.float32(0.1)
    assert K.pool2d(np.full((1, 300, 300, 1), 60000, np.float16), (300, 300), pool_mode="avg").item() == 60000
    assert K.pool3d(np.full((1, 100, 100, 100, 1), 0.1, np.float32), (100,) * 3, pool_mode="avg").item() == \
        np.float32(0.1)


# --- the native kernels (kernels/conv.cpp): their paths, dtypes, layouts and thread counts -----

NATIVE_CASES = {  # name: (x shape, kernel shape, strides, padding, depthwise)
    "whole im2col": ((2, 9, 11, 5), (3, 3, 5, 7), (1, 1), "same", False),
    "blocked im2col": ((4, 64, 64, 16), (3, 3, 16, 8), (1, 1), "same", False),  # > kConvWholeBytes
    "1x1 unit": ((3, 10, 10, 6), (1, 1, 6, 9), (1, 1), "valid", False),
    "strided": ((2, 15, 14, 4), (3, 3, 4, 5), (2, 2), "same", False),
    "depthwise": ((2, 13, 12, 8), (3, 3, 8, 1), (1, 1), "same", True),
    "depthwise multiplier": ((2, 9, 8, 5), (3, 3, 5, 3), (2, 2), "same", True),
    # Windows longer than a depth block of the product (the next block starting inside a tap),
    # filters in more than one column block, strides past the edge.
    "long windows": ((2, 7, 9, 37), (3, 3, 37, 300), (1, 1), "same", False),
    "long windows strided": ((2, 11, 13, 40), (3, 3, 40, 24), (2, 2), "valid", False),
    "stem": ((2, 23, 21, 3), (7, 7, 3, 16), (2, 2), "same", False),
}


@pytest.mark.parametrize("name", sorted(NATIVE_CASES))
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_native_conv_paths_every_thread_count(threads, name, dtype):
    xs, ws, strides, padding, depthwise = NATIVE_CASES[name]
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    fn = (lambda: K.depthwise_conv2d(x, w, strides, padding)) if depthwise else (lambda: K.conv2d(x, w, strides,
                                                                                                    padding))
    out = []
    for n in (1, 2, 3):
        threads.set_num_threads(n)
        out.append(fn())
    assert out[0].tobytes() == out[1].tobytes() == out[2].tobytes()
    want = naive_conv(x, w, strides, (1, 1), padding, depthwise)
    bound = naive_conv(np.abs(x), np.abs(w), strides, (1, 1), padding, depthwise)
    taps = int(np.prod(ws[:2])) * (1 if depthwise else ws[2])
    eps = {np.float16: 2.0 ** -24, np.float32: 2.0 ** -24, np.float64: 2.0 ** -53}[dtype]  # (float16: float32 sums)
    err = np.abs(out[0].astype(np.float64) - want)
    half_ulp = np.spacing(np.abs(want).astype(dtype)).astype(np.float64) / 2
    assert out[0].dtype == dtype and np.all(err <= half_ulp + 2 * taps * eps * bound)


@pytest.mark.parametrize("channels", [5, 16, 64, 512])  # 512: lines copied apart (kDwPadMinBytes)
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_depthwise_wide_lines_give_the_bits_of_narrow_windows(dtype, stride, channels):
    # Inside long lines the depthwise kernel takes several positions per tile (every tap inside
    # the line); a 3-wide window takes the general per-tap path. Same chains, so the same bits.
    x = rng.standard_normal((2, 5, 41, channels)).astype(dtype)
    w = rng.standard_normal((3, 3, channels, 1)).astype(dtype)
    full = K.depthwise_conv2d(x, w, (1, stride), "valid")
    assert full.shape[2] == (41 - 3) // stride + 1
    for ow in range(full.shape[2]):
        part = K.depthwise_conv2d(np.ascontiguousarray(x[:, :, ow * stride:ow * stride + 3]), w, (1, stride), "valid")
        assert part.tobytes() == np.ascontiguousarray(full[:, :, ow:ow + 1]).tobytes(), ow
    want = naive_conv(x, w, (1, stride), (1, 1), "valid", depthwise=True)
    check(full, want, dtype, 10)
    same = K.depthwise_conv2d(x, w, (stride, stride), "same")
    check(same, naive_conv(x, w, (stride, stride), (1, 1), "same", depthwise=True), dtype, 10)


@pytest.mark.parametrize("mult", [1, 2])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_a_large_depthwise_result_gets_the_bits_of_its_channels_alone(threads, dtype, stride, mult):
    # A large result goes out with streaming stores, the input lines the next output line reads
    # fetched ahead (x read in place); 8 channels alone take neither (no whole cache lines per
    # position). Each channel is the same chain of multiply-adds either way, a fused epilogue too.
    x = rng.standard_normal((4, 48, 48, 64 // mult)).astype(dtype)  # (y from 1 MiB: line-aligned)
    w = rng.standard_normal((3, 3, 64 // mult, mult)).astype(dtype)
    b = rng.standard_normal(64).astype(dtype)
    xp = K.placeholder((None, 48, 48, 64 // mult), dtype=dtype)
    fused = K.function([xp], [K.relu(K.bias_add(K.depthwise_conv2d(xp, w, (stride, stride), "same"), b))])
    for n in (1, 2):
        threads.set_num_threads(n)
        full = K.depthwise_conv2d(x, w, (stride, stride), "same")
        if dtype != np.float16:  # (float16 fused rounds once: tests/test_fusion.py)
            assert fused([x])[0].tobytes() == K.relu(K.bias_add(full, b)).tobytes()
        for c0 in range(0, 64 // mult, 8 // mult):
            part = K.depthwise_conv2d(np.ascontiguousarray(x[..., c0:c0 + 8 // mult]), w[:, :, c0:c0 + 8 // mult],
                                      (stride, stride), "same")
            assert part.tobytes() == np.ascontiguousarray(full[..., c0 * mult:(c0 + 8 // mult) * mult]).tobytes(), c0
    check(full, naive_conv(x, w, (stride, stride), (1, 1), "same", depthwise=True), dtype, 10)


@pytest.mark.parametrize("channels,kernel,strides,padding", [(3, 7, 2, "same"), (37, 3, 1, "same"), (16, 3, 2, "valid"),
                                                             (5, 1, 2, "same")])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_filter_gets_the_same_bits_whatever_the_other_filters(threads, dtype, channels, kernel, strides, padding):
    # With few filters the product reads the windows in place (a padded copy of x); with more it
    # packs them, filling the windows that reach into the padding. Each output is the same chain
    # of multiply-adds either way.
    x = rng.standard_normal((2, 30, 29, channels)).astype(dtype)
    w = rng.standard_normal((kernel, kernel, channels, 80)).astype(dtype)
    for n in (1, 2):
        threads.set_num_threads(n)
        few = K.conv2d(x, w[..., :8], (strides, strides), padding)
        many = K.conv2d(x, w, (strides, strides), padding)
        assert few.tobytes() == np.ascontiguousarray(many[..., :8]).tobytes()
    want = naive_conv(x, w, (strides, strides), (1, 1), padding)
    check(many, want, dtype, 10)


@pytest.mark.parametrize("filters", [64, 80])
def test_an_image_gets_the_same_bits_alone_or_in_a_large_batch(threads, filters):
    # One image makes a short product (B's panels read where they lie); 12 images a tall one
    # (B packed per task). Same chains of multiply-adds either way.
    x = rng.standard_normal((12, 64, 64, 3)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, filters)).astype(np.float32)
    for n in (1, 2):
        threads.set_num_threads(n)
        whole = K.conv2d(x, w, (1, 1), "same")
        for i in (0, 11):
            assert K.conv2d(x[i:i + 1], w, (1, 1), "same").tobytes() == whole[i:i + 1].tobytes()
    check(whole[:2], naive_conv(x[:2], w, (1, 1), (1, 1), "same"), np.float32, 10)


# 3x3 convolutions of unit strides with at least 16 channels and 36 output tiles of 2x2 per batch
# item go by Winograd F(2x2, 3x3) (kernels/conv.cpp).
WINOGRAD_CASES = [  # (batch, height, width, channels, filters, padding)
    (1, 12, 12, 16, 8, "same"),  # 36 tiles exactly, 16 channels; filters short of one panel
    (3, 15, 17, 37, 70, "same"),  # odd sizes (the last tiles hang over), channel and filter tails
    (2, 16, 19, 64, 33, "valid"),
    (2, 13, 14, 300, 40, "same"),  # channels past one depth block of the product (256)
]


@pytest.mark.parametrize("case", WINOGRAD_CASES)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_winograd_convolutions_match_the_loop_every_thread_count(threads, case, dtype):
    n, h, wd, c, f, padding = case
    x = rng.standard_normal((n, h, wd, c)).astype(dtype)
    w = (rng.standard_normal((3, 3, c, f)) / math.sqrt(9 * c)).astype(dtype)
    out = []
    for t in (1, 2, 3):
        threads.set_num_threads(t)
        out.append(K.conv2d(x, w, (1, 1), padding))
    assert out[0].tobytes() == out[1].tobytes() == out[2].tobytes()
    want = naive_conv(x, w, (1, 1), (1, 1), padding)
    check(out[0], want, dtype)
    if dtype != np.float16:  # (float16's error is its one rounding of the float32 result)
        # The transforms' extra roundings stay within a few units of the sum of |x| |w|.
        bound = naive_conv(np.abs(x), np.abs(w), (1, 1), (1, 1), padding)
        assert np.max(np.abs(out[0] - want) / bound) <= 4 * np.finfo(dtype).eps


def test_winograd_items_and_depth_slices_keep_their_bits(threads):
    # The choice follows each item's tiles, not the batch: an image alone or in a batch, and a
    # depth slice of a conv3d with a (1, 3, 3) kernel, get the bits of conv2d on that image.
    x = rng.standard_normal((5, 14, 14, 48)).astype(np.float32)
    w = rng.standard_normal((3, 3, 48, 40)).astype(np.float32)
    for t in (1, 2):
        threads.set_num_threads(t)
        whole = K.conv2d(x, w, (1, 1), "same")
        for i in (0, 4):
            assert K.conv2d(x[i:i + 1], w, (1, 1), "same").tobytes() == whole[i:i + 1].tobytes()
        vol = K.conv3d(x[None], w[None], (1, 1, 1), "same")
        assert vol[0].tobytes() == whole.tobytes()
    check(whole[:1], naive_conv(x[:1], w, (1, 1), (1, 1), "same"), np.float32, 10)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_winograd_convolutions_give_the_direct_sums_inf_and_nan(dtype):
    # A transformed tile that holds an inf gives inf - inf = NaN where the direct sum gives inf:
    # such a call is computed the direct way.
    x = rng.standard_normal((2, 16, 16, 32)).astype(dtype)
    w = rng.standard_normal((3, 3, 32, 24)).astype(dtype)
    x[0, 5, 7, 3] = np.inf
    x[1, 10, 10, 5] = -np.inf
    x[1, 2, 3, :] = np.nan
    got = K.conv2d(x, w, (1, 1), "same").astype(np.float64)
    want = naive_conv(x, w, (1, 1), (1, 1), "same")
    assert np.array_equal(np.isnan(got), np.isnan(want)) and np.isinf(want).sum() > 0
    assert np.array_equal(got[np.isinf(want)], want[np.isinf(want)])
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=tol(dtype), atol=tol(dtype) * 10)


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_native_pool_every_thread_count_and_dtype(threads, mode, dtype):
    x = rng.standard_normal((2, 13, 11, 6)).astype(dtype)
    out = []
    for n in (1, 2, 3):
        threads.set_num_threads(n)
        out.append(K.pool2d(x, (3, 3), (2, 2), "same", pool_mode=mode))
    assert out[0].tobytes() == out[1].tobytes() == out[2].tobytes() and out[0].dtype == dtype
    np.testing.assert_allclose(out[0].astype(np.float64), naive_pool(x, (3, 3), (2, 2), "same", mode),
                               rtol=tol(dtype), atol=tol(dtype))


def test_native_conv_takes_views_and_empty_batches():
    x = rng.standard_normal((2, 8, 8, 12)).astype(np.float32)
    w = rng.standard_normal((3, 3, 6, 4)).astype(np.float32)
    view = x[:, ::-1, :, ::2]  # reversed rows, every other channel
    check(K.conv2d(view, w, padding="same"), naive_conv(view, w, (1, 1), (1, 1), "same"), np.float32, scale=10)
    assert K.conv2d(np.zeros((0, 8, 8, 6), np.float32), w, padding="same").shape == (0, 8, 8, 4)
    assert K.pool2d(np.zeros((0, 8, 8, 6), np.float32), (2, 2), (2, 2)).shape == (0, 4, 4, 6)
    # A window longer than the input is TensorFlow's "negative dimension size" (its graph mode, which
    # Keras 2.3.1 builds in), not an empty result; 'same' pads to fit.
    for f in (lambda p: K.depthwise_conv2d(np.zeros((1, 2, 2, 3), np.float32), np.ones((3, 3, 3, 1), np.float32),
                                           padding=p),
              lambda p: K.conv1d(np.zeros((1, 4, 2), np.float32), np.ones((3, 2, 1), np.float32), padding=p,
                                 dilation_rate=2),
              lambda p: K.pool3d(np.zeros((1, 5, 2, 5, 1), np.float32), (3, 3, 3), padding=p)):
        with pytest.raises(ValueError, match=r"does not fit the \d+ positions of spatial dim"):
            f("valid")
        assert f("same").size > 0
    assert K.conv2d(np.zeros((1, 3, 3, 1), np.float32), np.ones((3, 3, 1, 1), np.float32)).shape == (1, 1, 1, 1)


def naive_conv_transpose(x, w, out_sp, strides, dilation, padding):
    """Scatters x (batch, *spatial, in) through w (*kernel, out, in) as the convolution from out_sp
    to x's spatial shape reads (TensorFlow's rules), dropping what lands outside out_sp."""
    nd = x.ndim - 2
    ksize = w.shape[:nd]
    starts = [tf_out_and_start(out_sp[i], ksize[i], strides[i], dilation[i], padding)[1] for i in range(nd)]
    out = np.zeros((x.shape[0], *out_sp, w.shape[-2]))
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    for o in np.ndindex(*x.shape[1:-1]):
        for k in np.ndindex(*ksize):
            pos = tuple(o[i] * strides[i] + starts[i] + k[i] * dilation[i] for i in range(nd))
            if all(0 <= p < out_sp[i] for i, p in enumerate(pos)):
                out[(slice(None), *pos)] += x64[(slice(None), *o)] @ w64[k].T
    return out


TRANSPOSE_CASES = {  # name: (out_sp, kernel, strides, dilation, padding, in, out, batch)
    "1d": ((11,), (3,), (2,), (1,), "same", 3, 5, 2),
    "1d dilated valid": ((12,), (3,), (1,), (2,), "valid", 4, 2, 1),
    "2d stride 2": ((9, 8), (3, 3), (2, 2), (1, 1), "same", 6, 5, 3),
    "2d uneven": ((9, 7), (3, 2), (2, 3), (1, 1), "valid", 4, 7, 2),
    "2d 1x1": ((5, 6), (1, 1), (1, 1), (1, 1), "valid", 3, 4, 2),
    "2d kernel > stride": ((10, 10), (4, 4), (3, 3), (1, 1), "same", 2, 3, 1),
    "2d batch groups": ((64, 64), (3, 3), (2, 2), (1, 1), "same", 16, 32, 9),  # cols > kConvWholeBytes
    "3d": ((5, 6, 7), (2, 3, 3), (2, 2, 1), (1, 1, 1), "same", 3, 2, 2),
}


@pytest.mark.parametrize("name", sorted(TRANSPOSE_CASES))
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_native_conv_transpose_every_thread_count(threads, name, dtype):
    out_sp, ksize, strides, dilation, padding, cin, cout, batch = TRANSPOSE_CASES[name]
    nd = len(out_sp)
    x_sp = tuple(tf_out_and_start(out_sp[i], ksize[i], strides[i], dilation[i], padding)[0] for i in range(nd))
    x = rng.standard_normal((batch, *x_sp, cin)).astype(dtype)
    w = rng.standard_normal((*ksize, cout, cin)).astype(dtype)
    if nd == 2:
        fn = lambda: K.conv2d_transpose(x, w, (batch, *out_sp, cout), strides, padding, dilation_rate=dilation)  # noqa: E731
    elif nd == 3:
        fn = lambda: K.conv3d_transpose(x, w, (batch, *out_sp, cout), strides, padding)  # noqa: E731
    else:
        from kcore._api.conv import tf_pads
        from kcore._kernels import NATIVE

        pads = tf_pads(out_sp, ksize, strides, dilation, padding)
        fn = lambda: NATIVE.conv_transpose(x, w, out_sp, strides, dilation, pads)  # noqa: E731
    out = []
    for n in (1, 2, 3):
        threads.set_num_threads(n)
        out.append(fn())
    assert out[0].tobytes() == out[1].tobytes() == out[2].tobytes()
    want = naive_conv_transpose(x, w, out_sp, strides, dilation, padding)
    bound = naive_conv_transpose(np.abs(x), np.abs(w), out_sp, strides, dilation, padding)
    taps = int(np.prod(ksize)) * cin
    eps = {np.float16: 2.0 ** -24, np.float32: 2.0 ** -24, np.float64: 2.0 ** -53}[dtype]  # (float16: float32 sums)
    err = np.abs(out[0].astype(np.float64) - want)
    half_ulp = np.spacing(np.abs(want).astype(dtype)).astype(np.float64) / 2
    assert out[0].dtype == dtype and out[0].shape == want.shape and np.all(err <= half_ulp + 2 * taps * eps * bound)


def test_native_conv_transpose_views_nan_and_empty():
    w = rng.standard_normal((3, 3, 4, 6)).astype(np.float32)
    x = rng.standard_normal((2, 5, 5, 12)).astype(np.float32)
    view = x[:, ::-1, :, ::2]  # reversed rows, every other channel
    got = K.conv2d_transpose(view, w, (2, 10, 10, 4), (2, 2), "same")
    check(got, naive_conv_transpose(view, w, (10, 10), (2, 2), (1, 1), "same"), np.float32, scale=10)
    x[0, 2, 2, 0] = np.nan
    got = K.conv2d_transpose(x[..., :6], w, (2, 10, 10, 4), (2, 2), "same")
    nan = np.isnan(got)  # exactly the outputs input (2, 2) reaches: rows and columns 4..6
    assert nan.sum() == 9 * 4 and nan[0, 4:7, 4:7].all()
    assert K.conv2d_transpose(np.zeros((0, 5, 5, 6), np.float32), w, (0, 10, 10, 4), (2, 2), "same").shape == \
        (0, 10, 10, 4)
    zero_in = K.conv2d_transpose(np.zeros((1, 5, 5, 0), np.float32), np.zeros((3, 3, 4, 0), np.float32),
                                 (1, 10, 10, 4), (2, 2), "same")
    assert zero_in.shape == (1, 10, 10, 4) and not zero_in.any()


def test_conv_transpose_nd_rejects_what_does_not_fit():
    from kcore._runtime import _core

    x = np.zeros((1, 5, 5, 6), np.float32)
    w = np.zeros((3, 3, 4, 6), np.float32)
    with pytest.raises(ValueError, match="conv_transpose: the convolution of the output shape gives spatial size 4"):
        _core.conv_transpose_nd(x, w, (7, 9), (2, 2), (1, 1), (1, 1, 1, 1))
    with pytest.raises(ValueError, match="conv_transpose: the kernel takes 6 input channels, x has 5"):
        _core.conv_transpose_nd(np.zeros((1, 5, 5, 5), np.float32), w, (9, 9), (2, 2), (1, 1), (1, 1, 1, 1))
    with pytest.raises(ValueError, match="conv_transpose: expected x of rank 3 to 5"):
        _core.conv_transpose_nd(x[0, 0], w[0, 0], (), (), (), ())
    assert _core.conv_transpose_nd(x.astype(np.float64), w, (9, 9), (2, 2), (1, 1), (1, 1, 1, 1)) is None


def naive_resize(x, factors, mode):
    """Each output position's value from its source positions, one at a time (TensorFlow's legacy
    rule: out / factor, no corner alignment, the last index repeated)."""
    x64 = x.astype(np.float64)
    out = np.zeros((x.shape[0], *(n * f for n, f in zip(x.shape[1:-1], factors, strict=True)), x.shape[-1]))
    for o in np.ndindex(*out.shape[1:-1]):
        if mode == "nearest":
            out[(slice(None), *o)] = x64[(slice(None), *(i // f for i, f in zip(o, factors, strict=True)))]
            continue
        corners = []
        for i, f, n in zip(o, factors, x.shape[1:-1], strict=True):
            lo, t = i // f, (i % f) / f
            corners.append(((lo, 1 - t), (min(lo + 1, n - 1), t)))
        for choice in itertools.product(*corners):
            weight = math.prod(c[1] for c in choice)
            with np.errstate(invalid="ignore"):  # 0 * inf
                out[(slice(None), *o)] += weight * x64[(slice(None), *(c[0] for c in choice))]
    return out


@pytest.mark.parametrize("mode,factors,shape", [
    ("nearest", (2, 3), (2, 5, 4, 3)), ("nearest", (1, 1), (1, 3, 3, 2)), ("nearest", (3,), (2, 5, 7)),
    ("nearest", (2, 1, 3), (2, 3, 4, 2, 5)), ("bilinear", (2, 2), (2, 5, 4, 3)), ("bilinear", (3, 2), (1, 4, 6, 17)),
    ("bilinear", (1, 4), (2, 1, 5, 2)), ("bilinear", (3,), (2, 5, 3)), ("bilinear", (2, 2, 3), (1, 3, 2, 4, 2))])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_native_resize_every_thread_count(threads, mode, factors, shape, dtype):
    from kcore._kernels import NATIVE

    x = rng.standard_normal(shape).astype(dtype)
    view = x[:, ::-1]  # reversed rows
    out = []
    for n in (1, 2, 3):
        threads.set_num_threads(n)
        out.append(NATIVE.resize(view, factors, mode))
    assert out[0].tobytes() == out[1].tobytes() == out[2].tobytes() and out[0].dtype == dtype
    want = naive_resize(view, factors, mode)
    if mode == "nearest":
        np.testing.assert_array_equal(out[0], want.astype(dtype))
    else:  # a few roundings in float32 (float16) or the dtype
        eps = {np.float16: 2.0 ** -11, np.float32: 2.0 ** -23, np.float64: 2.0 ** -52}[dtype]
        assert np.all(np.abs(out[0] - want) <= 4 * eps * np.abs(x).max())


def test_native_resize_nan_inf_and_bad_calls():
    from kcore._runtime import _core

    x = np.zeros((1, 3, 3, 1), np.float32)
    x[0, 1, 1, 0] = np.inf
    bil = K.resize_images(x, 2, 2, "channels_last", interpolation="bilinear")
    want = naive_resize(x, (2, 2), "bilinear")  # inf * 0 is NaN, as TensorFlow's lerp gives
    np.testing.assert_array_equal(np.isnan(bil), np.isnan(want))
    np.testing.assert_array_equal(bil[~np.isnan(bil)], want[~np.isnan(want)])
    near = K.resize_images(x, 2, 2, "channels_last")
    assert np.isinf(near).sum() == 4 and not np.isnan(near).any()
    assert K.resize_images(np.zeros((0, 3, 3, 2), np.float16), 2, 3, "channels_last").shape == (0, 6, 9, 2)
    with pytest.raises(ValueError, match="resize: mode must be 'nearest' or 'bilinear', got 'cubic'"):
        _core.resize_nd(x, (2, 2), "cubic")
    with pytest.raises(ValueError, match="resize: factors must be >= 1"):
        _core.resize_nd(x, (2, 0), "nearest")
    with pytest.raises(ValueError, match="resize: expected x of rank 3 to 5"):
        _core.resize_nd(x[0, 0], (2,), "nearest")
    with pytest.raises(ValueError, match="resize: the output would be too large"):
        _core.resize_nd(x, (2, 2 ** 62), "nearest")
    assert _core.resize_nd(np.zeros((1, 3, 3, 1), np.int32), (2, 2), "nearest") is None


@pytest.mark.parametrize("B", BACKENDS)
@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
def test_local_conv2d_and_1d(B, fmt):
    x = rng.standard_normal((2, 6, 5, 3))
    ksize, strides = (3, 2), (2, 1)
    out_sp = (2, 4)
    w = rng.standard_normal((8, 3 * 2 * 3, 4))
    want = np.zeros((2, *out_sp, 4))
    for p, (i, j) in enumerate(itertools.product(range(out_sp[0]), range(out_sp[1]))):
        win = x[:, i * 2:i * 2 + 3, j:j + 2, :]
        if fmt == "channels_first":  # Keras flattens a channels_first window as (c, kh, kw)
            win = np.moveaxis(win, -1, 1)
        want[:, i, j] = win.reshape(2, -1) @ w[p]
    xin = channels_first(x) if fmt == "channels_first" else x
    got = B.local_conv2d(xin, w, ksize, strides, out_sp, fmt)
    check(got, channels_first(want) if fmt == "channels_first" else want, np.float64, 10)
    x1 = rng.standard_normal((2, 7, 3))
    w1 = rng.standard_normal((3, 3 * 3, 5))
    want1 = np.stack([x1[:, i * 2:i * 2 + 3].reshape(2, -1) @ w1[i] for i in range(3)], axis=1)
    check(B.local_conv1d(x1, w1, (3,), (2,)), want1, np.float64, 10)


@pytest.mark.parametrize("B", BACKENDS)
def test_resize_images_nearest_and_bilinear(B):
    x = np.array([[0.0, 1.0], [2.0, 4.0]], np.float32).reshape(1, 2, 2, 1)
    near = B.resize_images(x, 2, 3, "channels_last")
    np.testing.assert_array_equal(near[0, :, :, 0], np.repeat(np.repeat(x[0, :, :, 0], 2, 0), 3, 1))
    bil = B.resize_images(x, 2, 2, "channels_last", interpolation="bilinear")
    # rows sampled at 0, 0.5, 1, 1.5 (clamped to 1), columns likewise.
    np.testing.assert_allclose(bil[0, :, :, 0], [[0, 0.5, 1, 1], [1, 1.75, 2.5, 2.5], [2, 3, 4, 4], [2, 3, 4, 4]])
    cf = B.resize_images(channels_first(x), 2, 2, "channels_first", interpolation="bilinear")
    np.testing.assert_array_equal(cf, channels_first(bil))
    v = rng.standard_normal((1, 2, 3, 2, 2))
    want = np.repeat(np.repeat(np.repeat(v, 2, 1), 1, 2), 3, 3)
    np.testing.assert_array_equal(B.resize_volumes(v, 2, 1, 3, "channels_last"), want)


@pytest.mark.parametrize("B", BACKENDS)
def test_spatial_3d_padding(B):
    x = np.ones((1, 2, 2, 2, 1))
    out = B.spatial_3d_padding(x, ((1, 0), (0, 2), (1, 1)))
    assert out.shape == (1, 3, 4, 4, 1) and out.sum() == 8 and out[0, 1, 0, 1, 0] == 1 and out[0, 0, 0, 1, 0] == 0
    assert B.spatial_3d_padding(np.ones((1, 1, 2, 2, 2)), data_format="channels_first").shape == (1, 1, 4, 4, 4)
    with pytest.raises(ValueError, match="spatial_3d_padding"):
        B.spatial_3d_padding(x, ((1, 1), (1, 1)))


@pytest.mark.parametrize("B", BACKENDS)
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int32", "bool"])
@pytest.mark.parametrize("view", ["contiguous", "reversed", "offset"])
def test_zero_paddings_against_numpy_pad(B, dtype, view):
    # Native for C-contiguous float arrays (kernels/pad.cpp), NumPy's pad for the rest: the same
    # values either way, for every layout, rank, 0-size dim, NaN and padding of 0.
    def make(shape):
        x = (rng.standard_normal(shape) * 4).astype(dtype)
        if dtype.startswith("float") and x.size:
            x.flat[0] = np.nan
        if view == "reversed":
            return x[::-1]
        if view == "offset":  # C-contiguous but not 8-aligned for float64 (declined: NumPy's pad)
            raw = np.zeros(x.nbytes + 1, np.uint8)[1:].view(x.dtype).reshape(x.shape)
            raw[...] = x
            return raw
        return x
    cases = [("temporal_padding", (3, 5, 2), ((2, 1),), "channels_last"),
             ("temporal_padding", (0, 5, 2), ((1, 0),), "channels_last"),
             ("spatial_2d_padding", (2, 5, 7, 3), ((1, 2), (0, 3)), "channels_last"),
             ("spatial_2d_padding", (2, 3, 5, 7), ((1, 2), (3, 0)), "channels_first"),
             ("spatial_2d_padding", (2, 0, 4, 3), ((1, 1), (2, 2)), "channels_last"),
             ("spatial_2d_padding", (2, 4, 4, 0), ((1, 1), (2, 2)), "channels_last"),
             ("spatial_2d_padding", (2, 4, 4, 3), ((0, 0), (0, 0)), "channels_last"),
             ("spatial_3d_padding", (2, 3, 4, 5, 2), ((1, 0), (0, 2), (1, 1)), "channels_last"),
             ("spatial_3d_padding", (1, 2, 3, 4, 5), ((2, 1), (1, 0), (0, 1)), "channels_first")]
    for fn, shape, pads, fmt in cases:
        x = make(shape)
        full = [(0, 0), *pads, (0, 0)] if fmt == "channels_last" else [(0, 0), (0, 0), *pads]
        if fn == "temporal_padding":
            got = B.temporal_padding(x, pads[0])
        else:
            got = getattr(B, fn)(x, pads, data_format=fmt)
        want = np.pad(x, full)
        assert got.dtype == x.dtype and got.shape == want.shape and got.flags.c_contiguous, (fn, shape)
        assert got.tobytes() == np.ascontiguousarray(want).tobytes(), (fn, shape, view)


def test_native_pad_entry_checks_its_pads():
    from kcore._runtime import _core

    x = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(_core.pad_nd(x, [0, 1, 2, 0]), np.pad(x, ((0, 1), (2, 0))))
    assert _core.pad_nd(np.ones((2, 3), np.int32), [0, 0, 0, 0]) is None  # declined: NumPy's pad
    with pytest.raises(ValueError, match="pad: pads must be >= 0"):
        _core.pad_nd(x, [0, -1, 0, 0])
    with pytest.raises(ValueError, match=r"pad: expected a \(before, after\) pair per dim of x, 2 dims"):
        _core.pad_nd(x, [1, 1])
    with pytest.raises(ValueError, match="pad: the result would be too large"):
        _core.pad_nd(x, [0, 2**62, 0, 0])


@pytest.mark.parametrize("B", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_batch_normalization(B, dtype):
    x = rng.standard_normal((4, 3, 5)).astype(dtype)
    mean, var = rng.standard_normal(5), rng.uniform(0.5, 2, 5)
    beta, gamma = rng.standard_normal(5), rng.standard_normal(5)
    want = (x.astype(np.float64) - mean) / np.sqrt(var + 1e-3) * gamma + beta
    check(B.batch_normalization(x, mean, var, beta, gamma), want, dtype, 10)
    # 1-D statistics along a channels_first axis; beta and gamma may be None.
    m1, v1 = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    want1 = (x.astype(np.float64) - m1[:, None]) / np.sqrt(v1[:, None] + 0.01)
    check(B.batch_normalization(x, m1, v1, None, None, axis=1, epsilon=0.01), want1, dtype, 10)


@pytest.mark.parametrize("B", BACKENDS)
@pytest.mark.parametrize("axes", [(0, 1), (0, 2), (0,)])
def test_normalize_batch_in_training(B, axes):
    x = rng.standard_normal((6, 4, 3)) * 3 + 1
    kept = [d for d in range(3) if d not in axes]
    shape = [x.shape[d] for d in kept]
    gamma, beta = rng.standard_normal(shape), rng.standard_normal(shape)
    mean = x.mean(axis=axes)
    var = ((x - x.mean(axis=axes, keepdims=True)) ** 2).mean(axis=axes)
    normed, m, v = B.normalize_batch_in_training(x, gamma, beta, axes, epsilon=1e-3)
    np.testing.assert_allclose(m, mean, rtol=1e-12)
    np.testing.assert_allclose(v, var, rtol=1e-12)
    expand = [slice(None) if d in kept else None for d in range(3)]
    want = (x - mean[tuple(expand)]) / np.sqrt(var[tuple(expand)] + 1e-3) * gamma[tuple(expand)] + beta[tuple(expand)]
    np.testing.assert_allclose(normed, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("B", BACKENDS)
def test_in_top_k(B):
    p = np.array([[0.1, 0.5, 0.5, 0.2], [0.4, 0.3, 0.2, 0.1], [0.1, np.nan, 0.3, 0.2]], np.float32)
    np.testing.assert_array_equal(B.in_top_k(p, np.array([2, 3, 2]), 1), [True, False, False])  # tie counts as in
    np.testing.assert_array_equal(B.in_top_k(p, np.array([0, 0, 2]), 4), [True, True, False])  # NaN row: False
    np.testing.assert_array_equal(B.in_top_k(p, np.array([4, -1, 0]), 4), [False, False, False])  # out of range


def test_same_padding_puts_the_extra_element_at_the_end():
    # in 4, k 3, stride 2: two outputs, one padded zero, after the row (TensorFlow's split).
    x = np.arange(1, 5, dtype=np.float64).reshape(1, 4, 1)
    w = np.ones((3, 1, 1))
    np.testing.assert_array_equal(K.conv1d(x, w, 2, "same")[0, :, 0], [1 + 2 + 3, 3 + 4])


def test_symbolic_shapes_come_from_the_plan():
    x = K.placeholder((None, 9, 8, 3))
    y = K.conv2d(x, np.zeros((3, 3, 3, 5), np.float32), (2, 2), "same")
    assert K.int_shape(y) == (None, 5, 4, 5)
    z = K.pool2d(y, (2, 2), (2, 2))
    assert K.int_shape(z) == (None, 2, 2, 5)
    t = K.conv2d_transpose(z, np.zeros((3, 3, 4, 5), np.float32), (None, 4, 4, 4), (2, 2), "same")
    assert K.int_shape(t) == (None, 4, 4, 4)
    f = K.function([x], [y, z, t])
    outs = f([np.ones((2, 9, 8, 3), np.float32)])
    assert [o.shape for o in outs] == [(2, 5, 4, 5), (2, 2, 2, 5), (2, 4, 4, 4)]


@pytest.mark.parametrize("call,match", [
    (lambda: K.conv2d(np.ones((1, 5, 5, 3)), np.ones((3, 3, 2, 4))), "input channels"),
    (lambda: K.conv2d(np.ones((1, 5, 5, 3)), np.ones((3, 3, 3, 4)), padding="causal"), "padding"),
    (lambda: K.conv2d(np.ones((1, 5, 5, 3)), np.ones((3, 3, 3, 4)), strides=0), "strides"),
    (lambda: K.conv2d(np.ones((5, 5, 3)), np.ones((3, 3, 3, 4))), "rank 4"),
    (lambda: K.conv2d(np.ones((1, 5, 5, 3)), np.ones((3, 3, 3, 4)), data_format="nhwc"), "data_format"),
    (lambda: K.conv2d_transpose(np.ones((1, 3, 3, 2)), np.ones((3, 3, 4, 2)), (1, 9, 9, 4), (2, 2), "same"),
     "does not fit"),
    (lambda: K.pool2d(np.ones((1, 4, 4, 1)), (2, 2), pool_mode="sum"), "pool_mode"),
    (lambda: K.resize_images(np.ones((1, 2, 2, 1)), 0, 2, "channels_last"), "height_factor"),
])
def test_bad_arguments_raise_value_errors_naming_the_function(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_wrong_types_raise_type_errors():
    with pytest.raises(TypeError, match="conv2d: the operands' dtypes differ"):
        K.conv2d(np.ones((1, 5, 5, 3), np.float32), np.ones((3, 3, 3, 4), np.float64))
    with pytest.raises(TypeError, match=r"conv2d: strides must be an int, got 1\.5"):
        K.conv2d(np.ones((1, 5, 5, 3)), np.ones((3, 3, 3, 4)), strides=(1.5, 1))
    with pytest.raises(TypeError, match="in_top_k: targets must be integers, got float64"):
        K.in_top_k(np.ones((2, 3)), np.array([0.5, 1.0]), 1)
    with pytest.raises(TypeError, match="in_top_k: k must be an int"):
        K.in_top_k(np.ones((2, 3), np.float32), np.array([0, 1]), 1.5)


def test_empty_batches_and_outputs():
    assert K.conv2d(np.ones((0, 5, 5, 3)), np.ones((3, 3, 3, 4))).shape == (0, 3, 3, 4)
    with pytest.raises(ValueError, match="conv2d: a window of 3 positions"):
        K.conv2d(np.ones((1, 2, 2, 3)), np.ones((3, 3, 3, 4)))
    assert K.conv2d(np.ones((1, 0, 2, 3)), np.ones((3, 3, 3, 4)), padding="same").shape == (1, 0, 2, 4)
    assert K.pool2d(np.ones((0, 4, 4, 2)), (2, 2), (2, 2)).shape == (0, 2, 2, 2)
    assert math.isclose(float(K.pool2d(np.ones((1, 1, 1, 1)), (3, 3), padding="same", pool_mode="avg")[0, 0, 0, 0]), 1)


def test_a_reused_conv_plan_still_checks_arguments_and_follows_the_data_format():
    # Eager calls reuse the plan of the same arguments (kcore/_api/conv.py): values equal to valid
    # ones (1.0, True) are still rejected, and a changed image_data_format gets its own plan.
    x = rng.standard_normal((2, 6, 6, 6)).astype(np.float32)
    w = rng.standard_normal((3, 3, 6, 4)).astype(np.float32)
    assert K.conv2d(x, w, (1, 1)).shape == (2, 4, 4, 4)
    for bad in ((1.0, 1.0), (True, True), (1, 1.0)):
        with pytest.raises(TypeError, match="conv2d: strides"):
            K.conv2d(x, w, bad)
    before = K.image_data_format()
    try:
        K.set_image_data_format("channels_first")
        got = K.conv2d(x, w, (1, 1))  # x read as (batch, channels 6, 6, 6)
        assert got.shape == (2, 4, 4, 4)
        check(got, channels_first(naive_conv(np.moveaxis(x, 1, -1), w, (1, 1), (1, 1), "valid")), np.float32, 10)
    finally:
        K.set_image_data_format(before)
    assert K.conv2d(x, w, (1, 1)).tobytes() == K.conv2d(x, w, [1, 1]).tobytes()


def test_a_kernel_without_taps_is_a_clear_error():
    x = np.ones((1, 5, 5, 3), np.float32)
    with pytest.raises(ValueError, match=r"conv2d: the kernel's spatial dims must be at least 1, got a kernel of "
                                         r"shape \(0, 2, 3, 4\)"):
        K.conv2d(x, np.zeros((0, 2, 3, 4), np.float32))
    assert K.conv2d(x, np.zeros((1, 1, 3, 0), np.float32)).shape == (1, 5, 5, 0)  # no filters: an empty result
