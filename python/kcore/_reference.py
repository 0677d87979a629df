"""The float64 NumPy oracle with Keras (on TensorFlow) semantics: exact values of the native
families, written with NumPy alone, independently of the kernels. The `numpy` backend rounds
these to the input's dtype; the tests compare kcore's kernels against them with error bounds.
Axes are normalised (a tuple of non-negative ints) and arrays are NumPy arrays."""
from __future__ import annotations

import warnings

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
