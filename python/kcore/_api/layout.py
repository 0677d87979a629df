"""transpose, permute_dimensions and cast: one native strided-copy engine (float16/32/64, and
uint8/int8/int32/int64 arrays: permuted as they are, cast into the float types)."""
from __future__ import annotations

import numpy as np

from kcore import _validate as V
from kcore._api.common import static_dtype
from kcore._api.grad import gradient
from kcore._ops import op, run
from kcore._runtime import _core

PUBLIC = ()


@op("transpose", kernels=True, native=("transpose",))
def transpose(kern, x):
    """All axes reversed, as a new C-contiguous array."""
    a = V.as_array(x, "transpose")
    r = kern.transpose(a) if a is not x else None  # see _ops.py: entries
    if r is not None:
        return r
    V.check_numeric(a, "transpose")
    return np.array(a.T, order="C", copy=True)


@op("permute_dimensions", kernels=True, native=("permute_dimensions",))
def permute_dimensions(kern, x, pattern):
    """Axes permuted by pattern, as a new C-contiguous array."""
    a = V.as_array(x, "permute_dimensions")
    r = kern.permute_dimensions(a, pattern) if a is not x else None
    if r is not None:
        return r
    perm = _core.permutation(pattern, a.shape)
    V.check_numeric(a, "permute_dimensions")
    return np.array(a.transpose(perm), order="C", copy=True)


@op("cast", kernels=True, native=("cast",))
def cast(kern, x, dtype):
    """x converted to dtype, in x's memory order (as NumPy's astype): into float16/32/64 natively
    from floats, uint8, int8, int32 and int64 (round to nearest even, NaN payloads, -0.0,
    subnormals and overflow exactly as NumPy's astype); other sources and integer and bool
    targets through NumPy (float to int truncates toward zero)."""
    a = V.as_array(x, "cast")
    name = _core.dtype_name(dtype, "cast")
    r = kern.cast(a, name) if a is not x else None  # see _ops.py: entries
    if r is not None:
        return r
    V.check_numeric(a, "cast", "x")
    with np.errstate(invalid="ignore", over="ignore"):
        return a.astype(name)


@op("cast_to_floatx", kernels=True)
def cast_to_floatx(kern, x):
    """x as a NumPy array of floatx (Keras returns NumPy values here)."""
    return run("cast", kern, V.tensor(x, "cast_to_floatx"), V.floatx())


# ---------------------------------------------------------------------------------------------
# Gradient rules (kcore/_api/grad.py)


@gradient("transpose")
def _transpose_grad(B, out, g, x):
    return (B.transpose(g),)


@gradient("permute_dimensions")
def _permute_grad(B, out, g, x, pattern):
    return B.permute_dimensions(g, tuple(int(i) for i in np.argsort(list(pattern)))), None


@gradient("cast")
def _cast_grad(B, out, g, x, dtype):
    return B.cast(g, static_dtype(x)), None


@gradient("cast_to_floatx")
def _cast_to_floatx_grad(B, out, g, x):
    return (B.cast(g, static_dtype(x)),)
