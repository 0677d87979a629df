"""cumsum and cumprod: the native scan engine for float16/32/64, NumPy for other dtypes."""
from __future__ import annotations

import numpy as np

from kcore import _validate as V
from kcore._api.common import static_dtype, static_shape
from kcore._api.grad import gradient
from kcore._kernels import ScanKind
from kcore._ops import op
from kcore._runtime import _core

PUBLIC = ()


def scan(kern, kind, x, axis):
    fn = "cumsum" if kind == ScanKind.sum else "cumprod"
    a = V.as_array(x, fn)
    r = kern.scan(kind, a, axis) if a is not x else None  # see _ops.py: entries
    if r is not None:
        return r
    ax = _core.scan_axis(axis, a.ndim, fn)
    V.check_numeric(a, fn)
    f = np.cumsum if kind == ScanKind.sum else np.cumprod
    return f(a, axis=ax, dtype=a.dtype if a.dtype != np.bool_ else None)


@op("cumsum", kernels=True, native=("scan", ScanKind.sum))
def cumsum(kern, x, axis=0):
    """Cumulative sum along an axis (default 0); dtype kept."""
    return scan(kern, ScanKind.sum, x, axis)


@op("cumprod", kernels=True, native=("scan", ScanKind.prod))
def cumprod(kern, x, axis=0):
    """Cumulative product along an axis (default 0); dtype kept."""
    return scan(kern, ScanKind.prod, x, axis)


@gradient("cumsum")
def _cumsum_grad(B, out, g, x, axis=0):
    # Each input adds to every later output: the gradient is g summed from the end.
    return B.reverse(B.cumsum(B.reverse(g, axis), axis), axis), None


@op("_cumprod_grad", shape=lambda g, x, axis: (static_shape(x), static_dtype(g)))
def cumprod_grad(g, x, axis):
    """cumprod's gradient, exact where x has zeros: d out_j / d x_i is the product of x_0..x_j
    without x_i. Before a line's first zero z that is out_j / x_i; at z, the product of what comes
    before it times the later factors; after z, 0 (every such product holds x_z)."""
    moved = np.moveaxis(np.asarray(x), axis, -1)
    a = moved.reshape(-1, moved.shape[-1])  # lines along the axis
    gm = np.moveaxis(np.asarray(g), axis, -1).reshape(a.shape).astype(a.dtype, copy=False)
    out = np.cumprod(a, axis=-1)
    with np.errstate(all="ignore"):
        res = np.flip(np.cumsum(np.flip(gm * out, -1), -1), -1) / np.where(a == 0, 1, a)
    zero = a == 0
    for line in np.nonzero(zero.any(axis=-1))[0]:
        xs, gs = a[line], gm[line]
        z = int(np.argmax(zero[line]))
        before = out[line][z - 1] if z else a.dtype.type(1)
        res[line][z] = before * (gs[z] + np.sum(gs[z + 1:] * np.cumprod(xs[z + 1:])))
        res[line][z + 1:] = 0
    return np.moveaxis(res.reshape(moved.shape), -1, axis)


@gradient("cumprod")
def _cumprod_gradient(B, out, g, x, axis=0):
    return B._cumprod_grad(g, x, axis), None
