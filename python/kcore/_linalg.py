"""dot and batch_dot with Keras 2.3 / tf_keras semantics on the native batched GEMM.

Float operands go to the native contraction (`contract`), which describes them as
(batch, M, K) @ (batch, K, N) by strides, packing with the copy engine only when free axes cannot
be flattened into one stride. Integer operands use exact NumPy integer matmul.
"""
from __future__ import annotations

import numpy as np

from kcore import _validate as V
from kcore._kernels import NATIVE


def _operands(x, y, fn):
    if type(x) is np.ndarray and type(y) is np.ndarray and x.dtype is y.dtype and x.dtype.isnative:
        if x.dtype.kind in "fiub" and x.dtype.char != "g":  # the common case, checked cheaply
            return x, y
    a = V.as_array(x, fn)
    b = V.as_array(y, fn)
    for t in (a, b):
        V.check_numeric(t, fn)
    if a.dtype != b.dtype:
        raise TypeError(f"{fn}: both operands must have the same dtype (Keras does not promote), "
                        f"got {a.dtype} and {b.dtype}")
    return a, b


def _as_3d(v: np.ndarray, lead: int, trail: int) -> np.ndarray:
    """v (rank lead + free + trail) as rank lead + 1 + trail with the free dims flattened
    (integer operands only: float operands go to the native contraction by strides)."""
    shape = v.shape
    n = int(np.prod(shape[lead:v.ndim - trail])) if v.ndim - trail > lead else 1
    return np.ascontiguousarray(v).reshape(shape[:lead] + (n,) + shape[v.ndim - trail:])


def _int_matmul(a3: np.ndarray, b3: np.ndarray) -> np.ndarray:
    # Exact integer arithmetic with the dtype kept, as TensorFlow's matmul.
    return np.matmul(a3, b3).astype(a3.dtype, copy=False)


def dot(x, y, kern=NATIVE):
    """Keras's dot: rank > 2 contracts x's last axis with y's second-to-last (Theano/NumPy
    behaviour): (2, 3).(4, 3, 5) -> (2, 4, 5). Rank-1 operands behave as in NumPy's dot."""
    a, b = _operands(x, y, "dot")
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"dot: operands must have rank >= 1, got shapes {a.shape} and {b.shape}")
    y_k = 0 if b.ndim == 1 else b.ndim - 2
    k_b = b.shape[y_k]
    if a.shape[-1] != k_b:
        raise ValueError(f"dot: cannot contract the last axis of shape {a.shape} with "
                         f"{'the only' if b.ndim == 1 else 'the second-to-last'} axis of shape {b.shape} "
                         f"({a.shape[-1]} != {k_b})")
    if a.dtype.char in V.NATIVE_CHARS:
        y_free = list(range(y_k)) + list(range(y_k + 1, b.ndim))
        out = kern.contract(a, b, list(range(a.ndim - 1)), a.ndim - 1, y_free, y_k, False)
        return out if out.ndim else out[()]
    out_shape = a.shape[:-1] + (b.shape[:-2] + b.shape[-1:] if b.ndim >= 2 else ())
    a3 = _as_3d(a[None] if a.ndim > 1 else a[None, None], 1, 1)
    if b.ndim == 1:
        b3 = b[None, :, None]
    else:
        bv = np.moveaxis(b, -2, 0)  # (K, ..., N): the free dims follow K
        b3 = _as_3d(bv[None], 2, 0)
    out = _int_matmul(a3, b3)
    out = out.reshape(out_shape)
    return out if out.ndim else out[()]


def batch_dot(x, y, axes=None, kern=NATIVE):
    """Keras 2.3 / tf_keras batch_dot: per-sample tensordot of x[i] and y[i] over axes
    (a0, a1); rank-2 by rank-2 gives (batch, 1)."""
    a, b = _operands(x, y, "batch_dot")
    if a.ndim < 2 or b.ndim < 2:
        raise ValueError(f"batch_dot: cannot do batch_dot on inputs with rank < 2; received inputs "
                         f"with shapes {a.shape} and {b.shape}")
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"batch_dot: cannot do batch_dot on inputs with different batch sizes; received "
                         f"inputs with shapes {a.shape} and {b.shape}")
    axes = batch_dot_axes(axes, a.ndim, b.ndim, a.shape, b.shape)
    a0, a1 = axes
    if a.shape[a0] != b.shape[a1]:
        raise ValueError(f"batch_dot: cannot do batch_dot on inputs with shapes {a.shape} and {b.shape} "
                         f"with axes={list(axes)}; x.shape[{a0}] != y.shape[{a1}] ({a.shape[a0]} != {b.shape[a1]})")
    x_free = [i for i in range(1, a.ndim) if i != a0]
    y_free = [i for i in range(1, b.ndim) if i != a1]
    if a.dtype.char in V.NATIVE_CHARS:
        out = kern.contract(a, b, x_free, a0, y_free, a1, True)
        return out.reshape(-1, 1) if out.ndim == 1 else out
    av = a.transpose([0] + x_free + [a0])
    bv = b.transpose([0, a1] + y_free)
    a3 = _as_3d(av, 1, 1)
    b3 = _as_3d(bv, 2, 0)
    out = _int_matmul(a3, b3)
    out_shape = (a.shape[0],) + tuple(a.shape[i] for i in x_free) + tuple(b.shape[i] for i in y_free)
    out = out.reshape(out_shape)
    if out.ndim == 1:
        out = out.reshape(-1, 1)
    return out


def batch_dot_axes(axes, x_ndim, y_ndim, x_shape, y_shape):
    """Normalised (a0, a1) as Keras 2.3 computes them; raises Keras's errors."""
    if type(axes) in (list, tuple) and len(axes) == 2 and type(axes[0]) is int and type(axes[1]) is int:
        a0 = axes[0] + x_ndim if axes[0] < 0 else axes[0]  # the common form, checked cheaply
        a1 = axes[1] + y_ndim if axes[1] < 0 else axes[1]
        if 0 < a0 < x_ndim and 0 < a1 < y_ndim:
            return a0, a1
    if isinstance(axes, (int, np.integer)) and not isinstance(axes, bool):
        axes = (int(axes), int(axes))
    elif axes is None:
        axes = (x_ndim - 1, y_ndim - 1) if y_ndim == 2 else (x_ndim - 1, y_ndim - 2)
    elif isinstance(axes, (list, tuple)):
        if any(isinstance(ax, (list, tuple)) for ax in axes):
            raise ValueError(f"batch_dot: multiple target dimensions are not supported; expected axes to be "
                             f"an int or a pair of ints, got {axes!r}")
        if len(axes) != 2:
            raise ValueError(f"batch_dot: axes must be an int or a pair of ints, got {axes!r}")
        try:
            axes = (int(axes[0]), int(axes[1]))
        except (TypeError, ValueError):
            raise TypeError(f"batch_dot: axes must hold ints, got {axes!r}") from None
    else:
        raise TypeError(f"batch_dot: axes must be None, an int or a pair of ints, got {type(axes).__name__}")
    a0 = axes[0] + x_ndim if axes[0] < 0 else axes[0]
    a1 = axes[1] + y_ndim if axes[1] < 0 else axes[1]
    if not (0 <= a0 < x_ndim and 0 <= a1 < y_ndim):
        raise ValueError(f"batch_dot: axes {list(axes)} out of range for shapes {tuple(x_shape)} and {tuple(y_shape)}")
    if a0 == 0 or a1 == 0:
        raise ValueError(f"batch_dot: cannot perform batch_dot over axis 0 (the batch axis); got axes {list(axes)} "
                         f"for shapes {tuple(x_shape)} and {tuple(y_shape)}")
    return a0, a1
