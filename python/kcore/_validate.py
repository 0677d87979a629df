"""Input validation shared by every public function: clear TypeError/ValueError messages that
name the function, what it got, and what it accepts. Keras's rules for axes, patterns, flags, dtype
names and dot/batch_dot shapes live in the native module's keras_args (one home for both the
native entries and the Python routes); the rules for everything else live here."""
from __future__ import annotations

import numbers

import numpy as np

NUMERIC_NAMES = "float16, float32, float64, int8-int64, uint8-uint64, bool"
_NOT_ARRAYS = (str, bytes, dict, set, frozenset)


def floatx() -> str:
    from kcore import _config

    return _config.SETTINGS.floatx


def _core():
    from kcore._runtime import _core

    return _core


def _of(what) -> str:
    return f" for {what}" if what else ""


_INT32 = np.iinfo(np.int32)


def _has_big_int(x) -> bool:
    """Whether a Python int past int64 sits among x's nested lists (NumPy made objects of them)."""
    stack = [x]
    while stack:
        o = stack.pop()
        if isinstance(o, (list, tuple)):
            stack.extend(o)
        elif isinstance(o, int) and not isinstance(o, bool) and not -2 ** 63 <= o < 2 ** 63:
            return True
    return False


def _past_int64(fn: str, what: str | None) -> ValueError:
    return ValueError(f"{fn}: a Python int{_of(what)} is out of the int64 range (TensorFlow converts Python ints "
                      f"to int32 or int64)")


def as_array(x, fn: str, what: str | None = None, floats=None) -> np.ndarray:
    """x as an ndarray in native byte order, never one of Python objects. Python scalars and lists
    convert as TensorFlow converts them (floats to floatx, or to `floats` when a float dtype is
    asked for, as tf.constant(0.1, tf.float64) does; ints to int32, or int64 where a value needs
    it; past int64, an error); NumPy inputs keep their dtype."""
    if type(x) is np.ndarray:
        a = x
    elif type(x) is int:  # (the common scalar: no list walk, no min/max)
        if not -2 ** 63 <= x < 2 ** 63:
            raise _past_int64(fn, what)
        a = np.asarray(x, np.int32 if -2 ** 31 <= x < 2 ** 31 else np.int64)
    else:
        if x is None or isinstance(x, _NOT_ARRAYS):
            raise TypeError(f"{fn}: expected an array, a number or a nested list of numbers{_of(what)}, "
                            f"got {type(x).__name__}")
        from_python = not isinstance(x, (np.ndarray, np.generic)) and not hasattr(x, "__array__")
        try:
            a = np.asarray(x)
        except (ValueError, TypeError) as e:
            raise TypeError(f"{fn}: cannot make an array{_of(what)} from the {type(x).__name__} given ({e})") from None
        if from_python:
            if a.dtype == np.float64:
                a = a.astype(floatx() if floats is None else floats)
            elif a.dtype == np.int64:
                if a.size == 0 or (_INT32.min <= a.min() and a.max() <= _INT32.max):
                    a = a.astype(np.int32)
            elif a.dtype.kind in "uO" and _has_big_int(x):
                raise _past_int64(fn, what)
    if a.dtype.kind == "O":  # (ragged lists, None or arbitrary objects inside: no numeric value)
        if isinstance(x, np.ndarray):
            raise TypeError(f"{fn}: unsupported dtype object{_of(what)}; accepted dtypes: {NUMERIC_NAMES}")
        raise TypeError(f"{fn}: expected an array, a number or a nested list of numbers{_of(what)}, got "
                        f"{type(x).__name__} (not numbers)")
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    return a


def check_numeric(a: np.ndarray, fn: str, what: str | None = None) -> None:
    if a.dtype.kind not in "fiub" or a.dtype.char == "g":
        raise TypeError(f"{fn}: unsupported dtype {a.dtype}{_of(what)}; accepted dtypes: {NUMERIC_NAMES}")


def tensor(x, fn: str, what: str | None = None, floats=None) -> np.ndarray:
    """x as a numeric ndarray (as_array, then one of the accepted dtypes)."""
    a = as_array(x, fn, what, floats)
    check_numeric(a, fn, what)
    return a


def float_tensor(x, fn: str, what: str | None = None) -> np.ndarray:
    """x as a float ndarray: integer and bool tensors become floatx."""
    a = tensor(x, fn, what)
    return a if a.dtype.kind == "f" else a.astype(floatx())


def integer_tensor(x, fn: str, what: str) -> np.ndarray:
    """x as an ndarray of integers (indices)."""
    a = tensor(x, fn, what)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{fn}: {what} must be integers, got {a.dtype}")
    return a


def operand(x, fn: str, what: str | None = None, none: bool = False):
    """A tensor argument of an op composed of other ops: a graph tensor or variable as it is (its
    ops check it when they run), None where `none` allows it, else a numeric ndarray."""
    from kcore._graph import Operators

    if isinstance(x, Operators) or (x is None and none):
        return x
    return tensor(x, fn, what)


def tensors(xs, fn: str, what: str) -> list:
    """A non-empty list or tuple of tensors, as a list (its items checked where they are used)."""
    if not isinstance(xs, (list, tuple)):
        raise TypeError(f"{fn}: {what} must be a list or tuple of tensors, got {type(xs).__name__}")
    if not xs:
        raise ValueError(f"{fn}: {what} must hold at least one tensor, got an empty {type(xs).__name__}")
    return list(xs)


def count(v, fn: str, what: str, low: int = 0, bits: int = 63) -> int:
    """v as a count: an int (Python or NumPy, not bool) in [low, 2**bits)."""
    if isinstance(v, np.ndarray) and v.ndim == 0 and v.dtype.kind in "iu":  # a graph value (K.shape(x)[0])
        v = v.item()
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{fn}: {what} must be an int, got {v!r}")
    if not low <= int(v) < 2 ** bits:
        raise ValueError(f"{fn}: {what} must be in [{low}, 2**{bits}), got {int(v)}")
    return int(v)


def dims(shape, fn: str, what: str = "shape", unknown: bool = False, minus_one: bool = False) -> tuple:
    """shape (an int or a sequence) as a tuple of counts; None entries kept when `unknown`, one -1
    (a size to infer) when `minus_one`. A fully known shape must have fewer than 2**63 elements."""
    if isinstance(shape, numbers.Integral) and not isinstance(shape, (bool, np.bool_)):
        shape = (shape,)
    if isinstance(shape, np.ndarray) and shape.ndim <= 1 and shape.dtype.kind in "iu":  # graph values
        shape = tuple(shape.reshape(-1).tolist())
    if not isinstance(shape, (list, tuple)):
        raise TypeError(f"{fn}: {what} must be a tuple of ints, got {shape!r}")
    out: list[int | None] = []
    for d in shape:
        if d is None and unknown:
            out.append(None)
        elif minus_one and isinstance(d, numbers.Integral) and not isinstance(d, (bool, np.bool_)) and d < 0:
            if d != -1:
                raise ValueError(f"{fn}: {what}'s dims must be in [0, 2**63) or one -1 (a size to infer), got {d}")
            out.append(-1)
        else:
            out.append(count(d, fn, f"{what}'s dims"))
    if out.count(-1) > 1:
        raise ValueError(f"{fn}: {what} may hold one -1 (a size to infer), got {tuple(shape)!r}")
    known = [d for d in out if d is not None and d != -1]
    if not unknown and known and int(np.prod(known, dtype=object)) >= 2 ** 63:
        raise ValueError(f"{fn}: {what} {tuple(out)} has {int(np.prod(known, dtype=object))} elements; "
                         f"an array holds fewer than 2**63")
    return tuple(out)


def flag(v, fn: str, what: str) -> bool:
    """A flag (keepdims, from_logits, ...): bool(v) for bools, None and numbers (keras_args)."""
    return _core().flag(v, fn, what)


def _real_scalar(v) -> bool:
    if isinstance(v, np.ndarray):
        return v.ndim == 0 and v.dtype.kind in "biuf" and v.dtype.char != "g"
    return isinstance(v, (numbers.Real, np.bool_)) and not isinstance(v, np.longdouble)


def number(v, fn: str, what: str) -> float:
    """A real number (Python's, NumPy's or a 0-d array) as a float."""
    if not _real_scalar(v):
        raise TypeError(f"{fn}: {what} must be a real number, got {type(v).__name__}")
    try:
        return float(v)
    except OverflowError:
        raise ValueError(f"{fn}: {what} {v!r} is out of the range of a float64") from None


def real(v, fn: str, what: str):
    """A real number (kept as given: it takes the other operand's dtype, as in TensorFlow) or a
    numeric tensor (as an ndarray)."""
    if _real_scalar(v) and not isinstance(v, np.ndarray):
        return v
    return tensor(v, fn, what)


def scalar_as(v, dtype: np.dtype, fn: str, what: str) -> np.ndarray:
    """A Python or NumPy number as a 0-d array of `dtype`, the tensor it meets (as TensorFlow
    converts it); ValueError where that dtype cannot hold it exactly (ints out of range, fractions
    for an integer dtype, numbers other than 0 and 1 for bool)."""
    dtype = np.dtype(dtype)
    if isinstance(v, (complex, np.complexfloating)) or not _real_scalar(v):
        raise TypeError(f"{fn}: {what} must be a real number or a tensor, got {v!r}")
    if dtype.kind == "f":
        try:
            with np.errstate(over="ignore"):
                return np.asarray(float(v), dtype)
        except OverflowError:
            raise ValueError(f"{fn}: {what} {v!r} is out of the range of a float64") from None
    if dtype.kind == "b":
        if v not in (0, 1):
            raise ValueError(f"{fn}: {what} {v!r} is not a bool, as the other operand (bool) needs")
        return np.asarray(bool(v))
    if not isinstance(v, numbers.Integral) and not float(v).is_integer():
        raise ValueError(f"{fn}: {what} {v!r} is not a whole number, as the other operand ({dtype}) needs")
    info = np.iinfo(dtype)
    if not info.min <= int(v) <= info.max:
        raise ValueError(f"{fn}: {what} {v!r} is out of the range of {dtype} [{info.min}, {info.max}], "
                         f"the other operand's dtype")
    return np.asarray(int(v), dtype)


def dtype_name(dtype, fn: str, default: str | None = None) -> str:
    """A dtype argument as an accepted name (None: `default`, else floatx; keras_args)."""
    if dtype is None:
        return default or floatx()
    return _core().dtype_name(dtype, fn)


def name(v, fn: str, what: str = "name") -> str | None:
    """A name: a str or None."""
    if v is not None and not isinstance(v, str):
        raise TypeError(f"{fn}: {what} must be a str or None, got {v!r}")
    return v


def seed(v, fn: str) -> int | None:
    """A random seed: None or an int (not bool) of 64 bits, a negative one read as its two's complement."""
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{fn}: seed must be an int or None, got {v!r}")
    if not -2 ** 63 <= int(v) < 2 ** 64:
        raise ValueError(f"{fn}: seed must be in [-2**63, 2**64), got {int(v)}")
    return int(v) % 2 ** 64


def function(v, fn: str, what: str, none: bool = False):
    """A callable (None where `none` allows it)."""
    if not callable(v) and not (v is None and none):
        raise TypeError(f"{fn}: {what} must be callable{' or None' if none else ''}, got {v!r}")
    return v


def choice(v, fn: str, what: str, allowed: tuple, lower: bool = False) -> str:
    """One of the strings `allowed` (compared in lower case when `lower`)."""
    got = v.lower() if lower and isinstance(v, str) else v
    if not isinstance(v, str) or got not in allowed:
        raise ValueError(f"{fn}: {what} must be one of {', '.join(map(repr, allowed))}, got {v!r}")
    return got


def variable(v, fn: str, what: str = "x"):
    """A kcore.Variable (what updates change in place)."""
    from kcore._variables import Variable

    if not isinstance(v, Variable):
        raise TypeError(f"{fn}: {what} must be a kcore.Variable, got {type(v).__name__}")
    return v
