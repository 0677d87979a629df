"""Helpers shared by the family modules: argument conversion and the static shape rules."""
from __future__ import annotations

import numbers

import numpy as np

from kcore import _validate as V
from kcore._graph import Tensor, contains_symbolic
from kcore._kernels import NATIVE
from kcore._ops import run


def static_shape(v):
    """The static shape of an argument (None dims unknown; None for an unknown rank)."""
    if isinstance(v, Tensor):
        return v.shape
    return np.shape(v) if not hasattr(v, "shape") else tuple(v.shape)


def static_dtype(v, fn: str = "shape inference") -> str:
    if isinstance(v, Tensor):
        return v.dtype
    return V.as_array(v, fn).dtype.name


def pointwise_rule(name: str):
    """Shape rule of op `name` whose result has x's shape (one value per element): the dtype, and
    the check of the other arguments, from the op on a one-element array of x's rank and dtype.
    None (probe) where another argument is symbolic or x is not one tensor."""
    def rule(x, *args, **kwargs):
        if type(x) in (list, tuple) or contains_symbolic(args) or contains_symbolic(list(kwargs.values())):
            return None
        shape = static_shape(x)
        if shape is None:
            return None
        one = np.zeros((1,) * len(shape), static_dtype(x, name))
        with np.errstate(all="ignore"):
            return shape, np.asarray(run(name, NATIVE, one, *args, **kwargs)).dtype.name

    return rule


def same_as_first(x, *args, **kwargs):
    """Shape rule: the result has x's shape and dtype."""
    return static_shape(x), static_dtype(x)


def broadcast_shapes(a, b, fn: str):
    """NumPy's broadcasting of two static shapes (None dims unknown)."""
    if a is None or b is None:
        return None
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x == 1:
            out.append(y)
        elif y == 1 or y is None or x == y:
            out.append(x)
        elif x is None:
            out.append(y)
        else:
            raise ValueError(f"{fn}: operands could not be broadcast together with shapes {a} and {b}")
    return tuple(reversed(out))


def binary_rule(fn: str, ufunc):
    """Shape rule of a broadcasting binary NumPy op: NumPy's broadcasting of the static shapes; the
    dtype is the ufunc's on empty operands, a Python number taking the other operand's dtype (as
    Keras on TensorFlow does). Operands the ufunc rejects raise here, when the graph is built."""
    def rule(x, y):
        shape = broadcast_shapes(static_shape(x), static_shape(y), fn)
        dx = static_dtype(y) if isinstance(x, numbers.Number) else static_dtype(x)
        dy = dx if isinstance(y, numbers.Number) else static_dtype(y)
        with np.errstate(all="ignore"):
            return shape, ufunc(np.empty(0, dx), np.empty(0, dy)).dtype.name

    return rule
