"""cumsum and cumprod: the native scan engine for float16/32/64, NumPy for other dtypes."""
from __future__ import annotations

import numpy as np

from kcore import _validate as V
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
