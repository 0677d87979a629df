"""cumsum and cumprod: the native scan engine for float16/32/64, NumPy for other dtypes."""
from __future__ import annotations

import numpy as np

from kcore import _validate as V
from kcore._kernels import NATIVE


def scan(kind: int, x, axis, kern=NATIVE):
    fn = ("cumsum", "cumprod")[kind]
    a = V.as_array(x, fn)
    if a.ndim == 0:
        raise ValueError(f"{fn}: needs an array of rank >= 1, got a rank-0 array")
    if axis is None:
        raise ValueError(f"{fn}: axis must be an int (Keras scans along one axis; default 0), got None")
    ax = V.single_axis(axis, a.ndim, fn)
    if a.dtype.char in V.NATIVE_CHARS:
        return kern.scan(kind, a, ax)
    V.check_numeric(a, fn)
    f = np.cumsum if kind == 0 else np.cumprod
    return f(a, axis=ax, dtype=a.dtype if a.dtype != np.bool_ else None)
