"""The Keras 2 backend API on kcore's native kernels: `from kcore import backend as K`."""
from __future__ import annotations

from kcore import _config
from kcore import _reduce as R

# ---------------------------------------------------------------------------------------------
# Config


def epsilon() -> float:
    """The fuzz factor used in numeric expressions (default 1e-07)."""
    return _config.SETTINGS.epsilon


def set_epsilon(value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"set_epsilon: expected a number, got {value!r}")
    _config.SETTINGS.epsilon = float(value)
    _config.SETTINGS.sources["epsilon"] = "setter"


def floatx() -> str:
    """The default float type, as a string: 'float16', 'float32' or 'float64'."""
    return _config.SETTINGS.floatx


def set_floatx(value) -> None:
    if value not in _config.FLOATX_VALUES:
        raise ValueError(f"Unknown floatx type: {value!r}; expected one of {', '.join(_config.FLOATX_VALUES)}")
    _config.SETTINGS.floatx = str(value)
    _config.SETTINGS.sources["floatx"] = "setter"


def image_data_format() -> str:
    return _config.SETTINGS.image_data_format


def set_image_data_format(data_format) -> None:
    if data_format not in _config.DATA_FORMATS:
        raise ValueError(f"Unknown data_format: {data_format!r}; expected one of {', '.join(_config.DATA_FORMATS)}")
    _config.SETTINGS.image_data_format = str(data_format)
    _config.SETTINGS.sources["image_data_format"] = "setter"


def backend() -> str:
    """The name of the active backend."""
    return _config.SETTINGS.backend


# ---------------------------------------------------------------------------------------------
# Reductions (native for float16/32/64)


def sum(x, axis=None, keepdims=False):  # noqa: A001 - Keras's name
    """Sum of the values in a tensor, alongside the specified axis."""
    return R.reduce(R.SUM, x, axis, keepdims)


def prod(x, axis=None, keepdims=False):
    """Product of the values in a tensor, alongside the specified axis."""
    return R.reduce(R.PROD, x, axis, keepdims)


def mean(x, axis=None, keepdims=False):
    """Mean of a tensor, alongside the specified axis (integers: truncating, as TensorFlow)."""
    return R.reduce(R.MEAN, x, axis, keepdims)


def max(x, axis=None, keepdims=False):  # noqa: A001
    """Maximum value in a tensor; NaN propagates; an empty axis gives -inf."""
    return R.reduce(R.MAX, x, axis, keepdims)


def min(x, axis=None, keepdims=False):  # noqa: A001
    """Minimum value in a tensor; NaN propagates; an empty axis gives +inf."""
    return R.reduce(R.MIN, x, axis, keepdims)


def var(x, axis=None, keepdims=False):
    """Population variance (ddof=0), computed in float64 without cancellation."""
    return R.reduce(R.VAR, x, axis, keepdims)


def std(x, axis=None, keepdims=False):
    """Population standard deviation (ddof=0)."""
    return R.reduce(R.STD, x, axis, keepdims)


def any(x, axis=None, keepdims=False):  # noqa: A001
    """Bitwise reduction (logical OR); returns a bool tensor."""
    return R.reduce(R.ANY, x, axis, keepdims)


def all(x, axis=None, keepdims=False):  # noqa: A001
    """Bitwise reduction (logical AND); returns a bool tensor."""
    return R.reduce(R.ALL, x, axis, keepdims)


def argmax(x, axis=-1):
    """Index of the first maximum along an axis (NaN skipped; int64)."""
    return R.arg_reduce(R.ARGMAX, x, axis)


def argmin(x, axis=-1):
    """Index of the first minimum along an axis (NaN skipped; int64)."""
    return R.arg_reduce(R.ARGMIN, x, axis)


# ---------------------------------------------------------------------------------------------
# Layout and casts (one native strided-copy engine)

from kcore._layout import cast, cast_to_floatx, permute_dimensions, transpose  # noqa: E402


# ---------------------------------------------------------------------------------------------
# Scans

from kcore import _scan  # noqa: E402


def cumsum(x, axis=0):
    """Cumulative sum along an axis (default 0, as Keras). dtype preserved; float16 accumulates in
    float32 and float32 in float64, each output rounded once."""
    return _scan.scan(0, x, axis)


def cumprod(x, axis=0):
    """Cumulative product along an axis (default 0, as Keras); dtype preserved."""
    return _scan.scan(1, x, axis)


# ---------------------------------------------------------------------------------------------
# Linear algebra (native batched GEMM)

from kcore._linalg import batch_dot, dot  # noqa: E402
