"""Loops over a tensor's leading or time axis: rnn, map_fn, foldl, foldr (Keras 2.3.1 semantics).

When the number of steps is known (concrete arrays, or a static dim), the loop is unrolled: each
step's ops are ordinary ops (eager on arrays, graph nodes otherwise), so gradients flow through
them. When it is unknown (a symbolic dim that is None), the step is traced once on placeholders
of one step's shapes, and a loop node runs that step graph once per step when it is evaluated
(forward only: K.gradients through it raises, naming the loop).
"""
from __future__ import annotations

import numpy as np

from kcore import _graph
from kcore._api.common import static_dtype, static_shape
from kcore._api.grad import builder_for, gradient
from kcore._graph import Placeholder
from kcore._ops import op

PUBLIC = ("rnn", "map_fn", "foldl", "foldr")


def _steps(x, axis: int, input_length=None):
    """The number of steps along axis, or None when it is not known statically."""
    shape = static_shape(x)
    if shape is None or len(shape) <= axis:
        raise ValueError(f"the loop axis {axis} is missing from a tensor of shape {shape}")
    return shape[axis] if shape[axis] is not None else input_length


class _StepGraph:
    """A step traced once: placeholders standing for one step's inputs, and its outputs."""

    def __init__(self, placeholders, outputs):
        self.placeholders, self.outputs = placeholders, outputs

    def run(self, values):
        return _graph.evaluate(self.outputs, dict(zip(self.placeholders, values, strict=True)))


def _like(v, drop_axis=None, name="step"):
    shape = static_shape(v)
    if shape is not None and drop_axis is not None:
        shape = shape[:drop_axis] + shape[drop_axis + 1:]
    return Placeholder(shape, static_dtype(v), name=_graph.scoped(f"{name}_{id(v) % 10000}"))


# ---------------------------------------------------------------------------------------------
# rnn


def rnn(step_function, inputs, initial_states, go_backwards=False, mask=None, constants=None, unroll=False,
        input_length=None):
    """Iterates step_function(input_t, states + constants) -> (output_t, new_states) over axis 1 of
    inputs (samples, time, ...); returns (last_output, outputs (samples, time, ...), new_states).
    A mask (samples, time) keeps the previous output and states at masked steps."""
    if not callable(step_function):
        raise TypeError(f"rnn: step_function must be callable, got {step_function!r}")
    states = list(initial_states or [])
    constants = list(constants or [])
    steps = _steps(inputs, 1, input_length)
    if steps is not None:
        return _rnn_unrolled(step_function, inputs, states, go_backwards, mask, constants, steps)
    return _rnn_loop_node(step_function, inputs, states, go_backwards, mask, constants)


def _rnn_unrolled(step_function, inputs, states, go_backwards, mask, constants, steps):
    B = builder_for(inputs, *states)
    outputs, prev = [], None
    order = range(steps - 1, -1, -1) if go_backwards else range(steps)
    for t in order:
        out_t, new_states = step_function(inputs[:, t], states + constants)
        new_states = list(new_states)
        if mask is not None:
            m_t = mask[:, t]
            prev = B.zeros_like(out_t) if prev is None else prev
            out_t = B.switch(m_t, out_t, prev)
            new_states = [B.switch(m_t, n, s) for n, s in zip(new_states, states, strict=True)]
        outputs.append(out_t)
        states, prev = new_states, out_t
    if not outputs:
        raise ValueError("rnn: inputs have no time steps")
    return outputs[-1], B.stack(outputs, axis=1), states


def _rnn_loop_node(step_function, inputs, states, go_backwards, mask, constants):
    x_t = _like(inputs, 1, "rnn_input")
    state_phs = [_like(s, None, "rnn_state") for s in states]
    const_phs = [_like(c, None, "rnn_constant") for c in constants]
    out_t, new_states = step_function(x_t, state_phs + const_phs)
    new_states = list(new_states)
    trace = _StepGraph([x_t, *state_phs, *const_phs], [out_t, *new_states])
    B = builder_for(inputs, *states)
    node = B._rnn_loop(trace, inputs, states, mask, constants, go_backwards)
    last = B._loop_item(node, 0, static_shape(out_t), static_dtype(out_t))
    seq_shape = None if static_shape(out_t) is None else (static_shape(out_t)[0], None, *static_shape(out_t)[1:])
    outputs = B._loop_item(node, 1, seq_shape, static_dtype(out_t))
    finals = [B._loop_item(node, 2 + i, static_shape(s), static_dtype(s)) for i, s in enumerate(new_states)]
    return last, outputs, finals


@op("_rnn_loop", shape=lambda *args, **kwargs: ((), "float32"))
def rnn_loop(trace, inputs, states, mask, constants, go_backwards):
    """The loop of an rnn over an unknown number of steps: its value is the tuple (last output,
    outputs, *final states)."""
    x = np.asarray(inputs)
    states = [np.asarray(s) for s in states]
    consts = [np.asarray(c) for c in constants]
    m = None if mask is None else np.asarray(mask).astype(bool)
    outputs, prev = [], None
    order = range(x.shape[1] - 1, -1, -1) if go_backwards else range(x.shape[1])
    for t in order:
        out_t, *new_states = (np.asarray(v) for v in trace.run([x[:, t], *states, *consts]))
        if m is not None:
            keep = m[:, t].reshape((-1,) + (1,) * (out_t.ndim - 1))
            prev = np.zeros_like(out_t) if prev is None else prev
            out_t = np.where(keep, out_t, prev)
            new_states = [np.where(m[:, t].reshape((-1,) + (1,) * (n.ndim - 1)), n, s)
                          for n, s in zip(new_states, states, strict=True)]
        outputs.append(out_t)
        states, prev = new_states, out_t
    if not outputs:
        raise ValueError("rnn: inputs have no time steps")
    return (outputs[-1], np.stack(outputs, axis=1), *states)


@op("_loop_item", shape=lambda node, i, shape, dtype: (shape, dtype))
def loop_item(node, i, shape, dtype):
    return node[i]


# ---------------------------------------------------------------------------------------------
# map_fn, foldl, foldr


def _elements(elems, fn_name):
    n = _steps(elems, 0)
    if n is None:
        return None
    return [elems[i] for i in range(n)]


def map_fn(fn, elems, name=None, dtype=None):
    """fn applied to each element of elems along axis 0, the results stacked."""
    if not callable(fn):
        raise TypeError(f"map_fn: fn must be callable, got {fn!r}")
    B = builder_for(elems)
    items = _elements(elems, "map_fn")
    if items is not None:
        out = B.stack([fn(e) for e in items], axis=0) if items else np.zeros((0,), dtype or static_dtype(elems))
        return out if dtype is None else B.cast(out, dtype)
    e = _like(elems, 0, "map_fn_element")
    r = fn(e)
    trace = _StepGraph([e], [r])
    shape = None if static_shape(r) is None else (None, *static_shape(r))
    return B._map_loop(trace, elems, shape, dtype or static_dtype(r))


@op("_map_loop", shape=lambda trace, elems, shape, dtype: (shape, dtype))
def map_loop(trace, elems, shape, dtype):
    x = np.asarray(elems)
    return np.stack([np.asarray(trace.run([x[i]])[0]) for i in range(len(x))]).astype(dtype)


def _fold(fn, elems, initializer, reverse, fn_name):
    if not callable(fn):
        raise TypeError(f"{fn_name}: fn must be callable, got {fn!r}")
    B = builder_for(elems)
    items = _elements(elems, fn_name)
    if items is not None:
        if reverse:
            items = items[::-1]
        if initializer is None:
            if not items:
                raise ValueError(f"{fn_name}: elems is empty and there is no initializer")
            acc, items = items[0], items[1:]
        else:
            acc = initializer
        for e in items:
            acc = fn(acc, e)
        return acc
    e = _like(elems, 0, f"{fn_name}_element")
    acc_ph = _like(e if initializer is None else initializer, None, f"{fn_name}_acc")
    r = fn(acc_ph, e)
    trace = _StepGraph([acc_ph, e], [r])
    return B._fold_loop(trace, elems, initializer, reverse, static_shape(r), static_dtype(r))


@op("_fold_loop", shape=lambda trace, elems, initializer, reverse, shape, dtype: (shape, dtype))
def fold_loop(trace, elems, initializer, reverse, shape, dtype):
    x = np.asarray(elems)
    items = list(x[::-1] if reverse else x)
    if initializer is None:
        if not items:
            raise ValueError("fold: elems is empty and there is no initializer")
        acc, items = items[0], items[1:]
    else:
        acc = np.asarray(initializer)
    for e in items:
        acc = np.asarray(trace.run([acc, e])[0])
    return acc


def foldl(fn, elems, initializer=None, name=None):
    """fn(acc, x) folded over elems along axis 0, left to right."""
    return _fold(fn, elems, initializer, False, "foldl")


def foldr(fn, elems, initializer=None, name=None):
    """fn(acc, x) folded over elems along axis 0, right to left."""
    return _fold(fn, elems, initializer, True, "foldr")


def _loop_grad(B, out, g, *args):
    raise TypeError("gradients: a loop over an unknown number of steps (an rnn, map_fn or fold) has no gradient "
                    "yet; give it a static length (input_length, or a known dim)")


for _name in ("_rnn_loop", "_loop_item", "_map_loop", "_fold_loop"):
    gradient(_name)(_loop_grad)
