"""Input validation shared by every public function: clear TypeError/ValueError messages that
name the function, what it got, and what it accepts. Keras's rules for axes, patterns, dtype
names and dot/batch_dot shapes live in the native module's keras_args (one home for both the
native entries and the Python routes)."""
from __future__ import annotations

import numpy as np

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


def count(v, fn: str, what: str) -> int:
    """v as a count: an int (Python or NumPy, not bool) in [0, 2**63)."""
    import numbers

    if isinstance(v, np.ndarray) and v.ndim == 0 and v.dtype.kind in "iu":  # a graph value (K.shape(x)[0])
        v = v.item()
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{fn}: {what} must be an int, got {v!r}")
    if not 0 <= int(v) < 2 ** 63:
        raise ValueError(f"{fn}: {what} must be in [0, 2**63), got {int(v)}")
    return int(v)


def dims(shape, fn: str, what: str = "shape", unknown: bool = False) -> tuple:
    """shape (an int or a sequence) as a tuple of counts; None entries kept when `unknown`."""
    import numbers

    if isinstance(shape, numbers.Integral) and not isinstance(shape, (bool, np.bool_)):
        shape = (shape,)
    if isinstance(shape, np.ndarray) and shape.ndim <= 1 and shape.dtype.kind in "iu":  # graph values
        shape = tuple(shape.reshape(-1).tolist())
    if not isinstance(shape, (list, tuple)):
        raise TypeError(f"{fn}: {what} must be a tuple of ints, got {shape!r}")
    return tuple(None if d is None and unknown else count(d, fn, f"{what}'s dims") for d in shape)
