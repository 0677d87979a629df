"""Reductions (sum, prod, mean, max, min, var, std, any, all, argmax, argmin).

float16/float32/float64 run on the native engine. Integer and bool inputs go through NumPy with
Keras-on-TensorFlow dtype rules: sum/prod/max/min/mean keep an integer dtype (mean truncates),
var/std return floatx, bool becomes floatx for arithmetic reductions.
"""
from __future__ import annotations

import numpy as np

from kcore import _validate as V
from kcore._kernels import NATIVE

SUM, PROD, MEAN, MAX, MIN, ARGMAX, ARGMIN, VAR, STD, ANY, ALL = range(11)
_NAMES = ("sum", "prod", "mean", "max", "min", "argmax", "argmin", "var", "std", "any", "all")


def _keepdims_shape(shape, ax):
    if ax is None:
        return (1,) * len(shape)
    return tuple(1 if i in ax else n for i, n in enumerate(shape))


def reduce(kind: int, x, axis, keepdims: bool, kern=NATIVE):
    fn = _NAMES[kind]
    a = V.as_array(x, fn)
    ax = V.axes(axis, a.ndim, fn)
    if a.dtype.char in V.NATIVE_CHARS:
        out = kern.reduce(kind, a, ax)
    else:
        V.check_numeric(a, fn)
        out = np.asarray(_reduce_numpy(kind, a, ax, kern))
    if keepdims:
        out = out.reshape(_keepdims_shape(a.shape, ax))
    return out if out.ndim else out[()]


def _reduce_numpy(kind, a, ax, kern):
    if a.dtype == np.bool_:
        if kind == MAX:
            return np.any(a, axis=ax)
        if kind == MIN:
            return np.all(a, axis=ax)
        if kind in (SUM, PROD, MEAN, VAR, STD):
            a = a.astype(V.floatx())
            return kern.reduce(kind, a, ax)
    if kind == ANY:
        return np.any(a, axis=ax)
    if kind == ALL:
        return np.all(a, axis=ax)
    if kind == SUM:
        return np.sum(a, axis=ax, dtype=a.dtype)
    if kind == PROD:
        return np.prod(a, axis=ax, dtype=a.dtype)
    if kind in (MAX, MIN):
        count = a.size if ax is None else int(np.prod([a.shape[i] for i in ax]))
        if count == 0:  # TensorFlow's identity for integers: the dtype's extreme
            info = np.iinfo(a.dtype)
            shape = () if ax is None else tuple(n for i, n in enumerate(a.shape) if i not in ax)
            return np.full(shape, info.min if kind == MAX else info.max, dtype=a.dtype)
        return (np.max if kind == MAX else np.min)(a, axis=ax)
    if kind == MEAN:
        count = a.size if ax is None else int(np.prod([a.shape[i] for i in ax]))
        total = np.sum(a, axis=ax, dtype=np.int64 if a.dtype.kind == "i" else np.uint64)
        if count == 0:
            return np.zeros_like(total, dtype=a.dtype)
        q = np.abs(total) // count * np.sign(total) if a.dtype.kind == "i" else total // count
        return q.astype(a.dtype)  # integer mean truncates toward zero, as TensorFlow's
    if kind in (VAR, STD):
        return kern.reduce(kind, a.astype(np.float64), ax).astype(V.floatx())
    raise AssertionError(kind)


def arg_reduce(kind: int, x, axis, kern=NATIVE):
    fn = _NAMES[kind]
    a = V.as_array(x, fn)
    if a.ndim == 0:
        raise ValueError(f"{fn}: needs an array of rank >= 1, got a rank-0 array")
    # TensorFlow's argmax treats axis=None as axis 0 (it never flattens).
    ax = 0 if axis is None else V.single_axis(axis, a.ndim, fn)
    if a.shape[ax] == 0:
        raise ValueError(f"{fn}: cannot take the {fn} of an empty axis (axis {ax} of shape {a.shape})")
    if a.dtype.char in V.NATIVE_CHARS:
        out = kern.reduce(kind, a, (ax,))
    else:
        V.check_numeric(a, fn)
        out = np.asarray((np.argmax if kind == ARGMAX else np.argmin)(a, axis=ax)).astype(np.int64)
    return out if out.ndim else out[()]
