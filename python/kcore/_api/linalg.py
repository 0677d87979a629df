"""dot and batch_dot with Keras 2.3 / tf_keras semantics: native batched GEMM for float16/32/64
(operands described by strides, packed only when their free axes cannot be flattened), exact
NumPy integer matmul for integer operands."""
from __future__ import annotations

import numpy as np

from kcore import _validate as V
from kcore._api.common import static_dtype, static_shape
from kcore._api.grad import gradient
from kcore._ops import op
from kcore._runtime import _core

PUBLIC = ()


def _operands(x, y, fn):
    a = V.as_array(x, fn)
    b = V.as_array(y, fn)
    for t in (a, b):
        V.check_numeric(t, fn)
    if a.dtype != b.dtype:
        raise TypeError(f"{fn}: both operands must have the same dtype (Keras does not promote), "
                        f"got {a.dtype} and {b.dtype}")
    return a, b


def _as_3d(v: np.ndarray, lead: int, trail: int) -> np.ndarray:
    """v (rank lead + free + trail) as rank lead + 1 + trail with the free dims flattened."""
    shape = v.shape
    n = int(np.prod(shape[lead:v.ndim - trail])) if v.ndim - trail > lead else 1
    return np.ascontiguousarray(v).reshape(shape[:lead] + (n,) + shape[v.ndim - trail:])


def _int_matmul(a3: np.ndarray, b3: np.ndarray) -> np.ndarray:
    # Exact integer arithmetic with the dtype kept, as TensorFlow's matmul.
    return np.matmul(a3, b3).astype(a3.dtype, copy=False)


def _dot_rule(x, y):
    """dot's static shape: x's dims but the last, then y's but the second-to-last (nothing of a
    rank-1 y). An unknown contracted size is taken to match (it is checked when fed); None (the
    operands probed, which raises what they reject) for known sizes that differ, rank 0, or dtypes
    that differ."""
    xs, ys = static_shape(x), static_shape(y)
    if xs is None or ys is None or not xs or not ys or static_dtype(x) != static_dtype(y):
        return None
    k = ys[-2] if len(ys) >= 2 else ys[0]
    if xs[-1] is not None and k is not None and xs[-1] != k:
        return None
    return xs[:-1] + (ys[:-2] + ys[-1:] if len(ys) >= 2 else ()), static_dtype(x)


@op("dot", kernels=True, native=("dot",), shape=_dot_rule)
def dot(kern, x, y):
    """Keras's dot: rank > 2 contracts x's last axis with y's second-to-last (Theano/NumPy
    behaviour): (2, 3).(4, 3, 5) -> (2, 4, 5). Rank-1 operands behave as in NumPy's dot."""
    a, b = _operands(x, y, "dot")
    r = kern.dot(a, b) if a is not x or b is not y else None  # see _ops.py: entries
    if r is not None:
        return r
    _core.dot_axis(a.shape, b.shape)
    out_shape = a.shape[:-1] + (b.shape[:-2] + b.shape[-1:] if b.ndim >= 2 else ())
    a3 = _as_3d(a[None] if a.ndim > 1 else a[None, None], 1, 1)
    if b.ndim == 1:
        b3 = b[None, :, None]
    else:
        bv = np.moveaxis(b, -2, 0)  # (K, ..., N): the free dims follow K
        b3 = _as_3d(bv[None], 2, 0)
    out = _int_matmul(a3, b3).reshape(out_shape)
    return out if out.ndim else out[()]


@op("_matmul", kernels=True, native=("dot",))
def matmul(kern, x, y):
    """The @ operator of tensors and variables: K.dot (whose entry has declined x and y)."""
    return dot(kern, x, y)


@op("batch_dot", kernels=True, native=("batch_dot",))
def batch_dot(kern, x, y, axes=None):
    """Keras 2.3 / tf_keras batch_dot: per-sample tensordot of x[i] and y[i] over axes
    (a0, a1); rank-2 by rank-2 gives (batch, 1)."""
    a, b = _operands(x, y, "batch_dot")
    r = kern.batch_dot(a, b, axes) if a is not x or b is not y else None
    if r is not None:
        return r
    a0, a1 = _core.batch_dot_axes(axes, a.shape, b.shape)
    x_free = [i for i in range(1, a.ndim) if i != a0]
    y_free = [i for i in range(1, b.ndim) if i != a1]
    a3 = _as_3d(a.transpose([0] + x_free + [a0]), 1, 1)
    b3 = _as_3d(b.transpose([0, a1] + y_free), 2, 0)
    out_shape = (a.shape[0],) + tuple(a.shape[i] for i in x_free) + tuple(b.shape[i] for i in y_free)
    out = _int_matmul(a3, b3).reshape(out_shape)
    return out.reshape(-1, 1) if out.ndim == 1 else out


# ---------------------------------------------------------------------------------------------
# Gradient rules (kcore/_api/grad.py). dot(x, y) = tensordot(x, y, (x's last, y's second-to-last)).


def _transposed_rule(x):
    shape = static_shape(x)
    return (None if shape is None else tuple(reversed(shape))), static_dtype(x)


@op("_transposed", shape=_transposed_rule)
def transposed(x):
    """x.T as a view: the products read it in place (a transposed operand), no copy is made."""
    return np.asarray(x).T


@gradient("_transposed")
def _transposed_grad(B, out, g, x):
    return (B._transposed(g),)


@op("_dot_grad_x", shape=lambda g, x, y: (static_shape(x), static_dtype(g)))
def dot_grad_x(g, x, y):
    a, b, gr = np.asarray(x), np.asarray(y), np.asarray(g)
    if b.ndim == 1:
        return np.multiply.outer(gr, b)
    return np.tensordot(gr, b, axes=(list(range(a.ndim - 1, gr.ndim)), [*range(b.ndim - 2), b.ndim - 1]))


@op("_dot_grad_y", shape=lambda g, x, y: (static_shape(y), static_dtype(g)))
def dot_grad_y(g, x, y):
    a, b, gr = np.asarray(x), np.asarray(y), np.asarray(g)
    if b.ndim == 1:
        return np.tensordot(a, gr, axes=(list(range(a.ndim - 1)), list(range(a.ndim - 1))))
    return np.moveaxis(np.tensordot(a, gr, axes=(list(range(a.ndim - 1)), list(range(a.ndim - 1)))), 0, b.ndim - 2)


def _dot_grad(B, out, g, x, y):
    xs, ys = static_shape(x), static_shape(y)
    if xs is not None and ys is not None and len(ys) == 2 and len(xs) >= 2:  # Dense: products on the kernels
        gx = B.dot(g, B._transposed(y))
        x2 = x if len(xs) == 2 else B.reshape(x, (-1, xs[-1]))
        g2 = g if len(xs) == 2 else B.reshape(g, (-1, ys[-1]))
        return gx, B.dot(B._transposed(x2), g2)
    return B._dot_grad_x(g, x, y), B._dot_grad_y(g, x, y)


gradient("dot")(_dot_grad)
gradient("_matmul")(_dot_grad)


def _batch_dot_subscripts(x_ndim, y_ndim, a0, a1):
    letters = iter("abcdefghijklmnopqrstuvwxy")
    xs = ["z"] + [next(letters) for _ in range(x_ndim - 1)]
    ys = ["z"] + [next(letters) for _ in range(y_ndim - 1)]
    ys[a1] = xs[a0]
    out = ["z"] + [c for i, c in enumerate(xs) if i not in (0, a0)] + [c for i, c in enumerate(ys) if i not in (0, a1)]
    return "".join(xs), "".join(ys), "".join(out)


@op("_batch_dot_grad", shape=lambda g, x, y, axes, which: (static_shape(x if which == "x" else y), static_dtype(g)))
def batch_dot_grad(g, x, y, axes, which):
    """batch_dot's gradient for x or y: the per-sample contraction of g with the other operand."""
    a, b = np.asarray(x), np.asarray(y)
    a0, a1 = _core.batch_dot_axes(axes, a.shape, b.shape)
    xs, ys, out = _batch_dot_subscripts(a.ndim, b.ndim, a0, a1)
    gr = np.asarray(g).reshape([a.shape[0]] + [a.shape[i] for i in range(1, a.ndim) if i != a0]
                               + [b.shape[i] for i in range(1, b.ndim) if i != a1])
    if which == "x":
        return np.einsum(f"{out},{ys}->{xs}", gr, b).astype(a.dtype)
    return np.einsum(f"{out},{xs}->{ys}", gr, a).astype(b.dtype)


@gradient("batch_dot")
def _batch_dot_gradient(B, out, g, x, y, axes=None):
    return B._batch_dot_grad(g, x, y, axes, "x"), B._batch_dot_grad(g, x, y, axes, "y"), None
