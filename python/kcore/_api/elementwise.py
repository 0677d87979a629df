"""Elementwise ops: arithmetic, maximum, minimum and the comparisons (the tensor operators;
native for two operands of one float dtype, broadcast as NumPy does), exp, log, clip, square, abs,
sqrt, round, sign and negation (native for float16/32/64; NumPy for integers), and pow, sin and
cos (NumPy). The input dtype is kept (the comparisons give bool)."""
from __future__ import annotations

import numbers

import numpy as np

from kcore import _validate as V
from kcore._api.common import binary_rule, broadcast_shapes, pointwise_rule, static_dtype, static_shape
from kcore._api.grad import gradient, no_gradient
from kcore._graph import Operators, Tensor
from kcore._kernels import ElementwiseKind as E
from kcore._ops import op
from kcore._reference import ONE_ROUNDING

PUBLIC = ()


def _is_number(v) -> bool:
    return isinstance(v, (numbers.Real, np.bool_))


def pair(x, y, fn):
    """Two operands with Keras/TF dtype rules: a Python number takes the other's dtype; a NumPy
    scalar meeting a Python number is the tensor (a graph's 0-d values are NumPy scalars: K.mean(x)
    + 1 stays float32)."""
    xn, yn = _is_number(x), _is_number(y)
    if xn and yn and isinstance(x, np.generic) != isinstance(y, np.generic):
        xn, yn = not isinstance(x, np.generic), not isinstance(y, np.generic)
    xa = V.as_array(x, fn) if not xn else None
    ya = V.as_array(y, fn) if not yn else None
    if xa is None and ya is None:
        xa, ya = V.as_array(x, fn), V.as_array(y, fn)
    elif xa is None:
        V.check_numeric(ya, fn)
        xa = V.scalar_as(x, ya.dtype, fn, "x")
    elif ya is None:
        V.check_numeric(xa, fn)
        ya = V.scalar_as(y, xa.dtype, fn, "y")
    for a in (xa, ya):
        V.check_numeric(a, fn)
    return xa, ya


def broadcast(fn, *arrays) -> tuple:
    """The shape the operands broadcast to; ValueError naming fn when they do not."""
    shapes = [np.shape(a) for a in arrays]
    if all(s == shapes[0] for s in shapes):  # (np.broadcast_shapes costs more than the ops it guards)
        return shapes[0]
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"{fn}: operands could not be broadcast together with shapes "
                         f"{' '.join(map(str, shapes))}") from None


def _keep(result, like):
    r = np.asarray(result)
    return r.astype(like.dtype, copy=False) if r.dtype != like.dtype and r.dtype.kind == like.dtype.kind == "f" else r


# The largest finite value of each float dtype: a Python number within it converts without
# overflow, so the common tensor-and-number call skips pair's checks (scalar_as's conversion).
_FLOAT_MAX = {np.dtype(t): float(np.finfo(t).max) for t in (np.float16, np.float32, np.float64)}


def _number_as(v, a):
    """v (a Python int or float) as a 0-d array of a's dtype, as scalar_as converts it, where a is a
    float array and v lies in its dtype's range; else None."""
    if type(v) in (float, int) and type(a) is np.ndarray:
        top = _FLOAT_MAX.get(a.dtype)
        if top is not None and -top <= v <= top:
            return np.asarray(float(v), a.dtype)
    return None


def _arithmetic(kern, kind, ufunc, x, y):
    n = _number_as(y, x)
    if n is not None:
        r = kern.elementwise(kind, x, n)
        if r is not None:
            return r
    else:
        n = _number_as(x, y)
        if n is not None:
            r = kern.elementwise(kind, n, y)
            if r is not None:
                return r
    a, b = pair(x, y, kind.name)
    r = kern.elementwise(kind, a, b) if a is not x or b is not y else None  # see _ops.py: entries
    if r is not None:
        return r
    broadcast(kind.name, a, b)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return ufunc(a, b)


@op("_add", kernels=True, native=("elementwise", E.add), shape=binary_rule("add", np.add))
def add(kern, x, y):
    return _arithmetic(kern, E.add, np.add, x, y)


@op("_subtract", kernels=True, native=("elementwise", E.subtract), shape=binary_rule("subtract", np.subtract))
def subtract(kern, x, y):
    return _arithmetic(kern, E.subtract, np.subtract, x, y)


@op("_multiply", kernels=True, native=("elementwise", E.multiply), shape=binary_rule("multiply", np.multiply))
def multiply(kern, x, y):
    return _arithmetic(kern, E.multiply, np.multiply, x, y)


@op("_divide", kernels=True, native=("elementwise", E.divide), shape=binary_rule("divide", np.divide))
def divide(kern, x, y):
    return _arithmetic(kern, E.divide, np.divide, x, y)


def _ternary_rule(x, y, z):
    shape = broadcast_shapes(broadcast_shapes(static_shape(x), static_shape(y), "multiply_add"), static_shape(z),
                             "multiply_add")
    return shape, static_dtype(x)


@op("_multiply_add", kernels=True, native=("elementwise3", E.multiply_add), shape=_ternary_rule)
def multiply_add(kern, x, y, z):
    """x * y + z in one pass (two roundings, as the separate ops): batch normalization's x * scale + shift."""
    a, b = pair(x, y, "multiply_add")
    c = V.scalar_as(z, a.dtype, "multiply_add", "z") if _is_number(z) else V.tensor(z, "multiply_add")
    r = kern.elementwise3(E.multiply_add, a, b, c) if a is not x or b is not y or c is not z else None
    if r is not None:
        return r
    with np.errstate(all="ignore"):
        return _keep(a * b + c, a)


@op("_power", shape=binary_rule("power", np.power))
def power(x, y):
    a, b = pair(x, y, "power")
    broadcast("power", a, b)
    with np.errstate(all="ignore"):
        return np.power(a, b)


def _getitem_rule(x, key):
    """A boolean mask's selection has as many rows as the mask has true values, known only when
    it runs: (None, *x's dims after the mask's). Other keys: None (probe)."""
    if isinstance(key, Tensor) and np.dtype(key.dtype) == np.bool_ and key.shape is not None:
        shape = static_shape(x)
        if shape is not None and len(key.shape) <= len(shape):
            return (None, *shape[len(key.shape):]), static_dtype(x)
    return None


@op("_getitem", shape=_getitem_rule)
def getitem(x, key):
    return np.asarray(x)[key]


def unary(kern, kind, x, fn: str, **params):
    """exp, log and the activations on the provider's elementwise1 (its parameters, in Keras's
    order, as Python numbers; relu's max_value may be None; float16/32/64 of any layout; other
    dtypes become floatx)."""
    a = np.asarray(V.float_tensor(x, fn))
    ps = tuple(None if p is None and name == "max_value" else V.number(p, fn, name) for name, p in params.items())
    r = kern.elementwise1(kind, a, *ps)
    if r is None:  # (the providers take every plain float array with number parameters)
        raise TypeError(f"{fn}: cannot compute on {type(x).__name__} of dtype {a.dtype}")
    return r


def unary_op(kind, doc: str):
    """Registers op `kind.name(x)`: the one-operand function `kind` of the native elementwise family."""
    name = kind.name

    def impl(kern, x):
        return unary(kern, kind, x, name)

    impl.__name__ = impl.__qualname__ = name
    impl.__doc__ = doc
    return op(name, kernels=True, native=("elementwise1", kind), shape=pointwise_rule(name))(impl)


exp = unary_op(E.exp, "exp(x), within 1.5 ulps (float16 correctly rounded).")
log = unary_op(E.log, "Natural logarithm: -inf at 0, NaN below.")


def exact_op(kind, ufunc, doc: str, name: str | None = None, to_float: bool = False):
    """Registers op `name` (kind's name by default): a one-operand function that rounds at most
    once, native for float16/32/64 (the same bits as NumPy's `ufunc` there); other dtypes keep
    theirs through `ufunc`, or become floatx first where `to_float`."""
    fn = kind.name

    def impl(kern, x):
        a = V.float_tensor(x, fn) if to_float else V.tensor(x, fn)
        r = kern.elementwise1(kind, a) if a is not x and a.dtype.kind == "f" else None  # see _ops.py: entries
        if r is not None:
            return r
        if a.dtype.kind == "b" or (a.dtype.kind == "u" and fn == "negative"):  # (TensorFlow has no such kernels)
            raise TypeError(f"{fn}: cannot compute on {a.dtype} tensors; cast to a float or signed integer dtype first")
        return ufunc(a)

    impl.__name__ = impl.__qualname__ = fn
    impl.__doc__ = doc
    return op(name or fn, kernels=True, native=("elementwise1", kind), shape=pointwise_rule(name or fn))(impl)


square = exact_op(E.square, np.square, "x * x.")
abs_ = exact_op(E.abs, np.abs, "|x|.")
sqrt = exact_op(E.sqrt, ONE_ROUNDING["sqrt"], "Square root; negative inputs are clipped to 0 first, as Keras on "
                "TensorFlow.", to_float=True)
round_ = exact_op(E.round, np.round, "Round half to even, as TensorFlow.")
sign = exact_op(E.sign, np.sign, "-1, 0 or 1 by the sign of x (NaN stays NaN).")
negative = exact_op(E.negative, np.negative, "-x.", name="_negative")


@op("pow")
def pow_(x, a):
    xa = V.tensor(x, "pow")
    exponent = V.scalar_as(a, xa.dtype, "pow", "a") if _is_number(a) else V.tensor(a, "pow", "a")
    broadcast("pow", xa, exponent)
    with np.errstate(all="ignore"):
        return _keep(np.power(xa, exponent), xa)


@op(kernels=True)
def clip(kern, x, min_value, max_value):
    """Clip to [min_value, max_value]; None means unbounded; max < min takes max = min. NaN stays."""
    a = V.tensor(x, "clip")
    lo = -np.inf if min_value is None else V.real(min_value, "clip", "min_value")
    hi = np.inf if max_value is None else V.real(max_value, "clip", "max_value")
    if _is_number(lo) and _is_number(hi) and hi < lo:
        hi = lo
    broadcast("clip", a, lo, hi)
    if a.dtype.kind == "f":
        with np.errstate(all="ignore"):
            r = kern.elementwise3(E.clip, a, np.asarray(lo, a.dtype), np.asarray(hi, a.dtype))
        if r is not None:
            return r
    if a.dtype.kind != "f":  # bounds in x's dtype, as Keras's TensorFlow backend converts them
        lo, hi = (_integral_bound(b, a.dtype, what) for b, what in ((lo, "min_value"), (hi, "max_value")))
    return _keep(np.clip(a, lo, hi), a)


def _integral_bound(b, dtype, what):
    """A clip bound for integer (or bool) x: in x's dtype, infinities at its range's ends; a bound
    with a fraction is a TypeError (TensorFlow does not convert 0.5 to int32)."""
    lo, hi = (int(np.iinfo(dtype).min), int(np.iinfo(dtype).max)) if dtype.kind in "iu" else (0, 1)
    v = np.asarray(b)
    if v.dtype.kind == "f":
        finite = np.isfinite(v)
        if np.any(v[finite] != np.floor(v[finite])) or np.any(np.isnan(v)):
            raise TypeError(f"clip: {what} {b!r} is not a whole number, for x of dtype {dtype}")
    elif v.dtype.kind in "iub":
        return np.clip(v, lo, hi).astype(dtype)  # (exact: within the ints NumPy compares)
    # Floats (and Python ints past int64) compared as Python numbers: float(2**63 - 1) is 2**63.
    out = [lo if e < lo else hi if e > hi else int(e) for e in v.reshape(-1).tolist()]
    return np.array(out, dtype=dtype).reshape(v.shape)


def _comparison(kind, ufunc):
    """A comparison (bool result) on the native elementwise kernels, NumPy for other dtypes."""
    name = kind.name

    def impl(kern, x, y):
        return _arithmetic(kern, kind, ufunc, x, y)

    impl.__name__ = impl.__qualname__ = name
    impl.__doc__ = f"Elementwise {name} (bool result; NaN compares unequal)."
    return op(name, kernels=True, native=("elementwise", kind), shape=binary_rule(name, ufunc))(impl)


for _kind, _ufunc in ((E.equal, np.equal), (E.not_equal, np.not_equal), (E.greater, np.greater),
                      (E.greater_equal, np.greater_equal), (E.less, np.less), (E.less_equal, np.less_equal)):
    _comparison(_kind, _ufunc)


@op(kernels=True, native=("elementwise", E.maximum), shape=binary_rule("maximum", np.maximum))
def maximum(kern, x, y):
    """Elementwise maximum (NaN propagates)."""
    return _arithmetic(kern, E.maximum, np.maximum, x, y)


@op(kernels=True, native=("elementwise", E.minimum), shape=binary_rule("minimum", np.minimum))
def minimum(kern, x, y):
    """Elementwise minimum (NaN propagates)."""
    return _arithmetic(kern, E.minimum, np.minimum, x, y)


@op()
def sin(x):
    return np.sin(V.float_tensor(x, "sin"))


@op()
def cos(x):
    return np.cos(V.float_tensor(x, "cos"))


# ---------------------------------------------------------------------------------------------
# Gradient rules (kcore/_api/grad.py): one per positional argument; broadcasting undone by _sum_to.


@gradient("_add")
def _add_grad(B, out, g, x, y):
    return B._sum_to(g, x), B._sum_to(g, y)


@gradient("_subtract")
def _subtract_grad(B, out, g, x, y):
    return B._sum_to(g, x), B._sum_to(B._negative(g), y)


@gradient("_multiply")
def _multiply_grad(B, out, g, x, y):
    return B._sum_to(B._multiply(g, y), x), B._sum_to(B._multiply(g, x), y)


@gradient("_divide")
def _divide_grad(B, out, g, x, y):
    return B._sum_to(B._divide(g, y), x), B._sum_to(B._negative(B._divide(B._multiply(g, out), y)), y)


def _exponent_grad(B, out, g, x, y):
    """d x**y / dy times g: out * log x where x > 0, else 0 (TensorFlow's Pow gradient: no false
    singularity at x = 0)."""
    log_x = B.switch(B.greater(x, 0.0), B.log(x), B.zeros_like(x))
    return B._sum_to(B._multiply(g, B._multiply(out, log_x)), y)


@gradient("_power")
def _power_grad(B, out, g, x, y):
    gx = B._multiply(g, B._multiply(y, B._power(x, B._subtract(y, 1))))
    return B._sum_to(gx, x), _exponent_grad(B, out, g, x, y)


@gradient("pow")
def _pow_grad(B, out, g, x, a):
    ga = _exponent_grad(B, out, g, x, a) if isinstance(a, Operators) else None
    return B._sum_to(B._multiply(g, B._multiply(a, B.pow(x, a - 1))), x), ga


@gradient("_negative")
def _negative_grad(B, out, g, x):
    return (B._negative(g),)


@gradient("square")
def _square_grad(B, out, g, x):
    return (B._multiply(g, B._multiply(x, 2)),)


@gradient("sqrt")
def _sqrt_grad(B, out, g, x):
    # x is clipped to [0, inf) first (Keras 2): below 0 (and NaN) the gradient is 0, not g / 0
    return (B.switch(B.greater_equal(x, 0.0), B._divide(B._multiply(g, 0.5), out), B.zeros_like(x)),)


@gradient("exp")
def _exp_grad(B, out, g, x):
    return (B._multiply(g, out),)


@gradient("log")
def _log_grad(B, out, g, x):
    return (B._divide(g, x),)


@gradient("abs")
def _abs_grad(B, out, g, x):
    return (B._multiply(g, B.sign(x)),)


@gradient("sin")
def _sin_grad(B, out, g, x):
    return (B._multiply(g, B.cos(x)),)


@gradient("cos")
def _cos_grad(B, out, g, x):
    return (B._negative(B._multiply(g, B.sin(x))),)


@gradient("clip")
def _clip_grad(B, out, g, x, min_value, max_value):
    # g where x lies in [min_value, max_value] (inclusive, as tf.clip_by_value's minimum and
    # maximum pass it), the bounds as the forward pass takes them
    dt = static_dtype(x)
    lo = -np.inf if min_value is None else min_value
    hi = np.inf if max_value is None else max_value
    if _is_number(lo) and _is_number(hi) and hi < lo:
        hi = lo
    inside = B._multiply(B.cast(B.greater_equal(x, lo), dt), B.cast(B.less_equal(x, hi), dt))
    return B._multiply(g, inside), None, None


@gradient("maximum")
def _maximum_grad(B, out, g, x, y):
    dt = static_dtype(out)
    return (B._sum_to(B._multiply(g, B.cast(B.greater_equal(x, y), dt)), x),
            B._sum_to(B._multiply(g, B.cast(B.less(x, y), dt)), y))


@gradient("minimum")
def _minimum_grad(B, out, g, x, y):
    dt = static_dtype(out)
    return (B._sum_to(B._multiply(g, B.cast(B.less_equal(x, y), dt)), x),
            B._sum_to(B._multiply(g, B.cast(B.greater(x, y), dt)), y))



for _name in ("round", "sign", "equal", "not_equal", "greater", "greater_equal", "less", "less_equal"):
    gradient(_name)(no_gradient)


def _reads_each_once(key) -> bool:
    """Whether x[key] reads no element twice: basic indexing (ints, slices, None, Ellipsis) and at
    most one boolean mask; integer arrays may repeat an index."""
    parts = key if type(key) is tuple else (key,)
    masks = 0
    for p in parts:
        if isinstance(p, np.ndarray) and p.dtype == np.bool_:
            masks += 1
        elif not (p is None or p is Ellipsis or isinstance(p, (slice, bool, int, np.integer))):
            return False
    return masks <= 1


def _getitem_grad_rule(gs, x, keys):
    return static_shape(x), static_dtype(gs[0])


def _merge_getitem_grads(B, a, b):
    """Two placements into the same x (a tensor sliced once per time step): one node, so the sum
    of the reads' gradients costs one array of x's size rather than one per read."""
    (ga, xa, ka), (gb, xb, kb) = a.args, b.args
    if xa is not xb or static_dtype(a) != static_dtype(b):
        return None
    return B._getitem_grad([*ga, *gb], xa, [*ka, *kb])


@op("_getitem_grad", shape=_getitem_grad_rule, merge=_merge_getitem_grads)
def getitem_grad(gs, x, keys):
    """The gradients gs of the reads x[key] (one per key) placed back where each was read, in
    order, and summed (added where an index repeats)."""
    out = np.zeros(np.shape(x), dtype=np.asarray(gs[0]).dtype)
    for i, (g, key) in enumerate(zip(gs, keys, strict=True)):
        if not _reads_each_once(key):
            np.add.at(out, key, np.asarray(g))  # (unbuffered: ~20x slower than one write per element)
        elif i == 0:
            out[key] = g
        else:
            out[key] += g
    return out


@gradient("_getitem")
def _getitem_gradient(B, out, g, x, key):
    return B._getitem_grad([g], x, [key]), None


@gradient("_getitem_grad")
def _getitem_grad_gradient(B, out, g, gs, x, keys):
    return [B._getitem(g, key) for key in keys], None, None


@gradient("_multiply_add")
def _multiply_add_grad(B, out, g, x, y, z):
    return B._sum_to(B._multiply(g, y), x), B._sum_to(B._multiply(g, x), y), B._sum_to(g, z)
