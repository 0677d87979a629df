"""Input validation shared by every public function: clear TypeError/ValueError messages that
name the function, what it got, and what it accepts."""
from __future__ import annotations

import operator

import numpy as np

NATIVE_CHARS = "efd"  # float16, float32, float64: the dtypes the native kernels run
NATIVE_NAMES = "float16, float32, float64"
NUMERIC_NAMES = "float16, float32, float64, int8-int64, uint8-uint64, bool"


def floatx() -> str:
    from kcore import _config

    return _config.SETTINGS.floatx


def as_array(x, fn: str) -> np.ndarray:
    """x as an ndarray in native byte order. Python scalars and lists convert as TensorFlow
    converts them (floats to floatx, ints to int32); NumPy inputs keep their dtype."""
    if type(x) is np.ndarray:
        a = x
    else:
        if x is None or isinstance(x, (str, bytes, dict, set)):
            raise TypeError(f"{fn}: expected an array, a number or a nested list of numbers, "
                            f"got {type(x).__name__}")
        from_python = not isinstance(x, (np.ndarray, np.generic)) and not hasattr(x, "__array__")
        try:
            a = np.asarray(x)
        except (ValueError, TypeError) as e:
            raise TypeError(f"{fn}: cannot make an array from the {type(x).__name__} given ({e})") from None
        if from_python:
            if a.dtype == np.float64:
                a = a.astype(floatx())
            elif a.dtype == np.int64:
                a = a.astype(np.int32)
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    return a


def check_numeric(a: np.ndarray, fn: str) -> None:
    if a.dtype.kind not in "fiub" or a.dtype.char == "g":
        raise TypeError(f"{fn}: unsupported dtype {a.dtype}; accepted dtypes: {NUMERIC_NAMES}")


def _axis_int(ax, ndim: int, fn: str) -> int:
    if isinstance(ax, (bool, np.bool_)):
        raise TypeError(f"{fn}: axis must be an int, a list/tuple of ints or None, got {ax!r}")
    try:
        i = operator.index(ax)
    except TypeError:
        raise TypeError(f"{fn}: axis must be an int, a list/tuple of ints or None, "
                        f"got {type(ax).__name__}") from None
    if not -ndim <= i < ndim:
        raise ValueError(f"{fn}: axis {i} is out of bounds for an array of rank {ndim} "
                         f"(valid: {-ndim} to {ndim - 1})" if ndim else
                         f"{fn}: axis {i} is out of bounds for a rank-0 array (it has no axes)")
    return i + ndim if i < 0 else i


def axes(axis, ndim: int, fn: str) -> tuple[int, ...] | None:
    """Normalised, duplicate-free axes, or None for all axes."""
    if axis is None:
        return None
    if type(axis) is int:
        if -ndim <= axis < ndim:  # fast path: this runs on every call
            return (axis + ndim if axis < 0 else axis,)
        return (_axis_int(axis, ndim, fn),)
    if isinstance(axis, (list, tuple)):
        out = tuple(_axis_int(a, ndim, fn) for a in axis)
        if len(set(out)) != len(out):
            raise ValueError(f"{fn}: repeated axis in {axis!r}")
        return out
    return (_axis_int(axis, ndim, fn),)


def single_axis(axis, ndim: int, fn: str) -> int:
    if type(axis) is int and -ndim <= axis < ndim:  # fast path
        return axis + ndim if axis < 0 else axis
    if isinstance(axis, (list, tuple)):
        raise TypeError(f"{fn}: axis must be a single int, got {axis!r}")
    return _axis_int(axis, ndim, fn)
