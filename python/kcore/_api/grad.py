"""Reverse-mode differentiation over kcore's graph: K.gradients, and what gradient rules use.

A rule is declared next to its op (`@gradient("name")`): `rule(B, out, g, *args, **kwargs)`
returns one gradient per positional argument (None where there is none; a list for a list
argument). `out` is the op's node, `g` the gradient flowing into it, and `B` builds nodes of other
ops on the node's kernels (`B.sum(x, axis)`, `B._multiply(a, b)`): gradients are graph tensors
computed with the same kernels as the forward pass, evaluated by K.function with the rest. The
helper ops below undo broadcasting and reductions.
"""
from __future__ import annotations

import numpy as np

from kcore import _graph
from kcore._api.common import static_dtype, static_shape
from kcore._graph import Operators, Tensor
from kcore._ops import REGISTRY, op, run

PUBLIC = ("gradients",)


class Builder:
    """Calls registry ops as graph builders on one kernel provider: B.name(*args, **kwargs)."""

    def __init__(self, kern):
        self._kern = kern

    def __getattr__(self, name):
        entry = REGISTRY[name]
        return lambda *args, **kwargs: _graph.apply(entry, self._kern, args, kwargs)


def builder_for(*values) -> Builder:
    """A Builder on the kernels of the first graph tensor among values (else the active backend's)."""
    for v in values:
        if isinstance(v, Tensor) and v._kern is not None:
            return Builder(v._kern)
    return Builder(_graph._active_kernels())


def no_gradient(B, out, g, *args, **kwargs):
    """The rule of ops no gradient passes through (comparisons, indices, shapes)."""
    return (None,) * len(args)


def gradient(name: str):
    """Registers the decorated function as op `name`'s gradient rule."""
    def register(fn):
        REGISTRY[name].gradient = fn
        return fn

    return register


def _like_rule(g, like, *args):
    return static_shape(like), static_dtype(g)


@op("_sum_to", kernels=True, shape=_like_rule)
def sum_to(kern, g, like):
    """g summed down to like's shape: the gradient of broadcasting like up to g's shape (a bias's
    gradient: a sum over the batch and positions, with the reductions' accuracy)."""
    a, shape = np.asarray(g), np.shape(like)
    if a.shape == shape:
        return a
    lead = a.ndim - len(shape)
    axes = [*range(lead), *(lead + i for i, (n, m) in enumerate(zip(shape, a.shape[lead:], strict=True))
                            if n == 1 and m != 1)]
    return np.reshape(run("sum", kern, a, axes, True), shape) if axes else a


def _kept_shape(gshape, ndim, axis, keepdims) -> tuple:
    """The shape of g (a reduction over axis of an array of rank ndim) with the reduced axes back
    as 1s."""
    out = list(gshape)
    if not keepdims:
        axes = range(ndim) if axis is None else [axis] if np.ndim(axis) == 0 else list(axis)
        for ax in sorted(int(x) % max(ndim, 1) for x in axes):
            out.insert(ax, 1)
    return tuple(out)


def _kept(g, shape, axis, keepdims):
    a = np.asarray(g)
    return a.reshape(_kept_shape(a.shape, len(shape), axis, keepdims))


@op("_expand_to", shape=_like_rule)
def expand_to(g, like, axis=None, keepdims=False):
    """g (a reduction of like over axis) broadcast back to like's shape: a read-only view, which
    the kernels read as a broadcast operand (K.function copies views it returns)."""
    return np.broadcast_to(_kept(g, np.shape(like), axis, keepdims), np.shape(like))


def _keep_dims_rule(g, like, axis=None, keepdims=False):
    shape, gs = static_shape(like), static_shape(g)
    if shape is None or gs is None:
        return None
    return _kept_shape(gs, len(shape), axis, keepdims), static_dtype(g)


@op("_keep_dims", shape=_keep_dims_rule)
def keep_dims(g, like, axis=None, keepdims=False):
    """g (a reduction of like over axis) with the reduced axes back as 1s: it broadcasts against
    like without a copy of like's size."""
    return _kept(g, np.shape(like), axis, keepdims)


@op("_reshape_like", shape=_like_rule)
def reshape_like(g, like):
    return np.reshape(np.asarray(g), np.shape(like))


def _is_graph(v) -> bool:
    return isinstance(v, Operators)


def gradients(loss, variables):
    """d loss / d v for each v in variables (graph tensors). None for a v that loss does not depend
    on, or reaches only through stop_gradient or ops without a gradient (argmax, round), as
    TensorFlow's gradients give it: Keras's optimizers then stop with their "An operation has
    `None` for gradient" error rather than train such a weight on zeros. The loss's own gradient
    is 1 everywhere (a non-scalar loss is summed, as on TensorFlow)."""
    single = not isinstance(variables, (list, tuple))
    targets = [variables] if single else list(variables)
    if not isinstance(loss, Tensor) or loss.op is None:
        raise TypeError(f"gradients: loss must be a tensor computed from the variables, got {loss!r}")
    for v in targets:
        if not _is_graph(v):
            raise TypeError(f"gradients: variables must be variables or graph tensors, got {type(v).__name__}")
    B = builder_for(loss)
    grads: dict = {id(loss): B.ones_like(loss)}

    def add(target, g):
        if g is None or not _is_graph(target):
            return
        if id(target) in grads:
            prev = grads[id(target)]
            same = isinstance(prev, Tensor) and isinstance(g, Tensor) and prev.op is not None and prev.op is g.op
            merge = prev.op.merge if same else None
            merged = merge(B, prev, g) if merge is not None else None
            if merged is not None:
                g = merged
            else:
                tuples = isinstance(target, Tensor) and target.op is not None and target.op.tuple_valued
                g = (B._tuple_add if tuples else B._add)(prev, g)
        grads[id(target)] = g

    wanted = {id(v) for v in targets}  # (a target's gradient stays once passed on: an intermediate's is asked for)
    for node in reversed(_graph._order([loss])):
        if not isinstance(node, Tensor) or node.op is None or id(node) not in grads:
            continue
        rule = node.op.gradient
        if rule is None:
            raise TypeError(f"gradients: op {node.op.name!r} has no gradient rule (on the path from "
                            f"{loss.name} to the variables)")
        g = grads[id(node)] if node is loss or id(node) in wanted else grads.pop(id(node))
        per_arg = rule(Builder(node._kern), node, g, *node.args, **node.kwargs)
        for arg, ga in zip(node.args, per_arg, strict=False):
            if type(arg) in (list, tuple):
                for a, gi in zip(arg, ga or (), strict=False):
                    add(a, gi)
            else:
                add(arg, ga)
    out = [grads.get(id(v)) for v in targets]
    return out[0] if single else out


@op("_item_cotangent", shape=lambda node, i, g: (None, "float32"), tuple_valued=True)
def item_cotangent(node, i, g):
    """The gradient of a tuple-valued node (node) through its item i: g there, None elsewhere."""
    return tuple(g if k == i else None for k in range(len(node)))


@op("_tuple_add", shape=lambda a, b: (None, "float32"), tuple_valued=True)
def tuple_add(a, b):
    """Two tuple gradients summed item by item (None: no gradient there)."""
    return tuple(y if x is None else x if y is None else np.add(x, y) for x, y in zip(a, b, strict=True))


@op("_share", shape=lambda g, x, out, factor=1.0: (static_shape(g), static_dtype(g)))
def share(g, x, out, factor=1.0):
    """g * factor / n, n the number of elements of x each element of out (a reduction of x) stands
    for: in float64 and rounded once to g's dtype (as float16, a count past 65504 is inf)."""
    a = np.asarray(g)
    n = np.size(x) / max(np.size(out), 1)
    dt = a.dtype if a.dtype.kind == "f" else np.dtype(np.float32)
    with np.errstate(all="ignore"):
        return np.asarray(a.astype(np.float64) * float(factor) / n).astype(dt)


# The helpers' own gradients (they also appear in forward graphs, e.g. batch normalization's).


@op("_broadcast_like", shape=_like_rule)
def broadcast_like(g, like):
    return np.broadcast_to(np.asarray(g), np.shape(like))  # (a view, as _expand_to's)


@gradient("_sum_to")
def _sum_to_grad(B, out, g, x, like):
    return B._broadcast_like(g, x), None


@gradient("_broadcast_like")
def _broadcast_like_grad(B, out, g, x, like):
    return B._sum_to(g, x), None


@gradient("_expand_to")
def _expand_to_grad(B, out, g, x, like, axis=None, keepdims=False):
    return B.sum(g, axis, keepdims), None, None, None


@gradient("_reshape_like")
def _reshape_like_grad(B, out, g, x, like):
    return B._reshape_like(g, x), None


@gradient("_share")
def _share_grad(B, out, g, value, x, o, factor=1.0):
    return B._share(g, x, o, factor), None, None, None
