"""The float64 NumPy oracle with Keras (on TensorFlow) semantics: exact values of the native
families, written with NumPy alone, independently of the kernels. The `numpy` backend rounds
these to the input's dtype; the tests compare kcore's kernels against them with error bounds.
Axes are normalised (a tuple of non-negative ints) and arrays are NumPy arrays."""
from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np


def reduce_exact(name: str, a: np.ndarray, axes: tuple, keepdims: bool = False) -> np.ndarray:
    """The exact value of a reduction before rounding to a's dtype: float64 (bool for any/all).
    NaN propagates; an empty axis gives the identity (sum 0, prod 1, max -inf, min +inf, mean,
    var and std NaN); var and std are population statistics."""
    x = a.astype(np.float64)
    count = int(np.prod([a.shape[i] for i in axes])) if axes else 1
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if name in ("any", "all"):
            return np.asarray(getattr(np, name)(a, axis=axes, keepdims=keepdims))
        if name in ("max", "min") and count == 0:
            shape = np.sum(x, axis=axes, keepdims=keepdims).shape
            return np.full(shape, -np.inf if name == "max" else np.inf)
        if name in ("var", "std"):
            m = np.mean(x, axis=axes, keepdims=True)
            v = np.mean((x - m) ** 2, axis=axes, keepdims=keepdims)
            return np.asarray(np.sqrt(v) if name == "std" else v)
        return np.asarray(getattr(np, name)(x, axis=axes, keepdims=keepdims))


def argreduce_exact(name: str, a: np.ndarray, axis: int) -> np.ndarray:
    """argmax/argmin as Keras on TensorFlow: the first index of the extreme, NaN skipped, an
    all-NaN slice gives 0; int64."""
    x = np.moveaxis(a.astype(np.float64), axis, -1)
    out = np.zeros(x.shape[:-1], np.int64)
    flat = out.reshape(-1)
    for k, row in enumerate(x.reshape(-1, x.shape[-1])):
        valid = np.flatnonzero(~np.isnan(row))
        if valid.size:
            v = row[valid]
            flat[k] = valid[np.argmax(v) if name == "argmax" else np.argmin(v)]
    return out


def scan_exact(name: str, a: np.ndarray, axis: int) -> np.ndarray:
    """cumsum/cumprod in float64."""
    with np.errstate(all="ignore"):
        return (np.cumsum if name == "cumsum" else np.cumprod)(a.astype(np.float64), axis=axis)


ONE_ROUNDING: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "square": np.square, "abs": np.abs, "sign": np.sign, "round": np.round, "negative": np.negative,
    "sqrt": lambda a: np.sqrt(np.where(a > 0, a, np.where(np.isnan(a), a, a.dtype.type(0)))),
}


def unary_exact(name: str, a: np.ndarray, alpha=None, max_value=None, threshold=None) -> np.ndarray:
    """The activations and exp/log in extended precision (np.longdouble) with Keras 2.3.1's
    formulas (TensorFlow backend); parameters as Keras orders them (elu: alpha; relu: alpha,
    max_value, threshold), None for their defaults."""
    if name in ONE_ROUNDING:  # (in a's own dtype: IEEE rounds these once, exactly)
        with np.errstate(all="ignore"):
            return ONE_ROUNDING[name](a)
    x = a.astype(np.longdouble)
    one, zero = np.longdouble(1), np.longdouble(0)
    with np.errstate(all="ignore"):
        if name == "exp":
            return np.exp(x)
        if name == "log":
            return np.log(x)
        if name == "tanh":
            return np.tanh(x)
        if name == "sigmoid":
            return one / (one + np.exp(-x))
        if name == "hard_sigmoid":
            return np.clip(x * np.longdouble(0.2) + np.longdouble(0.5), zero, one)
        if name == "softplus":
            return np.logaddexp(zero, x)
        if name == "softsign":
            return x / (one + np.abs(x))
        if name == "elu":
            alpha = 1.0 if alpha is None else alpha
            return np.where(x > 0, x, np.longdouble(alpha) * np.expm1(x))
        if name == "relu":
            t = np.longdouble(threshold or 0)
            y = x * (x > t) if t != 0 else np.where(x < 0, zero, x)
            if max_value is not None:
                y = np.maximum(np.minimum(y, np.longdouble(max_value)), zero)  # (tf.clip_by_value's order)
            if alpha:
                y = y - np.longdouble(alpha) * np.maximum(t - x, zero)
            return y
    raise ValueError(f"unary_exact: unknown function {name!r}")


def softmax_exact(a: np.ndarray) -> np.ndarray:
    """softmax over the last axis in extended precision; a NaN or +inf in a row makes it NaN."""
    x = a.astype(np.longdouble)
    if x.shape[-1] == 0:
        return x
    with np.errstate(all="ignore"):
        e = np.exp(x - np.max(x, axis=-1, keepdims=True))
        return e / np.sum(e, axis=-1, keepdims=True)


def contract_exact(x: np.ndarray, y: np.ndarray, x_k: int, y_k: int, batched: bool):
    """The tensordot of x and y over x_k and y_k (per item over axis 0 when batched) in float64,
    and the same of |x| and |y| (the natural bound of its rounding error)."""
    x64, y64 = x.astype(np.float64), y.astype(np.float64)

    def tensordot(u, v):
        if not batched:
            return np.tensordot(u, v, (x_k, y_k))
        return np.stack([np.tensordot(u[i], v[i], (x_k - 1, y_k - 1)) for i in range(u.shape[0])]) if len(u) else \
            np.zeros((0,) + tuple(np.delete(u.shape, [0, x_k])) + tuple(np.delete(v.shape, [0, y_k])))

    return tensordot(x64, y64), tensordot(np.abs(x64), np.abs(y64))


# ---------------------------------------------------------------------------------------------
# Convolutions, pooling and resizing (channels_last, explicit zero padding), as TensorFlow's
# ops compute them, in float64.


def _windows(out_sp, kernel_index, dilation, strides):
    """The slices of a padded input that kernel offset `kernel_index` meets for every output."""
    return tuple(slice(k * d, k * d + (o - 1) * s + 1, s)
                 for k, d, o, s in zip(kernel_index, dilation, out_sp, strides, strict=True))


def conv_out_size(size: int, k: int, stride: int, dilation: int) -> int:
    """Outputs of a valid convolution along one dim of `size` (padding already added)."""
    return max((size - (k - 1) * dilation - 1) // stride + 1, 0)


def conv_exact(x, w, strides, dilation, pads, depthwise=False):
    """Cross-correlation of x (batch, *spatial, channels) with w (*kernel, channels, out), or,
    depthwise, with w (*kernel, channels, multiplier) giving channel c * multiplier + m; x padded
    with zeros by pads ((before, after) per spatial dim)."""
    nd = len(strides)
    xp = np.pad(x.astype(np.float64), [(0, 0), *pads, (0, 0)])
    w64 = w.astype(np.float64)
    ksize = w.shape[:nd]
    out_sp = tuple(conv_out_size(i, k, s, d) for i, k, s, d in zip(xp.shape[1:1 + nd], ksize, strides, dilation,
                                                                   strict=True))
    c, m = x.shape[-1], w.shape[-1]
    out = np.zeros((x.shape[0], *out_sp, c * m if depthwise else m))
    if out.size == 0:
        return out
    for k in np.ndindex(*ksize):
        patch = xp[(slice(None), *_windows(out_sp, k, dilation, strides), slice(None))]
        if depthwise:
            out += (patch[..., :, None] * w64[k]).reshape(*patch.shape[:-1], c * m)
        else:
            out += patch @ w64[k]
    return out


def conv_transpose_exact(x, w, out_sp, strides, dilation, pads, depthwise=False):
    """The transpose (gradient) of conv_exact: x (batch, *in, in_channels), w (*kernel,
    out_channels, in_channels), for an output of spatial shape out_sp with pads ((before, after)
    per dim) cut from the full result. Depthwise: w (*kernel, C, multiplier), x's channels C *
    multiplier, each of the output's C channels summing its multiplier's."""
    nd = len(strides)
    ksize = w.shape[:nd]
    in_sp = x.shape[1:1 + nd]
    full = tuple(o + b + a for o, (b, a) in zip(out_sp, pads, strict=True))
    out = np.zeros((x.shape[0], *full, w.shape[-2]))
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    if depthwise:
        x64 = x64.reshape(*x.shape[:-1], *w.shape[-2:])
    if x.size and w.size:
        for k in np.ndindex(*ksize):
            sent = (x64 * w64[k]).sum(axis=-1) if depthwise else x64 @ w64[k].T
            out[(slice(None), *_windows(in_sp, k, dilation, strides), slice(None))] += sent
    return out[(slice(None), *(slice(b, b + o) for o, (b, _) in zip(out_sp, pads, strict=True)), slice(None))]


def depthwise_kernel_grad_exact(x, g, ksize, strides, dilation, pads):
    """The gradient of sum(conv_exact(x, w, ..., depthwise=True) * g) with respect to w (*ksize,
    C, multiplier), in float64: tap k's is the sum over the batch and output positions of x at
    the tap times g, per input channel and multiplier."""
    nd = len(strides)
    c = x.shape[-1]
    m = g.shape[-1] // c if c else 0
    xp = np.pad(x.astype(np.float64), [(0, 0), *pads, (0, 0)])
    g64 = g.astype(np.float64).reshape(*g.shape[:-1], c, m)
    gw = np.zeros((*ksize, c, m))
    if g.size:
        for k in np.ndindex(*ksize):
            patch = xp[(slice(None), *_windows(g.shape[1:1 + nd], k, dilation, strides), slice(None))]
            gw[k] = np.einsum("ic,icm->cm", patch.reshape(-1, c), g64.reshape(-1, c, m))
    return gw


def pool_exact(x, size, strides, pads, mode):
    """Max or average pooling of x (batch, *spatial, channels); padded positions never count
    (max ignores them, the average divides by the window's positions inside x)."""
    nd = len(strides)
    x64 = x.astype(np.float64)
    fill = -np.inf if mode == "max" else 0.0
    xp = np.pad(x64, [(0, 0), *pads, (0, 0)], constant_values=fill)
    inside = np.pad(np.ones(x.shape[1:1 + nd]), pads)
    out_sp = tuple(conv_out_size(i, k, s, 1) for i, k, s in zip(xp.shape[1:1 + nd], size, strides, strict=True))
    ones = (1,) * nd
    acc = np.full((x.shape[0], *out_sp, x.shape[-1]), fill)
    count = np.zeros(out_sp)
    if acc.size == 0:
        return acc
    with np.errstate(invalid="ignore"):
        for k in np.ndindex(*size):
            win = _windows(out_sp, k, ones, strides)
            patch = xp[(slice(None), *win, slice(None))]
            acc = np.maximum(acc, patch) if mode == "max" else acc + patch
            count += inside[win]
        return acc if mode == "max" else acc / count[None, ..., None]


def resize_exact(x, factors, interpolation):
    """Spatial dims of x (batch, *spatial, channels) scaled by integer factors as TensorFlow's
    legacy resize ops (no corner alignment, no half-pixel centres): nearest repeats each element;
    bilinear samples at out_index / factor, clamped at the last row."""
    out = x.astype(np.float64)
    for axis, f in enumerate(factors, start=1):
        if interpolation == "nearest":
            out = np.repeat(out, f, axis=axis)
            continue
        n = out.shape[axis]
        src = np.arange(n * f) / f
        i0 = np.floor(src).astype(np.int64)
        i1 = np.minimum(i0 + 1, n - 1)
        t = (src - i0).reshape((-1,) + (1,) * (out.ndim - axis - 1))
        out = np.take(out, i0, axis=axis) * (1 - t) + np.take(out, i1, axis=axis) * t
    return out


def local_conv_exact(x, kernel, ksize, strides, out_sp):
    """Convolution with unshared weights: output position p (row-major over out_sp) multiplies
    its window of x (batch, *spatial, channels), flattened in (*kernel, channels) order, by
    kernel[p] (features, filters)."""
    out = np.zeros((x.shape[0], *out_sp, kernel.shape[-1]))
    x64, k64 = x.astype(np.float64), kernel.astype(np.float64)
    for p, o in enumerate(np.ndindex(*out_sp)):
        win = tuple(slice(i * s, i * s + k) for i, s, k in zip(o, strides, ksize, strict=True))
        out[(slice(None), *o, slice(None))] = x64[(slice(None), *win, slice(None))].reshape(x.shape[0], -1) @ k64[p]
    return out


def conv_grads_exact(x, w, g, strides, dilation, pads, depthwise=False):
    """The gradients of sum(conv_exact(x, w, ...) * g) with respect to x and to w, in float64."""
    nd = len(strides)
    xp = np.pad(x.astype(np.float64), [(0, 0), *pads, (0, 0)])
    w64, g64 = w.astype(np.float64), g.astype(np.float64)
    gxp, gw = np.zeros_like(xp), np.zeros(w.shape)
    out_sp = g.shape[1:1 + nd]
    c, m = x.shape[-1], w.shape[-1]
    if g.size:
        for k in np.ndindex(*w.shape[:nd]):
            win = (slice(None), *_windows(out_sp, k, dilation, strides), slice(None))
            patch = xp[win]
            if depthwise:
                gk = g64.reshape(*g.shape[:-1], c, m)
                gw[k] = np.einsum("ic,icm->cm", patch.reshape(-1, c), gk.reshape(-1, c, m))
                gxp[win] += (gk * w64[k]).sum(axis=-1)
            else:
                gw[k] = np.tensordot(patch, g64, axes=(list(range(nd + 1)), list(range(nd + 1))))
                gxp[win] += g64 @ w64[k].T
    crop = (slice(None), *(slice(b, b + n) for (b, _), n in zip(pads, x.shape[1:1 + nd], strict=True)), slice(None))
    return gxp[crop], gw


def relu_slope_exact(x, dtype, alpha, max_value, threshold):
    """d relu / dx at x in dtype, as TensorFlow differentiates Keras 2.3.1's relu graph: 1 where x
    passes (x > threshold; with max_value: relu6 (threshold 0, max_value 6) strictly below 6,
    otherwise tf.clip_by_value's minimum and maximum, inclusive: x >= 0 after a threshold, x <=
    max_value), else alpha where x < threshold (-alpha relu(threshold - x)); alpha alone is
    tf.nn.leaky_relu, alpha wherever x > 0 fails (NaN included). Bounds in x's dtype."""
    a, dt = np.asarray(x), np.dtype(dtype)

    def bound(b):
        return np.asarray(b, a.dtype) if a.dtype.kind == "f" else b

    with np.errstate(invalid="ignore", over="ignore"):
        if alpha != 0 and max_value is None and threshold == 0:
            return np.where(a > 0, dt.type(1), dt.type(alpha))
        passes = a > bound(threshold)
        if max_value is not None:
            if threshold != 0:
                passes &= a >= 0
            passes &= (a < bound(max_value)) if threshold == 0 and max_value == 6 else (a <= bound(max_value))
        slope = passes.astype(dt)
        if alpha != 0:
            slope = np.where(a < bound(threshold), dt.type(alpha), slope)
    return slope


def norm_grad_exact(x, g, mean, var, gamma, epsilon, axis, axis_end):
    """The gradient of x normalised by its own statistics, kept along dims [axis, axis_end) (one
    value per kept element in mean, var, gamma; gamma may be None), in float64: (dx, sum(g),
    sum(g * (x - mean))), the sums one per kept element."""
    kept = x.shape[axis:axis_end]
    shape = (int(np.prod(x.shape[:axis])), int(np.prod(kept)), int(np.prod(x.shape[axis_end:])))
    x64, g64 = x.astype(np.float64).reshape(shape), g.astype(np.float64).reshape(shape)
    m, v = (np.asarray(t, np.float64).reshape(1, -1, 1) for t in (mean, var))
    c = x64 - m
    sum_g, sum_gc = g64.sum(axis=(0, 2)), (g64 * c).sum(axis=(0, 2))
    n = shape[0] * shape[2]
    r = 1.0 / np.sqrt(v + epsilon)
    s = r if gamma is None else r * np.asarray(gamma, np.float64).reshape(1, -1, 1)
    with np.errstate(all="ignore"):
        dx = g64 * s - c * s * r * r * sum_gc.reshape(1, -1, 1) / n - s * sum_g.reshape(1, -1, 1) / n
    return dx.reshape(x.shape), sum_g, sum_gc


def pool_grad_exact(x, g, size, strides, pads, mode):
    """The gradient of sum(pool_exact(x, ...) * g) with respect to x: max routes each window's
    gradient to the first of its positions in x holding the window's maximum (a NaN maximum: the
    first NaN); average spreads it over the window's positions in x."""
    nd = len(strides)
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    fill = -np.inf if mode == "max" else 0.0
    xp = np.pad(x64, [(0, 0), *pads, (0, 0)], constant_values=fill)
    inside = np.pad(np.ones(x.shape[1:1 + nd]), pads)
    out_sp = g.shape[1:1 + nd]
    ones = (1,) * nd
    gxp = np.zeros_like(xp)
    if g.size:
        if mode == "avg":
            count = np.zeros(out_sp)
            for k in np.ndindex(*size):
                count += inside[_windows(out_sp, k, ones, strides)]
            share = g64 / count[None, ..., None]
            for k in np.ndindex(*size):
                win = _windows(out_sp, k, ones, strides)
                gxp[(slice(None), *win, slice(None))] += share * inside[win][None, ..., None]
        else:
            best = np.full(g.shape, -np.inf)
            taken = np.zeros(g.shape, bool)
            for k in np.ndindex(*size):  # the window's maximum
                best = np.maximum(best, xp[(slice(None), *_windows(out_sp, k, ones, strides), slice(None))])
            for k in np.ndindex(*size):  # its first position takes the gradient
                win = (slice(None), *_windows(out_sp, k, ones, strides), slice(None))
                at = inside[_windows(out_sp, k, ones, strides)][None, ..., None] > 0
                hit = ((xp[win] == best) | (np.isnan(xp[win]) & np.isnan(best))) & at & ~taken
                taken |= hit
                gxp[win] += np.where(hit, g64, 0.0)
    crop = (slice(None), *(slice(b, b + n) for (b, _), n in zip(pads, x.shape[1:1 + nd], strict=True)), slice(None))
    return gxp[crop]
