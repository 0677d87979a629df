"""Activations, losses and training-time helpers: relu, elu, softmax, softplus, softsign,
sigmoid, hard_sigmoid, tanh (native: the kernel providers' elementwise1 and softmax), the
cross-entropies, l2_normalize, bias_add (native addition), dropout, the learning phase switches,
stop_gradient and print_tensor (Keras 2.3 formulas)."""
from __future__ import annotations

import functools
import math

import numpy as np

from kcore import _graph
from kcore import _reference as ref
from kcore import _validate as V
from kcore._api.common import pointwise_rule, same_as_first, static_dtype, static_shape
from kcore._api.config import data_format as config_data_format
from kcore._api.config import epsilon, floatx, normalize_data_format
from kcore._api.elementwise import add, broadcast, unary, unary_op
from kcore._api.grad import builder_for, gradient
from kcore._api.state import learning_phase
from kcore._api.values import rng, seeded_node
from kcore._graph import Tensor
from kcore._kernels import ElementwiseKind as E
from kcore._ops import REGISTRY, op, run
from kcore._runtime import _core
from kcore._variables import Variable

PUBLIC = ("in_train_phase", "in_test_phase", "dropout")


@op(kernels=True, native=("elementwise1", E.relu), shape=pointwise_rule("relu"))
def relu(kern, x, alpha=0.0, max_value=None, threshold=0.0):
    """As Keras 2.3.1 on TensorFlow: max(x, 0), or x * (x > threshold) for a nonzero threshold;
    clipped as tf.clip_by_value(x, 0, max_value) when max_value is given (a negative one gives
    0); minus alpha * relu(threshold - x), in one native pass. Integer tensors keep their dtype,
    but for alpha alone (tf.nn.leaky_relu: float32); alpha with more, or a threshold, needs a
    float tensor."""
    a = V.tensor(x, "relu")
    alpha, threshold = V.number(alpha, "relu", "alpha"), V.number(threshold, "relu", "threshold")
    max_value = None if max_value is None else V.number(max_value, "relu", "max_value")
    if a.dtype.kind != "f":
        if a.dtype.kind not in "iu":
            raise TypeError(f"relu: expects a numeric tensor, got {a.dtype}")
        if alpha != 0 and max_value is None and threshold == 0:  # tf.nn.leaky_relu casts integers
            return unary(kern, E.relu, a.astype(np.float32), "relu", alpha=alpha, max_value=None, threshold=0.0)
        if alpha != 0 or threshold != 0:
            raise TypeError(f"relu: alpha (with max_value or threshold) and threshold need a float tensor, "
                            f"got {a.dtype}")
        if max_value is None or math.isnan(max_value):  # (NaN: no maximum, as the native kernel)
            return np.maximum(a, a.dtype.type(0))
        info = np.iinfo(a.dtype)  # the bound in range, truncated as tf.cast truncates it
        hi = info.max if max_value >= info.max else info.min if max_value <= info.min else int(max_value)
        return np.maximum(np.minimum(a, a.dtype.type(hi)), a.dtype.type(0))
    return unary(kern, E.relu, a, "relu", alpha=alpha, max_value=max_value, threshold=threshold)


@op(kernels=True, native=("elementwise1", E.elu), shape=pointwise_rule("elu"))
def elu(kern, x, alpha=1.0):
    """x where x > 0, else alpha * (exp(x) - 1)."""
    return unary(kern, E.elu, x, "elu", alpha=alpha)


@op(kernels=True, shape=pointwise_rule("softmax"))
def softmax(kern, x, axis=-1):
    """exp(x - max) / sum(exp(x - max)) along `axis` (one native pass per row; other axes are
    moved last and back)."""
    a = np.asarray(V.float_tensor(x, "softmax"))
    if a.ndim == 0:  # (rank 1 is one row, as tf.nn.softmax: Keras's activation is what refuses it)
        raise ValueError(f"softmax: cannot apply softmax to a tensor of rank 0 (shape {a.shape})")
    ax = _core.single_axis(-1 if axis is None else axis, a.ndim, "softmax")  # (None: the last axis, as tf.nn)
    rows = np.ascontiguousarray(np.moveaxis(a, ax, -1))
    r = kern.softmax(rows)
    return r if ax == a.ndim - 1 else np.ascontiguousarray(np.moveaxis(r, -1, ax))


softplus = unary_op(E.softplus, "log(1 + exp(x)), without overflow.")
softsign = unary_op(E.softsign, "x / (1 + |x|).")
sigmoid = unary_op(E.sigmoid, "1 / (1 + exp(-x)), without overflow (tiny results keep their precision).")
hard_sigmoid = unary_op(E.hard_sigmoid, "clip(0.2 x + 0.5, 0, 1), as Keras 2.3.1 on TensorFlow.")
tanh = unary_op(E.tanh, "Hyperbolic tangent.")


def _log_softmax(a, axis):
    m = np.max(a, axis=axis, keepdims=True)
    return a - m - np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True))


@op()
def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    fn = "categorical_crossentropy"
    t, o = V.float_tensor(target, fn, "target"), V.float_tensor(output, fn, "output")
    if t.shape != o.shape:
        raise ValueError(f"{fn}: target shape {t.shape} and output shape {o.shape} differ")
    from_logits, axis = V.flag(from_logits, fn, "from_logits"), _core.single_axis(axis, o.ndim, fn)
    with np.errstate(divide="ignore", invalid="ignore"):
        if from_logits:
            return (-np.sum(t * _log_softmax(o, axis), axis=axis)).astype(o.dtype)
        o = o / np.sum(o, axis=axis, keepdims=True)
        eps = o.dtype.type(epsilon())
        o = np.clip(o, eps, 1 - eps)
        return (-np.sum(t * np.log(o), axis=axis)).astype(o.dtype)


@op()
def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    fn = "sparse_categorical_crossentropy"
    o, t = V.float_tensor(output, fn, "output"), V.tensor(target, fn, "target")
    from_logits = V.flag(from_logits, fn, "from_logits")
    o = np.moveaxis(o, _core.single_axis(axis, o.ndim, fn), -1)
    if t.size != int(np.prod(o.shape[:-1])):
        raise ValueError(f"{fn}: target of shape {t.shape} does not hold one label per row of output "
                         f"{tuple(np.moveaxis(o, -1, axis).shape)} ({int(np.prod(o.shape[:-1]))} rows)")
    with np.errstate(invalid="ignore"):
        t = t.reshape(o.shape[:-1]).astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        if from_logits:
            logp = _log_softmax(o, -1)
        else:  # as TensorFlow: log(clipped) taken as logits, so the probabilities are renormalised
            eps = o.dtype.type(epsilon())
            logp = _log_softmax(np.log(np.clip(o, eps, 1 - eps)), -1)
    if t.size and (t.min() < 0 or t.max() >= o.shape[-1]):
        raise ValueError(f"sparse_categorical_crossentropy: labels must be in [0, {o.shape[-1]})")
    return (-np.take_along_axis(logp, t[..., None], axis=-1)[..., 0]).astype(o.dtype)


@op()
def binary_crossentropy(target, output, from_logits=False):
    fn = "binary_crossentropy"
    t, o = V.float_tensor(target, fn, "target"), V.float_tensor(output, fn, "output")
    if t.shape != o.shape:  # (tf.nn.sigmoid_cross_entropy_with_logits does not broadcast)
        raise ValueError(f"{fn}: target shape {t.shape} and output shape {o.shape} differ")
    from_logits = V.flag(from_logits, fn, "from_logits")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if not from_logits:
            eps = o.dtype.type(epsilon())
            o = np.clip(o, eps, 1 - eps)
            o = np.log(o / (1 - o))
        loss = np.maximum(o, 0) - o * t + np.log1p(np.exp(-np.abs(o)))
    return loss.astype(o.dtype)


@op(kernels=True)
def l2_normalize(kern, x, axis=None):
    """x / sqrt(max(sum(x**2, axis), 1e-12)) on the native ops (float16 computed in float32, so its
    sum of squares does not overflow)."""
    a = V.float_tensor(x, "l2_normalize")
    axes = _core.normalize_axes(axis, a.ndim, "l2_normalize")
    w = a if a.dtype != np.float16 else run("cast", kern, a, "float32")
    ss = run("sum", kern, run("square", kern, w), axes, True)
    norm = run("sqrt", kern, run("maximum", kern, ss, 1e-12))
    r = run("_divide", kern, w, norm)
    return r if r.dtype == a.dtype else run("cast", kern, r, a.dtype.name)


@op(kernels=True)
def bias_add(kern, x, bias, data_format=None):
    """x + bias along the channels (the tensor addition's kernel: native for one float dtype)."""
    fn = "bias_add"
    a, b = V.tensor(x, fn, "x"), V.tensor(bias, fn, "bias")
    data_format = config_data_format(data_format, fn)
    if b.ndim != 1 and b.ndim != a.ndim - 1:
        raise ValueError(f"bias_add: unexpected bias rank {b.ndim}; expected 1 or {a.ndim - 1} "
                         f"for x of shape {a.shape}")
    if data_format == "channels_first" and a.ndim > 2:
        b = b.reshape((1, b.shape[0]) + (1,) * (a.ndim - 2)) if b.ndim == 1 else np.moveaxis(b, -1, 0)[None]
    if broadcast(fn, a, b) != a.shape:
        raise ValueError(f"bias_add: bias of shape {np.shape(bias)} does not match the channels of x {a.shape} "
                         f"({data_format})")
    r = kern.elementwise(E.add, a, b)
    return r if r is not None else add(kern, a, b)




@op()
def stop_gradient(variables):
    """The values unchanged; K.gradients stops here (its rule passes no gradient)."""
    if isinstance(variables, (list, tuple)):
        return [V.tensor(v, "stop_gradient", "variables") for v in variables]
    return V.tensor(variables, "stop_gradient", "variables")


@op(shape=same_as_first, side_effect=True)
def print_tensor(x, message=""):
    """Prints message and x's value, returns x (as Keras's print_tensor)."""
    a = V.tensor(x, "print_tensor")
    print(message, a)
    return a


def in_train_phase(x, alt, training=None):
    """x in the training phase, else alt (callables are called). training defaults to
    K.learning_phase(): a fixed 0/1 picks at once; the learning-phase placeholder gives a node
    that picks when it is evaluated (marked _uses_learning_phase), as Keras on TensorFlow."""
    return _in_phase(x, alt, training, "in_train_phase")


def _in_phase(x, alt, training, fn):
    uses_learning_phase = training is None
    if training is None:
        training = learning_phase()
    if not isinstance(training, (Tensor, Variable)):
        chosen = x if V.flag(training, fn, "training") else alt
        return chosen() if callable(chosen) else chosen
    xv = x() if callable(x) else x
    av = alt() if callable(alt) else alt
    out = builder_for(training, xv, av).switch(training, xv, av)
    if uses_learning_phase and isinstance(out, Tensor):
        out._uses_learning_phase = True
    return out


def in_test_phase(x, alt, training=None):
    return _in_phase(alt, x, training, "in_test_phase")


def dropout(x, level, noise_shape=None, seed=None):
    """Zeros a fraction `level` of x and scales the rest by 1 / (1 - level): x times a random mask
    (a new one at every evaluation of a symbolic x, through which gradients flow)."""
    if not 0 <= V.number(level, "dropout", "level") < 1:
        raise ValueError(f"dropout: level must be in [0, 1), got {level!r}")
    V.seed(seed, "dropout")
    if noise_shape is not None and not _graph.contains_symbolic(noise_shape):  # (else checked when run)
        V.dims(noise_shape, "dropout", "noise_shape", unknown=True)
    if _graph.contains_symbolic(x):
        B = builder_for(x)
        return B._multiply(x, B._dropout_mask(x, level, noise_shape, seed))
    a = V.float_tensor(x, "dropout")
    return (a * dropout_mask(a, level, noise_shape, seed)).astype(a.dtype)


@op("_dropout_mask", shape=lambda x, level, noise_shape=None, seed=None: (static_shape(x), _float_name(x)))
def dropout_mask(x, level, noise_shape=None, seed=None):
    a = V.float_tensor(x, "dropout")
    shape = a.shape
    if noise_shape is not None:
        dims = V.dims(noise_shape, "dropout", "noise_shape", unknown=True)
        shape = tuple(n if d is None else d for n, d in zip(a.shape, dims, strict=False))
        if len(dims) != a.ndim or any(d not in (1, n) for d, n in zip(shape, a.shape, strict=True)):
            raise ValueError(f"dropout: noise_shape {tuple(noise_shape)} does not broadcast to x's shape {a.shape}")
    keep = rng(seed, "dropout").uniform(size=shape) >= level
    return np.broadcast_to(keep / a.dtype.type(1 - level), a.shape).astype(a.dtype)


REGISTRY["_dropout_mask"].build = seeded_node("_dropout_mask")


def _float_name(x):
    dt = static_dtype(x)
    return dt if dt.startswith("float") else floatx()


# ---------------------------------------------------------------------------------------------
# Gradient rules (kcore/_api/grad.py)


@op("_relu_grad", kernels=True, shape=lambda g, x, *rest: (static_shape(x), static_dtype(g)))
def relu_grad(kern, g, x, alpha=0.0, max_value=None, threshold=0.0):
    """d relu / dx times g (kcore/_reference.py's relu_slope_exact): one pass of the provider's
    relu_grad kind over g and x, or g times NumPy's slope where it declines them."""
    a, gr = np.asarray(x), np.asarray(g)
    params = (alpha, threshold) if max_value is None else (alpha, threshold, max_value)
    # (the native kind reads NaN as a parameter left out: NaN ones take the reference's comparisons)
    if a.dtype == gr.dtype and a.dtype.kind == "f" and a.shape == gr.shape and not np.isnan(params).any():
        top = None if max_value is None else float(max_value)
        r = kern.elementwise(E.relu_grad, gr, a, float(alpha), top, float(threshold))
        if r is not None:
            return r
    return gr * ref.relu_slope_exact(a, gr.dtype, alpha, max_value, threshold)


@gradient("relu")
def _relu_gradient(B, out, g, x, alpha=0.0, max_value=None, threshold=0.0):
    return B._relu_grad(g, x, alpha, max_value, threshold), None, None, None


@gradient("sigmoid")
def _sigmoid_grad(B, out, g, x):
    return (B._multiply(g, B._multiply(out, B._subtract(1.0, out))),)


@gradient("tanh")
def _tanh_grad(B, out, g, x):
    return (B._multiply(g, B._subtract(1.0, B.square(out))),)


@gradient("softmax")
def _softmax_grad(B, out, g, x, axis=-1):
    axis = -1 if axis is None else axis  # (None is the last axis, as the forward pass reads it)
    return B._multiply(out, B._subtract(g, B.sum(B._multiply(g, out), axis, True))), None


@gradient("softplus")
def _softplus_grad(B, out, g, x):
    return (B._multiply(g, B.sigmoid(x)),)


@gradient("softsign")
def _softsign_grad(B, out, g, x):
    return (B._divide(g, B.square(B._add(B.abs(x), 1.0))),)


@gradient("elu")
def _elu_grad(B, out, g, x, alpha=1.0):
    return B._multiply(g, B.switch(B.greater(x, 0.0), B.ones_like(x), B._add(out, alpha))), None


@functools.cache
def _hard_sigmoid_bounds(dtype: str) -> tuple:
    """The least and the greatest x of dtype whose 0.2 x + 0.5 (as the native kernel computes it:
    in float32 for float16, rounded after each step) lies in [0, 1]: where tf.clip_by_value's
    gradient passes in Keras 2.3.1's hard_sigmoid (at x = 2.5000002 in float32, 1.0 exactly)."""
    dt = np.dtype(dtype)
    wide = np.float64 if dt == np.float64 else np.float32

    def f(x):
        return wide(wide(x) * wide(0.2)) + wide(0.5)

    up, down = dt.type(np.inf), dt.type(-np.inf)
    hi = dt.type(2.5)
    while f(np.nextafter(hi, up)) <= 1:
        hi = np.nextafter(hi, up)
    while f(hi) > 1:
        hi = np.nextafter(hi, down)
    lo = dt.type(-2.5)
    while f(np.nextafter(lo, down)) >= 0:
        lo = np.nextafter(lo, down)
    while f(lo) < 0:
        lo = np.nextafter(lo, up)
    return float(lo), float(hi)


@gradient("hard_sigmoid")
def _hard_sigmoid_grad(B, out, g, x):
    dt = static_dtype(x)
    lo, hi = _hard_sigmoid_bounds(dt if dt in ("float16", "float32", "float64") else floatx())
    inside = B._multiply(B.cast(B.greater_equal(x, lo), dt), B.cast(B.less_equal(x, hi), dt))
    return (B._multiply(g, B._multiply(inside, 0.2)),)


@op("_bias_grad", kernels=True, shape=lambda g, bias, data_format=None: (static_shape(bias), static_dtype(g)))
def bias_grad(kern, g, bias, data_format=None):
    """bias_add's gradient for the bias: g summed over every axis but the bias's."""
    gr, b = np.asarray(g), np.asarray(bias)
    if normalize_data_format(data_format) == "channels_first" and gr.ndim > 2:
        gr = np.moveaxis(gr, 1, -1)
    return np.reshape(run("sum", kern, gr.reshape((-1,) + b.shape), 0, False), b.shape)


@gradient("bias_add")
def _bias_add_grad(B, out, g, x, bias, data_format=None):
    return g, B._bias_grad(g, bias, data_format), None


@gradient("_dropout_mask")
def _dropout_mask_grad(B, out, g, x, level, noise_shape=None, seed=None):
    return None, None, None, None


@op("_crossentropy_grad", shape=lambda g, target, output, kind, wrt, *rest:
    (static_shape(output if wrt == "output" else target), static_dtype(output)))
def crossentropy_grad(g, target, output, kind, wrt, from_logits=False, axis=-1):
    """d loss / d output (or d target) times g, for the cross-entropies as computed above
    (renormalised and clipped probabilities; no gradient where the clip holds)."""
    t, o = np.asarray(target, np.float64), np.asarray(output, np.float64)
    gr = np.asarray(g, np.float64)
    eps = epsilon()
    dtype = np.asarray(output).dtype
    with np.errstate(divide="ignore", invalid="ignore"):
        if wrt == "target":
            if kind == "binary":
                z = o if from_logits else np.log(np.clip(o, eps, 1 - eps) / (1 - np.clip(o, eps, 1 - eps)))
                return (-gr * z).astype(dtype)
            if from_logits:
                m = np.max(o, axis=axis, keepdims=True)
                logp = o - m - np.log(np.sum(np.exp(o - m), axis=axis, keepdims=True))
            else:
                logp = np.log(np.clip(o / np.sum(o, axis=axis, keepdims=True), eps, 1 - eps))
            return (-np.expand_dims(gr, axis) * logp).astype(dtype)
        if kind == "binary":
            if from_logits:
                d = 1 / (1 + np.exp(-o)) - t
            else:
                c = np.clip(o, eps, 1 - eps)
                d = (c - t) / (c * (1 - c)) * ((o > eps) & (o < 1 - eps))
            return (gr * d).astype(dtype)
        gx = np.expand_dims(gr, axis)
        if from_logits:
            m = np.max(o, axis=axis, keepdims=True)
            e = np.exp(o - m)
            d = e / np.sum(e, axis=axis, keepdims=True) * np.sum(t, axis=axis, keepdims=True) - t
        else:
            s = np.sum(o, axis=axis, keepdims=True)
            n = o / s
            dn = -t / np.clip(n, eps, 1 - eps) * ((n > eps) & (n < 1 - eps))
            d = (dn - np.sum(dn * n, axis=axis, keepdims=True)) / s
        return (gx * d).astype(dtype)


@gradient("categorical_crossentropy")
def _cce_grad(B, out, g, target, output, from_logits=False, axis=-1):
    return (B._crossentropy_grad(g, target, output, "categorical", "target", from_logits, axis),
            B._crossentropy_grad(g, target, output, "categorical", "output", from_logits, axis), None, None)


@gradient("binary_crossentropy")
def _bce_grad(B, out, g, target, output, from_logits=False):
    return (B._crossentropy_grad(g, target, output, "binary", "target", from_logits),
            B._crossentropy_grad(g, target, output, "binary", "output", from_logits), None)


@gradient("stop_gradient")
def _stop_gradient_grad(B, out, g, variables):
    return (None,)


@gradient("print_tensor")
def _print_tensor_grad(B, out, g, x, message=""):
    return g, None


@op("_sparse_crossentropy_grad", shape=lambda g, target, output, *rest: (static_shape(output), static_dtype(output)))
def sparse_crossentropy_grad(g, target, output, from_logits=False, axis=-1):
    """d sparse_categorical_crossentropy / d output times g, for the loss as computed above."""
    o = np.moveaxis(np.asarray(output, np.float64), axis, -1)
    t = np.asarray(target).reshape(o.shape[:-1]).astype(np.int64)
    gr = np.asarray(g, np.float64)[..., None]
    hot = np.zeros_like(o)
    np.put_along_axis(hot, t[..., None], 1.0, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        if from_logits:
            e = np.exp(o - o.max(axis=-1, keepdims=True))
            d = e / e.sum(axis=-1, keepdims=True) - hot
        else:
            eps = epsilon()
            c = np.clip(o, eps, 1 - eps)
            d = (1 / c.sum(axis=-1, keepdims=True) - hot / c) * ((o > eps) & (o < 1 - eps))
    return np.moveaxis(gr * d, -1, axis).astype(np.asarray(output).dtype)


@gradient("sparse_categorical_crossentropy")
def _sparse_cce_grad(B, out, g, target, output, from_logits=False, axis=-1):
    return None, B._sparse_crossentropy_grad(g, target, output, from_logits, axis), None, None



@gradient("l2_normalize")
def _l2_normalize_grad(B, out, g, x, axis=None):
    squares = B.sum(B.square(x), axis, True)
    norm = B.sqrt(B.maximum(squares, 1e-12))
    along = B._multiply(B._multiply(out, B.sum(B._multiply(g, out), axis, True)),
                        B.cast(B.greater(squares, 1e-12), static_dtype(x)))  # (no pull back where clamped)
    return B._divide(B._subtract(g, along), norm), None


# ---------------------------------------------------------------------------------------------
# TensorFlow computes a loss of a softmax's (a sigmoid's) output from that op's logits: no
# clipping, and gradients where the probabilities saturate. In a graph, kcore does the same.


def _activation_input(output, name, axis):
    """x when output is the graph node name(x) (a softmax over the loss's last axis), else None."""
    if not isinstance(output, Tensor) or output.op is None or output.op.name != name:
        return None
    bound = output.op.signature.bind(*output.args, **output.kwargs)
    bound.apply_defaults()
    if name == "softmax":
        nd, ax = output.ndim, bound.arguments["axis"]
        if nd is None or not isinstance(ax, int) or not isinstance(axis, int) or not -nd <= axis < nd \
                or ax % nd != nd - 1 or axis % nd != nd - 1:
            return None
    return bound.arguments["x"]


def _on_logits(loss, activation):
    def build(kern, target, output, from_logits=False, axis=-1):
        logits = None if from_logits else _activation_input(output, activation, axis)
        if logits is None:
            return None
        kwargs = {"from_logits": True} if loss == "binary_crossentropy" else {"from_logits": True, "axis": axis}
        return _graph.apply(REGISTRY[loss], kern, (target, logits), kwargs)

    return build


for _loss, _activation in (("categorical_crossentropy", "softmax"), ("sparse_categorical_crossentropy", "softmax"),
                           ("binary_crossentropy", "sigmoid")):
    REGISTRY[_loss].build = _on_logits(_loss, _activation)
