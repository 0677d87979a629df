"""Reductions: sum, prod, mean, max, min, var, std, any, all, argmax, argmin (native for
float16/32/64), and logsumexp.

Integer and bool inputs go through NumPy with Keras-on-TensorFlow dtype rules: sum/prod/max/min/
mean keep an integer dtype (mean truncates), var/std return floatx, bool becomes floatx for
arithmetic reductions.
"""
from __future__ import annotations

import numpy as np

from kcore import _validate as V
from kcore._api.common import static_dtype, static_shape
from kcore._api.grad import gradient, no_gradient
from kcore._graph import contains_symbolic
from kcore._kernels import NATIVE
from kcore._kernels import ReduceKind as R
from kcore._ops import op, run
from kcore._runtime import _core

PUBLIC = ()


def _keepdims_shape(shape, axes):
    return tuple(1 if axes is None or i in axes else n for i, n in enumerate(shape))


def reduce(kern, kind, x, axis, keepdims):
    """The reduction `kind` of any input: native kernels for float arrays, NumPy otherwise."""
    fn = kind.name
    a = V.as_array(x, fn)
    r = kern.reduce(kind, a, axis, keepdims) if a is not x else None  # see _ops.py: entries
    if r is not None:
        return r
    V.check_numeric(a, fn)
    keepdims = V.flag(keepdims, fn, "keepdims")
    if kind in (R.argmax, R.argmin):
        out = np.asarray((np.argmax if kind == R.argmax else np.argmin)(a, axis=_core.arg_axis(axis, a.shape, fn)))
        out = out.astype(np.int64)
        return out if out.ndim else out[()]
    axes = _core.normalize_axes(axis, a.ndim, fn)
    out = np.asarray(_reduce_numpy(kern, kind, a, axes))
    if keepdims:
        out = out.reshape(_keepdims_shape(a.shape, axes))
    return out if out.ndim else out[()]


def _reduce_numpy(kern, kind, a, axes):
    if a.dtype == np.bool_:
        if kind == R.max:
            return np.any(a, axis=axes)
        if kind == R.min:
            return np.all(a, axis=axes)
        if kind in (R.sum, R.prod, R.mean, R.var, R.std):
            return kern.reduce(kind, a.astype(V.floatx()), axes, False)
    if kind == R.any:
        return np.any(a, axis=axes)
    if kind == R.all:
        return np.all(a, axis=axes)
    if kind == R.sum:
        return np.sum(a, axis=axes, dtype=a.dtype)
    if kind == R.prod:
        return np.prod(a, axis=axes, dtype=a.dtype)
    count = a.size if axes is None else int(np.prod([a.shape[i] for i in axes]))
    if kind in (R.max, R.min):
        if count == 0:  # TensorFlow's identity for integers: the dtype's extreme
            info = np.iinfo(a.dtype)
            shape = () if axes is None else tuple(n for i, n in enumerate(a.shape) if i not in axes)
            return np.full(shape, info.min if kind == R.max else info.max, dtype=a.dtype)
        return (np.max if kind == R.max else np.min)(a, axis=axes)
    if kind == R.mean:
        total = np.sum(a, axis=axes, dtype=np.int64 if a.dtype.kind == "i" else np.uint64)
        if count == 0:
            return np.zeros_like(total, dtype=a.dtype)
        q = np.abs(total) // count * np.sign(total) if a.dtype.kind == "i" else total // count
        return q.astype(a.dtype)  # integer mean truncates toward zero, as TensorFlow's
    # var, std: float64, then floatx
    return np.asarray(kern.reduce(kind, a.astype(np.float64), axes, False)).astype(V.floatx())


def _value_reduction(kind):
    def impl(kern, x, axis=None, keepdims=False):
        return reduce(kern, kind, x, axis, keepdims)

    return impl


def _index_reduction(kind):
    def impl(kern, x, axis=-1):  # argmax/argmin: Keras's default is the last axis
        return reduce(kern, kind, x, axis, False)

    return impl


def _shape_rule(kind):
    """The reduction's static shape: the dims left by its axes; its dtype (and the check of its
    arguments) from the reduction of a one-element array of x's rank. None (probe) where an
    argument is symbolic."""
    fn = kind.name

    def rule(x, axis=-1 if kind in (R.argmax, R.argmin) else None, keepdims=False):
        if type(x) in (list, tuple) or contains_symbolic(axis) or contains_symbolic(keepdims):
            return None  # (a list of tensors: stacked when it runs)
        shape = static_shape(x)
        if shape is None:
            return None
        # (dims known to be 0 kept: argmax over an empty axis raises here, when the graph is built)
        one = np.zeros(tuple(0 if d == 0 else 1 for d in shape), static_dtype(x, fn))
        dtype = np.asarray(run(fn, NATIVE, one, axis, keepdims) if kind not in (R.argmax, R.argmin)
                           else run(fn, NATIVE, one, axis)).dtype.name
        if kind in (R.argmax, R.argmin):
            ax = _core.arg_axis(axis, one.shape, fn)
            return tuple(n for i, n in enumerate(shape) if i != ax), dtype
        axes = _core.normalize_axes(axis, len(shape), fn)
        if V.flag(keepdims, fn, "keepdims"):
            return _keepdims_shape(shape, axes), dtype
        return tuple(n for i, n in enumerate(shape) if axes is not None and i not in axes), dtype

    return rule


def _register(kind, doc):
    """Registers the reduction `kind` as an op with Keras's signature."""
    impl = (_index_reduction if kind in (R.argmax, R.argmin) else _value_reduction)(kind)
    impl.__name__ = impl.__qualname__ = kind.name
    impl.__doc__ = doc
    return op(kind.name, kernels=True, native=("reduce", kind), shape=_shape_rule(kind))(impl)


for _kind, _doc in (
        (R.sum, "Sum alongside an axis (float16 in float32; float32 in short float32 runs added in float64)."),
        (R.prod, "Product alongside an axis."),
        (R.mean, "Mean alongside an axis (integers: truncating, as TensorFlow)."),
        (R.max, "Maximum; NaN propagates; an empty axis gives -inf."),
        (R.min, "Minimum; NaN propagates; an empty axis gives +inf."),
        (R.var, "Population variance (ddof=0), accumulated in float64 without cancellation."),
        (R.std, "Population standard deviation (ddof=0)."),
        (R.any, "Logical OR reduction; returns bool."),
        (R.all, "Logical AND reduction; returns bool."),
        (R.argmax, "Index of the first maximum (NaN skipped; axis None means 0; int64)."),
        (R.argmin, "Index of the first minimum (NaN skipped; axis None means 0; int64).")):
    _register(_kind, _doc)


@op(kernels=True)
def logsumexp(kern, x, axis=None, keepdims=False):
    """log(sum(exp(x))) computed stably (the max is subtracted first), on the native ops."""
    a = V.float_tensor(x, "logsumexp")
    ax = _core.normalize_axes(axis, a.ndim, "logsumexp")
    keepdims = V.flag(keepdims, "logsumexp", "keepdims")

    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        m = run("max", kern, a, ax, True) if a.size else np.zeros((1,) * a.ndim, a.dtype)
        m = np.where(np.isfinite(m), m, 0).astype(a.dtype)
        diff = run("_subtract", kern, a, m)
        out = np.asarray(run("_add", kern, run("log", kern, run("sum", kern, run("exp", kern, diff), ax, True)), m))
    return (out if keepdims else np.squeeze(out, axis=ax if ax is not None else tuple(range(a.ndim)))).astype(a.dtype)


# ---------------------------------------------------------------------------------------------
# Gradient rules (kcore/_api/grad.py)


@gradient("sum")
def _sum_grad(B, out, g, x, axis=None, keepdims=False):
    return B._expand_to(g, x, axis, keepdims), None, None


# (Scales are computed on g, the reduction's size, and meet x's size once: the same operations
# in the same order per element as on g broadcast first, without its copies.)


@gradient("mean")
def _mean_grad(B, out, g, x, axis=None, keepdims=False):
    return B._expand_to(B._share(g, x, out), x, axis, keepdims), None, None


def _extreme_grad(B, out, g, x, axis=None, keepdims=False):
    # Shared equally by the elements that reach the extreme (as TensorFlow does).
    hit = B.cast(B.equal(x, B._expand_to(out, x, axis, keepdims)), static_dtype(x))
    share = B._divide(hit, B.sum(hit, axis, True))
    return B._multiply(B._expand_to(g, x, axis, keepdims), share), None, None


gradient("max")(_extreme_grad)
gradient("min")(_extreme_grad)


@op("_prod_of_others", shape=lambda x, axis=None: (static_shape(x), static_dtype(x)))
def prod_of_others(x, axis=None):
    """Each element's product of the other elements of its reduction over axis (d prod / dx):
    the exclusive products from both ends multiplied, so zeros in x give the products of the rest
    (out / x would be 0 / 0). In float64, rounded once (float16 products overflow early)."""
    a = np.asarray(x)
    axes = tuple(range(a.ndim)) if axis is None else tuple(
        sorted({int(v) % max(a.ndim, 1) for v in ([axis] if np.ndim(axis) == 0 else axis)}))
    rest = a.ndim - len(axes)
    moved = np.moveaxis(a.astype(np.float64), axes, range(rest, a.ndim))
    flat = moved.reshape(*moved.shape[:rest], int(np.prod(moved.shape[rest:])))  # (-1 is ambiguous when empty)
    before, after = np.ones_like(flat), np.ones_like(flat)
    if flat.shape[-1] > 1:
        np.cumprod(flat[..., :-1], axis=-1, out=before[..., 1:])
        np.cumprod(flat[..., :0:-1], axis=-1, out=after[..., -2::-1])
    with np.errstate(all="ignore"):
        others = (before * after).reshape(moved.shape)
    dt = a.dtype if a.dtype.kind == "f" else np.dtype(np.float32)
    return np.moveaxis(others, range(rest, a.ndim), axes).astype(dt)


@gradient("prod")
def _prod_grad(B, out, g, x, axis=None, keepdims=False):
    return B._multiply(B._expand_to(g, x, axis, keepdims), B._prod_of_others(x, axis)), None, None


@gradient("var")
def _var_grad(B, out, g, x, axis=None, keepdims=False):
    centred = B._subtract(x, B.mean(x, axis, True))
    scale = B._share(g, x, out, 2.0)
    return B._multiply(B._keep_dims(scale, x, axis, keepdims), centred), None, None


@gradient("std")
def _std_grad(B, out, g, x, axis=None, keepdims=False):
    centred = B._subtract(x, B.mean(x, axis, True))
    scale = B._divide(B._share(g, x, out), out)  # (g / out first would overflow float16 for a small std)
    return B._multiply(B._keep_dims(scale, x, axis, keepdims), centred), None, None


@gradient("logsumexp")
def _logsumexp_grad(B, out, g, x, axis=None, keepdims=False):
    weights = B.exp(B._subtract(x, B._expand_to(out, x, axis, keepdims)))
    return B._multiply(B._expand_to(g, x, axis, keepdims), weights), None, None



for _name in ("any", "all", "argmax", "argmin"):
    gradient(_name)(no_gradient)
