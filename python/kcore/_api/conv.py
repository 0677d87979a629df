"""Convolutions, pooling, resizing, batch normalization and in_top_k with Keras 2.3.1's argument
rules (those of its TensorFlow backend): data formats, strides, dilation, padding valid, same (TF's
asymmetric split, the extra element at the end) and causal, transposed convolutions' output shapes.

Each op turns its Keras arguments into one canonical call on the kernel provider: channels_last
arrays, explicit (before, after) zero padding per spatial dim. A plan function does that from
static shapes alone, so the same code gives the eager call its arguments and a symbolic node its
shape. The arithmetic is the provider's: the NumPy float64 reference for both backends until
kcore's native kernels for these families land (they take the same calls).
"""
from __future__ import annotations

import builtins
import dataclasses
import numbers

import numpy as np

from kcore import _reference as ref
from kcore import _validate as V
from kcore._api.common import broadcast_shapes, static_dtype, static_shape
from kcore._api.config import data_format as data_format_of
from kcore._api.config import image_data_format
from kcore._api.grad import Builder, builder_for, gradient, no_gradient
from kcore._graph import Operators
from kcore._ops import op, run
from kcore._runtime import _core

PUBLIC = ("batch_normalization", "normalize_batch_in_training")


# ---------------------------------------------------------------------------------------------
# Argument rules


def _ints(v, n: int, fn: str, what: str, minimum: int = 1) -> tuple:
    """An int or n ints, each in [minimum, 2**31), as a tuple of n ints."""
    vals = (v,) * n if isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) else v
    if not isinstance(vals, (list, tuple)):
        raise TypeError(f"{fn}: {what} must be an int or {n} ints, got {v!r}")
    if len(vals) != n:
        raise ValueError(f"{fn}: {what} must be an int or {n} ints, got {v!r}")
    return tuple(V.count(a, fn, what, low=minimum, bits=31) for a in vals)


def _mode(padding, fn: str, allowed: tuple) -> str:
    return V.choice(padding, fn, "padding", allowed, lower=True)


def tf_pads(in_sp, ksize, strides, dilation, mode) -> tuple:
    """(before, after) zero padding per spatial dim, as TensorFlow pads (None where a dim is
    unknown): `same` keeps ceil(size / stride) outputs with the extra element at the end; `causal`
    pads only the start."""
    pads: list[tuple[int, int] | None] = []
    for i, k, s, d in zip(in_sp, ksize, strides, dilation, strict=True):
        span = (k - 1) * d + 1
        if mode == "valid":
            pads.append((0, 0))
        elif mode == "causal":
            pads.append((span - 1, 0))
        elif i is None:
            pads.append(None)
        else:
            total = max((-(-i // s) - 1) * s + span - i, 0)
            pads.append((total // 2, total - total // 2))
    return tuple(pads)


def _out_sizes(in_sp, ksize, strides, dilation, pads, fn: str = "", valid: bool = False) -> tuple:
    """Outputs per spatial dim; for 'valid' padding, a ValueError naming fn where the window is
    longer than the input (as TensorFlow's graph: "Negative dimension size caused by subtracting")."""
    for j, (i, k, d, p) in enumerate(zip(in_sp, ksize, dilation, pads, strict=True)):
        if valid and i is not None and p is not None and i + p[0] + p[1] < (k - 1) * d + 1:
            raise ValueError(f"{fn}: a window of {(k - 1) * d + 1} positions (size {k}, dilation {d}) does not fit the "
                             f"{i + p[0] + p[1]} positions of spatial dim {j}")
    return tuple(None if i is None or p is None else ref.conv_out_size(i + p[0] + p[1], k, s, d)
                 for i, k, s, d, p in zip(in_sp, ksize, strides, dilation, pads, strict=True))


def _last(shape, fmt):
    """A static shape in channels_last order."""
    return shape if fmt == "channels_last" else (shape[0], *shape[2:], shape[1])


def _in_format(shape_last, fmt):
    return shape_last if fmt == "channels_last" else (shape_last[0], shape_last[-1], *shape_last[1:-1])


def _rank(fn: str, shape, nd: int, what: str = "x"):
    if shape is not None and len(shape) != nd + 2:
        raise ValueError(f"{fn}: {what} must have rank {nd + 2} (batch, {nd} spatial dims, channels), got shape "
                         f"{tuple(shape)}")


def _float_dtypes(fn: str, *values) -> str:
    dts = [static_dtype(v, fn) for v in values]
    for dt in dts:
        if dt not in ("float16", "float32", "float64"):
            raise TypeError(f"{fn}: expects float16, float32 or float64 tensors, got {dt}")
    if builtins.any(dt != dts[0] for dt in dts):
        raise TypeError(f"{fn}: the operands' dtypes differ ({', '.join(dts)}); cast them to one")
    return dts[0]


def _array(x, fn: str) -> np.ndarray:
    """x as an ndarray in native byte order (what the kernel providers take)."""
    a = V.as_array(x, fn)
    return a if a.dtype.isnative else a.astype(a.dtype.newbyteorder("="))


def _to_last(a: np.ndarray, fmt: str) -> np.ndarray:
    return np.moveaxis(a, 1, -1) if fmt == "channels_first" else a


def _from_last(a: np.ndarray, fmt: str) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(a, -1, 1)) if fmt == "channels_first" else a


def _provided(result, fn: str):
    if result is None:  # the providers take every float16/32/64 array; anything else is a bug here
        raise TypeError(f"{fn}: the kernel provider declined its arguments")
    return result


# ---------------------------------------------------------------------------------------------
# Convolutions


@dataclasses.dataclass(frozen=True)
class ConvPlan:
    fmt: str
    strides: tuple
    dilation: tuple
    pads: tuple
    out_shape: tuple | None  # in the caller's data format, None for unknown dims; None: unknown rank
    dtype: str
    # Where some kernel taps read only padding for every output (a dilation past x's size with
    # 'same'): per spatial dim (taps lo:hi, x's part read lo:hi, its pads), else None.
    taps: tuple | None = None


# Plans of eager calls by their arguments (a model calls each layer with the same ones every
# batch; working a plan out costs more than a small convolution). Each argument is keyed with its
# type, so that a value equal to a valid one (True for 1, 1.0 for 1) still meets the checks.
_PLANS: dict = {}
_MAX_PLANS = 1024


def _typed(v):
    return (v, tuple(map(type, v))) if type(v) is tuple else (v, type(v))


def conv_plan(fn, nd, x, kernel, strides, padding, data_format, dilation_rate, *, depthwise=False,
              causal=False, pointwise=None) -> ConvPlan:
    """The canonical call and result shape of a (depthwise, separable) convolution."""
    key = None
    if type(x) is np.ndarray and type(kernel) is np.ndarray and (pointwise is None or type(pointwise) is np.ndarray):
        key = (fn, nd, x.shape, x.dtype, kernel.shape, kernel.dtype, depthwise, causal, _typed(strides),
               _typed(padding), _typed(data_format), data_format is None and image_data_format(),
               _typed(dilation_rate), None if pointwise is None else (pointwise.shape, pointwise.dtype))
        try:
            return _PLANS[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable argument (a list): no cache
            key = None
    p = _conv_plan(fn, nd, x, kernel, strides, padding, data_format, dilation_rate, depthwise, causal, pointwise)
    if key is not None:
        if len(_PLANS) >= _MAX_PLANS:
            _PLANS.clear()
        _PLANS[key] = p
    return p


def _conv_plan(fn, nd, x, kernel, strides, padding, data_format, dilation_rate, depthwise, causal,
               pointwise) -> ConvPlan:
    fmt = data_format_of(data_format, fn)
    dtype = _float_dtypes(fn, x, kernel, *(() if pointwise is None else (pointwise,)))
    strides = _ints(strides, nd, fn, "strides")
    dilation = _ints(dilation_rate, nd, fn, "dilation_rate")
    mode = _mode(padding, fn, ("valid", "same", "causal") if causal else ("valid", "same"))
    xs, ks = static_shape(x), static_shape(kernel)
    _rank(fn, xs, nd)
    _rank(fn, ks, nd, "the kernel")
    if xs is None or ks is None:
        return ConvPlan(fmt, strides, dilation, (), None, dtype)
    if builtins.any(d is None for d in ks):
        raise ValueError(f"{fn}: the kernel's shape must be known, got {ks}")
    if builtins.any(d < 1 for d in ks[:nd]):
        raise ValueError(f"{fn}: the kernel's spatial dims must be at least 1, got a kernel of shape {tuple(ks)}")
    xl = _last(xs, fmt)
    if xl[-1] is not None and ks[nd] != xl[-1]:
        raise ValueError(f"{fn}: the kernel {ks} expects {ks[nd]} input channels, x {tuple(xs)} has {xl[-1]}")
    out_ch = ks[nd] * ks[nd + 1] if depthwise else ks[nd + 1]
    if pointwise is not None:
        ps = static_shape(pointwise)
        _rank(fn, ps, nd, "the pointwise kernel")
        if ps is None or tuple(ps[:nd]) != (1,) * nd or ps[nd] != out_ch:
            raise ValueError(f"{fn}: the pointwise kernel must have shape {(1,) * nd + (out_ch, 'filters')}, got {ps}")
        out_ch = ps[nd + 1]
    pads = tf_pads(xl[1:-1], ks[:nd], strides, dilation, mode)
    out = (xl[0], *_out_sizes(xl[1:-1], ks[:nd], strides, dilation, pads, fn, mode == "valid"), out_ch)
    return ConvPlan(fmt, strides, dilation, pads, _in_format(out, fmt), dtype,
                    _taps_inside(xl[1:-1], ks[:nd], strides, dilation, pads, out[1:-1]))


def _taps_inside(in_sp, ksize, strides, dilation, pads, out_sp):
    """ConvPlan.taps: the taps that can read x, and the part of x they read, where that drops taps
    (otherwise x would be zero-padded for taps that read nothing: 8 GB for a 5x5 input at dilation
    16384)."""
    if builtins.any(v is None for v in (*in_sp, *out_sp)) or builtins.any(p is None for p in pads):
        return None
    dims, trimmed = [], False
    for n, k, s, d, (pb, _), o in zip(in_sp, ksize, strides, dilation, pads, out_sp, strict=True):
        if o == 0 or n == 0:
            return None
        # Tap j reads indices -pb + j*d up to (o - 1)*s - pb + j*d: keep those that reach x.
        lo = builtins.max(0, -(((o - 1) * s - pb) // d))  # (ceil((pb - (o - 1) * s) / d))
        hi = builtins.min(k, (n - 1 + pb) // d + 1)
        if lo >= hi:
            return None  # (every tap reads padding only: left as it is)
        trimmed |= lo > 0 or hi < k
        first, last = -pb + lo * d, (o - 1) * s - pb + (hi - 1) * d
        x_lo, x_hi = builtins.max(0, first), builtins.min(n, last + 1)
        dims.append((lo, hi, x_lo, x_hi, x_lo - first, last + 1 - x_hi))
    return tuple(dims) if trimmed else None


def _conv_shape(fn, nd, **plan_kwargs):
    def rule(x, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
        p = conv_plan(fn, nd, x, kernel, strides, padding, data_format, dilation_rate, **plan_kwargs)
        return p.out_shape, p.dtype

    return rule


def _conv(kern, fn, nd, x, kernel, strides, padding, data_format, dilation_rate, depthwise=False, causal=False,
          epilogue=None, pre_pads=None):
    a, w = _array(x, fn), _array(kernel, fn)
    seen = a
    if pre_pads is not None:  # x zero-padded by pre_pads ((before, after) per spatial dim, channels_last) first
        spatial = tuple(n + b + e for n, (b, e) in zip(a.shape[1:-1], pre_pads, strict=True))
        shape = (a.shape[0], *spatial, a.shape[-1])
        seen = np.broadcast_to(np.zeros((), a.dtype), shape)  # (its shape and dtype only)
    p = conv_plan(fn, nd, seen, w, strides, padding, data_format, dilation_rate, depthwise=depthwise, causal=causal)
    pads = p.pads if pre_pads is None else [(b + pb, e + pe) for (b, e), (pb, pe) in zip(p.pads, pre_pads, strict=True)]
    residual = epilogue[5] if epilogue is not None else None
    if residual is not None and (residual.shape != tuple(p.out_shape) or residual.dtype != a.dtype):
        return None  # an add that broadcasts, or mixes dtypes: the chain's ops one by one (kcore/_fusion.py)
    xl = _to_last(a, p.fmt)
    if p.taps is not None and pre_pads is None:  # only the taps that read x, on the part they read
        xl = xl[(slice(None), *(slice(x_lo, x_hi) for _, _, x_lo, x_hi, _, _ in p.taps))]
        w = w[tuple(slice(lo, hi) for lo, hi, _, _, _, _ in p.taps)]
        pads = tuple((b, e) for *_, b, e in p.taps)
    if epilogue is None:
        out = kern.conv(xl, w, p.strides, p.dilation, pads, depthwise)
    else:
        out = kern.conv(xl, w, p.strides, p.dilation, pads, depthwise, epilogue)
    return _from_last(_provided(out, fn), p.fmt)


_CONV_RANK = {"conv1d": 1, "conv2d": 2, "conv3d": 3, "depthwise_conv2d": 2}


def fused_conv(op, kern, args, kwargs, epilogue, pre_pads=None):
    """The convolution op (conv1d/2d/3d, depthwise_conv2d) on its arguments, x first zero-padded by
    pre_pads (channels_last) when given, followed in the kernel by epilogue = (bias, scale, shift,
    lo, hi, residual): per output channel (y + bias) * scale + shift, plus the residual (an array
    of the result's shape), None skipping any of them, then limited to [lo, hi]
    (kcore/_fusion.py). None when the residual is not of the result's shape and dtype."""
    b = op.signature.bind(*args, **kwargs)
    b.apply_defaults()
    a = b.arguments
    kernel = a["depthwise_kernel"] if op.name == "depthwise_conv2d" else a["kernel"]
    return _conv(kern, op.name, _CONV_RANK[op.name], a["x"], kernel, a["strides"], a["padding"], a["data_format"],
                 a["dilation_rate"], depthwise=op.name == "depthwise_conv2d", causal=op.name == "conv1d",
                 epilogue=epilogue, pre_pads=pre_pads)


@op(kernels=True, shape=_conv_shape("conv1d", 1, causal=True))
def conv1d(kern, x, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """1-D convolution; padding valid, same or causal (zeros before the start only)."""
    return _conv(kern, "conv1d", 1, x, kernel, strides, padding, data_format, dilation_rate, causal=True)


@op(kernels=True, shape=_conv_shape("conv2d", 2))
def conv2d(kern, x, kernel, strides=(1, 1), padding="valid", data_format=None, dilation_rate=(1, 1)):
    """2-D convolution of x (channels_last or channels_first) with kernel (kh, kw, in, out)."""
    return _conv(kern, "conv2d", 2, x, kernel, strides, padding, data_format, dilation_rate)


@op(kernels=True, shape=_conv_shape("conv3d", 3))
def conv3d(kern, x, kernel, strides=(1, 1, 1), padding="valid", data_format=None, dilation_rate=(1, 1, 1)):
    """3-D convolution with kernel (kd, kh, kw, in, out)."""
    return _conv(kern, "conv3d", 3, x, kernel, strides, padding, data_format, dilation_rate)


@op(kernels=True, shape=_conv_shape("depthwise_conv2d", 2, depthwise=True))
def depthwise_conv2d(kern, x, depthwise_kernel, strides=(1, 1), padding="valid", data_format=None,
                     dilation_rate=(1, 1)):
    """Each input channel c convolved with its own filters depthwise_kernel[..., c, :] (kh, kw,
    channels, multiplier): output channel c * multiplier + m."""
    return _conv(kern, "depthwise_conv2d", 2, x, depthwise_kernel, strides, padding, data_format, dilation_rate,
                 depthwise=True)


def _separable(kern, fn, nd, x, depthwise_kernel, pointwise_kernel, strides, padding, data_format, dilation_rate):
    a, dw, pw = _array(x, fn), _array(depthwise_kernel, fn), _array(pointwise_kernel, fn)
    p = conv_plan(fn, nd, a, dw, strides, padding, data_format, dilation_rate, depthwise=True, pointwise=pw)
    mid = _provided(kern.conv(_to_last(a, p.fmt), dw, p.strides, p.dilation, p.pads, True), fn)
    ones = (1,) * nd
    out = kern.conv(mid, pw, ones, ones, [(0, 0)] * nd, False)
    return _from_last(_provided(out, fn), p.fmt)


def _separable_shape(fn, nd):
    def rule(x, depthwise_kernel, pointwise_kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
        p = conv_plan(fn, nd, x, depthwise_kernel, strides, padding, data_format, dilation_rate, depthwise=True,
                      pointwise=pointwise_kernel)
        return p.out_shape, p.dtype

    return rule


@op(kernels=True, shape=_separable_shape("separable_conv1d", 1))
def separable_conv1d(kern, x, depthwise_kernel, pointwise_kernel, strides=1, padding="valid", data_format=None,
                     dilation_rate=1):
    """A depthwise 1-D convolution, then a pointwise (size-1) one."""
    return _separable(kern, "separable_conv1d", 1, x, depthwise_kernel, pointwise_kernel, strides, padding,
                      data_format, dilation_rate)


@op(kernels=True, shape=_separable_shape("separable_conv2d", 2))
def separable_conv2d(kern, x, depthwise_kernel, pointwise_kernel, strides=(1, 1), padding="valid", data_format=None,
                     dilation_rate=(1, 1)):
    """A depthwise 2-D convolution, then a pointwise (1x1) one."""
    return _separable(kern, "separable_conv2d", 2, x, depthwise_kernel, pointwise_kernel, strides, padding,
                      data_format, dilation_rate)


# ---------------------------------------------------------------------------------------------
# Transposed convolutions


def _batch_dim(v, fn):
    if v is None or isinstance(v, Operators):  # a symbolic batch (K.shape(x)[0]) is known when it runs
        return None
    a = np.asarray(v)
    if a.ndim != 0 or a.dtype.kind not in "iu":
        raise ValueError(f"{fn}: output_shape holds ints (None for the batch), got {v!r}")
    return int(a)


def _deconv_length(size, k, stride, dilation, mode):
    if size is None:
        return None
    span = (k - 1) * dilation + 1
    return size * stride + max(span - stride, 0) if mode == "valid" else size * stride


def conv_transpose_plan(fn, nd, x, kernel, output_shape, strides, padding, data_format, dilation_rate) -> ConvPlan:
    fmt = data_format_of(data_format, fn)
    dtype = _float_dtypes(fn, x, kernel)
    strides = _ints(strides, nd, fn, "strides")
    dilation = _ints(dilation_rate, nd, fn, "dilation_rate")
    mode = _mode(padding, fn, ("valid", "same"))
    try:
        out = tuple(output_shape)
    except TypeError:
        raise TypeError(f"{fn}: output_shape must be a tuple of {nd + 2} dims, got {output_shape!r}") from None
    if len(out) != nd + 2:
        raise ValueError(f"{fn}: output_shape must have {nd + 2} dims (batch, spatial, channels), got {output_shape!r}")
    out = (_batch_dim(out[0], fn),
           *(None if isinstance(d, Operators) else _ints(d, 1, fn, "output_shape's dims", 0)[0] for d in out[1:]))
    xs, ks = static_shape(x), static_shape(kernel)
    _rank(fn, xs, nd)
    _rank(fn, ks, nd, "the kernel")
    if xs is None or ks is None:
        return ConvPlan(fmt, strides, dilation, (), None, dtype)
    xl, ol = _last(xs, fmt), _last(out, fmt)
    # Symbolic output dims (Keras computes them from K.shape(x) with its deconv_length) take the
    # same rule's value from x's static dims, so that later layers see static shapes.
    ol = (ol[0], *(_deconv_length(i, k, s, d, mode) if o is None else o
                   for o, i, k, s, d in zip(ol[1:-1], xl[1:-1], ks[:nd], strides, dilation, strict=True)), ol[-1])
    if xl[-1] is not None and ks[nd + 1] != xl[-1]:
        raise ValueError(f"{fn}: the kernel {ks} (spatial, out, in) expects {ks[nd + 1]} input channels, x {xs} has "
                         f"{xl[-1]}")
    if ol[-1] is not None and ks[nd] != ol[-1]:
        raise ValueError(f"{fn}: the kernel {ks} gives {ks[nd]} output channels, output_shape asks for {ol[-1]}")
    batch = xl[0] if ol[0] is None else ol[0]
    if ol[0] is not None and xl[0] is not None and ol[0] != xl[0]:
        raise ValueError(f"{fn}: output_shape's batch {ol[0]} differs from x's {xl[0]}")
    pads = tf_pads(ol[1:-1], ks[:nd], strides, dilation, mode)
    back = _out_sizes(ol[1:-1], ks[:nd], strides, dilation, pads)
    if builtins.any(i is not None and b is not None and b != i for b, i in zip(back, xl[1:-1], strict=True)):
        raise ValueError(f"{fn}: output_shape {tuple(output_shape)} does not fit x {tuple(xs)}: a {mode} convolution "
                         f"with strides {strides} maps its spatial dims {ol[1:-1]} to {back}, not {xl[1:-1]}")
    return ConvPlan(fmt, strides, dilation, pads, _in_format((batch, *ol[1:]), fmt), dtype)


def _conv_transpose(kern, fn, nd, x, kernel, output_shape, strides, padding, data_format, dilation_rate):
    a, w = _array(x, fn), _array(kernel, fn)
    p = conv_transpose_plan(fn, nd, a, w, output_shape, strides, padding, data_format, dilation_rate)
    out_sp = _last(p.out_shape, p.fmt)[1:-1]
    out = kern.conv_transpose(_to_last(a, p.fmt), w, out_sp, p.strides, p.dilation, p.pads)
    return _from_last(_provided(out, fn), p.fmt)


def _conv_transpose_shape(fn, nd):
    def rule(x, kernel, output_shape, strides=1, padding="valid", data_format=None, dilation_rate=1):
        p = conv_transpose_plan(fn, nd, x, kernel, output_shape, strides, padding, data_format, dilation_rate)
        return p.out_shape, p.dtype

    return rule


@op(kernels=True, shape=_conv_transpose_shape("conv2d_transpose", 2))
def conv2d_transpose(kern, x, kernel, output_shape, strides=(1, 1), padding="valid", data_format=None,
                     dilation_rate=(1, 1)):
    """The transpose of conv2d (its gradient with respect to the input): kernel (kh, kw, out,
    in); output_shape is the full result shape in data_format order (batch may be None)."""
    return _conv_transpose(kern, "conv2d_transpose", 2, x, kernel, output_shape, strides, padding, data_format,
                           dilation_rate)


@op(kernels=True, shape=_conv_transpose_shape("conv3d_transpose", 3))
def conv3d_transpose(kern, x, kernel, output_shape, strides=(1, 1, 1), padding="valid", data_format=None):
    """The transpose of conv3d: kernel (kd, kh, kw, out, in)."""
    return _conv_transpose(kern, "conv3d_transpose", 3, x, kernel, output_shape, strides, padding, data_format, 1)


# ---------------------------------------------------------------------------------------------
# Pooling


def pool_plan(fn, nd, x, pool_size, strides, padding, data_format, pool_mode) -> ConvPlan:
    fmt = data_format_of(data_format, fn)
    dtype = _float_dtypes(fn, x)
    size = _ints(pool_size, nd, fn, "pool_size")
    strides = _ints(strides, nd, fn, "strides")
    mode = _mode(padding, fn, ("valid", "same"))
    V.choice(pool_mode, fn, "pool_mode", ("max", "avg"))
    xs = static_shape(x)
    _rank(fn, xs, nd)
    if xs is None:
        return ConvPlan(fmt, strides, size, (), None, dtype)
    xl = _last(xs, fmt)
    ones = (1,) * nd
    pads = tf_pads(xl[1:-1], size, strides, ones, mode)
    out = (xl[0], *_out_sizes(xl[1:-1], size, strides, ones, pads, fn, mode == "valid"), xl[-1])
    return ConvPlan(fmt, strides, size, pads, _in_format(out, fmt), dtype)  # dilation holds the pool size


def _pool(kern, fn, nd, x, pool_size, strides, padding, data_format, pool_mode):
    a = _array(x, fn)
    p = pool_plan(fn, nd, a, pool_size, strides, padding, data_format, pool_mode)
    out = kern.pool(_to_last(a, p.fmt), p.dilation, p.strides, p.pads, pool_mode)
    return _from_last(_provided(out, fn), p.fmt)


def _pool_shape(fn, nd):
    def rule(x, pool_size, strides=1, padding="valid", data_format=None, pool_mode="max"):
        p = pool_plan(fn, nd, x, pool_size, strides, padding, data_format, pool_mode)
        return p.out_shape, p.dtype

    return rule


@op(kernels=True, shape=_pool_shape("pool2d", 2))
def pool2d(kern, x, pool_size, strides=(1, 1), padding="valid", data_format=None, pool_mode="max"):
    """Max or average pooling over windows of pool_size; `same` padding never counts the padded
    positions (as TensorFlow)."""
    return _pool(kern, "pool2d", 2, x, pool_size, strides, padding, data_format, pool_mode)


@op(kernels=True, shape=_pool_shape("pool3d", 3))
def pool3d(kern, x, pool_size, strides=(1, 1, 1), padding="valid", data_format=None, pool_mode="max"):
    return _pool(kern, "pool3d", 3, x, pool_size, strides, padding, data_format, pool_mode)


# ---------------------------------------------------------------------------------------------
# Unshared convolutions


def _local_plan(fn, nd, inputs, kernel, kernel_size, strides, output_shape, data_format):
    """(format, inputs, channels_last inputs, kernel with features in (*window, channels) order,
    window, strides, output positions) of an unshared convolution."""
    fmt = data_format_of(data_format, fn)
    _float_dtypes(fn, inputs, kernel)
    a, w = _array(inputs, fn), _array(kernel, fn)
    ksize = _ints(kernel_size, nd, fn, "kernel_size")
    strides = _ints(strides, nd, fn, "strides")
    _rank(fn, a.shape, nd, "inputs")
    if w.ndim != 3:
        raise ValueError(f"{fn}: kernel must be (outputs, features, filters), got shape {w.shape}")
    # Keras's local_conv1d reads its input as (batch, steps, channels) whatever the data format.
    xl = _to_last(a, fmt) if nd > 1 else a
    out_sp = tuple(ref.conv_out_size(i, k, s, 1) for i, k, s in zip(xl.shape[1:-1], ksize, strides, strict=True))
    if output_shape is not None and _ints(output_shape, nd, fn, "output_shape", 0) != out_sp:
        raise ValueError(f"{fn}: output_shape {output_shape!r} differs from the {out_sp} the windows give")
    c = xl.shape[-1]
    if w.shape[:2] != (int(np.prod(out_sp)), int(np.prod(ksize)) * c):
        raise ValueError(f"{fn}: kernel shape {w.shape} does not fit {int(np.prod(out_sp))} outputs of "
                         f"{int(np.prod(ksize))} * {c} features")
    if nd > 1 and fmt == "channels_first":  # features come (channels, *window): reorder to (*window, channels)
        w = np.moveaxis(w.reshape(w.shape[0], c, *ksize, w.shape[-1]), 1, -2).reshape(w.shape)
    return fmt, a, xl, w, ksize, strides, out_sp


def _local(kern, fn, nd, inputs, kernel, kernel_size, strides, output_shape, data_format):
    fmt, _, xl, w, ksize, strides, out_sp = _local_plan(fn, nd, inputs, kernel, kernel_size, strides, output_shape,
                                                        data_format)
    out = _provided(kern.local_conv(np.ascontiguousarray(xl), np.ascontiguousarray(w), ksize, strides, out_sp), fn)
    return _from_last(out, fmt) if nd > 1 else out


@op(kernels=True)
def local_conv1d(kern, inputs, kernel, kernel_size, strides, data_format=None):
    """Convolution with a separate kernel (features, filters) per output step: kernel
    (output_length, kernel_size * channels, filters)."""
    return _local(kern, "local_conv1d", 1, inputs, kernel, kernel_size, strides, None, data_format)


@op(kernels=True)
def local_conv2d(kern, inputs, kernel, kernel_size, strides, output_shape, data_format=None):
    """Convolution with a separate kernel per output position: kernel (rows * cols, kh * kw *
    channels, filters), features in the data format's order ((kh, kw, c) or (c, kh, kw))."""
    return _local(kern, "local_conv2d", 2, inputs, kernel, kernel_size, strides, output_shape, data_format)


# ---------------------------------------------------------------------------------------------
# Resizing


def _factors(fn, factors: dict) -> tuple:
    """The resize factors ({name: value}) as ints >= 1."""
    return tuple(V.count(f, fn, name, low=1, bits=31) for name, f in factors.items())


def _resize(kern, fn, x, factors, data_format, interpolation):
    fmt = data_format_of(data_format, fn)
    _float_dtypes(fn, x)
    a = _array(x, fn)
    factors = _factors(fn, factors)
    _rank(fn, a.shape, len(factors))
    V.choice(interpolation, fn, "interpolation", ("nearest", "bilinear"))
    return _from_last(_provided(kern.resize(_to_last(a, fmt), factors, interpolation), fn), fmt)


def _resize_shape(fn, x, factors, data_format):
    factors = _factors(fn, factors)
    xs = static_shape(x)
    if xs is None:
        return None, static_dtype(x, fn)
    fmt = data_format_of(data_format, fn)
    xl = _last(xs, fmt)
    out = (xl[0], *(None if d is None else d * f for d, f in zip(xl[1:-1], factors, strict=True)), xl[-1])
    return _in_format(out, fmt), static_dtype(x, fn)


@op(kernels=True, shape=lambda x, height_factor, width_factor, data_format, interpolation="nearest":
    _resize_shape("resize_images", x, {"height_factor": height_factor, "width_factor": width_factor}, data_format))
def resize_images(kern, x, height_factor, width_factor, data_format, interpolation="nearest"):
    """Rows and columns scaled by integer factors: nearest repeats, bilinear interpolates as
    TensorFlow's legacy resize (no corner alignment, no half-pixel centres)."""
    return _resize(kern, "resize_images", x, {"height_factor": height_factor, "width_factor": width_factor},
                   data_format, interpolation)


@op(kernels=True, shape=lambda x, depth_factor, height_factor, width_factor, data_format:
    _resize_shape("resize_volumes", x, {"depth_factor": depth_factor, "height_factor": height_factor,
                                        "width_factor": width_factor}, data_format))
def resize_volumes(kern, x, depth_factor, height_factor, width_factor, data_format):
    """The three spatial dims scaled by integer factors (each element repeated)."""
    return _resize(kern, "resize_volumes", x, {"depth_factor": depth_factor, "height_factor": height_factor,
                                               "width_factor": width_factor}, data_format, "nearest")


# ---------------------------------------------------------------------------------------------
# Batch normalization


def _rank_of(x, fn):
    shape = static_shape(x)
    if shape is None:
        raise ValueError(f"{fn}: x's rank must be known")
    return len(shape), shape


def _along(B, v, shape, axis: int, dtype, fn: str, what: str):
    """A per-channel vector laid along axis (other shapes are used as they broadcast to x's
    shape), in x's dtype."""
    if v is None:
        return None
    if static_dtype(v, fn) != dtype:
        v = B.cast(v, dtype)
    vs, ndim = static_shape(v), len(shape)
    channels = shape[axis] if ndim else None
    if vs is not None and len(vs) == 1 and ndim > 1 and axis != ndim - 1 and vs[0] == channels:
        laid = [1] * ndim
        laid[axis] = channels
        return B.reshape(v, tuple(laid))
    if vs is not None and broadcast_shapes(vs, shape, fn) != tuple(shape):
        raise ValueError(f"{fn}: {what} of shape {tuple(vs)} does not broadcast to x's shape {tuple(shape)}")
    return v


def _normalize(B, x, mean, var, beta, gamma, epsilon):
    # As tf.nn.batch_normalization: x * scale + (beta - mean * scale), scale = gamma / sqrt(var +
    # epsilon), so the statistics (per channel) take the arithmetic and x one pass.
    scale = B._divide(1.0, B.sqrt(B._add(var, float(epsilon))))
    if gamma is not None:
        scale = B._multiply(scale, gamma)
    shift = B._negative(B._multiply(mean, scale))
    if beta is not None:
        shift = B._add(beta, shift)
    return B._multiply_add(x, scale, shift)


def _float_input(x, fn):
    dt = static_dtype(x)
    if not dt.startswith("float"):
        raise TypeError(f"{fn}: expects a float tensor, got {dt}")


def batch_normalization(x, mean, var, beta, gamma, axis=-1, epsilon=1e-3):
    """(x - mean) / sqrt(var + epsilon) * gamma + beta, composed of kcore's ops (so gradients flow);
    1-D statistics are laid along `axis`; beta and gamma may be None."""
    fn = "batch_normalization"
    x, mean, var = (V.operand(t, fn, what) for t, what in ((x, "x"), (mean, "mean"), (var, "var")))
    beta, gamma = V.operand(beta, fn, "beta", none=True), V.operand(gamma, fn, "gamma", none=True)
    epsilon = V.number(epsilon, fn, "epsilon")
    _float_input(x, fn)
    ndim, shape = _rank_of(x, fn)
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"{fn}: axis must be an int, got {axis!r}")
    if not -ndim <= axis < max(ndim, 1):
        raise ValueError(f"{fn}: axis {axis!r} is out of range for x of rank {ndim}")
    axis = int(axis) % max(ndim, 1)
    B = builder_for(x, mean, var, beta, gamma)
    m, v, b, g = (_along(B, t, shape, axis, static_dtype(x), fn, what)
                  for t, what in ((mean, "mean"), (var, "var"), (beta, "beta"), (gamma, "gamma")))
    return _normalize(B, x, m, v, b, g, epsilon)


def normalize_batch_in_training(x, gamma, beta, reduction_axes, epsilon=1e-3):
    """(normalized x, mean, variance): the batch statistics over reduction_axes (kcore's mean and
    population variance) normalise x as batch_normalization does; mean and variance have x's
    shape without the reduced axes. Composed of kcore's ops, so gradients flow."""
    fn = "normalize_batch_in_training"
    x = V.operand(x, fn, "x")
    gamma, beta = V.operand(gamma, fn, "gamma", none=True), V.operand(beta, fn, "beta", none=True)
    epsilon = V.number(epsilon, fn, "epsilon")
    _float_input(x, fn)
    ndim, shape = _rank_of(x, fn)
    if not isinstance(reduction_axes, (list, tuple)) or not reduction_axes:
        raise TypeError(f"{fn}: reduction_axes must be a non-empty list of axes, got {reduction_axes!r}")
    axes = _core.normalize_axes(list(reduction_axes), ndim, fn)
    kept = [1 if i in axes else d for i, d in enumerate(shape)]
    B = builder_for(x, gamma, beta)
    mean, var = B.mean(x, axes, True), B.var(x, axes, True)

    def shaped(p, what):  # gamma/beta per kept channel, laid out like the kept-dims statistics, in x's dtype
        if p is None:
            return None
        ps = static_shape(p)
        if ps is not None and None not in ps and None not in kept and int(np.prod(ps)) != int(np.prod(kept)):
            raise ValueError(f"{fn}: {what} of shape {tuple(ps)} does not hold one value per channel of the "
                             f"statistics {tuple(kept)}")
        return B._reshape_like(p if static_dtype(p) == static_dtype(x) else B.cast(p, static_dtype(x)), mean)

    normed = B._normalize_batch(x, mean, var, shaped(beta, "beta"), shaped(gamma, "gamma"), axes, float(epsilon))
    for ax in reversed(axes):
        mean, var = B.squeeze(mean, ax), B.squeeze(var, ax)
    return normed, mean, var


@op("_normalize_batch", kernels=True, shape=lambda x, *rest: (static_shape(x), static_dtype(x)))
def normalize_batch(kern, x, mean, var, beta, gamma, axes, epsilon):
    """x normalised by its own statistics over axes (mean and var: x's, with kept dims), the ops of
    _normalize on concrete values; one node, so that its gradient takes the statistics' dependence
    on x in one formula."""
    return _normalize(Builder(kern), x, mean, var, beta, gamma, epsilon)


def _kept_span(ndim, axes):
    """[axis, axis_end): the dims statistics over `axes` keep, when they are consecutive; None when
    they are not."""
    kept = [d for d in range(ndim) if d not in axes]
    if not kept:
        return 0, 0
    return (kept[0], kept[-1] + 1) if kept == list(range(kept[0], kept[-1] + 1)) else None


@op("_normalize_batch_grad", kernels=True, tuple_valued=True, shape=lambda *args, **kwargs: (None, "float32"))
def normalize_batch_grad(kern, g, x, mean, var, gamma, axes, epsilon):
    """(dx, d beta, d gamma) of _normalize_batch, the statistics' paths included: with c = x - mean,
    r = 1 / sqrt(var + epsilon), s = gamma * r: dx = s (g - mean(g) - c r**2 mean(g c)), d gamma =
    r sum(g c), d beta = sum(g). Two passes over x and g (kernels/norm.cpp: the sums in float64,
    the per-channel factors in float64 rounded once), where the op-by-op formula took six."""
    a, gr = np.asarray(x), np.asarray(g)
    m, v = np.asarray(mean), np.asarray(var)
    stats = (m.astype(np.float64).ravel(), v.astype(np.float64).ravel(),
             None if gamma is None else np.asarray(gamma).astype(np.float64).ravel(), float(epsilon))
    span = _kept_span(a.ndim, axes)
    out = kern.norm_grad(a, gr, *stats, *span) if span is not None and a.dtype == gr.dtype else None
    if out is None:  # kept dims apart, or dtypes that differ: the float64 reference, the kept dims moved last
        order = [d for d in range(a.ndim) if d in axes] + [d for d in range(a.ndim) if d not in axes]
        dx, sum_g, sum_gc = ref.norm_grad_exact(a.transpose(order), gr.transpose(order), *stats,
                                                len(axes), a.ndim)
        out = (dx.transpose(np.argsort(order)).astype(a.dtype), sum_g, sum_gc)
    dx, sum_g, sum_gc = out
    with np.errstate(all="ignore"):
        d_gamma = (sum_gc / np.sqrt(stats[1] + stats[3])).astype(a.dtype).reshape(m.shape)
    return dx, sum_g.astype(a.dtype).reshape(m.shape), d_gamma


@gradient("_normalize_batch")
def _normalize_batch_grad(B, out, g, x, mean, var, beta, gamma, axes, epsilon):
    grads = B._normalize_batch_grad(g, x, mean, var, gamma, axes, epsilon)
    dt, kept = static_dtype(x), static_shape(mean)
    dx = B._loop_item(grads, 0, static_shape(x), dt)
    d_beta = None if beta is None else B._loop_item(grads, 1, kept, dt)
    d_gamma = None if gamma is None else B._loop_item(grads, 2, kept, dt)
    return dx, None, None, d_beta, d_gamma, None, None


# ---------------------------------------------------------------------------------------------


@op()
def in_top_k(predictions, targets, k):
    """Whether predictions[i, targets[i]] is among the k largest of row i (ties count as in, as
    TensorFlow); False for an out-of-range target or a non-finite prediction."""
    fn = "in_top_k"
    p = V.tensor(predictions, fn, "predictions")
    t = V.integer_tensor(targets, fn, "targets")
    if p.ndim != 2 or p.dtype.kind != "f":
        raise ValueError(f"{fn}: predictions must be a float matrix (batch, classes), got {p.dtype} {p.shape}")
    if t.shape != p.shape[:1]:
        raise ValueError(f"{fn}: targets must be {p.shape[0]} ints, got {t.dtype} {t.shape}")
    k = V.count(k, fn, "k", bits=31)
    valid = (t >= 0) & (t < p.shape[1])
    rows = np.arange(p.shape[0])
    target = p[rows, np.where(valid, t, 0)] if p.shape[1] else np.zeros(p.shape[0], p.dtype)
    with np.errstate(invalid="ignore"):
        better = np.sum(p > target[:, None], axis=1)
        finite = np.isfinite(target) & np.all(np.isfinite(p), axis=1)
    return valid & finite & (better < k)


# ---------------------------------------------------------------------------------------------
# Gradient rules (kcore/_api/grad.py): the reference's gradients, on the canonical arguments.


def _conv_grad_rule(g, x, kernel, which, *rest):
    wrt = x if which == "x" else kernel
    return static_shape(wrt), static_dtype(wrt)


@op("_conv_grad", kernels=True, shape=_conv_grad_rule)
def conv_grad(kern, g, x, kernel, which, nd, strides, padding, data_format, dilation_rate, depthwise, causal):
    """d sum(conv(x, kernel) * g) / d x (which == "x") or / d kernel."""
    fn = "gradients"
    a, w, gr = _array(x, fn), _array(kernel, fn), _array(g, fn)
    p = conv_plan(fn, nd, a, w, strides, padding, data_format, dilation_rate, depthwise=depthwise, causal=causal)
    if which == "x" and gr.dtype == a.dtype == w.dtype:  # the transposed convolution of g
        xl = _to_last(a, p.fmt)
        out = kern.conv_transpose(_to_last(gr, p.fmt), w, xl.shape[1:-1], p.strides, p.dilation, p.pads, depthwise)
        return _from_last(_provided(out, fn), p.fmt)
    if which == "kernel" and gr.dtype == a.dtype == w.dtype:
        xl, gl = _to_last(a, p.fmt), _to_last(gr, p.fmt)
        if gr.size == 0 or a.size == 0:
            return np.zeros(w.shape, w.dtype)
        if not depthwise and _pointwise(w, p):  # X^T G: x and g read in place
            c, f = w.shape[-2:]
            return _transposed_product(kern, xl.reshape(-1, c), gl.reshape(-1, f)).reshape(w.shape)
        if not depthwise:
            return _kernel_grad(kern, xl, w, gl, p, fn)
        return _provided(kern.depthwise_kernel_grad(xl, gl, w.shape[:nd], p.strides, p.dilation, p.pads), fn)
    gx, gw = ref.conv_grads_exact(_to_last(a, p.fmt), w, _to_last(gr, p.fmt), p.strides, p.dilation, p.pads,
                                  depthwise)
    return _from_last(gx.astype(a.dtype), p.fmt) if which == "x" else gw.astype(w.dtype)


def _pointwise(w, p) -> bool:
    """A 1x1 convolution of unit strides without padding: a product of x's positions (rows) and w."""
    nd = w.ndim - 2
    return all(k == 1 for k in w.shape[:nd]) and all(s == 1 for s in p.strides) and not any(
        b or e for b, e in p.pads)


def _transposed_product(kern, a, b):
    """a^T b for a (k, m) and b (k, n). A k long beside m x n (a pointwise convolution's kernel
    gradient: k positions, m x n channels) goes in equal chunks fixed by its length, their products
    side by side (batch_dot's item tasks; one product splits its threads over m and n only),
    summed in order; float32 and float64."""
    k, m = a.shape
    n = b.shape[1]
    # (float16 would round each chunk's product: one product keeps its float32 sums to the end)
    chunks = next((c for c in (16, 8, 4, 2) if k % c == 0 and k // c >= 1024), 1) if k >= m * n else 1
    if a.dtype == np.float16:
        chunks = 1
    if chunks == 1:
        return run("dot", kern, a.T, b)
    parts = run("batch_dot", kern, a.reshape(chunks, k // chunks, m).transpose(0, 2, 1),
                b.reshape(chunks, k // chunks, n), (2, 1))
    return run("sum", kern, parts, 0)


def _kernel_grad(kern, x, w, g, p, fn):
    """d sum(conv(x, w) * g) / d w as a convolution with the roles swapped: x's channels as its
    batch, its batch as the channels, g as the kernel; the forward's dilation as the stride and its
    stride as the dilation: w[k, c, f] = sum over n and positions o of xpad[n, o * stride + k *
    dilation, c] * g[n, o, f]. Its positions past the kernel's (slack of x's padding) are dropped."""
    nd = x.ndim - 2
    if g.size == 0 or x.size == 0:
        return np.zeros(w.shape, w.dtype)
    xt = run("permute_dimensions", kern, x, (nd + 1, *range(1, nd + 1), 0))  # (C, *spatial, N)
    gk = run("permute_dimensions", kern, g, (*range(1, nd + 1), 0, nd + 1))  # (*out, N, F)
    out = _provided(kern.conv(xt, gk, p.dilation, p.strides, p.pads, False), fn)  # (C, *at least the kernel, F)
    out = out[(slice(None), *(slice(0, k) for k in w.shape[:nd]), slice(None))]
    return np.ascontiguousarray(np.moveaxis(out, 0, -2))


def _conv_rule(nd, depthwise=False, causal=False):
    def rule(B, out, g, x, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
        common = (nd, strides, padding, data_format, dilation_rate, depthwise, causal)
        return B._conv_grad(g, x, kernel, "x", *common), B._conv_grad(g, x, kernel, "kernel", *common)

    return rule


gradient("conv1d")(_conv_rule(1, causal=True))
gradient("conv2d")(_conv_rule(2))
gradient("conv3d")(_conv_rule(3))
gradient("depthwise_conv2d")(_conv_rule(2, depthwise=True))


@op("_pool_grad", kernels=True, shape=lambda g, x, *rest: (static_shape(x), static_dtype(x)))
def pool_grad(kern, g, x, nd, pool_size, strides, padding, data_format, pool_mode):
    """d sum(pool(x) * g) / d x: max pooling routes to each window's first maximum."""
    a, gr = _array(x, "gradients"), _array(g, "gradients")
    p = pool_plan("gradients", nd, a, pool_size, strides, padding, data_format, pool_mode)
    xl, gl = _to_last(a, p.fmt), _to_last(gr, p.fmt)
    if gr.dtype == a.dtype:
        gx = _provided(kern.pool_grad(xl, gl, p.dilation, p.strides, p.pads, pool_mode), "gradients")
    else:
        gx = ref.pool_grad_exact(xl, gl, p.dilation, p.strides, p.pads, pool_mode).astype(a.dtype)
    return _from_last(gx, p.fmt)


def _pool_rule(nd):
    def rule(B, out, g, x, pool_size, strides=1, padding="valid", data_format=None, pool_mode="max"):
        return (B._pool_grad(g, x, nd, pool_size, strides, padding, data_format, pool_mode),)

    return rule


gradient("pool2d")(_pool_rule(2))
gradient("pool3d")(_pool_rule(3))


@op("_resize_grad", shape=lambda g, x, *rest: (static_shape(x), static_dtype(x)))
def resize_grad(g, x, factors, data_format, interpolation):
    """The adjoint of resize_exact: each output's gradient goes back to the inputs it read."""
    fmt = data_format_of(data_format, "gradients")
    a, gr = _array(x, "gradients"), _to_last(_array(g, "gradients"), fmt).astype(np.float64)
    xl = _to_last(a, fmt)
    for axis in range(len(factors), 0, -1):  # undo the last axis first
        f, n = factors[axis - 1], xl.shape[axis]
        if interpolation == "nearest":
            gr = gr.reshape(gr.shape[:axis] + (n, f) + gr.shape[axis + 1:]).sum(axis=axis + 1)
            continue
        src = np.arange(n * f) / f
        i0 = np.floor(src).astype(np.int64)
        i1 = np.minimum(i0 + 1, n - 1)
        t = (src - i0).reshape((-1,) + (1,) * (gr.ndim - axis - 1))
        back = np.zeros(gr.shape[:axis] + (n,) + gr.shape[axis + 1:])
        moved = np.moveaxis(back, axis, 0)
        np.add.at(moved, i0, np.moveaxis(gr * (1 - t), axis, 0))
        np.add.at(moved, i1, np.moveaxis(gr * t, axis, 0))
        gr = back
    return _from_last(gr.astype(a.dtype), fmt)


@gradient("resize_images")
def _resize_images_grad(B, out, g, x, height_factor, width_factor, data_format, interpolation="nearest"):
    return B._resize_grad(g, x, (int(height_factor), int(width_factor)), data_format, interpolation), None, None, None


@gradient("resize_volumes")
def _resize_volumes_grad(B, out, g, x, depth_factor, height_factor, width_factor, data_format):
    factors = (int(depth_factor), int(height_factor), int(width_factor))
    return B._resize_grad(g, x, factors, data_format, "nearest"), None, None, None, None


@op("_conv_transpose_grad", kernels=True,
    shape=_conv_grad_rule)
def conv_transpose_grad(kern, g, x, kernel, which, nd, output_shape, strides, padding, data_format, dilation_rate):
    """A transposed convolution is the adjoint of a convolution: its input gradient is that
    convolution of g, its kernel gradient the convolution's kernel gradient with roles swapped."""
    fn = "gradients"
    a, w, gr = _array(x, fn), _array(kernel, fn), _array(g, fn)
    p = conv_transpose_plan(fn, nd, a, w, output_shape, strides, padding, data_format, dilation_rate)
    gl = _to_last(gr, p.fmt)
    if which == "x":
        if gr.dtype == a.dtype == w.dtype:
            return _from_last(_provided(kern.conv(gl, w, p.strides, p.dilation, p.pads, False), fn), p.fmt)
        return _from_last(ref.conv_exact(gl, w, p.strides, p.dilation, p.pads).astype(a.dtype), p.fmt)
    return ref.conv_grads_exact(gl, w, _to_last(a, p.fmt), p.strides, p.dilation, p.pads)[1].astype(w.dtype)


def _conv_transpose_rule(nd):
    def rule(B, out, g, x, kernel, output_shape, strides=1, padding="valid", data_format=None, dilation_rate=1):
        common = (nd, output_shape, strides, padding, data_format, dilation_rate)
        return (B._conv_transpose_grad(g, x, kernel, "x", *common),
                B._conv_transpose_grad(g, x, kernel, "kernel", *common), None)

    return rule


gradient("conv2d_transpose")(_conv_transpose_rule(2))
gradient("conv3d_transpose")(_conv_transpose_rule(3))



def _depthwise_mid_shape(x, depthwise_kernel, nd, strides, padding, data_format, dilation_rate):
    p = conv_plan("separable", nd, x, depthwise_kernel, strides, padding, data_format, dilation_rate, depthwise=True)
    return p.out_shape, p.dtype


@op("_separable_mid", kernels=True, shape=_depthwise_mid_shape)
def separable_mid(kern, x, depthwise_kernel, nd, strides, padding, data_format, dilation_rate):
    """A separable convolution's depthwise stage (its input to the pointwise stage)."""
    return _conv(kern, "separable", nd, x, depthwise_kernel, strides, padding, data_format, dilation_rate,
                 depthwise=True)


def _separable_rule(nd):
    def rule(B, out, g, x, depthwise_kernel, pointwise_kernel, strides=1, padding="valid", data_format=None,
             dilation_rate=1):
        mid = B._separable_mid(x, depthwise_kernel, nd, strides, padding, data_format, dilation_rate)
        point = (nd, 1, "valid", data_format, 1, False, False)
        g_mid = B._conv_grad(g, mid, pointwise_kernel, "x", *point)
        depth = (nd, strides, padding, data_format, dilation_rate, True, False)
        return (B._conv_grad(g_mid, x, depthwise_kernel, "x", *depth),
                B._conv_grad(g_mid, x, depthwise_kernel, "kernel", *depth),
                B._conv_grad(g, mid, pointwise_kernel, "kernel", *point))

    return rule


gradient("separable_conv1d")(_separable_rule(1))
gradient("separable_conv2d")(_separable_rule(2))



@op("_local_conv_grad", shape=_conv_grad_rule)
def local_conv_grad(g, inputs, kernel, which, nd, kernel_size, strides, output_shape, data_format):
    """d sum(local_conv(inputs, kernel) * g) / d inputs (which == "x") or / d kernel."""
    fmt, a, xl, w, ksize, strides, out_sp = _local_plan("gradients", nd, inputs, kernel, kernel_size, strides,
                                                        output_shape, data_format)
    gr = np.asarray(g, np.float64)
    gl = _to_last(gr, fmt) if nd > 1 else gr
    x64, w64 = xl.astype(np.float64), w.astype(np.float64)
    gx, gw = np.zeros_like(x64), np.zeros_like(w64)
    for p, o in enumerate(np.ndindex(*out_sp)):
        win = (slice(None), *(slice(i * s, i * s + k) for i, s, k in zip(o, strides, ksize, strict=True)), slice(None))
        go = gl[(slice(None), *o, slice(None))]
        gw[p] = x64[win].reshape(len(x64), -1).T @ go
        gx[win] += (go @ w64[p].T).reshape(x64[win].shape)
    if which == "x":
        return (_from_last(gx, fmt) if nd > 1 else gx).astype(a.dtype)
    if nd > 1 and fmt == "channels_first":  # back to the kernel's (channels, *window) feature order
        gw = np.moveaxis(gw.reshape(gw.shape[0], *ksize, xl.shape[-1], gw.shape[-1]), -2, 1).reshape(gw.shape)
    return gw.astype(np.asarray(kernel).dtype)


@gradient("local_conv1d")
def _local_conv1d_grad(B, out, g, inputs, kernel, kernel_size, strides, data_format=None):
    common = (1, kernel_size, strides, None, data_format)
    return B._local_conv_grad(g, inputs, kernel, "x", *common), B._local_conv_grad(g, inputs, kernel, "kernel", *common)


@gradient("local_conv2d")
def _local_conv2d_grad(B, out, g, inputs, kernel, kernel_size, strides, output_shape, data_format=None):
    common = (2, kernel_size, strides, output_shape, data_format)
    return B._local_conv_grad(g, inputs, kernel, "x", *common), B._local_conv_grad(g, inputs, kernel, "kernel", *common)


gradient("in_top_k")(no_gradient)
