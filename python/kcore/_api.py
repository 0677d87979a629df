"""The Keras 2 backend API, written once against a kernel provider.

This module is instantiated twice by kcore.backends: with kcore's native kernels (the `kcore`
backend) and with the NumPy reference kernels (the `numpy` backend). Functions that compute are
wrapped by `op` (kcore._graph), so each serves eager arrays and symbolic placeholders alike.
"""
from __future__ import annotations

import builtins
import functools
import numbers

import numpy as np

from kcore import _config, _graph, _kernels, _state
from kcore import _layout as L
from kcore import _linalg as LA
from kcore import _reduce as R
from kcore import _scan as S
from kcore import _validate as V
from kcore._graph import Placeholder, Tensor, op
from kcore._variables import Variable

# The kernel provider; kcore.backends sets it before this module's code runs.
_K = globals().get("_K", _kernels.NATIVE)

_FLOAT_NAMES = ("float16", "float32", "float64")
_VARIABLE_DTYPES = ("float16", "float32", "float64", "bfloat16", "int8", "int16", "int32", "int64", "uint8",
                    "uint16", "uint32", "uint64", "bool")

# ---------------------------------------------------------------------------------------------
# Config


def epsilon() -> float:
    """The fuzz factor used in numeric expressions (default 1e-07)."""
    return _config.SETTINGS.epsilon


def set_epsilon(value) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
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


def image_dim_ordering() -> str:
    """Keras 1's name for the data format: 'th' (channels_first) or 'tf' (channels_last)."""
    return "th" if image_data_format() == "channels_first" else "tf"


def set_image_dim_ordering(dim_ordering) -> None:
    if dim_ordering not in ("tf", "th"):
        raise ValueError(f"Unknown dim_ordering: {dim_ordering!r}; expected 'tf' or 'th'")
    set_image_data_format("channels_first" if dim_ordering == "th" else "channels_last")


def normalize_data_format(value):
    if value is None:
        return image_data_format()
    data_format = str(value).lower()
    if data_format not in _config.DATA_FORMATS:
        raise ValueError(f"The `data_format` argument must be one of \"channels_first\", \"channels_last\". "
                         f"Received: {value!r}")
    return data_format


def cast_to_floatx(x):
    """x as a NumPy array of floatx."""
    return L.cast_to_floatx(x, _K)


def backend() -> str:
    """The name of the active backend."""
    return _config.SETTINGS.backend


# ---------------------------------------------------------------------------------------------
# State


def get_uid(prefix=""):
    """1, 2, 3, ... for each prefix (per session)."""
    return _state.get_uid(prefix)


def reset_uids():
    _state.reset_uids()


def clear_session():
    """Resets uids and the learning phase (there is no graph to reset: graphs are values)."""
    _state.reset_uids()
    _state.learning_phase = 0


def learning_phase():
    return _state.learning_phase


def set_learning_phase(value):
    if value not in (0, 1):
        raise ValueError("Expected learning phase to be 0 or 1.")
    _state.learning_phase = int(value)


def manual_variable_initialization(value):
    _state.manual_variable_initialization = bool(value)


def symbolic(func):
    """Decorator kept for Keras compatibility: kcore functions are already mode-agnostic."""
    return func


def eager(func):
    """Decorator kept for Keras compatibility: kcore functions are already mode-agnostic."""
    return func


# ---------------------------------------------------------------------------------------------
# Variables, placeholders, values


def _dtype_name(dtype, fn, default=None):
    if dtype is None:
        return default or floatx()
    name = dtype if isinstance(dtype, str) else getattr(np.dtype(dtype), "name", None) if _is_dtype_like(dtype) else None
    if name not in _VARIABLE_DTYPES or name == "bfloat16":
        raise TypeError(f"{fn}: unsupported dtype {dtype!r}; accepted: "
                        f"{', '.join(n for n in _VARIABLE_DTYPES if n != 'bfloat16')}")
    return name


def _is_dtype_like(d):
    try:
        np.dtype(d)
        return True
    except TypeError:
        return False


def variable(value, dtype=None, name=None, constraint=None):
    """A kcore.Variable holding value as dtype (floatx when None, even for integer input)."""
    dt = _dtype_name(dtype, "variable")
    if isinstance(value, Tensor):
        raise TypeError("variable: the initial value must be concrete, got a symbolic tensor")
    if _is_sparse_matrix(value):
        value = value.toarray()
    try:
        arr = np.array(np.asarray(value), dtype=dt, copy=True)
    except (TypeError, ValueError) as e:
        raise TypeError(f"variable: cannot make a {dt} variable from the {type(value).__name__} given ({e})") from None
    return Variable(arr, name or f"variable_{get_uid('variable')}", constraint)


def constant(value, dtype=None, shape=None, name=None):
    """A NumPy array of value (broadcast to shape when given)."""
    dt = _dtype_name(dtype, "constant")
    try:
        arr = np.asarray(value, dtype=dt)
    except (TypeError, ValueError) as e:
        raise TypeError(f"constant: cannot make a {dt} constant from the {type(value).__name__} given ({e})") from None
    if shape is not None:
        shape = tuple(shape)
        if arr.size == 1:
            arr = np.full(shape, arr.reshape(()), dtype=dt)
        elif arr.size == int(np.prod(shape)):
            arr = arr.reshape(shape)
        else:
            raise ValueError(f"constant: cannot make a value of {arr.size} elements into shape {shape}")
    return arr


def placeholder(shape=None, ndim=None, dtype=None, sparse=False, name=None):
    """A symbolic input; shape wins over ndim, None dims are unknown."""
    dt = _dtype_name(dtype, "placeholder")
    if shape is None and ndim is not None:
        shape = (None,) * int(ndim)
    if shape is not None:
        shape = tuple(None if d is None else int(d) for d in shape)
        if builtins.any(d is not None and d < 0 for d in shape):
            raise ValueError(f"placeholder: dims must be >= 0 or None, got {shape}")
    return Placeholder(shape, dt, sparse=sparse, name=name)


def is_placeholder(x):
    return isinstance(x, Placeholder)


def is_variable(x):
    return isinstance(x, Variable)


def is_tensor(x):
    """True for backend tensors (variables, placeholders and symbolic results), not for NumPy values."""
    return isinstance(x, (Variable, Tensor))


def is_keras_tensor(x):
    """False for every backend tensor (Keras 2: only layer outputs carry Keras history)."""
    if not is_tensor(x):
        raise ValueError(f"Unexpectedly found an instance of type `{type(x)}`. Expected a symbolic tensor instance.")
    return hasattr(x, "_keras_history")


def _is_sparse_matrix(x):
    return hasattr(x, "tocoo") and hasattr(x, "toarray") and hasattr(x, "nnz")


def is_sparse(tensor):
    return bool(getattr(tensor, "sparse", False)) or _is_sparse_matrix(tensor)


def to_dense(tensor):
    if _is_sparse_matrix(tensor):
        return np.asarray(tensor.toarray())
    return tensor


def int_shape(x):
    """The shape as a tuple of ints and None (None for an unknown rank)."""
    if isinstance(x, (Tensor, Variable)):
        return x.shape
    return np.shape(np.asarray(x)) if not hasattr(x, "shape") else tuple(x.shape)


def ndim(x):
    s = int_shape(x)
    return None if s is None else len(s)


def dtype(x):
    """The dtype name, e.g. 'float32'."""
    if isinstance(x, (Tensor, Variable)):
        return x.dtype
    return V.as_array(x, "dtype").dtype.name


def count_params(x):
    s = int_shape(x)
    if s is None or builtins.any(d is None for d in s):
        raise ValueError(f"count_params: the shape of {x!r} is not fully known")
    return np.prod(s, dtype=np.int64)


def eval(x):  # noqa: A001 - Keras's name
    """The value of x as a NumPy array."""
    if isinstance(x, Variable):
        return x._value.copy()
    if isinstance(x, Tensor):
        missing = _graph.placeholders_of(x)
        if missing:
            raise ValueError(f"eval: {x.name} depends on placeholder(s) "
                             f"{', '.join(p.name for p in missing)}; use K.function and feed them")
        return np.asarray(_graph.evaluate([x], {})[0])
    return np.asarray(x)


def get_value(x):
    if not isinstance(x, Variable):
        if isinstance(x, Tensor):
            raise TypeError(f"get_value: {x.name} is symbolic; only variables have a value")
        return np.asarray(x)
    return x._value.copy()


def batch_get_value(ops):
    return [get_value(x) for x in ops]


def set_value(x, value):
    if not isinstance(x, Variable):
        raise TypeError(f"set_value: expected a kcore.Variable, got {type(x).__name__}")
    value = np.asarray(value)
    if value.shape != x.shape:
        raise ValueError(f"set_value: shape {value.shape} does not match variable '{x.name}' of shape {x.shape}")
    x.assign(value)


def batch_set_value(tuples):
    for x, value in tuples:
        set_value(x, value)


class _Update:
    """A pending in-place update of a variable, built when the new value is symbolic."""

    def __init__(self, variable, value, mode):
        self.variable, self.value, self.mode = variable, value, mode

    def apply(self, value):
        v = self.variable
        if self.mode == "add":
            value = v._value + np.asarray(value)
        elif self.mode == "sub":
            value = v._value - np.asarray(value)
        v.assign(np.asarray(value).astype(v._value.dtype, copy=False))


def _update(x, value, mode):
    if not isinstance(x, Variable):
        raise TypeError(f"update: expected a kcore.Variable to update, got {type(x).__name__}")
    if isinstance(value, Tensor):
        return _Update(x, value, mode)
    _Update(x, None, mode).apply(value)
    return x


def update(x, new_x):
    """Assigns new_x to variable x (returns x; symbolic new_x gives an update for K.function)."""
    return _update(x, new_x, "set")


def update_add(x, increment):
    return _update(x, increment, "add")


def update_sub(x, decrement):
    return _update(x, decrement, "sub")


def moving_average_update(x, value, momentum):
    """x -= (x - value) * (1 - momentum), as Keras 2.3 and tf_keras."""
    if isinstance(value, Tensor):
        return _Update(x, _moving_average_target(x, value, momentum), "set")
    x.assign(_moving_average_target.eager(x, value, momentum))
    return x


@op
def _moving_average_target(x, value, momentum):
    xv = np.asarray(x)
    return (xv - (xv - np.asarray(value, dtype=xv.dtype)) * (1 - momentum)).astype(xv.dtype)


class Function:
    """The callable K.function returns: feeds inputs, computes outputs, then applies updates."""

    def __init__(self, inputs, outputs, updates=None, name=None):
        self._single_input = not isinstance(inputs, (list, tuple))
        self.inputs = [inputs] if self._single_input else list(inputs)
        for t in self.inputs:
            if not isinstance(t, Placeholder):
                raise TypeError(f"function: inputs must be placeholders, got {t!r}")
        self._single_output = not isinstance(outputs, (list, tuple))
        self.outputs = [outputs] if self._single_output else list(outputs)
        self.updates = []
        for u in updates or []:
            if isinstance(u, _Update):
                self.updates.append(u)
            elif isinstance(u, (list, tuple)) and len(u) == 2:
                self.updates.append(_Update(u[0], u[1], "set"))
            else:
                raise TypeError(f"function: an update is (variable, new_value) or the result of K.update*, got {u!r}")
        self.name = name
        needed = _graph.placeholders_of(self.outputs + [u.value for u in self.updates])
        missing = [p for p in needed if p not in self.inputs]
        if missing:
            raise ValueError(f"function: outputs depend on placeholder(s) not in inputs: "
                             f"{', '.join(p.name for p in missing)}")

    def __call__(self, inputs):
        if self._single_input and not isinstance(inputs, (list, tuple)):
            inputs = [inputs]
        if not isinstance(inputs, (list, tuple)):
            raise TypeError("function: call it with a list of input values")
        if len(inputs) != len(self.inputs):
            raise ValueError(f"function: expected {len(self.inputs)} input value(s), got {len(inputs)}")
        feed = {}
        for p, value in zip(self.inputs, inputs):
            arr = to_dense(value)
            arr = np.asarray(arr, dtype=p.dtype)
            if p.shape is not None:
                if arr.ndim != len(p.shape) or builtins.any(d is not None and d != n for d, n in zip(p.shape, arr.shape)):
                    raise ValueError(f"function: placeholder '{p.name}' has shape {p.shape}, fed a value of "
                                     f"shape {arr.shape}")
            feed[p] = arr
        values = _graph.evaluate(self.outputs + [u.value for u in self.updates], feed)
        outputs = [np.asarray(v) for v in values[:len(self.outputs)]]
        for u, v in zip(self.updates, values[len(self.outputs):]):  # after the outputs, as Keras
            u.apply(v)
        return outputs[0] if self._single_output else outputs


def function(inputs, outputs, updates=None, name=None, **kwargs):
    """A callable evaluating outputs from fed placeholder values (then applying updates)."""
    if kwargs:
        raise ValueError(f"function: unexpected keyword argument(s) {', '.join(sorted(kwargs))}")
    return Function(inputs, outputs, updates=updates, name=name)


@op
def shape(x):
    """The shape as an int32 array."""
    return np.asarray(np.shape(np.asarray(x)), dtype=np.int32)


@op
def size(x):
    return np.int32(np.asarray(x).size)


# ---------------------------------------------------------------------------------------------
# Creation


def _shape_arg(shape, fn):
    if isinstance(shape, numbers.Integral):
        shape = (int(shape),)
    try:
        shape = tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        raise TypeError(f"{fn}: shape must be a tuple of ints, got {shape!r}") from None
    if builtins.any(d < 0 for d in shape):
        raise ValueError(f"{fn}: negative dim in shape {shape}")
    return shape


def zeros(shape, dtype=None, name=None):
    shape = _shape_arg(shape, "zeros")
    arr = np.zeros(shape, dtype=_dtype_name(dtype, "zeros"))
    return arr if 0 in shape else variable(arr, dtype=arr.dtype.name, name=name)


def ones(shape, dtype=None, name=None):
    shape = _shape_arg(shape, "ones")
    arr = np.ones(shape, dtype=_dtype_name(dtype, "ones"))
    return arr if 0 in shape else variable(arr, dtype=arr.dtype.name, name=name)


def eye(size, dtype=None, name=None):
    """An identity matrix variable; size may be n or (n, m)."""
    if isinstance(size, (list, tuple)):
        if len(size) != 2:
            raise ValueError(f"eye: size must be an int or a pair (n, m), got {size!r}")
        n, m = (int(s) for s in size)
    else:
        n = m = int(size)
    return variable(np.eye(n, m), dtype=_dtype_name(dtype, "eye"), name=name)


@op
def zeros_like(x, dtype=None, name=None):
    a = np.asarray(x)
    return np.zeros(a.shape, dtype=a.dtype if dtype is None else _dtype_name(dtype, "zeros_like"))


@op
def ones_like(x, dtype=None, name=None):
    a = np.asarray(x)
    return np.ones(a.shape, dtype=a.dtype if dtype is None else _dtype_name(dtype, "ones_like"))


@op
def identity(x, name=None):
    return np.array(np.asarray(x), copy=True)


def _rng(seed):
    return np.random.default_rng(None if seed is None else int(seed))


def random_uniform_variable(shape, low, high, dtype=None, name=None, seed=None):
    dt = _dtype_name(dtype, "random_uniform_variable")
    return variable(_rng(seed).uniform(low, high, _shape_arg(shape, "random_uniform_variable")), dt, name)


def random_normal_variable(shape, mean, scale, dtype=None, name=None, seed=None):
    dt = _dtype_name(dtype, "random_normal_variable")
    return variable(_rng(seed).normal(mean, scale, _shape_arg(shape, "random_normal_variable")), dt, name)


def random_uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    dt = _dtype_name(dtype, "random_uniform")
    return _rng(seed).uniform(minval, maxval, _shape_arg(shape, "random_uniform")).astype(dt)


def random_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    dt = _dtype_name(dtype, "random_normal")
    return _rng(seed).normal(mean, stddev, _shape_arg(shape, "random_normal")).astype(dt)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normal samples redrawn until within two standard deviations of the mean."""
    dt = _dtype_name(dtype, "truncated_normal")
    rng = _rng(seed)
    out = rng.standard_normal(_shape_arg(shape, "truncated_normal"))
    bad = np.abs(out) > 2
    while bad.any():
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2
    return (out * stddev + mean).astype(dt)


def random_binomial(shape, p=0.0, dtype=None, seed=None):
    dt = _dtype_name(dtype, "random_binomial")
    return (_rng(seed).uniform(size=_shape_arg(shape, "random_binomial")) < p).astype(dt)


# ---------------------------------------------------------------------------------------------
# Native kernel families


def _reduce(kind, x, axis, keepdims):
    """The C++ fast path for the common call; the validating Python route otherwise."""
    r = _K.reduce_fast(kind, x, axis, keepdims)
    return R.reduce(kind, x, axis, keepdims, _K) if r is None else r


def _arg_reduce_fast(kind, x, axis):
    return _K.reduce_fast(kind, x, axis, False)


def _arg_reduce(kind, x, axis):
    r = _K.reduce_fast(kind, x, axis, False)
    return R.arg_reduce(kind, x, axis, _K) if r is None else r


@op(fast=functools.partial(_K.reduce_fast, R.SUM))
def sum(x, axis=None, keepdims=False):  # noqa: A001 - Keras's name
    """Sum alongside an axis (float16 accumulates in float32, float32 in float64)."""
    return _reduce(R.SUM, x, axis, keepdims)


@op(fast=functools.partial(_K.reduce_fast, R.PROD))
def prod(x, axis=None, keepdims=False):
    """Product alongside an axis."""
    return _reduce(R.PROD, x, axis, keepdims)


@op(fast=functools.partial(_K.reduce_fast, R.MEAN))
def mean(x, axis=None, keepdims=False):
    """Mean alongside an axis (integers: truncating, as TensorFlow)."""
    return _reduce(R.MEAN, x, axis, keepdims)


@op(fast=functools.partial(_K.reduce_fast, R.MAX))
def max(x, axis=None, keepdims=False):  # noqa: A001
    """Maximum; NaN propagates; an empty axis gives -inf."""
    return _reduce(R.MAX, x, axis, keepdims)


@op(fast=functools.partial(_K.reduce_fast, R.MIN))
def min(x, axis=None, keepdims=False):  # noqa: A001
    """Minimum; NaN propagates; an empty axis gives +inf."""
    return _reduce(R.MIN, x, axis, keepdims)


@op(fast=functools.partial(_K.reduce_fast, R.VAR))
def var(x, axis=None, keepdims=False):
    """Population variance (ddof=0), accumulated in float64 without cancellation."""
    return _reduce(R.VAR, x, axis, keepdims)


@op(fast=functools.partial(_K.reduce_fast, R.STD))
def std(x, axis=None, keepdims=False):
    """Population standard deviation (ddof=0)."""
    return _reduce(R.STD, x, axis, keepdims)


@op(fast=functools.partial(_K.reduce_fast, R.ANY))
def any(x, axis=None, keepdims=False):  # noqa: A001
    """Logical OR reduction; returns bool."""
    return _reduce(R.ANY, x, axis, keepdims)


@op(fast=functools.partial(_K.reduce_fast, R.ALL))
def all(x, axis=None, keepdims=False):  # noqa: A001
    """Logical AND reduction; returns bool."""
    return _reduce(R.ALL, x, axis, keepdims)


@op(fast=functools.partial(_arg_reduce_fast, R.ARGMAX))
def argmax(x, axis=-1):
    """Index of the first maximum (NaN skipped; int64)."""
    return _arg_reduce(R.ARGMAX, x, axis)


@op(fast=functools.partial(_arg_reduce_fast, R.ARGMIN))
def argmin(x, axis=-1):
    """Index of the first minimum (NaN skipped; int64)."""
    return _arg_reduce(R.ARGMIN, x, axis)


@op
def cumsum(x, axis=0):
    """Cumulative sum along an axis (default 0); dtype kept."""
    return S.scan(0, x, axis, _K)


@op
def cumprod(x, axis=0):
    """Cumulative product along an axis (default 0); dtype kept."""
    return S.scan(1, x, axis, _K)


@op
def transpose(x):
    """All axes reversed, as a new C-contiguous array."""
    return L.transpose(x, _K)


@op
def permute_dimensions(x, pattern):
    """Axes permuted by pattern, as a new C-contiguous array."""
    return L.permute_dimensions(x, pattern, _K)


@op(fast=_K.cast_fast)
def cast(x, dtype):
    """x converted to dtype (float16/32/64 natively; integer/bool targets as NumPy)."""
    r = _K.cast_fast(x, dtype)
    return L.cast(x, dtype, _K) if r is None else r


@op(fast=_K.dot_fast)
def dot(x, y):
    """Keras dot: rank > 2 contracts x's last axis with y's second-to-last."""
    r = _K.dot_fast(x, y)
    return LA.dot(x, y, _K) if r is None else r


@op(fast=_K.batch_dot_fast)
def batch_dot(x, y, axes=None):
    """Keras 2.3 batch_dot (per-sample tensordot; rank-2 by rank-2 gives (batch, 1))."""
    r = _K.batch_dot_fast(x, y, axes)
    return LA.batch_dot(x, y, axes, _K) if r is None else r


# ---------------------------------------------------------------------------------------------
# Elementwise (NumPy; input dtype kept)


def _arr(x, fn):
    a = V.as_array(x, fn)
    V.check_numeric(a, fn)
    return a


def _float_arr(x, fn):
    a = _arr(x, fn)
    return a if a.dtype.kind == "f" else a.astype(floatx())


def _pair(x, y, fn):
    """Two operands with Keras/TF dtype rules: a Python number takes the other's dtype."""
    xa = V.as_array(x, fn) if not isinstance(x, numbers.Number) else None
    ya = V.as_array(y, fn) if not isinstance(y, numbers.Number) else None
    if xa is None and ya is None:
        xa, ya = V.as_array(x, fn), V.as_array(y, fn)
    elif xa is None:
        xa = np.asarray(x, dtype=ya.dtype)
    elif ya is None:
        ya = np.asarray(y, dtype=xa.dtype)
    for a in (xa, ya):
        V.check_numeric(a, fn)
    return xa, ya


def _keep(result, like):
    r = np.asarray(result)
    return r.astype(like.dtype, copy=False) if r.dtype != like.dtype and r.dtype.kind == like.dtype.kind == "f" else r


@op
def _add(x, y):
    a, b = _pair(x, y, "add")
    return a + b


@op
def _subtract(x, y):
    a, b = _pair(x, y, "subtract")
    return a - b


@op
def _multiply(x, y):
    a, b = _pair(x, y, "multiply")
    return a * b


@op
def _divide(x, y):
    a, b = _pair(x, y, "divide")
    with np.errstate(divide="ignore", invalid="ignore"):
        return a / b


@op
def _power(x, y):
    a, b = _pair(x, y, "power")
    with np.errstate(all="ignore"):
        return np.power(a, b)


@op
def _matmul(x, y):
    return dot.eager(x, y)


@op
def _negative(x):
    return -_arr(x, "negative")


@op
def _getitem(x, key):
    return np.asarray(x)[key]


@op
def square(x):
    return np.square(_arr(x, "square"))


@op
def abs(x):  # noqa: A001
    return np.abs(_arr(x, "abs"))


@op
def sqrt(x):
    """Square root; negative inputs are clipped to 0 first, as Keras on TensorFlow."""
    a = _float_arr(x, "sqrt")
    return np.sqrt(np.maximum(a, a.dtype.type(0)))


@op
def exp(x):
    with np.errstate(over="ignore"):
        return np.exp(_float_arr(x, "exp"))


@op
def log(x):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(_float_arr(x, "log"))


@op
def round(x):  # noqa: A001
    """Round half to even, as TensorFlow."""
    return np.round(_arr(x, "round"))


@op
def sign(x):
    return np.sign(_arr(x, "sign"))


@op
def pow(x, a):  # noqa: A001
    xa = _arr(x, "pow")
    with np.errstate(all="ignore"):
        return _keep(np.power(xa, np.asarray(a, dtype=xa.dtype) if isinstance(a, numbers.Number) else np.asarray(a)), xa)


@op
def clip(x, min_value, max_value):
    """Clip to [min_value, max_value]; None means unbounded; max < min takes max = min."""
    a = _arr(x, "clip")
    lo = -np.inf if min_value is None else min_value
    hi = np.inf if max_value is None else max_value
    if isinstance(lo, numbers.Number) and isinstance(hi, numbers.Number) and hi < lo:
        hi = lo
    return _keep(np.clip(a, lo, hi), a)


def _compare(f, name):
    @op
    def compare(x, y):
        a, b = _pair(x, y, name)
        return f(a, b)

    compare.__name__ = compare.eager.__name__ = name
    compare.__doc__ = f"Elementwise {name} (bool result)."
    return compare


equal = _compare(np.equal, "equal")
not_equal = _compare(np.not_equal, "not_equal")
greater = _compare(np.greater, "greater")
greater_equal = _compare(np.greater_equal, "greater_equal")
less = _compare(np.less, "less")
less_equal = _compare(np.less_equal, "less_equal")


@op
def maximum(x, y):
    a, b = _pair(x, y, "maximum")
    return np.maximum(a, b)


@op
def minimum(x, y):
    a, b = _pair(x, y, "minimum")
    return np.minimum(a, b)


@op
def sin(x):
    return np.sin(_float_arr(x, "sin"))


@op
def cos(x):
    return np.cos(_float_arr(x, "cos"))


# ---------------------------------------------------------------------------------------------
# Shape operations


@op
def concatenate(tensors, axis=-1):
    arrs = [np.asarray(t) for t in tensors]
    if not arrs:
        raise ValueError("concatenate: needs at least one tensor")
    rank = arrs[0].ndim
    if axis < 0:
        axis = axis + rank if rank else 0
    return np.concatenate(arrs, axis=axis)


@op
def stack(x, axis=0):
    return np.stack([np.asarray(t) for t in x], axis=axis)


@op
def reshape(x, shape):
    a = np.asarray(x)
    try:
        target = tuple(int(d) for d in np.asarray(shape).reshape(-1))
    except (TypeError, ValueError):
        raise TypeError(f"reshape: shape must be a sequence of ints, got {shape!r}") from None
    try:
        return np.reshape(a, target)
    except ValueError:
        raise ValueError(f"reshape: cannot reshape an array of shape {a.shape} ({a.size} elements) into "
                         f"{target}") from None


@op
def expand_dims(x, axis=-1):
    return np.expand_dims(np.asarray(x), axis)


@op
def squeeze(x, axis):
    a = np.asarray(x)
    ax = V.single_axis(axis, a.ndim, "squeeze")
    if a.shape[ax] != 1:
        raise ValueError(f"squeeze: cannot squeeze axis {axis} of shape {a.shape}: its size is {a.shape[ax]}, not 1")
    return np.squeeze(a, ax)


@op
def flatten(x):
    return np.asarray(x).reshape(-1)


@op
def batch_flatten(x):
    a = np.asarray(x)
    return a.reshape(a.shape[0] if a.ndim else 1, -1)


@op
def repeat(x, n):
    """(samples, dim) -> (samples, n, dim)."""
    a = np.asarray(x)
    if a.ndim != 2:
        raise ValueError(f"repeat: expects a rank-2 tensor (samples, dim), got shape {a.shape}")
    return np.repeat(a[:, None, :], int(n), axis=1)


@op
def repeat_elements(x, rep, axis):
    return np.repeat(np.asarray(x), int(rep), axis=axis)


@op
def tile(x, n):
    """Tile; n shorter than the rank is padded with leading 1s (Keras 2.3)."""
    a = np.asarray(x)
    reps = (int(n),) if isinstance(n, numbers.Integral) else tuple(int(v) for v in np.asarray(n).reshape(-1))
    if len(reps) > a.ndim:
        raise ValueError(f"tile: n {reps} is longer than the rank of shape {a.shape}")
    reps = (1,) * (a.ndim - len(reps)) + reps
    return np.tile(a, reps)


def arange(start, stop=None, step=1, dtype="int32"):
    """tf.range semantics: arange(-5) is empty; float arguments give floats even for dtype int32."""
    start = np.asarray(eval(start)).item() if isinstance(start, (Variable, Tensor, np.ndarray)) else start
    if stop is None and start < 0:
        start = 0
    values = np.arange(start, stop, step) if stop is not None else np.arange(start, step=step) if step != 1 else np.arange(start)
    if dtype == "int32" and values.dtype.kind == "f":
        return values.astype(np.float32)
    return values.astype(_dtype_name(dtype, "arange"))


@op
def temporal_padding(x, padding=(1, 1)):
    a = np.asarray(x)
    if len(padding) != 2:
        raise ValueError(f"temporal_padding: padding must be a pair, got {padding!r}")
    if a.ndim != 3:
        raise ValueError(f"temporal_padding: expects a rank-3 tensor, got shape {a.shape}")
    return np.pad(a, ((0, 0), tuple(padding), (0, 0)))


@op
def spatial_2d_padding(x, padding=((1, 1), (1, 1)), data_format=None):
    a = np.asarray(x)
    data_format = normalize_data_format(data_format)
    if len(padding) != 2 or builtins.any(len(p) != 2 for p in padding):
        raise ValueError(f"spatial_2d_padding: padding must be ((top, bottom), (left, right)), got {padding!r}")
    if a.ndim != 4:
        raise ValueError(f"spatial_2d_padding: expects a rank-4 tensor, got shape {a.shape}")
    pads = [(0, 0), (0, 0), tuple(padding[0]), tuple(padding[1])] if data_format == "channels_first" else \
        [(0, 0), tuple(padding[0]), tuple(padding[1]), (0, 0)]
    return np.pad(a, pads)


@op
def one_hot(indices, num_classes):
    """indices.shape + (num_classes,), float32; out-of-range indices give all-zero rows."""
    idx = np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"one_hot: indices must be integers, got {idx.dtype}")
    n = int(num_classes)
    return (idx[..., None] == np.arange(n)).astype(np.float32)


@op
def reverse(x, axes):
    a = np.asarray(x)
    axes = (axes,) if isinstance(axes, numbers.Integral) else tuple(axes)
    return np.flip(a, axis=tuple(V.single_axis(ax, a.ndim, "reverse") for ax in axes)).copy()


@op
def slice(x, start, size):  # noqa: A001
    a = np.asarray(x)
    start, size = list(start), list(size)
    if len(start) != a.ndim or len(size) != a.ndim:
        raise ValueError(f"slice: start and size need one entry per axis of shape {a.shape}")
    idx = tuple(builtins.slice(s, a.shape[i] if z == -1 else s + z) for i, (s, z) in enumerate(zip(start, size)))
    return a[idx].copy()


@op
def switch(condition, then_expression, else_expression):
    """Elementwise (or scalar) choice between two tensors."""
    c = np.asarray(condition).astype(bool)
    t, e = np.asarray(then_expression), np.asarray(else_expression)
    if c.ndim == 0:
        return t if bool(c) else e
    while c.ndim < t.ndim:
        c = c[..., None]
    return np.where(c, t, e)


@op
def gather(reference, indices):
    """reference[indices] along axis 0; out-of-range indices raise as in TensorFlow."""
    ref = np.asarray(reference)
    idx = np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"gather: indices must be integers, got {idx.dtype}")
    if idx.size and (idx.min() < 0 or idx.max() >= ref.shape[0]):
        raise ValueError(f"gather: indices must be in [0, {ref.shape[0]}), got range [{idx.min()}, {idx.max()}]")
    return ref[idx]


@op
def batch_gather(reference, indices):
    """tf.compat.v1.batch_gather: gather with batch_dims = rank(indices) - 1."""
    ref = np.asarray(reference)
    idx = np.asarray(indices)
    b = idx.ndim - 1
    if idx.ndim < 1 or ref.shape[:b] != idx.shape[:b]:
        raise ValueError(f"batch_gather: leading dims of indices {idx.shape} must match reference {ref.shape}")
    if idx.size and (idx.min() < 0 or idx.max() >= ref.shape[b]):
        raise ValueError(f"batch_gather: indices must be in [0, {ref.shape[b]})")
    return np.take_along_axis(ref, idx.reshape(idx.shape + (1,) * (ref.ndim - idx.ndim)), axis=b) \
        if ref.ndim == idx.ndim else \
        ref[tuple(np.indices(idx.shape)[:b]) + (idx,)]


# ---------------------------------------------------------------------------------------------
# Activations and losses


@op
def relu(x, alpha=0.0, max_value=None, threshold=0.0):
    a = _float_arr(x, "relu")
    t = a.dtype.type(threshold)
    out = np.where(a > t, a, a.dtype.type(0)) if threshold != 0 else np.maximum(a, a.dtype.type(0))
    if max_value is not None:
        out = np.minimum(out, a.dtype.type(max_value))
    if alpha != 0:
        out = out - a.dtype.type(alpha) * np.maximum(t - a, a.dtype.type(0)) if threshold != 0 else \
            out - a.dtype.type(alpha) * np.maximum(-a, a.dtype.type(0))
    return out.astype(a.dtype, copy=False)


@op
def elu(x, alpha=1.0):
    a = _float_arr(x, "elu")
    with np.errstate(over="ignore"):
        return np.where(a > 0, a, a.dtype.type(alpha) * np.expm1(np.minimum(a, 0))).astype(a.dtype)


@op
def softmax(x, axis=-1):
    a = _float_arr(x, "softmax")
    if a.ndim <= 1:
        raise ValueError(f"softmax: cannot apply softmax to a tensor of rank {a.ndim} (shape {a.shape})")
    m = np.max(a, axis=axis, keepdims=True)
    e = np.exp(a - m)
    return (e / np.sum(e, axis=axis, keepdims=True)).astype(a.dtype)


@op
def softplus(x):
    a = _float_arr(x, "softplus")
    return np.logaddexp(a.dtype.type(0), a).astype(a.dtype)


@op
def softsign(x):
    a = _float_arr(x, "softsign")
    return (a / (1 + np.abs(a))).astype(a.dtype)


@op
def sigmoid(x):
    a = _float_arr(x, "sigmoid")
    e = np.exp(-np.abs(a))  # never overflows
    return np.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype)


@op
def hard_sigmoid(x):
    a = _float_arr(x, "hard_sigmoid")
    return np.clip(a * a.dtype.type(0.2) + a.dtype.type(0.5), 0, 1).astype(a.dtype)


@op
def tanh(x):
    return np.tanh(_float_arr(x, "tanh"))


def _log_softmax(a, axis):
    m = np.max(a, axis=axis, keepdims=True)
    return a - m - np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True))


@op
def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    t = _float_arr(target, "categorical_crossentropy")
    o = _float_arr(output, "categorical_crossentropy")
    if t.shape != o.shape:
        raise ValueError(f"categorical_crossentropy: target shape {t.shape} and output shape {o.shape} differ")
    with np.errstate(divide="ignore", invalid="ignore"):
        if from_logits:
            return (-np.sum(t * _log_softmax(o, axis), axis=axis)).astype(o.dtype)
        o = o / np.sum(o, axis=axis, keepdims=True)
        eps = o.dtype.type(epsilon())
        o = np.clip(o, eps, 1 - eps)
        return (-np.sum(t * np.log(o), axis=axis)).astype(o.dtype)


@op
def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    o = _float_arr(output, "sparse_categorical_crossentropy")
    t = np.asarray(target)
    o = np.moveaxis(o, axis, -1)
    t = t.reshape(o.shape[:-1]).astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        if from_logits:
            logp = _log_softmax(o, -1)
        else:
            eps = o.dtype.type(epsilon())
            logp = np.log(np.clip(o, eps, 1 - eps))
    if t.size and (t.min() < 0 or t.max() >= o.shape[-1]):
        raise ValueError(f"sparse_categorical_crossentropy: labels must be in [0, {o.shape[-1]})")
    return (-np.take_along_axis(logp, t[..., None], axis=-1)[..., 0]).astype(o.dtype)


@op
def binary_crossentropy(target, output, from_logits=False):
    t = _float_arr(target, "binary_crossentropy")
    o = _float_arr(output, "binary_crossentropy")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if not from_logits:
            eps = o.dtype.type(epsilon())
            o = np.clip(o, eps, 1 - eps)
            o = np.log(o / (1 - o))
        loss = np.maximum(o, 0) - o * t + np.log1p(np.exp(-np.abs(o)))
    return loss.astype(o.dtype)


@op
def l2_normalize(x, axis=None):
    a = _float_arr(x, "l2_normalize")
    ss = np.sum(np.square(a), axis=axis, keepdims=True)
    return (a / np.sqrt(np.maximum(ss, a.dtype.type(1e-12)))).astype(a.dtype)


@op
def bias_add(x, bias, data_format=None):
    a = np.asarray(x)
    b = np.asarray(bias)
    data_format = normalize_data_format(data_format)
    if b.ndim != 1 and b.ndim != a.ndim - 1:
        raise ValueError(f"bias_add: unexpected bias rank {b.ndim}; expected 1 or {a.ndim - 1} for x of shape {a.shape}")
    if data_format == "channels_first" and a.ndim > 2:
        if b.ndim == 1:
            return a + b.reshape((1, b.shape[0]) + (1,) * (a.ndim - 2))
        return a + np.moveaxis(b, -1, 0)[None]
    return a + b


# ---------------------------------------------------------------------------------------------
# More of the Keras 2 backend


@op
def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) computed stably (the max is subtracted first)."""
    a = _float_arr(x, "logsumexp")
    ax = V.axes(axis, a.ndim, "logsumexp")
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        m = np.max(a, axis=ax, keepdims=True) if a.size else np.zeros((1,) * a.ndim, a.dtype)
        m = np.where(np.isfinite(m), m, 0).astype(a.dtype)
        out = np.log(np.sum(np.exp(a - m), axis=ax, keepdims=True)) + m
    return (out if keepdims else np.squeeze(out, axis=ax if ax is not None else tuple(range(a.ndim)))).astype(a.dtype)


@op
def stop_gradient(variables):
    """Identity here: kcore has no gradients; kept so Keras code runs unchanged."""
    if isinstance(variables, (list, tuple)):
        return [np.asarray(v) for v in variables]
    return np.asarray(variables)


@op
def print_tensor(x, message=""):
    """Prints message and x's value, returns x (as Keras's print_tensor)."""
    a = np.asarray(x)
    print(message, a)
    return a


def in_train_phase(x, alt, training=None):
    """x in the training phase (learning_phase() == 1 or training truthy), else alt; callables are
    called."""
    training = learning_phase() if training is None else training
    chosen = x if bool(training) else alt
    return chosen() if callable(chosen) else chosen


def in_test_phase(x, alt, training=None):
    return in_train_phase(alt, x, training=training)


def dropout(x, level, noise_shape=None, seed=None):
    """Zeros a fraction `level` of x and scales the rest by 1 / (1 - level)."""
    a = _float_arr(x, "dropout")
    if not 0 <= level < 1:
        raise ValueError(f"dropout: level must be in [0, 1), got {level!r}")
    shape = a.shape if noise_shape is None else tuple(noise_shape)
    keep = _rng(seed).uniform(size=shape) >= level
    return (a * keep / a.dtype.type(1 - level)).astype(a.dtype)


def get_variable_shape(x):
    return int_shape(x)
