"""Values: variables, constants, placeholders, K.function, evaluation, updates, creation and
random values."""
from __future__ import annotations

import builtins
import inspect

import numpy as np

from kcore import _graph
from kcore import _validate as V
from kcore._api.grad import builder_for, gradient, no_gradient
from kcore._graph import Constant, Placeholder, Tensor, Update
from kcore._ops import REGISTRY, op
from kcore._state import get_uid
from kcore._variables import Variable

PUBLIC = ("variable", "constant", "placeholder", "is_placeholder", "is_variable", "is_tensor", "is_keras_tensor",
          "is_sparse", "to_dense", "int_shape", "ndim", "dtype", "count_params", "eval", "get_value",
          "batch_get_value", "set_value", "batch_set_value", "update", "update_add", "update_sub",
          "moving_average_update", "function", "zeros", "ones", "eye", "random_uniform_variable",
          "random_normal_variable", "arange", "get_variable_shape")


def variable(value, dtype=None, name=None, constraint=None):
    """A kcore.Variable holding value as dtype (floatx when None, even for integer input). Ops on
    variables build graph nodes that read the variable when evaluated."""
    dt = V.dtype_name(dtype, "variable")
    V.name(name, "variable")
    V.function(constraint, "variable", "constraint", none=True)
    if isinstance(value, Tensor):
        value = _graph.value_of(value)  # a constant or a placeholder-free expression: its value now
    if _is_sparse_matrix(value):
        value = value.toarray()
    if value is None:
        raise TypeError("variable: the initial value is None; give an array, a number or a nested list")
    a = V.as_array(value, "variable", "value", floats=dt if np.dtype(dt).kind == "f" else None)
    if a.dtype.kind == "c":
        raise TypeError(f"variable: complex values are not supported (a {dt} variable would drop the imaginary part)")
    V.check_numeric(a, "variable", "value")
    arr = np.array(a, dtype=dt, copy=True)
    v = Variable(arr, _graph.scoped(name or f"variable_{get_uid('variable')}"), constraint)
    v._keras_shape = arr.shape
    v._uses_learning_phase = False
    return v


def constant(value, dtype=None, shape=None, name=None):
    """A constant tensor of value (broadcast to shape when given): a graph leaf whose value is
    fixed; np.asarray / K.eval give it."""
    dt = V.dtype_name(dtype, "constant")
    V.name(name, "constant")
    if isinstance(value, (Tensor, Variable)):
        value = _graph.value_of(value) if isinstance(value, Tensor) else value._value
    arr = np.array(V.tensor(value, "constant", "value", floats=dt if np.dtype(dt).kind == "f" else None), dtype=dt,
                   copy=True)
    if shape is not None:
        shape = V.dims(shape, "constant")
        if arr.size == 1:
            arr = np.full(shape, arr.reshape(()), dtype=dt)
        elif arr.size == int(np.prod(shape)):
            arr = arr.reshape(shape)
        else:
            raise ValueError(f"constant: cannot make a value of {arr.size} elements into shape {shape}")
    c = Constant(arr, name=None if name is None else _graph.scoped(name))
    c._keras_shape = arr.shape
    c._uses_learning_phase = False
    return c


def placeholder(shape=None, ndim=None, dtype=None, sparse=False, name=None):
    """A symbolic input; shape wins over ndim, None dims are unknown."""
    dt = V.dtype_name(dtype, "placeholder")
    V.name(name, "placeholder")
    sparse = V.flag(sparse, "placeholder", "sparse")
    if ndim is not None and V.count(ndim, "placeholder", "ndim") > 64:
        raise ValueError(f"placeholder: ndim must be at most 64 (NumPy's limit), got {ndim}")
    if shape is None and ndim is not None:
        shape = (None,) * ndim
    if shape is not None:
        shape = V.dims(shape, "placeholder", unknown=True)
    p = Placeholder(shape, dt, sparse=sparse, name=None if name is None else _graph.scoped(name))
    p._keras_shape = shape
    p._uses_learning_phase = False
    return p


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
        raise ValueError(f"is_keras_tensor: Unexpectedly found an instance of type `{type(x)}`. Expected a symbolic "
                         f"tensor instance.")
    return hasattr(x, "_keras_history")


def _is_sparse_matrix(x):
    return hasattr(x, "tocoo") and hasattr(x, "toarray") and hasattr(x, "nnz")


def is_sparse(tensor):
    return bool(getattr(tensor, "sparse", False)) or _is_sparse_matrix(tensor)


def to_dense(tensor):
    """A sparse matrix's (or sparse value's) array; tensors, variables and None as they are;
    anything else as a numeric array (TypeError for what has no numeric value)."""
    if _is_sparse_matrix(tensor):
        return np.asarray(tensor.toarray())
    if isinstance(tensor, _graph.Operators) or tensor is None:
        return tensor
    if hasattr(tensor, "dense_shape") and callable(getattr(tensor, "to_dense", None)):  # (ctc's SparseValue)
        return tensor.to_dense()
    return V.tensor(tensor, "to_dense")


def _described(x, fn):
    """What int_shape, ndim, dtype and count_params read: a tensor, a variable, an array (of any
    dtype) or a sparse matrix as it is; anything else as an array (lists and numbers)."""
    if isinstance(x, (Tensor, Variable, np.ndarray)) or _is_sparse_matrix(x):
        return x
    return V.as_array(x, fn)


def int_shape(x):
    """The shape as a tuple of ints and None (None for an unknown rank)."""
    s = _described(x, "int_shape").shape
    return s if s is None else tuple(s)


def get_variable_shape(x):
    s = _described(x, "get_variable_shape").shape
    return s if s is None else tuple(s)


def ndim(x):
    s = _described(x, "ndim").shape
    return None if s is None else len(s)


def dtype(x):
    """The dtype name, e.g. 'float32'."""
    v = _described(x, "dtype")
    return v.dtype if isinstance(v, (Tensor, Variable)) else v.dtype.name


def count_params(x):
    s = _described(x, "count_params").shape
    if s is None or builtins.any(d is None for d in s):
        raise ValueError(f"count_params: the shape of {x!r} is not fully known")
    return np.prod(s, dtype=np.int64)


def _value(x, fn):
    if isinstance(x, Variable):
        return x._value.copy()
    if isinstance(x, Update):  # runs it, as a session runs an assign op: the variable's new value
        missing = _graph.needed_placeholders([x])
        if missing:
            raise ValueError(f"{fn}: {x.name} depends on placeholder(s) "
                             f"{', '.join(p.name for p in missing)}; use K.function and feed them")
        _graph.evaluate([x], {}, apply_updates=True)
        return x.variable._value.copy()
    if isinstance(x, Tensor):
        missing = _graph.needed_placeholders([x])
        if missing:
            raise ValueError(f"{fn}: {x.name} depends on placeholder(s) "
                             f"{', '.join(p.name for p in missing)}; use K.function and feed them")
        return np.array(_graph.value_of(x), copy=True)
    return V.tensor(x, fn)


def eval(x):
    """The value of x as a NumPy array (a tensor is evaluated; it must need no fed placeholder)."""
    return _value(x, "eval")


def get_value(x):
    """The value of a variable (or of a tensor that needs no fed placeholder)."""
    return _value(x, "get_value")


def batch_get_value(ops):
    if ops is None:
        return []
    if not isinstance(ops, (list, tuple)):
        raise TypeError(f"batch_get_value: ops must be a list of tensors, got {type(ops).__name__}")
    return [_value(x, "batch_get_value") for x in ops]


def _new_value(x, value, fn):
    """value (not symbolic) as the array assigned to variable x: a numeric tensor of x's shape, or
    one that broadcasts to it."""
    a = V.tensor(value, fn, "the new value")
    try:
        fits = np.broadcast_shapes(a.shape, x.shape) == x.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{fn}: a value of shape {a.shape} does not fit variable '{x.name}' of shape {x.shape}")
    return a


def _set_value(x, value, fn):
    V.variable(x, fn)
    a = V.tensor(value, fn, "value")
    if a.shape != x.shape:
        raise ValueError(f"{fn}: shape {a.shape} does not match variable '{x.name}' of shape {x.shape}")
    x.assign(a)


def set_value(x, value):
    _set_value(x, value, "set_value")


def batch_set_value(tuples):
    if tuples is None:
        return
    if not isinstance(tuples, (list, tuple)) or not all(isinstance(t, (list, tuple)) and len(t) == 2 for t in tuples):
        raise TypeError(f"batch_set_value: tuples must be a list of (variable, value) pairs, got {tuples!r}")
    for x, value in tuples:
        _set_value(x, value, "batch_set_value")


def _update(x, value, mode, fn):
    V.variable(x, fn)
    if _graph.contains_symbolic(value):
        return Update(x, value, mode)
    value = _new_value(x, value, fn)
    if _graph.is_building():  # (K.symbolic: applied when a function runs it)
        return Update(x, value, mode)
    Update(x, None, mode).apply(value)
    return x


def update(x, new_x):
    """Assigns new_x to variable x (returns x; symbolic new_x gives an update for K.function)."""
    return _update(x, new_x, "set", "update")


def update_add(x, increment):
    return _update(x, increment, "add", "update_add")


def update_sub(x, decrement):
    return _update(x, decrement, "sub", "update_sub")


@op("_moving_average_target")
def moving_average_target(x, value, momentum):
    xv = np.asarray(x)
    return (xv - (xv - np.asarray(value, dtype=xv.dtype)) * (1 - momentum)).astype(xv.dtype)


def moving_average_update(x, value, momentum):
    """x -= (x - value) * (1 - momentum), as Keras 2.3 and tf_keras."""
    fn = "moving_average_update"
    V.variable(x, fn)
    momentum = momentum if isinstance(momentum, _graph.Operators) else V.number(momentum, fn, "momentum")
    if not _graph.contains_symbolic(value):
        value = _new_value(x, value, fn)
    if _graph.contains_symbolic(value) or _graph.contains_symbolic(momentum) or _graph.is_building():
        return Update(x, builder_for(value, momentum)._moving_average_target(x, value, momentum), "set")
    x.assign(moving_average_target(x, value, momentum))
    return x


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
        stack = list(self.outputs)
        while stack:  # (outputs may nest in lists and tuples)
            o = stack.pop()
            if type(o) in (list, tuple):
                stack.extend(o)
            else:
                V.operand(o, "function", "outputs")
        if updates is not None and not isinstance(updates, (list, tuple)):
            raise TypeError(f"function: updates must be a list, got {type(updates).__name__}")
        self.updates = []
        for u in updates or []:
            if isinstance(u, Update):
                self.updates.append(u)
            elif isinstance(u, (list, tuple)) and len(u) == 2 and isinstance(u[0], Variable):
                V.operand(u[1], "function", "an update's new value")
                self.updates.append(Update(u[0], u[1], "set"))
            elif isinstance(u, Variable):
                continue  # an update already applied eagerly returns its variable
            else:
                raise TypeError(f"function: an update is (variable, new_value) or the result of K.update*, got {u!r}")
        self.name = name
        self._fusion: dict = {}  # the fused convolution chains, per learning phase (kcore/_fusion.py)
        needed = _graph.needed_placeholders(self.outputs + self.updates)
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
        for p, value in zip(self.inputs, inputs, strict=True):
            arr = _fed(p, value.toarray() if _is_sparse_matrix(value) else value)
            if p.shape is not None and (arr.ndim != len(p.shape) or builtins.any(
                    d is not None and d != n for d, n in zip(p.shape, arr.shape, strict=True))):
                raise ValueError(f"function: placeholder '{p.name}' has shape {p.shape}, fed a value of "
                                 f"shape {arr.shape}")
            feed[p] = arr
        # Outputs first, then the updates (each from values read before any was applied); outputs
        # holding a variable's memory come back as copies taken before the updates.
        values = _graph.evaluate(self.outputs + self.updates, feed, apply_updates=True, fusion=self._fusion)
        # Copies of views (of a fed array, a broadcast): an output owns its memory.
        outputs = [np.array(v, copy=True) if isinstance(v, np.ndarray) and v.base is not None else np.asarray(v)
                   for v in values[:len(self.outputs)]]
        # Scalars come back as NumPy scalars, as TensorFlow's session returns them.
        outputs = [o[()] if isinstance(o, np.ndarray) and o.ndim == 0 else o for o in outputs]
        return outputs[0] if self._single_output else outputs


def _fed(p, value):
    """A value fed to placeholder p, in p's dtype: Python numbers straight to it (not through
    floatx), numbers held as objects or strings (a mixed-dtype DataFrame's values) converted;
    complex values and what holds no number are a TypeError naming the placeholder."""
    try:
        a = np.asarray(value)
        if a.dtype.kind in "OUS":
            a = np.asarray(value, dtype=p.dtype)
    except (ValueError, TypeError, OverflowError) as e:
        raise TypeError(f"function: cannot make an array for the value fed to '{p.name}' from the "
                        f"{type(value).__name__} given ({e})") from None
    V.check_numeric(a, "function", f"the value fed to '{p.name}'")
    return a if a.dtype == p.dtype else a.astype(p.dtype)


def function(inputs, outputs, updates=None, **kwargs):
    """A callable evaluating outputs from fed placeholder values (then applying updates); `name`
    is the only keyword it takes besides those (Keras 2.3.1's signature)."""
    name = kwargs.pop("name", None)
    if kwargs:
        raise ValueError(f"function: invalid keyword argument(s) {', '.join(sorted(kwargs))}; "
                         f"it takes inputs, outputs, updates and name")
    V.name(name, "function")
    return Function(inputs, outputs, updates=updates, name=name)


@op("shape")
def shape_of(x):
    """The shape as an int32 array."""
    return np.asarray(V.tensor(x, "shape").shape, dtype=np.int32)


@op("size")
def size_of(x, name=None):
    """The number of elements, as an int32 scalar."""
    V.name(name, "size")
    return np.int32(V.tensor(x, "size").size)


# ---------------------------------------------------------------------------------------------
# Creation


def zeros(shape, dtype=None, name=None):
    shape = V.dims(shape, "zeros")
    arr = np.zeros(shape, dtype=V.dtype_name(dtype, "zeros"))
    return arr if 0 in shape else variable(arr, dtype=arr.dtype.name, name=V.name(name, "zeros"))


def ones(shape, dtype=None, name=None):
    shape = V.dims(shape, "ones")
    arr = np.ones(shape, dtype=V.dtype_name(dtype, "ones"))
    return arr if 0 in shape else variable(arr, dtype=arr.dtype.name, name=V.name(name, "ones"))


def eye(size, dtype=None, name=None):
    """An identity matrix variable; size may be n or (n, m)."""
    if isinstance(size, (list, tuple)):
        if len(size) != 2:
            raise ValueError(f"eye: size must be an int or a pair (n, m), got {size!r}")
        n, m = V.dims(size, "eye", "size")
    else:
        n = m = V.count(size, "eye", "size")
    V.dims((n, m), "eye", "size")
    return variable(np.eye(n, m), dtype=V.dtype_name(dtype, "eye"), name=V.name(name, "eye"))


@op()
def zeros_like(x, dtype=None, name=None):
    a = V.tensor(x, "zeros_like")
    V.name(name, "zeros_like")
    return np.zeros(a.shape, dtype=a.dtype if dtype is None else V.dtype_name(dtype, "zeros_like"))


@op()
def ones_like(x, dtype=None, name=None):
    a = V.tensor(x, "ones_like")
    V.name(name, "ones_like")
    return np.ones(a.shape, dtype=a.dtype if dtype is None else V.dtype_name(dtype, "ones_like"))


@op()
def identity(x, name=None):
    V.name(name, "identity")
    return np.array(V.tensor(x, "identity"), copy=True)


class SeedStream:
    """The generator of a seeded random node (TensorFlow's op-level seed in a graph): made with the
    node from its seed and advanced by every evaluation, so each run draws anew and the runs'
    sequence repeats with the seed."""

    __slots__ = ("generator", "seed")

    def __init__(self, seed: int):
        self.seed = seed
        self.generator = np.random.default_rng(seed)

    def __repr__(self):
        return f"SeedStream({self.seed})"


def rng(seed, fn: str = "random"):
    """The generator of a random op: a node's SeedStream; from `seed` (an eager call: the same
    draws for the same seed); or, as Keras's Theano and CNTK backends do, from a seed drawn from
    NumPy's global generator (so np.random.seed makes a Keras script reproducible)."""
    if isinstance(seed, SeedStream):
        return seed.generator
    seed = V.seed(seed, fn)
    return np.random.default_rng(np.random.randint(1, 10 ** 7) if seed is None else seed)


def seeded_node(name: str):
    """Random op `name`'s build rule: a node given an int seed gets its own SeedStream instead."""
    def build(kern, *args, **kwargs):
        bound = REGISTRY[name].signature.bind(*args, **kwargs)
        seed = bound.arguments.get("seed")
        if seed is None or isinstance(seed, SeedStream):
            return None
        bound.arguments["seed"] = SeedStream(V.seed(seed, name.lstrip("_")))
        return _graph.make_node(REGISTRY[name], kern, bound.args, bound.kwargs)

    return build


# low + (high - low) * U and mean + scale * N, as TensorFlow computes them (NumPy's uniform and
# normal draw the same values but refuse high < low, a negative scale and infinite ranges).
def _uniform(r, low, high, shape):
    with np.errstate(all="ignore"):
        return low + (high - low) * r.random(shape)


def _normal(r, mean, scale, shape):
    with np.errstate(all="ignore"):
        return mean + scale * r.standard_normal(shape)


def random_uniform_variable(shape, low, high, dtype=None, name=None, seed=None):
    fn = "random_uniform_variable"
    dt, shape, name = V.dtype_name(dtype, fn), V.dims(shape, fn), V.name(name, fn)
    low, high = V.number(low, fn, "low"), V.number(high, fn, "high")
    return variable(_uniform(rng(seed, fn), low, high, shape), dt, name)


def random_normal_variable(shape, mean, scale, dtype=None, name=None, seed=None):
    fn = "random_normal_variable"
    dt, shape, name = V.dtype_name(dtype, fn), V.dims(shape, fn), V.name(name, fn)
    mean, scale = V.number(mean, fn, "mean"), V.number(scale, fn, "scale")
    return variable(_normal(rng(seed, fn), mean, scale, shape), dt, name)


# The random ops are graph ops when their shape is symbolic (K.shape(x), as Keras's noise and
# dropout layers pass it): each evaluation then draws new values, as a TensorFlow session does.
def _random_rule(fn, numbers):
    """The static shape rule of random op fn, whose other arguments must be plain numbers (no
    gradient flows to them): checked when the node is built, not when it first runs."""
    def rule(shape, *args, **kwargs):
        bound = inspect.signature(REGISTRY[fn].impl).bind(shape, *args, **kwargs)
        bound.apply_defaults()
        for name in numbers:
            V.number(bound.arguments[name], fn, name)
        if not isinstance(bound.arguments["seed"], SeedStream):
            V.seed(bound.arguments["seed"], fn)
        return _graph.static_dims(shape), V.dtype_name(bound.arguments["dtype"], fn)

    return rule


@op("random_uniform", shape=_random_rule("random_uniform", ("minval", "maxval")))
def random_uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    fn = "random_uniform"
    dt, shape = V.dtype_name(dtype, fn), V.dims(shape, fn)
    minval, maxval = V.number(minval, fn, "minval"), V.number(maxval, fn, "maxval")
    return _uniform(rng(seed, fn), minval, maxval, shape).astype(dt)


@op("random_normal", shape=_random_rule("random_normal", ("mean", "stddev")))
def random_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    fn = "random_normal"
    dt, shape = V.dtype_name(dtype, fn), V.dims(shape, fn)
    mean, stddev = V.number(mean, fn, "mean"), V.number(stddev, fn, "stddev")
    return _normal(rng(seed, fn), mean, stddev, shape).astype(dt)


@op("truncated_normal", shape=_random_rule("truncated_normal", ("mean", "stddev")))
def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normal samples redrawn until within two standard deviations of the mean."""
    fn = "truncated_normal"
    dt, shape = V.dtype_name(dtype, fn), V.dims(shape, fn)
    mean, stddev = V.number(mean, fn, "mean"), V.number(stddev, fn, "stddev")
    r = rng(seed, fn)
    out = r.standard_normal(shape)
    bad = np.abs(out) > 2
    while bad.any():
        out[bad] = r.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2
    return (out * stddev + mean).astype(dt)


@op("random_binomial", shape=_random_rule("random_binomial", ("p",)))
def random_binomial(shape, p=0.0, dtype=None, seed=None):
    fn = "random_binomial"
    dt, shape, p = V.dtype_name(dtype, fn), V.dims(shape, fn), V.number(p, fn, "p")
    return (rng(seed, fn).uniform(size=shape) < p).astype(dt)


for _name in ("random_uniform", "random_normal", "truncated_normal", "random_binomial"):
    REGISTRY[_name].build = seeded_node(_name)


def arange(start, stop=None, step=1, dtype="int32"):
    """tf.range semantics: arange(-5) is empty; float arguments give floats even for dtype int32."""
    fn = "arange"
    if isinstance(start, (Variable, Tensor)):
        start = eval(start)
    V.number(start, fn, "start")
    start = start.item() if isinstance(start, np.ndarray) else start
    if stop is not None:
        V.number(stop, fn, "stop")
    if V.number(step, fn, "step") == 0:
        raise ValueError(f"{fn}: step must not be 0")
    name = V.dtype_name(dtype, fn)
    if stop is None and start < 0:
        start = 0
    try:
        values = np.arange(start, step=step) if stop is None else np.arange(start, stop, step)
    except (ValueError, OverflowError) as e:  # a range too long for an array
        raise ValueError(f"{fn}: cannot make the range [{start}, {stop}) in steps of {step}: {e}") from None
    if dtype == "int32" and values.dtype.kind == "f":
        return values.astype(np.float32)
    return values.astype(name)


# ---------------------------------------------------------------------------------------------
# Gradient rules (kcore/_api/grad.py)


@gradient("identity")
def _identity_grad(B, out, g, x, name=None):
    return g, None



for _name in ("zeros_like", "ones_like", "shape", "size", "random_uniform", "random_normal", "truncated_normal",
              "random_binomial"):
    gradient(_name)(no_gradient)
