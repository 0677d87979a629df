"""Kernel providers behind the API: NATIVE (kcore's C++ kernels) and NUMPY (a pure NumPy
reference with the same semantics, used by the `numpy` backend and as a second implementation
in tests). Each provides reduce, scan, copy and contract on float16/32/64 arrays, plus fast
paths that return None when the general Python route must handle a call."""
from __future__ import annotations

import warnings

import numpy as np

SUM, PROD, MEAN, MAX, MIN, ARGMAX, ARGMIN, VAR, STD, ANY, ALL = range(11)


class Native:
    name = "kcore"

    def __init__(self):
        from kcore._runtime import _core

        self.reduce = _core.reduce
        self.reduce_fast = _core.reduce_fast
        self.cast_fast = _core.cast_fast
        self.scan = _core.scan
        self.copy = _core.copy
        self.contract = _core.contract
        self.dot_fast = _core.dot_fast
        self.batch_dot_fast = _core.batch_dot_fast


class NumpyReference:
    """Keras semantics on NumPy: float16 accumulates in float32, var/std in float64, NaN and
    empty-axis rules as the native kernels."""

    name = "numpy"

    @staticmethod
    def reduce_fast(kind, x, axis, keepdims):
        return None

    @staticmethod
    def cast_fast(x, dtype):
        return None

    @staticmethod
    def dot_fast(x, y):
        return None

    @staticmethod
    def batch_dot_fast(x, y, axes):
        return None

    @staticmethod
    def reduce(kind, a, axes):
        ax = tuple(range(a.ndim)) if axes is None else tuple(axes)
        acc = np.float32 if a.dtype == np.float16 else np.float64
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            if kind in (SUM, PROD, MEAN):
                f = {SUM: np.sum, PROD: np.prod, MEAN: np.mean}[kind]
                return np.asarray(f(a, axis=ax, dtype=acc)).astype(a.dtype)
            if kind in (MAX, MIN):
                if a.size == 0 or any(a.shape[i] == 0 for i in ax):
                    shape = tuple(n for i, n in enumerate(a.shape) if i not in ax)
                    return np.full(shape, -np.inf if kind == MAX else np.inf, a.dtype)
                return np.asarray((np.max if kind == MAX else np.min)(a, axis=ax))
            if kind in (VAR, STD):
                x = a.astype(np.float64)
                m = np.mean(x, axis=ax, keepdims=True)
                v = np.mean((x - m) ** 2, axis=ax)
                return np.asarray(np.sqrt(v) if kind == STD else v).astype(a.dtype)
            if kind in (ANY, ALL):
                return np.asarray((np.any if kind == ANY else np.all)(a, axis=ax))
            # argmax/argmin: first index of the extreme, NaN skipped, all-NaN -> 0
            (axis,) = ax
            x = np.moveaxis(a.astype(np.float64), axis, -1)
            nan = np.isnan(x)
            fill = -np.inf if kind == ARGMAX else np.inf
            y = np.where(nan, fill, x)
            ext = (np.max if kind == ARGMAX else np.min)(y, axis=-1, keepdims=True)
            hit = (y == ext) & ~nan
            idx = np.argmax(hit, axis=-1)
            return np.asarray(np.where(hit.any(axis=-1), idx, 0), dtype=np.int64)

    @staticmethod
    def scan(kind, a, axis):
        acc = np.float32 if a.dtype == np.float16 else np.float64
        with np.errstate(all="ignore"):
            f = np.cumsum if kind == 0 else np.cumprod
            return f(a, axis=axis, dtype=acc).astype(a.dtype)

    @staticmethod
    def copy(a, dtype, keep_layout):
        with np.errstate(all="ignore"):
            return a.astype(dtype, order="K" if keep_layout else "C", copy=True)

    @staticmethod
    def contract(x, y, x_free, x_k, y_free, y_k, batched):
        acc = np.float32 if x.dtype == np.float16 else x.dtype
        xa, ya = x.astype(acc, copy=False), y.astype(acc, copy=False)
        if batched:
            xp = np.transpose(xa, [0] + list(x_free) + [x_k])
            yp = np.transpose(ya, [0, y_k] + list(y_free))
            b = x.shape[0]
            out = np.matmul(xp.reshape(b, -1, x.shape[x_k]), yp.reshape(b, y.shape[y_k], -1))
            shape = (b,) + tuple(x.shape[i] for i in x_free) + tuple(y.shape[i] for i in y_free)
        else:
            out = np.tensordot(xa, ya, (x_k, y_k))
            shape = tuple(x.shape[i] for i in x_free) + tuple(y.shape[i] for i in y_free)
        return np.asarray(out).reshape(shape).astype(x.dtype, copy=False)


NATIVE = Native()
NUMPY = NumpyReference()
