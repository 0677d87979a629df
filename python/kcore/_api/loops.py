"""Loops over a tensor's leading or time axis: rnn, map_fn, foldl, foldr (Keras 2.3.1 semantics).

When the number of steps is known (concrete arrays, or a static dim), the loop is unrolled: each
step's ops are ordinary ops (eager on arrays, graph nodes otherwise), so gradients flow through
them. When it is unknown (a symbolic dim that is None), the step is traced once on placeholders
of one step's shapes and a loop node runs that step graph once per step when it is evaluated.
The traced step is made self-contained: the outer values it reads (variables, constants, tensors
of the enclosing graph, the learning phase) become its own placeholders, and the loop node takes
them as inputs, so they are evaluated with the enclosing graph and gradients reach them.
Gradients through the loop node are backpropagation through time: a second loop runs the steps
forwards again, then the step's vector-Jacobian product (a gradient graph of the traced step,
built once) backwards.
"""
from __future__ import annotations

import numpy as np

from kcore import _graph
from kcore import _validate as V
from kcore._api.common import static_dtype, static_shape
from kcore._api.grad import builder_for, gradient, gradients
from kcore._graph import Operators, Placeholder, Tensor
from kcore._ops import op

PUBLIC = ("rnn", "map_fn", "foldl", "foldr")


def _steps(x, axis: int, fn: str, input_length=None):
    """The number of steps along axis, or None when it is not known statically."""
    shape = static_shape(x)
    if shape is None or len(shape) <= axis:
        raise ValueError(f"{fn}: the loop axis {axis} is missing from a tensor of shape {shape}")
    return shape[axis] if shape[axis] is not None else input_length


def _like(v, drop_axis=None, name="step"):
    shape = static_shape(v)
    if shape is not None and drop_axis is not None:
        shape = shape[:drop_axis] + shape[drop_axis + 1:]
    return Placeholder(shape, static_dtype(v), name=_graph.scoped(f"{name}_{id(v) % 10000}"))


def _is_float(v) -> bool:
    return np.dtype(static_dtype(v)).kind == "f"


class _StepGraph:
    """One step traced on placeholders (`inputs`) and made self-contained: each outer value the
    step reads is in `captures`, and a placeholder of the step's own stands for it."""

    def __init__(self, inputs, outputs):
        self.inputs = list(inputs)
        self.captures, cap_phs, self.outputs = _isolate(self.inputs, list(outputs))
        self.placeholders = [*self.inputs, *cap_phs]
        self._vjp = None

    def run(self, values, captured):
        return [np.asarray(v) for v in
                _graph.evaluate(self.outputs, dict(zip(self.placeholders, [*values, *captured], strict=True)))]

    def vjp(self, values, captured, cotangents):
        """d sum(outputs * cotangents) / d each placeholder (None for non-float ones), at values."""
        if self._vjp is None:
            B = builder_for(*self.placeholders)
            cts = [_like(o, None, "cotangent") if _is_float(o) else None for o in self.outputs]
            terms = [B.sum(B._multiply(o, c), None, False)
                     for o, c in zip(self.outputs, cts, strict=True) if c is not None]
            loss = terms[0]
            for t in terms[1:]:
                loss = B._add(loss, t)
            wrt = [p for p in self.placeholders if _is_float(p)]
            reached = [(p, g) for p, g in zip(wrt, gradients(loss, wrt) if wrt else [], strict=True) if g is not None]
            self._vjp = ([c for c in cts if c is not None], [p for p, _ in reached], [g for _, g in reached])
        cts, wrt, grads = self._vjp
        feed = dict(zip(self.placeholders, [*values, *captured], strict=True))
        feed.update(zip(cts, [c for c, o in zip(cotangents, self.outputs, strict=True) if _is_float(o)],
                        strict=True))
        found = dict(zip(map(id, wrt), _graph.evaluate(grads, feed), strict=True))
        return [None if id(p) not in found else np.asarray(found[id(p)]) for p in self.placeholders]


def _isolate(inputs, outputs):
    """(captures, their placeholders, outputs rebuilt on them): the nodes that depend on the step
    inputs are rebuilt with each outer value they read replaced by a placeholder."""
    dependent = {id(p) for p in inputs}
    order = _graph._order(_graph.flat_items(outputs))
    for t in order:
        if id(t) not in dependent and any(id(i) in dependent for i in _graph._inputs_of(t)):
            dependent.add(id(t))
    captures: list = []
    swap: dict = {}

    def capture(o):
        if isinstance(o, Operators) and id(o) not in dependent and id(o) not in swap:
            captures.append(o)
            swap[id(o)] = Placeholder(static_shape(o), static_dtype(o), name=_graph.scoped("captured"))

    for o in outputs:
        capture(o)
    for t in order:
        if id(t) in dependent and isinstance(t, Tensor) and t.op is not None:
            for i in _graph._symbolic_args(t.args, t.kwargs):
                capture(i)

    def new(o):
        return swap.get(id(o), o)

    for t in order:
        if id(t) in dependent and isinstance(t, Tensor) and t.op is not None:
            swap[id(t)] = Tensor(t.shape, t.dtype, t.op, t._kern, _graph._substitute(t.args, new),
                                 {k: _graph._substitute(v, new) for k, v in t.kwargs.items()}, name=t.name)
    return captures, [swap[id(c)] for c in captures], [_graph._substitute(o, new) for o in outputs]


def _take(a, i, axis):
    return a[(slice(None),) * axis + (i,)]


def _run(trace, x, states, mask, consts, captured, axis, go_backwards, record=False):
    """The loop on concrete values: (outputs in processing order, final states, the states each
    step started from when record)."""
    outputs, prev, seen = [], None, []
    n = x.shape[axis]
    for t in (range(n - 1, -1, -1) if go_backwards else range(n)):
        if record:
            seen.append(states)
        out_t, *new_states = trace.run([_take(x, t, axis), *states, *consts], captured)
        if mask is not None:
            out_t = np.where(_keep(mask, t, out_t), out_t, np.zeros_like(out_t) if prev is None else prev)
            new_states = [np.where(_keep(mask, t, s1), s1, s0) for s1, s0 in zip(new_states, states, strict=True)]
        outputs.append(out_t)
        states, prev = new_states, out_t
    return outputs, states, seen


def _keep(mask, t, like):
    return mask[:, t].reshape((-1,) + (1,) * (like.ndim - 1))


@op("_loop", shape=lambda *args, **kwargs: (None, "float32"), tuple_valued=True)
def loop(trace, inputs, states, mask, constants, captures, axis, go_backwards):
    """A loop over an unknown number of steps along axis: its value is the tuple (last output,
    outputs stacked along axis in processing order, *final states)."""
    x = np.asarray(inputs)
    m = None if mask is None else np.asarray(mask).astype(bool)
    outputs, finals, _ = _run(trace, x, [np.asarray(s) for s in states], m, [np.asarray(c) for c in constants],
                              [np.asarray(c) for c in captures], axis, go_backwards)
    if not outputs:  # no steps: empty outputs where their shape is known (map_fn over nothing)
        out = trace.outputs[0]
        shape = static_shape(out)
        if shape is None or None in shape:
            raise ValueError(f"loop: its input has no steps along axis {axis}, and a step's output shape "
                             f"{shape} is not known")
        empty = np.zeros((*shape[:axis], 0, *shape[axis:]), static_dtype(out))
        return (np.zeros(shape, empty.dtype), empty, *finals)
    return (outputs[-1], np.stack(outputs, axis=axis), *finals)


@op("_loop_backward", shape=lambda *args, **kwargs: (None, "float32"), tuple_valued=True)
def loop_backward(trace, inputs, states, mask, constants, captures, axis, go_backwards, g):
    """Backpropagation through a `_loop`: g is the gradient of its value (a tuple, None where no
    gradient flows); the result is (d inputs, *d states, *d constants, *d captures)."""
    x = np.asarray(inputs)
    m = None if mask is None else np.asarray(mask).astype(bool)
    consts, captured = [np.asarray(c) for c in constants], [np.asarray(c) for c in captures]
    outputs, finals, seen = _run(trace, x, [np.asarray(s) for s in states], m, consts, captured, axis, go_backwards,
                                 record=True)
    g_last, g_seq, *g_finals = (tuple(g) + (None,) * (2 + len(finals)))[:2 + len(finals)]
    g_states = [np.zeros_like(f) if gf is None else np.asarray(gf) for gf, f in zip(g_finals, finals, strict=True)]
    g_x = np.zeros(x.shape, x.dtype if x.dtype.kind == "f" else np.float64)
    g_consts = [np.zeros_like(c) for c in consts]
    g_caps = [np.zeros_like(c) for c in captured]
    carry = np.zeros_like(outputs[-1]) if outputs else None
    n = len(outputs)
    for k in reversed(range(n)):
        t = n - 1 - k if go_backwards else k
        g_out = carry
        if g_seq is not None:
            g_out = g_out + _take(np.asarray(g_seq), k, axis)
        if k == n - 1 and g_last is not None:
            g_out = g_out + np.asarray(g_last)
        if m is not None:  # a masked step passed the previous output and states through unchanged
            keep = _keep(m, t, g_out)
            g_out, carry = np.where(keep, g_out, 0), np.where(keep, 0, g_out)
            keeps = [_keep(m, t, s) for s in g_states]
            passed = [np.where(kp, 0, s) for kp, s in zip(keeps, g_states, strict=True)]
            g_states = [np.where(kp, s, 0) for kp, s in zip(keeps, g_states, strict=True)]
        else:
            carry = np.zeros_like(g_out)
            passed = [np.zeros_like(s) for s in g_states]
        d = trace.vjp([_take(x, t, axis), *seen[k], *consts], captured, [g_out, *g_states])
        ns = len(g_states)
        if d[0] is not None:
            _take(g_x, t, axis)[...] += d[0]
        g_states = [p if ds is None else p + ds for p, ds in zip(passed, d[1:1 + ns], strict=True)]
        for acc, dc in zip(g_consts + g_caps, d[1 + ns:], strict=True):
            if dc is not None:
                acc += dc
    return (g_x, *g_states, *g_consts, *g_caps)


@op("_loop_item", shape=lambda node, i, shape, dtype: (shape, dtype))
def loop_item(node, i, shape, dtype):
    return node[i]


@gradient("_loop_item")
def _loop_item_grad(B, out, g, node, i, shape, dtype):
    return B._item_cotangent(node, i, g), None, None, None


@gradient("_loop")
def _loop_grad(B, out, g, trace, inputs, states, mask, constants, captures, axis, go_backwards):
    back = B._loop_backward(trace, inputs, states, mask, constants, captures, axis, go_backwards, g)
    items = [inputs, *states, *constants, *captures]
    grads = [B._loop_item(back, k, static_shape(v), static_dtype(v)) if _is_float(v) else None
             for k, v in enumerate(items)]
    ns, nc = len(states), len(constants)
    return (None, grads[0], grads[1:1 + ns], None, grads[1 + ns:1 + ns + nc], grads[1 + ns + nc:], None, None)


def _loop_node(trace, inputs, states, mask, constants, axis, go_backwards):
    """(last output, outputs, final states) of a `_loop` node over the traced step."""
    B = builder_for(inputs, *states, *trace.captures)
    node = B._loop(trace, inputs, list(states), mask, list(constants), list(trace.captures), axis, go_backwards)
    out_t, new_states = trace.outputs[0], trace.outputs[1:]
    last = B._loop_item(node, 0, static_shape(out_t), static_dtype(out_t))
    shape = static_shape(out_t)
    seq_shape = None if shape is None else (*shape[:axis], None, *shape[axis:])
    outputs = B._loop_item(node, 1, seq_shape, static_dtype(out_t))
    finals = [B._loop_item(node, 2 + i, static_shape(s), static_dtype(s)) for i, s in enumerate(new_states)]
    return last, outputs, finals


# ---------------------------------------------------------------------------------------------
# rnn


def rnn(step_function, inputs, initial_states, go_backwards=False, mask=None, constants=None, unroll=False,
        input_length=None):
    """Iterates step_function(input_t, states + constants) -> (output_t, new_states) over axis 1 of
    inputs (samples, time, ...); returns (last_output, outputs (samples, time, ...), new_states).
    A mask (samples, time) keeps the previous output and states at masked steps."""
    fn = "rnn"
    V.function(step_function, fn, "step_function")
    inputs = V.operand(inputs, fn, "inputs")
    states, constants = (_operands(v, fn, what) for v, what in ((initial_states, "initial_states"),
                                                               (constants, "constants")))
    V.flag(go_backwards, fn, "go_backwards")
    V.flag(unroll, fn, "unroll")
    if input_length is not None:
        input_length = V.count(input_length, fn, "input_length", bits=31)
    steps = _steps(inputs, 1, fn, input_length)
    if len(static_shape(inputs)) < 3:
        raise ValueError(f"rnn: inputs must be (samples, time, ...) of rank >= 3, got shape {static_shape(inputs)}")
    mask = V.operand(mask, fn, "mask", none=True)
    ms, xs = static_shape(mask) if mask is not None else None, static_shape(inputs)
    if ms is not None and (len(ms) != 2 or any(a is not None and b is not None and a != b
                                               for a, b in zip(ms, xs[:2], strict=True))):
        raise ValueError(f"rnn: mask must be (samples, time) {tuple(xs[:2])}, got shape {tuple(ms)}")
    if steps is not None:
        return _rnn_unrolled(step_function, inputs, states, go_backwards, mask, constants, steps)
    # As TensorFlow's rnn, the step runs once on the first input outside the loop: what a cell
    # builds on its first call and reuses (Keras's dropout masks) is then outside the step.
    step_function(inputs[:, 0], states + constants)
    x_t = _like(inputs, 1, "rnn_input")
    state_phs = [_like(s, None, "rnn_state") for s in states]
    const_phs = [_like(c, None, "rnn_constant") for c in constants]
    out_t, new_states = step_function(x_t, state_phs + const_phs)
    trace = _StepGraph([x_t, *state_phs, *const_phs], [out_t, *new_states])
    return _loop_node(trace, inputs, states, mask, constants, 1, go_backwards)


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


# ---------------------------------------------------------------------------------------------
# map_fn, foldl, foldr


def _operands(values, fn: str, what: str) -> list:
    """A list (or tuple, or None: empty) of tensor arguments, each checked (V.operand)."""
    if values is None:
        return []
    if not isinstance(values, (list, tuple)):
        raise TypeError(f"{fn}: {what} must be a list of tensors, got {type(values).__name__}")
    return [V.operand(v, fn, what) for v in values]


def _elements(elems, fn):
    n = _steps(elems, 0, fn)
    return None if n is None else [elems[i] for i in range(n)]


def map_fn(fn, elems, name=None, dtype=None):
    """fn applied to each element of elems along axis 0, the results stacked."""
    V.function(fn, "map_fn", "fn")
    elems, name = V.operand(elems, "map_fn", "elems"), V.name(name, "map_fn")
    dtype = dtype if dtype is None else V.dtype_name(dtype, "map_fn")
    B = builder_for(elems)
    items = _elements(elems, "map_fn")
    if items is not None:
        out = B.stack([fn(e) for e in items], axis=0) if items else np.zeros((0,), dtype or static_dtype(elems))
        return out if dtype is None else B.cast(out, dtype)
    e = _like(elems, 0, "map_fn_element")
    _, out, _ = _loop_node(_StepGraph([e], [fn(e)]), elems, [], None, [], 0, False)
    return out if dtype is None else B.cast(out, dtype)


def _fold(fn, elems, initializer, reverse, fn_name, name):
    V.function(fn, fn_name, "fn")
    elems, initializer = V.operand(elems, fn_name, "elems"), V.operand(initializer, fn_name, "initializer", none=True)
    V.name(name, fn_name)
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
    if initializer is None:  # the first element (the last, folding right) starts the fold
        acc, elems = (elems[-1], elems[:-1]) if reverse else (elems[0], elems[1:])
    else:
        acc = initializer
    e, acc_ph = _like(elems, 0, f"{fn_name}_element"), _like(acc, None, f"{fn_name}_acc")
    r = fn(acc_ph, e)
    _, _, (final,) = _loop_node(_StepGraph([e, acc_ph], [r, r]), elems, [acc], None, [], 0, reverse)
    return final


def foldl(fn, elems, initializer=None, name=None):
    """fn(acc, x) folded over elems along axis 0, left to right."""
    return _fold(fn, elems, initializer, False, "foldl", name)


def foldr(fn, elems, initializer=None, name=None):
    """fn(acc, x) folded over elems along axis 0, right to left."""
    return _fold(fn, elems, initializer, True, "foldr", name)
