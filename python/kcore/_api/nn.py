"""Activations, losses and training-time helpers: relu, elu, softmax, softplus, softsign,
sigmoid, hard_sigmoid, tanh, the cross-entropies, l2_normalize, bias_add, dropout, the learning
phase switches, stop_gradient and print_tensor (NumPy, Keras 2.3 formulas)."""
from __future__ import annotations

import numpy as np

from kcore import _graph
from kcore._api.common import arr, float_arr, same_as_first
from kcore._api.config import epsilon, normalize_data_format
from kcore._api.state import learning_phase
from kcore._api.values import rng
from kcore._graph import Tensor
from kcore._ops import REGISTRY, op
from kcore._variables import Variable

PUBLIC = ("in_train_phase", "in_test_phase")


@op()
def relu(x, alpha=0.0, max_value=None, threshold=0.0):
    """As Keras 2.3.1 on TensorFlow: x where x > threshold, else 0 (x * (x > threshold)); clipped
    to [0, max_value] when max_value is given; minus alpha * relu(threshold - x). Integer tensors
    keep their dtype (alpha and threshold then need a float tensor)."""
    a = arr(x, "relu")
    if a.dtype.kind != "f":
        if a.dtype.kind not in "iu":
            raise TypeError(f"relu: expects a numeric tensor, got {a.dtype}")
        if alpha != 0 or threshold != 0:
            raise TypeError(f"relu: alpha and threshold need a float tensor, got {a.dtype}")
        out = np.maximum(a, a.dtype.type(0))
        return out if max_value is None else np.minimum(out, np.asarray(max_value).astype(a.dtype))
    t = a.dtype.type(threshold)
    with np.errstate(invalid="ignore", over="ignore"):
        negative = np.maximum(t - a, a.dtype.type(0))  # from x itself, before it is changed
        out = a * (a > t).astype(a.dtype) if threshold != 0 else np.maximum(a, a.dtype.type(0))
        if max_value is not None:
            out = np.clip(out, a.dtype.type(0), a.dtype.type(max_value))
        if alpha != 0:
            out = out - a.dtype.type(alpha) * negative
    return out.astype(a.dtype, copy=False)


@op()
def elu(x, alpha=1.0):
    a = float_arr(x, "elu")
    with np.errstate(over="ignore"):
        return np.where(a > 0, a, a.dtype.type(alpha) * np.expm1(np.minimum(a, 0))).astype(a.dtype)


@op()
def softmax(x, axis=-1):
    a = float_arr(x, "softmax")
    if a.ndim <= 1:
        raise ValueError(f"softmax: cannot apply softmax to a tensor of rank {a.ndim} (shape {a.shape})")
    m = np.max(a, axis=axis, keepdims=True)
    e = np.exp(a - m)
    return (e / np.sum(e, axis=axis, keepdims=True)).astype(a.dtype)


@op()
def softplus(x):
    a = float_arr(x, "softplus")
    return np.logaddexp(a.dtype.type(0), a).astype(a.dtype)


@op()
def softsign(x):
    a = float_arr(x, "softsign")
    return (a / (1 + np.abs(a))).astype(a.dtype)


@op()
def sigmoid(x):
    a = float_arr(x, "sigmoid")
    e = np.exp(-np.abs(a))  # never overflows
    return np.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype)


@op()
def hard_sigmoid(x):
    a = float_arr(x, "hard_sigmoid")
    return np.clip(a * a.dtype.type(0.2) + a.dtype.type(0.5), 0, 1).astype(a.dtype)


@op()
def tanh(x):
    return np.tanh(float_arr(x, "tanh"))


def _log_softmax(a, axis):
    m = np.max(a, axis=axis, keepdims=True)
    return a - m - np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True))


@op()
def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    t = float_arr(target, "categorical_crossentropy")
    o = float_arr(output, "categorical_crossentropy")
    if t.shape != o.shape:
        raise ValueError(f"categorical_crossentropy: target shape {t.shape} and output shape {o.shape} differ")
    with np.errstate(divide="ignore", invalid="ignore"):
        if from_logits:
            return (-np.sum(t * _log_softmax(o, axis), axis=axis)).astype(o.dtype)
        o = o / np.sum(o, axis=axis, keepdims=True)
        eps = o.dtype.type(epsilon())
        o = np.clip(o, eps, 1 - eps)
        return (-np.sum(t * np.log(o), axis=axis)).astype(o.dtype)


@op()
def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    o = float_arr(output, "sparse_categorical_crossentropy")
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


@op()
def binary_crossentropy(target, output, from_logits=False):
    t = float_arr(target, "binary_crossentropy")
    o = float_arr(output, "binary_crossentropy")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if not from_logits:
            eps = o.dtype.type(epsilon())
            o = np.clip(o, eps, 1 - eps)
            o = np.log(o / (1 - o))
        loss = np.maximum(o, 0) - o * t + np.log1p(np.exp(-np.abs(o)))
    return loss.astype(o.dtype)


@op()
def l2_normalize(x, axis=None):
    a = float_arr(x, "l2_normalize")
    ss = np.sum(np.square(a), axis=axis, keepdims=True)
    return (a / np.sqrt(np.maximum(ss, a.dtype.type(1e-12)))).astype(a.dtype)


@op()
def bias_add(x, bias, data_format=None):
    a = np.asarray(x)
    b = np.asarray(bias)
    data_format = normalize_data_format(data_format)
    if b.ndim != 1 and b.ndim != a.ndim - 1:
        raise ValueError(f"bias_add: unexpected bias rank {b.ndim}; expected 1 or {a.ndim - 1} "
                         f"for x of shape {a.shape}")
    if data_format == "channels_first" and a.ndim > 2:
        if b.ndim == 1:
            return a + b.reshape((1, b.shape[0]) + (1,) * (a.ndim - 2))
        return a + np.moveaxis(b, -1, 0)[None]
    return a + b




@op()
def stop_gradient(variables):
    """Identity here: kcore has no gradients; kept so Keras code runs unchanged."""
    if isinstance(variables, (list, tuple)):
        return [np.asarray(v) for v in variables]
    return np.asarray(variables)


@op(shape=same_as_first, side_effect=True)
def print_tensor(x, message=""):
    """Prints message and x's value, returns x (as Keras's print_tensor)."""
    a = np.asarray(x)
    print(message, a)
    return a


def in_train_phase(x, alt, training=None):
    """x in the training phase, else alt (callables are called). training defaults to
    K.learning_phase(): a fixed 0/1 picks at once; the learning-phase placeholder gives a node
    that picks when it is evaluated (marked _uses_learning_phase), as Keras on TensorFlow."""
    uses_learning_phase = training is None
    if training is None:
        training = learning_phase()
    if not isinstance(training, (Tensor, Variable)):
        chosen = x if bool(np.asarray(training)) else alt
        return chosen() if callable(chosen) else chosen
    xv = x() if callable(x) else x
    av = alt() if callable(alt) else alt
    out = _graph.apply(REGISTRY["switch"], _graph._active_kernels(), (training, xv, av), {})
    if uses_learning_phase and isinstance(out, Tensor):
        out._uses_learning_phase = True
    return out


def in_test_phase(x, alt, training=None):
    return in_train_phase(alt, x, training=training)


@op(shape=same_as_first)
def dropout(x, level, noise_shape=None, seed=None):
    """Zeros a fraction `level` of x and scales the rest by 1 / (1 - level) (a new mask at every
    evaluation)."""
    a = float_arr(x, "dropout")
    if not 0 <= level < 1:
        raise ValueError(f"dropout: level must be in [0, 1), got {level!r}")
    shape = a.shape if noise_shape is None else tuple(a.shape[i] if d is None else d for i, d in enumerate(noise_shape))
    keep = rng(seed).uniform(size=shape) >= level
    return (a * keep / a.dtype.type(1 - level)).astype(a.dtype)
