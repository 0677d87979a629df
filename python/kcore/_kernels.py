"""Kernel providers behind the native families: NATIVE (kcore's C++ kernels) and NUMPY (the
float64 reference of kcore/_reference.py rounded to the input dtype, for the `numpy` backend).

Both take the same calls, each for plain float16/32/64 ndarrays (pairs of one dtype for the
binary ones), with Keras's argument rules applied by the same functions (the native module's
keras_args), and return None to decline any other input:

    reduce(kind, x, axis[, keepdims])  scan(kind, x, axis)          cast(x, dtype)
    transpose(x)                       permute_dimensions(x, pattern)
    concatenate(arrays[, axis])        (a list or tuple of one dtype; NATIVE also takes the integer
                                       dtypes its copies read)
    dot(x, y)                          batch_dot(x, y, axes)        elementwise(kind, x, y[, params])
    elementwise3(kind, x, y, z)        (multiply_add: x * y + z; clip: x within [y, z]; select: y
                                       where x is nonzero or NaN, else z)
    elementwise1(kind, x[, p0[, p1[, p2]]])  (exp, log, the activations and the exact square .. negative;
                                             Keras's parameters as Python numbers, None only for
                                             relu's max_value)
    softmax(x)                         (over the last axis of a C-contiguous x)
    conv(x, w, strides, dilation, pads, depthwise[, epilogue])
    conv_transpose(x, w, out_sp, strides, dilation, pads[, depthwise])
    depthwise_kernel_grad(x, g, ksize, strides, dilation, pads)  (d sum(conv(x, w) * g) / d w of a
                                       depthwise conv: (*ksize, C, multiplier))
    norm_grad(x, g, mean, var, gamma, epsilon, axis, axis_end)  (the gradient of x normalised by its
                                       own statistics kept along dims [axis, axis_end): dx, and the
                                       float64 sums of g and g * (x - mean) per kept element)
    pool(x, size, strides, pads, mode)  local_conv(x, w, ksize, strides, out_sp)  resize(x, factors, mode)
    pad(x, pads)                       (zeros around each dim: (before, after) per dim)

conv's epilogue (bias, scale, shift, lo, hi, residual) follows each output: per channel (y + bias) *
scale + shift, plus the residual's element (an array of the result's shape), None skipping any of
them, then limited to [lo, hi] (kcore/_fusion.py). The convolution family's calls are
channels_last with explicit (before, after) zero padding per spatial dim (kcore/_api/conv.py
makes them from Keras's arguments). NATIVE runs conv (regular and depthwise), conv_transpose,
depthwise_kernel_grad and pool on kcore's kernels (kernels/conv.cpp), norm_grad on kernels/norm.cpp,
resize on kernels/resize.cpp, pad on kernels/pad.cpp, and local_conv on the NumPy reference until
its native kernel lands.

Kinds are the native enums (ReduceKind, ScanKind, ElementwiseKind), bound once from C++.
"""
from __future__ import annotations

import types

import numpy as np

from kcore import _reference as ref
from kcore._runtime import _core

ReduceKind, ScanKind, ElementwiseKind = _core.ReduceKind, _core.ScanKind, _core.ElementwiseKind
FLOAT_CHARS = "efd"  # float16, float32, float64: what the native kernels take

NATIVE = types.SimpleNamespace(name="kcore", **{name: getattr(_core, name) for name in (
    "reduce", "scan", "cast", "transpose", "permute_dimensions", "concatenate", "dot", "batch_dot", "elementwise",
    "elementwise3", "elementwise1", "softmax")})
CONV_FAMILY = ("conv", "conv_transpose", "depthwise_kernel_grad", "norm_grad", "pool", "pool_grad", "local_conv",
               "resize", "pad")


def _plain(x) -> bool:
    return type(x) is np.ndarray and x.dtype.char in FLOAT_CHARS and x.dtype.isnative


def _pair(x, y) -> bool:
    return _plain(x) and _plain(y) and x.dtype == y.dtype


def _rounded(exact, dtype):
    with np.errstate(all="ignore"):
        out = np.asarray(exact).astype(dtype)
    return out if out.ndim else out[()]


class _Numpy:
    name = "numpy"

    @staticmethod
    def reduce(kind, x, axis, keepdims=False):
        if not _plain(x):
            return None
        kind = ReduceKind(kind)
        keepdims = _core.flag(keepdims, kind.name, "keepdims")
        if kind in (ReduceKind.argmax, ReduceKind.argmin):
            out = ref.argreduce_exact(kind.name, x, _core.arg_axis(axis, x.shape, kind.name))
            return out if out.ndim else out[()]
        axes = _core.normalize_axes(axis, x.ndim, kind.name)
        axes = tuple(range(x.ndim)) if axes is None else axes
        exact = ref.reduce_exact(kind.name, x, axes, keepdims)
        return _rounded(exact, bool if kind in (ReduceKind.any, ReduceKind.all) else x.dtype)

    @staticmethod
    def scan(kind, x, axis):
        if not _plain(x):
            return None
        name = "cumsum" if ScanKind(kind) == ScanKind.sum else "cumprod"
        return _rounded(ref.scan_exact(name, x, _core.scan_axis(axis, x.ndim, name)), x.dtype)

    @staticmethod
    def cast(x, dtype):
        if not _plain(x):
            return None
        name = _core.dtype_name(dtype, "cast")
        if np.dtype(name).char not in FLOAT_CHARS:
            return None
        with np.errstate(all="ignore"):
            return x.astype(name, order="K")

    @staticmethod
    def transpose(x):
        return np.array(x.T, order="C", copy=True) if _plain(x) else None

    @staticmethod
    def permute_dimensions(x, pattern):
        if not _plain(x):
            return None
        return np.array(np.transpose(x, _core.permutation(pattern, x.shape)), order="C", copy=True)

    @staticmethod
    def concatenate(arrays, axis=-1):
        # As the native entry for floats (the copy dtypes it also takes join the same either way):
        # None for anything but one dtype, one rank >= 1, matching shapes.
        if type(arrays) not in (list, tuple) or not arrays or type(axis) is not int:
            return None
        first = arrays[0]
        if not all(_plain(a) and a.dtype == first.dtype and a.ndim == first.ndim >= 1 for a in arrays):
            return None
        if not -first.ndim <= axis < first.ndim:
            return None
        ax = axis % first.ndim
        if any(a.shape[:ax] + a.shape[ax + 1:] != first.shape[:ax] + first.shape[ax + 1:] for a in arrays):
            return None
        return np.concatenate(arrays, axis=ax)

    @staticmethod
    def dot(x, y):
        if not _pair(x, y):
            return None
        y_k = _core.dot_axis(x.shape, y.shape)
        return _rounded(ref.contract_exact(x, y, x.ndim - 1, y_k, False)[0], x.dtype)

    @staticmethod
    def batch_dot(x, y, axes):
        if not _pair(x, y):
            return None
        a0, a1 = _core.batch_dot_axes(axes, x.shape, y.shape)
        out = np.asarray(_rounded(ref.contract_exact(x, y, a0, a1, True)[0], x.dtype))
        return out.reshape(-1, 1) if out.ndim == 1 else out

    @staticmethod
    def elementwise(kind, x, y, *params):
        if params and ElementwiseKind(kind) != ElementwiseKind.relu_grad:
            raise ValueError("elementwise: only relu_grad takes parameters")
        if not _pair(x, y):
            return None
        if ElementwiseKind(kind) == ElementwiseKind.relu_grad:  # (x: the gradient, y: relu's input)
            if x.shape != y.shape:
                return None
            given: tuple = (*params, *(0.0, None, 0.0)[len(params):])  # (relu's defaults)
            alpha, max_value, threshold = given
            slope = ref.relu_slope_exact(y, x.dtype, alpha, max_value, threshold)
            with np.errstate(all="ignore"):
                return _rounded(x.astype(np.float64) * slope.astype(np.float64), x.dtype)
        f = {ElementwiseKind.add: np.add, ElementwiseKind.subtract: np.subtract,
             ElementwiseKind.multiply: np.multiply, ElementwiseKind.divide: np.divide,
             ElementwiseKind.maximum: np.maximum, ElementwiseKind.minimum: np.minimum,
             ElementwiseKind.equal: np.equal, ElementwiseKind.not_equal: np.not_equal,
             ElementwiseKind.greater: np.greater, ElementwiseKind.greater_equal: np.greater_equal,
             ElementwiseKind.less: np.less, ElementwiseKind.less_equal: np.less_equal}[ElementwiseKind(kind)]
        try:
            np.broadcast_shapes(x.shape, y.shape)
        except ValueError:
            return None  # NumPy explains the shapes
        with np.errstate(all="ignore"):
            return f(x, y)


    @staticmethod
    def elementwise3(kind, x, y, z):
        if not (_pair(x, y) and _pair(x, z)):
            return None
        try:
            shape = np.broadcast_shapes(x.shape, y.shape, z.shape)
        except ValueError:
            return None
        if ElementwiseKind(kind) == ElementwiseKind.select:  # (the branches' values as they are)
            return _rounded(np.broadcast_to(np.where(x.astype(bool), y, z), shape).copy(), x.dtype)
        a, b, c = (v.astype(np.float64) for v in (x, y, z))
        with np.errstate(all="ignore"):
            if ElementwiseKind(kind) == ElementwiseKind.multiply_add:
                exact = a * b + c
            else:
                exact = np.where(a < b, b, a)
                exact = np.where(exact > c, c, exact)
        return _rounded(np.broadcast_to(exact, shape).copy(), x.dtype)

    @staticmethod
    def elementwise1(kind, x, *params):
        # As the native entry: Python numbers, None only for relu's max_value (no maximum).
        nullable = [ElementwiseKind(kind) == ElementwiseKind.relu and i == 1 for i in range(len(params))]
        if not _plain(x) or not all(type(p) in (int, float) or (p is None and ok)
                                      for p, ok in zip(params, nullable, strict=True)):
            return None
        return _rounded(ref.unary_exact(ElementwiseKind(kind).name, x, *params), x.dtype)

    @staticmethod
    def softmax(x):
        if not _plain(x) or not x.flags.c_contiguous or x.ndim < 1:
            return None
        return _rounded(ref.softmax_exact(x), x.dtype)

    @staticmethod
    def conv(x, w, strides, dilation, pads, depthwise, epilogue=None):
        if not _pair(x, w):
            return None
        out = _rounded(ref.conv_exact(x, w, strides, dilation, pads, depthwise), x.dtype)
        if epilogue is None:
            return out
        # As the unfused ops on the rounded result: + bias rounded, x * scale + shift rounded once,
        # + residual rounded, then the clip.
        bias, scale, shift, lo, hi, residual = epilogue
        v = out.astype(np.float64)
        with np.errstate(all="ignore"):
            if bias is not None:
                v = _rounded(v + bias.astype(np.float64), x.dtype).astype(np.float64)
            if scale is not None:
                v = v * scale.astype(np.float64)
            if shift is not None:
                v = v + shift.astype(np.float64)
            if residual is not None:
                v = _rounded(v, x.dtype).astype(np.float64) + residual.astype(np.float64)
        v = _rounded(v, x.dtype)
        return np.where(v < lo, np.asarray(lo, x.dtype), np.where(v > hi, np.asarray(hi, x.dtype), v))

    @staticmethod
    def conv_transpose(x, w, out_sp, strides, dilation, pads, depthwise=False):
        if not _pair(x, w):
            return None
        return _rounded(ref.conv_transpose_exact(x, w, out_sp, strides, dilation, pads, depthwise), x.dtype)

    @staticmethod
    def depthwise_kernel_grad(x, g, ksize, strides, dilation, pads):
        if not _pair(x, g):
            return None
        return _rounded(ref.depthwise_kernel_grad_exact(x, g, ksize, strides, dilation, pads), x.dtype)

    @staticmethod
    def norm_grad(x, g, mean, var, gamma, epsilon, axis, axis_end):
        if not _pair(x, g):
            return None
        dx, sum_g, sum_gc = ref.norm_grad_exact(x, g, mean, var, gamma, epsilon, axis, axis_end)
        return _rounded(dx, x.dtype), sum_g, sum_gc

    @staticmethod
    def pool(x, size, strides, pads, mode):
        return _rounded(ref.pool_exact(x, size, strides, pads, mode), x.dtype) if _plain(x) else None

    @staticmethod
    def pool_grad(x, g, size, strides, pads, mode):
        return _rounded(ref.pool_grad_exact(x, g, size, strides, pads, mode), x.dtype) if _pair(x, g) else None

    @staticmethod
    def local_conv(x, w, ksize, strides, out_sp):
        if not _pair(x, w):
            return None
        return _rounded(ref.local_conv_exact(x, w, ksize, strides, out_sp), x.dtype)

    @staticmethod
    def resize(x, factors, mode):
        return _rounded(ref.resize_exact(x, factors, mode), x.dtype) if _plain(x) else None

    @staticmethod
    def pad(x, pads):
        return np.pad(x, pads) if _plain(x) else None


NUMPY = _Numpy()


def _c_array(x):
    """x as the native convolution entries take it: C-contiguous and aligned."""
    return x if x.flags.c_contiguous and x.flags.aligned else np.array(x, order="C", copy=True)  # (aligned too)


def _native_conv(x, w, strides, dilation, pads, depthwise, epilogue=None):
    if not _pair(x, w):
        return None
    flat = [p for pair in pads for p in pair]
    if epilogue is None:
        return _core.conv_nd(_c_array(x), _c_array(w), strides, dilation, flat, depthwise)
    bias, scale, shift, lo, hi, residual = epilogue
    return _core.conv_nd(_c_array(x), _c_array(w), strides, dilation, flat, depthwise, scale, shift, lo, hi, bias,
                         None if residual is None else _c_array(residual))


def _native_pool(x, size, strides, pads, mode):
    if not _plain(x):
        return None
    return _core.pool_nd(_c_array(x), size, strides, [p for pair in pads for p in pair], mode)


def _native_pool_grad(x, g, size, strides, pads, mode):
    if not _pair(x, g):
        return None
    return _core.pool_grad_nd(_c_array(x), _c_array(g), size, strides, [p for pair in pads for p in pair], mode)


def _native_conv_transpose(x, w, out_sp, strides, dilation, pads, depthwise=False):
    if not _pair(x, w):
        return None
    flat = [p for pair in pads for p in pair]
    return _core.conv_transpose_nd(_c_array(x), _c_array(w), out_sp, strides, dilation, flat, depthwise)


def _native_depthwise_kernel_grad(x, g, ksize, strides, dilation, pads):
    if not _pair(x, g):
        return None
    flat = [p for pair in pads for p in pair]
    return _core.depthwise_kernel_grad_nd(_c_array(x), _c_array(g), ksize, strides, dilation, flat)


def _native_norm_grad(x, g, mean, var, gamma, epsilon, axis, axis_end):
    if not _pair(x, g):
        return None
    return _core.batch_norm_grad_nd(_c_array(x), _c_array(g), mean, var, gamma, epsilon, axis, axis_end)


def _native_resize(x, factors, mode):
    return _core.resize_nd(_c_array(x), factors, mode) if _plain(x) else None


def _native_pad(x, pads):
    # (a strided view declines: NumPy's pad reads it in one pass, a contiguous copy first would be two)
    return _core.pad_nd(x, [p for pair in pads for p in pair]) if _plain(x) and x.flags.c_contiguous else None


NATIVE.conv, NATIVE.conv_transpose, NATIVE.pool, NATIVE.pool_grad, NATIVE.resize, NATIVE.pad = (
    _native_conv, _native_conv_transpose, _native_pool, _native_pool_grad, _native_resize, _native_pad)
NATIVE.depthwise_kernel_grad = _native_depthwise_kernel_grad
NATIVE.norm_grad = _native_norm_grad
NATIVE.local_conv = NUMPY.local_conv  # the reference until its native kernel lands
