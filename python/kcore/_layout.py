"""transpose, permute_dimensions and cast: one native strided-copy engine (float16/32/64)."""
from __future__ import annotations

import numpy as np

from kcore import _validate as V
from kcore._kernels import NATIVE

# Keras/TensorFlow dtype names accepted by cast.
CAST_DTYPES = ("float16", "float32", "float64", "bfloat16", "int8", "int16", "int32", "int64", "uint8",
               "uint16", "uint32", "uint64", "bool")
_CAST_NP = {name: np.dtype(name) for name in CAST_DTYPES if name != "bfloat16"}


def transpose(x, kern=NATIVE):
    a = V.as_array(x, "transpose")
    return _materialise(a.T, "transpose", kern)


def permute_dimensions(x, pattern, kern=NATIVE):
    a = V.as_array(x, "permute_dimensions")
    if isinstance(pattern, (str, bytes)) or not hasattr(pattern, "__iter__"):
        raise TypeError(f"permute_dimensions: pattern must be a tuple or list of ints, got {type(pattern).__name__}")
    try:
        perm = tuple(int(np.asarray(p).item()) if not isinstance(p, int) else p for p in pattern)
    except (TypeError, ValueError):
        raise TypeError(f"permute_dimensions: pattern must hold ints, got {pattern!r}") from None
    if sorted(perm) != list(range(a.ndim)):
        raise ValueError(f"permute_dimensions: pattern {tuple(pattern)!r} is not a permutation of the "
                         f"{a.ndim} axes of an array of shape {a.shape}")
    return _materialise(a.transpose(perm), "permute_dimensions", kern)


def _materialise(view: np.ndarray, fn: str, kern) -> np.ndarray:
    """A new C-contiguous array with the view's values (Keras's transpose materialises)."""
    if view.dtype.char in V.NATIVE_CHARS:
        return kern.copy(view, view.dtype, False)
    V.check_numeric(view, fn)
    return np.ascontiguousarray(view)


def cast(x, dtype, kern=NATIVE):
    """x converted to dtype, in x's memory order (as NumPy's astype): float16/32/64 natively (round to nearest even, NaN payloads, -0.0,
    subnormals and overflow exactly as NumPy's astype); integer and bool types through NumPy
    (float to int truncates toward zero)."""
    a = V.as_array(x, "cast")
    target = _dtype_arg(dtype, "cast")
    if a.dtype.char in V.NATIVE_CHARS and target.char in V.NATIVE_CHARS:
        return kern.copy(a, target, True)
    if a.dtype.kind not in "fiub":
        raise TypeError(f"cast: unsupported input dtype {a.dtype}; accepted: {V.NUMERIC_NAMES}")
    with np.errstate(invalid="ignore", over="ignore"):
        return a.astype(target)


def _dtype_arg(dtype, fn: str) -> np.dtype:
    name = dtype if isinstance(dtype, str) else getattr(dtype, "name", None)
    if isinstance(dtype, np.dtype) or (isinstance(dtype, type) and issubclass(dtype, np.generic)):
        name = np.dtype(dtype).name
    if name not in _CAST_NP:
        raise TypeError(f"{fn}: unknown dtype {dtype!r}; accepted: {', '.join(n for n in CAST_DTYPES if n != 'bfloat16')}")
    return _CAST_NP[name]


def cast_to_floatx(x, kern=NATIVE):
    """A NumPy array of x in floatx (Keras returns NumPy values here)."""
    return cast(x, V.floatx(), kern) if not isinstance(x, np.ndarray) or x.dtype.kind in "fiub" else np.asarray(x, V.floatx())
